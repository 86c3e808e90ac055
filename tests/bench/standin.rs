//! `rbuild bench` with a stand-in builder: scenario order, warm-ups, stores, the changed
//! file, notes, failures, Ctrl-C, `--compare`, `--fail-slower`, `--trace`, bad options.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use super::support::TestDir;
use super::{age, json_report, leftovers, scenario_names, stderr, step_cached, steps, tree_state};

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
pub(crate) fn standin_setup(t: &TestDir) -> PathBuf {
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

/// `rbuild --root ROOT bench ARGS…` with the stand-in builder.
pub(crate) fn standin_bench(t: &TestDir, args: &[&str]) -> Command {
    let mut c = t.cmd(&[&["bench"], args].concat());
    c.env("RBUILD_BENCH_BUILDER", t.path().join("standin.sh"))
        .env("STANDIN_LOG", t.path().join("calls.log"))
        .env("STANDIN_PID", t.path().join("standin.pid"));
    c
}

/// The stand-in's calls: (call number, store root, hash of a.txt, hash of b.txt).
pub(crate) fn calls(t: &TestDir) -> Vec<(usize, String, String, String)> {
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
