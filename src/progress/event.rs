//! The events a build emits.

use std::time::Duration;

use serde::Serialize;

/// A step's progress number (BuildKit's `#N`), unique within one build.
pub type StepId = usize;

/// Which output stream a chunk of RUN output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// Static facts about a step, given when it starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepInfo {
    /// Progress number.
    pub id: StepId,
    /// Stage label (`AS` name, else `stage-N`); empty for internal steps.
    pub stage: String,
    /// 1-based position in the stage (FROM is 1).
    pub index: usize,
    /// Steps in the stage, FROM included.
    pub total: usize,
    /// The instruction (`COPY src/ ./src/`) or an internal action (`load build context`).
    pub text: String,
    /// True when the stage label should be shown (multi-stage builds).
    pub show_stage: bool,
}

impl StepInfo {
    /// An internal step (`[internal] load metadata for …`): no stage, no position.
    pub fn internal(id: StepId, text: String) -> Self {
        StepInfo {
            id,
            stage: String::new(),
            index: 0,
            total: 0,
            text,
            show_stage: false,
        }
    }
}

/// A costly part of a step, for traces and timings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Walking and hashing the build context.
    ContextScan,
    /// Unpacking base layers into snapshots.
    Unpack,
    /// Preparing the sandbox (namespaces, overlay, mounts).
    SandboxSetup,
    /// The RUN command itself.
    Command,
    /// Walking the overlay upper dir.
    Diff,
    /// Writing and compressing the layer tar.
    Tar,
    /// Writing image blobs (config, manifest).
    BlobWrite,
    /// Pulling from a registry.
    Pull,
    /// Pushing to a registry.
    Push,
    /// Exporting an output.
    Export,
}

/// What a blob transfer is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TransferPhase {
    /// Started.
    Start,
    /// Bytes moved.
    Progress,
    /// Finished.
    Done,
    /// Not needed (already present).
    Skipped,
    /// Cross-repository mount.
    Mounted,
}

/// One build event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// A step starts.
    StepStart(StepInfo),
    /// A step's result came from the cache.
    StepCached {
        /// Step.
        id: StepId,
    },
    /// Why a step missed the cache (one line).
    StepMiss {
        /// Step.
        id: StepId,
        /// Explanation.
        reason: String,
    },
    /// Output of a RUN step.
    StepOutput {
        /// Step.
        id: StepId,
        /// Stream.
        stream: Stream,
        /// Bytes, as produced (not necessarily whole lines).
        #[serde(serialize_with = "lossy")]
        data: Vec<u8>,
    },
    /// A note about a step (e.g. a fallback in use).
    StepNote {
        /// Step.
        id: StepId,
        /// Text.
        message: String,
    },
    /// A phase of a step started.
    PhaseStart {
        /// Step.
        id: StepId,
        /// Phase.
        phase: Phase,
    },
    /// A phase of a step ended.
    PhaseEnd {
        /// Step.
        id: StepId,
        /// Phase.
        phase: Phase,
    },
    /// A blob transfer moved.
    Transfer {
        /// Step.
        id: StepId,
        /// Blob digest.
        digest: String,
        /// What happened.
        phase: TransferPhase,
        /// Bytes done.
        done: u64,
        /// Bytes in all (0 when unknown).
        total: u64,
    },
    /// A step finished.
    StepDone {
        /// Step.
        id: StepId,
        /// From the cache.
        cached: bool,
        /// Wall time.
        #[serde(serialize_with = "secs")]
        elapsed: Duration,
    },
    /// A step failed.
    StepError {
        /// Step.
        id: StepId,
        /// Short error.
        message: String,
    },
    /// A warning not tied to a step.
    Warning {
        /// Text.
        message: String,
    },
}

fn lossy<S: serde::Serializer>(data: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(data))
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}
