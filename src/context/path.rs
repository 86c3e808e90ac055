//! Slash-separated path helpers with Go's semantics, because Docker's rules are written
//! in terms of Go's `path.Clean`, and the canonical entry order shared with layers.

use std::cmp::Ordering;

/// Go's `path.Clean`: the shortest lexically equivalent path.
///
/// Collapses `//`, drops `.` elements, resolves `name/..`, drops `..` right after a
/// leading `/`, removes a trailing `/`. The empty path becomes `.`.
pub fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".to_string();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    // Number of leading `..` elements that cannot be cancelled (relative paths only).
    let mut dotdots = 0usize;
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.len() > dotdots {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                    dotdots += 1;
                }
            }
            _ => parts.push(part),
        }
    }
    let body = parts.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".to_string(),
        (false, false) => body,
    }
}

/// Cleans `path` and makes it relative to a root: a leading `/` means the root itself,
/// and the root is the empty string. Returns `None` when the path climbs above the
/// root (`../x`, `a/../../x`).
pub fn clean_relative(path: &str) -> Option<String> {
    let cleaned = clean(path);
    if cleaned == ".." || cleaned.starts_with("../") {
        return None;
    }
    let rel = cleaned.trim_start_matches('/');
    if rel == "." {
        Some(String::new())
    } else {
        Some(rel.to_string())
    }
}

/// Joins two relative paths where `""` is the root.
pub fn join(base: &str, rel: &str) -> String {
    match (base.is_empty(), rel.is_empty()) {
        (true, _) => rel.to_string(),
        (_, true) => base.to_string(),
        _ => format!("{base}/{rel}"),
    }
}

/// The last element of a relative path (`""` for the root).
pub fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The parent of a relative path (`""` for top-level entries and the root).
pub fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// True when `path` is `dir` or lies below it (`""` is the root, above everything).
pub fn is_within(path: &str, dir: &str) -> bool {
    dir.is_empty()
        || (path.starts_with(dir)
            && (path.len() == dir.len() || path.as_bytes()[dir.len()] == b'/'))
}

/// The layer order: paths compared element by element, so a directory is followed
/// directly by everything inside it (`a`, `a/b`, `a.txt`). The same order as
/// [`crate::layer::sort_entries`].
pub fn cmp_paths(a: &str, b: &str) -> Ordering {
    cmp_path_bytes(a.as_bytes(), b.as_bytes())
}

/// [`cmp_paths`] on raw bytes.
pub fn cmp_path_bytes(a: &[u8], b: &[u8]) -> Ordering {
    let common = common_prefix(a, b);
    match (a.get(common), b.get(common)) {
        (Some(&x), Some(&y)) => {
            let key = |c: u8| if c == b'/' { 0 } else { c };
            key(x).cmp(&key(y))
        }
        _ => a.len().cmp(&b.len()),
    }
}

/// Length of the longest common prefix, eight bytes at a time (paths in one directory
/// share long prefixes, and sorting and lookups compare them all the time).
pub fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let len = a.len().min(b.len());
    let mut i = 0;
    while i + 8 <= len {
        let mut x = [0u8; 8];
        let mut y = [0u8; 8];
        x.copy_from_slice(&a[i..i + 8]);
        y.copy_from_slice(&b[i..i + 8]);
        let diff = u64::from_le_bytes(x) ^ u64::from_le_bytes(y);
        if diff != 0 {
            return i + (diff.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < len && a[i] == b[i] {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_matches_go() {
        // Cases from Go's path.Clean tests.
        let cases = [
            ("", "."),
            ("abc", "abc"),
            ("abc/def", "abc/def"),
            (".", "."),
            ("..", ".."),
            ("../..", "../.."),
            ("../../abc", "../../abc"),
            ("/abc", "/abc"),
            ("/", "/"),
            ("abc/", "abc"),
            ("abc/def/", "abc/def"),
            ("a/b/c/", "a/b/c"),
            ("./", "."),
            ("../", ".."),
            ("/abc/", "/abc"),
            ("abc//def//ghi", "abc/def/ghi"),
            ("//abc", "/abc"),
            ("///abc", "/abc"),
            ("abc//", "abc"),
            ("abc/./def", "abc/def"),
            ("/./abc/def", "/abc/def"),
            ("abc/.", "abc"),
            ("abc/def/ghi/../jkl", "abc/def/jkl"),
            ("abc/def/../ghi/../jkl", "abc/jkl"),
            ("abc/def/..", "abc"),
            ("abc/def/../..", "."),
            ("/abc/def/../..", "/"),
            ("abc/def/../../..", ".."),
            ("/abc/def/../../..", "/"),
            ("abc/def/../../../ghi/jkl/../../../mno", "../../mno"),
            ("abc/./../def", "def"),
            ("abc//./../def", "def"),
            ("abc/../../././../def", "../../def"),
        ];
        for (input, want) in cases {
            assert_eq!(clean(input), want, "clean({input:?})");
        }
    }

    #[test]
    fn relative_paths_never_climb_out() {
        assert_eq!(clean_relative("/").as_deref(), Some(""));
        assert_eq!(clean_relative(".").as_deref(), Some(""));
        assert_eq!(clean_relative("./a/b/").as_deref(), Some("a/b"));
        assert_eq!(clean_relative("/../x").as_deref(), Some("x"));
        assert_eq!(clean_relative("../x"), None);
        assert_eq!(clean_relative("a/../../x"), None);
        assert_eq!(clean_relative(".."), None);
    }

    #[test]
    fn layer_order_puts_directory_contents_first() {
        let mut v = vec!["a.txt", "a/b", "a", "a-b", "a/b/c", "b"];
        v.sort_by(|x, y| cmp_paths(x, y));
        assert_eq!(v, ["a", "a/b", "a/b/c", "a-b", "a.txt", "b"]);
    }

    #[test]
    fn common_prefix_at_every_offset() {
        let a = b"0123456789abcdefghij/klmnop";
        for cut in 0..a.len() {
            let mut b = a.to_vec();
            b[cut] ^= 1;
            assert_eq!(common_prefix(a, &b), cut);
            assert_eq!(common_prefix(a, &a[..cut]), cut);
        }
        assert_eq!(common_prefix(a, a), a.len());
    }

    #[test]
    fn within_respects_element_boundaries() {
        assert!(is_within("a/b", "a"));
        assert!(is_within("a", "a"));
        assert!(!is_within("ab", "a"));
        assert!(is_within("anything", ""));
        assert_eq!(parent("a/b/c"), "a/b");
        assert_eq!(parent("a"), "");
        assert_eq!(base_name("a/b/c"), "c");
        assert_eq!(join("", "x"), "x");
        assert_eq!(join("a", "x"), "a/x");
    }
}
