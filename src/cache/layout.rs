//! A local cache directory: an OCI image layout (`oci-layout`, `index.json`,
//! `blobs/sha256/…`) holding the cache artifact under a tag, so CI systems can save and
//! restore it as a plain directory and `skopeo copy oci:DIR:TAG docker://…` can move it
//! to a registry.
//!
//! Reading verifies every blob against its descriptor. Writing copies blobs in (temp
//! file, fsync, rename), points the tag at the new manifest, and then removes the blobs
//! no manifest of the layout refers to any more, so a directory exported again and
//! again does not grow without bound. An export holds `DIR/.rbuild-lock` throughout, so
//! two exports to one directory never delete each other's blobs.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::CacheError;
use crate::digest::{Digest, HashingReader};
use crate::fsutil::{AtomicFile, FileLock};
use crate::image::{Descriptor, Index, REF_NAME_ANNOTATION, media};
use crate::registry::{Progress, TransferEvent, TransferPhase};
use crate::store::{Store, StoreError};

/// Largest `index.json` read.
const INDEX_LIMIT: u64 = 4 << 20;
/// Largest manifest read while pruning.
const MANIFEST_LIMIT: u64 = 4 << 20;

/// An OCI layout directory used as a build cache.
pub(crate) struct LayoutDir {
    dir: PathBuf,
}

impl LayoutDir {
    /// The layout at `dir` (which may not exist yet).
    pub fn new(dir: &Path) -> LayoutDir {
        LayoutDir {
            dir: dir.to_path_buf(),
        }
    }

    fn blobs(&self) -> PathBuf {
        self.dir.join("blobs/sha256")
    }

