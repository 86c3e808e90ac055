//! Shared set-up for the store and export tests: a temp dir with a store root, the
//! `rbuild` binary, a busybox rootfs tarball, and external tools that are required under
//! CI (`CI=true`) and skipped with a printed reason elsewhere.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A test's scratch space: `dir/root` is the store.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("root");
        Env { dir, root }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `rbuild --root ROOT args…` with a fixed `SOURCE_DATE_EPOCH`.
    pub fn rbuild(&self, args: &[&str]) -> Output {
        let out = self.command(args).output().expect("run rbuild");
        eprintln!(
            "$ rbuild {}\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_rbuild"));
        c.arg("--root").arg(&self.root).args(args);
        c.env("SOURCE_DATE_EPOCH", "1700000000");
        c
    }

    /// Runs rbuild and requires success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.rbuild(args);
        assert!(out.status.success(), "rbuild {args:?} failed");
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Imports the busybox rootfs as `name`; returns the printed manifest digest.
    pub fn import_busybox(&self, name: &str) -> String {
        let tarball = self.path("busybox.tar");
        if !tarball.exists() {
            busybox_tarball(&tarball, Codec::Plain, &[]);
        }
        self.ok(&["import", tarball.to_str().unwrap(), name])
            .trim()
            .to_string()
    }
}

/// True when `tool` is on PATH. Under `CI=true` a missing tool fails the test; elsewhere
/// the caller skips, and we say why.
pub fn have(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{tool} is required under CI but is not installed");
        }
        eprintln!("skipping: {tool} is not installed");
    }
    found
}

/// Runs an external tool and requires success; returns stdout.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// How a test tarball is compressed.
#[derive(Clone, Copy, Debug)]
pub enum Codec {
    Plain,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
}

/// A busybox root filesystem as a tarball, built from `/bin/busybox` (busybox-static):
/// the binary, a symlink per applet, /etc/passwd and /etc/group with root, nobody and
/// builder (1000), /home/builder owned 1000:1000 mode 0750, /tmp 1777, plus `extra`
/// (path, content) files. Entries are written in an unsorted order with `./` prefixes,
/// as real tarballs are.
pub fn busybox_tarball(dest: &Path, codec: Codec, extra: &[(&str, &str)]) {
    let busybox = std::fs::read("/bin/busybox").expect("/bin/busybox (busybox-static) is needed");
    let list = run(Command::new("/bin/busybox").arg("--list"));
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str,
                   kind: tar::EntryType,
                   mode: u32,
                   owner: u32,
                   data: &[u8],
                   link: Option<&str>| {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(owner.into());
        h.set_gid(owner.into());
        h.set_mtime(1_600_000_000);
        h.set_size(data.len() as u64);
        if let Some(l) = link {
            h.set_link_name(l).unwrap();
        }
        b.append_data(&mut h, path, data).unwrap();
    };
    add("./etc/", tar::EntryType::Directory, 0o755, 0, b"", None);
    add(
        "./etc/passwd",
        tar::EntryType::Regular,
        0o644,
        0,
        b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nbuilder:x:1000:1000:builder:/home/builder:/bin/sh\n",
        None,
    );
    add(
        "./etc/group",
        tar::EntryType::Regular,
        0o644,
        0,
        b"root:x:0:\nnogroup:x:65534:\nbuilder:x:1000:\n",
        None,
    );
    add("./bin/", tar::EntryType::Directory, 0o755, 0, b"", None);
    add(
        "./bin/busybox",
        tar::EntryType::Regular,
        0o755,
        0,
        &busybox,
        None,
    );
    for applet in list
        .lines()
        .map(str::trim)
        .filter(|a| !a.is_empty() && *a != "busybox")
    {
        add(
            &format!("./bin/{applet}"),
            tar::EntryType::Symlink,
            0o777,
            0,
            b"",
            Some("busybox"),
        );
    }
    add("./home/", tar::EntryType::Directory, 0o755, 0, b"", None);
    add(
        "./home/builder/",
        tar::EntryType::Directory,
        0o750,
        1000,
        b"",
        None,
    );
    add(
        "./home/builder/.profile",
        tar::EntryType::Regular,
        0o600,
        1000,
        b"export PS1='$ '\n",
        None,
    );
    add("./tmp/", tar::EntryType::Directory, 0o1777, 0, b"", None);
    for (path, content) in extra {
        add(
            path,
            tar::EntryType::Regular,
            0o644,
            0,
            content.as_bytes(),
            None,
        );
    }
    let raw = b.into_inner().unwrap();
    let bytes = match codec {
        Codec::Plain => raw,
        Codec::Gzip => {
            let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            w.write_all(&raw).unwrap();
            w.finish().unwrap()
        }
        Codec::Bzip2 => {
            let mut w = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            w.write_all(&raw).unwrap();
            w.finish().unwrap()
        }
        Codec::Xz => {
            let mut w = xz2::write::XzEncoder::new(Vec::new(), 1);
            w.write_all(&raw).unwrap();
            w.finish().unwrap()
        }
        Codec::Zstd => zstd::encode_all(&raw[..], 3).unwrap(),
    };
    std::fs::write(dest, bytes).unwrap();
}

/// Parses JSON output.
pub fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}
