//! Builds layer tars byte by byte, including the names the `tar` crate refuses to write.

use tar::{EntryType, Header};

/// An in-memory tar under construction.
#[derive(Default)]
pub struct TarBuf {
    bytes: Vec<u8>,
}

impl TarBuf {
    pub fn new() -> TarBuf {
        TarBuf::default()
    }

    fn raw(
        &mut self,
        name: &str,
        kind: EntryType,
        link: &str,
        mode: u32,
        data: &[u8],
        pax: &[(&str, &[u8])],
    ) {
        if !pax.is_empty() {
            let mut body = Vec::new();
            for (k, v) in pax {
                let rec_len = |n: usize| format!("{n} {k}=").len() + v.len() + 1;
                let mut n = rec_len(0);
                while rec_len(n) != n {
                    n = rec_len(n);
                }
                body.extend_from_slice(format!("{n} {k}=").as_bytes());
                body.extend_from_slice(v);
                body.push(b'\n');
            }
            self.raw(
                "PaxHeader",
                EntryType::XHeader,
                "",
                0o644,
                &body.clone(),
                &[],
            );
        }
        let mut h = Header::new_ustar();
        {
            let old = h.as_old_mut();
            old.name[..name.len()].copy_from_slice(name.as_bytes());
            old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(1000);
        h.set_gid(1000);
        h.set_mtime(1_600_000_000);
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.bytes.extend_from_slice(h.as_bytes());
        self.bytes.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.bytes.extend(std::iter::repeat_n(0, pad));
    }

    pub fn file(mut self, name: &str, data: &[u8]) -> TarBuf {
        self.raw(name, EntryType::Regular, "", 0o644, data, &[]);
        self
    }

    pub fn symlink(mut self, name: &str, target: &str) -> TarBuf {
        self.raw(name, EntryType::Symlink, target, 0o777, b"", &[]);
        self
    }

    pub fn hardlink(mut self, name: &str, target: &str) -> TarBuf {
        self.raw(name, EntryType::Link, target, 0o644, b"", &[]);
        self
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.bytes.extend(std::iter::repeat_n(0, 1024));
        self.bytes
    }
}
