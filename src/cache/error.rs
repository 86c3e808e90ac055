//! What can go wrong importing, exporting or fetching the shared build cache.

use std::path::PathBuf;

use crate::digest::Digest;
use crate::layer::LayerError;
use crate::registry::RegistryError;
use crate::store::StoreError;

/// An error of the shared build cache.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// A `--cache-from` / `--cache-to` value that does not parse.
    #[error("invalid {flag} {spec:?}: {reason}")]
    InvalidSpec {
        /// `--cache-from` or `--cache-to`.
        flag: &'static str,
        /// The value as given.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The location holds something, but not an rbuild cache (or a damaged one).
    #[error("{location}: not an rbuild build cache: {reason}")]
    NotACache {
        /// The cache location.
        location: String,
        /// Why.
        reason: String,
    },
    /// A local cache directory has no cache under the tag asked for.
    #[error("{location}: no cache found ({reason})")]
    NotFound {
        /// The cache location.
        location: String,
        /// Why.
        reason: String,
    },
    /// A layer the store lacks could not be had from any cache it was imported from.
    #[error("layer {digest} is not in the store and could not be fetched{}", tried_text(.tried))]
    Unavailable {
        /// The blob.
        digest: Digest,
        /// Each source tried, with its error.
        tried: Vec<String>,
    },
    /// Reading or writing a cache directory failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A blob of a local cache directory does not match its descriptor.
    #[error("{}: {reason}", path.display())]
    Corrupt {
        /// The blob file.
        path: PathBuf,
        /// What does not match.
        reason: String,
    },
    /// The registry failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Re-compressing a layer failed.
    #[error(transparent)]
    Layer(#[from] LayerError),
}

impl CacheError {
    /// An I/O error on `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> CacheError {
        CacheError::Io {
            path: path.into(),
            source,
        }
    }

    /// What the user can do about it, when there is something.
    pub fn hint(&self) -> Option<String> {
        match self {
            CacheError::Registry(e) => e.hint(),
            CacheError::Unavailable { .. } => Some(
                "the layer came from a build cache that no longer has it, and the store now forgets that cache: build again to run the step that makes it, or pass a --cache-from that has it".into(),
            ),
            CacheError::InvalidSpec { flag, .. } => Some(format!(
                "{flag} takes type=registry,ref=REGISTRY/REPO:TAG or type=local,{}=DIR",
                if *flag == "--cache-to" { "dest" } else { "src" }
            )),
            _ => None,
        }
    }
}

fn tried_text(tried: &[String]) -> String {
    if tried.is_empty() {
        " (no build cache it was imported from is known)".to_string()
    } else {
        format!(": {}", tried.join("; "))
    }
}
