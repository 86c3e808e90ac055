//! `rbuild bench` end to end.
//!
//! Orchestration (scenario order, warm-ups, the changed file, cleanup, Ctrl-C, failures,
//! `--compare`, `--trace`) is tested with a stand-in builder (`RBUILD_BENCH_BUILDER`): a
//! shell script that fakes a three-step cache and writes the metadata file as `rbuild
//! build` does, so these tests do not depend on the engine. The `real_*` tests run the
//! real `rbuild build` on `testdata/bench/context`.

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;
use support::{TestDir, in_ci};

/// A stand-in for `rbuild build`. The fake cache lives in the store (`standin-state`): FROM
/// hits once the store has built anything, `COPY a.txt` hits when FROM hit and a.txt is
/// unchanged, `COPY b.txt` when the COPY before it hit and b.txt is unchanged. Each call
/// appends `N ROOT A B` (call number, store, short content hashes) to `$STANDIN_LOG`; call
/// number `$STANDIN_FAIL_AT` fails, `$STANDIN_HANG_AT` writes its pid to `$STANDIN_PID` and
/// sleeps (ignoring SIGINT too when `$STANDIN_STUBBORN` is set).
const STANDIN: &str = r##"#!/bin/bash
set -eu
root= meta= trace= ctx=
while [ $# -gt 0 ]; do
  case "$1" in
    --root) root=$2; shift 2 ;;
    --metadata-file) meta=$2; shift 2 ;;
    --trace) trace=$2; shift 2 ;;
    --file) shift 2 ;;
    build|--*) shift ;;
    *) ctx=$1; shift ;;
  esac
done
n=$(( $(cat "$STANDIN_LOG" 2>/dev/null | wc -l) + 1 ))
a=$(sha256sum < "$ctx/a.txt" | cut -c1-16)
b=$(sha256sum < "$ctx/b.txt" | cut -c1-16)
echo "$n $root $a $b" >> "$STANDIN_LOG"
echo "#1 [stage-0 1/3] FROM scratch"
if [ "${STANDIN_FAIL_AT:-0}" = "$n" ]; then
  echo "boom: COPY b.txt failed" >&2
  exit 1
fi
if [ "${STANDIN_HANG_AT:-0}" = "$n" ]; then
  if [ -n "${STANDIN_STUBBORN:-}" ]; then trap '' INT; fi
  echo $$ > "$STANDIN_PID.tmp" && mv "$STANDIN_PID.tmp" "$STANDIN_PID"
  sleep 60
  exit 0
fi
built= pa= pb=
if [ -f "$root/standin-state" ]; then read -r built pa pb < "$root/standin-state"; fi
f=false; [ -n "$built" ] && f=true
ca=false; [ $f = true ] && [ "$a" = "$pa" ] && ca=true
cb=false; [ $ca = true ] && [ "$b" = "$pb" ] && cb=true
why() { if [ "$1" = true ]; then echo null; else echo "\"$2\""; fi; }
ra=$(if [ $f = true ]; then why $ca "file a.txt changed"; else echo '"no cache record"'; fi)
rb=$(if [ $ca = true ]; then why $cb "file b.txt changed"; else echo '"the step before it ran"'; fi)
echo "yes $a $b" > "$root/standin-state"
cat > "$meta" <<EOF
{
  "containerimage.digest": "sha256:$a$b",
  "containerimage.config.digest": "sha256:$b$a",
  "image.name": "",
  "rbuild.steps": [
    {"stage": "stage-0", "instruction": "FROM scratch", "cached": $f, "duration_ms": 0.5, "miss_reason": $(why $f "no cache record")},
    {"stage": "stage-0", "instruction": "COPY a.txt /a.txt", "cached": $ca, "duration_ms": 1.5, "miss_reason": $ra},
    {"stage": "stage-0", "instruction": "COPY b.txt /b.txt", "cached": $cb, "duration_ms": 2.5, "miss_reason": $rb}
  ],
  "rbuild.stats": {"files_walked": 3, "files_hashed": 2, "bytes_hashed": 20, "layer_bytes_written": 512, "blobs_written": 3}
}
EOF
if [ -n "$trace" ]; then
  cat > "$trace" <<EOF
{"traceEvents": [
  {"name": "FROM scratch", "cat": "step", "ph": "X", "ts": 0, "dur": 500, "pid": 1, "tid": 1},
  {"name": "COPY a.txt /a.txt", "cat": "step", "ph": "X", "ts": 500, "dur": 1500, "pid": 1, "tid": 1},
  {"name": "COPY b.txt /b.txt", "cat": "step", "ph": "X", "ts": 2000, "dur": 2500, "pid": 1, "tid": 1},
  {"name": "thread_name", "ph": "M", "pid": 1, "tid": 1, "args": {"name": "stage stage-0"}},
  {"name": "process_name", "ph": "M", "pid": 1, "args": {"name": "rbuild"}}
], "displayTimeUnit": "ms"}
EOF
fi
"##;

