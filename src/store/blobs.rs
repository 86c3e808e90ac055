//! Blobs: write-once files under `blobs/sha256/`, named by the sha256 of their bytes.

use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;

use super::{Store, StoreError};
use crate::digest::{Digest, Hasher};
use crate::fsutil::AtomicFile;

impl Store {
    /// Where the blob `digest` lives (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root().join("blobs/sha256").join(digest.hex())
    }

    /// True when the blob is present.
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).exists()
    }

    /// Opens a blob for reading.
    pub fn open_blob(&self, digest: &Digest) -> Result<File, StoreError> {
        let p = self.blob_path(digest);
        File::open(&p).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::BlobMissing(*digest),
            _ => StoreError::io(&p, e),
        })
    }

    /// Reads a whole blob (for small JSON blobs).
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let p = self.blob_path(digest);
        std::fs::read(&p).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::BlobMissing(*digest),
            _ => StoreError::io(&p, e),
        })
    }

    /// Reads and parses a JSON blob.
    pub fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        digest: &Digest,
    ) -> Result<T, StoreError> {
        let bytes = self.read_blob(digest)?;
        serde_json::from_slice(&bytes).map_err(|source| StoreError::Json {
            path: self.blob_path(digest),
            source,
        })
    }

    /// Stores `bytes` as a blob; returns its digest and size.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<(Digest, u64), StoreError> {
        let digest = Digest::of(bytes);
        if self.has_blob(&digest) {
            return Ok((digest, bytes.len() as u64));
        }
        let mut w = self.blob_writer()?;
        w.write_all(bytes)
            .map_err(|e| StoreError::io(&self.tmp_dir(), e))?;
        w.commit(Some((digest, bytes.len() as u64)))
    }

    /// Starts a streaming blob write; the digest is computed as bytes go through.
    pub fn blob_writer(&self) -> Result<BlobWriter, StoreError> {
        let tmp = self.tmp_dir();
        // The destination is not known until commit; the temp file lives in tmp/.
        let file = AtomicFile::create_in(&tmp, &tmp.join("unused"))
            .map_err(|e| StoreError::io(&tmp, e))?;
        Ok(BlobWriter {
            store: self.clone(),
            file,
            hasher: Hasher::new(),
        })
    }
}

/// A blob being written: bytes go to a temp file and a hasher; [`BlobWriter::commit`]
/// checks them and renames the file to its digest.
pub struct BlobWriter {
    store: Store,
    file: AtomicFile,
    hasher: Hasher,
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.hasher.len()
    }

    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.hasher.is_empty()
    }

    /// Finishes the blob. With `expected`, a digest or size mismatch is an error and
    /// nothing is kept. Returns the digest and size.
    pub fn commit(self, expected: Option<(Digest, u64)>) -> Result<(Digest, u64), StoreError> {
        let size = self.hasher.len();
        let digest = self.hasher.finish();
        if let Some((want, want_size)) = expected {
            if want != digest || want_size != size {
                return Err(StoreError::DigestMismatch {
                    expected: want,
                    expected_size: want_size,
                    actual: digest,
                    actual_size: size,
                });
            }
        }
        let dest = self.store.blob_path(&digest);
        if dest.exists() {
            // Already stored (and synced when it was): skip the fsync of a duplicate;
            // dropping the temp file removes it.
            return Ok((digest, size));
        }
        let file = self.file.retarget(dest.clone());
        file.commit_noclobber()
            .map_err(|e| StoreError::io(&dest, e))?;
        Ok((digest, size))
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_and_read_blob() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (d, n) = store.put_blob(b"hello").unwrap();
        assert_eq!(n, 5);
        assert_eq!(d, Digest::of(b"hello"));
        assert_eq!(store.read_blob(&d).unwrap(), b"hello");
        assert!(matches!(
            store.read_blob(&Digest::of(b"x")),
            Err(StoreError::BlobMissing(_))
        ));
    }

    #[test]
    fn mismatch_keeps_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut w = store.blob_writer().unwrap();
        w.write_all(b"abc").unwrap();
        let err = w.commit(Some((Digest::of(b"abd"), 3))).unwrap_err();
        assert!(matches!(err, StoreError::DigestMismatch { .. }));
        assert!(!store.has_blob(&Digest::of(b"abc")));
        assert_eq!(std::fs::read_dir(store.tmp_dir()).unwrap().count(), 0);
    }

    #[test]
    fn layout_files_exist() {
        let dir = tempfile::tempdir().unwrap();
        Store::open(dir.path()).unwrap();
        let layout = std::fs::read_to_string(dir.path().join("oci-layout")).unwrap();
        assert_eq!(layout, r#"{"imageLayoutVersion":"1.0.0"}"#);
        let index: crate::image::Index =
            serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).unwrap()).unwrap();
        assert!(index.manifests.is_empty());
    }
}
