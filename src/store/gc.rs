//! Garbage collection: what `rbuild prune` removes, and the lock that keeps it from
//! pulling content out from under a running build.
//!
//! Every process that writes to the store (build, import, pull) holds [`BuildGuard`], a
//! shared lock on `locks/gc.lock`; `prune` takes it exclusively. So while prune runs no
//! build is half-way between writing a blob and recording it, every temp file is a
//! leftover of a dead process, and the reachable set cannot grow behind prune's back.
//!
//! Roots are the descriptors in `index.json` (manifests → config + layers, indexes →
//! manifests) and, unless `--all`, the layers named by step cache records. A snapshot
//! `snapshots/<diff-id hex>` survives when some reachable config or cache record lists
//! that diff ID.

use std::collections::HashSet;
use std::io;
use std::path::Path;

use super::du::tree_size;
use super::{CacheRecord, Store, StoreError};
use crate::digest::Digest;
use crate::fsutil::FileLock;
use crate::image::{Descriptor, ImageConfig, Index, Manifest, media};

/// Held by a build (or import, or pull) for as long as it writes to the store.
pub struct BuildGuard {
    _lock: FileLock,
}

impl std::fmt::Debug for BuildGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BuildGuard")
    }
}

/// What one category of prune removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Reclaimed {
    /// Files or directories removed.
    pub count: u64,
    /// Bytes they held.
    pub bytes: u64,
}

impl Reclaimed {
    fn add(&mut self, bytes: u64) {
        self.count += 1;
        self.bytes += bytes;
    }
}

/// What `prune` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PruneReport {
    /// Unreachable blobs.
    pub blobs: Reclaimed,
    /// Snapshots of layers nothing refers to.
    pub snapshots: Reclaimed,
    /// Step cache records (all of them with `--all`, else only unreadable ones).
    pub cache_records: Reclaimed,
    /// Leftover temp files of processes that died.
    pub tmp: Reclaimed,
}

impl PruneReport {
    /// Total bytes reclaimed.
    pub fn total_bytes(&self) -> u64 {
        self.blobs.bytes + self.snapshots.bytes + self.cache_records.bytes + self.tmp.bytes
    }
}

impl Store {
    /// The shared lock a build holds while it writes to the store; see the module docs.
    pub fn build_guard(&self) -> Result<BuildGuard, StoreError> {
        let path = self.lock_path("gc.lock");
        let lock = FileLock::shared(&path).map_err(|e| StoreError::io(&path, e))?;
        Ok(BuildGuard { _lock: lock })
    }

    /// Removes everything unreachable; with `all`, also every cache record (and so the
    /// layers only the cache kept alive). Waits for running builds to finish.
    pub fn prune(&self, all: bool) -> Result<PruneReport, StoreError> {
        self.prune_with(all, || {})
    }

    /// Like [`Store::prune`]; `on_wait` runs once if builds hold the store and prune must
    /// wait for them.
    pub fn prune_with(&self, all: bool, on_wait: impl FnOnce()) -> Result<PruneReport, StoreError> {
        let gc_path = self.lock_path("gc.lock");
        let io_err = |e| StoreError::io(&gc_path, e);
        let _gc = match FileLock::try_exclusive(&gc_path).map_err(io_err)? {
            Some(lock) => lock,
            None => {
                on_wait();
                FileLock::exclusive(&gc_path).map_err(io_err)?
            }
        };
        // Hold the index lock too, so `rmi`/`tag` (which need no gc lock) wait for us.
        let index_lock = self.lock_path("index.lock");
        let _index =
            FileLock::exclusive(&index_lock).map_err(|e| StoreError::io(&index_lock, e))?;

        let mut report = PruneReport::default();
        let mut live = Reach::default();
        for d in self.read_index()?.manifests {
            self.mark(&d, &mut live, 0);
        }
        self.sweep_cache(all, &mut live, &mut report)?;
        self.sweep_blobs(&live, &mut report)?;
        self.sweep_snapshots(&live, &mut report)?;
        self.sweep_tmp(&mut report)?;
        Ok(report)
    }

