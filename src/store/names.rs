//! Image names as the store keeps them: validated with Docker's reference grammar (the
//! registry module's [`Reference`]), `:latest` added when a name has neither tag nor
//! digest, and compared in their fully qualified form so `busybox:latest` and
//! `docker.io/library/busybox:latest` are one name.

use super::StoreError;
use crate::registry::Reference;

fn parse(name: &str) -> Result<Reference, StoreError> {
    Reference::parse(name).map_err(|e| StoreError::InvalidName {
        name: name.to_string(),
        reason: e.reason,
    })
}

/// The name under which an image is tagged: `name` validated, with `:latest` added when
/// it has neither a tag nor a digest (`app` → `app:latest`).
pub fn tag_name(name: &str) -> Result<String, StoreError> {
    parse(name)?;
    let last = &name[name.rfind('/').map_or(0, |i| i + 1)..];
    Ok(if last.contains(':') || last.contains('@') {
        name.to_string()
    } else {
        format!("{name}:latest")
    })
}

/// The fully qualified form used to compare names (`busybox` →
/// `docker.io/library/busybox:latest`, `index.docker.io/x/y` → `docker.io/x/y:latest`).
pub fn canonical(name: &str) -> Result<String, StoreError> {
    Ok(parse(name)?.to_string())
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
            ("App", "must be lowercase"),
            ("app:", "invalid tag"),
            ("app:-x", "invalid tag"),
            ("a//b", "empty path component"),
            ("a-", "invalid repository path component"),
            ("", "at least one component"),
            ("app@sha256:zz", "invalid digest"),
        ] {
            match tag_name(name) {
                Err(StoreError::InvalidName { reason: r, .. }) => {
                    assert!(r.contains(reason), "{name}: {r}")
                }
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
