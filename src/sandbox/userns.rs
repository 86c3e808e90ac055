//! Privilege detection and the rootless entry point.
//!
//! # Design
//!
//! As real root, steps run without a user namespace (as buildah does): ids are the
//! image's, device nodes can be made, and every overlay is mounted with `userxattr`.
//!
//! As an ordinary user, the **whole rbuild process** becomes root of its own user
//! namespace, as buildah and podman do: [`enter_user_namespace`] is called first
//! thing in `main`, before any thread exists. The caller maps to 0; when
//! `/etc/subuid` and `/etc/subgid` give the user ranges and `newuidmap`/`newgidmap`
//! exist, ids 1… map onto those ranges too, so images with several owners unpack with
//! their real ids. Everything that touches image files then works unchanged: unpacking
//! chowns (ids outside the mapping are recorded and left to root), the sandbox needs no
//! further user namespace, the diff reads the in-container ids directly, and the tar
//! writer can read every file. Files in the store are owned by subordinate ids on the
//! host; `rbuild __sandbox unshare -- rm -rf …` removes them, like `podman unshare`.

use std::io::{self, Write};
use std::path::Path;

use super::error::SandboxError;

/// What the current process may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privilege {
    /// Root in the initial user namespace.
    Root,
    /// Root of a user namespace (rootless after [`enter_user_namespace`]).
    UserNamespace,
    /// An ordinary user: no step can run.
    Unprivileged,
}

/// The current process's privilege.
pub fn detect() -> Privilege {
    if !rustix::process::geteuid().is_root() {
        return Privilege::Unprivileged;
    }
    match std::fs::read_to_string("/proc/self/uid_map") {
        Ok(m) if m.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"] => {
            Privilege::Root
        }
        Ok(_) => Privilege::UserNamespace,
        Err(_) => Privilege::Root,
    }
}

/// A range of subordinate ids: `count` ids from `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubIdRange {
    /// First host id.
    pub start: u32,
    /// Number of ids.
    pub count: u32,
}

/// The ranges `/etc/subuid`-style `text` gives the user `name` (or numeric `id`).
pub fn parse_subids(text: &str, name: &str, id: u32) -> Vec<SubIdRange> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.trim().split(':');
            let (who, start, count) = (f.next()?, f.next()?, f.next()?);
            if who != name && who.parse::<u32>().ok() != Some(id) {
                return None;
            }
            Some(SubIdRange {
                start: start.trim().parse().ok()?,
                count: count.trim().parse().ok()?,
            })
        })
        .filter(|r| r.count > 0)
        .collect()
}

/// `newuidmap` arguments: the caller at 0, the ranges from 1 on.
fn map_args(own: u32, ranges: &[SubIdRange]) -> Vec<String> {
    let mut args = vec!["0".to_string(), own.to_string(), "1".to_string()];
    let mut inside: u64 = 1;
    for r in ranges {
        args.extend([inside.to_string(), r.start.to_string(), r.count.to_string()]);
        inside += u64::from(r.count);
    }
    args
}

fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 2 && f[2].parse::<u32>().ok() == Some(uid)).then(|| f[0].to_string())
    })
}

fn find_tool(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin:/usr/sbin:/sbin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(1)
}

/// Makes the process root of a new user namespace when it is an ordinary user (a
/// no-op as root). Must run before any thread is started.
pub fn enter_user_namespace() -> Result<Privilege, SandboxError> {
    match detect() {
        Privilege::Unprivileged => {}
        p => return Ok(p),
    }
    if thread_count() > 1 {
        return Err(SandboxError::UserNamespace(
            "it must be created before any thread is started".into(),
        ));
    }
    let uid = rustix::process::getuid().as_raw();
    let gid = rustix::process::getgid().as_raw();
    let name = user_name(uid)
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_default();
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let subuids = parse_subids(&read("/etc/subuid"), &name, uid);
    let subgids = parse_subids(&read("/etc/subgid"), &name, gid);
    let tools = find_tool("newuidmap").zip(find_tool("newgidmap"));
    match tools {
        Some((newuidmap, newgidmap)) if !subuids.is_empty() && !subgids.is_empty() => {
            let uid_args = map_args(uid, &subuids);
            let gid_args = map_args(gid, &subgids);
            unshare_with_helper(&newuidmap, &uid_args, &newgidmap, &gid_args)?;
        }
        _ => unshare_self_mapped(uid, gid)?,
    }
    match detect() {
        Privilege::Unprivileged => Err(SandboxError::UserNamespace(
            "the id mapping did not take effect".into(),
        )),
        p => Ok(p),
    }
}

