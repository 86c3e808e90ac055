//! Layers: the deterministic tar writer and compression (one streaming pass yields the
//! diff ID and the blob digest), safe unpacking into snapshots, and the overlay
//! upperdir → layer diff.
//!
//! [`Entry`] is the meeting point: COPY and the RUN diff produce entries, the writer
//! turns them into a tar stream.

mod blob;
mod compress;
mod entry;
mod error;
mod path;
mod pgzip;
mod read;
mod tarfmt;
pub mod view;
mod writer;

#[cfg(test)]
mod golden_tests;

pub use blob::{LayerInfo, LayerOptions, LayerWriter, write_layer};
pub use compress::{CompressWriter, Compression};
pub(crate) use entry::path_key;
pub use entry::{Entry, EntryKind, sort_entries};
pub use error::LayerError;
pub use path::clean_tar_path;
pub use pgzip::ParallelGzip;
pub use read::{Codec, LayerReader, decoder, decompress, open_layer};
pub use writer::{TarOptions, TarWriter, source_date_epoch};
