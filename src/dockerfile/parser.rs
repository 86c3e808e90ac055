//! The line machine: physical lines → logical lines (directives, comments, continuations,
//! heredoc bodies) → nodes, following BuildKit's `parser.Parse` step by step.

use super::args::node_from_line;
use super::ast::{Directive, Dockerfile, Node};
use super::directives::DirectiveParser;
use super::heredoc::heredocs_from_line;
use super::unicode::is_space;
use super::{ParseError, ParseErrorKind};
use crate::plan::{Location, Warning};

/// BuildKit's scanner buffer: a physical line (with its newline) may not be longer.
const MAX_LINE: usize = 64 * 1024;

/// Physical lines of the (decoded) input, each with its line ending. A line that was
/// longer than BuildKit's scanner buffer in the original bytes is an error when reached.
struct Lines<'a> {
    src: &'a str,
    pos: usize,
    count: usize,
    too_long: Option<usize>,
}

impl<'a> Lines<'a> {
    fn take(&mut self) -> Result<Option<&'a str>, ParseError> {
        if self.pos >= self.src.len() {
            return Ok(None);
        }
        self.count += 1;
        if self.too_long == Some(self.count) {
            return Err(ParseError::new(ParseErrorKind::LineTooLong, self.count, 0));
        }
        let rest = &self.src[self.pos..];
        let end = memchr::memchr(b'\n', rest.as_bytes()).map_or(rest.len(), |i| i + 1);
        self.pos += end;
        Ok(Some(&rest[..end]))
    }
}

/// The 1-based number of the first physical line longer than [`MAX_LINE`] bytes.
fn first_long_line(src: &[u8]) -> Option<usize> {
    if src.len() <= MAX_LINE {
        return None;
    }
    let mut start = 0;
    let mut n = 0;
    while start < src.len() {
        n += 1;
        let end = memchr::memchr(b'\n', &src[start..]).map_or(src.len(), |i| start + i + 1);
        if end - start > MAX_LINE {
            return Some(n);
        }
        start = end;
    }
    None
}

/// The continuation rule of an escape character `e`: the line ends with `e` and optional
/// blanks, and the character before `e` is not `e` (`([^e])e[ \t]*$|^e[ \t]*$`). Returns
/// the line without the escape and the blanks after it.
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let body = line.trim_end_matches([' ', '\t']);
    match body.strip_suffix(escape) {
        Some(before) if !before.ends_with(escape) => (before, false),
        _ => (line, true),
    }
}

fn trim_newline(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

fn is_comment(line: &str) -> bool {
    line.trim_start_matches(is_space).starts_with('#')
}

/// Parser state shared by every line.
struct State {
    escape: char,
    directives: DirectiveParser,
    found: Vec<Directive>,
}

impl State {
    /// `processLine`: newline trimmed, optionally leading blanks, directive detection,
    /// comment removal. Returns the text and whether the line was a directive.
    fn process<'l>(
        &mut self,
        raw: &'l str,
        strip_left: bool,
    ) -> Result<(&'l str, bool), ParseErrorKind> {
        let mut line = trim_newline(raw);
        if strip_left {
            line = line.trim_start_matches(is_space);
        }
        let directive = self.directives.parse_line(line)?;
        let is_directive = directive.is_some();
        if let Some(d) = directive {
            if d.name == "escape" {
                self.escape = match d.value.as_str() {
                    "\\" => '\\',
                    "`" => '`',
                    other => return Err(ParseErrorKind::InvalidEscape(other.to_string())),
                };
            }
            self.found.push(d);
        }
        Ok((if is_comment(line) { "" } else { line }, is_directive))
    }
}

