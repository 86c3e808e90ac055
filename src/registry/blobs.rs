//! Blobs of one repository: HEAD, download with resume, and uploads (monolithic PUT,
//! chunked PATCH, cross-repository mount).

use std::io::{Read, Write};

use super::call::{Call, Payload, header, redact};
use super::distribution::Repo;
use super::error::RegistryError;
use super::progress::{Reporter, TransferPhase};
use super::transport;
use crate::digest::Digest;
use crate::image::Descriptor;
use crate::store::{Store, StoreError};

/// How an upload session began.
pub(crate) enum UploadStart {
    /// The registry linked the blob from the other repository: nothing to send.
    Mounted,
    /// Send the bytes to this URL.
    Session(String),
}

impl Repo<'_> {
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
