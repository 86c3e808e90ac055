//! The image config JSON, with Docker's extra fields (`Healthcheck`, `OnBuild`, `Shell`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

/// An empty JSON object, as `ExposedPorts` and `Volumes` values are written (`{}`).
pub type EmptyObject = BTreeMap<String, serde_json::Value>;

/// The image config (`application/vnd.oci.image.config.v1+json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ImageConfig {
    /// Creation time, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Author (MAINTAINER).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// CPU architecture.
    #[serde(default)]
    pub architecture: String,
    /// Operating system.
    #[serde(default)]
    pub os: String,
    /// OS version.
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// CPU variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// The runtime config.
    #[serde(default)]
    pub config: ContainerConfig,
    /// The layers' diff IDs.
    #[serde(default)]
    pub rootfs: RootFs,
    /// One entry per Dockerfile step.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
}

/// The `config` object: what a container of this image runs with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    /// USER.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// EXPOSE, as `"80/tcp": {}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, EmptyObject>>,
    /// ENV, as `KEY=value`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    /// ENTRYPOINT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// CMD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// VOLUME, as `"/data": {}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, EmptyObject>>,
    /// WORKDIR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// LABEL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// STOPSIGNAL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// Set by Docker for Windows images; kept when a base image has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args_escaped: Option<bool>,
    /// HEALTHCHECK (Docker extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    /// ONBUILD triggers (Docker extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
    /// SHELL (Docker extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
}

/// Docker's health check config; durations are Go `time.Duration`s (nanoseconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Healthcheck {
    /// `["NONE"]`, `["CMD", args…]` or `["CMD-SHELL", command]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<Vec<String>>,
    /// `--interval`, ns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<i64>,
    /// `--timeout`, ns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    /// `--start-period`, ns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<i64>,
    /// `--start-interval`, ns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<i64>,
    /// `--retries`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
}

/// `rootfs`: the layers' uncompressed digests, base first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Diff IDs.
    pub diff_ids: Vec<Digest>,
}

impl Default for RootFs {
    fn default() -> Self {
        RootFs {
            kind: "layers".to_string(),
            diff_ids: Vec::new(),
        }
    }
}

/// One history entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct History {
    /// When the step ran, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The instruction (`RUN /bin/sh -c …`, `COPY . /app # buildkit`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Comment (`buildkit.dockerfile.v0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// True when the step made no layer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

impl ImageConfig {
    /// Canonical JSON bytes (what gets hashed and stored).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("config serializes")
    }

    /// The value of `key` in `Env`, if set.
    pub fn env_get(&self, key: &str) -> Option<&str> {
        self.config
            .env
            .as_ref()?
            .iter()
            .find_map(|kv| match kv.split_once('=') {
                Some((k, v)) if k == key => Some(v),
                None if kv == key => Some(""),
                _ => None,
            })
    }

    /// Sets `key=value` in `Env`, replacing an existing entry in place (as Docker does).
    pub fn env_set(&mut self, key: &str, value: &str) {
        let env = self.config.env.get_or_insert_with(Vec::new);
        let entry = format!("{key}={value}");
        match env
            .iter_mut()
            .find(|kv| kv.split_once('=').map_or(kv.as_str(), |(k, _)| k) == key)
        {
            Some(slot) => *slot = entry,
            None => env.push(entry),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_field_names() {
        let mut c = ImageConfig {
            architecture: "amd64".into(),
            os: "linux".into(),
            ..Default::default()
        };
        c.config.healthcheck = Some(Healthcheck {
            test: Some(vec!["NONE".into()]),
            ..Default::default()
        });
        c.config.on_build = Some(vec!["RUN x".into()]);
        c.config.shell = Some(vec!["/bin/bash".into(), "-c".into()]);
        c.config.working_dir = Some("/app".into());
        let s = String::from_utf8(c.to_bytes()).unwrap();
        for needle in [
            r#""Healthcheck":{"Test":["NONE"]}"#,
            r#""OnBuild":["RUN x"]"#,
            r#""Shell":["/bin/bash","-c"]"#,
            r#""WorkingDir":"/app""#,
            r#""rootfs":{"type":"layers","diff_ids":[]}"#,
        ] {
            assert!(s.contains(needle), "{needle} not in {s}");
        }
    }

    #[test]
    fn env_set_replaces_in_place() {
        let mut c = ImageConfig::default();
        c.env_set("PATH", "/bin");
        c.env_set("A", "1");
        c.env_set("PATH", "/usr/bin");
        assert_eq!(c.config.env.as_deref().unwrap(), ["PATH=/usr/bin", "A=1"]);
        assert_eq!(c.env_get("A"), Some("1"));
        assert_eq!(c.env_get("B"), None);
    }
}
