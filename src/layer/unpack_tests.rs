//! Unpack behaviour on real directories: metadata, whiteouts, and refusal of entries
//! that would escape the root.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use super::snapshot_view::is_opaque;
use super::test_tar::TarBuf;
use super::unpack::{UnpackError, UnpackMode, unpack};

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn apply(tar: Vec<u8>, dest: &Path, mode: UnpackMode) -> Result<super::UnpackReport, UnpackError> {
    unpack(&tar[..], dest, mode)
}

#[test]
fn files_dirs_links_and_metadata() {
    let t = tempfile::tempdir().unwrap();
    let tar = TarBuf::new()
        .dir("etc/")
        .file_mode("etc/motd", b"hello\n", 0o640)
        .symlink("etc/link", "/etc/motd")
        .hardlink("etc/hard", "etc/motd")
        .file("/abs/name", b"x")
        .finish();
    let report = apply(tar, t.path(), UnpackMode::Overlay).unwrap();
    assert_eq!(report.entries, 5);
    let motd = t.path().join("etc/motd");
    assert_eq!(std::fs::read(&motd).unwrap(), b"hello\n");
    let m = std::fs::metadata(&motd).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o640);
    assert_eq!(m.mtime(), 1_600_000_000);
    if is_root() {
        assert_eq!((m.uid(), m.gid()), (1000, 1000));
    }
    assert_eq!(
        std::fs::read_link(t.path().join("etc/link")).unwrap(),
        Path::new("/etc/motd")
    );
    assert_eq!(
        std::fs::metadata(t.path().join("etc/hard")).unwrap().ino(),
        m.ino()
    );
    assert_eq!(std::fs::read(t.path().join("abs/name")).unwrap(), b"x");
    let d = std::fs::metadata(t.path().join("etc")).unwrap();
    assert_eq!((d.mode() & 0o7777, d.mtime()), (0o755, 1_600_000_000));
}

#[test]
fn dotdot_entry_is_refused_and_nothing_escapes() {
    let base = tempfile::tempdir().unwrap();
    let dest = base.path().join("root");
    std::fs::create_dir(&dest).unwrap();
    let tar = TarBuf::new().file("../escaped", b"pwned").finish();
    let err = apply(tar, &dest, UnpackMode::Merge).unwrap_err();
    assert!(matches!(err, UnpackError::Breakout { .. }), "{err}");
    assert!(!base.path().join("escaped").exists());
    assert!(err.to_string().contains("outside the layer root"));
}

#[test]
fn writing_through_a_planted_symlink_is_refused() {
    let outside = tempfile::tempdir().unwrap();
    let dest = tempfile::tempdir().unwrap();
    let target = outside.path().to_str().unwrap();
    let tar = TarBuf::new()
        .symlink("evil", target)
        .file("evil/passwd", b"pwned")
        .finish();
    let err = apply(tar, dest.path(), UnpackMode::Merge).unwrap_err();
    assert!(matches!(err, UnpackError::ThroughSymlink { .. }), "{err}");
    assert!(!outside.path().join("passwd").exists());
    // A relative symlink climbing out fares no better.
    let dest = tempfile::tempdir().unwrap();
    let tar = TarBuf::new()
        .symlink("up", "../../../../..")
        .file("up/tmp/x", b"pwned")
        .finish();
    assert!(apply(tar, dest.path(), UnpackMode::Overlay).is_err());
}

