//! Descriptors, manifests and indexes (OCI image spec, also Docker schema 2 on read).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

/// A platform as it appears in an index entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Platform {
    /// CPU architecture, Go's GOARCH (`amd64`, `arm64`…).
    pub architecture: String,
    /// Operating system, Go's GOOS (`linux`).
    pub os: String,
    /// CPU variant (`v7`, `v8`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// OS version (Windows).
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// OS features.
    #[serde(
        rename = "os.features",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_features: Option<Vec<String>>,
}

impl Platform {
    /// The platform this binary runs on, as Go names it (`linux/amd64`).
    pub fn host() -> Platform {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "arm" => "arm",
            "powerpc64" => "ppc64le",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            other => other,
        };
        let variant = match architecture {
            "arm64" => Some("v8".to_string()),
            "arm" => Some("v7".to_string()),
            _ => None,
        };
        Platform {
            architecture: architecture.to_string(),
            os: "linux".to_string(),
            variant,
            ..Default::default()
        }
    }

    /// `os/arch[/variant]`.
    pub fn to_spec(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{}", self.os, self.architecture, v),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }
}

/// A content descriptor: what a blob is, its digest and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    pub media_type: String,
    /// Digest of the referenced content.
    pub digest: Digest,
    /// Size in bytes.
    pub size: u64,
    /// URLs for foreign layers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Platform, in index entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Artifact type (OCI 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

impl Descriptor {
    /// A descriptor without annotations or platform.
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            digest,
            size,
            urls: None,
            annotations: None,
            platform: None,
            artifact_type: None,
        }
    }

    /// Adds one annotation.
    pub fn with_annotation(mut self, key: &str, value: &str) -> Descriptor {
        self.annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(key.to_string(), value.to_string());
        self
    }

    /// The value of an annotation.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.as_ref()?.get(key).map(String::as_str)
    }
}

/// An image manifest (OCI, or Docker schema 2, which has the same shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2.
    pub schema_version: u32,
    /// The manifest's own media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Artifact type (OCI 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// The layers, base first.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl Manifest {
    /// An OCI manifest for `config` and `layers`.
    pub fn oci(config: Descriptor, layers: Vec<Descriptor>) -> Manifest {
        Manifest {
            schema_version: 2,
            media_type: Some(super::media::OCI_MANIFEST.to_string()),
            artifact_type: None,
            config,
            layers,
            annotations: None,
        }
    }

    /// Canonical JSON bytes (what gets hashed and stored).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("manifest serializes")
    }
}

/// An image index (OCI) or manifest list (Docker); also the store's `index.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// Always 2.
    pub schema_version: u32,
    /// The index's own media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The entries.
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl Index {
    /// An empty OCI index.
    pub fn empty() -> Index {
        Index {
            schema_version: 2,
            media_type: Some(super::media::OCI_INDEX.to_string()),
            manifests: Vec::new(),
            annotations: None,
        }
    }

    /// Canonical JSON bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("index serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_json_field_names() {
        let d = Descriptor::new(super::super::media::OCI_CONFIG, Digest::of(b"{}"), 2);
        let m = Manifest::oci(d, vec![]);
        let s = String::from_utf8(m.to_bytes()).unwrap();
        assert!(s.starts_with(r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType""#), "{s}");
    }

    #[test]
    fn platform_spec() {
        let p = Platform {
            architecture: "arm64".into(),
            os: "linux".into(),
            variant: Some("v8".into()),
            ..Default::default()
        };
        assert_eq!(p.to_spec(), "linux/arm64/v8");
    }
}
