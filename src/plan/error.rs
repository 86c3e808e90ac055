//! Planning errors: what is wrong, at which Dockerfile lines, and what might fix it.

use super::Location;
use crate::dockerfile::Diagnostic;
use crate::dockerfile::shell::ShellError;

/// What went wrong while planning.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanErrorKind {
    /// Nothing but ARGs (or nothing at all).
    #[error("dockerfile contains no stages to build")]
    NoStages,
    /// An instruction other than ARG before the first FROM.
    #[error("no build stage in current context")]
    NoStage,
    /// A keyword that is not an instruction.
    #[error("unknown instruction: {0}")]
    UnknownInstruction(String),
    /// An instruction with wrong flags or arguments (BuildKit's message).
    #[error("{0}")]
    Invalid(String),
    /// Variable expansion failed (`${X:?}`, bad syntax).
    #[error(transparent)]
    Expand(#[from] Box<ShellError>),
    /// `--target` names no stage.
    #[error("target stage {} could not be found", crate::dockerfile::goquote(.0))]
    UnknownTarget(String),
    /// Two stages with the same name.
    #[error("duplicate stage name {}", crate::dockerfile::goquote(.0))]
    DuplicateStage(String),
    /// A stage that depends on itself.
    #[error("circular dependency detected on stage: {0}")]
    Cycle(String),
    /// `COPY --from` / `--mount from=` naming a stage defined later (or the stage itself).
    #[error("{0}")]
    ForwardReference(String),
    /// The base image could not be resolved.
    #[error("{reference}: {message}")]
    Resolve {
        /// The image reference.
        reference: String,
        /// The resolver's message.
        message: String,
    },
}

/// A planning error at a place in the Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{kind}", location.map(|l| format!("line {}: ", l.start_line)).unwrap_or_default())]
pub struct PlanError {
    /// What.
    pub kind: PlanErrorKind,
    /// Where, when it concerns an instruction.
    pub location: Option<Location>,
    /// 1-based column and width to underline on the first line (0: the whole line).
    pub span: (usize, usize),
    /// What to do about it.
    pub hint: Option<String>,
}

impl PlanError {
    pub(crate) fn new(kind: PlanErrorKind, location: Option<Location>) -> PlanError {
        PlanError {
            kind,
            location,
            span: (0, 0),
            hint: None,
        }
    }

    pub(crate) fn invalid(message: impl Into<String>, location: Location) -> PlanError {
        PlanError::new(PlanErrorKind::Invalid(message.into()), Some(location))
    }

    pub(crate) fn with_hint(mut self, hint: Option<String>) -> PlanError {
        self.hint = hint;
        self
    }

    pub(crate) fn with_span(mut self, column: usize, width: usize) -> PlanError {
        self.span = (column, width);
        self
    }

    /// The error as a compiler-style report about `file`.
    pub fn diagnostic(&self, file: &str) -> Diagnostic {
        let mut d = Diagnostic::error(
            file,
            self.location.unwrap_or_default(),
            self.kind.to_string(),
        )
        .with_span(self.span.0, self.span.1);
        d.hint = self.hint.clone();
        d
    }
}
