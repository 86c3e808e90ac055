//! Every fact of `/work/shared/conformance/dockerignore/CASES.md` (upstream
//! moby/patternmatcher test tables), checked through the matcher's entry points and,
//! where the path can exist on disk, through a real context walk.

use rbuild::context::{MatchInfo, PatternMatcher, Tree, parse_ignore_file};

use crate::support::Fixture;

/// (id, patterns, path, ignored?)
const MATCH: &[(&str, &[&str], &str, bool)] = &[
    ("M1", &["**"], "file", true),
    ("M2", &["**"], "dir/file", true),
    ("M3", &["**/"], "file", true),
    ("M4", &["**"], "/", true),
    ("M5", &["**/**"], "dir/file", true),
    ("M6", &["dir/**"], "dir/file", true),
    ("M7", &["dir/**"], "dir/dir2/file", true),
    ("M8", &["abc/**"], "abc", false),
    ("M9", &["abc/**"], "abc/def", true),
    ("M10", &["**/dir"], "dir", true),
    ("M11", &["**/dir"], "dir/file", true),
    ("M12", &["**/dir2/*"], "dir/dir2/file", true),
    ("M13", &["**/dir2/**"], "dir/dir2/dir3/file", true),
    ("M14", &["**file"], "file", true),
    ("M15", &["**file"], "dir/file", true),
    ("M16", &["**/file"], "dir/file", true),
    ("M17", &["**/file*"], "dir/dir/file", true),
    ("M18", &["**/file*"], "dir/dir/file.txt", true),
    ("M19", &["**/file*.txt"], "dir/dir/file.txt", true),
    ("M20", &["**/**/*.txt"], "dir/dir/file.txt", true),
    ("M21", &["**/**/*.txt2"], "dir/dir/file.txt", false),
    ("M22", &["**/*.txt"], "file.txt", true),
    ("M23", &["**/**/*.txt"], "file.txt", true),
    ("M24", &["a**/*.txt"], "a/file.txt", true),
    ("M25", &["a**/*.txt"], "a/dir/file.txt", true),
    ("M26", &["a/*.txt"], "a/dir/file.txt", false),
    ("M27", &["a/*.txt"], "a/file.txt", true),
    ("M28", &["a/*.txt**"], "a/file.txt", true),
    ("M29", &["a[b-d]e"], "ae", false),
    ("M30", &["a[b-d]e"], "ace", true),
    ("M31", &["a[b-d]e"], "aae", false),
    ("M32", &["a[^b-d]e"], "aze", true),
    ("M33", &[".*"], ".foo", true),
    ("M34", &[".*"], "foo", false),
    ("M35", &["abc.def"], "abcdef", false),
    ("M36", &["abc.def"], "abc.def", true),
    ("M37", &["abc?def"], "abcZdef", true),
    ("M38", &["abc?def"], "abcdef", false),
    ("M39", &["a\\\\"], "a\\", true),
    ("M40", &["**/foo/bar"], "foo/bar", true),
    ("M41", &["**/foo/bar"], "dir/foo/bar", true),
    ("M42", &["**/foo/bar"], "dir/dir2/foo/bar", true),
    ("M43", &["**/.foo"], ".foo", true),
    ("M44", &["**/.foo"], "bar.foo", false),
    ("M45", &["a(b)c/def"], "a(b)c/def", true),
    ("M46", &["a.|)$(}+{bc"], "a.|)$(}+{bc", true),
    (
        "M47",
        &["dist/*.whl"],
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        true,
    ),
    ("M48", &["a\\*b"], "a*b", true),
    ("M49", &["a*"], "ab/c", true),
    ("M50", &["a*/b"], "abc/b", true),
    ("M51", &["a*/b"], "a/c/b", false),
    ("M52", &["a*b*c*d*e*/f"], "axbxcxdxe/xxx/f", false),
    ("M53", &["a?b"], "a/b", false),
    ("M54", &["a*b"], "a/b", false),
    ("M55", &["a?b"], "a☺b", true),
    ("M56", &["a???b"], "a☺b", false),
    ("M57", &["a\\*b"], "ab", false),
    ("M58", &["[\\]a]"], "]", true),
    ("M59", &["[x\\-]"], "-", true),
    ("M60", &["*"], "fileutils.go", true),
    ("M61", &["*.go"], "fileutils.go", true),
    ("M62", &["!fileutils.go", "*.go"], "fileutils.go", true),
    ("M63", &["*.go", "!fileutils.go"], "fileutils.go", false),
    ("M64", &["docs", "!docs/README.md"], "docs/README.md", false),
    (
        "M65",
        &["docs/", "!docs/README.md"],
        "docs/README.md",
        false,
    ),
    (
        "M66",
        &["docs/*", "!docs/README.md"],
        "docs/README.md",
        false,
    ),
    (
        "M67",
        &["**", "!util/docker/web"],
        "util/docker/web/foo",
        false,
    ),
    (
        "M68",
        &["**", "!util/docker/web", "util/docker/web/foo"],
        "util/docker/web/foo",
        true,
    ),
    (
        "M69",
        &["**", "!dist/*.whl"],
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        false,
    ),
    ("M70", &[], "/any/path/there", false),
];

