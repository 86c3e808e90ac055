//! Splitting a logical line into keyword, flags and argument text, and the word splitter
//! used by ARG, ENV and LABEL. Both keep BuildKit's quirks (see `grammar/dockerfile.ebnf`).

use std::borrow::Cow;

use super::unicode::{is_space, is_space_byte};

/// BuildKit's `reWhitespace`: `[\t\v\f\r ]`.
pub(crate) fn is_ws(c: char) -> bool {
    matches!(c, '\t' | '\u{b}' | '\u{c}' | '\r' | ' ')
}

/// Splits `s` on runs of [`is_ws`], like `reWhitespace.Split(s, -1)` (a leading or
/// trailing run gives an empty piece).
pub(crate) fn split_ws(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    loop {
        match rest.find(is_ws) {
            Some(i) => {
                out.push(rest[..i].to_string());
                rest = rest[i..].trim_start_matches(is_ws);
            }
            None => {
                out.push(rest.to_string());
                return out;
            }
        }
    }
}

/// Splits at the first run of [`is_ws`] into at most two pieces.
pub(crate) fn split_ws2(s: &str) -> (&str, Option<&str>) {
    match s.find(is_ws) {
        Some(i) => (&s[..i], Some(s[i..].trim_start_matches(is_ws))),
        None => (s, None),
    }
}

/// A logical line taken apart: keyword, flags and the text after them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommandLine<'a> {
    pub keyword: &'a str,
    pub flags: Vec<String>,
    pub args: Cow<'a, str>,
}

/// BuildKit's `splitCommand`.
pub(crate) fn split_command(line: &str, escape: char) -> CommandLine<'_> {
    let (keyword, rest) = split_ws2(line.trim());
    let (args, flags) = match rest {
        Some(rest) => extract_flags(rest, escape),
        None => (Cow::Borrowed(""), Vec::new()),
    };
    let args = match args {
        Cow::Borrowed(a) => Cow::Borrowed(a.trim()),
        Cow::Owned(a) => Cow::Owned(a.trim().to_string()),
    };
    CommandLine {
        keyword,
        flags,
        args,
    }
}

/// Reads `--flag` words from the start of `line` and returns the rest and the flags
/// (`extractBuilderFlags`). Like upstream it works byte by byte: a non-ASCII byte becomes
/// the Latin-1 character of the same value, and 0x85/0xA0 count as blanks.
fn extract_flags(line: &str, escape: char) -> (Cow<'_, str>, Vec<String>) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let bytes = line.as_bytes();
    let esc = u8::try_from(u32::from(escape)).unwrap_or(b'\\');
    // Upstream slices bytes; a cut inside a character is replaced like invalid UTF-8.
    let rest = |pos: usize| match line.get(pos..) {
        Some(r) => Cow::Borrowed(r),
        None => String::from_utf8_lossy(&bytes[pos..]),
    };
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = 0u8;
    let mut blank_ok = false;
    let mut pos = 0;
    while pos <= bytes.len() {
        let at_end = pos == bytes.len();
        let mut ch = if at_end { 0 } else { bytes[pos] };
        if phase == Phase::Spaces {
            if at_end {
                break;
            }
            if is_space_byte(ch) {
                pos += 1;
                continue;
            }
            if ch != b'-' || bytes.get(pos + 1) != Some(&b'-') {
                return (rest(pos), words);
            }
            phase = Phase::Word;
        }
        if at_end {
            if word != "--" && (blank_ok || !word.is_empty()) {
                words.push(word);
            }
            break;
        }
        if phase == Phase::Word {
            if is_space_byte(ch) {
                phase = Phase::Spaces;
                if word == "--" {
                    return (rest(pos), words);
                }
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                word.clear();
                blank_ok = false;
                pos += 1;
                continue;
            }
            if ch == b'\'' || ch == b'"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
                pos += 1;
                continue;
            }
            if ch == esc {
                if pos + 1 == bytes.len() {
                    pos += 1;
                    continue;
                }
                pos += 1;
                ch = bytes[pos];
            }
            word.push(char::from(ch));
            pos += 1;
            continue;
        }
        // Phase::Quote
        if ch == quote {
            phase = Phase::Word;
            pos += 1;
            continue;
        }
        if ch == esc {
            if pos + 1 == bytes.len() {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            ch = bytes[pos];
        }
        word.push(char::from(ch));
        pos += 1;
    }
    (Cow::Borrowed(""), words)
}

