//! The registry client: one per process (or build), holding one [`Endpoint`] per registry
//! so scheme probes and tokens are reused; and the primitives the solver and the remote
//! build cache use: resolve a tag, fetch a manifest, fetch or push one blob, push a manifest.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::auth::{Credentials, DockerConfig, Scope};
use super::blobs::UploadStart;
use super::distribution::Repo;
use super::endpoint::Endpoint;
use super::error::RegistryError;
use super::options::RegistryOptions;
use super::origins::{self, Origin};
use super::progress::{Progress, Reporter, TransferPhase};
use super::reference::{Reference, endpoint_of};
use crate::digest::Digest;
use crate::image::Descriptor;
use crate::store::{Store, StoreError};

/// What pushing one blob did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobPush {
    /// The bytes were sent.
    Uploaded,
    /// The repository already had it.
    Skipped,
    /// The registry linked it from another repository.
    Mounted,
}

/// A client for any number of registries.
pub struct RegistryClient {
    opts: RegistryOptions,
    endpoints: Mutex<HashMap<String, Arc<Endpoint>>>,
}

impl RegistryClient {
    /// A client with these options (credentials come from the Docker config).
    pub fn new(opts: RegistryOptions) -> RegistryClient {
        RegistryClient {
            opts,
            endpoints: Mutex::new(HashMap::new()),
        }
    }

    /// The options in force.
    pub fn options(&self) -> &RegistryOptions {
        &self.opts
    }

    /// The endpoint for `registry`, made on first use with the configured credentials.
    pub(crate) fn endpoint(&self, registry: &str) -> Result<Arc<Endpoint>, RegistryError> {
        let mut map = self.endpoints.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(ep) = map.get(registry) {
            return Ok(ep.clone());
        }
        let path = self
            .opts
            .docker_config
            .clone()
            .unwrap_or_else(DockerConfig::default_path);
        let creds = DockerConfig::load(&path)?.credentials(registry)?;
        let ep = Arc::new(Endpoint::new(
            registry,
            endpoint_of(registry),
            &self.opts,
            creds,
        )?);
        map.insert(registry.to_string(), ep.clone());
        Ok(ep)
    }

    /// Checks `credentials` against `registry` (`GET /v2/` through the auth flow), as
    /// `docker login` does before saving them.
    pub fn check_credentials(
        &self,
        registry: &str,
        credentials: Credentials,
    ) -> Result<(), RegistryError> {
        let ep = Endpoint::new(
            registry,
            endpoint_of(registry),
            &self.opts,
            Some(credentials),
        )?;
        ep.check_login()
    }

    /// The descriptor a tag (or digest) points at, from a HEAD request: the solver's
    /// "resolve once per build" primitive.
    pub fn resolve(&self, reference: &Reference) -> Result<Descriptor, RegistryError> {
        let ep = self.endpoint(reference.registry())?;
        let repo = Repo::new(
            &ep,
            reference.repository(),
            Scope::pull(reference.repository()),
        );
        repo.head_manifest(&reference.manifest_reference())?
            .ok_or_else(|| RegistryError::ManifestUnknown {
                reference: reference.to_string(),
                detail: String::new(),
            })
    }

    /// Fetches a manifest or index (verified against a pinned digest): its descriptor
    /// and exact bytes. Nothing is stored.
    pub fn fetch_manifest(
        &self,
        reference: &Reference,
    ) -> Result<(Descriptor, Vec<u8>), RegistryError> {
        let ep = self.endpoint(reference.registry())?;
        let repo = Repo::new(
            &ep,
            reference.repository(),
            Scope::pull(reference.repository()),
        );
        repo.get_manifest(&reference.manifest_reference())
    }

    /// True when `reference`'s repository has blob `digest` (one HEAD request): the build
    /// cache checks that a lazily imported layer is still there before relying on it.
    pub fn blob_exists(
        &self,
        reference: &Reference,
        digest: &Digest,
    ) -> Result<bool, RegistryError> {
        let ep = self.endpoint(reference.registry())?;
        let repo = Repo::new(
            &ep,
            reference.repository(),
            Scope::pull(reference.repository()),
        );
        repo.has_blob(digest)
    }

    /// Makes sure the store has the blob `desc` from `reference`'s repository, downloading
    /// and verifying it if missing (lazy fetches of cached layers).
    pub fn fetch_blob(
        &self,
        store: &Store,
        reference: &Reference,
        desc: &Descriptor,
        progress: Progress<'_>,
    ) -> Result<(), RegistryError> {
        let reporter = Reporter::new(desc.digest, desc.size, progress);
        if store.has_blob(&desc.digest) {
            reporter.event(TransferPhase::Skipped, desc.size);
            return Ok(());
        }
        let ep = self.endpoint(reference.registry())?;
        let repo = Repo::new(
            &ep,
            reference.repository(),
            Scope::pull(reference.repository()),
        );
        repo.download_blob(store, desc, &reporter)?;
        remember(store, &desc.digest, reference);
        Ok(())
    }

