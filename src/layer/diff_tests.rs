//! Diff behaviour on hand-made upperdirs and trees (the sandbox tests cover real runs).

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::entry::{Entry, EntryKind};
use super::{Snapshots, diff_overlay, diff_tree};
use crate::digest::Digest;
use crate::store::Store;

fn write(p: &Path, data: &[u8]) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

fn whiteout(p: &Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        p,
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::empty(),
        0,
    )
    .unwrap();
}

fn names(entries: &[Entry]) -> Vec<String> {
    entries.iter().map(Entry::tar_path).collect()
}

/// Copies the mode, owner and times of `from` onto `to` (what copy-up does).
fn copy_meta(from: &Path, to: &Path) {
    let m = std::fs::metadata(from).unwrap();
    std::fs::set_permissions(to, m.permissions()).unwrap();
    let t = filetime(&m);
    rustix::fs::utimensat(rustix::fs::CWD, to, &t, rustix::fs::AtFlags::empty()).unwrap();
}

fn filetime(m: &std::fs::Metadata) -> rustix::fs::Timestamps {
    use std::os::unix::fs::MetadataExt;
    let ts = rustix::fs::Timespec {
        tv_sec: m.mtime(),
        tv_nsec: m.mtime_nsec(),
    };
    rustix::fs::Timestamps {
        last_access: ts,
        last_modification: ts,
    }
}

