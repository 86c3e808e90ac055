//! Errors of the build context: reading it, matching patterns, selecting COPY sources.

use std::path::{Path, PathBuf};

/// What went wrong with the build context or a COPY source selection.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    /// An I/O error on a host path.
    #[error("{}: {source}", path.display())]
    Io {
        /// The host path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The context root is not a directory.
    #[error("build context {} is not a directory", path.display())]
    NotADirectory {
        /// The path given as the context.
        path: PathBuf,
    },
    /// A `.dockerignore` pattern (or `--exclude` pattern) does not compile.
    #[error("{origin}: invalid pattern {pattern:?}: {reason}")]
    BadPattern {
        /// Where the pattern came from (the ignore file path, or `--exclude`).
        origin: String,
        /// The pattern as written.
        pattern: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A COPY source pattern has a syntax error (Go `filepath.Match` rules).
    #[error("invalid source pattern {source_pattern:?}: syntax error in pattern")]
    BadSourcePattern {
        /// The source as written.
        source_pattern: String,
    },
    /// A COPY source points above the root of its tree.
    #[error("forbidden path outside the build context: {source_path}")]
    OutsideRoot {
        /// The source as written.
        source_path: String,
    },
    /// A COPY source (or a symlink it goes through) does not exist in the tree.
    #[error("failed to compute cache key: \"/{path}\": not found{}", describe_escape(*.escaped))]
    NotFound {
        /// The source, cleaned, relative to the tree root.
        path: String,
        /// True when a symlink on the way pointed outside the tree (it was resolved inside).
        escaped: bool,
    },
    /// Symlinks nest too deeply (or loop) while resolving a source.
    #[error("failed to resolve \"/{path}\": too many levels of symbolic links")]
    TooManyLinks {
        /// The source, relative to the tree root.
        path: String,
    },
    /// A selected file has a name (or link target) that is not valid UTF-8, which image
    /// layers cannot carry here.
    #[error("{}: file name is not valid UTF-8", path.display())]
    NonUtf8Path {
        /// The host path.
        path: PathBuf,
    },
}

fn describe_escape(escaped: bool) -> &'static str {
    if escaped {
        " (a symlink on the way points outside the build context; it was resolved inside it)"
    } else {
        ""
    }
}

impl ContextError {
    /// Wraps an I/O error with its path.
    pub fn io(path: &Path, source: std::io::Error) -> ContextError {
        ContextError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
