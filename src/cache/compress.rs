//! `--cache-to …,compression=zstd`: the exported records point at layers compressed
//! the way asked, re-compressing those that are not (the diff ID, the hash of the tar,
//! does not change and is checked). A conversion is remembered in the store
//! (`ROOT/cache-converted/`), so exporting again does not compress again.

use std::io;
use std::path::PathBuf;

use super::CacheError;
use super::fetch::LazyBlobs;
use crate::digest::HashingReader;
use crate::fsutil::atomic_write;
use crate::image::Descriptor;
use crate::layer::{Codec, CompressWriter, Compression, open_layer};
use crate::registry::Progress;
use crate::store::{LayerRecord, Store};

/// Directory under the store root.
pub const CONVERTED_DIR: &str = "cache-converted";

fn codec(c: Compression) -> Codec {
    match c {
        Compression::Gzip => Codec::Gzip,
        Compression::Zstd => Codec::Zstd,
        Compression::Uncompressed => Codec::Plain,
    }
}

fn memo_path(store: &Store, layer: &LayerRecord, c: Compression, level: Option<i32>) -> PathBuf {
    let level = level.map_or("default".to_string(), |l| l.to_string());
    store.root().join(CONVERTED_DIR).join(format!(
        "{}-{:?}-{level}.json",
        layer.descriptor.digest.hex(),
        c
    ))
}

/// `layer` compressed as `compression` (itself when it already is).
pub(crate) fn convert(
    store: &Store,
    lazy: &LazyBlobs<'_>,
    layer: &LayerRecord,
    compression: Compression,
    level: Option<i32>,
    progress: Progress<'_>,
) -> Result<LayerRecord, CacheError> {
    if Codec::from_media_type(&layer.descriptor.media_type) == Some(codec(compression)) {
        return Ok(layer.clone());
    }
    let memo = memo_path(store, layer, compression, level);
    if let Some(done) = std::fs::read(&memo)
        .ok()
        .and_then(|b| serde_json::from_slice::<LayerRecord>(&b).ok())
        .filter(|r| r.diff_id == layer.diff_id && store.has_blob(&r.descriptor.digest))
    {
        return Ok(done);
    }
    lazy.ensure(&layer.descriptor, progress)?;
    let tmp = store.tmp_dir();
    let mut tar = HashingReader::new(open_layer(store, &layer.descriptor)?);
    let mut out = CompressWriter::new(store.blob_writer()?, compression, level)
        .map_err(|e| CacheError::io(&tmp, e))?;
    io::copy(&mut tar, &mut out).map_err(|e| CacheError::io(&tmp, e))?;
    let blob = out.finish().map_err(|e| CacheError::io(&tmp, e))?;
    let (_, diff_id, _) = tar.finish();
    if diff_id != layer.diff_id {
        return Err(CacheError::Corrupt {
            path: store.blob_path(&layer.descriptor.digest),
            reason: format!(
                "the layer decompresses to {diff_id}, its record says {}",
                layer.diff_id
            ),
        });
    }
    let (digest, size) = blob.commit(None)?;
    let converted = LayerRecord {
        descriptor: Descriptor::new(compression.media_type(), digest, size),
        diff_id,
    };
    if let Some(dir) = memo.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    // A memo is an optimization: failing to write one costs a later re-compression.
    let _ = serde_json::to_vec(&converted).map(|b| atomic_write(&memo, &b));
    Ok(converted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;
    use crate::layer::{Entry, LayerOptions, write_layer};
    use crate::registry::{RegistryClient, RegistryOptions, TransferEvent};

    fn noop(_: &TransferEvent) {}

    #[test]
    fn gzip_to_zstd_keeps_the_diff_id() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let client = RegistryClient::new(RegistryOptions::default());
        let lazy = LazyBlobs::new(&store, &client);
        let entries = vec![
            Entry::dir("etc", 0o755, 0, 0, 0),
            Entry::dir("etc/cache", 0o700, 1, 1, 7),
        ];
        let info = write_layer(&store, &entries, &LayerOptions::default()).unwrap();
        let gz = info.record();
        assert_eq!(
            Codec::from_media_type(&gz.descriptor.media_type),
            Some(Codec::Gzip)
        );

        let z = convert(&store, &lazy, &gz, Compression::Zstd, None, &noop).unwrap();
        assert_eq!(z.diff_id, gz.diff_id);
        assert_eq!(z.descriptor.media_type, crate::image::media::OCI_LAYER_ZSTD);
        let blob = store.read_blob(&z.descriptor.digest).unwrap();
        assert!(blob.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]), "not zstd");
        // The tar inside is the same.
        let mut tar = Vec::new();
        io::copy(&mut open_layer(&store, &z.descriptor).unwrap(), &mut tar).unwrap();
        assert_eq!(Digest::of(&tar), gz.diff_id);
        // Remembered, and a no-op for a layer already compressed that way.
        assert!(memo_path(&store, &gz, Compression::Zstd, None).is_file());
        assert_eq!(
            convert(&store, &lazy, &gz, Compression::Zstd, None, &noop).unwrap(),
            z
        );
        assert_eq!(
            convert(&store, &lazy, &z, Compression::Zstd, None, &noop).unwrap(),
            z
        );
    }

    #[test]
    fn a_wrong_diff_id_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let client = RegistryClient::new(RegistryOptions::default());
        let lazy = LazyBlobs::new(&store, &client);
        let entries = vec![Entry::dir("a", 0o755, 0, 0, 0)];
        let mut rec = write_layer(&store, &entries, &LayerOptions::default())
            .unwrap()
            .record();
        rec.diff_id = Digest::of(b"something else");
        let err = convert(&store, &lazy, &rec, Compression::Zstd, None, &noop).unwrap_err();
        assert!(err.to_string().contains("decompresses to"), "{err}");
    }
}
