//! Docker's path patterns (moby/patternmatcher): the language of `.dockerignore` and
//! `COPY --exclude`.
//!
//! A pattern matches the whole slash-separated path from its root. `*` and `?` stay
//! within one element, `**` spans any number of directories (including none), `[...]`
//! and `\` work as in Go's `filepath.Match`, and every other character is literal. A
//! pattern also matches everything below a directory it matches. Patterns apply in
//! order and the last one that applies wins; a `!` pattern re-includes.
//!
//! Like upstream, each pattern is classified as an exact string, a prefix (`dir/**`), a
//! suffix (`**.txt`, `**/name`) or a general expression; general expressions become a
//! regular expression with the same meaning as the one upstream builds.

mod compile;

use regex::Regex;

use super::glob;
use super::path::clean;
use compile::compile;

/// Why a pattern list was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct PatternError {
    /// The offending pattern, as given.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: String,
}

/// An ordered list of patterns, compiled.
#[derive(Debug, Clone)]
pub struct PatternMatcher {
    patterns: Vec<Pattern>,
    exclusions: bool,
}

/// One compiled pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    text: String,
    exclusion: bool,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Exact,
    Prefix(String),
    Suffix(String),
    Regex(Regex),
}

/// Which patterns matched a directory, handed down to its children during a walk so
/// they need not re-check their ancestors (upstream's `MatchInfo`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchInfo {
    parent_matched: Vec<bool>,
}

impl PatternMatcher {
    /// Compiles `patterns` in order. Each is trimmed, cleaned like Go's
    /// `filepath.Clean`, and may start with `!`; empty ones are dropped.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<PatternMatcher, PatternError> {
        let mut out = Vec::with_capacity(patterns.len());
        let mut exclusions = false;
        for raw in patterns {
            let raw = raw.as_ref();
            let trimmed = raw.trim();
            if trimmed.is_empty() {
                continue;
            }
            let cleaned = clean(trimmed);
            let (exclusion, text) = match cleaned.strip_prefix('!') {
                Some("") => {
                    return Err(PatternError {
                        pattern: raw.to_string(),
                        reason: "illegal exclusion pattern: \"!\"".to_string(),
                    });
                }
                Some(rest) => (true, rest.to_string()),
                None => (false, cleaned),
            };
            exclusions |= exclusion;
            let bad = |reason: &str| PatternError {
                pattern: raw.to_string(),
                reason: reason.to_string(),
            };
            glob::validate(&text).map_err(|e| bad(&e.to_string()))?;
            let kind = compile(&text).map_err(|e| bad(&e))?;
            out.push(Pattern {
                text,
                exclusion,
                kind,
            });
        }
        Ok(PatternMatcher {
            patterns: out,
            exclusions,
        })
    }

    /// True when there are no patterns at all.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// True when some pattern is a `!` exception.
    pub fn has_exclusions(&self) -> bool {
        self.exclusions
    }

    /// The compiled patterns, in order.
    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// Whether `path` is matched, checking each pattern against the path and each of
    /// its ancestors (upstream's `MatchesOrParentMatches`).
    pub fn matches_or_parent_matches(&self, path: &str) -> bool {
        let parents = ancestors(path);
        let mut matched = false;
        for p in &self.patterns {
            if p.exclusion != matched {
                continue;
            }
            let hit = p.matches(path) || parents.iter().any(|a| p.matches(a));
            if hit {
                matched = !p.exclusion;
            }
        }
        matched
    }

    /// Whether `path` is matched, given what matched its parent directory (the
    /// default [`MatchInfo`] means "unknown": ancestors are then checked directly).
    /// Returns the information to hand to `path`'s children. This is what Docker's
    /// context walk uses (upstream's `MatchesUsingParentResults`).
    pub fn matches_using_parent_results(
        &self,
        path: &str,
        parent: &MatchInfo,
    ) -> (bool, MatchInfo) {
        let known = parent.parent_matched.len() == self.patterns.len() && !self.is_empty();
        let parents = if known { Vec::new() } else { ancestors(path) };
        let mut matched = false;
        let mut info = vec![false; self.patterns.len()];
        for (i, p) in self.patterns.iter().enumerate() {
            let mut hit = known && parent.parent_matched[i];
            if !hit {
                if p.exclusion != matched {
                    continue;
                }
                hit = p.matches(path) || (!known && parents.iter().any(|a| p.matches(a)));
            }
            info[i] = hit;
            if hit {
                matched = !p.exclusion;
            }
        }
        (
            matched,
            MatchInfo {
                parent_matched: info,
            },
        )
    }

    /// Whether a directory that is excluded must still be walked because an exception
    /// could re-include something below it (upstream fsutil's pruning rule: with only
    /// literal exceptions, walk only directories on the way to one).
    pub fn must_walk_excluded_dir(&self, dir: &str) -> bool {
        self.exclusions && self.may_reach_below(dir, true)
    }

    /// Whether an ordinary (non-`!`) pattern could match something below `dir` that
    /// does not match `dir` itself (the same rule, for include patterns).
    pub fn may_match_below(&self, dir: &str) -> bool {
        self.may_reach_below(dir, false)
    }

    fn may_reach_below(&self, dir: &str, exclusions: bool) -> bool {
        let dir_slash = format!("{dir}/");
        let mut any = false;
        for p in self.patterns.iter().filter(|p| p.exclusion == exclusions) {
            let stem = p.without_trailing_glob();
            if stem.contains(['*', '[', ']', '?', '^', '\\']) {
                return true;
            }
            any |= format!("{stem}/").starts_with(&dir_slash);
        }
        any
    }
}

