//! A read-only tree that COPY sources are selected from: the build context, or another
//! stage's or image's filesystem (`COPY --from`).
//!
//! Paths are relative to the tree root, `/`-separated, cleaned; `""` is the root.

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;

use rayon::prelude::*;

use super::error::ContextError;
use super::hash::hash_up_to;
use super::meta::Meta;
use super::path::join;
use crate::digest::Digest;

/// What a walk visitor wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visit {
    /// Go on (into the entry, when it is a directory).
    Continue,
    /// Do not descend into this directory.
    SkipDir,
}

/// A read-only file tree.
pub trait Tree: Sync {
    /// Metadata of `path` without following a final symlink; `None` when absent.
    fn lstat(&self, path: &str) -> Result<Option<Meta>, ContextError>;

    /// The entries of directory `dir`: names and metadata, sorted by name (bytes).
    fn read_dir(&self, dir: &str) -> Result<Vec<(String, Meta)>, ContextError>;

    /// Calls `visit` for everything below directory `dir`, depth first in layer order,
    /// with paths relative to `dir`. Symlinks are reported, never followed.
    fn descendants(
        &self,
        dir: &str,
        visit: &mut dyn FnMut(&str, &Meta) -> Visit,
    ) -> Result<(), ContextError> {
        fn recurse<T: Tree + ?Sized>(
            tree: &T,
            dir: &str,
            rel: &str,
            visit: &mut dyn FnMut(&str, &Meta) -> Visit,
        ) -> Result<(), ContextError> {
            for (name, meta) in tree.read_dir(dir)? {
                let child_rel = join(rel, &name);
                if visit(&child_rel, &meta) == Visit::Continue && meta.is_dir() {
                    recurse(tree, &join(dir, &name), &child_rel, visit)?;
                }
            }
            Ok(())
        }
        recurse(self, dir, "", visit)
    }

    /// Content digests of regular files, in the order given: sha256 of the first
    /// `meta.size` bytes, exactly what a layer records for the file.
    fn file_digests(&self, files: &[(&str, &Meta)]) -> Result<Vec<Digest>, ContextError> {
        files
            .par_iter()
            .map(|(path, meta)| {
                let mut r = self.open(path)?;
                hash_up_to(&mut r, meta.size)
                    .map(|(d, _)| d)
                    .map_err(|e| ContextError::io(&self.display_path(path), e))
            })
            .collect()
    }

    /// Where `path`'s bytes live on the host, when they do.
    fn host_path(&self, path: &str) -> Option<PathBuf>;

    /// Opens the regular file `path` for reading.
    fn open(&self, path: &str) -> Result<Box<dyn Read + Send + '_>, ContextError> {
        let host = self.host_path(path).ok_or_else(|| ContextError::NotFound {
            path: path.to_string(),
            escaped: false,
        })?;
        let f = File::open(&host).map_err(|e| ContextError::io(&host, e))?;
        Ok(Box::new(f))
    }

    /// True when owners (uid/gid) are part of what a copy reproduces; false for the
    /// build context, whose files are always copied as root's (or `--chown`'s).
    fn keeps_ownership(&self) -> bool {
        true
    }

    /// A path for error messages.
    fn display_path(&self, path: &str) -> PathBuf {
        self.host_path(path)
            .unwrap_or_else(|| PathBuf::from(format!("/{path}")))
    }
}

/// Where a path led after symlinks were followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The path reached, relative to the root.
    pub path: String,
    /// Its metadata.
    pub meta: Meta,
}

/// Most symlinks followed while resolving one path (continuity's `RootPath`, which
/// BuildKit uses, allows 255).
const MAX_LINKS: usize = 255;

/// Resolves `path` inside `tree` as if the tree root were `/`: symlinks on the way
/// (and the final one when `follow_final`) are followed, absolute targets restart at
/// the root and `..` never climbs above it (continuity's `RootPath`), so nothing
/// outside the tree is ever reached.
///
/// Returns `NotFound` when something on the way is missing or not a directory; its
/// `escaped` flag tells whether a link pointed outside the tree.
pub fn resolve<T: Tree + ?Sized>(
    tree: &T,
    path: &str,
    follow_final: bool,
) -> Result<Resolved, ContextError> {
    let not_found = |escaped| ContextError::NotFound {
        path: path.to_string(),
        escaped,
    };
    let root = tree.lstat("")?.ok_or_else(|| not_found(false))?;
    // Resolved elements with their metadata; the root's is kept apart.
    let mut done: Vec<(String, Meta)> = Vec::new();
    // Remaining elements, reversed so the next one is last.
    let mut todo: Vec<String> = path.split('/').rev().map(str::to_string).collect();
    let mut links = 0;
    let mut escaped = false;
    while let Some(elem) = todo.pop() {
        match elem.as_str() {
            "" | "." => continue,
            ".." => {
                escaped |= done.pop().is_none();
                continue;
            }
            _ => {}
        }
        let here = join(&joined(&done), &elem);
        let meta = tree.lstat(&here)?.ok_or_else(|| not_found(escaped))?;
        let last = todo.iter().all(|e| e.is_empty() || e == ".");
        if let Some(target) = meta.link_target().filter(|_| !last || follow_final) {
            links += 1;
            if links > MAX_LINKS {
                return Err(ContextError::TooManyLinks {
                    path: path.to_string(),
                });
            }
            if target.starts_with('/') {
                escaped = true;
                done.clear();
            }
            todo.extend(target.split('/').rev().map(str::to_string));
            continue;
        }
        if !last && !meta.is_dir() {
            return Err(not_found(escaped));
        }
        done.push((elem, meta));
    }
    let path = joined(&done);
    let meta = done.pop().map_or(root, |(_, m)| m);
    Ok(Resolved { path, meta })
}

fn joined(done: &[(String, Meta)]) -> String {
    let mut s = String::new();
    for (elem, _) in done {
        if !s.is_empty() {
            s.push('/');
        }
        s.push_str(elem);
    }
    s
}
