//! Layers: the deterministic tar writer and compression (one streaming pass yields the
//! diff ID and the blob digest), safe unpacking into snapshots, and the overlay
//! upperdir → layer diff.
//!
//! [`Entry`] is the meeting point: COPY and the RUN diff produce entries, the writer
//! turns them into a tar stream.

mod blob;
mod compress;
mod diff;
mod diff_overlay;
mod diff_tree;
mod entry;
mod error;
mod header;
mod path;
mod pgzip;
mod read;
mod snapshot;
mod snapshot_copy;
mod snapshot_view;
mod tarfmt;
mod unpack;
mod unpack_entry;
mod unpack_fs;
mod unpack_links;
pub mod view;
mod writer;

#[cfg(test)]
mod diff_tests;
#[cfg(test)]
mod golden_tests;
#[cfg(test)]
mod test_tar;
#[cfg(test)]
mod unpack_tests;

pub use blob::{LayerInfo, LayerOptions, LayerWriter, write_layer};
pub use compress::{CompressWriter, Compression};
pub use diff::{DiffError, diff_overlay, diff_tree};
pub(crate) use entry::path_key;
pub use entry::{Entry, EntryKind, sort_entries};
pub use error::LayerError;
pub use header::GoNumbers;
pub use path::clean_tar_path;
pub use pgzip::ParallelGzip;
pub use read::{Codec, LayerReader, decoder, decompress, open_layer};
pub use snapshot::{MAX_DELTA_DEPTH, SnapshotError, Snapshots};
pub use snapshot_copy::{CopyError, copy_merged, copy_xattrs};
pub use snapshot_view::{
    DirView, Found, LowerView, ResolveError, Resolved, is_opaque, is_whiteout,
};
pub use unpack::{OPAQUE_XATTR, UnpackError, UnpackMode, UnpackReport, unpack};
pub use writer::{TarOptions, TarWriter, source_date_epoch};
