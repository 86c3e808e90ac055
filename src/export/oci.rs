//! `type=oci`: the image as an OCI image layout, in a tarball (`dest=app.tar`) or a
//! directory (`tar=false`). Blobs are written exactly as stored — never re-compressed.
//!
//! Names are recorded as BuildKit and `docker save` record them: the full name in
//! `io.containerd.image.name` and only the tag in `org.opencontainers.image.ref.name`
//! (so `skopeo copy oci-archive:app.tar:1.0 …` works as it does on BuildKit's output).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use super::ExportError;
use super::archive::Archive;
use crate::digest::Digest;
use crate::fsutil::{self, AtomicFile};
use crate::image::{Descriptor, Index, Manifest, REF_NAME_ANNOTATION, media};
use crate::store::names::{canonical, tag_name};
use crate::store::{CONTAINERD_NAME_ANNOTATION, Store};

const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// Writes the image `desc` names as an OCI layout tarball into `out`.
pub fn write_oci_archive<W: Write>(
    store: &Store,
    desc: &Descriptor,
    names: &[String],
    out: W,
) -> Result<W, ExportError> {
    let blobs = closure(store, desc)?;
    let index = index_for(desc, names, None)?;
    let mut a = Archive::new(out);
    a.dir("blobs")?;
    a.dir("blobs/sha256")?;
    for (digest, size) in &blobs {
        a.blob(store, digest, *size)?;
    }
    a.bytes("index.json", &index.to_bytes())?;
    a.bytes("oci-layout", OCI_LAYOUT)?;
    a.finish()
}

/// Writes the image as an OCI layout directory at `dir` (created if missing). An
/// existing layout there keeps its other images; entries with the same names are replaced.
pub fn write_oci_dir(
    store: &Store,
    desc: &Descriptor,
    names: &[String],
    dir: &Path,
) -> Result<(), ExportError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |e| ExportError::Io { path, source: e }
    };
    let blob_dir = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blob_dir).map_err(io(&blob_dir))?;
    for (digest, size) in closure(store, desc)? {
        let dest = blob_dir.join(digest.hex());
        if std::fs::metadata(&dest).is_ok_and(|m| m.len() == size) {
            continue;
        }
        let mut src = store.open_blob(&digest)?;
        let mut f = AtomicFile::create(&dest).map_err(io(&dest))?;
        std::io::copy(&mut src, &mut f).map_err(io(&dest))?;
        f.commit().map_err(io(&dest))?;
    }
    let layout = dir.join("oci-layout");
    fsutil::atomic_write(&layout, OCI_LAYOUT).map_err(io(&layout))?;
    let index_path = dir.join("index.json");
    let existing = std::fs::read(&index_path)
        .ok()
        .and_then(|b| serde_json::from_slice::<Index>(&b).ok());
    let index = index_for(desc, names, existing)?;
    fsutil::atomic_write(&index_path, &index.to_bytes()).map_err(io(&index_path))
}

/// Every blob of the image: the descriptor itself, then config and layers of each
/// manifest (every child of an index), with their sizes.
pub fn closure(store: &Store, desc: &Descriptor) -> Result<BTreeMap<Digest, u64>, ExportError> {
    let mut out = BTreeMap::new();
    add_closure(store, desc, &mut out, 0)?;
    Ok(out)
}

fn add_closure(
    store: &Store,
    desc: &Descriptor,
    out: &mut BTreeMap<Digest, u64>,
    depth: usize,
) -> Result<(), ExportError> {
    out.insert(desc.digest, desc.size);
    if depth > 8 {
        return Ok(());
    }
    let v: serde_json::Value = store.read_json(&desc.digest)?;
    let json_err = |source| crate::store::StoreError::Json {
        path: store.blob_path(&desc.digest),
        source,
    };
    if media::is_index(&desc.media_type) || v.get("manifests").is_some() {
        let index: Index = serde_json::from_value(v).map_err(json_err)?;
        for m in &index.manifests {
            add_closure(store, m, out, depth + 1)?;
        }
    } else {
        let manifest: Manifest = serde_json::from_value(v).map_err(json_err)?;
        out.insert(manifest.config.digest, manifest.config.size);
        for l in &manifest.layers {
            if !store.has_blob(&l.digest) {
                return Err(crate::store::StoreError::BlobMissing(l.digest).into());
            }
            out.insert(l.digest, l.size);
        }
    }
    Ok(())
}

/// The `index.json` of an export: one entry per name (or one unnamed entry), after the
/// entries of `existing` that carry other names.
pub(crate) fn index_for(
    desc: &Descriptor,
    names: &[String],
    existing: Option<Index>,
) -> Result<Index, ExportError> {
    let mut index = existing.unwrap_or_else(Index::empty);
    let mut plain = desc.clone();
    plain.annotations = None;
    if names.is_empty() {
        index
            .manifests
            .retain(|d| d.digest != plain.digest || d.annotations.is_some());
        index.manifests.push(plain);
        return Ok(index);
    }
    for name in names {
        let full = canonical(name)?;
        let tagged = tag_name(name)?;
        let object = object_of(&tagged);
        index.manifests.retain(|d| {
            d.annotation(REF_NAME_ANNOTATION) != Some(object.as_str())
                || d.annotation(CONTAINERD_NAME_ANNOTATION) != Some(full.as_str())
        });
        index.manifests.push(
            plain
                .clone()
                .with_annotation(CONTAINERD_NAME_ANNOTATION, &full)
                .with_annotation(REF_NAME_ANNOTATION, &object),
        );
    }
    Ok(index)
}

/// The tag (or `@digest`) part of a name, as containerd's `reference.Parse(…).Object`.
fn object_of(name: &str) -> String {
    let (rest, digest) = match name.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (name, None),
    };
    let slash = rest.rfind('/').map_or(0, |i| i + 1);
    let tag = rest[slash..].rfind(':').map(|i| &rest[slash + i + 1..]);
    match (tag, digest) {
        (Some(t), Some(d)) => format!("{t}@{d}"),
        (Some(t), None) => t.to_string(),
        (None, Some(d)) => format!("@{d}"),
        (None, None) => "latest".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_buildkit_style_annotations() {
        let d = Descriptor::new(media::OCI_MANIFEST, Digest::of(b"m"), 1);
        let index = index_for(&d, &["app:1.0".into(), "localhost:5000/x".into()], None).unwrap();
        let got: Vec<_> = index
            .manifests
            .iter()
            .map(|m| {
                (
                    m.annotation(CONTAINERD_NAME_ANNOTATION)
                        .unwrap()
                        .to_string(),
                    m.annotation(REF_NAME_ANNOTATION).unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("docker.io/library/app:1.0".to_string(), "1.0".to_string()),
                ("localhost:5000/x:latest".to_string(), "latest".to_string())
            ]
        );
        let unnamed = index_for(&d, &[], None).unwrap();
        assert_eq!(unnamed.manifests, [d]);
    }
}
