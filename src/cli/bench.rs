//! `rbuild bench`: turns the options into a [`BenchPlan`], stops cleanly on Ctrl-C, prints
//! the report (table or JSON) on standard output and progress on standard error, and
//! applies `--compare`, `--fail-slower` and `--trace`.
//!
//! Exit codes: 0 when the bench ran (and no scenario was too slow), 1 on an error (a build
//! failed, a bad option), 3 when `--fail-slower` tripped (the report is still printed),
//! 128 + the signal number when interrupted.

use std::path::{Path, PathBuf};

use super::Report;
use super::args::{BenchArgs, BenchFormat};
use crate::bench::{
    self, BUILDER_ENV, BenchError, BenchPlan, BenchReport, Interrupt, SignalGuard, argv, table,
};
use crate::fsutil;

/// Exit code when `--fail-slower` trips.
pub const EXIT_SLOWER: u8 = 3;

/// Runs `rbuild bench`; `root` is the user's store (base images come from it).
pub fn bench(root: &Path, a: BenchArgs) -> Result<(), Report> {
    let build_flags = argv::build_flags(&a.build).map_err(|e| Report::from_error(&e))?;
    if let Some(pct) = a.fail_slower {
        if !pct.is_finite() || pct < 0.0 {
            return Err(Report::msg(format!(
                "--fail-slower {pct}: expected a percentage of 0 or more"
            )));
        }
    }
    // Read the baseline first: a bad file should fail before minutes of building.
    let baseline = match &a.compare {
        Some(p) => Some((p, BenchReport::load(p).map_err(|e| Report::from_error(&e))?)),
        None => None,
    };
    let builder = match std::env::var_os(BUILDER_ENV).filter(|v| !v.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => std::env::current_exe()
            .map_err(|e| Report::msg(format!("cannot find the rbuild executable: {e}")))?,
    };
    let plan = BenchPlan {
        context: a.build.context.clone(),
        dockerfile: a.build.file.clone(),
        build_flags,
        changes: a.changes.clone(),
        runs: a.runs,
        warmup: a.warmup,
        trace: a.build.trace.is_some(),
        builder,
        user_root: root.to_path_buf(),
    };

    let interrupt = Interrupt::new();
    let signals = SignalGuard::install(&interrupt)
        .map_err(|e| Report::msg(format!("cannot handle signals: {e}")))?;
    let outcome = bench::run(&plan, &interrupt, &mut |line| eprintln!("{line}"));
    drop(signals);
    let outcome = match outcome {
        Ok(o) => o,
        Err(BenchError::Interrupted { signal }) => {
            let mut r = Report::msg(
                "interrupted: the build was stopped and the bench's temp files removed",
            );
            r.exit_code = u8::try_from(128 + signal).unwrap_or(130);
            return Err(r);
        }
        Err(e) => return Err(bench_report(&e)),
    };
    let mut report = outcome.report;
    if let Some((path, base)) = &baseline {
        report.comparison = Some(bench::compare(&report, base, &path.display().to_string()));
    }
    if let (Some(path), Some(trace)) = (&a.build.trace, &outcome.trace) {
        fsutil::atomic_write(path, trace.to_string().as_bytes())
            .map_err(|e| Report::msg(format!("writing {}: {e}", path.display())))?;
    }
    match a.format {
        BenchFormat::Table => print!("{}", table::render(&report)),
        BenchFormat::Json => println!("{}", report.to_json()),
    }
    if let (Some(pct), Some(c)) = (a.fail_slower, &report.comparison) {
        let slower = c.regressions(pct);
        if !slower.is_empty() {
            let list: Vec<String> = slower.iter().map(ToString::to_string).collect();
            let mut r = Report::msg(format!(
                "slower than {} by more than {pct}%: {}",
                c.baseline,
                list.join("; ")
            ));
            r.exit_code = EXIT_SLOWER;
            return Err(r);
        }
    }
    Ok(())
}

fn bench_report(e: &BenchError) -> Report {
    let r = Report::from_error(e);
    match e {
        BenchError::BuildFailed { .. } => {
            r.with_hint("the same build fails with `rbuild build`: fix it there first")
        }
        BenchError::BadChange { .. } => {
            r.with_hint("--change takes a file of the build context, relative to the context")
        }
        _ => r,
    }
}
