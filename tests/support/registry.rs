//! Test support: a real `docker-registry` on 127.0.0.1, busybox test images, skopeo.
//!
//! Include it from an integration test with
//! `#[path = "support/registry.rs"] mod registry_support;`. Every server binds
//! 127.0.0.1 on a free port with its own temp storage and is killed by PID on drop.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::{Digest as _, Sha256};

/// True when `tool` is on the PATH. Otherwise: under `CI=true` the test fails; elsewhere
/// it prints why it skips and returns false.
pub fn require(tools: &[&str]) -> bool {
    for tool in tools {
        let found = std::env::var_os("PATH")
            .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(tool).is_file()));
        if !found {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{tool} is required under CI but is not installed");
            }
            eprintln!("skipping: {tool} is not installed");
            return false;
        }
    }
    true
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// How a test registry authenticates and whether it speaks TLS.
#[derive(Default, Clone)]
pub struct RegistryConfig {
    /// `(user, password)` pairs for htpasswd basic auth.
    pub htpasswd: Vec<(String, String)>,
    /// `(certificate, key)` PEM files to serve TLS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Token auth: `(realm URL, service, issuer, root cert bundle)`.
    pub token: Option<(String, String, String, PathBuf)>,
}

/// A running `docker-registry`, killed on drop.
pub struct Registry {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub host: String,
    /// The port.
    pub port: u16,
    /// Its storage and config.
    pub dir: tempfile::TempDir,
}

impl Registry {
    /// Starts a plain-HTTP registry without auth.
    pub fn start() -> Registry {
        Registry::start_with(&RegistryConfig::default())
    }

    /// Starts a registry with `config`, waiting until it answers.
    pub fn start_with(config: &RegistryConfig) -> Registry {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage).expect("storage dir");
        let mut yaml = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: rbuild-test-secret\n",
            storage.display()
        );
        if let Some((cert, key)) = &config.tls {
            yaml.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            ));
        }
        if !config.htpasswd.is_empty() {
            let file = dir.path().join("htpasswd");
            let mut lines = String::new();
            for (u, p) in &config.htpasswd {
                let hash = bcrypt::hash(p, 5).expect("bcrypt");
                lines.push_str(&format!("{u}:{hash}\n"));
            }
            std::fs::write(&file, lines).expect("htpasswd");
            yaml.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: basic-realm\n    path: {}\n",
                file.display()
            ));
        } else if let Some((realm, service, issuer, bundle)) = &config.token {
            yaml.push_str(&format!(
                "auth:\n  token:\n    realm: {realm}\n    service: {service}\n    issuer: {issuer}\n    rootcertbundle: {}\n",
                bundle.display()
            ));
        }
        let cfg = dir.path().join("config.yml");
        std::fs::write(&cfg, yaml).expect("registry config");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry");
        let reg = Registry {
            child,
            host: format!("127.0.0.1:{port}"),
            port,
            dir,
        };
        reg.wait_ready();
        reg
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("docker-registry did not start on {}", self.host);
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a command; panics with its output when it fails. Returns stdout.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `skopeo copy [--all] oci:LAYOUT:TAG docker://DEST` over plain HTTP (or with `extra`).
pub fn skopeo_copy_to(layout: &Path, tag: &str, dest: &str, extra: &[&str]) {
    let mut cmd = Command::new("skopeo");
    cmd.args(["copy", "--quiet", "--all"])
        .args(extra)
        .arg(format!("oci:{}:{tag}", layout.display()))
        .arg(format!("docker://{dest}"));
    if !extra
        .iter()
        .any(|a| a.starts_with("--dest-tls-verify") || a.starts_with("--dest-cert-dir"))
    {
        cmd.arg("--dest-tls-verify=false");
    }
    run(&mut cmd);
}

/// The manifest digest skopeo sees for `docker://REF` (plain HTTP).
pub fn skopeo_digest(reference: &str) -> String {
    run(Command::new("skopeo").args([
        "inspect",
        "--tls-verify=false",
        "--format",
        "{{.Digest}}",
        &format!("docker://{reference}"),
    ]))
    .trim()
    .to_string()
}

