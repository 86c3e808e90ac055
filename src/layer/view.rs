//! A read-only merged view of an image filesystem, computed from its unpacked layer
//! snapshots (overlay form: a whiteout is a 0/0 character device, an opaque directory
//! carries `trusted.overlay.opaque=y` or `user.overlay.opaque=y`), without mounting
//! anything. COPY uses it to resolve its destination inside the image, to look up
//! `--chown` names in `/etc/passwd`, and to read `COPY --from` sources.
//!
//! Paths are image paths (`/etc/passwd`, `app/x`); symlinks are resolved inside the
//! image root, never on the host.

use std::fs::Metadata;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Why a path could not be resolved in a view.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    /// I/O error reading a snapshot.
    #[error("{}: {source}", path.display())]
    Io {
        /// Host path.
        path: PathBuf,
        /// Error.
        #[source]
        source: io::Error,
    },
    /// A symlink leads above the image root.
    #[error("{path}: a symlink leads outside the image root")]
    Escape {
        /// Image path being resolved.
        path: String,
    },
    /// Too many symlinks.
    #[error("{path}: too many levels of symbolic links")]
    Loop {
        /// Image path being resolved.
        path: String,
    },
    /// A path component that must be a directory is not one.
    #[error("{path}: not a directory")]
    NotDir {
        /// Image path.
        path: String,
    },
}

/// What a merged path is.
#[derive(Debug, Clone)]
pub struct Found {
    /// The image path, normalized (no leading `/`; empty for the root).
    pub path: String,
    /// Host path of the top-most visible copy.
    pub host: PathBuf,
    /// Its metadata (lstat).
    pub meta: Metadata,
}

impl Found {
    /// True for a directory.
    pub fn is_dir(&self) -> bool {
        self.meta.is_dir()
    }

    /// This directory as a layer entry at `path`, keeping its mode, owner and mtime.
    pub fn dir_entry(&self, path: impl Into<String>) -> crate::layer::Entry {
        use std::os::unix::fs::MetadataExt;
        let m = &self.meta;
        crate::layer::Entry::dir(path, m.mode() & 0o7777, m.uid(), m.gid(), m.mtime())
    }
}

/// A stack of snapshot directories, top layer first.
#[derive(Debug, Clone, Default)]
pub struct LayerView {
    layers: Vec<PathBuf>,
}

const MAX_LINKS: usize = 40;

impl LayerView {
    /// A view of `layers`, top first. An empty stack is an empty filesystem (`scratch`).
    pub fn new(layers: Vec<PathBuf>) -> LayerView {
        LayerView { layers }
    }

    /// The snapshot dirs, top first.
    pub fn layers(&self) -> &[PathBuf] {
        &self.layers
    }

    /// Looks up an image path without following a final symlink (intermediate
    /// components are taken literally: symlinks among them are not followed; use
    /// [`LayerView::resolve`] for that).
    pub fn lookup(&self, path: &str) -> Result<Option<Found>, ViewError> {
        Ok(self.walk(path)?.map(|(found, _)| found))
    }

    /// Finds `path` and, when it is a directory, the layers (top first) in which it is
    /// visible, stopping at an opaque copy.
    fn walk(&self, path: &str) -> Result<Option<(Found, Vec<usize>)>, ViewError> {
        let comps = components(path);
        let mut visible: Vec<usize> = (0..self.layers.len()).collect();
        if comps.is_empty() {
            return Ok(self.top_dir(&visible).map(|f| (f, visible)));
        }
        let mut rel = PathBuf::new();
        for (i, name) in comps.iter().enumerate() {
            rel.push(name);
            let mut next = Vec::new();
            let mut found: Option<Found> = None;
            for &l in &visible {
                let host = self.layers[l].join(&rel);
                let meta = match std::fs::symlink_metadata(&host) {
                    Ok(m) => m,
                    Err(e)
                        if e.kind() == io::ErrorKind::NotFound
                            || e.raw_os_error() == Some(libc::ENOTDIR) =>
                    {
                        continue;
                    }
                    Err(source) => return Err(ViewError::Io { path: host, source }),
                };
                if is_whiteout(&meta) {
                    break;
                }
                let is_dir = meta.is_dir();
                if found.is_none() {
                    found = Some(Found {
                        path: join(&comps[..=i]),
                        host: host.clone(),
                        meta,
                    });
                } else if !is_dir {
                    // A lower non-directory under a directory is hidden.
                    break;
                }
                if !is_dir {
                    break;
                }
                next.push(l);
                if is_opaque(&host) {
                    break;
                }
            }
            match found {
                None => return Ok(None),
                Some(f) if i + 1 == comps.len() => return Ok(Some((f, next))),
                Some(f) if !f.is_dir() => return Err(ViewError::NotDir { path: f.path }),
                Some(_) => visible = next,
            }
        }
        Ok(None)
    }

