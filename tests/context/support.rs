//! A temp-dir fixture for building contexts.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rbuild::context::{Context, SelectOptions, Selection};

/// A temporary directory holding a context (and whatever else a test needs).
pub struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    /// An empty context directory.
    pub fn new() -> Fixture {
        Fixture {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// The context root.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Host path of a context-relative path.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes a file (creating parent directories) with an mtime an hour ago, so the
    /// stat cache's racy rule does not apply.
    pub fn file(&self, rel: &str, content: &str) -> &Fixture {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, content).unwrap();
        age(&p);
        self
    }

    /// Creates a symlink `rel` pointing at `target`.
    pub fn symlink(&self, rel: &str, target: &str) -> &Fixture {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, p).unwrap();
        self
    }

    /// Opens the context with the default Dockerfile location and no stat cache.
    pub fn open(&self) -> Context {
        Context::open(self.root(), Some(&self.path("Dockerfile")), None).expect("open context")
    }

    /// Opens the context with a stat cache kept in `cache_dir`.
    pub fn open_cached(&self, cache_dir: &Path) -> Context {
        Context::open(self.root(), Some(&self.path("Dockerfile")), Some(cache_dir))
            .expect("open context")
    }
}

/// Sets a file's mtime an hour in the past.
pub fn age(p: &Path) {
    let f = fs::File::options().write(true).open(p).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
}

/// Selects with default options.
pub fn select(ctx: &Context, sources: &[&str]) -> Selection {
    try_select(ctx, sources, &SelectOptions::default()).expect("select")
}

/// Selects with options.
pub fn try_select(
    ctx: &Context,
    sources: &[&str],
    opts: &SelectOptions,
) -> Result<Selection, rbuild::context::ContextError> {
    let sources: Vec<String> = sources.iter().map(|s| s.to_string()).collect();
    ctx.select(&sources, opts)
}

/// Every path of a selection: a file root by its matched path, a directory root's
/// entries as `matched:entry`.
pub fn listing(sel: &Selection) -> Vec<String> {
    let mut out = Vec::new();
    for r in &sel.roots {
        if r.is_dir() {
            for e in &r.entries {
                out.push(format!("{}:{}", r.matched, e.path));
            }
        } else {
            out.push(r.matched.clone());
        }
    }
    out
}

/// The entry paths of a single directory root.
pub fn entries(sel: &Selection) -> Vec<String> {
    assert_eq!(sel.roots.len(), 1, "one root expected");
    sel.roots[0]
        .entries
        .iter()
        .map(|e| e.path.clone())
        .collect()
}
