//! Applying a layer tar to a directory, safely.
//!
//! Every entry is created with `*at` calls relative to its parent directory, which is
//! opened beneath the root without following any symlink (see `unpack_fs`). Names are
//! cleaned as Docker does (`/a/../b` is `b`; a leading `/` is dropped); a name or a hard
//! link target that climbs above the root is an error, as is an absolute hard link
//! target; a parent component that is a symlink is an error (well-formed layers never
//! write through one). Symlinks are created as links and never followed.
//!
//! Whiteouts are applied per [`UnpackMode`]: `Merge` deletes, `Overlay` keeps them in
//! overlayfs form, which is the snapshot format (see `snapshot`).

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Timespec, Timestamps};
use tar::EntryType;

use super::unpack_entry::{
    CopyError, Meta, clean_name, copy, gid, mkdir, open_err, read_meta, show, split_last, uid,
};
use super::unpack_fs;

/// The xattr that marks an opaque directory in a snapshot (overlayfs mounted with
/// `userxattr`, which works both as real root and inside a user namespace).
pub const OPAQUE_XATTR: &str = "user.overlay.opaque";

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";

/// How whiteouts and opaque markers are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnpackMode {
    /// Flatten into one tree: a whiteout deletes the path, an opaque marker empties the
    /// directory of everything this layer did not itself add.
    Merge,
    /// Keep them for use as an overlayfs lowerdir: a whiteout becomes a 0/0 character
    /// device, an opaque marker the [`OPAQUE_XATTR`] xattr on the directory.
    Overlay,
}

/// What an unpack had to leave out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnpackReport {
    /// Entries applied (whiteouts included).
    pub entries: u64,
    /// Device nodes that could not be created (unprivileged), by path.
    pub devices_skipped: Vec<String>,
    /// Entries whose owner could not be set (unprivileged, or an id outside the user
    /// namespace's mapping); they keep the unpacking user as owner.
    pub ownership_skipped: u64,
    /// Extended attributes not applied (not permitted, unsupported, or `*.overlay.*`
    /// names, which a layer may not inject).
    pub xattrs_skipped: u64,
}

