//! Solver errors: each names the step it happened at, so the CLI can show the
//! Dockerfile line like a compiler.

use crate::plan::Location;

/// What went wrong while solving.
#[derive(Debug, thiserror::Error)]
pub enum SolveErrorKind {
    /// A base image could not be resolved or read.
    #[error("{reference}: {message}")]
    Base {
        /// The reference.
        reference: String,
        /// Why.
        message: String,
    },
    /// COPY/ADD failed (missing source, bad destination…).
    #[error("{0}")]
    Copy(String),
    /// RUN could not be run, or its layer not taken.
    #[error("{0}")]
    Run(String),
    /// The RUN command exited non-zero.
    #[error("process \"{command}\" did not complete successfully: exit code: {code}")]
    RunFailed {
        /// The command as BuildKit prints it.
        command: String,
        /// Exit code (128+n for a signal).
        code: i32,
        /// The last lines of output.
        tail: String,
    },
    /// A user or group name could not be found in the image.
    #[error("{0}")]
    User(String),
    /// The store failed.
    #[error("{0}")]
    Store(String),
    /// The build was interrupted.
    #[error("interrupted")]
    Interrupted,
    /// A stage this one needs failed.
    #[error("a stage this one depends on failed")]
    DependencyFailed,
}

/// A solver error, at a step when it concerns one.
#[derive(Debug, thiserror::Error)]
#[error("{kind}")]
pub struct SolveError {
    /// What.
    pub kind: Box<SolveErrorKind>,
    /// The step's Dockerfile lines.
    pub location: Option<Location>,
    /// The step's instruction text.
    pub step: Option<String>,
    /// What to do about it.
    pub hint: Option<String>,
}

impl SolveError {
    /// An error not tied to a step.
    pub fn new(kind: SolveErrorKind) -> SolveError {
        SolveError {
            kind: Box::new(kind),
            location: None,
            step: None,
            hint: None,
        }
    }

    /// Attaches the step it happened at (kept if already set).
    pub fn at(mut self, location: Location, step: &str) -> SolveError {
        if self.location.is_none() {
            self.location = Some(location);
            self.step = Some(step.to_string());
        }
        self
    }

    /// Adds a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> SolveError {
        self.hint = Some(hint.into());
        self
    }

    /// A store failure.
    pub fn store(e: impl std::fmt::Display) -> SolveError {
        SolveError::new(SolveErrorKind::Store(e.to_string()))
    }

    /// A COPY failure.
    pub fn copy(e: impl std::fmt::Display) -> SolveError {
        SolveError::new(SolveErrorKind::Copy(e.to_string()))
    }

    /// A RUN failure (not the command's own exit code).
    pub fn run(e: impl std::fmt::Display) -> SolveError {
        SolveError::new(SolveErrorKind::Run(e.to_string()))
    }
}
