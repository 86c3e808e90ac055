//! RUN end to end, on the busybox base built from Debian's busybox-static: layers and
//! whiteouts (read back with umoci), USER/WORKDIR/ENV/SHELL, heredocs, mounts, network,
//! secrets, failures, and the cache. Every scenario runs twice: as root, and as an
//! unprivileged user (the rootless path), which the test creates with subuid ranges.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::{have_busybox, have_tool, in_ci, is_root};

/// Who runs rbuild.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Root,
    Rootless,
}

const TEST_USER: &str = "rbuildtest";

/// A workspace owned by whoever runs rbuild, with the busybox image imported as `busybox:test`.
struct Env {
    mode: Mode,
    dir: tempfile::TempDir,
}

impl Env {
    /// Sets up a workspace, or `None` (with the reason printed) when the mode can't run here.
    fn new(mode: Mode) -> Option<Env> {
        if !have_busybox() || !have_tool("umoci") {
            return None;
        }
        if mode == Mode::Rootless {
            if !is_root() {
                // Already unprivileged: the plain run is the rootless one.
                eprintln!(
                    "skipping the explicit rootless variant: not root, the root variant already runs rootless"
                );
                return None;
            }
            ensure_test_user();
        } else if !is_root() {
            assert!(!in_ci(), "CI runs as root");
            eprintln!("skipping root variant: not root");
            return None;
        }
        // Under /tmp so an unprivileged user can reach it (the target dir may not be).
        let dir = tempfile::Builder::new()
            .prefix("rbuild-run-")
            .tempdir_in("/tmp")
            .unwrap();
        let env = Env { mode, dir };
        if mode == Mode::Rootless {
            chown_to_test_user(env.dir.path());
        }
        let tar = support::busybox_rootfs_tar();
        let local_tar = env.path().join("busybox.tar");
        std::fs::copy(&tar, &local_tar).unwrap();
        if mode == Mode::Rootless {
            chown_to_test_user(&local_tar);
        }
        let out = env.rbuild(&["import", local_tar.to_str().unwrap(), "busybox:test"]);
        assert!(
            out.status.success(),
            "import: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(env)
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn root(&self) -> PathBuf {
        self.path().join("root")
    }

    /// Writes a context file (owned by the runner).
    fn write(&self, rel: &str, contents: &str) -> PathBuf {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, contents).unwrap();
        if self.mode == Mode::Rootless {
            chown_to_test_user(self.path());
        }
        p
    }

    fn command(&self, args: &[&str]) -> Command {
        let bin = support::rbuild_bin();
        let mut c = match self.mode {
            Mode::Root => Command::new(&bin),
            Mode::Rootless => {
                let mut c = Command::new("runuser");
                c.args(["-u", TEST_USER, "--"]).arg(&bin);
                c
            }
        };
        c.arg("--root")
            .arg(self.root())
            .args(args)
            .env("NO_COLOR", "1")
            .env_remove("SOURCE_DATE_EPOCH");
        if self.mode == Mode::Rootless {
            c.env("HOME", self.path())
                .env("XDG_RUNTIME_DIR", self.path());
        }
        c
    }

    fn rbuild(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Builds `dockerfile` (context `ctx/`) as `tag`, asserting success; returns stderr.
    fn build(&self, dockerfile: &str, tag: &str, extra: &[&str]) -> String {
        let out = self.try_build(dockerfile, tag, extra);
        assert!(
            out.status.success(),
            "[{:?}] build failed:\n{}\n{}",
            self.mode,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    fn try_build(&self, dockerfile: &str, tag: &str, extra: &[&str]) -> Output {
        self.write("ctx/Dockerfile", dockerfile);
        let ctx = self.path().join("ctx");
        let mut args = vec!["build", "--progress", "plain", "-t", tag];
        args.extend_from_slice(extra);
        let ctx = ctx.to_string_lossy().into_owned();
        args.push(&ctx);
        self.rbuild(&args)
    }

    /// Unpacks `tag` with umoci (as root, so owners are real) and returns its rootfs.
    fn unpack(&self, tag: &str) -> PathBuf {
        let bundle = self
            .path()
            .join(format!("bundle-{}", tag.replace(':', "_")));
        let _ = std::fs::remove_dir_all(&bundle);
        let image = format!("{}:{tag}", self.root().display());
        let mut c = Command::new("umoci");
        c.arg("unpack");
        if !is_root() {
            c.arg("--rootless");
        }
        let out = c.args(["--image", &image]).arg(&bundle).output().unwrap();
        assert!(
            out.status.success(),
            "umoci unpack {image}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        bundle.join("rootfs")
    }

    /// The layer tars of `tag`, uncompressed, as lists of entry names.
    fn layer_entries(&self, tag: &str) -> Vec<Vec<String>> {
        let out = Command::new("skopeo")
            .args(["inspect", &format!("oci:{}:{tag}", self.root().display())])
            .output()
            .unwrap();
        assert!(out.status.success());
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["Layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                let hex = d.as_str().unwrap().trim_start_matches("sha256:");
                let blob = self.root().join("blobs/sha256").join(hex);
                let out = Command::new("tar").arg("tf").arg(&blob).output().unwrap();
                assert!(out.status.success(), "tar tf {}", blob.display());
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .map(str::to_string)
                    .collect()
            })
            .collect()
    }
}

fn ensure_test_user() {
    let exists = Command::new("id")
        .arg(TEST_USER)
        .output()
        .unwrap()
        .status
        .success();
    if !exists {
        let out = Command::new("useradd")
            .args(["-m", "-s", "/bin/sh", TEST_USER])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "useradd: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for f in ["/etc/subuid", "/etc/subgid"] {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        if !text
            .lines()
            .any(|l| l.starts_with(&format!("{TEST_USER}:")))
        {
            let mut t = text;
            t.push_str(&format!("{TEST_USER}:200000:65536\n"));
            std::fs::write(f, t).unwrap();
        }
    }
}

fn chown_to_test_user(p: &Path) {
    let out = Command::new("chown")
        .args(["-R", &format!("{TEST_USER}:{TEST_USER}")])
        .arg(p)
        .output()
        .unwrap();
    assert!(out.status.success());
}

macro_rules! both_modes {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[test]
            fn root() {
                if let Some(env) = Env::new(Mode::Root) {
                    ($body)(&env);
                }
            }
            #[test]
            fn rootless() {
                if let Some(env) = Env::new(Mode::Rootless) {
                    ($body)(&env);
                }
            }
        }
    };
}

both_modes!(files_created_and_deleted_across_layers, |env: &Env| {
    env.build(
        "FROM busybox:test\n\
         RUN mkdir -p /data/sub && echo one > /data/one && echo two > /data/sub/two && echo gone > /data/gone\n\
         RUN rm /data/gone && echo changed > /data/one && rm -rf /data/sub && mkdir /data/sub && echo new > /data/sub/new && cat /etc/hostname > /data/hostname && hostname >> /data/hostname\n",
        "layers:1",
        &[],
    );
    let rootfs = env.unpack("layers:1");
    assert_eq!(
        std::fs::read_to_string(rootfs.join("data/one")).unwrap(),
        "changed\n"
    );
    assert!(
        !rootfs.join("data/gone").exists(),
        "the whiteout deleted the file"
    );
    assert!(
        !rootfs.join("data/sub/two").exists(),
        "the opaque dir hid the old content"
    );
    assert_eq!(
        std::fs::read_to_string(rootfs.join("data/sub/new")).unwrap(),
        "new\n"
    );
    let layers = env.layer_entries("layers:1");
    let last = layers.last().unwrap();
    assert!(
        last.iter().any(|e| e.ends_with("data/.wh.gone")),
        "{last:?}"
    );
    assert!(
        last.iter().any(|e| e.ends_with("data/sub/.wh..wh..opq")),
        "{last:?}"
    );
    assert!(
        !last.iter().any(|e| e.contains("etc/hosts")
            || e.contains("etc/resolv.conf")
            || e.contains("etc/hostname")),
        "{last:?}"
    );
    // The step sees BuildKit's /etc/hostname, matching its UTS hostname.
    assert_eq!(
        std::fs::read_to_string(rootfs.join("data/hostname")).unwrap(),
        "buildkitsandbox\nbuildkitsandbox\n"
    );
    assert!(
        !rootfs.join("etc/hostname").exists(),
        "not left in the image"
    );
});

both_modes!(user_workdir_env_shell, |env: &Env| {
    env.build(
        "FROM busybox:test\n\
         ENV GREETING=hello\n\
         ARG WHO=world\n\
         WORKDIR /w/deep\n\
         RUN pwd > /pwd.txt && echo \"$GREETING $WHO\" > /env.txt\n\
         USER builder\n\
         RUN id -u > /tmp/uid && id -g > /tmp/gid && id -G > /tmp/groups && touch /home/builder/mine\n\
         USER 1000:50\n\
         RUN id -g > /tmp/gid2\n\
         USER root\n\
         SHELL [\"/bin/sh\", \"-c\", \"echo shell-used > /shell.txt; eval \\\"$1\\\"\", \"sh\"]\n\
         RUN echo via-shell > /cmd.txt\n",
        "cfg:1",
        &["--build-arg", "WHO=there"],
    );
    let rootfs = env.unpack("cfg:1");
    let read =
        |p: &str| std::fs::read_to_string(rootfs.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    assert_eq!(read("pwd.txt"), "/w/deep\n");
    assert_eq!(read("env.txt"), "hello there\n");
    assert_eq!(read("tmp/uid"), "1000\n");
    assert_eq!(read("tmp/gid"), "1000\n");
    assert!(
        read("tmp/groups").split_whitespace().any(|g| g == "50"),
        "supplementary group staff: {}",
        read("tmp/groups")
    );
    assert_eq!(read("tmp/gid2"), "50\n");
    assert_eq!(read("shell.txt"), "shell-used\n");
    assert_eq!(read("cmd.txt"), "via-shell\n");
    if is_root() {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(rootfs.join("home/builder/mine")).unwrap();
        assert_eq!(
            (m.uid(), m.gid()),
            (1000, 1000),
            "files keep the in-image owner"
        );
    }
});

both_modes!(heredocs_run_as_scripts, |env: &Env| {
    env.build(
        "FROM busybox:test\n\
         RUN <<EOF\necho first > /h1\necho second >> /h1\nEOF\n\
         RUN <<EOF\n#!/bin/sh\necho shebang > /h2\nEOF\n\
         RUN cat <<A > /h3 && cat <<B >> /h3\nfrom a\nA\nfrom b\nB\n",
        "here:1",
        &[],
    );
    let rootfs = env.unpack("here:1");
    assert_eq!(
        std::fs::read_to_string(rootfs.join("h1")).unwrap(),
        "first\nsecond\n"
    );
    assert_eq!(
        std::fs::read_to_string(rootfs.join("h2")).unwrap(),
        "shebang\n"
    );
    assert_eq!(
        std::fs::read_to_string(rootfs.join("h3")).unwrap(),
        "from a\nfrom b\n"
    );
});

both_modes!(
    failing_commands_fail_the_build_at_their_line,
    |env: &Env| {
        let out = env.try_build(
            "FROM busybox:test\nRUN echo before\nRUN echo some output; exit 3\n",
            "fail:1",
            &[],
        );
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("exit code: 3") || err.contains("exit code 3"),
            "{err}"
        );
        assert!(err.contains("Dockerfile:3"), "{err}");
        assert!(
            err.contains("some output"),
            "the last output lines are shown: {err}"
        );
        let out = env.try_build(
            "FROM busybox:test\nRUN [\"/no/such/binary\"]\n",
            "fail:2",
            &[],
        );
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/binary"));
        let out = env.try_build(
            "FROM busybox:test\nUSER nosuchuser\nRUN true\n",
            "fail:3",
            &[],
        );
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("nosuchuser"));
        // The store still works after failures.
        env.build("FROM busybox:test\nRUN echo ok > /ok\n", "after:1", &[]);
    }
);

both_modes!(mounts_cache_bind_tmpfs_secret, |env: &Env| {
    env.write("ctx/input/data.txt", "from the context\n");
    env.write("secret.txt", "s3cr3t-value");
    let secret = format!("id=tok,src={}", env.path().join("secret.txt").display());
    let df = "FROM busybox:test\n\
         RUN --mount=type=cache,target=/cache echo run >> /cache/log && cp /cache/log /seen-cache\n\
         RUN --mount=type=bind,source=input,target=/in cp /in/data.txt /copied.txt && (touch /in/x 2>/dev/null && echo writable > /bind-ro || echo readonly > /bind-ro)\n\
         RUN --mount=type=tmpfs,target=/scratch echo t > /scratch/t && grep -q tmpfs /proc/mounts && ls /scratch > /tmpfs-ls\n\
         RUN --mount=type=secret,id=tok cat /run/secrets/tok | wc -c > /secret-len\n\
         RUN --mount=type=secret,id=tok,env=TOKEN case \"$TOKEN\" in s3cr3t-*) test ${#TOKEN} = 12 && echo env-ok > /secret-env ;; esac\n";
    env.build(df, "mnt:1", &["--secret", &secret]);
    let rootfs = env.unpack("mnt:1");
    let read =
        |p: &str| std::fs::read_to_string(rootfs.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    assert_eq!(read("seen-cache"), "run\n");
    assert!(
        !rootfs.join("cache/log").exists(),
        "a cache mount is never part of a layer"
    );
    assert_eq!(read("copied.txt"), "from the context\n");
    assert_eq!(read("bind-ro"), "readonly\n");
    assert_eq!(read("tmpfs-ls"), "t\n");
    assert!(!rootfs.join("scratch/t").exists());
    assert_eq!(read("secret-len").trim(), "12");
    assert_eq!(read("secret-env"), "env-ok\n");
    for layer in env.layer_entries("mnt:1") {
        assert!(
            !layer.iter().any(|e| e.contains("run/secrets/tok")),
            "secret file in a layer: {layer:?}"
        );
    }
    // The secret's value is in no blob at all.
    for blob in std::fs::read_dir(env.root().join("blobs/sha256")).unwrap() {
        let path = blob.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let text = if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut s = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&bytes[..]), &mut s)
                .unwrap();
            s
        } else {
            bytes
        };
        assert!(
            !text.windows(12).any(|w| w == b"s3cr3t-value"),
            "secret value found in {}",
            path.display()
        );
    }
    // The cache mount survives into the next build (which must run again: --no-cache).
    env.build(df, "mnt:2", &["--secret", &secret, "--no-cache"]);
    let rootfs = env.unpack("mnt:2");
    assert_eq!(
        std::fs::read_to_string(rootfs.join("seen-cache")).unwrap(),
        "run\nrun\n"
    );
});

