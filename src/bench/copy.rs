//! The bench's private copy of the build context, and the edits the `changed` scenarios
//! make to it.
//!
//! The user's context is only ever read. The copy holds the same bytes, modes, symlinks,
//! modification times (so stat caches and layer timestamps behave as on the original) and,
//! when running as root, owners. File bytes are copied, never hard-linked: a hard link
//! would share the inode (an edit would reach the user's file) and bump its ctime.
//! `std::fs::copy` may reflink on copy-on-write filesystems, which is safe, and edits never
//! write into an existing file anyway: a changed file is written beside its copy under a
//! temp name and renamed over it, so an edit cannot reach any file it might share blocks
//! or an inode with. Sockets, fifos and devices are skipped; hard links inside the context
//! become separate files.

use std::ffi::OsString;
use std::fs::Metadata;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use rayon::prelude::*;
use rustix::fs::{AtFlags, CWD, Timespec, Timestamps, utimensat};
use walkdir::WalkDir;

use super::{BenchError, Interrupt, walk_error};

/// Copies the directory `src` to `dest` (which must not exist yet). Returns how many
/// entries were copied. Stops with `Interrupted` once a signal arrives.
pub fn copy_tree(src: &Path, dest: &Path, interrupt: &Interrupt) -> Result<u64, BenchError> {
    let as_root = rustix::process::geteuid().is_root();
    let mut dirs: Vec<(PathBuf, Metadata)> = Vec::new();
    let mut files: Vec<(PathBuf, PathBuf, Metadata)> = Vec::new();
    let mut copied = 0u64;
    for entry in WalkDir::new(src).follow_links(false).sort_by_file_name() {
        interrupt.check()?;
        let entry = entry.map_err(walk_error)?;
        let rel = entry.path().strip_prefix(src).unwrap_or(entry.path());
        let to = dest.join(rel);
        let meta = entry.metadata().map_err(walk_error)?;
        let kind = entry.file_type();
        if kind.is_dir() {
            fs_err::create_dir(&to)?;
            dirs.push((to, meta));
        } else if kind.is_file() {
            files.push((entry.path().to_path_buf(), to, meta));
        } else if kind.is_symlink() {
            let target = fs_err::read_link(entry.path())?;
            fs_err::os::unix::fs::symlink(&target, &to)?;
            finish(&to, &meta, as_root)?;
        } else {
            continue;
        }
        copied += 1;
    }
    files.par_iter().try_for_each(|(from, to, meta)| {
        interrupt.check()?;
        fs_err::copy(from, to)?;
        finish(to, meta, as_root)
    })?;
    // Deepest first, so setting a directory's time is not undone by work inside it, and a
    // read-only directory is made read-only only once its contents are in place.
    for (dir, meta) in dirs.iter().rev() {
        fs_err::set_permissions(dir, std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        finish(dir, meta, as_root)?;
    }
    Ok(copied)
}

/// Gives `path` the owner (as root) and times of `meta`, without following a symlink.
fn finish(path: &Path, meta: &Metadata, as_root: bool) -> Result<(), BenchError> {
    let with_path = |e: std::io::Error| {
        BenchError::Io(std::io::Error::new(
            e.kind(),
            format!("{}: {e}", path.display()),
        ))
    };
    if as_root {
        std::os::unix::fs::lchown(path, Some(meta.uid()), Some(meta.gid())).map_err(with_path)?;
    }
    let times = Timestamps {
        last_access: Timespec {
            tv_sec: meta.atime(),
            tv_nsec: meta.atime_nsec() as _,
        },
        last_modification: Timespec {
            tv_sec: meta.mtime(),
            tv_nsec: meta.mtime_nsec() as _,
        },
    };
    utimensat(CWD, path, &times, AtFlags::SYMLINK_NOFOLLOW).map_err(|e| with_path(e.into()))
}

/// A file that a `changed` scenario rewrites before every build, with content it never had:
/// the original bytes followed by one more newline each time (harmless to source code,
/// JSON, YAML and most text formats).
#[derive(Debug)]
pub struct Changer {
    rel: PathBuf,
    original: PathBuf,
    copy: PathBuf,
    edits: usize,
}

impl Changer {
    /// A changer for `rel` (relative to the context, see [`resolve_change`]).
    pub fn new(user_context: &Path, copy_context: &Path, rel: &Path) -> Changer {
        Changer {
            rel: rel.to_path_buf(),
            original: user_context.join(rel),
            copy: copy_context.join(rel),
            edits: 0,
        }
    }

    /// The path relative to the context.
    pub fn rel(&self) -> &Path {
        &self.rel
    }

    /// Replaces the copy with new content by rename (never writing into the old file).
    pub fn change(&mut self) -> Result<(), BenchError> {
        self.edits += 1;
        let mut bytes = fs_err::read(&self.original)?;
        bytes.resize(bytes.len() + self.edits, b'\n');
        let meta = fs_err::metadata(&self.original)?;
        let dir = self.copy.parent().unwrap_or(Path::new("."));
        let io = |e: std::io::Error| {
            BenchError::Io(std::io::Error::new(
                e.kind(),
                format!("rewriting {}: {e}", self.copy.display()),
            ))
        };
        let mut tmp = tempfile::Builder::new()
            .prefix(".rbuild-bench-")
            .tempfile_in(dir)
            .map_err(io)?;
        tmp.write_all(&bytes).map_err(io)?;
        let file = tmp.as_file();
        file.set_permissions(std::fs::Permissions::from_mode(meta.mode() & 0o7777))
            .map_err(io)?;
        if rustix::process::geteuid().is_root() {
            std::os::unix::fs::fchown(file, Some(meta.uid()), Some(meta.gid())).map_err(io)?;
        }
        tmp.persist(&self.copy).map_err(|e| io(e.error))?;
        Ok(())
    }
}

/// Resolves a `--change` argument to a path relative to the context: first relative to
/// the context, then (for an absolute path, or one that exists from the working
/// directory) as a path inside it. It must name a regular file.
pub fn resolve_change(context: &Path, arg: &Path) -> Result<PathBuf, BenchError> {
    let bad = |why: &str| BenchError::BadChange {
        path: arg.to_path_buf(),
        why: why.to_string(),
    };
    let in_context = context.join(arg);
    let rel = if arg.is_relative() && in_context.symlink_metadata().is_ok() {
        normal(arg).ok_or_else(|| bad("it leaves the build context"))?
    } else if arg.is_absolute() || arg.symlink_metadata().is_ok() {
        let abs = std::path::absolute(arg).map_err(|e| bad(&e.to_string()))?;
        let ctx = fs_err::canonicalize(context)?;
        let dir = abs
            .parent()
            .map(fs_err::canonicalize)
            .transpose()
            .ok()
            .flatten();
        let full = match (dir, abs.file_name()) {
            (Some(d), Some(name)) => d.join(name),
            _ => return Err(bad("no such file in the build context")),
        };
        let rel = full
            .strip_prefix(&ctx)
            .map_err(|_| bad("it is not inside the build context"))?;
        normal(rel).ok_or_else(|| bad("it leaves the build context"))?
    } else {
        return Err(bad("no such file in the build context"));
    };
    match context.join(&rel).symlink_metadata() {
        Ok(m) if m.is_file() => Ok(rel),
        Ok(_) => Err(bad("not a regular file")),
        Err(_) => Err(bad("no such file in the build context")),
    }
}

/// `p` without `.` components, or `None` when it is absolute, empty or climbs with `..`.
fn normal(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// The name a changed scenario gets: `changed:<path>`.
pub fn scenario_name(rel: &Path) -> String {
    let mut s = OsString::from("changed:");
    s.push(rel);
    s.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::os::unix::fs::symlink;

    use super::*;

    /// Every entry under `root`: relative path → (kind, mode, mtime ns, bytes or link target).
    fn snapshot(root: &Path) -> BTreeMap<PathBuf, (String, u32, i128, Vec<u8>)> {
        let mut out = BTreeMap::new();
        for e in WalkDir::new(root).follow_links(false) {
            let e = e.unwrap();
            let m = e.path().symlink_metadata().unwrap();
            let mtime = m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128;
            let (kind, data) = if m.is_dir() {
                ("dir", Vec::new())
            } else if m.file_type().is_symlink() {
                (
                    "link",
                    std::fs::read_link(e.path())
                        .unwrap()
                        .into_os_string()
                        .into_encoded_bytes(),
                )
            } else {
                ("file", std::fs::read(e.path()).unwrap())
            };
            let rel = e.path().strip_prefix(root).unwrap().to_path_buf();
            out.insert(rel, (kind.to_string(), m.mode() & 0o7777, mtime, data));
        }
        out
    }

    fn sample_context(dir: &Path) {
        std::fs::create_dir_all(dir.join("src/deep")).unwrap();
        std::fs::write(dir.join("Dockerfile"), "FROM scratch\nCOPY . /\n").unwrap();
        std::fs::write(dir.join("src/main.c"), "int main(){}\n").unwrap();
        std::fs::write(dir.join("src/deep/bin"), [0u8, 159, 146, 150]).unwrap();
        std::fs::set_permissions(
            dir.join("src/deep/bin"),
            std::fs::Permissions::from_mode(0o751),
        )
        .unwrap();
        symlink("../main.c", dir.join("src/deep/link")).unwrap();
        symlink("/etc/passwd", dir.join("abs-link")).unwrap();
        std::fs::set_permissions(dir.join("src/deep"), std::fs::Permissions::from_mode(0o700))
            .unwrap();
        let old =
            std::time::SystemTime::UNIX_EPOCH + std::time::Duration::new(1_000_000, 123_456_789);
        std::fs::File::options()
            .write(true)
            .open(dir.join("src/main.c"))
            .unwrap()
            .set_modified(old)
            .unwrap();
    }

    #[test]
    fn the_copy_is_identical() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("ctx");
        sample_context(&src);
        let dest = d.path().join("copy");
        let n = copy_tree(&src, &dest, &Interrupt::new()).unwrap();
        assert_eq!(n, 8, "root, src, src/deep, 3 files, 2 symlinks");
        let (a, b) = (snapshot(&src), snapshot(&dest));
        assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
        for (k, v) in &a {
            assert_eq!(Some(v), b.get(k), "{}", k.display());
        }
        let ino = |p: &Path| std::fs::metadata(p).unwrap().ino();
        assert_ne!(ino(&src.join("src/main.c")), ino(&dest.join("src/main.c")));
    }

    #[test]
    fn changes_reach_the_copy_only_and_are_unique() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("ctx");
        sample_context(&src);
        let dest = d.path().join("copy");
        copy_tree(&src, &dest, &Interrupt::new()).unwrap();
        let before = snapshot(&src);
        let mut c = Changer::new(&src, &dest, Path::new("src/deep/bin"));
        let mut seen = vec![std::fs::read(dest.join("src/deep/bin")).unwrap()];
        for _ in 0..3 {
            c.change().unwrap();
            let now = std::fs::read(dest.join("src/deep/bin")).unwrap();
            assert!(!seen.contains(&now));
            assert!(now.starts_with(&[0u8, 159, 146, 150]));
            seen.push(now);
        }
        let mode = std::fs::metadata(dest.join("src/deep/bin")).unwrap().mode() & 0o7777;
        assert_eq!(mode, 0o751);
        assert_eq!(snapshot(&src), before, "the user's context must not change");
        let leftovers: Vec<_> = std::fs::read_dir(dest.join("src/deep"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().starts_with(".rbuild-bench-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn an_interrupted_copy_stops() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("ctx");
        sample_context(&src);
        let i = Interrupt::new();
        i.trigger(libc::SIGINT);
        let err = copy_tree(&src, &d.path().join("copy"), &i).unwrap_err();
        assert!(matches!(
            err,
            BenchError::Interrupted {
                signal: libc::SIGINT
            }
        ));
    }

    #[test]
    fn change_paths_resolve_inside_the_context() {
        let d = tempfile::tempdir().unwrap();
        let ctx = d.path().join("ctx");
        sample_context(&ctx);
        let ok = |arg: &Path| resolve_change(&ctx, arg).map_err(|e| e.to_string());
        assert_eq!(
            ok(Path::new("./src/main.c")),
            Ok(PathBuf::from("src/main.c"))
        );
        assert_eq!(ok(&ctx.join("src/main.c")), Ok(PathBuf::from("src/main.c")));
        let err = ok(Path::new("src")).unwrap_err();
        assert!(err.contains("not a regular file"), "{err}");
        let err = ok(Path::new("src/deep/link")).unwrap_err();
        assert!(err.contains("not a regular file"), "{err}");
        let err = ok(Path::new("nope.txt")).unwrap_err();
        assert!(err.contains("no such file"), "{err}");
        std::fs::write(d.path().join("outside.txt"), "x").unwrap();
        let err = ok(&d.path().join("outside.txt")).unwrap_err();
        assert!(err.contains("not inside the build context"), "{err}");
        let err = ok(Path::new("src/../../outside.txt")).unwrap_err();
        assert!(err.contains("leaves the build context"), "{err}");
    }
}
