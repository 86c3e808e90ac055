//! Merge-apply: layers stack, whiteouts delete, symlinks never lead out of the root.

use std::io::Read;
use std::path::Path;

use super::{export_local, write_rootfs_tar};
use crate::image::Descriptor;
use crate::layer::{Entry, EntryKind, LayerOptions, sort_entries, write_layer};
use crate::store::Store;

fn file(path: &str, src: &Path, body: &str) -> Entry {
    let source = src.join(path.replace('/', "_"));
    std::fs::write(&source, body).unwrap();
    Entry {
        path: path.into(),
        kind: EntryKind::File {
            size: body.len() as u64,
        },
        mode: 0o640,
        uid: 0,
        gid: 0,
        mtime: 1_600_000_000,
        xattrs: vec![],
        source: Some(source),
    }
}

fn symlink(path: &str, target: &str) -> Entry {
    Entry {
        kind: EntryKind::Symlink {
            target: target.into(),
        },
        mode: 0o777,
        ..Entry::dir(path, 0, 0, 0, 0)
    }
}

fn layer(store: &Store, mut entries: Vec<Entry>) -> Descriptor {
    sort_entries(&mut entries);
    write_layer(store, &entries, &LayerOptions::default())
        .unwrap()
        .descriptor
}

#[test]
fn layers_merge_with_whiteouts_and_contained_symlinks() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    let store = Store::open(&tmp.path().join("store")).unwrap();
    let base = layer(
        &store,
        vec![
            Entry::dir("etc", 0o755, 0, 0, 1),
            file("etc/keep", &src, "keep"),
            file("etc/gone", &src, "gone"),
            Entry::dir("data", 0o700, 0, 0, 1),
            file("data/old", &src, "old"),
            symlink("abs", "/etc"),
            symlink("up", "../../../../.."),
        ],
    );
    let mut opaque = Entry::dir("data", 0o755, 0, 0, 2);
    opaque.kind = EntryKind::Opaque;
    let top = layer(
        &store,
        vec![
            Entry::whiteout("etc/gone"),
            Entry::dir("data", 0o755, 0, 0, 2),
            opaque,
            file("data/new", &src, "new"),
            Entry::dir("abs", 0o755, 0, 0, 3),
            file("abs/through-abs", &src, "inside"),
            Entry::dir("up", 0o755, 0, 0, 3),
            file("up/through-up", &src, "inside too"),
        ],
    );
    let dest = tmp.path().join("out");
    export_local(&store, &[base.clone(), top.clone()], &dest).unwrap();
    let read = |p: &str| std::fs::read_to_string(dest.join(p)).ok();
    assert_eq!(read("etc/keep").as_deref(), Some("keep"));
    assert_eq!(read("etc/gone"), None, "whited out");
    assert_eq!(read("data/old"), None, "hidden by the opaque marker");
    assert_eq!(read("data/new").as_deref(), Some("new"));
    // `abs` and `up` were replaced by directories in the top layer, so nothing was written
    // through them; and nothing escaped either way.
    assert_eq!(read("abs/through-abs").as_deref(), Some("inside"));
    assert!(!Path::new("/etc/through-abs").exists());
    assert!(!tmp.path().join("through-up").exists());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dest.join("etc/keep"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o640);

    // The same merge as a tarball.
    let tar = write_rootfs_tar(&store, &[base, top], Vec::new()).unwrap();
    let mut names = Vec::new();
    for e in tar::Archive::new(&tar[..]).entries().unwrap() {
        let mut e = e.unwrap();
        let mut body = String::new();
        let name = String::from_utf8(e.path_bytes().into_owned()).unwrap();
        e.read_to_string(&mut body).unwrap();
        names.push(name);
    }
    assert_eq!(
        names,
        [
            "abs/",
            "abs/through-abs",
            "data/",
            "data/new",
            "etc/",
            "etc/keep",
            "up/",
            "up/through-up"
        ]
    );
}

#[test]
fn writes_through_image_symlinks_stay_inside() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    let store = Store::open(&tmp.path().join("store")).unwrap();
    let victim = tmp.path().join("victim");
    std::fs::create_dir(&victim).unwrap();
    let base = layer(
        &store,
        vec![
            Entry::dir("real", 0o755, 0, 0, 1),
            symlink("lib", victim.to_str().unwrap()),
            symlink("rel", "../../../../../../../../.."),
        ],
    );
    // A later layer writes below the symlinks (as `lib/x` under a `lib -> usr/lib` link).
    let top = layer(
        &store,
        vec![file("lib/x", &src, "x"), file("rel/y", &src, "y")],
    );
    let dest = tmp.path().join("out");
    export_local(&store, &[base, top], &dest).unwrap();
    assert_eq!(
        std::fs::read_dir(&victim).unwrap().count(),
        0,
        "nothing written on the host"
    );
    // Resolved inside the root: /<victim path>/x and /y.
    let inside = dest.join(victim.strip_prefix("/").unwrap()).join("x");
    assert_eq!(std::fs::read_to_string(inside).unwrap(), "x");
    assert_eq!(std::fs::read_to_string(dest.join("y")).unwrap(), "y");
}

#[test]
fn dotdot_entries_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.as_old_mut().name[..9].copy_from_slice(b"../escape");
    h.set_size(1);
    h.set_mode(0o644);
    h.set_cksum();
    b.append(&h, &b"x"[..]).unwrap();
    let bytes = b.into_inner().unwrap();
    let mut m = super::merge::Merger::new(&tmp.path().join("out")).unwrap();
    let err = m.apply(&bytes[..]).unwrap_err();
    assert!(
        matches!(err, super::ExportError::UnsafeLayerEntry { .. }),
        "{err}"
    );
    assert!(!tmp.path().join("escape").exists());
}

#[test]
fn local_files_belong_to_the_caller_and_the_tar_keeps_image_owners() {
    use std::os::unix::fs::MetadataExt;
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    let store = Store::open(&tmp.path().join("store")).unwrap();
    let mut owned = file("owned", &src, "x");
    (owned.uid, owned.gid, owned.mode) = (1234, 5678, 0o4755);
    let l = layer(&store, vec![owned]);
    let out = tmp.path().join("out");
    export_local(&store, std::slice::from_ref(&l), &out).unwrap();
    let m = std::fs::metadata(out.join("owned")).unwrap();
    assert_eq!(
        (m.uid(), m.gid()),
        (
            rustix::process::geteuid().as_raw(),
            rustix::process::getegid().as_raw()
        )
    );
    assert_eq!(m.mode() & 0o7777, 0o4755, "setuid survives: nothing chowns");
    let tar = write_rootfs_tar(&store, &[l], Vec::new()).unwrap();
    let mut archive = tar::Archive::new(&tar[..]);
    let e = archive.entries().unwrap().next().unwrap().unwrap();
    assert_eq!(
        (e.header().uid().unwrap(), e.header().gid().unwrap()),
        (1234, 5678)
    );
}
