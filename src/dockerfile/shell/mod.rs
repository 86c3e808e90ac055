//! The shell-word lexer: variable substitution and word splitting exactly as BuildKit's
//! `shell/lex.go` does them for Dockerfile instructions (`$VAR`, `${VAR:-x}`, quotes,
//! escapes, `${VAR#pattern}`, `${VAR/a/b}`…).
//!
//! Docker does not run a shell to expand `COPY $SRC $DEST`; it runs this small lexer, with
//! its own rules and quirks. The planner expands FROM, COPY, ENV, WORKDIR… with it, and the
//! parser uses it (in raw mode) to find heredoc markers. The set of variables a word read
//! (found or not) is reported so the planner knows which build args a step depends on.

mod lex;
mod pattern;

use std::collections::{BTreeMap, BTreeSet, HashMap};

pub use pattern::{PatternError, shell_pattern_to_regex};

/// The largest text an expansion may produce. Nested `${X//pattern/replacement}` can grow
/// a word exponentially; BuildKit has no bound, rbuild stops at 1 MiB.
pub const MAX_EXPANSION: usize = 1 << 20;

/// Where the lexer looks variables up (`Get` of BuildKit's `EnvGetter`).
pub trait Env {
    /// The value of `name`, or `None` when it is not set (set-but-empty is `Some("")`).
    fn lookup(&self, name: &str) -> Option<&str>;
}

impl Env for BTreeMap<String, String> {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

impl Env for HashMap<String, String> {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

/// `KEY=VALUE` pairs in order; a later pair of the same key wins (as `EnvsFromSlice`).
impl Env for [(String, String)] {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Env for Vec<(String, String)> {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.as_slice().lookup(name)
    }
}

/// An environment with nothing set.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEnv;

impl Env for NoEnv {
    fn lookup(&self, _: &str) -> Option<&str> {
        None
    }
}

/// The result of expanding one word.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expansion {
    /// The expanded text (`ProcessWord`).
    pub result: String,
    /// The expanded text split into words (`ProcessWords`).
    pub words: Vec<String>,
    /// Variables that were read and were set.
    pub matched: BTreeSet<String>,
    /// Variables that were read and were not set.
    pub unmatched: BTreeSet<String>,
}

/// Why a word could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShellErrorKind {
    /// An unclosed `'`.
    #[error("unexpected end of statement while looking for matching single-quote")]
    UnclosedSingleQuote,
    /// An unclosed `"`.
    #[error("unexpected end of statement while looking for matching double-quote")]
    UnclosedDoubleQuote,
    /// The end of the text came before a closing character.
    #[error("unexpected end of statement while looking for matching {0}")]
    Unterminated(char),
    /// `${…` without `}`.
    #[error("syntax error: missing '}}'")]
    MissingBrace,
    /// `${VAR/pattern` without the second `/`.
    #[error("syntax error: missing '/' in ${{}}")]
    MissingSlash,
    /// `${}`, `${:…}`, `${{…}`.
    #[error("syntax error: bad substitution")]
    BadSubstitution,
    /// `${VAR=x}`, `${VAR:#x}`…
    #[error("unsupported modifier ({0}) in substitution")]
    UnsupportedModifier(String),
    /// `${VAR?msg}` / `${VAR:?msg}` with VAR unset (or empty).
    #[error("{name}: {message}")]
    Mandatory {
        /// The variable.
        name: String,
        /// The message (the word after `?`, or Docker's default).
        message: String,
    },
    /// An expansion that would grow past [`MAX_EXPANSION`] bytes (`${X//a/$X$X}` nested).
    #[error("expansion result is too large (over {} bytes)", MAX_EXPANSION)]
    TooLarge,
    /// A `#`, `%` or `/` pattern that is not a valid shell pattern.
    #[error("invalid pattern ({pattern}) in substitution: {error}")]
    Pattern {
        /// The pattern as written.
        pattern: String,
        /// What is wrong with it.
        error: PatternError,
    },
}

/// A word that could not be expanded: `failed to process "<word>": <why>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to process {}: {kind}", crate::dockerfile::goquote(word))]
pub struct ShellError {
    /// The word as given.
    pub word: String,
    /// What went wrong.
    pub kind: ShellErrorKind,
}

/// A configured lexer (BuildKit's `shell.Lex`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lexer {
    /// The escape character (`\`, or `` ` `` after `# escape=`).
    pub escape: char,
    /// Keep quote characters in the output.
    pub raw_quotes: bool,
    /// Keep escape characters in the output.
    pub raw_escapes: bool,
    /// Treat quotes as ordinary characters.
    pub skip_process_quotes: bool,
    /// Leave references to unset variables as written (`$X`, `${X:-y}`).
    pub skip_unset_env: bool,
}

impl Lexer {
    /// A lexer with escape character `escape` and every option off.
    pub fn new(escape: char) -> Lexer {
        Lexer {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_process_quotes: false,
            skip_unset_env: false,
        }
    }

    /// Expands `word` into one string (`ProcessWord`).
    pub fn process_word(&self, word: &str, env: &dyn Env) -> Result<String, ShellError> {
        Ok(self.process_word_with_matches(word, env)?.result)
    }

    /// Expands `word` and splits the result into words (`ProcessWords`): unquoted
    /// whitespace, including whitespace that came from an unquoted expansion, separates
    /// words.
    pub fn process_words(&self, word: &str, env: &dyn Env) -> Result<Vec<String>, ShellError> {
        Ok(self.process(word, env)?.words)
    }

    /// Expands `word` and reports which variables it read (`ProcessWordWithMatches`).
    pub fn process_word_with_matches(
        &self,
        word: &str,
        env: &dyn Env,
    ) -> Result<Expansion, ShellError> {
        self.process(word, env)
    }

    fn process(&self, word: &str, env: &dyn Env) -> Result<Expansion, ShellError> {
        lex::Engine::new(self, word, env)
            .run()
            .map_err(|kind| ShellError {
                word: word.to_string(),
                kind,
            })
    }
}

#[cfg(test)]
mod tests;
