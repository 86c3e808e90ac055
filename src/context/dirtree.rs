//! A plain host directory as a [`Tree`] (an unpacked snapshot, a test fixture): no
//! ignore rules, no stat cache, owners kept.

use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::error::ContextError;
use super::host;
use super::meta::Meta;
use super::tree::Tree;

/// A directory on the host, read through its root descriptor so nothing outside it
/// is ever reached.
pub struct DirTree {
    root: PathBuf,
    root_fd: File,
}

impl DirTree {
    /// Opens the directory at `root`.
    pub fn open(root: &Path) -> Result<DirTree, ContextError> {
        let root_fd = File::open(root).map_err(|e| ContextError::io(root, e))?;
        let md = root_fd.metadata().map_err(|e| ContextError::io(root, e))?;
        if !md.is_dir() {
            return Err(ContextError::NotADirectory {
                path: root.to_path_buf(),
            });
        }
        Ok(DirTree {
            root: root.to_path_buf(),
            root_fd,
        })
    }

    fn io(&self, path: &str, e: std::io::Error) -> ContextError {
        ContextError::io(&self.root.join(path), e)
    }
}

impl Tree for DirTree {
    fn lstat(&self, path: &str) -> Result<Option<Meta>, ContextError> {
        host::lstat(&self.root_fd, &self.root, path).map_err(|e| self.io(path, e))
    }

    fn read_dir(&self, dir: &str) -> Result<Vec<(String, Meta)>, ContextError> {
        let Some(listing) =
            host::read_dir(&self.root_fd, &self.root, dir).map_err(|e| self.io(dir, e))?
        else {
            return Ok(Vec::new());
        };
        match listing.unrepresentable.first() {
            Some(name) => Err(ContextError::NonUtf8Path {
                path: self.root.join(dir).join(std::ffi::OsStr::from_bytes(name)),
            }),
            None => Ok(listing.entries),
        }
    }

    fn host_path(&self, path: &str) -> Option<PathBuf> {
        Some(if path.is_empty() {
            self.root.clone()
        } else {
            self.root.join(path)
        })
    }

    fn open(&self, path: &str) -> Result<Box<dyn std::io::Read + Send + '_>, ContextError> {
        let f = host::open_file(&self.root_fd, &self.root, path).map_err(|e| self.io(path, e))?;
        Ok(Box::new(f))
    }
}
