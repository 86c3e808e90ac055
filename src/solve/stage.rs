//! One stage: its base, then each step in order, with the cache-hit / miss flow that
//! every layer-making step shares.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use rayon::prelude::*;

use super::error::{SolveError, SolveErrorKind};
use super::history::{HISTORY_COMMENT, created_by};
use super::key::{KeyInputs, base_key};
use super::scheduler::StageResults;
use super::{Solver, copy, explain, run, workdir};
use crate::digest::Digest;
use crate::image::{History, Platform};
use crate::layer::{LayerInfo, Snapshots, open_layer};
use crate::plan::{Base, BuildGraph, Instruction, Stage, Step};
use crate::progress::{Event, Phase, StepId, StepInfo};
use crate::store::{CacheRecord, LayerRecord};

/// What a stage has built so far.
#[derive(Debug, Clone)]
pub(crate) struct StageState {
    /// Key of the last layer-making step (or of the base).
    pub key: Digest,
    /// Layers, base first.
    pub layers: Vec<LayerRecord>,
    /// History, base image's entries first.
    pub history: Vec<History>,
    /// When the last layer was made (config-only steps reuse it, so a cached rebuild
    /// gives the same config).
    pub last_created: Option<String>,
    /// The platform the stage builds for.
    pub platform: Platform,
}

impl StageState {
    fn scratch(platform: &Platform) -> StageState {
        StageState {
            key: base_key("scratch", "", &platform.to_spec()),
            layers: Vec::new(),
            history: Vec::new(),
            last_created: None,
            platform: platform.clone(),
        }
    }

    /// The snapshot dirs of every layer, top first (a delta snapshot contributes its
    /// whole chain), unpacking the missing ones in parallel.
    pub(crate) fn lowers(&self, s: &Solver<'_>) -> Result<Vec<PathBuf>, SolveError> {
        let snaps = Snapshots::new(s.store);
        let unpack_err = |l: &LayerRecord, e: &dyn std::fmt::Display| {
            SolveError::store(format!("unpacking layer {}: {e}", l.descriptor.digest))
        };
        self.layers.par_iter().try_for_each(|l| {
            if snaps.chain(&l.diff_id).is_some() {
                return Ok(());
            }
            if snaps.contains(&l.diff_id) {
                // A delta whose base is gone: re-made whole from the blob.
                snaps.discard(&l.diff_id).map_err(|e| unpack_err(l, &e))?;
            }
            snaps
                .ensure(&l.diff_id, || {
                    // Shared cache: a layer a --cache-from hit did not download is
                    // fetched here, when its bytes are first needed.
                    if let Some(c) = s.cache {
                        c.fetch(&l.descriptor)?;
                    }
                    open_layer(s.store, &l.descriptor)
                        .map_err(Box::<dyn std::error::Error + Send + Sync>::from)
                })
                .map(drop)
                .map_err(|e| unpack_err(l, &e))
        })?;
        let mut dirs = Vec::new();
        for l in self.layers.iter().rev() {
            let chain = snaps
                .chain(&l.diff_id)
                .ok_or_else(|| unpack_err(l, &"its snapshot vanished (a concurrent prune?)"))?;
            dirs.extend(chain);
        }
        Ok(dirs)
    }
}

/// Everything a step needs to know about where it runs.
pub(crate) struct StepCtx<'a, 's> {
    pub s: &'a Solver<'s>,
    pub results: &'a StageResults,
    pub stage: &'a Stage,
    pub step: &'a Step,
    pub index: usize,
    pub id: StepId,
}

impl StepCtx<'_, '_> {
    /// Emits a phase start; the returned guard emits its end.
    pub fn phase(&self, phase: Phase) -> PhaseGuard<'_> {
        self.s.sink.emit(&Event::PhaseStart { id: self.id, phase });
        PhaseGuard {
            ctx: self.s,
            id: self.id,
            phase,
        }
    }

    /// The final state of another stage (waiting for it).
    pub fn stage_state(&self, i: usize) -> Result<Arc<StageState>, SolveError> {
        self.results
            .wait(i)
            .ok_or_else(|| SolveError::new(SolveErrorKind::DependencyFailed))
    }
}

/// Ends a phase when dropped.
pub(crate) struct PhaseGuard<'a> {
    ctx: &'a Solver<'a>,
    id: StepId,
    phase: Phase,
}

impl Drop for PhaseGuard<'_> {
    fn drop(&mut self) {
        self.ctx.sink.emit(&Event::PhaseEnd {
            id: self.id,
            phase: self.phase,
        });
    }
}

