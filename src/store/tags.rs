//! Tags: the store's `index.json`, one manifest descriptor per image name, named by the
//! `org.opencontainers.image.ref.name` annotation so OCI tools read the store directly
//! (`skopeo inspect oci:ROOT:app:1.0`, `umoci unpack --image ROOT:app:1.0`).
//!
//! `index.json` is the only mutable file of the layout: it changes only under
//! `locks/index.lock`, re-read inside the lock and replaced by atomic rename.

use std::path::PathBuf;

use super::names::{canonical, tag_name};
use super::{Store, StoreError};
use crate::fsutil::{self, FileLock};
use crate::image::{Descriptor, Index, REF_NAME_ANNOTATION};

/// containerd's annotation for the full image name (skopeo and BuildKit write it too).
pub const CONTAINERD_NAME_ANNOTATION: &str = "io.containerd.image.name";

impl Store {
    fn index_path(&self) -> PathBuf {
        self.root().join("index.json")
    }

    /// Reads `index.json` as it is now.
    pub fn read_index(&self) -> Result<Index, StoreError> {
        let path = self.index_path();
        let bytes = std::fs::read(&path).map_err(|e| StoreError::io(&path, e))?;
        serde_json::from_slice(&bytes).map_err(|source| StoreError::Json { path, source })
    }

    /// Changes `index.json` under its lock: `f` sees the current index; when it returns
    /// `Ok`, the new index replaces the old one atomically.
    fn update_index<T>(
        &self,
        f: impl FnOnce(&mut Index) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let lock_path = self.lock_path("index.lock");
        let _lock = FileLock::exclusive(&lock_path).map_err(|e| StoreError::io(&lock_path, e))?;
        let mut index = self.read_index()?;
        let before = index.clone();
        let out = f(&mut index)?;
        // A rebuild that re-tags the same image changes nothing: no write, no fsync.
        if index != before {
            let path = self.index_path();
            fsutil::atomic_write(&path, &index.to_bytes()).map_err(|e| StoreError::io(&path, e))?;
        }
        Ok(out)
    }

    /// Tags `desc` (a manifest or index descriptor) as `name`; `:latest` is added when the
    /// name has neither tag nor digest. An existing tag of the same name (in any spelling
    /// of it) is replaced in place.
    pub fn tag(&self, name: &str, desc: &Descriptor) -> Result<(), StoreError> {
        let name = tag_name(name)?;
        let key = canonical(&name)?;
        let mut entry = desc.clone();
        if let Some(a) = entry.annotations.as_mut() {
            a.remove(REF_NAME_ANNOTATION);
            a.remove(CONTAINERD_NAME_ANNOTATION);
            if a.is_empty() {
                entry.annotations = None;
            }
        }
        let entry = entry.with_annotation(REF_NAME_ANNOTATION, &name);
        self.update_index(|index| {
            let mut slot = None;
            let mut i = 0;
            while i < index.manifests.len() {
                if same_name(&index.manifests[i], &key) {
                    if slot.is_none() {
                        slot = Some(i);
                        i += 1;
                    } else {
                        index.manifests.remove(i);
                    }
                } else {
                    i += 1;
                }
            }
            match slot {
                Some(i) => index.manifests[i] = entry,
                None => index.manifests.push(entry),
            }
            Ok(())
        })
    }

    /// Removes the tag `name` (any spelling of it) and returns what it pointed to.
    /// The content stays until `prune`.
    pub fn untag(&self, name: &str) -> Result<Descriptor, StoreError> {
        let key = canonical(name)?;
        self.update_index(|index| {
            let pos = index
                .manifests
                .iter()
                .position(|d| same_name(d, &key))
                .ok_or_else(|| StoreError::ImageNotFound(name.to_string()))?;
            let removed = index.manifests.remove(pos);
            index.manifests.retain(|d| !same_name(d, &key));
            Ok(removed)
        })
    }

    /// The descriptor tagged `name` (exact spelling first, then any equivalent one).
    pub fn resolve(&self, name: &str) -> Result<Option<Descriptor>, StoreError> {
        let index = self.read_index()?;
        let exact = tag_name(name)?;
        if let Some(d) = index
            .manifests
            .iter()
            .find(|d| d.annotation(REF_NAME_ANNOTATION) == Some(exact.as_str()))
        {
            return Ok(Some(d.clone()));
        }
        let key = canonical(name)?;
        Ok(index.manifests.iter().find(|d| same_name(d, &key)).cloned())
    }

