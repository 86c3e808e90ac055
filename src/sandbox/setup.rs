//! The container set-up sequence, run by the step's pid 1 before it execs the command.
//!
//! Everything is expressed through [`Syscall`], so the order and arguments are
//! unit-tested with a recording double. The parent computes a [`SetupPlan`] (paths,
//! generated files, resolved mounts); this module only executes it:
//!
//! 1. make all mounts private, mount the rootfs (overlay, or a bind of the copy);
//! 2. `/proc` (with Docker's read-only and masked paths), a tmpfs `/dev` with the host's
//!    null, zero, full, random, urandom and tty bound in, devpts, shm, mqueue, `/sys`;
//! 3. generated files (hosts, resolv.conf, secrets, heredocs) written to a private
//!    tmpfs, then bound in with the RUN mounts, parents first; every target resolved
//!    inside the rootfs;
//! 4. `pivot_root(".", ".")` and a lazy unmount of the old root: no host mount is left;
//! 5. hostname, `lo`, user (from the image's passwd/group), working dir, session,
//!    umask 022, Docker's default capabilities, and the command looked up in `PATH`.

use std::io;
use std::path::{Path, PathBuf};

use rustix::mount::MountFlags;

use super::setup_fs::{mask_paths, mount_dev, mount_proc, mount_sys};
use super::spec::DEFAULT_PATH;
use super::syscall::{NodeKind, OverlayMount, Syscall};
use super::user::resolve_user;

/// Docker's default capability set (containerd's `defaultUnixCaps`): CHOWN,
/// DAC_OVERRIDE, FSETID, FOWNER, MKNOD, NET_RAW, SETGID, SETUID, SETFCAP, SETPCAP,
/// NET_BIND_SERVICE, SYS_CHROOT, KILL, AUDIT_WRITE.
pub const DEFAULT_CAPS: u64 = (1 << 0)
    | (1 << 1)
    | (1 << 4)
    | (1 << 3)
    | (1 << 27)
    | (1 << 13)
    | (1 << 6)
    | (1 << 7)
    | (1 << 31)
    | (1 << 8)
    | (1 << 10)
    | (1 << 18)
    | (1 << 5)
    | (1 << 29);

/// How a failure to take the step's identity starts (so the caller can explain it).
pub const SWITCH_USER: &str = "switching to uid:gid";

/// How the rootfs is mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rootfs {
    /// overlayfs over the snapshots.
    Overlay(OverlayMount),
    /// A plain directory (the copy fallback), bound onto itself.
    Dir,
}

/// A file made in the private tmpfs (bound into the container by a
/// [`PlannedMount::File`]).
#[derive(Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// Name inside the tmpfs.
    pub name: String,
    /// Content.
    pub contents: Vec<u8>,
    /// Mode.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

impl std::fmt::Debug for PlannedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PlannedFile({}, {} bytes)",
            self.name,
            self.contents.len()
        )
    }
}

/// A mount into the container, resolved to host paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlannedMount {
    /// A generated file, bound read-only.
    File {
        /// Its name in the files tmpfs.
        name: String,
        /// Target in the container.
        target: String,
    },
    /// A fresh tmpfs.
    Tmpfs {
        /// Target in the container.
        target: String,
        /// Size limit in bytes.
        size: Option<u64>,
    },
    /// A bind of `source` resolved inside `source_root` (after mounting `overlay` there
    /// when given).
    Bind {
        /// The tree the source is resolved in.
        source_root: PathBuf,
        /// An overlay to mount at `source_root` first (multi-layer or writable binds).
        overlay: Option<OverlayMount>,
        /// Path inside the tree.
        source: String,
        /// Target in the container.
        target: String,
        /// What the target must be when it is created.
        kind: NodeKind,
        /// Read-only.
        readonly: bool,
    },
}

/// Everything the child needs to set the container up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupPlan {
    /// How to mount the rootfs.
    pub rootfs: Rootfs,
    /// Where the rootfs is mounted (or the copied tree).
    pub root: PathBuf,
    /// Mount point of the private tmpfs holding generated files.
    pub files_dir: PathBuf,
    /// Generated files.
    pub files: Vec<PlannedFile>,
    /// Mounts into the container (generated files and RUN mounts), parents first.
    pub mounts: Vec<PlannedMount>,
    /// The step has its own network namespace.
    pub new_netns: bool,
    /// Mount a fresh sysfs (else bind the host's read-only).
    pub mount_sysfs: bool,
    /// Hostname.
    pub hostname: String,
    /// `USER`.
    pub user: String,
    /// Working directory.
    pub cwd: String,
    /// Environment as given.
    pub env: Vec<String>,
    /// Command.
    pub argv: Vec<String>,
}

