//! Tar header encoding, byte for byte as Go's `archive/tar` writes a header whose
//! `Format` is PAX — which is what containerd and BuildKit ask for when they write layers.
//!
//! Go's rule: use a plain USTAR header (long names split into the prefix field) when every
//! field fits; otherwise precede the entry with a PAX extended header (`PaxHeaders.0/…`)
//! holding the fields that do not fit (long or non-ASCII paths, large ids, sizes and times)
//! and all extended attributes (`SCHILY.xattr.*`), sorted by key. Matching Go bit for bit
//! keeps our layers comparable with BuildKit's and makes every encoding decision explicit.

use std::collections::BTreeMap;

/// Size of one tar block.
pub const BLOCK: usize = 512;

/// Go's limit on the size of a PAX extended header (`maxSpecialFileSize`).
const MAX_PAX_SIZE: usize = 1 << 20;

/// Type flags.
pub mod flag {
    /// Regular file.
    pub const REG: u8 = b'0';
    /// Hard link.
    pub const LINK: u8 = b'1';
    /// Symbolic link.
    pub const SYMLINK: u8 = b'2';
    /// Character device.
    pub const CHAR: u8 = b'3';
    /// Block device.
    pub const BLOCK: u8 = b'4';
    /// Directory.
    pub const DIR: u8 = b'5';
    /// Named pipe.
    pub const FIFO: u8 = b'6';
    /// PAX extended header for the next entry.
    pub const PAX: u8 = b'x';
}

/// The fields of one tar header, as the layer writer fills them.
#[derive(Debug, Clone, Default)]
pub struct Header<'a> {
    /// Entry name (directories end in `/`).
    pub name: &'a str,
    /// Hard or symbolic link target.
    pub linkname: &'a str,
    /// One of [`flag`].
    pub typeflag: u8,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u64,
    /// Group.
    pub gid: u64,
    /// Data size (0 for everything but regular files).
    pub size: u64,
    /// Seconds since the epoch.
    pub mtime: i64,
    /// Device major number.
    pub devmajor: u32,
    /// Device minor number.
    pub devminor: u32,
    /// Extended attributes, written as `SCHILY.xattr.<name>` PAX records.
    pub xattrs: &'a [(String, Vec<u8>)],
}

/// Why a header cannot be encoded.
pub type EncodeError = String;