/// A context for the stand-in (b.txt is the newest file) and the stand-in script.
fn standin_setup(t: &TestDir) -> PathBuf {
    let ctx = t.path().join("ctx");
    t.write(
        "ctx/Dockerfile",
        "FROM scratch\nCOPY a.txt /a.txt\nCOPY b.txt /b.txt\n",
    );
    t.write("ctx/a.txt", "alpha\n");
    t.write("ctx/b.txt", "bravo\n");
    age(&ctx.join("Dockerfile"), 300);
    age(&ctx.join("a.txt"), 200);
    age(&ctx.join("b.txt"), 100);
    let script = t.write("standin.sh", STANDIN);
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    ctx
}

fn age(path: &Path, secs: u64) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(secs))
        .unwrap();
}

/// `rbuild --root ROOT bench ARGS…` with the stand-in builder.
fn standin_bench(t: &TestDir, args: &[&str]) -> Command {
    let mut c = t.cmd(&[&["bench"], args].concat());
    c.env("RBUILD_BENCH_BUILDER", t.path().join("standin.sh"))
        .env("STANDIN_LOG", t.path().join("calls.log"))
        .env("STANDIN_PID", t.path().join("standin.pid"));
    c
}

/// The stand-in's calls: (call number, store root, hash of a.txt, hash of b.txt).
fn calls(t: &TestDir) -> Vec<(usize, String, String, String)> {
    let text = std::fs::read_to_string(t.path().join("calls.log")).unwrap_or_default();
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (
                f[0].parse().unwrap(),
                f[1].to_string(),
                f[2].to_string(),
                f[3].to_string(),
            )
        })
        .collect()
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

