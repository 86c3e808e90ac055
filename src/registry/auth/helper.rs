//! Docker credential helpers (`docker-credential-<name> get|store|erase`), the protocol
//! `credsStore` and `credHelpers` name in the Docker config.

use std::io::Write;
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use super::config::Credentials;
use crate::registry::error::RegistryError;

/// What helpers print for a missing entry (docker-credential-helpers' `ErrCredentialsNotFound`).
const NOT_FOUND: &str = "credentials not found in native keychain";

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HelperCredentials {
    #[serde(rename = "ServerURL", default)]
    server_url: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    secret: String,
}

/// Asks the helper for `server`'s credentials; `None` when it has none.
pub fn get(helper: &str, server: &str) -> Result<Option<Credentials>, RegistryError> {
    let out = match run(helper, "get", server.as_bytes()) {
        Ok(out) => out,
        Err(HelperFailure::Said(msg)) if msg.contains(NOT_FOUND) => return Ok(None),
        Err(HelperFailure::Missing) => return Ok(None),
        Err(f) => return Err(f.into_error(helper, "get")),
    };
    let c: HelperCredentials =
        serde_json::from_slice(&out).map_err(|e| RegistryError::CredentialHelper {
            helper: helper.to_string(),
            action: "get".into(),
            message: format!("unreadable answer: {e}"),
        })?;
    if c.username.is_empty() && c.secret.is_empty() {
        return Ok(None);
    }
    // By convention, the user name `<token>` marks an identity (refresh) token.
    Ok(Some(if c.username == "<token>" {
        Credentials {
            username: String::new(),
            password: String::new(),
            identity_token: Some(c.secret),
        }
    } else {
        Credentials {
            username: c.username,
            password: c.secret,
            identity_token: None,
        }
    }))
}

/// Stores credentials through the helper.
pub fn store(helper: &str, server: &str, creds: &Credentials) -> Result<(), RegistryError> {
    let body = serde_json::to_vec(&HelperCredentials {
        server_url: server.to_string(),
        username: creds.username.clone(),
        secret: creds.password.clone(),
    })
    .map_err(|e| RegistryError::CredentialHelper {
        helper: helper.to_string(),
        action: "store".into(),
        message: e.to_string(),
    })?;
    run(helper, "store", &body).map_err(|f| f.into_error(helper, "store"))?;
    Ok(())
}

/// Erases `server`'s credentials. Returns false when the helper had none.
pub fn erase(helper: &str, server: &str) -> Result<bool, RegistryError> {
    match run(helper, "erase", server.as_bytes()) {
        Ok(_) => Ok(true),
        Err(HelperFailure::Said(msg)) if msg.contains(NOT_FOUND) => Ok(false),
        Err(f) => Err(f.into_error(helper, "erase")),
    }
}

enum HelperFailure {
    /// The helper binary is not installed.
    Missing,
    /// It ran and failed with this message.
    Said(String),
    /// It could not be run.
    Spawn(std::io::Error),
}

impl HelperFailure {
    fn into_error(self, helper: &str, action: &str) -> RegistryError {
        let message = match self {
            HelperFailure::Missing => format!("docker-credential-{helper} is not installed"),
            HelperFailure::Said(m) => m,
            HelperFailure::Spawn(e) => e.to_string(),
        };
        RegistryError::CredentialHelper {
            helper: helper.to_string(),
            action: action.to_string(),
            message,
        }
    }
}

fn run(helper: &str, action: &str, input: &[u8]) -> Result<Vec<u8>, HelperFailure> {
    let program = format!("docker-credential-{helper}");
    let mut child = match Command::new(&program)
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(HelperFailure::Missing),
        Err(e) => return Err(HelperFailure::Spawn(e)),
    };
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits early closes its stdin; its exit status tells the story.
        let _ = stdin.write_all(input);
    }
    let out = child.wait_with_output().map_err(HelperFailure::Spawn)?;
    if out.status.success() {
        return Ok(out.stdout);
    }
    let mut msg = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if msg.is_empty() {
        msg = String::from_utf8_lossy(&out.stderr).trim().to_string();
    }
    if msg.is_empty() {
        msg = format!("exited with {}", out.status);
    }
    Err(HelperFailure::Said(msg))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The full get/store/erase protocol is exercised by tests/registry.rs with a fake
    // helper on the PATH of an rbuild process.
    #[test]
    fn a_missing_helper_has_no_credentials_but_cannot_store() {
        assert!(matches!(get("rbuild-no-such-helper", "x"), Ok(None)));
        let creds = Credentials {
            username: "u".into(),
            password: "p".into(),
            identity_token: None,
        };
        let err = store("rbuild-no-such-helper", "x", &creds).unwrap_err();
        assert_eq!(
            err.to_string(),
            "docker-credential-rbuild-no-such-helper store: docker-credential-rbuild-no-such-helper is not installed"
        );
    }
}
