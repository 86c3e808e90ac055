//! Starting the step's processes and collecting their output and exit status.
//!
//! ```text
//! rbuild ──fork──▶ A: unshare(mnt, pid, uts, ipc, cgroup[, net]) ──fork──▶ B (pid 1)
//!   │ reads stdout, stderr        waits for B, reports its status        sets up, execs
//!   │ and the report pipe         on the report pipe
//! ```
//!
//! `fork` (not a raw `clone`) is used so glibc's fork handlers keep the allocator usable
//! in the child of a multi-threaded parent; the children only make system calls and
//! small allocations, and leave with `_exit`. A and B die with their parent
//! (`PR_SET_PDEATHSIG`), and B is pid 1 of its namespace, so when anything goes away —
//! a finished command, a cancelled step, a killed rbuild — every process of the step
//! goes with it, and the mounts, which live only in the step's mount namespace, too.

use std::io;
use std::os::unix::io::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::sched::CloneFlags;
use rustix::event::{PollFd, PollFlags};
use rustix::process::{Pid, Signal, WaitOptions};

use super::error::SandboxError;
use super::setup::{SetupError, SetupPlan, setup_and_exec};
use super::spec::{ExitStatus, Stream};
use super::syscall_linux::LinuxSyscall;

/// What the child processes reported.
#[derive(Debug)]
pub(crate) struct ChildReport {
    /// How B ended.
    pub status: ExitStatus,
    /// Why B never reached the command, if it did not.
    pub setup_error: Option<SetupError>,
}

/// Kills and reaps A unless it was waited for.
struct ChildGuard {
    pid: Option<Pid>,
}

impl ChildGuard {
    fn kill(&self) {
        if let Some(pid) = self.pid {
            let _ = rustix::process::kill_process(pid, Signal::KILL);
        }
    }