    /// Marks `d` and everything it refers to. Missing or unreadable content is skipped:
    /// a layer may legitimately be absent until something needs its bytes.
    fn mark(&self, d: &Descriptor, live: &mut Reach, depth: usize) {
        if !live.blobs.insert(d.digest) || depth > 8 || !self.has_blob(&d.digest) {
            return;
        }
        let mt = d.media_type.as_str();
        let looks_json = media::is_manifest(mt)
            || media::is_index(mt)
            || !(mt.contains(".layer.") || mt.contains(".rootfs.") || mt.contains("config"));
        if !looks_json || d.size > 4 << 20 {
            return;
        }
        let Ok(v) = self.read_json::<serde_json::Value>(&d.digest) else {
            return;
        };
        if v.get("manifests").is_some() {
            if let Ok(index) = serde_json::from_value::<Index>(v) {
                for m in &index.manifests {
                    self.mark(m, live, depth + 1);
                }
            }
        } else if v.get("config").is_some() {
            if let Ok(m) = serde_json::from_value::<Manifest>(v) {
                live.blobs.insert(m.config.digest);
                if let Ok(config) = self.read_json::<ImageConfig>(&m.config.digest) {
                    live.diff_ids.extend(config.rootfs.diff_ids);
                }
                for l in &m.layers {
                    live.blobs.insert(l.digest);
                }
            }
        }
    }

    fn sweep_cache(
        &self,
        all: bool,
        live: &mut Reach,
        report: &mut PruneReport,
    ) -> Result<(), StoreError> {
        for (path, size) in list(&self.root().join("cache"))? {
            let record = std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<CacheRecord>(&b).ok());
            match record {
                Some(r) if !all => {
                    if let Some(layer) = r.layer {
                        live.blobs.insert(layer.descriptor.digest);
                        live.diff_ids.insert(layer.diff_id);
                    }
                }
                _ => {
                    remove(&path)?;
                    report.cache_records.add(size);
                }
            }
        }
        Ok(())
    }

    fn sweep_blobs(&self, live: &Reach, report: &mut PruneReport) -> Result<(), StoreError> {
        for (path, size) in list(&self.root().join("blobs/sha256"))? {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            match Digest::from_hex(name) {
                Ok(d) if live.blobs.contains(&d) => {}
                Ok(_) => {
                    remove(&path)?;
                    report.blobs.add(size);
                }
                Err(_) => {} // not ours; leave it
            }
        }
        Ok(())
    }

    fn sweep_snapshots(&self, live: &Reach, report: &mut PruneReport) -> Result<(), StoreError> {
        let dir = self.root().join("snapshots");
        // A delta snapshot keeps its base (and the base's base…) alive.
        let mut keep_ids = live.diff_ids.clone();
        let mut todo: Vec<Digest> = keep_ids.iter().copied().collect();
        while let Some(d) = todo.pop() {
            let marker = dir.join(format!("{}.base", d.hex()));
            if let Some(base) = std::fs::read_to_string(marker)
                .ok()
                .and_then(|t| Digest::from_hex(t.trim()).ok())
            {
                if keep_ids.insert(base) {
                    todo.push(base);
                }
            }
        }
        for (path, size) in list(&dir)? {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            // `<diff-id>`, and its `<diff-id>.base` / `<diff-id>.entries` side files.
            let id = name.split('.').next().unwrap_or("");
            let keep = Digest::from_hex(id).is_ok_and(|d| keep_ids.contains(&d));
            if !keep {
                remove(&path)?;
                report.snapshots.add(size);
            }
        }
        Ok(())
    }

    fn sweep_tmp(&self, report: &mut PruneReport) -> Result<(), StoreError> {
        for (path, size) in list(&self.tmp_dir())? {
            remove(&path)?;
            report.tmp.add(size);
        }
        Ok(())
    }
}

/// The reachable set.
#[derive(Default)]
struct Reach {
    blobs: HashSet<Digest>,
    diff_ids: HashSet<Digest>,
}

/// The entries of `dir` with their sizes (whole trees for directories).
fn list(dir: &Path) -> Result<Vec<(std::path::PathBuf, u64)>, StoreError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io(dir, e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| StoreError::io(dir, e))?;
        let path = entry.path();
        let size = tree_size(&path).bytes;
        out.push((path, size));
    }
    Ok(out)
}

/// Removes a file or a whole tree, making read-only directories writable when needed
/// (snapshots keep image permissions, e.g. `dr-xr-xr-x` directories).
fn remove(path: &Path) -> Result<(), StoreError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StoreError::io(path, e)),
    };
    let result = if meta.is_dir() {
        std::fs::remove_dir_all(path).or_else(|e| {
            if e.kind() != io::ErrorKind::PermissionDenied {
                return Err(e);
            }
            make_dirs_writable(path);
            std::fs::remove_dir_all(path)
        })
    } else {
        std::fs::remove_file(path)
    };
    match result {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::io(path, e)),
    }
}

