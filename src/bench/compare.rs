//! `--compare FILE.json`: this report beside an earlier one, as ratios (this / earlier),
//! and `--fail-slower PCT`, which turns a ratio above 1 + PCT/100 into a failure so a CI
//! job catches a performance regression.
//!
//! Scenarios match by name and steps by (stage, instruction, occurrence); whatever has no
//! counterpart gets no ratio. Ratios are of medians.

use serde::{Deserialize, Serialize};

use super::report::{BenchReport, StepReport};

/// Ratios of a report against a baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The baseline file, as given.
    pub baseline: String,
    /// When the baseline ran.
    pub baseline_created: String,
    /// Per scenario of this report.
    pub scenarios: Vec<ScenarioComparison>,
}

/// One scenario against the baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioComparison {
    /// The scenario.
    pub name: String,
    /// The baseline's median wall time, when it has this scenario.
    pub baseline_median_ms: Option<f64>,
    /// This median over the baseline's (above 1: slower).
    pub ratio: Option<f64>,
    /// Per step of this report's scenario, in its order.
    pub steps: Vec<StepComparison>,
}

/// One step against the baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepComparison {
    /// Stage label.
    pub stage: String,
    /// The instruction.
    pub instruction: String,
    /// Which identical instruction of the stage.
    #[serde(default)]
    pub occurrence: usize,
    /// The baseline's median step time.
    pub baseline_median_ms: Option<f64>,
    /// This median over the baseline's.
    pub ratio: Option<f64>,
}

/// A scenario slower than `--fail-slower` allows.
#[derive(Debug, Clone, PartialEq)]
pub struct Regression {
    /// The scenario.
    pub name: String,
    /// Its ratio to the baseline.
    pub ratio: f64,
}

impl std::fmt::Display for Regression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is {:.1}% slower ({:.3}x)",
            self.name,
            (self.ratio - 1.0) * 100.0,
            self.ratio
        )
    }
}

/// Compares `current` with `baseline` (read from `baseline_path`).
pub fn compare(current: &BenchReport, baseline: &BenchReport, baseline_path: &str) -> Comparison {
    let scenarios = current
        .scenarios
        .iter()
        .map(|s| {
            let base = baseline.scenario(&s.name);
            let baseline_median_ms = base.map(|b| b.wall_ms.median);
            let steps = s
                .steps
                .iter()
                .map(|step| {
                    let b = base.and_then(|b| b.steps.iter().find(|x| x.key() == step.key()));
                    let baseline_median_ms = b.map(|b| b.duration_ms.median);
                    StepComparison {
                        stage: step.stage.clone(),
                        instruction: step.instruction.clone(),
                        occurrence: step.occurrence,
                        baseline_median_ms,
                        ratio: baseline_median_ms.and_then(|b| ratio(step.duration_ms.median, b)),
                    }
                })
                .collect();
            ScenarioComparison {
                name: s.name.clone(),
                baseline_median_ms,
                ratio: baseline_median_ms.and_then(|b| ratio(s.wall_ms.median, b)),
                steps,
            }
        })
        .collect();
    Comparison {
        baseline: baseline_path.to_string(),
        baseline_created: baseline.created.clone(),
        scenarios,
    }
}

/// `now / before`, when both are usable numbers and `before` is positive.
fn ratio(now: f64, before: f64) -> Option<f64> {
    (now.is_finite() && before.is_finite() && before > 0.0).then(|| now / before)
}

impl Comparison {
    /// Scenarios whose median is slower than the baseline's by more than `pct` percent.
    pub fn regressions(&self, pct: f64) -> Vec<Regression> {
        let limit = 1.0 + pct / 100.0;
        self.scenarios
            .iter()
            .filter_map(|s| {
                let r = s.ratio?;
                (r > limit).then(|| Regression {
                    name: s.name.clone(),
                    ratio: r,
                })
            })
            .collect()
    }

    /// The comparison of scenario `name`.
    pub fn scenario(&self, name: &str) -> Option<&ScenarioComparison> {
        self.scenarios.iter().find(|s| s.name == name)
    }
}

impl ScenarioComparison {
    /// The ratio of `step`, when the baseline had it.
    pub fn step_ratio(&self, step: &StepReport) -> Option<f64> {
        self.steps
            .iter()
            .find(|c| (c.stage.as_str(), c.instruction.as_str(), c.occurrence) == step.key())
            .and_then(|c| c.ratio)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::aggregate::fixtures::{changed_scenario, report};

    #[test]
    fn a_report_against_itself_is_exactly_one() {
        let r = report(vec![changed_scenario()]);
        let c = compare(&r, &r, "r.json");
        assert_eq!(c.scenarios.len(), 1);
        assert_eq!(c.scenarios[0].ratio, Some(1.0));
        assert_eq!(c.scenarios[0].steps.len(), 4);
        for s in &c.scenarios[0].steps {
            assert_eq!(s.ratio, Some(1.0), "{}", s.instruction);
        }
        assert!(c.regressions(0.0).is_empty());
    }

    #[test]
    fn a_slowed_report_trips_fail_slower() {
        let base = report(vec![changed_scenario()]);
        // Edit the JSON as a person would: this run's median 30% slower.
        let mut v: serde_json::Value = serde_json::from_str(&base.to_json()).unwrap();
        v["scenarios"][0]["wall_ms"]["median"] = 26.0.into();
        v["scenarios"][0]["steps"][2]["duration_ms"]["median"] = 4.0.into();
        let slow: BenchReport = serde_json::from_value(v).unwrap();
        let c = compare(&slow, &base, "base.json");
        assert_eq!(c.scenarios[0].ratio, Some(1.3));
        assert_eq!(c.scenarios[0].steps[2].ratio, Some(2.0));
        let step = &slow.scenarios[0].steps[2];
        assert_eq!(c.scenarios[0].step_ratio(step), Some(2.0));
        assert!(c.regressions(50.0).is_empty());
        let r = c.regressions(25.0);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].to_string(), "changed:src/x is 30.0% slower (1.300x)");
        // The other way round it is faster, never a regression.
        assert!(compare(&base, &slow, "x").regressions(0.0).is_empty());
    }

    #[test]
    fn missing_counterparts_have_no_ratio() {
        let mut other = changed_scenario();
        other.name = "cold".into();
        other.steps[0].instruction = "FROM busybox".into();
        let base = report(vec![other]);
        let mut now = changed_scenario();
        now.name = "cold".into();
        let now = report(vec![now, changed_scenario()]);
        let c = compare(&now, &base, "b");
        assert_eq!(c.scenarios[0].ratio, Some(1.0));
        assert_eq!(c.scenarios[0].steps[0].ratio, None);
        assert_eq!(c.scenarios[0].steps[1].ratio, Some(1.0));
        assert_eq!(c.scenarios[1].ratio, None);
        assert_eq!(c.scenarios[1].baseline_median_ms, None);
    }
}
