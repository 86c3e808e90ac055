//! Registry tests against a real `docker-registry` (Debian's distribution 2.x), seeded
//! and checked with skopeo, with a fault-injecting proxy for the failure paths.

#[path = "support/proxy.rs"]
mod proxy;
#[path = "support/registry.rs"]
mod registry_support;
#[path = "support/token.rs"]
mod token;

mod registry {
    mod auth;
    mod faults;
    mod pull;
    mod push;
}

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

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).expect("read json")).expect("json")
}