/// Parses a Dockerfile (see the module docs of [`crate::dockerfile`]).
pub fn parse(src: &[u8]) -> Result<Dockerfile, ParseError> {
    let src = src.strip_prefix(b"\xef\xbb\xbf").unwrap_or(src);
    // Validation alone is much faster than the lossy decoder; it is only needed on error.
    let text = match std::str::from_utf8(src) {
        Ok(t) => std::borrow::Cow::Borrowed(t),
        Err(_) => String::from_utf8_lossy(src),
    };
    let mut lines = Lines {
        src: &text,
        pos: 0,
        count: 0,
        too_long: first_long_line(src),
    };
    let mut st = State {
        escape: '\\',
        directives: DirectiveParser::new("#", 0),
        found: Vec::new(),
    };
    let mut instructions: Vec<Node> = Vec::new();
    let mut warnings = Vec::new();
    let mut comments: Vec<String> = Vec::new();
    let mut current = 0usize;
    let err = |kind, start, end| ParseError::new(kind, start, end);

    while let Some(raw) = lines.take()? {
        if is_comment(raw) {
            // Upstream drops the first byte, whatever it is, before trimming.
            let text = raw
                .chars()
                .next()
                .map_or("", |c| &raw[c.len_utf8()..])
                .trim();
            if text.is_empty() {
                comments.clear();
            } else {
                comments.push(text.to_string());
            }
        }
        let (line, is_directive) = st.process(raw, true).map_err(|k| err(k, current + 1, 0))?;
        if is_directive {
            comments.pop();
        }
        current += 1;
        let start = current;
        let (first, mut at_end) = trim_continuation(line, st.escape);
        if at_end && first.is_empty() {
            continue;
        }
        let mut logical = std::borrow::Cow::Borrowed(first);
        let mut empty_continuation = false;
        while !at_end {
            let Some(raw) = lines.take()? else { break };
            let (line, _) = st.process(raw, false).map_err(|k| err(k, current + 1, 0))?;
            current += 1;
            if is_comment(raw) {
                continue;
            }
            if line.trim_start_matches(is_space).is_empty() {
                empty_continuation = true;
                continue;
            }
            let (part, end) = trim_continuation(line, st.escape);
            logical.to_mut().push_str(part);
            at_end = end;
        }
        if empty_continuation {
            warnings.push(Warning {
                location: Some(Location {
                    start_line: current,
                    end_line: current,
                }),
                message: format!("Empty continuation line found in: {logical}"),
            });
        }
        let mut node = node_from_line(&logical, st.escape, std::mem::take(&mut comments), 0)
            .map_err(|k| err(k, start, current))?;
        if can_contain_heredoc(&node) && logical.contains("<<") {
            let docs = heredocs_from_line(&logical).map_err(|e| err(e.into(), start, current))?;
            for mut doc in docs {
                let mut terminated = false;
                while let Some(raw) = lines.take()? {
                    current += 1;
                    let mut candidate = trim_newline(raw);
                    if doc.chomp {
                        candidate = candidate.trim_start_matches('\t');
                    }
                    if candidate == doc.name {
                        terminated = true;
                        break;
                    }
                    doc.content.push_str(raw);
                }
                if !terminated {
                    return Err(err(ParseErrorKind::UnterminatedHeredoc, start, current));
                }
                node.heredocs.push(doc);
            }
        }
        node.location = Location {
            start_line: start,
            end_line: current,
        };
        if let Some(child) = node.child.as_deref_mut() {
            child.location = node.location;
        }
        instructions.push(node);
    }

    let (Some(first), Some(last)) = (instructions.first(), instructions.last()) else {
        return Err(err(ParseErrorKind::NoInstructions, current, 0));
    };
    let location = Location {
        start_line: first.location.start_line,
        end_line: last.location.end_line,
    };
    Ok(Dockerfile {
        directives: st.found,
        escape: st.escape,
        instructions,
        warnings,
        location,
        source: text.into_owned(),
    })
}

/// Heredocs are read for RUN, COPY and ADD (also under ONBUILD) in shell form.
fn can_contain_heredoc(node: &Node) -> bool {
    let node = match &node.child {
        Some(child) if node.is("onbuild") => child,
        _ => node,
    };
    (node.is("run") || node.is("copy") || node.is("add")) && !node.json
}
