//! Heredoc markers (`<<EOF`, `<<-EOF`, `3<<'EOF'`) on RUN/COPY/ADD lines. The bodies are
//! read by the parser; this module decides which words are markers, what the delimiter
//! is, and whether the body expands variables (not when any part of the delimiter is
//! quoted).

use nom::{
    IResult, Parser,
    bytes::complete::{tag, take_while},
    character::complete::char,
    combinator::opt,
};

use super::ast::Heredoc;
use super::shell::{Lexer, NoEnv, ShellError};

/// `^(\d*)<<(-?)\s*([^<]*)$`: fd digits, chomp flag and the delimiter word.
fn marker(word: &str) -> IResult<&str, (&str, bool, &str)> {
    let (rest, fd) = take_while(|c: char| c.is_ascii_digit()).parse(word)?;
    let (rest, _) = tag("<<").parse(rest)?;
    let (rest, chomp) = opt(char('-')).parse(rest)?;
    let (rest, _) = take_while(|c| matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ')).parse(rest)?;
    if rest.contains('<') {
        return Err(nom::Err::Error(nom::error::Error::new(
            rest,
            nom::error::ErrorKind::Verify,
        )));
    }
    Ok(("", (fd, chomp.is_some(), rest)))
}

/// Parses one word as a heredoc marker (BuildKit's `ParseHeredoc`): `Ok(None)` when it is
/// not one, an error when the delimiter cannot be lexed (`<<'EOF`).
pub fn parse_heredoc(word: &str) -> Result<Option<Heredoc>, ShellError> {
    let Ok((_, (fd, chomp, rest))) = marker(word) else {
        return Ok(None);
    };
    if rest.is_empty() {
        return Ok(None);
    }
    let mut lex = Lexer {
        skip_unset_env: true,
        ..Lexer::new('\\')
    };
    let words = lex.process_words(rest, &NoEnv)?;
    let [name] = words.as_slice() else {
        return Ok(None);
    };
    lex.raw_quotes = true;
    let raw = lex.process_words(rest, &NoEnv)?;
    let quotes = |s: &str| s.chars().filter(|c| matches!(c, '\'' | '"')).count();
    let expand = raw.first().is_some_and(|r| quotes(r) == quotes(name));
    Ok(Some(Heredoc {
        name: name.clone(),
        // Upstream ignores the parse error: "" is 0, an overflow is the maximum.
        fd: if fd.is_empty() {
            0
        } else {
            fd.parse().unwrap_or(u64::MAX)
        },
        expand,
        chomp,
        content: String::new(),
    }))
}

/// The heredoc markers of a logical line, in order (`heredocsFromLine`).
pub(crate) fn heredocs_from_line(line: &str) -> Result<Vec<Heredoc>, ShellError> {
    let lex = Lexer {
        raw_quotes: true,
        raw_escapes: true,
        skip_unset_env: true,
        ..Lexer::new('\\')
    };
    let words = lex.process_words(line, &NoEnv).unwrap_or_default();
    let mut docs = Vec::new();
    for word in &words {
        if let Some(h) = parse_heredoc(word)? {
            docs.push(h);
        }
    }
    Ok(docs)
}

/// Removes leading tabs from every line (`<<-`).
pub fn chomp_heredoc_content(src: &str) -> String {
    src.split_inclusive('\n')
        .map(|l| l.trim_start_matches('\t'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // TestHeredocChomp
    #[test]
    fn chomp() {
        assert_eq!(
            chomp_heredoc_content("\thello\n\tworld\n"),
            "hello\nworld\n"
        );
        assert_eq!(chomp_heredoc_content("\t\ta\n b\n\t"), "a\n b\n");
    }

    // TestParseHeredocHelpers
    #[test]
    fn helpers() {
        for src in [
            "<<EOF",
            "<<'EOF'",
            "<<\"EOF\"",
            "<<-EOF",
            "<<-'EOF'",
            "<<-\"EOF\"",
            "<<EO\"F\"",
            "<< EOF",
            "<<- EOF",
        ] {
            assert_eq!(parse_heredoc(src).unwrap().unwrap().name, "EOF", "{src}");
        }
        for src in ["<<'EOF", "<<\"EOF", "<<EOF'", "<<EOF\""] {
            assert!(parse_heredoc(src).is_err(), "{src}");
        }
        for src in ["", "EOF", "<<", "<<-", "<EOF", "<<<EOF", "<<EOF sh"] {
            assert_eq!(parse_heredoc(src).unwrap(), None, "{src}");
        }
        let h = parse_heredoc("3<<-'EOF'").unwrap().unwrap();
        assert_eq!((h.fd, h.chomp, h.expand), (3, true, false));
    }

    // TestHeredocsFromLine
    #[test]
    fn from_line() {
        let cases: &[(&str, &[&str])] = &[
            ("RUN <<EOF", &["EOF"]),
            ("RUN <<-EOF", &["EOF"]),
            ("RUN << -EOF", &["-EOF"]),
            ("RUN <<'EOF'", &["EOF"]),
            ("RUN 4<<EOF", &["EOF"]),
            ("RUN <<EOF <<EOF2", &["EOF", "EOF2"]),
            ("RUN '<<EOF'", &[]),
            ("RUN \"<<EOF\"", &[]),
            // `<<-` and its word are two words to the lexer: not a heredoc.
            ("RUN <<- EOF", &[]),
            ("RUN <<  EOF  > foo", &["EOF"]),
            ("RUN <<$EOF", &["$EOF"]),
        ];
        for (line, want) in cases {
            let names: Vec<String> = heredocs_from_line(line)
                .unwrap()
                .into_iter()
                .map(|h| h.name)
                .collect();
            assert_eq!(names, *want, "{line}");
        }
        let h = &heredocs_from_line("RUN <<'e'o\\'f").unwrap()[0];
        assert_eq!((h.name.as_str(), h.expand), ("eo'f", false));
        let h = &heredocs_from_line("RUN <<eo\\'f").unwrap()[0];
        assert_eq!((h.name.as_str(), h.expand), ("eo'f", true));
        let h = &heredocs_from_line("RUN <<eo'f'").unwrap()[0];
        assert_eq!((h.name.as_str(), h.expand), ("eof", false));
    }
}
