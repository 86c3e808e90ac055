//! Snapshots: each layer unpacked once into `snapshots/<diff-id hex>/`, shared by every
//! build, used as an overlayfs lowerdir.
//!
//! # Format
//!
//! A snapshot is an overlayfs layer for a mount with `userxattr`: a whiteout is a 0/0
//! character device, an opaque directory carries `user.overlay.opaque=y`. Whiteout
//! devices can be made without privilege (Linux ≥ 5.8) and `user.*` xattrs need none,
//! so one format serves real root and a rootless process inside its user namespace;
//! the sandbox mounts every overlay with `userxattr`. The diff also accepts
//! `trusted.overlay.opaque` in an upperdir.
//!
//! # Atomicity
//!
//! A snapshot is unpacked into a temp dir under the store's `tmp/`, checked against its
//! diff ID, then renamed into place with `RENAME_NOREPLACE`: a half-unpacked snapshot is
//! never visible under `snapshots/`, whatever happens to the process. Builds racing on
//! the same layer serialise on a lock file; if one still loses the rename it uses the
//! winner's.
//!
//! # Delta snapshots
//!
//! A snapshot may hold only what its layer changed relative to another layer's snapshot
//! (its base): `snapshots/<diff-id>.base` names the base, and the layer's content is the
//! overlay of the snapshot on its base ([`Snapshots::chain`] lists the directories, top
//! first). The solver makes one when a COPY layer is rewritten with few changes, so a
//! one-file change creates one file, not the whole tree. The marker is written before the
//! directory is published, so a visible delta always names its base; prune keeps a base
//! alive as long as a live snapshot builds on it.
//!
//! Snapshots are derived data (each is re-made from its verified blob), so their file
//! data is not flushed before the rename, as containerd's and BuildKit's snapshotters
//! do not: a `syncfs` per layer cost seconds on a busy machine, on every cold build.
//! The blobs and cache records they come from are the durable state, written with
//! fsync.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::digest::{Digest, HashingReader};
use crate::fsutil::{self, FileLock};
use crate::store::Store;

use super::unpack::{UnpackError, UnpackMode, unpack};

/// Why a snapshot could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The layer stream could not be opened.
    #[error("opening layer {diff_id}: {source}")]
    Open {
        /// The layer.
        diff_id: Digest,
        /// The error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The layer did not unpack.
    #[error("unpacking layer {diff_id}: {source}")]
    Unpack {
        /// The layer.
        diff_id: Digest,
        /// The error.
        #[source]
        source: UnpackError,
    },
    /// The stream's digest is not the diff ID it was asked for.
    #[error("layer {expected} is corrupt: its content hashes to {actual}")]
    DigestMismatch {
        /// The diff ID asked for.
        expected: Digest,
        /// What the stream hashed to.
        actual: Digest,
    },
    /// Store I/O.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
}

fn ioerr(path: &Path) -> impl FnOnce(io::Error) -> SnapshotError + '_ {
    move |source| SnapshotError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The longest chain of delta snapshots (overlay takes every one as a lower dir).
pub const MAX_DELTA_DEPTH: usize = 8;

/// The store's snapshot directory.
#[derive(Debug, Clone)]
pub struct Snapshots {
    dir: PathBuf,
    tmp: PathBuf,
    locks: PathBuf,
}

impl Snapshots {
    /// The snapshots of `store`.
    pub fn new(store: &Store) -> Snapshots {
        Snapshots {
            dir: store.root().join("snapshots"),
            tmp: store.tmp_dir(),
            locks: store.root().join("locks"),
        }
    }

    /// Where the snapshot of layer `diff_id` lives (whether or not it exists).
    pub fn path(&self, diff_id: &Digest) -> PathBuf {
        self.dir.join(diff_id.hex())
    }

    /// True when the snapshot of `diff_id` exists.
    pub fn contains(&self, diff_id: &Digest) -> bool {
        self.path(diff_id).is_dir()
    }

    /// Where a delta snapshot names its base.
    fn base_marker(&self, diff_id: &Digest) -> PathBuf {
        self.dir.join(format!("{}.base", diff_id.hex()))
    }

    /// The base of a delta snapshot, `None` for a complete one.
    pub fn base_of(&self, diff_id: &Digest) -> Option<Digest> {
        let text = std::fs::read_to_string(self.base_marker(diff_id)).ok()?;
        Digest::from_hex(text.trim()).ok()
    }

    /// The directories that make up the existing snapshot of `diff_id`, top first: itself,
    /// then its bases. `None` when it (or a base) is missing.
    pub fn chain(&self, diff_id: &Digest) -> Option<Vec<PathBuf>> {
        let mut out = Vec::new();
        let mut cur = *diff_id;
        for _ in 0..=MAX_DELTA_DEPTH {
            if !self.contains(&cur) {
                return None;
            }
            out.push(self.path(&cur));
            match self.base_of(&cur) {
                Some(base) => cur = base,
                None => return Some(out),
            }
        }
        None
    }

    /// How many snapshots a delta on top of `diff_id` would stack (1 + its chain).
    pub fn depth(&self, diff_id: &Digest) -> usize {
        self.chain(diff_id).map_or(usize::MAX, |c| c.len())
    }

