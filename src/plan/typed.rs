//! From syntax nodes to checked, not yet expanded commands (BuildKit's `instructions`
//! package): the flags each instruction takes, argument counts, stage names, heredoc
//! sources, ONBUILD restrictions. Expansion and config rules come later, in `dispatch`.

use super::Location;
use super::error::{PlanError, PlanErrorKind};
use super::flags::{FlagError, Flags, Kind};
use super::instruction::HealthcheckSpec;
use super::suggest::did_you_mean;
use crate::dockerfile::{Heredoc, Node, chomp_heredoc_content, parse_heredoc};

/// Every instruction keyword.
pub(crate) const KEYWORDS: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// A FROM line.
#[derive(Debug, Clone)]
pub(crate) struct From {
    pub base: String,
    pub name: Option<String>,
    pub platform: Option<String>,
    pub location: Location,
}

/// A COPY/ADD source as written.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    Path(String),
    Heredoc(Heredoc),
}

/// COPY or ADD before expansion.
#[derive(Debug, Clone)]
pub(crate) struct Copy {
    pub is_add: bool,
    pub sources: Vec<Source>,
    pub dest: String,
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub parents: bool,
    pub excludes: Vec<String>,
    pub checksum: Option<String>,
    pub keep_git_dir: bool,
    pub unpack: Option<bool>,
}

/// RUN before expansion.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    pub args: Vec<String>,
    pub json: bool,
    pub heredocs: Vec<Heredoc>,
    pub mounts: Vec<String>,
    pub mount_froms: Vec<Option<String>>,
    pub network: String,
    pub insecure: bool,
}

/// A checked instruction.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    Env(Vec<(String, String)>),
    Arg(Vec<(String, Option<String>)>),
    Label(Vec<(String, String)>),
    Maintainer(String),
    Expose(Vec<String>),
    Volume(Vec<String>),
    User(String),
    Workdir(String),
    Cmd { args: Vec<String>, json: bool },
    Entrypoint { args: Vec<String>, json: bool },
    Shell(Vec<String>),
    StopSignal(String),
    Healthcheck(Option<HealthcheckSpec>),
    Onbuild(String),
    Run(Run),
    Copy(Copy),
}

/// A checked instruction and where it came from.
#[derive(Debug, Clone)]
pub(crate) struct Command {
    pub kind: Op,
    pub location: Location,
    pub text: String,
    pub from_onbuild: bool,
}

impl Command {
    /// Stage names this command reads from (`COPY --from`, `RUN --mount from=`).
    pub(crate) fn sources(&self) -> Vec<String> {
        match &self.kind {
            Op::Copy(c) => c.from.iter().cloned().collect(),
            Op::Run(r) => r.mount_froms.iter().flatten().cloned().collect(),
            _ => Vec::new(),
        }
    }
}

/// One line: a FROM or another instruction.
#[derive(Debug, Clone)]
pub(crate) enum Line {
    From(From),
    Command(Command),
}

