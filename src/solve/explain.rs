//! Cache-miss explanations: for each step position (Dockerfile, stage, step) the store
//! remembers the key of the last record used there; on a miss the inputs of that record
//! are compared with the current ones and the first difference is named — down to the
//! file, for COPY sources, through a listing of each selection.
//!
//! Everything lives under `ROOT/explain/`, is advisory, and is rebuilt as builds run: a
//! missing or unreadable file only means no explanation.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::key::{KeyInputs, explain_miss};
use crate::digest::Digest;
use crate::fsutil::atomic_write;
use crate::plan::Stage;
use crate::store::Store;

/// Identifies a step position across builds.
pub(crate) fn position(dockerfile_id: &str, stage: &Stage, index: usize) -> String {
    let stage_id = stage
        .name
        .clone()
        .unwrap_or_else(|| stage.index.to_string());
    Digest::of(format!("{dockerfile_id}\0{stage_id}\0{index}").as_bytes()).hex()
}

fn dir(store: &Store) -> PathBuf {
    store.root().join("explain")
}

/// Remembers that `key` was used at `position`.
pub(crate) fn remember(store: &Store, position: &str, key: &Digest) {
    let d = dir(store);
    let path = d.join(position);
    if std::fs::read_to_string(&path).is_ok_and(|k| k == key.hex()) {
        return;
    }
    let _ = std::fs::create_dir_all(&d);
    let _ = atomic_write(&path, key.hex().as_bytes());
}

/// The layer of the last record used at `position` (the previous build of this step).
pub(crate) fn previous_layer(store: &Store, position: &str) -> Option<Digest> {
    let last = std::fs::read_to_string(dir(store).join(position)).ok()?;
    let key = Digest::from_hex(last.trim()).ok()?;
    store.get_cache_record(&key).ok()??.layer.map(|l| l.diff_id)
}

/// Why a step at `position` with `inputs` missed, compared with the last record there.
pub(crate) fn why_missed(store: &Store, position: &str, inputs: &KeyInputs) -> Option<String> {
    let last = std::fs::read_to_string(dir(store).join(position)).ok()?;
    let key = Digest::from_hex(last.trim()).ok()?;
    let previous = store.get_cache_record(&key).ok()??;
    let current = inputs.entries();
    if previous.inputs.get("sources") != current.get("sources") {
        if let (Some(old), Some(new)) = (previous.inputs.get("sources"), current.get("sources")) {
            if let Some(reason) = file_difference(store, old, new) {
                return Some(reason);
            }
        }
    }
    explain_miss(&previous.inputs, current)
}

/// Stores the listing of a selection (`path → content digest`), named by its digest.
pub(crate) fn write_listing(store: &Store, selection: &str, files: &[(String, String)]) {
    let path = dir(store).join(format!("sel-{}", selection.trim_start_matches("sha256:")));
    if path.exists() {
        return;
    }
    let mut text = String::new();
    for (p, d) in files {
        text.push_str(p);
        text.push('\t');
        text.push_str(d);
        text.push('\n');
    }
    let _ = std::fs::create_dir_all(dir(store));
    let _ = atomic_write(&path, text.as_bytes());
}

fn read_listing(store: &Store, selection: &str) -> Option<BTreeMap<String, String>> {
    let path = dir(store).join(format!("sel-{}", selection.trim_start_matches("sha256:")));
    let text = std::fs::read_to_string(path).ok()?;
    Some(
        text.lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(p, d)| (p.to_string(), d.to_string()))
            .collect(),
    )
}

fn file_difference(store: &Store, old: &str, new: &str) -> Option<String> {
    let (a, b) = (read_listing(store, old)?, read_listing(store, new)?);
    let mut files: Vec<BTreeMap<String, String>> = vec![BTreeMap::new(), BTreeMap::new()];
    for (p, d) in &a {
        files[0].insert(format!("file:{p}"), d.clone());
    }
    for (p, d) in &b {
        files[1].insert(format!("file:{p}"), d.clone());
    }
    explain_miss(&files[0], &files[1])
}
