//! Parallel gzip, pigz style: the input is cut into fixed 128 KiB blocks, each block is
//! deflated on its own (with the previous 32 KiB of input as its dictionary, so the ratio
//! stays close to a serial stream) and ends on a byte boundary (a sync flush), and the
//! compressed blocks are concatenated into one ordinary gzip member.
//!
//! The output depends only on the block size and the level, never on the number of
//! threads or on how the input was chunked into `write` calls, so layers stay
//! reproducible across machines.
//!
//! Blocks are compressed as a pipeline, not in batches: each full block becomes a job on
//! the rayon pool while the writer keeps producing the next one, and finished blocks are
//! written in order as they come back. At most a few blocks per thread are in flight,
//! which bounds memory. A writer that needs a block no pool thread has started yet
//! compresses it itself, so this never deadlocks, even when called from inside a busy
//! (or one-thread) rayon pool.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use flate2::{Compress, Crc, FlushCompress, Status};

/// Input bytes per independently compressed block (pigz's default).
pub const BLOCK_SIZE: usize = 128 * 1024;

/// Deflate's window: how much earlier input a block may refer back to.
const WINDOW: usize = 32 * 1024;

/// Blocks in flight per pool thread.
const BLOCKS_PER_THREAD: usize = 3;

/// One compressed block and the CRC of its input.
type Done = io::Result<(Vec<u8>, Crc)>;

/// A block's compression, shared by the writer and the pool thread that may run it.
struct Job {
    state: Mutex<State>,
    done: Condvar,
}

enum State {
    /// Not started: whoever takes it compresses it.
    Queued {
        dict: Vec<u8>,
        block: Vec<u8>,
        level: u32,
        last: bool,
    },
    /// A pool thread is on it.
    Running,
    /// Finished (taken by the writer once).
    Done(Done),
    /// Result already written.
    Taken,
}

impl Job {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while compressing cannot leave the state half-changed; keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs the job if nobody has started it; returns whether this call ran it.
    fn run(&self) -> bool {
        let taken = {
            let mut state = self.lock();
            match *state {
                State::Queued { .. } => Some(std::mem::replace(&mut *state, State::Running)),
                _ => None,
            }
        };
        let Some(State::Queued {
            dict,
            block,
            level,
            last,
        }) = taken
        else {
            return false;
        };
        let mut crc = Crc::new();
        crc.update(&block);
        let done = deflate_block(level, &dict, &block, last).map(|out| (out, crc));
        *self.lock() = State::Done(done);
        self.done.notify_all();
        true
    }

    /// The result, compressing here if no pool thread has started.
    fn wait(&self) -> Done {
        self.run();
        let mut state = self.lock();
        loop {
            match std::mem::replace(&mut *state, State::Taken) {
                State::Done(done) => return done,
                other @ State::Running => {
                    *state = other;
                    state = self.done.wait(state).unwrap_or_else(|e| e.into_inner());
                }
                _ => return Err(io::Error::other("gzip block lost")),
            }
        }
    }

    fn try_take(&self) -> Option<Done> {
        let mut state = self.lock();
        match std::mem::replace(&mut *state, State::Taken) {
            State::Done(done) => Some(done),
            other => {
                *state = other;
                None
            }
        }
    }
}

/// A gzip writer that compresses blocks in parallel on the rayon pool.
pub struct ParallelGzip<W: Write> {
    out: W,
    level: u32,
    pending: Vec<u8>,
    dict: Vec<u8>,
    crc: Crc,
    started: bool,
    in_flight: VecDeque<Arc<Job>>,
    max_in_flight: usize,
}

impl<W: Write> ParallelGzip<W> {
    /// A writer at `level` (0–9) into `out`.
    pub fn new(out: W, level: u32) -> ParallelGzip<W> {
        let threads = rayon::current_num_threads().max(1);
        ParallelGzip {
            out,
            level: level.min(9),
            pending: Vec::with_capacity(2 * BLOCK_SIZE),
            dict: Vec::new(),
            crc: Crc::new(),
            started: false,
            in_flight: VecDeque::new(),
            max_in_flight: BLOCKS_PER_THREAD * threads + 1,
        }
    }

