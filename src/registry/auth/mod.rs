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
    fetching: Mutex<()>,
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
            fetching: Mutex::new(()),
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
        // One token fetch at a time: threads that hit the same 401 together reuse it.
        let _fetching = self.fetching.lock().unwrap_or_else(|p| p.into_inner());
        {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let same_challenge = state.challenge.as_ref().is_some_and(|c| c.same_server(&ch));
            state.challenge = Some(ch.clone());
            drop(state);
            if same_challenge {
                if let Some(fresh) = self.header(scope) {
                    if Some(fresh.as_str()) != sent {
                        return Ok(true);
                    }
                }
            }
        }
        match ch {
            Challenge::Basic => Ok(self.credentials.is_some() && sent.is_none()),
            Challenge::Bearer {
                realm,
                service,
                scope: asked,
            } => {
                let scopes = merge_scopes(&scope.0, asked.as_deref());
                let (token, lifetime) =
                    self.fetch_token(agent, &realm, service.as_deref(), &scopes)?;
                let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
                let fresh = format!("Bearer {token}");
                let changed = Some(fresh.as_str()) != sent;
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

/// Our scopes plus the ones a challenge asked for; the same resource's actions are
/// merged rather than listed twice (`repository:a:pull,push` covers `repository:a:pull`).
fn merge_scopes(ours: &[String], asked: Option<&str>) -> Vec<String> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    let theirs = asked
        .into_iter()
        .flat_map(|a| a.split(' '))
        .filter(|s| !s.is_empty());
    for s in ours.iter().map(String::as_str).chain(theirs) {
        let (resource, actions) = match s.rsplit_once(':') {
            Some((r, a)) => (r.to_string(), a.split(',').map(str::to_string).collect()),
            None => (s.to_string(), Vec::new()),
        };
        match out.iter_mut().find(|(r, _)| *r == resource) {
            Some((_, have)) => {
                for a in actions {
                    if !have.contains(&a) {
                        have.push(a);
                    }
                }
            }
            None => out.push((resource, actions)),
        }
    }
    out.into_iter()
        .map(|(r, a)| {
            if a.is_empty() {
                r
            } else {
                format!("{r}:{}", a.join(","))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_merge_by_resource() {
        let ours = vec![
            "repository:a:pull,push".to_string(),
            "repository:b:pull".to_string(),
        ];
        assert_eq!(
            merge_scopes(&ours, Some("repository:a:pull repository:c:pull")),
            [
                "repository:a:pull,push",
                "repository:b:pull",
                "repository:c:pull"
            ]
        );
        assert_eq!(
            merge_scopes(&[], Some("registry:catalog:*")),
            ["registry:catalog:*"]
        );
        assert_eq!(merge_scopes(&ours[1..], None), ["repository:b:pull"]);
    }
}
