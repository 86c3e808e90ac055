//! The bench itself: prepare the copy and the stores, run each scenario's warm-ups and
//! timed builds in order, and aggregate.
//!
//! Order: `cold` (each run in a fresh seeded store; the last one becomes the warm store),
//! `no-op` (rebuilds on the warm store), then one `changed:<path>` per file (each run
//! first gives the file new content, then rebuilds). Per run the bench only spawns the
//! build, waits for it and reads its metadata file after the clock stops.

use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use super::aggregate::{RunSample, group_by_stage};
use super::child::run_timed;
use super::copy::{Changer, copy_tree, resolve_change, scenario_name};
use super::metadata::BuildMetadata;
use super::pick::default_change;
use super::report::{BenchReport, Host, SCHEMA, ScenarioKind, ScenarioReport};
use super::seed::{Seed, added_images};
use super::table::ms;
use super::trace::combine;
use super::workspace::{Workspace, remove_tree};
use super::{BenchError, Interrupt};

/// What to bench.
#[derive(Debug, Clone)]
pub struct BenchPlan {
    /// The user's build context (never written).
    pub context: PathBuf,
    /// `-f` as the user gave it (relative to the working directory).
    pub dockerfile: Option<PathBuf>,
    /// Build options for every build (see `argv::build_flags`).
    pub build_flags: Vec<OsString>,
    /// `--change` paths; empty for the default choice (see `pick`).
    pub changes: Vec<PathBuf>,
    /// Timed runs per scenario (at least 1).
    pub runs: usize,
    /// Warm-up runs per scenario.
    pub warmup: usize,
    /// Keep each scenario's representative trace.
    pub trace: bool,
    /// The program run as `PROGRAM --root STORE build …` (rbuild itself, or the
    /// `RBUILD_BENCH_BUILDER` stand-in).
    pub builder: PathBuf,
    /// The user's store: base images come from it, the scratch dir lives in its `tmp/`.
    pub user_root: PathBuf,
}

/// A finished bench.
#[derive(Debug, Clone)]
pub struct BenchOutcome {
    /// The report.
    pub report: BenchReport,
    /// The combined trace, when asked for.
    pub trace: Option<Value>,
}

/// How many lines of a failed build's output the error shows.
const LOG_TAIL_LINES: usize = 25;

