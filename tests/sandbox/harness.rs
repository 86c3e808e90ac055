//! Two ways to run a step: in this process as root, and through `rbuild __sandbox run`
//! as an unprivileged user (`rbuildtest`, created with subordinate ids on first use),
//! so every scenario is checked in both the root and the rootless configuration.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use rbuild::sandbox::plumbing::{StepReport, run_step};
use rbuild::sandbox::{RunSpec, SandboxError};
use rbuild::store::Store;

/// The unprivileged user of the rootless tests.
pub const TEST_USER: &str = "rbuildtest";

/// True when tests must not skip (CI).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Whether this configuration can run here; prints why not (and fails under CI).
pub fn available(rootless: bool) -> bool {
    if !rustix::process::geteuid().is_root() {
        let why = "the sandbox tests need root (the rootless ones create an unprivileged user)";
        assert!(!in_ci(), "{why}");
        eprintln!("skipped: {why}");
        return false;
    }
    if rootless && let Err(e) = ensure_test_user() {
        assert!(!in_ci(), "cannot set up {TEST_USER}: {e}");
        eprintln!("skipped: cannot set up {TEST_USER}: {e}");
        return false;
    }
    true
}

fn run_ok(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{cmd:?}: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Creates the test user with subordinate id ranges (idempotent, race-free across the
/// tests of this binary).
fn ensure_test_user() -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        if run_ok(Command::new("id").arg("-u").arg(TEST_USER)).is_err() {
            run_ok(Command::new("useradd").args(["-m", TEST_USER]))?;
        }
        for file in ["/etc/subuid", "/etc/subgid"] {
            let text = std::fs::read_to_string(file).unwrap_or_default();
            if !text
                .lines()
                .any(|l| l.starts_with(&format!("{TEST_USER}:")))
            {
                let mut t = text;
                t.push_str(&format!("{TEST_USER}:300000:65536\n"));
                std::fs::write(file, t).map_err(|e| format!("{file}: {e}"))?;
            }
        }
        for tool in ["runuser", "newuidmap", "newgidmap"] {
            run_ok(
                Command::new("sh")
                    .arg("-c")
                    .arg(format!("command -v {tool}")),
            )
            .map_err(|_| format!("{tool} is not installed"))?;
        }
        Ok(())
    })
    .clone()
}

/// The test user's uid.
pub fn test_uid() -> u32 {
    run_ok(Command::new("id").arg("-u").arg(TEST_USER))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn make_rootfs_script() -> &'static str {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/busybox/make-rootfs.sh"
    )
}

/// Runs steps in one configuration, with a busybox rootfs as the base layer.
pub struct Harness {
    /// Scratch space, owned by whoever runs the steps.
    pub dir: tempfile::TempDir,
    /// The busybox rootfs.
    pub base: PathBuf,
    rootless: bool,
    counter: std::sync::atomic::AtomicUsize,
}

impl Harness {
    /// A harness with a fresh store and busybox base.
    pub fn new(rootless: bool) -> Harness {
        let dir = tempfile::Builder::new()
            .prefix("rbuild-sandbox-")
            .tempdir_in("/tmp")
            .unwrap();
        let base = dir.path().join("base");
        if rootless {
            let uid = test_uid();
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(uid)).unwrap();
            // Made inside the user namespace, so container ids (builder's 1000) are real.
            let out = Command::new("runuser")
                .args([
                    "-u",
                    TEST_USER,
                    "--",
                    env!("CARGO_BIN_EXE_rbuild"),
                    "__sandbox",
                    "unshare",
                    "--",
                    "sh",
                ])
                .arg(make_rootfs_script())
                .arg(&base)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "make-rootfs: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        } else {
            let st = Command::new("sh")
                .arg(make_rootfs_script())
                .arg(&base)
                .status()
                .unwrap();
            assert!(st.success());
        }
        Store::open(&dir.path().join("store")).map(drop).ok();
        if rootless {
            let uid = test_uid();
            Command::new("chown")
                .args(["-R", &format!("{uid}:{uid}")])
                .arg(dir.path().join("store"))
                .status()
                .unwrap();
        }
        Harness {
            dir,
            base,
            rootless,
            counter: Default::default(),
        }
    }

    /// The store root.
    pub fn store(&self) -> Store {
        Store::open(&self.dir.path().join("store")).unwrap()
    }

    /// A spec running `script` with `sh -c` on `lowers`.
    pub fn spec(&self, lowers: Vec<PathBuf>, script: &str) -> RunSpec {
        RunSpec::new(
            &self.store(),
            lowers,
            vec!["/bin/sh".into(), "-c".into(), script.into()],
        )
    }

    /// A new path in the scratch dir (not created).
    pub fn path(&self, name: &str) -> PathBuf {
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.dir.path().join(format!("{name}-{n}"))
    }

    /// A directory the step's user can read (for bind sources).
    pub fn host_dir(&self, name: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::create_dir(&p).unwrap();
        self.give(&p);
        p
    }

    /// Hands `p` to the user running the steps.
    pub fn give(&self, p: &Path) {
        if self.rootless {
            let uid = test_uid();
            Command::new("chown")
                .args(["-R", &format!("{uid}:{uid}")])
                .arg(p)
                .status()
                .unwrap();
        }
    }

    /// Runs a step; `keep` receives its changes.
    pub fn try_run(&self, spec: &RunSpec, keep: Option<&Path>) -> Result<StepReport, String> {
        if !self.rootless {
            return run_step(spec, keep).map_err(|e: SandboxError| e.to_string());
        }
        let spec_path = self.path("spec.json");
        std::fs::write(&spec_path, serde_json::to_vec(spec).unwrap()).unwrap();
        self.give(&spec_path);
        let mut cmd = Command::new("runuser");
        cmd.args([
            "-u",
            TEST_USER,
            "--",
            env!("CARGO_BIN_EXE_rbuild"),
            "__sandbox",
            "run",
        ])
        .arg(&spec_path);
        if let Some(k) = keep {
            cmd.arg("--keep").arg(k);
        }
        let out = cmd.output().unwrap();
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(err.trim().trim_start_matches("error: ").to_string());
        }
        Ok(serde_json::from_slice(&out.stdout).unwrap())
    }

    /// Runs a step that must start.
    pub fn run(&self, spec: &RunSpec) -> StepReport {
        self.try_run(spec, None).unwrap()
    }

    /// Runs a step and keeps its changes as a new layer; returns the report and the
    /// lowers for the next step.
    pub fn run_layer(&self, spec: &RunSpec) -> (StepReport, Vec<PathBuf>) {
        let keep = self.path("layer");
        let r = self.try_run(spec, Some(&keep)).unwrap();
        let mut lowers = vec![keep];
        if !r.used_fallback {
            lowers.extend(spec.lowers.iter().cloned());
        }
        // In the copy fallback the kept dir is the whole rootfs: it replaces the stack.
        (r, lowers)
    }
}
