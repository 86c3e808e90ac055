//! Platform strings (`linux/arm64/v8`) and picking a manifest from an index, as
//! containerd's platform matcher does: OS and architecture must match; the variant is
//! normalized (`arm64` ≡ `arm64/v8`), and `arm/v7` also accepts `v6` and `v5` images.

use crate::image::{Descriptor, Platform};

use super::error::RegistryError;

/// Parses `os/arch[/variant]` (or a bare `arch`, meaning Linux), normalizing aliases
/// (`x86_64` → `amd64`, `aarch64` → `arm64`, `armhf` → `arm/v7`).
pub fn parse_platform(spec: &str) -> Result<Platform, RegistryError> {
    let bad = || RegistryError::Platform(spec.to_string());
    let parts: Vec<&str> = spec.trim().split('/').collect();
    let (os, arch, variant) = match parts.as_slice() {
        [arch] => ("linux", *arch, None),
        [os, arch] => (*os, *arch, None),
        [os, arch, v] => (*os, *arch, Some(*v)),
        _ => return Err(bad()),
    };
    if os.is_empty() || arch.is_empty() || variant.is_some_and(str::is_empty) {
        return Err(bad());
    }
    let ok = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    if !ok(os) || !ok(arch) || variant.is_some_and(|v| !ok(v)) {
        return Err(bad());
    }
    let os = os.to_ascii_lowercase();
    let (arch, alias_variant) = normalize_arch(&arch.to_ascii_lowercase());
    let variant = variant.map(str::to_ascii_lowercase).or(alias_variant);
    Ok(Platform {
        os,
        variant: normalize_variant(&arch, variant),
        architecture: arch,
        ..Default::default()
    })
}

fn normalize_arch(arch: &str) -> (String, Option<String>) {
    let (a, v) = match arch {
        "x86_64" | "x86-64" => ("amd64", None),
        "aarch64" => ("arm64", None),
        "armhf" => ("arm", Some("v7")),
        "armel" => ("arm", Some("v6")),
        "i386" | "i686" => ("386", None),
        other => (other, None),
    };
    (a.to_string(), v.map(str::to_string))
}

/// The variant a platform means when it names none (`arm64` → `v8`, `arm` → `v7`), and
/// spelling fixes (`8` → `v8`).
fn normalize_variant(arch: &str, variant: Option<String>) -> Option<String> {
    let v = variant.map(|v| {
        if v.bytes().all(|b| b.is_ascii_digit()) {
            format!("v{v}")
        } else {
            v
        }
    });
    match (arch, v) {
        ("arm64", None) => Some("v8".into()),
        ("arm", None) => Some("v7".into()),
        (_, v) => v,
    }
}

/// How well an index entry's platform fits the wanted one: `None` if it does not,
/// lower is better.
fn rank(want: &Platform, have: &Platform) -> Option<u32> {
    if want.os != have.os.to_ascii_lowercase() {
        return None;
    }
    let (have_arch, alias) = normalize_arch(&have.architecture.to_ascii_lowercase());
    if want.architecture != have_arch {
        return None;
    }
    let have_v = normalize_variant(&have_arch, have.variant.clone().or(alias));
    let want_v = normalize_variant(&want.architecture, want.variant.clone());
    if have_v == want_v {
        return Some(0);
    }
    if want.architecture == "arm" {
        // An armv7 machine runs armv6 and armv5 code: accept those, preferring newer.
        let num = |v: &Option<String>| {
            v.as_deref()
                .and_then(|s| s.strip_prefix('v'))
                .and_then(|n| n.parse::<u32>().ok())
        };
        if let (Some(w), Some(h)) = (num(&want_v), num(&have_v)) {
            if h < w {
                return Some(w - h);
            }
        }
        return None;
    }
    // A variant-less entry fits a variant-less request of architectures without defaults.
    (have_v.is_none() || want_v.is_none()).then_some(10)
}

/// Picks the entry of an index that fits `want` best (the first of equals).
pub fn select<'a>(
    entries: &'a [Descriptor],
    want: &Platform,
    reference: &str,
) -> Result<&'a Descriptor, RegistryError> {
    let want = Platform {
        variant: normalize_variant(&want.architecture, want.variant.clone()),
        ..want.clone()
    };
    entries
        .iter()
        .filter_map(|d| Some((rank(&want, d.platform.as_ref()?)?, d)))
        .min_by_key(|(r, _)| *r)
        .map(|(_, d)| d)
        .ok_or_else(|| RegistryError::PlatformNotFound {
            reference: reference.to_string(),
            wanted: want.to_spec(),
            available: available(entries),
        })
}

fn available(entries: &[Descriptor]) -> String {
    let list: Vec<String> = entries
        .iter()
        .filter_map(|d| d.platform.as_ref())
        .filter(|p| p.os != "unknown")
        .map(Platform::to_spec)
        .collect();
    if list.is_empty() {
        "none".to_string()
    } else {
        list.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;

    fn entry(spec: &str) -> Descriptor {
        let parts: Vec<&str> = spec.split('/').collect();
        let mut d = Descriptor::new(
            crate::image::media::OCI_MANIFEST,
            Digest::of(spec.as_bytes()),
            1,
        );
        d.platform = Some(Platform {
            os: parts[0].into(),
            architecture: parts[1].into(),
            variant: parts.get(2).map(|s| s.to_string()),
            ..Default::default()
        });
        d
    }

    fn pick(entries: &[&str], want: &str) -> Result<String, RegistryError> {
        let e: Vec<Descriptor> = entries.iter().map(|s| entry(s)).collect();
        select(&e, &parse_platform(want).unwrap(), "img")
            .map(|d| d.platform.clone().unwrap().to_spec())
    }

    #[test]
    fn parses_and_normalizes() {
        assert_eq!(
            parse_platform("linux/arm64").unwrap().to_spec(),
            "linux/arm64/v8"
        );
        assert_eq!(
            parse_platform("linux/x86_64").unwrap().to_spec(),
            "linux/amd64"
        );
        assert_eq!(parse_platform("arm").unwrap().to_spec(), "linux/arm/v7");
        assert_eq!(
            parse_platform("linux/armhf").unwrap().to_spec(),
            "linux/arm/v7"
        );
        for bad in ["", "/", "linux/", "a/b/c/d", "linux/amd 64", "linux/arm/"] {
            assert!(parse_platform(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn selects_like_containerd() {
        let idx = [
            "linux/amd64",
            "linux/arm64/v8",
            "linux/arm/v6",
            "unknown/unknown",
        ];
        assert_eq!(pick(&idx, "linux/amd64").unwrap(), "linux/amd64");
        assert_eq!(pick(&idx, "linux/arm64").unwrap(), "linux/arm64/v8");
        assert_eq!(
            pick(&["linux/arm64"], "linux/arm64/v8").unwrap(),
            "linux/arm64"
        );
        assert_eq!(pick(&idx, "linux/arm/v7").unwrap(), "linux/arm/v6");
        assert_eq!(
            pick(&["linux/arm/v6", "linux/arm/v7"], "linux/arm").unwrap(),
            "linux/arm/v7"
        );
        let e = pick(&idx, "linux/s390x").unwrap_err().to_string();
        assert_eq!(
            e,
            "img: no matching manifest for linux/s390x in the manifest list entries (available: linux/amd64, linux/arm64/v8, linux/arm/v6)"
        );
        assert!(
            pick(&["linux/arm/v7"], "linux/arm/v6").is_err(),
            "v6 cannot run v7"
        );
    }
}
