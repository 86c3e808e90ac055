//! One build's use of the shared cache: the records `--cache-from` imported, the hooks
//! the solver calls (look a key up, fetch a layer it needs, note a record it used or
//! made), and the `--cache-to` export at the end. Each import, export and lazy fetch
//! shows as a progress step with per-blob transfer events.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::CacheError;
use super::export::{self, Exported, Selection};
use super::fetch::LazyBlobs;
use super::hints::{self, BlobSource};
use super::import;
use super::spec::{CacheMode, ExportSpec, ImportSpec};
use crate::digest::Digest;
use crate::image::Descriptor;
use crate::plan::{Base, BuildGraph};
use crate::progress::{Event, Sink, StepId, StepInfo};
use crate::registry::{Reference, RegistryClient, TransferEvent};
use crate::store::{CacheRecord, LayerRecord, Store};

/// The shared cache as one build sees it.
pub struct BuildCache {
    store: Store,
    registry: Arc<RegistryClient>,
    sink: Arc<dyn Sink>,
    ids: Arc<AtomicUsize>,
    imported: HashMap<Digest, (CacheRecord, BlobSource)>,
    /// Blobs the imported manifests list (their caches hold them), and where.
    imported_blobs: HashMap<Digest, BlobSource>,
    /// Lazily imported blobs of earlier builds, checked with their source in this one.
    verified: Mutex<HashMap<Digest, bool>>,
    used: Mutex<Used>,
}

/// What the build used or made, by stage (graph index).
#[derive(Default)]
struct Used {
    records: BTreeMap<usize, Vec<CacheRecord>>,
    layers: BTreeMap<usize, Vec<Descriptor>>,
}

impl BuildCache {
    /// A cache for one build on `store`; progress steps take their numbers from `ids`.
    pub fn new(
        store: Store,
        registry: Arc<RegistryClient>,
        sink: Arc<dyn Sink>,
        ids: Arc<AtomicUsize>,
    ) -> BuildCache {
        BuildCache {
            store,
            registry,
            sink,
            ids,
            imported: HashMap::new(),
            imported_blobs: HashMap::new(),
            verified: Mutex::default(),
            used: Mutex::default(),
        }
    }

    /// Reads the records of one `--cache-from` (manifest and config only). A cache that
    /// cannot be read is a warning, as in buildx: the build goes on without it.
    pub fn import(&mut self, spec: &ImportSpec) {
        let id = self.start(format!("importing cache manifest from {}", spec.location));
        let started = Instant::now();
        let progress = self.transfers(id);
        match import::read(&self.store, &self.registry, &spec.location, &progress) {
            Ok(imp) => {
                // Blobs the store has (base layers) are remembered too: a push to the
                // cache's registry can then mount them. The others are remembered when
                // a hit uses them.
                let lazy = self.lazy();
                for l in imp.layers.iter().filter(|l| self.store.has_blob(&l.digest)) {
                    if matches!(imp.source, BlobSource::Registry(_)) {
                        lazy.remember(&l.digest, &imp.source);
                    }
                }
                let mut note = format!(
                    "{} records, {} layers (manifest {})",
                    imp.records.len(),
                    imp.layers.len(),
                    imp.manifest.digest
                );
                if imp.dropped > 0 {
                    note.push_str(&format!(
                        "; {} records ignored: their layers are not in the manifest",
                        imp.dropped
                    ));
                }
                self.sink.emit(&Event::StepNote { id, message: note });
                for l in &imp.layers {
                    self.imported_blobs
                        .entry(l.digest)
                        .or_insert_with(|| imp.source.clone());
                }
                for r in imp.records {
                    self.imported
                        .entry(r.key)
                        .or_insert_with(|| (r, imp.source.clone()));
                }
                self.done(id, started);
            }
            Err(e) => {
                let message = format!(
                    "cache import from {} failed, building without it: {e}",
                    spec.location
                );
                self.sink.emit(&Event::StepError {
                    id,
                    message: e.to_string(),
                });
                self.sink.emit(&Event::Warning { message });
            }
        }
    }

    /// How many records the imports brought.
    pub fn imported_records(&self) -> usize {
        self.imported.len()
    }

    /// The imported record for `key`, stored in the local store as any record is (its
    /// layer's bytes stay where they are until [`BuildCache::fetch`] needs them).
    pub fn lookup(&self, key: &Digest) -> Result<Option<CacheRecord>, CacheError> {
        let Some((record, source)) = self.imported.get(key) else {
            return Ok(None);
        };
        if let Some(l) = &record.layer {
            if !self.store.has_blob(&l.descriptor.digest) {
                self.lazy().remember(&l.descriptor.digest, source);
            }
        }
        self.store.put_cache_record(record)?;
        Ok(Some(record.clone()))
    }

