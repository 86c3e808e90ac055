//! The RUN sandbox on a real busybox rootfs: every scenario runs as root in this
//! process and, through `rbuild __sandbox run`, as an unprivileged user in its own user
//! namespace. Also: safe unpacking of malicious layers, output streaming, cancellation.

mod sandbox {
    pub mod harness;
    pub mod scenarios;
    /// The library's own test tar builder, shared rather than copied.
    #[allow(dead_code)]
    #[path = "../../src/layer/test_tar.rs"]
    pub mod tar;
}

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rbuild::layer::{UnpackError, UnpackMode, unpack};
use rbuild::sandbox::{ExitStatus, SandboxError, Stream, run};
use sandbox::harness::{Harness, TEST_USER, available, test_uid};
use sandbox::tar::TarBuf;

/// Command lines of host processes containing `needle`.
pub fn processes_matching(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(needle) && !cmd.contains("processes_matching") {
                found.push(cmd.trim().to_string());
            }
        }
    }
    found
}

fn root_harness() -> Option<&'static Harness> {
    static H: OnceLock<Option<Harness>> = OnceLock::new();
    H.get_or_init(|| available(false).then(|| Harness::new(false)))
        .as_ref()
}

fn rootless_harness() -> Option<&'static Harness> {
    static H: OnceLock<Option<Harness>> = OnceLock::new();
    H.get_or_init(|| available(true).then(|| Harness::new(true)))
        .as_ref()
}

/// Declares one test per configuration for each scenario.
macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        mod as_root {
            $(#[test] fn $name() { if let Some(h) = super::root_harness() { super::sandbox::scenarios::$name(h) } })*
        }
        mod rootless {
            $(#[test] fn $name() { if let Some(h) = super::rootless_harness() { super::sandbox::scenarios::$name(h) } })*
        }
    };
}

scenarios!(
    output_and_exit_codes,
    missing_command_is_127,
    env_is_exact_with_path_and_home_defaults,
    user_by_name_and_ids,
    root_has_docker_default_capabilities_only,
    workdir_is_created_for_the_user,
    deletions_across_layers,
    opaque_directory_after_recreate,
    hard_links_are_linked,
    network_none_has_only_loopback,
    hosts_and_resolv_are_provided_but_not_kept,
    tmpfs_mount_is_not_in_the_layer,
    cache_mount_persists_outside_the_layer,
    secret_is_readable_but_never_kept,
    bind_mount_is_read_only,
    copy_fallback_gives_the_same_layers,
    failing_step_leaves_no_process_mount_or_scratch,
    scratch_rootfs_gets_only_what_the_step_wrote,
    files_are_mounted_after_the_mounts_they_sit_in,
);

#[test]
fn rootless_steps_really_run_unprivileged() {
    let Some(h) = rootless_harness() else { return };
    let r = h.run(&h.spec(vec![h.base.clone()], "id -u; cat /proc/self/uid_map"));
    let lines: Vec<Vec<&str>> = r
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["0"]);
    // Container root is the test user on the host, other ids its subordinate range.
    let uid = test_uid().to_string();
    assert_eq!(lines[1], ["0", uid.as_str(), "1"], "{}", r.stdout);
    assert_eq!(lines[2][0], "1", "{}", r.stdout);
    assert_ne!(lines[2][1], "1", "{}", r.stdout);
    // And the files it wrote belong to that user on the host.
    let keep = h.path("owned");
    h.try_run(&h.spec(vec![h.base.clone()], "touch /mine"), Some(&keep))
        .unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(keep.join("mine")).unwrap().uid(),
        test_uid(),
        "{TEST_USER} owns it"
    );
}

#[test]
fn output_streams_while_the_step_runs() {
    let Some(h) = root_harness() else { return };
    let spec = h.spec(vec![h.base.clone()], "echo first; sleep 1; echo second >&2");
    let start = Instant::now();
    let mut seen: Vec<(Stream, String, Duration)> = Vec::new();
    let o = run(&spec, &mut |s, b| {
        seen.push((s, String::from_utf8_lossy(b).into_owned(), start.elapsed()))
    })
    .unwrap();
    assert!(o.success());
    assert_eq!(seen[0].0, Stream::Stdout);
    assert_eq!(seen[0].1, "first\n");
    assert!(
        seen[0].2 < Duration::from_millis(900),
        "first chunk came at {:?}",
        seen[0].2
    );
    let last = seen.last().unwrap();
    assert_eq!((last.0, last.1.as_str()), (Stream::Stderr, "second\n"));
    assert!(last.2 >= Duration::from_secs(1));
}

