//! `type=docker` / `rbuild save --format docker`: a docker-archive that `docker load`,
//! `podman load` and `skopeo copy docker-archive:` accept.
//!
//! `manifest.json` names the config and one uncompressed tar per layer; each layer tar is
//! stored under its diff ID, and its sha256 is checked against the config while it is
//! decompressed (compressed blobs are decompressed, never re-compressed). A layer is
//! decompressed into a temp file of the store just before it is written, because a tar
//! header needs the size first; only one layer is spooled at a time.

use std::collections::BTreeMap;
use std::io::{Seek, Write};

use serde::Serialize;

use super::ExportError;
use super::archive::Archive;
use crate::digest::{Digest, HashingWriter};
use crate::image::{Descriptor, Platform};
use crate::layer::open_layer;
use crate::store::Store;
use crate::store::names::tag_name;

/// One image of `manifest.json`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifest {
    config: String,
    repo_tags: Vec<String>,
    layers: Vec<String>,
}

/// Writes the image `desc` names (an index resolves to the host platform) as a
/// docker-archive into `out`, tagged with `names`.
pub fn write_docker_archive<W: Write>(
    store: &Store,
    desc: &Descriptor,
    names: &[String],
    out: W,
) -> Result<W, ExportError> {
    let image = store.load_image_for(desc, &Platform::host())?;
    let diff_ids = &image.config.rootfs.diff_ids;
    if diff_ids.len() != image.manifest.layers.len() {
        return Err(ExportError::LayerCount {
            layers: image.manifest.layers.len(),
            diff_ids: diff_ids.len(),
        });
    }
    // diff ID → the compressed layer to expand; a layer used twice is written once.
    let mut layers: BTreeMap<Digest, &Descriptor> = BTreeMap::new();
    for (layer, diff_id) in image.manifest.layers.iter().zip(diff_ids) {
        if !store.has_blob(&layer.digest) {
            return Err(crate::store::StoreError::BlobMissing(layer.digest).into());
        }
        layers.entry(*diff_id).or_insert(layer);
    }
    let config = image.config_descriptor.digest;
    let manifest = vec![DockerManifest {
        config: format!("blobs/sha256/{}", config.hex()),
        repo_tags: names
            .iter()
            .map(|n| tag_name(n).map(|t| familiar(&t)))
            .filter(|t| t.as_ref().map_or(true, |t| !t.contains('@')))
            .collect::<Result<_, _>>()?,
        layers: diff_ids
            .iter()
            .map(|d| format!("blobs/sha256/{}", d.hex()))
            .collect(),
    }];
    let manifest_json = serde_json::to_vec(&manifest).map_err(|e| ExportError::Io {
        path: "manifest.json".into(),
        source: e.into(),
    })?;

    let mut entries: BTreeMap<Digest, Option<&Descriptor>> =
        layers.iter().map(|(d, l)| (*d, Some(*l))).collect();
    entries.insert(config, None);
    let mut a = Archive::new(out);
    a.dir("blobs")?;
    a.dir("blobs/sha256")?;
    for (digest, layer) in entries {
        match layer {
            None => a.blob(store, &digest, image.config_descriptor.size)?,
            Some(layer) => {
                let mut tmp = spool_layer(store, layer, &digest)?;
                let size = tmp.as_file().metadata().map_err(tmp_io(store))?.len();
                tmp.rewind().map_err(tmp_io(store))?;
                a.reader(
                    &format!("blobs/sha256/{}", digest.hex()),
                    size,
                    tmp.as_file_mut(),
                )?;
            }
        }
    }
    a.bytes("manifest.json", &manifest_json)?;
    a.finish()
}

/// Decompresses `layer` into a temp file, checking it against `diff_id`.
fn spool_layer(
    store: &Store,
    layer: &Descriptor,
    diff_id: &Digest,
) -> Result<tempfile::NamedTempFile, ExportError> {
    let tmp = tempfile::Builder::new()
        .prefix(".export-")
        .tempfile_in(store.tmp_dir())
        .map_err(tmp_io(store))?;
    let mut reader = open_layer(store, layer)?;
    let mut w = HashingWriter::new(std::io::BufWriter::with_capacity(256 * 1024, tmp));
    std::io::copy(&mut reader, &mut w).map_err(|e| ExportError::Io {
        path: store.blob_path(&layer.digest),
        source: e,
    })?;
    let (buf, actual, _) = w.finish();
    if actual != *diff_id {
        return Err(ExportError::DiffIdMismatch {
            layer: layer.digest,
            expected: *diff_id,
            actual,
        });
    }
    buf.into_inner().map_err(|e| ExportError::Io {
        path: store.tmp_dir(),
        source: e.into_error(),
    })
}

fn tmp_io(store: &Store) -> impl Fn(std::io::Error) -> ExportError + '_ {
    move |e| ExportError::Io {
        path: store.tmp_dir(),
        source: e,
    }
}

/// The short name Docker shows: `docker.io/library/app:1` → `app:1`, `docker.io/u/app` → `u/app`.
pub(crate) fn familiar(name: &str) -> String {
    let short = name
        .strip_prefix("docker.io/library/")
        .or_else(|| name.strip_prefix("docker.io/"))
        .unwrap_or(name);
    short.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn familiar_names() {
        assert_eq!(familiar("docker.io/library/app:1"), "app:1");
        assert_eq!(familiar("docker.io/u/app:1"), "u/app:1");
        assert_eq!(familiar("localhost:5000/a:1"), "localhost:5000/a:1");
    }
}
