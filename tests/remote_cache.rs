//! The shared build cache end to end: two runners with separate stores share one cache
//! through a real `docker-registry` (behind a logging proxy that shows what moves) or a
//! local OCI layout directory. The RUN steps write random bytes, so a step that ran
//! again on the second runner is visible in its output.

#[path = "support/proxy.rs"]
mod proxy;
#[path = "support/registry.rs"]
mod registry_support;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use proxy::Proxy;
use registry_support::{Registry, free_port, skopeo_raw};
use serde_json::Value;
use support::{TestDir, assert_success, busybox_rootfs_tar, have_busybox, have_tool};

/// Two stages, each with RUN steps whose output is random.
const DOCKERFILE: &str = "\
FROM busybox:test AS builder
RUN head -c 16 /dev/urandom | od -x > /r
RUN echo built > /b

FROM busybox:test
COPY --from=builder /r /r
RUN head -c 16 /dev/urandom | od -x > /final
ENV APP=cached
";

fn tools_present() -> bool {
    have_busybox() && have_tool("docker-registry") && have_tool("skopeo")
}

/// One CI runner: its own store, with the busybox base imported (at a fixed time, so
/// both runners have the same base image, as two pulls of one tag would).
struct Runner {
    t: TestDir,
}

impl Runner {
    fn new() -> Runner {
        let t = TestDir::new();
        t.write("ctx/Dockerfile", DOCKERFILE);
        std::fs::create_dir_all(t.path().join("docker")).unwrap();
        let tar = busybox_rootfs_tar();
        let out = t
            .cmd(&["import", tar.to_str().unwrap(), "busybox:test"])
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .output()
            .unwrap();
        assert_success(&out, &["import"]);
        Runner { t }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.t.path().join(rel)
    }

    /// `rbuild build --progress plain --metadata-file meta.json ARGS… ctx`.
    fn build(&self, args: &[&str]) -> Output {
        let mut cmd = self.t.cmd(&["build", "--progress", "plain"]);
        cmd.arg("--metadata-file")
            .arg(self.path("meta.json"))
            .args(args)
            .arg(self.path("ctx"))
            .env("DOCKER_CONFIG", self.path("docker"))
            .env("RBUILD_REGISTRY_TIMEOUT", "5");
        cmd.output().unwrap()
    }

    fn build_ok(&self, args: &[&str]) -> String {
        let out = self.build(args);
        assert_success(&out, args);
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    fn rbuild_ok(&self, args: &[&str]) -> String {
        let out = self
            .t
            .cmd(args)
            .env("DOCKER_CONFIG", self.path("docker"))
            .output()
            .unwrap();
        assert_success(&out, args);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn meta(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.path("meta.json")).unwrap()).unwrap()
    }

    /// `(instruction, cached)` of every Dockerfile step of the last build.
    fn steps(&self) -> Vec<(String, bool)> {
        self.meta()["rbuild.steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["instruction"].as_str().unwrap().to_string(),
                    s["cached"].as_bool().unwrap(),
                )
            })
            .collect()
    }

    fn manifest_digest(&self) -> String {
        self.meta()["containerimage.digest"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The stored manifest of the last build.
    fn manifest(&self) -> Value {
        self.blob_json(&self.manifest_digest())
    }

    fn blob_json(&self, digest: &str) -> Value {
        let hex = digest.trim_start_matches("sha256:");
        serde_json::from_slice(
            &std::fs::read(self.t.root().join("blobs/sha256").join(hex)).unwrap(),
        )
        .unwrap()
    }

    fn has_blob(&self, digest: &str) -> bool {
        let hex = digest.trim_start_matches("sha256:");
        self.t.root().join("blobs/sha256").join(hex).exists()
    }
}

fn layer_digests(manifest: &Value) -> Vec<String> {
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Requests in `log` (`METHOD path status`) that move the bytes of one of `digests`:
/// downloads (`GET …/blobs/<d>`) and upload completions (`PUT …?digest=<d>`).
fn transfers_of<'a>(log: &'a [String], method: &str, digests: &[String]) -> Vec<&'a String> {
    log.iter()
        .filter(|l| l.starts_with(&format!("{method} ")))
        .filter(|l| digests.iter().any(|d| l.contains(d.as_str())))
        .filter(|l| method != "GET" || l.contains("/blobs/"))
        .collect()
}

