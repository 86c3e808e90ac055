//! Step cache keys: `sha256(version ‖ parent key ‖ named inputs)`.
//!
//! Inputs are named (`instruction`, `arg:FOO`, `sources`, `env`…) and kept in the cache
//! record, so a later miss can say which input differs from the closest previous record.

use std::collections::BTreeMap;

use crate::digest::{Digest, Hasher};

/// Bumped when the meaning of a key changes, so old records are never misread.
const KEY_VERSION: &str = "rbuild-step-key-v1";

/// The named inputs of one step.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyInputs {
    entries: BTreeMap<String, String>,
}

impl KeyInputs {
    /// No inputs yet.
    pub fn new() -> KeyInputs {
        KeyInputs::default()
    }

    /// Adds (or replaces) one named input.
    pub fn add(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.entries.insert(name.into(), value.into());
        self
    }

    /// Adds a value as canonical JSON.
    pub fn add_json<T: serde::Serialize>(
        &mut self,
        name: impl Into<String>,
        value: &T,
    ) -> &mut Self {
        let json = serde_json::to_string(value).unwrap_or_default();
        self.add(name, json)
    }

    /// The inputs, by name.
    pub fn entries(&self) -> &BTreeMap<String, String> {
        &self.entries
    }

    /// The key of a step with these inputs on top of `parent`.
    pub fn key(&self, parent: &Digest) -> Digest {
        let mut h = Hasher::new();
        h.update(KEY_VERSION.as_bytes());
        h.update(&[0]);
        h.update(parent.as_bytes());
        for (k, v) in &self.entries {
            h.update(&(k.len() as u64).to_le_bytes());
            h.update(k.as_bytes());
            h.update(&(v.len() as u64).to_le_bytes());
            h.update(v.as_bytes());
        }
        h.finish()
    }
}

/// The key a stage starts from: `scratch`, or an image by its manifest digest.
pub fn base_key(kind: &str, identity: &str, platform: &str) -> Digest {
    let mut i = KeyInputs::new();
    i.add("base", kind)
        .add("identity", identity)
        .add("platform", platform);
    i.key(&Digest::of(b""))
}

/// Says, in one line, which input differs between a previous record's inputs and the
/// current ones (the first difference in name order, `parent` last since a changed
/// parent explains nothing by itself).
pub fn explain_miss(
    previous: &BTreeMap<String, String>,
    current: &BTreeMap<String, String>,
) -> Option<String> {
    let describe = |name: &str, old: Option<&String>, new: Option<&String>| -> String {
        let short = |v: Option<&String>| v.map_or("(unset)".to_string(), |s| truncate(s, 60));
        if let Some(arg) = name.strip_prefix("arg:") {
            return format!("build arg {arg} changed ({} → {})", short(old), short(new));
        }
        if let Some(file) = name.strip_prefix("file:") {
            return match (old, new) {
                (None, Some(_)) => format!("file {file} was added"),
                (Some(_), None) => format!("file {file} was removed"),
                _ => format!("file {file} changed"),
            };
        }
        match name {
            "instruction" => "the instruction changed".to_string(),
            "sources" => "the copied files changed".to_string(),
            "env" => "the environment changed".to_string(),
            other => format!("{other} changed"),
        }
    };
    let mut names: Vec<&String> = previous.keys().chain(current.keys()).collect();
    names.sort();
    names.dedup();
    names.sort_by_key(|n| n.as_str() == "parent");
    for name in names {
        let (old, new) = (previous.get(name), current.get(name));
        if old != new {
            if name == "parent" {
                return Some("a previous step changed".to_string());
            }
            return Some(describe(name, old, new));
        }
    }
    None
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        s.chars().take(max).collect::<String>() + "…"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_depend_on_parent_and_every_input() {
        let p = Digest::of(b"p");
        let mut a = KeyInputs::new();
        a.add("instruction", "COPY a /a");
        let mut b = a.clone();
        assert_eq!(a.key(&p), b.key(&p));
        b.add("arg:X", "1");
        assert_ne!(a.key(&p), b.key(&p));
        assert_ne!(a.key(&p), a.key(&Digest::of(b"q")));
    }

    #[test]
    fn no_ambiguity_between_names_and_values() {
        let p = Digest::of(b"");
        let mut a = KeyInputs::new();
        a.add("ab", "c");
        let mut b = KeyInputs::new();
        b.add("a", "bc");
        assert_ne!(a.key(&p), b.key(&p));
    }

    #[test]
    fn explanations_name_the_input() {
        let m = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        let old = m(&[("parent", "1"), ("arg:V", "a"), ("instruction", "RUN x")]);
        let new = m(&[("parent", "2"), ("arg:V", "b"), ("instruction", "RUN x")]);
        assert_eq!(
            explain_miss(&old, &new).unwrap(),
            "build arg V changed (a → b)"
        );
        let new = m(&[("parent", "2"), ("arg:V", "a"), ("instruction", "RUN x")]);
        assert_eq!(explain_miss(&old, &new).unwrap(), "a previous step changed");
        let old = m(&[("file:src/a.txt", "1")]);
        let new = m(&[("file:src/a.txt", "2")]);
        assert_eq!(explain_miss(&old, &new).unwrap(), "file src/a.txt changed");
        assert!(explain_miss(&old, &old).is_none());
    }
}