/// Why the set-up stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupError {
    /// overlayfs could not be mounted (the parent may fall back to a copy).
    Overlay(String),
    /// Any other set-up step failed.
    Failed(String),
    /// `USER` does not resolve.
    User(String),
    /// The command cannot be executed: exit code and message.
    Exec(i32, String),
}

/// The command as it will be executed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// Path of the executable.
    pub path: String,
    /// argv.
    pub argv: Vec<String>,
    /// Final environment.
    pub env: Vec<String>,
}

pub(super) fn fail(what: impl Into<String>) -> impl FnOnce(io::Error) -> SetupError {
    let what = what.into();
    move |e| SetupError::Failed(format!("{what}: {e}"))
}

pub(super) fn not_found(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
}

/// Runs the set-up and execs the command; returns only on failure.
pub fn setup_and_exec(sys: &mut dyn Syscall, p: &SetupPlan) -> SetupError {
    let launch = match setup(sys, p) {
        Ok(l) => l,
        Err(e) => return e,
    };
    let e = sys.exec(&launch.path, &launch.argv, &launch.env);
    let path = &launch.path;
    match e.raw_os_error() {
        Some(libc::ENOENT) => {
            SetupError::Exec(127, format!("exec {path}: no such file or directory"))
        }
        Some(libc::EACCES) => SetupError::Exec(126, format!("exec {path}: permission denied")),
        Some(libc::ENOEXEC) => SetupError::Exec(126, format!("exec {path}: exec format error")),
        _ => SetupError::Exec(126, format!("exec {path}: {e}")),
    }
}

/// Sets the container up and returns what to exec.
pub fn setup(sys: &mut dyn Syscall, p: &SetupPlan) -> Result<Launch, SetupError> {
    sys.make_rprivate(Path::new("/"))
        .map_err(fail("making mounts private"))?;
    match &p.rootfs {
        Rootfs::Overlay(o) => sys
            .mount_overlay(o, &p.root)
            .map_err(|e| SetupError::Overlay(e.to_string()))?,
        Rootfs::Dir => sys
            .bind(&p.root, &p.root, false, false)
            .map_err(fail("binding the rootfs"))?,
    }
    mount_proc(sys, &p.root)?;
    mount_dev(sys, &p.root)?;
    mount_sys(sys, &p.root, p.mount_sysfs)?;
    mask_paths(sys, &p.root)?;
    write_files(sys, p)?;
    for m in &p.mounts {
        mount_one(sys, p, m)?;
    }

    sys.chdir(&p.root).map_err(fail("chdir to the rootfs"))?;
    sys.pivot_root(Path::new("."), Path::new("."))
        .map_err(fail("pivot_root"))?;
    sys.umount_detach(Path::new("."))
        .map_err(fail("unmounting the old root"))?;
    sys.chdir(Path::new("/")).map_err(fail("chdir /"))?;

    sys.sethostname(&p.hostname).map_err(fail("sethostname"))?;
    if p.new_netns {
        sys.loopback_up().map_err(fail("bringing lo up"))?;
    }

    let passwd = read_text(sys, "/etc/passwd")?;
    let group = read_text(sys, "/etc/group")?;
    let user =
        resolve_user(&p.user, passwd.as_deref(), group.as_deref()).map_err(SetupError::User)?;
    let env = final_env(&p.env, &user.home);
    ensure_cwd(sys, &p.cwd, user.uid, user.gid)?;
    let early_chdir = sys.chdir(Path::new(&p.cwd)).is_ok();

    sys.setsid().map_err(fail("setsid"))?;
    sys.umask(0o022);
    sys.drop_bounding_caps(DEFAULT_CAPS)
        .map_err(fail("dropping capabilities"))?;
    sys.set_ids(user.uid, user.gid, &user.groups)
        .map_err(fail(format!("{SWITCH_USER} {}:{}", user.uid, user.gid)))?;
    if user.uid == 0 {
        sys.set_caps(DEFAULT_CAPS)
            .map_err(fail("setting capabilities"))?;
    }
    if !early_chdir {
        sys.chdir(Path::new(&p.cwd))
            .map_err(fail(format!("chdir to {}", p.cwd)))?;
    }
    let Some(arg0) = p.argv.first() else {
        return Err(SetupError::Failed("empty command".into()));
    };
    let path = find_executable(sys, arg0, &env)?;
    sys.cloexec_from(3).map_err(fail("closing inherited fds"))?;
    Ok(Launch {
        path,
        argv: p.argv.clone(),
        env,
    })
}