#[test]
fn registry_cache_shares_every_step_and_moves_no_layer_until_needed() {
    if !tools_present() {
        return;
    }
    let reg = Registry::start();
    let a = Runner::new();
    let cache_to = format!("type=registry,ref={}/cache:latest,mode=max", reg.host);
    let err = a.build_ok(&[
        "--cache-to",
        &cache_to,
        "-t",
        "app:1",
        "-o",
        &format!("type=local,dest={}", a.path("out").display()),
    ]);
    assert!(
        err.contains(&format!("exporting cache to {}/cache:latest", reg.host)),
        "{err}"
    );
    assert!(err.contains("wrote cache manifest sha256:"), "{err}");
    assert!(
        a.steps()
            .iter()
            .filter(|(i, _)| i.starts_with("RUN"))
            .all(|(_, c)| !c)
    );
    let a_manifest = a.manifest_digest();
    let a_layers = layer_digests(&a.manifest());

    // The artifact, read back with skopeo: rbuild's config type, the layers the image uses.
    let raw: Value =
        serde_json::from_str(&skopeo_raw(&format!("{}/cache:latest", reg.host))).unwrap();
    assert_eq!(raw["artifactType"], "application/vnd.rbuild.cache.v1");
    assert_eq!(
        raw["config"]["mediaType"],
        "application/vnd.rbuild.cache.config.v1+json"
    );
    let cache_layers = layer_digests(&raw);
    for l in &a_layers {
        assert!(
            cache_layers.contains(l),
            "image layer {l} not in the cache {cache_layers:?}"
        );
    }
    // mode=max: the builder stage's layers too. Its `RUN … > /r` layer is the same blob
    // as the final stage's `COPY --from=builder /r /r`, so one more layer (`/b`).
    assert_eq!(cache_layers.len(), a_layers.len() + 1, "{raw}");

    // Runner B, through a proxy that logs every request.
    let proxy = Proxy::logging(reg.port);
    let b = Runner::new();
    let cache_from = format!("type=registry,ref={}/cache:latest", proxy.host());
    let err = b.build_ok(&["--cache-from", &cache_from, "-t", "app:1"]);
    assert!(
        err.contains(&format!(
            "importing cache manifest from {}/cache:latest",
            proxy.host()
        )),
        "{err}"
    );
    let steps = b.steps();
    assert!(steps.iter().all(|(_, cached)| *cached), "{steps:?}\n{err}");
    assert_eq!(
        b.manifest_digest(),
        a_manifest,
        "same image on both runners"
    );
    let log = proxy.log();
    assert_eq!(
        transfers_of(&log, "GET", &cache_layers),
        Vec::<&String>::new(),
        "a cached build with no local output downloads no layer"
    );
    let manifest_gets = log
        .iter()
        .filter(|l| l.starts_with("GET /v2/cache/manifests/"))
        .count();
    let blob_gets = log
        .iter()
        .filter(|l| l.starts_with("GET /v2/cache/blobs/"))
        .count();
    assert_eq!(
        (manifest_gets, blob_gets),
        (1, 1),
        "one manifest and one config: {log:#?}"
    );
    for l in &a_layers[1..] {
        assert!(!b.has_blob(l), "layer {l} was fetched");
    }

    // Push the cached result to the same registry: no layer is uploaded or downloaded.
    proxy.clear();
    let target = format!("{}/app:1", proxy.host());
    let err = b.build_ok(&["--cache-from", &cache_from, "--push", "-t", &target]);
    assert!(
        err.contains(&format!("pushed {target}@{a_manifest}")),
        "{err}"
    );
    let log = proxy.log();
    assert_eq!(
        transfers_of(&log, "PUT", &cache_layers),
        Vec::<&String>::new(),
        "{log:#?}"
    );
    assert_eq!(
        transfers_of(&log, "GET", &cache_layers),
        Vec::<&String>::new(),
        "{log:#?}"
    );
    assert!(
        log.iter()
            .any(|l| l.starts_with("POST") && l.contains("mount=")),
        "{log:#?}"
    );
    assert_eq!(
        registry_support::skopeo_digest(&format!("{}/app:1", reg.host)),
        a_manifest
    );

    // A local output needs the bytes: fetched now, and they are A's.
    proxy.clear();
    let out = b.path("out");
    b.build_ok(&[
        "--cache-from",
        &cache_from,
        "-o",
        &format!("type=local,dest={}", out.display()),
    ]);
    assert!(b.steps().iter().all(|(_, cached)| *cached));
    assert_eq!(
        read(&out.join("r")),
        read(&a.path("out/r")),
        "no RUN ran again"
    );
    assert_eq!(read(&out.join("final")), read(&a.path("out/final")));
    let log = proxy.log();
    let fetched = transfers_of(&log, "GET", &cache_layers);
    // The two layers of the final stage (the base is local): nothing more.
    assert_eq!(fetched.len(), 2, "{fetched:#?}");
}

