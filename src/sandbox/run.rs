//! Running one step: prepare the scratch dir, stubs, cache leases and the set-up plan,
//! run the child, and fall back to a copied rootfs when overlayfs cannot be mounted.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use super::error::SandboxError;
use super::mountpoints::{Stubs, make_stubs, remove_unused};
use super::mounts::{CacheLease, lease_cache};
use super::netconf::{hosts_file, resolv_conf};
use super::process::run_child;
use super::setup::{PlannedFile, PlannedMount, Rootfs, SWITCH_USER, SetupError, SetupPlan};
use super::spec::{ExitStatus, Network, ResolvedMount, RunSpec, Stream};
use super::syscall::{NodeKind, OverlayMount};
use super::userns::{Privilege, detect};
use super::work::WorkDir;
use crate::digest::Digest;
use crate::layer::{Entry, LowerView, Snapshots, copy_merged, diff_overlay, diff_tree};

/// Set once overlayfs failed to mount here: later steps go straight to the copy.
static OVERLAY_UNUSABLE: AtomicBool = AtomicBool::new(false);

/// Where a step's changes are.
#[derive(Debug)]
enum Changes {
    /// An overlayfs upperdir.
    Upper(PathBuf),
    /// A whole copied rootfs, and the layer paths the copy could not reproduce.
    Tree {
        root: PathBuf,
        exclude: HashSet<String>,
    },
}

/// A finished step. Its scratch dir (with the changes) lives until this is dropped, so
/// keep it until the layer is written from [`RunOutcome::diff`]'s entries.
#[derive(Debug)]
pub struct RunOutcome {
    /// How the command ended (a command that cannot be executed reports 127 or 126).
    pub status: ExitStatus,
    /// True when overlayfs could not be used and the rootfs was copied (slower).
    pub used_fallback: bool,
    /// Why the command could not be started, runc style
    /// (`exec: "foo": executable file not found in $PATH`); also written to stderr.
    pub exec_error: Option<String>,
    changes: Changes,
    /// Holds the scratch dir (the changes) until the outcome drops.
    _work: WorkDir,
}

impl RunOutcome {
    /// True when the command exited 0.
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// The directory holding the changes (upperdir, or the copied rootfs).
    pub fn changes_dir(&self) -> &Path {
        match &self.changes {
            Changes::Upper(p) | Changes::Tree { root: p, .. } => p,
        }
    }

    /// The step's layer entries against `lowers` (the same snapshot dirs, top first,
    /// that the step ran on). Regular files' sources point into this outcome's dir.
    pub fn diff(&self, lowers: &[PathBuf]) -> Result<Vec<Entry>, SandboxError> {
        Ok(match &self.changes {
            Changes::Upper(upper) => diff_overlay(upper, lowers)?,
            Changes::Tree { root, exclude } => diff_tree(root, lowers, exclude)?,
        })
    }

    /// Moves the upperdir into the store as the snapshot of the layer just written
    /// from it (`diff_id`), sparing the next step an unpack. `None` in the copy
    /// fallback, where there is no upperdir: unpack the layer instead.
    pub fn into_snapshot(
        self,
        snapshots: &Snapshots,
        diff_id: &Digest,
    ) -> Result<Option<PathBuf>, SandboxError> {
        let Changes::Upper(upper) = &self.changes else {
            return Ok(None);
        };
        let path = snapshots
            .adopt(diff_id, upper)
            .map_err(|e| SandboxError::Setup(format!("keeping the upperdir as a snapshot: {e}")))?;
        // The rest of the scratch dir goes when `self` drops.
        Ok(Some(path))
    }
}

/// The step's entries: see [`RunOutcome::diff`].
pub fn diff(outcome: &RunOutcome, lowers: &[PathBuf]) -> Result<Vec<Entry>, SandboxError> {
    outcome.diff(lowers)
}

