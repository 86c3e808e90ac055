//! Exported archives and directories, read by the tools users load them with: skopeo
//! (oci-archive, docker-archive, oci layout), umoci, podman (where it runs).

mod store_support;

use std::io::Read;
use std::process::Command;

use rbuild::digest::Digest;
use rbuild::export::{OutputSpec, OutputType, export_local, write_oci_dir, write_rootfs_tar};
use rbuild::store::Store;
use store_support::{Codec, Env, busybox_tarball, have, is_root, json, run};

/// Name → (type flag, size) of every entry of a tarball.
fn listing(bytes: &[u8]) -> Vec<(String, u8, u64)> {
    tar::Archive::new(bytes)
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                String::from_utf8(e.path_bytes().into_owned()).unwrap(),
                e.header().entry_type().as_byte(),
                e.size(),
            )
        })
        .collect()
}

fn member(bytes: &[u8], name: &str) -> Vec<u8> {
    for e in tar::Archive::new(bytes).entries().unwrap() {
        let mut e = e.unwrap();
        if e.path_bytes().as_ref() == name.as_bytes() {
            let mut v = Vec::new();
            e.read_to_end(&mut v).unwrap();
            return v;
        }
    }
    panic!("{name} not in archive");
}

#[test]
fn oci_archive_is_deterministic_and_reads_with_skopeo() {
    let env = Env::new();
    let digest = env.import_busybox("app:1.0");
    let a = env.path("a.tar");
    let b = env.path("b.tar");
    env.ok(&["save", "app:1.0", "-o", a.to_str().unwrap()]);
    // A second store fed the same tarball saves byte-identical archives.
    let other = Env::new();
    busybox_tarball(&other.path("busybox.tar"), Codec::Plain, &[]);
    other.import_busybox("app:1.0");
    other.ok(&["save", "app:1.0", "-o", b.to_str().unwrap()]);
    let bytes = std::fs::read(&a).unwrap();
    assert_eq!(
        bytes,
        std::fs::read(&b).unwrap(),
        "same image, same archive bytes"
    );

    let names: Vec<String> = listing(&bytes).into_iter().map(|l| l.0).collect();
    assert_eq!(&names[..2], ["blobs/", "blobs/sha256/"]);
    assert_eq!(&names[names.len() - 2..], ["index.json", "oci-layout"]);
    let index = json(std::str::from_utf8(&member(&bytes, "index.json")).unwrap());
    let entry = &index["manifests"][0];
    assert_eq!(entry["digest"], digest.as_str());
    assert_eq!(
        entry["annotations"]["org.opencontainers.image.ref.name"],
        "1.0"
    );
    assert_eq!(
        entry["annotations"]["io.containerd.image.name"],
        "docker.io/library/app:1.0"
    );

    if !have("skopeo") {
        return;
    }
    let info =
        json(&run(Command::new("skopeo").args([
            "inspect",
            &format!("oci-archive:{}:1.0", a.display()),
        ])));
    assert_eq!(info["Digest"], digest.as_str());
    let copy = env.path("copied");
    run(Command::new("skopeo").args([
        "copy",
        &format!("oci-archive:{}", a.display()),
        &format!("oci:{}:x", copy.display()),
    ]));
    let copied = json(&run(
        Command::new("skopeo").args(["inspect", &format!("oci:{}:x", copy.display())])
    ));
    assert_eq!(
        copied["Layers"], info["Layers"],
        "blobs exported as stored, not re-compressed"
    );
}