#[test]
fn hard_links_out_of_the_root_are_refused() {
    let dest = tempfile::tempdir().unwrap();
    let tar = TarBuf::new().hardlink("passwd", "/etc/passwd").finish();
    let err = apply(tar, dest.path(), UnpackMode::Merge).unwrap_err();
    assert!(matches!(err, UnpackError::HardlinkOutside { .. }), "{err}");
    let tar = TarBuf::new()
        .hardlink("passwd", "../../../etc/passwd")
        .finish();
    let err = apply(tar, dest.path(), UnpackMode::Merge).unwrap_err();
    assert!(matches!(err, UnpackError::HardlinkOutside { .. }), "{err}");
    assert!(!dest.path().join("passwd").exists());
    // A hard link through a symlinked directory is refused too.
    let tar = TarBuf::new()
        .symlink("etc", "/etc")
        .hardlink("passwd", "etc/passwd")
        .finish();
    let err = apply(tar, dest.path(), UnpackMode::Merge).unwrap_err();
    assert!(matches!(err, UnpackError::ThroughSymlink { .. }), "{err}");
}

#[test]
fn merge_mode_applies_whiteouts_and_opaque_dirs() {
    let t = tempfile::tempdir().unwrap();
    let l1 = TarBuf::new()
        .dir("a/")
        .file("a/b", b"1")
        .file("a/c", b"1")
        .dir("d/")
        .file("d/old", b"1")
        .dir("d/sub/")
        .file("d/sub/deep", b"1")
        .finish();
    apply(l1, t.path(), UnpackMode::Merge).unwrap();
    let l2 = TarBuf::new()
        .dir("a/")
        .file("a/.wh.b", b"")
        .dir("d/")
        .file("d/new", b"2")
        .file("d/.wh..wh..opq", b"")
        .finish();
    apply(l2, t.path(), UnpackMode::Merge).unwrap();
    assert!(!t.path().join("a/b").exists());
    assert!(t.path().join("a/c").exists());
    assert!(!t.path().join("d/old").exists());
    assert!(!t.path().join("d/sub").exists());
    assert_eq!(std::fs::read(t.path().join("d/new")).unwrap(), b"2");
}

#[test]
fn overlay_mode_keeps_whiteouts_as_devices_and_opaque_as_xattr() {
    let t = tempfile::tempdir().unwrap();
    let tar = TarBuf::new()
        .dir("a/")
        .file("a/.wh.gone", b"")
        .file("a/.wh..wh..opq", b"")
        .file("a/.wh..wh.plnk", b"")
        .finish();
    apply(tar, t.path(), UnpackMode::Overlay).unwrap();
    let m = std::fs::symlink_metadata(t.path().join("a/gone")).unwrap();
    assert!(m.file_type().is_char_device());
    assert_eq!(m.rdev(), 0);
    assert!(is_opaque(&t.path().join("a")).unwrap());
    assert!(!t.path().join("a/.wh..wh.plnk").exists());
}

#[test]
fn layer_cannot_inject_overlay_xattrs() {
    let t = tempfile::tempdir().unwrap();
    let tar = TarBuf::new()
        .file_xattr("f", b"x", "user.overlay.redirect", b"/etc")
        .file_xattr("g", b"x", "user.note", b"kept")
        .finish();
    let report = apply(tar, t.path(), UnpackMode::Overlay).unwrap();
    let mut buf = [0u8; 16];
    assert!(
        rustix::fs::lgetxattr(t.path().join("f"), "user.overlay.redirect", &mut buf[..]).is_err()
    );
    let n = rustix::fs::lgetxattr(t.path().join("g"), "user.note", &mut buf[..]).unwrap();
    assert_eq!(&buf[..n], b"kept");
    assert_eq!(report.xattrs_skipped, 0);
}

#[test]
fn a_later_entry_replaces_an_earlier_one() {
    let t = tempfile::tempdir().unwrap();
    let tar = TarBuf::new()
        .dir("x/")
        .file("x/inner", b"1")
        .file("x", b"now a file")
        .symlink("y", "x")
        .file("y", b"replaced the link")
        .finish();
    apply(tar, t.path(), UnpackMode::Merge).unwrap();
    assert_eq!(std::fs::read(t.path().join("x")).unwrap(), b"now a file");
    assert!(
        std::fs::symlink_metadata(t.path().join("y"))
            .unwrap()
            .is_file()
    );
}
