//! COPY/ADD source selection against Docker's rules.

use rbuild::context::{ContextError, DirTree, Kind, SelectOptions, Tree, select as select_in};
use rbuild::digest::Digest;

use crate::support::{Fixture, entries, listing, select, try_select};

fn opts() -> SelectOptions {
    SelectOptions::default()
}

fn excluding(patterns: &[&str]) -> SelectOptions {
    SelectOptions {
        excludes: patterns.iter().map(|s| s.to_string()).collect(),
        ..opts()
    }
}

fn parents() -> SelectOptions {
    SelectOptions {
        parents: true,
        ..opts()
    }
}

#[test]
fn a_file_source_is_the_file_with_its_digest() {
    let fx = Fixture::new();
    fx.file("deps.txt", "serde\n").file("other/x", "x");
    let ctx = fx.open();
    let sel = select(&ctx, &["deps.txt"]);
    assert_eq!(sel.roots.len(), 1);
    let r = &sel.roots[0];
    assert!(!r.is_dir());
    assert_eq!(r.name(), "deps.txt");
    assert_eq!(r.digest, Some(Digest::of(b"serde\n")));
    assert_eq!(
        r.host_path.as_deref(),
        Some(ctx.root().join("deps.txt").as_path())
    );
    // Naming one file needs no walk of the context.
    assert_eq!(ctx.stats().entries_walked, 0);
    assert_eq!(ctx.stats().files_hashed, 1);
    assert_eq!(ctx.stats().bytes_hashed, 6);
}

#[test]
fn a_directory_source_means_its_contents_in_layer_order() {
    let fx = Fixture::new();
    fx.file("src/b.rs", "b")
        .file("src/a/mod.rs", "m")
        .file("src/a.txt", "t")
        .symlink("src/link", "b.rs");
    let ctx = fx.open();
    for source in ["src", "src/", "./src/.", "/src"] {
        let sel = select(&ctx, &[source]);
        assert_eq!(
            entries(&sel),
            ["a", "a/mod.rs", "a.txt", "b.rs", "link"],
            "{source}"
        );
        let r = &sel.roots[0];
        assert!(r.is_dir());
        let link = &r.entries[4];
        assert_eq!(
            link.meta.kind,
            Kind::Symlink {
                target: "b.rs".into()
            }
        );
        assert_eq!(link.digest, None);
        assert_eq!(r.entries[3].digest, Some(Digest::of(b"b")));
        assert_eq!(
            r.entry_host_path(&r.entries[1]).unwrap(),
            ctx.root().join("src/a/mod.rs")
        );
    }
    // `.` and `/` are the whole context.
    assert_eq!(entries(&select(&ctx, &["."])).len(), 6);
    assert_eq!(entries(&select(&ctx, &["/"])).len(), 6);
}

#[test]
fn wildcards_follow_filepath_match() {
    let fx = Fixture::new();
    fx.file("a.txt", "a")
        .file("b.txt", "b")
        .file("c.md", "c")
        .file("sub/d.txt", "d")
        .file("home.txt", "h")
        .file("homer/x", "x")
        .file("a*b", "star")
        .file("axb", "not a star");
    let ctx = fx.open();
    // `*` never crosses `/`.
    assert_eq!(
        listing(&select(&ctx, &["*.txt"])),
        ["a.txt", "b.txt", "home.txt"]
    );
    assert_eq!(listing(&select(&ctx, &["*/*.txt"])), ["sub/d.txt"]);
    assert_eq!(listing(&select(&ctx, &["[ab].txt"])), ["a.txt", "b.txt"]);
    assert_eq!(listing(&select(&ctx, &["?.md"])), ["c.md"]);
    // A matching directory is taken whole.
    assert_eq!(listing(&select(&ctx, &["hom*"])), ["home.txt", "homer:x"]);
    // Escapes work inside a pattern; a source without wildcards is taken literally
    // (BuildKit), so `a\*b` names a file with a backslash in it.
    assert_eq!(listing(&select(&ctx, &["a[*]b"])), ["a*b"]);
    assert_eq!(listing(&select(&ctx, &["?\\*b"])), ["a*b"]);
    assert!(try_select(&ctx, &["a\\*b"], &opts()).is_err());
    // Several sources keep their order.
    assert_eq!(
        listing(&select(&ctx, &["c.md", "a.txt"])),
        ["c.md", "a.txt"]
    );
}

