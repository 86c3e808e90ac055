//! Where a lazily imported blob can be had: `blob → [cache source]`, kept in the store so
//! any later command (`rbuild save`, `rbuild push`, the next build) can fetch a layer
//! that a `--cache-from` made a cache hit without downloading it.
//!
//! One small JSON file per blob under `ROOT/cache-sources/`, replaced atomically (by a
//! rename, without fsync: a hint lost in a crash only turns a cache hit into a miss),
//! most recent source first. They are hints: a stale one only costs a failed fetch.

use std::io::Write;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::registry::Reference;
use crate::store::Store;

/// Directory under the store root.
pub const HINTS_DIR: &str = "cache-sources";
/// Sources remembered per blob.
const MAX_SOURCES: usize = 4;

/// A place that holds a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobSource {
    /// A registry repository (the reference's tag is only informative).
    Registry(Reference),
    /// An OCI layout directory (`DIR/blobs/sha256/<hex>`).
    Dir(PathBuf),
}

impl std::fmt::Display for BlobSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlobSource::Registry(r) => write!(f, "{r}"),
            BlobSource::Dir(d) => write!(f, "{}", d.display()),
        }
    }
}

/// The stored form.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Stored {
    Registry(String),
    Dir(PathBuf),
}

impl Stored {
    fn from_source(s: &BlobSource) -> Stored {
        match s {
            BlobSource::Registry(r) => Stored::Registry(r.to_string()),
            BlobSource::Dir(d) => Stored::Dir(d.clone()),
        }
    }

    fn into_source(self) -> Option<BlobSource> {
        match self {
            Stored::Registry(r) => Reference::parse(&r).ok().map(BlobSource::Registry),
            Stored::Dir(d) => Some(BlobSource::Dir(d)),
        }
    }
}

fn path(store: &Store, digest: &Digest) -> PathBuf {
    store
        .root()
        .join(HINTS_DIR)
        .join(format!("{}.json", digest.hex()))
}

/// True when some source is known for `digest`.
pub fn known(store: &Store, digest: &Digest) -> bool {
    path(store, digest).is_file()
}

/// The sources known to hold `digest`, most recent first (unreadable hints are ignored).
pub fn sources(store: &Store, digest: &Digest) -> Vec<BlobSource> {
    std::fs::read(path(store, digest))
        .ok()
        .and_then(|b| serde_json::from_slice::<Vec<Stored>>(&b).ok())
        .unwrap_or_default()
        .into_iter()
        .filter_map(Stored::into_source)
        .collect()
}

/// Remembers that `source` holds `digest`.
pub fn record(store: &Store, digest: &Digest, source: &BlobSource) -> std::io::Result<()> {
    let mut list = sources(store, digest);
    if list.first() == Some(source) {
        return Ok(());
    }
    list.retain(|s| s != source);
    list.insert(0, source.clone());
    list.truncate(MAX_SOURCES);
    let dest = path(store, digest);
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let stored: Vec<Stored> = list.iter().map(Stored::from_source).collect();
    let bytes = serde_json::to_vec(&stored).map_err(std::io::Error::other)?;
    let mut f = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(store.tmp_dir())?;
    f.write_all(&bytes)?;
    f.persist(&dest).map(drop).map_err(|e| e.error)
}

/// Forgets that `source` holds `digest`.
pub fn forget(store: &Store, digest: &Digest, source: &BlobSource) {
    let list = sources(store, digest);
    if !list.contains(source) {
        return;
    }
    let _ = std::fs::remove_file(path(store, digest));
    for s in list.iter().rev().filter(|s| *s != source) {
        let _ = record(store, digest, s);
    }
}

/// Forgets `source` for every blob: it is gone (a deleted directory, a registry that
/// no longer has what it listed), so the records whose layers only it held are misses
/// again rather than failures. Returns how many blobs lost their last source.
pub fn forget_source(store: &Store, source: &BlobSource) -> usize {
    let Ok(entries) = std::fs::read_dir(store.root().join(HINTS_DIR)) else {
        return 0;
    };
    let mut orphaned = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(digest) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".json"))
            .and_then(|h| Digest::from_hex(h).ok())
        else {
            continue;
        };
        let list = sources(store, &digest);
        if !list.contains(source) {
            continue;
        }
        forget(store, &digest, source);
        if list.len() == 1 {
            orphaned += 1;
        }
    }
    orphaned
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_recent_first_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let d = Digest::of(b"blob");
        assert!(!known(&store, &d));
        assert!(sources(&store, &d).is_empty());
        let reg = BlobSource::Registry(Reference::parse("localhost:5000/cache:main").unwrap());
        let local = BlobSource::Dir("/ci/cache".into());
        record(&store, &d, &reg).unwrap();
        record(&store, &d, &local).unwrap();
        record(&store, &d, &local).unwrap();
        assert!(known(&store, &d));
        assert_eq!(sources(&store, &d), vec![local.clone(), reg.clone()]);
        record(&store, &d, &reg).unwrap();
        assert_eq!(sources(&store, &d), vec![reg.clone(), local.clone()]);
        forget(&store, &d, &local);
        assert_eq!(sources(&store, &d), vec![reg.clone()]);
        record(&store, &d, &local).unwrap();
        // A vanished source is forgotten for every blob.
        let other = Digest::of(b"other");
        record(&store, &other, &local).unwrap();
        assert_eq!(forget_source(&store, &local), 1);
        assert!(!known(&store, &other));
        assert_eq!(sources(&store, &d), vec![reg]);
    }

    #[test]
    fn unreadable_hints_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let d = Digest::of(b"blob");
        std::fs::create_dir_all(store.root().join(HINTS_DIR)).unwrap();
        std::fs::write(
            path(&store, &d),
            b"[{\"registry\":\"NOT A REF\"},{\"dir\":\"/x\"}]",
        )
        .unwrap();
        assert_eq!(sources(&store, &d), vec![BlobSource::Dir("/x".into())]);
        std::fs::write(path(&store, &d), b"garbage").unwrap();
        assert!(sources(&store, &d).is_empty());
    }
}
