//! The Dockerfile front end: parser, syntax tree, BuildKit's node dump, diagnostics and
//! the shell-word lexer.
//!
//! The parser reproduces BuildKit's (`frontend/dockerfile/parser`) rule for rule, quirks
//! included, because "what `docker build` accepts" is the specification: parser
//! directives only at the top, comments anywhere (also inside continued lines), the
//! escape character as line continuation, exec form only when the JSON is valid, flags
//! before the arguments, heredocs for RUN/COPY/ADD. Unknown keywords parse (they dump as
//! `(foo "")`); the planner rejects them. `grammar/dockerfile.ebnf` describes the
//! language and the quirks.
//!
//! The parser never touches the filesystem and never panics on its input.

mod args;
mod ast;
mod diagnostic;
mod directives;
mod dump;
mod error;
mod heredoc;
mod json;
mod parser;
pub mod shell;
mod split;
pub(crate) mod unicode;

pub use ast::{Directive, Dockerfile, Heredoc, Node, source_line};
pub use diagnostic::Diagnostic;
pub use directives::{FoundDirective, detect_syntax, find_directive};
pub use dump::{dump, dump_instruction, goquote};
pub use error::{ParseError, ParseErrorKind};
pub use heredoc::{chomp_heredoc_content, parse_heredoc};
pub use parser::parse;

#[cfg(test)]
mod tests;
