//! Base images: resolving `FROM` (and `COPY --from`, `RUN --mount from=`) references to
//! images in the store, importing local OCI layouts and archives, and pulling from
//! registries according to the pull policy. Also the planner's [`BaseResolver`].
//!
//! Default policy: an image the store got from a registry has its tag re-resolved once
//! per build (a HEAD request) so a moved tag is noticed; an image built or imported
//! locally is never looked up remotely; a missing one is pulled.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::image::{ImageConfig, PULLED_FROM_ANNOTATION, Platform};
use crate::plan::BaseResolver;
use crate::progress::{Event, Sink, StepInfo};
use crate::registry::{Reference, RegistryClient};
use crate::store::import::parse_layout_ref;
use crate::store::{Image, Store};

/// When to ask a registry about a FROM image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PullPolicy {
    /// Re-resolve tags of pulled images once per build; pull what is missing.
    #[default]
    Default,
    /// Only the store.
    Never,
    /// The store, else pull.
    Missing,
    /// Always resolve against the registry (and pull what changed).
    Always,
}

/// A resolved base image.
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    /// The reference as written.
    pub reference: String,
    /// The image (manifest, config).
    pub image: Image,
}

/// A cached resolution: the image, or why it could not be had.
type Resolution = Result<Arc<ResolvedImage>, String>;

/// Resolves and caches base images for one build.
pub struct ImageSource {
    store: Store,
    registry: Option<Arc<RegistryClient>>,
    policy: PullPolicy,
    sink: Arc<dyn Sink>,
    ids: Arc<AtomicUsize>,
    pulled: Mutex<std::collections::HashSet<String>>,
    cache: Mutex<HashMap<(String, String), Resolution>>,
}

impl ImageSource {
    /// A source over `store`, pulling through `registry` when allowed.
    /// Progress steps it shows (registry lookups, pulls) take their numbers from `ids`.
    pub fn new(
        store: Store,
        registry: Option<Arc<RegistryClient>>,
        policy: PullPolicy,
        sink: Arc<dyn Sink>,
        ids: Arc<AtomicUsize>,
    ) -> ImageSource {
        ImageSource {
            store,
            registry,
            policy,
            sink,
            ids,
            pulled: Mutex::default(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// True when this build pulled `reference` from a registry (its FROM was not a
    /// cache hit).
    pub fn was_pulled(&self, reference: &str) -> bool {
        self.pulled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(reference)
    }

    /// The image `reference` names, for `platform` (cached for the build).
    pub fn get(&self, reference: &str, platform: &Platform) -> Result<Arc<ResolvedImage>, String> {
        let key = (reference.to_string(), platform.to_spec());
        if let Some(r) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return r.clone();
        }
        let result = self.resolve_uncached(reference, platform).map(Arc::new);
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, result.clone());
        result
    }

    fn resolve_uncached(
        &self,
        reference: &str,
        platform: &Platform,
    ) -> Result<ResolvedImage, String> {
        let desc = if let Some(r) = parse_layout_ref(reference) {
            let tag = r.tag.as_deref();
            if r.archive {
                self.store.import_oci_archive_for(&r.path, tag, platform)
            } else {
                self.store.import_oci_layout_for(&r.path, tag, platform)
            }
            .map_err(|e| e.to_string())?
        } else {
            self.resolve_name(reference, platform)?
        };
        let image = self
            .store
            .load_image_for(&desc, platform)
            .map_err(|e| e.to_string())?;
        Ok(ResolvedImage {
            reference: reference.to_string(),
            image,
        })
    }

    fn resolve_name(
        &self,
        name: &str,
        platform: &Platform,
    ) -> Result<crate::image::Descriptor, String> {
        let parsed = Reference::parse(name).map_err(|e| e.to_string())?;
        let local = self.store.resolve(name).map_err(|e| e.to_string())?;
        let pulled = local
            .as_ref()
            .is_some_and(|d| d.annotation(PULLED_FROM_ANNOTATION).is_some());
        let ask_registry = match (self.policy, &local) {
            (PullPolicy::Never, _) => false,
            (PullPolicy::Always, _) => true,
            (PullPolicy::Missing, l) => l.is_none(),
            (PullPolicy::Default, None) => true,
            // A pinned digest never moves; a local image has no registry to ask.
            (PullPolicy::Default, Some(_)) => pulled && parsed.digest().is_none(),
        };
        if !ask_registry {
            return local.ok_or_else(|| match self.policy {
                PullPolicy::Never => format!("image {name} is not in the store (--pull=never)"),
                _ => format!("image {name} is not in the store"),
            });
        }
        let Some(registry) = &self.registry else {
            return local.ok_or_else(|| {
                format!("image {name} is not in the store, and no registry client is configured")
            });
        };
        let id = self.ids.fetch_add(1, Ordering::Relaxed) + 1;
        let started = Instant::now();
        let text = format!("[internal] load metadata for {parsed}");
        self.sink
            .emit(&Event::StepStart(StepInfo::internal(id, text)));
        let result = self.ask_registry(registry, name, &parsed, local, platform, id);
        match &result {
            Ok(_) => self.sink.emit(&Event::StepDone {
                id,
                cached: false,
                elapsed: started.elapsed(),
            }),
            Err(e) => self.sink.emit(&Event::StepError {
                id,
                message: e.clone(),
            }),
        }
        result
    }

    fn ask_registry(
        &self,
        registry: &RegistryClient,
        name: &str,
        parsed: &Reference,
        local: Option<crate::image::Descriptor>,
        platform: &Platform,
        id: usize,
    ) -> Result<crate::image::Descriptor, String> {
        if let Some(l) = &local {
            // A HEAD tells whether the tag moved; an unreachable registry falls back to
            // the local copy, with a warning.
            match registry.resolve(parsed) {
                Ok(remote) if remote.digest == l.digest => return Ok(l.clone()),
                Ok(_) => {}
                Err(e) if self.policy != PullPolicy::Always => {
                    self.sink.emit(&Event::Warning {
                        message: format!(
                            "{name}: using the local image, the registry could not be reached: {e}"
                        ),
                    });
                    return Ok(l.clone());
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        let progress = crate::registry::report_to(self.sink.clone(), id);
        let pulled = registry
            .pull(&self.store, parsed, platform, &progress)
            .map_err(|e| {
                let hint = e
                    .hint()
                    .map(|h| format!(" (hint: {h})"))
                    .unwrap_or_default();
                format!("{e}{hint}")
            })?;
        self.pulled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string());
        let desc = pulled
            .manifest_descriptor
            .clone()
            .with_annotation(PULLED_FROM_ANNOTATION, &parsed.to_string());
        self.store
            .tag(&parsed.familiar(), &desc)
            .map_err(|e| e.to_string())?;
        Ok(pulled.manifest_descriptor)
    }
}

impl BaseResolver for ImageSource {
    fn resolve(&self, reference: &str, platform: &Platform) -> Result<ImageConfig, String> {
        self.get(reference, platform)
            .map(|r| r.image.config.clone())
    }
}
