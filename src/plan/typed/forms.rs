//! The instructions with the most rules of their own: HEALTHCHECK (type, durations,
//! retries), ONBUILD (allowed triggers, the stored expression), RUN (`--mount`,
//! `--network`, `--security`, heredocs) and COPY/ADD (flags, heredoc sources, `--from`).

use super::{Copy, Run, Source, at_least_one, flags, no_flags};
use crate::dockerfile::{Node, chomp_heredoc_content, parse_heredoc};
use crate::plan::error::{PlanError, PlanErrorKind};
use crate::plan::flags::Kind;
use crate::plan::instruction::HealthcheckSpec;

pub(super) fn healthcheck(node: &Node) -> Result<Option<HealthcheckSpec>, PlanError> {
    let loc = node.location;
    at_least_one(node, "HEALTHCHECK")?;
    let typ = node.args[0].to_uppercase();
    let rest = &node.args[1..];
    if typ == "NONE" {
        no_flags(node)?;
        if !rest.is_empty() {
            return Err(PlanError::invalid(
                "HEALTHCHECK NONE takes no arguments",
                loc,
            ));
        }
        return Ok(None);
    }
    let f = flags(
        node,
        &[
            ("interval", Kind::String),
            ("timeout", Kind::String),
            ("start-period", Kind::String),
            ("start-interval", Kind::String),
            ("retries", Kind::String),
        ],
    )?;
    if typ != "CMD" {
        return Err(PlanError::invalid(
            format!(
                "Unknown type {} in HEALTHCHECK (try CMD)",
                crate::dockerfile::goquote(&typ)
            ),
            loc,
        ));
    }
    if rest.is_empty() {
        return Err(PlanError::invalid(
            "Missing command after HEALTHCHECK CMD",
            loc,
        ));
    }
    let test = if node.json {
        std::iter::once("CMD".to_string())
            .chain(rest.iter().cloned())
            .collect()
    } else {
        vec!["CMD-SHELL".to_string(), rest.join(" ")]
    };
    let interval = |name: &str| -> Result<Option<i64>, PlanError> {
        let Some(v) = f.string(name).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let d =
            crate::plan::duration::parse_duration(&v).map_err(|e| PlanError::invalid(e, loc))?;
        if d == 0 {
            return Ok(None);
        }
        if d < 1_000_000 {
            return Err(PlanError::invalid(
                format!("Interval \"{name}\" cannot be less than 1ms"),
                loc,
            ));
        }
        Ok(Some(d))
    };
    let retries = match f.string("retries").filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => {
            let n: i32 = v.parse().map_err(|_| {
                PlanError::invalid(
                    format!(
                        "strconv.ParseInt: parsing {}: invalid syntax",
                        crate::dockerfile::goquote(&v)
                    ),
                    loc,
                )
            })?;
            if n < 0 {
                return Err(PlanError::invalid(
                    format!("--retries cannot be negative ({n})"),
                    loc,
                ));
            }
            (n > 0).then_some(i64::from(n))
        }
    };
    Ok(Some(HealthcheckSpec {
        test,
        interval: interval("interval")?,
        timeout: interval("timeout")?,
        start_period: interval("start-period")?,
        start_interval: interval("start-interval")?,
        retries,
    }))
}

pub(super) fn onbuild(node: &Node) -> Result<String, PlanError> {
    let loc = node.location;
    no_flags(node)?;
    let Some(child) = &node.child else {
        return Err(PlanError::invalid(
            "ONBUILD requires at least one argument",
            loc,
        ));
    };
    let trigger = child.keyword.trim().to_uppercase();
    match trigger.as_str() {
        "ONBUILD" => {
            return Err(PlanError::invalid(
                "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
                loc,
            ));
        }
        "MAINTAINER" | "FROM" => {
            return Err(PlanError::invalid(
                format!("{trigger} isn't allowed as an ONBUILD trigger"),
                loc,
            ));
        }
        _ => {}
    }
    // The expression is the line without `ONBUILD`, heredoc bodies appended.
    let original = node.original.trim_start();
    let mut expr = match original.get(..7) {
        Some(k) if k.eq_ignore_ascii_case("onbuild") => original[7..].trim_start().to_string(),
        _ => original.to_string(),
    };
    for h in &node.heredocs {
        expr.push('\n');
        expr.push_str(&h.content);
        expr.push_str(&h.name);
    }
    Ok(expr)
}

