//! Platform strings (`linux/amd64`, `linux/arm/v7`) as containerd's `platforms` package
//! reads and normalises them, and the built-in platform build args.

use crate::image::Platform;

/// Normalises architecture and variant names (`x86_64` → `amd64`, `aarch64` → `arm64`,
/// `arm64/v8` → `arm64`, `arm` → `arm/v7`).
pub fn normalize(mut p: Platform) -> Platform {
    p.os = p.os.to_lowercase();
    let arch = p.architecture.to_lowercase();
    let variant = p.variant.take().map(|v| v.to_lowercase());
    let (arch, variant) = match arch.as_str() {
        "i386" | "x86" | "386" => ("386".to_string(), None),
        "x86_64" | "x86-64" | "amd64" => ("amd64".to_string(), variant.filter(|v| v != "v1")),
        "aarch64" | "arm64" => (
            "arm64".to_string(),
            variant.filter(|v| v != "8" && v != "v8"),
        ),
        "armhf" => ("arm".to_string(), Some("v7".to_string())),
        "armel" => ("arm".to_string(), Some("v6".to_string())),
        "arm" => {
            let v = match variant.as_deref() {
                None | Some("" | "7" | "v7") => "v7".to_string(),
                Some("5" | "6" | "8") => format!("v{}", variant.as_deref().unwrap_or_default()),
                Some(v) => v.to_string(),
            };
            ("arm".to_string(), Some(v))
        }
        _ => (arch, variant.filter(|v| !v.is_empty())),
    };
    p.architecture = arch;
    p.variant = variant;
    p
}

const KNOWN_OS: &[&str] = &[
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "illumos",
    "ios",
    "js",
    "linux",
    "netbsd",
    "openbsd",
    "plan9",
    "solaris",
    "wasip1",
    "windows",
];

/// Parses `os[/arch[/variant]]` or a bare architecture (`arm64` means `linux/arm64`).
pub fn parse(spec: &str) -> Result<Platform, String> {
    let parts: Vec<&str> = spec.split('/').collect();
    let bad = || format!("{spec:?}: unknown operating system or architecture: invalid argument");
    if parts.iter().any(|p| p.is_empty()) || parts.len() > 3 {
        return Err(bad());
    }
    let host = Platform::host();
    let p = match parts.as_slice() {
        [one] if KNOWN_OS.contains(&one.to_lowercase().as_str()) => Platform {
            os: one.to_string(),
            ..host
        },
        [arch] => Platform {
            architecture: arch.to_string(),
            variant: None,
            ..host
        },
        [os, arch] => Platform {
            os: os.to_string(),
            architecture: arch.to_string(),
            variant: None,
            ..host
        },
        [os, arch, variant] => Platform {
            os: os.to_string(),
            architecture: arch.to_string(),
            variant: Some(variant.to_string()),
            ..host
        },
        _ => return Err(bad()),
    };
    let valid = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    if !valid(&p.os) || !valid(&p.architecture) || !p.variant.as_deref().is_none_or(valid) {
        return Err(bad());
    }
    Ok(normalize(p))
}

/// `os/arch[/variant]`.
pub fn format(p: &Platform) -> String {
    p.to_spec()
}

/// The automatic platform args (`TARGETPLATFORM`… `BUILDVARIANT`) and `TARGETSTAGE`.
pub fn builtin_args(build: &Platform, target: &Platform, stage: &str) -> Vec<(String, String)> {
    let v = |p: &Platform| p.variant.clone().unwrap_or_default();
    let ov = |p: &Platform| p.os_version.clone().unwrap_or_default();
    [
        ("BUILDPLATFORM", format(build)),
        ("BUILDOS", build.os.clone()),
        ("BUILDOSVERSION", ov(build)),
        ("BUILDARCH", build.architecture.clone()),
        ("BUILDVARIANT", v(build)),
        ("TARGETPLATFORM", format(target)),
        ("TARGETOS", target.os.clone()),
        ("TARGETOSVERSION", ov(target)),
        ("TARGETARCH", target.architecture.clone()),
        ("TARGETVARIANT", v(target)),
        ("TARGETSTAGE", stage.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises() {
        let p = parse("linux/amd64").unwrap();
        assert_eq!(
            (p.os.as_str(), p.architecture.as_str(), p.variant),
            ("linux", "amd64", None)
        );
        assert_eq!(format(&parse("linux/arm/v7").unwrap()), "linux/arm/v7");
        assert_eq!(format(&parse("linux/arm").unwrap()), "linux/arm/v7");
        assert_eq!(format(&parse("linux/aarch64").unwrap()), "linux/arm64");
        assert_eq!(format(&parse("linux/arm64/v8").unwrap()), "linux/arm64");
        assert_eq!(format(&parse("Linux/x86_64").unwrap()), "linux/amd64");
        assert_eq!(format(&parse("arm64").unwrap()), "linux/arm64");
        assert_eq!(parse("windows").unwrap().os, "windows");
        assert!(parse("linux/").is_err());
        assert!(parse("a/b/c/d").is_err());
        assert!(parse("linux/am d64").is_err());
    }

    #[test]
    fn builtin_args_for_a_platform() {
        let t = parse("linux/arm/v7").unwrap();
        let b = parse("linux/amd64").unwrap();
        let args = builtin_args(&b, &t, "final");
        let get = |k: &str| args.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("TARGETPLATFORM"), Some("linux/arm/v7"));
        assert_eq!(get("TARGETVARIANT"), Some("v7"));
        assert_eq!(get("BUILDPLATFORM"), Some("linux/amd64"));
        assert_eq!(get("BUILDVARIANT"), Some(""));
        assert_eq!(get("TARGETSTAGE"), Some("final"));
    }
}
