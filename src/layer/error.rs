//! Layer errors: writing a tar (bad entries, sources that change under us) and reading one back.

use std::path::{Path, PathBuf};

use crate::store::StoreError;

/// What went wrong while writing or reading a layer.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// Reading a file's content (or its metadata) from the host failed.
    #[error("{}: {source}", path.display())]
    Source {
        /// The host path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Writing the tar stream (compressor, blob file, exporter output) failed.
    #[error("writing layer: {0}")]
    Output(#[source] std::io::Error),
    /// Reading a stored layer failed.
    #[error("reading layer: {0}")]
    Input(#[source] std::io::Error),
    /// The store refused the blob.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An entry's path cannot be stored in a layer.
    #[error("invalid layer path {path:?}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// Why.
        reason: &'static str,
    },
    /// Entries were not in canonical order (see `sort_entries`), or one path came twice.
    #[error(
        "layer entries out of order: {path:?} after {previous:?} (entries must be sorted and unique)"
    )]
    OutOfOrder {
        /// The earlier entry.
        previous: String,
        /// The offending entry.
        path: String,
    },
    /// A hard link names something that is not an earlier non-directory entry of the layer.
    #[error(
        "hard link {path:?} points to {target:?}, which is not an earlier file of the same layer"
    )]
    HardlinkTarget {
        /// The link.
        path: String,
        /// Its target.
        target: String,
    },
    /// A regular file entry has no host file to read its bytes from.
    #[error("layer entry {0:?} is a regular file without a source")]
    MissingSource(String),
    /// The host file is not a regular file any more (replaced by a symlink, a directory…).
    #[error("{}: not a regular file (it changed while the layer was written)", path.display())]
    NotRegular {
        /// The host path.
        path: PathBuf,
    },
    /// The file's size differs from the size announced in the entry.
    #[error("{}: file changed size while being read (expected {expected} bytes, {found})", path.display())]
    SizeChanged {
        /// The host path (or the entry path when streamed from a reader).
        path: PathBuf,
        /// The size in the entry.
        expected: u64,
        /// What was found (`got 12 bytes`, `it grew`).
        found: String,
    },
    /// A header field cannot be encoded even with PAX (device numbers, huge PAX headers, keys with `=`).
    #[error("cannot encode tar header for {path:?}: {reason}")]
    Unencodable {
        /// The entry path.
        path: String,
        /// Why.
        reason: String,
    },
}

impl LayerError {
    /// Wraps an I/O error on a host path.
    pub fn host_io(path: &Path, source: std::io::Error) -> LayerError {
        LayerError::Source {
            path: path.to_path_buf(),
            source,
        }
    }
}
