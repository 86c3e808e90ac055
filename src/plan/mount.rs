//! `RUN --mount=type=…,target=…`: BuildKit's CSV syntax, keys, validation and defaults.
//!
//! Checked twice, as BuildKit does: when the instruction is read (type, and no variables
//! in `from=`, which decides the stage graph), and when the step is planned, after the
//! values are expanded (everything else).

use super::instruction::{MountKind, MountSpec, Sharing};
use super::suggest::did_you_mean;

const KEYS: &[&str] = &[
    "type",
    "from",
    "source",
    "target",
    "readonly",
    "id",
    "sharing",
    "required",
    "size",
    "mode",
    "uid",
    "gid",
    "src",
    "dst",
    "destination",
    "ro",
    "rw",
    "readwrite",
    "env",
];

/// A mount problem, with an optional hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountError {
    pub message: String,
    pub hint: Option<String>,
}

fn err(message: impl Into<String>) -> MountError {
    MountError {
        message: message.into(),
        hint: None,
    }
}

/// Splits a CSV record (quotes at the start of a field group; `""` is a quote).
pub(crate) fn csv_fields(s: &str) -> Result<Vec<String>, MountError> {
    let mut fields = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => {
                        return Err(err(format!(
                            "failed to parse csv mounts: extraneous or missing \" in quoted-field: {s}"
                        )));
                    }
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => {}
                Some(_) => {
                    return Err(err(format!(
                        "failed to parse csv mounts: extraneous or missing \" in quoted-field: {s}"
                    )));
                }
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some('"') => {
                        return Err(err(format!(
                            "failed to parse csv mounts: bare \" in non-quoted-field: {s}"
                        )));
                    }
                    Some(c) => field.push(c),
                }
            }
        }
        fields.push(field);
    }
}

fn kind(value: &str) -> Result<MountKind, MountError> {
    Ok(match value.to_lowercase().as_str() {
        "bind" => MountKind::Bind,
        "cache" => MountKind::Cache,
        "tmpfs" => MountKind::Tmpfs,
        "secret" => MountKind::Secret,
        "ssh" => MountKind::Ssh,
        _ => {
            return Err(MountError {
                message: format!(
                    "unsupported mount type {}",
                    crate::dockerfile::goquote(value)
                ),
                hint: did_you_mean(value, ["bind", "cache", "tmpfs", "secret", "ssh"]),
            });
        }
    })
}

/// First check, before expansion: returns the raw `from=` value.
pub(crate) fn precheck(spec: &str) -> Result<Option<String>, MountError> {
    let mut from = None;
    for field in csv_fields(spec)? {
        let Some((key, value)) = field.split_once('=') else {
            continue;
        };
        match key.to_lowercase().as_str() {
            "type" => {
                kind(value)?;
            }
            "from" => {
                if value.find('$').is_some_and(|i| i != value.len() - 1) {
                    return Err(err(
                        "'from' doesn't support variable expansion, define alias stage instead",
                    ));
                }
                from = Some(value.to_string());
            }
            _ => {}
        }
    }
    Ok(from)
}

fn parse_bool(key: &str, value: &str) -> Result<bool, MountError> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(err(format!("invalid value for {key}: {value}"))),
    }
}

