//! Registry tests against a real `docker-registry` (Debian's distribution 2.x), seeded
//! and checked with skopeo, with a fault-injecting proxy for the failure paths.

#[path = "support/proxy.rs"]
mod proxy;
#[path = "support/registry.rs"]
mod registry_support;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use proxy::{Fault, Proxy};
use rbuild::digest::Digest;
use rbuild::image::{Descriptor, ImageConfig, Platform};
use rbuild::registry::{
    Reference, RegistryClient, RegistryError, RegistryOptions, TransferEvent, TransferPhase,
    parse_platform,
};
use rbuild::store::Store;
use registry_support::*;

const TOOLS: &[&str] = &["docker-registry", "skopeo"];

fn rbuild(root: &Path, docker_config: &Path, args: &[&str]) -> Output {
    rbuild_stdin(root, docker_config, args, None, &[])
}

fn rbuild_stdin(
    root: &Path,
    docker_config: &Path,
    args: &[&str],
    stdin: Option<&str>,
    env: &[(&str, &str)],
) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rbuild"));
    cmd.arg("--root")
        .arg(root)
        .args(args)
        .env("DOCKER_CONFIG", docker_config)
        .env("RBUILD_REGISTRY_TIMEOUT", "10")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("run rbuild");
    if let Some(s) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(s.as_bytes())
            .expect("write stdin");
    }
    child.wait_with_output().expect("rbuild output")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Options for library tests: quick retries and timeouts, no user Docker config.
fn opts(dir: &Path) -> RegistryOptions {
    RegistryOptions {
        docker_config: Some(dir.join("no-docker-config.json")),
        retries: 3,
        backoff: Duration::from_millis(10),
        io_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(5),
        ..RegistryOptions::default()
    }
}

fn no_progress(_: &TransferEvent) {}

fn host_amd64() -> Platform {
    parse_platform("linux/amd64").expect("platform")
}

fn stored_names(root: &Path) -> Vec<String> {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("index.json")).expect("index.json"))
            .expect("json");
    index["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .filter_map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str())
        .map(str::to_string)
        .collect()
}

fn tmp_is_empty(root: &Path) -> bool {
    std::fs::read_dir(root.join("tmp")).map_or(true, |mut d| d.next().is_none())
}

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

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).expect("read json")).expect("json")
}

