//! The set-up sequence against a recording [`Syscall`] double: order, arguments and
//! error mapping, without root.

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};

use rustix::mount::MountFlags;

use super::setup::{
    DEFAULT_CAPS, PlannedFile, PlannedMount, Rootfs, SetupError, SetupPlan, setup, setup_and_exec,
};
use super::syscall::{NodeKind, NodeStat, OverlayMount, Syscall};

/// Records every call; answers `read_file`/`stat` from canned data; fails the first
/// call whose record starts with `fail_on`.
#[derive(Default)]
struct Recorder {
    calls: Vec<String>,
    files: HashMap<PathBuf, Vec<u8>>,
    dirs: HashSet<PathBuf>,
    executables: HashSet<PathBuf>,
    devices: HashSet<PathBuf>,
    fail_on: Option<(String, i32)>,
}

impl Recorder {
    fn rec(&mut self, call: String) -> io::Result<()> {
        let fail = self
            .fail_on
            .as_ref()
            .is_some_and(|(p, _)| call.starts_with(p.as_str()));
        self.calls.push(call);
        match (&self.fail_on, fail) {
            (Some((_, errno)), true) => Err(io::Error::from_raw_os_error(*errno)),
            _ => Ok(()),
        }
    }

    fn index(&self, prefix: &str) -> usize {
        self.calls
            .iter()
            .position(|c| c.starts_with(prefix))
            .unwrap_or_else(|| panic!("no call {prefix:?} in {:#?}", self.calls))
    }
}

impl Syscall for Recorder {
    fn make_rprivate(&mut self, path: &Path) -> io::Result<()> {
        self.rec(format!("rprivate {}", path.display()))
    }
    fn mount_overlay(&mut self, o: &OverlayMount, target: &Path) -> io::Result<()> {
        let lowers: Vec<_> = o.lowers.iter().map(|p| p.display().to_string()).collect();
        let upper = o
            .upper
            .as_ref()
            .map(|(u, _)| u.display().to_string())
            .unwrap_or_default();
        self.rec(format!(
            "overlay {} upper={upper} on {}",
            lowers.join(":"),
            target.display()
        ))
    }
    fn mount_fs(
        &mut self,
        fstype: &str,
        target: &Path,
        flags: MountFlags,
        data: &str,
    ) -> io::Result<()> {
        let ro = if flags.contains(MountFlags::RDONLY) {
            " ro"
        } else {
            ""
        };
        self.rec(format!("mount {fstype} on {}{ro} {data}", target.display()))
    }
    fn bind(
        &mut self,
        source: &Path,
        target: &Path,
        recursive: bool,
        readonly: bool,
    ) -> io::Result<()> {
        let r = if recursive { " rec" } else { "" };
        let ro = if readonly { " ro" } else { "" };
        self.rec(format!(
            "bind {} on {}{r}{ro}",
            source.display(),
            target.display()
        ))
    }
    fn resolve(
        &mut self,
        root: &Path,
        path: &str,
        create: Option<NodeKind>,
    ) -> io::Result<PathBuf> {
        // Resolution itself is the kernel's (RESOLVE_IN_ROOT); the double maps lexically.
        let p = root.join(path.trim_start_matches('/'));
        if create.is_none()
            && (path.starts_with("/proc/") || path.starts_with("/sys/"))
            && !path.ends_with("sys")
        {
            return Err(io::Error::from_raw_os_error(libc::ENOENT));
        }
        Ok(p)
    }
    fn chdir(&mut self, path: &Path) -> io::Result<()> {
        self.rec(format!("chdir {}", path.display()))
    }
    fn pivot_root(&mut self, new_root: &Path, put_old: &Path) -> io::Result<()> {
        self.rec(format!(
            "pivot_root {} {}",
            new_root.display(),
            put_old.display()
        ))
    }
    fn umount_detach(&mut self, path: &Path) -> io::Result<()> {
        self.rec(format!("umount -l {}", path.display()))
    }
    fn sethostname(&mut self, name: &str) -> io::Result<()> {
        self.rec(format!("sethostname {name}"))
    }
    fn loopback_up(&mut self) -> io::Result<()> {
        self.rec("lo up".into())
    }
    fn mkdir(&mut self, path: &Path, mode: u32) -> io::Result<()> {
        self.dirs.insert(path.to_path_buf());
        self.rec(format!("mkdir {} {mode:o}", path.display()))
    }
    fn write_file(&mut self, path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
        self.rec(format!(
            "write {} {mode:o} {}",
            path.display(),
            String::from_utf8_lossy(contents).trim_end()
        ))
    }
    fn symlink(&mut self, target: &str, link: &Path) -> io::Result<()> {
        self.rec(format!("symlink {} -> {target}", link.display()))
    }
    fn chown(&mut self, path: &Path, uid: u32, gid: u32) -> io::Result<()> {
        self.rec(format!("chown {} {uid}:{gid}", path.display()))
    }
    fn read_file(&mut self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        Ok(self.files.get(path).cloned())
    }
    fn stat(&mut self, path: &Path) -> io::Result<Option<NodeStat>> {
        if self.devices.contains(path) {
            return Ok(Some(NodeStat {
                is_dir: false,
                is_file: false,
                mode: 0o666,
            }));
        }
        if self.executables.contains(path) {
            return Ok(Some(NodeStat {
                is_dir: false,
                is_file: true,
                mode: 0o755,
            }));
        }
        if self.dirs.contains(path) || path == Path::new("/") {
            return Ok(Some(NodeStat {
                is_dir: true,
                is_file: false,
                mode: 0o755,
            }));
        }
        Ok(None)
    }
    fn setsid(&mut self) -> io::Result<()> {
        self.rec("setsid".into())
    }
    fn umask(&mut self, mask: u32) {
        let _ = self.rec(format!("umask {mask:o}"));
    }
    fn drop_bounding_caps(&mut self, keep: u64) -> io::Result<()> {
        self.rec(format!("capbset keep={keep:#x}"))
    }
    fn set_ids(&mut self, uid: u32, gid: u32, groups: &[u32]) -> io::Result<()> {
        self.rec(format!("ids {uid}:{gid} groups={groups:?}"))
    }
    fn set_caps(&mut self, caps: u64) -> io::Result<()> {
        self.rec(format!("caps {caps:#x}"))
    }
    fn cloexec_from(&mut self, from: u32) -> io::Result<()> {
        self.rec(format!("cloexec {from}"))
    }
    fn exec(&mut self, path: &str, argv: &[String], _env: &[String]) -> io::Error {
        let _ = self.rec(format!("exec {path} {argv:?}"));
        io::Error::from_raw_os_error(libc::ENOENT)
    }
}

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nbuilder:x:1000:1000::/home/builder:/bin/sh\n";
const GROUP: &str = "root:x:0:\nwheel:x:10:builder\nbuilder:x:1000:\n";

