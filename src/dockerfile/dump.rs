//! BuildKit's node dump (the `result` files of its parser tests) and Go's `strconv.Quote`.

use std::fmt::Write as _;

use super::ast::{Dockerfile, Node};
use super::unicode::is_print;

/// Quotes `s` exactly as Go's `strconv.Quote` does.
pub fn goquote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if is_print(c) => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push('"');
    out
}

fn dump_node(node: &Node, out: &mut String) {
    let start = out.len();
    out.push_str(&node.keyword.to_lowercase());
    if !node.flags.is_empty() {
        out.push_str(" [");
        for (i, f) in node.flags.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(&goquote(f));
        }
        out.push(']');
    }
    if let Some(child) = &node.child {
        // ONBUILD: one argument node with an empty value whose child is the instruction.
        out.push_str(" (");
        dump_node(child, out);
        out.push(')');
    }
    for a in &node.args {
        out.push(' ');
        out.push_str(&goquote(a));
    }
    let piece = &out[start..];
    if piece.trim().len() != piece.len() {
        let trimmed = piece.trim().to_string();
        out.truncate(start);
        out.push_str(&trimmed);
    }
}

/// The dump of a whole file: one `(instruction …)` line per instruction, each ending in a
/// newline, exactly as BuildKit's `result` files are written.
pub fn dump(df: &Dockerfile) -> String {
    let mut out = String::new();
    for node in &df.instructions {
        out.push('(');
        dump_node(node, &mut out);
        out.push_str(")\n");
    }
    out
}

/// The dump of one instruction, without parentheses (`copy ["--from=a"] "x" "/"`).
pub fn dump_instruction(node: &Node) -> String {
    let mut out = String::new();
    dump_node(node, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_like_go() {
        assert_eq!(goquote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(goquote("\u{7}\u{8}\u{c}\n\r\t\u{b}"), r#""\a\b\f\n\r\t\v""#);
        assert_eq!(goquote("\0\u{1b}\u{7f}"), r#""\x00\x1b\x7f""#);
        assert_eq!(goquote("♥☃é한"), "\"♥☃é한\"");
        assert_eq!(goquote("\u{a0}\u{200b}\u{feff}"), r#""\u00a0\u200b\ufeff""#);
        assert_eq!(goquote("\u{e0001}\u{10ffff}"), r#""\U000e0001\U0010ffff""#);
        assert_eq!(goquote("😀"), "\"😀\"");
    }
}
