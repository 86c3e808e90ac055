//! The exec form: a JSON array of strings, read as strictly as Go's `encoding/json`
//! (double quotes only, Go's escapes, lone surrogates become U+FFFD). Anything that is
//! not valid JSON falls back to the shell form; valid JSON with a non-string element is
//! an error.

use nom::{
    IResult, Parser,
    branch::alt,
    bytes::complete::{tag, take_while, take_while_m_n},
    character::complete::{char, digit0, digit1, one_of, satisfy},
    combinator::{opt, recognize},
    sequence::{pair, preceded},
};

/// Why text is not an exec-form array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonError {
    /// Not JSON (or not starting with `[`): use the shell form.
    NotJson,
    /// Valid JSON, but an element is not a string.
    NotStrings,
}

/// Go's maximum nesting depth.
const MAX_DEPTH: usize = 10_000;

fn ws(s: &str) -> &str {
    s.trim_start_matches([' ', '\t', '\n', '\r'])
}

fn hex4(s: &str) -> IResult<&str, u32> {
    let (rest, h) = take_while_m_n(4, 4, |c: char| c.is_ascii_hexdigit()).parse(s)?;
    let v = u32::from_str_radix(h, 16)
        .map_err(|_| nom::Err::Error(nom::error::Error::new(s, nom::error::ErrorKind::HexDigit)))?;
    Ok((rest, v))
}

/// A JSON string literal, decoded.
fn string(s: &str) -> IResult<&str, String> {
    let (mut rest, _) = char('"').parse(s)?;
    let mut out = String::new();
    loop {
        let (r, plain) = take_while(|c: char| c != '"' && c != '\\' && c >= ' ').parse(rest)?;
        out.push_str(plain);
        rest = r;
        if let Ok((r, _)) = char::<_, nom::error::Error<&str>>('"').parse(rest) {
            return Ok((r, out));
        }
        let (r, _) = char('\\').parse(rest)?;
        let (r, e) = one_of("\"\\/bfnrtu").parse(r)?;
        rest = r;
        match e {
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'u' => {
                let (r, hi) = hex4(rest)?;
                rest = r;
                if (0xd800..0xe000).contains(&hi) {
                    let low = preceded(tag("\\u"), hex4).parse(rest);
                    match low {
                        Ok((r, lo))
                            if (0xd800..0xdc00).contains(&hi) && (0xdc00..0xe000).contains(&lo) =>
                        {
                            let c = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
                            out.push(char::from_u32(c).unwrap_or('\u{fffd}'));
                            rest = r;
                        }
                        _ => out.push('\u{fffd}'),
                    }
                } else {
                    out.push(char::from_u32(hi).unwrap_or('\u{fffd}'));
                }
            }
            c => out.push(c),
        }
    }
}

/// A JSON number, as Go's scanner accepts it.
fn number(s: &str) -> IResult<&str, &str> {
    recognize((
        opt(char('-')),
        alt((
            tag("0"),
            recognize(pair(satisfy(|c| ('1'..='9').contains(&c)), digit0)),
        )),
        opt(pair(char('.'), digit1)),
        opt((one_of("eE"), opt(one_of("+-")), digit1)),
    ))
    .parse(s)
}

/// One scalar (string, number, literal); `None` when `s` does not start with one.
fn scalar(s: &str) -> Option<&str> {
    if s.starts_with('"') {
        return string(s).ok().map(|(r, _)| r);
    }
    alt((tag("true"), tag("false"), tag("null"), number))
        .parse(s)
        .ok()
        .map(|(r, _)| r)
}

/// Skips one JSON value of any kind, iteratively (no recursion on nesting).
fn skip_value(s: &str, depth: usize) -> Option<&str> {
    let mut stack: Vec<char> = Vec::new();
    let mut rest = s;
    'value: loop {
        rest = ws(rest);
        match rest.chars().next()? {
            open @ ('[' | '{') => {
                stack.push(open);
                if stack.len() + depth > MAX_DEPTH {
                    return None;
                }
                rest = ws(&rest[1..]);
                let close = if open == '[' { ']' } else { '}' };
                if let Some(r) = rest.strip_prefix(close) {
                    stack.pop();
                    rest = r;
                } else {
                    if open == '{' {
                        rest = object_key(rest)?;
                    }
                    continue 'value;
                }
            }
            _ => rest = scalar(rest)?,
        }
        // After a value: close containers or move to the next element.
        loop {
            let Some(&top) = stack.last() else {
                return Some(rest);
            };
            rest = ws(rest);
            if let Some(r) = rest.strip_prefix(',') {
                rest = if top == '{' { object_key(r)? } else { r };
                continue 'value;
            }
            let close = if top == '[' { ']' } else { '}' };
            rest = rest.strip_prefix(close)?;
            stack.pop();
        }
    }
}

