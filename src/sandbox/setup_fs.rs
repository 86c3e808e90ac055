//! The kernel filesystems of a step: `/proc` (with containerd's read-only and masked
//! paths), a tmpfs `/dev` with the host's basic devices bound in, devpts, shm, mqueue,
//! and `/sys`.

use std::path::Path;

use rustix::mount::MountFlags;

use super::setup::{SetupError, fail, not_found};
use super::syscall::{NodeKind, Syscall};

/// Paths under `/proc` made read-only (containerd's defaults).
const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Paths hidden from the step (containerd's defaults).
const MASKED_PATHS: [&str; 11] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
    "/proc/scsi",
];

/// Host devices bound into the step's `/dev`.
const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

pub(super) fn mount_proc(sys: &mut dyn Syscall, root: &Path) -> Result<(), SetupError> {
    let t = sys
        .resolve(root, "/proc", Some(NodeKind::Dir))
        .map_err(fail("/proc"))?;
    let f = MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
    sys.mount_fs("proc", &t, f, "")
        .map_err(fail("mounting /proc"))?;
    for ro in READONLY_PATHS {
        let t = match sys.resolve(root, ro, None) {
            Ok(t) => t,
            Err(e) if not_found(&e) => continue,
            Err(e) => return Err(fail(ro)(e)),
        };
        sys.bind(&t, &t, true, true)
            .map_err(fail(format!("making {ro} read-only")))?;
    }
    Ok(())
}

pub(super) fn mount_dev(sys: &mut dyn Syscall, root: &Path) -> Result<(), SetupError> {
    let t = sys
        .resolve(root, "/dev", Some(NodeKind::Dir))
        .map_err(fail("/dev"))?;
    sys.mount_fs(
        "tmpfs",
        &t,
        MountFlags::NOSUID | MountFlags::STRICTATIME,
        "mode=755,size=65536k",
    )
    .map_err(fail("mounting /dev"))?;
    // Resolve again: the old handle names the directory under the new tmpfs.
    let dev = sys.resolve(root, "/dev", None).map_err(fail("/dev"))?;
    for d in DEVICES {
        if !matches!(sys.stat(&Path::new("/dev").join(d)), Ok(Some(_))) {
            continue; // the host lacks it (a minimal container): so does the step
        }
        let t = dev.join(d);
        sys.write_file(&t, b"", 0o666)
            .map_err(fail(format!("/dev/{d}")))?;
        sys.bind(&Path::new("/dev").join(d), &t, false, false)
            .map_err(fail(format!("binding /dev/{d}")))?;
    }
    let pts = dev.join("pts");
    sys.mkdir(&pts, 0o755).map_err(fail("/dev/pts"))?;
    let f = MountFlags::NOSUID | MountFlags::NOEXEC;
    if sys
        .mount_fs(
            "devpts",
            &pts,
            f,
            "newinstance,ptmxmode=0666,mode=0620,gid=5",
        )
        .is_err()
    {
        // gid 5 (tty) is not mapped in a user namespace without subordinate ids.
        sys.mount_fs("devpts", &pts, f, "newinstance,ptmxmode=0666,mode=0620")
            .map_err(fail("mounting /dev/pts"))?;
    }
    sys.symlink("pts/ptmx", &dev.join("ptmx"))
        .map_err(fail("/dev/ptmx"))?;
    let shm = dev.join("shm");
    sys.mkdir(&shm, 0o1777).map_err(fail("/dev/shm"))?;
    let f = MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
    sys.mount_fs("tmpfs", &shm, f, "mode=1777,size=65536k")
        .map_err(fail("mounting /dev/shm"))?;
    let mq = dev.join("mqueue");
    sys.mkdir(&mq, 0o755).map_err(fail("/dev/mqueue"))?;
    // Best effort, as not every kernel has POSIX message queues.
    let _ = sys.mount_fs("mqueue", &mq, f, "");
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        sys.symlink(target, &dev.join(name))
            .map_err(fail(format!("/dev/{name}")))?;
    }
    Ok(())
}

pub(super) fn mount_sys(sys: &mut dyn Syscall, root: &Path, fresh: bool) -> Result<(), SetupError> {
    let t = sys
        .resolve(root, "/sys", Some(NodeKind::Dir))
        .map_err(fail("/sys"))?;
    let f = MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC | MountFlags::RDONLY;
    if fresh && sys.mount_fs("sysfs", &t, f, "").is_ok() {
        return Ok(());
    }
    // A sysfs can only be mounted with a network namespace of our own: show the host's.
    sys.bind(Path::new("/sys"), &t, true, true)
        .map_err(fail("binding /sys"))
}

pub(super) fn mask_paths(sys: &mut dyn Syscall, root: &Path) -> Result<(), SetupError> {
    for m in MASKED_PATHS {
        let t = match sys.resolve(root, m, None) {
            Ok(t) => t,
            Err(e) if not_found(&e) => continue,
            Err(e) => return Err(fail(m)(e)),
        };
        let r = match sys.stat(&t) {
            Ok(Some(st)) if st.is_dir => sys.mount_fs("tmpfs", &t, MountFlags::RDONLY, ""),
            Ok(Some(_)) => sys.bind(Path::new("/dev/null"), &t, false, true),
            Ok(None) => continue,
            Err(e) => Err(e),
        };
        r.map_err(fail(format!("masking {m}")))?;
    }
    Ok(())
}