#[test]
fn tls_registry_with_basic_auth_login_pull_logout() {
    if !require(&["docker-registry", "skopeo", "openssl"]) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let (ca, cert, key) = make_tls(work.path());
    let reg = Registry::start_with(&RegistryConfig {
        htpasswd: vec![("alice".into(), "s3cret".into())],
        tls: Some((cert, key)),
        ..Default::default()
    });
    let digest = seed_busybox(
        &reg.host,
        "busybox",
        "latest",
        &["--dest-creds", "alice:s3cret"],
    );
    let cfg_dir = work.path().join("docker");
    let cfg = cfg_dir.join("config.json");
    let root = work.path().join("store");
    let ca = ca.display().to_string();
    let image = format!("{}/busybox", reg.host);

    // A loopback registry is insecure by default, as in Docker: its self-signed
    // certificate is accepted without --tls-ca (wrong credentials are still refused).
    let out = rbuild_stdin(
        &root,
        &cfg_dir,
        &["login", &reg.host, "-u", "alice", "--password-stdin"],
        Some("wrong\n"),
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("401"), "{}", stderr(&out));
    assert!(!cfg.exists());

    // Wrong credentials: refused, nothing written.
    let out = rbuild_stdin(
        &root,
        &cfg_dir,
        &[
            "login",
            &reg.host,
            "-u",
            "alice",
            "--password-stdin",
            "--tls-ca",
            &ca,
        ],
        Some("wrong\n"),
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("authentication required (401 Unauthorized)"),
        "{err}"
    );
    assert!(err.contains("nothing was saved"), "{err}");
    assert!(!cfg.exists());

    // Pulling before login: 401 with a hint to log in.
    let out = rbuild(&root, &cfg_dir, &["pull", "--tls-ca", &ca, &image]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("hint: log in first: rbuild login {}", reg.host)),
        "{}",
        stderr(&out)
    );

    // Right credentials: saved as base64 user:password, mode 0600.
    let out = rbuild_stdin(
        &root,
        &cfg_dir,
        &[
            "login",
            &reg.host,
            "-u",
            "alice",
            "--password-stdin",
            "--tls-ca",
            &ca,
        ],
        Some("s3cret\n"),
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Login Succeeded");
    let v = read_json(&cfg);
    assert_eq!(
        v["auths"][&reg.host]["auth"], "YWxpY2U6czNjcmV0",
        "base64 of alice:s3cret"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&cfg).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // Pull over TLS: with --tls-ca, with SSL_CERT_FILE, and with --insecure-registry.
    let out = rbuild(&root, &cfg_dir, &["pull", "--tls-ca", &ca, &image]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), digest);
    let out = rbuild_stdin(
        &work.path().join("s2"),
        &cfg_dir,
        &["pull", &image],
        None,
        &[("SSL_CERT_FILE", &ca)],
    );
    assert!(out.status.success(), "SSL_CERT_FILE: {}", stderr(&out));
    let out = rbuild(
        &work.path().join("s3"),
        &cfg_dir,
        &["pull", "--insecure-registry", &reg.host, &image],
    );
    assert!(
        out.status.success(),
        "--insecure-registry: {}",
        stderr(&out)
    );

    // Logout removes only that entry.
    let out = rbuild(&root, &cfg_dir, &["logout", &reg.host]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(read_json(&cfg)["auths"].get(&reg.host).is_none());
    let out = rbuild(&root, &cfg_dir, &["logout", &reg.host]);
    assert_eq!(stdout(&out), format!("Not logged in to {}", reg.host));
    let out = rbuild(
        &work.path().join("s4"),
        &cfg_dir,
        &["pull", "--tls-ca", &ca, &image],
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn credentials_through_a_credential_helper() {
    if !require(&["docker-registry", "skopeo"]) {
        return;
    }
    let reg = Registry::start_with(&RegistryConfig {
        htpasswd: vec![("bob".into(), "hunter2".into())],
        ..Default::default()
    });
    let digest = seed_busybox(
        &reg.host,
        "busybox",
        "latest",
        &["--dest-creds", "bob:hunter2"],
    );
    let work = tempfile::tempdir().unwrap();
    // A helper that keeps one entry in a file, speaking docker-credential-helpers' protocol.
    let bin = work.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let store_file = work.path().join("helper-store.json");
    let helper = bin.join("docker-credential-rbtest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\nf={}\ncase \"$1\" in\n get) read s; [ -f \"$f\" ] && cat \"$f\" || {{ echo 'credentials not found in native keychain'; exit 1; }} ;;\n store) cat > \"$f\" ;;\n erase) read s; rm -f \"$f\" ;;\nesac\n",
            store_file.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cfg_dir = work.path().join("docker");
    std::fs::create_dir_all(&cfg_dir).unwrap();
    std::fs::write(cfg_dir.join("config.json"), r#"{"credsStore":"rbtest"}"#).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let env = [("PATH", path.as_str())];
    let root = work.path().join("store");

    let out = rbuild_stdin(
        &root,
        &cfg_dir,
        &["login", &reg.host, "-u", "bob", "--password-stdin"],
        Some("hunter2"),
        &env,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let stored = read_json(&store_file);
    assert_eq!(stored["ServerURL"], reg.host.as_str());
    assert_eq!(stored["Username"], "bob");
    assert_eq!(stored["Secret"], "hunter2");
    let v = read_json(&cfg_dir.join("config.json"));
    assert_eq!(v["credsStore"], "rbtest");
    assert_eq!(
        v["auths"][&reg.host],
        serde_json::json!({}),
        "no secret in the file"
    );

    let out = rbuild_stdin(
        &root,
        &cfg_dir,
        &["pull", &format!("{}/busybox", reg.host)],
        None,
        &env,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), digest);

    let out = rbuild_stdin(&root, &cfg_dir, &["logout", &reg.host], None, &env);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!store_file.exists());
}

#[path = "support/token.rs"]
mod token;

#[test]
fn token_auth_login_pull_push_and_mount() {
    if !require(&["docker-registry", "skopeo", "openssl"]) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let tokens = token::TokenServer::start(work.path(), "carol", "pw");
    let reg = Registry::start_with(&RegistryConfig {
        token: Some((
            tokens.realm.clone(),
            token::SERVICE.into(),
            token::ISSUER.into(),
            tokens.bundle.clone(),
        )),
        ..Default::default()
    });
    let digest = seed_busybox(
        &reg.host,
        "lib/busybox",
        "latest",
        &["--dest-creds", "carol:pw"],
    );
    let cfg_dir = work.path().join("docker");
    let root = work.path().join("store");

    // Anonymous: the token server refuses, and the error says to log in.
    let out = rbuild(
        &root,
        &cfg_dir,
        &["pull", &format!("{}/lib/busybox", reg.host)],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("hint: log in first: rbuild login {}", reg.host)),
        "{}",
        stderr(&out)
    );

    let out = rbuild_stdin(
        &root,
        &cfg_dir,
        &["login", &reg.host, "-u", "carol", "--password-stdin"],
        Some("nope"),
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(!cfg_dir.join("config.json").exists());
    let out = rbuild_stdin(
        &root,
        &cfg_dir,
        &["login", &reg.host, "-u", "carol", "--password-stdin"],
        Some("pw"),
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));

    tokens.requests.lock().unwrap().clear();
    let mut o = opts(work.path());
    o.docker_config = Some(cfg_dir.join("config.json"));
    let client = RegistryClient::new(o);
    let store = Store::open(&root).unwrap();
    let src = Reference::parse(&format!("{}/lib/busybox", reg.host)).unwrap();
    let img = client
        .pull(&store, &src, &host_amd64(), &no_progress)
        .unwrap();
    assert_eq!(img.manifest_descriptor.digest.to_string(), digest);
    assert_eq!(
        *tokens.requests.lock().unwrap(),
        ["repository:lib/busybox:pull"],
        "one token, reused for every blob"
    );

    // Push to another repository: push scope, and a mount scope that can read the source.
    let events = Mutex::new(Vec::new());
    let target = Reference::parse(&format!("{}/team/app:2", reg.host)).unwrap();
    let pushed = client
        .push(&store, &img.manifest_descriptor, &target, &|e| {
            events.lock().unwrap().push(e.phase)
        })
        .unwrap();
    assert_eq!(pushed.to_string(), digest);
    assert!(events.lock().unwrap().contains(&TransferPhase::Mounted));
    let reqs = tokens.requests.lock().unwrap().clone();
    assert!(
        reqs.contains(&"repository:team/app:pull,push".to_string()),
        "{reqs:?}"
    );
    assert_eq!(
        reqs,
        [
            "repository:lib/busybox:pull",
            "repository:team/app:pull,push",
            "repository:team/app:pull,push repository:lib/busybox:pull"
        ],
        "one token per scope, shared by the parallel transfers"
    );
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
