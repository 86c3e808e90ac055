//! Step scenarios, each run as root and rootless (see `scenario!`).

use rbuild::sandbox::plumbing::{EntrySummary, StepReport};
use rbuild::sandbox::{CacheMount, CacheSharing, ExitStatus, ExtraFile, Network, ResolvedMount};

use super::harness::Harness;

fn paths(r: &StepReport) -> Vec<&str> {
    r.entries.iter().map(|e| e.path.as_str()).collect()
}

fn entry<'a>(r: &'a StepReport, path: &str) -> &'a EntrySummary {
    r.entries
        .iter()
        .find(|e| e.path == path)
        .unwrap_or_else(|| panic!("no {path} in {:?}", paths(r)))
}

fn ok(r: &StepReport) {
    assert_eq!(
        r.status,
        ExitStatus::Code(0),
        "stdout: {}\nstderr: {}",
        r.stdout,
        r.stderr
    );
}

pub fn output_and_exit_codes(h: &Harness) {
    let r = h.run(&h.spec(vec![h.base.clone()], "echo hello; echo oops >&2; exit 3"));
    assert_eq!(r.status, ExitStatus::Code(3));
    assert_eq!(r.stdout, "hello\n");
    assert_eq!(r.stderr, "oops\n");
    assert!(r.entries.is_empty(), "{:?}", paths(&r));
}

pub fn missing_command_is_127(h: &Harness) {
    let mut spec = h.spec(vec![h.base.clone()], "");
    spec.argv = vec!["nosuchcmd".into(), "arg".into()];
    let r = h.run(&spec);
    assert_eq!(r.status, ExitStatus::Code(127));
    let msg = "exec: \"nosuchcmd\": executable file not found in $PATH";
    assert_eq!(r.exec_error.as_deref(), Some(msg));
    assert!(r.stderr.contains(msg), "{}", r.stderr);
    // Through the shell it is the shell's own 127.
    let r = h.run(&h.spec(vec![h.base.clone()], "nosuchcmd"));
    assert_eq!(r.status, ExitStatus::Code(127));
}

pub fn env_is_exact_with_path_and_home_defaults(h: &Harness) {
    let mut spec = h.spec(
        vec![h.base.clone()],
        "echo \"$FOO\"; echo \"$PATH\"; echo \"$HOME\"; env | sort",
    );
    spec.env = vec!["FOO=bar baz".into()];
    let r = h.run(&spec);
    ok(&r);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(
        lines[..3],
        [
            "bar baz",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "/root"
        ]
    );
    // Exactly the given variables, the defaults and what the shell itself sets.
    let names: Vec<&str> = lines[3..]
        .iter()
        .filter_map(|l| l.split_once('=').map(|(n, _)| n))
        .collect();
    assert_eq!(
        names,
        ["FOO", "HOME", "PATH", "PWD", "SHLVL"],
        "{}",
        r.stdout
    );
    spec.env = vec!["PATH=/bin".into(), "HOME=/tmp".into()];
    let r = h.run(&spec);
    assert!(r.stdout.contains("\n/bin\n/tmp\n"), "{}", r.stdout);
}

pub fn user_by_name_and_ids(h: &Harness) {
    let script = "id -u; id -g; id -G; echo $HOME";
    let mut spec = h.spec(vec![h.base.clone()], script);
    spec.user = "builder".into();
    let r = h.run(&spec);
    ok(&r);
    assert_eq!(r.stdout, "1000\n1000\n1000 10 50\n/home/builder\n");
    spec.user = "1000:10".into();
    let r = h.run(&spec);
    assert_eq!(r.stdout, "1000\n10\n10\n/home/builder\n");
    spec.user = "nobody".into();
    assert_eq!(h.run(&spec).stdout, "65534\n65534\n65534\n/nonexistent\n");
    spec.user = "foo".into();
    let err = h.try_run(&spec, None).unwrap_err();
    assert!(
        err.contains("unable to find user foo: no matching entries in passwd file"),
        "{err}"
    );
}

