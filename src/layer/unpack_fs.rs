//! Directory-fd-relative file operations that never follow a symlink.
//!
//! The unpacker resolves every parent directory of a tar entry with `openat2` and
//! `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`, then creates the entry with `*at` calls on
//! that directory fd. A symlink planted by an earlier entry therefore cannot redirect a
//! later write, and nothing can land outside the root.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, ResolveFlags};

/// Why a directory inside the root could not be opened.
#[derive(Debug)]
pub(crate) enum OpenDirError {
    /// A component is a symlink.
    Symlink,
    /// A component exists but is not a directory.
    NotADirectory,
    /// Any other I/O error.
    Io(io::Error),
}

/// Flags for resolving inside a root without ever following a symlink.
fn beneath() -> ResolveFlags {
    ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS
}

/// Opens the root directory itself as an `O_PATH` handle.
pub(crate) fn open_root(path: &Path) -> io::Result<OwnedFd> {
    Ok(rustix::fs::open(
        path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Opens directory `rel` (a `/`-joined relative path, empty for the root) beneath `root`
/// without following symlinks; with `create`, missing components are made (mode 0755).
pub(crate) fn open_dir(
    root: BorrowedFd<'_>,
    rel: &[u8],
    create: bool,
) -> Result<OwnedFd, OpenDirError> {
    let path: &OsStr = if rel.is_empty() {
        OsStr::new(".")
    } else {
        OsStr::from_bytes(rel)
    };
    match open_beneath(root, path) {
        Ok(fd) => Ok(fd),
        Err(OpenDirError::Io(e)) if create && e.kind() == io::ErrorKind::NotFound => {
            create_dirs(root, rel)
        }
        Err(e) => Err(e),
    }
}

fn open_beneath(dir: BorrowedFd<'_>, path: &OsStr) -> Result<OwnedFd, OpenDirError> {
    rustix::fs::openat2(
        dir,
        path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        beneath(),
    )
    .map_err(|e| match e {
        rustix::io::Errno::LOOP => OpenDirError::Symlink,
        rustix::io::Errno::NOTDIR => OpenDirError::NotADirectory,
        e => OpenDirError::Io(e.into()),
    })
}

/// Walks `rel` one component at a time, making what is missing.
fn create_dirs(root: BorrowedFd<'_>, rel: &[u8]) -> Result<OwnedFd, OpenDirError> {
    let mut cur = open_beneath(root, OsStr::new("."))?;
    for comp in rel.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
        let name = OsStr::from_bytes(comp);
        match rustix::fs::mkdirat(&cur, name, Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(OpenDirError::Io(e.into())),
        }
        cur = open_beneath(cur.as_fd(), name)?;
    }
    Ok(cur)
}

/// `lstat` of `name` in `dir`; `None` when it does not exist.
pub(crate) fn lstat_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<Option<rustix::fs::Stat>> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Removes `name` in `dir` and, for a directory, everything under it, never following a
/// symlink. A missing `name` is not an error.
pub(crate) fn remove_all_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    let Some(st) = lstat_at(dir, name)? else {
        return Ok(());
    };
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        return match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
            Err(e) => Err(e.into()),
        };
    }
    let sub = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    for child in list_dir(sub.as_fd())? {
        remove_all_at(sub.as_fd(), OsStr::from_bytes(&child))?;
    }
    match rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The names in an open directory (without `.` and `..`).
pub(crate) fn list_dir(dir: BorrowedFd<'_>) -> io::Result<Vec<Vec<u8>>> {
    // `Dir::read_from` needs a readable fd; reopen an O_PATH handle through openat(".").
    let readable = rustix::fs::openat(
        dir,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut names = Vec::new();
    let mut d = Dir::read_from(&readable)?;
    while let Some(entry) = d.read() {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(name.to_vec());
        }
    }
    Ok(names)
}

/// The `/proc/self/fd/N` path of an fd, for calls that have no fd-relative form
/// (setting an xattr on a symlink or a directory opened `O_PATH`).
pub(crate) fn proc_fd_path(fd: BorrowedFd<'_>) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// Sets an xattr on the object an `O_PATH` fd refers to (following the magic link only).
pub(crate) fn set_xattr_fd_path(fd: BorrowedFd<'_>, name: &str, value: &[u8]) -> io::Result<()> {
    rustix::fs::setxattr(
        proc_fd_path(fd).as_str(),
        name,
        value,
        rustix::fs::XattrFlags::empty(),
    )?;
    Ok(())
}

/// Opens `name` in `dir` as an `O_PATH | O_NOFOLLOW` handle (works for every file type).
pub(crate) fn open_path_nofollow(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(
        dir,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_dir_refuses_a_symlinked_component() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("real")).unwrap();
        std::os::unix::fs::symlink("/etc", t.path().join("link")).unwrap();
        let root = open_root(t.path()).unwrap();
        assert!(open_dir(root.as_fd(), b"real", false).is_ok());
        assert!(matches!(
            open_dir(root.as_fd(), b"link", true),
            Err(OpenDirError::Symlink)
        ));
        assert!(matches!(
            open_dir(root.as_fd(), b"link/sub", true),
            Err(OpenDirError::Symlink)
        ));
    }

    #[test]
    fn open_dir_creates_missing_components() {
        let t = tempfile::tempdir().unwrap();
        let root = open_root(t.path()).unwrap();
        open_dir(root.as_fd(), b"a/b/c", true).unwrap();
        assert!(t.path().join("a/b/c").is_dir());
    }

    #[test]
    fn remove_all_does_not_follow_symlinks() {
        let t = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("keep"), b"x").unwrap();
        std::fs::create_dir_all(t.path().join("d/e")).unwrap();
        std::fs::write(t.path().join("d/e/f"), b"y").unwrap();
        std::os::unix::fs::symlink(outside.path(), t.path().join("d/out")).unwrap();
        let root = open_root(t.path()).unwrap();
        remove_all_at(root.as_fd(), OsStr::new("d")).unwrap();
        assert!(!t.path().join("d").exists());
        assert!(outside.path().join("keep").exists());
    }
}
