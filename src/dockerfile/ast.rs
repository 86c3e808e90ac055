//! The syntax tree: what the parser produces and the planner reads.

use serde::Serialize;

use crate::plan::{Location, Warning};

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dockerfile {
    /// Parser directives from the top of the file (`syntax`, `escape`, `check`).
    pub directives: Vec<Directive>,
    /// The escape character in force (`\`, or `` ` ``).
    pub escape: char,
    /// The instructions, in order.
    pub instructions: Vec<Node>,
    /// Non-fatal findings (empty continuation lines).
    pub warnings: Vec<Warning>,
    /// From the first instruction's first line to the last one's last line.
    pub location: Location,
    /// The source text (byte-order mark removed, invalid UTF-8 replaced), for diagnostics.
    #[serde(skip)]
    pub source: String,
}

impl Dockerfile {
    /// The value of a parser directive (`syntax`, `escape`, `check`), by lower-case name.
    pub fn directive(&self, name: &str) -> Option<&str> {
        self.directives
            .iter()
            .find(|d| d.name == name)
            .map(|d| d.value.as_str())
    }

    /// Physical line `n` (1-based) of the source, without its line ending.
    pub fn line(&self, n: usize) -> Option<&str> {
        source_line(&self.source, n)
    }
}

/// Physical line `n` (1-based) of `source`, without its line ending.
pub fn source_line(source: &str, n: usize) -> Option<&str> {
    let line = source.split('\n').nth(n.checked_sub(1)?)?;
    Some(line.strip_suffix('\r').unwrap_or(line))
}

/// A parser directive (`# escape=`…).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Directive {
    /// Lower-cased name.
    pub name: String,
    /// Value, surrounding blanks removed.
    pub value: String,
    /// 1-based line.
    pub line: usize,
}

/// One instruction (BuildKit's `Node` with its `Next` chain flattened into `args`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Node {
    /// The keyword as written (`run`, `COPY`, `Foo`…).
    pub keyword: String,
    /// Flags before the arguments, as written (`--from=build`).
    pub flags: Vec<String>,
    /// The argument nodes, shaped per instruction as BuildKit does (ENV/LABEL: key, value,
    /// separator triples; HEALTHCHECK: type then command; unknown keywords: one empty
    /// string). Empty for ONBUILD, whose instruction is [`Node::child`].
    pub args: Vec<String>,
    /// The instruction wrapped by ONBUILD.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub child: Option<Box<Node>>,
    /// True when the arguments were a JSON array (exec form).
    pub json: bool,
    /// Heredocs attached to RUN/COPY/ADD, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub heredocs: Vec<Heredoc>,
    /// The logical line (continuations joined, comments removed).
    pub original: String,
    /// Where it is (the end includes continuation lines and heredoc bodies).
    pub location: Location,
    /// Comment lines just above it (for doc comments).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub comments: Vec<String>,
}

impl Node {
    /// The keyword in lower case.
    pub fn command(&self) -> String {
        self.keyword.to_lowercase()
    }

    /// True when the keyword is `lower` (a lower-case keyword), ignoring case as
    /// BuildKit's `strings.ToLower` does.
    pub fn is(&self, lower: &str) -> bool {
        if self.keyword.is_ascii() {
            self.keyword.eq_ignore_ascii_case(lower)
        } else {
            self.keyword.to_lowercase() == lower
        }
    }

    /// BuildKit's `nodeArgs`: the arguments, and for ONBUILD the wrapped instruction's
    /// keyword followed by its arguments.
    pub fn flat_args(&self) -> Vec<String> {
        match &self.child {
            Some(c) => {
                let mut v = vec![c.keyword.clone()];
                v.extend(c.flat_args());
                v
            }
            None => self.args.clone(),
        }
    }
}

/// A heredoc (`<<EOF` … `EOF`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Heredoc {
    /// The delimiter, quotes removed.
    pub name: String,
    /// The file descriptor before `<<` (0 when none was given).
    pub fd: u64,
    /// False when any part of the delimiter was quoted.
    pub expand: bool,
    /// `<<-`: leading tabs are stripped.
    pub chomp: bool,
    /// The body as written (every line with its line ending; tabs not yet chomped).
    pub content: String,
}