    /// True when the store has the layer's blob or can fetch it: from a cache this build
    /// imported, or from the source an earlier import left in the store's hints, checked
    /// once per build (a stat or a HEAD) so that a cache gone since costs a step run, not
    /// a failed fetch later.
    pub fn has_layer(&self, layer: &LayerRecord) -> bool {
        let digest = &layer.descriptor.digest;
        if self.store.has_blob(digest) {
            return true;
        }
        if let Some(source) = self.imported_blobs.get(digest) {
            self.lazy().remember(digest, source);
            return true;
        }
        if let Some(known) = self.lock_verified().get(digest) {
            return *known;
        }
        let ok = self.lazy().verify(&layer.descriptor);
        self.lock_verified().insert(*digest, ok);
        ok
    }

    fn lock_verified(&self) -> std::sync::MutexGuard<'_, HashMap<Digest, bool>> {
        self.verified.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes sure the store has blob `desc`, fetching it from the cache it was imported
    /// from when it is missing (a progress step shows the transfer).
    pub fn fetch(&self, desc: &Descriptor) -> Result<(), CacheError> {
        if self.store.has_blob(&desc.digest) {
            return Ok(());
        }
        let from = hints::sources(&self.store, &desc.digest)
            .first()
            .map(|s| format!(" from {s}"))
            .unwrap_or_default();
        let id = self.start(format!("fetching cached layer {}{from}", desc.digest));
        let started = Instant::now();
        match self.lazy().ensure(desc, &self.transfers(id)) {
            Ok(_) => {
                self.done(id, started);
                Ok(())
            }
            Err(e) => {
                self.sink.emit(&Event::StepError {
                    id,
                    message: e.to_string(),
                });
                Err(e)
            }
        }
    }

    /// [`BuildCache::fetch`] for several blobs (the layers a local export reads).
    pub fn fetch_all(&self, descs: &[Descriptor]) -> Result<(), CacheError> {
        descs.iter().try_for_each(|d| self.fetch(d))
    }

    /// Notes that stage `stage` used or made `record`, on top of `layers` (the stage's
    /// layers once the record's is applied, base first), for the export.
    pub fn note(&self, stage: usize, record: &CacheRecord, layers: &[LayerRecord]) {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        used.records.entry(stage).or_default().push(record.clone());
        let list = used.layers.entry(stage).or_default();
        for l in layers {
            if !list.iter().any(|d| d.digest == l.descriptor.digest) {
                list.push(l.descriptor.clone());
            }
        }
    }

    /// The records and layers `mode` exports: for `min` those of the target stage and
    /// the stages it is built `FROM` (the steps whose layers are in the image, plus the
    /// image's own layers); for `max` those of every stage.
    fn selection(
        &self,
        graph: &BuildGraph,
        mode: CacheMode,
        image_layers: &[Descriptor],
    ) -> Selection {
        let used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        let stages: Vec<usize> = match mode {
            CacheMode::Max => (0..graph.stages.len()).collect(),
            CacheMode::Min => {
                let mut chain = vec![graph.target];
                let mut cur = graph.target;
                while let Some(Base::Stage(i)) = graph.stages.get(cur).map(|s| &s.base) {
                    if chain.contains(i) {
                        break;
                    }
                    chain.push(*i);
                    cur = *i;
                }
                chain.sort_unstable();
                chain
            }
        };
        let mut sel = Selection::default();
        if mode == CacheMode::Min {
            sel.layers.extend(image_layers.iter().cloned());
        }
        for s in stages {
            sel.records
                .extend(used.records.get(&s).into_iter().flatten().cloned());
            sel.layers
                .extend(used.layers.get(&s).into_iter().flatten().cloned());
        }
        export::dedup(&mut sel.layers);
        sel
    }

    /// Runs one `--cache-to`: `image_layers` are the built image's. With
    /// `ignore-error=true` a failure is a warning and gives `Ok(None)`.
    pub fn export(
        &self,
        spec: &ExportSpec,
        graph: &BuildGraph,
        image_layers: &[Descriptor],
    ) -> Result<Option<Exported>, CacheError> {
        let id = self.start(format!("exporting cache to {}", spec.location));
        let started = Instant::now();
        let selection = self.selection(graph, spec.mode, image_layers);
        match export::write(
            &self.store,
            &self.registry,
            spec,
            selection,
            &self.transfers(id),
        ) {
            Ok(done) => {
                self.sink.emit(&Event::StepNote {
                    id,
                    message: format!(
                        "wrote cache manifest {} ({} records, {} layers)",
                        done.manifest.digest, done.records, done.layers
                    ),
                });
                self.done(id, started);
                Ok(Some(done))
            }
            Err(e) => {
                self.sink.emit(&Event::StepError {
                    id,
                    message: e.to_string(),
                });
                if spec.ignore_error {
                    self.sink.emit(&Event::Warning {
                        message: format!("cache export to {} failed (ignored): {e}", spec.location),
                    });
                    return Ok(None);
                }
                Err(e)
            }
        }
    }