both_modes!(network_none_has_only_loopback, |env: &Env| {
    env.build(
        "FROM busybox:test\nRUN --network=none ls /sys/class/net > /ifaces\n",
        "net:1",
        &[],
    );
    let rootfs = env.unpack("net:1");
    assert_eq!(
        std::fs::read_to_string(rootfs.join("ifaces")).unwrap(),
        "lo\n"
    );
});

both_modes!(unchanged_rebuild_hits_run_cache, |env: &Env| {
    let df = "FROM busybox:test\nRUN date +%s%N > /stamp\n";
    env.build(df, "c:1", &[]);
    let first = std::fs::read_to_string(env.unpack("c:1").join("stamp")).unwrap();
    let err = env.build(df, "c:2", &[]);
    assert!(err.contains("CACHED"), "{err}");
    let second = std::fs::read_to_string(env.unpack("c:2").join("stamp")).unwrap();
    assert_eq!(first, second, "the RUN did not execute again");
});

both_modes!(bad_inputs_are_clear_errors, |env: &Env| {
    let out = env.try_build(
        "FROM busybox:test\nRUN ln -s ../../../../.. /escape\nWORKDIR /escape/tmp\nRUN true\n",
        "bad:1",
        &[],
    );
    assert!(
        !out.status.success(),
        "a WORKDIR through a symlink out of the root is refused"
    );
    let out = env.try_build(
        "FROM busybox:test\nRUN --mount=type=bind,source=../..,target=/x ls /x\n",
        "bad:2",
        &[],
    );
    assert!(
        !out.status.success(),
        "a bind source outside the context is refused"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("outside"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
});

#[test]
fn no_mounts_or_processes_left_after_a_failure() {
    let Some(env) = Env::new(Mode::Root) else {
        return;
    };
    let before = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .count();
    let out = env.try_build("FROM busybox:test\nRUN sleep 31 & exit 1\n", "leak:1", &[]);
    assert!(!out.status.success());
    let after = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .count();
    assert_eq!(before, after, "mounts leaked into the host namespace");
    // The background `sleep 31` dies with the step (killed with its pid namespace); give
    // the kernel a moment to reap it.
    let alive = || {
        let ps = Command::new("ps").args(["-eo", "args"]).output().unwrap();
        String::from_utf8_lossy(&ps.stdout)
            .lines()
            .any(|l| l.starts_with("sleep 31"))
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while alive() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(!alive(), "a RUN process outlived its step");
    let leftovers = std::fs::read_dir(env.root().join("tmp"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(leftovers, 0, "temp dirs left in the store");
}

both_modes!(changed_copy_layers_stack_delta_snapshots, |env: &Env| {
    for i in 0..40 {
        env.write(
            &format!("ctx/src/d{}/f{i}.txt", i % 4),
            &format!("file {i}\n"),
        );
    }
    let df = "FROM busybox:test\nWORKDIR /app\nCOPY src/ ./src/\nRUN find /app/src -type f | sort | xargs cat > /all.txt && find /app/src -type f | wc -l > /count.txt\n";
    env.build(df, "delta:1", &[]);
    // One file changed, one added, one removed: the next RUN must see exactly that.
    env.write("ctx/src/d1/f1.txt", "file 1, changed\n");
    env.write("ctx/src/d2/new.txt", "new file\n");
    std::fs::remove_file(env.path().join("ctx/src/d3/f3.txt")).unwrap();
    env.build(df, "delta:2", &[]);
    let rootfs = env.unpack("delta:2");
    let all = std::fs::read_to_string(rootfs.join("all.txt")).unwrap();
    assert!(
        all.contains("file 1, changed\n") && !all.contains("file 1\n"),
        "{all}"
    );
    assert!(all.contains("new file\n"), "{all}");
    assert!(!all.contains("file 3\n"), "{all}");
    assert_eq!(
        std::fs::read_to_string(rootfs.join("count.txt"))
            .unwrap()
            .trim(),
        "40"
    );
    // The second COPY layer's snapshot is a delta on the first one.
    let bases = std::fs::read_dir(env.root().join("snapshots"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".base")
        })
        .count();
    assert_eq!(bases, 1, "one delta snapshot expected");
    // And a third build on top of the delta still sees the right tree.
    env.write("ctx/src/d0/f0.txt", "file 0, changed\n");
    env.build(df, "delta:3", &[]);
    let all = std::fs::read_to_string(env.unpack("delta:3").join("all.txt")).unwrap();
    assert!(
        all.contains("file 0, changed\n")
            && all.contains("file 1, changed\n")
            && all.contains("new file\n"),
        "{all}"
    );
});
