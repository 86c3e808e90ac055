//! Looking at a host directory tree through its root's file descriptor, so that no path
//! (`..`, an absolute or relative symlink, one swapped in concurrently) ever reaches
//! outside it: every lookup goes through `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags, Stat};
use rustix::io::Errno;

use super::meta::{Kind, Meta};
use super::path::{base_name, parent};

fn resolve_flags() -> ResolveFlags {
    ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS
}

/// Opens `rel` below `root` with `flags`; intermediate symlinks or `..` make it fail.
fn open_at(root: &File, root_path: &Path, rel: &str, flags: OFlags) -> io::Result<OwnedFd> {
    let rel = if rel.is_empty() { "." } else { rel };
    // openat2 rejects O_PATH combined with anything but these.
    let mut flags = flags | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    if !flags.contains(OFlags::PATH) {
        flags |= OFlags::NOCTTY;
    }
    match rustix::fs::openat2(root, rel, flags, Mode::empty(), resolve_flags()) {
        Ok(fd) => Ok(fd),
        Err(Errno::NOSYS) => {
            // Kernels before 5.6: at least do not follow a final symlink.
            let f = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(flags.bits() as i32)
                .open(root_path.join(rel))?;
            Ok(OwnedFd::from(f))
        }
        Err(e) => Err(e.into()),
    }
}

/// Opens the regular file `rel` below `root` for reading.
pub fn open_file(root: &File, root_path: &Path, rel: &str) -> io::Result<File> {
    open_at(root, root_path, rel, OFlags::RDONLY).map(File::from)
}

/// `lstat` of `rel` below `root`; `None` when it (or a directory on the way) is missing,
/// or when a symlink sits on the way (a tree path never goes through one).
pub fn lstat(root: &File, root_path: &Path, rel: &str) -> io::Result<Option<Meta>> {
    if rel.is_empty() {
        let st = rustix::fs::fstat(root)?;
        return Ok(Some(meta_from_stat(&st, None)));
    }
    let dir = match open_at(
        root,
        root_path,
        parent(rel),
        OFlags::PATH | OFlags::DIRECTORY,
    ) {
        Ok(fd) => fd,
        Err(e) if absent(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    entry_meta(&dir, base_name(rel))
}

/// A directory's entries: names and metadata sorted by name, and apart the names that
/// are not UTF-8.
pub struct Listing {
    /// Entries with UTF-8 names, sorted by name.
    pub entries: Vec<(String, Meta)>,
    /// Names that are not UTF-8.
    pub unrepresentable: Vec<Vec<u8>>,
}

/// The entries of directory `rel` below `root`; `None` when it is not a directory
/// reachable without symlinks.
pub fn read_dir(root: &File, root_path: &Path, rel: &str) -> io::Result<Option<Listing>> {
    let fd = match open_at(root, root_path, rel, OFlags::RDONLY | OFlags::DIRECTORY) {
        Ok(fd) => fd,
        Err(e) if absent(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut dir = rustix::fs::Dir::read_from(&fd)?;
    let mut out = Vec::new();
    let mut bad = Vec::new();
    while let Some(entry) = dir.read() {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let Ok(utf8) = std::str::from_utf8(name) else {
            bad.push(name.to_vec());
            continue;
        };
        if let Some(meta) = entry_meta(&fd, utf8)? {
            out.push((utf8.to_string(), meta));
        }
    }
    out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(Some(Listing {
        entries: out,
        unrepresentable: bad,
    }))
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`, plus the link target of a symlink.
fn entry_meta(dir: &OwnedFd, name: &str) -> io::Result<Option<Meta>> {
    let st = match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(e) if absent(&e.into()) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let target = if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
        let t = rustix::fs::readlinkat(dir, name, Vec::new())?;
        let t = OsStr::from_bytes(t.as_bytes());
        Some(t.to_str().map(str::to_string).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "symlink target is not valid UTF-8",
            )
        })?)
    } else {
        None
    };
    Ok(Some(meta_from_stat(&st, target)))
}

fn absent(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP | libc::EXDEV)
    )
}

/// Converts a raw `stat` (field widths differ between architectures).
#[allow(clippy::unnecessary_cast)]
pub fn meta_from_stat(st: &Stat, target: Option<String>) -> Meta {
    let mode = st.st_mode as u32;
    let kind = match mode & libc::S_IFMT {
        libc::S_IFREG => Kind::File,
        libc::S_IFDIR => Kind::Dir,
        libc::S_IFLNK => Kind::Symlink {
            target: target.unwrap_or_default(),
        },
        _ => Kind::Other,
    };
    Meta {
        kind,
        mode,
        uid: st.st_uid as u32,
        gid: st.st_gid as u32,
        size: st.st_size as u64,
        mtime_ns: st.st_mtime as i64 * 1_000_000_000 + st.st_mtime_nsec as i64,
        ctime_ns: st.st_ctime as i64 * 1_000_000_000 + st.st_ctime_nsec as i64,
        dev: st.st_dev as u64,
        ino: st.st_ino as u64,
        nlink: st.st_nlink as u64,
        rdev: st.st_rdev as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_stay_beneath_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(dir.path().join("secret"), b"outside").unwrap();
        std::fs::write(root.join("sub/f"), b"inside").unwrap();
        std::os::unix::fs::symlink("..", root.join("up")).unwrap();
        std::os::unix::fs::symlink("/", root.join("abs")).unwrap();
        let fd = File::open(&root).unwrap();

        let m = lstat(&fd, &root, "sub/f").unwrap().unwrap();
        assert!(m.is_file());
        assert_eq!(m.size, 6);
        let link = lstat(&fd, &root, "up").unwrap().unwrap();
        assert_eq!(link.link_target(), Some(".."));
        assert!(lstat(&fd, &root, "up/secret").unwrap().is_none());
        assert!(lstat(&fd, &root, "abs/etc").unwrap().is_none());
        assert!(lstat(&fd, &root, "../secret").unwrap().is_none());
        assert!(open_file(&fd, &root, "up/secret").is_err());
        assert!(open_file(&fd, &root, "sub/f").is_ok());

        let listing = read_dir(&fd, &root, "").unwrap().unwrap();
        let names: Vec<_> = listing.entries.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["abs", "sub", "up"]);
        assert!(listing.unrepresentable.is_empty());
        assert!(read_dir(&fd, &root, "up").unwrap().is_none());
    }
}
