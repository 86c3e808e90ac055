//! `rbuild parse`: print a Dockerfile's syntax tree (BuildKit's dump, JSON, or one line
//! per instruction).

use std::io::{Read as _, Write as _};

use super::Report;
use super::args::ParseArgs;
use crate::dockerfile::{self, Dockerfile, Node};

/// Runs `rbuild parse`.
pub fn parse(args: ParseArgs) -> Result<(), Report> {
    let (name, bytes) = if args.file.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| Report::msg(format!("reading standard input: {e}")))?;
        ("-".to_string(), buf)
    } else {
        let bytes = fs_err::read(&args.file).map_err(|e| Report::from_error(&e))?;
        (args.file.display().to_string(), bytes)
    };
    let df = match dockerfile::parse(&bytes) {
        Ok(df) => df,
        Err(e) => {
            let source =
                String::from_utf8_lossy(bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes));
            let rendered = e.diagnostic(&name).render(&source);
            return Err(Report::msg(
                rendered.trim_start_matches("error: ").trim_end(),
            ));
        }
    };
    let out = if args.dump {
        dockerfile::dump(&df)
    } else if args.json {
        let mut s = serde_json::to_string_pretty(&df).map_err(|e| Report::from_error(&e))?;
        s.push('\n');
        s
    } else {
        readable(&df)
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| Report::msg(format!("writing the output: {e}")))
}

/// One instruction per line with its line range: `3-5  RUN apt-get update && …`.
fn readable(df: &Dockerfile) -> String {
    let mut out = String::new();
    for d in &df.directives {
        out.push_str(&format!("{:<7} # {}={}\n", d.line, d.name, d.value));
    }
    for node in &df.instructions {
        let l = node.location;
        let range = if l.end_line > l.start_line {
            format!("{}-{}", l.start_line, l.end_line)
        } else {
            l.start_line.to_string()
        };
        out.push_str(&format!("{range:<7} {}\n", summary(node)));
    }
    for w in &df.warnings {
        let line = w.location.map_or(0, |l| l.start_line);
        out.push_str(&format!("warning: line {line}: {}\n", w.message));
    }
    out
}

fn summary(node: &Node) -> String {
    let mut s = node.original.trim().to_string();
    for h in &node.heredocs {
        let lines = h.content.lines().count();
        s.push_str(&format!(
            "  [heredoc {}: {lines} line{}]",
            h.name,
            if lines == 1 { "" } else { "s" }
        ));
    }
    s
}
