//! The Docker client config file (`~/.docker/config.json`): where `docker login` keeps
//! credentials, so rbuild and Docker share logins.
//!
//! Only `auths`, `credsStore` and `credHelpers` are interpreted; every other key is kept
//! as it was when the file is rewritten.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value};

use super::helper;
use crate::fsutil::AtomicFile;
use crate::registry::error::RegistryError;
use crate::registry::reference::{DOCKER_HUB, DOCKER_HUB_CONFIG_KEY, normalize_registry};

/// A user's credentials for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password or access token.
    pub password: String,
    /// An OAuth refresh token (`identitytoken`), used instead of the password when set.
    pub identity_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The Docker config file, loaded.
#[derive(Debug, Clone)]
pub struct DockerConfig {
    path: PathBuf,
    root: Map<String, Value>,
}

impl DockerConfig {
    /// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
    pub fn default_path() -> PathBuf {
        if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
            return PathBuf::from(dir).join("config.json");
        }
        dirs::home_dir()
            .unwrap_or_else(|| PathBuf::from("."))
            .join(".docker/config.json")
    }

    /// Loads `path` (a missing file is an empty config).
    pub fn load(path: &Path) -> Result<DockerConfig, RegistryError> {
        let root = match std::fs::read(path) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Map::new(),
            Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(m)) => m,
                Ok(_) => return Err(bad(path, "not a JSON object".into())),
                Err(e) => return Err(bad(path, format!("invalid JSON: {e}"))),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
            Err(e) => return Err(RegistryError::io(path, e)),
        };
        Ok(DockerConfig {
            path: path.to_path_buf(),
            root,
        })
    }

    /// The file this config was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The credential helper for `registry` (`credHelpers`, else `credsStore`).
    pub fn helper_for(&self, registry: &str) -> Option<String> {
        let registry = normalize_registry(registry);
        if let Some(Value::Object(h)) = self.root.get("credHelpers") {
            for (k, v) in h {
                if normalize_registry(k) == registry {
                    return v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
                }
            }
        }
        self.creds_store()
    }

    /// The global credential store (`credsStore`), if configured.
    pub fn creds_store(&self) -> Option<String> {
        self.root
            .get("credsStore")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    /// The credentials for `registry` (`docker.io`, `localhost:5000`), if any.
    pub fn credentials(&self, registry: &str) -> Result<Option<Credentials>, RegistryError> {
        let registry = normalize_registry(registry);
        if let Some(h) = self.helper_for(&registry) {
            if let Some(c) = helper::get(&h, &server_key(&registry))? {
                return Ok(Some(c));
            }
        }
        let Some(Value::Object(auths)) = self.root.get("auths") else {
            return Ok(None);
        };
        let entry = auths
            .iter()
            .find(|(k, _)| normalize_registry(k) == registry)
            .map(|(_, v)| v);
        let Some(Value::Object(e)) = entry else {
            return Ok(None);
        };
        let field = |k: &str| e.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
        let identity_token = field("identitytoken").map(str::to_string);
        let (username, password) = match field("auth") {
            Some(a) => {
                let decoded = BASE64
                    .decode(a.trim())
                    .ok()
                    .and_then(|d| String::from_utf8(d).ok())
                    .ok_or_else(|| {
                        bad(&self.path, format!("auths.{registry}.auth is not base64"))
                    })?;
                match decoded.split_once(':') {
                    Some((u, p)) => (u.to_string(), p.to_string()),
                    None => {
                        return Err(bad(
                            &self.path,
                            format!("auths.{registry}.auth is not base64 of user:password"),
                        ));
                    }
                }
            }
            None => (
                field("username").unwrap_or_default().to_string(),
                field("password").unwrap_or_default().to_string(),
            ),
        };
        if username.is_empty() && password.is_empty() && identity_token.is_none() {
            return Ok(None);
        }
        Ok(Some(Credentials {
            username,
            password,
            identity_token,
        }))
    }

    /// Records credentials for `registry`: through the credential store when one is
    /// configured (leaving an empty `auths` entry, as Docker does), else as base64 `auth`.
    pub fn store(&mut self, registry: &str, creds: &Credentials) -> Result<(), RegistryError> {
        let key = server_key(&normalize_registry(registry));
        let auths = self.auths_mut();
        auths.retain(|k, _| normalize_registry(k) != normalize_registry(&key));
        let entry = match self.helper_for(registry) {
            Some(h) => {
                helper::store(&h, &key, creds)?;
                Map::new()
            }
            None => {
                let mut e = Map::new();
                let auth = BASE64.encode(format!("{}:{}", creds.username, creds.password));
                e.insert("auth".into(), Value::String(auth));
                e
            }
        };
        self.auths_mut().insert(key, Value::Object(entry));
        Ok(())
    }

    /// Forgets `registry`'s credentials. Returns false when there were none.
    pub fn remove(&mut self, registry: &str) -> Result<bool, RegistryError> {
        let registry = normalize_registry(registry);
        let mut removed = false;
        if let Some(h) = self.helper_for(&registry) {
            removed |= helper::erase(&h, &server_key(&registry))?;
        }
        let auths = self.auths_mut();
        let before = auths.len();
        auths.retain(|k, _| normalize_registry(k) != registry);
        removed |= auths.len() != before;
        Ok(removed)
    }

    /// Writes the file atomically with mode 0600, creating its directory.
    pub fn save(&self) -> Result<(), RegistryError> {
        let io = |e| RegistryError::io(&self.path, e);
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| RegistryError::io(dir, e))?;
        }
        let mut bytes = serde_json::to_vec_pretty(&Value::Object(self.root.clone()))
            .map_err(|e| bad(&self.path, e.to_string()))?;
        bytes.push(b'\n');
        let mut f = AtomicFile::create(&self.path).map_err(io)?;
        f.file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(io)?;
        f.write_all(&bytes).map_err(io)?;
        f.commit().map_err(io)
    }

    fn auths_mut(&mut self) -> &mut Map<String, Value> {
        let slot = self
            .root
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        match slot {
            Value::Object(m) => m,
            _ => unreachable!("just made an object"),
        }
    }
}

