//! The OCI distribution API for one repository: manifests (HEAD, GET, PUT) and blobs
//! (HEAD, GET with resume, uploads: monolithic, chunked, cross-repository mount).

use std::io::{Read, Write};

use super::auth::Scope;
use super::endpoint::{Call, Endpoint, Payload, header, redact};
use super::error::RegistryError;
use super::progress::{Reporter, TransferPhase};
use super::transport;
use crate::digest::Digest;
use crate::image::{Descriptor, media};
use crate::store::{Store, StoreError};

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

/// How an upload session began.
pub(crate) enum UploadStart {
    /// The registry linked the blob from the other repository: nothing to send.
    Mounted,
    /// Send the bytes to this URL.
    Session(String),
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

    fn name(&self) -> String {
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
                    let detail = super::endpoint::error_detail(&mut resp);
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

    /// HEAD on a blob: true when the repository has it.
    pub fn has_blob(&self, digest: &Digest) -> Result<bool, RegistryError> {
        let path = format!("/v2/{}/blobs/{digest}", self.repository);
        let resp = self.ep.send(&Call::new("HEAD", path, &self.scope))?;
        match resp.status().as_u16() {
            200..=299 => Ok(true),
            404 => Ok(false),
            s => Err(self
                .ep
                .status_error(format!("HEAD {}@{digest}", self.name()), resp, s)),
        }
    }

    /// Downloads a blob into the store, verifying digest and size before it is kept.
    /// A connection cut mid-blob resumes with a `Range` request (or restarts).
    pub fn download_blob(
        &self,
        store: &Store,
        desc: &Descriptor,
        reporter: &Reporter<'_>,
    ) -> Result<(), RegistryError> {
        let what = format!("{}@{}", self.name(), desc.digest);
        let path = format!("/v2/{}/blobs/{}", self.repository, desc.digest);
        let mut writer = store.blob_writer()?;
        let mut attempt = 0;
        reporter.event(TransferPhase::Start, 0);
        loop {
            let have = writer.len();
            let mut call = Call::new("GET", path.clone(), &self.scope);
            if have > 0 {
                call = call.header("Range", format!("bytes={have}-"));
            }
            let mut resp = self.ep.send(&call)?;
            match resp.status().as_u16() {
                200 if have > 0 => {
                    // The server ignored the range: start over.
                    writer = store.blob_writer()?;
                }
                200 | 206 => {}
                404 => {
                    return Err(RegistryError::BlobUnknown {
                        repository: self.name(),
                        digest: desc.digest,
                    });
                }
                s => return Err(self.ep.status_error(format!("GET {what}"), resp, s)),
            }
            // Never take more than the descriptor promises (+1 to notice excess).
            let room = (desc.size + 1).saturating_sub(writer.len());
            let mut body = resp
                .body_mut()
                .with_config()
                .limit(u64::MAX)
                .reader()
                .take(room);
            match copy_into(&mut body, &mut writer, reporter) {
                Ok(()) => break,
                Err(CopyError::Store(e)) => return Err(StoreError::io(&store.tmp_dir(), e).into()),
                Err(CopyError::Net(e)) => {
                    let f = transport::io_failure(&e);
                    if attempt < self.ep.options().retries {
                        self.ep.backoff(attempt, None);
                        attempt += 1;
                        continue;
                    }
                    let message = format!("download cut after {} bytes: {e}", writer.len());
                    return Err(match f {
                        transport::Failure::Timeout => RegistryError::Timeout {
                            what: format!("GET {what}"),
                            message,
                        },
                        _ => RegistryError::Transport {
                            what: format!("GET {what}"),
                            message,
                            registry: self.ep.registry().to_string(),
                            certificate: false,
                        },
                    });
                }
            }
        }
        match writer.commit(Some((desc.digest, desc.size))) {
            Ok(_) => {}
            Err(StoreError::DigestMismatch {
                expected,
                expected_size,
                actual,
                actual_size,
            }) => {
                return Err(RegistryError::DigestMismatch {
                    what,
                    expected,
                    expected_size,
                    actual,
                    actual_size,
                });
            }
            Err(e) => return Err(e.into()),
        }
        reporter.event(TransferPhase::Done, desc.size);
        Ok(())
    }

    /// Starts an upload; with `mount`, first asks the registry to link the blob from
    /// another repository of the same registry.
    pub fn start_upload(
        &self,
        mount: Option<(&Digest, &str)>,
    ) -> Result<UploadStart, RegistryError> {
        let mut path = format!("/v2/{}/blobs/uploads/", self.repository);
        if let Some((d, from)) = mount {
            path.push_str(&format!("?mount={d}&from={from}"));
        }
        let resp = self.ep.send(&Call::new("POST", path, &self.scope))?;
        let what = format!("POST {}/blobs/uploads/", self.name());
        match resp.status().as_u16() {
            201 if mount.is_some() => return Ok(UploadStart::Mounted),
            202 => {}
            s => return Err(self.ep.status_error(what, resp, s)),
        }
        let location = header(&resp, "location").ok_or_else(|| RegistryError::InvalidResponse {
            what,
            message: "no Location header for the upload".into(),
        })?;
        Ok(UploadStart::Session(location))
    }

    /// Sends a whole blob from the store to an upload session, in one PUT or in chunks.
    pub fn upload_blob(
        &self,
        store: &Store,
        desc: &Descriptor,
        mut location: String,
        reporter: &Reporter<'_>,
    ) -> Result<(), RegistryError> {
        let file = store.blob_path(&desc.digest);
        let opts = self.ep.options();
        let what = format!("upload {}@{}", self.name(), desc.digest);
        let mut offset = 0u64;
        if desc.size >= opts.chunked_threshold {
            while offset < desc.size {
                let len = opts.chunk_size.max(1).min(desc.size - offset);
                let base = offset;
                let progress = move |n: u64| reporter.progress(base + n);
                let call = Call::new("PATCH", location.clone(), &self.scope)
                    .header("Content-Type", "application/octet-stream")
                    .header("Content-Range", format!("{offset}-{}", offset + len - 1))
                    .body(Payload::File {
                        path: &file,
                        offset,
                        len,
                        progress: &progress,
                    });
                let resp = self.ep.send(&call)?;
                match resp.status().as_u16() {
                    202 => {}
                    s => return Err(self.ep.status_error(what, resp, s)),
                }
                if let Some(l) = header(&resp, "location") {
                    location = l;
                }
                offset += len;
            }
        }
        let sep = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{sep}digest={}", desc.digest);
        let progress = |n: u64| reporter.progress(n);
        let body = if offset < desc.size {
            Payload::File {
                path: &file,
                offset: 0,
                len: desc.size,
                progress: &progress,
            }
        } else {
            Payload::Empty
        };
        let call = Call::new("PUT", url, &self.scope)
            .header("Content-Type", "application/octet-stream")
            .body(body);
        let resp = self.ep.send(&call)?;
        match resp.status().as_u16() {
            201 | 204 => Ok(()),
            s => Err(self
                .ep
                .status_error(format!("{what} ({})", redact(&location)), resp, s)),
        }
    }
}

enum CopyError {
    Net(std::io::Error),
    Store(std::io::Error),
}

fn copy_into(
    from: &mut impl Read,
    to: &mut crate::store::BlobWriter,
    reporter: &Reporter<'_>,
) -> Result<(), CopyError> {
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Net(e)),
        };
        to.write_all(&buf[..n]).map_err(CopyError::Store)?;
        reporter.progress(to.len());
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
