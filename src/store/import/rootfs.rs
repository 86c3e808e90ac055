//! `rbuild import ROOTFS.tar NAME`: a root filesystem tarball (plain, gzip, bzip2, xz or
//! zstd) becomes a one-layer image, like `docker import`.
//!
//! The tarball's entries are not copied byte for byte: they are rewritten through the
//! deterministic layer writer (paths normalised, `./` dropped, entries sorted, numeric
//! owners kept, PAX only where needed), so the same tree always gives the same digest.
//! File contents are spooled to numbered files in a temp dir of the store — never to a
//! path taken from the tarball — because the layer needs them in sorted order.

use crate::layer::GoNumbers;
use std::collections::HashMap;
use std::path::Path;

use super::ImportError;
use crate::image::{Descriptor, History, ImageConfig, Platform, RootFs};
use crate::layer::{
    Entry, EntryKind, LayerOptions, clean_tar_path as normalize, path_key, sort_entries,
    write_layer,
};
use crate::store::Store;

impl Store {
    /// Imports `tarball` as a one-layer image tagged `name`; returns the manifest descriptor.
    pub fn import_rootfs(&self, tarball: &Path, name: &str) -> Result<Descriptor, ImportError> {
        self.import_rootfs_with(tarball, name, &LayerOptions::from_env())
    }

    /// [`Store::import_rootfs`] with explicit layer options (compression, mtime clamp).
    pub fn import_rootfs_with(
        &self,
        tarball: &Path,
        name: &str,
        opts: &LayerOptions,
    ) -> Result<Descriptor, ImportError> {
        // Validate the name before doing any work.
        crate::store::names::tag_name(name)?;
        let _guard = self.build_guard()?;
        let stage = tempfile::Builder::new()
            .prefix("import-")
            .tempdir_in(self.tmp_dir())
            .map_err(|e| ImportError::Io {
                path: self.tmp_dir(),
                source: e,
            })?;
        let entries = read_entries(tarball, stage.path())?;
        let layer = write_layer(self, &entries, opts)?;

        let created = match opts.tar.clamp_mtime {
            Some(epoch) => {
                jiff::Timestamp::from_second(epoch).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
            }
            None => jiff::Timestamp::now(),
        }
        .to_string();
        let host = Platform::host();
        let config = ImageConfig {
            created: Some(created.clone()),
            architecture: host.architecture,
            os: host.os,
            variant: host.variant,
            rootfs: RootFs {
                diff_ids: vec![layer.diff_id],
                ..Default::default()
            },
            history: vec![History {
                created: Some(created),
                created_by: Some("rbuild import".into()),
                comment: Some(format!(
                    "Imported from {}",
                    tarball
                        .file_name()
                        .map_or_else(|| "-".into(), |n| n.to_string_lossy())
                )),
                ..Default::default()
            }],
            ..Default::default()
        };
        let desc = self.write_image(&config, &[layer.descriptor])?;
        self.tag(name, &desc)?;
        Ok(desc)
    }
}

