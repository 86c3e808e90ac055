//! Crash-safe file primitives: atomic writes (temp file, fsync, rename) and advisory locks.
//!
//! Nothing in the store is ever written in place. A writer fills a temp file in the
//! destination's directory, syncs it, renames it over the final name and syncs the
//! directory, so a reader sees the old file or the new one, never half of either.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

/// Writes `bytes` to `path` atomically (temp file in the same directory, fsync, rename).
pub fn atomic_write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(bytes)?;
    file.commit()
}

/// A file being written that appears at its final path only on [`AtomicFile::commit`].
///
/// Dropped without a commit, the temp file is removed.
pub struct AtomicFile {
    tmp: NamedTempFile,
    dest: PathBuf,
}

impl AtomicFile {
    /// Starts writing a file that will become `dest`; the parent directory must exist.
    pub fn create(dest: &Path) -> io::Result<AtomicFile> {
        let dir = parent_dir(dest);
        let tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
        Ok(AtomicFile {
            tmp,
            dest: dest.to_path_buf(),
        })
    }

    /// Starts a file in `tmp_dir` (same filesystem as `dest`), for stores that keep
    /// their temp files apart so `prune` can sweep leftovers.
    pub fn create_in(tmp_dir: &Path, dest: &Path) -> io::Result<AtomicFile> {
        let tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(tmp_dir)?;
        Ok(AtomicFile {
            tmp,
            dest: dest.to_path_buf(),
        })
    }

    /// Changes where the file will land on commit (for content-addressed files whose
    /// name is known only once all bytes are written).
    pub fn retarget(mut self, dest: PathBuf) -> AtomicFile {
        self.dest = dest;
        self
    }

    /// The open temp file.
    pub fn file(&self) -> &File {
        self.tmp.as_file()
    }

    /// Syncs the data, renames it into place and syncs the directory.
    pub fn commit(self) -> io::Result<()> {
        self.tmp.as_file().sync_all()?;
        self.tmp.persist(&self.dest).map_err(|e| e.error)?;
        sync_dir(parent_dir(&self.dest))
    }

    /// Like [`AtomicFile::commit`], but leaves an existing destination untouched
    /// (for write-once, content-addressed files). Returns false when it already existed.
    pub fn commit_noclobber(self) -> io::Result<bool> {
        self.tmp.as_file().sync_all()?;
        match self.tmp.persist_noclobber(&self.dest) {
            Ok(_) => {
                sync_dir(parent_dir(&self.dest))?;
                Ok(true)
            }
            Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e.error),
        }
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tmp.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.tmp.flush()
    }
}

fn parent_dir(p: &Path) -> &Path {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// fsyncs a directory so a rename inside it is durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// An exclusive advisory lock on a file (created if missing), released on drop.
pub struct FileLock {
    file: File,
}

impl FileLock {
    /// Blocks until the exclusive lock on `path` is held.
    pub fn exclusive(path: &Path) -> io::Result<FileLock> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)?;
        Ok(FileLock { file })
    }

    /// Blocks until a shared lock on `path` is held.
    pub fn shared(path: &Path) -> io::Result<FileLock> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockShared)?;
        Ok(FileLock { file })
    }

    /// Takes the exclusive lock if nobody holds it; `None` otherwise.
    pub fn try_exclusive(path: &Path) -> io::Result<Option<FileLock>> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)?;
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Some(FileLock { file })),
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = rustix::fs::flock(&self.file, rustix::fs::FlockOperation::Unlock);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        atomic_write(&p, b"one").unwrap();
        atomic_write(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temp file left behind");
    }

    #[test]
    fn uncommitted_file_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        {
            let mut f = AtomicFile::create(&p).unwrap();
            f.write_all(b"partial").unwrap();
        }
        assert!(!p.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn noclobber_keeps_first() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let mut a = AtomicFile::create(&p).unwrap();
        a.write_all(b"a").unwrap();
        assert!(a.commit_noclobber().unwrap());
        let mut b = AtomicFile::create(&p).unwrap();
        b.write_all(b"b").unwrap();
        assert!(!b.commit_noclobber().unwrap());
        assert_eq!(std::fs::read(&p).unwrap(), b"a");
    }

    #[test]
    fn try_lock_sees_holder() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("lock");
        let held = FileLock::exclusive(&p).unwrap();
        assert!(FileLock::try_exclusive(&p).unwrap().is_none());
        drop(held);
        assert!(FileLock::try_exclusive(&p).unwrap().is_some());
    }
}