/// `units.RAMInBytes`: `64m`, `1.5g`, `100kb`, `4096`.
fn ram_in_bytes(s: &str) -> Option<u64> {
    let lower = s.trim().to_lowercase();
    let num_end = lower
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(num_end);
    let value: f64 = num.parse().ok()?;
    let unit = unit.trim_start();
    let unit = unit.strip_suffix('b').unwrap_or(unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let mult: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return None,
    };
    let bytes = value * mult;
    (bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

/// Lexically cleans an absolute path (Go's `path.Clean`).
pub(crate) fn clean_path(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// Parses an expanded mount spec into a [`MountSpec`] with BuildKit's defaults; `workdir`
/// resolves a relative target, `ssh_index` numbers default SSH sockets.
pub(crate) fn parse(
    spec: &str,
    workdir: &str,
    ssh_index: usize,
) -> Result<(MountSpec, Option<String>), MountError> {
    let mut m = MountSpec::new(MountKind::Bind);
    let mut from: Option<String> = None;
    let mut readonly: Option<bool> = None;
    let mut sharing_set = false;
    for field in csv_fields(spec)? {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.to_lowercase(), Some(v.to_string())),
            None => (field.to_lowercase(), None),
        };
        let Some(value) = value else {
            match key.as_str() {
                "readonly" | "ro" => readonly = Some(true),
                "readwrite" | "rw" => readonly = Some(false),
                "required" if matches!(m.kind, MountKind::Secret | MountKind::Ssh) => {
                    m.required = true
                }
                "required" => {
                    return Err(err(format!(
                        "unexpected key '{key}' for mount type '{}'",
                        kind_name(m.kind)
                    )));
                }
                _ => {
                    return Err(err(format!(
                        "invalid field '{field}' must be a key=value pair"
                    )));
                }
            }
            continue;
        };
        match key.as_str() {
            "type" => m.kind = kind(&value)?,
            "from" => from = Some(value),
            "source" | "src" => m.source = Some(value),
            "target" | "dst" | "destination" => m.target = Some(value),
            "readonly" | "ro" => readonly = Some(parse_bool(&key, &value)?),
            "readwrite" | "rw" => readonly = Some(!parse_bool(&key, &value)?),
            "required" => {
                if !matches!(m.kind, MountKind::Secret | MountKind::Ssh) {
                    return Err(err(format!(
                        "unexpected key '{key}' for mount type '{}'",
                        kind_name(m.kind)
                    )));
                }
                m.required = parse_bool(&key, &value)?;
            }
            "size" => {
                if m.kind != MountKind::Tmpfs {
                    return Err(err(format!(
                        "unexpected key '{key}' for mount type '{}'",
                        kind_name(m.kind)
                    )));
                }
                m.size = Some(
                    ram_in_bytes(&value)
                        .ok_or_else(|| err(format!("invalid value for {key}: {value}")))?,
                );
            }
            "id" => m.id = Some(value),
            "sharing" => {
                m.sharing = match value.to_lowercase().as_str() {
                    "shared" => Sharing::Shared,
                    "private" => Sharing::Private,
                    "locked" => Sharing::Locked,
                    _ => {
                        return Err(MountError {
                            message: format!(
                                "unsupported sharing value {}",
                                crate::dockerfile::goquote(&value)
                            ),
                            hint: did_you_mean(&value, ["shared", "private", "locked"]),
                        });
                    }
                };
                sharing_set = true;
            }
            "mode" => {
                m.mode = Some(
                    u32::from_str_radix(&value, 8)
                        .map_err(|_| err(format!("invalid value {value} for mode")))?,
                );
            }
            "uid" => {
                m.uid = Some(
                    value
                        .parse()
                        .map_err(|_| err(format!("invalid value {value} for uid")))?,
                )
            }
            "gid" => {
                m.gid = Some(
                    value
                        .parse()
                        .map_err(|_| err(format!("invalid value {value} for gid")))?,
                )
            }
            "env" => m.env = Some(value),
            _ => {
                return Err(MountError {
                    message: format!("unexpected key '{key}' in '{field}'"),
                    hint: did_you_mean(&key, KEYS.iter().copied()),
                });
            }
        }
    }
    let file_info = matches!(
        m.kind,
        MountKind::Secret | MountKind::Ssh | MountKind::Cache
    );
    if !file_info {
        for (set, name) in [
            (m.mode.is_some(), "mode"),
            (m.uid.is_some(), "uid"),
            (m.gid.is_some(), "gid"),
        ] {
            if set {
                return Err(err(format!(
                    "{name} not allowed for \"{}\" type mounts",
                    kind_name(m.kind)
                )));
            }
        }
    }
    m.readwrite = match readonly {
        Some(ro) => !ro,
        None => matches!(m.kind, MountKind::Cache | MountKind::Tmpfs),
    };
    if sharing_set && m.kind != MountKind::Cache {
        if m.kind == MountKind::Secret {
            return Err(err("secret mount should not define sharing"));
        }
        return Err(err(format!(
            "invalid cache sharing set for {} mount",
            kind_name(m.kind)
        )));
    }
    match m.kind {
        MountKind::Secret => {
            if from.is_some() {
                return Err(err("secret mount should not have a from"));
            }
            if m.source.is_none() && m.target.is_none() && m.id.is_none() {
                return Err(err("invalid secret mount. one of source, target required"));
            }
            if m.source.is_some() && m.id.is_some() {
                return Err(err("both source and id can't be set"));
            }
            let id = m
                .source
                .take()
                .or(m.id.take())
                .unwrap_or_else(|| base_name(m.target.as_deref().unwrap_or_default()));
            if m.env.is_none() && m.target.is_none() {
                m.target = Some(format!("/run/secrets/{}", base_name(&id)));
            }
            m.id = Some(id);
        }
        MountKind::Ssh => {
            if m.source.is_some() {
                return Err(err("ssh does not support source"));
            }
            m.id.get_or_insert_with(|| "default".to_string());
            m.target
                .get_or_insert_with(|| format!("/run/buildkit/ssh_agent.{ssh_index}"));
        }
        MountKind::Bind | MountKind::Cache | MountKind::Tmpfs => {
            let Some(raw) = m.target.clone().filter(|t| !t.is_empty()) else {
                return Err(MountError {
                    message: format!("mount type {} requires a target", kind_name(m.kind)),
                    hint: Some("add target=/path/in/container".to_string()),
                });
            };
            if m.kind == MountKind::Cache && m.id.is_none() {
                m.id = Some(clean_path(&raw));
            }
            let target = if raw.starts_with('/') {
                clean_path(&raw)
            } else {
                clean_path(&format!("/{workdir}/{raw}"))
            };
            if target == "/" {
                return Err(err(format!(
                    "invalid mount target {}",
                    crate::dockerfile::goquote(&target)
                )));
            }
            m.target = Some(target);
        }
    }
    Ok((m, from))
}

fn base_name(p: &str) -> String {
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return if p.is_empty() { ".".into() } else { "/".into() };
    }
    t.rsplit('/').next().unwrap_or(t).to_string()
}

