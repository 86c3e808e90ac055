//! Disk usage of the store by category (`rbuild du`).

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::{Store, StoreError};

/// Entries and bytes of one category.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Usage {
    /// Top-level entries (blobs, snapshot dirs, records, temp files).
    pub count: u64,
    /// Bytes of all files below, each inode counted once.
    pub bytes: u64,
}

/// What the store holds, by category.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DiskUsage {
    /// `blobs/sha256`: layers, configs, manifests.
    pub blobs: Usage,
    /// `snapshots/`: unpacked layers.
    pub snapshots: Usage,
    /// `cache/`: step cache records.
    pub cache: Usage,
    /// `tmp/`: temp files (in-flight writes or leftovers).
    pub tmp: Usage,
    /// `contexts/`: build-context stat caches.
    pub contexts: Usage,
}

impl DiskUsage {
    /// Total bytes.
    pub fn total_bytes(&self) -> u64 {
        self.blobs.bytes
            + self.snapshots.bytes
            + self.cache.bytes
            + self.tmp.bytes
            + self.contexts.bytes
    }
}

impl Store {
    /// Measures the store.
    pub fn du(&self) -> Result<DiskUsage, StoreError> {
        let cat = |sub: &str| -> Result<Usage, StoreError> {
            let dir = self.root().join(sub);
            let rd = match std::fs::read_dir(&dir) {
                Ok(rd) => rd,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Usage::default()),
                Err(e) => return Err(StoreError::io(&dir, e)),
            };
            let mut usage = Usage::default();
            let mut seen = HashSet::new();
            for entry in rd {
                let entry = entry.map_err(|e| StoreError::io(&dir, e))?;
                usage.count += 1;
                usage.bytes += tree_size_seen(&entry.path(), &mut seen);
            }
            Ok(usage)
        };
        Ok(DiskUsage {
            blobs: cat("blobs/sha256")?,
            snapshots: cat("snapshots")?,
            cache: cat("cache")?,
            tmp: cat("tmp")?,
            contexts: cat("contexts")?,
        })
    }
}

/// Apparent size of a file or of every file under a directory (symlinks not followed).
pub(crate) fn tree_size(path: &Path) -> Usage {
    let mut seen = HashSet::new();
    Usage {
        count: 1,
        bytes: tree_size_seen(path, &mut seen),
    }
}

fn tree_size_seen(path: &Path, seen: &mut HashSet<(u64, u64)>) -> u64 {
    walkdir::WalkDir::new(path)
        .follow_links(false)
        .into_iter()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file() && seen.insert((m.dev(), m.ino())))
        .map(|m| m.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_category() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.put_blob(b"12345").unwrap();
        store.put_blob(b"abc").unwrap();
        let snap = dir.path().join("snapshots").join("x");
        std::fs::create_dir_all(snap.join("d")).unwrap();
        std::fs::write(snap.join("d/f"), b"0123456789").unwrap();
        std::fs::hard_link(snap.join("d/f"), snap.join("g")).unwrap();
        let du = store.du().unwrap();
        assert_eq!(du.blobs, Usage { count: 2, bytes: 8 });
        assert_eq!(
            du.snapshots,
            Usage {
                count: 1,
                bytes: 10
            },
            "hard links count once"
        );
        assert_eq!(du.tmp, Usage::default());
        assert_eq!(du.total_bytes(), 18);
    }
}
