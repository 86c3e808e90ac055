//! Store errors.

use std::path::{Path, PathBuf};

use crate::digest::Digest;

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An I/O error on a path in the store.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A blob is not in the store.
    #[error("blob {0} is not in the store")]
    BlobMissing(Digest),
    /// Written content did not match what was expected.
    #[error(
        "content mismatch: expected {expected} ({expected_size} bytes), got {actual} ({actual_size} bytes)"
    )]
    DigestMismatch {
        /// Expected digest.
        expected: Digest,
        /// Expected size.
        expected_size: u64,
        /// Actual digest.
        actual: Digest,
        /// Actual size.
        actual_size: u64,
    },
    /// A JSON file in the store does not parse.
    #[error("{}: corrupt JSON: {source}", path.display())]
    Json {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: serde_json::Error,
    },
}

impl StoreError {
    /// Wraps an I/O error with its path.
    pub fn io(path: &Path, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
