//! One registry host: how to reach it (HTTPS, or HTTP for loopback and insecure hosts),
//! how to authenticate, and one request with retries.
//!
//! Every request goes through [`Endpoint::send`], which owns the policies: the scheme is
//! found once by probing `GET /v2/`; a 401 triggers the auth flow and one retry;
//! connection failures, timeouts, 5xx and 429 are retried with exponential backoff.
//! Whatever status is left is the caller's to interpret.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::sync::Mutex;
use std::time::Duration;

use ureq::Agent;
use ureq::http::Response;

use super::auth::{Authenticator, Credentials, Scope};
use super::call::{Call, Counting, Payload, error_detail, header, redact};
use super::error::RegistryError;
use super::options::{RegistryOptions, is_loopback};
use super::transport::{self, Failure};

/// Longest wait honoured from a `Retry-After` header.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// How a host is reached once probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Base {
    https: bool,
    verify: bool,
}

/// A registry host and everything needed to talk to it.
pub(crate) struct Endpoint {
    registry: String,
    host: String,
    opts: RegistryOptions,
    verify_agent: Agent,
    insecure_agent: Option<Agent>,
    base: Mutex<Option<Base>>,
    auth: Authenticator,
}

impl Endpoint {
    /// An endpoint for `registry` (as named, e.g. `docker.io`) served by `host`.
    pub fn new(
        registry: &str,
        host: &str,
        opts: &RegistryOptions,
        credentials: Option<Credentials>,
    ) -> Result<Endpoint, RegistryError> {
        // As Docker does, loopback registries are insecure by default: HTTPS is tried with
        // verification, then without it, then plain HTTP.
        let insecure_agent =
            if opts.is_insecure(host) || opts.is_insecure(registry) || is_loopback(host) {
                Some(transport::agent(opts, host, false)?)
            } else {
                None
            };
        Ok(Endpoint {
            registry: registry.to_string(),
            host: host.to_string(),
            opts: opts.clone(),
            verify_agent: transport::agent(opts, host, true)?,
            insecure_agent,
            base: Mutex::new(None),
            auth: Authenticator::new(registry, credentials),
        })
    }

    /// The registry as named.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The options in force.
    pub fn options(&self) -> &RegistryOptions {
        &self.opts
    }

    /// `GET /v2/` with authentication: checks that the registry accepts our credentials.
    pub fn check_login(&self) -> Result<(), RegistryError> {
        let scope = Scope::none();
        let resp = self.send(&Call::new("GET", "/v2/".into(), &scope))?;
        match resp.status().as_u16() {
            200..=299 => Ok(()),
            status => Err(self.status_error(format!("log in to {}", self.registry), resp, status)),
        }
    }