#[test]
fn lazily_imported_layers_are_fetched_only_by_what_reads_them() {
    if !tools_present() {
        return;
    }
    let reg = Registry::start();
    let a = Runner::new();
    a.build_ok(&[
        "--cache-to",
        &format!("type=registry,ref={}/cache:main,mode=max", reg.host),
    ]);
    let proxy = Proxy::logging(reg.port);
    let cache = format!("{}/cache:main", proxy.host());
    let cache_layers = layer_digests(&serde_json::from_str(&skopeo_raw(&cache)).unwrap());

    // CI's usual pair, one ref for both: every step hits, and the export moves nothing.
    let b = Runner::new();
    let err = b.build_ok(&[
        "--cache-from",
        &cache,
        "--cache-to",
        &format!("type=registry,ref={cache},mode=max"),
        "-t",
        "app:1",
    ]);
    assert!(b.steps().iter().all(|(_, c)| *c), "{err}");
    let log = proxy.log();
    assert_eq!(
        transfers_of(&log, "GET", &cache_layers),
        Vec::<&String>::new(),
        "{log:#?}"
    );
    assert_eq!(
        transfers_of(&log, "PUT", &cache_layers),
        Vec::<&String>::new(),
        "{log:#?}"
    );
    assert_eq!(
        layer_digests(&serde_json::from_str(&skopeo_raw(&cache)).unwrap()),
        cache_layers
    );

    // Another process, no --cache-from: the store remembers where the layers are.
    let err = b.build_ok(&["-t", "app:1"]);
    assert!(b.steps().iter().all(|(_, c)| *c), "{err}");
    let image_layers = layer_digests(&b.manifest());
    assert!(image_layers[1..].iter().all(|l| !b.has_blob(l)));

    // `rbuild save` reads the image's layers: those are fetched, nothing else.
    proxy.clear();
    let archive = b.path("app.tar");
    b.rbuild_ok(&["save", "app:1", "-o", archive.to_str().unwrap()]);
    let log = proxy.log();
    assert_eq!(
        transfers_of(&log, "GET", &cache_layers).len(),
        image_layers.len() - 1,
        "{log:#?}"
    );
    let inspect = Command::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci-archive:{}", archive.display()))
        .output()
        .unwrap();
    assert!(
        inspect.status.success(),
        "{}",
        String::from_utf8_lossy(&inspect.stderr)
    );
    let m: Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(layer_digests(&m), image_layers);

    // Exporting to another registry needs the bytes of what is still lazy (the builder
    // stage's `/b` layer): fetched from the cache, uploaded there; a third runner uses it.
    proxy.clear();
    let reg2 = Registry::start();
    b.build_ok(&[
        "--cache-to",
        &format!("type=registry,ref={}/other:1,mode=max", reg2.host),
    ]);
    let log = proxy.log();
    assert_eq!(
        transfers_of(&log, "GET", &cache_layers).len(),
        1,
        "{log:#?}"
    );
    let c = Runner::new();
    c.build_ok(&["--cache-from", &format!("{}/other:1", reg2.host)]);
    assert!(c.steps().iter().all(|(_, cached)| *cached));
    assert_eq!(c.manifest_digest(), a.manifest_digest());
}