/// A freshly made layer (and, for RUN, its snapshot when the upper dir was kept).
pub(crate) struct Produced {
    pub layer: LayerInfo,
}

fn stage_label(stage: &Stage) -> String {
    stage
        .name
        .clone()
        .unwrap_or_else(|| format!("stage-{}", stage.index))
}

/// Runs one stage to its final state.
pub(crate) fn run_stage(
    stage: &Stage,
    graph: &BuildGraph,
    results: &StageResults,
    s: &Solver<'_>,
) -> Result<StageState, SolveError> {
    let label = stage_label(stage);
    let total = stage.steps.len() + 1;
    let show_stage = graph.stages.len() > 1;
    let id = s.next_id();
    let from_text = match &stage.base {
        Base::Scratch => "FROM scratch".to_string(),
        Base::Image(r) => format!("FROM {r}"),
        Base::Stage(i) => format!("FROM {}", stage_label(&graph.stages[*i])),
    };
    s.sink.emit(&Event::StepStart(StepInfo {
        id,
        stage: label.clone(),
        index: 1,
        total,
        text: from_text,
        show_stage,
    }));
    let started = Instant::now();
    let base = match &stage.base {
        Base::Scratch => Ok(StageState::scratch(&stage.platform)),
        Base::Image(r) => s
            .images
            .get(r, &stage.platform)
            .map(|img| {
                let image = &img.image;
                let layers = image
                    .manifest
                    .layers
                    .iter()
                    .zip(image.config.rootfs.diff_ids.iter())
                    .map(|(d, diff_id)| LayerRecord {
                        descriptor: d.clone(),
                        diff_id: *diff_id,
                    })
                    .collect();
                StageState {
                    key: base_key(
                        "image",
                        &image.descriptor.digest.to_string(),
                        &stage.platform.to_spec(),
                    ),
                    layers,
                    history: image.config.history.clone(),
                    last_created: image.config.created.clone(),
                    platform: stage.platform.clone(),
                }
            })
            .map_err(|message| {
                SolveError::new(SolveErrorKind::Base {
                    reference: r.clone(),
                    message,
                })
            }),
        Base::Stage(i) => results
            .wait(*i)
            .map(|st| (*st).clone())
            .ok_or_else(|| SolveError::new(SolveErrorKind::DependencyFailed)),
    };
    let mut all_cached = true;
    let mut state = match base {
        Ok(st) => st,
        Err(e) => {
            s.sink.emit(&Event::StepError {
                id,
                message: e.to_string(),
            });
            return Err(e.at(stage.location, &format!("FROM {:?}", stage.base)));
        }
    };
    // The base counts as cached unless it had to be pulled.
    let from_cached = !matches!(&stage.base, Base::Image(r) if s.images.was_pulled(r));
    if from_cached {
        s.sink.emit(&Event::StepCached { id });
    }
    s.sink.emit(&Event::StepDone {
        id,
        cached: from_cached,
        elapsed: started.elapsed(),
    });

    for (index, step) in stage.steps.iter().enumerate() {
        if s.cancelled() {
            return Err(SolveError::new(SolveErrorKind::Interrupted));
        }
        let id = s.next_id();
        s.sink.emit(&Event::StepStart(StepInfo {
            id,
            stage: label.clone(),
            index: index + 2,
            total,
            text: step.text.clone(),
            show_stage,
        }));
        let started = Instant::now();
        let ctx = StepCtx {
            s,
            results,
            stage,
            step,
            index,
            id,
        };
        match run_step(&ctx, &mut state, all_cached) {
            Ok(cached) => {
                all_cached &= cached;
                if cached {
                    s.stats.steps_cached.fetch_add(1, Relaxed);
                } else {
                    s.stats.steps_run.fetch_add(1, Relaxed);
                }
                s.sink.emit(&Event::StepDone {
                    id,
                    cached,
                    elapsed: started.elapsed(),
                });
            }
            Err(e) => {
                s.sink.emit(&Event::StepError {
                    id,
                    message: e.to_string(),
                });
                return Err(e.at(step.location, &step.text));
            }
        }
    }
    Ok(state)
}

