//! Tests of `import_rootfs`: what a rootfs tarball becomes in the layer.

use std::io::{Read, Write};
use std::path::Path;

use super::ImportError;
use crate::layer::open_layer;
use crate::store::Store;

/// Raw tar entry for the builder: name, type, data, link target.
fn tarball(path: &Path, entries: &[(&str, tar::EntryType, &[u8], &str)]) {
    let mut b = tar::Builder::new(Vec::new());
    for (name, kind, data, link) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(*kind);
        h.set_mode(if *kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_uid(7);
        h.set_gid(8);
        h.set_mtime(1_234_567_890);
        h.set_size(data.len() as u64);
        // Write names raw (tar::Builder would refuse `..`, which is what we test).
        let raw = h.as_old_mut();
        raw.name[..name.len()].copy_from_slice(name.as_bytes());
        raw.linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    let bytes = b.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&bytes).unwrap();
    std::fs::write(path, gz.finish().unwrap()).unwrap();
}

fn layer_listing(store: &Store, name: &str) -> Vec<(String, String, Vec<u8>, u64)> {
    let desc = store.resolve(name).unwrap().unwrap();
    let image = store.load_image(&desc).unwrap();
    let mut tar = Vec::new();
    open_layer(store, &image.manifest.layers[0])
        .unwrap()
        .read_to_end(&mut tar)
        .unwrap();
    assert_eq!(
        crate::digest::Digest::of(&tar),
        image.config.rootfs.diff_ids[0]
    );
    let mut a = tar::Archive::new(&tar[..]);
    a.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            let link = e
                .link_name_bytes()
                .map(|l| String::from_utf8(l.into_owned()).unwrap())
                .unwrap_or_default();
            (
                String::from_utf8(e.path_bytes().into_owned()).unwrap(),
                link,
                data,
                e.header().uid().unwrap(),
            )
        })
        .collect()
}

#[test]
fn entries_are_normalised_sorted_and_relinked() {
    use tar::EntryType::*;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let src = dir.path().join("rootfs.tar.gz");
    tarball(
        &src,
        &[
            ("./", Directory, b"", ""),
            ("./usr/bin/tool", Regular, b"tool bytes", ""),
            ("./bin/", Directory, b"", ""),
            ("./bin/alias", Link, b"", "./usr/bin/tool"),
            ("/abs/f", Regular, b"abs", ""),
            ("./etc//x/./y", Symlink, b"", "/etc/passwd"),
            ("./old/.wh.gone", Regular, b"", ""),
        ],
    );
    let desc = store.import_rootfs(&src, "base:1").unwrap();
    assert_eq!(
        store.resolve("base:1").unwrap().unwrap().digest,
        desc.digest
    );
    let listing = layer_listing(&store, "base:1");
    let names: Vec<_> = listing.iter().map(|l| l.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "abs/f",
            "bin/",
            "bin/alias",
            "etc/x/y",
            "old/.wh.gone",
            "usr/bin/tool"
        ]
    );
    // `bin/alias` sorts first, so it now carries the content and `usr/bin/tool` links to it.
    assert_eq!(listing[2].2, b"tool bytes");
    assert_eq!(listing[5].1, "bin/alias");
    assert_eq!(
        listing[3].1, "/etc/passwd",
        "symlink targets are kept as written"
    );
    assert_eq!(listing[0].3, 7, "numeric owners are kept");
    let image = store.load_image(&desc).unwrap();
    assert_eq!(
        image.config.history[0].created_by.as_deref(),
        Some("rbuild import")
    );
    assert_eq!(
        image.config.architecture,
        crate::image::Platform::host().architecture
    );

    // The same tarball imported into another store gives the same image.
    let other = Store::open(&dir.path().join("other")).unwrap();
    let opts = crate::layer::LayerOptions::from_env();
    let again = other.import_rootfs_with(&src, "base:1", &opts).unwrap();
    let layer = |s: &Store, d| s.load_image(d).unwrap().manifest.layers[0].digest;
    assert_eq!(layer(&store, &desc), layer(&other, &again));
}

#[test]
fn escaping_entries_are_refused() {
    use tar::EntryType::*;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    for (i, entries) in [
        vec![("../evil", Regular, &b"x"[..], "")],
        vec![("a/../../evil", Regular, &b"x"[..], "")],
        vec![
            ("ok", Regular, &b"x"[..], ""),
            ("l", Link, &b""[..], "../../etc/passwd"),
        ],
        vec![("l", Link, &b""[..], "missing")],
    ]
    .into_iter()
    .enumerate()
    {
        let src = dir.path().join(format!("bad{i}.tar.gz"));
        tarball(&src, &entries);
        let err = store.import_rootfs(&src, "bad").unwrap_err();
        assert!(matches!(err, ImportError::UnsafeEntry { .. }), "{i}: {err}");
    }
    assert!(store.resolve("bad").unwrap().is_none());
    assert_eq!(
        std::fs::read_dir(store.tmp_dir()).unwrap().count(),
        0,
        "stage removed"
    );
}