/// Why an unpack failed.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The tar stream is unreadable or malformed.
    #[error("reading the layer: {0}")]
    Read(#[source] io::Error),
    /// An entry name climbs above the root.
    #[error("layer entry {path:?} points outside the layer root")]
    Breakout {
        /// The name as written in the tar.
        path: String,
    },
    /// A hard link target is absolute or climbs above the root.
    #[error("layer entry {path:?} is a hard link to {target:?}, outside the layer root")]
    HardlinkOutside {
        /// The entry.
        path: String,
        /// Its link target.
        target: String,
    },
    /// A hard link target is missing or a directory.
    #[error("layer entry {path:?} is a hard link to {target:?}, which is not a file in the layer")]
    HardlinkTarget {
        /// The entry.
        path: String,
        /// Its link target.
        target: String,
    },
    /// A parent component of an entry is a symlink.
    #[error("layer entry {path:?} would be written through a symlink")]
    ThroughSymlink {
        /// The entry.
        path: String,
    },
    /// A parent component of an entry is not a directory.
    #[error("layer entry {path:?}: a parent is not a directory")]
    NotADirectory {
        /// The entry.
        path: String,
    },
    /// A header field is out of range.
    #[error("layer entry {path:?}: bad header: {source}")]
    Header {
        /// The entry.
        path: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// Writing an entry failed.
    #[error("layer entry {path:?}: {source}")]
    Write {
        /// The entry.
        path: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The destination directory cannot be opened.
    #[error("{}: {source}", path.display())]
    Dest {
        /// The destination.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
}

/// Applies the uncompressed layer tar `tar` to `dest` (an existing directory).
pub fn unpack<R: Read>(tar: R, dest: &Path, mode: UnpackMode) -> Result<UnpackReport, UnpackError> {
    let root = unpack_fs::open_root(dest).map_err(|source| UnpackError::Dest {
        path: dest.to_path_buf(),
        source,
    })?;
    let mut u = Unpacker {
        root,
        mode,
        privileged: rustix::process::geteuid().is_root(),
        report: UnpackReport::default(),
        dirs: HashMap::new(),
        unpacked: HashSet::new(),
        cached_parent: None,
        buf: vec![0; 128 * 1024],
    };
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries().map_err(UnpackError::Read)? {
        let entry = entry.map_err(UnpackError::Read)?;
        u.apply(entry)?;
    }
    u.finish_dirs()?;
    Ok(u.report)
}

pub(super) struct Unpacker {
    pub(super) root: OwnedFd,
    pub(super) mode: UnpackMode,
    pub(super) privileged: bool,
    pub(super) report: UnpackReport,
    /// Directory mode and mtime, applied once everything under them is written.
    pub(super) dirs: HashMap<Vec<u8>, (u32, Timespec)>,
    /// Paths this layer wrote (Merge mode: an opaque marker keeps them).
    pub(super) unpacked: HashSet<Vec<u8>>,
    pub(super) cached_parent: Option<(Vec<u8>, OwnedFd)>,
    pub(super) buf: Vec<u8>,
}

impl Unpacker {
    fn apply<R: Read>(&mut self, mut entry: tar::Entry<'_, R>) -> Result<(), UnpackError> {
        let kind = entry.header().entry_type();
        if matches!(kind, EntryType::XGlobalHeader | EntryType::XHeader) {
            return Ok(());
        }
        let raw = entry.path_bytes().into_owned();
        let rel = clean_name(&raw).ok_or_else(|| UnpackError::Breakout { path: show(&raw) })?;
        if rel.is_empty() {
            // The root itself: its metadata belongs to the snapshot, not the layer.
            return Ok(());
        }
        let (parent, base) = split_last(&rel);
        let (parent, base) = (parent.to_vec(), base.to_vec());
        self.report.entries += 1;

        if base == OPAQUE_MARKER {
            return self.opaque(&parent, &rel);
        }
        if base.starts_with(b".wh..wh.") {
            return Ok(()); // aufs bookkeeping (`.wh..wh.plnk` …): nothing to apply
        }
        if let Some(name) = base.strip_prefix(WHITEOUT_PREFIX) {
            return self.whiteout(&parent, name, &rel);
        }

        let meta = read_meta(&mut entry, &rel)?;
        let dir = self.parent(&parent, &rel)?;
        let name = OsStr::from_bytes(&base);
        let werr = |source: io::Error| UnpackError::Write {
            path: show(&rel),
            source,
        };
        match kind {
            EntryType::Directory => {
                match unpack_fs::lstat_at(dir.as_fd(), name).map_err(werr)? {
                    Some(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {}
                    Some(_) => {
                        self.remove(dir.as_fd(), name).map_err(werr)?;
                        mkdir(dir.as_fd(), name).map_err(werr)?;
                    }
                    None => mkdir(dir.as_fd(), name).map_err(werr)?,
                }
                self.chown(dir.as_fd(), name, &meta).map_err(werr)?;
                let fd = unpack_fs::open_path_nofollow(dir.as_fd(), name).map_err(werr)?;
                self.set_xattrs_path(fd.as_fd(), &meta).map_err(werr)?;
                self.dirs.insert(rel.clone(), (meta.mode, meta.mtime));
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                self.remove(dir.as_fd(), name).map_err(werr)?;
                let fd = rustix::fs::openat(
                    dir.as_fd(),
                    name,
                    OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::WRONLY
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(|e| werr(e.into()))?;
                let mut file = File::from(fd);
                copy(&mut entry, &mut file, &mut self.buf).map_err(|e| match e {
                    CopyError::Read(e) => UnpackError::Read(e),
                    CopyError::Write(e) => werr(e),
                })?;
                if self.privileged {
                    match rustix::fs::fchown(&file, Some(uid(meta.uid)), Some(gid(meta.gid))) {
                        Ok(()) => {}
                        Err(rustix::io::Errno::INVAL | rustix::io::Errno::PERM) => {
                            self.report.ownership_skipped += 1
                        }
                        Err(e) => return Err(werr(e.into())),
                    }
                }
                rustix::fs::fchmod(&file, Mode::from_raw_mode(meta.mode))
                    .map_err(|e| werr(e.into()))?;
                for (k, v) in &meta.xattrs {
                    let r = rustix::fs::fsetxattr(
                        &file,
                        k.as_str(),
                        v,
                        rustix::fs::XattrFlags::empty(),
                    );
                    self.xattr_result(r).map_err(werr)?;
                }
                let ts = Timestamps {
                    last_access: meta.mtime,
                    last_modification: meta.mtime,
                };
                rustix::fs::futimens(&file, &ts).map_err(|e| werr(e.into()))?;
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                self.remove(dir.as_fd(), name).map_err(werr)?;
                rustix::fs::symlinkat(OsStr::from_bytes(&target), dir.as_fd(), name)
                    .map_err(|e| werr(e.into()))?;
                self.finish_node(dir.as_fd(), name, &meta, false)
                    .map_err(werr)?;
            }
            EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                self.hardlink(dir.as_fd(), name, &rel, &target)?;
            }
            EntryType::Char | EntryType::Block => {
                let major = entry.header().device_major().ok().flatten().unwrap_or(0);
                let minor = entry.header().device_minor().ok().flatten().unwrap_or(0);
                let ft = if kind == EntryType::Char {
                    FileType::CharacterDevice
                } else {
                    FileType::BlockDevice
                };
                if self.mode == UnpackMode::Overlay
                    && ft == FileType::CharacterDevice
                    && major == 0
                    && minor == 0
                {
                    // A literal 0/0 device would read as a whiteout in a snapshot.
                    self.report.devices_skipped.push(show(&rel));
                    return Ok(());
                }
                self.remove(dir.as_fd(), name).map_err(werr)?;
                let dev = rustix::fs::makedev(major, minor);
                match rustix::fs::mknodat(dir.as_fd(), name, ft, Mode::from_raw_mode(0o600), dev) {
                    Ok(()) => self
                        .finish_node(dir.as_fd(), name, &meta, true)
                        .map_err(werr)?,
                    Err(rustix::io::Errno::PERM | rustix::io::Errno::ACCESS) => {
                        self.report.devices_skipped.push(show(&rel))
                    }
                    Err(e) => return Err(werr(e.into())),
                }
            }
            EntryType::Fifo => {
                self.remove(dir.as_fd(), name).map_err(werr)?;
                rustix::fs::mknodat(
                    dir.as_fd(),
                    name,
                    FileType::Fifo,
                    Mode::from_raw_mode(0o600),
                    0,
                )
                .map_err(|e| werr(e.into()))?;
                self.finish_node(dir.as_fd(), name, &meta, true)
                    .map_err(werr)?;
            }
            _ => return Ok(()), // GNU volume labels and the like carry no file
        }
        if self.mode == UnpackMode::Merge {
            self.unpacked.insert(rel);
        }
        Ok(())
    }

    /// Opens (creating if needed) the parent directory `parent` of entry `rel`.
    pub(super) fn parent(&mut self, parent: &[u8], rel: &[u8]) -> Result<OwnedFd, UnpackError> {
        if let Some((p, fd)) = &self.cached_parent
            && p == parent
        {
            return fd.try_clone().map_err(|source| UnpackError::Write {
                path: show(rel),
                source,
            });
        }
        let fd =
            unpack_fs::open_dir(self.root.as_fd(), parent, true).map_err(|e| open_err(e, rel))?;
        let copy = fd.try_clone().map_err(|source| UnpackError::Write {
            path: show(rel),
            source,
        })?;
        self.cached_parent = Some((parent.to_vec(), copy));
        Ok(fd)
    }

    /// Removes whatever is at `name` (the parent cache is dropped, as a removed
    /// directory may be the cached one).
    pub(super) fn remove(&mut self, dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
        if let Some(st) = unpack_fs::lstat_at(dir, name)? {
            if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
                self.cached_parent = None;
            }
            unpack_fs::remove_all_at(dir, name)?;
        }
        Ok(())
    }

    /// Owner, mode (not for symlinks), xattrs and mtime of a node just created.
    fn finish_node(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        meta: &Meta,
        chmod: bool,
    ) -> io::Result<()> {
        self.chown(dir, name, meta)?;
        let fd = unpack_fs::open_path_nofollow(dir, name)?;
        if chmod {
            rustix::fs::chmod(
                unpack_fs::proc_fd_path(fd.as_fd()).as_str(),
                Mode::from_raw_mode(meta.mode),
            )?;
        }
        self.set_xattrs_path(fd.as_fd(), meta)?;
        let ts = Timestamps {
            last_access: meta.mtime,
            last_modification: meta.mtime,
        };
        rustix::fs::utimensat(dir, name, &ts, AtFlags::SYMLINK_NOFOLLOW)?;
        Ok(())
    }

    fn chown(&mut self, dir: BorrowedFd<'_>, name: &OsStr, meta: &Meta) -> io::Result<()> {
        if !self.privileged {
            if meta.uid != rustix::process::geteuid().as_raw()
                || meta.gid != rustix::process::getegid().as_raw()
            {
                self.report.ownership_skipped += 1;
            }
            return Ok(());
        }
        match rustix::fs::chownat(
            dir,
            name,
            Some(uid(meta.uid)),
            Some(gid(meta.gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        ) {
            Ok(()) => Ok(()),
            Err(rustix::io::Errno::INVAL | rustix::io::Errno::PERM) => {
                self.report.ownership_skipped += 1;
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    fn set_xattrs_path(&mut self, fd: BorrowedFd<'_>, meta: &Meta) -> io::Result<()> {
        for (k, v) in &meta.xattrs {
            let r = rustix::fs::setxattr(
                unpack_fs::proc_fd_path(fd).as_str(),
                k.as_str(),
                v,
                rustix::fs::XattrFlags::empty(),
            );
            self.xattr_result(r)?;
        }
        Ok(())
    }

    fn xattr_result(&mut self, r: rustix::io::Result<()>) -> io::Result<()> {
        match r {
            Ok(()) => Ok(()),
            Err(
                rustix::io::Errno::PERM | rustix::io::Errno::NOTSUP | rustix::io::Errno::ACCESS,
            ) => {
                self.report.xattrs_skipped += 1;
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Applies directory modes and mtimes now that nothing more is written in them.
    fn finish_dirs(&mut self) -> Result<(), UnpackError> {
        let mut dirs: Vec<_> = std::mem::take(&mut self.dirs).into_iter().collect();
        dirs.sort_by(|a, b| b.0.cmp(&a.0));
        for (rel, (mode, mtime)) in dirs {
            let werr = |source: io::Error| UnpackError::Write {
                path: show(&rel),
                source,
            };
            let (parent, base) = split_last(&rel);
            let Ok(dir) = unpack_fs::open_dir(self.root.as_fd(), parent, false) else {
                continue; // removed or replaced later in the layer
            };
            let name = OsStr::from_bytes(base);
            let Ok(fd) = unpack_fs::open_path_nofollow(dir.as_fd(), name) else {
                continue;
            };
            let st = rustix::fs::fstat(&fd).map_err(|e| werr(e.into()))?;
            if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
                continue;
            }
            rustix::fs::chmod(
                unpack_fs::proc_fd_path(fd.as_fd()).as_str(),
                Mode::from_raw_mode(mode),
            )
            .map_err(|e| werr(e.into()))?;
            let ts = Timestamps {
                last_access: mtime,
                last_modification: mtime,
            };
            rustix::fs::utimensat(dir.as_fd(), name, &ts, AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| werr(e.into()))?;
        }
        Ok(())
    }
}