pub fn root_has_docker_default_capabilities_only(h: &Harness) {
    let r = h.run(&h.spec(
        vec![h.base.clone()],
        "grep -E '^Cap(Eff|Bnd)' /proc/self/status",
    ));
    ok(&r);
    assert_eq!(
        r.stdout,
        "CapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\n"
    );
    let mut spec = h.spec(
        vec![h.base.clone()],
        "grep CapEff /proc/self/status; mount -t tmpfs x /mnt",
    );
    spec.user = "builder".into();
    let r = h.run(&spec);
    assert!(
        r.stdout.starts_with("CapEff:\t0000000000000000"),
        "{}",
        r.stdout
    );
    assert_ne!(r.status, ExitStatus::Code(0));
}

pub fn workdir_is_created_for_the_user(h: &Harness) {
    let mut spec = h.spec(vec![h.base.clone()], "pwd; stat -c %u:%g /app/sub");
    spec.cwd = "/app/sub".into();
    spec.user = "builder".into();
    let r = h.run(&spec);
    ok(&r);
    assert_eq!(r.stdout, "/app/sub\n1000:1000\n");
    assert_eq!(paths(&r), ["app", "app/sub"]);
    assert_eq!(
        (entry(&r, "app/sub").uid, entry(&r, "app/sub").gid),
        (1000, 1000)
    );
}

pub fn deletions_across_layers(h: &Harness) {
    let script = "rm /etc/group && echo x > /etc/newfile && mkdir -p /d/sub && touch /d/sub/f";
    let (r1, lowers) = h.run_layer(&h.spec(vec![h.base.clone()], script));
    ok(&r1);
    assert_eq!(
        paths(&r1),
        [
            "d",
            "d/sub",
            "d/sub/f",
            "etc",
            "etc/.wh.group",
            "etc/newfile"
        ]
    );
    assert_eq!(entry(&r1, "etc/.wh.group").kind, "whiteout");
    let r2 = h.run(&h.spec(
        lowers,
        "test ! -e /etc/group && cat /etc/newfile && ls /d/sub",
    ));
    ok(&r2);
    assert_eq!(r2.stdout, "x\nf\n");
    assert!(r2.entries.is_empty(), "{:?}", paths(&r2));
}

pub fn opaque_directory_after_recreate(h: &Harness) {
    let (r1, l1) = h.run_layer(&h.spec(vec![h.base.clone()], "mkdir /d && touch /d/a /d/b"));
    ok(&r1);
    let (r2, l2) = h.run_layer(&h.spec(l1, "rm -rf /d && mkdir /d && touch /d/c"));
    ok(&r2);
    if r2.used_fallback {
        // A tree diff spells the same change out as whiteouts.
        assert_eq!(paths(&r2), ["d", "d/.wh.a", "d/.wh.b", "d/c"]);
    } else {
        assert_eq!(paths(&r2), ["d", "d/.wh..wh..opq", "d/c"]);
    }
    let r3 = h.run(&h.spec(l2, "ls /d"));
    assert_eq!(r3.stdout, "c\n");
}

pub fn hard_links_are_linked(h: &Harness) {
    let r = h.run(&h.spec(
        vec![h.base.clone()],
        "echo data > /f1 && ln /f1 /f2 && ln -s f1 /f3",
    ));
    ok(&r);
    assert_eq!(paths(&r), ["f1", "f2", "f3"]);
    assert_eq!(
        (entry(&r, "f1").kind.as_str(), entry(&r, "f1").size),
        ("file", Some(5))
    );
    assert_eq!(
        (
            entry(&r, "f2").kind.as_str(),
            entry(&r, "f2").link.as_deref()
        ),
        ("hardlink", Some("f1"))
    );
    assert_eq!(
        (
            entry(&r, "f3").kind.as_str(),
            entry(&r, "f3").link.as_deref()
        ),
        ("symlink", Some("f1"))
    );
}

pub fn network_none_has_only_loopback(h: &Harness) {
    let mut spec = h.spec(
        vec![h.base.clone()],
        "ls /sys/class/net; ip -o link | cut -d: -f2; hostname",
    );
    spec.network = Network::None;
    let r = h.run(&spec);
    ok(&r);
    assert_eq!(r.stdout, "lo\n lo\nbuildkitsandbox\n");
    spec.network = Network::Host;
    spec.hostname = "custom".into();
    let r = h.run(&spec);
    assert!(
        r.stdout.ends_with("custom\n") && r.stdout.lines().count() > 2,
        "{}",
        r.stdout
    );
}