#[test]
fn cancelling_kills_the_step_and_everything_it_started() {
    let Some(h) = root_harness() else { return };
    let mut spec = h.spec(vec![h.base.clone()], "sleep 41414 & sleep 41415");
    let cancel = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    spec.cancel = Some(cancel.clone());
    let c = cancel.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        c.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    let start = Instant::now();
    let err = run(&spec, &mut |_, _| {}).unwrap_err();
    t.join().unwrap();
    assert!(matches!(err, SandboxError::Cancelled), "{err}");
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(processes_matching("sleep 4141"), Vec::<String>::new());
    assert_eq!(
        std::fs::read_dir(&spec.work_root).unwrap().count(),
        0,
        "scratch dir removed"
    );
}

#[test]
fn outcome_keeps_its_changes_until_dropped() {
    let Some(h) = root_harness() else { return };
    let spec = h.spec(vec![h.base.clone()], "echo hi > /greeting");
    let o = run(&spec, &mut |_, _| {}).unwrap();
    assert_eq!(o.status, ExitStatus::Code(0));
    let entries = o.diff(&spec.lowers).unwrap();
    let src = entries[0].source.clone().unwrap();
    assert_eq!(std::fs::read(&src).unwrap(), b"hi\n");
    drop(o);
    assert!(!src.exists());
}

#[test]
fn a_hundred_lowers_mount() {
    let Some(h) = root_harness() else { return };
    // Far more than fit in one page of legacy mount options with store-length paths.
    let mut lowers = Vec::new();
    for i in 0..100 {
        let d = h.path(&format!(
            "layer-with-a-rather-long-name-like-a-digest-{i:03}"
        ));
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join(format!("f{i}")), b"").unwrap();
        lowers.push(d);
    }
    lowers.push(h.base.clone());
    let r = h.run(&h.spec(lowers, "ls / | grep -c '^f'"));
    assert_eq!(
        (r.status, r.stdout.as_str()),
        (ExitStatus::Code(0), "100\n")
    );
}

#[test]
fn an_upperdir_becomes_the_next_snapshot() {
    let Some(h) = root_harness() else { return };
    let store = h.store();
    let snaps = rbuild::layer::Snapshots::new(&store);
    let spec = h.spec(
        vec![h.base.clone()],
        "rm /etc/group; mkdir /d && echo v > /d/f",
    );
    let o = run(&spec, &mut |_, _| {}).unwrap();
    let id = rbuild::digest::Digest::of(b"pretend this is the layer's diff id");
    let snap = o.into_snapshot(&snaps, &id).unwrap().unwrap();
    assert_eq!(snap, snaps.path(&id));
    let r = h.run(&h.spec(
        vec![snap, h.base.clone()],
        "cat /d/f; test -e /etc/group || echo gone",
    ));
    assert_eq!(r.stdout, "v\ngone\n");
}

// ---- unpacking hostile layers ----

fn unpack_as(
    h: &Harness,
    rootless: bool,
    tar: &[u8],
) -> (Result<(), String>, std::path::PathBuf, std::path::PathBuf) {
    let outside = h.host_dir("outside");
    let dest = h.host_dir("dest");
    let tar_path = h.path("layer.tar");
    std::fs::write(&tar_path, tar).unwrap();
    h.give(&tar_path);
    let res = if rootless {
        let out = std::process::Command::new("runuser")
            .args([
                "-u",
                TEST_USER,
                "--",
                env!("CARGO_BIN_EXE_rbuild"),
                "__sandbox",
                "unpack",
                "--mode",
                "merge",
            ])
            .arg(&tar_path)
            .arg(&dest)
            .output()
            .unwrap();
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    } else {
        unpack(tar, &dest, UnpackMode::Merge)
            .map(drop)
            .map_err(|e: UnpackError| e.to_string())
    };
    (res, dest, outside)
}

