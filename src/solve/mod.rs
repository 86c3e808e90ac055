//! The solver: runs a [`BuildGraph`] against the store, reusing cached steps.
//!
//! Stages run on their own threads as soon as the stages they need are done; steps of a
//! stage run in order. A step that makes a layer (RUN, COPY/ADD, WORKDIR) has a cache
//! key: `sha256(parent key ‖ named inputs)` ([`key`]). On a hit its stored record
//! supplies the layer and the history time, and nothing is read, tarred or unpacked;
//! on a miss it runs, its layer is written in one streaming pass, and a record is
//! stored. Config-only steps change the image config (computed by the planner) and the
//! history, never the key chain, as in BuildKit.

pub mod base;
mod copy;
mod copy_url;
mod delta;
mod error;
mod explain;
pub mod history;
pub mod key;
mod run;
mod scheduler;
mod stage;
mod tree;
mod usermap;
mod workdir;

pub use base::{ImageSource, PullPolicy, ResolvedImage};
pub use error::{SolveError, SolveErrorKind};
pub use scheduler::solve;
pub use tree::ViewTree;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};

use serde::Serialize;

use crate::context::Context;
use crate::image::{Descriptor, ImageConfig};
use crate::layer::LayerOptions;
use crate::plan::NetworkMode;
use crate::progress::Sink;
use crate::store::Store;

/// How to build.
#[derive(Debug, Clone, Default)]
pub struct SolveOptions {
    /// Ignore cached steps (results are still stored).
    pub no_cache: bool,
    /// Layer compression and tar options.
    pub layer: LayerOptions,
    /// `--secret` values by id (never logged, never part of a key or a layer).
    pub secrets: BTreeMap<String, Vec<u8>>,
    /// The network of `RUN --network=default`.
    pub network: Option<NetworkMode>,
    /// `--label`s added to the final image.
    pub labels: Vec<(String, String)>,
    /// `SOURCE_DATE_EPOCH`: history and image times, and created directories' mtimes.
    pub source_date_epoch: Option<i64>,
    /// Set to stop the build (Ctrl-C).
    pub cancel: Arc<AtomicBool>,
}

/// Everything a build needs besides the graph.
pub struct Solver<'a> {
    /// The store.
    pub store: &'a Store,
    /// The build context.
    pub context: &'a Context,
    /// Base images (already used by the planner; cached).
    pub images: &'a ImageSource,
    /// Options.
    pub opts: &'a SolveOptions,
    /// Progress events.
    pub sink: Arc<dyn Sink>,
    /// Progress step numbers, shared with the image source.
    pub ids: Arc<AtomicUsize>,
    /// Identifies the Dockerfile (its path) for cache-miss explanations.
    pub dockerfile_id: String,
    /// Counters.
    pub stats: BuildCounters,
    /// The shared build cache (`--cache-from`/`--cache-to`, lazily fetched layers).
    pub cache: Option<&'a crate::cache::BuildCache>,
}

/// Live counters of one build.
#[derive(Debug, Default)]
pub struct BuildCounters {
    /// Layers written.
    pub layers_written: AtomicU64,
    /// Compressed bytes of the layers written.
    pub layer_bytes_written: AtomicU64,
    /// Steps run.
    pub steps_run: AtomicU64,
    /// Steps answered by the cache.
    pub steps_cached: AtomicU64,
}

/// What a build produced.
#[derive(Debug, Clone)]
pub struct BuildOutput {
    /// The image manifest (in the store).
    pub manifest: Descriptor,
    /// The config blob (its digest is the image ID).
    pub config_descriptor: Descriptor,
    /// The config.
    pub config: ImageConfig,
    /// The layers, base first.
    pub layers: Vec<Descriptor>,
}

/// Totals of a build, for `--metadata-file` and `rbuild bench`.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct BuildStats {
    /// Context entries walked.
    pub files_walked: u64,
    /// Context files read and hashed.
    pub files_hashed: u64,
    /// Context bytes read and hashed.
    pub bytes_hashed: u64,
    /// Layers written.
    pub layers_written: u64,
    /// Compressed bytes of the layers written.
    pub layer_bytes_written: u64,
    /// Steps run.
    pub steps_run: u64,
    /// Steps answered by the cache.
    pub steps_cached: u64,
}

impl Solver<'_> {
    /// Totals so far.
    pub fn build_stats(&self) -> BuildStats {
        use std::sync::atomic::Ordering::Relaxed;
        let c = self.context.stats();
        BuildStats {
            files_walked: c.entries_walked,
            files_hashed: c.files_hashed,
            bytes_hashed: c.bytes_hashed,
            layers_written: self.stats.layers_written.load(Relaxed),
            layer_bytes_written: self.stats.layer_bytes_written.load(Relaxed),
            steps_run: self.stats.steps_run.load(Relaxed),
            steps_cached: self.stats.steps_cached.load(Relaxed),
        }
    }

    /// The next progress step number.
    pub(crate) fn next_id(&self) -> usize {
        self.ids.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1
    }

    /// True once the build was asked to stop.
    pub(crate) fn cancelled(&self) -> bool {
        self.opts.cancel.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A timestamp for something that happens now (`SOURCE_DATE_EPOCH` when set).
    pub(crate) fn now(&self) -> String {
        match self.opts.source_date_epoch {
            Some(s) => rfc3339(s, 0),
            None => {
                let d = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                rfc3339(d.as_secs() as i64, d.subsec_nanos())
            }
        }
    }

    /// The mtime of directories a step creates: `SOURCE_DATE_EPOCH`, else the epoch, so
    /// layers do not depend on when they were built.
    pub(crate) fn created_mtime(&self) -> i64 {
        self.opts.source_date_epoch.unwrap_or(0)
    }
}

/// RFC 3339 in UTC with nanoseconds when there are any (`2024-01-01T00:00:00Z`).
pub fn rfc3339(secs: i64, nanos: u32) -> String {
    match jiff::Timestamp::new(secs, nanos as i32) {
        Ok(t) => {
            if nanos == 0 {
                t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
            } else {
                t.strftime("%Y-%m-%dT%H:%M:%S.%fZ").to_string()
            }
        }
        Err(_) => "1970-01-01T00:00:00Z".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_704_067_200, 0), "2024-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(1_704_067_200, 500_000_000),
            "2024-01-01T00:00:00.5Z"
        );
    }
}