#[test]
fn a_wildcard_matching_nothing_selects_nothing() {
    let fx = Fixture::new();
    fx.file("package.json", "{}");
    let ctx = fx.open();
    // BuildKit: `COPY package.json yarn.* /app/` works without a yarn.lock.
    let sel = select(&ctx, &["package.json", "yarn.*"]);
    assert_eq!(listing(&sel), ["package.json"]);
    let strict = SelectOptions {
        allow_empty_wildcard: false,
        ..opts()
    };
    let err = try_select(&ctx, &["yarn.*"], &strict).unwrap_err();
    assert_eq!(
        err.to_string(),
        "failed to compute cache key: \"/yarn.*\": not found"
    );
    // A malformed pattern is an error, not an empty match.
    let err = try_select(&ctx, &["[a-"], &opts()).unwrap_err();
    assert!(
        matches!(err, ContextError::BadSourcePattern { .. }),
        "{err}"
    );
    // The directory before the wildcard must exist.
    let err = try_select(&ctx, &["missing/*.txt"], &opts()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "failed to compute cache key: \"/missing\": not found"
    );
}

#[test]
fn a_missing_source_is_an_error_naming_it() {
    let fx = Fixture::new();
    fx.file("a", "a");
    let ctx = fx.open();
    let err = try_select(&ctx, &["a", "missing.txt"], &opts()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "failed to compute cache key: \"/missing.txt\": not found"
    );
    let err = try_select(&ctx, &["a/b"], &opts()).unwrap_err();
    assert!(matches!(err, ContextError::NotFound { .. }), "{err}");
}

#[test]
fn a_source_above_the_root_is_forbidden() {
    let fx = Fixture::new();
    fx.file("x", "x");
    let ctx = fx.open();
    for bad in ["../x", "a/../../x", ".."] {
        let err = try_select(&ctx, &[bad], &opts()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("forbidden path outside the build context: {bad}")
        );
    }
    // A leading `/` is the root: `/../x` is `/x`.
    assert_eq!(listing(&select(&ctx, &["/../x"])), ["x"]);
}

#[test]
fn symlinks_pointing_out_of_the_context() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), "outside").unwrap();
    let fx = Fixture::new();
    let rel_out = format!(
        "../{}/secret",
        outside.path().file_name().unwrap().to_str().unwrap()
    );
    // The fixture root and `outside` are siblings in the temp dir.
    assert_eq!(fx.root().parent(), outside.path().parent());
    fx.file("real.txt", "real")
        .symlink("rel", &rel_out)
        .symlink("abs", outside.path().join("secret").to_str().unwrap())
        .symlink("absdir", outside.path().to_str().unwrap())
        .symlink("good", "real.txt");
    let ctx = fx.open();

    // Inside a directory source, links are copied as links.
    let sel = select(&ctx, &["."]);
    let rel = sel.roots[0]
        .entries
        .iter()
        .find(|e| e.path == "rel")
        .unwrap();
    assert_eq!(rel.meta.link_target(), Some(rel_out.as_str()));

    // Followed as sources, they resolve inside the context, where nothing is found.
    for source in ["rel", "abs", "absdir/secret"] {
        let err = try_select(&ctx, &[source], &opts()).unwrap_err();
        match &err {
            ContextError::NotFound { escaped, .. } => assert!(escaped, "{source}: {err}"),
            other => panic!("{source}: unexpected {other}"),
        }
        assert!(
            err.to_string().contains("outside the build context"),
            "{err}"
        );
    }
    // Nothing outside was ever read: only real.txt, once, by the `.` selection.
    assert_eq!((ctx.stats().files_hashed, ctx.stats().bytes_hashed), (1, 4));

    // A link to a file inside is followed; the file keeps the link's name.
    let sel = select(&ctx, &["good"]);
    let r = &sel.roots[0];
    assert_eq!(
        (r.matched.as_str(), r.path.as_str(), r.name()),
        ("good", "real.txt", "good")
    );
    assert_eq!(r.digest, Some(Digest::of(b"real")));
}

#[test]
fn an_absolute_link_inside_resolves_against_the_context_root() {
    let fx = Fixture::new();
    fx.file("etc/conf", "inside").symlink("conf", "/etc/conf");
    let ctx = fx.open();
    let sel = select(&ctx, &["conf"]);
    assert_eq!(sel.roots[0].path, "etc/conf");
    assert_eq!(sel.roots[0].digest, Some(Digest::of(b"inside")));
}

#[test]
fn symlink_loops_are_an_error() {
    let fx = Fixture::new();
    fx.symlink("a", "b").symlink("b", "a");
    let err = try_select(&fx.open(), &["a"], &opts()).unwrap_err();
    assert!(matches!(err, ContextError::TooManyLinks { .. }), "{err}");
}