    /// Like [`Store::resolve`], but a missing name is an error.
    pub fn require(&self, name: &str) -> Result<Descriptor, StoreError> {
        self.resolve(name)?
            .ok_or_else(|| StoreError::ImageNotFound(name.to_string()))
    }

    /// The tagged image whose manifest digest or image ID (config digest) starts with
    /// `id` (`sha256:` optional, at least 12 hex digits), as `docker inspect ID` finds it.
    pub fn resolve_id(&self, id: &str) -> Result<Option<Descriptor>, StoreError> {
        let hex = id.strip_prefix("sha256:").unwrap_or(id);
        if hex.len() < 12
            || hex.len() > 64
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Ok(None);
        }
        for (_, d) in self.images()? {
            if d.digest.hex().starts_with(hex) {
                return Ok(Some(d));
            }
            let config = self
                .read_small_json::<crate::image::Manifest>(&d.digest)
                .map(|m| m.config.digest);
            if config.is_ok_and(|c| c.hex().starts_with(hex)) {
                return Ok(Some(d));
            }
        }
        Ok(None)
    }

    /// Every tagged image, in `index.json` order.
    pub fn images(&self) -> Result<Vec<(String, Descriptor)>, StoreError> {
        Ok(self
            .read_index()?
            .manifests
            .into_iter()
            .filter_map(|d| Some((d.annotation(REF_NAME_ANNOTATION)?.to_string(), d)))
            .collect())
    }
}

/// True when the descriptor's name is canonically `key`.
fn same_name(d: &Descriptor, key: &str) -> bool {
    d.annotation(REF_NAME_ANNOTATION)
        .and_then(|n| canonical(n).ok())
        .is_some_and(|c| c == key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;
    use crate::image::media;

    fn desc(s: &str) -> Descriptor {
        Descriptor::new(media::OCI_MANIFEST, Digest::of(s.as_bytes()), 10)
    }

    #[test]
    fn tag_resolve_untag() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.tag("app", &desc("a")).unwrap();
        store.tag("localhost:5000/x/y:2", &desc("b")).unwrap();
        assert_eq!(
            store.resolve("app:latest").unwrap().unwrap().digest,
            desc("a").digest
        );
        assert_eq!(
            store
                .resolve("docker.io/library/app")
                .unwrap()
                .unwrap()
                .digest,
            desc("a").digest
        );
        let names: Vec<_> = store
            .images()
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["app:latest", "localhost:5000/x/y:2"]);
        // Retagging replaces in place.
        store
            .tag("docker.io/library/app:latest", &desc("c"))
            .unwrap();
        let all = store.images().unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].0, "docker.io/library/app:latest");
        assert_eq!(all[0].1.digest, desc("c").digest);
        assert_eq!(store.untag("app").unwrap().digest, desc("c").digest);
        assert!(matches!(
            store.untag("app"),
            Err(StoreError::ImageNotFound(_))
        ));
        assert!(store.resolve("app").unwrap().is_none());
        let b = desc("b").digest.hex();
        assert_eq!(
            store.resolve_id(&b[..12]).unwrap().unwrap().digest,
            desc("b").digest
        );
        assert_eq!(
            store
                .resolve_id(&format!("sha256:{b}"))
                .unwrap()
                .unwrap()
                .digest,
            desc("b").digest
        );
        assert!(store.resolve_id("abc").unwrap().is_none(), "too short");
        // The raw file names the image with the OCI annotation.
        let raw = std::fs::read_to_string(dir.path().join("index.json")).unwrap();
        assert!(
            raw.contains(r#""org.opencontainers.image.ref.name":"localhost:5000/x/y:2""#),
            "{raw}"
        );
    }

    #[test]
    fn concurrent_tags_are_all_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        std::thread::scope(|s| {
            for t in 0..8 {
                let store = store.clone();
                s.spawn(move || {
                    for i in 0..10 {
                        store
                            .tag(&format!("img{t}:{i}"), &desc(&format!("{t}-{i}")))
                            .unwrap();
                    }
                });
            }
        });
        assert_eq!(store.images().unwrap().len(), 80);
    }
}
