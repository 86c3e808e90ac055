//! Error reports at the CLI edge: `error: …`, its causes, and a `hint:` line.

use std::fmt::Write as _;

/// A user-facing error.
#[derive(Debug)]
pub struct Report {
    /// The message (may span lines, e.g. a Dockerfile excerpt with a caret).
    pub message: String,
    /// Something the user can do about it.
    pub hint: Option<String>,
    /// Process exit code.
    pub exit_code: u8,
}

impl Report {
    /// A report with a message.
    pub fn msg(message: impl Into<String>) -> Report {
        Report {
            message: message.into(),
            hint: None,
            exit_code: 1,
        }
    }

    /// A report from an error and its chain of causes.
    pub fn from_error(err: &(dyn std::error::Error + 'static)) -> Report {
        let mut message = err.to_string();
        let mut cause = err.source();
        while let Some(c) = cause {
            let text = c.to_string();
            if !message.contains(&text) {
                let _ = write!(message, "\n  caused by: {text}");
            }
            cause = c.source();
        }
        Report::msg(message)
    }

    /// Says what was being done: `{what}: {message}`.
    pub fn context(mut self, what: impl std::fmt::Display) -> Report {
        self.message = format!("{what}: {}", self.message);
        self
    }

    /// Adds a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Report {
        self.hint = Some(hint.into());
        self
    }

    /// Prints the report to standard error.
    pub fn print(&self) {
        let mut out = format!("error: {}\n", self.message);
        if let Some(h) = &self.hint {
            let _ = writeln!(out, "hint: {h}");
        }
        eprint!("{out}");
    }
}

impl<E: std::error::Error + 'static> From<E> for Report {
    fn from(e: E) -> Report {
        Report::from_error(&e)
    }
}