#[test]
fn local_cache_directory_round_trip() {
    if !tools_present() {
        return;
    }
    let a = Runner::new();
    let dir = a.path("ci-cache");
    let err = a.build_ok(&[
        "--cache-to",
        &format!("type=local,dest={},mode=max", dir.display()),
        "-o",
        &format!("type=local,dest={}", a.path("out").display()),
    ]);
    assert!(
        err.contains(&format!("exporting cache to {}", dir.display())),
        "{err}"
    );
    // An OCI layout that skopeo reads.
    let raw = Command::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci:{}:latest", dir.display()))
        .output()
        .unwrap();
    assert!(
        raw.status.success(),
        "{}",
        String::from_utf8_lossy(&raw.stderr)
    );
    let raw: Value = serde_json::from_slice(&raw.stdout).unwrap();
    assert_eq!(
        raw["config"]["mediaType"],
        "application/vnd.rbuild.cache.config.v1+json"
    );
    let blobs = || std::fs::read_dir(dir.join("blobs/sha256")).unwrap().count();
    // Layers, config, manifest: nothing else.
    assert_eq!(blobs(), layer_digests(&raw).len() + 2);

    let b = Runner::new();
    let from = format!("type=local,src={}", dir.display());
    let err = b.build_ok(&["--cache-from", &from]);
    assert!(b.steps().iter().all(|(_, c)| *c), "{err}");
    assert_eq!(b.manifest_digest(), a.manifest_digest());
    let layers = layer_digests(&b.manifest());
    assert!(
        layers[1..].iter().all(|l| !b.has_blob(l)),
        "no layer copied before it is needed"
    );
    let out = b.path("out");
    b.build_ok(&[
        "--cache-from",
        &from,
        "-o",
        &format!("type=local,dest={}", out.display()),
    ]);
    assert_eq!(read(&out.join("r")), read(&a.path("out/r")));

    // Exporting again after a change replaces the cache and leaves no stale blob.
    a.t.write(
        "ctx/Dockerfile",
        DOCKERFILE.replace("echo built", "echo rebuilt"),
    );
    a.build_ok(&[
        "--cache-to",
        &format!("type=local,dest={},mode=max", dir.display()),
    ]);
    let raw = Command::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci:{}:latest", dir.display()))
        .output()
        .unwrap();
    let raw: Value = serde_json::from_slice(&raw.stdout).unwrap();
    assert_eq!(blobs(), layer_digests(&raw).len() + 2);
}

#[test]
fn mode_min_exports_only_the_final_image_steps() {
    if !tools_present() {
        return;
    }
    let reg = Registry::start();
    let a = Runner::new();
    a.build_ok(&[
        "--cache-to",
        &format!("type=registry,ref={}/cache:min", reg.host),
        "-o",
        &format!("type=local,dest={}", a.path("out").display()),
    ]);
    let raw: Value = serde_json::from_str(&skopeo_raw(&format!("{}/cache:min", reg.host))).unwrap();
    // busybox + COPY + RUN of the final stage; the builder's layers are not exported.
    assert_eq!(layer_digests(&raw), layer_digests(&a.manifest()));

    let b = Runner::new();
    let out = b.path("out");
    b.build_ok(&[
        "--cache-from",
        &format!("type=registry,ref={}/cache:min", reg.host),
        "-o",
        &format!("type=local,dest={}", out.display()),
    ]);
    let steps = b.steps();
    let cached = |text: &str| {
        steps
            .iter()
            .find(|(i, _)| i.starts_with(text))
            .unwrap_or_else(|| panic!("{text} in {steps:?}"))
            .1
    };
    // The builder stage runs again (its random value differs)…
    assert!(!cached("RUN head -c 16 /dev/urandom | od -x > /r"));
    assert!(!cached("RUN echo built"));
    // …but the final stage's keys name the builder's key, not its output: all hits, and
    // the image is A's.
    assert!(cached("COPY --from=builder"));
    assert!(cached("RUN head -c 16 /dev/urandom | od -x > /final"));
    assert_eq!(b.manifest_digest(), a.manifest_digest());
    assert_eq!(read(&out.join("r")), read(&a.path("out/r")));
}