    /// Pushes one blob from the store to `reference`'s repository: skipped when the
    /// repository has it, mounted from another repository of the registry when known,
    /// else uploaded (one PUT, or chunks for large blobs). Only the upload needs the
    /// bytes: a blob the store lacks (a layer a build cache import made a hit without
    /// downloading it) is pushed by a skip or a mount, or fails with
    /// [`StoreError::BlobMissing`] so the caller can fetch it and try again.
    pub fn push_blob(
        &self,
        store: &Store,
        reference: &Reference,
        desc: &Descriptor,
        progress: Progress<'_>,
    ) -> Result<BlobPush, RegistryError> {
        let ep = self.endpoint(reference.registry())?;
        let repo_name = reference.repository();
        let repo = Repo::new(&ep, repo_name, Scope::push(repo_name));
        let reporter = Reporter::new(desc.digest, desc.size, progress);
        if repo.has_blob(&desc.digest)? {
            reporter.event(TransferPhase::Skipped, desc.size);
            remember(store, &desc.digest, reference);
            return Ok(BlobPush::Skipped);
        }
        let mut session = None;
        for o in origins::sources(store, &desc.digest) {
            if o.registry != reference.registry() || o.repository == repo_name {
                continue;
            }
            let mount_repo = Repo::new(
                &ep,
                repo_name,
                Scope::push(repo_name).and_pull(&o.repository),
            );
            match mount_repo.start_upload(Some((&desc.digest, &o.repository))) {
                Ok(UploadStart::Mounted) => {
                    reporter.event(TransferPhase::Mounted, desc.size);
                    remember(store, &desc.digest, reference);
                    return Ok(BlobPush::Mounted);
                }
                Ok(UploadStart::Session(loc)) => {
                    session = Some(loc);
                    break;
                }
                // A mount is an optimization: any failure falls back to an upload.
                Err(_) => continue,
            }
        }
        if !store.has_blob(&desc.digest) {
            return Err(StoreError::BlobMissing(desc.digest).into());
        }
        reporter.event(TransferPhase::Start, 0);
        let mut attempt = 0;
        loop {
            let location = match session.take() {
                Some(l) => l,
                None => match repo.start_upload(None)? {
                    UploadStart::Session(l) => l,
                    UploadStart::Mounted => {
                        return Err(RegistryError::InvalidResponse {
                            what: format!("upload to {}", reference.name()),
                            message: "the registry answered a plain upload with a mount".into(),
                        });
                    }
                },
            };
            match repo.upload_blob(store, desc, location, &reporter) {
                Ok(()) => break,
                // A broken session cannot be resumed portably: start a new one.
                Err(e) if retryable(&e) && attempt < self.opts.retries => {
                    ep.backoff(attempt, None);
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
        reporter.event(TransferPhase::Done, desc.size);
        remember(store, &desc.digest, reference);
        Ok(BlobPush::Uploaded)
    }

    /// Uploads a manifest (or index) under `reference`'s tag, or its digest when the
    /// reference has no tag. Returns the manifest's digest.
    pub fn push_manifest(
        &self,
        reference: &Reference,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest, RegistryError> {
        let ep = self.endpoint(reference.registry())?;
        let repo = Repo::new(
            &ep,
            reference.repository(),
            Scope::push(reference.repository()),
        );
        let target = match reference.tag() {
            Some(t) => t.to_string(),
            None => Digest::of(bytes).to_string(),
        };
        repo.put_manifest(&target, media_type, bytes)
    }
}

/// Upload failures worth a fresh upload session.
fn retryable(e: &RegistryError) -> bool {
    match e {
        RegistryError::Transport { certificate, .. } => !certificate,
        RegistryError::Timeout { .. } => true,
        RegistryError::Status { status, .. } => *status >= 500 || *status == 404 || *status == 416,
        _ => false,
    }
}

/// Records a blob's origin for later cross-repository mounts. A hint only: a failure to
/// record costs a future upload, not this transfer, so it is ignored.
pub(crate) fn remember(store: &Store, digest: &Digest, reference: &Reference) {
    let _ = origins::record(
        store,
        digest,
        &Origin {
            registry: reference.registry().to_string(),
            repository: reference.repository().to_string(),
        },
    );
}