/// Runs one RUN step, streaming its output to `out` as it comes.
pub fn run(spec: &RunSpec, out: &mut dyn FnMut(Stream, &[u8])) -> Result<RunOutcome, SandboxError> {
    validate(spec)?;
    let privilege = detect();
    if privilege == Privilege::Unprivileged {
        return Err(SandboxError::Unprivileged);
    }
    let tmp = spec.work_root.clone();
    let leases: Vec<Option<CacheLease>> = spec
        .mounts
        .iter()
        .map(|m| match m {
            ResolvedMount::Cache(c) => lease_cache(&spec.cache_root, &tmp, c).map(Some),
            _ => Ok(None),
        })
        .collect::<Result<_, _>>()?;
    let mut copy = spec.force_copy || OVERLAY_UNUSABLE.load(Ordering::Relaxed);
    loop {
        let work = WorkDir::create(&spec.work_root)?;
        let (plan, changes, stubs) = prepare(spec, &work, copy, &leases, privilege)?;
        let report = run_child(&plan, spec.cancel.as_deref(), out)?;
        let mut exec_error = None;
        match report.setup_error {
            Some(SetupError::Overlay(_)) if !copy => {
                OVERLAY_UNUSABLE.store(true, Ordering::Relaxed);
                copy = true;
                continue;
            }
            Some(SetupError::Overlay(m)) => {
                return Err(SandboxError::Setup(format!("mounting the rootfs: {m}")));
            }
            Some(SetupError::Failed(m))
                if m.starts_with(SWITCH_USER) && privilege == Privilege::UserNamespace =>
            {
                return Err(SandboxError::Setup(format!(
                    "{m} (rootless: ids other than 0 exist only with ranges for your user in /etc/subuid \
                     and /etc/subgid, and newuidmap/newgidmap installed)"
                )));
            }
            Some(SetupError::Failed(m)) => return Err(SandboxError::Setup(m)),
            Some(SetupError::User(m)) => return Err(SandboxError::User(m)),
            Some(SetupError::Exec(_, m)) => exec_error = Some(m),
            None => {}
        }
        if let Changes::Tree { root, .. } = &changes {
            remove_unused(root, &stubs);
        }
        return Ok(RunOutcome {
            status: report.status,
            used_fallback: copy,
            exec_error,
            changes,
            _work: work,
        });
    }
}

fn validate(spec: &RunSpec) -> Result<(), SandboxError> {
    if spec.argv.is_empty() {
        return Err(SandboxError::Invalid("empty command".into()));
    }
    let targets = spec
        .mounts
        .iter()
        .map(ResolvedMount::target)
        .chain(spec.extra_files.iter().map(|f| f.target.as_str()));
    for t in targets.chain(std::iter::once(spec.cwd.as_str())) {
        if !t.starts_with('/') {
            return Err(SandboxError::Invalid(format!(
                "{t:?} is not an absolute path"
            )));
        }
    }
    Ok(())
}

/// Builds the set-up plan and everything on disk it refers to.
fn prepare(
    spec: &RunSpec,
    work: &WorkDir,
    copy: bool,
    leases: &[Option<CacheLease>],
    privilege: Privilege,
) -> Result<(SetupPlan, Changes, Stubs), SandboxError> {
    let mut targets: Vec<(String, NodeKind)> = ["/proc", "/dev", "/sys"]
        .iter()
        .map(|t| (t.to_string(), NodeKind::Dir))
        .collect();
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut files = vec![
        generated("hosts", hosts_file(&spec.hostname).into_bytes()),
        generated(
            "resolv.conf",
            resolv_conf(&host_resolv, spec.network).into_bytes(),
        ),
        generated("hostname", format!("{}\n", spec.hostname).into_bytes()),
    ];
    let mut mounts: Vec<PlannedMount> = ["hosts", "resolv.conf", "hostname"]
        .iter()
        .map(|n| PlannedMount::File {
            name: n.to_string(),
            target: format!("/etc/{n}"),
        })
        .collect();
    for (i, f) in spec.extra_files.iter().enumerate() {
        let name = format!("extra-{i}");
        files.push(PlannedFile {
            name: name.clone(),
            contents: f.contents.clone(),
            mode: f.mode,
            uid: f.uid,
            gid: f.gid,
        });
        mounts.push(PlannedMount::File {
            name,
            target: f.target.clone(),
        });
    }
    for (i, m) in spec.mounts.iter().enumerate() {
        mounts.push(plan_mount(m, leases[i].as_ref(), work, i, copy)?);
    }
    // Parents before children (a stable sort keeps the given order otherwise).
    mounts.sort_by_key(|m| target_of(m).split('/').filter(|c| !c.is_empty()).count());
    targets.extend(
        mounts
            .iter()
            .map(|m| (target_of(m).to_string(), kind_of(m))),
    );

    let (rootfs, root, changes, stubs) = if copy {
        let root = work.subdir("rootfs")?;
        let skipped = copy_merged(&spec.lowers, &root)?;
        let stubs = make_stubs(&LowerView::new(vec![root.clone()]), &root, &targets, false)?;
        (
            Rootfs::Dir,
            root.clone(),
            Changes::Tree {
                root,
                exclude: skipped.into_iter().collect(),
            },
            stubs,
        )
    } else {
        let stub_dir = work.subdir("stubs")?;
        let stubs = make_stubs(
            &LowerView::new(spec.lowers.clone()),
            &stub_dir,
            &targets,
            true,
        )?;
        let upper = work.subdir("upper")?;
        let mut lowers = vec![stub_dir];
        lowers.extend(spec.lowers.iter().cloned());
        let o = OverlayMount {
            lowers,
            upper: Some((upper.clone(), work.subdir("work")?)),
        };
        (
            Rootfs::Overlay(o),
            work.subdir("merged")?,
            Changes::Upper(upper),
            stubs,
        )
    };

    let plan = SetupPlan {
        rootfs,
        root,
        files_dir: work.subdir("files")?,
        files,
        mounts,
        new_netns: spec.network == Network::None,
        mount_sysfs: spec.network == Network::None || privilege == Privilege::Root,
        hostname: spec.hostname.clone(),
        user: spec.user.clone(),
        cwd: spec.cwd.clone(),
        env: spec.env.clone(),
        argv: spec.argv.clone(),
    };
    Ok((plan, changes, stubs))
}

