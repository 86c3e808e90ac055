//! The stat cache file format (version 1), little-endian:
//!
//! ```text
//! magic "rbuild-statcache" | version u32 | written_at_ns i64 | root_len u32 | root
//! count u64 | count × record | CRC-32 of everything before (u32)
//! record: shared u16 | suffix_len u16 | suffix | dev u64 | ino u64 | size u64
//!         mtime_ns i64 | ctime_ns i64 | digest [32]
//! ```
//!
//! Paths are front-coded against the previous record (`shared` bytes reused) and the
//! records are in layer order, which lookups rely on. The CRC catches accidental
//! damage cheaply (it is read on every build); a damaged file is ignored.

use super::{Record, Slot, secs};
use crate::context::path::{cmp_path_bytes, common_prefix};
use crate::digest::Digest;

const MAGIC: &[u8; 16] = b"rbuild-statcache";
const VERSION: u32 = 2;
const RECORD_FIXED: usize = 2 + 2 + 8 * 5 + 32;

/// Serialises records already sorted in layer order.
pub(super) fn encode(recs: &[(&[u8], &Record)], root: &[u8], now_ns: i64) -> Vec<u8> {
    let recs: Vec<_> = recs
        .iter()
        .filter(|(p, _)| p.len() <= usize::from(u16::MAX))
        .collect();
    let mut out = Vec::with_capacity(64 + root.len() + recs.len() * (RECORD_FIXED + 16));
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&now_ns.to_le_bytes());
    out.extend_from_slice(&(root.len() as u32).to_le_bytes());
    out.extend_from_slice(root);
    out.extend_from_slice(&(recs.len() as u64).to_le_bytes());
    let mut prev: &[u8] = &[];
    for (p, r) in recs {
        let shared = common_prefix(prev, p);
        out.extend_from_slice(&(shared as u16).to_le_bytes());
        out.extend_from_slice(&((p.len() - shared) as u16).to_le_bytes());
        out.extend_from_slice(&p[shared..]);
        for v in [r.dev, r.ino, r.size] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in [r.mtime_ns, r.ctime_ns] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(r.digest.as_bytes());
        prev = p;
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// A bounds-checked reader over the cache bytes.
struct Cursor<'a> {
    buf: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.buf.len() < n {
            return None;
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Some(head)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

/// Parses a cache file written for `root`: the path arena and the records.
pub(super) fn decode(bytes: &[u8], root: &[u8]) -> Option<(Vec<u8>, Vec<Slot>)> {
    let body_len = bytes.len().checked_sub(4)?;
    let (body, trailer) = bytes.split_at(body_len);
    if crc32fast::hash(body).to_le_bytes()[..] != trailer[..] {
        return None;
    }
    let mut c = Cursor { buf: body };
    if c.take(MAGIC.len())? != MAGIC || c.u32()? != VERSION {
        return None;
    }
    let written_at_ns = c.i64()?;
    let root_len = c.u32()? as usize;
    if c.take(root_len)? != root {
        return None;
    }
    let count = usize::try_from(c.u64()?).ok()?;
    if count > c.buf.len() / RECORD_FIXED {
        return None;
    }
    let mut arena: Vec<u8> = Vec::with_capacity(c.buf.len());
    let mut slots: Vec<Slot> = Vec::with_capacity(count);
    let mut prev = (0usize, 0usize);
    for _ in 0..count {
        let shared = usize::from(c.u16()?);
        let suffix_len = usize::from(c.u16()?);
        let suffix = c.take(suffix_len)?;
        if shared > prev.1 {
            return None;
        }
        let start = arena.len();
        arena.extend_from_within(prev.0..prev.0 + shared);
        arena.extend_from_slice(suffix);
        let len = arena.len() - start;
        let rec = Record {
            dev: c.u64()?,
            ino: c.u64()?,
            size: c.u64()?,
            mtime_ns: c.i64()?,
            ctime_ns: c.i64()?,
            digest: Digest::from_bytes(c.take(32)?.try_into().ok()?),
        };
        // Records must be strictly ordered for lookups to find them.
        if let Some(last) = slots.last()
            && cmp_path_bytes(&arena[last.start as usize..start], &arena[start..]).is_ge()
        {
            return None;
        }
        prev = (start, len);
        slots.push(Slot {
            start: u32::try_from(start).ok()?,
            len: u32::try_from(len).ok()?,
            rec,
            // Defence in depth for the racy rule: a record cannot be newer than its file.
            dead: secs(rec.mtime_ns) >= secs(written_at_ns),
            used: false,
        });
    }
    if !c.buf.is_empty() {
        return None;
    }
    Some((arena, slots))
}
