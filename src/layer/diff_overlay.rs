//! The diff of an overlayfs upperdir against its lower layers (see `diff` for the rules).

use std::path::{Path, PathBuf};

use super::diff::{
    Collector, DiffError, child_rel, entry_from, ioerr, lstat, opaque_entry, same_dirent,
    sorted_names,
};
use super::entry::Entry;
use super::snapshot_view::{DirView, LowerView, is_opaque, is_whiteout};

/// The entries a RUN step produced, from its overlayfs `upper` dir and the snapshot
/// dirs it was mounted over (`lowers`, top first). An unchanged step yields no entries.
pub fn diff_overlay(upper: &Path, lowers: &[PathBuf]) -> Result<Vec<Entry>, DiffError> {
    let view = LowerView::new(lowers.to_vec());
    let root = view.root().map_err(ioerr(upper))?;
    let mut c = Collector::default();
    walk(&view, Some(&root), upper, "", &mut c)?;
    Ok(c.finish())
}

fn walk(
    view: &LowerView,
    lower: Option<&DirView>,
    dir: &Path,
    rel: &str,
    c: &mut Collector,
) -> Result<(), DiffError> {
    for name in sorted_names(dir)? {
        let path = dir.join(&name);
        let meta = lstat(&path)?;
        let crel = child_rel(rel, &name, &path)?;
        let below = match lower {
            Some(d) => view.lookup(d, &name).map_err(ioerr(&path))?,
            None => None,
        };
        if is_whiteout(&meta) {
            if below.is_some() {
                c.record(Entry::whiteout(crel), None);
            }
            continue;
        }
        let Some(entry) = entry_from(&crel, &path, &meta)? else {
            continue;
        };
        let is_dir = meta.is_dir();
        let opaque = is_dir && is_opaque(&path).map_err(ioerr(&path))?;
        let below_dir = below.as_ref().is_some_and(|f| f.meta.is_dir());
        if is_dir {
            c.saw_dir(&entry);
        }
        let unchanged = match &below {
            Some(f) if !opaque => same_dirent(&f.path, &f.meta, &path, &meta)?,
            _ => false,
        };
        if !unchanged {
            c.record(entry, Some(&meta));
        }
        if opaque && below_dir {
            c.record(opaque_entry(&crel), None);
        }
        if is_dir {
            let child = match lower {
                Some(d) if below_dir && !opaque => {
                    view.child_dir(d, &name).map_err(ioerr(&path))?
                }
                _ => None,
            };
            walk(view, child.as_ref(), &path, &crel, c)?;
        }
    }
    Ok(())
}
