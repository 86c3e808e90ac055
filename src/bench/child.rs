//! One timed build: spawn, wait, and the child's resource usage from `wait4`.
//!
//! Nothing but the spawn and the wait sits inside the timed window, so the bench adds no
//! work to what it measures. The peak memory is the `ru_maxrss` that `wait4` returns for
//! the build, which on Linux also covers the descendants it reaped (RUN processes).

use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use rustix::process::{Pid, WaitId, WaitIdOptions, waitid};

use super::{BenchError, Interrupt};

/// How a timed build went.
#[derive(Debug, Clone, PartialEq)]
pub struct ChildRun {
    /// Wall time from spawn to exit.
    pub wall: Duration,
    /// CPU time in user mode (the build and the children it waited for).
    pub user: Duration,
    /// CPU time in the kernel.
    pub sys: Duration,
    /// Peak resident set size in KiB.
    pub max_rss_kib: u64,
    /// How it ended.
    pub exit: Exit,
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this code.
    Code(i32),
    /// A signal killed it.
    Signal(i32),
}

impl Exit {
    /// True for exit code 0.
    pub fn success(self) -> bool {
        self == Exit::Code(0)
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exit status {c}"),
            Exit::Signal(s) => write!(f, "killed by signal {s}"),
        }
    }
}

/// Runs `cmd` in a process group of its own, registered with `interrupt` while it runs,
/// and times it.
pub fn run_timed(cmd: &mut Command, interrupt: &Interrupt) -> Result<ChildRun, BenchError> {
    cmd.process_group(0);
    let start = Instant::now();
    let child = cmd.spawn().map_err(|source| BenchError::Spawn {
        program: cmd.get_program().into(),
        source,
    })?;
    let pid = child.id() as i32;
    interrupt.attach(pid);
    let waited = wait_exited(pid);
    let wall = start.elapsed();
    interrupt.detach();
    waited.map_err(|source| BenchError::Wait { pid, source })?;
    let (exit, usage) = reap(pid).map_err(|source| BenchError::Wait { pid, source })?;
    Ok(ChildRun {
        wall,
        user: timeval(usage.ru_utime),
        sys: timeval(usage.ru_stime),
        max_rss_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
        exit,
    })
}

/// Blocks until `pid` has exited, leaving it a zombie (so its pid cannot be reused).
fn wait_exited(pid: i32) -> io::Result<()> {
    let pid = Pid::from_raw(pid).ok_or_else(|| io::Error::other("invalid pid"))?;
    loop {
        match waitid(
            WaitId::Pid(pid),
            WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
        ) {
            Ok(_) => return Ok(()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Reaps the exited `pid` and returns how it ended and its resource usage.
fn reap(pid: i32) -> io::Result<(Exit, libc::rusage)> {
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is plain old data, for which all-zero bytes are a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: both pointers are to live, writable locals of the types wait4 expects;
        // `pid` is our own child, which has exited and not been reaped yet. wait4 is the
        // only interface that returns one specific child's rusage.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    let exit = if libc::WIFSIGNALED(status) {
        Exit::Signal(libc::WTERMSIG(status))
    } else {
        Exit::Code(libc::WEXITSTATUS(status))
    };
    Ok((exit, usage))
}

fn timeval(t: libc::timeval) -> Duration {
    let secs = u64::try_from(t.tv_sec).unwrap_or(0);
    let micros = u32::try_from(t.tv_usec).unwrap_or(0);
    Duration::from_secs(secs) + Duration::from_micros(u64::from(micros))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_a_child_and_reads_its_exit_and_memory() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "sleep 0.2; exit 3"]);
        let run = run_timed(&mut cmd, &Interrupt::new()).unwrap();
        assert_eq!(run.exit, Exit::Code(3));
        assert!(run.wall >= Duration::from_millis(200), "{:?}", run.wall);
        assert!(run.max_rss_kib > 0);
    }

    #[test]
    fn a_signal_death_is_reported() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "kill -9 $$"]);
        let run = run_timed(&mut cmd, &Interrupt::new()).unwrap();
        assert_eq!(run.exit, Exit::Signal(9));
        assert_eq!(run.exit.to_string(), "killed by signal 9");
    }

    #[test]
    fn a_missing_program_is_a_spawn_error() {
        let mut cmd = Command::new("/nonexistent/rbuild-builder");
        let err = run_timed(&mut cmd, &Interrupt::new()).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/rbuild-builder"),
            "{err}"
        );
    }
}
