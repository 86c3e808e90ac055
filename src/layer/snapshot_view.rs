//! A read-only view of a stack of snapshot directories, merged as overlayfs merges them.
//!
//! The RUN diff needs to know what the lower layers hold at a path (is a file in the
//! upperdir new or modified? does a whiteout hide anything?), the copy fallback needs the
//! merged tree itself, and mount targets must be resolved inside the image's rootfs. All
//! of that is this view: for each directory, the layers that contribute to it (top
//! first, down to an opaque one), and lookups that honour 0/0 whiteout devices.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs::Metadata;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

/// The xattrs overlayfs reads as the opaque marker (`userxattr` mounts use the first).
const OPAQUE_NAMES: [&str; 2] = ["user.overlay.opaque", "trusted.overlay.opaque"];

/// Symlinks followed while resolving one path before giving up (Linux's limit).
const MAX_SYMLINKS: u32 = 40;

/// A stack of snapshot directories, top first.
#[derive(Debug, Clone)]
pub struct LowerView {
    layers: Vec<PathBuf>,
}

/// One directory of the merged view: its path and the layers that contribute to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirView {
    rel: PathBuf,
    layers: Vec<usize>,
}

impl DirView {
    /// The directory's path relative to the root.
    pub fn rel(&self) -> &Path {
        &self.rel
    }
}

/// Something found in the view.
#[derive(Debug, Clone)]
pub struct Found {
    /// Index of the layer holding it (0 = top).
    pub layer: usize,
    /// Its path on the host.
    pub path: PathBuf,
    /// Its `lstat`.
    pub meta: Metadata,
}

/// A path resolved inside the view, following symlinks as if the view were `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The longest existing prefix, symlinks resolved (relative to the root).
    pub existing: PathBuf,
    /// Components below `existing` that do not exist.
    pub missing: Vec<OsString>,
}

/// Why a path cannot be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// More than 40 symlinks.
    #[error("{0}: too many levels of symbolic links")]
    Loop(String),
    /// A component other than the last exists but is not a directory.
    #[error("{0}: not a directory")]
    NotADirectory(String),
    /// Reading a layer failed.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// True for an overlayfs whiteout: a character device numbered 0/0.
