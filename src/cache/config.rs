//! The cache artifact: an OCI manifest whose config blob (rbuild's media type) lists the
//! step cache records and whose layers are the ordinary layer blobs the records (and
//! the images built on them) use.
//!
//! ```json
//! {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
//!  "artifactType":"application/vnd.rbuild.cache.v1",
//!  "config":{"mediaType":"application/vnd.rbuild.cache.config.v1+json",…},
//!  "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip",…},…]}
//! ```
//!
//! Any OCI registry stores it (docker-registry checks only that the blobs exist), and
//! `skopeo copy` moves it between registries and layout directories. `artifactType` is
//! set as OCI 1.1 suggests, so tools listing artifacts can tell what it is.
//!
//! A record's key is a hash of the step's inputs, so nothing here can be checked against
//! the build: trust a cache source as you trust a base image.

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::image::{Descriptor, Manifest, media};
use crate::store::CacheRecord;

/// The manifest's `artifactType`.
pub const ARTIFACT_TYPE: &str = "application/vnd.rbuild.cache.v1";

/// The config format version this build reads and writes.
pub const CONFIG_VERSION: u32 = 1;

/// Largest cache config accepted (a record is a few hundred bytes).
pub(crate) const CONFIG_LIMIT: u64 = 64 << 20;

/// The config blob of the cache artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheConfig {
    /// Format version ([`CONFIG_VERSION`]).
    pub version: u32,
    /// The records, sorted by key.
    pub records: Vec<CacheRecord>,
}

impl CacheConfig {
    /// A config of `records`, sorted by key and without duplicate keys, so the same
    /// records always give the same bytes.
    pub fn new(mut records: Vec<CacheRecord>) -> CacheConfig {
        records.sort_by_key(|r| r.key);
        records.dedup_by_key(|r| r.key);
        CacheConfig {
            version: CONFIG_VERSION,
            records,
        }
    }

    /// The JSON bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses a config read from a cache whose manifest lists `layers`. Records whose
    /// layer the manifest does not list are dropped (their blob may not be there); the
    /// second value counts them.
    pub fn parse(bytes: &[u8], layers: &[Descriptor]) -> Result<(CacheConfig, usize), String> {
        let config: CacheConfig =
            serde_json::from_slice(bytes).map_err(|e| format!("cache config: {e}"))?;
        if config.version != CONFIG_VERSION {
            return Err(format!(
                "cache config version {} (this rbuild reads version {CONFIG_VERSION})",
                config.version
            ));
        }
        let listed = |d: &Descriptor| {
            layers
                .iter()
                .any(|l| l.digest == d.digest && l.size == d.size)
        };
        let total = config.records.len();
        let records: Vec<CacheRecord> = config
            .records
            .into_iter()
            .filter(|r| r.layer.as_ref().is_none_or(|l| listed(&l.descriptor)))
            .collect();
        let dropped = total - records.len();
        Ok((CacheConfig::new(records), dropped))
    }
}

/// The artifact manifest for a stored config blob and the layers.
pub fn artifact_manifest(config: Descriptor, layers: Vec<Descriptor>) -> Manifest {
    let mut m = Manifest::oci(config, layers);
    m.artifact_type = Some(ARTIFACT_TYPE.to_string());
    m
}

/// Parses and checks a manifest read from a cache location.
pub fn parse_manifest(bytes: &[u8]) -> Result<Manifest, String> {
    let v: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("manifest: {e}"))?;
    if v.get("manifests").is_some() {
        return Err("it is an image index (a BuildKit cache, or a multi-platform image?)".into());
    }
    let m: Manifest = serde_json::from_value(v).map_err(|e| format!("manifest: {e}"))?;
    if let Some(mt) = m
        .media_type
        .as_deref()
        .filter(|mt| *mt != media::OCI_MANIFEST)
    {
        return Err(format!("manifest media type {mt}"));
    }
    if m.config.media_type != media::RBUILD_CACHE_CONFIG {
        return Err(format!(
            "its config is {} (an image, not a cache?)",
            m.config.media_type
        ));
    }
    if m.config.size > CONFIG_LIMIT {
        return Err(format!(
            "cache config of {} bytes is too large",
            m.config.size
        ));
    }
    Ok(m)
}

