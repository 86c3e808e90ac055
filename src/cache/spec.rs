//! `--cache-from` / `--cache-to` values in buildx syntax: `type=registry,ref=REG/REPO:TAG`
//! (also the bare shorthand `REG/REPO:TAG`), `type=local,src=DIR` / `type=local,dest=DIR`,
//! and for export `mode=min|max`, `compression=gzip|zstd|uncompressed`,
//! `compression-level=N`, `ignore-error=true`.
//!
//! Attributes buildx passes that rbuild has no use for (`oci-mediatypes`, `image-manifest`,
//! `force-compression`…) are accepted; unknown ones are reported as warnings, as BuildKit
//! ignores them. `type=inline` (cache metadata inside the image config) is not supported:
//! the spec is skipped with a warning, so CI scripts written for buildx still run.

use std::fmt;
use std::path::PathBuf;

use super::CacheError;
use crate::digest::Digest;
use crate::export::{parse_bool, split_csv};
use crate::layer::Compression;
use crate::registry::Reference;

/// The tag a local cache directory's manifest gets when `tag=` is not given.
pub const DEFAULT_LOCAL_TAG: &str = "latest";

/// Where a cache lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheLocation {
    /// A tag (or digest, for import) in a registry repository.
    Registry(Reference),
    /// An OCI image layout directory; the cache is the manifest tagged `tag` in its
    /// `index.json` (or, for import, the one `digest` names).
    Local {
        /// The directory (absolute).
        dir: PathBuf,
        /// The tag (`org.opencontainers.image.ref.name`).
        tag: String,
        /// `digest=` (import only): this manifest of the index, whatever its tag.
        digest: Option<Digest>,
    },
}

impl fmt::Display for CacheLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheLocation::Registry(r) => write!(f, "{r}"),
            CacheLocation::Local {
                dir,
                digest: Some(d),
                ..
            } => write!(f, "{}@{d}", dir.display()),
            CacheLocation::Local { dir, tag, .. } if tag == DEFAULT_LOCAL_TAG => {
                write!(f, "{}", dir.display())
            }
            CacheLocation::Local { dir, tag, .. } => write!(f, "{} (tag {tag})", dir.display()),
        }
    }
}

/// Which records `--cache-to` exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheMode {
    /// The steps whose layers are in the result image (BuildKit's default).
    #[default]
    Min,
    /// Every step of every stage the build used or made.
    Max,
}

/// One parsed `--cache-from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSpec {
    /// Where to read the cache.
    pub location: CacheLocation,
}

/// One parsed `--cache-to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSpec {
    /// Where to write the cache.
    pub location: CacheLocation,
    /// Which records.
    pub mode: CacheMode,
    /// Re-compress layers that are not compressed this way (`compression=`).
    pub compression: Option<Compression>,
    /// `compression-level=`.
    pub compression_level: Option<i32>,
    /// `ignore-error=true`: a failed export is a warning, not a failed build.
    pub ignore_error: bool,
}

/// A parsed value: the spec (`None` when rbuild skips it) and warnings to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed<T> {
    /// The spec, or `None` for a type rbuild skips (`type=inline`).
    pub spec: Option<T>,
    /// Attributes ignored, types skipped.
    pub warnings: Vec<String>,
}

const INLINE_WARNING: &str = "type=inline is not supported by rbuild: the cache is not embedded in the image (export it with type=registry or type=local instead)";

/// Attributes buildx may pass that rbuild accepts without acting on them.
const ACCEPTED: &[&str] = &["oci-mediatypes", "image-manifest", "force-compression"];