/// Encodes `h` into `out`: the PAX extended header and its padded records when needed,
/// then the entry's own header block. The caller writes the data and its padding.
pub fn encode(h: &Header<'_>, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    if h.name.contains('\0') || h.linkname.contains('\0') {
        return Err("names may not contain NUL bytes".into());
    }
    if !fits_octal(8, i64::from(h.devmajor)) || !fits_octal(8, i64::from(h.devminor)) {
        return Err("device numbers too large for a tar header".into());
    }
    let mut pax: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut ustar = true;

    if !h.name.is_ascii() || h.name.len() > 100 {
        if split_ustar_path(h.name).is_none() {
            ustar = false;
        }
        pax.insert("path".into(), h.name.as_bytes().to_vec());
    }
    if !h.linkname.is_ascii() || h.linkname.len() > 100 {
        ustar = false;
        pax.insert("linkpath".into(), h.linkname.as_bytes().to_vec());
    }
    for (key, value, width) in [
        ("uid", clamp_i64(h.uid), 8),
        ("gid", clamp_i64(h.gid), 8),
        ("size", clamp_i64(h.size), 12),
        ("mtime", h.mtime, 12),
    ] {
        if !fits_octal(width, value) {
            ustar = false;
            let text = match key {
                "uid" => h.uid.to_string(),
                "gid" => h.gid.to_string(),
                "size" => h.size.to_string(),
                _ => h.mtime.to_string(),
            };
            pax.insert(key.into(), text.into_bytes());
        }
    }
    for (name, value) in h.xattrs {
        if name.is_empty() || name.contains('=') || name.contains('\0') {
            return Err(format!("invalid extended attribute name {name:?}"));
        }
        ustar = false;
        pax.insert(format!("SCHILY.xattr.{name}"), value.clone());
    }

    if ustar {
        let (prefix, name) = split_ustar_path(h.name).unwrap_or(("", h.name));
        let mut blk = template(h, name.as_bytes(), h.linkname.as_bytes());
        put_str(&mut blk[345..500], prefix.as_bytes());
        finish_block(&mut blk);
        out.extend_from_slice(&blk);
        return Ok(());
    }

    let mut data = Vec::new();
    for (k, v) in &pax {
        data.extend_from_slice(&pax_record(k, v));
    }
    if data.len() > MAX_PAX_SIZE {
        return Err(format!(
            "PAX extended header of {} bytes exceeds the 1 MiB limit",
            data.len()
        ));
    }
    let pax_name = pax_header_name(h.name);
    let mut xblk = [0u8; BLOCK];
    put_str(&mut xblk[0..100], pax_name.as_bytes());
    put_octal(&mut xblk[100..108], 0);
    put_octal(&mut xblk[108..116], 0);
    put_octal(&mut xblk[116..124], 0);
    put_octal(&mut xblk[124..136], data.len() as i64);
    put_octal(&mut xblk[136..148], 0);
    xblk[156] = flag::PAX;
    finish_block(&mut xblk);
    out.extend_from_slice(&xblk);
    out.extend_from_slice(&data);
    out.resize(out.len() + padding(data.len() as u64), 0);

    let name = to_ascii(h.name);
    let link = to_ascii(h.linkname);
    let mut blk = template(h, &name, &link);
    finish_block(&mut blk);
    out.extend_from_slice(&blk);
    Ok(())
}

/// Zero bytes needed after `len` bytes of data to reach a block boundary.
pub fn padding(len: u64) -> usize {
    ((BLOCK as u64 - len % BLOCK as u64) % BLOCK as u64) as usize
}

/// The V7 and USTAR fields shared by USTAR and PAX headers (Go's `templateV7Plus`);
/// numbers that do not fit are written as zero (their PAX record carries them).
fn template(h: &Header<'_>, name: &[u8], link: &[u8]) -> [u8; BLOCK] {
    let mut blk = [0u8; BLOCK];
    put_str(&mut blk[0..100], name);
    put_octal(&mut blk[100..108], i64::from(h.mode));
    put_octal(&mut blk[108..116], clamp_i64(h.uid));
    put_octal(&mut blk[116..124], clamp_i64(h.gid));
    put_octal(&mut blk[124..136], clamp_i64(h.size));
    put_octal(&mut blk[136..148], h.mtime);
    blk[156] = h.typeflag;
    put_str(&mut blk[157..257], link);
    // uname (265..297) and gname (297..329) stay empty: layers carry numeric ids only.
    put_octal(&mut blk[329..337], i64::from(h.devmajor));
    put_octal(&mut blk[337..345], i64::from(h.devminor));
    blk
}

/// Sets the USTAR magic and version and the checksum (Go's `setFormat`).
fn finish_block(blk: &mut [u8; BLOCK]) {
    blk[257..263].copy_from_slice(b"ustar\0");
    blk[263..265].copy_from_slice(b"00");
    let sum: u64 = blk
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                u64::from(b' ')
            } else {
                u64::from(b)
            }
        })
        .sum();
    put_octal(&mut blk[148..155], sum as i64);
    blk[155] = b' ';
}

/// Copies `s` into the field, NUL-terminated when there is room, truncated when not.
fn put_str(field: &mut [u8], s: &[u8]) {
    let n = s.len().min(field.len());
    field[..n].copy_from_slice(&s[..n]);
    if n < field.len() {
        field[n] = 0;
    }
}

/// Zero-padded octal with a trailing NUL; zero when the value does not fit.
fn put_octal(field: &mut [u8], value: i64) {
    let value = if fits_octal(field.len(), value) {
        value
    } else {
        0
    };
    let digits = format!("{value:0width$o}", width = field.len() - 1);
    put_str(field, digits.as_bytes());
}

