//! The walked context: every visible entry with its metadata, in layer order, so a
//! directory's contents are one contiguous run right after it.

use std::path::PathBuf;

use super::meta::Meta;
use super::path::{cmp_paths, is_within};

/// One entry of the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// Path relative to the context root, `/`-separated, never empty.
    pub path: String,
    /// Its metadata (`lstat`).
    pub meta: Meta,
}

/// A file the walk found but cannot represent: its name or link target is not UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unrepresentable {
    /// The path relative to the root, with invalid bytes replaced.
    pub lossy_path: String,
    /// The host path.
    pub host_path: PathBuf,
}

/// All visible entries of a context, sorted with [`cmp_paths`].
#[derive(Debug, Clone)]
pub struct Index {
    root: Meta,
    entries: Vec<IndexEntry>,
    unrepresentable: Vec<Unrepresentable>,
}

impl Index {
    /// Builds an index; `entries` must already be in [`cmp_paths`] order.
    pub fn new(
        root: Meta,
        entries: Vec<IndexEntry>,
        unrepresentable: Vec<Unrepresentable>,
    ) -> Index {
        debug_assert!(
            entries
                .windows(2)
                .all(|w| cmp_paths(&w[0].path, &w[1].path).is_lt())
        );
        Index {
            root,
            entries,
            unrepresentable,
        }
    }

    /// Metadata of the root directory.
    pub fn root(&self) -> &Meta {
        &self.root
    }

    /// All entries, root excluded, in layer order.
    pub fn entries(&self) -> &[IndexEntry] {
        &self.entries
    }

    /// Number of entries (root excluded).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the context holds nothing visible.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries skipped because their names are not UTF-8.
    pub fn unrepresentable(&self) -> &[Unrepresentable] {
        &self.unrepresentable
    }

    /// Metadata of `path` (`""` is the root), if visible.
    pub fn get(&self, path: &str) -> Option<&Meta> {
        if path.is_empty() {
            return Some(&self.root);
        }
        self.position(path).ok().map(|i| &self.entries[i].meta)
    }

    /// Everything below `dir` (not `dir` itself), in layer order; empty when `dir` is
    /// missing or not a directory.
    pub fn subtree(&self, dir: &str) -> &[IndexEntry] {
        if dir.is_empty() {
            return &self.entries;
        }
        let Ok(at) = self.position(dir) else {
            return &[];
        };
        let rest = &self.entries[at + 1..];
        let len = rest.partition_point(|e| is_within(&e.path, dir));
        &rest[..len]
    }

    fn position(&self, path: &str) -> Result<usize, usize> {
        self.entries.binary_search_by(|e| cmp_paths(&e.path, path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::meta::Kind;

    fn meta(kind: Kind) -> Meta {
        Meta {
            kind,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: 0,
            mtime_ns: 0,
            ctime_ns: 0,
            dev: 0,
            ino: 0,
            nlink: 1,
            rdev: 0,
        }
    }

    #[test]
    fn subtrees_are_contiguous() {
        let paths = ["a", "a/b", "a/b/c", "a/d", "a-x", "a.txt", "b"];
        let entries = paths
            .iter()
            .map(|p| IndexEntry {
                path: p.to_string(),
                meta: meta(if p.ends_with(".txt") {
                    Kind::File
                } else {
                    Kind::Dir
                }),
            })
            .collect();
        let idx = Index::new(meta(Kind::Dir), entries, Vec::new());
        let names = |s: &[IndexEntry]| s.iter().map(|e| e.path.clone()).collect::<Vec<_>>();
        assert_eq!(names(idx.subtree("a")), ["a/b", "a/b/c", "a/d"]);
        assert_eq!(names(idx.subtree("a/b")), ["a/b/c"]);
        assert!(idx.subtree("a.txt").is_empty());
        assert!(idx.subtree("zzz").is_empty());
        assert_eq!(idx.subtree("").len(), 7);
        assert!(idx.get("a/d").is_some());
        assert!(idx.get("a/e").is_none());
        assert!(idx.get("").unwrap().is_dir());
    }
}