#[test]
fn scenarios_run_in_order_with_warmups_on_the_right_stores() {
    let t = TestDir::new();
    let ctx = standin_setup(&t);
    let before = tree_state(&ctx);
    let out = standin_bench(
        &t,
        &[
            "--runs",
            "2",
            "--warmup",
            "1",
            "--format",
            "json",
            ctx.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    let r = json_report(&out);
    assert_eq!(scenario_names(&r), ["cold", "no-op", "changed:b.txt"]);
    assert_eq!(r["schema"], "rbuild-bench/1");
    assert_eq!(
        (r["runs"].as_u64(), r["warmup"].as_u64()),
        (Some(2), Some(1))
    );

    // 3 scenarios × (1 warm-up + 2 runs).
    let calls = calls(&t);
    assert_eq!(calls.len(), 9, "{calls:?}");
    let roots: Vec<&str> = calls.iter().map(|c| c.1.as_str()).collect();
    // Each cold run gets a fresh store; the others share the warm one.
    for (i, root) in roots[..3].iter().enumerate() {
        assert!(root.ends_with(&format!("stores/cold-{i}")), "{root}");
    }
    assert!(
        roots[3..].iter().all(|r| r.ends_with("stores/warm")),
        "{roots:?}"
    );
    // Builds run on a copy in the store's tmp/, never on the user's context.
    assert!(
        roots[0].starts_with(
            t.root()
                .canonicalize()
                .unwrap()
                .join("tmp")
                .to_str()
                .unwrap()
        )
    );
    // a.txt never changes; b.txt has new content in every changed run, never seen before.
    assert!(calls.iter().all(|c| c.2 == calls[0].2));
    let b: Vec<&str> = calls.iter().map(|c| c.3.as_str()).collect();
    assert!(b[..6].iter().all(|h| *h == b[0]));
    let mut changed = b[6..].to_vec();
    changed.push(b[0]);
    changed.sort();
    changed.dedup();
    assert_eq!(changed.len(), 4, "unique content per changed run: {b:?}");

    let s = &r["scenarios"];
    assert_eq!(s[0]["runs"].as_array().unwrap().len(), 2);
    assert!(
        steps(&s[0]).iter().all(|st| !step_cached(st)),
        "cold misses everywhere"
    );
    assert!(
        steps(&s[1]).iter().all(step_cached),
        "no-op hits everywhere"
    );
    let changed = steps(&s[2]);
    assert!(step_cached(&changed[0]) && step_cached(&changed[1]));
    assert!(!step_cached(&changed[2]));
    assert_eq!(changed[2]["miss_reason"], "file b.txt changed");
    assert_eq!(s[2]["changed_path"], "b.txt");
    assert_eq!(s[2]["cache_hits"], 2);
    assert_eq!(s[2]["cache_misses"], 1);
    assert_eq!(s[2]["stats"]["layer_bytes_written"], 512);
    let run = &s[1]["runs"][0];
    assert!(run["wall_ms"].as_f64().unwrap() > 0.0);
    assert!(run["max_rss_kib"].as_u64().unwrap() > 0);

    assert_eq!(tree_state(&ctx), before, "the user's context changed");
    assert_eq!(leftovers(&t), Vec::<String>::new());
}

#[test]
fn the_table_explains_misses_and_change_picks_the_file() {
    let t = TestDir::new();
    let ctx = standin_setup(&t);
    let out = standin_bench(
        &t,
        &[
            "--runs",
            "1",
            "--warmup",
            "0",
            "--change",
            "a.txt",
            ctx.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("1 run per scenario after 0 warm-ups"),
        "{text}"
    );
    for line in ["cold ", "no-op ", "changed:a.txt "] {
        assert!(
            text.lines().any(|l| l.starts_with(line)),
            "{line:?} in\n{text}"
        );
    }
    let miss = text
        .lines()
        .skip_while(|l| !l.starts_with("changed:a.txt: steps"))
        .find(|l| l.contains("COPY a.txt /a.txt"))
        .unwrap();
    assert!(
        miss.contains("miss") && miss.ends_with("file a.txt changed"),
        "{miss}"
    );
    assert!(err.contains("no-op: run 1/1"), "{err}");
    assert_eq!(calls(&t).len(), 3);
}

#[test]
fn a_change_that_misses_nothing_gets_a_note() {
    let t = TestDir::new();
    let ctx = standin_setup(&t);
    t.write("ctx/unused.txt", "not copied\n");
    let out = standin_bench(&t, &["--runs", "1", "--warmup", "0", ctx.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("changed:unused.txt"), "{text}");
    assert!(
        text.contains("note: changing unused.txt made no step miss the cache"),
        "{text}"
    );
}

#[test]
fn a_failed_build_stops_the_bench_with_its_output() {
    let t = TestDir::new();
    let ctx = standin_setup(&t);
    let out = standin_bench(&t, &["--runs", "2", ctx.to_str().unwrap()])
        .env("STANDIN_FAIL_AT", "2")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("the cold (run 1/2) build failed (exit status 1)"),
        "{err}"
    );
    assert!(err.contains("boom: COPY b.txt failed"), "{err}");
    assert!(err.contains("FROM scratch"), "{err}");
    assert_eq!(calls(&t).len(), 2);
    assert_eq!(leftovers(&t), Vec::<String>::new());
}

/// Starts a bench whose `n`th build hangs, waits for that build to start, and returns the
/// bench and the hanging build's pid.
fn start_hanging_bench(t: &TestDir, ctx: &Path, n: &str, stubborn: bool) -> (Child, i32) {
    let mut cmd = standin_bench(t, &["--runs", "2", ctx.to_str().unwrap()]);
    cmd.env("STANDIN_HANG_AT", n)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if stubborn {
        cmd.env("STANDIN_STUBBORN", "1");
    }
    let child = cmd.spawn().unwrap();
    let pid_file = t.path().join("standin.pid");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !pid_file.exists() {
        assert!(Instant::now() < deadline, "the hanging build never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    (child, pid)
}

fn sigint(pid: u32) {
    let pid = rustix::process::Pid::from_raw(pid as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
}

fn alive(pid: i32) -> bool {
    rustix::process::test_kill_process(rustix::process::Pid::from_raw(pid).unwrap()).is_ok()
}

fn wait_with_timeout(mut child: Child, limit: Duration) -> (Option<i32>, String) {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(s) = child.stderr.take() {
                for line in BufReader::new(s).lines() {
                    err.push_str(&line.unwrap());
                    err.push('\n');
                }
            }
            return (status.code(), err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the bench did not stop within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigint_stops_the_build_cleans_up_and_exits_130() {
    let t = TestDir::new();
    let ctx = standin_setup(&t);
    let before = tree_state(&ctx);
    // Call 5 is the first timed no-op build: the copy and the warm store exist by then.
    let (bench, build_pid) = start_hanging_bench(&t, &ctx, "5", false);
    let bench_pid = bench.id();
    sigint(bench_pid);
    let (code, err) = wait_with_timeout(bench, Duration::from_secs(8));
    assert_eq!(code, Some(130), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    assert!(!alive(build_pid), "the build survived the bench");
    assert_eq!(calls(&t).len(), 5, "nothing ran after the signal");
    assert_eq!(tree_state(&ctx), before, "the user's context changed");
    assert_eq!(leftovers(&t), Vec::<String>::new());
}

#[test]
fn a_build_that_ignores_sigint_is_killed_after_the_grace_period() {
    let t = TestDir::new();
    let ctx = standin_setup(&t);
    let before = tree_state(&ctx);
    // Call 7 is the changed warm-up: the copy has a changed b.txt by then.
    let (bench, build_pid) = start_hanging_bench(&t, &ctx, "7", true);
    let started = Instant::now();
    sigint(bench.id());
    let (code, err) = wait_with_timeout(bench, Duration::from_secs(30));
    assert_eq!(code, Some(130), "{err}");
    assert!(
        started.elapsed() >= Duration::from_secs(9),
        "killed before the grace period"
    );
    assert!(!alive(build_pid));
    assert_eq!(tree_state(&ctx), before);
    assert_eq!(leftovers(&t), Vec::<String>::new());
}

#[test]
fn compare_shows_ratios_and_fail_slower_trips_on_a_slowed_baseline() {
    let t = TestDir::new();
    let ctx = standin_setup(&t);
    let c = ctx.to_str().unwrap();
    let out = standin_bench(&t, &["--runs", "1", "--warmup", "0", "--format", "json", c])
        .output()
        .unwrap();
    let base = json_report(&out);
    let base_path = t.write("base.json", &out.stdout);

    let out = standin_bench(
        &t,
        &[
            "--runs",
            "1",
            "--warmup",
            "0",
            "--format",
            "json",
            "--compare",
            base_path.to_str().unwrap(),
            c,
        ],
    )
    .output()
    .unwrap();
    let r = json_report(&out);
    let cmp = &r["comparison"];
    assert_eq!(cmp["baseline"], base_path.to_str().unwrap());
    for s in cmp["scenarios"].as_array().unwrap() {
        let ratio = s["ratio"].as_f64().unwrap();
        assert!(ratio > 0.0 && ratio.is_finite(), "{s}");
        // The stand-in's steps take the same time every run.
        for step in s["steps"].as_array().unwrap() {
            assert_eq!(step["ratio"], 1.0, "{step}");
        }
    }

    // A baseline 1000 times faster: this run is far slower than any noise.
    let mut fast = base.clone();
    for s in fast["scenarios"].as_array_mut().unwrap() {
        let m = s["wall_ms"]["median"].as_f64().unwrap();
        s["wall_ms"]["median"] = (m / 1000.0).into();
    }
    let fast_path = t.write("fast.json", fast.to_string());
    let out = standin_bench(
        &t,
        &[
            "--runs",
            "1",
            "--warmup",
            "0",
            "--compare",
            fast_path.to_str().unwrap(),
            "--fail-slower",
            "50",
            c,
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("slower than") && err.contains("no-op is"),
        "{err}"
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("BASELINE") && text.contains("RATIO"),
        "{text}"
    );

    // Within the limit: success.
    let out = standin_bench(
        &t,
        &[
            "--runs",
            "1",
            "--warmup",
            "0",
            "--compare",
            base_path.to_str().unwrap(),
            "--fail-slower",
            "100000",
            c,
        ],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn trace_holds_one_process_per_scenario() {
    let t = TestDir::new();
    let ctx = standin_setup(&t);
    let trace = t.path().join("bench-trace.json");
    let out = standin_bench(
        &t,
        &[
            "--runs",
            "3",
            "--warmup",
            "0",
            "--format",
            "json",
            "--trace",
            trace.to_str().unwrap(),
            ctx.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    let r = json_report(&out);
    let doc: Value = serde_json::from_slice(&std::fs::read(&trace).unwrap()).unwrap();
    let ev = doc["traceEvents"].as_array().unwrap();
    let procs: Vec<(u64, &str)> = ev
        .iter()
        .filter(|e| e["name"] == "process_name")
        .map(|e| {
            (
                e["pid"].as_u64().unwrap(),
                e["args"]["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(procs, vec![(1, "cold"), (2, "no-op"), (3, "changed:b.txt")]);
    for (i, s) in r["scenarios"].as_array().unwrap().iter().enumerate() {
        let slices = ev
            .iter()
            .filter(|e| e["ph"] == "X" && e["pid"] == i as u64 + 1)
            .count();
        assert_eq!(slices, steps(s).len(), "{}", s["name"]);
    }
    assert_eq!(leftovers(&t), Vec::<String>::new());
}

#[test]
fn bad_options_fail_before_any_build() {
    let t = TestDir::new();
    let ctx = standin_setup(&t);
    let c = ctx.to_str().unwrap();
    let not_json = ctx.join("a.txt");
    let nowhere = t.path().join("nowhere");
    let cases: &[(&[&str], &str)] = &[
        (
            &["--change", "nope.txt", c],
            "no such file in the build context",
        ),
        (
            &["--change", "../standin.sh", c],
            "leaves the build context",
        ),
        (&["-f", "-", c], "standard input"),
        (&["--runs", "0", c], "--runs must be at least 1"),
        (&["--metadata-file", "m.json", c], "--metadata-file"),
        (
            &["--compare", "/nonexistent/r.json", c],
            "/nonexistent/r.json",
        ),
        (&["--compare", not_json.to_str().unwrap(), c], "not JSON"),
        (&[nowhere.to_str().unwrap()], "is not a directory"),
    ];
    for (args, want) in cases {
        let out = standin_bench(&t, args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = stderr(&out);
        assert!(err.contains(want), "{args:?}: {err}");
    }
    assert!(calls(&t).is_empty(), "no build may run: {:?}", calls(&t));
    assert_eq!(leftovers(&t), Vec::<String>::new());
}

// ---- the real engine ----------------------------------------------------------------

/// Whether `rbuild build` is missing from this build of rbuild (the engine is merged
/// separately). Outside CI the end-to-end tests then skip, saying why; under CI they fail.
/// Remove this escape hatch once the engine is merged.
fn engine_missing(t: &TestDir) -> bool {
    t.write("probe/Dockerfile", "FROM scratch\nCOPY a /a\n");
    t.write("probe/a", "a\n");
    let out = Command::new(support::rbuild_bin())
        .arg("--root")
        .arg(t.path().join("probe-root"))
        .args(["build", "--progress", "plain"])
        .arg(t.path().join("probe"))
        .output()
        .unwrap();
    if out.status.success() {
        return false;
    }
    let err = stderr(&out);
    if err.contains("not built yet") {
        assert!(!in_ci(), "rbuild build is required under CI: {err}");
        eprintln!("skipping: rbuild build is not built yet in this branch");
        return true;
    }
    panic!("rbuild build of a trivial context failed:\n{err}");
}

/// A copy of `testdata/bench/context` in `t`, with src/util.c the newest file the build
/// receives (NOTES.md is newer but excluded by .dockerignore).
fn example_context(t: &TestDir) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/bench/context");
    let dest = t.path().join("example");
    for e in walkdir::WalkDir::new(&src) {
        let e = e.unwrap();
        let to = dest.join(e.path().strip_prefix(&src).unwrap());
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&to).unwrap();
        } else {
            std::fs::copy(e.path(), &to).unwrap();
            age(&to, 1000);
        }
    }
    age(&dest.join("src/util.c"), 100);
    age(&dest.join("NOTES.md"), 10);
    dest
}

fn real_bench(t: &TestDir, args: &[&str]) -> Output {
    t.cmd(&[&["bench"], args].concat())
        .env_remove("RBUILD_BENCH_BUILDER")
        .output()
        .unwrap()
}

#[test]
fn real_bench_times_every_scenario_and_explains_the_change() {
    let t = TestDir::new();
    if engine_missing(&t) {
        return;
    }
    let ctx = example_context(&t);
    let before = tree_state(&ctx);
    let trace = t.path().join("trace.json");
    let c = ctx.to_str().unwrap();
    let out = real_bench(
        &t,
        &[
            "--runs",
            "2",
            "--warmup",
            "1",
            "--change",
            "src/main.c",
            "--format",
            "json",
            "--trace",
            trace.to_str().unwrap(),
            c,
        ],
    );
    let r = json_report(&out);
    assert_eq!(scenario_names(&r), ["cold", "no-op", "changed:src/main.c"]);
    let s = r["scenarios"].as_array().unwrap();
    for sc in s {
        assert_eq!(sc["runs"].as_array().unwrap().len(), 2);
        assert!(sc["wall_ms"]["median"].as_f64().unwrap() > 0.0);
        assert!(sc["max_rss_kib"]["median"].as_f64().unwrap() > 0.0);
        assert!(!steps(sc).is_empty());
    }
    assert!(s[0]["stats"]["layer_bytes_written"].as_u64().unwrap() > 0);
    let noop = steps(&s[1]);
    assert!(noop.iter().all(step_cached), "no-op: {noop:?}");
    let changed = steps(&s[2]);
    let first_miss = changed.iter().position(|st| !step_cached(st)).unwrap();
    assert_eq!(changed[first_miss]["instruction"], "COPY src/ /app/src/");
    assert!(
        changed[first_miss]["miss_reason"].is_string(),
        "{}",
        changed[first_miss]
    );
    assert!(
        first_miss >= 3,
        "FROM, COPY config and COPY --from hit first: {changed:?}"
    );

    // The trace: one process per scenario, a slice per step of each, on its stage's track.
    let doc: Value = serde_json::from_slice(&std::fs::read(&trace).unwrap()).unwrap();
    let ev = doc["traceEvents"].as_array().unwrap();
    for (i, sc) in s.iter().enumerate() {
        let pid = i as u64 + 1;
        let name = ev
            .iter()
            .find(|e| e["name"] == "process_name" && e["pid"] == pid)
            .unwrap();
        assert_eq!(name["args"]["name"], sc["name"]);
        let track = |tid: &Value| {
            ev.iter()
                .find(|e| e["name"] == "thread_name" && e["pid"] == pid && e["tid"] == *tid)
                .and_then(|e| e["args"]["name"].as_str())
                .unwrap_or_default()
                .to_string()
        };
        for st in steps(sc) {
            let ins = st["instruction"].as_str().unwrap();
            let stage_track = format!("stage {}", st["stage"].as_str().unwrap());
            let n = ev
                .iter()
                .filter(|e| {
                    e["pid"] == pid
                        && e["ph"] == "X"
                        && e["cat"].as_str().is_some_and(|c| c.starts_with("step"))
                        && (e["name"] == ins || e["name"] == format!("{ins} (cached)"))
                        && track(&e["tid"]) == stage_track
                })
                .count();
            assert_eq!(n, 1, "{stage_track} {ins} in {}", sc["name"]);
        }
    }
    assert_eq!(tree_state(&ctx), before, "the user's context changed");
    assert_eq!(leftovers(&t), Vec::<String>::new());

    // The default change is the newest file the build receives.
    let out = real_bench(&t, &["--runs", "1", "--warmup", "0", c]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("changed:src/util.c: steps"), "{text}");
    assert!(text.contains("WHY IT MISSED"), "{text}");
    assert_eq!(tree_state(&ctx), before);
}

#[test]
fn real_bench_compares_with_itself_and_trips_on_a_slowed_report() {
    let t = TestDir::new();
    if engine_missing(&t) {
        return;
    }
    let ctx = example_context(&t);
    let c = ctx.to_str().unwrap();
    let out = real_bench(
        &t,
        &[
            "--runs",
            "3",
            "--change",
            "src/main.c",
            "--format",
            "json",
            c,
        ],
    );
    let base = json_report(&out);
    let base_path = t.write("base.json", &out.stdout);
    let out = real_bench(
        &t,
        &[
            "--runs",
            "3",
            "--change",
            "src/main.c",
            "--format",
            "json",
            "--compare",
            base_path.to_str().unwrap(),
            c,
        ],
    );
    let r = json_report(&out);
    for s in r["comparison"]["scenarios"].as_array().unwrap() {
        let ratio = s["ratio"].as_f64().unwrap();
        assert!((0.2..5.0).contains(&ratio), "{}: {ratio}", s["name"]);
    }
    let mut fast = base.clone();
    for s in fast["scenarios"].as_array_mut().unwrap() {
        let m = s["wall_ms"]["median"].as_f64().unwrap();
        s["wall_ms"]["median"] = (m / 1000.0).into();
    }
    let fast_path = t.write("fast.json", fast.to_string());
    let out = real_bench(
        &t,
        &[
            "--runs",
            "1",
            "--warmup",
            "0",
            "--change",
            "src/main.c",
            "--compare",
            fast_path.to_str().unwrap(),
            "--fail-slower",
            "20",
            c,
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
}

#[test]
fn real_bench_interrupted_leaves_the_context_intact() {
    let t = TestDir::new();
    if engine_missing(&t) {
        return;
    }
    let ctx = example_context(&t);
    let before = tree_state(&ctx);
    let mut child = t
        .cmd(&[
            "bench",
            "--runs",
            "20",
            "--change",
            "src/main.c",
            ctx.to_str().unwrap(),
        ])
        .env_remove("RBUILD_BENCH_BUILDER")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the no-op scenario is under way (the copy and the warm store exist),
    // then press Ctrl-C.
    let err = child.stderr.take().unwrap();
    let mut lines = BufReader::new(err).lines();
    let mut seen = String::new();
    loop {
        match lines.next() {
            Some(Ok(l)) => {
                seen.push_str(&l);
                seen.push('\n');
                if l.starts_with("no-op: run 1/") {
                    break;
                }
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the bench ended before the no-op scenario:\n{seen}");
            }
        }
    }
    sigint(child.id());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{seen}{}", rest.join("\n"));
    assert_eq!(tree_state(&ctx), before, "the user's context changed");
    assert_eq!(leftovers(&t), Vec::<String>::new());
}