    /// Compresses what is left, writes the gzip trailer and returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.header()?;
        let rest = std::mem::take(&mut self.pending);
        self.submit(rest, true)?;
        while !self.in_flight.is_empty() {
            self.write_next()?;
        }
        let mut trailer = [0u8; 8];
        trailer[..4].copy_from_slice(&self.crc.sum().to_le_bytes());
        trailer[4..].copy_from_slice(&self.crc.amount().to_le_bytes());
        self.out.write_all(&trailer)?;
        self.out.flush()?;
        Ok(self.out)
    }

    /// The gzip header as Go's `compress/gzip` writes it: no name, mtime 0, OS unknown.
    fn header(&mut self) -> io::Result<()> {
        if self.started {
            return Ok(());
        }
        self.started = true;
        let xfl = match self.level {
            9 => 2,
            1 => 4,
            _ => 0,
        };
        self.out
            .write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 255])
    }

    /// Queues one block for compression (its dictionary is the input before it), after
    /// writing finished blocks out if too many are in flight.
    fn submit(&mut self, block: Vec<u8>, last: bool) -> io::Result<()> {
        while self.in_flight.len() >= self.max_in_flight {
            self.write_next()?;
        }
        let dict = std::mem::take(&mut self.dict);
        self.dict = block[block.len().saturating_sub(WINDOW)..].to_vec();
        if self.dict.len() < WINDOW {
            let mut longer = dict[dict.len().saturating_sub(WINDOW - self.dict.len())..].to_vec();
            longer.extend_from_slice(&self.dict);
            self.dict = longer;
        }
        let job = Arc::new(Job {
            state: Mutex::new(State::Queued {
                dict,
                block,
                level: self.level,
                last,
            }),
            done: Condvar::new(),
        });
        let worker = Arc::clone(&job);
        rayon::spawn(move || {
            worker.run();
        });
        self.in_flight.push_back(job);
        // Write whatever is already done, without waiting.
        while let Some(done) = self.in_flight.front().and_then(|j| j.try_take()) {
            self.in_flight.pop_front();
            self.emit(done)?;
        }
        Ok(())
    }

    /// Waits for (or does) the oldest block and writes it.
    fn write_next(&mut self) -> io::Result<()> {
        match self.in_flight.pop_front() {
            Some(job) => self.emit(job.wait()),
            None => Ok(()),
        }
    }

    fn emit(&mut self, done: Done) -> io::Result<()> {
        let (bytes, crc) = done?;
        self.out.write_all(&bytes)?;
        self.crc.combine(&crc);
        Ok(())
    }
}

