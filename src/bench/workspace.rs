//! The bench's scratch directory: the context copy, the private stores, each build's
//! metadata, log and trace. It lives in the user's store's `tmp/` (same filesystem as the
//! store, so base image blobs are hard-linked and builds run where real builds run;
//! `rbuild prune` sweeps it if the bench is killed with SIGKILL), or in the system temp
//! dir when that store cannot be opened. It is removed when the bench ends, however it ends.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use super::BenchError;
use crate::store::Store;

/// The scratch directory, removed on drop.
#[derive(Debug)]
pub struct Workspace {
    dir: PathBuf,
}

impl Workspace {
    /// Creates `bench-XXXXXX` under `user_root`'s `tmp/` (or the system temp dir).
    pub fn create(user_root: &Path) -> Result<Workspace, BenchError> {
        let parent = match Store::open(user_root) {
            Ok(store) => store.tmp_dir(),
            Err(_) => std::env::temp_dir(),
        };
        let dir = tempfile::Builder::new()
            .prefix("bench-")
            .tempdir_in(&parent)
            .map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("creating a temp dir in {}: {e}", parent.display()),
                )
            })?
            .keep();
        Ok(Workspace { dir })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Where the context copy goes.
    pub fn context(&self) -> PathBuf {
        self.dir.join("context")
    }

    /// A private store's root.
    pub fn store(&self, name: &str) -> PathBuf {
        self.dir.join("stores").join(name)
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        remove_tree(&self.dir);
    }
}

/// Removes a directory tree, best effort, making read-only directories (left by RUN
/// steps in a store's snapshots) writable when a first attempt fails.
pub fn remove_tree(path: &Path) {
    if std::fs::remove_dir_all(path).is_ok() || !path.exists() {
        return;
    }
    for e in WalkDir::new(path).follow_links(false).into_iter().flatten() {
        if e.file_type().is_dir() {
            let _ = std::fs::set_permissions(e.path(), std::fs::Permissions::from_mode(0o700));
        }
    }
    let _ = std::fs::remove_dir_all(path);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lives_in_the_store_tmp_and_goes_away() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        let w = Workspace::create(&root).unwrap();
        let path = w.path().to_path_buf();
        assert_eq!(
            path.parent().unwrap(),
            root.canonicalize().unwrap().join("tmp")
        );
        std::fs::create_dir_all(w.store("cold-0").join("snap/ro")).unwrap();
        std::fs::write(w.store("cold-0").join("snap/ro/f"), "x").unwrap();
        std::fs::set_permissions(
            w.store("cold-0").join("snap/ro"),
            std::fs::Permissions::from_mode(0o500),
        )
        .unwrap();
        drop(w);
        assert!(!path.exists());
    }
}
