//! Transfer progress: one event stream per blob (start, progress, done, skipped, mounted),
//! throttled so a fast link does not flood the terminal. The CLI turns events into bars
//! on a TTY or one line per blob in plain mode.

use std::time::{Duration, Instant};

use crate::digest::Digest;

/// How often progress events are sent for one blob, at most.
const INTERVAL: Duration = Duration::from_millis(100);

/// What happened to a blob (the build progress's own type).
pub use crate::progress::TransferPhase;

/// One progress report for one blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferEvent {
    /// The blob.
    pub digest: Digest,
    /// Its size.
    pub total: u64,
    /// Bytes moved so far.
    pub done: u64,
    /// What happened.
    pub phase: TransferPhase,
}

/// A progress callback, shared by the transfer threads.
pub type Progress<'a> = &'a (dyn Fn(&TransferEvent) + Sync);

/// A progress callback that reports every event on build progress step `id`.
pub fn report_to(
    sink: std::sync::Arc<dyn crate::progress::Sink>,
    id: crate::progress::StepId,
) -> impl Fn(&TransferEvent) + Sync + Send + use<> {
    move |ev: &TransferEvent| {
        sink.emit(&crate::progress::Event::Transfer {
            id,
            digest: ev.digest.to_string(),
            phase: ev.phase,
            done: ev.done,
            total: ev.total,
        });
    }
}

/// Sends throttled events for one blob.
pub(crate) struct Reporter<'a> {
    digest: Digest,
    total: u64,
    sink: Progress<'a>,
    last: std::sync::Mutex<Option<Instant>>,
}

impl<'a> Reporter<'a> {
    pub fn new(digest: Digest, total: u64, sink: Progress<'a>) -> Reporter<'a> {
        Reporter {
            digest,
            total,
            sink,
            last: std::sync::Mutex::new(None),
        }
    }

    /// Sends an event unconditionally.
    pub fn event(&self, phase: TransferPhase, done: u64) {
        (self.sink)(&TransferEvent {
            digest: self.digest,
            total: self.total,
            done,
            phase,
        });
    }

    /// Sends a progress event unless one went out less than the interval ago.
    pub fn progress(&self, done: u64) {
        let now = Instant::now();
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|t| now.duration_since(t) < INTERVAL) {
            return;
        }
        *last = Some(now);
        drop(last);
        self.event(TransferPhase::Progress, done);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn progress_is_throttled_but_phases_are_not() {
        let seen = Mutex::new(Vec::new());
        let sink = |e: &TransferEvent| seen.lock().unwrap().push((e.phase, e.done));
        let r = Reporter::new(Digest::of(b"x"), 100, &sink);
        r.event(TransferPhase::Start, 0);
        for i in 0..1000 {
            r.progress(i);
        }
        r.event(TransferPhase::Done, 100);
        let seen = seen.into_inner().unwrap();
        assert_eq!(seen.first(), Some(&(TransferPhase::Start, 0)));
        assert_eq!(seen.last(), Some(&(TransferPhase::Done, 100)));
        let progress = seen
            .iter()
            .filter(|(p, _)| *p == TransferPhase::Progress)
            .count();
        assert!(
            (1..=3).contains(&progress),
            "{progress} progress events for a burst"
        );
    }
}
