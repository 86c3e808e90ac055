//! The per-step scratch directory under the store's `tmp/`: upperdir, overlay workdir,
//! mount points and the copy fallback's rootfs. Removed when dropped; a crash leaves a
//! `run-*` directory that `prune` sweeps.

use std::path::{Path, PathBuf};

use super::error::SandboxError;

/// A step's scratch directory, removed on drop.
#[derive(Debug)]
pub(crate) struct WorkDir {
    dir: Option<PathBuf>,
}

impl WorkDir {
    /// Creates `run-XXXXXX` in `root`.
    pub(crate) fn create(root: &Path) -> Result<WorkDir, SandboxError> {
        std::fs::create_dir_all(root).map_err(SandboxError::at(root))?;
        let t = tempfile::Builder::new()
            .prefix("run-")
            .tempdir_in(root)
            .map_err(SandboxError::at(root))?;
        Ok(WorkDir {
            dir: Some(t.keep()),
        })
    }

    /// The scratch directory.
    pub(crate) fn path(&self) -> &Path {
        self.dir.as_deref().unwrap_or(Path::new("/nonexistent"))
    }

    /// `name` inside it, created as a directory.
    pub(crate) fn subdir(&self, name: &str) -> Result<PathBuf, SandboxError> {
        let p = self.path().join(name);
        std::fs::create_dir_all(&p).map_err(SandboxError::at(&p))?;
        Ok(p)
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if let Some(d) = self.dir.take() {
            // The overlay workdir holds a mode-000 directory: make everything writable
            // first so an unprivileged owner can delete it too.
            let _ = std::fs::remove_dir_all(&d).or_else(|_| {
                for e in walkdir::WalkDir::new(&d).into_iter().flatten() {
                    if e.file_type().is_dir() {
                        use std::os::unix::fs::PermissionsExt;
                        let _ = std::fs::set_permissions(
                            e.path(),
                            std::fs::Permissions::from_mode(0o700),
                        );
                    }
                }
                std::fs::remove_dir_all(&d)
            });
        }
    }
}
