//! The deterministic tar writer: [`Entry`] values in canonical order in, a layer tar out.
//!
//! Everything in the output comes from the entries (numeric uid/gid, mode, mtime, xattrs),
//! never from the host running the build, so the same entries give the same bytes on every
//! machine. File contents are streamed from [`Entry::source`] through a fixed buffer; a
//! file whose size differs from its entry is an error, never a corrupt tar.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::path::check_path;
use super::path_key;
use super::tarfmt::{self, Header, flag};
use super::{Entry, EntryKind, LayerError};

/// Copy buffer size for file contents.
const COPY_BUF: usize = 256 * 1024;

/// Options that change the bytes of the tar.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TarOptions {
    /// Clamp every mtime to at most this (`SOURCE_DATE_EPOCH`), as BuildKit's
    /// `rewrite-timestamp` does.
    pub clamp_mtime: Option<i64>,
}

impl TarOptions {
    /// Options from the environment: `SOURCE_DATE_EPOCH`, when set to an integer.
    pub fn from_env() -> TarOptions {
        TarOptions {
            clamp_mtime: source_date_epoch(),
        }
    }
}

/// `SOURCE_DATE_EPOCH` as seconds, when set to an integer.
pub fn source_date_epoch() -> Option<i64> {
    std::env::var("SOURCE_DATE_EPOCH").ok()?.trim().parse().ok()
}

/// Writes layer entries as a tar stream into `W`.
pub struct TarWriter<W: Write> {
    out: W,
    opts: TarOptions,
    last: Option<(Vec<Vec<u8>>, String)>,
    linkable: HashSet<String>,
    header: Vec<u8>,
    buf: Vec<u8>,
}

impl<W: Write> TarWriter<W> {
    /// A writer that writes into `out`.
    pub fn new(out: W, opts: TarOptions) -> TarWriter<W> {
        TarWriter {
            out,
            opts,
            last: None,
            linkable: HashSet::new(),
            header: Vec::with_capacity(3 * tarfmt::BLOCK),
            buf: Vec::new(),
        }
    }

    /// Appends one entry; a regular file's bytes are read from its `source`.
    pub fn append(&mut self, entry: &Entry) -> Result<(), LayerError> {
        match (&entry.kind, &entry.source) {
            (EntryKind::File { .. }, Some(source)) => {
                let mut file = open_source(source)?;
                self.append_from(entry, &mut file, source)
            }
            (EntryKind::File { .. }, None) => Err(LayerError::MissingSource(entry.path.clone())),
            _ => self.append_from(entry, &mut io::empty(), Path::new(&entry.path)),
        }
    }

    /// Appends a regular-file entry whose bytes come from `data` (exactly the entry's
    /// size); other kinds ignore `data`.
    pub fn append_reader(&mut self, entry: &Entry, data: &mut dyn Read) -> Result<(), LayerError> {
        let label = entry.path.clone();
        self.append_from(entry, data, Path::new(&label))
    }

    /// Writes the end-of-archive marker (two zero blocks) and returns the output.
    pub fn finish(mut self) -> Result<W, LayerError> {
        self.out
            .write_all(&[0u8; 2 * tarfmt::BLOCK])
            .map_err(LayerError::Output)?;
        self.out.flush().map_err(LayerError::Output)?;
        Ok(self.out)
    }

    /// The output, for inspection.
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    fn append_from(
        &mut self,
        entry: &Entry,
        data: &mut dyn Read,
        label: &Path,
    ) -> Result<(), LayerError> {
        check_path(entry)?;
        self.check_order(entry)?;
        let name = tar_name(entry);
        let mtime = match self.opts.clamp_mtime {
            Some(max) => entry.mtime.min(max),
            None => entry.mtime,
        };
        let mut h = Header {
            name: &name,
            mode: entry.mode & 0o7777,
            uid: entry.uid.into(),
            gid: entry.gid.into(),
            mtime,
            xattrs: &entry.xattrs,
            ..Default::default()
        };
        let mut size = 0;
        match &entry.kind {
            EntryKind::File { size: s } => {
                h.typeflag = flag::REG;
                h.size = *s;
                size = *s;
            }
            EntryKind::Dir => h.typeflag = flag::DIR,
            EntryKind::Symlink { target } => {
                h.typeflag = flag::SYMLINK;
                h.linkname = target;
            }
            EntryKind::Hardlink { target } => {
                if !self.linkable.contains(target.as_str()) {
                    return Err(LayerError::HardlinkTarget {
                        path: entry.path.clone(),
                        target: target.clone(),
                    });
                }
                h.typeflag = flag::LINK;
                h.linkname = target;
            }
            EntryKind::CharDevice { major, minor } => {
                h.typeflag = flag::CHAR;
                (h.devmajor, h.devminor) = (*major, *minor);
            }
            EntryKind::BlockDevice { major, minor } => {
                h.typeflag = flag::BLOCK;
                (h.devmajor, h.devminor) = (*major, *minor);
            }
            EntryKind::Fifo => h.typeflag = flag::FIFO,
            // containerd writes whiteouts as empty regular files with every field zero.
            EntryKind::Whiteout | EntryKind::Opaque => {
                h = Header {
                    name: &name,
                    typeflag: flag::REG,
                    ..Default::default()
                };
            }
        }
        self.header.clear();
        tarfmt::encode(&h, &mut self.header).map_err(|reason| LayerError::Unencodable {
            path: entry.path.clone(),
            reason,
        })?;
        self.out
            .write_all(&self.header)
            .map_err(LayerError::Output)?;
        if size > 0 {
            self.copy_exact(data, size, label)?;
        }
        if !matches!(
            entry.kind,
            EntryKind::Dir | EntryKind::Whiteout | EntryKind::Opaque
        ) {
            self.linkable.insert(entry.path.clone());
        }
        Ok(())
    }

