//! The grammar of distribution/reference: registry hosts, repository path components,
//! tags and digests, and how the first path component is told apart from a host.

use super::DOCKER_HUB;
use crate::digest::Digest;

const TAG_LENGTH_MAX: usize = 128;

/// distribution/reference's splitDockerDomain.
pub(super) fn split_registry(name: &str) -> (String, String) {
    let (registry, rest) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.to_ascii_lowercase() != first =>
        {
            (first.to_string(), rest.to_string())
        }
        _ => (DOCKER_HUB.to_string(), name.to_string()),
    };
    let registry = if registry == "index.docker.io" {
        DOCKER_HUB.to_string()
    } else {
        registry
    };
    let rest = if registry == DOCKER_HUB && !rest.contains('/') {
        format!("library/{rest}")
    } else {
        rest
    };
    (registry, rest)
}

pub(super) fn parse_digest(d: &str) -> Result<Digest, String> {
    let (alg, hex) = d
        .split_once(':')
        .ok_or_else(|| format!("invalid digest format ({d})"))?;
    let alg_ok = !alg.is_empty()
        && alg.split(['+', '.', '_', '-']).all(|c| {
            !c.is_empty()
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
    let hex_ok = hex.len() >= 32 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    if !alg_ok || !hex_ok {
        return Err(format!("invalid digest format ({d})"));
    }
    d.parse::<Digest>().map_err(|e| e.to_string())
}

pub(super) fn check_tag(t: &str) -> Result<(), String> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let ok = !t.is_empty()
        && t.len() <= TAG_LENGTH_MAX
        && t.bytes().next().is_some_and(word)
        && t.bytes().all(|b| word(b) || b == b'.' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid tag ({t}): a tag is 1 to {TAG_LENGTH_MAX} letters, digits, '_', '.' or '-', not starting with '.' or '-'"
        ))
    }
}

/// `domain-component ('.' domain-component)* (':' port)?`, or a bracketed IPv6 address.
pub(super) fn check_domain(d: &str) -> Result<(), String> {
    let port_ok = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    let ok = if let Some(rest) = d.strip_prefix('[') {
        match rest.split_once(']') {
            Some((ip, after)) => {
                ip.parse::<std::net::Ipv6Addr>().is_ok()
                    && (after.is_empty() || after.strip_prefix(':').is_some_and(port_ok))
            }
            None => false,
        }
    } else {
        let host = match d.split_once(':') {
            Some((h, p)) => port_ok(p).then_some(h),
            None => Some(d),
        };
        host.is_some_and(|h| {
            h.split('.').all(|c| {
                !c.is_empty()
                    && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !c.starts_with('-')
                    && !c.ends_with('-')
            })
        })
    };
    if ok {
        Ok(())
    } else {
        Err(format!("invalid registry host ({d})"))
    }
}

/// Each path component: `[a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*`.
pub(super) fn check_path(p: &str) -> Result<(), String> {
    for comp in p.split('/') {
        if !path_component_ok(comp) {
            return Err(if comp.is_empty() {
                format!("empty path component in repository name ({p})")
            } else {
                format!(
                    "invalid repository path component ({comp}): use lowercase letters, digits and single separators (., _, __, -)"
                )
            });
        }
    }
    Ok(())
}

fn path_component_ok(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}
