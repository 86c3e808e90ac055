//! The persistent stat cache: `(path, dev, ino, size, mtime, ctime) → sha256` for one
//! context, so an unchanged file is never read twice.
//!
//! Git's racy-clean rule applies: a digest is stored only when the file's mtime is in
//! an earlier second than the moment hashing began, so a write landing in the same
//! clock tick as the read (same size, same mtime) cannot hide behind a stale record;
//! such files are simply hashed again next time.
//!
//! The file is compact binary (paths front-coded against the previous path, fixed-size
//! fields, a sha256 trailer), written atomically. Anything unexpected on load (foreign
//! version, other context, truncation, bad checksum) yields an empty cache, never an
//! error: the cache is only ever a shortcut.

mod format;

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::meta::Meta;
use super::path::cmp_path_bytes;
use crate::digest::Digest;
use crate::fsutil::AtomicFile;

const NS: i64 = 1_000_000_000;

/// The stat fields a record is valid for, and the digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Record {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i64,
    ctime_ns: i64,
    digest: Digest,
}

impl Record {
    fn new(meta: &Meta, digest: Digest) -> Record {
        Record {
            dev: meta.dev,
            ino: meta.ino,
            size: meta.size,
            mtime_ns: meta.mtime_ns,
            ctime_ns: meta.ctime_ns,
            digest,
        }
    }

    fn matches(&self, m: &Meta) -> bool {
        self.dev == m.dev
            && self.ino == m.ino
            && self.size == m.size
            && self.mtime_ns == m.mtime_ns
            && self.ctime_ns == m.ctime_ns
    }
}

/// How loading went (for stats and traces).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadOutcome {
    /// No cache file yet.
    Missing,
    /// Loaded this many records.
    Loaded(usize),
    /// The file was unreadable, corrupt, foreign or for another context: ignored.
    Ignored,
}

/// A record read from the file; its path lives in [`StatCache::arena`].
#[derive(Debug, Clone, Copy)]
struct Slot {
    start: u32,
    len: u32,
    rec: Record,
    /// Superseded or dropped since loading.
    dead: bool,
    /// Looked up successfully since loading.
    used: bool,
}

/// The in-memory stat cache of one context.
///
/// Loaded records stay in one byte arena, sorted in layer order, so loading costs no
/// allocation per record and lookups made in layer order (as selections make them)
/// find their record right after the previous one. Records added since loading live in
/// a small map.
#[derive(Debug, Default)]
pub struct StatCache {
    arena: Vec<u8>,
    slots: Vec<Slot>,
    fresh: HashMap<String, Record>,
    /// Where the next in-order lookup is expected.
    hint: usize,
    used: usize,
    dirty: bool,
}

impl StatCache {
    /// The cache file for the context at `root` (canonical) inside `dir`.
    pub fn file_for(dir: &Path, root: &Path) -> PathBuf {
        let key = Digest::of(root.as_os_str().as_encoded_bytes());
        dir.join(format!("{}.statcache", &key.hex()[..32]))
    }

