//! [`LinuxSyscall`]: the real system calls behind [`Syscall`], run only in the step's
//! forked child.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::mount::MountFlags;

use super::syscall::{NodeKind, NodeStat, OverlayMount, Syscall};

/// `mount_setattr(fd, "", AT_EMPTY_PATH [| AT_RECURSIVE], {attr_set: RDONLY})`.
fn set_readonly(tree: &OwnedFd, recursive: bool) -> io::Result<()> {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    let attr = MountAttr {
        attr_set: libc::MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let mut at = libc::AT_EMPTY_PATH;
    if recursive {
        at |= libc::AT_RECURSIVE;
    }
    // SAFETY: `attr` is a valid `struct mount_attr` for the size passed; the path is a
    // NUL-terminated empty string; `tree` is an open mount fd.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            at as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r != 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The real system calls.
#[derive(Default)]
pub struct LinuxSyscall {
    /// Fds behind the `/proc/self/fd` paths `resolve` returned (closed on exec).
    held: Vec<OwnedFd>,
}

fn cstr(s: &[u8]) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL byte in a string"))
}

impl LinuxSyscall {
    fn hold(&mut self, fd: OwnedFd) -> PathBuf {
        let p = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
        self.held.push(fd);
        p
    }

    /// The overlay via the legacy `mount(2)`, for kernels without `lowerdir+` (< 6.8).
    fn mount_overlay_legacy(o: &OverlayMount, target: &Path) -> io::Result<()> {
        let esc = |p: &Path| -> io::Result<String> {
            let s = p
                .to_str()
                .ok_or_else(|| io::Error::other("overlay path is not UTF-8"))?;
            if s.contains([',', ':', '\\']) {
                return Err(io::Error::other("overlay path contains ',', ':' or '\\'"));
            }
            Ok(s.to_string())
        };
        let lowers: Vec<String> = o.lowers.iter().map(|p| esc(p)).collect::<io::Result<_>>()?;
        let mut data = format!("lowerdir={},userxattr", lowers.join(":"));
        if let Some((u, w)) = &o.upper {
            data.push_str(&format!(",upperdir={},workdir={}", esc(u)?, esc(w)?));
        }
        let data = cstr(data.as_bytes())?;
        rustix::mount::mount(
            "overlay",
            target,
            "overlay",
            MountFlags::empty(),
            data.as_c_str(),
        )?;
        Ok(())
    }
}

impl Syscall for LinuxSyscall {
    fn make_rprivate(&mut self, path: &Path) -> io::Result<()> {
        use rustix::mount::MountPropagationFlags as P;
        Ok(rustix::mount::mount_change(path, P::PRIVATE | P::REC)?)
    }

    fn mount_overlay(&mut self, o: &OverlayMount, target: &Path) -> io::Result<()> {
        use rustix::mount::{FsMountFlags, FsOpenFlags, MountAttrFlags, MoveMountFlags};
        let fs = match rustix::mount::fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC) {
            Ok(fs) => fs,
            Err(rustix::io::Errno::NOSYS) => return Self::mount_overlay_legacy(o, target),
            Err(e) => return Err(e.into()),
        };
        for l in &o.lowers {
            match rustix::mount::fsconfig_set_string(&fs, "lowerdir+", l) {
                Ok(()) => {}
                Err(rustix::io::Errno::INVAL) if l == &o.lowers[0] => {
                    return Self::mount_overlay_legacy(o, target);
                }
                Err(e) => return Err(e.into()),
            }
        }
        if let Some((upper, work)) = &o.upper {
            rustix::mount::fsconfig_set_string(&fs, "upperdir", upper)?;
            rustix::mount::fsconfig_set_string(&fs, "workdir", work)?;
        }
        rustix::mount::fsconfig_set_flag(&fs, "userxattr")?;
        rustix::mount::fsconfig_create(&fs)?;
        let mnt =
            rustix::mount::fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, MountAttrFlags::empty())?;
        rustix::mount::move_mount(
            &mnt,
            "",
            rustix::fs::CWD,
            target,
            MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_SYMLINKS,
        )?;
        Ok(())
    }

    fn mount_fs(
        &mut self,
        fstype: &str,
        target: &Path,
        flags: MountFlags,
        data: &str,
    ) -> io::Result<()> {
        let data = cstr(data.as_bytes())?;
        Ok(rustix::mount::mount(
            fstype,
            target,
            fstype,
            flags,
            data.as_c_str(),
        )?)
    }

    fn bind(
        &mut self,
        source: &Path,
        target: &Path,
        recursive: bool,
        readonly: bool,
    ) -> io::Result<()> {
        if !readonly {
            if recursive {
                rustix::mount::mount_bind_recursive(source, target)?;
            } else {
                rustix::mount::mount_bind(source, target)?;
            }
            return Ok(());
        }
        // Clone the tree, make it read-only while detached, then attach it: no remount
        // (which would have to name the new mount, and keep flags a user namespace locks).
        use rustix::mount::{MoveMountFlags, OpenTreeFlags};
        let mut flags = OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC;
        if recursive {
            flags |= OpenTreeFlags::AT_RECURSIVE;
        }
        let tree = rustix::mount::open_tree(rustix::fs::CWD, source, flags)?;
        set_readonly(&tree, recursive)?;
        rustix::mount::move_mount(
            &tree,
            "",
            rustix::fs::CWD,
            target,
            MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_SYMLINKS,
        )?;
        Ok(())
    }

    fn resolve(
        &mut self,
        root: &Path,
        path: &str,
        create: Option<NodeKind>,
    ) -> io::Result<PathBuf> {
        let rootfd = rustix::fs::open(
            root,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let how = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
        let open = |p: &[u8]| {
            let p: &OsStr = if p.is_empty() {
                OsStr::new(".")
            } else {
                OsStr::from_bytes(p)
            };
            rustix::fs::openat2(
                &rootfd,
                p,
                OFlags::PATH | OFlags::CLOEXEC,
                Mode::empty(),
                how,
            )
        };
        let rel = path.trim_start_matches('/').as_bytes();
        match (open(rel), create) {
            (Ok(fd), _) => return Ok(self.hold(fd)),
            (Err(rustix::io::Errno::NOENT), Some(_)) => {}
            (Err(e), _) => return Err(e.into()),
        }
        let kind = create.unwrap_or(NodeKind::Dir);
        let comps: Vec<&[u8]> = rel
            .split(|&b| b == b'/')
            .filter(|c| !c.is_empty())
            .collect();
        for i in 0..comps.len() {
            let prefix = comps[..=i].join(&b'/');
            match open(&prefix) {
                Ok(_) => continue,
                Err(rustix::io::Errno::NOENT) => {}
                Err(e) => return Err(e.into()),
            }
            let name = OsStr::from_bytes(comps[i]);
            if name == ".." || name == "." {
                continue;
            }
            let parent = open(&comps[..i].join(&b'/'))?;
            if i + 1 == comps.len() && kind == NodeKind::File {
                match rustix::fs::openat(
                    &parent,
                    name,
                    OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::WRONLY
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o644),
                ) {
                    Ok(_) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => return Err(e.into()),
                }
            } else {
                match rustix::fs::mkdirat(&parent, name, Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        let fd = open(rel)?;
        Ok(self.hold(fd))
    }

    fn chdir(&mut self, path: &Path) -> io::Result<()> {
        Ok(rustix::process::chdir(path)?)
    }

    fn pivot_root(&mut self, new_root: &Path, put_old: &Path) -> io::Result<()> {
        Ok(rustix::process::pivot_root(new_root, put_old)?)
    }

    fn umount_detach(&mut self, path: &Path) -> io::Result<()> {
        Ok(rustix::mount::unmount(
            path,
            rustix::mount::UnmountFlags::DETACH,
        )?)
    }

    fn sethostname(&mut self, name: &str) -> io::Result<()> {
        Ok(rustix::system::sethostname(name.as_bytes())?)
    }

    fn loopback_up(&mut self) -> io::Result<()> {
        super::net::loopback_up()
    }

    fn mkdir(&mut self, path: &Path, mode: u32) -> io::Result<()> {
        std::fs::DirBuilder::new().mode(mode).create(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
    }

    fn write_file(&mut self, path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)?;
        f.write_all(contents)?;
        f.set_permissions(std::fs::Permissions::from_mode(mode))
    }

    fn symlink(&mut self, target: &str, link: &Path) -> io::Result<()> {
        std::os::unix::fs::symlink(target, link)
    }

    fn chown(&mut self, path: &Path, uid: u32, gid: u32) -> io::Result<()> {
        std::os::unix::fs::lchown(path, Some(uid), Some(gid))
    }

    fn read_file(&mut self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        match std::fs::read(path) {
            Ok(b) => Ok(Some(b)),
            Err(e)
                if e.kind() == io::ErrorKind::NotFound
                    || e.raw_os_error() == Some(libc::ENOTDIR) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn stat(&mut self, path: &Path) -> io::Result<Option<NodeStat>> {
        match std::fs::metadata(path) {
            Ok(m) => Ok(Some(NodeStat {
                is_dir: m.is_dir(),
                is_file: m.is_file(),
                mode: m.mode() & 0o7777,
            })),
            Err(e)
                if e.kind() == io::ErrorKind::NotFound
                    || e.raw_os_error() == Some(libc::ENOTDIR) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn setsid(&mut self) -> io::Result<()> {
        rustix::process::setsid()?;
        Ok(())
    }

    fn umask(&mut self, mask: u32) {
        rustix::process::umask(Mode::from_raw_mode(mask));
    }

    fn drop_bounding_caps(&mut self, keep: u64) -> io::Result<()> {
        use rustix::thread::CapabilitySet;
        for n in 0..64 {
            if keep & (1 << n) != 0 {
                continue;
            }
            match rustix::thread::remove_capability_from_bounding_set(
                CapabilitySet::from_bits_retain(1 << n),
            ) {
                Ok(()) => {}
                Err(rustix::io::Errno::INVAL) => break, // past the kernel's last capability
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    fn set_ids(&mut self, uid: u32, gid: u32, groups: &[u32]) -> io::Result<()> {
        use rustix::process::{Gid, Uid};
        let gids: Vec<Gid> = groups.iter().map(|&g| Gid::from_raw(g)).collect();
        match rustix::thread::set_thread_groups(&gids) {
            Ok(()) => {}
            // `setgroups` is denied in a user namespace mapping a single id; that is fine
            // as long as the only group asked for is the primary one.
            Err(rustix::io::Errno::PERM) if groups.iter().all(|&g| g == gid) => {}
            Err(e) => return Err(e.into()),
        }
        let g = Gid::from_raw(gid);
        rustix::thread::set_thread_res_gid(g, g, g)?;
        let u = Uid::from_raw(uid);
        rustix::thread::set_thread_res_uid(u, u, u)?;
        Ok(())
    }

    fn set_caps(&mut self, caps: u64) -> io::Result<()> {
        use rustix::thread::{CapabilitySet, CapabilitySets};
        let set = CapabilitySet::from_bits_retain(caps);
        Ok(rustix::thread::set_capabilities(
            None,
            CapabilitySets {
                effective: set,
                permitted: set,
                inheritable: CapabilitySet::empty(),
            },
        )?)
    }

    fn cloexec_from(&mut self, from: u32) -> io::Result<()> {
        // SAFETY: close_range only changes fd flags; CLOSE_RANGE_CLOEXEC closes nothing now.
        let r = unsafe {
            libc::syscall(
                libc::SYS_close_range,
                from,
                u32::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            )
        };
        if r != 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    fn exec(&mut self, path: &str, argv: &[String], env: &[String]) -> io::Error {
        let prepared = (|| -> io::Result<(CString, Vec<CString>, Vec<CString>)> {
            let p = cstr(path.as_bytes())?;
            let a = argv
                .iter()
                .map(|s| cstr(s.as_bytes()))
                .collect::<io::Result<_>>()?;
            let e = env
                .iter()
                .map(|s| cstr(s.as_bytes()))
                .collect::<io::Result<_>>()?;
            Ok((p, a, e))
        })();
        match prepared {
            Ok((p, a, e)) => match nix::unistd::execve(&p, &a, &e) {
                Ok(never) => match never {},
                Err(errno) => io::Error::from_raw_os_error(errno as i32),
            },
            Err(e) => e,
        }
    }
}
