//! Image references (`busybox`, `localhost:5000/app:1.0`, `repo@sha256:…`), parsed and
//! normalized as Docker does (distribution/reference's "familiar" rules), so a name means
//! the same image here as in `docker pull`.

use std::fmt;

use crate::digest::Digest;

use grammar::{check_domain, check_path, check_tag, parse_digest, split_registry};

mod grammar;

/// The registry that familiar names without a host refer to.
pub const DOCKER_HUB: &str = "docker.io";
/// The host that actually serves Docker Hub's registry API.
pub const DOCKER_HUB_ENDPOINT: &str = "registry-1.docker.io";
/// Docker Hub's key in `~/.docker/config.json`.
pub const DOCKER_HUB_CONFIG_KEY: &str = "https://index.docker.io/v1/";

const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// A parsed, normalized image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// Why a reference was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid reference format: {reason} (in {input:?})")]
pub struct ReferenceError {
    /// The text as given.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

impl Reference {
    /// Parses `s` as Docker does: `busybox` → `docker.io/library/busybox:latest`.
    ///
    /// The first path component is a registry host only when it contains `.` or `:`, is
    /// `localhost`, or has upper-case letters; a reference with neither tag nor digest
    /// gets the tag `latest`.
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        let fail = |reason: String| ReferenceError {
            input: s.to_string(),
            reason,
        };
        if s.is_empty() {
            return Err(fail(
                "repository name must have at least one component".into(),
            ));
        }
        if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(fail(format!(
                "invalid repository name ({s}), cannot specify 64-byte hexadecimal strings"
            )));
        }
        let (name_tag, digest) = match s.split_once('@') {
            Some((n, d)) => (n, Some(parse_digest(d).map_err(fail)?)),
            None => (s, None),
        };
        let (name, tag) = match name_tag.rsplit_once(':') {
            Some((n, t)) if !t.contains('/') => (n, Some(t)),
            _ => (name_tag, None),
        };
        if let Some(t) = tag {
            check_tag(t).map_err(fail)?;
        }
        let (registry, repository) = split_registry(name);
        if repository.to_ascii_lowercase() != repository {
            return Err(fail(format!(
                "repository name ({repository}) must be lowercase"
            )));
        }
        if registry != DOCKER_HUB {
            check_domain(&registry).map_err(fail)?;
        }
        check_path(&repository).map_err(fail)?;
        if registry.len() + 1 + repository.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(fail(format!(
                "repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
            )));
        }
        let tag = match (tag, digest) {
            (Some(t), _) => Some(t.to_string()),
            (None, None) => Some("latest".to_string()),
            (None, Some(_)) => None,
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The registry as named (`docker.io`, `localhost:5000`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The host (and port) that serves the registry API (`registry-1.docker.io` for Docker Hub).
    pub fn endpoint(&self) -> &str {
        endpoint_of(&self.registry)
    }

    /// The repository path (`library/busybox`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, if any (`latest` is filled in when neither tag nor digest was given).
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The pinned digest, if any.
    pub fn digest(&self) -> Option<Digest> {
        self.digest
    }

    /// What to ask the registry for: the digest when pinned (it wins), else the tag.
    pub fn manifest_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_string(),
        }
    }

    /// The same repository pinned to `digest` (the tag is kept for naming).
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// The same repository with `tag` and no digest.
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        check_tag(tag).map_err(|reason| ReferenceError {
            input: tag.to_string(),
            reason,
        })?;
        Ok(Reference {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        })
    }

    /// Another repository of the same registry (for cross-repository mounts).
    pub fn in_repository(&self, repository: &str) -> Reference {
        Reference {
            repository: repository.to_string(),
            tag: None,
            digest: None,
            registry: self.registry.clone(),
        }
    }

    /// `registry/repository`, fully qualified, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The short name Docker shows: `busybox`, `user/app`, `localhost:5000/app`.
    pub fn familiar_name(&self) -> String {
        if self.registry != DOCKER_HUB {
            return self.name();
        }
        match self.repository.strip_prefix("library/") {
            Some(rest) if !rest.contains('/') => rest.to_string(),
            _ => self.repository.clone(),
        }
    }

    /// The short form with tag and digest: `busybox:latest`, `app@sha256:…`.
    pub fn familiar(&self) -> String {
        with_suffix(self.familiar_name(), self.tag.as_deref(), self.digest)
    }
}

impl fmt::Display for Reference {
    /// The canonical form: `docker.io/library/busybox:latest`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&with_suffix(self.name(), self.tag.as_deref(), self.digest))
    }
}

impl std::str::FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Reference, ReferenceError> {
        Reference::parse(s)
    }
}

/// The host that serves `registry`'s API (Docker Hub's names map to `registry-1.docker.io`).
pub fn endpoint_of(registry: &str) -> &str {
    if registry == DOCKER_HUB {
        DOCKER_HUB_ENDPOINT
    } else {
        registry
    }
}

