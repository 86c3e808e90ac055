//! Lazy blobs: a layer that a `--cache-from` made a cache hit is not downloaded until
//! something needs its bytes. This is the one place that then gets it — from the cache
//! sources the store remembers for it ([`super::hints`]): a registry (`fetch_blob`,
//! verified while it streams) or a layout directory (copied with digest verification).
//!
//! Pushing needs no bytes for a blob the registry already has or can cross-mount, so
//! [`LazyBlobs::push`] pushes first and fetches only the blobs the registry asks for.

use std::collections::HashSet;

use super::CacheError;
use super::hints::{self, BlobSource};
use super::layout::LayoutDir;
use crate::digest::Digest;
use crate::fsutil::FileLock;
use crate::image::{Descriptor, media};
use crate::registry::origins::{self, Origin};
use crate::registry::{Progress, Reference, RegistryClient, RegistryError};
use crate::store::{Store, StoreError};

/// Fetches blobs the store lacks from the cache sources it remembers.
pub struct LazyBlobs<'a> {
    store: &'a Store,
    registry: &'a RegistryClient,
}

impl<'a> LazyBlobs<'a> {
    /// Lazy blobs of `store`, fetched through `registry` when they live in one.
    pub fn new(store: &'a Store, registry: &'a RegistryClient) -> LazyBlobs<'a> {
        LazyBlobs { store, registry }
    }

    /// True when the store has the blob or knows a cache source for it (not asked).
    pub fn available(&self, digest: &Digest) -> bool {
        self.store.has_blob(digest) || hints::known(self.store, digest)
    }

    /// True when the store has blob `desc` or a remembered source still holds it (a stat
    /// for a directory, a HEAD for a registry). Sources that no longer have it are
    /// forgotten; one that cannot be asked does not count, so an unreachable cache makes
    /// a step run rather than a build fail later when the bytes are needed.
    pub fn verify(&self, desc: &Descriptor) -> bool {
        if self.store.has_blob(&desc.digest) {
            return true;
        }
        for source in hints::sources(self.store, &desc.digest) {
            let holds = match &source {
                BlobSource::Dir(d) => Ok(LayoutDir::new(d).has_blob(desc)),
                BlobSource::Registry(r) => self.registry.blob_exists(r, &desc.digest),
            };
            match holds {
                Ok(true) => return true,
                Ok(false) => self.forget(&source, &desc.digest),
                Err(_) => {}
            }
        }
        false
    }

    /// Forgets a source that does not have `digest`: the whole source when it is a
    /// directory that is gone, else that one blob.
    fn forget(&self, source: &BlobSource, digest: &Digest) {
        match source {
            BlobSource::Dir(d) if !d.is_dir() => {
                hints::forget_source(self.store, source);
            }
            _ => hints::forget(self.store, digest, source),
        }
    }

    /// Remembers that `source` holds `digest` (a hint: failures are ignored).
    pub fn remember(&self, digest: &Digest, source: &BlobSource) {
        let _ = hints::record(self.store, digest, source);
    }

    /// Records the cache repositories of `target`'s registry that hold `blobs` as their
    /// origins, so the push mounts them from there instead of needing their bytes.
    fn note_origins(&self, blobs: &[Descriptor], target: &Reference) {
        for d in blobs {
            for source in hints::sources(self.store, &d.digest) {
                if let BlobSource::Registry(r) = source {
                    if r.registry() == target.registry() && r.repository() != target.repository() {
                        let origin = Origin {
                            registry: r.registry().to_string(),
                            repository: r.repository().to_string(),
                        };
                        // A hint too: without it the blob is uploaded (or fetched first).
                        let _ = origins::record(self.store, &d.digest, &origin);
                    }
                }
            }
        }
    }

    /// Makes sure the store has blob `desc`, fetching it from a remembered source if not.
    /// Returns true when it was fetched.
    pub fn ensure(&self, desc: &Descriptor, progress: Progress<'_>) -> Result<bool, CacheError> {
        if self.store.has_blob(&desc.digest) {
            return Ok(false);
        }
        // One fetch per blob, however many stages (or processes) need it at once.
        let lock_path = self
            .store
            .lock_path(&format!("fetch-{}.lock", desc.digest.hex()));
        let _lock = FileLock::exclusive(&lock_path).map_err(|e| CacheError::io(&lock_path, e))?;
        if self.store.has_blob(&desc.digest) {
            return Ok(false);
        }
        let mut tried = Vec::new();
        for source in hints::sources(self.store, &desc.digest) {
            let got = match &source {
                BlobSource::Registry(r) => self
                    .registry
                    .fetch_blob(self.store, r, desc, progress)
                    .map_err(CacheError::from),
                BlobSource::Dir(d) => LayoutDir::new(d).fetch_into(self.store, desc, progress),
            };
            match got {
                Ok(()) => return Ok(true),
                Err(e) => {
                    // A source that is gone is forgotten, so the next build runs the
                    // steps whose layers only it had instead of failing here again (a
                    // --cache-from that has them brings them back). A transient failure
                    // forgets nothing: trying again may work.
                    if gone(&e) {
                        self.forget(&source, &desc.digest);
                    }
                    tried.push(format!("from {source}: {e}"));
                }
            }
        }
        Err(CacheError::Unavailable {
            digest: desc.digest,
            tried,
        })
    }

    /// [`LazyBlobs::ensure`] for each descriptor; returns how many were fetched.
    pub fn ensure_all(
        &self,
        descs: &[Descriptor],
        progress: Progress<'_>,
    ) -> Result<usize, CacheError> {
        let mut fetched = 0;
        for d in descs {
            fetched += usize::from(self.ensure(d, progress)?);
        }
        Ok(fetched)
    }

    /// Fetches every blob under the stored manifest or index `root` that the store lacks
    /// and a cache source is known for (what `rbuild save` needs before it reads an
    /// image); returns how many were fetched.
    pub fn ensure_tree(
        &self,
        root: &Descriptor,
        progress: Progress<'_>,
    ) -> Result<usize, CacheError> {
        let wanted: Vec<Descriptor> = self
            .tree(root)
            .into_iter()
            .filter(|d| !self.store.has_blob(&d.digest) && hints::known(self.store, &d.digest))
            .collect();
        self.ensure_all(&wanted, progress)
    }

    /// Pushes the manifest or index `manifest` to `target` like
    /// [`RegistryClient::push`], fetching only the blobs the registry neither has nor
    /// can mount.
    pub fn push(
        &self,
        manifest: &Descriptor,
        target: &Reference,
        progress: Progress<'_>,
    ) -> Result<Digest, CacheError> {
        self.note_origins(&self.tree(manifest), target);
        let mut fetched: HashSet<Digest> = HashSet::new();
        loop {
            match self.registry.push(self.store, manifest, target, progress) {
                Ok(d) => return Ok(d),
                Err(RegistryError::Store(StoreError::BlobMissing(missing)))
                    if fetched.insert(missing) =>
                {
                    let desc = self
                        .tree(manifest)
                        .into_iter()
                        .find(|d| d.digest == missing)
                        .ok_or(StoreError::BlobMissing(missing))?;
                    self.ensure(&desc, progress)?;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Every descriptor under a stored manifest or index (readable parts only).
    fn tree(&self, root: &Descriptor) -> Vec<Descriptor> {
        let mut out = Vec::new();
        let mut todo = vec![(root.clone(), 0)];
        while let Some((d, depth)) = todo.pop() {
            let is_tree = media::is_manifest(&d.media_type) || media::is_index(&d.media_type);
            out.push(d.clone());
            if !is_tree || depth > 8 {
                continue;
            }
            let Ok(v) = self.store.read_json::<serde_json::Value>(&d.digest) else {
                continue;
            };
            for key in ["config", "layers", "manifests"] {
                let children = match v.get(key) {
                    Some(serde_json::Value::Array(a)) => a.clone(),
                    Some(other) => vec![other.clone()],
                    None => Vec::new(),
                };
                for c in children {
                    if let Ok(child) = serde_json::from_value::<Descriptor>(c) {
                        todo.push((child, depth + 1));
                    }
                }
            }
        }
        out
    }
}

/// True when `e` says the source does not have the blob (rather than that it could not
/// be asked).
fn gone(e: &CacheError) -> bool {
    match e {
        CacheError::Io { source, .. } => source.kind() == std::io::ErrorKind::NotFound,
        CacheError::Corrupt { .. } => true,
        CacheError::Registry(RegistryError::BlobUnknown { .. }) => true,
        CacheError::Registry(RegistryError::Status { status, .. }) => *status == 404,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{RegistryOptions, TransferEvent};

    fn noop(_: &TransferEvent) {}

    #[test]
    fn fetches_from_a_remembered_directory_once() {
        let tmp = tempfile::tempdir().unwrap();
        let a = Store::open(&tmp.path().join("a")).unwrap();
        let b = Store::open(&tmp.path().join("b")).unwrap();
        let client = RegistryClient::new(RegistryOptions::default());
        let (digest, size) = a.put_blob(b"layer bytes").unwrap();
        let desc = Descriptor::new(media::OCI_LAYER_GZIP, digest, size);
        let dir = tmp.path().join("cache");
        let layout = LayoutDir::new(&dir);
        let _lock = layout.lock().unwrap();
        layout.put_from_store(&a, &desc).unwrap();

        let lazy = LazyBlobs::new(&b, &client);
        assert!(!lazy.available(&digest));
        let err = lazy.ensure(&desc, &noop).unwrap_err();
        assert!(
            err.to_string()
                .contains("no build cache it was imported from is known"),
            "{err}"
        );

        lazy.remember(&digest, &BlobSource::Dir(dir.clone()));
        assert!(lazy.available(&digest) && !b.has_blob(&digest));
        let events = std::sync::Mutex::new(Vec::new());
        let record = |e: &TransferEvent| events.lock().unwrap().push(e.phase);
        assert!(lazy.ensure(&desc, &record).unwrap());
        assert_eq!(b.read_blob(&digest).unwrap(), b"layer bytes");
        assert!(!lazy.ensure(&desc, &record).unwrap());
        use crate::registry::TransferPhase::{Done, Start};
        assert_eq!(*events.lock().unwrap(), vec![Start, Done]);
    }

    #[test]
    fn every_source_is_tried_and_named() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&tmp.path().join("s")).unwrap();
        let client = RegistryClient::new(RegistryOptions::default());
        let desc = Descriptor::new(media::OCI_LAYER_GZIP, Digest::of(b"x"), 1);
        let lazy = LazyBlobs::new(&store, &client);
        lazy.remember(&desc.digest, &BlobSource::Dir(tmp.path().join("gone1")));
        lazy.remember(&desc.digest, &BlobSource::Dir(tmp.path().join("gone2")));
        let err = lazy
            .ensure_all(std::slice::from_ref(&desc), &noop)
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("gone1") && text.contains("gone2"), "{text}");
        assert!(err.hint().is_some());
        // Both directories are gone: forgotten.
        assert!(!lazy.available(&desc.digest));
    }
}
