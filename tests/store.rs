//! The store through the `rbuild` binary, checked by independent OCI tools: `skopeo`
//! reads the store root as an OCI layout, `umoci` unpacks from it.

mod store_support;

use std::process::Command;

use rbuild::store::Store;
use store_support::{Codec, Env, busybox_tarball, have, is_root, json, run};

#[test]
fn imported_image_reads_back_with_skopeo() {
    if !have("skopeo") {
        return;
    }
    let env = Env::new();
    let digest = env.import_busybox("busybox:1.36");
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest}"
    );
    let root = env.root.to_str().unwrap();
    let info = json(&run(
        Command::new("skopeo").args(["inspect", &format!("oci:{root}:busybox:1.36")])
    ));
    assert_eq!(info["Digest"], digest.as_str());
    assert_eq!(info["Os"], "linux");
    assert_eq!(
        info["Architecture"],
        rbuild::image::Platform::host().architecture
    );
    assert_eq!(
        info["Created"], "2023-11-14T22:13:20Z",
        "SOURCE_DATE_EPOCH=1700000000"
    );
    let config = json(&env.ok(&["inspect", "busybox:1.36"]));
    assert_eq!(config["history"][0]["created_by"], "rbuild import");
    // The layer skopeo lists is the layer our manifest names, and its diff ID is in the config.
    let raw = json(&run(Command::new("skopeo").args([
        "inspect",
        "--raw",
        &format!("oci:{root}:busybox:1.36"),
    ])));
    assert_eq!(info["Layers"][0], raw["layers"][0]["digest"]);
    assert_eq!(
        raw["layers"][0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    let cfg = json(&run(Command::new("skopeo").args([
        "inspect",
        "--config",
        &format!("oci:{root}:busybox:1.36"),
    ])));
    assert_eq!(cfg["rootfs"], config["rootfs"]);
}

#[test]
fn umoci_unpacks_files_modes_and_owners() {
    if !have("umoci") {
        return;
    }
    let env = Env::new();
    env.import_busybox("bb");
    let bundle = env.path("bundle");
    let mut cmd = Command::new("umoci");
    cmd.arg("unpack");
    if !is_root() {
        cmd.arg("--rootless");
    }
    run(cmd
        .args(["--image", &format!("{}:bb:latest", env.root.display())])
        .arg(&bundle));
    let rootfs = bundle.join("rootfs");
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap();
    assert!(
        passwd.starts_with("root:x:0:0:root:/root:/bin/sh\n"),
        "{passwd}"
    );
    assert_eq!(
        std::fs::read(rootfs.join("bin/busybox")).unwrap(),
        std::fs::read("/bin/busybox").unwrap()
    );
    assert_eq!(
        std::fs::read_link(rootfs.join("bin/sh")).unwrap().to_str(),
        Some("busybox")
    );
    use std::os::unix::fs::MetadataExt;
    let mode = |p: &str| std::fs::symlink_metadata(rootfs.join(p)).unwrap().mode() & 0o7777;
    assert_eq!(mode("bin/busybox"), 0o755);
    assert_eq!(mode("home/builder"), 0o750);
    assert_eq!(mode("tmp"), 0o1777);
    if is_root() {
        let home = std::fs::metadata(rootfs.join("home/builder/.profile")).unwrap();
        assert_eq!((home.uid(), home.gid()), (1000, 1000));
        assert_eq!(
            std::fs::metadata(rootfs.join("etc/passwd")).unwrap().uid(),
            0
        );
    }
}

#[test]
fn every_compression_gives_the_same_layer() {
    let env = Env::new();
    let mut layers = Vec::new();
    for codec in [
        Codec::Plain,
        Codec::Gzip,
        Codec::Bzip2,
        Codec::Xz,
        Codec::Zstd,
    ] {
        let tarball = env.path(&format!("rootfs-{codec:?}.tar"));
        busybox_tarball(&tarball, codec, &[]);
        let name = format!("bb:{codec:?}").to_lowercase();
        env.ok(&["import", tarball.to_str().unwrap(), &name]);
        let config = json(&env.ok(&["inspect", &name]));
        layers.push(
            config["rootfs"]["diff_ids"][0]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert!(layers.windows(2).all(|w| w[0] == w[1]), "{layers:?}");
}

#[test]
fn names_resolve_in_any_spelling() {
    let env = Env::new();
    env.import_busybox("busybox:1.36");
    let a = env.ok(&["inspect", "busybox:1.36"]);
    let b = env.ok(&["inspect", "docker.io/library/busybox:1.36"]);
    assert_eq!(a, b);
    env.ok(&[
        "tag",
        "docker.io/library/busybox:1.36",
        "localhost:5000/x/y:2",
    ]);
    env.ok(&["tag", "busybox:1.36", "mine"]);
    let table = env.ok(&["images"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("REPOSITORY"), "{table}");
    assert!(lines[0].contains("TAG") && lines[0].contains("IMAGE ID") && lines[0].contains("SIZE"));
    assert_eq!(lines.len(), 4, "{table}");
    assert!(table.contains("localhost:5000/x/y "), "{table}");
    assert!(
        table.contains("mine ") && table.contains(" latest "),
        "{table}"
    );
    let rows: Vec<serde_json::Value> = env
        .ok(&["images", "--format", "json"])
        .lines()
        .map(json)
        .collect();
    assert_eq!(rows.len(), 3);
    assert!(
        rows.iter().all(|r| r["ID"] == rows[0]["ID"]),
        "one image, three names"
    );
    let index = std::fs::read_to_string(env.root.join("index.json")).unwrap();
    for name in ["busybox:1.36", "localhost:5000/x/y:2", "mine:latest"] {
        assert!(
            index.contains(&format!(r#""org.opencontainers.image.ref.name":"{name}""#)),
            "{name} in {index}"
        );
    }

    let out = env.rbuild(&["rmi", "mine", "nope:1"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Untagged: mine\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("error: No such image: nope:1"));
    let out = env.rbuild(&["inspect", "mine"]);
    assert_eq!(out.status.code(), Some(1));
    let out = env.rbuild(&["tag", "busybox:1.36", "Bad:Name"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("repository name (library/Bad) must be lowercase")
    );
}

#[test]
fn prune_reclaims_untagged_images_only() {
    let env = Env::new();
    env.import_busybox("keep:1");
    let other = env.path("other.tar");
    busybox_tarball(&other, Codec::Gzip, &[("./etc/motd", "drop me\n")]);
    env.ok(&["import", other.to_str().unwrap(), "drop:1"]);
    let store = Store::open(&env.root).unwrap();
    let keep = store
        .load_image(&store.resolve("keep:1").unwrap().unwrap())
        .unwrap();
    let drop = store
        .load_image(&store.resolve("drop:1").unwrap().unwrap())
        .unwrap();
    let drop_layer = drop.manifest.layers[0].digest;
    assert_ne!(keep.manifest.layers[0].digest, drop_layer);
    std::fs::write(env.root.join("tmp/.tmp-leftover"), b"from a crashed build").unwrap();

    env.ok(&["rmi", "drop:1"]);
    let out = env.ok(&["prune"]);
    assert!(out.contains("Deleted 3 blobs"), "{out}");
    assert!(out.contains("Deleted 1 temp files"), "{out}");
    assert!(out.contains("Total reclaimed space: "), "{out}");
    assert!(!store.has_blob(&drop_layer) && !store.has_blob(&drop.descriptor.digest));
    for d in [
        keep.descriptor.digest,
        keep.config_descriptor.digest,
        keep.manifest.layers[0].digest,
    ] {
        assert!(store.has_blob(&d), "{d} must survive");
    }
    assert!(!env.root.join("tmp/.tmp-leftover").exists());
    if have("skopeo") {
        run(Command::new("skopeo").args(["inspect", &format!("oci:{}:keep:1", env.root.display())]));
    }
    let du = env.ok(&["du"]);
    assert!(
        du.starts_with("TYPE") && du.contains("blobs ") && du.contains("snapshots "),
        "{du}"
    );
}

#[test]
fn concurrent_imports_both_succeed() {
    let env = Env::new();
    let a = env.path("a.tar");
    let b = env.path("b.tar");
    busybox_tarball(&a, Codec::Gzip, &[]);
    busybox_tarball(&b, Codec::Zstd, &[("./etc/hostname", "b\n")]);
    // Initialise the store once, then race several processes on it.
    env.ok(&["du"]);
    let mut children = Vec::new();
    for i in 0..4 {
        let src = if i % 2 == 0 { &a } else { &b };
        children.push(
            env.command(&["import", src.to_str().unwrap(), &format!("img{i}:v")])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap(),
        );
    }
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let rows: Vec<serde_json::Value> = env
        .ok(&["images", "--format", "json"])
        .lines()
        .map(json)
        .collect();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows.iter().filter(|r| r["ID"] == rows[0]["ID"]).count(), 2);
    assert_eq!(std::fs::read_dir(env.root.join("tmp")).unwrap().count(), 0);
}

#[test]
fn import_refuses_escaping_entries() {
    let env = Env::new();
    let evil = env.path("evil.tar");
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.as_old_mut().name[..12].copy_from_slice(b"../../escape");
    h.set_size(4);
    h.set_mode(0o644);
    h.set_cksum();
    b.append(&h, &b"evil"[..]).unwrap();
    std::fs::write(&evil, b.into_inner().unwrap()).unwrap();
    let out = env.rbuild(&["import", evil.to_str().unwrap(), "evil"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing entry \"../../escape\": `..` would escape the image root"),
        "{err}"
    );
    assert!(!env.dir.path().join("escape").exists());
    assert_eq!(env.ok(&["images", "--format", "json"]), "");
}

#[test]
fn oci_layouts_and_archives_import_by_name() {
    if !have("skopeo") {
        return;
    }
    let env = Env::new();
    let digest = env.import_busybox("busybox:1.36");
    let root = env.root.display().to_string();
    let layout = env.path("layout");
    let archive = env.path("bb.tar");
    run(Command::new("skopeo").args([
        "copy",
        &format!("oci:{root}:busybox:1.36"),
        &format!("oci:{}:bb", layout.display()),
    ]));
    run(Command::new("skopeo").args([
        "copy",
        &format!("oci:{root}:busybox:1.36"),
        &format!("oci-archive:{}:bb", archive.display()),
    ]));
    let fresh = Store::open(&env.path("fresh")).unwrap();
    let from_dir = fresh.import_oci_layout(&layout, Some("bb")).unwrap();
    assert_eq!(from_dir.digest.to_string(), digest);
    let again = Store::open(&env.path("fresh2")).unwrap();
    let from_tar = again.import_oci_archive(&archive, None).unwrap();
    assert_eq!(from_tar.digest.to_string(), digest);
    let image = again.load_image(&from_tar).unwrap();
    assert!(again.has_blob(&image.manifest.layers[0].digest));
    let err = fresh
        .import_oci_layout(&layout, Some("nope"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no image named \"nope\" (available: bb)"),
        "{err}"
    );
}
