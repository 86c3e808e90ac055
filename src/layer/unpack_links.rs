//! Whiteouts, opaque markers and hard links: the unpacker's entries that refer to
//! other paths, each resolved inside the root like any other entry.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::{AsFd, BorrowedFd};

use rustix::fs::{AtFlags, FileType, Mode};

use super::unpack::{OPAQUE_XATTR, UnpackError, UnpackMode, Unpacker};
use super::unpack_entry::{clean_name, open_err, show, split_last};
use super::unpack_fs::{self, OpenDirError};

impl Unpacker {
    pub(super) fn whiteout(
        &mut self,
        parent: &[u8],
        name: &[u8],
        rel: &[u8],
    ) -> Result<(), UnpackError> {
        let werr = |source: io::Error| UnpackError::Write {
            path: show(rel),
            source,
        };
        if name.is_empty() || name == b"." || name == b".." {
            return Ok(());
        }
        let name = OsStr::from_bytes(name);
        match self.mode {
            UnpackMode::Merge => {
                let dir = match unpack_fs::open_dir(self.root.as_fd(), parent, false) {
                    Ok(d) => d,
                    Err(OpenDirError::Io(e)) if e.kind() == io::ErrorKind::NotFound => {
                        return Ok(());
                    }
                    Err(e) => return Err(open_err(e, rel)),
                };
                self.remove(dir.as_fd(), name).map_err(werr)
            }
            UnpackMode::Overlay => {
                let dir = self.parent(parent, rel)?;
                self.remove(dir.as_fd(), name).map_err(werr)?;
                rustix::fs::mknodat(
                    dir.as_fd(),
                    name,
                    FileType::CharacterDevice,
                    Mode::empty(),
                    0,
                )
                .map_err(|e| werr(e.into()))
            }
        }
    }

    pub(super) fn opaque(&mut self, dir_rel: &[u8], rel: &[u8]) -> Result<(), UnpackError> {
        let werr = |source: io::Error| UnpackError::Write {
            path: show(rel),
            source,
        };
        match self.mode {
            UnpackMode::Overlay => {
                let dir = unpack_fs::open_dir(self.root.as_fd(), dir_rel, true)
                    .map_err(|e| open_err(e, rel))?;
                unpack_fs::set_xattr_fd_path(dir.as_fd(), OPAQUE_XATTR, b"y").map_err(werr)
            }
            UnpackMode::Merge => {
                let dir = match unpack_fs::open_dir(self.root.as_fd(), dir_rel, false) {
                    Ok(d) => d,
                    Err(OpenDirError::Io(e)) if e.kind() == io::ErrorKind::NotFound => {
                        return Ok(());
                    }
                    Err(e) => return Err(open_err(e, rel)),
                };
                self.cached_parent = None;
                self.clear_lower(dir.as_fd(), dir_rel).map_err(werr)
            }
        }
    }

    /// Removes everything under `dir` this layer did not write itself.
    pub(super) fn clear_lower(&self, dir: BorrowedFd<'_>, dir_rel: &[u8]) -> io::Result<()> {
        for child in unpack_fs::list_dir(dir)? {
            let mut path = dir_rel.to_vec();
            if !path.is_empty() {
                path.push(b'/');
            }
            path.extend_from_slice(&child);
            let name = OsStr::from_bytes(&child);
            if !self.unpacked.contains(&path) {
                unpack_fs::remove_all_at(dir, name)?;
            } else if let Some(st) = unpack_fs::lstat_at(dir, name)?
                && FileType::from_raw_mode(st.st_mode) == FileType::Directory
            {
                let sub = unpack_fs::open_path_nofollow(dir, name)?;
                self.clear_lower(sub.as_fd(), &path)?;
            }
        }
        Ok(())
    }

    pub(super) fn hardlink(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        rel: &[u8],
        target: &[u8],
    ) -> Result<(), UnpackError> {
        let outside = || UnpackError::HardlinkOutside {
            path: show(rel),
            target: show(target),
        };
        if target.first() == Some(&b'/') {
            return Err(outside());
        }
        let trel = clean_name(target)
            .filter(|t| !t.is_empty())
            .ok_or_else(outside)?;
        let missing = || UnpackError::HardlinkTarget {
            path: show(rel),
            target: show(target),
        };
        let (tparent, tbase) = split_last(&trel);
        let tdir = match unpack_fs::open_dir(self.root.as_fd(), tparent, false) {
            Ok(d) => d,
            Err(OpenDirError::Symlink) => {
                return Err(UnpackError::ThroughSymlink { path: show(rel) });
            }
            Err(_) => return Err(missing()),
        };
        let tname = OsStr::from_bytes(tbase);
        let werr = |source: io::Error| UnpackError::Write {
            path: show(rel),
            source,
        };
        let tst = unpack_fs::lstat_at(tdir.as_fd(), tname)
            .map_err(werr)?
            .ok_or_else(missing)?;
        if FileType::from_raw_mode(tst.st_mode) == FileType::Directory {
            return Err(missing());
        }
        if let Some(st) = unpack_fs::lstat_at(dir, name).map_err(werr)? {
            if st.st_ino == tst.st_ino && st.st_dev == tst.st_dev {
                return Ok(());
            }
            self.remove(dir, name).map_err(werr)?;
        }
        rustix::fs::linkat(tdir.as_fd(), tname, dir, name, AtFlags::empty())
            .map_err(|e| werr(e.into()))?;
        if self.mode == UnpackMode::Merge {
            self.unpacked.insert(rel.to_vec());
        }
        Ok(())
    }
}