fn make_dirs_writable(root: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for entry in walkdir::WalkDir::new(root)
        .follow_links(false)
        .into_iter()
        .flatten()
    {
        if entry.file_type().is_dir() {
            let _ = std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o700));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::RootFs;
    use crate::store::LayerRecord;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// An image of one fake layer; returns (manifest descriptor, layer digest, diff id).
    fn image(store: &Store, seed: &str) -> (Descriptor, Digest, Digest) {
        let (layer, n) = store.put_blob(format!("layer {seed}").as_bytes()).unwrap();
        let diff_id = Digest::of(format!("tar {seed}").as_bytes());
        let config = ImageConfig {
            rootfs: RootFs {
                diff_ids: vec![diff_id],
                ..Default::default()
            },
            ..Default::default()
        };
        let d = store
            .write_image(&config, &[Descriptor::new(media::OCI_LAYER_GZIP, layer, n)])
            .unwrap();
        (d, layer, diff_id)
    }

    fn snapshot(store: &Store, diff_id: &Digest) -> std::path::PathBuf {
        let p = store.root().join("snapshots").join(diff_id.hex());
        std::fs::create_dir_all(p.join("etc")).unwrap();
        std::fs::write(p.join("etc/f"), b"x").unwrap();
        p
    }

    #[test]
    fn prune_keeps_tagged_and_cached_content_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (tagged, tagged_layer, tagged_diff) = image(&store, "kept");
        store.tag("app:1", &tagged).unwrap();
        let (untagged, untagged_layer, untagged_diff) = image(&store, "dropped");
        let (cached_layer, n) = store.put_blob(b"cached layer").unwrap();
        let cached_diff = Digest::of(b"cached tar");
        store
            .put_cache_record(&CacheRecord {
                key: Digest::of(b"key"),
                layer: Some(LayerRecord {
                    descriptor: Descriptor::new(media::OCI_LAYER_GZIP, cached_layer, n),
                    diff_id: cached_diff,
                }),
                created: "2024-01-01T00:00:00Z".into(),
                inputs: Default::default(),
            })
            .unwrap();
        let keep_snap = snapshot(&store, &tagged_diff);
        let cache_snap = snapshot(&store, &cached_diff);
        let drop_snap = snapshot(&store, &untagged_diff);
        std::fs::write(store.tmp_dir().join(".tmp-leftover"), b"half a blob").unwrap();

        let report = store.prune(false).unwrap();
        assert!(store.has_blob(&tagged.digest) && store.has_blob(&tagged_layer));
        assert!(store.has_blob(&cached_layer));
        assert!(!store.has_blob(&untagged.digest) && !store.has_blob(&untagged_layer));
        assert_eq!(
            report.blobs.count, 3,
            "manifest, config and layer of the untagged image"
        );
        assert!(keep_snap.exists() && cache_snap.exists() && !drop_snap.exists());
        assert_eq!(report.snapshots, Reclaimed { count: 1, bytes: 1 });
        assert_eq!(
            report.tmp,
            Reclaimed {
                count: 1,
                bytes: 11
            }
        );
        assert_eq!(report.cache_records.count, 0);
        assert!(store.load_image(&tagged).is_ok());

        // --all drops the cache and what only the cache kept.
        let report = store.prune(true).unwrap();
        assert_eq!(report.cache_records.count, 1);
        assert!(!store.has_blob(&cached_layer) && !cache_snap.exists());
        assert!(store.has_blob(&tagged_layer) && keep_snap.exists());
        // Nothing left to do.
        assert_eq!(store.prune(true).unwrap().total_bytes(), 0);
    }

    #[test]
    fn prune_waits_for_running_builds() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let guard = store.build_guard().unwrap();
        let second = store.build_guard().unwrap(); // builds share the lock
        let waited = AtomicBool::new(false);
        let done = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                store
                    .prune_with(false, || waited.store(true, Ordering::SeqCst))
                    .unwrap();
                done.store(true, Ordering::SeqCst);
            });
            while !waited.load(Ordering::SeqCst) {
                std::thread::yield_now();
            }
            std::fs::write(store.tmp_dir().join("in-flight"), b"x").unwrap();
            std::thread::sleep(std::time::Duration::from_millis(100));
            assert!(
                !done.load(Ordering::SeqCst),
                "prune ran while a build held the store"
            );
            assert!(store.tmp_dir().join("in-flight").exists());
            drop(guard);
            drop(second);
        });
        assert!(done.load(Ordering::SeqCst));
        assert!(!store.tmp_dir().join("in-flight").exists());
    }
}
