//! Parse errors, each with the lines it concerns.

use crate::plan::Location;

use super::shell::ShellError;

/// What went wrong while parsing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseErrorKind {
    /// Only comments, blank lines and directives.
    #[error("file with no instructions")]
    NoInstructions,
    /// A physical line longer than BuildKit's scanner buffer.
    #[error("dockerfile line greater than max allowed size of 65535")]
    LineTooLong,
    /// `# escape=` with something other than `\` or `` ` ``.
    #[error("invalid escape token '{0}' does not match ` or \\")]
    InvalidEscape(String),
    /// A directive given twice.
    #[error("only one {0} parser directive can be used")]
    DuplicateDirective(String),
    /// A JSON array with a non-string element.
    #[error("when using JSON array syntax, arrays must be comprised of strings only")]
    JsonNotStrings,
    /// Old-form `ENV name` / `LABEL name` without a value.
    #[error("{0} must have two arguments")]
    MissingValue(&'static str),
    /// New-form `ENV a=b c`: a word without `=`.
    #[error("Syntax error - can't find = in {}. Must be of the form: name=value", super::goquote(.0))]
    MissingEquals(String),
    /// End of file inside a heredoc.
    #[error("unterminated heredoc")]
    UnterminatedHeredoc,
    /// A heredoc delimiter the shell lexer rejects.
    #[error(transparent)]
    Heredoc(#[from] ShellError),
    /// ONBUILD nested deeper than anything meaningful (`ONBUILD ONBUILD …`).
    #[error("ONBUILD nested too deeply")]
    TooDeep,
}

/// A parse error and where it happened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dockerfile parse error on line {}: {kind}", location.start_line)]
pub struct ParseError {
    /// What.
    pub kind: ParseErrorKind,
    /// Where (1-based lines; 0 when the file is empty).
    pub location: Location,
}

impl ParseError {
    pub(super) fn new(kind: ParseErrorKind, start_line: usize, end_line: usize) -> ParseError {
        ParseError {
            kind,
            location: Location {
                start_line,
                end_line: end_line.max(start_line),
            },
        }
    }
}

impl ParseError {
    /// The error as a compiler-style report about `file`.
    pub fn diagnostic(&self, file: &str) -> super::Diagnostic {
        let d = super::Diagnostic::error(file, self.location, self.kind.to_string());
        match &self.kind {
            ParseErrorKind::NoInstructions => {
                d.with_hint("a Dockerfile needs at least a FROM instruction")
            }
            ParseErrorKind::UnterminatedHeredoc => {
                d.with_hint("end the heredoc with a line holding only its delimiter")
            }
            ParseErrorKind::JsonNotStrings => {
                d.with_hint("the exec form is a JSON array of strings: [\"cmd\", \"arg\"]")
            }
            ParseErrorKind::MissingValue(_) => d.with_hint("use NAME=VALUE"),
            _ => d,
        }
    }
}
