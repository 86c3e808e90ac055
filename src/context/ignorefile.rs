//! Finding and reading the `.dockerignore` file, line by line as Docker does
//! (moby/patternmatcher `ignorefile.ReadAll`, BuildKit's file selection).

use std::path::{Path, PathBuf};

use super::path::clean;

/// The ignore file for a build: `<dockerfile>.dockerignore` beside the Dockerfile when
/// it exists, else `<context>/.dockerignore` when that exists.
pub fn locate(context: &Path, dockerfile: Option<&Path>) -> Option<PathBuf> {
    if let Some(df) = dockerfile {
        let mut name = df.as_os_str().to_os_string();
        name.push(".dockerignore");
        let beside = PathBuf::from(name);
        if beside.is_file() {
            return Some(beside);
        }
    }
    let default = context.join(".dockerignore");
    default.is_file().then_some(default)
}

/// Turns the text of an ignore file into patterns.
///
/// Lines split on `\n` (a trailing `\r` is dropped); a UTF-8 BOM is removed from the
/// first line; a line whose first character is `#` is a comment (checked before
/// trimming, so `  # x` is a pattern); whitespace is trimmed; `!` marks an exception
/// and is trimmed after too; the rest is cleaned like Go's `filepath.Clean` and loses
/// one leading `/`.
pub fn parse(text: &[u8]) -> Vec<String> {
    let text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
    let mut out = Vec::new();
    let mut lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    // A final newline does not start another line.
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let line = String::from_utf8_lossy(line);
        if line.starts_with('#') {
            continue;
        }
        let mut pattern = line.trim();
        if pattern.is_empty() {
            continue;
        }
        let invert = pattern.starts_with('!');
        if invert {
            pattern = pattern[1..].trim();
        }
        let mut cleaned = String::new();
        if !pattern.is_empty() {
            cleaned = clean(pattern);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
        }
        if invert {
            cleaned.insert(0, '!');
        }
        out.push(cleaned);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_all_facts() {
        let text =
            b"test1\n/test2\n/a/file/here\n\n# this is a comment\n! /inverted/abs/path\n!\n! \n";
        assert_eq!(
            parse(text),
            [
                "test1",
                "test2",
                "a/file/here",
                "!inverted/abs/path",
                "!",
                "!"
            ]
        );
    }

    #[test]
    fn comments_only_at_the_first_character() {
        assert_eq!(parse(b"  # x\n#y\n"), ["# x"]);
    }

    #[test]
    fn bom_crlf_and_cleaning() {
        let text = b"\xEF\xBB\xBFdocs/\r\n./a//b/../c\r\n/\r\n  spaced  \r\nlast";
        assert_eq!(parse(text), ["docs", "a/c", "/", "spaced", "last"]);
    }
}
