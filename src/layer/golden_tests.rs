//! Byte-for-byte comparison with Go's `archive/tar`, the writer behind containerd's and
//! BuildKit's layers. `testdata/go-pax.tar` was made by `go run testdata/go-pax.go`
//! (Go 1.19, `Format: tar.FormatPAX` as containerd sets it; whiteouts as containerd writes them).

use super::{Entry, EntryKind, TarOptions, TarWriter};

fn e(path: &str, kind: EntryKind, mode: u32) -> Entry {
    Entry {
        path: path.into(),
        kind,
        mode,
        uid: 0,
        gid: 0,
        mtime: 1_700_000_000,
        xattrs: vec![],
        source: None,
    }
}

fn file(path: &str, size: u64, mode: u32) -> Entry {
    e(path, EntryKind::File { size }, mode)
}

#[test]
fn matches_go_archive_tar_byte_for_byte() {
    let golden: &[u8] = include_bytes!("testdata/go-pax.tar");
    let entries: Vec<(Entry, &[u8])> = vec![
        (e("a_dir", EntryKind::Dir, 0o755), b""),
        (
            Entry {
                uid: 1000,
                gid: 1000,
                ..file("a_dir/hello", 11, 0o644)
            },
            b"hello world",
        ),
        (
            Entry {
                uid: 1000,
                gid: 1000,
                ..e(
                    "a_dir/link",
                    EntryKind::Hardlink {
                        target: "a_dir/hello".into(),
                    },
                    0o644,
                )
            },
            b"",
        ),
        (
            e(
                "b_sym",
                EntryKind::Symlink {
                    target: "/a_dir/hello".into(),
                },
                0o777,
            ),
            b"",
        ),
        (
            e("c_dev", EntryKind::CharDevice { major: 1, minor: 3 }, 0o666),
            b"",
        ),
        (e("d_fifo", EntryKind::Fifo, 0o600), b""),
        (
            Entry {
                xattrs: vec![
                    (
                        "security.capability".into(),
                        b"\x01\x00\x00\x02\x00\x20".to_vec(),
                    ),
                    ("user.x".into(), b"y".to_vec()),
                ],
                ..file("e_xattr", 2, 0o4755)
            },
            b"ab",
        ),
        (
            Entry {
                uid: 3_000_000,
                gid: 70_000_000,
                ..file("f_biguid", 0, 0o644)
            },
            b"",
        ),
        (file("g_café", 0, 0o644), b""),
        (
            Entry {
                mtime: -1,
                ..file("h_neg", 0, 0o644)
            },
            b"",
        ),
        (
            file(
                &format!("i_{}/{}", "d".repeat(80), "f".repeat(60)),
                0,
                0o644,
            ),
            b"",
        ),
        (file(&format!("j_{}", "x".repeat(150)), 0, 0o644), b""),
        (
            e(
                "k_longlink",
                EntryKind::Symlink {
                    target: "t".repeat(150),
                },
                0o777,
            ),
            b"",
        ),
        (
            e(&format!("l_{}", "d".repeat(120)), EntryKind::Dir, 0o755),
            b"",
        ),
        (Entry::whiteout("m_dir/gone"), b""),
    ];
    let mut w = TarWriter::new(Vec::new(), TarOptions::default());
    for (entry, mut data) in entries {
        w.append_reader(&entry, &mut data).unwrap();
    }
    let ours = w.finish().unwrap();
    assert_eq!(ours.len(), golden.len());
    for (i, (a, b)) in ours.chunks(512).zip(golden.chunks(512)).enumerate() {
        assert_eq!(a, b, "block {i} differs");
    }
}
