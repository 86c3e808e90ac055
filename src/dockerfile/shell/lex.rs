//! The expansion engine behind [`Lexer`](super::Lexer): a character scanner with one
//! function per construct (`$…`, `'…'`, `"…"`, `<<`), mirroring BuildKit's `shellWord`.
//!
//! One upstream quirk is kept on purpose: every nested scan (the word inside `${X:-…}`)
//! restarts the buffer of the word being split, so `ab${X:-c}d` splits as `cd` in words
//! mode, as it does in BuildKit.

use std::collections::BTreeSet;

use super::{Env, Expansion, Lexer, ShellErrorKind, pattern};
use crate::dockerfile::unicode::{is_digit, is_letter, is_space};

type Result<T> = std::result::Result<T, ShellErrorKind>;

/// Collects words for `ProcessWords` (BuildKit's `wordsStruct`).
#[derive(Default)]
struct Words {
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, buf: &mut String, ch: char) {
        if is_space(ch) && self.in_word {
            if !buf.is_empty() {
                self.words.push(std::mem::take(buf));
                self.in_word = false;
            }
        } else if !is_space(ch) {
            self.add_raw_char(buf, ch);
        }
    }

    fn add_raw_char(&mut self, buf: &mut String, ch: char) {
        buf.push(ch);
        self.in_word = true;
    }

    fn add_string(&mut self, buf: &mut String, s: &str) {
        for ch in s.chars() {
            self.add_char(buf, ch);
        }
    }

    fn add_raw_string(&mut self, buf: &mut String, s: &str) {
        buf.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self, buf: &mut String) -> Vec<String> {
        if !buf.is_empty() {
            self.words.push(std::mem::take(buf));
        }
        self.words
    }
}

/// One expansion in progress.
pub(super) struct Engine<'a> {
    opts: &'a Lexer,
    env: &'a dyn Env,
    src: &'a str,
    pos: usize,
    raw_escapes: bool,
    /// Shared by nested scans, as upstream's `wordsBuffer` is.
    words_buf: String,
    matched: BTreeSet<String>,
    unmatched: BTreeSet<String>,
}

