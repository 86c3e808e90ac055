//! The OCI distribution API for one repository: manifests (HEAD, GET, PUT) and blobs
//! (HEAD, GET with resume, uploads: monolithic, chunked, cross-repository mount).

use super::auth::Scope;
use super::call::{Call, Payload, error_detail, header};
use super::endpoint::Endpoint;
use super::error::RegistryError;
use super::transport;
use crate::digest::Digest;
use crate::image::{Descriptor, media};

/// What a registry is told rbuild accepts for manifests (without it, a registry serves
/// only Docker schema 1 or refuses OCI content).
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// Largest manifest accepted (as containerd).
const MANIFEST_LIMIT: u64 = 4 << 20;

/// One repository of one registry.
pub(crate) struct Repo<'a> {
    pub ep: &'a Endpoint,
    pub repository: String,
    pub scope: Scope,
}

impl<'a> Repo<'a> {
    /// A repository with the access `scope`.
    pub fn new(ep: &'a Endpoint, repository: &str, scope: Scope) -> Repo<'a> {
        Repo {
            ep,
            repository: repository.to_string(),
            scope,
        }
    }

    /// `registry/repository`, for messages.
    pub(crate) fn name(&self) -> String {
        format!("{}/{}", self.ep.registry(), self.repository)
    }

    fn object(&self, reference: &str) -> String {
        if reference.contains(':') {
            format!("{}@{reference}", self.name())
        } else {
            format!("{}:{reference}", self.name())
        }
    }

    /// HEAD on a manifest: its descriptor, or `None` when it does not exist.
    pub fn head_manifest(&self, reference: &str) -> Result<Option<Descriptor>, RegistryError> {
        let path = format!("/v2/{}/manifests/{reference}", self.repository);
        let call = Call::new("HEAD", path, &self.scope).header("Accept", MANIFEST_ACCEPT);
        let resp = self.ep.send(&call)?;
        match resp.status().as_u16() {
            200 => {}
            404 => return Ok(None),
            s => {
                return Err(self.ep.status_error(
                    format!("HEAD {}", self.object(reference)),
                    resp,
                    s,
                ));
            }
        }
        let digest = header(&resp, "docker-content-digest").and_then(|d| d.parse::<Digest>().ok());
        let size = header(&resp, "content-length").and_then(|l| l.parse::<u64>().ok());
        let media_type = header(&resp, "content-type").filter(|m| is_manifest_type(m));
        match (digest, size, media_type) {
            (Some(d), Some(s), Some(m)) => Ok(Some(Descriptor::new(&m, d, s))),
            // Not enough in the headers: fetch it.
            _ => self.get_manifest(reference).map(|(d, _)| Some(d)),
        }
    }

    /// GET a manifest or index: its descriptor and bytes. A digest reference is verified.
    pub fn get_manifest(&self, reference: &str) -> Result<(Descriptor, Vec<u8>), RegistryError> {
        let what = self.object(reference);
        let path = format!("/v2/{}/manifests/{reference}", self.repository);
        let call = Call::new("GET", path, &self.scope).header("Accept", MANIFEST_ACCEPT);
        let mut attempt = 0;
        loop {
            let mut resp = self.ep.send(&call)?;
            match resp.status().as_u16() {
                200 => {}
                404 => {
                    let detail = error_detail(&mut resp);
                    return Err(RegistryError::ManifestUnknown {
                        reference: what,
                        detail,
                    });
                }
                s => return Err(self.ep.status_error(format!("GET {what}"), resp, s)),
            }
            let content_type = header(&resp, "content-type");
            let bytes = match resp
                .body_mut()
                .with_config()
                .limit(MANIFEST_LIMIT)
                .read_to_vec()
            {
                Ok(b) => b,
                Err(e) => {
                    let f = transport::classify(&e);
                    if matches!(
                        f,
                        transport::Failure::Transient | transport::Failure::Timeout
                    ) && attempt < self.ep.options().retries
                    {
                        self.ep.backoff(attempt, None);
                        attempt += 1;
                        continue;
                    }
                    return Err(self.ep.transport_error(format!("GET {what}"), &e, f));
                }
            };
            let digest = Digest::of(&bytes);
            if let Ok(want) = reference.parse::<Digest>() {
                if want != digest {
                    return Err(RegistryError::DigestMismatch {
                        what,
                        expected: want,
                        expected_size: bytes.len() as u64,
                        actual: digest,
                        actual_size: bytes.len() as u64,
                    });
                }
            }
            let media_type =
                manifest_media_type(content_type.as_deref(), &bytes).ok_or_else(|| {
                    RegistryError::UnsupportedMediaType {
                        reference: what.clone(),
                        media_type: content_type.clone().unwrap_or_default(),
                    }
                })?;
            let desc = Descriptor::new(&media_type, digest, bytes.len() as u64);
            return Ok((desc, bytes));
        }
    }

    /// PUT a manifest under `reference` (a tag or its digest). Returns its digest.
    pub fn put_manifest(
        &self,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest, RegistryError> {
        let path = format!("/v2/{}/manifests/{reference}", self.repository);
        let call = Call::new("PUT", path, &self.scope)
            .header("Content-Type", media_type)
            .body(Payload::Bytes(bytes));
        let resp = self.ep.send(&call)?;
        let what = format!("PUT {}", self.object(reference));
        match resp.status().as_u16() {
            200..=299 => {}
            s => return Err(self.ep.status_error(what, resp, s)),
        }
        let digest = Digest::of(bytes);
        if let Some(d) =
            header(&resp, "docker-content-digest").and_then(|d| d.parse::<Digest>().ok())
        {
            if d != digest {
                return Err(RegistryError::InvalidResponse {
                    what,
                    message: format!("the registry stored the manifest as {d}, not {digest}"),
                });
            }
        }
        Ok(digest)
    }
}

fn is_manifest_type(mt: &str) -> bool {
    let mt = mt.split(';').next().unwrap_or(mt).trim();
    media::is_manifest(mt) || media::is_index(mt)
}

/// The media type of a fetched manifest: the `Content-Type` when it names a manifest,
/// else the JSON's `mediaType`, else its shape (`manifests` → index, `config` → manifest).
pub(crate) fn manifest_media_type(content_type: Option<&str>, bytes: &[u8]) -> Option<String> {
    if let Some(ct) = content_type.map(|c| c.split(';').next().unwrap_or(c).trim()) {
        if is_manifest_type(ct) {
            return Some(ct.to_string());
        }
    }
    let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    if let Some(mt) = v.get("mediaType").and_then(|m| m.as_str()) {
        return is_manifest_type(mt).then(|| mt.to_string());
    }
    if v.get("schemaVersion").and_then(|s| s.as_u64()) != Some(2) {
        return None;
    }
    if v.get("manifests").is_some() {
        Some(media::OCI_INDEX.to_string())
    } else if v.get("config").is_some() {
        Some(media::OCI_MANIFEST.to_string())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_type_from_header_body_or_shape() {
        let m = br#"{"schemaVersion":2,"config":{}}"#;
        assert_eq!(
            manifest_media_type(
                Some("application/vnd.docker.distribution.manifest.v2+json"),
                m
            )
            .as_deref(),
            Some(media::DOCKER_MANIFEST)
        );
        assert_eq!(
            manifest_media_type(Some("application/json"), m).as_deref(),
            Some(media::OCI_MANIFEST)
        );
        let i = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert_eq!(
            manifest_media_type(None, i).as_deref(),
            Some(media::OCI_INDEX)
        );
        let schema1 = br#"{"schemaVersion":1,"fsLayers":[]}"#;
        assert_eq!(
            manifest_media_type(
                Some("application/vnd.docker.distribution.manifest.v1+prettyjws"),
                schema1
            ),
            None
        );
    }
}
