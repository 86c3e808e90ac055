//! Registry faults through a proxy: unknown tags, server errors, corrupt bytes, cut
//! connections and stalls.

use crate::*;

#[test]
fn missing_tag_says_manifest_unknown() {
    if !require(TOOLS) {
        return;
    }
    let reg = Registry::start();
    seed_busybox(&reg.host, "busybox", "latest", &[]);
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("store");
    let out = rbuild(
        &root,
        work.path(),
        &["pull", &format!("{}/busybox:nope", reg.host)],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "error: {}/busybox:nope: manifest unknown",
            reg.host
        )),
        "{err}"
    );
    assert!(err.contains("hint: check the image name and tag"), "{err}");

    let out = rbuild(&root, work.path(), &["push", "never/pulled:1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("error: no image named never/pulled:1 in the store"),
        "{}",
        stderr(&out)
    );

    let out = rbuild(
        &root,
        work.path(),
        &[
            "pull",
            "--platform",
            "linux/",
            &format!("{}/busybox", reg.host),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("invalid platform \"linux/\""),
        "{}",
        stderr(&out)
    );

    let out = rbuild(&root, work.path(), &["pull", "Busybox"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(
            "invalid reference format: repository name (library/Busybox) must be lowercase"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn retries_server_errors_then_succeeds() {
    if !require(TOOLS) {
        return;
    }
    let reg = Registry::start();
    let digest = seed_busybox(&reg.host, "busybox", "latest", &[]);
    let failures = AtomicUsize::new(0);
    let proxy = Proxy::start(
        reg.port,
        Box::new(move |m, p| {
            (m == "GET" && p.contains("/manifests/") && failures.fetch_add(1, Ordering::SeqCst) < 2)
                .then_some(Fault::Status(503))
        }),
    );
    let work = tempfile::tempdir().unwrap();
    let store = Store::open(&work.path().join("store")).unwrap();
    let client = RegistryClient::new(opts(work.path()));
    let r = Reference::parse(&format!("{}/busybox", proxy.host())).unwrap();
    let img = client
        .pull(&store, &r, &host_amd64(), &no_progress)
        .unwrap();
    assert_eq!(img.manifest_descriptor.digest.to_string(), digest);
    let log = proxy.log();
    let gets: Vec<&String> = log
        .iter()
        .filter(|l| l.starts_with("GET /v2/busybox/manifests/"))
        .collect();
    assert_eq!(gets.len(), 3, "{log:?}");
    assert!(gets[0].ends_with(" 503") && gets[1].ends_with(" 503") && gets[2].ends_with(" 200"));

    // Retries are bounded: a registry that always fails is an error naming the status.
    let proxy = Proxy::start(
        reg.port,
        Box::new(|m, p| (m == "GET" && p.contains("/manifests/")).then_some(Fault::Status(500))),
    );
    let r = Reference::parse(&format!("{}/busybox", proxy.host())).unwrap();
    let fresh = Store::open(&work.path().join("store2")).unwrap();
    let err = client
        .pull(&fresh, &r, &host_amd64(), &no_progress)
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::Status { status: 500, .. }),
        "{err}"
    );
    let tries = proxy
        .log()
        .iter()
        .filter(|l| l.starts_with("GET /v2/busybox/manifests/"))
        .count();
    assert_eq!(tries, 4, "one try and three retries");
}

#[test]
fn corrupted_blob_is_a_digest_error_and_nothing_is_kept() {
    if !require(TOOLS) {
        return;
    }
    let reg = Registry::start();
    seed_busybox(&reg.host, "busybox", "latest", &[]);
    let proxy = Proxy::start(
        reg.port,
        Box::new(|m, p| (m == "GET" && p.contains("/blobs/sha256:")).then_some(Fault::Corrupt)),
    );
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("store");
    let store = Store::open(&root).unwrap();
    let client = RegistryClient::new(opts(work.path()));
    let r = Reference::parse(&format!("{}/busybox", proxy.host())).unwrap();
    let err = client
        .pull(&store, &r, &host_amd64(), &no_progress)
        .unwrap_err();
    let RegistryError::DigestMismatch {
        expected, actual, ..
    } = &err
    else {
        panic!("expected a digest mismatch, got {err}");
    };
    assert_ne!(expected, actual);
    assert!(
        err.to_string()
            .contains("content does not match its digest"),
        "{err}"
    );
    assert!(err.to_string().ends_with("nothing kept"), "{err}");
    assert!(!store.has_blob(expected));
    assert!(tmp_is_empty(&root), "no temp file left behind");
}

#[test]
fn connection_cut_mid_blob_resumes() {
    if !require(TOOLS) {
        return;
    }
    let reg = Registry::start();
    let digest = seed_busybox(&reg.host, "busybox", "latest", &[]);
    let cuts = AtomicUsize::new(0);
    let proxy = Proxy::start(
        reg.port,
        Box::new(move |m, p| {
            // Cut the first full download of each big blob after 100 kB.
            (m == "GET" && p.contains("/blobs/sha256:") && cuts.fetch_add(1, Ordering::SeqCst) < 1)
                .then_some(Fault::CutAfter(100_000))
        }),
    );
    let work = tempfile::tempdir().unwrap();
    let store = Store::open(&work.path().join("store")).unwrap();
    let mut o = opts(work.path());
    o.parallel = 1;
    let client = RegistryClient::new(o);
    let r = Reference::parse(&format!("{}/busybox", proxy.host())).unwrap();
    let img = client
        .pull(&store, &r, &host_amd64(), &no_progress)
        .unwrap();
    assert_eq!(img.manifest_descriptor.digest.to_string(), digest);
    for d in std::iter::once(&img.manifest.config).chain(&img.manifest.layers) {
        assert_eq!(Digest::of(&store.read_blob(&d.digest).unwrap()), d.digest);
    }
    let log = proxy.log();
    let blob_gets = log
        .iter()
        .filter(|l| l.starts_with("GET /v2/busybox/blobs/"))
        .count();
    assert!(blob_gets > 3, "the cut blob was asked for again: {log:?}");
    assert!(
        log.iter()
            .any(|l| l.starts_with("GET /v2/busybox/blobs/") && l.ends_with(" 206")),
        "the download resumed with a range request: {log:?}"
    );
}

#[test]
fn stalled_server_times_out() {
    if !require(TOOLS) {
        return;
    }
    let reg = Registry::start();
    seed_busybox(&reg.host, "busybox", "latest", &[]);
    let proxy = Proxy::start(
        reg.port,
        Box::new(|m, p| (m == "GET" && p.contains("/manifests/")).then_some(Fault::Stall)),
    );
    let work = tempfile::tempdir().unwrap();
    let store = Store::open(&work.path().join("store")).unwrap();
    let mut o = opts(work.path());
    o.io_timeout = Duration::from_millis(500);
    o.retries = 1;
    let client = RegistryClient::new(o);
    let r = Reference::parse(&format!("{}/busybox", proxy.host())).unwrap();
    let start = Instant::now();
    let err = client
        .pull(&store, &r, &host_amd64(), &no_progress)
        .unwrap_err();
    assert!(matches!(err, RegistryError::Timeout { .. }), "{err}");
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );

    // The CLI reports it with a hint.
    let out = rbuild_stdin(
        &work.path().join("cli"),
        work.path(),
        &["pull", &r.familiar()],
        None,
        &[("RBUILD_REGISTRY_TIMEOUT", "0.5")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("timed out waiting for the registry"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("hint: the registry stalled"),
        "{}",
        stderr(&out)
    );
}
