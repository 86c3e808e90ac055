//! A stage's or image's filesystem as a COPY source: the context module's [`Tree`] over
//! a [`LayerView`] of the snapshots, so `COPY --from` selects with exactly the rules
//! the build context uses.

use std::path::PathBuf;

use crate::context::{ContextError, Meta, Tree};
use crate::layer::view::{Found, LayerView, ViewError};

/// A read-only tree over snapshot layers.
pub struct ViewTree {
    view: LayerView,
}

impl ViewTree {
    /// The tree of `view`.
    pub fn new(view: LayerView) -> ViewTree {
        ViewTree { view }
    }
}

fn meta_of(f: &Found) -> Meta {
    let target = if f.meta.file_type().is_symlink() {
        std::fs::read_link(&f.host)
            .ok()
            .map(|t| t.to_string_lossy().into_owned())
    } else {
        None
    };
    Meta::from_metadata(&f.meta, target)
}

fn err(e: ViewError) -> ContextError {
    match e {
        ViewError::Io { path, source } => ContextError::io(&path, source),
        ViewError::Escape { path } | ViewError::Loop { path } | ViewError::NotDir { path } => {
            ContextError::NotFound {
                path,
                escaped: false,
            }
        }
    }
}

impl Tree for ViewTree {
    fn lstat(&self, path: &str) -> Result<Option<Meta>, ContextError> {
        match self.view.lookup(path) {
            Ok(found) => Ok(found.as_ref().map(meta_of)),
            Err(ViewError::NotDir { .. }) => Ok(None),
            Err(e) => Err(err(e)),
        }
    }

    fn read_dir(&self, dir: &str) -> Result<Vec<(String, Meta)>, ContextError> {
        let entries = self.view.read_dir(dir).map_err(err)?;
        Ok(entries
            .iter()
            .map(|f| {
                let name = f.path.rsplit('/').next().unwrap_or(&f.path).to_string();
                (name, meta_of(f))
            })
            .collect())
    }

    fn host_path(&self, path: &str) -> Option<PathBuf> {
        self.view.lookup(path).ok().flatten().map(|f| f.host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{SelectOptions, select};

    #[test]
    fn selects_across_layers() {
        let lower = tempfile::tempdir().unwrap();
        let upper = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(lower.path().join("app")).unwrap();
        std::fs::write(lower.path().join("app/a.txt"), "old").unwrap();
        std::fs::write(lower.path().join("app/b.txt"), "b").unwrap();
        std::fs::create_dir_all(upper.path().join("app")).unwrap();
        std::fs::write(upper.path().join("app/a.txt"), "new").unwrap();
        let tree = ViewTree::new(LayerView::new(vec![
            upper.path().into(),
            lower.path().into(),
        ]));
        let sel = select(&tree, &["/app/".to_string()], &SelectOptions::default()).unwrap();
        assert_eq!(sel.roots.len(), 1);
        let names: Vec<_> = sel.roots[0]
            .entries
            .iter()
            .map(|e| e.path.clone())
            .collect();
        assert_eq!(names, ["a.txt", "b.txt"]);
        let a = &sel.roots[0].entries[0];
        let host = sel.roots[0].entry_host_path(a).unwrap();
        assert_eq!(std::fs::read_to_string(host).unwrap(), "new");
        assert!(select(&tree, &["/missing".to_string()], &SelectOptions::default()).is_err());
    }
}