/// Reads every entry of the tarball into canonical, linked-up layer entries whose file
/// contents live in `stage`.
fn read_entries(tarball: &Path, stage: &Path) -> Result<Vec<Entry>, ImportError> {
    let io = |e| ImportError::Io {
        path: tarball.to_path_buf(),
        source: e,
    };
    let unsafe_entry = |entry: &str, reason: &str| ImportError::UnsafeEntry {
        path: tarball.to_path_buf(),
        entry: entry.to_string(),
        reason: reason.to_string(),
    };
    let file = std::fs::File::open(tarball).map_err(io)?;
    let reader = crate::layer::decompress(std::io::BufReader::with_capacity(256 * 1024, file))
        .map_err(io)?;
    let mut archive = tar::Archive::new(reader);
    let mut by_path: HashMap<String, Entry> = HashMap::new();
    let mut spooled = 0u64;
    for item in archive.entries().map_err(io)? {
        let mut item = item.map_err(io)?;
        let kind = item.header().entry_type();
        if kind.is_pax_global_extensions()
            || kind.is_pax_local_extensions()
            || kind.is_gnu_longname()
            || kind.is_gnu_longlink()
        {
            continue;
        }
        let raw = String::from_utf8(item.path_bytes().into_owned()).map_err(|e| {
            unsafe_entry(&String::from_utf8_lossy(e.as_bytes()), "name is not UTF-8")
        })?;
        let Some(path) = normalize(&raw).map_err(|r| unsafe_entry(&raw, r))? else {
            continue; // the root directory itself
        };
        let h = item.header().clone();
        let id = |v: std::io::Result<u64>| -> Result<u32, ImportError> {
            u32::try_from(v.map_err(io)?).map_err(|_| unsafe_entry(&raw, "owner id out of range"))
        };
        let mut mtime = h.go_mtime().map_err(io)? as i64;
        let mut xattrs = Vec::new();
        if let Some(exts) = item.pax_extensions().map_err(io)? {
            for ext in exts {
                let ext = ext.map_err(io)?;
                let Ok(key) = ext.key() else { continue };
                if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                    xattrs.push((name.to_string(), ext.value_bytes().to_vec()));
                } else if key == "mtime" {
                    if let Some(secs) = ext
                        .value()
                        .ok()
                        .and_then(|v| v.split('.').next()?.parse().ok())
                    {
                        mtime = secs;
                    }
                }
            }
        }
        xattrs.sort();
        let link = || -> Result<String, ImportError> {
            let bytes = item.link_name_bytes().unwrap_or_default().into_owned();
            String::from_utf8(bytes).map_err(|_| unsafe_entry(&raw, "link target is not UTF-8"))
        };
        let entry_kind = match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let base = path.rsplit('/').next().unwrap_or(&path);
                let dir = path.rsplit_once('/').map(|(d, _)| d);
                if base == ".wh..wh..opq" {
                    let dir = dir.unwrap_or("").to_string();
                    by_path.insert(format!("{dir}\0opaque"), marker(dir, EntryKind::Opaque));
                    continue;
                }
                if let Some(hidden) = base.strip_prefix(".wh.") {
                    let target = dir.map_or(hidden.to_string(), |d| format!("{d}/{hidden}"));
                    by_path.insert(
                        format!("{target}\0whiteout"),
                        marker(target, EntryKind::Whiteout),
                    );
                    continue;
                }
                spooled += 1;
                let dest = stage.join(spooled.to_string());
                let mut out = std::fs::File::create(&dest).map_err(|e| ImportError::Io {
                    path: dest.clone(),
                    source: e,
                })?;
                let size = std::io::copy(&mut item, &mut out).map_err(io)?;
                by_path.insert(
                    path.clone(),
                    Entry {
                        path,
                        kind: EntryKind::File { size },
                        mode: h.go_mode().map_err(io)? & 0o7777,
                        uid: id(h.go_uid())?,
                        gid: id(h.go_gid())?,
                        mtime,
                        xattrs,
                        source: Some(dest),
                    },
                );
                continue;
            }
            tar::EntryType::Directory => EntryKind::Dir,
            tar::EntryType::Symlink => EntryKind::Symlink { target: link()? },
            tar::EntryType::Link => {
                let target = link()?;
                let target = normalize(&target)
                    .map_err(|_| unsafe_entry(&raw, "hard link target escapes the root"))?
                    .ok_or_else(|| unsafe_entry(&raw, "hard link to the root directory"))?;
                EntryKind::Hardlink { target }
            }
            tar::EntryType::Char | tar::EntryType::Block => {
                let major = h.device_major().map_err(io)?.unwrap_or(0);
                let minor = h.device_minor().map_err(io)?.unwrap_or(0);
                if kind == tar::EntryType::Char {
                    EntryKind::CharDevice { major, minor }
                } else {
                    EntryKind::BlockDevice { major, minor }
                }
            }
            tar::EntryType::Fifo => EntryKind::Fifo,
            _ => return Err(unsafe_entry(&raw, "unsupported tar entry type")),
        };
        by_path.insert(
            path.clone(),
            Entry {
                path,
                kind: entry_kind,
                mode: h.go_mode().map_err(io)? & 0o7777,
                uid: id(h.go_uid())?,
                gid: id(h.go_gid())?,
                mtime,
                xattrs,
                source: None,
            },
        );
    }
    let mut entries: Vec<Entry> = by_path.into_values().collect();
    relink(&mut entries).map_err(|(entry, reason)| unsafe_entry(&entry, &reason))?;
    sort_entries(&mut entries);
    Ok(entries)
}

fn marker(path: String, kind: EntryKind) -> Entry {
    Entry {
        path,
        kind,
        mode: 0,
        uid: 0,
        gid: 0,
        mtime: 0,
        xattrs: Vec::new(),
        source: None,
    }
}

/// Re-forms hard-link groups for sorted output: in each group the member that sorts first
/// carries the content and the others link to it, whatever order the tarball used.
fn relink(entries: &mut [Entry]) -> Result<(), (String, String)> {
    let index: HashMap<String, usize> = entries
        .iter()
        .enumerate()
        .filter(|(_, e)| !matches!(e.kind, EntryKind::Whiteout | EntryKind::Opaque))
        .map(|(i, e)| (e.path.clone(), i))
        .collect();
    // Follow each link to the entry that holds the content.
    let mut groups: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        let EntryKind::Hardlink { .. } = e.kind else {
            continue;
        };
        let mut at = i;
        for _ in 0..=entries.len() {
            match &entries[at].kind {
                EntryKind::Hardlink { target } => {
                    at = *index.get(target).ok_or_else(|| {
                        (
                            e.path.clone(),
                            format!("hard link target {target:?} is not in the tarball"),
                        )
                    })?;
                }
                EntryKind::Dir => return Err((e.path.clone(), "hard link to a directory".into())),
                _ => break,
            }
        }
        if matches!(entries[at].kind, EntryKind::Hardlink { .. }) {
            return Err((e.path.clone(), "hard link loop".into()));
        }
        groups.entry(at).or_default().push(i);
    }
    for (root, mut members) in groups {
        members.push(root);
        members.sort_by_cached_key(|&i| path_key(&entries[i]));
        let first = members[0];
        if first != root {
            let content = entries[root].clone();
            let path = std::mem::take(&mut entries[first].path);
            entries[first] = Entry { path, ..content };
        }
        let target = entries[first].path.clone();
        for &m in &members[1..] {
            entries[m].kind = EntryKind::Hardlink {
                target: target.clone(),
            };
            entries[m].source = None;
        }
    }
    Ok(())
}