    fn check_order(&mut self, entry: &Entry) -> Result<(), LayerError> {
        let key = path_key(entry);
        if let Some((last_key, last_path)) = &self.last {
            if key <= *last_key {
                return Err(LayerError::OutOfOrder {
                    previous: last_path.clone(),
                    path: entry.tar_path(),
                });
            }
        }
        self.last = Some((key, entry.tar_path()));
        Ok(())
    }

    /// Copies exactly `size` bytes from `data`, then checks that nothing follows.
    fn copy_exact(
        &mut self,
        data: &mut dyn Read,
        size: u64,
        label: &Path,
    ) -> Result<(), LayerError> {
        if self.buf.is_empty() {
            self.buf = vec![0; COPY_BUF];
        }
        let mut left = size;
        while left > 0 {
            let want = left.min(self.buf.len() as u64) as usize;
            let n = match data.read(&mut self.buf[..want]) {
                Ok(0) => {
                    return Err(LayerError::SizeChanged {
                        path: label.to_path_buf(),
                        expected: size,
                        found: format!("got {} bytes", size - left),
                    });
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(LayerError::host_io(label, e)),
            };
            self.out
                .write_all(&self.buf[..n])
                .map_err(LayerError::Output)?;
            left -= n as u64;
        }
        let mut probe = [0u8; 1];
        loop {
            match data.read(&mut probe) {
                Ok(0) => break,
                Ok(_) => {
                    return Err(LayerError::SizeChanged {
                        path: label.to_path_buf(),
                        expected: size,
                        found: "it grew".into(),
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(LayerError::host_io(label, e)),
            }
        }
        let pad = tarfmt::padding(size);
        self.out
            .write_all(&[0u8; tarfmt::BLOCK][..pad])
            .map_err(LayerError::Output)
    }
}

/// Opens a source file without following a symlink swapped in for it.
fn open_source(path: &Path) -> Result<File, LayerError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => LayerError::NotRegular {
                path: path.to_path_buf(),
            },
            _ => LayerError::host_io(path, e),
        })?;
    let meta = file.metadata().map_err(|e| LayerError::host_io(path, e))?;
    if !meta.file_type().is_file() {
        return Err(LayerError::NotRegular {
            path: path.to_path_buf(),
        });
    }
    Ok(file)
}

/// The name in the tar: `.wh.` names for whiteouts, a trailing `/` for directories.
fn tar_name(entry: &Entry) -> String {
    let mut name = entry.tar_path();
    if entry.kind == EntryKind::Dir {
        name.push('/');
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, src: &Path, size: u64) -> Entry {
        Entry {
            path: path.into(),
            kind: EntryKind::File { size },
            mode: 0o644,
            uid: 1000,
            gid: 1000,
            mtime: 1_600_000_000,
            xattrs: vec![],
            source: Some(src.to_path_buf()),
        }
    }

    /// name, type flag, data, uid, gid, mode, mtime
    type ReadBack = (String, u8, Vec<u8>, u64, u64, u32, u64);

    fn read_back(bytes: &[u8]) -> Vec<ReadBack> {
        let mut a = tar::Archive::new(bytes);
        a.entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let h = e.header().clone();
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                (
                    String::from_utf8(e.path_bytes().to_vec()).unwrap(),
                    h.entry_type().as_byte(),
                    data,
                    h.uid().unwrap(),
                    h.gid().unwrap(),
                    h.mode().unwrap(),
                    h.mtime().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn writes_entries_as_tar_readers_see_them() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("hello");
        std::fs::write(&src, b"hello world").unwrap();
        let mut entries = vec![
            Entry::dir("etc", 0o755, 0, 0, 5),
            file("etc/hello", &src, 11),
            Entry {
                kind: EntryKind::Hardlink {
                    target: "etc/hello".into(),
                },
                source: None,
                ..file("etc/link", &src, 0)
            },
            Entry {
                kind: EntryKind::Symlink {
                    target: "/etc/hello".into(),
                },
                source: None,
                mode: 0o777,
                ..file("sym", &src, 0)
            },
            Entry::whiteout("gone"),
        ];
        crate::layer::sort_entries(&mut entries);
        let mut w = TarWriter::new(Vec::new(), TarOptions::default());
        for e in &entries {
            w.append(e).unwrap();
        }
        let out = w.finish().unwrap();
        assert_eq!(out.len() % 512, 0);
        let got = read_back(&out);
        let names: Vec<_> = got.iter().map(|g| g.0.as_str()).collect();
        assert_eq!(names, [".wh.gone", "etc/", "etc/hello", "etc/link", "sym"]);
        assert_eq!(got[0], (".wh.gone".into(), b'0', vec![], 0, 0, 0, 0));
        assert_eq!(got[1].1, b'5');
        assert_eq!(got[2].2, b"hello world");
        assert_eq!((got[2].3, got[2].4, got[2].5), (1000, 1000, 0o644));
        assert_eq!(got[3].1, b'1');
        assert_eq!(got[4].1, b'2');
    }

    #[test]
    fn empty_layer_is_two_zero_blocks() {
        let out = TarWriter::new(Vec::new(), TarOptions::default())
            .finish()
            .unwrap();
        assert_eq!(out, vec![0u8; 1024]);
    }

    #[test]
    fn mtime_is_clamped_only_when_asked() {
        let e = Entry::dir("d", 0o755, 0, 0, 2_000_000_000);
        let mut w = TarWriter::new(
            Vec::new(),
            TarOptions {
                clamp_mtime: Some(1_000),
            },
        );
        w.append(&e).unwrap();
        assert_eq!(read_back(&w.finish().unwrap())[0].6, 1_000);
        let mut w = TarWriter::new(Vec::new(), TarOptions::default());
        w.append(&e).unwrap();
        assert_eq!(read_back(&w.finish().unwrap())[0].6, 2_000_000_000);
    }

    #[test]
    fn size_changes_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("f");
        std::fs::write(&src, b"12345").unwrap();
        let mut w = TarWriter::new(Vec::new(), TarOptions::default());
        let err = w.append(&file("short", &src, 9)).unwrap_err();
        assert!(
            err.to_string()
                .contains("changed size while being read (expected 9 bytes, got 5 bytes)"),
            "{err}"
        );
        let mut w = TarWriter::new(Vec::new(), TarOptions::default());
        let err = w.append(&file("long", &src, 3)).unwrap_err();
        assert!(err.to_string().contains("it grew"), "{err}");
    }

    #[test]
    fn symlinked_source_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("f");
        std::fs::write(&src, b"x").unwrap();
        let link = dir.path().join("l");
        std::os::unix::fs::symlink(&src, &link).unwrap();
        let mut w = TarWriter::new(Vec::new(), TarOptions::default());
        let err = w.append(&file("a", &link, 1)).unwrap_err();
        assert!(matches!(err, LayerError::NotRegular { .. }), "{err}");
    }

