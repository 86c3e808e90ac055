//! The system calls that set a container up, behind a trait (the seam youki uses), so
//! the set-up sequence in `setup` can be unit-tested with a recording double.
//!
//! [`LinuxSyscall`](super::LinuxSyscall) is the real implementation.

use std::io;
use std::path::{Path, PathBuf};

use rustix::mount::MountFlags;

/// An overlayfs mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverlayMount {
    /// Lower dirs, top first.
    pub lowers: Vec<PathBuf>,
    /// Upper and work dir (`None`: a read-only overlay).
    pub upper: Option<(PathBuf, PathBuf)>,
}

/// What to create at a mount target that does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// A directory.
    Dir,
    /// An empty regular file.
    File,
}

/// What `stat` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeStat {
    /// A directory.
    pub is_dir: bool,
    /// A regular file.
    pub is_file: bool,
    /// Permission bits.
    pub mode: u32,
}

/// The operations the container set-up performs.
pub trait Syscall {
    /// Makes every mount under `path` private (nothing propagates to the host).
    fn make_rprivate(&mut self, path: &Path) -> io::Result<()>;
    /// Mounts overlayfs (with `userxattr`) at `target`.
    fn mount_overlay(&mut self, o: &OverlayMount, target: &Path) -> io::Result<()>;
    /// Mounts a filesystem of type `fstype` (proc, tmpfs, devpts, mqueue, sysfs).
    fn mount_fs(
        &mut self,
        fstype: &str,
        target: &Path,
        flags: MountFlags,
        data: &str,
    ) -> io::Result<()>;
    /// Bind-mounts `source` on `target`, optionally recursively and read-only.
    fn bind(
        &mut self,
        source: &Path,
        target: &Path,
        recursive: bool,
        readonly: bool,
    ) -> io::Result<()>;
    /// Resolves `path` inside `root` as if `root` were `/` (symlinks cannot leave it),
    /// creating what is missing when `create` says what the last component is. The
    /// result names the resolved object (a `/proc/self/fd` path).
    fn resolve(&mut self, root: &Path, path: &str, create: Option<NodeKind>)
    -> io::Result<PathBuf>;
    /// `chdir`.
    fn chdir(&mut self, path: &Path) -> io::Result<()>;
    /// `pivot_root`.
    fn pivot_root(&mut self, new_root: &Path, put_old: &Path) -> io::Result<()>;
    /// Lazily unmounts `path`.
    fn umount_detach(&mut self, path: &Path) -> io::Result<()>;
    /// Sets the hostname (UTS namespace).
    fn sethostname(&mut self, name: &str) -> io::Result<()>;
    /// Brings the loopback interface up (fresh network namespace).
    fn loopback_up(&mut self) -> io::Result<()>;
    /// Creates a directory.
    fn mkdir(&mut self, path: &Path, mode: u32) -> io::Result<()>;
    /// Creates (or truncates) a file with `contents`.
    fn write_file(&mut self, path: &Path, contents: &[u8], mode: u32) -> io::Result<()>;
    /// Creates a symlink.
    fn symlink(&mut self, target: &str, link: &Path) -> io::Result<()>;
    /// `lchown`.
    fn chown(&mut self, path: &Path, uid: u32, gid: u32) -> io::Result<()>;
    /// Reads a whole file; `None` when it does not exist.
    fn read_file(&mut self, path: &Path) -> io::Result<Option<Vec<u8>>>;
    /// `stat` (following symlinks); `None` when it does not exist.
    fn stat(&mut self, path: &Path) -> io::Result<Option<NodeStat>>;
    /// Starts a new session (no controlling terminal).
    fn setsid(&mut self) -> io::Result<()>;
    /// Sets the umask.
    fn umask(&mut self, mask: u32);
    /// Drops every capability not in `keep` from the bounding set.
    fn drop_bounding_caps(&mut self, keep: u64) -> io::Result<()>;
    /// Sets supplementary groups, gid and uid.
    fn set_ids(&mut self, uid: u32, gid: u32, groups: &[u32]) -> io::Result<()>;
    /// Sets the effective and permitted capabilities (inheritable cleared).
    fn set_caps(&mut self, caps: u64) -> io::Result<()>;
    /// Marks every fd from `from` up close-on-exec.
    fn cloexec_from(&mut self, from: u32) -> io::Result<()>;
    /// Replaces the process image; returns only on failure.
    fn exec(&mut self, path: &str, argv: &[String], env: &[String]) -> io::Error;
}
