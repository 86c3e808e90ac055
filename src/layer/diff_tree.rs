//! The diff of a whole rootfs copy against the lower layers it was copied from: the
//! fallback where overlayfs cannot be mounted (see `diff` for the rules).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::diff::{
    Collector, DiffError, child_rel, entry_from, ioerr, lstat, same_dirent, sorted_names,
};
use super::entry::Entry;
use super::snapshot_view::{DirView, LowerView};

/// The entries that turn the merged `lowers` (top first) into `tree`. Paths in
/// `exclude` (layer paths the copy could not reproduce, such as device nodes made
/// without privilege) are left out on both sides.
pub fn diff_tree(
    tree: &Path,
    lowers: &[PathBuf],
    exclude: &HashSet<String>,
) -> Result<Vec<Entry>, DiffError> {
    let view = LowerView::new(lowers.to_vec());
    let root = view.root().map_err(ioerr(tree))?;
    let mut c = Collector::default();
    let w = Walk {
        view: &view,
        exclude,
    };
    w.walk(Some(&root), tree, "", &mut c)?;
    Ok(c.finish())
}

struct Walk<'a> {
    view: &'a LowerView,
    exclude: &'a HashSet<String>,
}

impl Walk<'_> {
    fn walk(
        &self,
        lower: Option<&DirView>,
        dir: &Path,
        rel: &str,
        c: &mut Collector,
    ) -> Result<(), DiffError> {
        let view = self.view;
        let mut below_all = match lower {
            Some(d) => view.list(d).map_err(ioerr(dir))?,
            None => Default::default(),
        };
        for name in sorted_names(dir)? {
            let path = dir.join(&name);
            let meta = lstat(&path)?;
            let crel = child_rel(rel, &name, &path)?;
            let below = below_all.remove(&name);
            if self.exclude.contains(&crel) {
                continue;
            }
            let Some(entry) = entry_from(&crel, &path, &meta)? else {
                continue;
            };
            let is_dir = meta.is_dir();
            if is_dir {
                c.saw_dir(&entry);
            }
            let unchanged = match &below {
                Some(f) => same_dirent(&f.path, &f.meta, &path, &meta)?,
                None => false,
            };
            if !unchanged {
                c.record(entry, Some(&meta));
            }
            if is_dir {
                let child = match (lower, &below) {
                    (Some(d), Some(f)) if f.meta.is_dir() => {
                        view.child_dir(d, &name).map_err(ioerr(&path))?
                    }
                    _ => None,
                };
                self.walk(child.as_ref(), &path, &crel, c)?;
            }
        }
        for name in below_all.into_keys() {
            let crel = child_rel(rel, &name, &dir.join(&name))?;
            if !self.exclude.contains(&crel) {
                c.record(Entry::whiteout(crel), None);
            }
        }
        Ok(())
    }
}
