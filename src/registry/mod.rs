//! Registries: image references, the OCI distribution client (auth, TLS, retries), pull,
//! push, and the primitives the remote build cache is made of.
//!
//! The HTTP layer is ureq (blocking, rustls) under a small distribution layer of our
//! own rather than a full OCI client crate: builds are synchronous code, ureq brings few
//! dependencies, and owning the layer gives full control of the HTTPS→HTTP fallback,
//! the auth flow, retries and resumed downloads.
//!
//! ```text
//! Reference ──▶ RegistryClient ──▶ Endpoint (per host: scheme probe, auth, retries)
//!                  │                   ▲
//!                  ├─ pull / push ─────┤ Repo (distribution API of one repository)
//!                  └─ resolve, fetch_manifest, fetch_blob, push_blob, push_manifest
//! ```

pub mod auth;
mod blobs;
mod call;
mod client;
mod distribution;
mod endpoint;
mod error;
mod options;
pub mod origins;
mod parallel;
mod platform;
mod progress;
mod pull;
mod push;
mod reference;
mod transport;

pub use auth::{Credentials, DockerConfig};
pub use client::{BlobPush, RegistryClient};
pub use distribution::MANIFEST_ACCEPT;
pub use error::RegistryError;
pub use options::{RegistryOptions, TIMEOUT_ENV, is_loopback};
pub use platform::{parse_platform, select as select_platform};
pub use progress::{Progress, TransferEvent, TransferPhase, report_to};
pub use pull::PulledImage;
pub use reference::{
    DOCKER_HUB, DOCKER_HUB_CONFIG_KEY, DOCKER_HUB_ENDPOINT, Reference, ReferenceError, endpoint_of,
    normalize_registry,
};
