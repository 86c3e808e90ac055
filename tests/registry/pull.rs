//! Pulls: by tag and by digest, pinned digests without requests, platform selection
//! from an index, and builds FROM registry images that push their result.

use crate::*;

#[test]
fn pull_by_tag_and_by_digest_matches_skopeo() {
    if !require(TOOLS) {
        return;
    }
    let reg = Registry::start();
    let seeded = seed_busybox(&reg.host, "busybox", "latest", &[]);
    let want = skopeo_digest(&format!("{}/busybox:latest", reg.host));
    assert_eq!(seeded, want);

    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("store");
    let out = rbuild(
        &root,
        work.path(),
        &["pull", &format!("{}/busybox", reg.host)],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), want);
    assert_eq!(
        stored_names(&root),
        [format!("{}/busybox:latest", reg.host)]
    );

    // Every blob is in the store, named by the hash of its bytes.
    let store = Store::open(&root).unwrap();
    let mdigest: Digest = want.parse().unwrap();
    let manifest: rbuild::image::Manifest = store.read_json(&mdigest).unwrap();
    assert_eq!(manifest.layers.len(), 2);
    for d in std::iter::once(&manifest.config).chain(&manifest.layers) {
        let bytes = store.read_blob(&d.digest).unwrap();
        assert_eq!(Digest::of(&bytes), d.digest);
        assert_eq!(bytes.len() as u64, d.size);
    }
    let config: ImageConfig = store.read_json(&manifest.config.digest).unwrap();
    assert_eq!(config.architecture, "amd64");
    assert_eq!(config.rootfs.diff_ids.len(), 2);
    assert!(tmp_is_empty(&root));

    // By digest, into a fresh store: same manifest, named with the digest.
    let root2 = work.path().join("store2");
    let by_digest = format!("{}/busybox@{want}", reg.host);
    let out = rbuild(&root2, work.path(), &["pull", &by_digest]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), want);
    assert_eq!(stored_names(&root2), [by_digest]);
}

#[test]
fn pinned_digest_in_store_makes_no_request() {
    if !require(TOOLS) {
        return;
    }
    let reg = Registry::start();
    let digest = seed_busybox(&reg.host, "busybox", "latest", &[]);
    let proxy = Proxy::logging(reg.port);
    let work = tempfile::tempdir().unwrap();
    let store = Store::open(&work.path().join("store")).unwrap();
    let r = Reference::parse(&format!("{}/busybox@{digest}", proxy.host())).unwrap();

    let client = RegistryClient::new(opts(work.path()));
    let first = client
        .pull(&store, &r, &host_amd64(), &no_progress)
        .unwrap();
    assert_eq!(first.manifest_descriptor.digest.to_string(), digest);
    assert!(!proxy.log().is_empty());

    proxy.clear();
    let client = RegistryClient::new(opts(work.path()));
    let events = Mutex::new(Vec::new());
    let again = client
        .pull(&store, &r, &host_amd64(), &|e| {
            events.lock().unwrap().push(e.phase)
        })
        .unwrap();
    assert_eq!(
        again.manifest_descriptor.digest,
        first.manifest_descriptor.digest
    );
    assert_eq!(again.config, first.config);
    assert_eq!(
        proxy.log(),
        Vec::<String>::new(),
        "a pinned, stored image needs no request"
    );

    // By tag, the manifest is asked for but no blob is downloaded again.
    let by_tag = Reference::parse(&format!("{}/busybox:latest", proxy.host())).unwrap();
    client
        .pull(&store, &by_tag, &host_amd64(), &no_progress)
        .unwrap();
    let log = proxy.log();
    assert!(
        log.iter()
            .any(|l| l.starts_with("GET /v2/busybox/manifests/latest")),
        "{log:?}"
    );
    assert!(!log.iter().any(|l| l.contains("/blobs/")), "{log:?}");
}

