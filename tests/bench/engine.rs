//! `rbuild bench` with the real `rbuild build` on `testdata/bench/context`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use serde_json::Value;

use super::support::{self, TestDir};
use super::{
    age, json_report, leftovers, scenario_names, sigint, stderr, step_cached, steps, tree_state,
};

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

#[test]
fn real_bench_seeds_cold_stores_with_the_users_base_images() {
    let t = TestDir::new();
    if !support::have_busybox() {
        return;
    }
    support::import_busybox(&t, "busybox:bench");
    t.write(
        "based/Dockerfile",
        "FROM busybox:bench\nCOPY a.txt /a.txt\n",
    );
    t.write("based/a.txt", "a\n");
    let ctx = t.path().join("based");
    // --pull never: a base image missing from a cold store fails the build.
    let out = real_bench(
        &t,
        &[
            "--runs",
            "2",
            "--warmup",
            "0",
            "--pull",
            "never",
            "--format",
            "json",
            ctx.to_str().unwrap(),
        ],
    );
    let r = json_report(&out);
    assert_eq!(scenario_names(&r), ["cold", "no-op", "changed:a.txt"]);
    assert!(r.get("notes").is_none(), "{}", r["notes"]);
    let cold = &r["scenarios"][0];
    let copy = steps(cold)
        .iter()
        .find(|s| s["instruction"] == "COPY a.txt /a.txt")
        .unwrap();
    assert_eq!(copy["misses"], 2, "every cold run builds the COPY: {copy}");
    assert!(steps(&r["scenarios"][1]).iter().all(step_cached));
    assert_eq!(leftovers(&t), Vec::<String>::new());
}
