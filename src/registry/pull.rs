//! Pull: resolve a reference to one platform's manifest and bring it, its config and its
//! layers into the store, each blob verified before it is kept.
//!
//! Nothing already in the store is downloaded again, and a reference pinned by digest
//! whose content is all in the store makes no network request at all.

use super::auth::Scope;
use super::client::{RegistryClient, remember};
use super::distribution::{Repo, manifest_media_type};
use super::error::RegistryError;
use super::parallel;
use super::platform;
use super::progress::{Progress, Reporter, TransferPhase};
use super::reference::Reference;
use crate::digest::Digest;
use crate::image::{Descriptor, ImageConfig, Index, Manifest, Platform, media};
use crate::store::Store;

/// An image brought into the store.
#[derive(Debug, Clone)]
pub struct PulledImage {
    /// The platform manifest (its digest is the image's identity for caching).
    pub manifest_descriptor: Descriptor,
    /// The manifest.
    pub manifest: Manifest,
    /// The image config.
    pub config: ImageConfig,
    /// The index the manifest was selected from, when the reference named one.
    pub index_digest: Option<Digest>,
}

impl RegistryClient {
    /// Pulls `reference` for `platform` into `store`.
    pub fn pull(
        &self,
        store: &Store,
        reference: &Reference,
        platform: &Platform,
        progress: Progress<'_>,
    ) -> Result<PulledImage, RegistryError> {
        if let Some(d) = reference.digest() {
            if let Some(img) = local_image(store, &d, platform, reference)? {
                return Ok(img);
            }
        }
        let ep = self.endpoint(reference.registry())?;
        let repo = Repo::new(
            &ep,
            reference.repository(),
            Scope::pull(reference.repository()),
        );
        let (top, bytes) = repo.get_manifest(&reference.manifest_reference())?;
        store.put_blob(&bytes)?;
        remember(store, &top.digest, reference);
        let (manifest_descriptor, manifest_bytes, index_digest) =
            if media::is_index(&top.media_type) {
                let index: Index = parse(&bytes, reference, "index")?;
                let child =
                    platform::select(&index.manifests, platform, &reference.to_string())?.clone();
                let child_bytes = if store.has_blob(&child.digest) {
                    store.read_blob(&child.digest)?
                } else {
                    // Fetched by digest, so verified against it.
                    let (_, b) = repo.get_manifest(&child.digest.to_string())?;
                    if b.len() as u64 != child.size {
                        return Err(RegistryError::InvalidResponse {
                            what: reference.to_string(),
                            message: format!(
                                "the index gives {} a size of {} bytes, but it has {}",
                                child.digest,
                                child.size,
                                b.len()
                            ),
                        });
                    }
                    store.put_blob(&b)?;
                    b
                };
                remember(store, &child.digest, reference);
                (child, child_bytes, Some(top.digest))
            } else {
                (top, bytes, None)
            };
        let manifest: Manifest = parse(&manifest_bytes, reference, "manifest")?;
        let mut blobs: Vec<&Descriptor> = std::iter::once(&manifest.config)
            .chain(manifest.layers.iter())
            .collect();
        blobs.sort_by_key(|d| d.digest);
        blobs.dedup_by_key(|d| d.digest);
        parallel::try_for_each(&blobs, self.options().parallel, |d| {
            let reporter = Reporter::new(d.digest, d.size, progress);
            if store.has_blob(&d.digest) {
                reporter.event(TransferPhase::Skipped, d.size);
            } else {
                repo.download_blob(store, d, &reporter)?;
            }
            remember(store, &d.digest, reference);
            Ok::<(), RegistryError>(())
        })?;
        let config = read_config(store, &manifest, reference)?;
        Ok(PulledImage {
            manifest_descriptor,
            manifest,
            config,
            index_digest,
        })
    }
}

/// The image for a pinned digest, entirely from the store; `None` if anything is missing.
fn local_image(
    store: &Store,
    digest: &Digest,
    platform: &Platform,
    reference: &Reference,
) -> Result<Option<PulledImage>, RegistryError> {
    if !store.has_blob(digest) {
        return Ok(None);
    }
    let bytes = store.read_blob(digest)?;
    let Some(mt) = manifest_media_type(None, &bytes) else {
        return Ok(None);
    };
    let top = Descriptor::new(&mt, *digest, bytes.len() as u64);
    let (desc, bytes, index_digest) = if media::is_index(&mt) {
        let index: Index = parse(&bytes, reference, "index")?;
        let child = platform::select(&index.manifests, platform, &reference.to_string())?.clone();
        if !store.has_blob(&child.digest) {
            return Ok(None);
        }
        let b = store.read_blob(&child.digest)?;
        (child, b, Some(*digest))
    } else {
        (top, bytes, None)
    };
    let manifest: Manifest = parse(&bytes, reference, "manifest")?;
    let complete = std::iter::once(&manifest.config)
        .chain(manifest.layers.iter())
        .all(|d| store.has_blob(&d.digest));
    if !complete {
        return Ok(None);
    }
    let config = read_config(store, &manifest, reference)?;
    Ok(Some(PulledImage {
        manifest_descriptor: desc,
        manifest,
        config,
        index_digest,
    }))
}

fn read_config(
    store: &Store,
    manifest: &Manifest,
    reference: &Reference,
) -> Result<ImageConfig, RegistryError> {
    let bytes = store.read_blob(&manifest.config.digest)?;
    parse(&bytes, reference, "image config")
}

fn parse<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    reference: &Reference,
    kind: &str,
) -> Result<T, RegistryError> {
    serde_json::from_slice(bytes).map_err(|e| RegistryError::InvalidResponse {
        what: reference.to_string(),
        message: format!("malformed {kind}: {e}"),
    })
}
