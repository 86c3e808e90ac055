//! Instruction flags (`--from=build`, `--link`, `--mount=…`), checked as BuildKit's
//! `BFlags` does: each instruction declares the flags it takes; anything else is an error.

use std::collections::BTreeMap;

use super::suggest::did_you_mean;

/// What kind of value a flag takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `--link`, `--link=true|false`.
    Bool,
    /// `--from=x` (once).
    String,
    /// `--mount=x` (repeatable).
    Strings,
}

/// The flags given to one instruction, validated against its declared set.
#[derive(Debug, Default)]
pub(crate) struct Flags {
    values: BTreeMap<&'static str, Vec<String>>,
}

/// A flag problem, with an optional "did you mean" hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FlagError {
    pub message: String,
    pub hint: Option<String>,
}

impl Flags {
    /// Parses `given` against `declared` (name, kind).
    pub(crate) fn parse(
        given: &[String],
        declared: &[(&'static str, Kind)],
    ) -> Result<Flags, FlagError> {
        let mut flags = Flags::default();
        let err = |message: String| FlagError {
            message,
            hint: None,
        };
        for arg in given {
            if arg == "--" {
                break;
            }
            let Some(body) = arg.strip_prefix("--") else {
                return Err(err(format!("arg should start with -- : {arg}")));
            };
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let flag_name = format!("--{name}");
            let Some(&(key, kind)) = declared.iter().find(|(n, _)| *n == name) else {
                return Err(FlagError {
                    message: format!("unknown flag: {flag_name}"),
                    hint: did_you_mean(name, declared.iter().map(|(n, _)| *n))
                        .map(|h| h.replace("mean ", "mean --")),
                });
            };
            let slot = flags.values.entry(key).or_default();
            if !slot.is_empty() && kind != Kind::Strings {
                return Err(err(format!("duplicate flag specified: {flag_name}")));
            }
            match kind {
                Kind::Bool => {
                    if value == Some("") {
                        return Err(err(format!("missing a value on flag: {flag_name}")));
                    }
                    let v = match value.map(str::to_lowercase).as_deref() {
                        None | Some("true") => "true",
                        Some("false") => "false",
                        Some(_) => {
                            return Err(err(format!(
                                "expecting boolean value for flag {flag_name}, not: {}",
                                value.unwrap_or_default()
                            )));
                        }
                    };
                    slot.push(v.to_string());
                }
                Kind::String | Kind::Strings => {
                    let Some(v) = value else {
                        return Err(err(format!("missing a value on flag: {flag_name}")));
                    };
                    slot.push(v.to_string());
                }
            }
        }
        Ok(flags)
    }

    /// A string flag's value, if given.
    pub(crate) fn string(&self, name: &str) -> Option<String> {
        self.values.get(name).and_then(|v| v.last().cloned())
    }

    /// A repeatable flag's values.
    pub(crate) fn strings(&self, name: &str) -> Vec<String> {
        self.values.get(name).cloned().unwrap_or_default()
    }

    /// A bool flag: `None` when not given.
    pub(crate) fn bool(&self, name: &str) -> Option<bool> {
        self.values
            .get(name)
            .and_then(|v| v.last())
            .map(|v| v == "true")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DECL: &[(&str, Kind)] = &[
        ("from", Kind::String),
        ("link", Kind::Bool),
        ("exclude", Kind::Strings),
    ];

    fn parse(flags: &[&str]) -> Result<Flags, FlagError> {
        let given: Vec<String> = flags.iter().map(|s| s.to_string()).collect();
        Flags::parse(&given, DECL)
    }

    // Cases from BuildKit's bflag_test.go.
    #[test]
    fn bflags() {
        let f = parse(&["--from=a", "--link", "--exclude=x", "--exclude=y"]).unwrap();
        assert_eq!(f.string("from").as_deref(), Some("a"));
        assert_eq!(f.bool("link"), Some(true));
        assert_eq!(f.strings("exclude"), ["x", "y"]);
        assert_eq!(parse(&["--link=FALSE"]).unwrap().bool("link"), Some(false));
        assert_eq!(parse(&[]).unwrap().bool("link"), None);
        let msg = |f: &[&str]| parse(f).err().unwrap().message;
        assert_eq!(msg(&["--link="]), "missing a value on flag: --link");
        assert_eq!(
            msg(&["--link=yes"]),
            "expecting boolean value for flag --link, not: yes"
        );
        assert_eq!(msg(&["--from"]), "missing a value on flag: --from");
        assert_eq!(
            msg(&["--from=a", "--from=b"]),
            "duplicate flag specified: --from"
        );
        assert_eq!(msg(&["-from=a"]), "arg should start with -- : -from=a");
        let e = parse(&["--form=a"]).err().unwrap();
        assert_eq!(e.message, "unknown flag: --form");
        assert_eq!(e.hint.as_deref(), Some("did you mean --from?"));
    }
}
