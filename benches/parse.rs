//! Parser throughput: the BuildKit conformance corpus, and a generated Dockerfile of
//! 10,000 instructions (continuations, JSON, heredocs, ENV pairs). Criterion reports
//! bytes/s; instructions/s follow from the instruction counts printed at start.
//!
//! Run: `cargo bench --bench parse`.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn corpus() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/buildkit/frontend/dockerfile/parser/testfiles");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("corpus")
        .filter_map(|e| std::fs::read(e.ok()?.path().join("Dockerfile")).ok())
        .collect();
    files.sort();
    files
}

/// A large, varied Dockerfile with `n` instructions.
fn generated(n: usize) -> String {
    let mut s = String::from(
        "# syntax=docker/dockerfile:1\nARG VERSION=1.0\nFROM golang:${VERSION} AS build\n",
    );
    let mut i = 3;
    while i < n {
        match i % 8 {
            0 => s.push_str(&format!("RUN apt-get update && \\\n    apt-get install -y pkg{i} && \\\n    rm -rf /var/lib/apt/lists/*\n")),
            1 => s.push_str(&format!("COPY --chown=app:app --chmod=0644 src/{i}/ /app/src/{i}/\n")),
            2 => s.push_str(&format!("ENV KEY_{i}=\"value {i}\" OTHER_{i}=x PATH=/opt/{i}/bin:$PATH\n")),
            3 => s.push_str(&format!("RUN [\"/bin/sh\", \"-c\", \"echo step {i}\"]\n")),
            4 => s.push_str(&format!("LABEL org.example.step{i}=\"{i}\" maintainer=\"dev@example.com\"\n")),
            5 => s.push_str(&format!("RUN --mount=type=cache,target=/root/.cache/{i} <<EOF\nset -e\necho {i}\nEOF\n")),
            6 => s.push_str(&format!("WORKDIR /app/{i}\n")),
            _ => s.push_str(&format!("# comment {i}\nEXPOSE {}\n", 1000 + i % 60000)),
        }
        i += 1;
    }
    s
}

/// This thread's CPU time, in seconds: unlike wall time it does not count the time other
/// processes hold the core, so it gives a fair single-core figure on a busy machine.
fn thread_cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// Parses `files` `rounds` times and prints MB/s and instructions/s of CPU time.
fn cpu_throughput(label: &str, files: &[Vec<u8>], rounds: usize) {
    let bytes: usize = files.iter().map(Vec::len).sum();
    let instructions: usize = files
        .iter()
        .map(|f| rbuild::dockerfile::parse(f).map_or(0, |d| d.instructions.len()))
        .sum();
    let start = thread_cpu_seconds();
    for _ in 0..rounds {
        for f in files {
            let _ = black_box(rbuild::dockerfile::parse(black_box(f)));
        }
    }
    let secs = thread_cpu_seconds() - start;
    eprintln!(
        "{label}: {:.1} MB/s, {:.0} instructions/s (CPU time, {rounds} rounds)",
        (bytes * rounds) as f64 / secs / 1e6,
        (instructions * rounds) as f64 / secs
    );
}

fn bench(c: &mut Criterion) {
    let corpus = corpus();
    let total: usize = corpus.iter().map(Vec::len).sum();
    let instructions: usize = corpus
        .iter()
        .map(|f| rbuild::dockerfile::parse(f).map_or(0, |d| d.instructions.len()))
        .sum();
    eprintln!(
        "corpus: {} files, {total} bytes, {instructions} instructions",
        corpus.len()
    );
    cpu_throughput("cpu buildkit-corpus", &corpus, 2000);
    cpu_throughput("cpu generated-10k", &[generated(10_000).into_bytes()], 50);
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Bytes(total as u64));
    g.bench_function("buildkit-corpus", |b| {
        b.iter(|| {
            for f in &corpus {
                let _ = black_box(rbuild::dockerfile::parse(black_box(f)));
            }
        })
    });
    let big = generated(10_000);
    let df = rbuild::dockerfile::parse(big.as_bytes()).expect("generated file parses");
    eprintln!(
        "generated: {} bytes, {} instructions",
        big.len(),
        df.instructions.len()
    );
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.bench_function("generated-10k", |b| {
        b.iter(|| {
            rbuild::dockerfile::parse(black_box(big.as_bytes())).map(|d| d.instructions.len())
        })
    });
    g.throughput(Throughput::Elements(df.instructions.len() as u64));
    g.bench_function("generated-10k-instructions", |b| {
        b.iter(|| {
            rbuild::dockerfile::parse(black_box(big.as_bytes())).map(|d| d.instructions.len())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