impl<'a> Engine<'a> {
    pub(super) fn new(opts: &'a Lexer, src: &'a str, env: &'a dyn Env) -> Engine<'a> {
        // Go's text/scanner skips a byte-order mark at the very start.
        let pos = if src.starts_with('\u{feff}') { 3 } else { 0 };
        Engine {
            opts,
            env,
            src,
            pos,
            raw_escapes: opts.raw_escapes,
            words_buf: String::new(),
            matched: BTreeSet::new(),
            unmatched: BTreeSet::new(),
        }
    }

    pub(super) fn run(mut self) -> Result<Expansion> {
        let raw = self.raw_escapes;
        let (result, words) = self.scan_until(None, raw)?;
        Ok(Expansion {
            result,
            words,
            matched: self.matched,
            unmatched: self.unmatched,
        })
    }

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn get_env(&mut self, name: &str) -> Option<String> {
        match self.env.lookup(name) {
            Some(v) => {
                self.matched.insert(name.to_string());
                Some(v.to_string())
            }
            None => {
                self.unmatched.insert(name.to_string());
                None
            }
        }
    }

    /// Scans until `stop` (consumed) or the end (`processStopOn`).
    fn scan_until(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>)> {
        let saved = std::mem::replace(&mut self.raw_escapes, raw_escapes);
        let r = self.scan_until_inner(stop);
        self.raw_escapes = saved;
        r
    }

    fn scan_until_inner(&mut self, stop: Option<char>) -> Result<(String, Vec<String>)> {
        let mut result = String::new();
        self.words_buf.clear();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.next();
                let mut buf = std::mem::take(&mut self.words_buf);
                let w = words.finish(&mut buf);
                self.words_buf = buf;
                return Ok((result, w));
            }
            let quotes = !self.opts.skip_process_quotes;
            match ch {
                '$' => {
                    let tmp = self.dollar()?;
                    result.push_str(&tmp);
                    words.add_string(&mut self.words_buf, &tmp);
                }
                '<' => {
                    let tmp = self.possible_heredoc();
                    result.push_str(&tmp);
                    words.add_raw_string(&mut self.words_buf, &tmp);
                }
                '\'' if quotes => {
                    let tmp = self.single_quote()?;
                    result.push_str(&tmp);
                    words.add_raw_string(&mut self.words_buf, &tmp);
                }
                '"' if quotes => {
                    let tmp = self.double_quote()?;
                    result.push_str(&tmp);
                    words.add_raw_string(&mut self.words_buf, &tmp);
                }
                _ => {
                    self.next();
                    if ch == self.opts.escape {
                        if self.raw_escapes {
                            words.add_raw_char(&mut self.words_buf, ch);
                            result.push(ch);
                        }
                        // The escape character escapes the next one, except at the end.
                        let Some(escaped) = self.next() else { break };
                        words.add_raw_char(&mut self.words_buf, escaped);
                        result.push(escaped);
                    } else {
                        words.add_char(&mut self.words_buf, ch);
                        result.push(ch);
                    }
                }
            }
        }
        if let Some(stop) = stop {
            return Err(ShellErrorKind::Unterminated(stop));
        }
        let mut buf = std::mem::take(&mut self.words_buf);
        let w = words.finish(&mut buf);
        self.words_buf = buf;
        Ok((result, w))
    }

    /// `'…'`: everything literal, no escapes.
    fn single_quote(&mut self) -> Result<String> {
        let mut out = String::new();
        let open = self.next();
        if self.opts.raw_quotes {
            out.extend(open);
        }
        loop {
            match self.next() {
                None => return Err(ShellErrorKind::UnclosedSingleQuote),
                Some('\'') => {
                    if self.opts.raw_quotes {
                        out.push('\'');
                    }
                    return Ok(out);
                }
                Some(c) => out.push(c),
            }
        }
    }

    /// `"…"`: `$` expands; the escape character escapes only `"`, `$` and itself.
    fn double_quote(&mut self) -> Result<String> {
        let mut out = String::new();
        let open = self.next();
        if self.opts.raw_quotes {
            out.extend(open);
        }
        loop {
            match self.peek() {
                None => return Err(ShellErrorKind::UnclosedDoubleQuote),
                Some('"') => {
                    self.next();
                    if self.opts.raw_quotes {
                        out.push('"');
                    }
                    return Ok(out);
                }
                Some('$') => {
                    let v = self.dollar()?;
                    out.push_str(&v);
                }
                Some(_) => {
                    let Some(mut ch) = self.next() else { continue };
                    if ch == self.opts.escape {
                        if self.raw_escapes {
                            out.push(ch);
                        }
                        match self.peek() {
                            None => continue,
                            Some(c) if c == '"' || c == '$' || c == self.opts.escape => {
                                self.next();
                                ch = c;
                            }
                            Some(_) => {}
                        }
                    }
                    out.push(ch);
                }
            }
        }
    }

    /// `<` or `<<` followed by blanks, kept as one raw piece (`processPossibleHeredoc`).
    fn possible_heredoc(&mut self) -> String {
        self.next();
        if self.peek() != Some('<') {
            return "<".to_string();
        }
        self.next();
        let mut out = "<<".to_string();
        while let Some(c @ ('\t' | '\r' | ' ')) = self.peek() {
            out.push(c);
            self.next();
        }
        out
    }

    /// A variable name: letters, digits and `_`; a run of digits (positional); or one
    /// special parameter character.
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && is_digit(ch) {
                while let Some(d) = self.peek().filter(|c| is_digit(*c)) {
                    self.next();
                    name.push(d);
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.next();
                name.push(ch);
                return name;
            }
            if !is_letter(ch) && !is_digit(ch) && ch != '_' {
                break;
            }
            self.next();
            name.push(ch);
        }
        name
    }

    /// `$name`, `${name}` and `${name<modifier>word}`.
    fn dollar(&mut self) -> Result<String> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".to_string());
            }
            return Ok(match self.get_env(&name) {
                Some(v) => v,
                None if self.opts.skip_unset_env => format!("${name}"),
                None => String::new(),
            });
        }
        self.next();
        match self.peek() {
            None => return Err(ShellErrorKind::MissingBrace),
            Some('{' | '}' | ':') => return Err(ShellErrorKind::BadSubstitution),
            Some(_) => {}
        }
        let name = self.name();
        let first = self.next();
        // Go prints the end of input as U+FFFD in `chs`.
        let mut chs = String::from(first.unwrap_or('\u{fffd}'));
        let mut modifier = first;
        let mut null_is_unset = false;
        match first {
            Some('}') => {
                return Ok(match self.get_env(&name) {
                    Some(v) => v,
                    None if self.opts.skip_unset_env => format!("${{{name}}}"),
                    None => String::new(),
                });
            }
            Some('/') => return self.substitute(&name),
            Some(':') => {
                null_is_unset = true;
                modifier = self.next();
                chs.push(modifier.unwrap_or('\u{fffd}'));
            }
            Some('+' | '-' | '?' | '#' | '%') => {}
            _ => return Err(ShellErrorKind::UnsupportedModifier(chs)),
        }
        let raw = matches!(modifier, Some('#' | '%'));
        if null_is_unset && raw {
            return Err(ShellErrorKind::UnsupportedModifier(chs));
        }
        let word = match self.scan_until(Some('}'), raw) {
            Ok((w, _)) => w,
            Err(_) if self.peek().is_none() => return Err(ShellErrorKind::MissingBrace),
            Err(e) => return Err(e),
        };
        let value = self.get_env(&name);
        if self.opts.skip_unset_env && value.is_none() {
            return Ok(format!("${{{name}{chs}{word}}}"));
        }
        let empty = value.as_deref().is_none_or(str::is_empty);
        match modifier {
            Some('-') => Ok(match value {
                Some(v) if !(null_is_unset && v.is_empty()) => v,
                _ => word,
            }),
            Some('+') => Ok(if value.is_none() || (null_is_unset && empty) {
                String::new()
            } else {
                word
            }),
            Some('?') => match value {
                None => Err(mandatory(name, word, "is not allowed to be unset")),
                Some(v) if null_is_unset && v.is_empty() => {
                    Err(mandatory(name, word, "is not allowed to be empty"))
                }
                Some(v) => Ok(v),
            },
            Some(c @ ('%' | '#')) => {
                let (greedy, pat) = match word.strip_prefix(c) {
                    Some(rest) => (true, rest),
                    None => (false, word.as_str()),
                };
                let value = value.unwrap_or_default();
                let r = if c == '%' {
                    pattern::trim_suffix(pat, &value, greedy)
                } else {
                    pattern::trim_prefix(pat, &value, greedy)
                };
                r.map_err(|error| ShellErrorKind::Pattern {
                    pattern: pat.to_string(),
                    error,
                })
            }
            _ => Err(ShellErrorKind::UnsupportedModifier(chs)),
        }
    }

    /// `${name/pattern/replacement}` and `${name//pattern/replacement}`.
    fn substitute(&mut self, name: &str) -> Result<String> {
        let all = self.peek() == Some('/');
        if all {
            self.next();
        }
        let pat = match self.scan_until(Some('/'), true) {
            Ok((p, _)) => p,
            Err(_) if self.peek().is_none() => return Err(ShellErrorKind::MissingSlash),
            Err(e) => return Err(e),
        };
        let replacement = match self.scan_until(Some('}'), true) {
            Ok((r, _)) => r,
            Err(_) if self.peek().is_none() => return Err(ShellErrorKind::MissingBrace),
            Err(e) => return Err(e),
        };
        let value = self.get_env(name);
        if self.opts.skip_unset_env && value.is_none() {
            return Ok(format!("${{{name}/{pat}/{replacement}}}"));
        }
        let value = value.unwrap_or_default();
        let re = pattern::shell_pattern_to_regex(&pat, true, false).map_err(|error| {
            ShellErrorKind::Pattern {
                pattern: pat.clone(),
                error,
            }
        })?;
        Ok(if all {
            let matches = re.find_iter(&value).count();
            let grown = matches.saturating_mul(replacement.len());
            if value.len().saturating_add(grown) > super::MAX_EXPANSION {
                return Err(ShellErrorKind::TooLarge);
            }
            re.replace_all(&value, replacement.as_str()).into_owned()
        } else {
            match re.find(&value) {
                Some(m) => format!("{}{replacement}{}", &value[..m.start()], &value[m.end()..]),
                None => value,
            }
        })
    }
}

fn mandatory(name: String, word: String, default: &str) -> ShellErrorKind {
    let message = if word.is_empty() {
        default.to_string()
    } else {
        word
    };
    ShellErrorKind::Mandatory { name, message }
}
