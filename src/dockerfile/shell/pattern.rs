//! Shell patterns of `${VAR#p}`, `${VAR%p}` and `${VAR/p/r}`: `*` (any string), `?` (any
//! character) and `\` escapes, without bracket expressions, turned into regular
//! expressions as BuildKit does. Suffix trimming reverses both the pattern and the value,
//! so that "shortest match at the end" becomes a leftmost search.

use regex::Regex;

/// Longer patterns are refused: compiling them would take long, and no Dockerfile needs
/// one (a physical line is at most 64 KiB).
const MAX_PATTERN: usize = 64 * 1024;

/// A pattern that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// `\` followed by something other than `*`, `?`, `\` (or `}` and `/`, which are
    /// dropped escapes).
    #[error("invalid escape '\\{0}'")]
    InvalidEscape(String),
    /// The regular expression engine refused it (too large).
    #[error("{0}")]
    Regex(String),
}

/// Converts a shell pattern into a regular expression (`convertShellPatternToRegex`):
/// `*` becomes `.*` (`greedy`) or `.*?`, `?` becomes `.`, `anchored` adds `^`.
pub fn shell_pattern_to_regex(
    pattern: &str,
    greedy: bool,
    anchored: bool,
) -> Result<Regex, PatternError> {
    if pattern.len() > MAX_PATTERN {
        return Err(PatternError::Regex(format!(
            "pattern longer than {MAX_PATTERN} bytes"
        )));
    }
    let mut out = String::with_capacity(pattern.len() + 4);
    if anchored {
        out.push('^');
    }
    let star = if greedy { ".*" } else { ".*?" };
    let mut chars = pattern.chars().peekable();
    while let Some(tok) = chars.next() {
        match tok {
            '*' => out.push_str(star),
            '?' => out.push('.'),
            '\\' => {
                if matches!(chars.peek(), Some('}' | '/')) {
                    continue;
                }
                match chars.next() {
                    Some(c @ ('*' | '?' | '\\')) => {
                        out.push('\\');
                        out.push(c);
                    }
                    Some(c) => return Err(PatternError::InvalidEscape(c.to_string())),
                    None => return Err(PatternError::InvalidEscape("%!c(int32=-1)".into())),
                }
            }
            '[' | ']' | '{' | '}' | '.' | '+' | '(' | ')' | '|' | '^' | '$' => {
                out.push('\\');
                out.push(tok);
            }
            // Characters Go's syntax takes literally but Rust's regex would not.
            '#' | '&' | '-' | '~' | ' ' | '\t' | '\n' | '\r' | '\u{b}' | '\u{c}' => {
                out.push_str(&regex::escape(&tok.to_string()));
            }
            c => out.push(c),
        }
    }
    Regex::new(&out).map_err(|e| PatternError::Regex(e.to_string()))
}

/// `${VAR#pattern}` / `${VAR##pattern}`: removes the shortest (longest) matching prefix.
pub(super) fn trim_prefix(
    pattern: &str,
    value: &str,
    greedy: bool,
) -> Result<String, PatternError> {
    let re = shell_pattern_to_regex(pattern, greedy, true)?;
    Ok(match re.find(value) {
        Some(m) => value[m.end()..].to_string(),
        None => value.to_string(),
    })
}

/// `${VAR%pattern}` / `${VAR%%pattern}`: removes the shortest (longest) matching suffix.
pub(super) fn trim_suffix(
    pattern: &str,
    value: &str,
    greedy: bool,
) -> Result<String, PatternError> {
    let reversed = trim_prefix(&reverse_pattern(pattern), &reverse(value), greedy)?;
    Ok(reverse(&reversed))
}

/// Reverses a pattern but keeps each escape before the character it escapes (`a\*c` →
/// `c\*a`).
pub(super) fn reverse_pattern(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = vec!['\0'; chars.len()];
    let last = chars.len().saturating_sub(1);
    let mut i = 0;
    while i < chars.len() {
        let out_idx = last - i;
        if chars[i] == '\\' && i != last {
            out[out_idx - 1] = '\\';
            out[out_idx] = chars[i + 1];
            i += 2;
        } else {
            out[out_idx] = chars[i];
            i += 1;
        }
    }
    out.into_iter().collect()
}

fn reverse(s: &str) -> String {
    s.chars().rev().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // BuildKit's TestConvertShellPatternToRegex.
    #[test]
    fn converts_patterns() {
        for (pat, want) in [
            ("*", "^.*"),
            ("?", "^."),
            ("\\*", "^\\*"),
            (
                "(()[]{\\}^$.\\*\\?|\\\\",
                "^\\(\\(\\)\\[\\]\\{\\}\\^\\$\\.\\*\\?\\|\\\\",
            ),
        ] {
            let re = shell_pattern_to_regex(pat, true, true).unwrap();
            assert_eq!(re.as_str(), want, "{pat}");
        }
        for pat in ["\\", "\\x", "\\\\\\"] {
            assert!(shell_pattern_to_regex(pat, true, true).is_err(), "{pat}");
        }
        assert_eq!(
            shell_pattern_to_regex("a*b", false, false)
                .unwrap()
                .as_str(),
            "a.*?b"
        );
    }

    // BuildKit's TestReverseString and TestReversePattern.
    #[test]
    fn reverses_patterns() {
        assert_eq!(reverse("54321"), "12345");
        assert_eq!(reverse("🖖🚀👽"), "👽🚀🖖");
        for (pat, want) in [
            ("a\\*c", "c\\*a"),
            ("\\\\\\ab", "b\\a\\\\"),
            ("ab\\", "\\ba"),
            ("👽\\🚀🖖", "🖖\\🚀👽"),
            ("\\\\b", "b\\\\"),
        ] {
            assert_eq!(reverse_pattern(pat), want, "{pat}");
        }
    }

    #[test]
    fn trims() {
        assert_eq!(trim_prefix("a*", "abcabc", false).unwrap(), "bcabc");
        assert_eq!(trim_prefix("a*", "abcabc", true).unwrap(), "");
        assert_eq!(trim_suffix("*c", "abcabc", false).unwrap(), "abcab");
        assert_eq!(trim_suffix("b*", "abcabc", true).unwrap(), "a");
        assert_eq!(trim_suffix("x", "abc", true).unwrap(), "abc");
    }
}