pub fn hosts_and_resolv_are_provided_but_not_kept(h: &Harness) {
    let script =
        "cat /etc/hosts; test -f /etc/resolv.conf; echo more >> /etc/hosts || echo read-only";
    let r = h.run(&h.spec(vec![h.base.clone()], script));
    ok(&r);
    assert_eq!(
        r.stdout,
        "127.0.0.1\tlocalhost buildkitsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\nread-only\n"
    );
    assert!(r.entries.is_empty(), "{:?}", paths(&r));
    // A step that does write next to them still gets no placeholder in its layer.
    let r = h.run(&h.spec(vec![h.base.clone()], "echo x > /etc/other"));
    assert_eq!(paths(&r), ["etc", "etc/other"]);
}

pub fn tmpfs_mount_is_not_in_the_layer(h: &Harness) {
    let mut spec = h.spec(
        vec![h.base.clone()],
        "echo x > /scratch/f && grep ' /scratch ' /proc/mounts | cut -d' ' -f3",
    );
    spec.mounts = vec![ResolvedMount::Tmpfs {
        target: "/scratch".into(),
        size: Some(1 << 20),
    }];
    let r = h.run(&spec);
    ok(&r);
    assert_eq!(r.stdout, "tmpfs\n");
    assert!(r.entries.is_empty(), "{:?}", paths(&r));
}

pub fn cache_mount_persists_outside_the_layer(h: &Harness) {
    let cache = |sharing| {
        ResolvedMount::Cache(CacheMount {
            target: "/root/.cache/app".into(),
            id: "app-cache".into(),
            sharing,
            mode: 0o755,
            uid: 0,
            gid: 0,
            seed: None,
            readonly: false,
        })
    };
    let mut spec = h.spec(
        vec![h.base.clone()],
        "echo 1 >> /root/.cache/app/count; cat /root/.cache/app/count",
    );
    spec.mounts = vec![cache(CacheSharing::Locked)];
    let r1 = h.run(&spec);
    ok(&r1);
    assert_eq!(r1.stdout, "1\n");
    assert!(r1.entries.is_empty(), "{:?}", paths(&r1));
    spec.mounts = vec![cache(CacheSharing::Shared)];
    let r2 = h.run(&spec);
    assert_eq!(r2.stdout, "1\n1\n");
}

pub fn secret_is_readable_but_never_kept(h: &Harness) {
    let mut spec = h.spec(
        vec![h.base.clone()],
        "cat /run/secrets/tok; stat -c %a /run/secrets/tok; echo x > /keep",
    );
    spec.extra_files = vec![ExtraFile {
        target: "/run/secrets/tok".into(),
        contents: b"s3cr3t".to_vec(),
        mode: 0o400,
        uid: 0,
        gid: 0,
    }];
    let r = h.run(&spec);
    ok(&r);
    assert_eq!(r.stdout, "s3cr3t400\n");
    assert_eq!(paths(&r), ["keep"]);
}

pub fn bind_mount_is_read_only(h: &Harness) {
    let ctx = h.host_dir("ctx");
    std::fs::create_dir(ctx.join("src")).unwrap();
    std::fs::write(ctx.join("src/file"), b"from context\n").unwrap();
    std::os::unix::fs::symlink("/etc", ctx.join("escape")).unwrap();
    h.give(&ctx);
    let mut spec = h.spec(
        vec![h.base.clone()],
        "cat /src/file; touch /src/new 2>/dev/null || echo refused",
    );
    spec.mounts = vec![ResolvedMount::Bind {
        target: "/src".into(),
        source_layers: vec![ctx.clone()],
        source: "src".into(),
        readwrite: false,
    }];
    let r = h.run(&spec);
    ok(&r);
    assert_eq!(r.stdout, "from context\nrefused\n");
    assert!(r.entries.is_empty(), "{:?}", paths(&r));
    // Writable binds accept writes and throw them away.
    spec.mounts = vec![ResolvedMount::Bind {
        target: "/src".into(),
        source_layers: vec![ctx.clone()],
        source: "src".into(),
        readwrite: true,
    }];
    spec.argv[2] = "echo new > /src/new && cat /src/new".into();
    let r = h.run(&spec);
    ok(&r);
    assert!(!ctx.join("src/new").exists());
    // A symlinked source resolves inside the context, never to the host.
    spec.mounts = vec![ResolvedMount::Bind {
        target: "/x".into(),
        source_layers: vec![ctx],
        source: "escape/passwd".into(),
        readwrite: false,
    }];
    let err = h.try_run(&spec, None).unwrap_err();
    assert!(err.contains("not found"), "{err}");
}

