//! From syntax nodes to checked, not yet expanded commands (BuildKit's `instructions`
//! package): the flags each instruction takes, argument counts, stage names, heredoc
//! sources, ONBUILD restrictions. Expansion and config rules come later, in `dispatch`.

use super::Location;
use super::error::{PlanError, PlanErrorKind};
use super::flags::{FlagError, Flags, Kind};
use super::instruction::HealthcheckSpec;
use super::suggest::did_you_mean;
use crate::dockerfile::{Heredoc, Node};

mod forms;

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

pub(super) fn flags(node: &Node, declared: &[(&'static str, Kind)]) -> Result<Flags, PlanError> {
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
            let col = node.original[..i].chars().count() + 1;
            let rest = &node.original[i..];
            let width = rest.find(char::is_whitespace).unwrap_or(rest.len());
            (col, rest[..width].chars().count())
        }
        _ => (0, 0),
    }
}

pub(super) fn no_flags(node: &Node) -> Result<(), PlanError> {
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

pub(super) fn at_least_one(node: &Node, name: &str) -> Result<(), PlanError> {
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
        "healthcheck" => Op::Healthcheck(forms::healthcheck(node)?),
        "onbuild" => Op::Onbuild(forms::onbuild(node)?),
        "run" => Op::Run(forms::run(node)?),
        "copy" | "add" => Op::Copy(forms::copy(node)?),
        _ => return Err(unknown(node)),
    };
    Ok(Line::Command(Command {
        kind,
        location: loc,
        text,
        from_onbuild: false,
    }))
}
