//! COPY/ADD source selection with Docker's (BuildKit's) rules, over any [`Tree`].
//!
//! * A source is cleaned and taken relative to the tree root (`/x` and `x` are the
//!   same); one that climbs above the root (`../x`) is an error.
//! * Wildcards follow Go's `filepath.Match`: the elements before the first wildcard
//!   are resolved (following symlinks), the rest is matched against paths below them;
//!   a matching directory is taken whole. A wildcard that matches nothing selects
//!   nothing (BuildKit), unless [`SelectOptions::allow_empty_wildcard`] is off.
//! * A plain source that does not exist is an error naming it.
//! * A source that is a symlink is followed, inside the tree; symlinks found below a
//!   directory source are selected as links.
//! * A directory source means its contents; a file source is the file.
//! * `--exclude` patterns (Docker pattern syntax) are matched against paths relative to
//!   each directory source, and against a file source's path relative to where its
//!   wildcard matched (its name, for a plain source) — the documented behaviour.
//! * `--parents`: the source is split at `/./` (or taken whole from the root); the part
//!   after it is a pattern of paths to keep below the part before it, with the
//!   directories leading to them (BuildKit's include patterns).

mod sources;

use std::path::PathBuf;

use super::error::ContextError;
use super::meta::{Kind, Meta};
use super::path::{base_name, join};
use super::pattern::PatternMatcher;
use super::tree::Tree;
use crate::digest::{Digest, Hasher};

/// How sources are selected (COPY/ADD flags).
#[derive(Debug, Clone)]
pub struct SelectOptions {
    /// `--exclude` patterns.
    pub excludes: Vec<String>,
    /// `--parents`: keep each source's path (from the root, or from a `/./` pivot).
    pub parents: bool,
    /// Follow a source that is itself a symlink (Docker always does).
    pub follow_symlinks: bool,
    /// A wildcard that matches nothing is not an error (BuildKit's behaviour).
    pub allow_empty_wildcard: bool,
}

impl Default for SelectOptions {
    fn default() -> SelectOptions {
        SelectOptions {
            excludes: Vec::new(),
            parents: false,
            follow_symlinks: true,
            allow_empty_wildcard: true,
        }
    }
}

/// The files a COPY/ADD step reads, with their content digests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// One root per matched source, in source order (wildcard matches in path order).
    pub roots: Vec<SelectedRoot>,
    /// Whether owners are part of the selection (false for the build context).
    pub keeps_ownership: bool,
}

/// One matched source.
///
/// Placing it: a file root goes to `dest`, or to `dest/<name()>` when `dest` ends with
/// `/` or is a directory; a directory root's entries go below `dest/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectedRoot {
    /// The source as written in the instruction.
    pub source: String,
    /// The path that matched, relative to the tree root, before a symlink source was
    /// followed (its last element names a file root at the destination).
    pub matched: String,
    /// The path after following symlinks: where the entries are read from.
    pub path: String,
    /// Metadata of `path`.
    pub meta: Meta,
    /// Content digest when the root is a regular file.
    pub digest: Option<Digest>,
    /// For a directory root: what is below it, paths relative to it, in layer order.
    pub entries: Vec<SelectedEntry>,
    /// Where `path` is on the host, when the tree has host paths.
    pub host_path: Option<PathBuf>,
}

/// One entry below a directory root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectedEntry {
    /// Path relative to the root's `path`.
    pub path: String,
    /// Its metadata.
    pub meta: Meta,
    /// Content digest for a regular file.
    pub digest: Option<Digest>,
}

impl SelectedRoot {
    /// True when the root is a directory (its entries are copied, not itself).
    pub fn is_dir(&self) -> bool {
        self.meta.is_dir()
    }

    /// The name a file root takes inside a destination directory.
    pub fn name(&self) -> &str {
        base_name(&self.matched)
    }

    /// The tree path of an entry (for [`Tree::open`]).
    pub fn tree_path(&self, entry: &SelectedEntry) -> String {
        join(&self.path, &entry.path)
    }

    /// The host path of an entry, when the tree has host paths.
    pub fn entry_host_path(&self, entry: &SelectedEntry) -> Option<PathBuf> {
        self.host_path.as_ref().map(|h| h.join(&entry.path))
    }
}

impl Selection {
    /// One digest over everything selected, for the step's cache key: for each root
    /// its matched path and, for it and each entry, path, type, permission bits,
    /// owner (only when the tree keeps owners), size, link target, device number and
    /// content digest. Never times, never host owners of context files.
    pub fn digest(&self) -> Digest {
        let mut h = Hasher::new();
        h.update(b"rbuild.selection.v1\0");
        put_u64(&mut h, self.roots.len() as u64);
        for root in &self.roots {
            h.update(b"R");
            put_str(&mut h, &root.matched);
            self.put_entry(&mut h, "", &root.meta, root.digest.as_ref());
            put_u64(&mut h, root.entries.len() as u64);
            for e in &root.entries {
                self.put_entry(&mut h, &e.path, &e.meta, e.digest.as_ref());
            }
        }
        h.finish()
    }

    /// Number of regular files selected.
    pub fn file_count(&self) -> usize {
        self.roots
            .iter()
            .map(|r| {
                usize::from(r.meta.is_file())
                    + r.entries.iter().filter(|e| e.meta.is_file()).count()
            })
            .sum()
    }

    fn put_entry(&self, h: &mut Hasher, path: &str, meta: &Meta, digest: Option<&Digest>) {
        h.update(b"E");
        put_str(h, path);
        let ty = match &meta.kind {
            Kind::File => b'f',
            Kind::Dir => b'd',
            Kind::Symlink { .. } => b'l',
            Kind::Other => b'o',
        };
        h.update(&[ty]);
        // Type bits too, so a FIFO and a device differ.
        put_u64(h, u64::from(meta.mode));
        if self.keeps_ownership {
            put_u64(h, u64::from(meta.uid));
            put_u64(h, u64::from(meta.gid));
        }
        match &meta.kind {
            Kind::File => {
                put_u64(h, meta.size);
                h.update(digest.map_or(&[0u8; 32], |d| d.as_bytes()));
            }
            Kind::Symlink { target } => put_str(h, target),
            Kind::Other => put_u64(h, meta.rdev),
            Kind::Dir => {}
        }
    }
}

fn put_u64(h: &mut Hasher, v: u64) {
    h.update(&v.to_le_bytes());
}

fn put_str(h: &mut Hasher, s: &str) {
    put_u64(h, s.len() as u64);
    h.update(s.as_bytes());
}

/// Selects `sources` from `tree` (see the module documentation for the rules).
pub fn select<T: Tree + ?Sized>(
    tree: &T,
    sources: &[String],
    opts: &SelectOptions,
) -> Result<Selection, ContextError> {
    let excludes = compile(&opts.excludes, "--exclude")?;
    let mut roots = Vec::new();
    for source in sources {
        sources::select_source(tree, source, opts, excludes.as_ref(), &mut roots)?;
    }
    sources::fill_digests(tree, &mut roots)?;
    Ok(Selection {
        roots,
        keeps_ownership: tree.keeps_ownership(),
    })
}

pub(super) fn compile(
    patterns: &[String],
    origin: &str,
) -> Result<Option<PatternMatcher>, ContextError> {
    let m = PatternMatcher::new(patterns).map_err(|e| ContextError::BadPattern {
        origin: origin.to_string(),
        pattern: e.pattern,
        reason: e.reason,
    })?;
    Ok((!m.is_empty()).then_some(m))
}
