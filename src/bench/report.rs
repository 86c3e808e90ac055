//! The bench report: what `--format json` prints (a versioned schema, [`SCHEMA`]) and what
//! the table shows, aggregated from the timed runs of each scenario.
//!
//! Times are milliseconds, memory KiB, counters plain integers. Every scenario keeps its
//! raw runs, so a later tool can recompute anything; the per-scenario numbers are the
//! median, min and max over those runs (counters: the median run's value).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::child::ChildRun;
use super::metadata::BuildMetadata;
use super::summary::{Summary, median_index, median_u64};
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
    /// see [`group_by_stage`]), in build order within a stage.
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

/// One timed run's measurements and metadata.
#[derive(Debug, Clone)]
pub struct RunSample {
    /// What the process cost.
    pub child: ChildRun,
    /// What the build said.
    pub meta: BuildMetadata,
}

impl ScenarioReport {
    /// Aggregates the timed runs of a scenario (at least one).
    pub fn from_runs(
        name: String,
        kind: ScenarioKind,
        changed_path: Option<String>,
        samples: &[RunSample],
    ) -> ScenarioReport {
        let ms = |f: &dyn Fn(&RunSample) -> f64| -> Summary {
            Summary::of(&samples.iter().map(f).collect::<Vec<_>>()).unwrap_or_default()
        };
        let walls: Vec<f64> = samples.iter().map(|s| millis(s.child.wall)).collect();
        let representative_run = median_index(&walls).unwrap_or(0);
        let counter = |f: &dyn Fn(&RunSample) -> u64| -> u64 {
            median_u64(&samples.iter().map(f).collect::<Vec<_>>())
        };
        let mut stat_names: Vec<&String> =
            samples.iter().flat_map(|s| s.meta.stats.keys()).collect();
        stat_names.sort();
        stat_names.dedup();
        let stats = stat_names
            .into_iter()
            .map(|k| {
                (
                    k.clone(),
                    counter(&|s| s.meta.stats.get(k).copied().unwrap_or(0)),
                )
            })
            .collect();
        ScenarioReport {
            name,
            kind,
            changed_path,
            wall_ms: Summary::of(&walls).unwrap_or_default(),
            user_ms: ms(&|s| millis(s.child.user)),
            sys_ms: ms(&|s| millis(s.child.sys)),
            max_rss_kib: ms(&|s| s.child.max_rss_kib as f64),
            cache_hits: counter(&|s| s.meta.hits()),
            cache_misses: counter(&|s| s.meta.misses()),
            stats,
            representative_run,
            runs: samples.iter().map(run_report).collect(),
            steps: steps(samples, representative_run),
        }
    }
}

