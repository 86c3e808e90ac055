//! The state of a stage being planned (BuildKit's `dispatchState`): its runtime config,
//! the build-time environment (base image env, ENV and ARG values), which values came from
//! ARGs, and the ARGs in scope.

use std::collections::BTreeSet;

use crate::image::{ContainerConfig, ImageConfig, Platform};

/// Docker's default PATH for Linux images.
pub(crate) const DEFAULT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The predefined proxy args: usable without ARG, kept out of history and cache keys.
pub(crate) const PROXY_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// A stage being planned (BuildKit's `dispatchState`).
#[derive(Debug, Clone)]
pub(crate) struct StageState {
    pub config: ContainerConfig,
    pub author: Option<String>,
    pub platform: Platform,
    /// The build-time environment: base image env, ENV and ARG values, in order.
    pub env: Vec<(String, String)>,
    /// Keys whose value in `env` was last set by an ARG.
    pub arg_keys: BTreeSet<String>,
    /// ARGs declared in scope (this stage and the stages it is built on).
    pub declared: Vec<String>,
    /// CMD given in this stage (so ENTRYPOINT keeps it).
    pub cmd_set: bool,
}

pub(crate) fn env_set(list: &mut Vec<(String, String)>, k: &str, v: &str) {
    match list.iter_mut().find(|(key, _)| key == k) {
        Some(slot) => slot.1 = v.to_string(),
        None => list.push((k.to_string(), v.to_string())),
    }
}

pub(crate) fn config_env_set(c: &mut ContainerConfig, k: &str, v: &str) {
    let env = c.env.get_or_insert_with(Vec::new);
    let entry = format!("{k}={v}");
    match env
        .iter_mut()
        .find(|kv| kv.split_once('=').map_or(kv.as_str(), |(key, _)| key) == k)
    {
        Some(slot) => *slot = entry,
        None => env.push(entry),
    }
}

impl StageState {
    /// A stage from an image config (or scratch, with an empty one).
    pub(crate) fn from_image(base: &ImageConfig, platform: Platform) -> StageState {
        let mut config = base.config.clone();
        let has_path = config
            .env
            .iter()
            .flatten()
            .any(|kv| kv.split_once('=').map_or(kv.as_str(), |(k, _)| k) == "PATH");
        if !has_path && platform.os != "windows" {
            config
                .env
                .get_or_insert_with(Vec::new)
                .push(format!("PATH={DEFAULT_PATH}"));
        }
        let env = config
            .env
            .iter()
            .flatten()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (kv.clone(), String::new()),
            })
            .collect();
        StageState {
            config,
            author: base.author.clone(),
            platform,
            env,
            arg_keys: BTreeSet::new(),
            declared: Vec::new(),
            cmd_set: false,
        }
    }

    /// A stage built on an earlier stage: its config (without ONBUILD triggers), build env
    /// and declared ARGs carry over.
    pub(crate) fn from_stage(parent: &StageState) -> StageState {
        let mut s = parent.clone();
        s.config.on_build = None;
        s.cmd_set = false;
        s
    }

    /// The working directory RUN and relative paths use.
    pub(crate) fn workdir(&self) -> &str {
        self.config
            .working_dir
            .as_deref()
            .filter(|w| !w.is_empty())
            .unwrap_or("/")
    }

    /// The shell that wraps shell forms.
    pub(crate) fn shell(&self) -> Vec<String> {
        match &self.config.shell {
            Some(s) if !s.is_empty() => s.clone(),
            _ => vec!["/bin/sh".to_string(), "-c".to_string()],
        }
    }

    /// The final image config of the stage.
    pub(crate) fn image_config(&self) -> ImageConfig {
        ImageConfig {
            author: self.author.clone(),
            architecture: self.platform.architecture.clone(),
            os: self.platform.os.clone(),
            variant: self.platform.variant.clone(),
            os_version: self.platform.os_version.clone(),
            config: self.config.clone(),
            ..ImageConfig::default()
        }
    }
}
