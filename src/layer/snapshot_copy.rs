//! Materialises the merged view of a snapshot stack as one plain directory tree: the
//! rootfs of the copy fallback, used where overlayfs cannot be mounted.
//!
//! Everything the tree diff compares is preserved: type, mode, owner, nanosecond mtimes,
//! `security.capability` and other non-overlay xattrs, and hard links among the copied
//! files.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::Metadata;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, Timespec, Timestamps};

use super::snapshot_view::{DirView, LowerView};

/// Why a copy failed.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct CopyError {
    /// The path.
    pub path: PathBuf,
    /// The error.
    #[source]
    pub source: io::Error,
}

fn cerr(path: &Path) -> impl FnOnce(io::Error) -> CopyError + '_ {
    move |source| CopyError {
        path: path.to_path_buf(),
        source,
    }
}

/// Copies the merged view of `lowers` (top first) into the empty directory `dest`.
/// Returns the layer paths of device nodes that could not be created (unprivileged).
pub fn copy_merged(lowers: &[PathBuf], dest: &Path) -> Result<Vec<String>, CopyError> {
    let view = LowerView::new(lowers.to_vec());
    let root = view.root().map_err(cerr(dest))?;
    let mut c = Copier {
        view: &view,
        links: HashMap::new(),
        skipped: Vec::new(),
        privileged: rustix::process::geteuid().is_root(),
    };
    c.copy_dir(&root, dest, "")?;
    if let Some(top) = lowers.first() {
        let meta = std::fs::symlink_metadata(top).map_err(cerr(top))?;
        c.apply_meta(top, dest, &meta)?;
    }
    Ok(c.skipped)
}

struct Copier<'a> {
    view: &'a LowerView,
    links: HashMap<(u64, u64), PathBuf>,
    skipped: Vec<String>,
    privileged: bool,
}

impl Copier<'_> {
    fn copy_dir(&mut self, dir: &DirView, dest: &Path, rel: &str) -> Result<(), CopyError> {
        for (name, found) in self.view.list(dir).map_err(cerr(dest))? {
            let dst = dest.join(&name);
            let crel = if rel.is_empty() {
                name.to_string_lossy().into_owned()
            } else {
                format!("{rel}/{}", name.to_string_lossy())
            };
            let (src, meta) = (&found.path, &found.meta);
            let ft = meta.file_type();
            if ft.is_dir() {
                std::fs::create_dir(&dst).map_err(cerr(&dst))?;
                if let Some(child) = self.view.child_dir(dir, &name).map_err(cerr(src))? {
                    self.copy_dir(&child, &dst, &crel)?;
                }
            } else if ft.is_file() {
                if meta.nlink() > 1
                    && let Some(first) = self.links.get(&(meta.dev(), meta.ino()))
                {
                    std::fs::hard_link(first, &dst).map_err(cerr(&dst))?;
                    continue;
                }
                std::fs::copy(src, &dst).map_err(cerr(&dst))?;
                if meta.nlink() > 1 {
                    self.links.insert((meta.dev(), meta.ino()), dst.clone());
                }
            } else if ft.is_symlink() {
                let target = std::fs::read_link(src).map_err(cerr(src))?;
                std::os::unix::fs::symlink(&target, &dst).map_err(cerr(&dst))?;
            } else if ft.is_char_device() || ft.is_block_device() || ft.is_fifo() {
                let kind = FileType::from_raw_mode(meta.mode());
                match rustix::fs::mknodat(
                    rustix::fs::CWD,
                    &dst,
                    kind,
                    Mode::from_raw_mode(0o600),
                    meta.rdev(),
                ) {
                    Ok(()) => {}
                    Err(rustix::io::Errno::PERM) => {
                        self.skipped.push(crel);
                        continue;
                    }
                    Err(e) => return Err(cerr(&dst)(e.into())),
                }
            } else {
                continue; // sockets have no layer form
            }
            self.apply_meta(src, &dst, meta)?;
        }
        Ok(())
    }

    fn apply_meta(&self, src: &Path, dst: &Path, meta: &Metadata) -> Result<(), CopyError> {
        if self.privileged {
            match rustix::fs::chownat(
                rustix::fs::CWD,
                dst,
                Some(rustix::fs::Uid::from_raw(meta.uid())),
                Some(rustix::fs::Gid::from_raw(meta.gid())),
                AtFlags::SYMLINK_NOFOLLOW,
            ) {
                Ok(()) | Err(rustix::io::Errno::INVAL | rustix::io::Errno::PERM) => {}
                Err(e) => return Err(cerr(dst)(e.into())),
            }
        }
        if !meta.file_type().is_symlink() {
            rustix::fs::chmod(dst, Mode::from_raw_mode(meta.mode() & 0o7777))
                .map_err(|e| cerr(dst)(e.into()))?;
        }
        copy_xattrs(src, dst)?;
        let ts = Timestamps {
            last_access: Timespec {
                tv_sec: meta.mtime(),
                tv_nsec: meta.mtime_nsec(),
            },
            last_modification: Timespec {
                tv_sec: meta.mtime(),
                tv_nsec: meta.mtime_nsec(),
            },
        };
        rustix::fs::utimensat(rustix::fs::CWD, dst, &ts, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| cerr(dst)(e.into()))
    }
}

/// Copies every xattr but overlayfs' own; ones the destination refuses are dropped.
pub fn copy_xattrs(src: &Path, dst: &Path) -> Result<(), CopyError> {
    let mut names = vec![0u8; 1024];
    let n = loop {
        match rustix::fs::llistxattr(src, &mut names[..]) {
            Ok(n) => break n,
            Err(rustix::io::Errno::RANGE) if names.len() < 1 << 20 => {
                names.resize(names.len() * 4, 0)
            }
            Err(rustix::io::Errno::NOTSUP) => return Ok(()),
            Err(e) => return Err(cerr(src)(e.into())),
        }
    };
    for name in names[..n].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let name = OsStr::new(std::str::from_utf8(name).unwrap_or(""));
        let s = name.to_string_lossy();
        if s.is_empty() || s.starts_with("trusted.overlay.") || s.starts_with("user.overlay.") {
            continue;
        }
        let Some(value) = super::diff::get_xattr(src, &s).map_err(cerr(src))? else {
            continue;
        };
        match rustix::fs::lsetxattr(dst, name, &value, rustix::fs::XattrFlags::empty()) {
            Ok(())
            | Err(
                rustix::io::Errno::PERM | rustix::io::Errno::NOTSUP | rustix::io::Errno::ACCESS,
            ) => {}
            Err(e) => return Err(cerr(dst)(e.into())),
        }
    }
    Ok(())
}