pub fn copy_fallback_gives_the_same_layers(h: &Harness) {
    let mut spec = h.spec(
        vec![h.base.clone()],
        "rm /etc/group && echo x > /etc/newfile && cat /etc/hosts >/dev/null",
    );
    spec.force_copy = true;
    spec.mounts = vec![ResolvedMount::Tmpfs {
        target: "/mnt/t".into(),
        size: None,
    }];
    let (r, lowers) = h.run_layer(&spec);
    ok(&r);
    assert!(r.used_fallback);
    assert_eq!(paths(&r), ["etc", "etc/.wh.group", "etc/newfile"]);
    // The mount point made for /mnt/t was removed again: it is not in the kept tree.
    let mut spec2 = h.spec(
        lowers,
        "test ! -e /etc/group && cat /etc/newfile && test ! -e /mnt",
    );
    spec2.force_copy = true;
    let r2 = h.run(&spec2);
    ok(&r2);
    assert_eq!(r2.stdout, "x\n");
    assert!(r2.entries.is_empty(), "{:?}", paths(&r2));
}

pub fn failing_step_leaves_no_process_mount_or_scratch(h: &Harness) {
    let mut spec = h.spec(vec![h.base.clone()], "sleep 31337 & sleep 31338 & exit 1");
    spec.work_root = h.host_dir("work");
    let r = h.run(&spec);
    assert_eq!(r.status, ExitStatus::Code(1));
    assert_eq!(
        crate::processes_matching("sleep 3133"),
        Vec::<String>::new()
    );
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(h.dir.path().to_str().unwrap()), "{mounts}");
    let left: Vec<_> = std::fs::read_dir(&spec.work_root).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

pub fn scratch_rootfs_gets_only_what_the_step_wrote(h: &Harness) {
    // No lower layer at all (FROM scratch): the command comes from a bind mount.
    let mut spec = h.spec(vec![], "");
    spec.argv = vec![
        "/bb/bin/busybox".into(),
        "sh".into(),
        "-c".into(),
        "/bb/bin/busybox echo hi > /out; /bb/bin/busybox ls /".into(),
    ];
    spec.mounts = vec![ResolvedMount::Bind {
        target: "/bb".into(),
        source_layers: vec![h.base.clone()],
        source: "/".into(),
        readwrite: false,
    }];
    let r = h.run(&spec);
    ok(&r);
    assert_eq!(r.stdout, "bb\ndev\netc\nout\nproc\nsys\n");
    assert_eq!(paths(&r), ["out"]);
}

pub fn files_are_mounted_after_the_mounts_they_sit_in(h: &Harness) {
    let mut spec = h.spec(
        vec![h.base.clone()],
        "cat /run/secrets/tok; grep -c ' /run ' /proc/mounts",
    );
    spec.mounts = vec![ResolvedMount::Tmpfs {
        target: "/run".into(),
        size: None,
    }];
    spec.extra_files = vec![ExtraFile {
        target: "/run/secrets/tok".into(),
        contents: b"v\n".to_vec(),
        mode: 0o400,
        uid: 0,
        gid: 0,
    }];
    let r = h.run(&spec);
    ok(&r);
    assert_eq!(r.stdout, "v\n1\n");
    assert!(r.entries.is_empty(), "{:?}", paths(&r));
}
