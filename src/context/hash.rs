//! Hashing file contents through a per-thread buffer.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Read};

use super::meta::Meta;
use crate::digest::{Digest, Hasher};

/// Read size: large enough that syscalls and hashing setup vanish next to the hashing.
const BUF_SIZE: usize = 256 * 1024;

thread_local! {
    static BUF: RefCell<Vec<u8>> = RefCell::new(vec![0; BUF_SIZE]);
}

/// The content digest of a file, and whether it still had the size it was selected
/// with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHash {
    /// sha256 of the bytes read.
    pub digest: Digest,
    /// Bytes read.
    pub len: u64,
    /// False when the file turned out shorter than its selected size: it changed under
    /// us, and the digest must not be cached against the old metadata.
    pub unchanged: bool,
}

/// Hashes the first `expect.size` bytes of a file: exactly what a layer records for it
/// (a tar header carries the size). Stopping there also saves the read that would only
/// report end-of-file. A file modified after it was selected is caught by the stat
/// cache's racy rule and by its changed metadata next time; a short file is reported.
pub fn hash_file(mut file: File, expect: &Meta) -> io::Result<FileHash> {
    let (digest, len) = hash_up_to(&mut file, expect.size)?;
    Ok(FileHash {
        digest,
        len,
        unchanged: len == expect.size,
    })
}

/// Hashes at most `limit` bytes of `reader`; returns the digest and the bytes read.
pub fn hash_up_to(reader: &mut impl Read, limit: u64) -> io::Result<(Digest, u64)> {
    BUF.with(|buf| {
        let mut buf = buf.borrow_mut();
        let mut hasher = Hasher::new();
        let mut left = limit;
        while left > 0 {
            let want = usize::try_from(left).map_or(buf.len(), |l| l.min(buf.len()));
            match reader.read(&mut buf[..want]) {
                Ok(0) => break,
                Ok(n) => {
                    hasher.update(&buf[..n]);
                    left -= n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let len = hasher.len();
        Ok((hasher.finish(), len))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_and_notices_changes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"inside").unwrap();
        let meta = Meta::from_metadata(&std::fs::symlink_metadata(&p).unwrap(), None);
        let h = hash_file(File::open(&p).unwrap(), &meta).unwrap();
        assert_eq!(h.digest, Digest::of(b"inside"));
        assert_eq!(h.len, 6);
        assert!(h.unchanged);

        // Grown since selected: exactly the selected size is hashed.
        std::fs::write(&p, b"inside and more").unwrap();
        let h = hash_file(File::open(&p).unwrap(), &meta).unwrap();
        assert_eq!(h.digest, Digest::of(b"inside"));
        assert!(h.unchanged);

        // Shrunk: reported.
        std::fs::write(&p, b"in").unwrap();
        let h = hash_file(File::open(&p).unwrap(), &meta).unwrap();
        assert_eq!(h.digest, Digest::of(b"in"));
        assert!(!h.unchanged);
    }
}
