//! Image names as the store keeps them: validated with Docker's reference grammar,
//! `:latest` added when a name has neither tag nor digest, and compared in their fully
//! qualified form so `busybox:latest` and `docker.io/library/busybox:latest` are one name.
//!
//! This is deliberately small: the registry module owns full reference parsing (endpoints,
//! familiar forms for display); the store only needs a canonical key.

use super::StoreError;

/// Docker Hub's canonical domain.
const DOCKER_HUB: &str = "docker.io";

/// The name under which an image is tagged: `name` validated, with `:latest` added when
/// it has neither a tag nor a digest (`app` → `app:latest`).
pub fn tag_name(name: &str) -> Result<String, StoreError> {
    let parts = parse(name)?;
    Ok(if parts.tag.is_none() && parts.digest.is_none() {
        format!("{name}:latest")
    } else {
        name.to_string()
    })
}

/// The fully qualified form used to compare names (`busybox` →
/// `docker.io/library/busybox:latest`, `index.docker.io/x/y` → `docker.io/x/y:latest`).
pub fn canonical(name: &str) -> Result<String, StoreError> {
    let p = parse(name)?;
    let mut repo = match p.domain {
        Some("index.docker.io") | Some("registry-1.docker.io") => {
            format!("{DOCKER_HUB}/{}", p.path)
        }
        Some(d) => format!("{d}/{}", p.path),
        None if p.path.contains('/') => format!("{DOCKER_HUB}/{}", p.path),
        None => format!("{DOCKER_HUB}/library/{}", p.path),
    };
    if repo.starts_with("docker.io/") && !repo["docker.io/".len()..].contains('/') {
        repo = format!("{DOCKER_HUB}/library/{}", &repo["docker.io/".len()..]);
    }
    let tag = match (p.tag, p.digest) {
        (Some(t), _) => format!(":{t}"),
        (None, Some(_)) => String::new(),
        (None, None) => ":latest".to_string(),
    };
    let digest = p.digest.map(|d| format!("@{d}")).unwrap_or_default();
    Ok(format!("{repo}{tag}{digest}"))
}

/// Splits a tagged name into repository and tag as `docker images` shows them
/// (`localhost:5000/a/b:2` → (`localhost:5000/a/b`, `2`); a digest-only name has tag `<none>`).
pub fn repository_and_tag(name: &str) -> (String, String) {
    let (rest, _digest) = match name.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (name, None),
    };
    let slash = rest.rfind('/').map_or(0, |i| i + 1);
    match rest[slash..].rfind(':') {
        Some(i) => (
            rest[..slash + i].to_string(),
            rest[slash + i + 1..].to_string(),
        ),
        None => (rest.to_string(), "<none>".to_string()),
    }
}

/// The parts of a reference.
struct Parts<'a> {
    domain: Option<&'a str>,
    path: &'a str,
    tag: Option<&'a str>,
    digest: Option<&'a str>,
}

fn invalid(name: &str, reason: &'static str) -> StoreError {
    StoreError::InvalidName {
        name: name.to_string(),
        reason,
    }
}

/// Docker's reference grammar (distribution/reference), without normalisation.
fn parse(name: &str) -> Result<Parts<'_>, StoreError> {
    if name.is_empty() {
        return Err(invalid(name, "empty name"));
    }
    let (rest, digest) = match name.split_once('@') {
        Some((r, d)) => {
            d.parse::<crate::digest::Digest>()
                .map_err(|_| invalid(name, "invalid digest"))?;
            (r, Some(d))
        }
        None => (name, None),
    };
    let slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (repo, tag) = match rest[slash..].find(':') {
        Some(i) => (&rest[..slash + i], Some(&rest[slash + i + 1..])),
        None => (rest, None),
    };
    if let Some(t) = tag {
        let ok = !t.is_empty()
            && t.len() <= 128
            && t.bytes().enumerate().all(|(i, b)| {
                b.is_ascii_alphanumeric() || b == b'_' || (i > 0 && (b == b'.' || b == b'-'))
            });
        if !ok {
            return Err(invalid(name, "invalid tag"));
        }
    }
    if repo.is_empty() {
        return Err(invalid(name, "empty repository name"));
    }
    if repo.len() > 255 {
        return Err(invalid(
            name,
            "repository name must not be longer than 255 characters",
        ));
    }
    let (domain, path) = match repo.split_once('/') {
        Some((first, path))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (Some(first), path)
        }
        _ => (None, repo),
    };
    if let Some(d) = domain {
        let (host, port) = match d.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        };
        let host_ok = !host.is_empty()
            && host.split('.').all(|l| {
                !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        if !host_ok || !port_ok {
            return Err(invalid(name, "invalid registry host"));
        }
    }
    for component in path.split('/') {
        if component.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(invalid(name, "repository name must be lowercase"));
        }
        if !valid_component(component) {
            return Err(invalid(name, "invalid reference format"));
        }
    }
    Ok(Parts {
        domain,
        path,
        tag,
        digest,
    })
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
fn valid_component(c: &str) -> bool {
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
        // A separator run: ".", "_", "__" or one or more "-".
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_is_added_only_when_needed() {
        assert_eq!(tag_name("app").unwrap(), "app:latest");
        assert_eq!(tag_name("app:1.0").unwrap(), "app:1.0");
        assert_eq!(
            tag_name("localhost:5000/x/y").unwrap(),
            "localhost:5000/x/y:latest"
        );
        assert_eq!(
            tag_name("localhost:5000/x/y:2").unwrap(),
            "localhost:5000/x/y:2"
        );
        let d = format!("app@{}", crate::digest::Digest::of(b""));
        assert_eq!(tag_name(&d).unwrap(), d);
    }

    #[test]
    fn canonical_forms_match_docker() {
        for (a, b) in [
            ("busybox", "docker.io/library/busybox:latest"),
            ("busybox:1.36", "docker.io/library/busybox:1.36"),
            ("docker.io/busybox", "docker.io/library/busybox:latest"),
            (
                "index.docker.io/library/busybox",
                "docker.io/library/busybox:latest",
            ),
            ("user/app:2", "docker.io/user/app:2"),
            ("localhost/app", "localhost/app:latest"),
            ("ghcr.io/o/r:t", "ghcr.io/o/r:t"),
        ] {
            assert_eq!(canonical(a).unwrap(), b, "{a}");
        }
    }

    #[test]
    fn bad_names_are_rejected_with_a_reason() {
        for (name, reason) in [
            ("App", "repository name must be lowercase"),
            ("app:", "invalid tag"),
            ("app:-x", "invalid tag"),
            ("a//b", "invalid reference format"),
            ("a-", "invalid reference format"),
            ("", "empty name"),
            ("app@sha256:zz", "invalid digest"),
        ] {
            match tag_name(name) {
                Err(StoreError::InvalidName { reason: r, .. }) => assert_eq!(r, reason, "{name}"),
                other => panic!("{name}: {other:?}"),
            }
        }
        assert!(tag_name("my_app__x.y-z---w").is_ok());
    }

    #[test]
    fn repository_and_tag_split_like_docker_images() {
        assert_eq!(
            repository_and_tag("localhost:5000/a/b:2"),
            ("localhost:5000/a/b".into(), "2".into())
        );
        assert_eq!(
            repository_and_tag("app:latest"),
            ("app".into(), "latest".into())
        );
        assert_eq!(
            repository_and_tag("localhost:5000/a"),
            ("localhost:5000/a".into(), "<none>".into())
        );
    }
}