#[test]
fn index_selects_the_platform() {
    if !require(TOOLS) {
        return;
    }
    let reg = Registry::start();
    let (index, amd, arm) = seed_multi(&reg.host, "multi", "latest");
    let work = tempfile::tempdir().unwrap();
    let store = Store::open(&work.path().join("store")).unwrap();
    let client = RegistryClient::new(opts(work.path()));
    let r = Reference::parse(&format!("{}/multi", reg.host)).unwrap();

    let a = client
        .pull(&store, &r, &host_amd64(), &no_progress)
        .unwrap();
    assert_eq!(a.manifest_descriptor.digest.to_string(), amd);
    assert_eq!(a.index_digest.map(|d| d.to_string()), Some(index.clone()));
    assert_eq!(a.config.architecture, "amd64");

    let b = client
        .pull(
            &store,
            &r,
            &parse_platform("linux/arm64").unwrap(),
            &no_progress,
        )
        .unwrap();
    assert_eq!(b.manifest_descriptor.digest.to_string(), arm);
    assert_eq!(b.config.architecture, "arm64");
    // The shared busybox layer came once.
    assert_eq!(a.manifest.layers[0].digest, b.manifest.layers[0].digest);

    let err = client
        .pull(
            &store,
            &r,
            &parse_platform("linux/s390x").unwrap(),
            &no_progress,
        )
        .unwrap_err();
    assert!(
        err.to_string().ends_with(
            "no matching manifest for linux/s390x in the manifest list entries (available: linux/amd64, linux/arm64/v8)"
        ),
        "{err}"
    );

    // The CLI flag, and the index kept in the store.
    let root = work.path().join("cli");
    let out = rbuild(
        &root,
        work.path(),
        &["pull", "--platform", "linux/arm64", &r.familiar()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), arm);
    let cli_store = Store::open(&root).unwrap();
    assert!(cli_store.has_blob(&index.parse().unwrap()));

    // resolve() is a HEAD: the index digest of the tag.
    let resolved = client.resolve(&r).unwrap();
    assert_eq!(resolved.digest.to_string(), index);
    assert_eq!(
        resolved.media_type,
        "application/vnd.oci.image.index.v1+json"
    );
}

#[test]
fn builds_from_registry_images_and_pushes_the_result() {
    if !require(TOOLS) {
        return;
    }
    let reg = Registry::start();
    let seeded = seed_busybox(&reg.host, "busybox", "latest", &[]);
    let work = tempfile::tempdir().unwrap();
    let ctx = work.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("a.txt"), "from the context\n").unwrap();
    let dockerfile = |from: &str| {
        std::fs::write(
            ctx.join("Dockerfile"),
            format!("FROM {from}\nCOPY a.txt /a.txt\n"),
        )
        .unwrap();
    };
    let ctx_arg = ctx.to_str().unwrap();

    // FROM a tag, pushed with --push; the metadata file holds the pushed digest.
    dockerfile(&format!("{}/busybox:latest", reg.host));
    let root = work.path().join("store");
    let meta = work.path().join("meta.json");
    let app1 = format!("{}/team/app:1", reg.host);
    let out = rbuild(
        &root,
        work.path(),
        &[
            "build",
            "-t",
            &app1,
            "--push",
            "--metadata-file",
            meta.to_str().unwrap(),
            ctx_arg,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let pushed = skopeo_digest(&app1);
    let meta = read_json(&meta);
    assert_eq!(meta["containerimage.digest"], pushed.as_str(), "{meta}");
    assert_eq!(meta["image.name"], app1.as_str(), "{meta}");
    let manifest: serde_json::Value = serde_json::from_str(&skopeo_raw(&app1)).unwrap();
    assert_eq!(manifest["layers"].as_array().map(Vec::len), Some(3));

    // buildx's spelling pushes the same image (every step cached: same digest).
    let app2 = format!("{}/team/app:2", reg.host);
    let out = rbuild(
        &root,
        work.path(),
        &[
            "build",
            "-o",
            &format!("type=image,name={app2},push=true"),
            ctx_arg,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(skopeo_digest(&app2), pushed);

    // FROM a digest, into a fresh store: the same image.
    dockerfile(&format!("{}/busybox@{seeded}", reg.host));
    let fresh = work.path().join("fresh");
    let out = rbuild(&fresh, work.path(), &["build", "-q", ctx_arg]);
    assert!(out.status.success(), "{}", stderr(&out));

    // --pull=never with an empty store names the image it does not have.
    let empty = work.path().join("empty");
    dockerfile(&format!("{}/busybox:latest", reg.host));
    let out = rbuild(&empty, work.path(), &["build", "--pull=never", ctx_arg]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("{}/busybox:latest", reg.host)),
        "{}",
        stderr(&out)
    );
}
