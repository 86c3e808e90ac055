//! Layer writing throughput: entries → tar → sha256 → compressor → blob file, on 100 MB
//! of mixed files (many small text files, medium files, large compressible and random ones).
//!
//! Run: `cargo bench --bench layer` (criterion prints MiB/s per compression; the
//! compressed size of each variant is printed once before the measurements).

use std::io::Write;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rbuild::layer::{
    Compression, Entry, EntryKind, LayerOptions, TarOptions, TarWriter, sort_entries, write_layer,
};
use rbuild::store::Store;

/// A small xorshift generator: deterministic data without a `rand` dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn random(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }

    /// Source-code-like text: words from a small vocabulary.
    fn text(&mut self, n: usize) -> Vec<u8> {
        const WORDS: &[&str] = &[
            "fn", "let", "mut", "self", "return", "match", "impl", "struct", "pub", "use", "for",
            "in", "if", "else", "Some(x)", "None", "Ok(())", "Err(e)", "=>", "{", "}", ";",
            "\n    ", "layer", "digest", "entry", "store", "0x1f", "42", "\"name\"",
        ];
        let mut out = Vec::with_capacity(n + 16);
        while out.len() < n {
            out.extend_from_slice(WORDS[(self.next() % WORDS.len() as u64) as usize].as_bytes());
            out.push(b' ');
        }
        out.truncate(n);
        out
    }
}

/// Writes the corpus under `dir` and returns its entries in canonical order.
fn corpus(dir: &Path) -> (Vec<Entry>, u64) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for i in 0..2000 {
        files.push((format!("src/m{:02}/f{i:04}.rs", i % 50), rng.text(4096)));
    }
    for i in 0..200 {
        let data = if i % 2 == 0 {
            rng.text(200_000)
        } else {
            rng.random(200_000)
        };
        files.push((format!("assets/a{i:03}.bin"), data));
    }
    for i in 0..4 {
        let data = if i % 2 == 0 {
            rng.random(13_000_000)
        } else {
            rng.text(13_000_000)
        };
        files.push((format!("big/b{i}.dat"), data));
    }
    let mut entries = Vec::new();
    let mut dirs = std::collections::BTreeSet::new();
    let mut total = 0;
    for (path, data) in files {
        let host = dir.join(path.replace('/', "_"));
        std::fs::write(&host, &data).unwrap();
        let mut parent = Path::new(&path).parent();
        while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
            dirs.insert(p.to_str().unwrap().to_string());
            parent = p.parent();
        }
        total += data.len() as u64;
        entries.push(Entry {
            path,
            kind: EntryKind::File {
                size: data.len() as u64,
            },
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 1_700_000_000,
            xattrs: vec![],
            source: Some(host),
        });
    }
    entries.extend(
        dirs.into_iter()
            .map(|d| Entry::dir(d, 0o755, 0, 0, 1_700_000_000)),
    );
    sort_entries(&mut entries);
    (entries, total)
}

fn bench(c: &mut Criterion) {
    let src = tempfile::tempdir().unwrap();
    let (entries, total) = corpus(src.path());
    let store_dir = tempfile::tempdir().unwrap();
    let store = Store::open(store_dir.path()).unwrap();

    let variants: Vec<(&str, Compression, Option<i32>)> = vec![
        ("uncompressed", Compression::Uncompressed, None),
        ("gzip-l1", Compression::Gzip, Some(1)),
        ("gzip-l6", Compression::Gzip, None),
        ("zstd-l3", Compression::Zstd, None),
    ];
    for (name, compression, level) in &variants {
        let opts = LayerOptions {
            compression: *compression,
            level: *level,
            tar: TarOptions::default(),
        };
        let info = write_layer(&store, &entries, &opts).unwrap();
        println!(
            "{name}: {} bytes of files -> tar {} -> blob {} bytes ({:.1}%)",
            total,
            info.uncompressed_size,
            info.descriptor.size,
            100.0 * info.descriptor.size as f64 / info.uncompressed_size as f64
        );
    }

    let mut g = c.benchmark_group("layer-100MB");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(total));
    for (name, compression, level) in variants {
        let opts = LayerOptions {
            compression,
            level,
            tar: TarOptions::default(),
        };
        g.bench_function(name, |b| {
            b.iter(|| write_layer(&store, &entries, &opts).unwrap())
        });
    }
    // Reference point: flate2's serial gzip (one core) behind the same tar writer.
    g.bench_function("gzip-l6-serial-flate2", |b| {
        b.iter(|| {
            let mut blob = store.blob_writer().unwrap();
            {
                let gz = flate2::write::GzEncoder::new(&mut blob, flate2::Compression::new(6));
                let mut tar = TarWriter::new(gz, TarOptions::default());
                for e in &entries {
                    tar.append(e).unwrap();
                }
                tar.finish().unwrap().finish().unwrap().flush().unwrap();
            }
            blob.commit(None).unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