/// BuildKit's `parseWords`: splits on blanks outside quotes and keeps quote and escape
/// characters in the words (`abc="123 456"` stays one word, quotes included).
pub(crate) fn parse_words(rest: &str, escape: char) -> Vec<String> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut word = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(mut ch) = chars.next() {
        if phase == Phase::Spaces {
            if is_space(ch) {
                continue;
            }
            phase = Phase::Word;
        }
        if phase == Phase::Word {
            if is_space(ch) {
                phase = Phase::Spaces;
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                blank_ok = false;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
            }
            if ch == escape {
                let Some(next) = chars.next() else { continue };
                word.push(ch);
                ch = next;
            }
            word.push(ch);
            continue;
        }
        // Phase::Quote
        if ch == quote {
            phase = Phase::Word;
        }
        if ch == escape && quote != '\'' {
            let Some(next) = chars.next() else {
                phase = Phase::Word;
                continue;
            };
            word.push(ch);
            ch = next;
        }
        word.push(ch);
    }
    if phase != Phase::Spaces && (blank_ok || !word.is_empty()) {
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    // TestParseWords
    #[test]
    fn parse_words_keeps_quotes() {
        let cases: &[(&str, &[&str])] = &[
            ("foo", &["foo"]),
            ("foo bar", &["foo", "bar"]),
            ("foo\\ bar", &["foo\\ bar"]),
            ("foo=bar", &["foo=bar"]),
            ("foo bar 'abc xyz'", &["foo", "bar", "'abc xyz'"]),
            ("foo bar \"abc xyz\"", &["foo", "bar", "\"abc xyz\""]),
            ("àöû", &["àöû"]),
            ("föo bàr \"âbc xÿz\"", &["föo", "bàr", "\"âbc xÿz\""]),
            ("abc=\"123 456\" def", &["abc=\"123 456\"", "def"]),
            ("'' \"\"", &["''", "\"\""]),
            ("a\\", &["a"]),
            ("\"a\\\" b\"", &["\"a\\\" b\""]),
            ("'a\\' b", &["'a\\'", "b"]),
            ("\"open quote", &["\"open quote"]),
        ];
        for (input, want) in cases {
            assert_eq!(parse_words(input, '\\'), *want, "{input}");
        }
    }

    #[test]
    fn flags_are_read_until_the_first_other_word() {
        let c = split_command("  COPY --from=a --chown=\"x y\" -- --b c ", '\\');
        assert_eq!(c.keyword, "COPY");
        assert_eq!(c.flags, ["--from=a", "--chown=x y"]);
        assert_eq!(c.args, "--b c");
        let c = split_command("CMD --doit -- [ ]", '\\');
        assert_eq!(
            (c.flags.as_slice(), c.args.as_ref()),
            (&["--doit".to_string()][..], "[ ]")
        );
        let c = split_command("RUN --a", '\\');
        assert_eq!(
            (c.flags.as_slice(), c.args.as_ref()),
            (&["--a".to_string()][..], "")
        );
        let c = split_command("RUN --a=''", '\\');
        assert_eq!(c.flags, ["--a="]);
        let c = split_command("RUN -x --a", '\\');
        assert_eq!((c.flags.len(), c.args.as_ref()), (0, "-x --a"));
        let c = split_command("FROM", '\\');
        assert_eq!((c.keyword, c.args.as_ref()), ("FROM", ""));
    }

    #[test]
    fn flags_are_read_as_latin1_bytes() {
        let c = split_command("COPY --chown=josé a b", '\\');
        assert_eq!(c.flags, ["--chown=jos\u{c3}\u{a9}"]);
        // 0xA0 is a blank to upstream's byte-wise splitter: "à" is C3 A0.
        let c = split_command("COPY --x=à b", '\\');
        assert_eq!(
            (c.flags.as_slice(), c.args.as_ref()),
            (&["--x=\u{c3}".to_string()][..], "b")
        );
    }

    #[test]
    fn whitespace_split() {
        assert_eq!(split_ws("a  b\tc"), ["a", "b", "c"]);
        assert_eq!(split_ws2("a \t b c"), ("a", Some("b c")));
    }
}
