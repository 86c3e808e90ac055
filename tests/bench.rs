//! `rbuild bench` end to end.
//!
//! Orchestration (scenario order, warm-ups, the changed file, cleanup, Ctrl-C, failures,
//! `--compare`, `--trace`) is tested with a stand-in builder (`RBUILD_BENCH_BUILDER`, in
//! `bench/standin.rs`): a shell script that fakes a three-step cache and writes the
//! metadata file as `rbuild build` does, so those tests do not depend on the engine.
//! `bench/signals.rs` presses Ctrl-C in the middle; `bench/engine.rs` runs the real `rbuild build` on `testdata/bench/context`.

mod support;

#[path = "bench/engine.rs"]
mod engine;
#[path = "bench/signals.rs"]
mod signals;
#[path = "bench/standin.rs"]
mod standin;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, SystemTime};

use serde_json::Value;
use support::TestDir;

/// Makes `path` `secs` seconds old.
fn age(path: &Path, secs: u64) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(secs))
        .unwrap();
}

/// Every entry under `root`: kind, mode, mtime (ns), and bytes or link target.
fn tree_state(root: &Path) -> BTreeMap<PathBuf, (u32, i128, Vec<u8>)> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(root).follow_links(false) {
        let e = e.unwrap();
        let m = e.path().symlink_metadata().unwrap();
        let data = if m.is_file() {
            std::fs::read(e.path()).unwrap()
        } else if m.file_type().is_symlink() {
            std::fs::read_link(e.path())
                .unwrap()
                .into_os_string()
                .into_encoded_bytes()
        } else {
            Vec::new()
        };
        let mtime = i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec());
        out.insert(
            e.path().strip_prefix(root).unwrap().to_path_buf(),
            (m.mode(), mtime, data),
        );
    }
    out
}

/// Bench scratch dirs left in the store's tmp/.
fn leftovers(t: &TestDir) -> Vec<String> {
    match std::fs::read_dir(t.root().join("tmp")) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("bench-"))
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json_report(o: &Output) -> Value {
    assert!(o.status.success(), "bench failed: {}", stderr(o));
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", String::from_utf8_lossy(&o.stdout)))
}

fn scenario_names(r: &Value) -> Vec<String> {
    r["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

fn steps(s: &Value) -> &Vec<Value> {
    s["steps"].as_array().unwrap()
}

fn step_cached(step: &Value) -> bool {
    step["misses"] == 0
}

/// Sends SIGINT to `pid`.
fn sigint(pid: u32) {
    let pid = rustix::process::Pid::from_raw(pid as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
}