/// Runs one step; true when the cache answered. A config-only step counts as cached
/// when everything before it in the stage was.
fn run_step(
    ctx: &StepCtx<'_, '_>,
    state: &mut StageState,
    chain_cached: bool,
) -> Result<bool, SolveError> {
    match &ctx.step.instruction {
        Instruction::Run(r) => run::run_step(ctx, state, r),
        Instruction::Copy(c) => copy::copy_step(ctx, state, c),
        Instruction::Workdir(dir) if dir != "/" => workdir::workdir_step(ctx, state, dir),
        _ => {
            // Config-only: the planner already applied it to the config.
            if let Some((text, _)) = created_by(ctx.step, None) {
                let created = state.last_created.clone().or_else(|| Some(ctx.s.now()));
                state.history.push(History {
                    created,
                    created_by: Some(text),
                    author: None,
                    comment: Some(HISTORY_COMMENT.to_string()),
                    empty_layer: true,
                });
            }
            if chain_cached {
                ctx.s.sink.emit(&Event::StepCached { id: ctx.id });
            }
            Ok(chain_cached)
        }
    }
}

/// The shared flow of a layer-making step: key, cache lookup, and on a miss `on_miss`,
/// the explanation, `produce` the layer and store a record. `history_text` is the step's
/// `created_by`.
pub(crate) fn layer_step(
    ctx: &StepCtx<'_, '_>,
    state: &mut StageState,
    inputs: &KeyInputs,
    history_text: String,
    on_miss: impl FnOnce(),
    produce: impl FnOnce(&mut StageState) -> Result<Produced, SolveError>,
) -> Result<bool, SolveError> {
    let s = ctx.s;
    // Layers written under SOURCE_DATE_EPOCH differ (clamped mtimes): keep them apart.
    let mut inputs = inputs.clone();
    if let Some(sde) = s.opts.source_date_epoch {
        inputs.add("source-date-epoch", sde.to_string());
    }
    let inputs = &inputs;
    let key = inputs.key(&state.key);
    let position = explain::position(&s.dockerfile_id, ctx.stage, ctx.index);
    if !s.opts.no_cache {
        if let Some(rec) = cached_record(s, &key)? {
            s.sink.emit(&Event::StepCached { id: ctx.id });
            explain::remember(s.store, &position, &key);
            apply(state, key, &rec, history_text, s);
            if let Some(c) = s.cache {
                c.note(ctx.stage.id, &rec, &state.layers);
            }
            return Ok(true);
        }
    }
    // On a miss only: e.g. record the selection's file listing, so the explanation can
    // name the file that changed.
    on_miss();
    if let Some(reason) = explain::why_missed(s.store, &position, inputs) {
        s.sink.emit(&Event::StepMiss { id: ctx.id, reason });
    }
    let produced = produce(state)?;
    s.stats.layers_written.fetch_add(1, Relaxed);
    s.stats
        .layer_bytes_written
        .fetch_add(produced.layer.descriptor.size, Relaxed);
    let rec = CacheRecord {
        key,
        layer: Some(produced.layer.record()),
        created: s.now(),
        inputs: inputs.entries().clone(),
    };
    s.store.put_cache_record(&rec).map_err(SolveError::store)?;
    explain::remember(s.store, &position, &key);
    apply(state, key, &rec, history_text, s);
    if let Some(c) = s.cache {
        c.note(ctx.stage.id, &rec, &state.layers);
    }
    Ok(false)
}

/// The record that answers `key`: the local one when its layer's bytes are here (or can
/// be fetched from the shared cache it came from), else one `--cache-from` imported. A
/// local record whose layer can no longer be had is removed, so the step's run stores
/// a new one.
fn cached_record(s: &Solver<'_>, key: &Digest) -> Result<Option<CacheRecord>, SolveError> {
    if let Some(rec) = s.store.get_cache_record(key).map_err(SolveError::store)? {
        let present = rec.layer.as_ref().is_none_or(|l| {
            s.store.has_blob(&l.descriptor.digest) || s.cache.is_some_and(|c| c.has_layer(l))
        });
        if present {
            return Ok(Some(rec));
        }
        s.store
            .remove_cache_record(key)
            .map_err(SolveError::store)?;
    }
    match s.cache {
        Some(c) => c.lookup(key).map_err(SolveError::store),
        None => Ok(None),
    }
}

fn apply(
    state: &mut StageState,
    key: Digest,
    rec: &CacheRecord,
    history_text: String,
    s: &Solver<'_>,
) {
    state.key = key;
    if let Some(l) = &rec.layer {
        state.layers.push(l.clone());
    }
    let created = match s.opts.source_date_epoch {
        Some(sde) => super::rfc3339(sde, 0),
        None => rec.created.clone(),
    };
    state.history.push(History {
        created: Some(created.clone()),
        created_by: Some(history_text),
        author: None,
        comment: Some(HISTORY_COMMENT.to_string()),
        empty_layer: rec.layer.is_none(),
    });
    state.last_created = Some(created);
}
