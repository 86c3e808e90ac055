//! Layers into the store in one streaming pass: entries → tar → sha256 (the diff ID) →
//! compressor → blob file (the digest). Memory stays bounded by the copy buffer and one
//! compression batch, whatever the size of the layer.

use super::compress::{CompressWriter, Compression};
use super::writer::{TarOptions, TarWriter};
use super::{Entry, LayerError};
use crate::digest::{Digest, HashingWriter};
use crate::image::Descriptor;
use crate::store::{BlobWriter, LayerRecord, Store};

/// How to write a layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LayerOptions {
    /// Compression of the blob.
    pub compression: Compression,
    /// Compression level; `None` for the default of the compression.
    pub level: Option<i32>,
    /// Tar options (mtime clamping).
    pub tar: TarOptions,
}

impl LayerOptions {
    /// Gzip at the default level, mtimes clamped to `SOURCE_DATE_EPOCH` when it is set.
    pub fn from_env() -> LayerOptions {
        LayerOptions {
            tar: TarOptions::from_env(),
            ..Default::default()
        }
    }
}

/// A layer written to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerInfo {
    /// The compressed blob (media type per compression).
    pub descriptor: Descriptor,
    /// sha256 of the uncompressed tar (what the image config lists).
    pub diff_id: Digest,
    /// Size of the uncompressed tar.
    pub uncompressed_size: u64,
}

impl LayerInfo {
    /// The record a step cache entry keeps for this layer.
    pub fn record(&self) -> LayerRecord {
        LayerRecord {
            descriptor: self.descriptor.clone(),
            diff_id: self.diff_id,
        }
    }
}

/// Streams entries into a new layer blob; see [`write_layer`] for the one-call form.
pub struct LayerWriter {
    tar: TarWriter<HashingWriter<CompressWriter<BlobWriter>>>,
    compression: Compression,
}

impl LayerWriter {
    /// Starts a layer in `store`.
    pub fn new(store: &Store, opts: &LayerOptions) -> Result<LayerWriter, LayerError> {
        let blob = store.blob_writer()?;
        let enc =
            CompressWriter::new(blob, opts.compression, opts.level).map_err(LayerError::Output)?;
        Ok(LayerWriter {
            tar: TarWriter::new(HashingWriter::new(enc), opts.tar),
            compression: opts.compression,
        })
    }

    /// Appends one entry (entries must come in [`super::sort_entries`] order).
    pub fn append(&mut self, entry: &Entry) -> Result<(), LayerError> {
        self.tar.append(entry)
    }

    /// Ends the tar, commits the blob and returns what was written.
    pub fn finish(self) -> Result<LayerInfo, LayerError> {
        let hashing = self.tar.finish()?;
        let (enc, diff_id, uncompressed_size) = hashing.finish();
        let blob = enc.finish().map_err(LayerError::Output)?;
        let (digest, size) = blob.commit(None)?;
        Ok(LayerInfo {
            descriptor: Descriptor::new(self.compression.media_type(), digest, size),
            diff_id,
            uncompressed_size,
        })
    }
}

/// Writes `entries` (already in canonical order) as one layer blob in `store`.
/// No entries give an empty but valid layer (1024 zero bytes).
pub fn write_layer(
    store: &Store,
    entries: &[Entry],
    opts: &LayerOptions,
) -> Result<LayerInfo, LayerError> {
    let mut w = LayerWriter::new(store, opts)?;
    for e in entries {
        w.append(e)?;
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::{EntryKind, open_layer, sort_entries};
    use std::io::Read;

    fn entries(dir: &std::path::Path) -> Vec<Entry> {
        let big = dir.join("big");
        let data: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&big, &data).unwrap();
        let mut v = vec![
            Entry::dir("app", 0o755, 0, 0, 1_700_000_000),
            Entry {
                path: "app/big.bin".into(),
                kind: EntryKind::File {
                    size: data.len() as u64,
                },
                mode: 0o600,
                uid: 1,
                gid: 2,
                mtime: 1_700_000_001,
                xattrs: vec![("user.k".into(), b"v".to_vec())],
                source: Some(big),
            },
        ];
        sort_entries(&mut v);
        v
    }

    #[test]
    fn same_entries_same_digests_across_stores_and_compressions() {
        let src = tempfile::tempdir().unwrap();
        let e = entries(src.path());
        for compression in [
            Compression::Gzip,
            Compression::Zstd,
            Compression::Uncompressed,
        ] {
            let opts = LayerOptions {
                compression,
                ..Default::default()
            };
            let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
            let sa = Store::open(a.path()).unwrap();
            let sb = Store::open(b.path()).unwrap();
            let la = write_layer(&sa, &e, &opts).unwrap();
            let lb = write_layer(&sb, &e, &opts).unwrap();
            assert_eq!(la, lb, "{compression:?}");
            assert_eq!(la.descriptor.media_type, compression.media_type());
            // The diff ID is the sha256 of what open_layer gives back.
            let mut tar = Vec::new();
            open_layer(&sa, &la.descriptor)
                .unwrap()
                .read_to_end(&mut tar)
                .unwrap();
            assert_eq!(Digest::of(&tar), la.diff_id);
            assert_eq!(tar.len() as u64, la.uncompressed_size);
        }
    }

    #[test]
    fn parallel_writers_of_the_same_layer_both_succeed() {
        let src = tempfile::tempdir().unwrap();
        let e = entries(src.path());
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let infos: Vec<LayerInfo> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| write_layer(&store, &e, &LayerOptions::default()).unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(infos.windows(2).all(|w| w[0] == w[1]));
        assert_eq!(std::fs::read_dir(store.tmp_dir()).unwrap().count(), 0);
        let blob = std::fs::read(store.blob_path(&infos[0].descriptor.digest)).unwrap();
        assert_eq!(Digest::of(&blob), infos[0].descriptor.digest);
    }

    #[test]
    fn empty_layer_gets_a_blob() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let info = write_layer(&store, &[], &LayerOptions::default()).unwrap();
        assert_eq!(info.diff_id, Digest::of(&[0u8; 1024]));
        assert_eq!(info.uncompressed_size, 1024);
        assert!(store.has_blob(&info.descriptor.digest));
    }

    #[test]
    fn failed_layer_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let bad = Entry {
            path: "f".into(),
            kind: EntryKind::File { size: 10 },
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 0,
            xattrs: vec![],
            source: Some(dir.path().join("missing")),
        };
        assert!(write_layer(&store, &[bad], &LayerOptions::default()).is_err());
        assert_eq!(std::fs::read_dir(store.tmp_dir()).unwrap().count(), 0);
        assert_eq!(
            std::fs::read_dir(dir.path().join("blobs/sha256"))
                .unwrap()
                .count(),
            0
        );
    }
}