/// Normalizes a registry name as `docker login` takes it (`https://host/…` → `host`;
/// Docker Hub's aliases → `docker.io`).
pub fn normalize_registry(server: &str) -> String {
    let s = server.trim();
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    let host = s.split('/').next().unwrap_or(s);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" | "registry.hub.docker.com" => {
            DOCKER_HUB.to_string()
        }
        h => h.to_string(),
    }
}

fn with_suffix(mut name: String, tag: Option<&str>, digest: Option<Digest>) -> String {
    if let Some(t) = tag {
        name.push(':');
        name.push_str(t);
    }
    if let Some(d) = digest {
        name.push('@');
        name.push_str(&d.to_string());
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn canon(s: &str) -> String {
        Reference::parse(s).unwrap().to_string()
    }

    #[test]
    fn familiar_names_normalize_like_docker() {
        assert_eq!(canon("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(canon("user/app"), "docker.io/user/app:latest");
        assert_eq!(canon("user/app:1.0"), "docker.io/user/app:1.0");
        assert_eq!(
            canon("docker.io/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            canon("index.docker.io/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(canon("localhost/app"), "localhost/app:latest");
        assert_eq!(canon("localhost:5000/a/b:2"), "localhost:5000/a/b:2");
        assert_eq!(
            canon("127.0.0.1:5000/busybox"),
            "127.0.0.1:5000/busybox:latest"
        );
        assert_eq!(canon("ghcr.io/o/r/x:v1"), "ghcr.io/o/r/x:v1");
        assert_eq!(canon("[::1]:5000/app"), "[::1]:5000/app:latest");
        // A first component without '.', ':' or "localhost" is a path, not a host.
        assert_eq!(canon("foo/bar/baz"), "docker.io/foo/bar/baz:latest");
    }

    #[test]
    fn digests_pin_and_keep_the_tag() {
        let r = Reference::parse(&format!("busybox@{D}")).unwrap();
        assert_eq!(r.tag(), None);
        assert_eq!(r.manifest_reference(), D);
        assert_eq!(r.familiar(), format!("busybox@{D}"));
        let r = Reference::parse(&format!("localhost:5000/app:1.0@{D}")).unwrap();
        assert_eq!(r.tag(), Some("1.0"));
        assert_eq!(r.manifest_reference(), D, "the digest wins for pulling");
        assert_eq!(r.to_string(), format!("localhost:5000/app:1.0@{D}"));
    }

    #[test]
    fn familiar_form_and_endpoint() {
        let r = Reference::parse("docker.io/library/busybox:1.36").unwrap();
        assert_eq!(r.familiar(), "busybox:1.36");
        assert_eq!(r.endpoint(), "registry-1.docker.io");
        assert_eq!(r.repository(), "library/busybox");
        let r = Reference::parse("docker.io/library/a/b").unwrap();
        assert_eq!(r.familiar_name(), "library/a/b");
        let r = Reference::parse("localhost:5000/busybox").unwrap();
        assert_eq!(r.familiar(), "localhost:5000/busybox:latest");
        assert_eq!(r.endpoint(), "localhost:5000");
    }

    #[test]
    fn errors_say_why() {
        let e = Reference::parse("Busybox").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid reference format: repository name (library/Busybox) must be lowercase (in \"Busybox\")"
        );
        // An upper-case first component is taken as a host, as Docker does.
        let r = Reference::parse("Foo/bar").unwrap();
        assert_eq!(r.registry(), "Foo");
        for bad in [
            "",
            "app:",
            "app:-x",
            "app:a b",
            "a//b",
            "-a",
            "a-",
            "a..b",
            "a___b",
            "app@sha256:123",
            "app@md5",
            "host:abc/app",
            "localhost:/app",
            ":tag",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ] {
            let err = Reference::parse(bad).expect_err(bad);
            assert!(
                err.to_string().starts_with("invalid reference format"),
                "{err}"
            );
        }
        let long = format!("a:{}", "x".repeat(129));
        assert!(Reference::parse(&long).is_err());
        let long_name = format!("{}/b", "a".repeat(260));
        assert!(
            Reference::parse(&long_name)
                .unwrap_err()
                .reason
                .contains("255")
        );
    }

    #[test]
    fn separators_follow_the_grammar() {
        for ok in ["a.b", "a_b", "a__b", "a-b", "a---b", "a1/b2.c_d__e-f"] {
            Reference::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn login_server_names() {
        assert_eq!(
            normalize_registry("https://index.docker.io/v1/"),
            "docker.io"
        );
        assert_eq!(normalize_registry("localhost:5000"), "localhost:5000");
        assert_eq!(
            normalize_registry("https://r.example.com/v2/"),
            "r.example.com"
        );
    }
}
