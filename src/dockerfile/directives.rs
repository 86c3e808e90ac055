//! Parser directives (`# syntax=`, `# escape=`, `# check=`): comment lines at the very top
//! of a Dockerfile that configure the parser. The first line that is not one ends them;
//! a directive after that is an ordinary comment.

use nom::{
    IResult, Parser,
    bytes::complete::{take_while, take_while1},
    character::complete::{char, satisfy},
    combinator::recognize,
    sequence::pair,
};

use super::ParseErrorKind;
use super::ast::Directive;

const KNOWN: [&str; 3] = ["syntax", "escape", "check"];

/// Go's `\s` in regular expressions: `[\t\n\f\r ]`.
fn is_re_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ')
}

/// `name \s* = \s* value`, the value with trailing blanks removed (BuildKit's
/// `^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`).
fn directive_body(input: &str) -> IResult<&str, (&str, &str)> {
    let (rest, name) = recognize(pair(
        satisfy(|c| c.is_ascii_alphabetic()),
        take_while(|c: char| c.is_ascii_alphanumeric()),
    ))
    .parse(input)?;
    let (rest, _) = take_while(is_re_space).parse(rest)?;
    let (rest, _) = char('=').parse(rest)?;
    let trimmed = rest.trim_start_matches(is_re_space);
    let value = if trimmed.is_empty() {
        // Only blanks: the lazy `.+?` takes the last one.
        let (_, last) = take_while1(|_| true).parse(rest)?;
        let start = last.char_indices().last().map_or(0, |(i, _)| i);
        &last[start..]
    } else {
        trimmed.trim_end_matches(is_re_space)
    };
    Ok(("", (name, value)))
}

/// Reads directives line by line until the first line that is not one
/// (BuildKit's `DirectiveParser`).
#[derive(Debug, Clone)]
pub(crate) struct DirectiveParser {
    prefix: &'static str,
    line: usize,
    done: bool,
    seen: Vec<String>,
}

impl DirectiveParser {
    /// A parser for `#` directives whose first line is `first_line - 1` + 1.
    pub(crate) fn new(prefix: &'static str, lines_before: usize) -> DirectiveParser {
        DirectiveParser {
            prefix,
            line: lines_before,
            done: false,
            seen: Vec::new(),
        }
    }

    /// Looks at the next line (newline already removed).
    pub(crate) fn parse_line(&mut self, line: &str) -> Result<Option<Directive>, ParseErrorKind> {
        self.line += 1;
        if self.done {
            return Ok(None);
        }
        let Some(rest) = line.strip_prefix(self.prefix) else {
            self.done = true;
            return Ok(None);
        };
        let rest = rest.trim_start_matches(super::unicode::is_space);
        let Ok((_, (name, value))) = directive_body(rest) else {
            self.done = true;
            return Ok(None);
        };
        let name = name.to_ascii_lowercase();
        if !KNOWN.contains(&name.as_str()) {
            self.done = true;
            return Ok(None);
        }
        if self.seen.contains(&name) {
            return Err(ParseErrorKind::DuplicateDirective(name));
        }
        self.seen.push(name.clone());
        Ok(Some(Directive {
            name,
            value: value.to_string(),
            line: self.line,
        }))
    }

    /// Every directive at the top of `text`.
    fn parse_all(&mut self, text: &str) -> Vec<Directive> {
        let mut out = Vec::new();
        for line in text.lines() {
            if self.done {
                break;
            }
            match self.parse_line(line) {
                Ok(Some(d)) => out.push(d),
                Ok(None) => {}
                Err(_) => break,
            }
        }
        out
    }
}

/// A directive found by [`detect_syntax`] or [`find_directive`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundDirective {
    /// The value up to the first space (`docker/dockerfile:1`).
    pub value: String,
    /// The whole value (`docker/dockerfile:1 // opts`).
    pub cmdline: String,
    /// 1-based line.
    pub line: usize,
}

/// The `syntax` directive in any of the forms BuildKit accepts: `# syntax=`, `// syntax=`
/// or a JSON document with a `syntax` key, after an optional byte-order mark and `#!` line.
pub fn detect_syntax(src: &[u8]) -> Option<FoundDirective> {
    find(src, "syntax", true)
}

/// The `#`-form directive `key` (`check`, `escape`, `syntax`), as BuildKit's
/// `ParseDirective`.
pub fn find_directive(key: &str, src: &[u8]) -> Option<FoundDirective> {
    find(src, key, false)
}