#[test]
fn exclude_patterns_apply_below_each_source() {
    let fx = Fixture::new();
    fx.file("docs/a.md", "a")
        .file("docs/b.txt", "b")
        .file("docs/keep.md", "k")
        .file("docs/sub/c.md", "c");
    let ctx = fx.open();
    let sel = try_select(&ctx, &["docs"], &excluding(&["*.md"])).unwrap();
    assert_eq!(entries(&sel), ["b.txt", "sub", "sub/c.md"]);
    let sel = try_select(&ctx, &["docs"], &excluding(&["**/*.md", "!keep.md"])).unwrap();
    assert_eq!(entries(&sel), ["b.txt", "keep.md", "sub"]);
    // A re-included file brings its excluded directory along.
    let sel = try_select(&ctx, &["docs"], &excluding(&["sub", "!sub/c.md"])).unwrap();
    assert_eq!(
        entries(&sel),
        ["a.md", "b.txt", "keep.md", "sub", "sub/c.md"]
    );
    let err = try_select(&ctx, &["docs"], &excluding(&["["])).unwrap_err();
    assert!(err.to_string().contains("--exclude"), "{err}");
}

#[test]
fn exclude_applies_to_files_matched_by_a_wildcard_as_documented() {
    // Dockerfile reference: `COPY --exclude=*.txt hom* /mydir/`.
    let fx = Fixture::new();
    fx.file("home.txt", "t")
        .file("homer.md", "m")
        .file("hom/x.txt", "x")
        .file("hom/y", "y");
    let ctx = fx.open();
    let sel = try_select(&ctx, &["hom*"], &excluding(&["*.txt"])).unwrap();
    assert_eq!(listing(&sel), ["hom:y", "homer.md"]);
    let sel = try_select(&ctx, &["hom*"], &excluding(&["*.txt", "*.md"])).unwrap();
    assert_eq!(listing(&sel), ["hom:y"]);
}

/// BuildKit's `testExcludedFilesOnCopy` layout and expectations.
#[test]
fn buildkit_exclude_integration_cases() {
    let fx = Fixture::new();
    fx.file("dir1/file-101.png", "2")
        .file("dir1/file-102.txt", "3")
        .file("dir1/file-103.jpeg", "4")
        .file("dir2/file-201.pdf", "6")
        .file("dir2/file-202.jpeg", "7")
        .file("dir2/file-203.png", "8")
        .file("dir3/file-301.mp3", "9")
        .file("dir3/file-302.mpeg", "10")
        .file("dir4/file-401.txt", "11")
        .symlink("dir4/file-402.txt", "file-401.txt")
        .symlink("dir4/file-403.txt", "file-404.txt");
    let ctx = fx.open();
    let files = |sel: &rbuild::context::Selection| -> Vec<String> {
        listing(sel)
            .into_iter()
            .filter(|p| p.contains("file-"))
            .collect()
    };
    let sel = try_select(&ctx, &["."], &excluding(&["*/*.png", "*/*.jpeg"])).unwrap();
    assert_eq!(
        files(&sel),
        [
            ":dir1/file-102.txt",
            ":dir2/file-201.pdf",
            ":dir3/file-301.mp3",
            ":dir3/file-302.mpeg",
            ":dir4/file-401.txt",
            ":dir4/file-402.txt",
            ":dir4/file-403.txt"
        ]
    );
    let sel = try_select(&ctx, &["dir3/"], &excluding(&["*.mp3"])).unwrap();
    assert_eq!(files(&sel), ["dir3:file-302.mpeg"]);
    let sel = try_select(
        &ctx,
        &["dir*"],
        &excluding(&["*.mp3", "*.jpeg", "*.png", "*.pdf", "*.txt"]),
    )
    .unwrap();
    assert_eq!(files(&sel), ["dir3:file-302.mpeg"]);
    let sel = try_select(
        &ctx,
        &["dir*"],
        &excluding(&["*.mp*", "*.jpeg", "*.png", "*.pdf"]),
    )
    .unwrap();
    assert_eq!(
        files(&sel),
        [
            "dir1:file-102.txt",
            "dir4:file-401.txt",
            "dir4:file-402.txt",
            "dir4:file-403.txt"
        ]
    );
    let sel = try_select(&ctx, &["dir*"], &excluding(&["*"])).unwrap();
    assert_eq!(sel.roots.len(), 4);
    assert!(sel.roots.iter().all(|r| r.entries.is_empty()));
}

