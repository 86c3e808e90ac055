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

use std::path::PathBuf;

use super::error::ContextError;
use super::glob;
use super::meta::{Kind, Meta};
use super::path::{base_name, clean_relative, is_within, join};
use super::pattern::{MatchInfo, PatternMatcher};
use super::tree::{Tree, Visit, resolve};
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
        select_source(tree, source, opts, excludes.as_ref(), &mut roots)?;
    }
    fill_digests(tree, &mut roots)?;
    Ok(Selection {
        roots,
        keeps_ownership: tree.keeps_ownership(),
    })
}

fn compile(patterns: &[String], origin: &str) -> Result<Option<PatternMatcher>, ContextError> {
    let m = PatternMatcher::new(patterns).map_err(|e| ContextError::BadPattern {
        origin: origin.to_string(),
        pattern: e.pattern,
        reason: e.reason,
    })?;
    Ok((!m.is_empty()).then_some(m))
}

/// The filters applied below one root.
struct Filters<'a> {
    include: Option<&'a PatternMatcher>,
    exclude: Option<&'a PatternMatcher>,
}

fn select_source<T: Tree + ?Sized>(
    tree: &T,
    source: &str,
    opts: &SelectOptions,
    excludes: Option<&PatternMatcher>,
    roots: &mut Vec<SelectedRoot>,
) -> Result<(), ContextError> {
    let outside = || ContextError::OutsideRoot {
        source_path: source.to_string(),
    };
    // --parents: `pivot/./pattern` keeps `pattern`'s path below `pivot`.
    let (pivot, include) = if opts.parents {
        let (pivot, pattern) = source.split_once("/./").unwrap_or(("/", source));
        let pattern = clean_relative(pattern).ok_or_else(outside)?;
        (pivot, Some(pattern))
    } else {
        (source, None)
    };
    let pivot = clean_relative(pivot).ok_or_else(outside)?;
    let include_matcher = match &include {
        Some(p) if !p.is_empty() => compile(std::slice::from_ref(p), source)?,
        _ => None,
    };
    let filters = Filters {
        include: include_matcher.as_ref(),
        exclude: excludes,
    };

    let start = roots.len();
    if glob::has_wildcards(&pivot) {
        let matches = expand_wildcards(tree, source, &pivot)?;
        if matches.is_empty() && !opts.allow_empty_wildcard {
            return Err(ContextError::NotFound {
                path: pivot,
                escaped: false,
            });
        }
        for (matched, rel_to_base) in matches {
            add_root(tree, source, &matched, &rel_to_base, opts, &filters, roots)?;
        }
    } else {
        let name = base_name(&pivot).to_string();
        add_root(tree, source, &pivot, &name, opts, &filters, roots)?;
    }

    // --parents without wildcards: the named path must exist.
    if let Some(pattern) = include.filter(|p| !p.is_empty() && !glob::has_wildcards(p))
        && !glob::has_wildcards(&pivot)
    {
        let found = roots[start..]
            .iter()
            .any(|r| r.entries.iter().any(|e| is_within(&e.path, &pattern)));
        if !found {
            return Err(ContextError::NotFound {
                path: join(&pivot, &pattern),
                escaped: false,
            });
        }
    }
    Ok(())
}

/// Expands a wildcard source; returns (matched path, path relative to the wildcard's
/// base directory) pairs in layer order.
fn expand_wildcards<T: Tree + ?Sized>(
    tree: &T,
    source: &str,
    pattern: &str,
) -> Result<Vec<(String, String)>, ContextError> {
    let elems: Vec<&str> = pattern.split('/').collect();
    let split = elems
        .iter()
        .position(|e| glob::has_wildcards(e))
        .unwrap_or(elems.len());
    let base = elems[..split].join("/");
    let rest = elems[split..].join("/");
    glob::validate(&rest).map_err(|_| ContextError::BadSourcePattern {
        source_pattern: source.to_string(),
    })?;
    // The base must exist (BuildKit fails to walk a missing one).
    let base = resolve(tree, &base, true)?;
    if !base.meta.is_dir() {
        return Ok(Vec::new());
    }
    // A path deeper than the pattern cannot match (`*` never spans a `/`).
    let max_depth = rest.matches('/').count() + 1;
    let mut out = Vec::new();
    tree.descendants(&base.path, &mut |rel, meta| {
        if glob::matches(&rest, rel).unwrap_or(false) {
            out.push((join(&base.path, rel), rel.to_string()));
            return Visit::SkipDir;
        }
        if rel.matches('/').count() + 1 >= max_depth {
            Visit::SkipDir
        } else {
            let _ = meta;
            Visit::Continue
        }
    })?;
    Ok(out)
}