    /// Publishes `dir` as the snapshot of `diff_id`, holding only its differences from the
    /// existing snapshot of `base`. Kept as is when a snapshot of `diff_id` exists.
    pub fn adopt_delta(
        &self,
        diff_id: &Digest,
        dir: &Path,
        base: &Digest,
    ) -> Result<PathBuf, SnapshotError> {
        let dest = self.path(diff_id);
        let lock_path = self.locks.join(format!("snapshot-{}.lock", diff_id.hex()));
        let _lock = FileLock::exclusive(&lock_path).map_err(ioerr(&lock_path))?;
        if !dest.is_dir() {
            let marker = self.base_marker(diff_id);
            fsutil::atomic_write(&marker, base.hex().as_bytes()).map_err(ioerr(&marker))?;
            set_mode_755(dir)?;
            publish(dir, &dest)?;
        }
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(ioerr(dir))?;
        }
        Ok(dest)
    }

    /// Returns the snapshot of layer `diff_id`, unpacking the uncompressed tar that
    /// `open_tar` returns if it is not there yet (`open_tar` is not called otherwise).
    pub fn ensure<R, E, F>(&self, diff_id: &Digest, open_tar: F) -> Result<PathBuf, SnapshotError>
    where
        R: Read,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
        F: FnOnce() -> Result<R, E>,
    {
        let dest = self.path(diff_id);
        if dest.is_dir() {
            return Ok(dest);
        }
        std::fs::create_dir_all(&self.dir).map_err(ioerr(&self.dir))?;
        let lock_path = self.locks.join(format!("snapshot-{}.lock", diff_id.hex()));
        let _lock = FileLock::exclusive(&lock_path).map_err(ioerr(&lock_path))?;
        if dest.is_dir() {
            return Ok(dest);
        }
        let reader = open_tar().map_err(|e| SnapshotError::Open {
            diff_id: *diff_id,
            source: e.into(),
        })?;
        let staging = tempfile::Builder::new()
            .prefix(&format!("snapshot-{}-", diff_id.short()))
            .tempdir_in(&self.tmp)
            .map_err(ioerr(&self.tmp))?;
        set_mode_755(staging.path())?;
        let mut hashing = HashingReader::new(reader);
        unpack(&mut hashing, staging.path(), UnpackMode::Overlay).map_err(|source| {
            SnapshotError::Unpack {
                diff_id: *diff_id,
                source,
            }
        })?;
        // The tar reader stops at the end-of-archive marker; hash the padding after it too.
        io::copy(&mut hashing, &mut io::sink()).map_err(|e| SnapshotError::Unpack {
            diff_id: *diff_id,
            source: UnpackError::Read(e),
        })?;
        let (_, actual, _) = hashing.finish();
        if actual != *diff_id {
            return Err(SnapshotError::DigestMismatch {
                expected: *diff_id,
                actual,
            });
        }
        self.drop_marker(diff_id)?;
        publish(staging.path(), &dest)?;
        if !staging.path().exists() {
            // Renamed into place: nothing left for the TempDir to delete.
            let _ = staging.keep();
        }
        Ok(dest)
    }

    /// Moves an already-unpacked directory `dir` (same filesystem) into place as the
    /// snapshot of `diff_id`, e.g. a RUN step's upperdir whose layer was just written.
    /// If the snapshot appeared meanwhile, `dir` is deleted and the existing one kept.
    pub fn adopt(&self, diff_id: &Digest, dir: &Path) -> Result<PathBuf, SnapshotError> {
        let dest = self.path(diff_id);
        std::fs::create_dir_all(&self.dir).map_err(ioerr(&self.dir))?;
        if !dest.is_dir() {
            set_mode_755(dir)?;
            self.drop_marker(diff_id)?;
            publish(dir, &dest)?;
        }
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(ioerr(dir))?;
        }
        Ok(dest)
    }

    /// A complete snapshot must not carry a base marker (a crash may have left one).
    fn drop_marker(&self, diff_id: &Digest) -> Result<(), SnapshotError> {
        let marker = self.base_marker(diff_id);
        match std::fs::remove_file(&marker) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(ioerr(&marker)(e)),
            _ => Ok(()),
        }
    }

    /// Removes the snapshot of `diff_id` (a delta whose base is gone): it is re-made from
    /// its blob when next needed.
    pub fn discard(&self, diff_id: &Digest) -> Result<(), SnapshotError> {
        let lock_path = self.locks.join(format!("snapshot-{}.lock", diff_id.hex()));
        let _lock = FileLock::exclusive(&lock_path).map_err(ioerr(&lock_path))?;
        let dest = self.path(diff_id);
        if dest.is_dir() {
            // Out of sight first, then deleted.
            let gone = self.tmp.join(format!(
                "discarded-{}-{}",
                diff_id.short(),
                std::process::id()
            ));
            std::fs::rename(&dest, &gone).map_err(ioerr(&dest))?;
            std::fs::remove_dir_all(&gone).map_err(ioerr(&gone))?;
        }
        self.drop_marker(diff_id)
    }
}

fn set_mode_755(dir: &Path) -> Result<(), SnapshotError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).map_err(ioerr(dir))
}

/// Renames `staging` to `dest` unless `dest` exists.
fn publish(staging: &Path, dest: &Path) -> Result<(), SnapshotError> {
    match rustix::fs::renameat_with(
        rustix::fs::CWD,
        staging,
        rustix::fs::CWD,
        dest,
        rustix::fs::RenameFlags::NOREPLACE,
    ) {
        Ok(()) => {}
        Err(rustix::io::Errno::EXIST | rustix::io::Errno::NOTEMPTY) => return Ok(()),
        Err(e) => return Err(ioerr(dest)(e.into())),
    }
    let parent = dest.parent().unwrap_or(Path::new("."));
    fsutil::sync_dir(parent).map_err(ioerr(parent))
}