#[test]
fn overlay_diff_records_changes_whiteouts_and_parents() {
    let lower = tempfile::tempdir().unwrap();
    let upper = tempfile::tempdir().unwrap();
    write(&lower.path().join("etc/passwd"), b"root");
    write(&lower.path().join("etc/gone"), b"x");
    write(&lower.path().join("opt/d/old"), b"x");
    // The step: adds etc/new, deletes etc/gone and a never-existing path, rebuilds opt/d.
    std::fs::create_dir(upper.path().join("etc")).unwrap();
    copy_meta(&lower.path().join("etc"), &upper.path().join("etc"));
    write(&upper.path().join("etc/new"), b"new");
    whiteout(&upper.path().join("etc/gone"));
    whiteout(&upper.path().join("etc/never"));
    std::fs::create_dir_all(upper.path().join("opt/d")).unwrap();
    copy_meta(&lower.path().join("opt"), &upper.path().join("opt"));
    rustix::fs::setxattr(
        upper.path().join("opt/d"),
        "user.overlay.opaque",
        b"y",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    write(&upper.path().join("opt/d/fresh"), b"f");

    let entries = diff_overlay(upper.path(), &[lower.path().to_path_buf()]).unwrap();
    assert_eq!(
        names(&entries),
        [
            "etc",
            "etc/.wh.gone",
            "etc/new",
            "opt",
            "opt/d",
            "opt/d/.wh..wh..opq",
            "opt/d/fresh"
        ]
    );
    let new = entries.iter().find(|e| e.path == "etc/new").unwrap();
    assert_eq!(new.kind, EntryKind::File { size: 3 });
    assert_eq!(
        new.source.as_deref(),
        Some(upper.path().join("etc/new").as_path())
    );
}

#[test]
fn overlay_diff_skips_unchanged_copied_up_dirs_and_records_touched_files() {
    let lower = tempfile::tempdir().unwrap();
    let upper = tempfile::tempdir().unwrap();
    write(&lower.path().join("etc/a"), b"same");
    std::fs::create_dir(upper.path().join("etc")).unwrap();
    copy_meta(&lower.path().join("etc"), &upper.path().join("etc"));
    assert!(
        diff_overlay(upper.path(), &[lower.path().to_path_buf()])
            .unwrap()
            .is_empty()
    );
    // A copy with the same content but a new mtime (`touch`) counts.
    write(&upper.path().join("etc/a"), b"same");
    let entries = diff_overlay(upper.path(), &[lower.path().to_path_buf()]).unwrap();
    assert_eq!(names(&entries), ["etc", "etc/a"]);
    // A chmod counts too.
    copy_meta(&lower.path().join("etc/a"), &upper.path().join("etc/a"));
    assert!(
        diff_overlay(upper.path(), &[lower.path().to_path_buf()])
            .unwrap()
            .is_empty()
    );
    std::fs::set_permissions(
        upper.path().join("etc/a"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    assert_eq!(
        names(&diff_overlay(upper.path(), &[lower.path().to_path_buf()]).unwrap()),
        ["etc", "etc/a"]
    );
}

#[test]
fn hard_links_become_links_to_the_first_path() {
    let upper = tempfile::tempdir().unwrap();
    write(&upper.path().join("b"), b"data");
    std::fs::hard_link(upper.path().join("b"), upper.path().join("a")).unwrap();
    let entries = diff_overlay(upper.path(), &[]).unwrap();
    assert_eq!(entries[0].kind, EntryKind::File { size: 4 });
    assert_eq!(entries[1].kind, EntryKind::Hardlink { target: "a".into() });
    assert_eq!(entries[1].source, None);
}

#[test]
fn tree_diff_matches_overlay_semantics() {
    let lower = tempfile::tempdir().unwrap();
    write(&lower.path().join("etc/passwd"), b"root");
    write(&lower.path().join("etc/gone"), b"x");
    write(&lower.path().join("dev/null"), b"");
    let tree = tempfile::tempdir().unwrap();
    let skipped = super::copy_merged(&[lower.path().to_path_buf()], tree.path()).unwrap();
    assert!(skipped.is_empty());
    let lowers: Vec<PathBuf> = vec![lower.path().to_path_buf()];
    assert!(
        diff_tree(tree.path(), &lowers, &HashSet::new())
            .unwrap()
            .is_empty()
    );
    std::fs::remove_file(tree.path().join("etc/gone")).unwrap();
    std::fs::remove_file(tree.path().join("dev/null")).unwrap();
    write(&tree.path().join("etc/new"), b"n");
    let exclude: HashSet<String> = ["dev/null".to_string()].into();
    let entries = diff_tree(tree.path(), &lowers, &exclude).unwrap();
    assert_eq!(names(&entries), ["etc", "etc/.wh.gone", "etc/new"]);
}

#[test]
fn snapshot_is_verified_and_published_once() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let snaps = Snapshots::new(&store);
    let tar = super::test_tar::TarBuf::new()
        .file("hello", b"world")
        .finish();
    let id = Digest::of(&tar);
    let p = snaps
        .ensure(&id, || Ok::<_, std::io::Error>(&tar[..]))
        .unwrap();
    assert_eq!(std::fs::read(p.join("hello")).unwrap(), b"world");
    // Present now: the opener is not called again.
    let again = snaps
        .ensure(&id, || -> Result<&[u8], std::io::Error> {
            panic!("reopened")
        })
        .unwrap();
    assert_eq!(again, p);
    // A stream that does not hash to its diff ID is rejected and leaves nothing behind.
    let wrong = Digest::of(b"something else");
    let err = snaps
        .ensure(&wrong, || Ok::<_, std::io::Error>(&tar[..]))
        .unwrap_err();
    assert!(err.to_string().contains("corrupt"), "{err}");
    assert!(!snaps.contains(&wrong));
    assert_eq!(std::fs::read_dir(store.tmp_dir()).unwrap().count(), 0);
}

#[test]
fn racing_ensures_both_succeed() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let tar = super::test_tar::TarBuf::new()
        .dir("d/")
        .file("d/f", b"x")
        .finish();
    let id = Digest::of(&tar);
    let results: Vec<PathBuf> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let snaps = Snapshots::new(&store);
                let tar = &tar;
                s.spawn(move || {
                    snaps
                        .ensure(&id, || Ok::<_, std::io::Error>(&tar[..]))
                        .unwrap()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(results.iter().all(|p| p.join("d/f").is_file()));
    assert_eq!(std::fs::read_dir(store.tmp_dir()).unwrap().count(), 0);
}