fn hostile_layers_are_refused(rootless: bool) {
    let Some(h) = (if rootless {
        rootless_harness()
    } else {
        root_harness()
    }) else {
        return;
    };
    // `../`: refused outright.
    let (res, dest, _) = unpack_as(
        h,
        rootless,
        &TarBuf::new().file("../escaped", b"x").finish(),
    );
    assert!(res.unwrap_err().contains("outside the layer root"));
    assert!(!dest.parent().unwrap().join("escaped").exists());
    // An absolute symlink, then a write through it.
    let outside = h.host_dir("target");
    let tar = TarBuf::new()
        .symlink("evil", outside.to_str().unwrap())
        .file("evil/pwned", b"x")
        .finish();
    let (res, dest, _) = unpack_as(h, rootless, &tar);
    assert!(res.unwrap_err().contains("through a symlink"));
    assert!(!outside.join("pwned").exists());
    assert!(
        std::fs::symlink_metadata(dest.join("evil"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    // A hard link to a file outside.
    let (res, dest, _) = unpack_as(
        h,
        rootless,
        &TarBuf::new().hardlink("passwd", "/etc/passwd").finish(),
    );
    assert!(res.unwrap_err().contains("outside the layer root"));
    assert!(!dest.join("passwd").exists());
    let (res, _, _) = unpack_as(
        h,
        rootless,
        &TarBuf::new()
            .hardlink("passwd", "../../../../etc/passwd")
            .finish(),
    );
    assert!(res.unwrap_err().contains("outside the layer root"));
    // The host's file is untouched throughout.
    assert!(
        std::fs::read_to_string("/etc/passwd")
            .unwrap()
            .starts_with("root:")
    );
}

#[test]
fn hostile_layers_are_refused_as_root() {
    hostile_layers_are_refused(false);
}

#[test]
fn hostile_layers_are_refused_rootless() {
    hostile_layers_are_refused(true);
}

#[test]
fn rootless_without_subordinate_ids_maps_only_the_caller() {
    if !available(true) {
        return;
    }
    const USER: &str = "rbuildnosub";
    let run = |args: &[&str]| {
        std::process::Command::new(args[0])
            .args(&args[1..])
            .output()
            .unwrap()
    };
    if !run(&["id", USER]).status.success() {
        let out = run(&[
            "useradd",
            "-m",
            "-K",
            "SUB_UID_COUNT=0",
            "-K",
            "SUB_GID_COUNT=0",
            USER,
        ]);
        assert!(
            out.status.success() || run(&["id", USER]).status.success(),
            "useradd {USER}"
        );
    }
    let dir = tempfile::Builder::new()
        .prefix("rbuild-nosub-")
        .tempdir_in("/tmp")
        .unwrap();
    let uid: u32 = String::from_utf8(run(&["id", "-u", USER]).stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    std::os::unix::fs::chown(dir.path(), Some(uid), Some(uid)).unwrap();
    let bin = env!("CARGO_BIN_EXE_rbuild");
    let base = dir.path().join("base");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/busybox/make-rootfs.sh"
    );
    let out = run(&[
        "runuser",
        "-u",
        USER,
        "--",
        bin,
        "__sandbox",
        "unshare",
        "--",
        "sh",
        script,
        base.to_str().unwrap(),
    ]);
    // Without subordinate ids, chown to 1000 fails inside the namespace: that is expected.
    assert!(
        base.join("bin/busybox").exists(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store = rbuild::store::Store::open(&dir.path().join("store")).unwrap();
    run(&[
        "chown",
        "-R",
        &format!("{uid}:{uid}"),
        dir.path().join("store").to_str().unwrap(),
    ]);
    let step = |user: &str| {
        let mut spec = rbuild::sandbox::RunSpec::new(
            &store,
            vec![base.clone()],
            vec![
                "/bin/sh".into(),
                "-c".into(),
                "cat /proc/self/uid_map; echo x > /f".into(),
            ],
        );
        spec.user = user.into();
        let p = dir.path().join(format!("spec-{user}.json"));
        std::fs::write(&p, serde_json::to_vec(&spec).unwrap()).unwrap();
        run(&[
            "runuser",
            "-u",
            USER,
            "--",
            bin,
            "__sandbox",
            "run",
            p.to_str().unwrap(),
        ])
    };
    let out = step("");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: rbuild::sandbox::plumbing::StepReport =
        serde_json::from_slice(&out.stdout).unwrap();
    let map: Vec<&str> = report.stdout.split_whitespace().collect();
    assert_eq!(map, ["0", uid.to_string().as_str(), "1"]);
    assert_eq!(report.entries.len(), 1);
    let out = step("builder");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/etc/subuid"));
}
