//! Where blobs came from: `blob → (registry, repository)` hints, so a push to another
//! repository of the same registry can ask for a cross-repository mount instead of
//! uploading the bytes again.
//!
//! One small JSON file per blob under `ROOT/registry-origins/`, replaced atomically. They
//! are hints: a missing or stale one only costs an upload.

use std::io::Write;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::fsutil::AtomicFile;
use crate::store::Store;

/// Directory under the store root.
pub const ORIGINS_DIR: &str = "registry-origins";
/// Sources remembered per blob.
const MAX_SOURCES: usize = 4;

/// A repository that holds a blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// The registry, as named (`localhost:5000`).
    pub registry: String,
    /// The repository (`library/busybox`).
    pub repository: String,
}

fn path(store: &Store, digest: &Digest) -> PathBuf {
    store
        .root()
        .join(ORIGINS_DIR)
        .join(format!("{}.json", digest.hex()))
}

/// The repositories known to hold `digest`, most recent first.
pub fn sources(store: &Store, digest: &Digest) -> Vec<Origin> {
    std::fs::read(path(store, digest))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Remembers that `origin` holds `digest`.
pub fn record(store: &Store, digest: &Digest, origin: &Origin) -> std::io::Result<()> {
    let mut list = sources(store, digest);
    if list.first() == Some(origin) {
        return Ok(());
    }
    list.retain(|o| o != origin);
    list.insert(0, origin.clone());
    list.truncate(MAX_SOURCES);
    let dest = path(store, digest);
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let bytes = serde_json::to_vec(&list).map_err(std::io::Error::other)?;
    let mut f = AtomicFile::create_in(&store.tmp_dir(), &dest)?;
    f.write_all(&bytes)?;
    f.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_recent_first_without_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let d = Digest::of(b"blob");
        assert!(sources(&store, &d).is_empty());
        let o = |r: &str| Origin {
            registry: "localhost:5000".into(),
            repository: r.into(),
        };
        for r in ["a", "b", "a", "c", "d", "e"] {
            record(&store, &d, &o(r)).unwrap();
        }
        let got: Vec<String> = sources(&store, &d)
            .into_iter()
            .map(|x| x.repository)
            .collect();
        assert_eq!(got, ["e", "d", "c", "a"]);
    }
}