impl<W: Write> Write for ParallelGzip<W> {
    fn write(&mut self, mut buf: &[u8]) -> io::Result<usize> {
        let n = buf.len();
        // Keep the current block open until more input arrives: only `finish` knows
        // which block is the last.
        while !buf.is_empty() {
            if self.pending.len() == BLOCK_SIZE {
                self.header()?;
                let block = std::mem::replace(&mut self.pending, Vec::with_capacity(BLOCK_SIZE));
                self.submit(block, false)?;
            }
            let take = (BLOCK_SIZE - self.pending.len()).min(buf.len());
            self.pending.extend_from_slice(&buf[..take]);
            buf = &buf[take..];
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        // Blocks are cut at fixed offsets; flushing early would change the output.
        Ok(())
    }
}

/// Raw-deflates one block: sync-flushed so the next block starts on a byte boundary,
/// or finished when it is the last.
fn deflate_block(level: u32, dict: &[u8], data: &[u8], last: bool) -> io::Result<Vec<u8>> {
    // Already-compressed or random data does not shrink, but deflate would still spend
    // ~20 ns a byte trying: store such blocks as they are.
    let level = if level > 0 && looks_incompressible(data) {
        0
    } else {
        level
    };
    // A fresh compressor per block: a zlib-rs compressor reused through `reset()` and
    // `set_dictionary` gives output that depends on the block it compressed before,
    // which would make layers depend on thread scheduling (see the tests).
    let mut c = Compress::new(flate2::Compression::new(level), false);
    deflate_with(&mut c, dict, data, last)
}

/// True when nearly every byte value occurs within ±25% of its uniform share: what
/// random, encrypted or already-compressed data looks like, and what deflate cannot
/// shrink. Up to 32 values may stray, so the tar headers between small files (zeros,
/// octal digits) do not hide the random content around them; text, zero runs or any
/// skewed data fail. Integer arithmetic only, so the decision (and the layer digest) is
/// the same on every machine.
fn looks_incompressible(data: &[u8]) -> bool {
    if data.len() < 32 * 1024 {
        return false;
    }
    let mut counts = [0u32; 256];
    for &b in data {
        counts[b as usize] += 1;
    }
    let expected = data.len() as u64 / 256;
    let (low, high) = (expected * 3 / 4, expected * 5 / 4);
    let typical = counts
        .iter()
        .filter(|&&c| (low..=high).contains(&u64::from(c)))
        .count();
    typical >= 224
}

fn deflate_with(c: &mut Compress, dict: &[u8], data: &[u8], last: bool) -> io::Result<Vec<u8>> {
    if !dict.is_empty() {
        c.set_dictionary(dict).map_err(io::Error::other)?;
    }
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut out = Vec::with_capacity(data.len() / 2 + 1024);
    let mut consumed = 0usize;
    loop {
        if out.capacity() - out.len() < 1024 {
            out.reserve(out.capacity().max(64 * 1024));
        }
        let before = c.total_in();
        let status = c
            .compress_vec(&data[consumed..], &mut out, flush)
            .map_err(io::Error::other)?;
        consumed += (c.total_in() - before) as usize;
        let room_left = out.len() < out.capacity();
        match status {
            Status::StreamEnd => break,
            _ if !last && consumed == data.len() && room_left => break,
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incompressible_blocks_are_stored_and_still_valid_gzip() {
        // A deterministic pseudo-random block (xorshift) and a text block.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let random: Vec<u8> = (0..BLOCK_SIZE * 3)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        assert!(looks_incompressible(&random[..BLOCK_SIZE]));
        let text = b"fn main() { println!(\"hello\"); }\n".repeat(BLOCK_SIZE / 16);
        assert!(!looks_incompressible(&text[..BLOCK_SIZE]));
        // Random files of 10 KiB with a tar header between each still count as random.
        let mut tarlike = Vec::new();
        for chunk in random.chunks(10 * 1024) {
            let mut header = vec![0u8; 512];
            header[..12].copy_from_slice(b"0000644\x000001");
            tarlike.extend_from_slice(&header);
            tarlike.extend_from_slice(chunk);
        }
        assert!(looks_incompressible(&tarlike[..BLOCK_SIZE]));
        // Half zeros is compressible.
        let mut sparse = random[..BLOCK_SIZE / 2].to_vec();
        sparse.resize(BLOCK_SIZE, 0);
        assert!(!looks_incompressible(&sparse));
        let mut input = random.clone();
        input.extend_from_slice(&text);
        let mut w = ParallelGzip::new(Vec::new(), 6);
        w.write_all(&input).unwrap();
        let gz = w.finish().unwrap();
        // Stored random blocks cost a few bytes each; the text still compresses.
        assert!(
            gz.len() < random.len() + text.len() / 10,
            "{} bytes",
            gz.len()
        );
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut back).unwrap();
        assert_eq!(back, input);
    }
    use std::io::Read;

    fn sample(len: usize) -> Vec<u8> {
        // Compressible but not trivial: text-like with a slowly changing pattern.
        (0..len)
            .map(|i| b"abcdefghij0123456789 \n"[(i * 7 + i / 1000) % 22])
            .collect()
    }

    fn gzip(data: &[u8], chunk: usize) -> Vec<u8> {
        let mut w = ParallelGzip::new(Vec::new(), 6);
        for c in data.chunks(chunk.max(1)) {
            w.write_all(c).unwrap();
        }
        w.finish().unwrap()
    }

    fn gunzip(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(data)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn round_trips_through_a_standard_decoder() {
        for len in [
            0,
            1,
            1000,
            BLOCK_SIZE,
            BLOCK_SIZE + 1,
            3 * BLOCK_SIZE + 17,
            5_000_000,
        ] {
            let data = sample(len);
            assert_eq!(gunzip(&gzip(&data, 65536)), data, "len {len}");
        }
    }

    /// Alternating random and text blocks: compressor state left over from one block
    /// would change the next one's output (a reused zlib-rs compressor did).
    fn mixed(len: usize) -> Vec<u8> {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let text = sample(len);
        (0..len)
            .map(|i| {
                if (i / 50_000) % 3 == 0 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                } else {
                    text[i]
                }
            })
            .collect()
    }

    #[test]
    fn output_is_the_same_on_every_run() {
        // Real machine code (this test binary) plus synthetic blocks.
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let mut data = exe[..exe.len().min(6 << 20)].to_vec();
        data.extend(mixed(4 * 1024 * 1024));
        let first = gzip(&data, 65536);
        for threads in [2, 3, 1, 2, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            assert!(
                pool.install(|| gzip(&data, 65536)) == first,
                "{threads} threads"
            );
        }
        assert_eq!(gunzip(&first), data);
    }

    #[test]
    fn output_does_not_depend_on_write_chunking_or_threads() {
        let data = sample(2 * 1024 * 1024 + 123);
        let a = gzip(&data, 512);
        let b = gzip(&data, 1 << 20);
        assert_eq!(a, b);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let c = pool.install(|| gzip(&data, 10_000));
        assert_eq!(a, c);
    }

    #[test]
    fn header_has_no_timestamp_and_ratio_is_close_to_serial() {
        let data = sample(4 * 1024 * 1024);
        let par = gzip(&data, 1 << 16);
        assert_eq!(&par[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
        let mut serial = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        serial.write_all(&data).unwrap();
        let serial = serial.finish().unwrap();
        assert!(
            par.len() as f64 <= serial.len() as f64 * 1.05 + 64.0,
            "parallel {} vs serial {}",
            par.len(),
            serial.len()
        );
    }
}