/// Go's `fitsInOctal`: non-negative and below 8^(width-1).
fn fits_octal(width: usize, value: i64) -> bool {
    let bits = (width as u32 - 1) * 3;
    value >= 0 && (width >= 22 || value < 1i64 << bits)
}

fn clamp_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Go's `splitUSTARPath`: a prefix of at most 155 bytes and a name of at most 100.
fn split_ustar_path(name: &str) -> Option<(&str, &str)> {
    let mut length = name.len();
    if length <= 100 || !name.is_ascii() {
        return None;
    } else if length > 156 {
        length = 156;
    } else if name.as_bytes()[length - 1] == b'/' {
        length -= 1;
    }
    let i = name[..length].rfind('/')?;
    let nlen = name.len() - i - 1;
    if i == 0 || nlen > 100 || nlen == 0 || i > 155 {
        return None;
    }
    Some((&name[..i], &name[i + 1..]))
}

/// `path.Join(dir, "PaxHeaders.0", file)`, ASCII only, cut to 100 bytes, no trailing `/`.
fn pax_header_name(name: &str) -> String {
    let (dir, file) = match name.rfind('/') {
        Some(i) => (&name[..i], &name[i + 1..]),
        None => ("", name),
    };
    let mut joined: Vec<&str> = dir.split('/').filter(|c| !c.is_empty()).collect();
    joined.push("PaxHeaders.0");
    if !file.is_empty() {
        joined.push(file);
    }
    let mut s = to_ascii(&joined.join("/"));
    s.truncate(100);
    while s.last() == Some(&b'/') {
        s.pop();
    }
    String::from_utf8(s).unwrap_or_default()
}

/// Go's `toASCII`: drops non-ASCII characters and NULs.
fn to_ascii(s: &str) -> Vec<u8> {
    s.chars()
        .filter(|&c| c.is_ascii() && c != '\0')
        .map(|c| c as u8)
        .collect()
}

