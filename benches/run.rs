//! RUN step costs on a busybox rootfs (needs root; skips otherwise):
//!
//! - `run_true`: set-up + `true` + teardown + diff, the fixed overhead of a step
//!   (target: < 50 ms median);
//! - `diff_10k_files`: the diff of a step that created 10,000 small files (target:
//!   < 1 s beyond the command);
//! - `unpack_10k_files`: unpacking a 10,000-file layer into a snapshot.
//!
//! `cargo bench --bench run`

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use rbuild::layer::{UnpackMode, unpack};
use rbuild::sandbox::{RunSpec, run};
use rbuild::store::Store;

fn busybox_rootfs(dir: &Path) -> PathBuf {
    let r = dir.join("base");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/busybox/make-rootfs.sh"
    );
    let st = std::process::Command::new("sh")
        .arg(script)
        .arg(&r)
        .status()
        .expect("sh");
    assert!(st.success(), "make-rootfs.sh failed");
    r
}

fn sh(store: &Store, lowers: Vec<PathBuf>, script: &str) -> RunSpec {
    RunSpec::new(
        store,
        lowers,
        vec!["/bin/sh".into(), "-c".into(), script.into()],
    )
}

const MAKE_10K: &str = "mkdir /data && cd /data && i=0; while [ $i -lt 100 ]; do mkdir d$i; j=0; \
    while [ $j -lt 100 ]; do echo $i$j > d$i/f$j; j=$((j+1)); done; i=$((i+1)); done";

fn benches(c: &mut Criterion) {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: the RUN benchmarks need root");
        return;
    }
    let t = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&t.path().join("store")).expect("store");
    let base = busybox_rootfs(t.path());

    let mut g = c.benchmark_group("run");
    g.sample_size(20).measurement_time(Duration::from_secs(5));
    g.bench_function("run_true", |b| {
        let spec = sh(&store, vec![base.clone()], "true");
        b.iter(|| {
            let o = run(&spec, &mut |_, _| {}).expect("run");
            assert!(o.success());
            assert!(o.diff(&spec.lowers).expect("diff").is_empty());
        })
    });

    let spec = sh(&store, vec![base.clone()], MAKE_10K);
    let outcome = run(&spec, &mut |_, _| {}).expect("run");
    assert!(outcome.success());
    g.sample_size(10);
    g.bench_function("diff_10k_files", |b| {
        b.iter(|| {
            let entries = outcome.diff(&spec.lowers).expect("diff");
            assert_eq!(entries.len(), 10_101);
        })
    });

    let mut tar = tar::Builder::new(Vec::new());
    tar.follow_symlinks(false);
    tar.append_dir_all("data", outcome.changes_dir().join("data"))
        .expect("tar");
    let tar = tar.into_inner().expect("tar");
    g.bench_function("unpack_10k_files", |b| {
        b.iter(|| {
            let dest = tempfile::tempdir_in(store.tmp_dir()).expect("tempdir");
            unpack(&tar[..], dest.path(), UnpackMode::Overlay).expect("unpack");
        })
    });
    g.finish();
}

criterion_group!(run_benches, benches);
criterion_main!(run_benches);