    /// Sends `call`, following the auth flow and retrying transient failures.
    pub fn send(&self, call: &Call<'_>) -> Result<Response<ureq::Body>, RegistryError> {
        let base = self.base()?;
        let agent = self.agent(base);
        let mut attempt = 0u32;
        let mut reauthed = false;
        loop {
            let url = self.url(base, &call.target);
            let what = format!("{} {}", call.method, redact(&url));
            let own_host = self.is_own_url(&url);
            let auth = if own_host {
                self.auth.header(call.scope)
            } else {
                None
            };
            match self.exchange(agent, call, &url, auth.as_deref()) {
                Err(e) => {
                    let f = transport::classify(&e);
                    if matches!(f, Failure::Transient | Failure::Timeout)
                        && attempt < self.opts.retries
                    {
                        self.backoff(attempt, None);
                        attempt += 1;
                        continue;
                    }
                    return Err(self.transport_error(what, &e, f));
                }
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    if status == 401 && own_host && !reauthed {
                        reauthed = true;
                        let www = header(&resp, "www-authenticate");
                        if self.auth.on_unauthorized(
                            agent,
                            www.as_deref(),
                            call.scope,
                            auth.as_deref(),
                        )? {
                            continue;
                        }
                    }
                    if (status >= 500 || status == 429) && attempt < self.opts.retries {
                        let wait = header(&resp, "retry-after")
                            .and_then(|v| v.trim().parse::<u64>().ok())
                            .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER));
                        self.backoff(attempt, wait);
                        attempt += 1;
                        continue;
                    }
                    return Ok(resp);
                }
            }
        }
    }

    /// Turns an unexpected status into an error, with the registry's explanation.
    pub fn status_error(
        &self,
        what: String,
        mut resp: Response<ureq::Body>,
        status: u16,
    ) -> RegistryError {
        let detail = error_detail(&mut resp);
        match status {
            401 => RegistryError::Unauthorized {
                what,
                registry: self.registry.clone(),
                detail,
            },
            403 => RegistryError::Denied {
                what,
                registry: self.registry.clone(),
                detail,
            },
            _ => RegistryError::Status {
                what,
                status,
                detail,
            },
        }
    }

    /// Maps a transport failure to an error.
    pub fn transport_error(&self, what: String, e: &ureq::Error, f: Failure) -> RegistryError {
        match f {
            Failure::Timeout => RegistryError::Timeout {
                what,
                message: e.to_string(),
            },
            Failure::Certificate => RegistryError::Transport {
                what,
                message: format!(
                    "the server's TLS certificate is not trusted ({})",
                    e.to_string().trim_start_matches("io: ")
                ),
                registry: self.registry.clone(),
                certificate: true,
            },
            _ => RegistryError::Transport {
                what,
                message: e.to_string().trim_start_matches("io: ").to_string(),
                registry: self.registry.clone(),
                certificate: false,
            },
        }
    }

    /// Sleeps before retry number `attempt + 1`.
    pub fn backoff(&self, attempt: u32, at_least: Option<Duration>) {
        let exp = self.opts.backoff.saturating_mul(1 << attempt.min(10));
        std::thread::sleep(at_least.map_or(exp, |w| w.max(exp)));
    }

    /// The absolute URL for a path or `Location` value.
    fn url(&self, base: Base, target: &str) -> String {
        if target.starts_with("http://") || target.starts_with("https://") {
            return target.to_string();
        }
        let scheme = if base.https { "https" } else { "http" };
        format!("{scheme}://{}{target}", self.host)
    }

    fn is_own_url(&self, url: &str) -> bool {
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .unwrap_or(url);
        rest.split('/').next() == Some(self.host.as_str())
    }

    fn agent(&self, base: Base) -> &Agent {
        match (&self.insecure_agent, base.verify) {
            (Some(a), false) => a,
            _ => &self.verify_agent,
        }
    }

    /// Finds how to reach the host, once: HTTPS with verification; for insecure hosts,
    /// HTTPS without; for loopback and insecure hosts, plain HTTP when TLS is not spoken.
    fn base(&self) -> Result<Base, RegistryError> {
        let mut slot = self.base.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = *slot {
            return Ok(b);
        }
        let may_http = is_loopback(&self.host) || self.insecure_agent.is_some();
        let mut candidates = vec![Base {
            https: true,
            verify: true,
        }];
        if self.insecure_agent.is_some() {
            candidates.push(Base {
                https: true,
                verify: false,
            });
        }
        if may_http {
            candidates.push(Base {
                https: false,
                verify: true,
            });
        }
        if self.insecure_agent.is_some() {
            // A cheap probe that verifies nothing (so loads no root certificates): a host
            // that does not speak TLS at all goes straight to plain HTTP.
            let probe = Base {
                https: true,
                verify: false,
            };
            if let Err(e) = self.agent(probe).get(&self.url(probe, "/v2/")).call()
                && transport::classify(&e) == Failure::NotTls
            {
                candidates.retain(|c| !c.https);
            }
        }
        let mut attempt = 0;
        loop {
            let mut first_err: Option<(RegistryError, Failure)> = None;
            let mut i = 0;
            while i < candidates.len() {
                let b = candidates[i];
                let url = self.url(b, "/v2/");
                let e = match self.agent(b).get(&url).call() {
                    Ok(mut response) => {
                        // Read to the end, so the connection goes back to the pool.
                        let _ = response
                            .body_mut()
                            .with_config()
                            .limit(1 << 16)
                            .read_to_vec();
                        *slot = Some(b);
                        return Ok(b);
                    }
                    Err(e) => e,
                };
                let f = transport::classify(&e);
                let err = self.transport_error(format!("GET {url}"), &e, f);
                // The next candidate that addresses this failure, if any.
                let next = candidates[i + 1..].iter().position(|c| match f {
                    Failure::Certificate => !c.verify,
                    Failure::NotTls | Failure::Transient => b.https && !c.https,
                    Failure::Timeout | Failure::Fatal => false,
                });
                first_err.get_or_insert((err, f));
                match next {
                    Some(n) => i += 1 + n,
                    None => break,
                }
            }
            let Some((err, f)) = first_err else {
                return Err(RegistryError::Transport {
                    what: format!("GET https://{}/v2/", self.host),
                    message: "no way to reach the registry".into(),
                    registry: self.registry.clone(),
                    certificate: false,
                });
            };
            if matches!(f, Failure::Transient | Failure::Timeout) && attempt < self.opts.retries {
                self.backoff(attempt, None);
                attempt += 1;
                continue;
            }
            // The HTTPS error says more than a failed plain-HTTP fallback.
            return Err(err);
        }
    }

    fn exchange(
        &self,
        agent: &Agent,
        call: &Call<'_>,
        url: &str,
        auth: Option<&str>,
    ) -> Result<Response<ureq::Body>, ureq::Error> {
        macro_rules! headers {
            ($req:expr) => {{
                let mut r = $req;
                for (k, v) in &call.headers {
                    r = r.header(*k, v.as_str());
                }
                if let Some(a) = auth {
                    r = r.header("Authorization", a);
                }
                r
            }};
        }
        let with_body = match call.method {
            "GET" => return headers!(agent.get(url)).call(),
            "HEAD" => return headers!(agent.head(url)).call(),
            "DELETE" => return headers!(agent.delete(url)).call(),
            "POST" => headers!(agent.post(url)),
            "PUT" => headers!(agent.put(url)),
            "PATCH" => headers!(agent.patch(url)),
            other => return Err(ureq::Error::BadUri(format!("unsupported method {other}"))),
        };
        match &call.body {
            Payload::Empty => with_body.header("Content-Length", "0").send_empty(),
            Payload::Bytes(b) => with_body.send(*b),
            Payload::File {
                path,
                offset,
                len,
                progress,
            } => {
                let mut f = File::open(path)?;
                f.seek(SeekFrom::Start(*offset))?;
                let mut reader = Counting {
                    inner: f.take(*len),
                    sent: 0,
                    progress: *progress,
                };
                with_body
                    .header("Content-Length", len.to_string())
                    .send(ureq::SendBody::from_reader(&mut reader))
            }
        }
    }
}
