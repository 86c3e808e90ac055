//! Reading layers back: a stored blob, or any tarball a user hands us, as a plain tar
//! stream. The codec comes from the media type when it names one, otherwise from the
//! first bytes (gzip, zstd, bzip2, xz or plain).

use std::io::{self, BufReader, Cursor, Read};

use super::LayerError;
use crate::image::Descriptor;
use crate::store::Store;

/// A compression format recognised on input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// Not compressed.
    Plain,
    /// gzip (also several concatenated members, as pigz may write).
    Gzip,
    /// zstd.
    Zstd,
    /// bzip2.
    Bzip2,
    /// xz.
    Xz,
}

impl Codec {
    /// The codec a layer media type names, or `None` when it does not say.
    pub fn from_media_type(media_type: &str) -> Option<Codec> {
        let mt = media_type.trim();
        if mt.ends_with("+gzip") || mt.ends_with(".tar.gzip") {
            Some(Codec::Gzip)
        } else if mt.ends_with("+zstd") || mt.ends_with(".tar.zstd") {
            Some(Codec::Zstd)
        } else if mt.ends_with(".tar") || mt.ends_with(".diff.tar") {
            Some(Codec::Plain)
        } else {
            None
        }
    }

    /// Recognises a codec from the first bytes of a stream.
    pub fn sniff(prefix: &[u8]) -> Codec {
        if prefix.starts_with(&[0x1f, 0x8b]) {
            Codec::Gzip
        } else if prefix.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Codec::Zstd
        } else if prefix.starts_with(b"BZh") {
            Codec::Bzip2
        } else if prefix.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Codec::Xz
        } else {
            Codec::Plain
        }
    }
}

/// A boxed, sendable reader.
pub type LayerReader = Box<dyn Read + Send>;

/// Opens a stored layer blob as an uncompressed tar stream.
///
/// The magic bytes decide (a tar starts with a file name, never with a compression
/// magic), so a blob whose media type is generic or wrong still reads; the media type
/// decides only when the bytes look plain, so a damaged blob fails loudly.
pub fn open_layer(store: &Store, desc: &Descriptor) -> Result<LayerReader, LayerError> {
    let file = store.open_blob(&desc.digest)?;
    let reader = BufReader::with_capacity(256 * 1024, file);
    let (codec, whole) = sniff_reader(reader).map_err(LayerError::Input)?;
    let codec = match (codec, Codec::from_media_type(&desc.media_type)) {
        (Codec::Plain, Some(named)) => named,
        _ => codec,
    };
    decoder(whole, codec).map_err(LayerError::Input)
}

/// Wraps `reader` in the decoder its first bytes call for.
pub fn decompress<R: Read + Send + 'static>(reader: R) -> io::Result<LayerReader> {
    let (codec, whole) = sniff_reader(reader)?;
    decoder(whole, codec)
}

/// Reads the first bytes, recognises the codec and gives back a reader of the whole stream.
fn sniff_reader<R: Read>(mut reader: R) -> io::Result<(Codec, impl Read)> {
    let mut prefix = [0u8; 6];
    let mut got = 0;
    while got < prefix.len() {
        match reader.read(&mut prefix[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let codec = Codec::sniff(&prefix[..got]);
    Ok((codec, Cursor::new(prefix[..got].to_vec()).chain(reader)))
}

/// Wraps `reader` in the decoder for `codec`.
pub fn decoder<R: Read + Send + 'static>(reader: R, codec: Codec) -> io::Result<LayerReader> {
    Ok(match codec {
        Codec::Plain => Box::new(reader),
        Codec::Gzip => Box::new(flate2::read::MultiGzDecoder::new(reader)),
        Codec::Zstd => Box::new(zstd::stream::read::Decoder::new(reader)?),
        Codec::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(reader)),
        Codec::Xz => Box::new(xz2::read::XzDecoder::new_multi_decoder(reader)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn roundtrip(compressed: Vec<u8>) -> Vec<u8> {
        let mut out = Vec::new();
        decompress(Cursor::new(compressed))
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn sniffs_every_supported_codec() {
        let data = b"some tar bytes, or anything else".repeat(100);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        assert_eq!(roundtrip(gz.finish().unwrap()), data);
        assert_eq!(roundtrip(zstd::encode_all(&data[..], 3).unwrap()), data);
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        bz.write_all(&data).unwrap();
        assert_eq!(roundtrip(bz.finish().unwrap()), data);
        let mut xz = xz2::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(&data).unwrap();
        assert_eq!(roundtrip(xz.finish().unwrap()), data);
        assert_eq!(roundtrip(data.clone()), data);
        assert_eq!(roundtrip(b"ab".to_vec()), b"ab", "short input stays intact");
    }

    #[test]
    fn media_types_name_their_codec() {
        use crate::image::media;
        assert_eq!(
            Codec::from_media_type(media::OCI_LAYER_GZIP),
            Some(Codec::Gzip)
        );
        assert_eq!(
            Codec::from_media_type(media::DOCKER_LAYER_GZIP),
            Some(Codec::Gzip)
        );
        assert_eq!(
            Codec::from_media_type(media::OCI_LAYER_ZSTD),
            Some(Codec::Zstd)
        );
        assert_eq!(
            Codec::from_media_type(media::OCI_LAYER_TAR),
            Some(Codec::Plain)
        );
        assert_eq!(
            Codec::from_media_type("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"),
            Some(Codec::Gzip)
        );
        assert_eq!(Codec::from_media_type("application/octet-stream"), None);
    }
}
