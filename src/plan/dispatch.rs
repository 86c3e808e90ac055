//! Applying one checked command to a stage: variable expansion where Docker expands, the
//! build args a step depends on, and Docker's config rules (ENV replaces in place, WORKDIR
//! relative to the previous one, shell forms wrapped in SHELL, ENTRYPOINT clearing an
//! inherited CMD…).

use std::collections::{BTreeMap, BTreeSet};

use super::error::{PlanError, PlanErrorKind};
use super::instruction::{
    Command as Cmd, CopyFrom, CopySource, CopyStep, Heredoc, Instruction, MountFrom, NetworkMode,
    RunStep,
};
use super::state::{PROXY_ARGS, StageState, config_env_set, env_set};
use super::typed::{Command, Op, Source};
use super::values::{check_chmod, copy_source, resolve_dest, valid_signal, workdir};
use super::{Location, Step};
use crate::dockerfile::shell::{Expansion, Lexer};
use crate::image::Healthcheck;

/// Resolves `--from` / `from=` values for the stage being planned.
pub(crate) trait StageLookup {
    /// `Ok(Some(pos))` for an earlier stage, `Ok(None)` for an image reference, `Err` for
    /// a stage that is not defined before the current one.
    fn lookup(
        &self,
        from: &str,
        location: Location,
        mount_target: Option<&str>,
    ) -> Result<Option<usize>, PlanError>;
}

/// What every step of a build shares.
pub(crate) struct Ctx<'a> {
    pub lexer: Lexer,
    pub build_args: &'a BTreeMap<String, String>,
    pub global: &'a [(String, String)],
    /// Build args some ARG declared (for the "not consumed" warning).
    pub consumed: BTreeSet<String>,
}

/// Expands words and remembers which ARG values were read.
struct Expander<'s> {
    lexer: Lexer,
    state: &'s StageState,
    read: BTreeSet<String>,
    location: Location,
}

impl Expander<'_> {
    fn word(&mut self, w: &str) -> Result<String, PlanError> {
        Ok(self.full(w)?.result)
    }

    fn full(&mut self, w: &str) -> Result<Expansion, PlanError> {
        let e = self
            .lexer
            .process_word_with_matches(w, &self.state.env)
            .map_err(|e| PlanError::new(PlanErrorKind::Expand(Box::new(e)), Some(self.location)))?;
        self.read.extend(e.matched.iter().cloned());
        Ok(e)
    }

    fn opt(&mut self, w: &Option<String>) -> Result<Option<String>, PlanError> {
        w.as_ref().map(|w| self.word(w)).transpose()
    }

    fn args(&self) -> Vec<(String, String)> {
        arg_values(self.state, self.read.iter())
    }
}

/// The values of those of `keys` that are ARG-set in `state`.
fn arg_values<'k>(
    state: &StageState,
    keys: impl Iterator<Item = &'k String>,
) -> Vec<(String, String)> {
    keys.filter(|k| state.arg_keys.contains(*k))
        .filter_map(|k| state.env.iter().find(|(n, _)| n == k).cloned())
        .collect()
}

fn with_shell(state: &StageState, args: &[String]) -> Vec<String> {
    let mut v = state.shell();
    v.push(args.join(" "));
    v
}

fn heredoc(h: &crate::dockerfile::Heredoc, content: String) -> Heredoc {
    Heredoc {
        name: h.name.clone(),
        content,
        expand: h.expand,
        fd: (h.fd != 0).then(|| u32::try_from(h.fd).unwrap_or(u32::MAX)),
    }
}