/// Runs the bench. `log` receives progress lines (one per run) for standard error.
pub fn run(
    plan: &BenchPlan,
    interrupt: &Interrupt,
    log: &mut dyn FnMut(&str),
) -> Result<BenchOutcome, BenchError> {
    if plan.runs == 0 {
        return Err(BenchError::Unsupported("--runs must be at least 1".into()));
    }
    if !plan.context.is_dir() {
        return Err(BenchError::ContextMissing(plan.context.clone()));
    }
    let user_ctx = fs_err::canonicalize(&plan.context)?;
    let work = Workspace::create(&plan.user_root)?;
    let copy = work.context();

    // Where the Dockerfile is: inside the context (then the copy's is used) or outside.
    let (df_for_pick, df_for_build) = match &plan.dockerfile {
        None => (PathBuf::from("Dockerfile"), None),
        Some(f) => {
            let abs = fs_err::canonicalize(f)?;
            match abs.strip_prefix(&user_ctx) {
                Ok(rel) => (rel.to_path_buf(), Some(copy.join(rel))),
                Err(_) => (abs.clone(), Some(abs)),
            }
        }
    };
    let mut changes: Vec<PathBuf> = Vec::new();
    for c in &plan.changes {
        let rel = resolve_change(&user_ctx, c)?;
        if !changes.contains(&rel) {
            changes.push(rel);
        }
    }
    if plan.changes.is_empty() {
        match default_change(&user_ctx, &df_for_pick)? {
            Some(rel) => {
                log(&format!(
                    "changed: {} is the newest file of the context (--change PATH picks another)",
                    rel.display()
                ));
                changes.push(rel);
            }
            None => log("changed: the context has no file to change; that scenario is skipped"),
        }
    }

    log(&format!("copying the context to {}", copy.display()));
    copy_tree(&user_ctx, &copy, interrupt)?;
    let seed = Seed::from_store(&plan.user_root)?;

    let mut bench = Bench {
        plan,
        interrupt,
        log,
        work: &work,
        df_for_build,
        traces: Vec::new(),
        notes: Vec::new(),
    };
    let mut scenarios = Vec::new();
    scenarios.push(bench.cold(&seed)?);
    let warm = work.store("warm");
    scenarios.push(bench.scenario(ScenarioKind::NoOp, "no-op".into(), None, &warm, None)?);
    for rel in &changes {
        let mut changer = Changer::new(&user_ctx, &copy, rel);
        let name = scenario_name(rel);
        let path = rel.to_string_lossy().into_owned();
        let s = bench.scenario(
            ScenarioKind::Changed,
            name,
            Some(path.clone()),
            &warm,
            Some(&mut changer),
        )?;
        if s.steps.iter().all(|st| st.cached()) {
            bench.notes.push(format!(
                "changing {path} made no step miss the cache: no COPY or ADD uses it, or \
                 .dockerignore excludes it; --change PATH picks another file"
            ));
        }
        scenarios.push(s);
    }

    let Bench { traces, notes, .. } = bench;
    group_by_stage(&mut scenarios);
    let report = BenchReport {
        schema: SCHEMA.to_string(),
        rbuild_version: env!("CARGO_PKG_VERSION").to_string(),
        created: jiff::Timestamp::now()
            .round(jiff::Unit::Second)
            .map_or_else(|_| jiff::Timestamp::now().to_string(), |t| t.to_string()),
        host: Host::current(),
        context: plan.context.display().to_string(),
        dockerfile: plan.dockerfile.as_ref().map(|f| f.display().to_string()),
        build_flags: plan
            .build_flags
            .iter()
            .map(|f| f.to_string_lossy().into_owned())
            .collect(),
        runs: plan.runs,
        warmup: plan.warmup,
        scenarios,
        notes,
        comparison: None,
    };
    let trace = plan.trace.then(|| combine(&traces));
    drop(work);
    interrupt.check()?;
    Ok(BenchOutcome { report, trace })
}

struct Bench<'a> {
    plan: &'a BenchPlan,
    interrupt: &'a Interrupt,
    log: &'a mut dyn FnMut(&str),
    work: &'a Workspace,
    df_for_build: Option<PathBuf>,
    traces: Vec<(String, Value)>,
    notes: Vec<String>,
}