    /// Loads the cache at `file` written for `root`; never fails.
    pub fn load(file: &Path, root: &Path) -> (StatCache, LoadOutcome) {
        let bytes = match std::fs::read(file) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return (StatCache::default(), LoadOutcome::Missing);
            }
            Err(_) => return (StatCache::default(), LoadOutcome::Ignored),
        };
        match format::decode(&bytes, root.as_os_str().as_encoded_bytes()) {
            Some((arena, slots)) => {
                // Records dropped on load count as used: they cannot go stale.
                let used = slots.iter().filter(|s| s.dead).count();
                let cache = StatCache {
                    arena,
                    slots,
                    used,
                    ..StatCache::default()
                };
                let n = cache.len();
                (cache, LoadOutcome::Loaded(n))
            }
            None => (StatCache::default(), LoadOutcome::Ignored),
        }
    }

    /// Number of live records.
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|s| !s.dead).count() + self.fresh.len()
    }

    /// True when there are no records.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when records were added or dropped since loading.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// True when every loaded record was used by a lookup (so none can be stale).
    pub fn all_used(&self) -> bool {
        self.used == self.slots.len()
    }

    /// The cached digest of `path` if its metadata still matches the record.
    pub fn lookup(&mut self, path: &str, meta: &Meta) -> Option<Digest> {
        if let Some(r) = self.fresh.get(path) {
            return r.matches(meta).then_some(r.digest);
        }
        let i = self.find(path.as_bytes())?;
        let slot = &mut self.slots[i];
        if slot.dead || !slot.rec.matches(meta) {
            return None;
        }
        if !slot.used {
            slot.used = true;
            self.used += 1;
        }
        Some(slot.rec.digest)
    }

    /// Records `digest` for `path` as it was when hashing began at `hashed_at_ns`
    /// (wall clock). A racy file (modified in that second or later) is not recorded,
    /// and any older record for it is dropped.
    pub fn insert(&mut self, path: &str, meta: &Meta, digest: Digest, hashed_at_ns: i64) {
        let rec = Record::new(meta, digest);
        if let Some(i) = self.find(path.as_bytes()) {
            let slot = &mut self.slots[i];
            if !slot.dead && slot.rec == rec {
                return;
            }
            if !slot.dead {
                slot.dead = true;
                self.dirty = true;
            }
        }
        if secs(meta.mtime_ns) >= secs(hashed_at_ns) {
            if self.fresh.remove(path).is_some() {
                self.dirty = true;
            }
            return;
        }
        if self.fresh.insert(path.to_string(), rec) != Some(rec) {
            self.dirty = true;
        }
    }

    /// Drops the records for which `keep` says no (files gone from the context).
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        for slot in self.slots.iter_mut().filter(|s| !s.dead) {
            let path = &self.arena[slot.start as usize..(slot.start + slot.len) as usize];
            if !std::str::from_utf8(path).is_ok_and(&mut keep) {
                slot.dead = true;
                self.dirty = true;
            }
        }
        let before = self.fresh.len();
        self.fresh.retain(|p, _| keep(p));
        if self.fresh.len() != before {
            self.dirty = true;
        }
    }

    /// Writes the cache atomically to `file` for the context `root`; `now_ns` becomes
    /// the time the records are trusted up to.
    pub fn save(&mut self, file: &Path, root: &Path, now_ns: i64) -> io::Result<()> {
        let bytes = self.encode(root.as_os_str().as_encoded_bytes(), now_ns);
        let mut out = AtomicFile::create(file)?;
        out.write_all(&bytes)?;
        out.commit()?;
        self.dirty = false;
        Ok(())
    }

    fn path_of(&self, slot: &Slot) -> &[u8] {
        &self.arena[slot.start as usize..(slot.start + slot.len) as usize]
    }

    fn find(&mut self, path: &[u8]) -> Option<usize> {
        if let Some(slot) = self.slots.get(self.hint)
            && self.path_of(slot) == path
        {
            self.hint += 1;
            return Some(self.hint - 1);
        }
        let i = self
            .slots
            .binary_search_by(|s| cmp_path_bytes(self.path_of(s), path))
            .ok()?;
        self.hint = i + 1;
        Some(i)
    }

    fn encode(&self, root: &[u8], now_ns: i64) -> Vec<u8> {
        // Loaded records are in order already: merge the new ones in.
        let mut fresh: Vec<(&[u8], &Record)> =
            self.fresh.iter().map(|(p, r)| (p.as_bytes(), r)).collect();
        fresh.sort_unstable_by(|a, b| cmp_path_bytes(a.0, b.0));
        let mut loaded = self
            .slots
            .iter()
            .filter(|s| !s.dead)
            .map(|s| (self.path_of(s), &s.rec))
            .peekable();
        let mut fresh = fresh.into_iter().peekable();
        let mut recs = Vec::with_capacity(self.slots.len() + self.fresh.len());
        loop {
            let next = match (loaded.peek(), fresh.peek()) {
                (Some(l), Some(f)) if cmp_path_bytes(l.0, f.0).is_lt() => loaded.next(),
                (Some(_), Some(_)) | (None, Some(_)) => fresh.next(),
                (Some(_), None) => loaded.next(),
                (None, None) => break,
            };
            recs.extend(next);
        }
        format::encode(&recs, root, now_ns)
    }
}

