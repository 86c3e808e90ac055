//! What a tree knows about one entry: the subset of `lstat` a build needs.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;

/// The type of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link, never followed by the walk.
    Symlink {
        /// The link target, as stored.
        target: String,
    },
    /// A device, FIFO or socket (see [`Meta::mode`] for which).
    Other,
}

/// Metadata of one entry, as `lstat` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// Entry type.
    pub kind: Kind,
    /// `st_mode`: type bits and permission bits (including setuid, setgid, sticky).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes (for a symlink, the length of its target).
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// Status change time, nanoseconds since the epoch.
    pub ctime_ns: i64,
    /// Device of the filesystem holding the entry.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Number of hard links.
    pub nlink: u64,
    /// Device number, for device entries.
    pub rdev: u64,
}

impl Meta {
    /// Builds a `Meta` from `lstat` output; `target` is the link target of a symlink.
    pub fn from_metadata(md: &Metadata, target: Option<String>) -> Meta {
        let ft = md.file_type();
        let kind = if ft.is_file() {
            Kind::File
        } else if ft.is_dir() {
            Kind::Dir
        } else if ft.is_symlink() {
            Kind::Symlink {
                target: target.unwrap_or_default(),
            }
        } else {
            Kind::Other
        };
        Meta {
            kind,
            mode: md.mode(),
            uid: md.uid(),
            gid: md.gid(),
            size: md.size(),
            mtime_ns: md.mtime() * 1_000_000_000 + md.mtime_nsec(),
            ctime_ns: md.ctime() * 1_000_000_000 + md.ctime_nsec(),
            dev: md.dev(),
            ino: md.ino(),
            nlink: md.nlink(),
            rdev: md.rdev(),
        }
    }

    /// Permission bits including setuid, setgid and sticky (`0o7777`).
    pub fn permissions(&self) -> u32 {
        self.mode & 0o7777
    }

    /// True for a regular file.
    pub fn is_file(&self) -> bool {
        self.kind == Kind::File
    }

    /// True for a directory.
    pub fn is_dir(&self) -> bool {
        self.kind == Kind::Dir
    }

    /// The target when this is a symlink.
    pub fn link_target(&self) -> Option<&str> {
        match &self.kind {
            Kind::Symlink { target } => Some(target),
            _ => None,
        }
    }
}