fn plan() -> SetupPlan {
    SetupPlan {
        rootfs: Rootfs::Overlay(OverlayMount {
            lowers: vec!["/w/stubs".into(), "/s/top".into(), "/s/base".into()],
            upper: Some(("/w/upper".into(), "/w/work".into())),
        }),
        root: "/w/merged".into(),
        files_dir: "/w/files".into(),
        files: vec![PlannedFile {
            name: "hosts".into(),
            contents: b"127.0.0.1\tlocalhost".to_vec(),
            mode: 0o644,
            uid: 0,
            gid: 0,
        }],
        mounts: vec![
            PlannedMount::File {
                name: "hosts".into(),
                target: "/etc/hosts".into(),
            },
            PlannedMount::Tmpfs {
                target: "/tmp".into(),
                size: Some(1 << 20),
            },
            PlannedMount::Bind {
                source_root: "/ctx".into(),
                overlay: None,
                source: "/src".into(),
                target: "/src".into(),
                kind: NodeKind::Dir,
                readonly: true,
            },
        ],
        new_netns: true,
        mount_sysfs: true,
        hostname: "buildkitsandbox".into(),
        user: "builder".into(),
        cwd: "/app".into(),
        env: vec!["FOO=bar".into()],
        argv: vec!["/bin/sh".into(), "-c".into(), "true".into()],
    }
}

fn recorder() -> Recorder {
    let mut r = Recorder::default();
    r.files.insert("/etc/passwd".into(), PASSWD.into());
    r.files.insert("/etc/group".into(), GROUP.into());
    r.executables.insert("/bin/sh".into());
    r.executables.insert("/usr/bin/make".into());
    // The host lacks /dev/full: the step goes without it.
    for d in ["null", "zero", "random", "urandom", "tty"] {
        r.devices.insert(Path::new("/dev").join(d));
    }
    r
}