#[test]
fn there_are_seventy_match_facts() {
    assert_eq!(MATCH.len(), 70);
}

#[test]
fn matches_or_parent_matches() {
    for &(id, patterns, path, want) in MATCH {
        let m = PatternMatcher::new(patterns).unwrap();
        assert_eq!(
            m.matches_or_parent_matches(path),
            want,
            "{id}: {patterns:?} {path:?}"
        );
    }
}

#[test]
fn matches_using_parent_results_walking_the_parents() {
    for &(id, patterns, path, want) in MATCH {
        let m = PatternMatcher::new(patterns).unwrap();
        // Fed by walking the parents, as the context walk does.
        let mut info = MatchInfo::default();
        let mut hit = false;
        let parts: Vec<&str> = path.split('/').collect();
        for n in 1..=parts.len() {
            let prefix = parts[..n].join("/");
            if prefix.is_empty() && n < parts.len() {
                continue;
            }
            let (h, next) = m.matches_using_parent_results(&prefix, &info);
            hit = h;
            info = next;
        }
        assert_eq!(hit, want, "{id} (walked): {patterns:?} {path:?}");
        // With no parent information.
        let (h, _) = m.matches_using_parent_results(path, &MatchInfo::default());
        assert_eq!(h, want, "{id} (no parent info): {patterns:?} {path:?}");
    }
}

#[test]
fn a_real_context_walk_agrees() {
    for &(id, patterns, path, want) in MATCH {
        if path.starts_with('/') {
            continue; // not a path a context can hold
        }
        let fx = Fixture::new();
        fx.file(path, "x");
        let mut ignore = patterns.join("\n");
        ignore.push('\n');
        // Keep the ignore file itself out of the way of patterns like `**`.
        std::fs::write(fx.path("Dockerfile.dockerignore"), ignore).unwrap();
        let ctx = fx.open();
        let idx = ctx.walk().unwrap();
        let present = idx.get(path).is_some();
        assert_eq!(!present, want, "{id} (walk): {patterns:?} {path:?}");
        // The lazy per-path view (no walk) says the same.
        let fresh = fx.open();
        assert_eq!(
            fresh.lstat(path).unwrap().is_none(),
            want,
            "{id} (lstat): {patterns:?} {path:?}"
        );
    }
}

#[test]
fn malformed_patterns_are_rejected() {
    let err = PatternMatcher::new(&["!"]).unwrap_err();
    assert_eq!(err.reason, "illegal exclusion pattern: \"!\"");
    for bad in ["[", "[]a]", "[-]", "[x-]", "\\", "[a-b-c]", "a["] {
        let err = PatternMatcher::new(&[bad]).unwrap_err();
        assert_eq!(err.reason, "syntax error in pattern", "{bad:?}");
    }
    // Passes the filepath.Match check but is a bad range: an error, never a panic.
    assert!(PatternMatcher::new(&["[Local-Only]/"]).is_err());
}

#[test]
fn a_bad_ignore_file_fails_the_open_naming_the_file() {
    let fx = Fixture::new();
    fx.file(".dockerignore", "ok\n[\n");
    let err = rbuild::context::Context::open(fx.root(), None, None)
        .err()
        .expect("an error");
    let text = err.to_string();
    assert!(text.contains(".dockerignore"), "{text}");
    assert!(text.contains("\"[\""), "{text}");
    assert!(text.contains("syntax error in pattern"), "{text}");
}

#[test]
fn read_all_facts() {
    let text = "test1\n/test2\n/a/file/here\n\n# this is a comment\n! /inverted/abs/path\n!\n! \n";
    assert_eq!(
        parse_ignore_file(text.as_bytes()),
        [
            "test1",
            "test2",
            "a/file/here",
            "!inverted/abs/path",
            "!",
            "!"
        ]
    );
    // `!` alone reads fine but fails when compiled.
    let fx = Fixture::new();
    fx.file(".dockerignore", "!\n");
    assert!(rbuild::context::Context::open(fx.root(), None, None).is_err());
}

#[test]
fn cleaning_and_whitespace() {
    let m = PatternMatcher::new(&["  docs/  ", "", " ! docs/keep "]).unwrap();
    assert_eq!(m.patterns().len(), 2);
    assert_eq!(m.patterns()[0].as_str(), "docs");
    // New() trims and cleans but leaves the inner space of `! docs/keep` (the ignore
    // file reader removes it): it is an exception for " docs/keep".
    assert!(m.patterns()[1].is_exclusion());
    let read = parse_ignore_file(b"  docs/  \n ! docs/keep \n./a//b/\n/c\n");
    assert_eq!(read, ["docs", "!docs/keep", "a/b", "c"]);
}

#[test]
fn the_root_itself_is_never_ignored() {
    let fx = Fixture::new();
    fx.file("a", "1").file(".dockerignore", "**\n");
    let ctx = fx.open();
    assert!(ctx.lstat("").unwrap().is_some());
    assert!(ctx.walk().unwrap().is_empty());
}
