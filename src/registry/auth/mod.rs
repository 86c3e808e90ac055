//! Registry authentication: the challenge a registry sends on 401, credentials from the
//! Docker config, and bearer tokens cached per scope.
//!
//! Flow (Docker token auth): a request without credentials gets `401` with
//! `WWW-Authenticate: Bearer realm=…,service=…`; the client asks the realm for a token
//! for the scope it needs (`repository:NAME:pull[,push]`), with basic credentials when
//! it has some, and retries with `Authorization: Bearer TOKEN`. A `Basic` challenge just
//! means sending the credentials on every request.

pub mod challenge;
pub mod config;
pub mod helper;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;

pub use challenge::Challenge;
pub use config::{Credentials, DockerConfig};

use super::error::RegistryError;
use super::transport::{self, Failure};

/// Tokens are refreshed this long before they expire.
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);
/// Lifetime assumed when the token server does not say (the distribution spec's default).
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);

/// The access a request needs: `repository:NAME:ACTIONS` entries.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Scope(Vec<String>);

impl Scope {
    /// Pull access to `repository`.
    pub fn pull(repository: &str) -> Scope {
        Scope(vec![format!("repository:{repository}:pull")])
    }

    /// Pull and push access to `repository`.
    pub fn push(repository: &str) -> Scope {
        Scope(vec![format!("repository:{repository}:pull,push")])
    }

    /// No repository (the `/v2/` ping, login).
    pub fn none() -> Scope {
        Scope(Vec::new())
    }

    /// Adds pull access to another repository (the source of a cross-repository mount).
    pub fn and_pull(mut self, repository: &str) -> Scope {
        let s = format!("repository:{repository}:pull");
        if !self.0.contains(&s) {
            self.0.push(s);
        }
        self
    }

    fn key(&self) -> String {
        self.0.join(" ")
    }
}

/// Authentication state for one registry, shared by all its requests.
pub(crate) struct Authenticator {
    registry: String,
    credentials: Option<Credentials>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    challenge: Option<Challenge>,
    tokens: HashMap<String, (String, Instant)>,
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl Authenticator {
    /// Authentication for `registry` with these credentials (or anonymous).
    pub fn new(registry: &str, credentials: Option<Credentials>) -> Authenticator {
        Authenticator {
            registry: registry.to_string(),
            credentials,
            state: Mutex::new(State::default()),
        }
    }

    /// The `Authorization` header value to send for `scope`, if one is known.
    pub fn header(&self, scope: &Scope) -> Option<String> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match &state.challenge {
            Some(Challenge::Basic) => self.basic(),
            Some(Challenge::Bearer { .. }) => state
                .tokens
                .get(&scope.key())
                .filter(|(_, exp)| Instant::now() + EXPIRY_MARGIN < *exp)
                .map(|(t, _)| format!("Bearer {t}")),
            None => None,
        }
    }

    /// Reacts to a 401: records the challenge and fetches a token for `scope`.
    /// Returns false when there is nothing new to try (the caller reports the 401).
    pub fn on_unauthorized(
        &self,
        agent: &ureq::Agent,
        www_authenticate: Option<&str>,
        scope: &Scope,
        sent: Option<&str>,
    ) -> Result<bool, RegistryError> {
        let Some(ch) = www_authenticate.and_then(challenge::parse) else {
            return Ok(false);
        };
        {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            state.challenge = Some(ch.clone());
            state.tokens.remove(&scope.key());
        }
        match ch {
            Challenge::Basic => Ok(self.credentials.is_some() && sent.is_none()),
            Challenge::Bearer {
                realm,
                service,
                scope: asked,
            } => {
                let mut scopes = scope.0.clone();
                if let Some(a) = asked {
                    for s in a.split(' ').filter(|s| !s.is_empty()) {
                        if !scopes.iter().any(|x| x == s) {
                            scopes.push(s.to_string());
                        }
                    }
                }
                let (token, lifetime) =
                    self.fetch_token(agent, &realm, service.as_deref(), &scopes)?;
                let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
                let fresh = Some(format!("Bearer {token}"));
                let changed = fresh.as_deref() != sent;
                state
                    .tokens
                    .insert(scope.key(), (token, Instant::now() + lifetime));
                Ok(changed)
            }
        }
    }

    fn basic(&self) -> Option<String> {
        let c = self.credentials.as_ref()?;
        Some(format!(
            "Basic {}",
            BASE64.encode(format!("{}:{}", c.username, c.password))
        ))
    }

    fn fetch_token(
        &self,
        agent: &ureq::Agent,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
    ) -> Result<(String, Duration), RegistryError> {
        let what = format!("GET {realm} (token for {})", self.registry);
        let mut query: Vec<(&str, &str)> = Vec::new();
        if let Some(s) = service {
            query.push(("service", s));
        }
        for s in scopes {
            query.push(("scope", s));
        }
        let result = match self
            .credentials
            .as_ref()
            .and_then(|c| c.identity_token.as_ref())
        {
            Some(refresh) => {
                let mut form: Vec<(&str, &str)> = vec![
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh),
                    ("client_id", "rbuild"),
                ];
                form.extend(query.iter().copied());
                agent.post(realm).send_form(form)
            }
            None => {
                let mut req = agent.get(realm).query_pairs(query.iter().copied());
                if let Some(b) = self.basic() {
                    req = req.header("Authorization", &b);
                }
                req.call()
            }
        };
        let mut resp = result.map_err(|e| match transport::classify(&e) {
            Failure::Timeout => RegistryError::Timeout {
                what: what.clone(),
                message: e.to_string(),
            },
            f => RegistryError::Transport {
                what: what.clone(),
                message: e.to_string(),
                registry: self.registry.clone(),
                certificate: f == Failure::Certificate,
            },
        })?;
        let status = resp.status().as_u16();
        if status == 401 || status == 403 {
            return Err(RegistryError::Unauthorized {
                what: format!("log in to {}", self.registry),
                registry: self.registry.clone(),
                detail: if self.credentials.is_some() {
                    ": the token server rejected the credentials".into()
                } else {
                    String::new()
                },
            });
        }
        if status != 200 {
            return Err(RegistryError::Status {
                what,
                status,
                detail: String::new(),
            });
        }
        let body: TokenResponse = resp
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_vec()
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
            .map_err(|message| RegistryError::InvalidResponse {
                what: what.clone(),
                message,
            })?;
        let token = body
            .token
            .or(body.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| RegistryError::InvalidResponse {
                what,
                message: "no token in the answer".into(),
            })?;
        let lifetime = body
            .expires_in
            .map(Duration::from_secs)
            .filter(|d| *d > EXPIRY_MARGIN)
            .unwrap_or(DEFAULT_TOKEN_LIFETIME);
        Ok((token, lifetime))
    }
}
