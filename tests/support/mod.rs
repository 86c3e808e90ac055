//! Shared test support: a temp dir with its own store, the `rbuild` binary, tool checks
//! that fail under CI and skip elsewhere, and the busybox base image built from Debian's
//! `busybox-static`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// True under CI (`CI=true`): a missing tool is then a failure, never a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Whether `tool` is on PATH. Under CI a missing tool panics; elsewhere the caller skips
/// (this prints why).
pub fn have_tool(tool: &str) -> bool {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    if !found {
        assert!(
            !in_ci(),
            "{tool} is required under CI (install it in .ci/run)"
        );
        eprintln!("skipping: {tool} is not installed");
    }
    found
}

/// Whether the test runs as root (the sandbox and some checks need it, or a user namespace).
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The `rbuild` binary under test.
pub fn rbuild_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rbuild"))
}

/// A temp dir holding a store root (`root/`) and whatever the test writes.
pub struct TestDir {
    dir: tempfile::TempDir,
}

impl TestDir {
    /// A fresh dir under the target dir's tmp.
    pub fn new() -> TestDir {
        let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        std::fs::create_dir_all(&base).unwrap();
        TestDir {
            dir: tempfile::tempdir_in(base).unwrap(),
        }
    }

    /// The dir.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The store root used by [`TestDir::rbuild`].
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// Writes a file (parents created) and returns its path.
    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, contents).unwrap();
        p
    }

    /// `rbuild --root ROOT ARGS…`, run to completion.
    pub fn rbuild(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// The command for `rbuild --root ROOT ARGS…` (to add env or stdin).
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(rbuild_bin());
        c.arg("--root").arg(self.root()).args(args);
        c.env_remove("SOURCE_DATE_EPOCH").env("NO_COLOR", "1");
        c
    }

    /// Like [`TestDir::rbuild`] but asserts success and returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.rbuild(args);
        assert_success(&out, args);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// Panics with both streams unless `out` succeeded.
pub fn assert_success(out: &Output, what: &[&str]) {
    assert!(
        out.status.success(),
        "rbuild {what:?} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A busybox root filesystem tarball built from Debian's `busybox-static`: `/bin/busybox`,
/// a link per applet, `/etc/passwd` (root, nobody, and `builder` uid 1000) and `/etc/group`.
/// Built once per test run by `testdata/busybox/make-rootfs.sh`.
pub fn busybox_rootfs_tar() -> PathBuf {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("busybox-{}", std::process::id()));
        let tar = dir.join("busybox-rootfs.tar");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/busybox/make-rootfs.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg(&tar)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "make-rootfs.sh failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        tar
    })
    .clone()
}

/// Whether the busybox fixture can be built here (Debian's busybox-static installed).
pub fn have_busybox() -> bool {
    let ok = Path::new("/bin/busybox").is_file();
    if !ok {
        assert!(
            !in_ci(),
            "/bin/busybox (busybox-static) is required under CI"
        );
        eprintln!("skipping: /bin/busybox (busybox-static) is not installed");
    }
    ok
}

/// Imports the busybox fixture into `t`'s store as `name`.
pub fn import_busybox(t: &TestDir, name: &str) {
    let tar = busybox_rootfs_tar();
    t.ok(&["import", tar.to_str().unwrap(), name]);
}