fn write_files(sys: &mut dyn Syscall, p: &SetupPlan) -> Result<(), SetupError> {
    // Executable: a shebang heredoc (`RUN <<EOF` + `#!…`) is run from here.
    let f = MountFlags::NOSUID | MountFlags::NODEV;
    sys.mount_fs("tmpfs", &p.files_dir, f, "mode=755")
        .map_err(fail("mounting the files tmpfs"))?;
    for file in &p.files {
        let src = p.files_dir.join(&file.name);
        sys.write_file(&src, &file.contents, file.mode)
            .map_err(fail(format!("writing {}", file.name)))?;
        sys.chown(&src, file.uid, file.gid)
            .map_err(fail(format!("chown {}", file.name)))?;
    }
    Ok(())
}

fn mount_one(sys: &mut dyn Syscall, p: &SetupPlan, m: &PlannedMount) -> Result<(), SetupError> {
    let root = p.root.as_path();
    match m {
        PlannedMount::File { name, target } => {
            let t = sys
                .resolve(root, target, Some(NodeKind::File))
                .map_err(fail(target))?;
            sys.bind(&p.files_dir.join(name), &t, false, true)
                .map_err(fail(format!("binding {target}")))
        }
        PlannedMount::Tmpfs { target, size } => {
            let t = sys
                .resolve(root, target, Some(NodeKind::Dir))
                .map_err(fail(target))?;
            let data = size.map(|s| format!("size={s}")).unwrap_or_default();
            sys.mount_fs("tmpfs", &t, MountFlags::NOSUID, &data)
                .map_err(fail(format!("mounting tmpfs on {target}")))
        }
        PlannedMount::Bind {
            source_root,
            overlay,
            source,
            target,
            kind,
            readonly,
        } => {
            if let Some(o) = overlay {
                sys.mount_overlay(o, source_root)
                    .map_err(fail(format!("preparing the source of {target}")))?;
            }
            let src = sys
                .resolve(source_root, source, None)
                .map_err(fail(format!("mount source {source}")))?;
            let t = sys
                .resolve(root, target, Some(*kind))
                .map_err(fail(target))?;
            sys.bind(&src, &t, true, *readonly)
                .map_err(fail(format!("binding {target}")))
        }
    }
}

fn read_text(sys: &mut dyn Syscall, path: &str) -> Result<Option<String>, SetupError> {
    let bytes = sys
        .read_file(Path::new(path))
        .map_err(fail(format!("reading {path}")))?;
    Ok(bytes.map(|b| String::from_utf8_lossy(&b).into_owned()))
}

/// The env as given, plus `PATH` and `HOME` when absent.
pub fn final_env(env: &[String], home: &str) -> Vec<String> {
    let has = |k: &str| {
        env.iter()
            .any(|e| e.split_once('=').map_or(e.as_str(), |(n, _)| n) == k)
    };
    let mut out = env.to_vec();
    if !has("PATH") {
        out.push(format!("PATH={DEFAULT_PATH}"));
    }
    if !has("HOME") {
        out.push(format!("HOME={home}"));
    }
    out
}

/// Creates the working directory (and missing parents) owned by the user, as BuildKit
/// does when it does not exist.
fn ensure_cwd(sys: &mut dyn Syscall, cwd: &str, uid: u32, gid: u32) -> Result<(), SetupError> {
    let mut cur = PathBuf::from("/");
    for comp in cwd.split('/').filter(|c| !c.is_empty() && *c != ".") {
        cur.push(comp);
        match sys
            .stat(&cur)
            .map_err(fail(format!("working directory {cwd}")))?
        {
            Some(st) if st.is_dir => {}
            Some(_) => {
                return Err(SetupError::Failed(format!(
                    "working directory {cwd}: not a directory"
                )));
            }
            None => {
                let what = format!("creating working directory {cwd}");
                sys.mkdir(&cur, 0o755).map_err(fail(what.clone()))?;
                sys.chown(&cur, uid, gid).map_err(fail(what))?;
            }
        }
    }
    Ok(())
}

/// Go's `exec.LookPath` against the step's `PATH`, with runc's error text.
fn find_executable(
    sys: &mut dyn Syscall,
    name: &str,
    env: &[String],
) -> Result<String, SetupError> {
    if name.contains('/') {
        return Ok(name.to_string());
    }
    let path = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let cand = format!("{dir}/{name}");
        if let Ok(Some(st)) = sys.stat(Path::new(&cand))
            && !st.is_dir
            && st.mode & 0o111 != 0
        {
            return Ok(cand);
        }
    }
    Err(SetupError::Exec(
        127,
        format!("exec: \"{name}\": executable file not found in $PATH"),
    ))
}