#[test]
fn docker_archive_has_uncompressed_layers_matching_diff_ids() {
    let env = Env::new();
    env.import_busybox("app:1.0");
    let out = env.path("docker.tar");
    env.ok(&[
        "save",
        "app:1.0",
        "--format",
        "docker",
        "-o",
        out.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(&out).unwrap();
    let manifest = json(std::str::from_utf8(&member(&bytes, "manifest.json")).unwrap());
    assert_eq!(manifest[0]["RepoTags"], serde_json::json!(["app:1.0"]));
    let config_path = manifest[0]["Config"].as_str().unwrap();
    let config = json(std::str::from_utf8(&member(&bytes, config_path)).unwrap());
    let layers = manifest[0]["Layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    let layer = member(&bytes, layers[0].as_str().unwrap());
    assert_eq!(
        Digest::of(&layer).to_string(),
        config["rootfs"]["diff_ids"][0].as_str().unwrap(),
        "uncompressed layer hashes to its diff ID"
    );
    assert!(listing(&layer).iter().any(|l| l.0 == "bin/busybox"));

    if have("skopeo") {
        let info =
            json(&run(Command::new("skopeo").args([
                "inspect",
                &format!("docker-archive:{}", out.display()),
            ])));
        assert_eq!(info["Layers"][0], config["rootfs"]["diff_ids"][0]);
        run(Command::new("skopeo").args([
            "copy",
            &format!("docker-archive:{}", out.display()),
            &format!("oci:{}:fromdocker", env.path("layout").display()),
        ]));
    }
    podman_load(&env, &out);
}

/// `podman load` where podman can run here (it needs a working storage driver).
fn podman_load(env: &Env, archive: &std::path::Path) {
    if !have("podman") {
        return;
    }
    let storage = env.path("podman");
    let podman = |args: &[&str]| {
        let mut c = Command::new("podman");
        c.arg("--root")
            .arg(storage.join("root"))
            .arg("--runroot")
            .arg(storage.join("run"))
            .arg("--storage-driver")
            .arg("vfs")
            .args(args);
        c
    };
    if !podman(&["info"]).output().is_ok_and(|o| o.status.success()) {
        eprintln!("skipping podman load: podman cannot run here");
        return;
    }
    let loaded = run(&mut podman(&["load", "-i", archive.to_str().unwrap()]));
    assert!(loaded.contains("app:1.0"), "{loaded}");
    let images = run(&mut podman(&[
        "images",
        "--format",
        "{{.Repository}}:{{.Tag}}",
    ]));
    assert!(images.contains("localhost/app:1.0"), "{images}");
}

#[test]
fn oci_directory_unpacks_with_umoci() {
    let env = Env::new();
    env.import_busybox("app:1.0");
    let store = Store::open(&env.root).unwrap();
    let desc = store.resolve("app:1.0").unwrap().unwrap();
    let dir = env.path("layout");
    write_oci_dir(&store, &desc, &["app:1.0".into()], &dir).unwrap();
    assert!(dir.join("oci-layout").exists());
    if !have("umoci") {
        return;
    }
    let bundle = env.path("bundle");
    let mut cmd = Command::new("umoci");
    cmd.arg("unpack");
    if !is_root() {
        cmd.arg("--rootless");
    }
    run(cmd
        .args(["--image", &format!("{}:1.0", dir.display())])
        .arg(&bundle));
    assert!(bundle.join("rootfs/etc/passwd").exists());
}

#[test]
fn local_and_tar_outputs_hold_the_merged_filesystem() {
    let env = Env::new();
    env.import_busybox("app:1.0");
    let store = Store::open(&env.root).unwrap();
    let image = store
        .load_image(&store.resolve("app:1.0").unwrap().unwrap())
        .unwrap();
    let dest = env.path("out");
    export_local(&store, &image.manifest.layers, &dest).unwrap();
    assert_eq!(
        std::fs::read(dest.join("bin/busybox")).unwrap(),
        std::fs::read("/bin/busybox").unwrap()
    );
    assert_eq!(
        std::fs::read_link(dest.join("bin/ls")).unwrap().to_str(),
        Some("busybox")
    );
    let tar = write_rootfs_tar(&store, &image.manifest.layers, Vec::new()).unwrap();
    let entries = listing(&tar);
    let profile = entries
        .iter()
        .find(|e| e.0 == "home/builder/.profile")
        .unwrap();
    assert_eq!(profile.2, 16);
    let mut a = tar::Archive::new(&tar[..]);
    for e in a.entries().unwrap() {
        let e = e.unwrap();
        if e.path_bytes().as_ref() == b"home/builder/.profile" {
            assert_eq!(
                e.header().uid().unwrap(),
                1000,
                "owners come from the layers"
            );
        }
    }
}

#[test]
fn output_specs_parse_as_buildx_does() {
    let s = OutputSpec::parse("type=oci,dest=app.tar,name=app:1.0").unwrap();
    assert_eq!(s.kind, OutputType::Oci);
    assert_eq!(OutputSpec::parse("out").unwrap().kind, OutputType::Local);
    let err = OutputSpec::parse("type=bogus").unwrap_err().to_string();
    assert!(
        err.starts_with("invalid --output \"type=bogus\": unknown output type"),
        "{err}"
    );
}

#[test]
fn export_dispatch_runs_the_named_exporter() {
    use rbuild::export::export;
    let env = Env::new();
    env.import_busybox("app:1.0");
    let store = Store::open(&env.root).unwrap();
    let desc = store.resolve("app:1.0").unwrap().unwrap();
    let tags = ["app:2".to_string()];

    let tarball = env.path("out.tar");
    let spec = OutputSpec::parse(&format!("type=oci,dest={}", tarball.display())).unwrap();
    export(&store, &desc, &spec, &tags).unwrap();
    let index = json(
        std::str::from_utf8(&member(&std::fs::read(&tarball).unwrap(), "index.json")).unwrap(),
    );
    assert_eq!(
        index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        "2"
    );

    let dir = env.path("layout");
    let spec = OutputSpec::parse(&format!(
        "type=oci,dest={},tar=false,name=x:9",
        dir.display()
    ))
    .unwrap();
    export(&store, &desc, &spec, &tags).unwrap();
    let index = json(&std::fs::read_to_string(dir.join("index.json")).unwrap());
    assert_eq!(
        index["manifests"][0]["annotations"]["io.containerd.image.name"],
        "docker.io/library/x:9"
    );

    let spec = OutputSpec::parse("type=image,name=registry.local/app:3,push=true").unwrap();
    let outcome = export(&store, &desc, &spec, &tags).unwrap();
    assert!(outcome.push);
    assert_eq!(outcome.tagged, ["registry.local/app:3"]);
    assert_eq!(
        store
            .resolve("registry.local/app:3")
            .unwrap()
            .unwrap()
            .digest,
        desc.digest
    );

    let local = env.path("rootfs");
    let spec = OutputSpec::parse(local.to_str().unwrap()).unwrap();
    export(&store, &desc, &spec, &tags).unwrap();
    assert!(local.join("etc/group").exists());
}
