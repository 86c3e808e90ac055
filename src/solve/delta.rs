//! Delta snapshots for rewritten COPY layers.
//!
//! When one file of a large COPY changes, the new layer differs from the previous
//! build's layer at the same step by that file. Unpacking the new layer for the next RUN
//! would create every file again (the dominant cost of a changed rebuild); instead its
//! snapshot is made of the changed entries only, stacked on the previous layer's
//! snapshot ([`Snapshots::adopt_delta`]).
//!
//! To know what changed, each COPY layer leaves a manifest, `snapshots/<diff-id>.entries`:
//! one line per entry, its path and a signature of everything the tar records about it
//! (type, mode, owner, mtime, size, content digest or link target). A removed entry
//! becomes a whiteout only when no lower layer has that path (otherwise the lower file
//! must show through, which a whiteout would hide): then no delta is made and the
//! snapshot is unpacked from the blob as usual.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::Solver;
use super::error::SolveError;
use crate::digest::Digest;
use crate::fsutil::atomic_write;
use crate::layer::view::LayerView;
use crate::layer::{
    Entry, EntryKind, MAX_DELTA_DEPTH, Snapshots, TarWriter, UnpackMode, sort_entries, unpack,
};

/// The signature of what a layer records about an entry; `content` is a file's digest.
pub(crate) fn signature(e: &Entry, content: Option<&Digest>) -> String {
    let kind = match &e.kind {
        EntryKind::File { size } => {
            format!("f{size}:{}", content.map(Digest::hex).unwrap_or_default())
        }
        EntryKind::Dir => "d".to_string(),
        EntryKind::Symlink { target } => format!("l{target}"),
        EntryKind::Hardlink { target } => format!("h{target}"),
        other => format!("{other:?}"),
    };
    let text = format!("{kind}\0{:o}\0{}\0{}\0{}", e.mode, e.uid, e.gid, e.mtime);
    Digest::of(text.as_bytes()).hex()[..32].to_string()
}

fn manifest_path(s: &Solver<'_>, diff_id: &Digest) -> PathBuf {
    s.store
        .root()
        .join("snapshots")
        .join(format!("{}.entries", diff_id.hex()))
}

/// Records the manifest of a COPY layer (once per layer).
pub(crate) fn write_manifest(s: &Solver<'_>, diff_id: &Digest, sigs: &BTreeMap<String, String>) {
    let path = manifest_path(s, diff_id);
    if path.exists() {
        return;
    }
    let mut text = String::with_capacity(sigs.len() * 80);
    for (p, sig) in sigs {
        text.push_str(p);
        text.push('\t');
        text.push_str(sig);
        text.push('\n');
    }
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = atomic_write(&path, text.as_bytes());
}

fn read_manifest(s: &Solver<'_>, diff_id: &Digest) -> Option<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(manifest_path(s, diff_id)).ok()?;
    Some(
        text.lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(p, g)| (p.to_string(), g.to_string()))
            .collect(),
    )
}

/// Makes the snapshot of `new` as a delta on `previous` when that is possible and worth
/// it; otherwise does nothing (the snapshot is unpacked from the blob when needed).
/// `entries` and `sigs` describe the new layer; `lower` is the stack below it.
pub(crate) fn make_delta(
    s: &Solver<'_>,
    new: &Digest,
    previous: &Digest,
    entries: &[Entry],
    sigs: &BTreeMap<String, String>,
    lower: &LayerView,
) -> Result<(), SolveError> {
    let snaps = Snapshots::new(s.store);
    if new == previous || snaps.contains(new) || snaps.depth(previous) >= MAX_DELTA_DEPTH {
        return Ok(());
    }
    let Some(old) = read_manifest(s, previous) else {
        return Ok(());
    };
    let changed: BTreeSet<&str> = sigs
        .iter()
        .filter(|(p, g)| old.get(*p) != Some(*g))
        .map(|(p, _)| p.as_str())
        .collect();
    let removed: Vec<&String> = old.keys().filter(|p| !sigs.contains_key(*p)).collect();
    if changed.len() + removed.len() > entries.len() / 2 + 1 {
        return Ok(());
    }
    for p in &removed {
        if lower.lookup(p).ok().flatten().is_some() {
            return Ok(());
        }
    }
    // The changed entries and every directory above them, with the new metadata.
    let mut keep: BTreeSet<&str> = BTreeSet::new();
    for p in changed
        .iter()
        .copied()
        .chain(removed.iter().map(|p| p.as_str()))
    {
        keep.insert(p);
        let mut cur = p;
        while let Some((parent, _)) = cur.rsplit_once('/') {
            keep.insert(parent);
            cur = parent;
        }
    }
    let mut delta: Vec<Entry> = entries
        .iter()
        .filter(|e| keep.contains(e.path.as_str()))
        .cloned()
        .collect();
    delta.extend(removed.iter().map(|p| Entry::whiteout(p.as_str())));
    sort_entries(&mut delta);

    // Through the tar writer and the safe unpacker, so the delta holds exactly what the
    // layer holds, in overlay form.
    let err =
        |e: &dyn std::fmt::Display| SolveError::store(format!("making a delta snapshot: {e}"));
    let tar_file = tempfile::tempfile_in(s.store.tmp_dir()).map_err(|e| err(&e))?;
    let mut w = TarWriter::new(std::io::BufWriter::new(tar_file), s.opts.layer.tar);
    for e in &delta {
        w.append(e).map_err(|e| err(&e))?;
    }
    let mut tar_file = w
        .finish()
        .map_err(|e| err(&e))?
        .into_inner()
        .map_err(|e| err(&e))?;
    std::io::Seek::rewind(&mut tar_file).map_err(|e| err(&e))?;
    let staging = tempfile::Builder::new()
        .prefix("delta-")
        .tempdir_in(s.store.tmp_dir())
        .map_err(|e| err(&e))?;
    unpack(
        std::io::BufReader::new(tar_file),
        staging.path(),
        UnpackMode::Overlay,
    )
    .map_err(|e| err(&e))?;
    snaps
        .adopt_delta(new, staging.path(), previous)
        .map_err(|e| err(&e))?;
    if !staging.path().exists() {
        let _ = staging.keep();
    }
    Ok(())
}
