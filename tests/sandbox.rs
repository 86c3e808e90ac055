use std::path::{Path, PathBuf};

use rbuild::sandbox::{RunSpec, Stream, run};
use rbuild::store::Store;

fn rootfs(dir: &Path) -> PathBuf {
    let r = dir.join("rootfs");
    let st = std::process::Command::new("sh")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/busybox/make-rootfs.sh"
        ))
        .arg(&r)
        .status()
        .unwrap();
    assert!(st.success());
    r
}

#[test]
fn smoke() {
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(&t.path().join("store")).unwrap();
    let lower = rootfs(t.path());
    let mut spec = RunSpec::new(
        &store,
        vec![lower.clone()],
        vec![
            "/bin/sh".into(),
            "-c".into(),
            "echo hi; id; ls /; cat /etc/hosts; mount | head -30; touch /newfile".into(),
        ],
    );
    spec.env = vec![];
    let mut out = Vec::new();
    let o = run(&spec, &mut |s, b| {
        out.extend_from_slice(b);
        if s == Stream::Stderr {
            eprint!("{}", String::from_utf8_lossy(b));
        }
    })
    .unwrap();
    println!("{}", String::from_utf8_lossy(&out));
    println!("{:?}", o.status);
    println!("{:?}", o.diff(&[lower]).unwrap());
}
