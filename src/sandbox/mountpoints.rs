//! Mount points that the image lacks (`/proc` in a scratch image, `/etc/hosts`, a
//! `RUN --mount` target) must exist for the step, yet must not end up in its layer.
//!
//! With overlayfs they go into a *stub layer*: an extra lowerdir on top of the
//! snapshots, holding only the missing paths. Their existing ancestors are recreated
//! there with the lower layers' mode, owner, mtime and xattrs, so the merged view looks
//! exactly like the image; the upperdir sees none of it unless the step writes there.
//!
//! In the copy fallback the stubs are made in the copied tree and recorded; afterwards
//! the ones still empty are removed, as BuildKit's `MountStubsCleaner` does.

use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Timespec, Timestamps};

use super::error::SandboxError;
use super::syscall::NodeKind;
use crate::layer::LowerView;

/// Paths created for mount points, relative to the rootfs.
#[derive(Debug, Default)]
pub(crate) struct Stubs {
    /// Created paths, parents before children.
    pub created: Vec<PathBuf>,
}

/// Creates in `dir` what `targets` need that `view` does not have. With `copy_meta`,
/// existing ancestors are recreated with their lower metadata (the stub layer); without
/// it `dir` is the rootfs itself, where they already exist.
pub(crate) fn make_stubs(
    view: &LowerView,
    dir: &Path,
    targets: &[(String, NodeKind)],
    copy_meta: bool,
) -> Result<Stubs, SandboxError> {
    let mut stubs = Stubs::default();
    // Ancestors whose metadata must mirror the lower layers, applied after their
    // children are made (which changes a directory's mtime).
    let mut mirrored: BTreeMap<PathBuf, crate::layer::Found> = BTreeMap::new();
    for (target, kind) in targets {
        let r = view.resolve(target)?;
        if r.missing.is_empty() {
            continue;
        }
        if copy_meta {
            let mut prefix = PathBuf::new();
            for comp in r.existing.components() {
                prefix.push(comp);
                let Some(found) = view
                    .lookup_path(&prefix)
                    .map_err(SandboxError::at(&prefix))?
                else {
                    break;
                };
                let host = dir.join(&prefix);
                if !host.exists() {
                    std::fs::create_dir(&host).map_err(SandboxError::at(&host))?;
                }
                mirrored.insert(prefix.clone(), found);
            }
        }
        let mut rel = r.existing.clone();
        let last = r.missing.len() - 1;
        for (i, name) in r.missing.iter().enumerate() {
            rel.push(name);
            let host = dir.join(&rel);
            if std::fs::symlink_metadata(&host).is_ok() {
                continue;
            }
            if i == last && *kind == NodeKind::File {
                std::fs::write(&host, b"").map_err(SandboxError::at(&host))?;
            } else {
                std::fs::create_dir(&host).map_err(SandboxError::at(&host))?;
                std::fs::set_permissions(&host, std::fs::Permissions::from_mode(0o755))
                    .map_err(SandboxError::at(&host))?;
            }
            stubs.created.push(rel.clone());
        }
    }
    if copy_meta {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
            .map_err(SandboxError::at(dir))?;
        for (rel, found) in mirrored.iter().rev() {
            let host = dir.join(rel);
            mirror(&host, &found.meta).map_err(SandboxError::at(&host))?;
            // ACLs and the like: a copied-up directory takes them from here.
            crate::layer::copy_xattrs(&found.path, &host)?;
        }
    }
    Ok(stubs)
}

fn mirror(host: &Path, meta: &std::fs::Metadata) -> io::Result<()> {
    if rustix::process::geteuid().is_root() {
        std::os::unix::fs::lchown(host, Some(meta.uid()), Some(meta.gid()))?;
    }
    std::fs::set_permissions(host, std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    let t = Timespec {
        tv_sec: meta.mtime(),
        tv_nsec: meta.mtime_nsec(),
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        host,
        &Timestamps {
            last_access: t,
            last_modification: t,
        },
        AtFlags::SYMLINK_NOFOLLOW,
    )?;
    Ok(())
}

/// Removes the stubs the step left empty (copy fallback), children first.
pub(crate) fn remove_unused(dir: &Path, stubs: &Stubs) {
    for rel in stubs.created.iter().rev() {
        let host = dir.join(rel);
        let Ok(m) = std::fs::symlink_metadata(&host) else {
            continue;
        };
        if m.is_dir() {
            let _ = std::fs::remove_dir(&host); // fails, as it should, when not empty
        } else if m.is_file() && m.len() == 0 {
            let _ = std::fs::remove_file(&host);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stub_layer_mirrors_existing_ancestors() {
        let lower = tempfile::tempdir().unwrap();
        std::fs::create_dir(lower.path().join("etc")).unwrap();
        std::fs::set_permissions(
            lower.path().join("etc"),
            std::fs::Permissions::from_mode(0o750),
        )
        .unwrap();
        std::fs::write(lower.path().join("etc/passwd"), b"root").unwrap();
        std::os::unix::fs::symlink("/etc", lower.path().join("link")).unwrap();
        let stub = tempfile::tempdir().unwrap();
        let view = LowerView::new(vec![lower.path().into()]);
        let targets = vec![
            ("/etc/hosts".to_string(), NodeKind::File),
            ("/etc/passwd".to_string(), NodeKind::File),
            ("/link/cache/deep".to_string(), NodeKind::Dir),
            ("/proc".to_string(), NodeKind::Dir),
        ];
        let stubs = make_stubs(&view, stub.path(), &targets, true).unwrap();
        let created: Vec<_> = stubs.created.iter().map(|p| p.to_str().unwrap()).collect();
        assert_eq!(
            created,
            ["etc/hosts", "etc/cache", "etc/cache/deep", "proc"]
        );
        assert!(
            !stub.path().join("etc/passwd").exists(),
            "existing targets need no stub"
        );
        let etc = std::fs::metadata(stub.path().join("etc")).unwrap();
        let low = std::fs::metadata(lower.path().join("etc")).unwrap();
        assert_eq!(etc.mode() & 0o7777, 0o750);
        assert_eq!(
            (etc.mtime(), etc.mtime_nsec()),
            (low.mtime(), low.mtime_nsec())
        );
    }

    #[test]
    fn unused_stubs_are_removed_and_used_ones_kept() {
        let root = tempfile::tempdir().unwrap();
        let view = LowerView::new(vec![root.path().into()]);
        let targets = vec![
            ("/a/b".to_string(), NodeKind::Dir),
            ("/f".to_string(), NodeKind::File),
        ];
        let stubs = make_stubs(&view, root.path(), &targets, false).unwrap();
        std::fs::write(root.path().join("a/kept"), b"x").unwrap();
        remove_unused(root.path(), &stubs);
        assert!(!root.path().join("a/b").exists());
        assert!(root.path().join("a/kept").exists());
        assert!(!root.path().join("f").exists());
    }
}
