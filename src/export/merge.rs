//! A minimal, safe merge-apply of layer tars onto a directory, for `type=local` and
//! `type=tar` outputs.
//!
//! Every path is resolved with `openat2(RESOLVE_IN_ROOT)`, so a symlink in the image
//! (absolute or `../…`) resolves inside the destination as it would inside a container,
//! never onto the host; the last component is always created or removed with `*at`
//! calls on its parent directory and never followed. Whiteouts delete, opaque markers
//! empty their directory. Files belong to the caller, as BuildKit's `type=local` writes
//! them (the image's owners are recorded for the `type=tar` output, which keeps them);
//! extended attributes are not applied.
//!
//! The sandbox's snapshot unpacker does the same job for RUN with more features
//! (overlay whiteouts, xattrs, user namespaces); this one exists so exports work on their
//! own, and can be swapped for it behind [`super::local`] without changing callers.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{
    AtFlags, FileType, Mode, OFlags, ResolveFlags, Timespec, Timestamps, chmodat, linkat, mkdirat,
    mknodat, openat, openat2, statat, symlinkat, unlinkat,
};

use super::ExportError;
use crate::layer::{GoNumbers, clean_tar_path};

/// Owner and group of a merged path, as the layers said (for the tar output).
pub type Owners = BTreeMap<String, (u32, u32)>;

/// Applies layers onto one directory.
pub struct Merger {
    root: OwnedFd,
    root_path: PathBuf,
    privileged: bool,
    dirs: BTreeMap<String, (u32, i64)>,
    /// Owners of every path written, for [`super::local::write_rootfs_tar`].
    pub owners: Owners,
    /// Device nodes that could not be created without privileges.
    pub skipped_devices: usize,
}

impl Merger {
    /// Prepares to merge into `dest` (created if missing).
    pub fn new(dest: &Path) -> Result<Merger, ExportError> {
        let io_err = |e: io::Error| ExportError::Io {
            path: dest.to_path_buf(),
            source: e,
        };
        std::fs::create_dir_all(dest).map_err(io_err)?;
        let root = openat(
            rustix::fs::CWD,
            dest,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io_err(e.into()))?;
        Ok(Merger {
            root,
            root_path: dest.to_path_buf(),
            privileged: rustix::process::geteuid().is_root(),
            dirs: BTreeMap::new(),
            owners: BTreeMap::new(),
            skipped_devices: 0,
        })
    }

    /// Applies one uncompressed layer tar.
    pub fn apply(&mut self, layer: impl Read) -> Result<(), ExportError> {
        let mut archive = tar::Archive::new(layer);
        let entries = archive.entries().map_err(|e| self.err("", e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| self.err("", e))?;
            let raw = String::from_utf8(entry.path_bytes().into_owned())
                .map_err(|_| self.bad("", "a layer entry name is not UTF-8"))?;
            let Some(path) = clean_tar_path(&raw).map_err(|r| self.bad(&raw, r))? else {
                continue;
            };
            self.apply_entry(&path, &mut entry)?;
        }
        Ok(())
    }

    /// Sets directory modes and mtimes (deepest first, so writing children does not
    /// disturb them) and returns the owners map.
    pub fn finish(self) -> Result<Merger, ExportError> {
        for (path, (mode, mtime)) in self.dirs.iter().rev() {
            let (parent, name) = split(path);
            let Ok(dir) = self.open_dir(parent, false) else {
                continue;
            };
            chmodat(&dir, name, Mode::from_raw_mode(*mode), AtFlags::empty())
                .map_err(|e| self.err(path, e.into()))?;
            set_mtime(&dir, name, *mtime).map_err(|e| self.err(path, e))?;
        }
        Ok(self)
    }