#[test]
fn parents_keep_the_source_path() {
    let fx = Fixture::new();
    fx.file("x/y/a.txt", "a")
        .file("x/y/b.md", "b")
        .file("x/z/c.txt", "c")
        .file("w/d.txt", "d");
    let ctx = fx.open();
    let sel = try_select(&ctx, &["x/y/a.txt"], &parents()).unwrap();
    assert_eq!(sel.roots[0].path, "");
    assert_eq!(entries(&sel), ["x", "x/y", "x/y/a.txt"]);
    let sel = try_select(&ctx, &["x/*/*.txt"], &parents()).unwrap();
    assert_eq!(entries(&sel), ["x", "x/y", "x/y/a.txt", "x/z", "x/z/c.txt"]);
    // `/./` marks where the kept part starts.
    let sel = try_select(&ctx, &["x/./y/a.txt"], &parents()).unwrap();
    assert_eq!(sel.roots[0].path, "x");
    assert_eq!(entries(&sel), ["y", "y/a.txt"]);
    // A directory brings everything below it.
    let sel = try_select(&ctx, &["x/y"], &parents()).unwrap();
    assert_eq!(entries(&sel), ["x", "x/y", "x/y/a.txt", "x/y/b.md"]);
    // `**` works as in patterns.
    let sel = try_select(&ctx, &["**/*.txt"], &parents()).unwrap();
    assert_eq!(
        entries(&sel),
        ["w", "w/d.txt", "x", "x/y", "x/y/a.txt", "x/z", "x/z/c.txt"]
    );
    // A named path must exist.
    let err = try_select(&ctx, &["x/nope.txt"], &parents()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "failed to compute cache key: \"/x/nope.txt\": not found"
    );
    // ... but a wildcard may match nothing.
    let sel = try_select(&ctx, &["x/*.nope"], &parents()).unwrap();
    assert!(entries(&sel).is_empty());
}

#[test]
fn selection_digest_tracks_content_mode_and_names_not_times() {
    let fx = Fixture::new();
    fx.file("app/main.rs", "fn main() {}")
        .file("app/lib.rs", "pub fn f() {}");
    let ctx = fx.open();
    let base = select(&ctx, &["app"]).digest();
    assert_eq!(select(&ctx, &["app"]).digest(), base, "deterministic");

    // A new mtime alone does not change it.
    std::fs::write(fx.path("app/main.rs"), "fn main() {}").unwrap();
    assert_eq!(select(&fx.open(), &["app"]).digest(), base);
    // Content does.
    std::fs::write(fx.path("app/main.rs"), "fn main() { }").unwrap();
    let changed = select(&fx.open(), &["app"]).digest();
    assert_ne!(changed, base);
    std::fs::write(fx.path("app/main.rs"), "fn main() {}").unwrap();
    assert_eq!(select(&fx.open(), &["app"]).digest(), base);
    // Permission bits do.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        fx.path("app/main.rs"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    assert_ne!(select(&fx.open(), &["app"]).digest(), base);
    std::fs::set_permissions(
        fx.path("app/main.rs"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    assert_eq!(select(&fx.open(), &["app"]).digest(), base);
    // Names do.
    std::fs::rename(fx.path("app/lib.rs"), fx.path("app/lib2.rs")).unwrap();
    assert_ne!(select(&fx.open(), &["app"]).digest(), base);
}

#[test]
fn context_owners_are_not_part_of_the_digest() {
    let fx = Fixture::new();
    fx.file("f", "x");
    let before = select(&fx.open(), &["f"]);
    assert!(!before.keeps_ownership);
    if nix::unistd::geteuid().is_root() {
        std::os::unix::fs::lchown(fx.path("f"), Some(1234), Some(5678)).unwrap();
        assert_eq!(select(&fx.open(), &["f"]).digest(), before.digest());
        // A plain directory tree (an image snapshot) keeps owners.
        let tree = DirTree::open(fx.root()).unwrap();
        let sel = select_in(&tree, &["f".to_string()], &opts()).unwrap();
        assert!(sel.keeps_ownership);
        assert_ne!(sel.digest(), before.digest());
    } else {
        eprintln!("skipping the chown half: not root");
    }
}

#[test]
fn a_plain_directory_tree_selects_like_the_context() {
    let fx = Fixture::new();
    fx.file("usr/bin/tool", "bin")
        .file("usr/lib/libx.so.1", "lib")
        .symlink("usr/lib/libx.so", "libx.so.1")
        .symlink("lib", "usr/lib")
        .file(".dockerignore", "usr\n");
    let tree = DirTree::open(fx.root()).unwrap();
    let sel = select_in(&tree, &["/lib/libx.so".to_string()], &opts()).unwrap();
    assert_eq!(sel.roots[0].path, "usr/lib/libx.so.1");
    assert_eq!(sel.roots[0].digest, Some(Digest::of(b"lib")));
    let sel = select_in(&tree, &["usr/*".to_string()], &opts()).unwrap();
    assert_eq!(
        listing(&sel),
        ["usr/bin:tool", "usr/lib:libx.so", "usr/lib:libx.so.1"]
    );
    // No ignore rules apply to a plain tree.
    assert!(tree.lstat("usr").unwrap().is_some());
}