    /// Where blob `digest` is (or would be).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.blobs().join(digest.hex())
    }

    fn index_path(&self) -> PathBuf {
        self.dir.join("index.json")
    }

    /// The layout's index; `None` when the directory has none.
    fn read_index(&self) -> Result<Option<Index>, CacheError> {
        let path = self.index_path();
        let bytes = match read_limited(&path, INDEX_LIMIT) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(CacheError::io(&path, e)),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| CacheError::NotACache {
                location: self.dir.display().to_string(),
                reason: format!("index.json: {e}"),
            })
    }

    /// The manifest `digest` names when given, else the one tagged `tag`.
    pub fn find(&self, tag: &str, digest: Option<&Digest>) -> Result<Descriptor, CacheError> {
        let not_found = |reason: String| CacheError::NotFound {
            location: self.dir.display().to_string(),
            reason,
        };
        let index = self
            .read_index()?
            .ok_or_else(|| not_found("no index.json: nothing was exported there".into()))?;
        match digest {
            Some(want) => index
                .manifests
                .into_iter()
                .find(|d| d.digest == *want)
                .ok_or_else(|| not_found(format!("no manifest {want} in index.json"))),
            None => index
                .manifests
                .into_iter()
                .find(|d| d.annotation(REF_NAME_ANNOTATION) == Some(tag))
                .ok_or_else(|| not_found(format!("no manifest tagged {tag:?} in index.json"))),
        }
    }

    /// Reads a small blob (manifest, config), checking its size and digest.
    pub fn read_blob(&self, desc: &Descriptor, limit: u64) -> Result<Vec<u8>, CacheError> {
        let path = self.blob_path(&desc.digest);
        if desc.size > limit {
            return Err(CacheError::Corrupt {
                path,
                reason: format!("{} bytes is more than the {limit} accepted", desc.size),
            });
        }
        let bytes = read_limited(&path, limit).map_err(|e| CacheError::io(&path, e))?;
        let digest = Digest::of(&bytes);
        if digest != desc.digest || bytes.len() as u64 != desc.size {
            return Err(CacheError::Corrupt {
                path,
                reason: format!(
                    "content is {digest} ({} bytes), expected {} ({} bytes)",
                    bytes.len(),
                    desc.digest,
                    desc.size
                ),
            });
        }
        Ok(bytes)
    }

    /// Copies blob `desc` into the store, verifying it as it streams.
    pub fn fetch_into(
        &self,
        store: &Store,
        desc: &Descriptor,
        progress: Progress<'_>,
    ) -> Result<(), CacheError> {
        let path = self.blob_path(&desc.digest);
        let file = File::open(&path).map_err(|e| CacheError::io(&path, e))?;
        let event = |phase, done| {
            progress(&TransferEvent {
                digest: desc.digest,
                total: desc.size,
                done,
                phase,
            })
        };
        event(TransferPhase::Start, 0);
        let mut w = store.blob_writer()?;
        // One byte more than promised, to notice a longer file.
        io::copy(&mut file.take(desc.size + 1), &mut w).map_err(|e| CacheError::io(&path, e))?;
        match w.commit(Some((desc.digest, desc.size))) {
            Ok(_) => {}
            Err(StoreError::DigestMismatch {
                actual,
                actual_size,
                ..
            }) => {
                return Err(CacheError::Corrupt {
                    path,
                    reason: format!(
                        "content is {actual} ({actual_size} bytes), expected {} ({} bytes)",
                        desc.digest, desc.size
                    ),
                });
            }
            Err(e) => return Err(e.into()),
        }
        event(TransferPhase::Done, desc.size);
        Ok(())
    }

    /// True when the layout has a file for blob `desc` of the right size.
    pub fn has_blob(&self, desc: &Descriptor) -> bool {
        std::fs::metadata(self.blob_path(&desc.digest))
            .is_ok_and(|m| m.is_file() && m.len() == desc.size)
    }

    /// Takes the directory's export lock (creating the directory).
    pub fn lock(&self) -> Result<FileLock, CacheError> {
        std::fs::create_dir_all(self.blobs()).map_err(|e| CacheError::io(self.blobs(), e))?;
        let path = self.dir.join(".rbuild-lock");
        FileLock::exclusive(&path).map_err(|e| CacheError::io(&path, e))
    }

    /// Copies a blob from the store unless the layout has it; true when copied.
    pub fn put_from_store(&self, store: &Store, desc: &Descriptor) -> Result<bool, CacheError> {
        let dest = self.blob_path(&desc.digest);
        if std::fs::metadata(&dest).is_ok_and(|m| m.is_file() && m.len() == desc.size) {
            return Ok(false);
        }
        let mut src = store.open_blob(&desc.digest)?;
        let mut f =
            AtomicFile::create_in(&self.blobs(), &dest).map_err(|e| CacheError::io(&dest, e))?;
        let mut hashing = HashingReader::new(&mut src);
        io::copy(&mut hashing, &mut f).map_err(|e| CacheError::io(&dest, e))?;
        let (_, digest, size) = hashing.finish();
        if digest != desc.digest || size != desc.size {
            return Err(StoreError::DigestMismatch {
                expected: desc.digest,
                expected_size: desc.size,
                actual: digest,
                actual_size: size,
            }
            .into());
        }
        f.commit().map_err(|e| CacheError::io(&dest, e))?;
        Ok(true)
    }

    /// Writes `bytes` as a blob.
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<(), CacheError> {
        let dest = self.blob_path(&Digest::of(bytes));
        if std::fs::metadata(&dest).is_ok_and(|m| m.len() == bytes.len() as u64) {
            return Ok(());
        }
        let mut f =
            AtomicFile::create_in(&self.blobs(), &dest).map_err(|e| CacheError::io(&dest, e))?;
        f.write_all(bytes).map_err(|e| CacheError::io(&dest, e))?;
        f.commit().map_err(|e| CacheError::io(&dest, e))
    }

    /// Points `tag` at `desc` in `index.json` (other tags are kept) and writes
    /// `oci-layout` if missing.
    pub fn tag(&self, tag: &str, desc: &Descriptor) -> Result<(), CacheError> {
        let layout = self.dir.join("oci-layout");
        if !layout.exists() {
            crate::fsutil::atomic_write(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#)
                .map_err(|e| CacheError::io(&layout, e))?;
        }
        let mut index = self.read_index()?.unwrap_or_else(Index::empty);
        index
            .manifests
            .retain(|d| d.annotation(REF_NAME_ANNOTATION) != Some(tag));
        index
            .manifests
            .push(desc.clone().with_annotation(REF_NAME_ANNOTATION, tag));
        let path = self.index_path();
        crate::fsutil::atomic_write(&path, &index.to_bytes()).map_err(|e| CacheError::io(&path, e))
    }

    /// Removes the blobs no manifest of `index.json` refers to; returns how many. When a
    /// referenced manifest cannot be read, nothing is removed (better a big cache than a
    /// broken one).
    pub fn prune(&self) -> Result<usize, CacheError> {
        let Some(index) = self.read_index()? else {
            return Ok(0);
        };
        let mut live = std::collections::HashSet::new();
        let mut todo: Vec<(Descriptor, usize)> =
            index.manifests.into_iter().map(|d| (d, 0)).collect();
        while let Some((d, depth)) = todo.pop() {
            if !live.insert(d.digest) {
                continue;
            }
            let is_tree = media::is_manifest(&d.media_type) || media::is_index(&d.media_type);
            if !is_tree {
                continue;
            }
            let Ok(bytes) = self.read_blob(&d, MANIFEST_LIMIT) else {
                return Ok(0);
            };
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
                return Ok(0);
            };
            let children = ["config", "layers", "manifests"]
                .iter()
                .filter_map(|k| v.get(k).cloned())
                .flat_map(|c| match c {
                    serde_json::Value::Array(a) => a,
                    other => vec![other],
                });
            for c in children {
                let Ok(child) = serde_json::from_value::<Descriptor>(c) else {
                    return Ok(0);
                };
                if depth > 8 {
                    return Ok(0);
                }
                todo.push((child, depth + 1));
            }
        }
        let mut removed = 0;
        let entries =
            std::fs::read_dir(self.blobs()).map_err(|e| CacheError::io(self.blobs(), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| CacheError::io(self.blobs(), e))?;
            let name = entry.file_name();
            let Ok(digest) = Digest::from_hex(&name.to_string_lossy()) else {
                continue; // not a blob (temp files, foreign algorithms): leave it
            };
            if !live.contains(&digest) {
                std::fs::remove_file(entry.path()).map_err(|e| CacheError::io(entry.path(), e))?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// Reads at most `limit` bytes (more is an error).
fn read_limited(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    File::open(path)?.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than the {limit} bytes accepted"),
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("root")).unwrap();
        (dir, store)
    }

    fn layer_desc(bytes: &[u8]) -> Descriptor {
        Descriptor::new(media::OCI_LAYER_GZIP, Digest::of(bytes), bytes.len() as u64)
    }

    fn noop(_: &TransferEvent) {}

    #[test]
    fn round_trip_and_prune() {
        let (tmp, store) = new_store();
        let layout = LayoutDir::new(&tmp.path().join("cache"));
        let old_layer = store
            .put_blob(b"old layer")
            .map(|_| layer_desc(b"old layer"))
            .unwrap();
        let new_layer = store
            .put_blob(b"new layer")
            .map(|_| layer_desc(b"new layer"))
            .unwrap();
        let manifest = |layer: &Descriptor| {
            let m = crate::image::Manifest::oci(
                super::super::config::config_descriptor(b"{}"),
                vec![layer.clone()],
            );
            let bytes = m.to_bytes();
            (
                Descriptor::new(media::OCI_MANIFEST, Digest::of(&bytes), bytes.len() as u64),
                bytes,
            )
        };
        let _lock = layout.lock().unwrap();
        layout.put_bytes(b"{}").unwrap();
        let (old_m, old_bytes) = manifest(&old_layer);
        assert!(layout.put_from_store(&store, &old_layer).unwrap());
        assert!(!layout.put_from_store(&store, &old_layer).unwrap());
        layout.put_bytes(&old_bytes).unwrap();
        layout.tag("latest", &old_m).unwrap();
        assert_eq!(layout.prune().unwrap(), 0);

        let (new_m, new_bytes) = manifest(&new_layer);
        layout.put_from_store(&store, &new_layer).unwrap();
        layout.put_bytes(&new_bytes).unwrap();
        layout.tag("latest", &new_m).unwrap();
        // The old manifest and its layer are gone; the shared config stays.
        assert_eq!(layout.prune().unwrap(), 2);
        assert!(!layout.blob_path(&old_layer.digest).exists());
        assert!(layout.blob_path(&Digest::of(b"{}")).exists());

        let found = layout.find("latest", None).unwrap();
        assert_eq!(
            layout.find("other", Some(&new_m.digest)).unwrap().digest,
            new_m.digest
        );
        assert!(layout.find("latest", Some(&old_m.digest)).is_err());
        assert_eq!(found.digest, new_m.digest);
        assert_eq!(layout.read_blob(&found, 1 << 20).unwrap(), new_bytes);
        assert!(matches!(
            layout.find("v2", None),
            Err(CacheError::NotFound { .. })
        ));

        let (_t2, other) = new_store();
        layout.fetch_into(&other, &new_layer, &noop).unwrap();
        assert_eq!(other.read_blob(&new_layer.digest).unwrap(), b"new layer");
    }

    #[test]
    fn damaged_blobs_are_refused() {
        let (tmp, store) = new_store();
        let layout = LayoutDir::new(&tmp.path().join("cache"));
        let _lock = layout.lock().unwrap();
        let desc = layer_desc(b"good bytes");
        std::fs::write(layout.blob_path(&desc.digest), b"evil bytes").unwrap();
        let err = layout.fetch_into(&store, &desc, &noop).unwrap_err();
        assert!(matches!(err, CacheError::Corrupt { .. }), "{err}");
        assert!(!store.has_blob(&desc.digest));
        assert!(matches!(
            layout.read_blob(&desc, 1 << 20),
            Err(CacheError::Corrupt { .. })
        ));
        // Longer than promised.
        std::fs::write(layout.blob_path(&desc.digest), b"good bytes and more").unwrap();
        assert!(layout.fetch_into(&store, &desc, &noop).is_err());
        assert!(!store.has_blob(&desc.digest));
    }

    #[test]
    fn missing_or_foreign_directories() {
        let (tmp, _store) = new_store();
        let layout = LayoutDir::new(&tmp.path().join("nothing"));
        let err = layout.find("latest", None).unwrap_err();
        assert!(err.to_string().contains("no index.json"), "{err}");
        std::fs::create_dir_all(tmp.path().join("junk")).unwrap();
        std::fs::write(tmp.path().join("junk/index.json"), b"[1,2]").unwrap();
        let err = LayoutDir::new(&tmp.path().join("junk"))
            .find("latest", None)
            .unwrap_err();
        assert!(matches!(err, CacheError::NotACache { .. }), "{err}");
    }
}
