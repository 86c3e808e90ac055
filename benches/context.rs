//! Build-context benchmarks: cold selection of a whole context (walk + hash every
//! file, no stat cache), warm selection (walk + stat cache, nothing read), and
//! `find CTX -printf '%s %T@\n'` on the same tree for comparison.
//!
//! Contexts are generated once under `target/bench-contexts/` (deterministic content):
//! 10,000 files (~100 MB) and 100,000 files (~1 GB). `RBUILD_BENCH_SMALL=1` runs only
//! the small one; `RBUILD_BENCH_STATCACHE_ONLY=1` only the stat cache load/save.
//!
//! One-shot mode, for `/usr/bin/time -v` and hyperfine (see `benches/context.sh`):
//! `RBUILD_CTX_ONESHOT=cold|warm|gen RBUILD_CTX_DIR=<dir> [RBUILD_CTX_FILES=n
//! RBUILD_CTX_BYTES=n] target/release/deps/context-*` runs one pass and prints stats.

use std::hint::black_box;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use rbuild::context::{Context, SelectOptions};

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Writes `files` files totalling about `bytes` bytes under `dir`, in directories of
/// about 50 files, three levels deep; 90% of the files are small, the rest carry most
/// of the bytes. Reuses a complete earlier generation.
fn generate(dir: &Path, files: usize, bytes: u64) -> std::io::Result<()> {
    let marker = dir.join(".generated");
    let tag = format!("{files} {bytes}\n");
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(tag.as_str()) {
        return Ok(());
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let small = files * 9 / 10;
    let mut sizes: Vec<u64> = (0..small).map(|_| 512 + rng.next() % 6_000).collect();
    let small_total: u64 = sizes.iter().sum();
    let large = (files - small).max(1) as u64;
    let per_large = bytes.saturating_sub(small_total) / large;
    for _ in small..files {
        sizes.push(per_large / 2 + rng.next() % per_large.max(1));
    }
    let mut buf = vec![0u8; 1 << 20];
    for chunk in buf.chunks_mut(8) {
        chunk.copy_from_slice(&rng.next().to_le_bytes());
    }
    for (i, size) in sizes.iter().enumerate() {
        let sub = dir.join(format!("d{:03}/s{:02}", i / 1000, (i / 50) % 20));
        if i % 50 == 0 {
            std::fs::create_dir_all(&sub)?;
        }
        let mut f = std::fs::File::create(sub.join(format!("f{i:06}.dat")))?;
        let mut left = *size as usize;
        let mut off = i % 4096;
        while left > 0 {
            let n = left.min(buf.len() - off);
            f.write_all(&buf[off..off + n])?;
            left -= n;
            off = 0;
        }
    }
    // Age everything so the stat cache's racy rule does not apply.
    let status = Command::new("touch")
        .args(["-d", "1 hour ago"])
        .arg(dir)
        .status()?;
    assert!(status.success());
    let aged = Command::new("find")
        .arg(dir)
        .args([
            "-type",
            "f",
            "-exec",
            "touch",
            "-d",
            "1 hour ago",
            "{}",
            "+",
        ])
        .status()?;
    assert!(aged.success());
    std::fs::write(marker, tag)
}

fn context_dir(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
        PathBuf::from,
    );
    target.join("bench-contexts").join(name)
}

fn select_all(
    root: &Path,
    cache: Option<&Path>,
) -> (rbuild::digest::Digest, rbuild::context::ContextStats) {
    let ctx = Context::open(root, None, cache).expect("open");
    let sel = ctx
        .select(&[".".to_string()], &SelectOptions::default())
        .expect("select");
    ctx.save_statcache().expect("save");
    (sel.digest(), ctx.stats())
}

fn walk_with_ignore(root: &Path) -> usize {
    let out = std::sync::Mutex::new(Vec::new());
    ignore::WalkBuilder::new(root)
        .standard_filters(false)
        .follow_links(false)
        .build_parallel()
        .run(|| {
            Box::new(|entry| {
                if let Ok(e) = entry
                    && let Ok(md) = e.metadata()
                {
                    let path = e.path().to_string_lossy().into_owned();
                    out.lock().expect("lock").push((path, md.len()));
                }
                ignore::WalkState::Continue
            })
        });
    let mut v = out.into_inner().expect("lock");
    v.sort_unstable();
    v.len()
}

fn walk_with_walkdir(root: &Path) -> usize {
    walkdir::WalkDir::new(root)
        .sort_by_file_name()
        .into_iter()
        .filter_map(|e| {
            let e = e.ok()?;
            let md = e.metadata().ok()?;
            Some((e.path().to_string_lossy().into_owned(), md.len()))
        })
        .count()
}

fn find(root: &Path) {
    let status = Command::new("find")
        .arg(root)
        .args(["-printf", "%s %T@\\n"])
        .stdout(Stdio::null())
        .status()
        .expect("find");
    assert!(status.success());
}

