//! Sandbox errors.

use std::io;
use std::path::{Path, PathBuf};

use crate::layer::{CopyError, DiffError, ResolveError};

/// What went wrong running a step (a non-zero exit is not an error: see
/// [`RunOutcome::status`](super::RunOutcome::status)).
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// I/O on a host path.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// A system call the sandbox needs failed in the parent.
    #[error("{what}: {source}")]
    Sys {
        /// What was attempted.
        what: &'static str,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The process is neither root nor root of a user namespace.
    #[error("running a RUN step needs root or a user namespace")]
    Unprivileged,
    /// Entering a user namespace as an ordinary user failed.
    #[error("cannot create a user namespace: {0}")]
    UserNamespace(String),
    /// The container could not be set up (the message names the failing step).
    #[error("setting up the RUN sandbox: {0}")]
    Setup(String),
    /// `USER` names a user or group the image does not have.
    #[error("{0}")]
    User(String),
    /// A mount target or source is unusable.
    #[error("mount {target}: {message}")]
    Mount {
        /// The mount target.
        target: String,
        /// Why.
        message: String,
    },
    /// A required secret is missing.
    #[error("secret {0}: not found")]
    SecretNotFound(String),
    /// A RUN feature rbuild does not implement.
    #[error("{0} is not supported")]
    Unsupported(&'static str),
    /// The spec is unusable.
    #[error("invalid RUN step: {0}")]
    Invalid(String),
    /// The step was cancelled.
    #[error("the RUN step was cancelled")]
    Cancelled,
    /// Taking the diff failed.
    #[error(transparent)]
    Diff(#[from] DiffError),
    /// Copying the rootfs for the fallback failed.
    #[error("copying the rootfs: {0}")]
    Copy(#[from] CopyError),
    /// Resolving a path inside the rootfs failed.
    #[error("resolving a path in the rootfs: {0}")]
    Resolve(#[from] ResolveError),
}

impl SandboxError {
    /// Wraps an I/O error with its path.
    pub fn io(path: &Path, source: io::Error) -> SandboxError {
        SandboxError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// An `map_err` adaptor for [`SandboxError::io`].
    pub(crate) fn at(path: &Path) -> impl FnOnce(io::Error) -> SandboxError + '_ {
        move |e| SandboxError::io(path, e)
    }

    /// An `map_err` adaptor for a failed system call.
    pub(crate) fn sys(what: &'static str) -> impl FnOnce(io::Error) -> SandboxError {
        move |source| SandboxError::Sys { what, source }
    }
}
