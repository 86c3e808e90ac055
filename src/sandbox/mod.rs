//! RUN: executing a step in a Linux namespace sandbox on top of the image's snapshots,
//! and turning what it changed into layer entries.
//!
//! ```text
//! RunSpec ──run──▶ fork ─▶ unshare(mnt,pid,uts,ipc,cgroup[,net]) ─▶ pid 1: overlay(stubs:snapshots…,
//!                  upper) · /proc /dev /sys · hosts, resolv.conf, secrets · RUN mounts ·
//!                  pivot_root · user, cwd, caps · exec ──▶ RunOutcome ──diff──▶ Vec<Entry>
//! ```
//!
//! - Root runs steps without a user namespace; an ordinary user calls
//!   [`enter_user_namespace`] first thing in `main` and runs everything as root of its
//!   own user namespace (see `userns` for why).
//! - Overlayfs is always mounted with `userxattr`, matching the snapshot format
//!   (`layer::Snapshots`). Where it cannot be mounted, the rootfs is copied and the
//!   diff compares trees ([`RunOutcome::used_fallback`] says so).
//! - Mount points missing from the image live in a stub lowerdir, never in the layer;
//!   `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname` are read-only binds, as in
//!   BuildKit.
//! - Network: `none` is a fresh netns with `lo` up; `default` and `host` share the
//!   host's network (no daemon sets up a bridge), as buildah's chroot isolation does.
//! - The hostname defaults to BuildKit's `buildkitsandbox`.
//! - Nothing outlives a step: pid 1 of the step's pid namespace is killed with its
//!   parent, mounts exist only in the step's mount namespace, and the scratch dir is
//!   removed when the [`RunOutcome`] (or a failed `run`) drops.

mod error;
mod mountpoints;
mod mounts;
mod net;
mod netconf;
pub mod plumbing;
mod process;
mod run;
mod setup;
mod setup_fs;
mod spec;
mod syscall;
mod syscall_linux;
mod user;
mod userns;
mod work;

#[cfg(test)]
mod setup_tests;

pub use error::SandboxError;
pub use mounts::{SecretUse, resolve_mount, secret_mount};
pub use netconf::{hosts_file, resolv_conf};
pub use run::{RunOutcome, diff, run};
pub use setup::{
    DEFAULT_CAPS, Launch, PlannedFile, PlannedMount, Rootfs, SetupError, SetupPlan, final_env,
    setup,
};
pub use spec::{
    CacheMount, CacheSharing, DEFAULT_HOSTNAME, DEFAULT_PATH, ExitStatus, ExtraFile, Network,
    ResolvedMount, RunSpec, Stream,
};
pub use syscall::{NodeKind, NodeStat, OverlayMount, Syscall};
pub use syscall_linux::LinuxSyscall;
pub use user::{ExecUser, resolve_user};
pub use userns::{
    Privilege, SubIdRange, detect as detect_privilege, enter_user_namespace, parse_subids,
};
