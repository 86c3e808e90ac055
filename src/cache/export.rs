//! Writing a cache: the records chosen by the mode become the config blob, their layers
//! (and the base layers under them, so a registry can mount them into images pushed
//! later) the manifest's layers; then the artifact is pushed to a registry, whose
//! blob checks skip everything it already has, or written into a layout directory.

use super::CacheError;
use super::compress::convert;
use super::config::{ARTIFACT_TYPE, CacheConfig, artifact_manifest, config_descriptor};
use super::fetch::LazyBlobs;
use super::layout::LayoutDir;
use super::spec::{CacheLocation, ExportSpec};
use crate::image::{Descriptor, media};
use crate::registry::{Progress, RegistryClient, TransferEvent, TransferPhase};
use crate::store::{CacheRecord, Store};

/// What to export: records, and every layer they stand on (base first, no duplicates).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Selection {
    /// The records.
    pub records: Vec<CacheRecord>,
    /// The layers.
    pub layers: Vec<Descriptor>,
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    /// The cache manifest.
    pub manifest: Descriptor,
    /// Records in the config.
    pub records: usize,
    /// Layers in the manifest.
    pub layers: usize,
}

/// Writes `selection` where `spec` says.
pub(crate) fn write(
    store: &Store,
    registry: &RegistryClient,
    spec: &ExportSpec,
    selection: Selection,
    progress: Progress<'_>,
) -> Result<Exported, CacheError> {
    let lazy = LazyBlobs::new(store, registry);
    let Selection {
        mut records,
        mut layers,
    } = selection;
    if let Some(c) = spec.compression {
        for r in &mut records {
            if let Some(l) = &mut r.layer {
                let converted = convert(store, &lazy, l, c, spec.compression_level, progress)?;
                if converted != *l {
                    for d in layers
                        .iter_mut()
                        .filter(|d| d.digest == l.descriptor.digest)
                    {
                        *d = converted.descriptor.clone();
                    }
                    *l = converted;
                }
            }
        }
        dedup(&mut layers);
    }
    let config = CacheConfig::new(records);
    let config_bytes = config.to_bytes();
    store.put_blob(&config_bytes)?;
    let manifest = artifact_manifest(config_descriptor(&config_bytes), layers);
    let manifest_bytes = manifest.to_bytes();
    let (digest, size) = store.put_blob(&manifest_bytes)?;
    let mut desc = Descriptor::new(media::OCI_MANIFEST, digest, size);
    desc.artifact_type = Some(ARTIFACT_TYPE.to_string());
    match &spec.location {
        CacheLocation::Registry(reference) => {
            lazy.push(&desc, reference, progress)?;
        }
        CacheLocation::Local { dir, tag, .. } => {
            let layout = LayoutDir::new(dir);
            let _lock = layout.lock()?;
            for l in &manifest.layers {
                lazy.ensure(l, progress)?;
                let phase = if layout.put_from_store(store, l)? {
                    TransferPhase::Done
                } else {
                    TransferPhase::Skipped
                };
                progress(&TransferEvent {
                    digest: l.digest,
                    total: l.size,
                    done: l.size,
                    phase,
                });
            }
            layout.put_bytes(&config_bytes)?;
            layout.put_bytes(&manifest_bytes)?;
            layout.tag(tag, &desc)?;
            layout.prune()?;
        }
    }
    Ok(Exported {
        manifest: desc,
        records: config.records.len(),
        layers: manifest.layers.len(),
    })
}

/// Removes later duplicates (by digest), keeping the order.
pub(crate) fn dedup(layers: &mut Vec<Descriptor>) {
    let mut seen = std::collections::HashSet::new();
    layers.retain(|d| seen.insert(d.digest));
}
