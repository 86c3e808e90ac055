//! The persistent stat cache: unchanged files are never read again, changed ones
//! always are.

use std::time::{Duration, SystemTime};

use rbuild::context::{LoadOutcome, StatCache};
use rbuild::digest::Digest;

use crate::support::{Fixture, age, select};

fn many(fx: &Fixture) {
    for i in 0..50 {
        fx.file(&format!("d{}/f{i}.txt", i % 5), &format!("content {i}"));
    }
}

#[test]
fn a_second_build_reads_no_file_bytes() {
    let fx = Fixture::new();
    let cache = tempfile::tempdir().unwrap();
    many(&fx);
    let ctx = fx.open_cached(cache.path());
    let cold = select(&ctx, &["."]);
    let s = ctx.stats();
    assert_eq!(s.files_hashed, 50);
    assert!(s.bytes_hashed > 0);
    ctx.save_statcache().unwrap();

    let ctx = fx.open_cached(cache.path());
    let warm = select(&ctx, &["."]);
    let s = ctx.stats();
    assert_eq!(s.bytes_hashed, 0);
    assert_eq!(s.files_hashed, 0);
    assert_eq!(s.statcache_hits, 50);
    assert_eq!(s.statcache_loaded, 50);
    assert_eq!(warm.digest(), cold.digest());
    assert_eq!(warm, cold);
}

#[test]
fn only_changed_files_are_read_again() {
    let fx = Fixture::new();
    let cache = tempfile::tempdir().unwrap();
    many(&fx);
    let ctx = fx.open_cached(cache.path());
    let before = select(&ctx, &["."]).digest();
    ctx.save_statcache().unwrap();

    fx.file("d3/f13.txt", "changed content, longer");
    let ctx = fx.open_cached(cache.path());
    let after = select(&ctx, &["."]);
    assert_eq!(ctx.stats().files_hashed, 1);
    assert_eq!(ctx.stats().bytes_hashed, 23);
    assert_ne!(after.digest(), before);
    let e = after.roots[0]
        .entries
        .iter()
        .find(|e| e.path == "d3/f13.txt")
        .unwrap();
    assert_eq!(e.digest, Some(Digest::of(b"changed content, longer")));
}

#[test]
fn racy_files_are_hashed_again() {
    let fx = Fixture::new();
    let cache = tempfile::tempdir().unwrap();
    fx.file("old.txt", "old");
    // Written just now: its mtime is in the second hashing happens in.
    std::fs::write(fx.path("new.txt"), "AAAA").unwrap();
    let ctx = fx.open_cached(cache.path());
    select(&ctx, &["."]);
    assert_eq!(ctx.stats().files_hashed, 2);
    ctx.save_statcache().unwrap();

    let ctx = fx.open_cached(cache.path());
    select(&ctx, &["."]);
    assert_eq!(
        ctx.stats().statcache_hits,
        1,
        "old.txt comes from the cache"
    );
    assert_eq!(ctx.stats().files_hashed, 1, "new.txt is read again");
    assert_eq!(ctx.stats().bytes_hashed, 4);
}

#[test]
fn same_size_same_mtime_change_is_seen() {
    let fx = Fixture::new();
    let cache = tempfile::tempdir().unwrap();
    let p = fx.path("f.txt");
    std::fs::write(&p, "AAAA").unwrap();
    let mtime = std::fs::metadata(&p).unwrap().modified().unwrap();
    let ctx = fx.open_cached(cache.path());
    assert_eq!(
        select(&ctx, &["f.txt"]).roots[0].digest,
        Some(Digest::of(b"AAAA"))
    );
    ctx.save_statcache().unwrap();

    // Same size, and the mtime put back where it was, within the same second.
    std::fs::write(&p, "BBBB").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&p)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let ctx = fx.open_cached(cache.path());
    assert_eq!(
        select(&ctx, &["f.txt"]).roots[0].digest,
        Some(Digest::of(b"BBBB"))
    );
}

#[test]
fn a_corrupt_cache_is_ignored_and_rebuilt() {
    let fx = Fixture::new();
    let cache = tempfile::tempdir().unwrap();
    many(&fx);
    let ctx = fx.open_cached(cache.path());
    let digest = select(&ctx, &["."]).digest();
    ctx.save_statcache().unwrap();

    let file = StatCache::file_for(cache.path(), ctx.root());
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&file, &bytes).unwrap();

    let ctx = fx.open_cached(cache.path());
    assert_eq!(select(&ctx, &["."]).digest(), digest);
    assert_eq!(ctx.stats().statcache, Some(LoadOutcome::Ignored));
    assert_eq!(ctx.stats().statcache_hits, 0);
    assert_eq!(ctx.stats().files_hashed, 50);
    ctx.save_statcache().unwrap();

    std::fs::write(&file, b"not a cache at all").unwrap();
    let ctx = fx.open_cached(cache.path());
    assert_eq!(select(&ctx, &["."]).digest(), digest);
    ctx.save_statcache().unwrap();

    let ctx = fx.open_cached(cache.path());
    assert_eq!(select(&ctx, &["."]).digest(), digest);
    assert_eq!(ctx.stats().bytes_hashed, 0);
}

#[test]
fn two_builds_on_one_context_at_once() {
    let fx = Fixture::new();
    let cache = tempfile::tempdir().unwrap();
    many(&fx);
    let digests: Vec<Digest> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let ctx = fx.open_cached(cache.path());
                    let d = select(&ctx, &["."]).digest();
                    ctx.save_statcache().unwrap();
                    d
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(digests.windows(2).all(|w| w[0] == w[1]));
    let ctx = fx.open_cached(cache.path());
    select(&ctx, &["."]);
    assert_eq!(ctx.stats().bytes_hashed, 0);
    // Only the cache file is left, no temp files.
    assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 1);
}

#[test]
fn records_of_vanished_files_are_dropped() {
    let fx = Fixture::new();
    let cache = tempfile::tempdir().unwrap();
    many(&fx);
    let ctx = fx.open_cached(cache.path());
    select(&ctx, &["."]);
    ctx.save_statcache().unwrap();

    std::fs::remove_dir_all(fx.path("d0")).unwrap();
    let ctx = fx.open_cached(cache.path());
    select(&ctx, &["."]);
    ctx.save_statcache().unwrap();
    let ctx = fx.open_cached(cache.path());
    select(&ctx, &["d1"]);
    assert_eq!(ctx.stats().statcache_loaded, 40);
}

#[test]
fn an_unchanged_rebuild_does_not_rewrite_the_cache() {
    let fx = Fixture::new();
    let cache = tempfile::tempdir().unwrap();
    many(&fx);
    let ctx = fx.open_cached(cache.path());
    select(&ctx, &["."]);
    ctx.save_statcache().unwrap();
    let file = StatCache::file_for(cache.path(), ctx.root());
    let old = SystemTime::now() - Duration::from_secs(60);
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let ctx = fx.open_cached(cache.path());
    select(&ctx, &["."]);
    ctx.save_statcache().unwrap();
    assert_eq!(std::fs::metadata(&file).unwrap().modified().unwrap(), old);
    age(&file);
}

#[test]
fn dropping_the_context_saves_the_cache() {
    let fx = Fixture::new();
    let cache = tempfile::tempdir().unwrap();
    many(&fx);
    {
        let ctx = fx.open_cached(cache.path());
        select(&ctx, &["."]);
    }
    let ctx = fx.open_cached(cache.path());
    select(&ctx, &["."]);
    assert_eq!(ctx.stats().bytes_hashed, 0);
    assert_eq!(ctx.stats().statcache_hits, 50);
}
