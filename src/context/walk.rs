//! The parallel `lstat` walk of a context directory, applying `.dockerignore` as Docker's
//! context transfer does (tonistiigi/fsutil): an excluded file is skipped, an excluded
//! directory is pruned unless an exception might re-include something below it, and a
//! directory walked only for such exceptions appears only if something inside it does.
//!
//! Directories are read in parallel with rayon; symlinks are never followed. Each
//! directory's results are sorted by name and stitched together in pre-order at the
//! end, which yields the layer order without a global sort.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::error::ContextError;
use super::index::{Index, IndexEntry, Unrepresentable};
use super::meta::Meta;
use super::path::join;
use super::pattern::{MatchInfo, PatternMatcher};

/// Walks `root` (which must be a directory) and returns its visible entries.
pub fn walk(root: &Path, ignore: Option<&PatternMatcher>) -> Result<Index, ContextError> {
    let root_md = fs::metadata(root).map_err(|e| ContextError::io(root, e))?;
    if !root_md.is_dir() {
        return Err(ContextError::NotADirectory {
            path: root.to_path_buf(),
        });
    }
    let ignore = ignore.filter(|m| !m.is_empty());
    let listing = walk_dir(root, "", &MatchInfo::default(), false, ignore)?;
    let mut entries = Vec::with_capacity(listing.count());
    let mut unrepresentable = Vec::new();
    listing.flatten_into(&mut entries, &mut unrepresentable);
    Ok(Index::new(
        Meta::from_metadata(&root_md, None),
        entries,
        unrepresentable,
    ))
}

/// The visible contents of one directory, its subdirectories already walked.
#[derive(Default)]
struct Listing {
    nodes: Vec<Node>,
    unrepresentable: Vec<Unrepresentable>,
}

struct Node {
    entry: IndexEntry,
    children: Listing,
}

impl Listing {
    fn count(&self) -> usize {
        self.nodes.iter().map(|n| 1 + n.children.count()).sum()
    }

    fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    fn flatten_into(self, out: &mut Vec<IndexEntry>, bad: &mut Vec<Unrepresentable>) {
        bad.extend(self.unrepresentable);
        for node in self.nodes {
            out.push(node.entry);
            node.children.flatten_into(out, bad);
        }
    }
}

enum Visited {
    Skip,
    Node(Node),
    Bad(Unrepresentable),
}

fn walk_dir(
    host: &Path,
    rel: &str,
    info: &MatchInfo,
    excluded: bool,
    ignore: Option<&PatternMatcher>,
) -> Result<Listing, ContextError> {
    let reader = match fs::read_dir(host) {
        Ok(r) => r,
        // Upstream tolerates unreadable directories that are excluded anyway.
        Err(e) if excluded && e.kind() == io::ErrorKind::PermissionDenied => {
            return Ok(Listing::default());
        }
        Err(e) => return Err(ContextError::io(host, e)),
    };
    let dirents = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ContextError::io(host, e))?;
    let visited = dirents
        .into_par_iter()
        .with_min_len(16)
        .map(|d| visit(&d, rel, info, ignore))
        .collect::<Result<Vec<_>, _>>()?;
    let mut listing = Listing::default();
    for v in visited {
        match v {
            Visited::Skip => {}
            Visited::Node(n) => listing.nodes.push(n),
            Visited::Bad(b) => listing.unrepresentable.push(b),
        }
    }
    listing
        .nodes
        .sort_unstable_by(|a, b| a.entry.path.cmp(&b.entry.path));
    Ok(listing)
}

fn visit(
    dirent: &fs::DirEntry,
    parent_rel: &str,
    parent_info: &MatchInfo,
    ignore: Option<&PatternMatcher>,
) -> Result<Visited, ContextError> {
    let name = dirent.file_name();
    let host = dirent.path();
    let (name, lossy) = utf8_name(&name);
    let rel = join(parent_rel, &name);
    let io_err = |e| ContextError::io(&host, e);
    let ft = dirent.file_type().map_err(io_err)?;

    let (excluded, info) = match ignore {
        Some(m) => m.matches_using_parent_results(&rel, parent_info),
        None => (false, MatchInfo::default()),
    };
    if excluded && !(ft.is_dir() && ignore.is_some_and(|m| m.must_walk_excluded_dir(&rel))) {
        return Ok(Visited::Skip);
    }
    let md = match dirent.metadata() {
        Ok(md) => md,
        // Vanished between readdir and lstat: it is simply not part of the context.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Visited::Skip),
        Err(e) => return Err(io_err(e)),
    };
    let mut target = None;
    let mut target_lossy = false;
    if md.file_type().is_symlink() {
        let t = fs::read_link(&host).map_err(io_err)?;
        let (t, l) = utf8_name(t.as_os_str());
        target = Some(t);
        target_lossy = l;
    }
    if (lossy || target_lossy) && !excluded {
        return Ok(Visited::Bad(Unrepresentable {
            lossy_path: rel,
            host_path: host,
        }));
    }
    let meta = Meta::from_metadata(&md, target);
    let children = if md.is_dir() {
        walk_dir(&host, &rel, &info, excluded, ignore)?
    } else {
        Listing::default()
    };
    if excluded && children.is_empty() {
        return Ok(Visited::Skip);
    }
    Ok(Visited::Node(Node {
        entry: IndexEntry { path: rel, meta },
        children,
    }))
}

fn utf8_name(name: &OsStr) -> (String, bool) {
    match name.to_str() {
        Some(s) => (s.to_string(), false),
        None => (String::from_utf8_lossy(name.as_bytes()).into_owned(), true),
    }
}

/// The host path of a context-relative path.
pub fn host_path(root: &Path, rel: &str) -> PathBuf {
    if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    }
}
