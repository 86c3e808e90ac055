//! Compiler-style reports of a problem at a Dockerfile line:
//!
//! ```text
//! error: unknown instruction: COPPY
//!  --> Dockerfile:3:1
//!   |
//! 3 | COPPY . /app
//!   | ^^^^^ did you mean COPY?
//! ```
//!
//! The parser, the planner and the solver (a COPY source missing, a RUN that failed) all
//! report through this one type, so every error points at the line that caused it.

use std::fmt::Write as _;

use serde::Serialize;

use super::ast::source_line;
use crate::plan::Location;

/// How many lines of a multi-line instruction are shown.
const MAX_SHOWN: usize = 6;

/// Error or warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Severity {
    /// Stops the build.
    Error,
    /// Reported; the build goes on.
    Warning,
}

/// A problem at a place in a Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The file name to show (`Dockerfile`, `app/Dockerfile.prod`).
    pub file: String,
    /// The lines concerned (`start_line` 0: no line, e.g. an empty file).
    pub location: Location,
    /// 1-based column of the first character pointed at, counted from the first non-blank
    /// character of the first line (instructions are stored without their indentation);
    /// 0: the whole line.
    pub column: usize,
    /// How many characters to underline (0: the rest of the line, blanks trimmed).
    pub width: usize,
    /// What is wrong.
    pub message: String,
    /// What to do about it (printed after the carets).
    pub hint: Option<String>,
}

impl Diagnostic {
    /// An error at `location`, underlining its first line.
    pub fn error(
        file: impl Into<String>,
        location: Location,
        message: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            file: file.into(),
            location,
            column: 0,
            width: 0,
            message: message.into(),
            hint: None,
        }
    }

    /// A warning at `location`.
    pub fn warning(
        file: impl Into<String>,
        location: Location,
        message: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(file, location, message)
        }
    }

    /// Points at `width` characters from 1-based `column` of the first line (counted from
    /// its first non-blank character).
    pub fn with_span(mut self, column: usize, width: usize) -> Diagnostic {
        self.column = column;
        self.width = width;
        self
    }

    /// Adds a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }

    /// The 1-based column the report points at, given the source.
    fn effective_column(&self, line: &str) -> usize {
        let indent = line.chars().take_while(|c| c.is_whitespace()).count();
        indent + self.column.max(1)
    }

    /// The report, with the lines taken from `source` (the whole Dockerfile text).
    pub fn render(&self, source: &str) -> String {
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut out = format!("{label}: {}\n", self.message);
        let start = self.location.start_line;
        let first = (start > 0).then(|| source_line(source, start)).flatten();
        let Some(first) = first else {
            let _ = writeln!(out, " --> {}", self.file);
            if let Some(h) = &self.hint {
                let _ = writeln!(out, "  = hint: {h}");
            }
            return out;
        };
        let column = self.effective_column(first);
        let end = self.location.end_line.max(start);
        let shown_end = end.min(start + MAX_SHOWN - 1);
        let gutter = shown_end.to_string().len();
        let pad = " ".repeat(gutter);
        let _ = writeln!(out, "{pad}--> {}:{start}:{column}", self.file);
        let _ = writeln!(out, "{pad} |");
        for n in start..=shown_end {
            let text = source_line(source, n).unwrap_or("");
            let _ = writeln!(out, "{n:>gutter$} | {text}");
            if n == start {
                let prefix: String = first
                    .chars()
                    .take(column - 1)
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                let width = if self.width > 0 {
                    self.width
                } else {
                    first
                        .chars()
                        .skip(column - 1)
                        .collect::<String>()
                        .trim_end()
                        .chars()
                        .count()
                };
                let mut carets = format!("{pad} | {prefix}{}", "^".repeat(width.max(1)));
                if let Some(h) = &self.hint {
                    let _ = write!(carets, " {h}");
                }
                let _ = writeln!(out, "{carets}");
            }
        }
        if end > shown_end {
            let _ = writeln!(out, "{pad} | ...");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(start_line: usize, end_line: usize) -> Location {
        Location {
            start_line,
            end_line,
        }
    }

    #[test]
    fn renders_like_a_compiler() {
        let src = "FROM scratch\n\nCOPPY . /app\n";
        let d = Diagnostic::error("Dockerfile", loc(3, 3), "unknown instruction: COPPY")
            .with_span(1, 5)
            .with_hint("did you mean COPY?");
        assert_eq!(
            d.render(src),
            "error: unknown instruction: COPPY\n --> Dockerfile:3:1\n  |\n3 | COPPY . /app\n  | ^^^^^ did you mean COPY?\n"
        );
    }

    #[test]
    fn columns_count_from_the_indentation() {
        let d = Diagnostic::error("f", loc(1, 1), "x").with_span(6, 3);
        assert_eq!(
            d.render("    COPY --x=1 a b\n"),
            "error: x\n --> f:1:10\n  |\n1 |     COPY --x=1 a b\n  |          ^^^\n"
        );
    }

    #[test]
    fn underlines_the_trimmed_line_and_shows_continuations() {
        let src = "FROM a\n  RUN x \\\n   y\n";
        let d = Diagnostic::error("df", loc(2, 3), "boom");
        assert_eq!(
            d.render(src),
            "error: boom\n --> df:2:3\n  |\n2 |   RUN x \\\n  |   ^^^^^^^\n3 |    y\n"
        );
    }

    #[test]
    fn long_ranges_are_cut_and_missing_lines_are_tolerated() {
        let src = (1..=20).map(|i| format!("l{i}\n")).collect::<String>();
        let r = Diagnostic::warning("f", loc(9, 20), "w").render(&src);
        assert!(r.starts_with("warning: w\n  --> f:9:1\n"), "{r}");
        assert!(r.contains("14 | l14\n   | ...\n"), "{r}");
        assert!(!r.contains("l15"));
        let r = Diagnostic::error("f", loc(0, 0), "file with no instructions")
            .with_hint("add a FROM")
            .render("");
        assert_eq!(
            r,
            "error: file with no instructions\n --> f\n  = hint: add a FROM\n"
        );
        let r = Diagnostic::error("f", loc(99, 99), "x").render("a\n");
        assert_eq!(r, "error: x\n --> f\n");
    }
}
