//! Parallel gzip, pigz style: the input is cut into fixed 128 KiB blocks, each block is
//! deflated on its own (with the previous 32 KiB of input as its dictionary, so the ratio
//! stays close to a serial stream) and ends on a byte boundary (a sync flush), and the
//! compressed blocks are concatenated into one ordinary gzip member.
//!
//! The output depends only on the block size and the level, never on the number of
//! threads or on how the input was chunked into `write` calls, so layers stay
//! reproducible across machines. Memory is bounded by one batch of blocks.

use std::io::{self, Write};

use flate2::{Compress, Crc, FlushCompress, Status};
use rayon::prelude::*;

/// Input bytes per independently compressed block (pigz's default).
pub const BLOCK_SIZE: usize = 128 * 1024;

/// Deflate's window: how much earlier input a block may refer back to.
const WINDOW: usize = 32 * 1024;

/// Blocks compressed per parallel batch, per thread.
const BLOCKS_PER_THREAD: usize = 4;

/// A gzip writer that compresses blocks in parallel on the rayon pool.
pub struct ParallelGzip<W: Write> {
    out: W,
    level: u32,
    pending: Vec<u8>,
    dict: Vec<u8>,
    crc: Crc,
    started: bool,
    batch: usize,
}

impl<W: Write> ParallelGzip<W> {
    /// A writer at `level` (0–9) into `out`.
    pub fn new(out: W, level: u32) -> ParallelGzip<W> {
        let threads = rayon::current_num_threads().max(1);
        let batch = BLOCK_SIZE * BLOCKS_PER_THREAD * threads;
        ParallelGzip {
            out,
            level: level.min(9),
            pending: Vec::with_capacity(batch + BLOCK_SIZE),
            dict: Vec::new(),
            crc: Crc::new(),
            started: false,
            batch,
        }
    }

    /// Compresses what is left, writes the gzip trailer and returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.header()?;
        let rest = std::mem::take(&mut self.pending);
        self.compress(&rest, true)?;
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

    /// Compresses `data` (whole blocks, plus a partial one only when `last`) in parallel
    /// and writes the result in order.
    fn compress(&mut self, data: &[u8], last: bool) -> io::Result<()> {
        let blocks: Vec<&[u8]> = if data.is_empty() {
            vec![&[]]
        } else {
            data.chunks(BLOCK_SIZE).collect()
        };
        let n = blocks.len();
        let level = self.level;
        let dict = &self.dict;
        let outputs: Vec<io::Result<Vec<u8>>> = blocks
            .par_iter()
            .enumerate()
            .map(|(i, block)| {
                let dictionary = if i == 0 {
                    dict.as_slice()
                } else {
                    let prev = blocks[i - 1];
                    &prev[prev.len().saturating_sub(WINDOW)..]
                };
                deflate_block(level, dictionary, block, last && i == n - 1)
            })
            .collect();
        for out in outputs {
            self.out.write_all(&out?)?;
        }
        self.crc.update(data);
        if data.len() >= WINDOW {
            self.dict.clear();
            self.dict.extend_from_slice(&data[data.len() - WINDOW..]);
        } else {
            self.dict.extend_from_slice(data);
            let excess = self.dict.len().saturating_sub(WINDOW);
            self.dict.drain(..excess);
        }
        Ok(())
    }
}

impl<W: Write> Write for ParallelGzip<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if self.pending.len() > self.batch {
            self.header()?;
            // Keep at least one byte back: only `finish` knows which block is the last.
            let whole = (self.pending.len() - 1) / BLOCK_SIZE * BLOCK_SIZE;
            let batch: Vec<u8> = self.pending.drain(..whole).collect();
            self.compress(&batch, false)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        // Blocks are cut at fixed offsets; flushing early would change the output.
        Ok(())
    }
}

/// Raw-deflates one block: sync-flushed so the next block starts on a byte boundary,
/// or finished when it is the last.
fn deflate_block(level: u32, dict: &[u8], data: &[u8], last: bool) -> io::Result<Vec<u8>> {
    let mut c = Compress::new(flate2::Compression::new(level), false);
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
