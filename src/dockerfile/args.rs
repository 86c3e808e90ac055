//! Per-instruction argument rules (BuildKit's `line_parsers.go`): how the text after the
//! keyword and flags becomes argument nodes. The rules differ by keyword: JSON or shell
//! form, whitespace lists, name/value pairs, ONBUILD's nested instruction.

use super::ParseErrorKind;
use super::ast::Node;
use super::json::{JsonError, parse_string_array};
use super::split::{parse_words, split_command, split_ws, split_ws2};
use super::unicode::is_space_byte;
use crate::plan::Location;

/// How deep `ONBUILD ONBUILD …` may nest before the parser gives up.
const MAX_ONBUILD_DEPTH: usize = 32;

/// Argument nodes of one instruction.
#[derive(Debug, Default)]
pub(crate) struct Args {
    pub args: Vec<String>,
    pub child: Option<Box<Node>>,
    pub json: bool,
}

fn list(args: Vec<String>) -> Result<Args, ParseErrorKind> {
    Ok(Args {
        args,
        ..Args::default()
    })
}

/// Builds the node for a logical line (`newNodeFromLine`), without location.
pub(crate) fn node_from_line(
    line: &str,
    escape: char,
    comments: Vec<String>,
    depth: usize,
) -> Result<Node, ParseErrorKind> {
    if depth > MAX_ONBUILD_DEPTH {
        return Err(ParseErrorKind::TooDeep);
    }
    let cmd = split_command(line, escape);
    // Keywords are matched in lower case (Unicode-aware, as Go's strings.ToLower).
    let mut buf = [0u8; 16];
    let lower: std::borrow::Cow<'_, str> = match cmd.keyword.len() {
        n if n <= buf.len() && cmd.keyword.is_ascii() => {
            buf[..n].copy_from_slice(cmd.keyword.as_bytes());
            buf[..n].make_ascii_lowercase();
            std::borrow::Cow::Borrowed(std::str::from_utf8(&buf[..n]).unwrap_or_default())
        }
        _ => std::borrow::Cow::Owned(cmd.keyword.to_lowercase()),
    };
    let a = parse_args(&lower, &cmd.args, escape, depth)?;
    Ok(Node {
        keyword: cmd.keyword.to_string(),
        flags: cmd.flags,
        args: a.args,
        child: a.child,
        json: a.json,
        heredocs: Vec::new(),
        original: line.to_string(),
        location: Location::default(),
        comments,
    })
}

fn parse_args(
    keyword: &str,
    rest: &str,
    escape: char,
    depth: usize,
) -> Result<Args, ParseErrorKind> {
    match keyword {
        "add" | "copy" | "volume" => json_or_list(rest),
        "run" | "cmd" | "entrypoint" | "shell" => json_or_string(rest),
        "from" | "expose" => list(if rest.is_empty() {
            vec![]
        } else {
            split_ws(rest)
        }),
        "maintainer" | "stopsignal" | "user" | "workdir" => list(if rest.is_empty() {
            vec![]
        } else {
            vec![rest.to_string()]
        }),
        "arg" => list(parse_words(rest, escape)),
        "env" => name_val(rest, "ENV", escape),
        "label" => name_val(rest, "LABEL", escape),
        "healthcheck" => health(rest),
        "onbuild" => {
            if rest.is_empty() {
                return list(vec![]);
            }
            let child = node_from_line(rest, escape, Vec::new(), depth + 1)?;
            Ok(Args {
                child: Some(Box::new(child)),
                ..Args::default()
            })
        }
        // Unknown keywords are not an error here: one empty argument node.
        _ => list(vec![String::new()]),
    }
}

/// `parseMaybeJSON`: a JSON array, else the whole text as one argument.
fn json_or_string(rest: &str) -> Result<Args, ParseErrorKind> {
    if rest.is_empty() {
        return list(vec![]);
    }
    match parse_string_array(rest) {
        Ok(args) => Ok(Args {
            args,
            json: true,
            child: None,
        }),
        Err(JsonError::NotStrings) => Err(ParseErrorKind::JsonNotStrings),
        Err(JsonError::NotJson) => list(vec![rest.to_string()]),
    }
}

/// `parseMaybeJSONToList`: a JSON array, else a whitespace-separated list.
fn json_or_list(rest: &str) -> Result<Args, ParseErrorKind> {
    match parse_string_array(rest) {
        Ok(args) => Ok(Args {
            args,
            json: true,
            child: None,
        }),
        Err(JsonError::NotStrings) => Err(ParseErrorKind::JsonNotStrings),
        Err(JsonError::NotJson) => list(if rest.is_empty() {
            vec![]
        } else {
            split_ws(rest)
        }),
    }
}

/// `parseNameVal`: old form `KEY name value…` or new form `KEY a=b c=d`; each pair is
/// three nodes (key, value, separator).
fn name_val(rest: &str, key: &'static str, escape: char) -> Result<Args, ParseErrorKind> {
    let words = parse_words(rest, escape);
    let Some(first) = words.first() else {
        return list(vec![]);
    };
    if !first.contains('=') {
        let (name, value) = split_ws2(rest);
        let Some(value) = value else {
            return Err(ParseErrorKind::MissingValue(key));
        };
        return list(vec![name.to_string(), value.to_string(), String::new()]);
    }
    let mut out = Vec::with_capacity(words.len() * 3);
    for mut word in words {
        let Some(eq) = word.find('=') else {
            return Err(ParseErrorKind::MissingEquals(word));
        };
        let value = word.split_off(eq + 1);
        word.truncate(eq);
        out.extend([word, value, "=".to_string()]);
    }
    list(out)
}

/// `parseHealthConfig`: the type word, then the JSON-or-string command.
fn health(rest: &str) -> Result<Args, ParseErrorKind> {
    let bytes = rest.as_bytes();
    let sep = bytes
        .iter()
        .position(|b| is_space_byte(*b))
        .unwrap_or(bytes.len());
    if sep == 0 {
        return list(vec![]);
    }
    let next = bytes[sep..]
        .iter()
        .position(|b| !is_space_byte(*b))
        .map_or(bytes.len(), |i| sep + i);
    let typ = String::from_utf8_lossy(&bytes[..sep]).into_owned();
    let cmd = String::from_utf8_lossy(&bytes[next..]);
    let mut a = json_or_string(&cmd)?;
    a.args.insert(0, typ);
    Ok(a)
}
