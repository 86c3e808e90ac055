//! Parsing of `KEY=VALUE`-style build flags (`--build-arg`, `--label`, `--secret`,
//! `--cache-from/--cache-to`) into typed values, with errors that quote the flag.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::Report;

/// `--build-arg K=V` and `--build-arg K` (value from the environment; skipped when unset,
/// as Docker does).
pub fn build_args(raw: &[String]) -> Result<BTreeMap<String, String>, Report> {
    let mut out = BTreeMap::new();
    for a in raw {
        match a.split_once('=') {
            Some(("", _)) => {
                return Err(Report::msg(format!(
                    "invalid --build-arg {a:?}: the name is empty"
                )));
            }
            Some((k, v)) => {
                out.insert(k.to_string(), v.to_string());
            }
            None if a.is_empty() => {
                return Err(Report::msg(
                    "invalid --build-arg \"\": expected KEY=VALUE or KEY",
                ));
            }
            None => {
                if let Ok(v) = std::env::var(a) {
                    out.insert(a.clone(), v);
                }
            }
        }
    }
    Ok(out)
}

/// `--label K=V` (a label without `=` gets an empty value, as Docker does).
pub fn labels(raw: &[String]) -> Result<Vec<(String, String)>, Report> {
    raw.iter()
        .map(|l| match l.split_once('=') {
            Some(("", _)) => Err(Report::msg(format!(
                "invalid --label {l:?}: the key is empty"
            ))),
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => Ok((l.clone(), String::new())),
        })
        .collect()
}

/// Where a secret's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// A file.
    File(PathBuf),
    /// An environment variable.
    Env(String),
}

/// Parses `key=value[,key=value…]` option lists as buildx does (values may be quoted with
/// `"` when they contain commas).
pub fn kv_list(spec: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut fields = Vec::new();
    for c in spec.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    if quoted {
        return Err("unterminated quote".to_string());
    }
    fields.push(cur);
    for f in fields.into_iter().filter(|f| !f.is_empty()) {
        match f.split_once('=') {
            Some((k, v)) => out.push((k.trim().to_lowercase(), v.to_string())),
            None => out.push((f.trim().to_lowercase(), String::new())),
        }
    }
    Ok(out)
}

/// `--secret id=ID,src=FILE` / `id=ID,env=VAR` / `id=ID` (env var or file named ID, as buildx).
pub fn secrets(raw: &[String]) -> Result<BTreeMap<String, SecretSource>, Report> {
    let mut out = BTreeMap::new();
    for spec in raw {
        let bad = |why: &str| {
            Report::msg(format!("invalid --secret {spec:?}: {why}"))
                .with_hint("use --secret id=NAME,src=FILE or --secret id=NAME,env=VAR")
        };
        let kv = kv_list(spec).map_err(|e| bad(&e))?;
        let mut id = None;
        let mut source = None;
        for (k, v) in kv {
            match k.as_str() {
                "id" => id = Some(v),
                "src" | "source" => source = Some(SecretSource::File(PathBuf::from(v))),
                "env" => source = Some(SecretSource::Env(v)),
                "type" if v == "file" || v == "env" => {}
                other => return Err(bad(&format!("unknown key {other:?}"))),
            }
        }
        let id = id
            .filter(|i| !i.is_empty())
            .ok_or_else(|| bad("id is required"))?;
        let source = match source {
            Some(s) => s,
            None if std::env::var_os(&id).is_some() => SecretSource::Env(id.clone()),
            None => SecretSource::File(PathBuf::from(&id)),
        };
        out.insert(id, source);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_arg_forms() {
        // SAFETY-free: the variable name is unique to this test.
        let args = build_args(&[
            "A=1".into(),
            "B=".into(),
            "C=x=y".into(),
            "RBUILD_TEST_SURELY_UNSET".into(),
        ])
        .unwrap();
        assert_eq!(args.get("A").unwrap(), "1");
        assert_eq!(args.get("B").unwrap(), "");
        assert_eq!(args.get("C").unwrap(), "x=y");
        assert!(!args.contains_key("RBUILD_TEST_SURELY_UNSET"));
        assert!(build_args(&["=1".into()]).is_err());
    }

    #[test]
    fn secret_specs() {
        let s = secrets(&["id=tok,src=/tmp/t".into(), "id=e,env=HOME".into()]).unwrap();
        assert_eq!(s["tok"], SecretSource::File("/tmp/t".into()));
        assert_eq!(s["e"], SecretSource::Env("HOME".into()));
        let err = secrets(&["src=/x".into()]).unwrap_err();
        assert!(err.message.contains("id is required"), "{}", err.message);
        assert!(secrets(&["id=a,bogus=1".into()]).is_err());
    }

    #[test]
    fn kv_lists_with_quotes() {
        let kv = kv_list(r#"type=registry,ref=x/y:c,"mode=max""#).unwrap();
        assert_eq!(
            kv,
            vec![
                ("type".into(), "registry".into()),
                ("ref".into(), "x/y:c".into()),
                ("mode".into(), "max".into())
            ]
        );
    }
}
