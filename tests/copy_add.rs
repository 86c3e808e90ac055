//! COPY and ADD details: archives extracted by ADD (gzip, bzip2, xz, zstd, plain), remote
//! URLs, `--chown` by name from the image's /etc/passwd, `--exclude`, `--parents`,
//! `--link`, empty wildcards. Results are read back with umoci.

mod support;

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::Command;

use support::{TestDir, have_busybox, have_tool, is_root};

fn unpack(t: &TestDir, name: &str) -> PathBuf {
    let bundle = t
        .path()
        .join(format!("bundle-{}", name.replace([':', '/'], "_")));
    let image = format!("{}:{name}", t.root().display());
    let mut c = Command::new("umoci");
    c.arg("unpack");
    if !is_root() {
        c.arg("--rootless");
    }
    let out = c.args(["--image", &image]).arg(&bundle).output().unwrap();
    assert!(
        out.status.success(),
        "umoci unpack: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    bundle.join("rootfs")
}

fn build(t: &TestDir, dockerfile: &str, tag: &str) -> String {
    t.write("ctx/Dockerfile", dockerfile);
    let ctx = t.path().join("ctx");
    t.ok(&[
        "build",
        "--progress",
        "plain",
        "-t",
        tag,
        ctx.to_str().unwrap(),
    ])
}

/// A tar with `dir/inner.txt`, compressed by `tool` (None: plain).
fn make_archive(t: &TestDir, name: &str, tool: Option<&str>) {
    let src = t.path().join("archive-src");
    std::fs::create_dir_all(src.join("dir")).unwrap();
    std::fs::write(src.join("dir/inner.txt"), "inside\n").unwrap();
    let dest = t.path().join("ctx").join(name);
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    let tar = t.path().join(format!("work-{name}.tar"));
    let out = Command::new("tar")
        .arg("-cf")
        .arg(&tar)
        .arg("-C")
        .arg(&src)
        .arg("dir")
        .output()
        .unwrap();
    assert!(out.status.success());
    let Some(tool) = tool else {
        std::fs::rename(&tar, &dest).unwrap();
        return;
    };
    let out = Command::new(tool).arg("-c").arg(&tar).output().unwrap();
    assert!(
        out.status.success(),
        "{tool}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(&dest, out.stdout).unwrap();
}

#[test]
fn add_extracts_local_archives_in_every_compression() {
    if !have_tool("umoci")
        || !have_tool("bzip2")
        || !have_tool("xz")
        || !have_tool("zstd")
        || !have_tool("gzip")
    {
        return;
    }
    let t = TestDir::new();
    make_archive(&t, "plain.tar", None);
    make_archive(&t, "a.tar.gz", Some("gzip"));
    make_archive(&t, "a.tar.bz2", Some("bzip2"));
    make_archive(&t, "a.tar.xz", Some("xz"));
    make_archive(&t, "a.tar.zst", Some("zstd"));
    build(
        &t,
        "FROM scratch\n\
         ADD plain.tar /plain/\nADD a.tar.gz /gz/\nADD a.tar.bz2 /bz2/\nADD a.tar.xz /xz/\nADD a.tar.zst /zst\n\
         COPY a.tar.gz /copied/\n\
         ADD --unpack=false a.tar.gz /kept/\n",
        "add:1",
    );
    let rootfs = unpack(&t, "add:1");
    for d in ["plain", "gz", "bz2", "xz", "zst"] {
        assert_eq!(
            std::fs::read_to_string(rootfs.join(d).join("dir/inner.txt")).unwrap(),
            "inside\n",
            "{d}"
        );
    }
    assert!(
        rootfs.join("copied/a.tar.gz").is_file(),
        "COPY never extracts"
    );
    assert!(
        rootfs.join("kept/a.tar.gz").is_file(),
        "--unpack=false keeps the archive"
    );
}

#[test]
fn add_downloads_urls() {
    if !have_tool("umoci") {
        return;
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        for stream in listener.incoming().take(2) {
            let mut s = stream.unwrap();
            let mut buf = [0u8; 4096];
            let _ = std::io::Read::read(&mut s, &mut buf);
            let body = b"remote content\n";
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nLast-Modified: Mon, 01 Jan 2024 00:00:00 GMT\r\nConnection: close\r\n\r\n",
                body.len()
            );
            s.write_all(head.as_bytes()).unwrap();
            s.write_all(body).unwrap();
        }
    });
    let t = TestDir::new();
    let url = format!("http://127.0.0.1:{port}/files/remote.txt?x=1");
    build(
        &t,
        &format!(
            "FROM scratch\nADD {url} /dl/\nADD --checksum=sha256:{} {url} /dl/again.txt\n",
            sha256_hex(b"remote content\n")
        ),
        "url:1",
    );
    server.join().unwrap();
    let rootfs = unpack(&t, "url:1");
    let f = rootfs.join("dl/remote.txt");
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "remote content\n");
    let m = std::fs::metadata(&f).unwrap();
    assert_eq!(
        m.mode() & 0o777,
        0o600,
        "remote files are 0600, as in Docker"
    );
    assert_eq!(m.mtime(), 1_704_067_200, "mtime from Last-Modified");
    assert_eq!(
        std::fs::read_to_string(rootfs.join("dl/again.txt")).unwrap(),
        "remote content\n"
    );
}