/// Applies `cmd` to `state` and returns the step.
pub(crate) fn dispatch(
    state: &mut StageState,
    cmd: &Command,
    ctx: &mut Ctx,
    stages: &dyn StageLookup,
) -> Result<Step, PlanError> {
    let loc = cmd.location;
    let mut x = Expander {
        lexer: ctx.lexer,
        state,
        read: BTreeSet::new(),
        location: loc,
    };
    let invalid = |m: String| PlanError::invalid(m, loc);
    // Expansion first (it reads the state before the step), then the config change.
    let (instruction, args) = match &cmd.kind {
        Op::Env(pairs) => {
            let mut out = Vec::new();
            for (k, v) in pairs {
                out.push((x.word(k)?, x.word(v)?));
            }
            let args = x.args();
            for (k, v) in &out {
                env_set(&mut state.env, k, v);
                state.arg_keys.remove(k);
                config_env_set(&mut state.config, k, v);
            }
            (Instruction::Env(out), args)
        }
        Op::Arg(pairs) => {
            let mut out = Vec::new();
            let mut read = BTreeSet::new();
            for (k, default) in pairs {
                let given = ctx.build_args.get(k);
                let mut value = default.clone();
                if given.is_some() {
                    ctx.consumed.insert(k.clone());
                }
                if default.is_none() && given.is_none() {
                    if let Some((_, v)) = ctx.global.iter().rev().find(|(n, _)| n == k) {
                        value = Some(v.clone());
                    }
                }
                if let Some(v) = given {
                    value = Some(v.clone());
                } else if let Some(d) = default {
                    let mut ex = Expander {
                        lexer: ctx.lexer,
                        state,
                        read: BTreeSet::new(),
                        location: loc,
                    };
                    value = Some(ex.word(d)?);
                    read.extend(arg_values(state, ex.read.iter()));
                }
                if let Some(v) = &value {
                    env_set(&mut state.env, k, v);
                    state.arg_keys.insert(k.clone());
                }
                if !state.declared.contains(k) {
                    state.declared.push(k.clone());
                }
                out.push((k.clone(), value));
            }
            (Instruction::Arg(out), read.into_iter().collect())
        }
        Op::Label(pairs) => {
            let mut out = Vec::new();
            for (k, v) in pairs {
                out.push((x.word(k)?, x.word(v)?));
            }
            let args = x.args();
            let labels = state.config.labels.get_or_insert_with(BTreeMap::new);
            for (k, v) in &out {
                labels.insert(k.clone(), v.clone());
            }
            (Instruction::Label(out), args)
        }
        Op::Maintainer(m) => {
            state.author = Some(m.clone());
            (Instruction::Maintainer(m.clone()), Vec::new())
        }
        Op::Expose(raw) => {
            let mut ports = Vec::new();
            for p in raw {
                let words = x
                    .lexer
                    .process_words(p, &x.state.env)
                    .map_err(|e| PlanError::new(PlanErrorKind::Expand(Box::new(e)), Some(loc)))?;
                if let Ok(e) = x.lexer.process_word_with_matches(p, &x.state.env) {
                    x.read.extend(e.matched);
                }
                for w in words {
                    ports.extend(super::expose::parse_port(&w).map_err(invalid)?);
                }
            }
            let args = x.args();
            let map = state.config.exposed_ports.get_or_insert_with(BTreeMap::new);
            for p in &ports {
                map.insert(p.clone(), BTreeMap::new());
            }
            (Instruction::Expose(ports), args)
        }
        Op::Volume(vols) => {
            let mut out = Vec::new();
            for v in vols {
                let e = x.word(v)?;
                if e.is_empty() {
                    return Err(invalid(
                        "VOLUME specified can not be an empty string".into(),
                    ));
                }
                out.push(e);
            }
            let args = x.args();
            let map = state.config.volumes.get_or_insert_with(BTreeMap::new);
            for v in &out {
                map.insert(v.clone(), BTreeMap::new());
            }
            (Instruction::Volume(out), args)
        }
        Op::User(u) => {
            let u = x.word(u)?;
            let args = x.args();
            state.config.user = Some(u.clone());
            (Instruction::User(u), args)
        }
        Op::Workdir(w) => {
            let w = x.word(w)?;
            let args = x.args();
            let wd = workdir(state.workdir(), &w);
            state.config.working_dir = Some(wd.clone());
            (Instruction::Workdir(wd), args)
        }
        Op::StopSignal(s) => {
            let s = x.word(s)?;
            let args = x.args();
            if !valid_signal(&s) {
                return Err(invalid(format!("Invalid signal: {s}")));
            }
            state.config.stop_signal = Some(s.clone());
            (Instruction::StopSignal(s), args)
        }
        Op::Shell(sh) => {
            state.config.shell = Some(sh.clone());
            (Instruction::Shell(sh.clone()), Vec::new())
        }
        Op::Cmd { args, json } => {
            let c = if *json {
                Cmd::Exec(args.clone())
            } else {
                Cmd::Shell(args.join(" "))
            };
            state.config.cmd = Some(if *json {
                args.clone()
            } else {
                with_shell(state, args)
            });
            state.config.args_escaped = Some(true);
            state.cmd_set = true;
            (Instruction::Cmd(c), Vec::new())
        }
        Op::Entrypoint { args, json } => {
            let c = if *json {
                Cmd::Exec(args.clone())
            } else {
                Cmd::Shell(args.join(" "))
            };
            state.config.entrypoint = match (*json, args.is_empty()) {
                (true, true) => None,
                (true, false) => Some(args.clone()),
                (false, _) => Some(with_shell(state, args)),
            };
            if !state.cmd_set {
                state.config.cmd = None;
            }
            (Instruction::Entrypoint(c), Vec::new())
        }
        Op::Healthcheck(h) => {
            state.config.healthcheck = Some(match h {
                None => Healthcheck {
                    test: Some(vec!["NONE".to_string()]),
                    ..Healthcheck::default()
                },
                Some(s) => Healthcheck {
                    test: Some(s.test.clone()),
                    interval: s.interval,
                    timeout: s.timeout,
                    start_period: s.start_period,
                    start_interval: s.start_interval,
                    retries: s.retries,
                },
            });
            (Instruction::Healthcheck(h.clone()), Vec::new())
        }
        Op::Onbuild(expr) => {
            state
                .config
                .on_build
                .get_or_insert_with(Vec::new)
                .push(expr.clone());
            (Instruction::Onbuild(expr.clone()), Vec::new())
        }
        Op::Run(r) => {
            let mut mounts = Vec::new();
            let mut ssh = 0;
            for spec in &r.mounts {
                // Every value is expanded (the whole spec: keys are never variables).
                let expanded = expand_mount(&mut x, spec)?;
                let (mut m, from) = super::mount::parse(&expanded, state.workdir(), ssh)
                    .map_err(|e| PlanError::invalid(e.message, loc).with_hint(e.hint))?;
                if m.kind == super::instruction::MountKind::Ssh {
                    ssh += 1;
                }
                if let Some(from) = from.filter(|f| !f.is_empty()) {
                    m.from = Some(match stages.lookup(&from, loc, m.target.as_deref())? {
                        Some(pos) => MountFrom::Stage(pos),
                        None => MountFrom::Image(from),
                    });
                }
                mounts.push(m);
            }
            let command = run_command(r);
            let heredocs = r.heredocs.iter().map(|h| heredoc(h, chomped(h))).collect();
            let mut args: Vec<(String, String)> = arg_values(state, state.declared.iter());
            args.dedup_by(|a, b| a.0 == b.0);
            let proxy = PROXY_ARGS
                .iter()
                .filter(|k| !state.declared.iter().any(|d| d == *k))
                .filter_map(|k| ctx.build_args.get(*k).map(|v| (k.to_string(), v.clone())))
                .collect();
            let step = RunStep {
                command,
                heredocs,
                mounts,
                network: match r.network.as_str() {
                    "none" => NetworkMode::None,
                    "host" => NetworkMode::Host,
                    _ => NetworkMode::Default,
                },
                insecure: r.insecure,
                proxy,
            };
            (Instruction::Run(step), args)
        }
        Op::Copy(c) => {
            let mut sources = Vec::new();
            for s in &c.sources {
                sources.push(match s {
                    Source::Path(p) => copy_source(&x.word(p)?, c.is_add),
                    Source::Heredoc(h) => {
                        let content = if h.expand {
                            let raw = Lexer {
                                skip_process_quotes: true,
                                ..Lexer::new('\\')
                            };
                            let e = raw
                                .process_word_with_matches(&h.content, &x.state.env)
                                .map_err(|e| {
                                    PlanError::new(PlanErrorKind::Expand(Box::new(e)), Some(loc))
                                })?;
                            x.read.extend(e.matched);
                            e.result
                        } else {
                            h.content.clone()
                        };
                        CopySource::Heredoc(heredoc(h, content))
                    }
                });
            }
            let dest_written = x.word(&c.dest)?;
            let dest = resolve_dest(state.workdir(), &dest_written);
            let chown = x.opt(&c.chown)?.filter(|s| !s.is_empty());
            let chmod = x.opt(&c.chmod)?.filter(|s| !s.is_empty());
            let checksum = x.opt(&c.checksum)?.filter(|s| !s.is_empty());
            if let Some(m) = &chmod {
                check_chmod(m).map_err(invalid)?;
            }
            let name = if c.is_add { "ADD" } else { "COPY" };
            if sources.len() > 1 && !dest.ends_with('/') {
                return Err(invalid(format!(
                    "When using {name} with more than one source file, the destination must be a directory and end with a /"
                )));
            }
            let from = match &c.from {
                None => CopyFrom::Context,
                Some(f) => match stages.lookup(f, loc, None)? {
                    Some(pos) => CopyFrom::Stage(pos),
                    None => CopyFrom::Image(f.clone()),
                },
            };
            let args = x.args();
            (
                Instruction::Copy(CopyStep {
                    is_add: c.is_add,
                    sources,
                    dest,
                    dest_written,
                    from,
                    chown,
                    chmod,
                    link: c.link,
                    parents: c.parents,
                    excludes: c.excludes.clone(),
                    checksum,
                    keep_git_dir: c.keep_git_dir,
                    unpack: c.unpack,
                }),
                args,
            )
        }
    };
    Ok(Step {
        instruction,
        location: loc,
        text: cmd.text.clone(),
        args,
        from_onbuild: cmd.from_onbuild,
        config: state.config.clone(),
    })
}

