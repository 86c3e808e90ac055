//! The parallel `lstat` walk of a context directory, applying `.dockerignore` as Docker's
//! context transfer does (tonistiigi/fsutil): an excluded file is skipped, an excluded
//! directory is pruned unless an exception might re-include something below it, and a
//! directory walked only for such exceptions appears only if something inside it does.
//!
//! Each directory is read with `getdents64` and its entries `fstatat`ed relative to its
//! descriptor (no path lookups from the root, as `find` does); subdirectories are
//! opened with `openat(O_NOFOLLOW)` and walked in parallel with rayon. Symlinks are
//! never followed. Each directory's results are sorted by name and stitched together in
//! pre-order at the end, which yields the layer order without a global sort.

use std::ffi::CStr;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use rustix::fs::{AtFlags, FileType, Mode, OFlags, RawDir};
use rustix::io::Errno;

use super::error::ContextError;
use super::host::meta_from_stat;
use super::index::{Index, IndexEntry, Unrepresentable};
use super::path::join;
use super::pattern::{MatchInfo, PatternMatcher};

/// Walks `root` (which must be a directory) and returns its visible entries.
pub fn walk(root: &Path, ignore: Option<&PatternMatcher>) -> Result<Index, ContextError> {
    let io = |e: Errno| ContextError::io(root, e.into());
    let fd = rustix::fs::open(root, dir_flags(), Mode::empty()).map_err(io)?;
    let st = rustix::fs::fstat(&fd).map_err(io)?;
    let root_meta = meta_from_stat(&st, None);
    if !root_meta.is_dir() {
        return Err(ContextError::NotADirectory {
            path: root.to_path_buf(),
        });
    }
    let walker = Walker {
        root,
        ignore: ignore.filter(|m| !m.is_empty()),
    };
    let listing = walker.dir(&fd, "", &MatchInfo::default(), false)?;
    let mut entries = Vec::with_capacity(listing.count());
    let mut unrepresentable = Vec::new();
    listing.flatten_into(&mut entries, &mut unrepresentable);
    Ok(Index::new(root_meta, entries, unrepresentable))
}

/// The host path of a context-relative path.
pub fn host_path(root: &Path, rel: &str) -> PathBuf {
    if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    }
}

fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
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

    fn flatten_into(self, out: &mut Vec<IndexEntry>, bad: &mut Vec<Unrepresentable>) {
        bad.extend(self.unrepresentable);
        for node in self.nodes {
            out.push(node.entry);
            node.children.flatten_into(out, bad);
        }
    }
}

/// A subdirectory to walk once its parent is read.
struct Pending {
    node: IndexEntry,
    name: Vec<u8>,
    info: MatchInfo,
    excluded: bool,
}

struct Walker<'a> {
    root: &'a Path,
    ignore: Option<&'a PatternMatcher>,
}

impl Walker<'_> {
    fn error(&self, rel: &str, e: Errno) -> ContextError {
        ContextError::io(&host_path(self.root, rel), e.into())
    }

    fn dir(
        &self,
        fd: &OwnedFd,
        rel: &str,
        info: &MatchInfo,
        excluded: bool,
    ) -> Result<Listing, ContextError> {
        let mut listing = Listing::default();
        let mut pending = Vec::new();
        let mut buf = [MaybeUninit::<u8>::uninit(); 32 * 1024];
        let mut entries = RawDir::new(fd, &mut buf);
        while let Some(entry) = entries.next() {
            let entry = match entry {
                Ok(e) => e,
                // Upstream tolerates unreadable directories that are excluded anyway.
                Err(Errno::ACCESS) if excluded => return Ok(Listing::default()),
                Err(e) => return Err(self.error(rel, e)),
            };
            let name = entry.file_name();
            if name == c"." || name == c".." {
                continue;
            }
            self.entry(
                fd,
                rel,
                info,
                name,
                entry.file_type(),
                &mut listing,
                &mut pending,
            )?;
        }
        let subdirs = pending
            .into_par_iter()
            .map(|p| self.subdir(fd, p))
            .collect::<Result<Vec<_>, _>>()?;
        listing.nodes.extend(subdirs.into_iter().flatten());
        listing
            .nodes
            .sort_unstable_by(|a, b| a.entry.path.cmp(&b.entry.path));
        Ok(listing)
    }

    #[allow(clippy::too_many_arguments)]
    fn entry(
        &self,
        fd: &OwnedFd,
        parent_rel: &str,
        parent_info: &MatchInfo,
        name: &CStr,
        d_type: FileType,
        listing: &mut Listing,
        pending: &mut Vec<Pending>,
    ) -> Result<(), ContextError> {
        let (name_str, bad_name) = match name.to_str() {
            Ok(s) => (std::borrow::Cow::Borrowed(s), false),
            Err(_) => (name.to_string_lossy(), true),
        };
        let rel = join(parent_rel, &name_str);
        let (excluded, info) = match self.ignore {
            Some(m) => m.matches_using_parent_results(&rel, parent_info),
            None => (false, MatchInfo::default()),
        };
        if excluded {
            // d_type may be unknown on some filesystems; then stat to find out.
            let maybe_dir = matches!(d_type, FileType::Directory | FileType::Unknown);
            if !(maybe_dir && self.ignore.is_some_and(|m| m.must_walk_excluded_dir(&rel))) {
                return Ok(());
            }
        }
        let st = match rustix::fs::statat(fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            // Vanished between readdir and lstat: simply not part of the context.
            Err(Errno::NOENT) => return Ok(()),
            Err(e) => return Err(self.error(&rel, e)),
        };
        let ft = FileType::from_raw_mode(st.st_mode as _);
        if excluded && ft != FileType::Directory {
            return Ok(());
        }
        let mut target = None;
        let mut bad_target = false;
        if ft == FileType::Symlink {
            let t =
                rustix::fs::readlinkat(fd, name, Vec::new()).map_err(|e| self.error(&rel, e))?;
            match t.into_string() {
                Ok(s) => target = Some(s),
                Err(_) => bad_target = true,
            }
        }
        if bad_name || bad_target {
            if !excluded {
                listing.unrepresentable.push(Unrepresentable {
                    host_path: host_path(self.root, &rel),
                    lossy_path: rel,
                });
            }
            return Ok(());
        }
        let node = IndexEntry {
            path: rel,
            meta: meta_from_stat(&st, target),
        };
        if ft == FileType::Directory {
            pending.push(Pending {
                node,
                name: name.to_bytes().to_vec(),
                info,
                excluded,
            });
        } else {
            listing.nodes.push(Node {
                entry: node,
                children: Listing::default(),
            });
        }
        Ok(())
    }

    fn subdir(&self, parent: &OwnedFd, p: Pending) -> Result<Option<Node>, ContextError> {
        let fd = match rustix::fs::openat(
            parent.as_fd(),
            p.name.as_slice(),
            dir_flags(),
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::ACCESS) if p.excluded => return Ok(None),
            // Replaced by something else since the stat: not part of the context.
            Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => return Ok(None),
            Err(e) => return Err(self.error(&p.node.path, e)),
        };
        let children = self.dir(&fd, &p.node.path, &p.info, p.excluded)?;
        if p.excluded && children.nodes.is_empty() {
            return Ok(None);
        }
        Ok(Some(Node {
            entry: p.node,
            children,
        }))
    }
}