fn kind_name(k: MountKind) -> &'static str {
    match k {
        MountKind::Bind => "bind",
        MountKind::Cache => "cache",
        MountKind::Tmpfs => "tmpfs",
        MountKind::Secret => "secret",
        MountKind::Ssh => "ssh",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(spec: &str) -> MountSpec {
        parse(spec, "/work", 0)
            .unwrap_or_else(|e| panic!("{spec}: {e:?}"))
            .0
    }

    fn fail(spec: &str) -> String {
        parse(spec, "/", 0).err().unwrap().message
    }

    #[test]
    fn defaults_per_type() {
        let b = ok("target=src");
        assert_eq!(
            (b.kind, b.target.as_deref(), b.readwrite),
            (MountKind::Bind, Some("/work/src"), false)
        );
        let b = ok("type=bind,source=/x,target=/y,rw");
        assert!(b.readwrite);
        assert_eq!(b.source.as_deref(), Some("/x"));
        let c = ok("type=cache,target=/root/.cache/");
        assert_eq!(
            (c.id.as_deref(), c.readwrite, c.sharing),
            (Some("/root/.cache"), true, Sharing::Shared)
        );
        let c = ok("type=cache,target=/c,id=x,sharing=locked,mode=0700,uid=1000,gid=1000");
        assert_eq!(
            (c.mode, c.uid, c.gid, c.sharing),
            (Some(0o700), Some(1000), Some(1000), Sharing::Locked)
        );
        let t = ok("type=tmpfs,target=/tmp,size=64m");
        assert_eq!(t.size, Some(64 << 20));
        let s = ok("type=secret,id=aws");
        assert_eq!(
            (s.target.as_deref(), s.required, s.readwrite),
            (Some("/run/secrets/aws"), false, false)
        );
        let s = ok("type=secret,id=tok,env=TOKEN,required");
        assert_eq!(
            (s.target, s.env.as_deref(), s.required),
            (None, Some("TOKEN"), true)
        );
        let s = ok("type=secret,target=/etc/key.pem");
        assert_eq!(s.id.as_deref(), Some("key.pem"));
        let h = ok("type=ssh");
        assert_eq!(
            (h.id.as_deref(), h.target.as_deref()),
            (Some("default"), Some("/run/buildkit/ssh_agent.0"))
        );
        let (_, from) = parse("type=bind,from=build,target=/b", "/", 0).unwrap();
        assert_eq!(from.as_deref(), Some("build"));
        let q = ok("\"type=bind\",\"target=/a,b\"");
        assert_eq!(q.target.as_deref(), Some("/a,b"));
    }

    #[test]
    fn errors() {
        assert_eq!(fail("type=foo,target=/x"), "unsupported mount type \"foo\"");
        assert_eq!(
            parse("type=cach,target=/x", "/", 0)
                .err()
                .unwrap()
                .hint
                .as_deref(),
            Some("did you mean cache?")
        );
        assert_eq!(
            fail("type=bind,target=/x,sizee=1"),
            "unexpected key 'sizee' in 'sizee=1'"
        );
        assert_eq!(fail("type=bind"), "mount type bind requires a target");
        assert_eq!(fail("type=bind,target=/"), "invalid mount target \"/\"");
        assert_eq!(
            fail("type=bind,target=/x,size=1m"),
            "unexpected key 'size' for mount type 'bind'"
        );
        assert_eq!(
            fail("type=bind,target=/x,mode=0700"),
            "mode not allowed for \"bind\" type mounts"
        );
        assert_eq!(
            fail("type=cache,target=/x,sharing=no"),
            "unsupported sharing value \"no\""
        );
        assert_eq!(
            fail("type=cache,target=/x,mode=9"),
            "invalid value 9 for mode"
        );
        assert_eq!(
            fail("type=secret"),
            "invalid secret mount. one of source, target required"
        );
        assert_eq!(
            fail("type=secret,id=a,sharing=shared"),
            "secret mount should not define sharing"
        );
        assert_eq!(fail("type=ssh,source=x"), "ssh does not support source");
        assert_eq!(
            fail("type=bind,target=/x,foo"),
            "invalid field 'foo' must be a key=value pair"
        );
        assert_eq!(
            fail("type=bind,target=/x,rw=maybe"),
            "invalid value for rw: maybe"
        );
        assert!(precheck("type=bind,from=$X,target=/x").is_err());
        assert_eq!(precheck("from=a,target=/x").unwrap().as_deref(), Some("a"));
        assert!(csv_fields("\"a").is_err());
    }

    #[test]
    fn paths() {
        assert_eq!(clean_path("/a/./b/../c/"), "/a/c");
        assert_eq!(clean_path("/../x"), "/x");
        assert_eq!(clean_path("a/../.."), "..");
        assert_eq!(base_name("/a/b/"), "b");
        assert_eq!(ram_in_bytes("1.5g"), Some(1_610_612_736));
        assert_eq!(ram_in_bytes("100kb"), Some(102_400));
        assert_eq!(ram_in_bytes("4096"), Some(4096));
        assert_eq!(ram_in_bytes("x"), None);
    }
}
