//! Ctrl-C during a bench (with the stand-in builder): the build is stopped, by SIGKILL
//! when it ignores SIGINT, the scratch dir is removed and the user's context is untouched.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::leftovers;
use super::sigint;
use super::standin::{calls, standin_bench, standin_setup};
use super::support::TestDir;
use super::tree_state;

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
    let (code, err) = wait_with_timeout(bench, Duration::from_secs(30));
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