/// Maps only the caller (no helper needed): every file is then owned by the caller.
fn unshare_self_mapped(uid: u32, gid: u32) -> Result<(), SandboxError> {
    let e = |what: &str| {
        let what = what.to_string();
        move |err: io::Error| SandboxError::UserNamespace(format!("{what}: {err}"))
    };
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER)
        .map_err(|x| e("unshare")(x.into()))?;
    write_proc("/proc/self/setgroups", "deny").map_err(e("setgroups"))?;
    write_proc("/proc/self/uid_map", &format!("0 {uid} 1")).map_err(e("uid_map"))?;
    write_proc("/proc/self/gid_map", &format!("0 {gid} 1")).map_err(e("gid_map"))?;
    Ok(())
}

fn write_proc(path: &str, text: &str) -> io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .open(Path::new(path))?
        .write_all(text.as_bytes())
}

/// Unshares, and has a helper child (forked before, so it stays outside the new
/// namespace) run `newuidmap`/`newgidmap` on this process.
fn unshare_with_helper(
    newuidmap: &Path,
    uid_args: &[String],
    newgidmap: &Path,
    gid_args: &[String],
) -> Result<(), SandboxError> {
    let err = |m: String| SandboxError::UserNamespace(m);
    let (ready_r, ready_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| err(format!("pipe: {}", io::Error::from(e))))?;
    let parent = rustix::process::getpid();
    // SAFETY: the process is single-threaded (checked by the caller); the child runs
    // the two map helpers and leaves with `_exit`.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => {
            drop(ready_w);
            let mut b = [0u8; 1];
            let ok = matches!(rustix::io::read(&ready_r, &mut b), Ok(1));
            let pid = parent.as_raw_nonzero().get().to_string();
            let run = |tool: &Path, args: &[String]| {
                std::process::Command::new(tool)
                    .arg(&pid)
                    .args(args)
                    .status()
                    .is_ok_and(|s| s.success())
            };
            let code = if ok && run(newuidmap, uid_args) && run(newgidmap, gid_args) {
                0
            } else {
                1
            };
            super::process::exit_now(code)
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => {
            drop(ready_r);
            let unshared = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER);
            let _ = rustix::io::write(&ready_w, if unshared.is_ok() { b"1" } else { b"" });
            drop(ready_w);
            let status = nix::sys::wait::waitpid(child, None);
            unshared.map_err(|e| err(format!("unshare: {}", io::Error::from(e))))?;
            match status {
                Ok(nix::sys::wait::WaitStatus::Exited(_, 0)) => Ok(()),
                other => Err(err(format!(
                    "{} or {} failed ({other:?}); check /etc/subuid and /etc/subgid",
                    newuidmap.display(),
                    newgidmap.display()
                ))),
            }
        }
        Err(e) => Err(err(format!("fork: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subids_by_name_or_uid() {
        let text = "alice:100000:65536\n1001:300000:10\nbob:200000:0\n";
        assert_eq!(
            parse_subids(text, "alice", 1000),
            [SubIdRange {
                start: 100000,
                count: 65536
            }]
        );
        assert_eq!(
            parse_subids(text, "carol", 1001),
            [SubIdRange {
                start: 300000,
                count: 10
            }]
        );
        assert!(parse_subids(text, "bob", 7).is_empty());
    }

    #[test]
    fn caller_maps_to_root_and_ranges_follow() {
        let r = [
            SubIdRange {
                start: 100000,
                count: 65536,
            },
            SubIdRange {
                start: 300000,
                count: 10,
            },
        ];
        assert_eq!(
            map_args(1000, &r),
            [
                "0", "1000", "1", "1", "100000", "65536", "65537", "300000", "10"
            ]
        );
    }

    #[test]
    fn root_here_is_detected() {
        if rustix::process::geteuid().is_root() {
            assert_ne!(detect(), Privilege::Unprivileged);
        } else {
            assert_eq!(detect(), Privilege::Unprivileged);
        }
    }
}
