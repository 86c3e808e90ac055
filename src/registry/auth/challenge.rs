//! `WWW-Authenticate` challenges: what a registry wants before it answers (RFC 7235).

use std::collections::BTreeMap;

/// How a registry asks clients to authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// HTTP basic auth with the user's credentials on every request.
    Basic,
    /// Docker token auth: get a bearer token from `realm`.
    Bearer {
        /// The token endpoint URL.
        realm: String,
        /// The `service` parameter to pass along.
        service: Option<String>,
        /// The scope the registry asked for, if it said.
        scope: Option<String>,
    },
}

impl Challenge {
    /// True when both challenges send clients to the same place (the scope they name,
    /// which differs per request, does not count).
    pub fn same_server(&self, other: &Challenge) -> bool {
        match (self, other) {
            (Challenge::Basic, Challenge::Basic) => true,
            (
                Challenge::Bearer { realm, service, .. },
                Challenge::Bearer {
                    realm: r2,
                    service: s2,
                    ..
                },
            ) => realm == r2 && service == s2,
            _ => false,
        }
    }
}

/// Parses a `WWW-Authenticate` header; prefers a Bearer challenge over Basic.
pub fn parse(header: &str) -> Option<Challenge> {
    let mut found = Vec::new();
    let mut rest = header.trim();
    while !rest.is_empty() {
        let (scheme, after) = match rest.find([' ', ',']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (params, after) = parse_params(after);
        if !scheme.is_empty() {
            found.push((scheme.to_ascii_lowercase(), params));
        }
        rest = after.trim_start_matches([' ', ',']);
    }
    let bearer = found.iter().find(|(s, _)| s == "bearer");
    if let Some((_, p)) = bearer {
        let realm = p.get("realm")?.clone();
        return Some(Challenge::Bearer {
            realm,
            service: p.get("service").cloned(),
            scope: p.get("scope").cloned(),
        });
    }
    found
        .iter()
        .any(|(s, _)| s == "basic")
        .then_some(Challenge::Basic)
}

/// Parses `k=v, k="v"` pairs; stops at the next challenge's scheme. Returns the rest.
fn parse_params(mut s: &str) -> (BTreeMap<String, String>, &str) {
    let mut params = BTreeMap::new();
    loop {
        let t = s.trim_start_matches([' ', ',']);
        let Some(eq) = t.find('=') else {
            return (params, t);
        };
        let key = &t[..eq];
        if key.is_empty() || key.contains([' ', ',']) {
            // Not a parameter: a new challenge's scheme.
            return (params, t);
        }
        let v = &t[eq + 1..];
        let (value, after) = if let Some(q) = v.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = q.char_indices();
            let mut end = q.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            out.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => out.push(c),
                }
            }
            (out, &q[end.min(q.len())..])
        } else {
            let end = v.find(',').unwrap_or(v.len());
            (v[..end].trim().to_string(), &v[end..])
        };
        params.insert(key.to_ascii_lowercase(), value);
        s = after;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_bearer() {
        let c = parse(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
        );
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/busybox:pull".into()),
            })
        );
    }

    #[test]
    fn basic_and_mixed() {
        assert_eq!(
            parse(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        let c = parse(r#"Basic realm="x", Bearer realm="https://a/t", service=reg"#);
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://a/t".into(),
                service: Some("reg".into()),
                scope: None
            })
        );
        assert_eq!(
            parse(r#"Bearer realm="a\"b""#),
            Some(Challenge::Bearer {
                realm: "a\"b".into(),
                service: None,
                scope: None
            })
        );
        assert_eq!(parse("Negotiate"), None);
        assert_eq!(
            parse("Bearer service=x"),
            None,
            "a bearer challenge needs a realm"
        );
    }
}
