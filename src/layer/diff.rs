//! The RUN diff: what a step changed, as layer [`Entry`] values.
//!
//! Two walkers produce the same kind of result: [`diff_overlay`] reads an overlayfs
//! upperdir (the normal path), [`diff_tree`] compares a copied rootfs with the lower
//! layers (the fallback where overlayfs cannot be mounted). Both follow BuildKit's
//! overlay differ:
//!
//! - a whiteout is recorded only when a lower layer has the path;
//! - something present below is recorded only if it differs: mode (type included),
//!   owner, device number or `security.capability`; for non-directories also size and
//!   mtime, and the content when both mtimes have no nanoseconds (unpacked from a tar) —
//!   so a file the step merely touched is recorded, a copied-up directory is not;
//! - every recorded entry brings its parent directories (with the step's metadata);
//! - the only xattr recorded is `security.capability`; files sharing an inode become a
//!   file and hard links to it (the first path in layer order);
//! - sockets are skipped. An opaque upperdir directory over a lower directory becomes a
//!   directory entry plus an [`EntryKind::Opaque`] marker.

use std::collections::{HashMap, HashSet};
use std::fs::Metadata;
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::entry::{Entry, EntryKind, sort_entries};

pub use super::diff_overlay::diff_overlay;
pub use super::diff_tree::diff_tree;

/// The one xattr a RUN layer records.
const CAPABILITY_XATTR: &str = "security.capability";

/// Why a diff could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// Reading the tree failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// A name is not UTF-8 (layer entry paths are strings).
    #[error("{}: file name is not valid UTF-8", path.display())]
    NonUtf8 {
        /// The path.
        path: PathBuf,
    },
}

pub(crate) fn ioerr(path: &Path) -> impl FnOnce(io::Error) -> DiffError + '_ {
    move |source| DiffError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `rel/name` as a layer path.
pub(crate) fn child_rel(
    rel: &str,
    name: &std::ffi::OsStr,
    path: &Path,
) -> Result<String, DiffError> {
    let name = name.to_str().ok_or_else(|| DiffError::NonUtf8 {
        path: path.to_path_buf(),
    })?;
    Ok(if rel.is_empty() {
        name.to_string()
    } else {
        format!("{rel}/{name}")
    })
}

/// The names in `dir`, sorted.
pub(crate) fn sorted_names(dir: &Path) -> Result<Vec<std::ffi::OsString>, DiffError> {
    let mut names = Vec::new();
    for e in std::fs::read_dir(dir).map_err(ioerr(dir))? {
        names.push(e.map_err(ioerr(dir))?.file_name());
    }
    names.sort();
    Ok(names)
}

pub(crate) fn lstat(path: &Path) -> Result<Metadata, DiffError> {
    std::fs::symlink_metadata(path).map_err(ioerr(path))
}

/// The entry for `path` as it is now; `None` for a socket.
pub(crate) fn entry_from(
    rel: &str,
    path: &Path,
    meta: &Metadata,
) -> Result<Option<Entry>, DiffError> {
    let ft = meta.file_type();
    let mut source = None;
    let mut xattrs = Vec::new();
    let kind = if ft.is_dir() {
        EntryKind::Dir
    } else if ft.is_file() {
        source = Some(path.to_path_buf());
        if let Some(cap) = get_xattr(path, CAPABILITY_XATTR).map_err(ioerr(path))? {
            xattrs.push((CAPABILITY_XATTR.to_string(), cap));
        }
        EntryKind::File { size: meta.len() }
    } else if ft.is_symlink() {
        let t = std::fs::read_link(path).map_err(ioerr(path))?;
        let target = t
            .into_os_string()
            .into_string()
            .map_err(|_| DiffError::NonUtf8 {
                path: path.to_path_buf(),
            })?;
        EntryKind::Symlink { target }
    } else if ft.is_char_device() {
        EntryKind::CharDevice {
            major: rustix::fs::major(meta.rdev()),
            minor: rustix::fs::minor(meta.rdev()),
        }
    } else if ft.is_block_device() {
        EntryKind::BlockDevice {
            major: rustix::fs::major(meta.rdev()),
            minor: rustix::fs::minor(meta.rdev()),
        }
    } else if ft.is_fifo() {
        EntryKind::Fifo
    } else {
        return Ok(None);
    };
    Ok(Some(Entry {
        path: rel.to_string(),
        kind,
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
        mtime: meta.mtime(),
        xattrs,
        source,
    }))
}

/// The opaque marker for directory `rel`.
pub(crate) fn opaque_entry(rel: &str) -> Entry {
    let mut e = Entry::whiteout(rel);
    e.kind = EntryKind::Opaque;
    e
}

