//! Push: send an image (or index, or any OCI artifact such as the build cache) from the
//! store to a registry. Blobs first, in parallel, each skipped, mounted or uploaded;
//! the manifest last, so a failed push never leaves a tag pointing at missing blobs.

use super::client::RegistryClient;
use super::distribution::manifest_media_type;
use super::error::RegistryError;
use super::parallel;
use super::progress::Progress;
use super::reference::Reference;
use crate::digest::Digest;
use crate::image::{Descriptor, Index, Manifest, media};
use crate::store::{Store, StoreError};

impl RegistryClient {
    /// Pushes the manifest or index `manifest` (with everything it references) from the
    /// store to `target`. Returns the pushed manifest's digest.
    pub fn push(
        &self,
        store: &Store,
        manifest: &Descriptor,
        target: &Reference,
        progress: Progress<'_>,
    ) -> Result<Digest, RegistryError> {
        let bytes = store.read_blob(&manifest.digest)?;
        let media_type = stored_media_type(manifest, &bytes, target)?;
        if media::is_index(&media_type) {
            let index: Index = parse(store, &manifest.digest, &bytes)?;
            for child in &index.manifests {
                self.push_tree(store, child, target, progress)?;
                // Children go by digest; only the index gets the tag.
                let child_bytes = store.read_blob(&child.digest)?;
                let child_type = stored_media_type(child, &child_bytes, target)?;
                self.push_manifest(&untagged(target), &child_type, &child_bytes)?;
            }
        } else {
            self.push_tree(store, manifest, target, progress)?;
        }
        self.push_manifest(target, &media_type, &bytes)
    }

    /// Builds an OCI artifact manifest from blobs already in the store (e.g. the build
    /// cache: a config of rbuild's media type and ordinary layer blobs), stores it and
    /// pushes it to `target`. Returns the manifest's descriptor.
    pub fn push_artifact(
        &self,
        store: &Store,
        config: &Descriptor,
        layers: &[Descriptor],
        target: &Reference,
        progress: Progress<'_>,
    ) -> Result<Descriptor, RegistryError> {
        let manifest = Manifest::oci(config.clone(), layers.to_vec());
        let bytes = manifest.to_bytes();
        let (digest, size) = store.put_blob(&bytes)?;
        let desc = Descriptor::new(media::OCI_MANIFEST, digest, size);
        self.push(store, &desc, target, progress)?;
        Ok(desc)
    }

    /// Pushes the blobs of one image manifest (config and layers), in parallel.
    fn push_tree(
        &self,
        store: &Store,
        manifest: &Descriptor,
        target: &Reference,
        progress: Progress<'_>,
    ) -> Result<(), RegistryError> {
        let bytes = store.read_blob(&manifest.digest)?;
        let m: Manifest = parse(store, &manifest.digest, &bytes)?;
        let mut blobs: Vec<&Descriptor> =
            std::iter::once(&m.config).chain(m.layers.iter()).collect();
        blobs.sort_by_key(|d| d.digest);
        blobs.dedup_by_key(|d| d.digest);
        parallel::try_for_each(&blobs, self.options().parallel, |d| {
            self.push_blob(store, target, d, progress).map(|_| ())
        })
    }
}

/// `target` without its tag (children of an index are pushed by digest).
fn untagged(target: &Reference) -> Reference {
    target.in_repository(target.repository())
}

fn stored_media_type(
    desc: &Descriptor,
    bytes: &[u8],
    target: &Reference,
) -> Result<String, RegistryError> {
    if media::is_manifest(&desc.media_type) || media::is_index(&desc.media_type) {
        return Ok(desc.media_type.clone());
    }
    manifest_media_type(None, bytes).ok_or_else(|| RegistryError::UnsupportedMediaType {
        reference: target.to_string(),
        media_type: desc.media_type.clone(),
    })
}

fn parse<T: serde::de::DeserializeOwned>(
    store: &Store,
    digest: &Digest,
    bytes: &[u8],
) -> Result<T, RegistryError> {
    serde_json::from_slice(bytes).map_err(|source| {
        StoreError::Json {
            path: store.blob_path(digest),
            source,
        }
        .into()
    })
}