pub(super) fn run(node: &Node) -> Result<Run, PlanError> {
    let loc = node.location;
    let f = flags(
        node,
        &[
            ("mount", Kind::Strings),
            ("network", Kind::String),
            ("security", Kind::String),
        ],
    )?;
    let mounts = f.strings("mount");
    let mut mount_froms = Vec::new();
    for m in &mounts {
        let from = crate::plan::mount::precheck(m)
            .map_err(|e| PlanError::invalid(e.message, loc).with_hint(e.hint))?;
        mount_froms.push(from);
    }
    let network = f.string("network").unwrap_or_else(|| "default".into());
    if !matches!(network.as_str(), "default" | "none" | "host") {
        return Err(PlanError::invalid(
            format!(
                "invalid network mode {}",
                crate::dockerfile::goquote(&network)
            ),
            loc,
        ));
    }
    let security = f.string("security").unwrap_or_else(|| "sandbox".into());
    if !matches!(security.as_str(), "sandbox" | "insecure") {
        return Err(PlanError::invalid(
            format!(
                "security {} is not valid",
                crate::dockerfile::goquote(&security)
            ),
            loc,
        ));
    }
    if !node.heredocs.is_empty() && (node.args.len() != 1 || node.json) {
        return Err(PlanError::invalid(
            format!("parsing produced an invalid run command: {:?}", node.args),
            loc,
        ));
    }
    Ok(Run {
        args: node.args.clone(),
        json: node.json,
        heredocs: node.heredocs.clone(),
        mounts,
        mount_froms,
        network,
        insecure: security == "insecure",
    })
}

pub(super) fn copy(node: &Node) -> Result<Copy, PlanError> {
    let loc = node.location;
    let is_add = node.command() == "add";
    let name = if is_add { "ADD" } else { "COPY" };
    if node.args.len() < 2 {
        return Err(PlanError::invalid(
            format!(
                "{name} requires at least two arguments, but only one was provided. Destination could not be determined"
            ),
            loc,
        ));
    }
    let mut declared = vec![
        ("chown", Kind::String),
        ("chmod", Kind::String),
        ("link", Kind::Bool),
        ("exclude", Kind::Strings),
    ];
    if is_add {
        declared.extend([
            ("keep-git-dir", Kind::Bool),
            ("checksum", Kind::String),
            ("unpack", Kind::Bool),
        ]);
    } else {
        declared.extend([("from", Kind::String), ("parents", Kind::Bool)]);
    }
    let f = flags(node, &declared)?;
    let (srcs, dest) = node.args.split_at(node.args.len() - 1);
    let dest = dest[0].clone();
    let heredoc_err = |e: crate::dockerfile::shell::ShellError| {
        PlanError::new(PlanErrorKind::Expand(Box::new(e)), Some(loc))
    };
    if parse_heredoc(&dest).map_err(heredoc_err)?.is_some() {
        return Err(PlanError::invalid(
            format!("{name} cannot accept a heredoc as a destination"),
            loc,
        ));
    }
    let mut sources = Vec::new();
    for src in srcs {
        match parse_heredoc(src).map_err(heredoc_err)? {
            Some(marker) if !node.json => {
                let body = node.heredocs.iter().rev().find(|h| h.name == marker.name);
                let mut doc = body.cloned().unwrap_or(marker.clone());
                if marker.chomp {
                    doc.content = chomp_heredoc_content(&doc.content);
                }
                doc.expand = marker.expand;
                sources.push(Source::Heredoc(doc));
            }
            _ => sources.push(Source::Path(src.clone())),
        }
    }
    if let Some(from) = f.string("from") {
        let plain = crate::dockerfile::shell::Lexer::new('\\')
            .process_word(&from, &crate::dockerfile::shell::NoEnv)
            .map_err(heredoc_err)?;
        if plain != from {
            return Err(PlanError::invalid(
                "variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround",
                loc,
            ));
        }
    }
    Ok(Copy {
        is_add,
        sources,
        dest,
        from: f.string("from"),
        chown: f.string("chown").filter(|s| !s.is_empty()),
        chmod: f.string("chmod").filter(|s| !s.is_empty()),
        link: f.bool("link").unwrap_or(false),
        parents: f.bool("parents").unwrap_or(false),
        excludes: f.strings("exclude"),
        checksum: f.string("checksum").filter(|s| !s.is_empty()),
        keep_git_dir: f.bool("keep-git-dir").unwrap_or(false),
        unpack: f.bool("unpack"),
    })
}