fn find(src: &[u8], key: &str, any_format: bool) -> Option<FoundDirective> {
    let src = src.strip_prefix(b"\xef\xbb\xbf").unwrap_or(src);
    let text = String::from_utf8_lossy(src);
    let (text, lines_before) = match text.split_once('\n') {
        Some((first, rest)) if first.starts_with("#!") => (rest, 1),
        _ if text.starts_with("#!") => ("", 1),
        _ => (text.as_ref(), 0),
    };
    let prefixes: &[&'static str] = if any_format { &["#", "//"] } else { &["#"] };
    for prefix in prefixes {
        let found = DirectiveParser::new(prefix, lines_before)
            .parse_all(text)
            .into_iter()
            .find(|d| d.name == key);
        if let Some(d) = found {
            let value = d.value.split(' ').next().unwrap_or_default().to_string();
            return Some(FoundDirective {
                value,
                cmdline: d.value,
                line: d.line,
            });
        }
    }
    if any_format {
        let doc: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text).ok()?;
        if let Some(serde_json::Value::String(v)) = doc.get(key) {
            return Some(FoundDirective {
                value: v.clone(),
                cmdline: v.clone(),
                line: lines_before,
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str) -> Vec<Directive> {
        DirectiveParser::new("#", 0).parse_all(text)
    }

    // TestDirectives
    #[test]
    fn only_known_directives_at_the_top() {
        for text in [
            "#escape=\\\n# key = FOO bar\n# smth\n",
            "# EScape=\\\n# KEY = FOO bar\n# smth\n",
        ] {
            let d = all(text);
            assert_eq!(d.len(), 1);
            assert_eq!((d[0].name.as_str(), d[0].value.as_str()), ("escape", "\\"));
        }
        let d = all("# syntax = a b  \n#check=skip=all\n\n# escape=`\n");
        assert_eq!(d.len(), 2);
        assert_eq!((d[0].value.as_str(), d[0].line), ("a b", 1));
        assert_eq!(
            (d[1].name.as_str(), d[1].value.as_str(), d[1].line),
            ("check", "skip=all", 2)
        );
        assert!(all("# escape=\n").is_empty());
        assert_eq!(all("# escape= \n")[0].value, " ");
    }

    #[test]
    fn duplicate_directive_is_an_error() {
        let mut p = DirectiveParser::new("#", 0);
        p.parse_line("# syntax=a").unwrap();
        assert_eq!(
            p.parse_line("# SYNTAX=b"),
            Err(ParseErrorKind::DuplicateDirective("syntax".into()))
        );
    }

    // TestDetectSyntax
    #[test]
    fn detect_syntax_forms() {
        let f =
            detect_syntax(b"# syntax = dockerfile:experimental // opts\nFROM busybox\n").unwrap();
        assert_eq!(f.value, "dockerfile:experimental");
        assert_eq!(f.cmdline, "dockerfile:experimental // opts");
        assert_eq!(f.line, 1);
        let f = detect_syntax(b"#!/bin/sh\n# syntax = dockerfile:experimental\nFROM busybox\n")
            .unwrap();
        assert_eq!((f.value.as_str(), f.line), ("dockerfile:experimental", 2));
        assert_eq!(
            detect_syntax(b"#!/bin/sh\n\n# syntax = dockerfile:experimental\n"),
            None
        );
        assert_eq!(detect_syntax(b"FROM busybox\nRUN ls\n"), None);
        assert_eq!(
            detect_syntax(b"//syntax=foo\n//key=value").unwrap().value,
            "foo"
        );
        assert_eq!(detect_syntax(b"#!/bin/sh\n//syntax=x").unwrap().value, "x");
        assert_eq!(
            detect_syntax(br#"{"syntax": "foo", "bar": ["abc"]}"#)
                .unwrap()
                .value,
            "foo"
        );
        assert_eq!(detect_syntax(br#"{"syntax": "foo""#), None);
        assert_eq!(detect_syntax(b"{\"syntax\": \"foo\"}\n# syntax=bar"), None);
    }

    // TestDetectSyntaxBOM
    #[test]
    fn detect_syntax_after_bom() {
        let f = detect_syntax(b"\xef\xbb\xbf# syntax = myfrontend\nFROM busybox\n").unwrap();
        assert_eq!(
            (f.value.as_str(), f.cmdline.as_str(), f.line),
            ("myfrontend", "myfrontend", 1)
        );
    }

    // TestParseDirective
    #[test]
    fn find_check_directive() {
        let f = find_directive("check", b"#check = skip=all // opts\nFROM busybox\n").unwrap();
        assert_eq!(
            (f.value.as_str(), f.cmdline.as_str(), f.line),
            ("skip=all", "skip=all // opts", 1)
        );
        let f = find_directive("check", b"#!/bin/sh\n# check = skip=all\nFROM busybox\n").unwrap();
        assert_eq!((f.value.as_str(), f.line), ("skip=all", 2));
        assert_eq!(
            find_directive("check", b"#!/bin/sh\n\n# check = skip=all\n"),
            None
        );
        assert_eq!(find_directive("check", b"FROM busybox\nRUN ls\n"), None);
        assert_eq!(
            find_directive("check", b"//check=skip=all\n//key=value"),
            None
        );
    }
}
