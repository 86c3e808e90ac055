//! One filesystem entry of a layer, independent of where its bytes come from.

use std::path::PathBuf;

/// What kind of entry this is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file of `size` bytes, read from [`Entry::source`].
    File {
        /// Size in bytes.
        size: u64,
    },
    /// A directory.
    Dir,
    /// A symbolic link (the target is stored as is, never followed).
    Symlink {
        /// Link target.
        target: String,
    },
    /// A hard link to an earlier entry of the same layer (a layer-relative path).
    Hardlink {
        /// Path of the linked entry, relative, `/`-separated.
        target: String,
    },
    /// A character device.
    CharDevice {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A block device.
    BlockDevice {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A named pipe.
    Fifo,
    /// Deletes the path from lower layers (written as `dir/.wh.name`).
    Whiteout,
    /// Hides everything lower layers have under this directory (written as
    /// `dir/.wh..wh..opq`); the directory itself is a separate [`EntryKind::Dir`] entry.
    Opaque,
}

/// One entry of a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Path inside the image: relative (no leading `/`), `/`-separated, no `.`/`..`
    /// components, no trailing slash.
    pub path: String,
    /// Kind and kind-specific data.
    pub kind: EntryKind,
    /// Permission bits including setuid, setgid and sticky (`0o7777` mask).
    pub mode: u32,
    /// Owner inside the image.
    pub uid: u32,
    /// Group inside the image.
    pub gid: u32,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// Extended attributes to record (e.g. `security.capability`), sorted by name.
    pub xattrs: Vec<(String, Vec<u8>)>,
    /// Where a regular file's bytes are read from on the host.
    pub source: Option<PathBuf>,
}

impl Entry {
    /// A directory entry.
    pub fn dir(path: impl Into<String>, mode: u32, uid: u32, gid: u32, mtime: i64) -> Entry {
        Entry {
            path: path.into(),
            kind: EntryKind::Dir,
            mode,
            uid,
            gid,
            mtime,
            xattrs: Vec::new(),
            source: None,
        }
    }

    /// A whiteout for `path`.
    pub fn whiteout(path: impl Into<String>) -> Entry {
        Entry {
            path: path.into(),
            kind: EntryKind::Whiteout,
            mode: 0,
            uid: 0,
            gid: 0,
            mtime: 0,
            xattrs: Vec::new(),
            source: None,
        }
    }

    /// The name the entry has in the tar stream (`.wh.` names for whiteouts and opaque markers).
    pub fn tar_path(&self) -> String {
        match self.kind {
            EntryKind::Whiteout => match self.path.rsplit_once('/') {
                Some((dir, name)) => format!("{dir}/.wh.{name}"),
                None => format!(".wh.{}", self.path),
            },
            EntryKind::Opaque => {
                if self.path.is_empty() {
                    ".wh..wh..opq".to_string()
                } else {
                    format!("{}/.wh..wh..opq", self.path)
                }
            }
            _ => self.path.clone(),
        }
    }
}

/// Orders entries as they must appear in a layer: by path, with a directory before
/// everything inside it (so `a/b` sorts before `a.txt`, since `/` is compared as the
/// lowest byte), and an opaque marker right after its directory.
pub fn sort_entries(entries: &mut [Entry]) {
    entries.sort_by_cached_key(path_key);
}

/// The sort key behind [`sort_entries`] (the layer writer checks its input against it).
pub(crate) fn path_key(e: &Entry) -> Vec<Vec<u8>> {
    let mut key: Vec<Vec<u8>> = e
        .path
        .split('/')
        .filter(|c| !c.is_empty())
        .map(|c| c.as_bytes().to_vec())
        .collect();
    match e.kind {
        // The marker sorts first among the directory's children.
        EntryKind::Opaque => key.push(Vec::new()),
        EntryKind::Whiteout => {
            if let Some(last) = key.last_mut() {
                last.splice(0..0, b".wh.".iter().copied());
            }
        }
        _ => {}
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whiteout_names() {
        assert_eq!(Entry::whiteout("a/b").tar_path(), "a/.wh.b");
        assert_eq!(Entry::whiteout("top").tar_path(), ".wh.top");
        let mut o = Entry::dir("a", 0o755, 0, 0, 0);
        o.kind = EntryKind::Opaque;
        assert_eq!(o.tar_path(), "a/.wh..wh..opq");
    }

    #[test]
    fn directory_contents_sort_right_after_the_directory() {
        let mut v = vec![
            Entry::dir("a.txt", 0, 0, 0, 0),
            Entry::dir("a/b", 0, 0, 0, 0),
            Entry::dir("a", 0, 0, 0, 0),
        ];
        sort_entries(&mut v);
        let names: Vec<_> = v.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(names, ["a", "a/b", "a.txt"]);
    }

    #[test]
    fn opaque_marker_comes_first_in_its_directory() {
        let mut o = Entry::dir("a", 0, 0, 0, 0);
        o.kind = EntryKind::Opaque;
        let mut v = vec![
            Entry::dir("a/-x", 0, 0, 0, 0),
            o,
            Entry::dir("a", 0, 0, 0, 0),
        ];
        sort_entries(&mut v);
        let names: Vec<_> = v.iter().map(Entry::tar_path).collect();
        assert_eq!(names, ["a", "a/.wh..wh..opq", "a/-x"]);
    }
}