/// The key Docker uses for `registry` in `auths` and with credential helpers.
pub fn server_key(registry: &str) -> String {
    if registry == DOCKER_HUB {
        DOCKER_HUB_CONFIG_KEY.to_string()
    } else {
        registry.to_string()
    }
}

fn bad(path: &Path, message: String) -> RegistryError {
    RegistryError::Config {
        path: path.to_path_buf(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(u: &str, p: &str) -> Credentials {
        Credentials {
            username: u.into(),
            password: p.into(),
            identity_token: None,
        }
    }

    #[test]
    fn reads_auth_and_username_password_forms() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.json");
        std::fs::write(
            &p,
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dTpwdw=="},
               "localhost:5000":{"username":"a","password":"b"},
               "https://r.example.com":{"auth":""}}}"#,
        )
        .unwrap();
        let c = DockerConfig::load(&p).unwrap();
        assert_eq!(c.credentials("docker.io").unwrap(), Some(creds("u", "pw")));
        assert_eq!(
            c.credentials("localhost:5000").unwrap(),
            Some(creds("a", "b"))
        );
        assert_eq!(c.credentials("r.example.com").unwrap(), None);
        assert_eq!(c.credentials("other").unwrap(), None);
    }

    #[test]
    fn store_keeps_other_keys_and_writes_0600() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/config.json");
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(
            &p,
            r#"{"psFormat":"x","auths":{"other:1":{"auth":"YTpi"}}}"#,
        )
        .unwrap();
        let mut c = DockerConfig::load(&p).unwrap();
        c.store("https://index.docker.io/v1/", &creds("me", "s3:cret"))
            .unwrap();
        c.save().unwrap();
        let v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        assert_eq!(v["psFormat"], "x");
        assert_eq!(v["auths"]["other:1"]["auth"], "YTpi");
        assert_eq!(
            v["auths"]["https://index.docker.io/v1/"]["auth"],
            BASE64.encode("me:s3:cret")
        );
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let c = DockerConfig::load(&p).unwrap();
        assert_eq!(
            c.credentials("docker.io").unwrap(),
            Some(creds("me", "s3:cret"))
        );

        let mut c = DockerConfig::load(&p).unwrap();
        assert!(c.remove("docker.io").unwrap());
        assert!(!c.remove("docker.io").unwrap());
        c.save().unwrap();
        let v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        assert!(v["auths"].get("https://index.docker.io/v1/").is_none());
        assert_eq!(v["auths"]["other:1"]["auth"], "YTpi");
    }

    #[test]
    fn malformed_config_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.json");
        std::fs::write(&p, "{nope").unwrap();
        let e = DockerConfig::load(&p).unwrap_err().to_string();
        assert!(
            e.contains("config.json") && e.contains("invalid JSON"),
            "{e}"
        );
        std::fs::write(&p, r#"{"auths":{"h":{"auth":"!!"}}}"#).unwrap();
        let e = DockerConfig::load(&p)
            .unwrap()
            .credentials("h")
            .unwrap_err();
        assert!(e.to_string().contains("not base64"), "{e}");
    }
}