/// The raw manifest skopeo fetches for `docker://REF` (plain HTTP).
pub fn skopeo_raw(reference: &str) -> String {
    run(Command::new("skopeo").args([
        "inspect",
        "--tls-verify=false",
        "--raw",
        &format!("docker://{reference}"),
    ]))
}

/// sha256 of bytes as `sha256:<hex>`.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// An OCI layout being written by hand.
pub struct Layout {
    /// The layout directory.
    pub dir: PathBuf,
    index: Vec<serde_json::Value>,
}

impl Layout {
    /// An empty layout in `dir`.
    pub fn new(dir: &Path) -> Layout {
        std::fs::create_dir_all(dir.join("blobs/sha256")).expect("layout dir");
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)
            .expect("oci-layout");
        Layout {
            dir: dir.to_path_buf(),
            index: Vec::new(),
        }
    }

    /// Writes a blob; returns `(digest, size)`.
    pub fn blob(&self, bytes: &[u8]) -> (String, u64) {
        let d = sha256(bytes);
        let hex = d.trim_start_matches("sha256:");
        std::fs::write(self.dir.join("blobs/sha256").join(hex), bytes).expect("blob");
        (d, bytes.len() as u64)
    }

    /// Writes an image (config for `arch`, the given gzip layers); returns the manifest
    /// descriptor JSON (with its platform).
    pub fn image(&self, arch: &str, layers: &[Vec<u8>], diff_ids: &[String]) -> serde_json::Value {
        let config = serde_json::json!({
            "architecture": arch,
            "os": "linux",
            "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created_by": "rbuild test"}],
        });
        let (cd, cs) = self.blob(&serde_json::to_vec(&config).expect("json"));
        let layer_descs: Vec<serde_json::Value> = layers
            .iter()
            .map(|l| {
                let (d, s) = self.blob(l);
                serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": s})
            })
            .collect();
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
            "layers": layer_descs,
        });
        let (md, ms) = self.blob(&serde_json::to_vec(&manifest).expect("json"));
        serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": md, "size": ms,
            "platform": {"architecture": arch, "os": "linux"},
        })
    }

    /// Writes an index of `manifests`; returns its descriptor JSON.
    pub fn index_of(&self, manifests: &[serde_json::Value]) -> serde_json::Value {
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        });
        let (d, s) = self.blob(&serde_json::to_vec(&index).expect("json"));
        serde_json::json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": d, "size": s})
    }

    /// Names `desc` `tag` in the layout's index.json.
    pub fn tag(&mut self, tag: &str, desc: &serde_json::Value) {
        let mut d = desc.clone();
        d["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": tag});
        self.index.push(d);
        let index = serde_json::json!({"schemaVersion": 2, "manifests": self.index});
        std::fs::write(
            self.dir.join("index.json"),
            serde_json::to_vec(&index).expect("json"),
        )
        .expect("index.json");
    }
}

/// A busybox root filesystem layer from `/bin/busybox`: `(gzip bytes, diff id)`.
/// Applet symlinks, `/etc/passwd` and `/etc/group`; fixed timestamps.
pub fn busybox_layer() -> (Vec<u8>, String) {
    let busybox = std::fs::read("/bin/busybox").expect("/bin/busybox (busybox-static)");
    let mut files: Vec<(String, Vec<u8>, u32)> = vec![
        ("bin/busybox".into(), busybox, 0o755),
        (
            "etc/passwd".into(),
            b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
                .to_vec(),
            0o644,
        ),
        (
            "etc/group".into(),
            b"root:x:0:\nnogroup:x:65534:\n".to_vec(),
            0o644,
        ),
    ];
    files.sort();
    let applets = [
        "sh", "ls", "cat", "echo", "env", "true", "false", "mkdir", "rm", "cp",
    ];
    let mut tar = tar::Builder::new(Vec::new());
    let dir = |tar: &mut tar::Builder<Vec<u8>>, name: &str| {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_mtime(0);
        h.set_size(0);
        tar.append_data(&mut h, name, std::io::empty())
            .expect("tar dir");
    };
    for d in ["bin/", "etc/", "root/", "tmp/"] {
        dir(&mut tar, d);
    }
    for (name, data, mode) in &files {
        let mut h = tar::Header::new_ustar();
        h.set_mode(*mode);
        h.set_mtime(0);
        h.set_size(data.len() as u64);
        tar.append_data(&mut h, name, data.as_slice())
            .expect("tar file");
    }
    for a in applets {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_mtime(0);
        h.set_size(0);
        tar.append_link(&mut h, format!("bin/{a}"), "busybox")
            .expect("tar link");
    }
    let raw = tar.into_inner().expect("tar");
    let diff_id = sha256(&raw);
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(&raw).expect("gzip");
    (gz.finish().expect("gzip"), diff_id)
}