pub fn is_whiteout(meta: &Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

/// True when the directory at `path` carries an opaque marker xattr.
pub fn is_opaque(path: &Path) -> io::Result<bool> {
    for name in OPAQUE_NAMES {
        let mut buf = [0u8; 8];
        match rustix::fs::lgetxattr(path, name, &mut buf[..]) {
            Ok(n) => return Ok(n == 1 && buf[0] == b'y'),
            Err(rustix::io::Errno::NODATA | rustix::io::Errno::NOTSUP) => {}
            Err(rustix::io::Errno::RANGE) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(false)
}

fn lstat(path: &Path) -> io::Result<Option<Metadata>> {
    match std::fs::symlink_metadata(path) {
        Ok(m) => Ok(Some(m)),
        Err(e)
            if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

impl LowerView {
    /// A view of `layers`, top first.
    pub fn new(layers: Vec<PathBuf>) -> LowerView {
        LowerView { layers }
    }

    /// The layer directories, top first.
    pub fn layers(&self) -> &[PathBuf] {
        &self.layers
    }

    /// The root directory: every layer down to the first with an opaque root.
    pub fn root(&self) -> io::Result<DirView> {
        let mut layers = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            layers.push(i);
            if is_opaque(l)? {
                break;
            }
        }
        Ok(DirView {
            rel: PathBuf::new(),
            layers,
        })
    }

    /// What `name` in `dir` is, or `None` when absent or whited out.
    pub fn lookup(&self, dir: &DirView, name: &OsStr) -> io::Result<Option<Found>> {
        let rel = dir.rel.join(name);
        for &i in &dir.layers {
            let path = self.layers[i].join(&rel);
            if let Some(meta) = lstat(&path)? {
                if is_whiteout(&meta) {
                    return Ok(None);
                }
                return Ok(Some(Found {
                    layer: i,
                    path,
                    meta,
                }));
            }
        }
        Ok(None)
    }

    /// The view of subdirectory `name` of `dir`, or `None` when it is not a directory.
    pub fn child_dir(&self, dir: &DirView, name: &OsStr) -> io::Result<Option<DirView>> {
        let rel = dir.rel.join(name);
        let mut layers = Vec::new();
        for &i in &dir.layers {
            let path = self.layers[i].join(&rel);
            match lstat(&path)? {
                None => continue,
                Some(m) if m.is_dir() => {
                    layers.push(i);
                    if is_opaque(&path)? {
                        break;
                    }
                }
                Some(_) => break, // a file or a whiteout hides everything below
            }
        }
        Ok((!layers.is_empty()).then_some(DirView { rel, layers }))
    }

    /// The merged listing of `dir`, by name.
    pub fn list(&self, dir: &DirView) -> io::Result<BTreeMap<OsString, Found>> {
        let mut seen: BTreeMap<OsString, Option<Found>> = BTreeMap::new();
        for &i in &dir.layers {
            let d = self.layers[i].join(&dir.rel);
            let rd = match std::fs::read_dir(&d) {
                Ok(rd) => rd,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            for e in rd {
                let e = e?;
                let name = e.file_name();
                if seen.contains_key(&name) {
                    continue;
                }
                let path = e.path();
                let meta = std::fs::symlink_metadata(&path)?;
                let found = (!is_whiteout(&meta)).then_some(Found {
                    layer: i,
                    path,
                    meta,
                });
                seen.insert(name, found);
            }
        }
        Ok(seen
            .into_iter()
            .filter_map(|(k, v)| v.map(|f| (k, f)))
            .collect())
    }

    /// Looks `rel` up without following symlinks (every parent must be a directory).
    pub fn lookup_path(&self, rel: &Path) -> io::Result<Option<Found>> {
        let mut dir = self.root()?;
        let names: Vec<&OsStr> = rel
            .components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n),
                _ => None,
            })
            .collect();
        let Some((last, parents)) = names.split_last() else {
            return Ok(None);
        };
        for n in parents {
            match self.child_dir(&dir, n)? {
                Some(d) => dir = d,
                None => return Ok(None),
            }
        }
        self.lookup(&dir, last)
    }

    /// Resolves `path` (absolute or relative to the root) as the kernel would with the
    /// view as `/`: symlinks are followed, absolute targets restart at the root and `..`
    /// never climbs above it.
    pub fn resolve(&self, path: &str) -> Result<Resolved, ResolveError> {
        let mut queue: Vec<OsString> = components(path.as_bytes());
        queue.reverse(); // a stack: next component last
        let mut stack: Vec<(OsString, DirView)> = Vec::new();
        let root = self.root()?;
        let mut hops = 0;
        while let Some(c) = queue.pop() {
            if c == ".." {
                stack.pop();
                continue;
            }
            let dir = stack
                .last()
                .map(|(_, d)| d.clone())
                .unwrap_or_else(|| root.clone());
            let Some(found) = self.lookup(&dir, &c)? else {
                let mut missing = vec![c];
                while let Some(rest) = queue.pop() {
                    if rest == ".." {
                        if missing.pop().is_none() {
                            stack.pop();
                        }
                    } else {
                        missing.push(rest);
                    }
                }
                return Ok(Resolved {
                    existing: rel_of(&stack),
                    missing,
                });
            };
            let ft = found.meta.file_type();
            if ft.is_symlink() {
                hops += 1;
                if hops > MAX_SYMLINKS {
                    return Err(ResolveError::Loop(path.to_string()));
                }
                let target = std::fs::read_link(&found.path)?;
                let tb = target.as_os_str().as_bytes();
                if tb.first() == Some(&b'/') {
                    stack.clear();
                }
                let mut t = components(tb);
                t.reverse();
                queue.extend(t);
            } else if ft.is_dir() {
                let child = self.child_dir(&dir, &c)?.unwrap_or(DirView {
                    rel: dir.rel.join(&c),
                    layers: vec![found.layer],
                });
                stack.push((c, child));
            } else if queue.is_empty() {
                let mut existing = rel_of(&stack);
                existing.push(&c);
                return Ok(Resolved {
                    existing,
                    missing: Vec::new(),
                });
            } else {
                return Err(ResolveError::NotADirectory(path.to_string()));
            }
        }
        Ok(Resolved {
            existing: rel_of(&stack),
            missing: Vec::new(),
        })
    }
}

fn components(p: &[u8]) -> Vec<OsString> {
    p.split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(|c| OsStr::from_bytes(c).to_os_string())
        .collect()
}

fn rel_of(stack: &[(OsString, DirView)]) -> PathBuf {
    stack.iter().map(|(n, _)| n.as_os_str()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn whiteout(p: &Path) {
        rustix::fs::mknodat(
            rustix::fs::CWD,
            p,
            rustix::fs::FileType::CharacterDevice,
            rustix::fs::Mode::empty(),
            0,
        )
        .unwrap();
    }

    #[test]
    fn upper_layers_win_and_whiteouts_hide() {
        let lo = tempfile::tempdir().unwrap();
        let hi = tempfile::tempdir().unwrap();
        std::fs::create_dir(lo.path().join("d")).unwrap();
        std::fs::write(lo.path().join("d/a"), b"lo").unwrap();
        std::fs::write(lo.path().join("d/b"), b"lo").unwrap();
        std::fs::create_dir(hi.path().join("d")).unwrap();
        std::fs::write(hi.path().join("d/a"), b"hi").unwrap();
        whiteout(&hi.path().join("d/b"));
        let v = LowerView::new(vec![hi.path().into(), lo.path().into()]);
        let a = v.lookup_path(Path::new("d/a")).unwrap().unwrap();
        assert_eq!(a.layer, 0);
        assert!(v.lookup_path(Path::new("d/b")).unwrap().is_none());
        let d = v
            .child_dir(&v.root().unwrap(), OsStr::new("d"))
            .unwrap()
            .unwrap();
        let names: Vec<_> = v.list(&d).unwrap().into_keys().collect();
        assert_eq!(names, [OsString::from("a")]);
    }

    #[test]
    fn opaque_directories_hide_lower_content() {
        let lo = tempfile::tempdir().unwrap();
        let hi = tempfile::tempdir().unwrap();
        std::fs::create_dir(lo.path().join("d")).unwrap();
        std::fs::write(lo.path().join("d/old"), b"").unwrap();
        std::fs::create_dir(hi.path().join("d")).unwrap();
        std::fs::write(hi.path().join("d/new"), b"").unwrap();
        rustix::fs::setxattr(
            hi.path().join("d"),
            "user.overlay.opaque",
            b"y",
            rustix::fs::XattrFlags::empty(),
        )
        .unwrap();
        let v = LowerView::new(vec![hi.path().into(), lo.path().into()]);
        assert!(v.lookup_path(Path::new("d/old")).unwrap().is_none());
        assert!(v.lookup_path(Path::new("d/new")).unwrap().is_some());
    }

    #[test]
    fn resolve_follows_symlinks_inside_the_root() {
        let lo = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(lo.path().join("usr/lib")).unwrap();
        symlink("/usr/lib", lo.path().join("lib")).unwrap();
        symlink("../../../../etc", lo.path().join("usr/escape")).unwrap();
        let v = LowerView::new(vec![lo.path().into()]);
        let r = v.resolve("/lib/x/y").unwrap();
        assert_eq!(r.existing, PathBuf::from("usr/lib"));
        assert_eq!(r.missing, [OsString::from("x"), OsString::from("y")]);
        let r = v.resolve("/usr/escape/passwd").unwrap();
        assert_eq!(r.existing, PathBuf::new());
        assert_eq!(r.missing, [OsString::from("etc"), OsString::from("passwd")]);
    }

    #[test]
    fn resolve_detects_loops() {
        let lo = tempfile::tempdir().unwrap();
        symlink("b", lo.path().join("a")).unwrap();
        symlink("a", lo.path().join("b")).unwrap();
        let v = LowerView::new(vec![lo.path().into()]);
        assert!(matches!(v.resolve("/a/x"), Err(ResolveError::Loop(_))));
    }
}
