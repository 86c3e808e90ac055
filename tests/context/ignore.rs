//! `.dockerignore` applied to real contexts: which file is used, re-inclusion below an
//! excluded directory, anchoring at the root.

use rbuild::context::{Context, Tree};

use crate::support::{Fixture, entries, select};

fn visible(ctx: &Context) -> Vec<String> {
    ctx.walk()
        .unwrap()
        .entries()
        .iter()
        .map(|e| e.path.clone())
        .collect()
}

#[test]
fn patterns_are_anchored_at_the_context_root() {
    let fx = Fixture::new();
    fx.file("README.md", "r")
        .file("docs/guide.md", "g")
        .file("main.go", "m")
        .file(".dockerignore", "*.md\n");
    let ctx = fx.open();
    assert_eq!(
        visible(&ctx),
        [".dockerignore", "docs", "docs/guide.md", "main.go"]
    );
    // `**/*.md` reaches every level.
    fx.file(".dockerignore", "**/*.md\n");
    assert_eq!(visible(&fx.open()), [".dockerignore", "docs", "main.go"]);
}

#[test]
fn an_exception_re_includes_below_an_excluded_directory() {
    let fx = Fixture::new();
    fx.file("docs/README.md", "keep")
        .file("docs/other.md", "drop")
        .file("docs/deep/x.md", "drop")
        .file("src/a.rs", "a")
        .file(".dockerignore", "docs\n!docs/README.md\n");
    let ctx = fx.open();
    assert_eq!(
        visible(&ctx),
        [".dockerignore", "docs", "docs/README.md", "src", "src/a.rs"]
    );
    // The same through COPY: the excluded directory appears because of its child.
    let sel = select(&ctx, &["."]);
    assert_eq!(
        entries(&sel),
        [".dockerignore", "docs", "docs/README.md", "src", "src/a.rs"]
    );
    // And through direct lookups without a walk.
    let fresh = fx.open();
    assert!(fresh.lstat("docs/README.md").unwrap().is_some());
    assert!(fresh.lstat("docs/other.md").unwrap().is_none());
    assert!(fresh.lstat("docs").unwrap().is_some());
}

#[test]
fn a_wildcard_exception_walks_excluded_directories() {
    let fx = Fixture::new();
    fx.file("a/b/keep.txt", "k")
        .file("a/b/drop.bin", "d")
        .file("c/drop.bin", "d")
        .file(".dockerignore", "*\n!**/*.txt\n");
    assert_eq!(visible(&fx.open()), ["a", "a/b", "a/b/keep.txt"]);
}

#[test]
fn an_excluded_directory_without_exceptions_is_pruned() {
    let fx = Fixture::new();
    fx.file("node_modules/x/index.js", "x")
        .file("app.js", "a")
        .file(".dockerignore", "node_modules\n");
    // An unreadable directory inside the pruned one must not matter (as root the
    // permissions are not enforced, so then this only checks the listing).
    let locked = fx.path("node_modules/x");
    std::fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    let names = visible(&fx.open());
    std::fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    assert_eq!(names, [".dockerignore", "app.js"]);
}

#[test]
fn dockerfile_specific_ignore_file_takes_precedence() {
    let fx = Fixture::new();
    fx.file("a.txt", "a")
        .file("b.txt", "b")
        .file("build/app.Dockerfile", "FROM scratch\n")
        .file("build/app.Dockerfile.dockerignore", "b.txt\n")
        .file(".dockerignore", "a.txt\n");
    let df = fx.path("build/app.Dockerfile");
    let ctx = Context::open(fx.root(), Some(&df), None).unwrap();
    assert!(ctx.lstat("a.txt").unwrap().is_some());
    assert!(ctx.lstat("b.txt").unwrap().is_none());
    assert_eq!(
        ctx.ignore_file(),
        Some(fx.path("build/app.Dockerfile.dockerignore").as_path())
    );
    // Without the specific file, the context's .dockerignore applies.
    std::fs::remove_file(fx.path("build/app.Dockerfile.dockerignore")).unwrap();
    let ctx = Context::open(fx.root(), Some(&df), None).unwrap();
    assert!(ctx.lstat("a.txt").unwrap().is_none());
    assert!(ctx.lstat("b.txt").unwrap().is_some());
}

#[test]
fn dockerfile_and_ignore_file_are_subject_to_the_patterns() {
    let fx = Fixture::new();
    fx.file("Dockerfile", "FROM scratch\n")
        .file("app.txt", "a")
        .file(".dockerignore", "Dockerfile\n.dockerignore\n");
    let ctx = fx.open();
    assert_eq!(entries(&select(&ctx, &["."])), ["app.txt"]);
    let err = ctx
        .select(&["Dockerfile".to_string()], &Default::default())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "failed to compute cache key: \"/Dockerfile\": not found"
    );
}

#[test]
fn comments_blank_lines_and_leading_slashes() {
    let fx = Fixture::new();
    fx.file("secret.key", "s")
        .file("# not a comment", "x")
        .file("keep", "k")
        .file(
            ".dockerignore",
            "# comment\n\n   /secret.key   \n  # not a comment\n",
        );
    assert_eq!(visible(&fx.open()), [".dockerignore", "keep"]);
}

#[test]
fn trailing_slash_also_matches_files() {
    let fx = Fixture::new();
    fx.file("docs", "a file named docs")
        .file(".dockerignore", "docs/\n");
    assert_eq!(visible(&fx.open()), [".dockerignore"]);
}

/// tonistiigi/fsutil `TestWalkerExclude`.
#[test]
fn fsutil_walker_exclude() {
    let fx = Fixture::new();
    fx.file("bar", "")
        .file("foo2", "")
        .file("foo/bar2", "")
        .file("Dockerfile.dockerignore", "foo*\n!foo/bar2\n");
    let names: Vec<String> = visible(&fx.open())
        .into_iter()
        .filter(|p| p != "Dockerfile.dockerignore")
        .collect();
    assert_eq!(names, ["bar", "foo", "foo/bar2"]);
}

/// tonistiigi/fsutil `TestFilteredOpenInvert`: exceptions and exclusions nest.
#[test]
fn fsutil_filtered_open_invert() {
    let fx = Fixture::new();
    fx.file("foo/bar/baz/x", "").file("foo/bar/baz/y", "").file(
        ".dockerignore",
        "foo\n!foo/bar\nfoo/bar/baz\n!foo/bar/baz/x\n",
    );
    let lazy = fx.open();
    assert!(lazy.lstat("foo/bar/baz/x").unwrap().is_some());
    assert!(lazy.lstat("foo/bar/baz/y").unwrap().is_none());
    assert_eq!(
        visible(&fx.open()),
        [
            ".dockerignore",
            "foo",
            "foo/bar",
            "foo/bar/baz",
            "foo/bar/baz/x"
        ]
    );
}