/// `"key" :` inside an object.
fn object_key(s: &str) -> Option<&str> {
    let (r, _) = string(ws(s)).ok()?;
    ws(r).strip_prefix(':')
}

/// Parses `text` as a JSON array of strings (BuildKit's `parseJSON`).
pub(crate) fn parse_string_array(text: &str) -> Result<Vec<String>, JsonError> {
    let text = text.trim_start_matches(super::unicode::is_space);
    let Some(mut rest) = text.strip_prefix('[') else {
        return Err(JsonError::NotJson);
    };
    let mut out = Vec::new();
    let mut not_strings = false;
    rest = ws(rest);
    if let Some(r) = rest.strip_prefix(']') {
        rest = r;
    } else {
        loop {
            rest = ws(rest);
            if rest.starts_with('"') {
                let (r, s) = string(rest).map_err(|_| JsonError::NotJson)?;
                out.push(s);
                rest = r;
            } else {
                not_strings = true;
                rest = skip_value(rest, 1).ok_or(JsonError::NotJson)?;
            }
            rest = ws(rest);
            if let Some(r) = rest.strip_prefix(',') {
                rest = r;
            } else if let Some(r) = rest.strip_prefix(']') {
                rest = r;
                break;
            } else {
                return Err(JsonError::NotJson);
            }
        }
    }
    if !ws(rest).is_empty() {
        return Err(JsonError::NotJson);
    }
    if not_strings {
        return Err(JsonError::NotStrings);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // TestJSONArraysOfStrings
    #[test]
    fn arrays_of_strings() {
        let valid: &[(&str, &[&str])] = &[
            ("[]", &[]),
            (r#"[""]"#, &[""]),
            (r#"["a"]"#, &["a"]),
            (r#"["a","b"]"#, &["a", "b"]),
            (r#"[ "a", "b" ]"#, &["a", "b"]),
            ("[\t\"a\",\t\"b\"\t]", &["a", "b"]),
            ("\t[\t\"a\",\t\"b\"\t]\t", &["a", "b"]),
            (
                r#"["abc 123", "♥", "☃", "\" \\ \/ \b \f \n \r \t \u0000"]"#,
                &["abc 123", "♥", "☃", "\" \\ / \u{8} \u{c} \n \r \t \u{0}"],
            ),
        ];
        for (json, want) in valid {
            assert_eq!(parse_string_array(json).unwrap(), *want, "{json}");
        }
        for json in [
            r#"["a",42,"b"]"#,
            r#"["a",123.456,"b"]"#,
            r#"["a",{},"b"]"#,
            r#"["a",{"c": "d"},"b"]"#,
            r#"["a",["c"],"b"]"#,
            r#"["a",true,"b"]"#,
            r#"["a",false,"b"]"#,
            r#"["a",null,"b"]"#,
        ] {
            assert_eq!(
                parse_string_array(json),
                Err(JsonError::NotStrings),
                "{json}"
            );
        }
    }

    #[test]
    fn invalid_json_falls_back() {
        for text in [
            "",
            "echo [",
            "['a']",
            r#"["a""#,
            r#"["a",]"#,
            r#"["a"] x"#,
            r#"["a", 01]"#,
            r#"["a", {"b"}]"#,
            "[\"a\tb\"]",
            r#"["\x"]"#,
            r#"["\u12"]"#,
            r#"[1, ["#,
        ] {
            assert_eq!(parse_string_array(text), Err(JsonError::NotJson), "{text}");
        }
    }

    #[test]
    fn surrogates_and_numbers() {
        assert_eq!(parse_string_array(r#"["\ud83d\ude00"]"#).unwrap(), ["😀"]);
        assert_eq!(parse_string_array(r#"["\ud83dx"]"#).unwrap(), ["\u{fffd}x"]);
        assert_eq!(parse_string_array(r#"["\ude00"]"#).unwrap(), ["\u{fffd}"]);
        assert_eq!(
            parse_string_array(r#"[-0.5e+3, {"a": [1, {"b": null}]}]"#),
            Err(JsonError::NotStrings)
        );
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let deep = format!("[{}{}]", "[".repeat(20_000), "]".repeat(20_000));
        assert_eq!(parse_string_array(&deep), Err(JsonError::NotJson));
        let ok = format!("[{}{}]", "[".repeat(100), "]".repeat(100));
        assert_eq!(parse_string_array(&ok), Err(JsonError::NotStrings));
    }
}
