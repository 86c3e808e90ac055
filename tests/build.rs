//! `rbuild build` end to end without RUN: COPY/ADD, config instructions, multi-stage,
//! .dockerignore, the cache, determinism, outputs, and bad input. Results are read back
//! with real clients (skopeo, umoci), never only with rbuild itself.

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use support::{TestDir, assert_success, have_tool};

/// The config blob as stored (`--raw`: skopeo's own rendering drops Docker's fields).
fn skopeo_config(target: &str) -> Value {
    let out = Command::new("skopeo")
        .args(["inspect", "--raw", "--config", target])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo inspect --config {target}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn skopeo_inspect(target: &str) -> Value {
    let out = Command::new("skopeo")
        .args(["inspect", target])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo inspect {target}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Unpacks `name` from the store with umoci and returns the rootfs path.
fn umoci_unpack(t: &TestDir, name: &str) -> std::path::PathBuf {
    let bundle = t
        .path()
        .join(format!("bundle-{}", name.replace([':', '/'], "_")));
    let mut cmd = Command::new("umoci");
    cmd.arg("unpack");
    if !support::is_root() {
        cmd.arg("--rootless");
    }
    let image = format!("{}:{name}", t.root().display());
    let out = cmd.args(["--image", &image]).arg(&bundle).output().unwrap();
    assert!(
        out.status.success(),
        "umoci unpack {image}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    bundle.join("rootfs")
}

fn metadata(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn blob_count(t: &TestDir) -> usize {
    std::fs::read_dir(t.root().join("blobs/sha256"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn ctx_with(t: &TestDir, dockerfile: &str) -> String {
    t.write("ctx/Dockerfile", dockerfile);
    t.path().join("ctx").to_string_lossy().into_owned()
}

#[test]
fn config_instructions_are_recorded_as_docker_does() {
    if !have_tool("skopeo") {
        return;
    }
    let t = TestDir::new();
    t.write("ctx/hello.txt", "hello\n");
    let ctx = ctx_with(
        &t,
        r#"FROM scratch
MAINTAINER someone@example.com
LABEL a=b "c d"="e f"
ENV PATH=/usr/bin:/bin GREETING="hi there"
ENV LEGACY old form value
WORKDIR /app
COPY hello.txt .
USER 1000:1000
EXPOSE 80 443/udp 8000-8001
VOLUME ["/data"]
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --retries=3 CMD ["/bin/check"]
SHELL ["/bin/bash", "-c"]
ONBUILD COPY . /src
ENTRYPOINT ["/bin/app"]
CMD run --fast
"#,
    );
    t.ok(&["build", "--progress", "plain", "-t", "app:1.0", &ctx]);
    let cfg = skopeo_config(&format!("oci:{}:app:1.0", t.root().display()));
    let c = &cfg["config"];
    assert_eq!(cfg["author"], "someone@example.com");
    assert_eq!(c["Labels"]["a"], "b");
    assert_eq!(c["Labels"]["c d"], "e f");
    let env: Vec<&str> = c["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(env.contains(&"PATH=/usr/bin:/bin"), "{env:?}");
    assert!(env.contains(&"GREETING=hi there"), "{env:?}");
    assert!(env.contains(&"LEGACY=old form value"), "{env:?}");
    assert_eq!(c["WorkingDir"], "/app");
    assert_eq!(c["User"], "1000:1000");
    for p in ["80/tcp", "443/udp", "8000/tcp", "8001/tcp"] {
        assert!(
            c["ExposedPorts"].get(p).is_some(),
            "{p} not exposed: {}",
            c["ExposedPorts"]
        );
    }
    assert!(c["Volumes"].get("/data").is_some());
    assert_eq!(c["StopSignal"], "SIGTERM");
    assert_eq!(
        c["Healthcheck"]["Test"],
        serde_json::json!(["CMD", "/bin/check"])
    );
    assert_eq!(c["Healthcheck"]["Interval"], 30_000_000_000i64);
    assert_eq!(c["Healthcheck"]["Timeout"], 5_000_000_000i64);
    assert_eq!(c["Healthcheck"]["Retries"], 3);
    assert_eq!(c["Shell"], serde_json::json!(["/bin/bash", "-c"]));
    assert_eq!(c["OnBuild"], serde_json::json!(["COPY . /src"]));
    assert_eq!(c["Entrypoint"], serde_json::json!(["/bin/app"]));
    // Shell-form CMD is wrapped in the SHELL in force.
    assert_eq!(
        c["Cmd"],
        serde_json::json!(["/bin/bash", "-c", "run --fast"])
    );
    // One history entry per step; only WORKDIR and COPY made layers.
    let history = cfg["history"].as_array().unwrap();
    let layers: Vec<&str> = history
        .iter()
        .filter(|h| h["empty_layer"].as_bool() != Some(true))
        .map(|h| h["created_by"].as_str().unwrap())
        .collect();
    assert_eq!(layers, ["WORKDIR /app", "COPY hello.txt . # buildkit"]);
    assert_eq!(cfg["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
    assert!(history.iter().all(|h| h.get("created_by").is_some()));
}

#[test]
fn copy_semantics_and_file_contents() {
    if !have_tool("umoci") {
        return;
    }
    let t = TestDir::new();
    t.write("ctx/a.txt", "A");
    t.write("ctx/b.txt", "B");
    t.write("ctx/dir/x/y.txt", "Y");
    t.write("ctx/dir/top.txt", "T");
    t.write("ctx/script.sh", "#!/bin/sh\n");
    std::fs::set_permissions(
        t.path().join("ctx/script.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let ctx = ctx_with(
        &t,
        "FROM scratch\n\
         COPY a.txt /single\n\
         COPY a.txt b.txt /multi/\n\
         COPY *.txt /glob/\n\
         COPY dir/ /contents/\n\
         COPY dir /contents2\n\
         WORKDIR /work\n\
         COPY a.txt rel/\n\
         COPY --chmod=600 b.txt /chmod.txt\n\
         COPY --chown=1234:5678 a.txt /owned.txt\n\
         COPY script.sh /bin/\n\
         COPY <<EOF /heredoc.txt\nline one\nline two\nEOF\n",
    );
    t.ok(&["build", "-t", "copy:1", &ctx]);
    let rootfs = umoci_unpack(&t, "copy:1");
    let read =
        |p: &str| std::fs::read_to_string(rootfs.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    assert_eq!(read("single"), "A");
    assert_eq!(read("multi/a.txt"), "A");
    assert_eq!(read("multi/b.txt"), "B");
    assert_eq!(read("glob/a.txt"), "A");
    assert_eq!(read("glob/b.txt"), "B");
    assert!(!rootfs.join("glob/dir").exists());
    assert_eq!(read("contents/top.txt"), "T");
    assert_eq!(read("contents/x/y.txt"), "Y");
    assert_eq!(read("contents2/x/y.txt"), "Y");
    assert!(
        !rootfs.join("contents/dir").exists(),
        "COPY dir/ copies the contents, not the dir"
    );
    assert_eq!(read("work/rel/a.txt"), "A");
    assert_eq!(read("heredoc.txt"), "line one\nline two\n");
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(rootfs.join("chmod.txt")).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o600);
    let m = std::fs::metadata(rootfs.join("bin/script.sh")).unwrap();
    assert_eq!(m.mode() & 0o777, 0o755);
    if support::is_root() {
        let m = std::fs::metadata(rootfs.join("owned.txt")).unwrap();
        assert_eq!((m.uid(), m.gid()), (1234, 5678));
        let m = std::fs::metadata(rootfs.join("single")).unwrap();
        assert_eq!(
            (m.uid(), m.gid()),
            (0, 0),
            "COPY without --chown gives root ownership"
        );
    }
}

#[test]
fn unchanged_rebuild_hits_every_step_and_writes_nothing() {
    let t = TestDir::new();
    t.write("ctx/a.txt", "A");
    t.write("ctx/src/one.txt", "1");
    t.write("ctx/src/two.txt", "2");
    let ctx = ctx_with(
        &t,
        "FROM scratch\nCOPY a.txt /\nENV X=1\nCOPY src/ /src/\nCMD [\"/a.txt\"]\n",
    );
    let m1 = t.path().join("m1.json");
    let m2 = t.path().join("m2.json");
    t.ok(&[
        "build",
        "-t",
        "c:1",
        "--metadata-file",
        m1.to_str().unwrap(),
        &ctx,
    ]);
    let blobs = blob_count(&t);
    t.ok(&[
        "build",
        "-t",
        "c:1",
        "--metadata-file",
        m2.to_str().unwrap(),
        &ctx,
    ]);
    let (a, b) = (metadata(&m1), metadata(&m2));
    assert_eq!(
        a["containerimage.digest"], b["containerimage.digest"],
        "same image digest"
    );
    assert_eq!(
        a["containerimage.config.digest"],
        b["containerimage.config.digest"]
    );
    let steps = b["rbuild.steps"].as_array().unwrap();
    assert!(!steps.is_empty());
    for s in steps {
        assert_eq!(
            s["cached"], true,
            "step not cached on an unchanged rebuild: {s}"
        );
    }
    assert_eq!(blob_count(&t), blobs, "an unchanged rebuild writes no blob");
    // --no-cache rebuilds every step, and still stores results.
    let m3 = t.path().join("m3.json");
    t.ok(&[
        "build",
        "--no-cache",
        "-t",
        "c:1",
        "--metadata-file",
        m3.to_str().unwrap(),
        &ctx,
    ]);
    let steps = metadata(&m3)["rbuild.steps"].as_array().unwrap().clone();
    assert!(
        steps
            .iter()
            .filter(|s| s["instruction"].as_str().unwrap().starts_with("COPY"))
            .all(|s| s["cached"] == false)
    );
}

#[test]
fn one_changed_file_rebuilds_only_from_its_copy() {
    let t = TestDir::new();
    t.write("ctx/first.txt", "first");
    t.write("ctx/second.txt", "second");
    let ctx = ctx_with(
        &t,
        "FROM scratch\nCOPY first.txt /\nCOPY second.txt /\nLABEL x=y\n",
    );
    t.ok(&["build", "-t", "c:1", &ctx]);
    t.write("ctx/second.txt", "second, changed");
    let m = t.path().join("m.json");
    t.ok(&[
        "build",
        "-t",
        "c:1",
        "--metadata-file",
        m.to_str().unwrap(),
        &ctx,
    ]);
    let steps = metadata(&m)["rbuild.steps"].as_array().unwrap().clone();
    let cached = |prefix: &str| {
        steps
            .iter()
            .find(|s| s["instruction"].as_str().unwrap().starts_with(prefix))
            .unwrap()["cached"]
            .clone()
    };
    assert_eq!(cached("COPY first.txt"), true);
    assert_eq!(cached("COPY second.txt"), false);
}

#[test]
fn same_inputs_same_digest_across_store_roots() {
    let t = TestDir::new();
    t.write("ctx/a.txt", "A");
    t.write("ctx/d/b.txt", "B");
    let ctx = ctx_with(&t, "FROM scratch\nCOPY . /app/\nENV A=1\nCMD [\"x\"]\n");
    let digest = |root: &str| {
        let m = t.path().join(format!("{root}.json"));
        let out = Command::new(support::rbuild_bin())
            .args([
                "--root",
                t.path().join(root).to_str().unwrap(),
                "build",
                "-t",
                "d:1",
            ])
            .args(["--metadata-file", m.to_str().unwrap(), &ctx])
            .env("SOURCE_DATE_EPOCH", "0")
            .output()
            .unwrap();
        assert_success(&out, &["build"]);
        metadata(&m)["containerimage.digest"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(digest("root-a"), digest("root-b"));
}

#[test]
fn multi_stage_copy_from_and_target() {
    if !have_tool("umoci") {
        return;
    }
    let t = TestDir::new();
    t.write("ctx/a.txt", "A");
    t.write("ctx/b.txt", "B");
    let ctx = ctx_with(
        &t,
        "FROM scratch AS one\nCOPY a.txt /from-one.txt\n\
         FROM scratch AS two\nCOPY b.txt /from-two.txt\n\
         FROM scratch AS unused\nCOPY missing-file /\n\
         FROM scratch\nCOPY --from=one /from-one.txt /x/\nCOPY --from=1 /from-two.txt /x/\n",
    );
    t.ok(&["build", "-t", "ms:1", &ctx]);
    let rootfs = umoci_unpack(&t, "ms:1");
    assert_eq!(
        std::fs::read_to_string(rootfs.join("x/from-one.txt")).unwrap(),
        "A"
    );
    assert_eq!(
        std::fs::read_to_string(rootfs.join("x/from-two.txt")).unwrap(),
        "B"
    );
    t.ok(&["build", "--target", "two", "-t", "ms:two", &ctx]);
    let rootfs = umoci_unpack(&t, "ms:two");
    assert!(rootfs.join("from-two.txt").exists());
    assert!(!rootfs.join("x").exists());
    let out = t.rbuild(&["build", "--target", "nope", &ctx]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"));
}

#[test]
fn dockerignore_is_honoured() {
    if !have_tool("umoci") {
        return;
    }
    let t = TestDir::new();
    for f in [
        "README.md",
        "docs/guide.md",
        "keep.txt",
        "logs/a.log",
        "logs/important.log",
        "node_modules/x/y.js",
        "src/tmp/z",
    ] {
        t.write(&format!("ctx/{f}"), f);
    }
    t.write(
        "ctx/.dockerignore",
        "# comment\n*.md\nlogs\n!logs/important.log\n**/tmp\nnode_modules\n",
    );
    let ctx = ctx_with(&t, "FROM scratch\nCOPY . /c/\n");
    t.ok(&["build", "-t", "ign:1", &ctx]);
    let rootfs = umoci_unpack(&t, "ign:1");
    let c = rootfs.join("c");
    assert!(!c.join("README.md").exists(), "*.md at the top is ignored");
    assert!(
        c.join("docs/guide.md").exists(),
        "*.md does not match below the top"
    );
    assert!(c.join("keep.txt").exists());
    assert!(!c.join("logs/a.log").exists());
    assert!(
        c.join("logs/important.log").exists(),
        "! re-includes inside an excluded dir"
    );
    assert!(!c.join("node_modules").exists());
    assert!(!c.join("src/tmp").exists());
}

#[test]
fn oci_and_docker_archives_are_read_by_skopeo() {
    if !have_tool("skopeo") {
        return;
    }
    let t = TestDir::new();
    t.write("ctx/a.txt", "A");
    let ctx = ctx_with(&t, "FROM scratch\nCOPY a.txt /\nCMD [\"/a.txt\"]\n");
    let oci = t.path().join("app-oci.tar");
    let docker = t.path().join("app-docker.tar");
    let dir = t.path().join("layout");
    t.ok(&[
        "build",
        "-t",
        "out:1",
        "-o",
        &format!("type=oci,dest={}", oci.display()),
        &ctx,
    ]);
    t.ok(&[
        "build",
        "-t",
        "out:1",
        "-o",
        &format!("type=docker,dest={}", docker.display()),
        &ctx,
    ]);
    t.ok(&[
        "build",
        "-t",
        "out:1",
        "-o",
        &format!("type=oci,dest={},tar=false", dir.display()),
        &ctx,
    ]);
    let a = skopeo_config(&format!("oci-archive:{}", oci.display()));
    assert_eq!(a["config"]["Cmd"], serde_json::json!(["/a.txt"]));
    let b = skopeo_config(&format!("docker-archive:{}", docker.display()));
    assert_eq!(b["config"]["Cmd"], serde_json::json!(["/a.txt"]));
    assert_eq!(a["rootfs"]["diff_ids"], b["rootfs"]["diff_ids"]);
    let c = skopeo_inspect(&format!("oci:{}", dir.display()));
    assert_eq!(c["Layers"].as_array().unwrap().len(), 1);
    // skopeo can copy the OCI archive into a fresh layout: every blob verifies.
    let copy = t.path().join("copied");
    let out = Command::new("skopeo")
        .args([
            "copy",
            &format!("oci-archive:{}", oci.display()),
            &format!("oci:{}:x", copy.display()),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn errors_point_at_the_dockerfile_line() {
    let t = TestDir::new();
    t.write("ctx/a.txt", "A");
    let ctx = ctx_with(&t, "FROM scratch\nCOPY a.txt /\nCOPPY a.txt /b\n");
    let out = t.rbuild(&["build", &ctx]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown instruction"), "{err}");
    assert!(err.contains("Dockerfile:3"), "{err}");
    assert!(err.contains("COPPY a.txt /b"), "{err}");
    assert!(err.contains('^'), "{err}");

    let ctx = ctx_with(&t, "FROM scratch\nCOPY nothing-here.txt /\n");
    let out = t.rbuild(&["build", &ctx]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nothing-here.txt"), "{err}");
    assert!(err.contains("Dockerfile:2"), "{err}");
}

#[test]
fn sources_outside_the_context_are_refused() {
    let t = TestDir::new();
    t.write("secret.txt", "outside");
    t.write("ctx/a.txt", "A");
    std::os::unix::fs::symlink(t.path().join("secret.txt"), t.path().join("ctx/link")).unwrap();
    let ctx = ctx_with(&t, "FROM scratch\nCOPY ../secret.txt /\n");
    let out = t.rbuild(&["build", &ctx]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("secret.txt"));
    let ctx = ctx_with(&t, "FROM scratch\nCOPY link /x\n");
    let out = t.rbuild(&["build", &ctx]);
    assert!(
        !out.status.success(),
        "a symlink leading out of the context is not followed"
    );
}

#[test]
fn missing_context_or_dockerfile_is_a_clear_error() {
    let t = TestDir::new();
    let out = t.rbuild(&["build", t.path().join("nope").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"));
    std::fs::create_dir_all(t.path().join("empty")).unwrap();
    let out = t.rbuild(&["build", t.path().join("empty").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Dockerfile"));
}

#[test]
fn shorthand_and_quiet_print_the_image_id() {
    let t = TestDir::new();
    t.write("ctx/a.txt", "A");
    let ctx = ctx_with(&t, "FROM scratch\nCOPY a.txt /\n");
    let out = Command::new(support::rbuild_bin())
        .args([
            "--root",
            t.root().to_str().unwrap(),
            "-q",
            "-t",
            "q:1",
            &ctx,
        ])
        .output()
        .unwrap();
    assert_success(&out, &["-q"]);
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id:?}");
    let inspect = t.ok(&["inspect", "q:1"]);
    let cfg: Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(cfg["rootfs"]["diff_ids"].as_array().unwrap().len(), 1);
}

#[test]
fn two_builds_on_one_store_at_once() {
    let t = TestDir::new();
    for i in 0..50 {
        t.write(&format!("ctx/f{i}.txt"), format!("{i}"));
    }
    let ctx = ctx_with(&t, "FROM scratch\nCOPY . /app/\n");
    let spawn = |tag: &str| t.cmd(&["build", "-t", tag, &ctx]).spawn().unwrap();
    let (mut a, mut b) = (spawn("p:a"), spawn("p:b"));
    assert!(a.wait().unwrap().success());
    assert!(b.wait().unwrap().success());
    let images = t.ok(&["images", "--format", "json"]);
    assert!(
        images.contains("p:a") || images.contains("\"a\""),
        "{images}"
    );
}

/// Regression: a directory whose files come from several layers of the source stage is
/// copied whole by `COPY --from` (each file is read from the layer that holds it).
#[test]
fn copy_from_a_directory_spread_over_layers() {
    if !have_tool("umoci") {
        return;
    }
    let t = TestDir::new();
    t.write("ctx/one/a.txt", "A");
    t.write("ctx/two/b.txt", "B");
    let ctx = ctx_with(
        &t,
        "FROM scratch AS parts\nCOPY one/ /dir/\nCOPY two/ /dir/\n\
         FROM scratch\nCOPY --from=parts /dir/ /merged/\n",
    );
    t.ok(&["build", "-t", "spread:1", &ctx]);
    let rootfs = umoci_unpack(&t, "spread:1");
    assert_eq!(
        std::fs::read_to_string(rootfs.join("merged/a.txt")).unwrap(),
        "A"
    );
    assert_eq!(
        std::fs::read_to_string(rootfs.join("merged/b.txt")).unwrap(),
        "B"
    );
}

/// Everything rbuild writes (store index, manifest, config) parses with `oci-spec`, an
/// implementation of the OCI image spec nobody here wrote.
#[test]
fn image_json_parses_with_oci_spec() {
    use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest};
    let t = TestDir::new();
    t.write("ctx/a.txt", "A");
    let ctx = ctx_with(
        &t,
        "FROM scratch\nCOPY a.txt /\nENV A=1\nHEALTHCHECK CMD [\"/a\"]\nCMD [\"/a.txt\"]\n",
    );
    let m = t.path().join("m.json");
    t.ok(&[
        "build",
        "-t",
        "spec:1",
        "--metadata-file",
        m.to_str().unwrap(),
        &ctx,
    ]);
    let meta = metadata(&m);
    let blob = |d: &str| {
        t.root()
            .join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    };
    let index = ImageIndex::from_file(t.root().join("index.json")).unwrap();
    assert_eq!(index.manifests().len(), 1);
    let manifest =
        ImageManifest::from_file(blob(meta["containerimage.digest"].as_str().unwrap())).unwrap();
    assert_eq!(manifest.layers().len(), 1);
    let config =
        ImageConfiguration::from_file(blob(meta["containerimage.config.digest"].as_str().unwrap()))
            .unwrap();
    assert_eq!(config.rootfs().diff_ids().len(), 1);
    assert_eq!(
        config.config().as_ref().unwrap().cmd().as_deref(),
        Some(&["/a.txt".to_string()][..])
    );
    assert_eq!(
        manifest.config().digest().to_string(),
        meta["containerimage.config.digest"].as_str().unwrap()
    );
}

/// A miss says why, in one line: the changed file, the changed build arg.
#[test]
fn misses_are_explained() {
    let t = TestDir::new();
    t.write("ctx/src/a.txt", "a");
    t.write("ctx/src/b.txt", "b");
    let ctx = ctx_with(
        &t,
        "FROM scratch\nARG V=1\nCOPY src/ /src/\nCOPY --chown=${V} src/a.txt /again\n",
    );
    t.ok(&["build", "--progress", "plain", &ctx]);
    t.write("ctx/src/b.txt", "b, changed");
    let out = t.rbuild(&["build", "--progress", "plain", &ctx]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cache miss: file src/b.txt changed"), "{err}");
    let out = t.rbuild(&["build", "--progress", "plain", "--build-arg", "V=2", &ctx]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cache miss: build arg V changed (1 → 2)"),
        "{err}"
    );
}

/// `rbuild build -` reads a Dockerfile (empty context) or a context tarball from stdin.
#[test]
fn context_from_standard_input() {
    use std::io::Write as _;
    let t = TestDir::new();
    let feed = |input: &[u8], tag: &str| {
        let mut child = t
            .cmd(&["build", "-q", "-t", tag, "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        let out = child.wait_with_output().unwrap();
        assert_success(&out, &["build", "-"]);
    };
    feed(b"FROM scratch\nLABEL from=stdin\n", "stdin:1");
    let cfg: Value = serde_json::from_str(&t.ok(&["inspect", "stdin:1"])).unwrap();
    assert_eq!(cfg["config"]["Labels"]["from"], "stdin");
    t.write("tarctx/Dockerfile", "FROM scratch\nCOPY hello.txt /\n");
    t.write("tarctx/hello.txt", "hi");
    let tar = Command::new("tar")
        .arg("-cz")
        .arg("-C")
        .arg(t.path().join("tarctx"))
        .arg(".")
        .output()
        .unwrap();
    assert!(tar.status.success());
    feed(&tar.stdout, "stdin:2");
    let cfg: Value = serde_json::from_str(&t.ok(&["inspect", "stdin:2"])).unwrap();
    assert_eq!(cfg["rootfs"]["diff_ids"].as_array().unwrap().len(), 1);
}

#[test]
fn workdir_layers_hold_the_directories_as_docker_writes_them() {
    let t = TestDir::new();
    let ctx = ctx_with(
        &t,
        "FROM scratch\nWORKDIR /w\nWORKDIR /w/new/deeper\nWORKDIR /w\n",
    );
    let out = t.path().join("img.tar");
    t.ok(&[
        "build",
        "-o",
        &format!("type=docker,dest={}", out.display()),
        &ctx,
    ]);
    let unpacked = t.path().join("img");
    std::fs::create_dir_all(&unpacked).unwrap();
    tar::Archive::new(std::fs::File::open(&out).unwrap())
        .unpack(&unpacked)
        .unwrap();
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(unpacked.join("manifest.json")).unwrap()).unwrap();
    let names = |layer: &Value| -> Vec<String> {
        let file = std::fs::File::open(unpacked.join(layer.as_str().unwrap())).unwrap();
        let mut tar = tar::Archive::new(rbuild::layer::decompress(file).unwrap());
        tar.entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect()
    };
    let layers = manifest[0]["Layers"].as_array().unwrap();
    // An existing WORKDIR makes an empty layer, not none (as `docker build` records it).
    assert_eq!(layers.len(), 3, "{manifest}");
    assert_eq!(names(&layers[0]), ["w/"]);
    // The existing ancestor is in the layer with the new directories, as an overlay
    // diff (and so `docker build`) has it.
    assert_eq!(names(&layers[1]), ["w/", "w/new/", "w/new/deeper/"]);
    assert!(names(&layers[2]).is_empty());
}
