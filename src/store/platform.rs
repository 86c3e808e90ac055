//! Choosing one manifest from an image index by platform, as containerd's default
//! matcher does: same OS and architecture, and the same variant once defaults are filled
//! in (`arm64` means `v8`, `arm` means `v7`). Attestation manifests (`unknown/unknown`)
//! are never chosen.

use super::StoreError;
use crate::digest::Digest;
use crate::image::{Descriptor, Index, Platform};

/// The entry of `index` for `want`.
pub fn select_manifest(
    index: &Index,
    index_digest: &Digest,
    want: &Platform,
) -> Result<Descriptor, StoreError> {
    let candidates: Vec<&Descriptor> = index
        .manifests
        .iter()
        .filter(|d| {
            d.platform
                .as_ref()
                .is_none_or(|p| p.os != "unknown" && p.architecture != "unknown")
        })
        .collect();
    if candidates.is_empty() {
        return Err(StoreError::InvalidImage {
            digest: *index_digest,
            reason: "the index lists no image manifests".into(),
        });
    }
    if let Some(d) = candidates
        .iter()
        .find(|d| d.platform.as_ref().is_some_and(|p| matches(p, want)))
    {
        return Ok((*d).clone());
    }
    // An index without platform fields and a single manifest: that one.
    if candidates.len() == 1 && candidates[0].platform.is_none() {
        return Ok(candidates[0].clone());
    }
    Err(StoreError::NoMatchingPlatform {
        wanted: want.to_spec(),
        available: candidates
            .iter()
            .map(|d| {
                d.platform
                    .as_ref()
                    .map_or_else(|| "unspecified".to_string(), Platform::to_spec)
            })
            .collect(),
    })
}

/// True when `have` can serve `want`.
pub fn matches(have: &Platform, want: &Platform) -> bool {
    have.os == want.os
        && have.architecture == want.architecture
        && normalized_variant(have) == normalized_variant(want)
}

fn normalized_variant(p: &Platform) -> Option<&str> {
    match (p.architecture.as_str(), p.variant.as_deref()) {
        ("arm64", None | Some("v8")) => Some("v8"),
        ("arm", None | Some("v7")) => Some("v7"),
        (_, v) => v.filter(|v| !v.is_empty()),
    }
}

/// Parses `os/arch[/variant]` (as `--platform` takes it).
pub fn parse_platform(spec: &str) -> Option<Platform> {
    let mut parts = spec.split('/');
    let os = parts.next().filter(|s| !s.is_empty())?;
    let architecture = parts.next().filter(|s| !s.is_empty())?;
    let variant = parts.next().filter(|s| !s.is_empty()).map(str::to_string);
    if parts.next().is_some() {
        return None;
    }
    Some(Platform {
        os: os.to_string(),
        architecture: architecture.to_string(),
        variant,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::media;

    fn entry(spec: &str, body: &str) -> Descriptor {
        let mut d = Descriptor::new(media::OCI_MANIFEST, Digest::of(body.as_bytes()), 1);
        d.platform = parse_platform(spec);
        d
    }

    #[test]
    fn picks_the_wanted_platform_and_lists_the_others() {
        let mut index = Index::empty();
        index.manifests = vec![
            entry("linux/amd64", "a"),
            entry("linux/arm64/v8", "b"),
            entry("unknown/unknown", "att"),
        ];
        let d = Digest::of(b"index");
        let arm = select_manifest(&index, &d, &parse_platform("linux/arm64").unwrap()).unwrap();
        assert_eq!(arm.digest, Digest::of(b"b"));
        let amd = select_manifest(&index, &d, &parse_platform("linux/amd64").unwrap()).unwrap();
        assert_eq!(amd.digest, Digest::of(b"a"));
        let err = select_manifest(&index, &d, &parse_platform("linux/s390x").unwrap()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no image for platform linux/s390x (available: linux/amd64, linux/arm64/v8)"
        );
    }

    #[test]
    fn parses_platform_specs() {
        assert!(parse_platform("linux").is_none());
        assert!(parse_platform("linux/arm/v7/x").is_none());
        assert_eq!(
            parse_platform("linux/arm/v7").unwrap().to_spec(),
            "linux/arm/v7"
        );
    }
}