fn secs(ns: i64) -> i64 {
    ns.div_euclid(NS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::meta::Kind;

    fn meta(ino: u64, mtime_s: i64) -> Meta {
        Meta {
            kind: Kind::File,
            mode: 0o100644,
            uid: 1000,
            gid: 1000,
            size: 42,
            mtime_ns: mtime_s * NS + 123,
            ctime_ns: mtime_s * NS + 456,
            dev: 7,
            ino,
            nlink: 1,
            rdev: 0,
        }
    }

    const T0: i64 = 1_700_000_000;

    #[test]
    fn round_trip_and_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let root = Path::new("/ctx");
        let file = StatCache::file_for(dir.path(), root);
        let mut c = StatCache::default();
        // Includes names around `/` in byte order (`a-b` < `a/b` < `a0`), which the layer
        // order sorts differently.
        let paths = ["a/b/c.txt", "a/b/d.txt", "a-b", "a0", "a/e", "z"];
        for (i, p) in paths.iter().enumerate() {
            c.insert(
                p,
                &meta(i as u64, T0),
                Digest::of(p.as_bytes()),
                (T0 + 10) * NS,
            );
        }
        assert!(c.is_dirty());
        c.save(&file, root, (T0 + 10) * NS).unwrap();
        assert!(!c.is_dirty());

        let (mut c2, outcome) = StatCache::load(&file, root);
        assert_eq!(outcome, LoadOutcome::Loaded(6));
        for (i, p) in paths.iter().enumerate() {
            assert_eq!(
                c2.lookup(p, &meta(i as u64, T0)),
                Some(Digest::of(p.as_bytes())),
                "{p}"
            );
        }
        assert!(c2.all_used());
        assert_eq!(
            c2.lookup("a/b/d.txt", &meta(1, T0)),
            Some(Digest::of(b"a/b/d.txt"))
        );
        // Any stat change invalidates.
        let mut changed = meta(1, T0);
        changed.ctime_ns += 1;
        assert_eq!(c2.lookup("a/b/d.txt", &changed), None);
        assert_eq!(c2.lookup("a/b/d.txt", &meta(9, T0)), None);
        // Another context's file is ignored.
        let (c3, outcome) = StatCache::load(&file, Path::new("/other"));
        assert_eq!(outcome, LoadOutcome::Ignored);
        assert!(c3.is_empty());
    }

    #[test]
    fn racy_files_are_not_recorded() {
        let mut c = StatCache::default();
        let m = meta(1, T0);
        // Hashed in the same second as the last write: not trusted.
        c.insert("f", &m, Digest::of(b"x"), T0 * NS + 999_999_999);
        assert_eq!(c.lookup("f", &m), None);
        assert!(c.is_empty());
        // Hashed a second later: trusted.
        c.insert("f", &m, Digest::of(b"x"), (T0 + 1) * NS);
        assert_eq!(c.lookup("f", &m), Some(Digest::of(b"x")));
        // Re-hashed while racy again: the old record goes.
        c.insert("f", &m, Digest::of(b"y"), T0 * NS);
        assert!(c.is_empty());
    }

    #[test]
    fn corrupt_files_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let root = Path::new("/ctx");
        let file = dir.path().join("c");
        let mut c = StatCache::default();
        c.insert("f", &meta(1, T0), Digest::of(b"x"), (T0 + 5) * NS);
        c.save(&file, root, (T0 + 5) * NS).unwrap();
        let good = std::fs::read(&file).unwrap();

        for cut in [0, 1, 16, 30, good.len() - 33, good.len() - 1] {
            std::fs::write(&file, &good[..cut]).unwrap();
            assert_eq!(
                StatCache::load(&file, root).1,
                LoadOutcome::Ignored,
                "cut at {cut}"
            );
        }
        let mut flipped = good.clone();
        flipped[40] ^= 1;
        std::fs::write(&file, &flipped).unwrap();
        assert_eq!(StatCache::load(&file, root).1, LoadOutcome::Ignored);
        std::fs::write(
            &file,
            b"garbage that is long enough to have a trailer of 32 bytes",
        )
        .unwrap();
        assert_eq!(StatCache::load(&file, root).1, LoadOutcome::Ignored);
    }
}