fn millis(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn run_report(s: &RunSample) -> RunReport {
    RunReport {
        wall_ms: millis(s.child.wall),
        user_ms: millis(s.child.user),
        sys_ms: millis(s.child.sys),
        max_rss_kib: s.child.max_rss_kib,
        cache_hits: s.meta.hits(),
        cache_misses: s.meta.misses(),
        image_digest: s.meta.image_digest.clone(),
        stats: s.meta.stats.clone(),
    }
}

/// Steps matched across runs by (stage, instruction, occurrence), in order of first
/// appearance.
fn steps(samples: &[RunSample], representative: usize) -> Vec<StepReport> {
    type Key = (String, String, usize);
    struct Acc {
        durations: Vec<f64>,
        hits: usize,
        misses: usize,
        reasons: Vec<(usize, String)>,
    }
    let mut order: Vec<Key> = Vec::new();
    let mut acc: BTreeMap<Key, Acc> = BTreeMap::new();
    for (run, s) in samples.iter().enumerate() {
        let mut seen: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for step in &s.meta.steps {
            let n = seen.entry((&step.stage, &step.instruction)).or_insert(0);
            let key = (step.stage.clone(), step.instruction.clone(), *n);
            *n += 1;
            let a = acc.entry(key.clone()).or_insert_with(|| {
                order.push(key);
                Acc {
                    durations: Vec::new(),
                    hits: 0,
                    misses: 0,
                    reasons: Vec::new(),
                }
            });
            a.durations.push(step.duration_ms);
            if step.cached {
                a.hits += 1;
            } else {
                a.misses += 1;
            }
            if let Some(r) = &step.miss_reason {
                a.reasons.push((run, r.clone()));
            }
        }
    }
    order
        .into_iter()
        .filter_map(|key| {
            let a = acc.remove(&key)?;
            let miss_reason = a
                .reasons
                .iter()
                .find(|(run, _)| *run == representative)
                .or(a.reasons.first())
                .map(|(_, r)| r.clone());
            Some(StepReport {
                stage: key.0,
                instruction: key.1,
                occurrence: key.2,
                duration_ms: Summary::of(&a.durations).unwrap_or_default(),
                hits: a.hits,
                misses: a.misses,
                miss_reason,
            })
        })
        .collect()
}

/// Puts every scenario's steps in one stable order: stages run in parallel, so the order
/// in which a build records them varies from run to run. Steps are grouped by stage, the
/// stages ranked by their first appearance in `scenarios` (the cold build, which starts a
/// stage only once the stages it needs are done), and keep their build order within a stage.
pub fn group_by_stage(scenarios: &mut [ScenarioReport]) {
    let mut rank: Vec<String> = Vec::new();
    for st in scenarios.iter().flat_map(|s| &s.steps) {
        if !rank.contains(&st.stage) {
            rank.push(st.stage.clone());
        }
    }
    for s in scenarios {
        s.steps
            .sort_by_key(|st| rank.iter().position(|r| *r == st.stage));
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
pub(crate) mod tests {
    use std::time::Duration;

    use super::*;
    use crate::bench::child::Exit;
    use crate::bench::metadata::StepMeta;

    pub(crate) fn sample(
        wall_ms: u64,
        steps: &[(&str, &str, bool, f64, Option<&str>)],
    ) -> RunSample {
        RunSample {
            child: ChildRun {
                wall: Duration::from_millis(wall_ms),
                user: Duration::from_millis(wall_ms / 2),
                sys: Duration::from_millis(1),
                max_rss_kib: 1000 + wall_ms,
                exit: Exit::Code(0),
            },
            meta: BuildMetadata {
                image_digest: Some("sha256:ab".into()),
                steps: steps
                    .iter()
                    .map(|(stage, ins, cached, ms, why)| StepMeta {
                        stage: stage.to_string(),
                        instruction: ins.to_string(),
                        cached: *cached,
                        duration_ms: *ms,
                        miss_reason: why.map(str::to_string),
                    })
                    .collect(),
                stats: BTreeMap::from([
                    ("bytes_hashed".to_string(), wall_ms * 10),
                    ("layer_bytes_written".to_string(), 4096),
                ]),
            },
        }
    }

    pub(crate) fn report(scenarios: Vec<ScenarioReport>) -> BenchReport {
        BenchReport {
            schema: SCHEMA.into(),
            rbuild_version: "0.1.0".into(),
            created: "2025-01-01T00:00:00Z".into(),
            host: Host {
                os: "linux".into(),
                arch: "x86_64".into(),
                kernel: Some("6.1".into()),
                cpus: 2,
            },
            context: "ctx".into(),
            dockerfile: None,
            build_flags: vec!["--progress=plain".into()],
            runs: 3,
            warmup: 1,
            scenarios,
            notes: Vec::new(),
            comparison: None,
        }
    }

    pub(crate) fn changed_scenario() -> ScenarioReport {
        let steps = |copy_ms| {
            vec![
                ("stage-0", "FROM scratch", true, 0.1, None),
                ("stage-0", "COPY a /a", true, 0.2, None),
                (
                    "stage-0",
                    "COPY src/ /src/",
                    false,
                    copy_ms,
                    Some("file src/x changed"),
                ),
                (
                    "stage-0",
                    "COPY src/ /src/",
                    false,
                    copy_ms,
                    Some("parent step changed"),
                ),
            ]
        };
        ScenarioReport::from_runs(
            "changed:src/x".into(),
            ScenarioKind::Changed,
            Some("src/x".into()),
            &[
                sample(30, &steps(3.0)),
                sample(10, &steps(1.0)),
                sample(20, &steps(2.0)),
            ],
        )
    }

    #[test]
    fn aggregates_runs() {
        let s = changed_scenario();
        assert_eq!(
            s.wall_ms,
            Summary {
                median: 20.0,
                min: 10.0,
                max: 30.0
            }
        );
        assert_eq!(s.representative_run, 2);
        assert_eq!(s.max_rss_kib.median, 1020.0);
        assert_eq!((s.cache_hits, s.cache_misses), (2, 2));
        assert_eq!(s.stats["bytes_hashed"], 200);
        assert_eq!(s.runs.len(), 3);
        assert_eq!(s.steps.len(), 4);
        let copy = &s.steps[2];
        assert_eq!(copy.key(), ("stage-0", "COPY src/ /src/", 0));
        assert_eq!(copy.duration_ms.median, 2.0);
        assert!(!copy.cached());
        assert_eq!(copy.miss_reason.as_deref(), Some("file src/x changed"));
        assert_eq!(s.steps[3].occurrence, 1);
        assert_eq!(
            s.steps[3].miss_reason.as_deref(),
            Some("parent step changed")
        );
        assert!(s.steps[1].cached());
        assert_eq!(s.steps[1].hits, 3);
    }

    #[test]
    fn steps_are_grouped_by_stage_in_a_stable_order() {
        let cold = ScenarioReport::from_runs(
            "cold".into(),
            ScenarioKind::Cold,
            None,
            &[sample(
                10,
                &[
                    ("assets", "FROM scratch", false, 0.1, None),
                    ("assets", "COPY a /a", false, 0.1, None),
                    ("app", "FROM scratch", false, 0.1, None),
                    ("app", "COPY --from=assets /a /a", false, 0.1, None),
                ],
            )],
        );
        let noop = ScenarioReport::from_runs(
            "no-op".into(),
            ScenarioKind::NoOp,
            None,
            &[sample(
                10,
                &[
                    ("app", "FROM scratch", true, 0.1, None),
                    ("assets", "FROM scratch", true, 0.1, None),
                    ("app", "COPY --from=assets /a /a", true, 0.1, None),
                    ("assets", "COPY a /a", true, 0.1, None),
                ],
            )],
        );
        let mut all = vec![cold, noop];
        group_by_stage(&mut all);
        let order = |s: &ScenarioReport| {
            s.steps
                .iter()
                .map(|st| format!("{} {}", st.stage, st.instruction))
                .collect::<Vec<_>>()
        };
        let want = [
            "assets FROM scratch",
            "assets COPY a /a",
            "app FROM scratch",
            "app COPY --from=assets /a /a",
        ];
        assert_eq!(order(&all[0]), want);
        assert_eq!(order(&all[1]), want);
    }

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
