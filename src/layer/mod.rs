//! Layers: the deterministic tar writer and compression (one streaming pass yields the
//! diff ID and the blob digest), safe unpacking into snapshots, and the overlay
//! upperdir → layer diff.
//!
//! [`Entry`] is the meeting point: COPY and the RUN diff produce entries, the writer
//! turns them into a tar stream.

mod diff;
mod diff_overlay;
mod diff_tree;
mod entry;
mod snapshot;
mod snapshot_copy;
mod snapshot_view;
mod unpack;
mod unpack_entry;
mod unpack_fs;
mod unpack_links;

pub use diff::{DiffError, diff_overlay, diff_tree};
pub use entry::{Entry, EntryKind, sort_entries};
pub use snapshot::{SnapshotError, Snapshots};
pub use snapshot_copy::{CopyError, copy_merged, copy_xattrs};
pub use snapshot_view::{
    DirView, Found, LowerView, ResolveError, Resolved, is_opaque, is_whiteout,
};
pub use unpack::{OPAQUE_XATTR, UnpackError, UnpackMode, UnpackReport, unpack};

#[cfg(test)]
mod diff_tests;
#[cfg(test)]
mod test_tar;
#[cfg(test)]
mod unpack_tests;
