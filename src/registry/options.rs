//! Knobs for talking to registries: TLS trust, insecure hosts, timeouts, retries, parallelism.

use std::path::PathBuf;
use std::time::Duration;

/// Environment variable: idle read/connect timeout in seconds for registry traffic.
pub const TIMEOUT_ENV: &str = "RBUILD_REGISTRY_TIMEOUT";

/// How rbuild talks to registries.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Hosts (`host[:port]`) that may be reached over plain HTTP or with an unverified
    /// certificate (Docker's `--insecure-registry`).
    pub insecure_registries: Vec<String>,
    /// An extra CA bundle (PEM) trusted on top of the system roots.
    pub tls_ca: Option<PathBuf>,
    /// The Docker config file for credentials (default: `$DOCKER_CONFIG/config.json`
    /// or `~/.docker/config.json`).
    pub docker_config: Option<PathBuf>,
    /// Time allowed to establish a connection.
    pub connect_timeout: Duration,
    /// Time allowed for any single read or write to make progress.
    pub io_timeout: Duration,
    /// Retries after a transient failure (connect errors, 5xx, 429, cut connections).
    pub retries: u32,
    /// First backoff delay; doubled after each retry.
    pub backoff: Duration,
    /// Blobs transferred at once.
    pub parallel: usize,
    /// Blobs at least this large are uploaded in chunks (PATCH) rather than one PUT.
    pub chunked_threshold: u64,
    /// Size of one upload chunk.
    pub chunk_size: u64,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            insecure_registries: Vec::new(),
            tls_ca: None,
            docker_config: None,
            connect_timeout: Duration::from_secs(30),
            io_timeout: Duration::from_secs(60),
            retries: 4,
            backoff: Duration::from_millis(250),
            parallel: 4,
            chunked_threshold: 256 << 20,
            chunk_size: 64 << 20,
        }
    }
}

impl RegistryOptions {
    /// The defaults, with timeouts from `RBUILD_REGISTRY_TIMEOUT` (seconds) when set.
    pub fn from_env() -> RegistryOptions {
        let mut o = RegistryOptions::default();
        if let Some(secs) = std::env::var(TIMEOUT_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
        {
            o.io_timeout = Duration::from_secs_f64(secs);
            o.connect_timeout = Duration::from_secs_f64(secs);
        }
        o
    }

    /// True when `host` (`host[:port]`) was named in `--insecure-registry`
    /// (with or without its port).
    pub fn is_insecure(&self, host: &str) -> bool {
        let bare = strip_port(host);
        self.insecure_registries.iter().any(|r| {
            let r = r
                .trim()
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .trim_end_matches('/');
            r == host || r == bare
        })
    }
}

/// True for `localhost`, `127.0.0.0/8` and `::1` (with or without a port): registries
/// Docker reaches over plain HTTP when they do not speak TLS.
pub fn is_loopback(host: &str) -> bool {
    let bare = strip_port(host);
    let bare = bare.trim_start_matches('[').trim_end_matches(']');
    if bare.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => false,
    }
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((ip, _)) => &host[..ip.len() + 2],
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !h.contains(':') => h,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:5000",
            "127.8.9.1",
            "[::1]:5000",
            "::1",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "example.com",
            "10.0.0.1:5000",
            "localhost.example.com",
            "[fe80::1]:5000",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }

    #[test]
    fn insecure_matches_with_or_without_port() {
        let o = RegistryOptions {
            insecure_registries: vec!["reg.local".into(), "http://other:5000/".into()],
            ..Default::default()
        };
        assert!(o.is_insecure("reg.local:5000"));
        assert!(o.is_insecure("reg.local"));
        assert!(o.is_insecure("other:5000"));
        assert!(!o.is_insecure("other:6000"));
        assert!(!o.is_insecure("reg.local.evil"));
    }
}
