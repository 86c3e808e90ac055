//! Pushes: round trips, cross-repository mounts, indexes, chunked uploads, the cache
//! artifact, and a push that fails half-way.

use crate::*;

#[test]
fn push_round_trips_and_repush_uploads_nothing() {
    if !require(TOOLS) {
        return;
    }
    let reg = Registry::start();
    let digest = seed_busybox(&reg.host, "busybox", "latest", &[]);
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("store");
    let out = rbuild(
        &root,
        work.path(),
        &["pull", &format!("{}/busybox", reg.host)],
    );
    assert!(out.status.success(), "{}", stderr(&out));

    // Push to another registry (so nothing can be mounted), through a logging proxy.
    let reg2 = Registry::start();
    let proxy = Proxy::logging(reg2.port);
    let target = format!("{}/pushed/app:v1", proxy.host());
    let out = rbuild(
        &root,
        work.path(),
        &["push", &format!("{}/busybox", reg.host), &target],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        digest,
        "the manifest bytes are pushed unchanged"
    );
    assert_eq!(
        skopeo_digest(&format!("{}/pushed/app:v1", reg2.host)),
        digest
    );
    let log = proxy.log();
    assert_eq!(
        log.iter().filter(|l| l.starts_with("POST ")).count(),
        3,
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|l| l.starts_with("PUT /v2/pushed/app/manifests/v1 201")),
        "{log:?}"
    );

    // A fresh store pulls the same digest back.
    let root2 = work.path().join("store2");
    let out = rbuild(
        &root2,
        work.path(),
        &["pull", &format!("{}/pushed/app:v1", reg2.host)],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), digest);

    // Pushing again: only HEADs hit, no upload starts.
    proxy.clear();
    let out = rbuild(
        &root,
        work.path(),
        &["push", &format!("{}/busybox", reg.host), &target],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let log = proxy.log();
    let blob_heads = log
        .iter()
        .filter(|l| l.starts_with("HEAD /v2/pushed/app/blobs/") && l.ends_with(" 200"))
        .count();
    assert_eq!(blob_heads, 3, "{log:?}");
    assert!(
        !log.iter().any(|l| l.starts_with("POST ")
            || l.starts_with("PATCH ")
            || l.contains("/blobs/uploads/")),
        "{log:?}"
    );
    assert!(
        stderr(&out).contains("Layer already exists"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn push_mounts_blobs_from_another_repository() {
    if !require(TOOLS) {
        return;
    }
    let reg = Registry::start();
    seed_busybox(&reg.host, "base/busybox", "latest", &[]);
    let proxy = Proxy::logging(reg.port);
    let work = tempfile::tempdir().unwrap();
    let store = Store::open(&work.path().join("store")).unwrap();
    let client = RegistryClient::new(opts(work.path()));
    let src = Reference::parse(&format!("{}/base/busybox", proxy.host())).unwrap();
    let img = client
        .pull(&store, &src, &host_amd64(), &no_progress)
        .unwrap();

    proxy.clear();
    let events = Mutex::new(Vec::new());
    let target = Reference::parse(&format!("{}/team/app:1", proxy.host())).unwrap();
    let pushed = client
        .push(&store, &img.manifest_descriptor, &target, &|e| {
            events.lock().unwrap().push(e.phase)
        })
        .unwrap();
    assert_eq!(pushed, img.manifest_descriptor.digest);
    let events = events.into_inner().unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|p| **p == TransferPhase::Mounted)
            .count(),
        3,
        "{events:?}"
    );
    let log = proxy.log();
    let mounts = log
        .iter()
        .filter(|l| {
            l.contains("?mount=sha256:") && l.contains("from=base/busybox") && l.ends_with(" 201")
        })
        .count();
    assert_eq!(mounts, 3, "{log:?}");
    assert!(
        !log.iter()
            .any(|l| l.starts_with("PATCH ") || (l.starts_with("PUT ") && l.contains("/blobs/"))),
        "{log:?}"
    );
    assert_eq!(
        skopeo_digest(&format!("{}/team/app:1", reg.host)),
        pushed.to_string()
    );
}

#[test]
fn push_index_pushes_children_first() {
    if !require(TOOLS) {
        return;
    }
    let reg = Registry::start();
    let (index, amd, arm) = seed_multi(&reg.host, "multi", "latest");
    let work = tempfile::tempdir().unwrap();
    let store = Store::open(&work.path().join("store")).unwrap();
    let client = RegistryClient::new(opts(work.path()));
    let src = Reference::parse(&format!("{}/multi", reg.host)).unwrap();
    client
        .pull(&store, &src, &host_amd64(), &no_progress)
        .unwrap();
    client
        .pull(
            &store,
            &src,
            &parse_platform("linux/arm64").unwrap(),
            &no_progress,
        )
        .unwrap();

    let reg2 = Registry::start();
    let proxy = Proxy::logging(reg2.port);
    let target = Reference::parse(&format!("{}/copy:multi", proxy.host())).unwrap();
    let idx: Digest = index.parse().unwrap();
    let desc = Descriptor::new(
        "application/vnd.oci.image.index.v1+json",
        idx,
        store.read_blob(&idx).unwrap().len() as u64,
    );
    let pushed = client.push(&store, &desc, &target, &no_progress).unwrap();
    assert_eq!(pushed.to_string(), index);
    let log = proxy.log();
    let pos = |needle: &str| {
        log.iter()
            .position(|l| l.starts_with(needle))
            .unwrap_or_else(|| panic!("{needle} not in {log:?}"))
    };
    let index_put = pos("PUT /v2/copy/manifests/multi");
    assert!(pos(&format!("PUT /v2/copy/manifests/{amd}")) < index_put);
    assert!(pos(&format!("PUT /v2/copy/manifests/{arm}")) < index_put);
    let raw: serde_json::Value =
        serde_json::from_str(&skopeo_raw(&format!("{}/copy:multi", reg2.host))).unwrap();
    assert_eq!(raw["manifests"].as_array().unwrap().len(), 2);
}

#[test]
fn large_blobs_upload_in_chunks_and_retry_failed_requests() {
    if !require(TOOLS) {
        return;
    }
    let reg = Registry::start();
    seed_busybox(&reg.host, "busybox", "latest", &[]);
    let work = tempfile::tempdir().unwrap();
    let store = Store::open(&work.path().join("store")).unwrap();
    let client = RegistryClient::new(opts(work.path()));
    let src = Reference::parse(&format!("{}/busybox", reg.host)).unwrap();
    let img = client
        .pull(&store, &src, &host_amd64(), &no_progress)
        .unwrap();
    let busybox_layer = img.manifest.layers[0].clone();
    assert!(busybox_layer.size > 300_000, "{}", busybox_layer.size);

    // Into a second registry: chunked uploads (blobs over 256 kB in 200 kB chunks), and
    // the first chunk request of the run fails with a 500.
    let reg2 = Registry::start();
    let failed = AtomicUsize::new(0);
    let proxy = Proxy::start(
        reg2.port,
        Box::new(move |m, _| {
            (m == "PATCH" && failed.fetch_add(1, Ordering::SeqCst) == 0)
                .then_some(Fault::Status(500))
        }),
    );
    let mut o = opts(work.path());
    o.chunked_threshold = 256 << 10;
    o.chunk_size = 200_000;
    let client = RegistryClient::new(o);
    let target = Reference::parse(&format!("{}/chunked:1", proxy.host())).unwrap();
    let sent = Mutex::new(0u64);
    let pushed = client
        .push(&store, &img.manifest_descriptor, &target, &|e| {
            if e.digest == busybox_layer.digest && e.phase == TransferPhase::Done {
                *sent.lock().unwrap() = e.done;
            }
        })
        .unwrap();
    assert_eq!(pushed, img.manifest_descriptor.digest);
    assert_eq!(*sent.lock().unwrap(), busybox_layer.size);
    let log = proxy.log();
    let patches = log.iter().filter(|l| l.starts_with("PATCH ")).count() as u64;
    let chunks = busybox_layer.size.div_ceil(200_000);
    assert_eq!(
        patches,
        chunks + 1,
        "{chunks} chunks and one retried: {log:?}"
    );
    assert!(
        log.iter()
            .any(|l| l.starts_with("PATCH ") && l.ends_with(" 500"))
    );
    assert_eq!(
        skopeo_digest(&format!("{}/chunked:1", reg2.host)),
        pushed.to_string()
    );

    // A fresh store pulls the layer back byte for byte.
    let fresh = Store::open(&work.path().join("fresh")).unwrap();
    let back = Reference::parse(&format!("{}/chunked:1", reg2.host)).unwrap();
    client
        .pull(&fresh, &back, &host_amd64(), &no_progress)
        .unwrap();
    assert_eq!(
        fresh.read_blob(&busybox_layer.digest).unwrap(),
        store.read_blob(&busybox_layer.digest).unwrap()
    );
}

#[test]
fn cache_artifact_push_fetch_manifest_and_lazy_blob() {
    if !require(TOOLS) {
        return;
    }
    let reg = Registry::start();
    seed_busybox(&reg.host, "busybox", "latest", &[]);
    let work = tempfile::tempdir().unwrap();
    let store = Store::open(&work.path().join("store")).unwrap();
    let client = RegistryClient::new(opts(work.path()));
    let src = Reference::parse(&format!("{}/busybox", reg.host)).unwrap();
    let img = client
        .pull(&store, &src, &host_amd64(), &no_progress)
        .unwrap();

    // The cache: rbuild's own config media type, ordinary layer blobs.
    let records = br#"{"records":[{"key":"sha256:00","layer":0}]}"#;
    let (cd, cs) = store.put_blob(records).unwrap();
    let config = Descriptor::new(rbuild::image::media::RBUILD_CACHE_CONFIG, cd, cs);
    let cache_ref = Reference::parse(&format!("{}/cache:main", reg.host)).unwrap();
    let desc = client
        .push_artifact(
            &store,
            &config,
            &img.manifest.layers,
            &cache_ref,
            &no_progress,
        )
        .unwrap();
    let raw: serde_json::Value =
        serde_json::from_str(&skopeo_raw(&format!("{}/cache:main", reg.host))).unwrap();
    assert_eq!(
        raw["config"]["mediaType"],
        rbuild::image::media::RBUILD_CACHE_CONFIG
    );

    // Another machine: the manifest and the config only; a layer when something needs it.
    let other = Store::open(&work.path().join("other")).unwrap();
    let (got, bytes) = client.fetch_manifest(&cache_ref).unwrap();
    assert_eq!(got.digest, desc.digest);
    assert_eq!(Digest::of(&bytes), desc.digest);
    let manifest: rbuild::image::Manifest = serde_json::from_slice(&bytes).unwrap();
    client
        .fetch_blob(&other, &cache_ref, &manifest.config, &no_progress)
        .unwrap();
    assert_eq!(other.read_blob(&cd).unwrap(), records);
    assert!(!other.has_blob(&manifest.layers[0].digest));
    client
        .fetch_blob(&other, &cache_ref, &manifest.layers[1], &no_progress)
        .unwrap();
    assert!(other.has_blob(&manifest.layers[1].digest));
    assert!(
        !other.has_blob(&manifest.layers[0].digest),
        "only the asked-for layer"
    );
}

#[test]
fn a_push_that_fails_half_way_leaves_no_tag_and_the_next_push_works() {
    if !require(TOOLS) {
        return;
    }
    let reg = Registry::start();
    let digest = seed_busybox(&reg.host, "busybox", "latest", &[]);
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("store");
    let source = format!("{}/busybox", reg.host);
    let out = rbuild(&root, work.path(), &["pull", &source]);
    assert!(out.status.success(), "{}", stderr(&out));

    // Every blob upload's final PUT fails: the config or a layer never lands.
    let reg2 = Registry::start();
    let proxy = Proxy::start(
        reg2.port,
        Box::new(|method, path| {
            (method == "PUT" && path.contains("/blobs/uploads/")).then_some(Fault::Status(500))
        }),
    );
    let target = format!("{}/half/app:v1", proxy.host());
    let out = rbuild(&root, work.path(), &["push", &source, &target]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&target),
        "the error names the reference: {err}"
    );
    assert!(err.contains("500"), "and what happened: {err}");
    // The manifest goes last, so no tag points at missing blobs.
    let inspect = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{}/half/app:v1", reg2.host))
        .output()
        .unwrap();
    assert!(!inspect.status.success(), "the tag must not exist");
    assert!(tmp_is_empty(&root));

    // Without the fault, the same push completes.
    let direct = format!("{}/half/app:v1", reg2.host);
    let out = rbuild(&root, work.path(), &["push", &source, &direct]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), digest);
    assert_eq!(skopeo_digest(&direct), digest);
}