    fn top_dir(&self, visible: &[usize]) -> Option<Found> {
        let l = *visible.first()?;
        let host = self.layers[l].clone();
        let meta = std::fs::symlink_metadata(&host).ok()?;
        Some(Found {
            path: String::new(),
            host,
            meta,
        })
    }

    /// Resolves an image path, following symlinks inside the image root (absolute links
    /// are relative to the image root). With `follow_last` false, a final symlink is
    /// returned as is. Returns the normalized resolved path and what is there, if anything.
    /// A link that climbs above the root is an error.
    pub fn resolve(
        &self,
        path: &str,
        follow_last: bool,
    ) -> Result<(String, Option<Found>), ViewError> {
        let mut pending: Vec<String> = components(path).into_iter().rev().collect();
        let mut done: Vec<String> = Vec::new();
        let mut links = 0;
        while let Some(name) = pending.pop() {
            if name == ".." {
                if done.pop().is_none() {
                    return Err(ViewError::Escape {
                        path: path.to_string(),
                    });
                }
                continue;
            }
            done.push(name);
            let cur = join(&done);
            let Some(found) = self.lookup(&cur)? else {
                // Nothing here: the rest of the path is taken literally.
                while let Some(rest) = pending.pop() {
                    if rest == ".." {
                        if done.pop().is_none() {
                            return Err(ViewError::Escape {
                                path: path.to_string(),
                            });
                        }
                    } else {
                        done.push(rest);
                    }
                }
                let cur = join(&done);
                return Ok((cur.clone(), self.lookup(&cur).ok().flatten()));
            };
            let is_last = pending.is_empty();
            if found.meta.file_type().is_symlink() && (!is_last || follow_last) {
                links += 1;
                if links > MAX_LINKS {
                    return Err(ViewError::Loop {
                        path: path.to_string(),
                    });
                }
                let target = std::fs::read_link(&found.host).map_err(|source| ViewError::Io {
                    path: found.host.clone(),
                    source,
                })?;
                let target = target.to_string_lossy().into_owned();
                done.pop();
                if target.starts_with('/') {
                    done.clear();
                }
                for c in target
                    .split('/')
                    .filter(|c| !c.is_empty() && *c != ".")
                    .rev()
                {
                    pending.push(c.to_string());
                }
                continue;
            }
            if is_last {
                return Ok((cur, Some(found)));
            }
        }
        let cur = join(&done);
        let found = self.lookup(&cur)?;
        Ok((cur, found))
    }

    /// The entries of a directory (the path taken literally, as by [`LayerView::lookup`]),
    /// merged across layers, sorted by name. Empty when it is not a directory.
    pub fn read_dir(&self, dir: &str) -> Result<Vec<Found>, ViewError> {
        let Some((found, visible)) = self.walk(dir)? else {
            return Ok(Vec::new());
        };
        if !found.is_dir() {
            return Ok(Vec::new());
        }
        let base = found.path;
        let mut seen: std::collections::BTreeMap<String, Option<Found>> =
            std::collections::BTreeMap::new();
        for &l in &visible {
            let host = self.layers[l].join(&base);
            let rd = std::fs::read_dir(&host).map_err(|source| ViewError::Io {
                path: host.clone(),
                source,
            })?;
            for ent in rd {
                let ent = ent.map_err(|source| ViewError::Io {
                    path: host.clone(),
                    source,
                })?;
                let name = ent.file_name().to_string_lossy().into_owned();
                if seen.contains_key(&name) {
                    continue;
                }
                let meta =
                    std::fs::symlink_metadata(ent.path()).map_err(|source| ViewError::Io {
                        path: ent.path(),
                        source,
                    })?;
                let entry = if is_whiteout(&meta) {
                    None
                } else {
                    let path = if base.is_empty() {
                        name.clone()
                    } else {
                        format!("{base}/{name}")
                    };
                    Some(Found {
                        path,
                        host: ent.path(),
                        meta,
                    })
                };
                seen.insert(name, entry);
            }
        }
        Ok(seen.into_values().flatten().collect())
    }

