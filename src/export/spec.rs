//! `-o/--output` specs in buildx syntax: `type=oci,dest=app.tar`,
//! `type=docker,dest=-`, `type=local,dest=out`, `type=image,name=a:1,push=true`,
//! `type=oci,dest=dir,tar=false`, and the shorthands `-o DIR` (= `type=local,dest=DIR`)
//! and `-o -` (= `type=tar,dest=-`).
//!
//! Fields are comma-separated CSV (a field may be double-quoted to hold commas, as in
//! `"name=a:1,b:2"`); keys are case-insensitive. Attributes rbuild does not act on
//! (`compression`, `oci-mediatypes`, …) are kept in [`OutputSpec::attrs`] for the caller.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::ExportError;

/// What an output produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputType {
    /// OCI image layout (tarball, or a directory with `tar=false`).
    Oci,
    /// docker-archive tarball (`docker load`, `podman load`).
    Docker,
    /// The image's merged filesystem, written to a directory.
    Local,
    /// The image's merged filesystem as a tarball.
    Tar,
    /// An image in the store (and a registry with `push=true`).
    Image,
    /// `type=image,push=true`.
    Registry,
}

impl OutputType {
    fn parse(s: &str) -> Option<OutputType> {
        Some(match s {
            "oci" => OutputType::Oci,
            "docker" => OutputType::Docker,
            "local" => OutputType::Local,
            "tar" => OutputType::Tar,
            "image" => OutputType::Image,
            "registry" => OutputType::Registry,
            _ => return None,
        })
    }
}

/// Where an output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    /// A file or directory.
    Path(PathBuf),
    /// Standard output (`dest=-`).
    Stdout,
}

/// One parsed `--output`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputSpec {
    /// The exporter.
    pub kind: OutputType,
    /// `dest=`; `None` when not given (the caller decides: stdout when it is not a terminal).
    pub dest: Option<Dest>,
    /// `tar=` (default true): write a tarball rather than a directory (oci, docker).
    pub tar: bool,
    /// `name=` (comma-separated inside quotes for several).
    pub names: Vec<String>,
    /// `push=` (true for `type=registry`).
    pub push: bool,
    /// Every other attribute, keys lower-cased.
    pub attrs: BTreeMap<String, String>,
}

impl OutputSpec {
    /// Parses one `--output` value.
    pub fn parse(spec: &str) -> Result<OutputSpec, ExportError> {
        let err = |reason: String| ExportError::InvalidOutput {
            spec: spec.to_string(),
            reason,
        };
        let fields = split_csv(spec).map_err(|r| err(r.to_string()))?;
        if fields.len() == 1 && !fields[0].contains('=') {
            let only = fields[0].as_str();
            if only.is_empty() {
                return Err(err("empty output".into()));
            }
            return Ok(if only == "-" {
                OutputSpec::new(OutputType::Tar, Some(Dest::Stdout))
            } else {
                OutputSpec::new(OutputType::Local, Some(Dest::Path(PathBuf::from(only))))
            });
        }
        let mut kind = None;
        let mut out = OutputSpec::new(OutputType::Local, None);
        for field in &fields {
            let (key, value) = field
                .split_once('=')
                .ok_or_else(|| err(format!("invalid field {field:?}: expected key=value")))?;
            let key = key.trim().to_ascii_lowercase();
            match key.as_str() {
                "type" => {
                    kind = Some(OutputType::parse(value).ok_or_else(|| {
                        err(format!(
                            "unknown output type {value:?} (expected oci, docker, local, tar, image or registry)"
                        ))
                    })?)
                }
                "dest" if value == "-" => out.dest = Some(Dest::Stdout),
                "dest" if value.is_empty() => return Err(err("empty dest".into())),
                "dest" => out.dest = Some(Dest::Path(PathBuf::from(value))),
                "tar" => out.tar = parse_bool(value).ok_or_else(|| err(format!("invalid tar={value:?}")))?,
                "push" => out.push = parse_bool(value).ok_or_else(|| err(format!("invalid push={value:?}")))?,
                "name" => out.names.extend(
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|n| !n.is_empty())
                        .map(str::to_string),
                ),
                _ => {
                    out.attrs.insert(key, value.to_string());
                }
            }
        }
        out.kind =
            kind.ok_or_else(|| err("type is required (e.g. type=oci,dest=app.tar)".into()))?;
        if out.kind == OutputType::Registry {
            out.push = true;
        }
        match out.kind {
            OutputType::Local if out.dest.is_none() => {
                return Err(err("type=local needs dest=DIR".into()));
            }
            OutputType::Local if out.dest == Some(Dest::Stdout) => {
                return Err(err(
                    "type=local writes a directory; use type=tar,dest=- for standard output".into(),
                ));
            }
            OutputType::Image | OutputType::Registry if out.dest.is_some() => {
                return Err(err(format!("type={} takes no dest", type_name(out.kind))));
            }
            _ => {}
        }
        if !out.tar && !matches!(out.kind, OutputType::Oci | OutputType::Docker) {
            return Err(err(
                "tar=false applies to type=oci and type=docker only".into()
            ));
        }
        if !out.tar && out.dest == Some(Dest::Stdout) {
            return Err(err(
                "tar=false writes a directory, not standard output".into()
            ));
        }
        if out.push && !matches!(out.kind, OutputType::Image | OutputType::Registry) {
            return Err(err(
                "push=true applies to type=image and type=registry only".into(),
            ));
        }
        Ok(out)
    }

    fn new(kind: OutputType, dest: Option<Dest>) -> OutputSpec {
        OutputSpec {
            kind,
            dest,
            tar: true,
            names: Vec::new(),
            push: false,
            attrs: BTreeMap::new(),
        }
    }
}