fn sha256_hex(b: &[u8]) -> String {
    rbuild::digest::Digest::of(b).hex()
}

#[test]
fn chown_by_name_uses_the_images_passwd() {
    if !have_busybox() || !have_tool("umoci") || !is_root() {
        return;
    }
    let t = TestDir::new();
    support::import_busybox(&t, "busybox:test");
    t.write("ctx/a.txt", "A");
    t.write("ctx/d/b.txt", "B");
    build(
        &t,
        "FROM busybox:test\nCOPY --chown=builder a.txt /owned/\nCOPY --chown=builder:staff d/ /grp/\nCOPY --chown=7 a.txt /num.txt\n",
        "chown:1",
    );
    let rootfs = unpack(&t, "chown:1");
    let ids = |p: &str| {
        let m = std::fs::symlink_metadata(rootfs.join(p)).unwrap();
        (m.uid(), m.gid())
    };
    assert_eq!(ids("owned/a.txt"), (1000, 1000));
    assert_eq!(
        ids("owned"),
        (1000, 1000),
        "a created destination dir belongs to the --chown user"
    );
    assert_eq!(ids("grp/b.txt"), (1000, 50));
    assert_eq!(ids("num.txt"), (7, 7));
    t.write(
        "ctx/Dockerfile",
        "FROM busybox:test\nCOPY --chown=nosuchuser a.txt /x\n",
    );
    let out = t.rbuild(&["build", t.path().join("ctx").to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nosuchuser"));
}

#[test]
fn exclude_parents_link_and_empty_wildcards() {
    if !have_tool("umoci") {
        return;
    }
    let t = TestDir::new();
    for f in [
        "src/app/main.rs",
        "src/app/test.tmp",
        "src/lib/util.rs",
        "docs/x.md",
    ] {
        t.write(&format!("ctx/{f}"), f);
    }
    build(
        &t,
        "FROM scratch\n\
         COPY --exclude=*/*.tmp src/ /ex/\n\
         COPY --parents src/app/main.rs src/lib/ /par/\n\
         COPY --link docs/x.md /linked/\n\
         COPY *.nomatch /none/\n",
        "flags:1",
    );
    let rootfs = unpack(&t, "flags:1");
    assert!(rootfs.join("ex/app/main.rs").is_file());
    assert!(
        !rootfs.join("ex/app/test.tmp").exists(),
        "--exclude drops matches"
    );
    assert!(
        rootfs.join("par/src/app/main.rs").is_file(),
        "--parents keeps the source path"
    );
    assert!(rootfs.join("par/src/lib/util.rs").is_file());
    assert!(rootfs.join("linked/x.md").is_file());
    assert!(
        !rootfs.join("none").exists(),
        "a wildcard that matches nothing copies nothing (BuildKit)"
    );
}

#[test]
fn several_sources_need_a_directory_destination() {
    let t = TestDir::new();
    t.write("ctx/a.txt", "A");
    t.write("ctx/b.txt", "B");
    t.write(
        "ctx/Dockerfile",
        "FROM scratch\nCOPY a.txt b.txt /notadir\n",
    );
    let out = t.rbuild(&["build", t.path().join("ctx").to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("must be a directory"), "{err}");
}

#[test]
fn copy_destination_symlink_out_of_the_root_is_refused() {
    if !have_busybox() {
        return;
    }
    let t = TestDir::new();
    support::import_busybox(&t, "busybox:test");
    t.write("ctx/a.txt", "A");
    t.write(
        "ctx/Dockerfile",
        "FROM busybox:test\nRUN ln -s ../../../../../../ /up\nCOPY a.txt /up/tmp/\n",
    );
    let out = t.rbuild(&["build", t.path().join("ctx").to_str().unwrap()]);
    if !is_root() && !support::in_ci() {
        return;
    }
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("outside the image root"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
