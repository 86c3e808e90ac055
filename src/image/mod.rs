//! OCI image JSON: descriptors, manifests, indexes and the image config.
//!
//! These are plain serde types rather than `oci-spec`'s builders: the config must carry
//! Docker's `Healthcheck`, `OnBuild` and `Shell` fields (which `oci-spec` lacks), and the
//! exact JSON we write decides image digests. The test suite parses everything written
//! here with `oci-spec`, `skopeo` and `umoci`, so independent readers check it.

mod config;
mod manifest;

pub use config::{ContainerConfig, Healthcheck, History, ImageConfig, RootFs};
pub use manifest::{Descriptor, Index, Manifest, Platform};

/// Media types rbuild reads and writes.
pub mod media {
    /// OCI image manifest.
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// OCI image index.
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// OCI image config.
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    /// OCI layer, uncompressed tar.
    pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
    /// OCI layer, gzip.
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    /// OCI layer, zstd.
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    /// Docker schema 2 manifest.
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    /// Docker manifest list.
    pub const DOCKER_MANIFEST_LIST: &str =
        "application/vnd.docker.distribution.manifest.list.v2+json";
    /// Docker image config.
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    /// Docker layer (gzip).
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    /// Docker foreign layer (gzip).
    pub const DOCKER_LAYER_FOREIGN: &str =
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
    /// rbuild's exported build-cache config (a manifest's config blob).
    pub const RBUILD_CACHE_CONFIG: &str = "application/vnd.rbuild.cache.config.v1+json";

    /// True for any media type that names a manifest (OCI or Docker).
    pub fn is_manifest(mt: &str) -> bool {
        mt == OCI_MANIFEST || mt == DOCKER_MANIFEST
    }

    /// True for any media type that names an index / manifest list.
    pub fn is_index(mt: &str) -> bool {
        mt == OCI_INDEX || mt == DOCKER_MANIFEST_LIST
    }
}

/// The annotation that names a manifest in an OCI layout's `index.json`.
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";

/// rbuild's annotation on a store tag whose image was pulled from a registry (the value
/// is the canonical reference): such a tag is re-resolved against the registry once per
/// build, while a built or imported image is only ever local.
pub const PULLED_FROM_ANNOTATION: &str = "dev.rbuild.pulled-from";