/// Reads one xattr without following symlinks; `None` when absent.
pub(crate) fn get_xattr(path: &Path, name: &str) -> io::Result<Option<Vec<u8>>> {
    let mut buf = vec![0u8; 256];
    loop {
        match rustix::fs::lgetxattr(path, name, &mut buf[..]) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(Some(buf));
            }
            Err(rustix::io::Errno::NODATA | rustix::io::Errno::NOTSUP) => return Ok(None),
            Err(rustix::io::Errno::RANGE) if buf.len() < 65536 => buf.resize(buf.len() * 4, 0),
            Err(e) => return Err(e.into()),
        }
    }
}

/// BuildKit's `sameDirent`: true when `upper` is not a change of `lower`.
pub(crate) fn same_dirent(
    lower: &Path,
    lmeta: &Metadata,
    upper: &Path,
    umeta: &Metadata,
) -> Result<bool, DiffError> {
    if lmeta.mode() != umeta.mode()
        || lmeta.uid() != umeta.uid()
        || lmeta.gid() != umeta.gid()
        || lmeta.rdev() != umeta.rdev()
    {
        return Ok(false);
    }
    let lcap = get_xattr(lower, CAPABILITY_XATTR).map_err(ioerr(lower))?;
    let ucap = get_xattr(upper, CAPABILITY_XATTR).map_err(ioerr(upper))?;
    if lcap != ucap {
        return Ok(false);
    }
    if umeta.is_dir() {
        return Ok(true);
    }
    if lmeta.len() != umeta.len() || lmeta.mtime() != umeta.mtime() {
        return Ok(false);
    }
    if lmeta.mtime_nsec() != 0 || umeta.mtime_nsec() != 0 {
        return Ok(lmeta.mtime_nsec() == umeta.mtime_nsec());
    }
    // Both timestamps may have been truncated by a tar: compare what is there.
    if umeta.file_type().is_symlink() {
        let a = std::fs::read_link(lower).map_err(ioerr(lower))?;
        let b = std::fs::read_link(upper).map_err(ioerr(upper))?;
        return Ok(a == b);
    }
    if umeta.len() == 0 || !umeta.is_file() {
        return Ok(true);
    }
    same_content(lower, upper)
}

fn same_content(a: &Path, b: &Path) -> Result<bool, DiffError> {
    let mut fa = std::fs::File::open(a).map_err(ioerr(a))?;
    let mut fb = std::fs::File::open(b).map_err(ioerr(b))?;
    let mut ba = vec![0u8; 64 * 1024];
    let mut bb = vec![0u8; 64 * 1024];
    loop {
        let na = read_full(&mut fa, &mut ba).map_err(ioerr(a))?;
        let nb = read_full(&mut fb, &mut bb).map_err(ioerr(b))?;
        if na != nb || ba[..na] != bb[..nb] {
            return Ok(false);
        }
        if na == 0 {
            return Ok(true);
        }
    }
}

fn read_full(f: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Gathers recorded entries; adds parents and hard links at the end.
#[derive(Default)]
pub(crate) struct Collector {
    entries: Vec<Entry>,
    recorded: HashSet<String>,
    /// Every directory walked, for parents of recorded entries.
    dirs: HashMap<String, Entry>,
    /// (dev, ino) of recorded files with more than one link.
    inodes: HashMap<String, (u64, u64)>,
}

impl Collector {
    /// Remembers a walked directory (recorded only if it changed or is a parent).
    pub(crate) fn saw_dir(&mut self, e: &Entry) {
        self.dirs.insert(e.path.clone(), e.clone());
    }

    /// Records an entry.
    pub(crate) fn record(&mut self, e: Entry, meta: Option<&Metadata>) {
        if let Some(m) = meta
            && m.is_file()
            && m.nlink() > 1
        {
            self.inodes.insert(e.path.clone(), (m.dev(), m.ino()));
        }
        if !matches!(e.kind, EntryKind::Opaque) {
            self.recorded.insert(e.path.clone());
        }
        self.entries.push(e);
    }

    /// The entries in layer order, parents included, hard links linked.
    pub(crate) fn finish(mut self) -> Vec<Entry> {
        let mut parents = Vec::new();
        for e in &self.entries {
            let mut p = e.path.as_str();
            while let Some((parent, _)) = p.rsplit_once('/') {
                if !self.recorded.contains(parent)
                    && let Some(d) = self.dirs.get(parent)
                {
                    self.recorded.insert(parent.to_string());
                    parents.push(d.clone());
                }
                p = parent;
            }
        }
        self.entries.extend(parents);
        sort_entries(&mut self.entries);
        let mut first: HashMap<(u64, u64), String> = HashMap::new();
        for e in &mut self.entries {
            let Some(key) = self.inodes.get(&e.path) else {
                continue;
            };
            match first.get(key) {
                Some(target) => {
                    e.kind = EntryKind::Hardlink {
                        target: target.clone(),
                    };
                    e.source = None;
                    e.xattrs.clear();
                }
                None => {
                    first.insert(*key, e.path.clone());
                }
            }
        }
        self.entries
    }
}
