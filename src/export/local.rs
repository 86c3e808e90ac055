//! `type=local` (the image's filesystem in a directory) and `type=tar` (the same as a
//! tarball). This is the seam for the merged filesystem: callers pass the layer list and
//! a destination; how layers are applied lives in [`super::merge`].

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::ExportError;
use super::merge::{Merger, Owners};
use crate::image::Descriptor;
use crate::layer::{Entry, EntryKind, TarOptions, TarWriter, open_layer};
use crate::store::Store;

/// What a local export did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalExport {
    /// Device nodes skipped because creating them needs root.
    pub skipped_devices: usize,
}

/// Applies `layers` (base first) onto `dest`, creating it if needed.
pub fn export_local(
    store: &Store,
    layers: &[Descriptor],
    dest: &Path,
) -> Result<LocalExport, ExportError> {
    let merger = merge(store, layers, dest)?;
    Ok(LocalExport {
        skipped_devices: merger.skipped_devices,
    })
}

/// Writes the merged filesystem of `layers` as one tarball into `out` (entries sorted,
/// owners as the layers give them, mtimes clamped to `SOURCE_DATE_EPOCH` when set).
pub fn write_rootfs_tar<W: Write>(
    store: &Store,
    layers: &[Descriptor],
    out: W,
) -> Result<W, ExportError> {
    let stage = tempfile::Builder::new()
        .prefix("rootfs-")
        .tempdir_in(store.tmp_dir())
        .map_err(|e| ExportError::Io {
            path: store.tmp_dir(),
            source: e,
        })?;
    let merger = merge(store, layers, stage.path())?;
    let mut tar = TarWriter::new(out, TarOptions::from_env());
    tar_tree(stage.path(), &merger.owners, &mut tar)?;
    Ok(tar.finish()?)
}

fn merge(store: &Store, layers: &[Descriptor], dest: &Path) -> Result<Merger, ExportError> {
    let mut merger = Merger::new(dest)?;
    for layer in layers {
        merger.apply(open_layer(store, layer)?)?;
    }
    merger.finish()
}

/// Appends every file under `root` (sorted, hard links detected) to `tar`.
fn tar_tree<W: Write>(
    root: &Path,
    owners: &Owners,
    tar: &mut TarWriter<W>,
) -> Result<(), ExportError> {
    let mut seen = std::collections::HashMap::new();
    let walk = walkdir::WalkDir::new(root)
        .min_depth(1)
        .follow_links(false)
        .sort_by(|a, b| {
            a.file_name()
                .as_encoded_bytes()
                .cmp(b.file_name().as_encoded_bytes())
        });
    for item in walk {
        let item = item.map_err(|e| ExportError::Io {
            path: root.to_path_buf(),
            source: e.into(),
        })?;
        let io = |e| ExportError::Io {
            path: item.path().to_path_buf(),
            source: e,
        };
        let rel = item
            .path()
            .strip_prefix(root)
            .ok()
            .and_then(|p| p.to_str())
            .ok_or_else(|| ExportError::UnsafeLayerEntry {
                entry: item.path().display().to_string(),
                reason: "name is not UTF-8".into(),
            })?
            .to_string();
        let meta = item.metadata().map_err(|e| io(e.into()))?;
        let (uid, gid) = owners
            .get(&rel)
            .copied()
            .unwrap_or((meta.uid(), meta.gid()));
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            EntryKind::Dir
        } else if ft.is_symlink() {
            let target = std::fs::read_link(item.path()).map_err(io)?;
            EntryKind::Symlink {
                target: target.to_string_lossy().into_owned(),
            }
        } else if ft.is_file() {
            match seen.get(&(meta.dev(), meta.ino())) {
                Some(first) if meta.nlink() > 1 => EntryKind::Hardlink {
                    target: String::clone(first),
                },
                _ => {
                    seen.insert((meta.dev(), meta.ino()), rel.clone());
                    EntryKind::File { size: meta.len() }
                }
            }
        } else {
            use std::os::unix::fs::FileTypeExt;
            let (major, minor) = (
                rustix::fs::major(meta.rdev()),
                rustix::fs::minor(meta.rdev()),
            );
            if ft.is_char_device() {
                EntryKind::CharDevice { major, minor }
            } else if ft.is_block_device() {
                EntryKind::BlockDevice { major, minor }
            } else if ft.is_fifo() {
                EntryKind::Fifo
            } else {
                continue; // sockets cannot be stored
            }
        };
        let source = matches!(kind, EntryKind::File { .. }).then(|| item.path().to_path_buf());
        tar.append(&Entry {
            path: rel,
            kind,
            mode: meta.mode() & 0o7777,
            uid,
            gid,
            mtime: meta.mtime(),
            xattrs: Vec::new(),
            source,
        })?;
    }
    Ok(())
}