impl Bench<'_> {
    /// Every cold run in a fresh seeded store; the last store is kept as the warm one.
    fn cold(&mut self, seed: &Seed) -> Result<ScenarioReport, BenchError> {
        let total = self.plan.warmup + self.plan.runs;
        let mut samples = Vec::new();
        let mut pulled: Vec<String> = Vec::new();
        let mut trace_files = Vec::new();
        for i in 0..total {
            self.interrupt.check()?;
            let store = self.work.store(&format!("cold-{i}"));
            seed.plant(&store)?;
            let timed = i >= self.plan.warmup;
            let trace = self.trace_path(timed, 0, i);
            let sample = self.build("cold", i, &store, trace.as_deref())?;
            for name in added_images(&store, seed.names(), sample.meta.image_digest.as_deref()) {
                if !pulled.contains(&name) {
                    pulled.push(name);
                }
            }
            if i + 1 == total {
                fs_err::rename(&store, self.work.store("warm"))?;
            } else {
                remove_tree(&store);
            }
            if timed {
                samples.push(sample);
                trace_files.push(trace);
            }
        }
        if !pulled.is_empty() {
            self.notes.push(format!(
                "the cold builds added {} to their stores: base images missing from your store \
                 are pulled (and timed) in every cold run; `rbuild pull` them first",
                pulled.join(", ")
            ));
        }
        let report = ScenarioReport::from_runs("cold".into(), ScenarioKind::Cold, None, &samples);
        self.keep_trace(&report, &trace_files);
        Ok(report)
    }

    /// Warm-ups and timed runs on the warm store, changing a file first when asked.
    fn scenario(
        &mut self,
        kind: ScenarioKind,
        name: String,
        changed_path: Option<String>,
        store: &Path,
        mut changer: Option<&mut Changer>,
    ) -> Result<ScenarioReport, BenchError> {
        let index = self.traces_index();
        let mut samples = Vec::new();
        let mut trace_files = Vec::new();
        for i in 0..self.plan.warmup + self.plan.runs {
            self.interrupt.check()?;
            if let Some(c) = changer.as_deref_mut() {
                c.change()?;
            }
            let timed = i >= self.plan.warmup;
            let trace = self.trace_path(timed, index, i);
            let sample = self.build(&name, i, store, trace.as_deref())?;
            if timed {
                samples.push(sample);
                trace_files.push(trace);
            }
        }
        let report = ScenarioReport::from_runs(name, kind, changed_path, &samples);
        self.keep_trace(&report, &trace_files);
        Ok(report)
    }

    /// The index the next scenario gets in the trace file names.
    fn traces_index(&self) -> usize {
        self.traces.len() + 1
    }

    fn trace_path(&self, timed: bool, scenario: usize, run: usize) -> Option<PathBuf> {
        (self.plan.trace && timed).then(|| {
            self.work
                .path()
                .join(format!("trace-{scenario}-{run}.json"))
        })
    }

    /// Reads the representative run's trace into the combined trace.
    fn keep_trace(&mut self, report: &ScenarioReport, files: &[Option<PathBuf>]) {
        if !self.plan.trace {
            return;
        }
        let doc = files
            .get(report.representative_run)
            .and_then(Option::as_ref)
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
        match doc {
            Some(doc) => self.traces.push((report.name.clone(), doc)),
            None => {
                self.notes.push(format!(
                    "the {} build wrote no readable --trace file; the trace lacks that scenario",
                    report.name
                ));
                self.traces.push((report.name.clone(), Value::Null));
            }
        }
        for p in files.iter().flatten() {
            let _ = std::fs::remove_file(p);
        }
    }

    /// One build: spawn, wait, read the metadata.
    fn build(
        &mut self,
        scenario: &str,
        run: usize,
        store: &Path,
        trace: Option<&Path>,
    ) -> Result<RunSample, BenchError> {
        let meta_path = self.work.path().join("metadata.json");
        let log_path = self.work.path().join("build.log");
        let _ = std::fs::remove_file(&meta_path);
        let log = File::create(&log_path)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", log_path.display())))?;
        let log2 = log
            .try_clone()
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", log_path.display())))?;
        let mut cmd = Command::new(&self.plan.builder);
        cmd.arg("--root").arg(store).arg("build");
        cmd.args(&self.plan.build_flags);
        if let Some(f) = &self.df_for_build {
            cmd.arg("--file").arg(f);
        }
        cmd.arg("--metadata-file").arg(&meta_path);
        if let Some(t) = trace {
            cmd.arg("--trace").arg(t);
        }
        cmd.arg(self.work.context());
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2));

        let child = run_timed(&mut cmd, self.interrupt)?;
        self.interrupt.check()?;
        let what = if run < self.plan.warmup {
            format!("warm-up {}/{}", run + 1, self.plan.warmup)
        } else {
            format!("run {}/{}", run - self.plan.warmup + 1, self.plan.runs)
        };
        if !child.exit.success() {
            return Err(BenchError::BuildFailed {
                scenario: format!("{scenario} ({what})"),
                status: child.exit.to_string(),
                log_tail: tail(&log_path, LOG_TAIL_LINES),
            });
        }
        let meta = BuildMetadata::read(&meta_path)?;
        (self.log)(&format!(
            "{scenario}: {what}  {}",
            ms(child.wall.as_secs_f64() * 1000.0)
        ));
        Ok(RunSample { child, meta })
    }
}

/// The last `n` lines of a file, indented for an error message.
fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(n);
    if lines.is_empty() {
        return "  (no output)".into();
    }
    lines[start..]
        .iter()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