    fn wait(&mut self) -> io::Result<ExitStatus> {
        let Some(pid) = self.pid else {
            return Err(io::Error::other("child already reaped"));
        };
        loop {
            match rustix::process::waitpid(Some(pid), WaitOptions::empty()) {
                Ok(Some((_, st))) => {
                    self.pid = None;
                    return Ok(decode_status(st));
                }
                Ok(None) => continue,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl ChildGuard {
    /// Reaps A without waiting for it: once A has reported, only the teardown of the
    /// step's namespaces is left, which takes milliseconds and concerns nobody else.
    fn reap_soon(&mut self) {
        let Some(pid) = self.pid.take() else { return };
        if let Ok(Some(_)) = rustix::process::waitpid(Some(pid), WaitOptions::NOHANG) {
            return;
        }
        let reaper = std::thread::Builder::new()
            .name("rbuild-reap".into())
            .spawn(move || {
                while let Err(rustix::io::Errno::INTR) =
                    rustix::process::waitpid(Some(pid), WaitOptions::empty())
                {}
            });
        if reaper.is_err() {
            // No thread to spare: wait here instead.
            self.pid = Some(pid);
            let _ = self.wait();
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if self.pid.is_some() {
            self.kill();
            let _ = self.wait();
        }
    }
}

fn decode_status(st: rustix::process::WaitStatus) -> ExitStatus {
    if let Some(sig) = st.terminating_signal() {
        ExitStatus::Signal(sig)
    } else {
        ExitStatus::Code(st.exit_status().unwrap_or(1))
    }
}

/// Runs the plan in fresh namespaces, streaming output to `out`.
pub(crate) fn run_child(
    plan: &SetupPlan,
    cancel: Option<&AtomicBool>,
    out: &mut dyn FnMut(Stream, &[u8]),
) -> Result<ChildReport, SandboxError> {
    let pipe = || {
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(|e| SandboxError::Sys {
            what: "creating a pipe",
            source: e.into(),
        })
    };
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (rep_r, rep_w) = pipe()?;
    let devnull = rustix::fs::open(
        "/dev/null",
        rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| SandboxError::io(std::path::Path::new("/dev/null"), e.into()))?;
    let mut flags = CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWCGROUP;
    if plan.new_netns {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    let fds = [
        devnull.as_raw_fd(),
        out_w.as_raw_fd(),
        err_w.as_raw_fd(),
        rep_w.as_raw_fd(),
    ];
    let parent = rustix::process::getpid();

    // SAFETY: the child only runs `child_a`, which makes system calls and small
    // allocations (glibc's fork handlers keep malloc consistent) and leaves via `_exit`;
    // it never returns into the caller's frames.
    let pid = match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => child_a(parent, fds, flags, plan),
        Ok(nix::unistd::ForkResult::Parent { child }) => child.as_raw(),
        Err(e) => return Err(SandboxError::sys("fork")(e.into())),
    };
    let mut guard = ChildGuard {
        pid: Pid::from_raw(pid),
    };
    drop((out_w, err_w, rep_w, devnull));

    let report = pump([out_r, err_r, rep_r], cancel, &guard, out)?;
    if cancel.is_some_and(|c| c.load(Ordering::SeqCst)) {
        guard.kill();
        guard
            .wait()
            .map_err(SandboxError::sys("waiting for the step"))?;
        return Err(SandboxError::Cancelled);
    }
    let report = parse_report(&report);
    if report.is_ok() {
        guard.reap_soon();
    }
    report
}

/// Reads stdout and stderr to `out` and the report pipe to a buffer, until all close.
fn pump(
    fds: [OwnedFd; 3],
    cancel: Option<&AtomicBool>,
    guard: &ChildGuard,
    out: &mut dyn FnMut(Stream, &[u8]),
) -> Result<Vec<u8>, SandboxError> {
    let mut open = [true; 3];
    let mut report = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut killed = false;
    let tick = rustix::fs::Timespec {
        tv_sec: 0,
        tv_nsec: 100_000_000,
    };
    while open.iter().any(|&o| o) {
        if !killed && cancel.is_some_and(|c| c.load(Ordering::SeqCst)) {
            guard.kill();
            killed = true;
        }
        let idx: Vec<usize> = (0..3).filter(|&i| open[i]).collect();
        let mut pfds: Vec<PollFd<'_>> = idx
            .iter()
            .map(|&i| PollFd::new(&fds[i], PollFlags::IN))
            .collect();
        match rustix::event::poll(&mut pfds, Some(&tick)) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(SandboxError::sys("poll")(e.into())),
        }
        let ready: Vec<(usize, bool)> = idx
            .iter()
            .zip(&pfds)
            .map(|(&i, p)| (i, !p.revents().is_empty()))
            .collect();
        drop(pfds);
        for (i, is_ready) in ready {
            if !is_ready {
                continue;
            }
            match rustix::io::read(fds[i].as_fd(), &mut buf[..]) {
                Ok(0) => open[i] = false,
                Ok(n) => match i {
                    0 => out(Stream::Stdout, &buf[..n]),
                    1 => out(Stream::Stderr, &buf[..n]),
                    _ => report.extend_from_slice(&buf[..n]),
                },
                Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => {}
                Err(e) => return Err(SandboxError::sys("reading the step's output")(e.into())),
            }
        }
    }
    Ok(report)
}

const TAG_STATUS: u8 = b'S';
const TAG_OVERLAY: u8 = b'O';
const TAG_FAILED: u8 = b'F';
const TAG_USER: u8 = b'U';
const TAG_EXEC: u8 = b'X';

fn encode(tag: u8, code: i32, msg: &str) -> Vec<u8> {
    let mut v = vec![tag];
    v.extend_from_slice(&code.to_le_bytes());
    v.extend_from_slice(&(msg.len() as u32).to_le_bytes());
    v.extend_from_slice(msg.as_bytes());
    v
}

fn encode_error(e: &SetupError) -> Vec<u8> {
    match e {
        SetupError::Overlay(m) => encode(TAG_OVERLAY, 0, m),
        SetupError::Failed(m) => encode(TAG_FAILED, 0, m),
        SetupError::User(m) => encode(TAG_USER, 0, m),
        SetupError::Exec(c, m) => encode(TAG_EXEC, *c, m),
    }
}

fn parse_report(mut r: &[u8]) -> Result<ChildReport, SandboxError> {
    let mut status = None;
    let mut setup_error = None;
    while r.len() >= 9 {
        let tag = r[0];
        let code = i32::from_le_bytes([r[1], r[2], r[3], r[4]]);
        let len = u32::from_le_bytes([r[5], r[6], r[7], r[8]]) as usize;
        let Some(msg) = r.get(9..9 + len) else { break };
        let msg = String::from_utf8_lossy(msg).into_owned();
        r = &r[9 + len..];
        match tag {
            TAG_STATUS => {
                status = Some(if code >= 0 {
                    ExitStatus::Code(code)
                } else {
                    ExitStatus::Signal(-code)
                });
            }
            TAG_OVERLAY => setup_error = Some(SetupError::Overlay(msg)),
            TAG_FAILED => setup_error = Some(SetupError::Failed(msg)),
            TAG_USER => setup_error = Some(SetupError::User(msg)),
            TAG_EXEC => setup_error = Some(SetupError::Exec(code, msg)),
            _ => {}
        }
    }
    match (status, setup_error) {
        (Some(status), setup_error) => Ok(ChildReport {
            status,
            setup_error,
        }),
        (None, Some(e)) => Ok(ChildReport {
            status: ExitStatus::Code(1),
            setup_error: Some(e),
        }),
        (None, None) => Err(SandboxError::Setup(
            "the sandbox process died without a report".into(),
        )),
    }
}

/// Writes all of `bytes` to fd 3 (the report pipe), ignoring errors: nothing else can
/// be done with them in a dying child.
fn report(bytes: &[u8]) {
    // SAFETY: fd 3 is the report pipe, arranged by `arrange_fds`; it stays open.
    let fd = unsafe { std::os::unix::io::BorrowedFd::borrow_raw(3) };
    let mut rest = bytes;
    while !rest.is_empty() {
        match rustix::io::write(fd, rest) {
            Ok(n) if n > 0 => rest = &rest[n..],
            Err(rustix::io::Errno::INTR) => {}
            _ => return,
        }
    }
}

/// Moves `fds` to 0, 1, 2, 3 and closes every other descriptor (other steps' pipes
/// included, so their readers see EOF when their own children exit).
fn arrange_fds(fds: [RawFd; 4]) -> io::Result<()> {
    let mut high = [0; 4];
    for (h, fd) in high.iter_mut().zip(fds) {
        // SAFETY: `fd` is open in this process (inherited from the parent's fds).
        let b = unsafe { std::os::unix::io::BorrowedFd::borrow_raw(fd) };
        *h = rustix::io::fcntl_dupfd_cloexec(b, 10)?.into_raw_fd_keep();
    }
    for (i, h) in high.iter().enumerate() {
        nix::unistd::dup2(*h, i as RawFd)?;
    }
    // SAFETY: closing fds from 4 up; nothing in this child uses them any more.
    let r = unsafe { libc::syscall(libc::SYS_close_range, 4u32, u32::MAX, 0u32) };
    if r != 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// An owned fd turned into a raw one that is never closed by a destructor.
trait KeepRaw {
    fn into_raw_fd_keep(self) -> RawFd;
}

impl KeepRaw for OwnedFd {
    fn into_raw_fd_keep(self) -> RawFd {
        std::os::unix::io::IntoRawFd::into_raw_fd(self)
    }
}

/// Leaves a forked child at once: no exit handlers, no destructors, no stdio flush.
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: `_exit` ends the process; nothing of this (forked) process runs after it.
    unsafe { libc::_exit(code) }
}

/// Process A: new namespaces, then B, then B's status.
fn child_a(parent: Pid, fds: [RawFd; 4], flags: CloneFlags, plan: &SetupPlan) -> ! {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = rustix::process::set_parent_process_death_signal(Some(Signal::KILL));
        if rustix::process::getppid() != Some(parent) {
            return 1;
        }
        if arrange_fds(fds).is_err() {
            return 1;
        }
        if let Err(e) = nix::sched::unshare(flags) {
            report(&encode(
                TAG_FAILED,
                0,
                &format!("creating namespaces: {}", io::Error::from(e)),
            ));
            return 1;
        }
        // SAFETY: this process is single-threaded (a fork child); B runs `child_b` and
        // leaves via `_exit`.
        match unsafe { nix::unistd::fork() } {
            Ok(nix::unistd::ForkResult::Child) => child_b(plan),
            Ok(nix::unistd::ForkResult::Parent { child }) => {
                // B holds the output pipes; without A's copies the parent sees EOF as
                // soon as B's namespace is gone.
                let _ = nix::unistd::close(1);
                let _ = nix::unistd::close(2);
                let code = loop {
                    match nix::sys::wait::waitpid(child, None) {
                        Ok(nix::sys::wait::WaitStatus::Exited(_, c)) => break c,
                        Ok(nix::sys::wait::WaitStatus::Signaled(_, s, _)) => break -(s as i32),
                        Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
                        Err(_) => break 1,
                    }
                };
                report(&encode(TAG_STATUS, code, ""));
                let _ = nix::unistd::close(3);
                0
            }
            Err(e) => {
                report(&encode(TAG_FAILED, 0, &format!("fork: {e}")));
                1
            }
        }
    }));
    exit_now(r.unwrap_or(1))
}

/// Process B: pid 1 of the step; sets up and execs.
fn child_b(plan: &SetupPlan) -> ! {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = rustix::process::set_parent_process_death_signal(Some(Signal::KILL));
        let err = setup_and_exec(&mut LinuxSyscall::default(), plan);
        report(&encode_error(&err));
        if let SetupError::Exec(code, msg) = &err {
            // What a shell would print; the step's log shows why it failed.
            let line = format!("{msg}\n");
            // SAFETY: fd 2 is the step's stderr pipe, arranged before the fork.
            let fd = unsafe { std::os::unix::io::BorrowedFd::borrow_raw(2) };
            let _ = rustix::io::write(fd, line.as_bytes());
            return *code;
        }
        1
    }));
    exit_now(r.unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_round_trip() {
        let mut bytes = encode_error(&SetupError::User("unable to find user foo".into()));
        bytes.extend(encode(TAG_STATUS, 1, ""));
        let r = parse_report(&bytes).unwrap();
        assert_eq!(r.status, ExitStatus::Code(1));
        assert_eq!(
            r.setup_error,
            Some(SetupError::User("unable to find user foo".into()))
        );
        let r = parse_report(&encode(TAG_STATUS, -9, "")).unwrap();
        assert_eq!(r.status, ExitStatus::Signal(9));
        assert!(parse_report(&[]).is_err());
    }
}