fn flags(node: &Node, declared: &[(&'static str, Kind)]) -> Result<Flags, PlanError> {
    Flags::parse(&node.flags, declared).map_err(|FlagError { message, hint }| {
        let col = flag_column(node, &message);
        PlanError::invalid(message, node.location)
            .with_hint(hint)
            .with_span(col.0, col.1)
    })
}

/// Column and width of the flag named in `message`, on the instruction's first line.
fn flag_column(node: &Node, message: &str) -> (usize, usize) {
    let flag = message.rsplit(": ").next().unwrap_or_default();
    let name = flag.split('=').next().unwrap_or(flag);
    match node.original.find(name) {
        Some(i) if !name.is_empty() => {
            let indent = 0;
            let col = node.original[..i].chars().count() + 1 + indent;
            let rest = &node.original[i..];
            let width = rest.find(char::is_whitespace).unwrap_or(rest.len());
            (col, rest[..width].chars().count())
        }
        _ => (0, 0),
    }
}

fn no_flags(node: &Node) -> Result<(), PlanError> {
    flags(node, &[]).map(|_| ())
}

fn exactly_one(node: &Node, name: &str) -> Result<String, PlanError> {
    no_flags(node)?;
    match node.args.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(PlanError::invalid(
            format!("{name} requires exactly one argument"),
            node.location,
        )),
    }
}

fn at_least_one(node: &Node, name: &str) -> Result<(), PlanError> {
    if node.args.is_empty() {
        return Err(PlanError::invalid(
            format!("{name} requires at least one argument"),
            node.location,
        ));
    }
    Ok(())
}

fn kvps(node: &Node, name: &str) -> Result<Vec<(String, String)>, PlanError> {
    no_flags(node)?;
    at_least_one(node, name)?;
    let mut out = Vec::new();
    for chunk in node.args.chunks(3) {
        let [k, v, _] = chunk else {
            return Err(PlanError::invalid(
                format!("Bad input to {name}, too many arguments"),
                node.location,
            ));
        };
        if k.is_empty() {
            return Err(PlanError::invalid(
                format!("{name} names can not be blank"),
                node.location,
            ));
        }
        out.push((k.clone(), v.clone()));
    }
    Ok(out)
}

/// `validStageName`: `^[a-z][a-z0-9-_.]*$` after lower-casing.
fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

fn unknown(node: &Node) -> PlanError {
    let width = node.keyword.chars().count();
    let col = node.original.len() - node.original.trim_start().len() + 1;
    PlanError::new(
        PlanErrorKind::UnknownInstruction(node.keyword.clone()),
        Some(node.location),
    )
    .with_hint(did_you_mean(&node.keyword, KEYWORDS.iter().copied()))
    .with_span(col, width)
}

/// Checks one node (`ParseInstruction`).
pub(crate) fn line(node: &Node) -> Result<Line, PlanError> {
    let loc = node.location;
    let text = node.original.trim().to_string();
    let kind = match node.command().as_str() {
        "from" => {
            let f = flags(node, &[("platform", Kind::String)])?;
            let args = &node.args;
            let name = match args.as_slice() {
                [_] => None,
                [_, kw, name] if kw.eq_ignore_ascii_case("as") => {
                    let lower = name.to_lowercase();
                    if !valid_stage_name(&lower) {
                        return Err(PlanError::invalid(
                            format!(
                                "invalid name for build stage: {}, name can't start with a number or contain symbols",
                                crate::dockerfile::goquote(name)
                            ),
                            loc,
                        ));
                    }
                    Some(lower)
                }
                _ => {
                    return Err(PlanError::invalid(
                        "FROM requires either one or three arguments",
                        loc,
                    ));
                }
            };
            return Ok(Line::From(From {
                base: args[0].clone(),
                name,
                platform: f.string("platform"),
                location: loc,
            }));
        }
        "env" => Op::Env(kvps(node, "ENV")?),
        "label" => Op::Label(kvps(node, "LABEL")?),
        "maintainer" => Op::Maintainer(exactly_one(node, "MAINTAINER")?),
        "workdir" => Op::Workdir(exactly_one(node, "WORKDIR")?),
        "user" => Op::User(exactly_one(node, "USER")?),
        "stopsignal" => Op::StopSignal(exactly_one(node, "STOPSIGNAL")?),
        "expose" => {
            no_flags(node)?;
            at_least_one(node, "EXPOSE")?;
            let mut ports = node.args.clone();
            ports.sort();
            Op::Expose(ports)
        }
        "volume" => {
            no_flags(node)?;
            at_least_one(node, "VOLUME")?;
            let mut v = Vec::new();
            for a in &node.args {
                let t = a.trim();
                if t.is_empty() {
                    return Err(PlanError::invalid(
                        "VOLUME specified can not be an empty string",
                        loc,
                    ));
                }
                v.push(t.to_string());
            }
            Op::Volume(v)
        }
        "arg" => {
            no_flags(node)?;
            at_least_one(node, "ARG")?;
            let mut pairs = Vec::new();
            for a in &node.args {
                match a.split_once('=') {
                    Some(("", _)) => {
                        return Err(PlanError::invalid("ARG names can not be blank", loc));
                    }
                    Some((k, v)) => pairs.push((k.to_string(), Some(v.to_string()))),
                    None => pairs.push((a.clone(), None)),
                }
            }
            Op::Arg(pairs)
        }
        "cmd" => {
            no_flags(node)?;
            Op::Cmd {
                args: node.args.clone(),
                json: node.json,
            }
        }
        "entrypoint" => {
            no_flags(node)?;
            Op::Entrypoint {
                args: node.args.clone(),
                json: node.json,
            }
        }
        "shell" => {
            no_flags(node)?;
            if node.args.is_empty() {
                return Err(PlanError::invalid(
                    "SHELL requires at least one argument",
                    loc,
                ));
            }
            if !node.json {
                return Err(PlanError::invalid(
                    "SHELL requires the arguments to be in JSON form",
                    loc,
                )
                .with_hint(Some("write it as SHELL [\"executable\", \"param\"]".into())));
            }
            Op::Shell(node.args.clone())
        }
        "healthcheck" => Op::Healthcheck(healthcheck(node)?),
        "onbuild" => Op::Onbuild(onbuild(node)?),
        "run" => Op::Run(run(node)?),
        "copy" | "add" => Op::Copy(copy(node)?),
        _ => return Err(unknown(node)),
    };
    Ok(Line::Command(Command {
        kind,
        location: loc,
        text,
        from_onbuild: false,
    }))
}

fn healthcheck(node: &Node) -> Result<Option<HealthcheckSpec>, PlanError> {
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
        let d = super::duration::parse_duration(&v).map_err(|e| PlanError::invalid(e, loc))?;
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

fn onbuild(node: &Node) -> Result<String, PlanError> {
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

fn run(node: &Node) -> Result<Run, PlanError> {
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
        let from = super::mount::precheck(m)
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

fn copy(node: &Node) -> Result<Copy, PlanError> {
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
