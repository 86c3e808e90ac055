//! Bringing images from outside into the store: OCI image layouts (a directory, or a
//! tarball of one) for `FROM oci-layout://…` / `FROM oci-archive://…`, and rootfs
//! tarballs for `rbuild import` (like `docker import`).
//!
//! Every blob that enters the store is streamed through [`super::BlobWriter`] and checked
//! against its digest and size before it is renamed into place.

mod layout;
mod rootfs;

pub use layout::{LayoutRef, parse_layout_ref};

use std::path::PathBuf;

use crate::digest::Digest;
use crate::layer::LayerError;
use crate::store::StoreError;

/// What went wrong importing an image.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing the layer failed.
    #[error(transparent)]
    Layer(#[from] LayerError),
    /// Reading the input failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The input path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The input is not an OCI image layout (or a tarball of one).
    #[error("{}: not an OCI image layout: {reason}", path.display())]
    NotALayout {
        /// The input path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// No manifest in the layout carries the wanted name.
    #[error("{}: no image named {tag:?} (available: {})", path.display(), list(available))]
    TagNotFound {
        /// The input path.
        path: PathBuf,
        /// The wanted name.
        tag: String,
        /// Names the layout has.
        available: Vec<String>,
    },
    /// No name was given and the layout holds several images.
    #[error("{}: the layout holds {} images; name one of: {}", path.display(), available.len(), list(available))]
    AmbiguousImage {
        /// The input path.
        path: PathBuf,
        /// Names the layout has.
        available: Vec<String>,
    },
    /// The layout refers to a blob it does not contain.
    #[error("{}: blob {digest} is missing", path.display())]
    MissingBlob {
        /// The input path.
        path: PathBuf,
        /// The blob.
        digest: Digest,
    },
    /// A tarball entry would land outside the image root or is otherwise unusable.
    #[error("{}: refusing entry {entry:?}: {reason}", path.display())]
    UnsafeEntry {
        /// The tarball.
        path: PathBuf,
        /// The entry name as written in the tarball.
        entry: String,
        /// Why.
        reason: String,
    },
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod rootfs_tests;