fn generated(name: &str, contents: Vec<u8>) -> PlannedFile {
    PlannedFile {
        name: name.into(),
        contents,
        mode: 0o644,
        uid: 0,
        gid: 0,
    }
}

fn target_of(m: &PlannedMount) -> &str {
    match m {
        PlannedMount::File { target, .. }
        | PlannedMount::Tmpfs { target, .. }
        | PlannedMount::Bind { target, .. } => target,
    }
}

fn kind_of(m: &PlannedMount) -> NodeKind {
    match m {
        PlannedMount::File { .. } => NodeKind::File,
        PlannedMount::Tmpfs { .. } => NodeKind::Dir,
        PlannedMount::Bind { kind, .. } => *kind,
    }
}

/// One RUN mount as the child will perform it.
fn plan_mount(
    m: &ResolvedMount,
    lease: Option<&CacheLease>,
    work: &WorkDir,
    i: usize,
    copy: bool,
) -> Result<PlannedMount, SandboxError> {
    Ok(match m {
        ResolvedMount::Tmpfs { target, size } => PlannedMount::Tmpfs {
            target: target.clone(),
            size: *size,
        },
        ResolvedMount::Cache(c) => {
            let dir = lease
                .map(|l| l.dir.clone())
                .ok_or_else(|| SandboxError::Invalid("cache mount without a lease".into()))?;
            PlannedMount::Bind {
                source_root: dir,
                overlay: None,
                source: "/".into(),
                target: c.target.clone(),
                kind: NodeKind::Dir,
                readonly: c.readonly,
            }
        }
        ResolvedMount::Bind {
            target,
            source_layers,
            source,
            readwrite,
        } => {
            if source_layers.is_empty() {
                return Err(SandboxError::Mount {
                    target: target.clone(),
                    message: "no source".into(),
                });
            }
            let kind = match LowerView::new(source_layers.clone()).resolve(source)? {
                r if !r.missing.is_empty() => {
                    return Err(SandboxError::Mount {
                        target: target.clone(),
                        message: format!("source {source} not found"),
                    });
                }
                r => match LowerView::new(source_layers.clone()).lookup_path(&r.existing) {
                    Ok(Some(f)) if !f.meta.is_dir() => NodeKind::File,
                    _ => NodeKind::Dir,
                },
            };
            let (source_root, overlay) = if source_layers.len() == 1 && !readwrite {
                (source_layers[0].clone(), None)
            } else if copy {
                // No overlayfs here: a private copy serves both cases.
                let dir = work.subdir(&format!("bind-{i}"))?;
                copy_merged(source_layers, &dir)?;
                (dir, None)
            } else {
                let upper = if *readwrite {
                    Some((
                        work.subdir(&format!("bind-{i}-upper"))?,
                        work.subdir(&format!("bind-{i}-work"))?,
                    ))
                } else {
                    None
                };
                let o = OverlayMount {
                    lowers: source_layers.clone(),
                    upper,
                };
                (work.subdir(&format!("bind-{i}"))?, Some(o))
            };
            PlannedMount::Bind {
                source_root,
                overlay,
                source: source.clone(),
                target: target.clone(),
                kind,
                readonly: !readwrite,
            }
        }
    })
}
