//! Reading a cache: the manifest and the config blob, one request each for a registry,
//! two verified files for a directory. No layer is read: the records say which layer a
//! step made, and the layer is fetched only when something needs its bytes.

use super::CacheError;
use super::config::{CONFIG_LIMIT, CacheConfig, parse_manifest};
use super::hints::BlobSource;
use super::layout::LayoutDir;
use super::spec::CacheLocation;
use crate::image::Descriptor;
use crate::registry::{Progress, RegistryClient};
use crate::store::{CacheRecord, Store};

/// Largest manifest read from a directory (as from a registry).
const MANIFEST_LIMIT: u64 = 4 << 20;

/// What one cache location holds.
#[derive(Debug, Clone)]
pub(crate) struct Imported {
    /// The cache manifest.
    pub manifest: Descriptor,
    /// Its records.
    pub records: Vec<CacheRecord>,
    /// Its layers (all the blobs the location is known to hold).
    pub layers: Vec<Descriptor>,
    /// Records dropped because the manifest does not list their layer.
    pub dropped: usize,
    /// Where the layers can be fetched.
    pub source: BlobSource,
}

/// Reads the cache at `location`. The config blob of a registry cache is kept in the
/// store (it is small, and verified on the way in).
pub(crate) fn read(
    store: &Store,
    registry: &RegistryClient,
    location: &CacheLocation,
    progress: Progress<'_>,
) -> Result<Imported, CacheError> {
    let not_cache = |reason: String| CacheError::NotACache {
        location: location.to_string(),
        reason,
    };
    match location {
        CacheLocation::Registry(reference) => {
            let (manifest, bytes) = registry.fetch_manifest(reference)?;
            let m = parse_manifest(&bytes).map_err(not_cache)?;
            registry.fetch_blob(store, reference, &m.config, progress)?;
            let config = store.read_blob(&m.config.digest)?;
            let (config, dropped) = CacheConfig::parse(&config, &m.layers).map_err(not_cache)?;
            Ok(Imported {
                manifest,
                records: config.records,
                layers: m.layers,
                dropped,
                source: BlobSource::Registry(reference.clone()),
            })
        }
        CacheLocation::Local { dir, tag, digest } => {
            let layout = LayoutDir::new(dir);
            let manifest = layout.find(tag, digest.as_ref())?;
            let m =
                parse_manifest(&layout.read_blob(&manifest, MANIFEST_LIMIT)?).map_err(not_cache)?;
            let config = layout.read_blob(&m.config, CONFIG_LIMIT)?;
            let (config, dropped) = CacheConfig::parse(&config, &m.layers).map_err(not_cache)?;
            Ok(Imported {
                manifest,
                records: config.records,
                layers: m.layers,
                dropped,
                source: BlobSource::Dir(dir.clone()),
            })
        }
    }
}
