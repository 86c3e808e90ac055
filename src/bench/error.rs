//! Errors of `rbuild bench`.

use std::path::PathBuf;

/// What can stop a bench.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A file operation failed (the message names the path: these come from `fs_err`).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The bench's private store could not be made.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The build context is not a directory.
    #[error("the build context {0} is not a directory")]
    ContextMissing(PathBuf),
    /// An option the bench cannot honour.
    #[error("{0}")]
    Unsupported(String),
    /// A `--change` path that is not a regular file inside the context.
    #[error("--change {path}: {why}")]
    BadChange {
        /// The path as given.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// The build program could not be started.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program.
        program: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Waiting for a build failed.
    #[error("waiting for the build (pid {pid}): {source}")]
    Wait {
        /// The child.
        pid: i32,
        /// Why.
        source: std::io::Error,
    },
    /// A build failed.
    #[error("the {scenario} build failed ({status}); the end of its output:\n{log_tail}")]
    BuildFailed {
        /// Scenario name (and run).
        scenario: String,
        /// How it ended (`exit status 1`, `killed by signal 9`).
        status: String,
        /// The last lines of its output.
        log_tail: String,
    },
    /// A build's metadata file is missing or malformed.
    #[error("reading the build's metadata {path}: {source}")]
    Metadata {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
    /// A `--compare` report that cannot be used.
    #[error("the report {path} cannot be compared: {why}")]
    Baseline {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// SIGINT, SIGTERM or SIGHUP arrived: the build was stopped and everything cleaned up.
    #[error("interrupted")]
    Interrupted {
        /// The signal number.
        signal: i32,
    },
}