/// A small extra layer with one file: `(gzip bytes, diff id)`.
pub fn file_layer(name: &str, content: &[u8]) -> (Vec<u8>, String) {
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_size(content.len() as u64);
    tar.append_data(&mut h, name, content).expect("tar file");
    let raw = tar.into_inner().expect("tar");
    let diff_id = sha256(&raw);
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(&raw).expect("gzip");
    (gz.finish().expect("gzip"), diff_id)
}

/// Pushes a busybox image to `host/repo:tag` with skopeo; returns its manifest digest.
pub fn seed_busybox(host: &str, repo: &str, tag: &str, extra: &[&str]) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut layout = Layout::new(dir.path());
    let (layer, diff) = busybox_layer();
    let (extra_layer, extra_diff) = file_layer("hello.txt", b"hello from rbuild\n");
    let desc = layout.image("amd64", &[layer, extra_layer], &[diff, extra_diff]);
    layout.tag(tag, &desc);
    skopeo_copy_to(dir.path(), tag, &format!("{host}/{repo}:{tag}"), extra);
    desc["digest"].as_str().expect("digest").to_string()
}

/// Pushes a two-platform (amd64, arm64) busybox index; returns
/// `(index digest, amd64 manifest digest, arm64 manifest digest)`.
pub fn seed_multi(host: &str, repo: &str, tag: &str) -> (String, String, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut layout = Layout::new(dir.path());
    let (layer, diff) = busybox_layer();
    let (a, ad) = file_layer("arch", b"amd64\n");
    let (b, bd) = file_layer("arch", b"arm64\n");
    let amd = layout.image("amd64", &[layer.clone(), a], &[diff.clone(), ad]);
    let mut arm = layout.image("arm64", &[layer, b], &[diff, bd]);
    arm["platform"]["variant"] = serde_json::json!("v8");
    let index = layout.index_of(&[amd.clone(), arm.clone()]);
    layout.tag(tag, &index);
    skopeo_copy_to(dir.path(), tag, &format!("{host}/{repo}:{tag}"), &[]);
    let s = |v: &serde_json::Value| v["digest"].as_str().expect("digest").to_string();
    (s(&index), s(&amd), s(&arm))
}

/// A CA and a server certificate for 127.0.0.1 made with openssl:
/// `(ca.pem, server.pem, server.key)` in `dir`.
pub fn make_tls(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ca_key = dir.join("ca.key");
    let ca = dir.join("ca.pem");
    let key = dir.join("server.key");
    let csr = dir.join("server.csr");
    let cert = dir.join("server.pem");
    let ext = dir.join("ext.cnf");
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext.cnf");
    let p = |x: &Path| x.display().to_string();
    run(Command::new("openssl").args([
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        &p(&ca_key),
        "-out",
        &p(&ca),
        "-days",
        "2",
        "-subj",
        "/CN=rbuild test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]));
    run(Command::new("openssl").args([
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        &p(&key),
        "-out",
        &p(&csr),
        "-subj",
        "/CN=127.0.0.1",
    ]));
    run(Command::new("openssl").args([
        "x509",
        "-req",
        "-in",
        &p(&csr),
        "-CA",
        &p(&ca),
        "-CAkey",
        &p(&ca_key),
        "-CAcreateserial",
        "-out",
        &p(&cert),
        "-days",
        "2",
        "-extfile",
        &p(&ext),
    ]));
    (ca, cert, key)
}

/// Sends one raw HTTP/1.1 request to 127.0.0.1:PORT and returns the whole response.
pub fn raw_http(port: u16, request: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.write_all(request.as_bytes()).expect("write");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}