/// The descriptor of a config blob of these bytes.
pub fn config_descriptor(bytes: &[u8]) -> Descriptor {
    Descriptor::new(
        media::RBUILD_CACHE_CONFIG,
        Digest::of(bytes),
        bytes.len() as u64,
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::store::LayerRecord;

    fn layer(n: u8) -> Descriptor {
        Descriptor::new(media::OCI_LAYER_GZIP, Digest::of(&[n]), 10 + n as u64)
    }

    fn record(key: &str, l: Option<Descriptor>) -> CacheRecord {
        CacheRecord {
            key: Digest::of(key.as_bytes()),
            layer: l.map(|descriptor| LayerRecord {
                descriptor,
                diff_id: Digest::of(b"diff"),
            }),
            created: "2024-01-01T00:00:00Z".into(),
            inputs: BTreeMap::from([("kind".to_string(), "RUN".to_string())]),
        }
    }

    #[test]
    fn same_records_same_bytes() {
        let a = CacheConfig::new(vec![record("a", Some(layer(1))), record("b", None)]);
        let b = CacheConfig::new(vec![
            record("b", None),
            record("a", Some(layer(1))),
            record("b", None),
        ]);
        assert_eq!(a.to_bytes(), b.to_bytes());
        assert_eq!(b.records.len(), 2);
        let (back, dropped) = CacheConfig::parse(&a.to_bytes(), &[layer(1)]).unwrap();
        assert_eq!((back, dropped), (a, 0));
    }

    #[test]
    fn records_of_unlisted_layers_are_dropped() {
        let c = CacheConfig::new(vec![
            record("a", Some(layer(1))),
            record("b", Some(layer(2))),
        ]);
        let (back, dropped) = CacheConfig::parse(&c.to_bytes(), &[layer(2)]).unwrap();
        assert_eq!(dropped, 1);
        assert_eq!(back.records, vec![record("b", Some(layer(2)))]);
        // Same digest, other size: not the listed blob.
        let mut other = layer(2);
        other.size += 1;
        assert_eq!(CacheConfig::parse(&c.to_bytes(), &[other]).unwrap().1, 2);
    }

    #[test]
    fn bad_configs_are_refused() {
        assert!(
            CacheConfig::parse(b"{}", &[])
                .unwrap_err()
                .starts_with("cache config:")
        );
        let err = CacheConfig::parse(br#"{"version":7,"records":[]}"#, &[]).unwrap_err();
        assert_eq!(err, "cache config version 7 (this rbuild reads version 1)");
    }

    #[test]
    fn manifests_are_checked() {
        let config = config_descriptor(b"{}");
        let m = artifact_manifest(config.clone(), vec![layer(1)]);
        let bytes = m.to_bytes();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.contains(r#""artifactType":"application/vnd.rbuild.cache.v1""#),
            "{text}"
        );
        assert_eq!(parse_manifest(&bytes).unwrap(), m);

        let image = Manifest::oci(
            Descriptor::new(media::OCI_CONFIG, Digest::of(b"{}"), 2),
            vec![],
        );
        let err = parse_manifest(&image.to_bytes()).unwrap_err();
        assert!(err.contains("an image, not a cache"), "{err}");
        let err = parse_manifest(br#"{"schemaVersion":2,"manifests":[]}"#).unwrap_err();
        assert!(err.contains("image index"), "{err}");
        let mut big = m.clone();
        big.config.size = CONFIG_LIMIT + 1;
        assert!(
            parse_manifest(&big.to_bytes())
                .unwrap_err()
                .contains("too large")
        );
        assert!(parse_manifest(b"not json").is_err());
    }
}
