//! Plumbing behind the hidden `rbuild __sandbox` command: run one step from a JSON
//! [`RunSpec`] and report it as JSON. The rootless tests drive the sandbox through it
//! as an unprivileged user, and it is handy to debug a step by hand.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::SandboxError;
use super::run::run;
use super::spec::{ExitStatus, RunSpec, Stream};
use crate::layer::{Entry, EntryKind};

/// One layer entry, as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntrySummary {
    /// Path in the layer (`.wh.` names for whiteouts and opaque markers).
    pub path: String,
    /// `file`, `dir`, `symlink`, `hardlink`, `char`, `block`, `fifo`, `whiteout`, `opaque`.
    pub kind: String,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size of a regular file.
    pub size: Option<u64>,
    /// Target of a link.
    pub link: Option<String>,
}

impl From<&Entry> for EntrySummary {
    fn from(e: &Entry) -> EntrySummary {
        let (kind, size, link) = match &e.kind {
            EntryKind::File { size } => ("file", Some(*size), None),
            EntryKind::Dir => ("dir", None, None),
            EntryKind::Symlink { target } => ("symlink", None, Some(target.clone())),
            EntryKind::Hardlink { target } => ("hardlink", None, Some(target.clone())),
            EntryKind::CharDevice { .. } => ("char", None, None),
            EntryKind::BlockDevice { .. } => ("block", None, None),
            EntryKind::Fifo => ("fifo", None, None),
            EntryKind::Whiteout => ("whiteout", None, None),
            EntryKind::Opaque => ("opaque", None, None),
        };
        EntrySummary {
            path: e.tar_path(),
            kind: kind.into(),
            mode: e.mode,
            uid: e.uid,
            gid: e.gid,
            size,
            link,
        }
    }
}

/// What a step did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepReport {
    /// How it ended.
    pub status: ExitStatus,
    /// Whether the copy fallback was used.
    pub used_fallback: bool,
    /// Why the command could not start, if it could not.
    pub exec_error: Option<String>,
    /// Standard output (lossy UTF-8).
    pub stdout: String,
    /// Standard error (lossy UTF-8).
    pub stderr: String,
    /// Its layer entries, in layer order.
    pub entries: Vec<EntrySummary>,
}

/// Runs `spec`, collects output and the diff; with `keep`, moves the directory of
/// changes there (an upperdir is itself a snapshot usable as the next step's lower).
pub fn run_step(spec: &RunSpec, keep: Option<&Path>) -> Result<StepReport, SandboxError> {
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let outcome = run(spec, &mut |s, b| match s {
        Stream::Stdout => stdout.extend_from_slice(b),
        Stream::Stderr => stderr.extend_from_slice(b),
    })?;
    let entries = outcome
        .diff(&spec.lowers)?
        .iter()
        .map(EntrySummary::from)
        .collect();
    if let Some(dest) = keep {
        std::fs::rename(outcome.changes_dir(), dest).map_err(SandboxError::at(dest))?;
    }
    Ok(StepReport {
        status: outcome.status,
        used_fallback: outcome.used_fallback,
        exec_error: outcome.exec_error.clone(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        entries,
    })
}