impl ImportSpec {
    /// Parses one `--cache-from` value.
    pub fn parse(raw: &str) -> Result<Parsed<ImportSpec>, CacheError> {
        let flag = "--cache-from";
        let mut f = Fields::parse(flag, raw)?;
        let mut warnings = Vec::new();
        let location = match f.kind.as_str() {
            "registry" => CacheLocation::Registry(f.reference(false)?),
            "local" => {
                let mut location = f.local("src")?;
                if let (CacheLocation::Local { digest, .. }, Some(d)) =
                    (&mut location, f.take("digest"))
                {
                    *digest = Some(
                        d.parse()
                            .map_err(|_| f.error(format!("invalid digest={d:?}")))?,
                    );
                }
                location
            }
            "inline" => {
                return Err(f.error(
                    "type=inline names no cache to read: use type=registry,ref=IMAGE".into(),
                ));
            }
            other => return Err(f.unsupported(other)),
        };
        f.warn_rest(&mut warnings, &[]);
        Ok(Parsed {
            spec: Some(ImportSpec { location }),
            warnings,
        })
    }
}

impl ExportSpec {
    /// Parses one `--cache-to` value.
    pub fn parse(raw: &str) -> Result<Parsed<ExportSpec>, CacheError> {
        let flag = "--cache-to";
        let mut f = Fields::parse(flag, raw)?;
        let mut warnings = Vec::new();
        let location = match f.kind.as_str() {
            "registry" => CacheLocation::Registry(f.reference(true)?),
            "local" => f.local("dest")?,
            "inline" => {
                return Ok(Parsed {
                    spec: None,
                    warnings: vec![INLINE_WARNING.to_string()],
                });
            }
            other => return Err(f.unsupported(other)),
        };
        let mode = match f.take("mode").as_deref() {
            None | Some("min") => CacheMode::Min,
            Some("max") => CacheMode::Max,
            Some(other) => return Err(f.error(format!("invalid mode={other:?} (min or max)"))),
        };
        let compression = match f.take("compression").as_deref() {
            None => None,
            Some("gzip") => Some(Compression::Gzip),
            Some("zstd") => Some(Compression::Zstd),
            Some("uncompressed") => Some(Compression::Uncompressed),
            Some(other) => {
                return Err(f.error(format!(
                    "unsupported compression={other:?} (gzip, zstd or uncompressed)"
                )));
            }
        };
        let compression_level = match f.take("compression-level") {
            None => None,
            Some(v) => Some(
                v.trim()
                    .parse::<i32>()
                    .map_err(|_| f.error(format!("invalid compression-level={v:?}")))?,
            ),
        };
        let ignore_error = match f.take("ignore-error") {
            None => false,
            Some(v) => {
                parse_bool(&v).ok_or_else(|| f.error(format!("invalid ignore-error={v:?}")))?
            }
        };
        f.warn_rest(&mut warnings, ACCEPTED);
        Ok(Parsed {
            spec: Some(ExportSpec {
                location,
                mode,
                compression,
                compression_level,
                ignore_error,
            }),
            warnings,
        })
    }
}

/// The `key=value` fields of one value, keys lower-cased, `type` resolved.
struct Fields {
    flag: &'static str,
    raw: String,
    kind: String,
    rest: Vec<(String, String)>,
}

impl Fields {
    fn parse(flag: &'static str, raw: &str) -> Result<Fields, CacheError> {
        let err = |reason: String| CacheError::InvalidSpec {
            flag,
            spec: raw.to_string(),
            reason,
        };
        let fields = split_csv(raw).map_err(|r| err(r.to_string()))?;
        // buildx: a value without `=` is a registry reference.
        if let [only] = fields.as_slice() {
            if !only.contains('=') {
                if only.trim().is_empty() {
                    return Err(err("empty value".into()));
                }
                return Ok(Fields {
                    flag,
                    raw: raw.to_string(),
                    kind: "registry".into(),
                    rest: vec![("ref".into(), only.trim().to_string())],
                });
            }
        }
        let mut kind = None;
        let mut rest = Vec::new();
        for field in fields.iter().filter(|f| !f.is_empty()) {
            let (k, v) = field
                .split_once('=')
                .ok_or_else(|| err(format!("invalid field {field:?}: expected key=value")))?;
            let k = k.trim().to_ascii_lowercase();
            if k == "type" {
                kind = Some(v.trim().to_ascii_lowercase());
            } else {
                rest.push((k, v.to_string()));
            }
        }
        // As buildx: without a type, `ref` means a registry and `src`/`dest` a directory.
        let kind = match kind {
            Some(k) => k,
            None if rest.iter().any(|(k, _)| k == "ref") => "registry".into(),
            None if rest.iter().any(|(k, _)| k == "src" || k == "dest") => "local".into(),
            None => return Err(err("type is required (registry or local)".into())),
        };
        Ok(Fields {
            flag,
            raw: raw.to_string(),
            kind,
            rest,
        })
    }

