//! Runs the stages of a graph: each on its own thread, started at once and waiting for
//! the stages it needs, so independent stages build in parallel and a stage starts the
//! moment its inputs are ready. The target stage's state becomes the image.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};

use super::error::{SolveError, SolveErrorKind};
use super::stage::{StageState, run_stage};
use super::{BuildOutput, Solver};
use crate::image::Descriptor;
use crate::plan::BuildGraph;

/// Results of the stages so far: `None` while running, `Some(None)` when failed.
pub(crate) struct StageResults {
    slots: Mutex<Vec<Option<Option<Arc<StageState>>>>>,
    ready: Condvar,
}

impl StageResults {
    fn new(n: usize) -> StageResults {
        StageResults {
            slots: Mutex::new(vec![None; n]),
            ready: Condvar::new(),
        }
    }

    fn set(&self, i: usize, r: Option<Arc<StageState>>) {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots[i] = Some(r);
        self.ready.notify_all();
    }

    /// Waits for stage `i`; `None` if it failed.
    pub(crate) fn wait(&self, i: usize) -> Option<Arc<StageState>> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(r) = &slots[i] {
                return r.clone();
            }
            slots = self.ready.wait(slots).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// Builds `graph` and writes the target stage's image to the store (untagged).
pub fn solve(graph: &BuildGraph, s: &Solver<'_>) -> Result<BuildOutput, SolveError> {
    let results = StageResults::new(graph.stages.len());
    let errors: Mutex<Vec<SolveError>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for stage in &graph.stages {
            let results = &results;
            let errors = &errors;
            scope.spawn(move || {
                let outcome = run_stage(stage, graph, results, s);
                match outcome {
                    Ok(state) => results.set(stage.id, Some(Arc::new(state))),
                    Err(e) => {
                        // Stop the other stages: their work is wasted now.
                        if !matches!(*e.kind, SolveErrorKind::DependencyFailed) {
                            s.opts.cancel.store(true, Ordering::Relaxed);
                        }
                        errors.lock().unwrap_or_else(|p| p.into_inner()).push(e);
                        results.set(stage.id, None);
                    }
                }
            });
        }
    });
    let mut errors = errors.into_inner().unwrap_or_else(|p| p.into_inner());
    if !errors.is_empty() {
        // The first real failure explains the others (interruptions and dependents).
        let pos = errors
            .iter()
            .position(|e| {
                !matches!(
                    *e.kind,
                    SolveErrorKind::DependencyFailed | SolveErrorKind::Interrupted
                )
            })
            .unwrap_or(0);
        return Err(errors.swap_remove(pos));
    }
    let state = results
        .wait(graph.target)
        .ok_or_else(|| SolveError::new(SolveErrorKind::DependencyFailed))?;
    let target = &graph.stages[graph.target];
    write_image(&state, target, s)
}

fn write_image(
    state: &StageState,
    stage: &crate::plan::Stage,
    s: &Solver<'_>,
) -> Result<BuildOutput, SolveError> {
    let mut config = stage.final_config.clone();
    config.rootfs.diff_ids = state.layers.iter().map(|l| l.diff_id).collect();
    config.history = state.history.clone();
    config.created = match s.opts.source_date_epoch {
        Some(sde) => Some(super::rfc3339(sde, 0)),
        None => state
            .history
            .iter()
            .rev()
            .find_map(|h| h.created.clone())
            .or_else(|| Some(s.now())),
    };
    if !s.opts.labels.is_empty() {
        let labels = config.config.labels.get_or_insert_with(Default::default);
        for (k, v) in &s.opts.labels {
            labels.insert(k.clone(), v.clone());
        }
    }
    let layers: Vec<Descriptor> = state.layers.iter().map(|l| l.descriptor.clone()).collect();
    let manifest = s
        .store
        .write_image(&config, &layers)
        .map_err(SolveError::store)?;
    let config_bytes = config.to_bytes();
    let config_descriptor = Descriptor::new(
        crate::image::media::OCI_CONFIG,
        crate::digest::Digest::of(&config_bytes),
        config_bytes.len() as u64,
    );
    Ok(BuildOutput {
        manifest,
        config_descriptor,
        config,
        layers,
    })
}
