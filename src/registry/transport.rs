//! HTTP agents (ureq + rustls) and the classification of their failures.
//!
//! One agent per registry host, so a host's own CA files (`/etc/docker/certs.d/HOST/`)
//! can be trusted next to the system roots, `--tls-ca` and `SSL_CERT_FILE`. A second
//! agent that skips certificate verification exists only for `--insecure-registry` hosts.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ureq::Agent;
use ureq::config::AutoHeaderValue;
use ureq::tls::{Certificate, RootCerts, TlsConfig};

use super::error::RegistryError;
use super::options::RegistryOptions;

/// Where Docker looks for a registry's CA certificates.
const DOCKER_CERTS_D: &str = "/etc/docker/certs.d";

/// Builds the agent for `host`; `verify: false` accepts any certificate.
pub(crate) fn agent(
    opts: &RegistryOptions,
    host: &str,
    verify: bool,
) -> Result<Agent, RegistryError> {
    let tls = if verify {
        let extra = extra_roots(opts, host)?;
        let roots = if extra.is_empty() {
            RootCerts::PlatformVerifier
        } else {
            let mut all: Vec<Certificate<'static>> = rustls_native_certs::load_native_certs()
                .certs
                .iter()
                .map(|c| Certificate::from_der(c.as_ref()).to_owned())
                .collect();
            all.extend(extra);
            RootCerts::Specific(Arc::new(all))
        };
        TlsConfig::builder().root_certs(roots).build()
    } else {
        TlsConfig::builder().disable_verification(true).build()
    };
    let config = Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(tls)
        .timeout_connect(Some(opts.connect_timeout))
        .timeout_per_read(Some(opts.io_timeout))
        .timeout_per_write(Some(opts.io_timeout))
        .user_agent(format!("rbuild/{}", env!("CARGO_PKG_VERSION")))
        .accept_encoding(AutoHeaderValue::None)
        .max_idle_connections_per_host(opts.parallel.max(2) * 2)
        .max_redirects(10)
        .build();
    Ok(config.new_agent())
}

/// CA certificates beyond the system's: `--tls-ca` and the host's `certs.d` directory.
fn extra_roots(
    opts: &RegistryOptions,
    host: &str,
) -> Result<Vec<Certificate<'static>>, RegistryError> {
    let mut files: Vec<PathBuf> = opts.tls_ca.iter().cloned().collect();
    let dir = Path::new(DOCKER_CERTS_D).join(host);
    if let Ok(entries) = std::fs::read_dir(&dir) {
        let mut found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "crt"))
            .collect();
        found.sort();
        files.extend(found);
    }
    let mut certs = Vec::new();
    for f in files {
        let pem = std::fs::read(&f).map_err(|e| RegistryError::io(&f, e))?;
        let before = certs.len();
        for item in ureq::tls::parse_pem(&pem) {
            match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c),
                Ok(_) => {}
                Err(e) => {
                    return Err(RegistryError::Config {
                        path: f.clone(),
                        message: format!("not a PEM certificate file: {e}"),
                    });
                }
            }
        }
        if certs.len() == before {
            return Err(RegistryError::Config {
                path: f,
                message: "no PEM certificate found".to_string(),
            });
        }
    }
    Ok(certs)
}

/// How a failed exchange should be treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The server's certificate was not trusted.
    Certificate,
    /// The server does not speak TLS (or the TLS handshake failed otherwise).
    NotTls,
    /// A timeout expired.
    Timeout,
    /// A connection or I/O failure worth retrying.
    Transient,
    /// Anything else (bad URL, protocol misuse): retrying will not help.
    Fatal,
}

/// Classifies a ureq error.
pub(crate) fn classify(err: &ureq::Error) -> Failure {
    match err {
        ureq::Error::Rustls(e) => rustls_failure(e),
        ureq::Error::Tls(_) => Failure::NotTls,
        ureq::Error::Timeout(_) => Failure::Timeout,
        ureq::Error::Io(io) => io_failure(io),
        ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => Failure::Transient,
        ureq::Error::Protocol(_) => Failure::Transient,
        _ => Failure::Fatal,
    }
}

/// Classifies an I/O error met while reading a response body.
pub(crate) fn io_failure(io: &std::io::Error) -> Failure {
    if let Some(inner) = io.get_ref() {
        if let Some(e) = inner.downcast_ref::<rustls::Error>() {
            return rustls_failure(e);
        }
        if let Some(e) = inner.downcast_ref::<ureq::Error>() {
            return classify(e);
        }
    }
    match io.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => Failure::Timeout,
        _ => Failure::Transient,
    }
}

fn rustls_failure(e: &rustls::Error) -> Failure {
    match e {
        rustls::Error::InvalidCertificate(_) => Failure::Certificate,
        _ => Failure::NotTls,
    }
}
