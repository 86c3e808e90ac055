//! Hashing file contents through a per-thread buffer, and noticing files that change
//! while they are read.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;

use super::meta::Meta;
use crate::digest::{Digest, Hasher};

/// Read size: large enough that syscalls and hashing setup vanish next to the hashing.
const BUF_SIZE: usize = 256 * 1024;

thread_local! {
    static BUF: RefCell<Vec<u8>> = RefCell::new(vec![0; BUF_SIZE]);
}

/// The content digest of a file, and whether it stayed as the walk saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHash {
    /// sha256 of the bytes read.
    pub digest: Digest,
    /// Bytes read.
    pub len: u64,
    /// False when the file's size, times or inode differ from the metadata it was
    /// selected with (it changed under us): the digest is right for the bytes read
    /// but must not be cached against the old metadata.
    pub unchanged: bool,
}

/// Hashes everything `reader` yields.
pub fn hash_reader(reader: &mut impl Read) -> io::Result<(Digest, u64)> {
    BUF.with(|buf| {
        let mut buf = buf.borrow_mut();
        let mut hasher = Hasher::new();
        loop {
            match reader.read(&mut buf[..]) {
                Ok(0) => break,
                Ok(n) => hasher.update(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let len = hasher.len();
        Ok((hasher.finish(), len))
    })
}

/// Hashes an open file and checks it still matches `expect`.
pub fn hash_file(mut file: File, expect: &Meta) -> io::Result<FileHash> {
    let (digest, len) = hash_reader(&mut file)?;
    let now = file.metadata()?;
    let unchanged = now.size() == expect.size
        && len == expect.size
        && now.ino() == expect.ino
        && now.dev() == expect.dev
        && now.mtime() * 1_000_000_000 + now.mtime_nsec() == expect.mtime_ns
        && now.ctime() * 1_000_000_000 + now.ctime_nsec() == expect.ctime_ns;
    Ok(FileHash {
        digest,
        len,
        unchanged,
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

        std::fs::write(&p, b"changed!").unwrap();
        let h = hash_file(File::open(&p).unwrap(), &meta).unwrap();
        assert_eq!(h.digest, Digest::of(b"changed!"));
        assert!(!h.unchanged);
    }
}
