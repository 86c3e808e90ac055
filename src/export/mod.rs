//! Exporters: an image from the store as an OCI layout (tarball or directory), a
//! docker-archive, its merged filesystem (directory or tarball), plus the `-o/--output`
//! spec parser. Archives are deterministic (sorted entries, fixed metadata) and streamed;
//! stored blobs are copied as they are, never re-compressed.

mod archive;
mod dispatch;
mod docker;
mod local;
mod merge;
mod oci;
mod spec;

pub use dispatch::{ExportOutcome, export, write_file};
pub use docker::write_docker_archive;
pub use local::{LocalExport, export_local, write_rootfs_tar};
pub use oci::{closure, write_oci_archive, write_oci_dir};
pub use spec::{Dest, OutputSpec, OutputType};
// Shared with the cache flags (`--cache-from/--cache-to`), which use the same syntax.
pub(crate) use spec::{parse_bool, split_csv};

use std::path::PathBuf;

use crate::digest::Digest;
use crate::layer::LayerError;
use crate::store::StoreError;

/// What went wrong exporting an image.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// An `--output` spec does not parse.
    #[error("invalid --output {spec:?}: {reason}")]
    InvalidOutput {
        /// The spec as given.
        spec: String,
        /// Why.
        reason: String,
    },
    /// The store failed (a missing blob, a corrupt manifest…).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing or reading layer tar data failed.
    #[error(transparent)]
    Layer(#[from] LayerError),
    /// Writing the output failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The output (or temp) path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A decompressed layer does not hash to the diff ID its config lists.
    #[error("layer {layer} does not match its config: diff ID {expected}, content {actual}")]
    DiffIdMismatch {
        /// The layer blob.
        layer: Digest,
        /// The config's diff ID.
        expected: Digest,
        /// What the layer decompressed to.
        actual: Digest,
    },
    /// The config and the manifest disagree on the number of layers.
    #[error("the manifest has {layers} layers but the config lists {diff_ids} diff IDs")]
    LayerCount {
        /// Layers in the manifest.
        layers: usize,
        /// Diff IDs in the config.
        diff_ids: usize,
    },
    /// A layer entry cannot be applied safely.
    #[error("refusing layer entry {entry:?}: {reason}")]
    UnsafeLayerEntry {
        /// The entry name.
        entry: String,
        /// Why.
        reason: String,
    },
}

#[cfg(test)]
mod merge_tests;
