//! Build progress: the solver emits [`Event`]s; printers turn them into BuildKit-like
//! plain lines, a live terminal view, or JSON lines, and a [`Recorder`] keeps per-step
//! timings for `--metadata-file`, `--trace` and `rbuild bench`.
//!
//! Events carry what happened, never how to show it: the solver knows nothing of terminals.

mod event;
mod json;
mod plain;
mod recorder;
mod trace;
mod tty;

pub use event::{Event, Phase, StepId, StepInfo, Stream, TransferPhase};
pub use json::JsonPrinter;
pub use plain::PlainPrinter;
pub use recorder::{PhaseSpan, Recorder, StepRecord};
pub use trace::chrome_trace;
pub use tty::TtyPrinter;

use std::sync::Arc;
use std::time::Instant;

/// Receives build events; implementations must be cheap and thread-safe (stages run in parallel).
pub trait Sink: Send + Sync {
    /// Handles one event.
    fn emit(&self, event: &Event);
    /// Called once when the build ends (flush, clear the live view).
    fn finish(&self) {}
}

/// Sends every event to several sinks.
#[derive(Default, Clone)]
pub struct Fanout {
    sinks: Vec<Arc<dyn Sink>>,
}

impl Fanout {
    /// An empty fan-out.
    pub fn new() -> Fanout {
        Fanout::default()
    }

    /// Adds a sink.
    pub fn add(&mut self, sink: Arc<dyn Sink>) {
        self.sinks.push(sink);
    }
}

impl Sink for Fanout {
    fn emit(&self, event: &Event) {
        for s in &self.sinks {
            s.emit(event);
        }
    }
    fn finish(&self) {
        for s in &self.sinks {
            s.finish();
        }
    }
}

/// A sink that drops everything (`--quiet`, library use).
pub struct Discard;

impl Sink for Discard {
    fn emit(&self, _event: &Event) {}
}

/// The build's clock: every timestamp in progress output, metadata and traces is measured
/// from the same instant.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: Instant,
}

impl Clock {
    /// Starts the clock now.
    pub fn start() -> Clock {
        Clock {
            start: Instant::now(),
        }
    }

    /// Microseconds since the start.
    pub fn micros(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    /// Seconds since the start.
    pub fn secs(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// Microseconds from the start to `t`.
    pub fn micros_at(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.start).as_micros() as u64
    }
}
