//! Registry errors, structured so the CLI can add a `hint:` for what the user can do.

use std::path::PathBuf;

use crate::digest::Digest;
use crate::store::StoreError;

use super::reference::ReferenceError;

/// What went wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A reference that does not parse.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// The registry could not be reached (after retries), or the connection failed.
    #[error("{what}: {message}")]
    Transport {
        /// The request (`GET https://host/v2/…`).
        what: String,
        /// The transport's error.
        message: String,
        /// The registry host.
        registry: String,
        /// True when the server's TLS certificate was not trusted.
        certificate: bool,
    },
    /// The server did not answer in time.
    #[error("{what}: timed out waiting for the registry ({message})")]
    Timeout {
        /// The request.
        what: String,
        /// Which timeout expired.
        message: String,
    },
    /// 401: no or wrong credentials.
    #[error("{what}: authentication required (401 Unauthorized){detail}")]
    Unauthorized {
        /// The request or object.
        what: String,
        /// The registry, as `rbuild login` takes it.
        registry: String,
        /// The registry's explanation, if any (starts with `: `).
        detail: String,
    },
    /// 403: authenticated but not allowed.
    #[error("{what}: access denied (403 Forbidden){detail}")]
    Denied {
        /// The request or object.
        what: String,
        /// The registry.
        registry: String,
        /// The registry's explanation, if any (starts with `: `).
        detail: String,
    },
    /// The tag or digest does not exist in the repository.
    #[error("{reference}: manifest unknown (the registry has no such tag or digest){detail}")]
    ManifestUnknown {
        /// The reference.
        reference: String,
        /// The registry's explanation, if any (starts with `: `).
        detail: String,
    },
    /// A blob the registry should have is missing.
    #[error("{repository}: blob {digest} unknown to the registry")]
    BlobUnknown {
        /// The repository.
        repository: String,
        /// The blob.
        digest: Digest,
    },
    /// Any other unexpected HTTP status.
    #[error("{what}: registry answered {status}{detail}")]
    Status {
        /// The request.
        what: String,
        /// The HTTP status.
        status: u16,
        /// The registry's explanation, if any (starts with `: `).
        detail: String,
    },
    /// Downloaded bytes do not hash to the digest they were asked for.
    #[error(
        "{what}: content does not match its digest: expected {expected} ({expected_size} bytes), got {actual} ({actual_size} bytes); nothing kept"
    )]
    DigestMismatch {
        /// The object.
        what: String,
        /// The digest asked for.
        expected: Digest,
        /// The size asked for.
        expected_size: u64,
        /// What the bytes hash to.
        actual: Digest,
        /// How many bytes came.
        actual_size: u64,
    },
    /// The response is not what the distribution API specifies.
    #[error("{what}: invalid registry response: {message}")]
    InvalidResponse {
        /// The request.
        what: String,
        /// What is wrong.
        message: String,
    },
    /// A manifest kind rbuild cannot use (schema 1, unknown media types).
    #[error("{reference}: unsupported manifest media type {media_type:?}")]
    UnsupportedMediaType {
        /// The reference.
        reference: String,
        /// The media type.
        media_type: String,
    },
    /// No manifest in an index matches the wanted platform.
    #[error(
        "{reference}: no matching manifest for {wanted} in the manifest list entries (available: {available})"
    )]
    PlatformNotFound {
        /// The reference.
        reference: String,
        /// The wanted platform.
        wanted: String,
        /// The platforms the index has.
        available: String,
    },
    /// A `--platform` value that does not parse.
    #[error("invalid platform {0:?}: expected os/arch[/variant], e.g. linux/arm64")]
    Platform(String),
    /// The Docker config file is unreadable or malformed.
    #[error("{}: {message}", path.display())]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A credential helper failed.
    #[error("docker-credential-{helper} {action}: {message}")]
    CredentialHelper {
        /// The helper's suffix (`pass`, `desktop`…).
        helper: String,
        /// `get`, `store` or `erase`.
        action: String,
        /// What went wrong.
        message: String,
    },
    /// An I/O error on a local file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RegistryError {
    /// Something the user can do about this error, if anything.
    pub fn hint(&self) -> Option<String> {
        match self {
            RegistryError::Unauthorized { registry, .. } => Some(format!("log in first: {}", login_command(registry))),
            RegistryError::Denied { registry, .. } => Some(format!(
                "check that your account may access this repository ({} to switch accounts)",
                login_command(registry)
            )),
            RegistryError::Transport {
                certificate: true,
                registry,
                ..
            } => Some(format!(
                "trust the registry's CA with --tls-ca FILE (or SSL_CERT_FILE), or skip verification with --insecure-registry {registry}"
            )),
            RegistryError::Transport { registry, .. } => Some(format!(
                "check that {registry} is reachable; a registry serving plain HTTP needs --insecure-registry {registry}"
            )),
            RegistryError::Timeout { .. } => Some(
                "the registry stalled; check the network (RBUILD_REGISTRY_TIMEOUT sets the timeout in seconds)"
                    .to_string(),
            ),
            RegistryError::ManifestUnknown { .. } => {
                Some("check the image name and tag".to_string())
            }
            RegistryError::PlatformNotFound { .. } => {
                Some("choose one of the available platforms with --platform".to_string())
            }
            RegistryError::DigestMismatch { .. } => Some(
                "the registry or something between it and you altered the data; try again"
                    .to_string(),
            ),
            _ => None,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> RegistryError {
        RegistryError::Io {
            path: path.into(),
            source,
        }
    }
}

fn login_command(registry: &str) -> String {
    if registry == super::reference::DOCKER_HUB {
        "rbuild login".to_string()
    } else {
        format!("rbuild login {registry}")
    }
}