fn chomped(h: &crate::dockerfile::Heredoc) -> String {
    if h.chomp {
        crate::dockerfile::chomp_heredoc_content(&h.content)
    } else {
        h.content.clone()
    }
}

/// RUN's command: exec form as is; `RUN <<EOF` alone runs the heredoc body as the
/// script; otherwise the line followed by each heredoc (body and delimiter), which the
/// shell reads itself (BuildKit's `dispatchRun`).
fn run_command(r: &super::typed::Run) -> Cmd {
    if r.json {
        return Cmd::Exec(r.args.clone());
    }
    let line = r.args.join(" ");
    let Some(first) = r.heredocs.first() else {
        return Cmd::Shell(line);
    };
    if matches!(crate::dockerfile::parse_heredoc(&line), Ok(Some(_))) {
        return Cmd::Shell(chomped(first));
    }
    let mut script = line;
    for h in &r.heredocs {
        script.push('\n');
        script.push_str(&h.content);
        script.push_str(&h.name);
    }
    Cmd::Shell(script)
}

/// Expands every `key=value` value of a mount spec.
fn expand_mount(x: &mut Expander, spec: &str) -> Result<String, PlanError> {
    let fields =
        super::mount::csv_fields(spec).map_err(|e| PlanError::invalid(e.message, x.location))?;
    let mut out = Vec::new();
    for f in fields {
        let field = match f.split_once('=') {
            Some((k, v)) => format!("{k}={}", x.word(v)?),
            None => f,
        };
        // Re-quote for the CSV reader.
        if field.contains(',') || field.contains('"') {
            out.push(format!("\"{}\"", field.replace('"', "\"\"")));
        } else {
            out.push(field);
        }
    }
    Ok(out.join(","))
}