/// One PAX record: `"<len> <key>=<value>\n"`, where `<len>` counts the whole record.
fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let build = |size: usize| {
        let mut rec = format!("{size} {key}=").into_bytes();
        rec.extend_from_slice(value);
        rec.push(b'\n');
        rec
    };
    let base = key.len() + value.len() + 3; // ' ', '=', '\n'
    let size = base + base.to_string().len();
    let rec = build(size);
    // Adding the length field may have made the record one digit longer.
    if rec.len() == size {
        rec
    } else {
        build(rec.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str) -> Header<'_> {
        Header {
            name,
            typeflag: flag::REG,
            mode: 0o644,
            uid: 1000,
            gid: 1000,
            size: 5,
            mtime: 1_700_000_000,
            ..Default::default()
        }
    }

    /// Go's `tar.Writer` output for `Header{Name: "hello.txt", Mode: 0644, Uid: 1000,
    /// Gid: 1000, Size: 5, ModTime: time.Unix(1700000000, 0), Format: tar.FormatPAX}`,
    /// checked field by field against the documented layout.
    #[test]
    fn plain_ustar_header_matches_go() {
        let mut out = Vec::new();
        encode(&header("hello.txt"), &mut out).unwrap();
        assert_eq!(out.len(), BLOCK);
        assert_eq!(&out[0..10], b"hello.txt\0");
        assert_eq!(&out[100..108], b"0000644\0");
        assert_eq!(&out[108..116], b"0001750\0");
        assert_eq!(&out[116..124], b"0001750\0");
        assert_eq!(&out[124..136], b"00000000005\0");
        assert_eq!(&out[136..148], b"14524770400\0");
        assert_eq!(out[156], b'0');
        assert_eq!(&out[257..265], b"ustar\x0000");
        assert_eq!(&out[265..329], &[0u8; 64][..], "uname and gname stay empty");
        assert_eq!(&out[329..345], b"0000000\x000000000\0");
        // Checksum: six octal digits, NUL, space; and it must verify.
        assert_eq!(out[154], 0);
        assert_eq!(out[155], b' ');
        let stored = u64::from_str_radix(std::str::from_utf8(&out[148..154]).unwrap(), 8).unwrap();
        let mut copy = out.clone();
        copy[148..156].fill(b' ');
        assert_eq!(stored, copy.iter().map(|&b| u64::from(b)).sum::<u64>());
    }

    #[test]
    fn long_splittable_name_uses_ustar_prefix() {
        let dir = "d".repeat(80);
        let name = format!("{dir}/{}", "f".repeat(60));
        let mut out = Vec::new();
        encode(&header(&name), &mut out).unwrap();
        assert_eq!(out.len(), BLOCK, "no PAX header needed");
        assert_eq!(&out[0..60], "f".repeat(60).as_bytes());
        assert_eq!(&out[345..425], dir.as_bytes());
    }

    #[test]
    fn unsplittable_name_gets_a_pax_path_record() {
        let name = "x".repeat(150);
        let mut out = Vec::new();
        encode(&header(&name), &mut out).unwrap();
        assert_eq!(out.len(), 3 * BLOCK);
        assert_eq!(out[156], b'x');
        assert_eq!(&out[0..13], b"PaxHeaders.0/");
        let rec = format!("160 path={name}\n");
        assert_eq!(rec.len(), 160);
        assert_eq!(&out[BLOCK..BLOCK + rec.len()], rec.as_bytes());
        assert_eq!(&out[124..136], b"00000000240\0", "PAX data size 160");
        // The main header keeps the first 100 bytes of the name.
        assert_eq!(&out[2 * BLOCK..2 * BLOCK + 100], &name.as_bytes()[..100]);
    }

    #[test]
    fn xattrs_force_pax_with_sorted_records() {
        let xattrs = vec![
            ("user.b".to_string(), b"2".to_vec()),
            ("security.capability".to_string(), vec![1, 0, 0, 2]),
        ];
        let h = Header {
            xattrs: &xattrs,
            ..header("bin/ping")
        };
        let mut out = Vec::new();
        encode(&h, &mut out).unwrap();
        assert_eq!(&out[0..22], b"bin/PaxHeaders.0/ping\0");
        let data = &out[BLOCK..2 * BLOCK];
        let want =
            b"41 SCHILY.xattr.security.capability=\x01\x00\x00\x02\n25 SCHILY.xattr.user.b=2\n";
        assert_eq!(&data[..want.len()], &want[..]);
        assert_eq!(&out[2 * BLOCK..2 * BLOCK + 9], b"bin/ping\0");
    }

    #[test]
    fn large_values_move_to_pax() {
        let h = Header {
            uid: 3_000_000,
            mtime: -1,
            ..header("f")
        };
        let mut out = Vec::new();
        encode(&h, &mut out).unwrap();
        let data = std::str::from_utf8(&out[BLOCK..BLOCK + 27]).unwrap();
        assert_eq!(data, "12 mtime=-1\n15 uid=3000000\n");
        assert_eq!(&out[2 * BLOCK + 108..2 * BLOCK + 116], b"0000000\0");
    }

    #[test]
    fn pax_record_length_counts_itself() {
        // 1 + 94 + 3 = 98 bytes, plus "100" would be 101: the length needs a third digit.
        let v = vec![b'a'; 94];
        let rec = pax_record("k", &v);
        assert_eq!(rec.len(), 101);
        assert!(rec.starts_with(b"101 k="));
        let rec = pax_record("path", b"ab");
        assert_eq!(rec, b"11 path=ab\n");
    }

    #[test]
    fn rejects_nul_and_bad_xattr_names() {
        let mut out = Vec::new();
        assert!(encode(&header("a\0b"), &mut out).is_err());
        let xattrs = vec![("a=b".to_string(), vec![])];
        let h = Header {
            xattrs: &xattrs,
            ..header("f")
        };
        assert!(encode(&h, &mut out).is_err());
    }
}