    #[test]
    fn order_paths_and_links_are_checked() {
        let mut w = TarWriter::new(Vec::new(), TarOptions::default());
        w.append(&Entry::dir("b", 0o755, 0, 0, 0)).unwrap();
        assert!(matches!(
            w.append(&Entry::dir("a", 0o755, 0, 0, 0)),
            Err(LayerError::OutOfOrder { .. })
        ));
        assert!(matches!(
            w.append(&Entry::dir("b", 0o755, 0, 0, 0)),
            Err(LayerError::OutOfOrder { .. })
        ));
        for bad in ["/abs", "a/../b", "a//b", "./a", "x/.wh.y"] {
            let mut w = TarWriter::new(Vec::new(), TarOptions::default());
            assert!(
                matches!(
                    w.append(&Entry::dir(bad, 0o755, 0, 0, 0)),
                    Err(LayerError::InvalidPath { .. })
                ),
                "{bad}"
            );
        }
        let mut w = TarWriter::new(Vec::new(), TarOptions::default());
        let link = Entry {
            kind: EntryKind::Hardlink { target: "z".into() },
            ..Entry::dir("a", 0o644, 0, 0, 0)
        };
        assert!(matches!(
            w.append(&link),
            Err(LayerError::HardlinkTarget { .. })
        ));
    }
}