    fn apply_entry<R: Read>(
        &mut self,
        path: &str,
        entry: &mut tar::Entry<'_, R>,
    ) -> Result<(), ExportError> {
        let (parent, name) = split(path);
        let h = entry.header().clone();
        let kind = h.entry_type();
        if name == ".wh..wh..opq" {
            if let Ok(dir) = self.open_dir(parent, false) {
                clear_dir(&dir).map_err(|e| self.err(parent, e))?;
            }
            self.forget_below(parent);
            return Ok(());
        }
        if let Some(hidden) = name.strip_prefix(".wh.") {
            if let Ok(dir) = self.open_dir(parent, false) {
                remove_at(&dir, OsStr::new(hidden)).map_err(|e| self.err(path, e))?;
            }
            let gone = join(parent, hidden);
            self.owners.remove(&gone);
            self.dirs.remove(&gone);
            self.forget_below(&gone);
            return Ok(());
        }
        let dir = self
            .open_dir(parent, true)
            .map_err(|e| self.err(parent, e))?;
        let mode = h.go_mode().map_err(|e| self.err(path, e))? & 0o7777;
        let uid = h.go_uid().map_err(|e| self.err(path, e))? as u32;
        let gid = h.go_gid().map_err(|e| self.err(path, e))? as u32;
        let mtime = h.go_mtime().map_err(|e| self.err(path, e))? as i64;
        let full = self.root_path.join(path);
        let io = &|e: io::Error| ExportError::Io {
            path: full.clone(),
            source: e,
        };
        if kind.is_dir() {
            let existing = statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW).ok();
            if existing.is_some_and(|s| FileType::from_raw_mode(s.st_mode) != FileType::Directory) {
                remove_at(&dir, OsStr::new(name)).map_err(io)?;
            }
            match mkdirat(&dir, name, Mode::from_raw_mode(0o700 | mode)) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(io(e.into())),
            }
            self.dirs.insert(path.to_string(), (mode, mtime));
        } else {
            remove_at(&dir, OsStr::new(name)).map_err(io)?;
            if kind.is_file() || kind == tar::EntryType::Continuous {
                let fd = openat(
                    &dir,
                    name,
                    OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::WRONLY
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(|e| io(e.into()))?;
                let mut file = std::fs::File::from(fd);
                io::copy(entry, &mut file).map_err(io)?;
            } else if kind.is_symlink() {
                let target = entry.link_name_bytes().unwrap_or_default().into_owned();
                symlinkat(OsStr::from_bytes(&target), &dir, name).map_err(|e| io(e.into()))?;
            } else if kind.is_hard_link() {
                let raw = String::from_utf8_lossy(&entry.link_name_bytes().unwrap_or_default())
                    .into_owned();
                let target = clean_tar_path(&raw)
                    .ok()
                    .flatten()
                    .ok_or_else(|| self.bad(path, "hard link target escapes the root"))?;
                let (tparent, tname) = split(&target);
                let tdir = self.open_dir(tparent, false).map_err(io)?;
                linkat(&tdir, tname, &dir, name, AtFlags::empty()).map_err(|e| io(e.into()))?;
                return Ok(()); // shares the target's inode and metadata
            } else if kind.is_character_special() || kind.is_block_special() || kind.is_fifo() {
                let file_type = if kind.is_fifo() {
                    FileType::Fifo
                } else if kind.is_character_special() {
                    FileType::CharacterDevice
                } else {
                    FileType::BlockDevice
                };
                let major = h.device_major().ok().flatten().unwrap_or(0);
                let minor = h.device_minor().ok().flatten().unwrap_or(0);
                let dev = rustix::fs::makedev(major, minor);
                match mknodat(&dir, name, file_type, Mode::from_raw_mode(mode), dev) {
                    Ok(()) => {}
                    Err(rustix::io::Errno::PERM)
                        if file_type != FileType::Fifo && !self.privileged =>
                    {
                        self.skipped_devices += 1;
                        return Ok(());
                    }
                    Err(e) => return Err(io(e.into())),
                }
            } else {
                return Ok(()); // PAX/GNU extension headers and unknown types carry no file
            }
            if !kind.is_symlink() {
                chmodat(&dir, name, Mode::from_raw_mode(mode), AtFlags::empty())
                    .map_err(|e| io(e.into()))?;
            }
            set_mtime(&dir, name, mtime).map_err(io)?;
        }
        self.owners.insert(path.to_string(), (uid, gid));
        Ok(())
    }

    /// Opens `rel` (a directory) with every symlink resolved inside the root; with
    /// `create`, missing directories are made on the way (also where a symlink in the
    /// image points to a directory that does not exist yet, as containerd does).
    fn open_dir(&self, rel: &str, create: bool) -> io::Result<OwnedFd> {
        self.open_dir_depth(rel, create, 0)
    }

    fn open_dir_depth(&self, rel: &str, create: bool, depth: u32) -> io::Result<OwnedFd> {
        let flags = OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC;
        let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
        let open = |p: &str| {
            openat2(
                &self.root,
                if p.is_empty() { "." } else { p },
                flags,
                Mode::empty(),
                resolve,
            )
        };
        match open(rel) {
            Ok(fd) => return Ok(fd),
            Err(rustix::io::Errno::NOENT) if create => {}
            Err(e) => return Err(e.into()),
        }
        if depth > 40 {
            return Err(rustix::io::Errno::LOOP.into());
        }
        let mut fd = open("")?;
        let mut prefix = String::new();
        for comp in rel.split('/') {
            let parent = prefix.clone();
            prefix = join(&prefix, comp);
            match open(&prefix) {
                Ok(next) => fd = next,
                Err(rustix::io::Errno::NOENT) => {
                    match statat(&fd, comp, AtFlags::SYMLINK_NOFOLLOW) {
                        Err(rustix::io::Errno::NOENT) => {
                            match mkdirat(&fd, comp, Mode::from_raw_mode(0o755)) {
                                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                                Err(e) => return Err(e.into()),
                            }
                            fd = open(&prefix)?;
                        }
                        Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => {
                            let target = rustix::fs::readlinkat(&fd, comp, Vec::new())?;
                            let target = String::from_utf8_lossy(target.to_bytes()).into_owned();
                            let resolved = resolve_lexically(&parent, &target);
                            fd = self.open_dir_depth(&resolved, true, depth + 1)?;
                        }
                        Ok(_) => return Err(rustix::io::Errno::NOTDIR.into()),
                        Err(e) => return Err(e.into()),
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(fd)
    }

    fn forget_below(&mut self, dir: &str) {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let keys: Vec<String> = self
            .owners
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect();
        for k in keys {
            self.owners.remove(&k);
            self.dirs.remove(&k);
        }
    }

    fn err(&self, rel: &str, source: io::Error) -> ExportError {
        ExportError::Io {
            path: self.root_path.join(rel),
            source,
        }
    }

    fn bad(&self, entry: &str, reason: &str) -> ExportError {
        ExportError::UnsafeLayerEntry {
            entry: entry.to_string(),
            reason: reason.to_string(),
        }
    }
}

fn split(path: &str) -> (&str, &str) {
    path.rsplit_once('/').unwrap_or(("", path))
}

/// Where a symlink in directory `base` pointing to `target` leads, inside the root
/// (`..` stops at the root, an absolute target starts from it).
fn resolve_lexically(base: &str, target: &str) -> String {
    let mut parts: Vec<&str> = if target.starts_with('/') {
        Vec::new()
    } else {
        base.split('/').filter(|c| !c.is_empty()).collect()
    };
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

fn set_mtime(dir: &impl AsFd, name: &str, mtime: i64) -> io::Result<()> {
    let t = Timespec {
        tv_sec: mtime,
        tv_nsec: 0,
    };
    let times = Timestamps {
        last_access: t,
        last_modification: t,
    };
    rustix::fs::utimensat(dir, name, &times, AtFlags::SYMLINK_NOFOLLOW)?;
    Ok(())
}

/// Removes `name` in `dir` (a whole tree for a directory); nothing there is fine.
fn remove_at(dir: &impl AsFd, name: &OsStr) -> io::Result<()> {
    let stat = match statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(s) => s,
        Err(rustix::io::Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if FileType::from_raw_mode(stat.st_mode) == FileType::Directory {
        let sub = openat(
            dir,
            name,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        clear_dir(&sub)?;
        unlinkat(dir, name, AtFlags::REMOVEDIR)?;
    } else {
        unlinkat(dir, name, AtFlags::empty())?;
    }
    Ok(())
}

/// Removes everything inside `dir`.
fn clear_dir(dir: &OwnedFd) -> io::Result<()> {
    let mut names: Vec<OsString> = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(OsStr::from_bytes(name).to_os_string());
        }
    }
    for name in names {
        remove_at(dir, &name)?;
    }
    Ok(())
}
