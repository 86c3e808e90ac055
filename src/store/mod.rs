//! The content-addressed store: one root directory that is also an OCI image layout.
//!
//! ```text
//! ROOT/
//!   oci-layout, index.json     OCI image layout (tagged images; `skopeo inspect oci:ROOT:app:1.0`)
//!   blobs/sha256/<hex>         layers, configs, manifests: write-once, named by digest
//!   tmp/                       temp files (same filesystem, renamed into place; swept by prune)
//!   cache/                     step cache records
//!   snapshots/<diff-id hex>/   unpacked layers for RUN
//!   contexts/                  per-context stat caches
//!   locks/                     advisory lock files
//! ```
//!
//! Blobs and cache records are immutable files named by hash, so concurrent builds can
//! only ever race to write identical bytes; mutable files (`index.json`) change under a
//! file lock by atomic rename. A build holds [`Store::build_guard`] while it writes;
//! `prune` waits for it (see `gc.rs`).

mod blobs;
mod cache;
mod du;
mod error;
mod gc;
mod images;
pub mod import;
pub mod names;
pub mod platform;
mod tags;

pub use blobs::BlobWriter;
pub use cache::{CacheRecord, LayerRecord};
pub use du::{DiskUsage, Usage};
pub use error::StoreError;
pub use gc::{BuildGuard, PruneReport, Reclaimed};
pub use images::Image;
pub use tags::CONTAINERD_NAME_ANNOTATION;

use std::path::{Path, PathBuf};

use crate::fsutil;

/// Environment variable that overrides the default store root.
pub const ROOT_ENV: &str = "RBUILD_ROOT";

/// An open store.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// The default root: `$RBUILD_ROOT`, else `$XDG_DATA_HOME/rbuild`, else `~/.local/share/rbuild`.
    pub fn default_root() -> PathBuf {
        if let Some(r) = std::env::var_os(ROOT_ENV).filter(|r| !r.is_empty()) {
            return PathBuf::from(r);
        }
        match dirs::data_dir() {
            Some(d) => d.join("rbuild"),
            None => PathBuf::from(".rbuild"),
        }
    }

    /// Opens the store at `root`, creating its layout if it is missing.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        let io = |e| StoreError::io(root, e);
        for sub in [
            "blobs/sha256",
            "tmp",
            "cache",
            "snapshots",
            "contexts",
            "locks",
        ] {
            std::fs::create_dir_all(root.join(sub)).map_err(io)?;
        }
        let layout = root.join("oci-layout");
        if !layout.exists() {
            fsutil::atomic_write(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(io)?;
        }
        let index = root.join("index.json");
        if !index.exists() {
            let _lock = fsutil::FileLock::exclusive(&root.join("locks/index.lock")).map_err(io)?;
            if !index.exists() {
                fsutil::atomic_write(&index, &crate::image::Index::empty().to_bytes())
                    .map_err(io)?;
            }
        }
        let root = root.canonicalize().map_err(io)?;
        Ok(Store { root })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where temp files are made (same filesystem as everything else in the store).
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// A path under `locks/` for the named lock.
    pub fn lock_path(&self, name: &str) -> PathBuf {
        self.root.join("locks").join(name)
    }
}
