//! Go's `filepath.Match` on Unix: the wildcard language of COPY sources, and the syntax
//! check every `.dockerignore` pattern must pass.
//!
//! `*` matches any run of characters except `/`, `?` one character except `/`,
//! `[...]` a class (`^` negates, `a-z` ranges, `\` escapes), and `\x` the character
//! `x`. Classes are checked in full even when the match fails early, as Go does, so a
//! malformed pattern is always an error.

/// A pattern that breaks the `filepath.Match` syntax (Go's `ErrBadPattern`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("syntax error in pattern")]
pub struct BadPattern;

/// True when `name` matches the whole of `pattern`.
pub fn matches(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    let mut pattern = pattern;
    let mut name = name;
    'chunks: while !pattern.is_empty() {
        let (star, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            // A trailing `*` matches the rest unless it holds a separator.
            return Ok(!name.contains('/'));
        }
        // Match the chunk at the current position; the last chunk must use up the name.
        let here = match_chunk(chunk, name)?;
        if let Some(t) = here
            && (t.is_empty() || !pattern.is_empty())
        {
            name = t;
            continue;
        }
        if star {
            // Let the star swallow one more character at a time, never a `/`.
            for (i, c) in name.char_indices() {
                if c == '/' {
                    break;
                }
                if let Some(t) = match_chunk(chunk, &name[i + c.len_utf8()..])? {
                    if pattern.is_empty() && !t.is_empty() {
                        continue;
                    }
                    name = t;
                    continue 'chunks;
                }
            }
        }
        // No match: the rest of the pattern must still be well formed.
        while !pattern.is_empty() {
            let (_, chunk, rest) = scan_chunk(pattern);
            pattern = rest;
            match_chunk(chunk, "")?;
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

/// Checks the syntax of `pattern` (what Go's `filepath.Match(pattern, ".")` reports).
pub fn validate(pattern: &str) -> Result<(), BadPattern> {
    matches(pattern, ".").map(|_| ())
}

/// True when `name` holds a wildcard (`*`, `?`, `[`) that is not escaped.
pub fn has_wildcards(name: &str) -> bool {
    let b = name.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'*' | b'?' | b'[' => return true,
            _ => {}
        }
        i += 1;
    }
    false
}

/// Splits off the leading stars and the chunk up to the next star outside a class.
fn scan_chunk(pattern: &str) -> (bool, &str, &str) {
    let p = pattern.trim_start_matches('*');
    let star = p.len() != pattern.len();
    let b = p.as_bytes();
    let mut in_range = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' if i + 1 < b.len() => i += 1,
            b'[' => in_range = true,
            b']' => in_range = false,
            b'*' if !in_range => break,
            _ => {}
        }
        i += 1;
    }
    // `i` stops on an ASCII `*` or at the end, both character boundaries.
    (star, &p[..i], &p[i..])
}

/// Matches one star-free chunk at the start of `s`; returns what is left of `s`.
fn match_chunk<'a>(chunk: &str, s: &'a str) -> Result<Option<&'a str>, BadPattern> {
    let mut chunk = chunk;
    let mut s = s;
    // Once the match has failed, keep parsing the chunk to report syntax errors.
    let mut failed = false;
    while let Some(first) = chunk.chars().next() {
        if !failed && s.is_empty() {
            failed = true;
        }
        match first {
            '[' => {
                let mut r = '\0';
                if !failed && let Some(c) = s.chars().next() {
                    r = c;
                    s = &s[c.len_utf8()..];
                }
                chunk = &chunk[1..];
                let negated = chunk.starts_with('^');
                if negated {
                    chunk = &chunk[1..];
                }
                let mut matched = false;
                let mut ranges = 0;
                loop {
                    if ranges > 0 && chunk.starts_with(']') {
                        chunk = &chunk[1..];
                        break;
                    }
                    let (lo, rest) = class_char(chunk)?;
                    chunk = rest;
                    let mut hi = lo;
                    if let Some(rest) = chunk.strip_prefix('-') {
                        let (h, rest) = class_char(rest)?;
                        hi = h;
                        chunk = rest;
                    }
                    if lo <= r && r <= hi {
                        matched = true;
                    }
                    ranges += 1;
                }
                if matched == negated {
                    failed = true;
                }
            }
            '?' => {
                if !failed && let Some(c) = s.chars().next() {
                    if c == '/' {
                        failed = true;
                    }
                    s = &s[c.len_utf8()..];
                }
                chunk = &chunk[1..];
            }
            _ => {
                let mut lit = first;
                if first == '\\' {
                    chunk = &chunk[1..];
                    lit = chunk.chars().next().ok_or(BadPattern)?;
                }
                if !failed && let Some(c) = s.chars().next() {
                    if c != lit {
                        failed = true;
                    }
                    s = &s[c.len_utf8()..];
                }
                chunk = &chunk[lit.len_utf8()..];
            }
        }
    }
    Ok(if failed { None } else { Some(s) })
}

