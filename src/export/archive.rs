//! The tarball around exported images, written as containerd's archive exporter writes
//! it: entries sorted by name, directories `0755`, files `0444`, owner 0, mtime 0 — so the
//! same image always gives the same archive bytes.

use std::io::{Read, Write};

use super::ExportError;
use crate::digest::Digest;
use crate::layer::{Entry, EntryKind, TarOptions, TarWriter};
use crate::store::Store;

/// A deterministic archive being written.
pub struct Archive<W: Write> {
    tar: TarWriter<W>,
}

impl<W: Write> Archive<W> {
    /// Starts an archive.
    pub fn new(out: W) -> Archive<W> {
        Archive {
            tar: TarWriter::new(out, TarOptions::default()),
        }
    }

    /// Adds a directory.
    pub fn dir(&mut self, path: &str) -> Result<(), ExportError> {
        Ok(self.tar.append(&Entry::dir(path, 0o755, 0, 0, 0))?)
    }

    /// Adds a file with the given bytes.
    pub fn bytes(&mut self, path: &str, data: &[u8]) -> Result<(), ExportError> {
        self.reader(path, data.len() as u64, &mut &data[..])
    }

    /// Adds a file of `size` bytes read from `data`.
    pub fn reader(
        &mut self,
        path: &str,
        size: u64,
        data: &mut dyn Read,
    ) -> Result<(), ExportError> {
        let entry = Entry {
            path: path.to_string(),
            kind: EntryKind::File { size },
            mode: 0o444,
            uid: 0,
            gid: 0,
            mtime: 0,
            xattrs: Vec::new(),
            source: None,
        };
        Ok(self.tar.append_reader(&entry, data)?)
    }

    /// Adds a stored blob as `blobs/sha256/<hex>`, as it is in the store.
    pub fn blob(&mut self, store: &Store, digest: &Digest, size: u64) -> Result<(), ExportError> {
        let mut file = store.open_blob(digest)?;
        self.reader(&format!("blobs/sha256/{}", digest.hex()), size, &mut file)
    }

    /// Ends the archive and returns the output.
    pub fn finish(self) -> Result<W, ExportError> {
        Ok(self.tar.finish()?)
    }
}