impl std::str::FromStr for OutputSpec {
    type Err = ExportError;
    fn from_str(s: &str) -> Result<OutputSpec, ExportError> {
        OutputSpec::parse(s)
    }
}

fn type_name(t: OutputType) -> &'static str {
    match t {
        OutputType::Oci => "oci",
        OutputType::Docker => "docker",
        OutputType::Local => "local",
        OutputType::Tar => "tar",
        OutputType::Image => "image",
        OutputType::Registry => "registry",
    }
}

/// Go's `strconv.ParseBool`.
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Splits one CSV record (Go's `encoding/csv` rules for a single line: `"` quotes a
/// field or part of one, `""` inside quotes is a literal quote).
pub(crate) fn split_csv(s: &str) -> Result<Vec<String>, &'static str> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    if quoted {
        return Err("unterminated quote");
    }
    fields.push(cur);
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> OutputSpec {
        OutputSpec::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn reason(s: &str) -> String {
        match OutputSpec::parse(s) {
            Err(ExportError::InvalidOutput { reason, .. }) => reason,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn shorthands() {
        assert_eq!(
            p("out"),
            OutputSpec::new(OutputType::Local, Some(Dest::Path("out".into())))
        );
        assert_eq!(p("-"), OutputSpec::new(OutputType::Tar, Some(Dest::Stdout)));
    }

    #[test]
    fn buildx_fields() {
        let s = p("type=oci,dest=app.tar,name=app:1.0");
        assert_eq!(s.kind, OutputType::Oci);
        assert_eq!(s.dest, Some(Dest::Path("app.tar".into())));
        assert_eq!(s.names, ["app:1.0"]);
        assert!(s.tar);
        let s = p("type=oci,dest=dir,tar=false,compression=zstd");
        assert!(!s.tar);
        assert_eq!(s.attrs.get("compression").map(String::as_str), Some("zstd"));
        let s = p(r#"type=image,"name=a:1,b:2",push=true"#);
        assert_eq!(s.names, ["a:1", "b:2"]);
        assert!(s.push);
        assert!(p("type=registry,name=x").push);
        assert_eq!(p("TYPE=docker,Dest=-").dest, Some(Dest::Stdout));
        assert_eq!(p("type=docker").dest, None);
    }

    #[test]
    fn clear_errors() {
        assert_eq!(
            reason("dest=x"),
            "type is required (e.g. type=oci,dest=app.tar)"
        );
        assert!(reason("type=zip,dest=x").starts_with("unknown output type \"zip\""));
        assert_eq!(reason("type=local"), "type=local needs dest=DIR");
        assert_eq!(reason("type=oci,tar=maybe"), "invalid tar=\"maybe\"");
        assert_eq!(
            reason("type=local,dest=d,tar=false"),
            "tar=false applies to type=oci and type=docker only"
        );
        assert_eq!(
            reason("type=oci,push=true"),
            "push=true applies to type=image and type=registry only"
        );
        assert_eq!(reason(r#"type=image,"name=a"#), "unterminated quote");
        assert_eq!(
            reason("type=oci,novalue"),
            "invalid field \"novalue\": expected key=value"
        );
    }
}
