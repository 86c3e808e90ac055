//! From timed runs to a scenario's report: medians, min and max over the runs, steps
//! matched across runs, and one stable step order for all scenarios.

use std::collections::BTreeMap;

use super::child::ChildRun;
use super::metadata::BuildMetadata;
use super::report::{RunReport, ScenarioKind, ScenarioReport, StepReport};
use super::summary::{Summary, median_index, median_u64};

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

/// Runs and reports for the unit tests of the report, table and comparison.
#[cfg(test)]
pub(crate) mod fixtures {
    use std::time::Duration;

    use super::*;
    use crate::bench::child::Exit;
    use crate::bench::metadata::StepMeta;
    use crate::bench::report::{BenchReport, Host, SCHEMA};

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
}

#[cfg(test)]
mod tests {
    use super::fixtures::{changed_scenario, sample};
    use super::*;

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
}
