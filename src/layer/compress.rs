//! Layer compression: gzip (parallel, see [`super::pgzip`]), zstd (multi-threaded
//! frames) or none, behind one `Write` so the tar writer does not care which.

use std::io::{self, BufWriter, Write};

use super::pgzip::ParallelGzip;
use crate::image::media;

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// gzip: readable by every runtime and registry.
    #[default]
    Gzip,
    /// zstd: faster and smaller; needs containerd ≥ 1.5 / Docker ≥ 23 to run.
    Zstd,
    /// Plain tar.
    Uncompressed,
}

impl Compression {
    /// The OCI layer media type for blobs compressed this way.
    pub fn media_type(self) -> &'static str {
        match self {
            Compression::Gzip => media::OCI_LAYER_GZIP,
            Compression::Zstd => media::OCI_LAYER_ZSTD,
            Compression::Uncompressed => media::OCI_LAYER_TAR,
        }
    }

    /// The level used when none is given: gzip 6 (Go's and zlib's default), zstd 3.
    pub fn default_level(self) -> i32 {
        match self {
            Compression::Gzip => 6,
            Compression::Zstd => 3,
            Compression::Uncompressed => 0,
        }
    }
}

/// A writer that compresses what goes through it.
pub enum CompressWriter<W: Write> {
    /// Parallel gzip.
    Gzip(ParallelGzip<W>),
    /// zstd with worker threads.
    Zstd(zstd::stream::write::Encoder<'static, W>),
    /// No compression (buffered: the tar writer issues many small writes).
    Plain(BufWriter<W>),
}

impl<W: Write> CompressWriter<W> {
    /// Wraps `out`; `level` defaults to [`Compression::default_level`].
    pub fn new(out: W, compression: Compression, level: Option<i32>) -> io::Result<Self> {
        let level = level.unwrap_or(compression.default_level());
        Ok(match compression {
            Compression::Gzip => {
                CompressWriter::Gzip(ParallelGzip::new(out, level.clamp(0, 9) as u32))
            }
            Compression::Zstd => {
                let mut enc = zstd::stream::write::Encoder::new(out, level)?;
                // zstd's multi-threaded output is the same for any worker count ≥ 1 (but
                // differs from single-threaded mode), so always use at least one worker.
                let workers = rayon::current_num_threads().clamp(1, 64) as u32;
                enc.multithread(workers)?;
                CompressWriter::Zstd(enc)
            }
            Compression::Uncompressed => {
                CompressWriter::Plain(BufWriter::with_capacity(256 * 1024, out))
            }
        })
    }

    /// Ends the stream and returns the output.
    pub fn finish(self) -> io::Result<W> {
        match self {
            CompressWriter::Gzip(w) => w.finish(),
            CompressWriter::Zstd(w) => w.finish(),
            CompressWriter::Plain(w) => w.into_inner().map_err(|e| e.into_error()),
        }
    }
}

impl<W: Write> Write for CompressWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            CompressWriter::Gzip(w) => w.write(buf),
            CompressWriter::Zstd(w) => w.write(buf),
            CompressWriter::Plain(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            CompressWriter::Gzip(w) => w.flush(),
            CompressWriter::Zstd(w) => w.flush(),
            CompressWriter::Plain(w) => w.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zstd_with(workers: usize, data: &[u8]) -> Vec<u8> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(workers)
            .build()
            .unwrap();
        pool.install(|| {
            let mut w = CompressWriter::new(Vec::new(), Compression::Zstd, None).unwrap();
            w.write_all(data).unwrap();
            w.finish().unwrap()
        })
    }

    #[test]
    fn zstd_output_does_not_depend_on_the_worker_count() {
        let data: Vec<u8> = (0..6_000_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 27) as u8 | (i / 4096) as u8)
            .collect();
        let one = zstd_with(1, &data);
        assert_eq!(one, zstd_with(2, &data));
        assert_eq!(one, zstd_with(5, &data));
        assert_eq!(zstd::decode_all(&one[..]).unwrap(), data);
    }

    #[test]
    fn plain_passes_bytes_through() {
        let mut w = CompressWriter::new(Vec::new(), Compression::Uncompressed, None).unwrap();
        w.write_all(b"abc").unwrap();
        assert_eq!(w.finish().unwrap(), b"abc");
    }
}
