//! Resolving each source to roots, and collecting what lies below a directory root.

use super::{SelectOptions, SelectedEntry, SelectedRoot, compile};
use crate::context::error::ContextError;
use crate::context::glob;
use crate::context::meta::Meta;
use crate::context::path::{base_name, clean_relative, is_within, join};
use crate::context::pattern::{MatchInfo, PatternMatcher};
use crate::context::tree::{Tree, Visit, resolve};

/// The filters applied below one root.
struct Filters<'a> {
    include: Option<&'a PatternMatcher>,
    exclude: Option<&'a PatternMatcher>,
}

pub(super) fn select_source<T: Tree + ?Sized>(
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
    tree.descendants(&base.path, &mut |rel, _| {
        if glob::matches(&rest, rel).unwrap_or(false) {
            out.push((join(&base.path, rel), rel.to_string()));
            // A matching directory is taken whole.
            return Visit::SkipDir;
        }
        if rel.matches('/').count() + 1 >= max_depth {
            Visit::SkipDir
        } else {
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
pub(super) fn fill_digests<T: Tree + ?Sized>(
    tree: &T,
    roots: &mut [SelectedRoot],
) -> Result<(), ContextError> {
    // All tree paths in one buffer: one allocation instead of one per file.
    let mut arena = String::new();
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut metas: Vec<&Meta> = Vec::new();
    let mut push = |arena: &mut String, dir: &str, rel: &str| {
        let start = arena.len();
        arena.push_str(dir);
        if !dir.is_empty() && !rel.is_empty() {
            arena.push('/');
        }
        arena.push_str(rel);
        spans.push((start, arena.len()));
    };
    for root in roots.iter() {
        if root.meta.is_file() {
            push(&mut arena, &root.path, "");
            metas.push(&root.meta);
        }
        for e in root.entries.iter().filter(|e| e.meta.is_file()) {
            push(&mut arena, &root.path, &e.path);
            metas.push(&e.meta);
        }
    }
    if metas.is_empty() {
        return Ok(());
    }
    let batch: Vec<(&str, &Meta)> = spans
        .iter()
        .map(|&(s, e)| &arena[s..e])
        .zip(metas)
        .collect();
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