impl Pattern {
    /// The cleaned pattern, without its `!`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True for a `!` exception.
    pub fn is_exclusion(&self) -> bool {
        self.exclusion
    }

    /// True when the pattern matches `path` itself (not through an ancestor).
    pub fn matches(&self, path: &str) -> bool {
        match &self.kind {
            Kind::Exact => path == self.text,
            Kind::Prefix(prefix) => path.starts_with(prefix.as_str()),
            Kind::Suffix(suffix) => {
                path.ends_with(suffix.as_str())
                    || suffix.strip_prefix('/').is_some_and(|bare| path == bare)
            }
            Kind::Regex(re) => re.is_match(path),
        }
    }

    fn without_trailing_glob(&self) -> &str {
        let t = self.text.strip_suffix("/**").unwrap_or(&self.text);
        t.strip_suffix("/*").unwrap_or(t)
    }
}

/// The ancestors of `path`, shortest first, as Go's `filepath.Dir` + split yields them.
fn ancestors(path: &str) -> Vec<String> {
    let Some(slash) = path.rfind('/') else {
        return Vec::new();
    };
    let dir = clean(&path[..=slash]);
    if dir == "." {
        return Vec::new();
    }
    let parts: Vec<&str> = dir.split('/').collect();
    (1..=parts.len()).map(|n| parts[..n].join("/")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ignored(patterns: &[&str], path: &str) -> bool {
        PatternMatcher::new(patterns)
            .unwrap()
            .matches_or_parent_matches(path)
    }

    #[test]
    fn classification_follows_upstream() {
        let kind = |p: &str| match compile(p).unwrap() {
            Kind::Exact => "exact",
            Kind::Prefix(_) => "prefix",
            Kind::Suffix(_) => "suffix",
            Kind::Regex(_) => "regex",
        };
        assert_eq!(kind("docs"), "exact");
        assert_eq!(kind("a.b+c"), "exact");
        assert_eq!(kind("dir/**"), "prefix");
        assert_eq!(kind("**"), "suffix");
        assert_eq!(kind("**file"), "suffix");
        assert_eq!(kind("**/dir"), "suffix");
        assert_eq!(kind("**/*.txt"), "regex");
        assert_eq!(kind("*.md"), "regex");
        assert_eq!(kind("a**/*.txt"), "regex");
        assert_eq!(kind("a/*.txt**"), "regex");
    }

    #[test]
    fn suffix_patterns_match_bare_names_and_suffixes() {
        assert!(ignored(&["**file"], "xfile"));
        assert!(ignored(&["**/dir"], "dir"));
        assert!(ignored(&["**/dir"], "a/b/dir"));
        assert!(!ignored(&["**/dir"], "a/bdir"));
    }

    #[test]
    fn regex_metacharacters_and_newlines() {
        assert!(ignored(&["a.|)$(}+{bc"], "a.|)$(}+{bc"));
        assert!(
            ignored(&["f*"], "f\nx"),
            "* matches a newline, like [^/]* in Go"
        );
        assert!(ignored(&["f*/**"], "f/x"));
        assert!(
            !ignored(&["f*/**"], "f/\nx"),
            "a trailing ** is .*, which stops at a newline"
        );
    }

    #[test]
    fn reversed_ranges_are_rejected() {
        let err = PatternMatcher::new(&["[Local-Only]/"]).unwrap_err();
        assert_eq!(err.reason, "syntax error in pattern");
    }

    #[test]
    fn exclusion_syntax() {
        let err = PatternMatcher::new(&["!"]).unwrap_err();
        assert_eq!(err.reason, "illegal exclusion pattern: \"!\"");
        let m = PatternMatcher::new(&["  *.go ", "", " !fileutils.go  "]).unwrap();
        assert_eq!(m.patterns().len(), 2);
        assert!(m.patterns()[1].is_exclusion());
        assert_eq!(m.patterns()[1].as_str(), "fileutils.go");
    }

    #[test]
    fn parent_results_agree_with_direct_checks() {
        let m = PatternMatcher::new(&["**", "!util/docker/web", "util/docker/web/foo"]).unwrap();
        let mut info = MatchInfo::default();
        let mut last = false;
        let mut walked = String::new();
        for part in ["util", "docker", "web", "foo"] {
            if !walked.is_empty() {
                walked.push('/');
            }
            walked.push_str(part);
            let (hit, next) = m.matches_using_parent_results(&walked, &info);
            assert_eq!(hit, m.matches_or_parent_matches(&walked), "{walked}");
            info = next;
            last = hit;
        }
        assert!(last);
    }

    #[test]
    fn pruning_rule() {
        let m = PatternMatcher::new(&["docs", "!docs/README.md"]).unwrap();
        assert!(m.must_walk_excluded_dir("docs"));
        assert!(!m.must_walk_excluded_dir("other"));
        let m = PatternMatcher::new(&["docs"]).unwrap();
        assert!(!m.must_walk_excluded_dir("docs"));
        let m = PatternMatcher::new(&["*", "!**/keep"]).unwrap();
        assert!(m.must_walk_excluded_dir("anything"));
        let m = PatternMatcher::new(&["*", "!src/**"]).unwrap();
        assert!(m.must_walk_excluded_dir("src"));
        assert!(!m.must_walk_excluded_dir("lib"));
        let m = PatternMatcher::new(&["a/b/c.txt"]).unwrap();
        assert!(m.may_match_below("a"));
        assert!(m.may_match_below("a/b"));
        assert!(!m.may_match_below("a/x"));
        assert!(
            PatternMatcher::new(&["**/c.txt"])
                .unwrap()
                .may_match_below("q")
        );
    }
}