    fn error(&self, reason: String) -> CacheError {
        CacheError::InvalidSpec {
            flag: self.flag,
            spec: self.raw.clone(),
            reason,
        }
    }

    fn unsupported(&self, kind: &str) -> CacheError {
        self.error(format!(
            "unsupported cache type {kind:?} (rbuild supports registry and local)"
        ))
    }

    /// Removes and returns the last value of `key`.
    fn take(&mut self, key: &str) -> Option<String> {
        let mut found = None;
        self.rest.retain(|(k, v)| {
            if k == key {
                found = Some(v.clone());
                false
            } else {
                true
            }
        });
        found
    }

    fn reference(&mut self, export: bool) -> Result<Reference, CacheError> {
        let r = self
            .take("ref")
            .filter(|r| !r.trim().is_empty())
            .ok_or_else(|| self.error("type=registry needs ref=REGISTRY/REPOSITORY:TAG".into()))?;
        let reference = Reference::parse(r.trim()).map_err(|e| self.error(e.to_string()))?;
        if export && reference.digest().is_some() {
            return Err(
                self.error("the cache is written under a tag: ref must not name a digest".into())
            );
        }
        Ok(reference)
    }

    fn local(&mut self, dir_key: &str) -> Result<CacheLocation, CacheError> {
        let dir = self
            .take(dir_key)
            .filter(|d| !d.is_empty())
            .ok_or_else(|| self.error(format!("type=local needs {dir_key}=DIR")))?;
        let dir = std::path::absolute(&dir).map_err(|e| self.error(format!("{dir}: {e}")))?;
        let tag = self
            .take("tag")
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| DEFAULT_LOCAL_TAG.to_string());
        Ok(CacheLocation::Local {
            dir,
            tag,
            digest: None,
        })
    }

    /// Warns about every attribute left, except the `accepted` ones.
    fn warn_rest(&self, warnings: &mut Vec<String>, accepted: &[&str]) {
        for (k, _) in &self.rest {
            if !accepted.contains(&k.as_str()) {
                warnings.push(format!(
                    "{} {:?}: attribute {k:?} ignored",
                    self.flag, self.raw
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn import(raw: &str) -> ImportSpec {
        ImportSpec::parse(raw)
            .unwrap_or_else(|e| panic!("{raw}: {e}"))
            .spec
            .unwrap()
    }

    fn export(raw: &str) -> Parsed<ExportSpec> {
        ExportSpec::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"))
    }

    fn reason(r: Result<impl fmt::Debug, CacheError>) -> String {
        match r {
            Err(CacheError::InvalidSpec { reason, .. }) => reason,
            other => panic!("expected an invalid spec, got {other:?}"),
        }
    }

    fn registry(r: &str) -> CacheLocation {
        CacheLocation::Registry(Reference::parse(r).unwrap())
    }

    #[test]
    fn registry_forms() {
        let want = registry("localhost:5000/cache:main");
        assert_eq!(
            import("type=registry,ref=localhost:5000/cache:main").location,
            want
        );
        assert_eq!(import("localhost:5000/cache:main").location, want);
        assert_eq!(import("ref=localhost:5000/cache:main").location, want);
        assert_eq!(
            import("TYPE=Registry,REF=localhost:5000/cache:main").location,
            want
        );
        // No tag: latest, as for images.
        assert_eq!(
            import("type=registry,ref=localhost:5000/cache").location,
            registry("localhost:5000/cache:latest")
        );
    }

    #[test]
    fn export_attributes() {
        let p = export(
            "type=registry,ref=r.example/c:1,mode=max,compression=zstd,compression-level=5,ignore-error=true,oci-mediatypes=true",
        );
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        let s = p.spec.unwrap();
        assert_eq!(s.location, registry("r.example/c:1"));
        assert_eq!(s.mode, CacheMode::Max);
        assert_eq!(s.compression, Some(Compression::Zstd));
        assert_eq!(s.compression_level, Some(5));
        assert!(s.ignore_error);
        let s = export("type=registry,ref=r.example/c").spec.unwrap();
        assert_eq!(s.mode, CacheMode::Min);
        assert_eq!(s.compression, None);
        assert!(!s.ignore_error);
    }

    #[test]
    fn local_directories_are_absolute() {
        let s = import("type=local,src=some/dir").location;
        let CacheLocation::Local { dir, tag, .. } = s else {
            panic!("{s:?}")
        };
        assert!(dir.is_absolute() && dir.ends_with("some/dir"), "{dir:?}");
        assert_eq!(tag, "latest");
        let s = export("type=local,dest=/tmp/c,tag=v2").spec.unwrap();
        assert_eq!(
            s.location,
            CacheLocation::Local {
                dir: "/tmp/c".into(),
                tag: "v2".into(),
                digest: None,
            }
        );
        let d = format!("sha256:{}", "ab".repeat(32));
        let pinned = import(&format!("type=local,src=/tmp/c,digest={d}"));
        assert_eq!(pinned.location.to_string(), format!("/tmp/c@{d}"));
        assert_eq!(s.location.to_string(), "/tmp/c (tag v2)");
        assert_eq!(import("src=/tmp/c").location.to_string(), "/tmp/c");
    }

    #[test]
    fn inline_and_unknown_attributes_warn() {
        let p = export("type=inline");
        assert_eq!(p.spec, None);
        assert!(p.warnings[0].contains("type=inline is not supported"));
        let p = export("type=registry,ref=r.example/c,colour=blue");
        assert!(p.spec.is_some());
        assert_eq!(p.warnings.len(), 1);
        assert!(
            p.warnings[0].contains("attribute \"colour\" ignored"),
            "{:?}",
            p.warnings
        );
    }

    #[test]
    fn bad_values_are_errors() {
        assert_eq!(
            reason(ImportSpec::parse("type=gha")),
            "unsupported cache type \"gha\" (rbuild supports registry and local)"
        );
        assert_eq!(
            reason(ImportSpec::parse("type=registry")),
            "type=registry needs ref=REGISTRY/REPOSITORY:TAG"
        );
        assert_eq!(
            reason(ImportSpec::parse("type=local")),
            "type=local needs src=DIR"
        );
        assert_eq!(
            reason(ImportSpec::parse("type=local,src=d,digest=sha256:xyz")),
            "invalid digest=\"sha256:xyz\""
        );
        assert_eq!(
            reason(ExportSpec::parse("type=local,src=x")),
            "type=local needs dest=DIR"
        );
        assert_eq!(
            reason(ExportSpec::parse("type=registry,ref=r.example/c,mode=all")),
            "invalid mode=\"all\" (min or max)"
        );
        assert_eq!(
            reason(ExportSpec::parse(
                "type=registry,ref=r.example/c,compression=estargz"
            )),
            "unsupported compression=\"estargz\" (gzip, zstd or uncompressed)"
        );
        assert!(
            reason(ExportSpec::parse(&format!(
                "type=registry,ref=r.example/c@sha256:{}",
                "a".repeat(64)
            )))
            .contains("must not name a digest")
        );
        assert!(
            reason(ImportSpec::parse("type=registry,ref=bad ref!")).contains("invalid reference")
        );
        assert_eq!(reason(ImportSpec::parse("")), "empty value");
        assert_eq!(
            reason(ImportSpec::parse("mode=max")),
            "type is required (registry or local)"
        );
        assert_eq!(
            reason(ImportSpec::parse("type=registry,\"ref=x")),
            "unterminated quote"
        );
    }
}