#[test]
fn zstd_compression_applies_to_the_exported_layers() {
    if !tools_present() {
        return;
    }
    let reg = Registry::start();
    let a = Runner::new();
    a.build_ok(&[
        "--cache-to",
        &format!(
            "type=registry,ref={}/cache:zstd,mode=max,compression=zstd",
            reg.host
        ),
    ]);
    let raw: Value =
        serde_json::from_str(&skopeo_raw(&format!("{}/cache:zstd", reg.host))).unwrap();
    let types: Vec<&str> = raw["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["mediaType"].as_str().unwrap())
        .collect();
    // The base layer is kept as it is (it is there for mounts); the built ones are zstd.
    assert_eq!(types[0], "application/vnd.oci.image.layer.v1.tar+gzip");
    assert!(types.len() > 2, "{types:?}");
    assert!(
        types[1..]
            .iter()
            .all(|t| *t == "application/vnd.oci.image.layer.v1.tar+zstd"),
        "{types:?}"
    );
    let b = Runner::new();
    let out = b.path("out");
    b.build_ok(&[
        "--cache-from",
        &format!("{}/cache:zstd", reg.host),
        "-o",
        &format!("type=local,dest={}", out.display()),
    ]);
    assert!(b.steps().iter().all(|(_, c)| *c));
    let m = b.manifest();
    assert_eq!(
        m["layers"][1]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
    // zstd layers unpack: the random output of A's RUN is there.
    assert!(read(&out.join("final")).starts_with("0000000 "));
}

#[test]
fn unusable_cache_sources_are_warnings() {
    if !tools_present() {
        return;
    }
    let reg = Registry::start();
    let a = Runner::new();
    // A tag that does not exist, a directory that does not exist, and an image (not a cache).
    a.build_ok(&["-t", &format!("{}/app:1", reg.host), "--push"]);
    let err = a.build_ok(&[
        "--cache-from",
        &format!("type=registry,ref={}/cache:nothing", reg.host),
        "--cache-from",
        &format!("type=local,src={}", a.path("nowhere").display()),
        "--cache-from",
        &format!("{}/app:1", reg.host),
    ]);
    assert!(
        err.contains(&format!(
            "WARNING: cache import from {}/cache:nothing failed, building without it:",
            reg.host
        )) && err.contains("manifest unknown"),
        "{err}"
    );
    assert!(err.contains("nowhere: no cache found"), "{err}");
    assert!(
        err.contains(
            "not an rbuild build cache: its config is application/vnd.oci.image.config.v1+json"
        ),
        "{err}"
    );

    // A cache whose config is damaged (written by hand into a layout directory).
    let dir = a.path("bad-cache");
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    let put = |bytes: &[u8]| {
        let d = registry_support::sha256(bytes);
        std::fs::write(
            dir.join("blobs/sha256")
                .join(d.trim_start_matches("sha256:")),
            bytes,
        )
        .unwrap();
        d
    };
    let config = b"{\"version\":1,\"records\":\"not a list\"}";
    let config_digest = put(config);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.rbuild.cache.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": []
    })
    .to_string();
    let manifest_digest = put(manifest.as_bytes());
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(
        dir.join("index.json"),
        serde_json::json!({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest, "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": "latest"}}]})
        .to_string(),
    )
    .unwrap();
    let err = a.build_ok(&["--cache-from", &format!("type=local,src={}", dir.display())]);
    assert!(
        err.contains("not an rbuild build cache: cache config:"),
        "{err}"
    );
    // The same damaged cache in a registry (copied there by skopeo).
    registry_support::skopeo_copy_to(&dir, "latest", &format!("{}/cache:bad", reg.host), &[]);
    let err = a.build_ok(&["--cache-from", &format!("{}/cache:bad", reg.host)]);
    assert!(
        err.contains("not an rbuild build cache: cache config:"),
        "{err}"
    );
}

#[test]
fn a_failed_cache_export_fails_the_build_after_the_image_is_written() {
    if !tools_present() {
        return;
    }
    let a = Runner::new();
    let dead = format!("127.0.0.1:{}/cache:latest", free_port());
    let out = a.build(&[
        "-t",
        "app:1",
        "--cache-to",
        &format!("type=registry,ref={dead}"),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("exporting cache to {dead}")), "{err}");
    assert!(err.contains("error:") && err.contains("127.0.0.1"), "{err}");
    assert!(err.contains("hint:"), "{err}");
    // The image was built and tagged all the same.
    let inspect = a.rbuild_ok(&["inspect", "app:1"]);
    assert!(inspect.contains("APP=cached"), "{inspect}");

    // ignore-error=true: a warning.
    let err = a.build_ok(&[
        "--cache-to",
        &format!("type=registry,ref={dead},ignore-error=true"),
    ]);
    assert!(
        err.contains(&format!("WARNING: cache export to {dead} failed (ignored)")),
        "{err}"
    );
}

