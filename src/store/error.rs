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
    /// No image is tagged with this name.
    #[error("image {0:?} not found in the store")]
    ImageNotFound(String),
    /// A name does not follow Docker's reference grammar.
    #[error("invalid image name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// Why.
        reason: String,
    },
    /// A manifest or index is not what it claims to be (or not something we can run).
    #[error("image {digest}: {reason}")]
    InvalidImage {
        /// The manifest or index digest.
        digest: Digest,
        /// What is wrong.
        reason: String,
    },
    /// An index has no manifest for the wanted platform.
    #[error("no image for platform {wanted} (available: {})", if available.is_empty() { "none".to_string() } else { available.join(", ") })]
    NoMatchingPlatform {
        /// `os/arch[/variant]` that was asked for.
        wanted: String,
        /// What the index offers.
        available: Vec<String>,
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
