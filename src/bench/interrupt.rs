//! Ctrl-C for a bench: the signal stops the running build, the bench cleans up (its temp
//! dir with the context copy and the private stores) and exits 128 + signal.
//!
//! Each build runs in its own process group, so a terminal's Ctrl-C reaches the bench
//! only; the bench forwards SIGINT to the build's whole group (the build and its RUN
//! processes, exactly what a terminal would have signalled) and, if the group is still
//! there after [`GRACE`] or at a second signal, SIGKILLs it. The default handlers are
//! replaced while the bench runs, so the bench itself never dies before cleaning up.

use std::io;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process_group};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::{Handle, Signals};

use super::BenchError;

/// How long a build may take to clean up after SIGINT before it is killed.
pub const GRACE: Duration = Duration::from_secs(10);

/// The bench's interruption state, shared with the signal thread: which signal arrived
/// (if any) and the build running now.
#[derive(Debug, Clone, Default)]
pub struct Interrupt {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    /// The first signal received, 0 for none.
    signal: AtomicI32,
    /// The running build's pid (also its process group id). The bench clears it after the
    /// build has exited but before reaping it, so a pid here is never a recycled one.
    child: Mutex<Option<i32>>,
}

impl Interrupt {
    /// A state with no signal received and no build running.
    pub fn new() -> Interrupt {
        Interrupt::default()
    }

    /// The signal that interrupted the bench, if one did.
    pub fn signal(&self) -> Option<i32> {
        match self.shared.signal.load(Ordering::SeqCst) {
            0 => None,
            s => Some(s),
        }
    }

    /// `Err(Interrupted)` once a signal has arrived.
    pub fn check(&self) -> Result<(), BenchError> {
        match self.signal() {
            Some(signal) => Err(BenchError::Interrupted { signal }),
            None => Ok(()),
        }
    }

    /// Records `signal` and stops the running build: SIGINT to its group the first time,
    /// SIGKILL when a signal had already arrived.
    pub fn trigger(&self, signal: i32) {
        let first = self
            .shared
            .signal
            .compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok();
        let Ok(child) = self.shared.child.lock() else {
            return;
        };
        if let Some(pid) = *child {
            if first {
                signal_group(pid, Signal::INT);
                self.escalate_later(pid);
            } else {
                signal_group(pid, Signal::KILL);
            }
        }
    }

    /// Registers the build just started; stops it at once if a signal came first.
    pub(crate) fn attach(&self, pid: i32) {
        let Ok(mut child) = self.shared.child.lock() else {
            return;
        };
        *child = Some(pid);
        if self.signal().is_some() {
            signal_group(pid, Signal::INT);
            self.escalate_later(pid);
        }
    }

    /// Forgets the build (it has exited and is about to be reaped).
    pub(crate) fn detach(&self) {
        if let Ok(mut child) = self.shared.child.lock() {
            *child = None;
        }
    }

    /// After [`GRACE`], SIGKILLs `pid`'s group if that build is still the running one.
    fn escalate_later(&self, pid: i32) {
        let me = self.clone();
        std::thread::spawn(move || {
            let deadline = Instant::now() + GRACE;
            while Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
                if me
                    .shared
                    .child
                    .lock()
                    .map(|c| *c != Some(pid))
                    .unwrap_or(true)
                {
                    return;
                }
            }
            if let Ok(child) = me.shared.child.lock() {
                if *child == Some(pid) {
                    signal_group(pid, Signal::KILL);
                }
            }
        });
    }
}

fn signal_group(pid: i32, signal: Signal) {
    if let Some(pid) = Pid::from_raw(pid) {
        // The group may already be gone; nothing else to do then.
        let _ = kill_process_group(pid, signal);
    }
}

/// SIGINT, SIGTERM and SIGHUP handling for the bench's lifetime; dropping it stops the
/// signal thread.
pub struct SignalGuard {
    handle: Handle,
    thread: Option<JoinHandle<()>>,
}

impl SignalGuard {
    /// Routes SIGINT, SIGTERM and SIGHUP to `interrupt` until the guard is dropped.
    pub fn install(interrupt: &Interrupt) -> io::Result<SignalGuard> {
        let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])?;
        let handle = signals.handle();
        let interrupt = interrupt.clone();
        let thread = std::thread::Builder::new()
            .name("bench-signals".into())
            .spawn(move || {
                for signal in signals.forever() {
                    interrupt.trigger(signal);
                }
            })?;
        Ok(SignalGuard {
            handle,
            thread: Some(thread),
        })
    }
}

impl Drop for SignalGuard {
    fn drop(&mut self) {
        self.handle.close();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_signal_is_kept() {
        let i = Interrupt::new();
        assert!(i.check().is_ok());
        i.trigger(SIGTERM);
        i.trigger(SIGINT);
        assert_eq!(i.signal(), Some(SIGTERM));
        assert!(matches!(
            i.check(),
            Err(BenchError::Interrupted { signal: SIGTERM })
        ));
    }

    #[test]
    fn a_build_started_after_the_signal_is_stopped() {
        use std::os::unix::process::CommandExt;
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap();
        let i = Interrupt::new();
        i.trigger(SIGINT);
        i.attach(child.id() as i32);
        let status = child.wait().unwrap();
        i.detach();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(SIGINT));
    }
}