#[test]
fn sequence_mounts_everything_before_pivoting_and_drops_privileges_last() {
    let mut r = recorder();
    let launch = setup(&mut r, &plan()).unwrap();
    assert_eq!(r.calls[0], "rprivate /");
    assert_eq!(
        r.calls[1],
        "overlay /w/stubs:/s/top:/s/base upper=/w/upper on /w/merged"
    );
    let pivot = r.index("pivot_root . .");
    for before in [
        "mount proc on /w/merged/proc",
        "mount tmpfs on /w/merged/dev mode=755,size=65536k",
        "bind /dev/null on /w/merged/dev/null",
        "mount devpts on /w/merged/dev/pts",
        "mount sysfs on /w/merged/sys ro",
        "mount tmpfs on /w/files",
        "write /w/files/hosts 644 127.0.0.1\tlocalhost",
        "bind /w/files/hosts on /w/merged/etc/hosts ro",
        "mount tmpfs on /w/merged/tmp size=1048576",
        "bind /ctx/src on /w/merged/src rec ro",
    ] {
        assert!(r.index(before) < pivot, "{before} after pivot");
    }
    assert_eq!(r.calls[pivot - 1], "chdir /w/merged");
    assert_eq!(r.calls[pivot + 1], "umount -l .");
    assert!(
        r.index("mount tmpfs on /w/merged/tmp") < r.index("bind /ctx/src"),
        "mounts keep their order"
    );
    for after in [
        "sethostname buildkitsandbox",
        "lo up",
        "setsid",
        "ids 1000:1000 groups=[1000, 10]",
    ] {
        assert!(r.index(after) > pivot, "{after} before pivot");
    }
    // The working dir is made for the user, then privileges go: bounding set, ids, no
    // capabilities for a non-root user.
    assert!(r.index("mkdir /app 755") < r.index("chown /app 1000:1000"));
    assert!(r.index(&format!("capbset keep={DEFAULT_CAPS:#x}")) < r.index("ids "));
    assert!(!r.calls.iter().any(|c| c.starts_with("caps ")));
    assert_eq!(r.calls.last().unwrap(), "cloexec 3");
    assert_eq!(launch.path, "/bin/sh");
    assert_eq!(
        launch.env,
        [
            "FOO=bar",
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME=/home/builder"
        ]
    );
}

#[test]
fn root_keeps_the_default_capabilities_and_host_network_keeps_host_sysfs() {
    let mut r = recorder();
    let mut p = plan();
    p.user = String::new();
    p.new_netns = false;
    p.mount_sysfs = false;
    p.rootfs = Rootfs::Dir;
    setup(&mut r, &p).unwrap();
    assert_eq!(r.calls[1], "bind /w/merged on /w/merged");
    assert!(
        r.calls
            .contains(&"bind /sys on /w/merged/sys rec ro".to_string())
    );
    assert!(!r.calls.iter().any(|c| c == "lo up"));
    assert!(r.index("ids 0:0 groups=[0]") < r.index(&format!("caps {DEFAULT_CAPS:#x}")));
}

#[test]
fn overlay_failure_is_reported_as_such() {
    let mut r = recorder();
    r.fail_on = Some(("overlay".into(), libc::EINVAL));
    assert!(matches!(
        setup(&mut r, &plan()),
        Err(SetupError::Overlay(_))
    ));
    let mut r = recorder();
    r.fail_on = Some(("mount proc".into(), libc::EPERM));
    let err = setup(&mut r, &plan()).unwrap_err();
    assert!(
        matches!(&err, SetupError::Failed(m) if m.starts_with("mounting /proc")),
        "{err:?}"
    );
}

#[test]
fn unknown_user_and_missing_command_are_clear() {
    let mut r = recorder();
    let mut p = plan();
    p.user = "foo".into();
    assert_eq!(
        setup(&mut r, &p).unwrap_err(),
        SetupError::User("unable to find user foo: no matching entries in passwd file".into())
    );
    assert!(
        !r.calls.iter().any(|c| c.starts_with("ids")),
        "no identity change before the error"
    );

    let mut r = recorder();
    let mut p = plan();
    p.argv = vec!["nosuchcmd".into()];
    assert_eq!(
        setup(&mut r, &p).unwrap_err(),
        SetupError::Exec(
            127,
            "exec: \"nosuchcmd\": executable file not found in $PATH".into()
        )
    );

    let mut r = recorder();
    let mut p = plan();
    p.argv = vec!["make".into(), "all".into()];
    p.env = vec!["PATH=/usr/bin".into()];
    assert_eq!(setup(&mut r, &p).unwrap().path, "/usr/bin/make");
}

#[test]
fn exec_failure_maps_to_exit_codes() {
    let mut r = recorder();
    let err = setup_and_exec(&mut r, &plan());
    assert_eq!(
        err,
        SetupError::Exec(127, "exec /bin/sh: no such file or directory".into())
    );
    assert_eq!(
        r.calls.last().unwrap(),
        "exec /bin/sh [\"/bin/sh\", \"-c\", \"true\"]"
    );
}
