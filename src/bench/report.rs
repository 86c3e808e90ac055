//! The bench report: what `--format json` prints (a versioned schema, [`SCHEMA`]) and what
//! the table shows. [`super::aggregate`] fills it from the timed runs of each scenario.
//!
//! Times are milliseconds, memory KiB, counters plain integers. Every scenario keeps its
//! raw runs, so a later tool can recompute anything; the per-scenario numbers are the
//! median, min and max over those runs (counters: the median run's value).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::summary::Summary;
use super::{BenchError, Comparison};

/// The schema of the JSON report. A change that breaks readers bumps the number; readers
/// accept any `rbuild-bench/1` report and ignore fields they do not know.
pub const SCHEMA: &str = "rbuild-bench/1";

/// A whole bench.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// The rbuild that ran it.
    pub rbuild_version: String,
    /// When it ran (RFC 3339, UTC).
    pub created: String,
    /// The machine.
    pub host: Host,
    /// The build context, as given.
    pub context: String,
    /// The Dockerfile (`-f`), when one was named.
    pub dockerfile: Option<String>,
    /// Build options passed to every build (the context, `--root`, `--metadata-file` and
    /// `--trace` excluded).
    pub build_flags: Vec<String>,
    /// Timed runs per scenario.
    pub runs: usize,
    /// Untimed warm-up runs per scenario.
    pub warmup: usize,
    /// The scenarios, in the order they ran.
    pub scenarios: Vec<ScenarioReport>,
    /// Things worth knowing about how the bench went (a change that missed no step, a
    /// base image every cold build pulled).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Ratios against a previous report (`--compare`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison: Option<Comparison>,
}

/// The machine a bench ran on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Host {
    /// `linux`.
    pub os: String,
    /// `x86_64`, `aarch64`…
    pub arch: String,
    /// Kernel release.
    pub kernel: Option<String>,
    /// CPUs available to the bench.
    pub cpus: usize,
}

impl Host {
    /// This machine.
    pub fn current() -> Host {
        Host {
            os: std::env::consts::OS.to_string(),
            arch: std::env::consts::ARCH.to_string(),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .ok()
                .map(|s| s.trim().to_string()),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// What a scenario measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScenarioKind {
    /// A first build: empty store but for the base images.
    Cold,
    /// A rebuild with nothing changed.
    NoOp,
    /// A rebuild after one file of the context changed.
    Changed,
}

/// One scenario's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioReport {
    /// `cold`, `no-op` or `changed:<path>`.
    pub name: String,
    /// What it measures.
    pub kind: ScenarioKind,
    /// The file changed before each run (`changed` scenarios), relative to the context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_path: Option<String>,
    /// Wall time of the build process, spawn to exit.
    pub wall_ms: Summary,
    /// CPU time in user mode.
    pub user_ms: Summary,
    /// CPU time in the kernel.
    pub sys_ms: Summary,
    /// Peak resident memory of the build (its own and its reaped children's).
    pub max_rss_kib: Summary,
    /// Steps answered by the cache (the median over runs).
    pub cache_hits: u64,
    /// Steps that ran (the median over runs).
    pub cache_misses: u64,
    /// The build's counters (`bytes_hashed`, `layer_bytes_written`, …), median over runs.
    pub stats: BTreeMap<String, u64>,
    /// Index into `runs` of the run closest to the median wall time (its trace is the one
    /// kept by `--trace`).
    pub representative_run: usize,
    /// Every timed run.
    pub runs: Vec<RunReport>,
    /// Per step: grouped by stage (stages in the order the first scenario started them,
    /// see [`super::aggregate::group_by_stage`]), in build order within a stage.
    pub steps: Vec<StepReport>,
}

/// One timed run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// Wall time.
    pub wall_ms: f64,
    /// User CPU time.
    pub user_ms: f64,
    /// System CPU time.
    pub sys_ms: f64,
    /// Peak resident memory.
    pub max_rss_kib: u64,
    /// Steps answered by the cache.
    pub cache_hits: u64,
    /// Steps that ran.
    pub cache_misses: u64,
    /// The image built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_digest: Option<String>,
    /// The build's counters.
    pub stats: BTreeMap<String, u64>,
}

/// One step over a scenario's runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    /// Stage label.
    pub stage: String,
    /// The instruction.
    pub instruction: String,
    /// Which of several identical instructions of the stage this is (0 for the first).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub occurrence: usize,
    /// Wall time of the step.
    pub duration_ms: Summary,
    /// Runs in which the cache answered it.
    pub hits: usize,
    /// Runs in which it ran.
    pub misses: usize,
    /// Why it missed (the representative run's reason, else the first run's that has one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub miss_reason: Option<String>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl StepReport {
    /// True when the cache answered it in every run.
    pub fn cached(&self) -> bool {
        self.misses == 0
    }

    /// The key that matches this step across runs and reports.
    pub fn key(&self) -> (&str, &str, usize) {
        (&self.stage, &self.instruction, self.occurrence)
    }
}

impl BenchReport {
    /// The scenario called `name`.
    pub fn scenario(&self, name: &str) -> Option<&ScenarioReport> {
        self.scenarios.iter().find(|s| s.name == name)
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Reads a report written by `--format json`, refusing other schemas.
    pub fn load(path: &Path) -> Result<BenchReport, BenchError> {
        let bad = |why: String| BenchError::Baseline {
            path: path.to_path_buf(),
            why,
        };
        let bytes = fs_err::read(path)?;
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| bad(format!("not JSON: {e}")))?;
        match value.get("schema").and_then(|s| s.as_str()) {
            Some(SCHEMA) => {}
            Some(other) => {
                return Err(bad(format!(
                    "its schema is {other:?}; this rbuild reads {SCHEMA:?}"
                )));
            }
            None => {
                return Err(bad(
                    "it has no \"schema\" field: is it an `rbuild bench --format json` report?"
                        .into(),
                ));
            }
        }
        serde_json::from_value(value).map_err(|e| bad(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::aggregate::fixtures::{changed_scenario, report};

    #[test]
    fn json_round_trips_and_carries_the_schema() {
        let r = report(vec![changed_scenario()]);
        let json = r.to_json();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["schema"], "rbuild-bench/1");
        assert_eq!(v["scenarios"][0]["kind"], "changed");
        assert_eq!(v["scenarios"][0]["wall_ms"]["median"], 20.0);
        assert_eq!(
            v["scenarios"][0]["steps"][2]["miss_reason"],
            "file src/x changed"
        );
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.json");
        std::fs::write(&p, &json).unwrap();
        assert_eq!(BenchReport::load(&p).unwrap(), r);
    }

    #[test]
    fn load_refuses_other_documents() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.json");
        std::fs::write(&p, r#"{"schema": "rbuild-bench/2"}"#).unwrap();
        let e = BenchReport::load(&p).unwrap_err().to_string();
        assert!(e.contains("rbuild-bench/2") && e.contains("r.json"), "{e}");
        std::fs::write(&p, r#"{"traceEvents": []}"#).unwrap();
        let e = BenchReport::load(&p).unwrap_err().to_string();
        assert!(e.contains("no \"schema\""), "{e}");
        std::fs::write(&p, "not json").unwrap();
        assert!(BenchReport::load(&p).is_err());
    }
}
