//! Keeps what happened to every step (times, cache hits, phases, miss reasons) for
//! `--metadata-file`, `--trace` and `rbuild bench`.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;

use super::{Clock, Event, Phase, Sink, StepId, StepInfo};

/// A phase of a step, in microseconds on the build clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PhaseSpan {
    /// Which phase.
    pub phase: Phase,
    /// Start, µs since the build started.
    pub start_us: u64,
    /// End, µs since the build started.
    pub end_us: u64,
}

/// Everything recorded about one step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepRecord {
    /// The step.
    pub info: StepInfo,
    /// Start, µs since the build started.
    pub start_us: u64,
    /// End, µs since the build started (0 while running).
    pub end_us: u64,
    /// From the cache.
    pub cached: bool,
    /// Failed.
    pub failed: bool,
    /// Why it missed the cache.
    pub miss_reason: Option<String>,
    /// Costly phases inside it.
    pub phases: Vec<PhaseSpan>,
}

impl StepRecord {
    /// Wall time in milliseconds.
    pub fn duration_ms(&self) -> f64 {
        self.end_us.saturating_sub(self.start_us) as f64 / 1000.0
    }
}

/// A sink that records steps.
pub struct Recorder {
    clock: Clock,
    steps: Mutex<BTreeMap<StepId, StepRecord>>,
    open_phases: Mutex<BTreeMap<(StepId, Phase), u64>>,
}

impl Recorder {
    /// A recorder on `clock`.
    pub fn new(clock: Clock) -> Recorder {
        Recorder {
            clock,
            steps: Mutex::new(BTreeMap::new()),
            open_phases: Mutex::new(BTreeMap::new()),
        }
    }

    /// The clock it stamps with.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// The steps so far, in id order.
    pub fn steps(&self) -> Vec<StepRecord> {
        self.steps
            .lock()
            .map(|s| s.values().cloned().collect())
            .unwrap_or_default()
    }
}

impl Sink for Recorder {
    fn emit(&self, event: &Event) {
        let now = self.clock.micros();
        let Ok(mut steps) = self.steps.lock() else {
            return;
        };
        match event {
            Event::StepStart(info) => {
                steps.insert(
                    info.id,
                    StepRecord {
                        info: info.clone(),
                        start_us: now,
                        end_us: 0,
                        cached: false,
                        failed: false,
                        miss_reason: None,
                        phases: Vec::new(),
                    },
                );
            }
            Event::StepCached { id } => {
                if let Some(s) = steps.get_mut(id) {
                    s.cached = true;
                }
            }
            Event::StepMiss { id, reason } => {
                if let Some(s) = steps.get_mut(id) {
                    s.miss_reason = Some(reason.clone());
                }
            }
            Event::PhaseStart { id, phase } => {
                if let Ok(mut open) = self.open_phases.lock() {
                    open.insert((*id, *phase), now);
                }
            }
            Event::PhaseEnd { id, phase } => {
                let start = self
                    .open_phases
                    .lock()
                    .ok()
                    .and_then(|mut o| o.remove(&(*id, *phase)));
                if let (Some(start_us), Some(s)) = (start, steps.get_mut(id)) {
                    s.phases.push(PhaseSpan {
                        phase: *phase,
                        start_us,
                        end_us: now,
                    });
                }
            }
            Event::StepDone { id, cached, .. } => {
                if let Some(s) = steps.get_mut(id) {
                    s.end_us = now;
                    s.cached |= *cached;
                }
            }
            Event::StepError { id, .. } => {
                if let Some(s) = steps.get_mut(id) {
                    s.end_us = now;
                    s.failed = true;
                }
            }
            Event::StepOutput { .. }
            | Event::StepNote { .. }
            | Event::Transfer { .. }
            | Event::Warning { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn records_steps_and_phases() {
        let r = Recorder::new(Clock::start());
        let info = StepInfo {
            id: 1,
            stage: "s".into(),
            index: 1,
            total: 1,
            text: "RUN x".into(),
            show_stage: false,
        };
        r.emit(&Event::StepStart(info));
        r.emit(&Event::PhaseStart {
            id: 1,
            phase: Phase::Command,
        });
        r.emit(&Event::PhaseEnd {
            id: 1,
            phase: Phase::Command,
        });
        r.emit(&Event::StepMiss {
            id: 1,
            reason: "file a changed".into(),
        });
        r.emit(&Event::StepDone {
            id: 1,
            cached: false,
            elapsed: Duration::ZERO,
        });
        let steps = r.steps();
        assert_eq!(steps.len(), 1);
        assert!(!steps[0].cached);
        assert_eq!(steps[0].phases.len(), 1);
        assert_eq!(steps[0].phases[0].phase, Phase::Command);
        assert_eq!(steps[0].miss_reason.as_deref(), Some("file a changed"));
        assert!(steps[0].end_us >= steps[0].start_us);
    }
}
