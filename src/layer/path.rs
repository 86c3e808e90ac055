//! Layer paths: what the writer accepts, and how a name read from a foreign tarball is
//! cleaned into one (or refused when it would escape the root).

use super::{Entry, EntryKind, LayerError};

/// Rejects entry paths that could escape the root or be misread by an unpacker.
pub fn check_path(entry: &Entry) -> Result<(), LayerError> {
    let bad = |reason| {
        Err(LayerError::InvalidPath {
            path: entry.path.clone(),
            reason,
        })
    };
    let p = entry.path.as_str();
    if p.is_empty() {
        return if entry.kind == EntryKind::Opaque {
            Ok(())
        } else {
            bad("empty path")
        };
    }
    if p.starts_with('/') {
        return bad("absolute path");
    }
    if p.contains('\0') {
        return bad("NUL byte in path");
    }
    for c in p.split('/') {
        match c {
            "" => return bad("empty path component (double or trailing slash)"),
            "." | ".." => return bad("`.` or `..` component"),
            _ => {}
        }
    }
    let base = p.rsplit('/').next().unwrap_or(p);
    if base.starts_with(".wh.") {
        return bad("names starting with .wh. are reserved for whiteouts");
    }
    if let EntryKind::Hardlink { target } = &entry.kind {
        if target.starts_with('/') || target.split('/').any(|c| matches!(c, "" | "." | "..")) {
            return bad("hard link target must be a clean relative path");
        }
    }
    Ok(())
}

/// A name from a tarball as a clean layer path: leading `/` and `./` dropped, `.`
/// components and repeated or trailing slashes removed. `Ok(None)` is the root itself;
/// a `..` component is refused (it would escape the root).
pub fn clean_tar_path(name: &str) -> Result<Option<String>, &'static str> {
    let mut parts = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err("`..` would escape the image root"),
            c if c.contains('\0') => return Err("NUL in name"),
            c => parts.push(c),
        }
    }
    Ok((!parts.is_empty()).then(|| parts.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_tar_names() {
        assert_eq!(
            clean_tar_path("./a//b/./c/").unwrap().as_deref(),
            Some("a/b/c")
        );
        assert_eq!(
            clean_tar_path("/etc/passwd").unwrap().as_deref(),
            Some("etc/passwd")
        );
        assert_eq!(clean_tar_path("./").unwrap(), None);
        assert!(clean_tar_path("a/../../b").is_err());
    }
}