#[test]
fn bad_cache_flags_fail_before_building() {
    let t = TestDir::new();
    t.write("ctx/Dockerfile", "FROM scratch\n");
    let ctx = t.path().join("ctx");
    for (flag, value, message) in [
        ("--cache-to", "type=gha", "unsupported cache type \"gha\""),
        ("--cache-from", "type=local", "type=local needs src=DIR"),
        (
            "--cache-to",
            "type=registry,ref=r.example/c,mode=most",
            "invalid mode=\"most\"",
        ),
    ] {
        let out = t.rbuild(&["build", flag, value, ctx.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains(&format!("invalid {flag} {value:?}: {message}")),
            "{err}"
        );
        assert!(err.contains("hint:"), "{err}");
    }
    // type=inline is skipped with a warning, as rbuild does not embed cache in images.
    let out = t.rbuild(&["build", "--cache-to", "type=inline", ctx.to_str().unwrap()]);
    assert_success(&out, &["build", "--cache-to", "type=inline"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("type=inline is not supported"));
}

#[test]
fn cache_sources_that_lose_layers_cost_step_runs_not_broken_builds() {
    if !tools_present() {
        return;
    }
    let a = Runner::new();
    let dir = a.path("ci-cache");
    a.build_ok(&[
        "--cache-to",
        &format!("type=local,dest={},mode=max", dir.display()),
    ]);
    let from = format!("type=local,src={}", dir.display());
    let (b, c) = (Runner::new(), Runner::new());
    for r in [&b, &c] {
        r.build_ok(&["--cache-from", &from]);
        assert!(r.steps().iter().all(|(_, cached)| *cached));
    }
    let image_layers = layer_digests(&b.manifest());

    // The COPY layer's blob is damaged in the cache (same size). A changed last step needs
    // its bytes: the fetch fails, and says why.
    let blob = dir
        .join("blobs/sha256")
        .join(image_layers[1].trim_start_matches("sha256:"));
    let mut bytes = std::fs::read(&blob).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&blob, bytes).unwrap();
    b.t.write(
        "ctx/Dockerfile",
        DOCKERFILE.replace("> /final", "> /final2"),
    );
    let out = b.build(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("is not in the store and could not be fetched"),
        "{err}"
    );
    assert!(err.contains(&format!("from {}", dir.display())), "{err}");

    // That source is forgotten for that blob: the next build runs the steps that make it…
    let err = b.build_ok(&[]);
    let steps = b.steps();
    let ran = |text: &str| steps.iter().any(|(i, c)| i.starts_with(text) && !c);
    assert!(
        ran("RUN head -c 16 /dev/urandom | od -x > /r"),
        "{steps:?}\n{err}"
    );
    assert!(ran("COPY --from=builder"), "{steps:?}");
    // …and stores new records: the build after that is all hits.
    let err = b.build_ok(&[]);
    assert!(b.steps().iter().all(|(_, c)| *c), "{err}");

    // The cache directory disappears under runner C, whose hits were all lazy: each step
    // is checked against the cache before it counts as a hit, so they run again (no
    // build fails), and the next build is all hits.
    std::fs::remove_dir_all(&dir).unwrap();
    let err = c.build_ok(&[]);
    let steps = c.steps();
    let layer_steps: Vec<&(String, bool)> = steps
        .iter()
        .filter(|(i, _)| i.starts_with("RUN") || i.starts_with("COPY"))
        .collect();
    assert_eq!(layer_steps.len(), 4, "{steps:?}");
    assert!(
        layer_steps.iter().all(|(_, cached)| !cached),
        "{steps:?}\n{err}"
    );
    c.build_ok(&[]);
    assert!(c.steps().iter().all(|(_, cached)| *cached));
}
