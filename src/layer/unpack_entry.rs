//! Per-entry helpers of the unpacker: cleaning tar names, reading an entry's metadata
//! (header and PAX records), and copying its data.

use super::header::GoNumbers;
use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::unix::io::BorrowedFd;

use rustix::fs::{Mode, Timespec};

use super::unpack::UnpackError;
use super::unpack_fs::OpenDirError;

/// Cleans a tar name into a relative, `/`-joined path (empty for the root), resolving
/// `.` and `..` lexically. `None` when a relative name climbs above the root; an
/// absolute name is rooted, so `..` stops at `/` (Go's `filepath.Clean`).
pub(crate) fn clean_name(raw: &[u8]) -> Option<Vec<u8>> {
    let rooted = raw.first() == Some(&b'/');
    let mut parts: Vec<&[u8]> = Vec::new();
    for c in raw.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                if parts.pop().is_none() && !rooted {
                    return None;
                }
            }
            c => parts.push(c),
        }
    }
    Some(parts.join(&b'/'))
}

/// Splits a cleaned, non-empty path into its parent and last component.
pub(super) fn split_last(rel: &[u8]) -> (&[u8], &[u8]) {
    match memchr::memrchr(b'/', rel) {
        Some(i) => (&rel[..i], &rel[i + 1..]),
        None => (&[], rel),
    }
}

/// A byte path for messages.
pub(super) fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Metadata of one entry, from its header and PAX records.
pub(super) struct Meta {
    pub(super) mode: u32,
    pub(super) uid: u32,
    pub(super) gid: u32,
    pub(super) mtime: Timespec,
    pub(super) xattrs: Vec<(String, Vec<u8>)>,
}

/// The error for a directory of entry `rel` that cannot be opened.
pub(super) fn open_err(e: OpenDirError, rel: &[u8]) -> UnpackError {
    match e {
        OpenDirError::Symlink => UnpackError::ThroughSymlink { path: show(rel) },
        OpenDirError::NotADirectory => UnpackError::NotADirectory { path: show(rel) },
        OpenDirError::Io(source) => UnpackError::Write {
            path: show(rel),
            source,
        },
    }
}

/// Creates a directory (mode 0700 until the entry's own mode is applied at the end).
pub(super) fn mkdir(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    Ok(rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(0o700))?)
}

/// A rustix uid.
pub(super) fn uid(id: u32) -> rustix::fs::Uid {
    rustix::fs::Uid::from_raw(id)
}

/// A rustix gid.
pub(super) fn gid(id: u32) -> rustix::fs::Gid {
    rustix::fs::Gid::from_raw(id)
}

/// Mode, owner, mtime (with PAX nanoseconds) and xattrs of an entry; `*.overlay.*`
/// xattrs are dropped.
pub(super) fn read_meta<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    rel: &[u8],
) -> Result<Meta, UnpackError> {
    let herr = |source: io::Error| UnpackError::Header {
        path: show(rel),
        source,
    };
    let h = entry.header();
    let mode = h.go_mode().map_err(herr)? & 0o7777;
    let id = |v: u64| u32::try_from(v).map_err(|_| herr(io::Error::other("id out of range")));
    let uid = id(h.go_uid().map_err(herr)?)?;
    let gid = id(h.go_gid().map_err(herr)?)?;
    let secs = i64::try_from(h.go_mtime().map_err(herr)?).unwrap_or(i64::MAX);
    let mut mtime = Timespec {
        tv_sec: secs,
        tv_nsec: 0,
    };
    let mut xattrs = Vec::new();
    if let Some(pax) = entry.pax_extensions().map_err(herr)? {
        for ext in pax {
            let ext = ext.map_err(herr)?;
            let key = ext.key_bytes();
            if key == b"mtime" {
                if let Some(t) = parse_pax_time(ext.value_bytes()) {
                    mtime = t;
                }
            } else if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                let Ok(name) = std::str::from_utf8(name) else {
                    continue;
                };
                xattrs.push((name.to_string(), ext.value_bytes().to_vec()));
            }
        }
    }
    // A layer may not smuggle overlayfs semantics (opaque, redirect…) into a snapshot.
    xattrs.retain(|(k, _)| !k.starts_with("trusted.overlay.") && !k.starts_with("user.overlay."));
    Ok(Meta {
        mode,
        uid,
        gid,
        mtime,
        xattrs,
    })
}

/// Parses a PAX time (`1700000000.123456789`).
pub(super) fn parse_pax_time(v: &[u8]) -> Option<Timespec> {
    let s = std::str::from_utf8(v).ok()?;
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let tv_sec: i64 = secs.parse().ok()?;
    let digits: String = frac.chars().take(9).collect();
    let tv_nsec = if digits.is_empty() {
        0
    } else {
        let n: i64 = digits.parse().ok()?;
        n * 10_i64.pow(9 - digits.len() as u32)
    };
    Some(Timespec {
        tv_sec,
        tv_nsec: if tv_sec < 0 { -tv_nsec } else { tv_nsec },
    })
}

/// Which side of a copy failed.
pub(super) enum CopyError {
    /// Reading the tar failed.
    Read(io::Error),
    /// Writing the file failed.
    Write(io::Error),
}

/// Copies an entry's data, telling read errors (the tar) from write errors (the file).
pub(super) fn copy(r: &mut impl Read, w: &mut impl Write, buf: &mut [u8]) -> Result<(), CopyError> {
    loop {
        let n = match r.read(buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        w.write_all(&buf[..n]).map_err(CopyError::Write)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned_like_go() {
        let c = |s: &str| clean_name(s.as_bytes()).map(|v| String::from_utf8(v).unwrap());
        assert_eq!(c("a/b/"), Some("a/b".into()));
        assert_eq!(c("./a/./b"), Some("a/b".into()));
        assert_eq!(c("/etc/passwd"), Some("etc/passwd".into()));
        assert_eq!(c("a/../b"), Some("b".into()));
        assert_eq!(c("/../x"), Some("x".into()));
        assert_eq!(c("../x"), None);
        assert_eq!(c("a/../../x"), None);
        assert_eq!(c("./"), Some(String::new()));
    }

    #[test]
    fn pax_times_keep_nanoseconds() {
        let t = parse_pax_time(b"1700000000.5").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (1_700_000_000, 500_000_000));
        let t = parse_pax_time(b"12").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (12, 0));
        assert!(parse_pax_time(b"x").is_none());
    }
}
