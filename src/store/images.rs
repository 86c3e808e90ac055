//! Images in the store: writing a config and an OCI manifest for a list of layers, and
//! reading an image back (OCI or Docker schema 2; an index resolves to the manifest of
//! the wanted platform).

use super::platform::select_manifest;
use super::{Store, StoreError};
use crate::digest::Digest;
use crate::image::{Descriptor, ImageConfig, Index, Manifest, Platform, media};

/// An image read from the store.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// The manifest's own descriptor (after platform selection, when read via an index).
    pub descriptor: Descriptor,
    /// The manifest.
    pub manifest: Manifest,
    /// The parsed config.
    pub config: ImageConfig,
    /// The config blob's descriptor (its digest is the image ID).
    pub config_descriptor: Descriptor,
}

/// Longest manifest or index we parse (registries cap manifests at 4 MiB).
const MAX_MANIFEST: u64 = 4 << 20;

impl Store {
    /// Stores `config` and an OCI manifest naming it and `layers` (base first); returns the
    /// manifest's descriptor. `config.rootfs.diff_ids` must have one entry per layer.
    pub fn write_image(
        &self,
        config: &ImageConfig,
        layers: &[Descriptor],
    ) -> Result<Descriptor, StoreError> {
        let config_bytes = config.to_bytes();
        let (config_digest, config_size) = self.put_blob(&config_bytes)?;
        if config.rootfs.diff_ids.len() != layers.len() {
            return Err(StoreError::InvalidImage {
                digest: config_digest,
                reason: format!(
                    "the config lists {} diff IDs for {} layers",
                    config.rootfs.diff_ids.len(),
                    layers.len()
                ),
            });
        }
        let manifest = Manifest::oci(
            Descriptor::new(media::OCI_CONFIG, config_digest, config_size),
            layers.to_vec(),
        );
        let (digest, size) = self.put_blob(&manifest.to_bytes())?;
        Ok(Descriptor::new(media::OCI_MANIFEST, digest, size))
    }

    /// Reads the image `desc` names; an index resolves to the host platform's manifest.
    pub fn load_image(&self, desc: &Descriptor) -> Result<Image, StoreError> {
        self.load_image_for(desc, &Platform::host())
    }

    /// Reads the image `desc` names; an index resolves to `platform`'s manifest.
    pub fn load_image_for(
        &self,
        desc: &Descriptor,
        platform: &Platform,
    ) -> Result<Image, StoreError> {
        let manifest_desc = self.manifest_for(desc, platform)?;
        let manifest: Manifest = self.read_small_json(&manifest_desc.digest)?;
        if manifest.schema_version != 2 {
            return Err(StoreError::InvalidImage {
                digest: manifest_desc.digest,
                reason: format!(
                    "unsupported manifest schema version {}",
                    manifest.schema_version
                ),
            });
        }
        let config: ImageConfig = self.read_small_json(&manifest.config.digest)?;
        Ok(Image {
            descriptor: manifest_desc,
            config_descriptor: manifest.config.clone(),
            manifest,
            config,
        })
    }

    /// The manifest descriptor `desc` stands for: itself when it names a manifest, the
    /// entry for `platform` when it names an index (nested indexes are followed).
    pub fn manifest_for(
        &self,
        desc: &Descriptor,
        platform: &Platform,
    ) -> Result<Descriptor, StoreError> {
        let mut current = desc.clone();
        for _ in 0..8 {
            let kind = if media::is_index(&current.media_type) {
                Kind::Index
            } else if media::is_manifest(&current.media_type) {
                Kind::Manifest
            } else {
                self.sniff_kind(&current.digest)?
            };
            match kind {
                Kind::Manifest => return Ok(current),
                Kind::Index => {
                    let index: Index = self.read_small_json(&current.digest)?;
                    current = select_manifest(&index, &current.digest, platform)?;
                }
            }
        }
        Err(StoreError::InvalidImage {
            digest: desc.digest,
            reason: "image indexes nested too deeply".into(),
        })
    }

    /// A manifest or index whose descriptor does not say which: look at its fields.
    fn sniff_kind(&self, digest: &Digest) -> Result<Kind, StoreError> {
        let v: serde_json::Value = self.read_small_json(digest)?;
        if v.get("manifests").is_some() {
            Ok(Kind::Index)
        } else if v.get("config").is_some() {
            Ok(Kind::Manifest)
        } else {
            Err(StoreError::InvalidImage {
                digest: *digest,
                reason: "neither an image manifest nor an index".into(),
            })
        }
    }

    /// Reads a JSON blob, refusing anything larger than a manifest can be.
    pub(crate) fn read_small_json<T: serde::de::DeserializeOwned>(
        &self,
        digest: &Digest,
    ) -> Result<T, StoreError> {
        let path = self.blob_path(digest);
        if let Ok(meta) = std::fs::metadata(&path) {
            if meta.len() > MAX_MANIFEST {
                return Err(StoreError::InvalidImage {
                    digest: *digest,
                    reason: format!("JSON blob of {} bytes is too large", meta.len()),
                });
            }
        }
        self.read_json(digest)
    }
}

enum Kind {
    Manifest,
    Index,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::RootFs;

    #[test]
    fn write_then_load_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (layer, n) = store.put_blob(b"not really a layer").unwrap();
        let config = ImageConfig {
            architecture: "amd64".into(),
            os: "linux".into(),
            rootfs: RootFs {
                diff_ids: vec![Digest::of(b"tar")],
                ..Default::default()
            },
            ..Default::default()
        };
        let layers = vec![Descriptor::new(media::OCI_LAYER_GZIP, layer, n)];
        let desc = store.write_image(&config, &layers).unwrap();
        assert_eq!(desc.media_type, media::OCI_MANIFEST);
        let image = store.load_image(&desc).unwrap();
        assert_eq!(image.config, config);
        assert_eq!(image.manifest.layers, layers);
        assert_eq!(
            image.config_descriptor.digest,
            Digest::of(&config.to_bytes())
        );
        // The same image written twice has the same digest.
        assert_eq!(store.write_image(&config, &layers).unwrap(), desc);
        // Mismatched diff IDs are refused.
        assert!(store.write_image(&config, &[]).is_err());
    }

    #[test]
    fn index_resolves_to_the_platform_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut descs = Vec::new();
        for arch in ["amd64", "arm64"] {
            let config = ImageConfig {
                architecture: arch.into(),
                os: "linux".into(),
                ..Default::default()
            };
            let mut d = store.write_image(&config, &[]).unwrap();
            d.platform = super::super::platform::parse_platform(&format!("linux/{arch}"));
            descs.push(d);
        }
        let mut index = Index::empty();
        index.manifests = descs;
        let (digest, size) = store.put_blob(&index.to_bytes()).unwrap();
        let idx = Descriptor::new(media::OCI_INDEX, digest, size);
        let arm = Platform {
            architecture: "arm64".into(),
            os: "linux".into(),
            ..Default::default()
        };
        assert_eq!(
            store
                .load_image_for(&idx, &arm)
                .unwrap()
                .config
                .architecture,
            "arm64"
        );
        // A descriptor with a generic media type is recognised by its content.
        let generic = Descriptor::new("application/octet-stream", digest, size);
        assert_eq!(
            store
                .load_image_for(&generic, &arm)
                .unwrap()
                .config
                .architecture,
            "arm64"
        );
    }
}