    /// Reads a small file (following symlinks inside the image); `None` if absent.
    pub fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>, ViewError> {
        match self.resolve(path, true)? {
            (_, Some(f)) if f.meta.is_file() => {
                std::fs::read(&f.host)
                    .map(Some)
                    .map_err(|source| ViewError::Io {
                        path: f.host,
                        source,
                    })
            }
            _ => Ok(None),
        }
    }
}

/// A whiteout in overlay form: a character device 0/0.
pub fn is_whiteout(meta: &Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

/// True when a snapshot directory is marked opaque.
pub fn is_opaque(dir: &Path) -> bool {
    for name in ["trusted.overlay.opaque", "user.overlay.opaque"] {
        let mut buf = [0u8; 4];
        if let Ok(n) = rustix::fs::lgetxattr(dir, name, &mut buf) {
            if n >= 1 && buf[0] == b'y' {
                return true;
            }
        }
    }
    false
}

/// Splits an image path into normal components (drops empty and `.`; keeps `..`).
fn components(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(str::to_string)
        .collect()
}

fn join(comps: &[String]) -> String {
    comps.join("/")
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    fn mkfile(root: &Path, rel: &str, content: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    fn whiteout(root: &Path, rel: &str) -> bool {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        nix::sys::stat::mknod(
            &p,
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0),
            0,
        )
        .is_ok()
    }

    #[test]
    fn upper_layers_win_and_dirs_merge() {
        let lower = tempfile::tempdir().unwrap();
        let upper = tempfile::tempdir().unwrap();
        mkfile(lower.path(), "etc/passwd", "lower");
        mkfile(lower.path(), "etc/group", "g");
        mkfile(upper.path(), "etc/passwd", "upper");
        let v = LayerView::new(vec![upper.path().into(), lower.path().into()]);
        assert_eq!(v.read_file("/etc/passwd").unwrap().unwrap(), b"upper");
        assert_eq!(v.read_file("etc/group").unwrap().unwrap(), b"g");
        let names: Vec<_> = v
            .read_dir("etc")
            .unwrap()
            .into_iter()
            .map(|f| f.path)
            .collect();
        assert_eq!(names, ["etc/group", "etc/passwd"]);
        assert!(v.lookup("nope").unwrap().is_none());
    }

    #[test]
    fn whiteouts_hide_lower_files() {
        let lower = tempfile::tempdir().unwrap();
        let upper = tempfile::tempdir().unwrap();
        mkfile(lower.path(), "a/gone", "x");
        mkfile(lower.path(), "a/kept", "y");
        if !whiteout(upper.path(), "a/gone") {
            eprintln!("skipping: cannot create a whiteout device here");
            return;
        }
        let v = LayerView::new(vec![upper.path().into(), lower.path().into()]);
        assert!(v.lookup("a/gone").unwrap().is_none());
        let names: Vec<_> = v
            .read_dir("a")
            .unwrap()
            .into_iter()
            .map(|f| f.path)
            .collect();
        assert_eq!(names, ["a/kept"]);
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let l = tempfile::tempdir().unwrap();
        mkfile(l.path(), "srv/app/x", "x");
        symlink("/srv/app", l.path().join("app")).unwrap();
        std::fs::create_dir(l.path().join("d")).unwrap();
        symlink("../srv/app", l.path().join("d/rel")).unwrap();
        symlink("../../../../etc", l.path().join("evil")).unwrap();
        let v = LayerView::new(vec![l.path().into()]);
        let (p, f) = v.resolve("/app/x", true).unwrap();
        assert_eq!(p, "srv/app/x");
        assert!(f.unwrap().meta.is_file());
        assert_eq!(
            v.resolve("d/rel/new/file", true).unwrap().0,
            "srv/app/new/file"
        );
        let (p, f) = v.resolve("app", false).unwrap();
        assert_eq!(p, "app");
        assert!(f.unwrap().meta.file_type().is_symlink());
        assert!(matches!(
            v.resolve("evil/passwd", true),
            Err(ViewError::Escape { .. })
        ));
    }

    #[test]
    fn empty_view_is_scratch() {
        let v = LayerView::new(vec![]);
        assert!(v.lookup("etc").unwrap().is_none());
        assert_eq!(v.resolve("/a/b", true).unwrap().0, "a/b");
    }
}
