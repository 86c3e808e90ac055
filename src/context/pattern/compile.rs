//! Turning one cleaned pattern into a matcher, as upstream classifies it: an exact
//! string, a prefix (`dir/**`), a suffix (`**.txt`, `**/name`) or a regular expression
//! with the meaning of the one upstream builds.

use regex::Regex;

use super::Kind;

/// Classifies a pattern and, when needed, builds its regular expression.
pub(super) fn compile(pattern: &str) -> Result<Kind, String> {
    #[derive(PartialEq)]
    enum Ty {
        Exact,
        Prefix,
        Suffix,
        Regex,
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut ty = Ty::Exact;
    let mut re = String::from("^");
    let mut i = 0;
    let mut first = true;
    while i < chars.len() {
        let ch = chars[i];
        i += 1;
        match ch {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                // `**/` is the same as `**`.
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i == chars.len() {
                    // `**` at the end: everything, like .gitignore.
                    if ty == Ty::Exact {
                        ty = Ty::Prefix;
                    } else {
                        re.push_str(".*");
                        ty = Ty::Regex;
                    }
                } else {
                    // Any number of directories, even none.
                    re.push_str("(?:.*/)?");
                    ty = Ty::Regex;
                }
                if first {
                    ty = Ty::Suffix;
                }
            }
            '*' => {
                re.push_str("[^/]*");
                ty = Ty::Regex;
            }
            '?' => {
                re.push_str("[^/]");
                ty = Ty::Regex;
            }
            '\\' => match chars.get(i) {
                Some(&next) => {
                    i += 1;
                    push_literal(&mut re, next);
                    ty = Ty::Regex;
                }
                None => push_literal(&mut re, '\\'),
            },
            '[' => {
                i = push_class(&mut re, &chars, i)?;
                ty = Ty::Regex;
            }
            ']' => {
                push_literal(&mut re, ']');
                ty = Ty::Regex;
            }
            other => push_literal(&mut re, other),
        }
        first = false;
    }
    Ok(match ty {
        Ty::Exact => Kind::Exact,
        Ty::Prefix => Kind::Prefix(pattern[..pattern.len() - 2].to_string()),
        Ty::Suffix => Kind::Suffix(pattern[2..].to_string()),
        Ty::Regex => {
            re.push('$');
            Kind::Regex(Regex::new(&re).map_err(|e| e.to_string())?)
        }
    })
}

fn push_literal(re: &mut String, c: char) {
    let mut buf = [0u8; 4];
    re.push_str(&regex::escape(c.encode_utf8(&mut buf)));
}

/// Translates the class starting after `[` at `chars[i]`; returns the index after `]`.
/// The syntax was already checked by `glob::validate`; a reversed range such as
/// `[z-a]` passes that check but is rejected here, as upstream's regex compile does.
fn push_class(re: &mut String, chars: &[char], mut i: usize) -> Result<usize, String> {
    let bad = || "syntax error in pattern".to_string();
    re.push('[');
    if chars.get(i) == Some(&'^') {
        re.push('^');
        i += 1;
    }
    let mut ranges = 0;
    loop {
        let c = *chars.get(i).ok_or_else(bad)?;
        if c == ']' && ranges > 0 {
            re.push(']');
            return Ok(i + 1);
        }
        let (lo, next) = class_char(chars, i).ok_or_else(bad)?;
        i = next;
        let mut hi = lo;
        if chars.get(i) == Some(&'-') {
            let (h, next) = class_char(chars, i + 1).ok_or_else(bad)?;
            hi = h;
            i = next;
        }
        if hi < lo {
            return Err(bad());
        }
        re.push_str(&format!("\\x{{{:x}}}-\\x{{{:x}}}", lo as u32, hi as u32));
        ranges += 1;
    }
}

fn class_char(chars: &[char], i: usize) -> Option<(char, usize)> {
    match chars.get(i)? {
        '\\' => chars.get(i + 1).map(|&c| (c, i + 2)),
        &c => Some((c, i + 1)),
    }
}