fn add_root<T: Tree + ?Sized>(
    tree: &T,
    source: &str,
    matched: &str,
    rel_to_base: &str,
    opts: &SelectOptions,
    filters: &Filters<'_>,
    roots: &mut Vec<SelectedRoot>,
) -> Result<(), ContextError> {
    let resolved = resolve(tree, matched, opts.follow_symlinks)?;
    let mut root = SelectedRoot {
        source: source.to_string(),
        matched: matched.to_string(),
        host_path: tree.host_path(&resolved.path),
        path: resolved.path,
        meta: resolved.meta,
        digest: None,
        entries: Vec::new(),
    };
    if root.meta.is_dir() {
        root.entries = collect_entries(tree, &root.path, filters)?;
    } else if filters
        .exclude
        .is_some_and(|m| m.matches_or_parent_matches(rel_to_base))
    {
        return Ok(());
    }
    roots.push(root);
    Ok(())
}

/// A directory on the current path of the walk.
struct Frame {
    path: String,
    meta: Meta,
    include: MatchInfo,
    exclude: MatchInfo,
    emitted: bool,
}

/// Everything below `dir` that passes the include/exclude filters; a directory that is
/// not itself selected still appears (before its contents) when something inside it is.
fn collect_entries<T: Tree + ?Sized>(
    tree: &T,
    dir: &str,
    filters: &Filters<'_>,
) -> Result<Vec<SelectedEntry>, ContextError> {
    let mut out = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let no_info = MatchInfo::default();
    tree.descendants(dir, &mut |rel, meta| {
        while stack.last().is_some_and(|f| !is_within(rel, &f.path)) {
            stack.pop();
        }
        let (parent_inc, parent_exc) = stack
            .last()
            .map_or((&no_info, &no_info), |f| (&f.include, &f.exclude));
        let mut included = true;
        let mut inc_info = MatchInfo::default();
        if let Some(m) = filters.include {
            let (hit, info) = m.matches_using_parent_results(rel, parent_inc);
            included = hit;
            inc_info = info;
        }
        let mut excluded = false;
        let mut exc_info = MatchInfo::default();
        if let Some(m) = filters.exclude {
            let (hit, info) = m.matches_using_parent_results(rel, parent_exc);
            excluded = hit;
            exc_info = info;
        }
        included &= !excluded;
        let exceptions = filters.exclude.is_some_and(PatternMatcher::has_exclusions);

        if !included {
            let worth_descending = meta.is_dir()
                && if excluded {
                    exceptions
                        && filters
                            .exclude
                            .is_some_and(|m| m.must_walk_excluded_dir(rel))
                } else {
                    filters.include.is_some_and(|m| m.may_match_below(rel))
                };
            if !worth_descending {
                return Visit::SkipDir;
            }
        } else {
            // Directories leading here that were not selected themselves.
            for f in stack.iter_mut().filter(|f| !f.emitted) {
                out.push(SelectedEntry {
                    path: f.path.clone(),
                    meta: f.meta.clone(),
                    digest: None,
                });
                f.emitted = true;
            }
            out.push(SelectedEntry {
                path: rel.to_string(),
                meta: meta.clone(),
                digest: None,
            });
        }
        if meta.is_dir() {
            stack.push(Frame {
                path: rel.to_string(),
                meta: meta.clone(),
                include: inc_info,
                exclude: exc_info,
                emitted: included,
            });
        }
        Visit::Continue
    })?;
    Ok(out)
}

/// Computes the content digests of every selected regular file in one parallel batch.
fn fill_digests<T: Tree + ?Sized>(
    tree: &T,
    roots: &mut [SelectedRoot],
) -> Result<(), ContextError> {
    let mut paths: Vec<String> = Vec::new();
    let mut metas: Vec<&Meta> = Vec::new();
    for root in roots.iter() {
        if root.meta.is_file() {
            paths.push(root.path.clone());
            metas.push(&root.meta);
        }
        for e in root.entries.iter().filter(|e| e.meta.is_file()) {
            paths.push(join(&root.path, &e.path));
            metas.push(&e.meta);
        }
    }
    if paths.is_empty() {
        return Ok(());
    }
    let batch: Vec<(&str, &Meta)> = paths.iter().map(String::as_str).zip(metas).collect();
    let digests = tree.file_digests(&batch)?;
    let mut it = digests.into_iter();
    for root in roots.iter_mut() {
        if root.meta.is_file() {
            root.digest = it.next();
        }
        for e in root.entries.iter_mut().filter(|e| e.meta.is_file()) {
            e.digest = it.next();
        }
    }
    Ok(())
}
