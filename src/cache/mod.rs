//! The shared build cache: `--cache-to` exports the step cache records a build used or
//! made, `--cache-from` imports them, through any OCI registry or a local OCI layout
//! directory, so many CI runners share one cache with no service of ours.
//!
//! The cache is one OCI artifact ([`config`]): a manifest whose config blob lists
//! [`CacheRecord`](crate::store::CacheRecord)s (key → layer, diff ID, creation time,
//! inputs) and whose layers are the ordinary layer blobs — shared with the images
//! themselves, so a registry can skip or cross-mount them.
//!
//! Import is lazy. `--cache-from` reads the manifest and the config, nothing else; a
//! step whose key an imported record has is a hit even though its layer is not in the
//! store. The record goes into the local store, the layer's source into the store's
//! hints ([`hints`]), and the bytes are fetched ([`fetch`]) only when something reads
//! them: a RUN or COPY on top of the layer, a local export, `rbuild save`. A push needs
//! no bytes the registry has or can mount.
//!
//! ```text
//! --cache-from ─▶ import::read (manifest + config) ─▶ BuildCache::lookup ◀─ solver hit path
//!                                                        │ record → store, source → hints
//! solver / export needs bytes ─▶ BuildCache::fetch ─▶ LazyBlobs::ensure (registry | dir)
//! solver hit or miss ─▶ BuildCache::note ─▶ BuildCache::export (mode=min|max) ─▶ push | dir
//! ```
//!
//! The records carry each step's key inputs (instruction, build-arg values, file
//! digests) in clear, as the image history carries RUN commands; never pass a secret as
//! a build arg (use `--secret`, which is never part of a key).

mod compress;
pub mod config;
mod error;
mod export;
pub mod fetch;
pub mod hints;
mod import;
mod layout;
mod session;
pub mod spec;

pub use config::{ARTIFACT_TYPE, CacheConfig};
pub use error::CacheError;
pub use export::Exported;
pub use fetch::LazyBlobs;
pub use session::BuildCache;
pub use spec::{CacheLocation, CacheMode, ExportSpec, ImportSpec, Parsed};
