//! Step cache records: `cache/<key hex>.json`, write-once, one per step cache key.
//!
//! The envelope (layer and creation time) is what `prune` needs to know which blobs and
//! snapshots a record keeps alive; `inputs` is the solver's own description of what went
//! into the key, used to explain a cache miss.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Store, StoreError};
use crate::digest::Digest;
use crate::fsutil::AtomicFile;
use crate::image::Descriptor;

/// The layer a step produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    /// The compressed blob.
    pub descriptor: Descriptor,
    /// sha256 of the uncompressed tar.
    pub diff_id: Digest,
}

/// What one step produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheRecord {
    /// The step's cache key.
    pub key: Digest,
    /// The layer, or `None` for a step that changes only the config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<LayerRecord>,
    /// When the step ran (RFC 3339), reused for the history entry on a hit.
    pub created: String,
    /// Named inputs of the key (instruction text, file digests, args…), for miss explanations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inputs: BTreeMap<String, String>,
}

impl Store {
    fn cache_record_path(&self, key: &Digest) -> PathBuf {
        self.root()
            .join("cache")
            .join(format!("{}.json", key.hex()))
    }

    /// The record for `key`, if one was stored.
    pub fn get_cache_record(&self, key: &Digest) -> Result<Option<CacheRecord>, StoreError> {
        let path = self.cache_record_path(key);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| StoreError::Json { path, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io(&path, e)),
        }
    }

    /// Stores a record (a record already stored under the same key is kept).
    pub fn put_cache_record(&self, record: &CacheRecord) -> Result<(), StoreError> {
        let path = self.cache_record_path(&record.key);
        let bytes = serde_json::to_vec(record).map_err(|source| StoreError::Json {
            path: path.clone(),
            source,
        })?;
        let mut f =
            AtomicFile::create_in(&self.tmp_dir(), &path).map_err(|e| StoreError::io(&path, e))?;
        std::io::Write::write_all(&mut f, &bytes).map_err(|e| StoreError::io(&path, e))?;
        f.commit_noclobber().map_err(|e| StoreError::io(&path, e))?;
        Ok(())
    }

    /// Removes the record for `key` (one whose layer can no longer be had, so that the
    /// step's next run can store a new one). Removing a missing record is not an error.
    pub fn remove_cache_record(&self, key: &Digest) -> Result<(), StoreError> {
        let path = self.cache_record_path(key);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StoreError::io(&path, e)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let key = Digest::of(b"key");
        assert!(store.get_cache_record(&key).unwrap().is_none());
        let rec = CacheRecord {
            key,
            layer: None,
            created: "2024-01-01T00:00:00Z".into(),
            inputs: BTreeMap::new(),
        };
        store.put_cache_record(&rec).unwrap();
        assert_eq!(store.get_cache_record(&key).unwrap(), Some(rec.clone()));
        store.remove_cache_record(&key).unwrap();
        assert!(store.get_cache_record(&key).unwrap().is_none());
        store.remove_cache_record(&key).unwrap();
    }
}