    /// Pushes an image, fetching only the lazily imported blobs the registry lacks.
    pub fn push(
        &self,
        manifest: &Descriptor,
        target: &Reference,
        progress: crate::registry::Progress<'_>,
    ) -> Result<Digest, CacheError> {
        self.lazy().push(manifest, target, progress)
    }

    fn lazy(&self) -> LazyBlobs<'_> {
        LazyBlobs::new(&self.store, &self.registry)
    }

    fn start(&self, text: String) -> StepId {
        let id = self.ids.fetch_add(1, Ordering::Relaxed) + 1;
        self.sink
            .emit(&Event::StepStart(StepInfo::internal(id, text)));
        id
    }

    fn done(&self, id: StepId, started: Instant) {
        self.sink.emit(&Event::StepDone {
            id,
            cached: false,
            elapsed: started.elapsed(),
        });
    }

    /// A transfer callback that reports on step `id`.
    fn transfers(&self, id: StepId) -> impl Fn(&TransferEvent) + Sync + use<> {
        crate::registry::report_to(self.sink.clone(), id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::{Platform, media};
    use crate::plan::{EmptyResolver, PlanOptions};
    use crate::progress::Discard;
    use crate::registry::RegistryOptions;

    fn layer(n: u8) -> LayerRecord {
        LayerRecord {
            descriptor: Descriptor::new(media::OCI_LAYER_GZIP, Digest::of(&[n]), 1),
            diff_id: Digest::of(&[n, n]),
        }
    }

    fn record(n: u8) -> CacheRecord {
        CacheRecord {
            key: Digest::of(&[n, 0]),
            layer: Some(layer(n)),
            created: "2024-01-01T00:00:00Z".into(),
            inputs: Default::default(),
        }
    }

    #[test]
    fn min_follows_the_from_chain_and_max_takes_everything() {
        let df = crate::dockerfile::parse(
            b"FROM scratch AS base\nFROM base AS mid\nFROM scratch AS other\nFROM mid\nCOPY --from=other / /\n",
        )
        .unwrap();
        let opts = PlanOptions {
            build_args: Default::default(),
            target: None,
            platform: None,
            build_platform: Platform::host(),
            dockerfile_name: "Dockerfile".into(),
        };
        let graph = crate::plan::plan(&df, &opts, &EmptyResolver).unwrap();
        let id = |name: Option<&str>| {
            graph
                .stages
                .iter()
                .find(|s| s.name.as_deref() == name)
                .unwrap()
                .id
        };
        let tmp = tempfile::tempdir().unwrap();
        let cache = BuildCache::new(
            Store::open(tmp.path()).unwrap(),
            Arc::new(RegistryClient::new(RegistryOptions::default())),
            Arc::new(Discard),
            Arc::default(),
        );
        // base makes layer 1; mid adds 2 on it; other makes 3; the target adds 4 on 1+2.
        cache.note(id(Some("base")), &record(1), &[layer(1)]);
        cache.note(id(Some("mid")), &record(2), &[layer(1), layer(2)]);
        cache.note(id(Some("other")), &record(3), &[layer(3)]);
        cache.note(id(None), &record(4), &[layer(1), layer(2), layer(4)]);
        let image = [layer(1), layer(2), layer(4)].map(|l| l.descriptor);

        let keys = |s: &Selection| {
            let mut k: Vec<Digest> = s.records.iter().map(|r| r.key).collect();
            k.sort();
            k
        };
        let sorted = |mut v: Vec<Digest>| {
            v.sort();
            v
        };
        let min = cache.selection(&graph, CacheMode::Min, &image);
        assert_eq!(
            keys(&min),
            sorted(vec![record(1).key, record(2).key, record(4).key])
        );
        assert_eq!(min.layers, image.to_vec());
        let max = cache.selection(&graph, CacheMode::Max, &image);
        assert_eq!(keys(&max).len(), 4);
        assert_eq!(max.layers.len(), 4);
    }
}