/// One (possibly escaped) character of a class; a class must go on after it.
fn class_char(chunk: &str) -> Result<(char, &str), BadPattern> {
    let mut c = chunk;
    if c.is_empty() || c.starts_with('-') || c.starts_with(']') {
        return Err(BadPattern);
    }
    if let Some(rest) = c.strip_prefix('\\') {
        c = rest;
    }
    let ch = c.chars().next().ok_or(BadPattern)?;
    let rest = &c[ch.len_utf8()..];
    if rest.is_empty() {
        return Err(BadPattern);
    }
    Ok((ch, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Go's `filepath` `matchTests` table (Unix rows): pattern, name, match, error.
    #[test]
    fn go_match_table() {
        let cases: &[(&str, &str, bool, bool)] = &[
            ("abc", "abc", true, false),
            ("*", "abc", true, false),
            ("*c", "abc", true, false),
            ("a*", "a", true, false),
            ("a*", "abc", true, false),
            ("a*", "ab/c", false, false),
            ("a*/b", "abc/b", true, false),
            ("a*/b", "a/c/b", false, false),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", true, false),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", true, false),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false, false),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", false, false),
            ("a*b?c*x", "abxbbxdbxebxczzx", true, false),
            ("a*b?c*x", "abxbbxdbxebxczzy", false, false),
            ("ab[c]", "abc", true, false),
            ("ab[b-d]", "abc", true, false),
            ("ab[e-g]", "abc", false, false),
            ("ab[^c]", "abc", false, false),
            ("ab[^b-d]", "abc", false, false),
            ("ab[^e-g]", "abc", true, false),
            ("a\\*b", "a*b", true, false),
            ("a\\*b", "ab", false, false),
            ("a?b", "a☺b", true, false),
            ("a[^a]b", "a☺b", true, false),
            ("a???b", "a☺b", false, false),
            ("a[^a][^a][^a]b", "a☺b", false, false),
            ("[a-ζ]*", "α", true, false),
            ("*[a-ζ]", "A", false, false),
            ("a?b", "a/b", false, false),
            ("a*b", "a/b", false, false),
            ("[\\]a]", "]", true, false),
            ("[\\-]", "-", true, false),
            ("[x\\-]", "x", true, false),
            ("[x\\-]", "-", true, false),
            ("[x\\-]", "z", false, false),
            ("[\\-x]", "x", true, false),
            ("[\\-x]", "-", true, false),
            ("[\\-x]", "a", false, false),
            ("[]a]", "]", false, true),
            ("[-]", "-", false, true),
            ("[x-]", "x", false, true),
            ("[x-]", "-", false, true),
            ("[x-]", "z", false, true),
            ("[-x]", "x", false, true),
            ("[-x]", "-", false, true),
            ("[-x]", "a", false, true),
            ("\\", "a", false, true),
            ("[a-b-c]", "a", false, true),
            ("[", "a", false, true),
            ("[^", "a", false, true),
            ("[^bc", "a", false, true),
            ("a[", "a", false, true),
            ("a[", "ab", false, true),
            ("a[", "x", false, true),
            ("a/b[", "x", false, true),
            ("*x", "xxx", true, false),
        ];
        for &(pattern, name, want, want_err) in cases {
            match matches(pattern, name) {
                Ok(got) => {
                    assert!(!want_err, "{pattern:?} vs {name:?}: expected an error");
                    assert_eq!(got, want, "{pattern:?} vs {name:?}");
                }
                Err(BadPattern) => assert!(want_err, "{pattern:?} vs {name:?}: unexpected error"),
            }
        }
    }

    #[test]
    fn validation_rejects_the_documented_bad_patterns() {
        for bad in ["[", "[]a]", "[-]", "[x-]", "\\", "[a-b-c]", "a["] {
            assert_eq!(validate(bad), Err(BadPattern), "{bad:?}");
        }
        for good in ["*", "**", "a\\*b", "[\\]a]", "docs/*.md", "a\\\\"] {
            assert_eq!(validate(good), Ok(()), "{good:?}");
        }
    }

    #[test]
    fn wildcard_detection_skips_escapes() {
        assert!(has_wildcards("a*"));
        assert!(has_wildcards("x/[ab]"));
        assert!(has_wildcards("a?"));
        assert!(!has_wildcards("plain/path.txt"));
        assert!(!has_wildcards("a\\*b"));
    }
}