fn bench(c: &mut Criterion) {
    let mut sizes = vec![("10k-100MB", 10_000usize, 100u64 << 20)];
    if std::env::var_os("RBUILD_BENCH_SMALL").is_none() {
        sizes.push(("100k-1GB", 100_000, 1 << 30));
    }
    for (name, files, bytes) in sizes {
        // Named as benches/context.sh names it, so both share one generated tree.
        let dir = context_dir(&format!("{files}-{bytes}"));
        generate(&dir, files, bytes).expect("generate context");
        let cache = tempfile::tempdir().expect("cache dir");
        select_all(&dir, Some(cache.path()));

        let mut g = c.benchmark_group(format!("context/{name}"));
        g.sample_size(10);
        g.measurement_time(Duration::from_secs(if files > 10_000 { 30 } else { 10 }));
        g.throughput(Throughput::Bytes(bytes));
        g.bench_function(BenchmarkId::new("cold-select-all", name), |b| {
            b.iter(|| black_box(select_all(&dir, None)))
        });
        g.throughput(Throughput::Elements(files as u64));
        g.bench_function(BenchmarkId::new("warm-select-all", name), |b| {
            b.iter(|| black_box(select_all(&dir, Some(cache.path()))))
        });
        g.bench_function(BenchmarkId::new("find-printf", name), |b| {
            b.iter(|| find(&dir))
        });
        // The walk alone, against the `ignore` crate's parallel walker (filters off)
        // and walkdir, each collecting paths and lstat metadata.
        g.bench_function(BenchmarkId::new("walk-rbuild", name), |b| {
            b.iter(|| {
                let ctx = Context::open(&dir, None, None).expect("open");
                black_box(ctx.walk().expect("walk").len())
            })
        });
        g.bench_function(BenchmarkId::new("walk-ignore-parallel", name), |b| {
            b.iter(|| black_box(walk_with_ignore(&dir)))
        });
        g.bench_function(BenchmarkId::new("walk-walkdir", name), |b| {
            b.iter(|| black_box(walk_with_walkdir(&dir)))
        });
        g.finish();
    }
}

/// Saving and loading a stat cache of 100,000 records (paths like the generated tree's).
fn bench_statcache(c: &mut Criterion) {
    use rbuild::context::{Kind, Meta, StatCache};
    let dir = tempfile::tempdir().expect("temp dir");
    let root = Path::new("/bench/context");
    let file = StatCache::file_for(dir.path(), root);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as i64;
    let mut cache = StatCache::default();
    for i in 0..100_000u64 {
        let meta = Meta {
            kind: Kind::File,
            mode: 0o100644,
            uid: 0,
            gid: 0,
            size: i,
            mtime_ns: 1_600_000_000_000_000_000,
            ctime_ns: 1_600_000_000_000_000_000,
            dev: 1,
            ino: i,
            nlink: 1,
            rdev: 0,
        };
        let path = format!("d{:03}/s{:02}/f{i:06}.dat", i / 1000, (i / 50) % 20);
        cache.insert(
            &path,
            &meta,
            rbuild::digest::Digest::of(path.as_bytes()),
            now,
        );
    }
    let mut g = c.benchmark_group("statcache");
    g.sample_size(20);
    g.throughput(Throughput::Elements(100_000));
    g.bench_function("save-100k", |b| {
        b.iter(|| cache.save(&file, root, now).expect("save"))
    });
    cache.save(&file, root, now).expect("save");
    g.bench_function("load-100k", |b| {
        b.iter(|| {
            let (c, outcome) = StatCache::load(&file, root);
            assert_eq!(outcome, rbuild::context::LoadOutcome::Loaded(100_000));
            black_box(c)
        })
    });
    g.finish();
}

/// One pass for external timing; prints the stats.
fn oneshot(mode: &str) {
    let dir = PathBuf::from(std::env::var("RBUILD_CTX_DIR").expect("RBUILD_CTX_DIR"));
    let cache = std::env::var_os("RBUILD_CTX_CACHE").map(PathBuf::from);
    match mode {
        "gen" => {
            let num = |k: &str, d: u64| {
                std::env::var(k)
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(d)
            };
            generate(
                &dir,
                num("RBUILD_CTX_FILES", 100_000) as usize,
                num("RBUILD_CTX_BYTES", 1 << 30),
            )
            .expect("generate");
        }
        "cold" => println!("{:?}", select_all(&dir, None)),
        "warm" => println!(
            "{:?}",
            select_all(&dir, Some(cache.as_deref().expect("RBUILD_CTX_CACHE")))
        ),
        other => panic!("unknown RBUILD_CTX_ONESHOT mode {other:?}"),
    }
}

fn main() {
    if let Ok(mode) = std::env::var("RBUILD_CTX_ONESHOT") {
        oneshot(&mode);
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    bench_statcache(&mut c);
    // Generating and priming the big contexts is slow: skip it when only the stat
    // cache benchmarks are wanted.
    if std::env::var_os("RBUILD_BENCH_STATCACHE_ONLY").is_none() {
        bench(&mut c);
    }
    c.final_summary();
}
