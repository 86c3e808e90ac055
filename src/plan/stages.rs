//! The planner's driver: global ARGs, stages and their bases, the target and the stages
//! it needs, base-image ONBUILD triggers, and the final graph with parallel groups.

use std::collections::{BTreeMap, BTreeSet};

use super::dispatch::{Ctx, StageLookup, dispatch};
use super::error::{PlanError, PlanErrorKind};
use super::instruction::{CopyFrom, Instruction, MountFrom};
use super::state::{PROXY_ARGS, StageState};
use super::typed::{self, Command, From, Line, Op};
use super::{Base, BaseResolver, BuildGraph, Location, PlanOptions, Stage, Warning, platform};
use crate::dockerfile::Dockerfile;
use crate::dockerfile::shell::Lexer;
use crate::image::{ImageConfig, Platform};

/// A stage as written: its FROM and its commands.
struct RawStage {
    from: From,
    commands: Vec<Command>,
}

/// What a stage's FROM resolved to.
struct Resolved {
    base: Base,
    base_config: Option<ImageConfig>,
    platform: Platform,
    /// Base image (or base stage) ONBUILD triggers, as commands.
    triggers: Vec<Command>,
}

fn display_name(stages: &[RawStage], pos: usize) -> String {
    stages[pos]
        .from
        .name
        .clone()
        .unwrap_or_else(|| format!("stage-{pos}"))
}

/// Finds a stage by name (case-insensitive) or index.
fn find_stage(stages: &[RawStage], reference: &str) -> Option<usize> {
    if let Ok(i) = reference.parse::<i64>() {
        return usize::try_from(i).ok().filter(|i| *i < stages.len());
    }
    let lower = reference.to_lowercase();
    stages
        .iter()
        .position(|s| s.from.name.as_deref() == Some(lower.as_str()))
}

struct Lookup<'a> {
    stages: &'a [RawStage],
    current: usize,
}

impl StageLookup for Lookup<'_> {
    fn lookup(
        &self,
        from: &str,
        location: Location,
        mount_target: Option<&str>,
    ) -> Result<Option<usize>, PlanError> {
        let is_index = from.parse::<i64>().is_ok();
        let Some(pos) = find_stage(self.stages, from) else {
            if is_index {
                return Err(PlanError::invalid(
                    format!("invalid stage index {from}"),
                    location,
                ));
            }
            return Ok(None);
        };
        if pos == self.current {
            return Err(PlanError::new(
                PlanErrorKind::Cycle(display_name(self.stages, pos)),
                Some(location),
            ));
        }
        if pos > self.current {
            let msg = match mount_target {
                Some(t) => format!(
                    "cannot mount from stage {} to {}, stage needs to be defined before current command",
                    crate::dockerfile::goquote(from),
                    crate::dockerfile::goquote(t)
                ),
                None => format!(
                    "cannot copy from stage {}, it needs to be defined before current stage {}",
                    crate::dockerfile::goquote(from),
                    crate::dockerfile::goquote(&display_name(self.stages, self.current))
                ),
            };
            return Err(PlanError::new(
                PlanErrorKind::ForwardReference(msg),
                Some(location),
            ));
        }
        Ok(Some(pos))
    }
}

/// Splits the instructions into global ARGs and stages.
fn split(df: &Dockerfile) -> Result<(Vec<Command>, Vec<RawStage>), PlanError> {
    let mut meta = Vec::new();
    let mut stages: Vec<RawStage> = Vec::new();
    for node in &df.instructions {
        match typed::line(node)? {
            Line::From(from) => stages.push(RawStage {
                from,
                commands: Vec::new(),
            }),
            Line::Command(cmd) => match stages.last_mut() {
                Some(stage) => stage.commands.push(cmd),
                None if matches!(cmd.kind, Op::Arg(_)) => meta.push(cmd),
                None => {
                    return Err(PlanError::new(PlanErrorKind::NoStage, Some(cmd.location))
                        .with_hint(Some(
                            "start the Dockerfile with FROM (only ARG may come before it)".into(),
                        )));
                }
            },
        }
    }
    if stages.is_empty() {
        return Err(PlanError::new(PlanErrorKind::NoStages, None)
            .with_hint(Some("add a FROM instruction".into())));
    }
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &stages {
        if let Some(name) = &s.from.name {
            if seen.insert(name, s.from.location.start_line).is_some() {
                return Err(PlanError::new(
                    PlanErrorKind::DuplicateStage(name.clone()),
                    Some(s.from.location),
                ));
            }
        }
    }
    Ok((meta, stages))
}

/// Global scope: built-in platform args, then the ARGs before the first FROM.
fn global_args(
    meta: &[Command],
    opts: &PlanOptions,
    target: &Platform,
    target_name: &str,
    lexer: Lexer,
    consumed: &mut BTreeSet<String>,
) -> Result<Vec<(String, String)>, PlanError> {
    let mut global = platform::builtin_args(&opts.build_platform, target, target_name);
    for (k, v) in &mut global {
        if let Some(o) = opts.build_args.get(k.as_str()) {
            *v = o.clone();
            consumed.insert(k.clone());
        }
    }
    for cmd in meta {
        let Op::Arg(pairs) = &cmd.kind else { continue };
        for (k, default) in pairs {
            let value = match opts.build_args.get(k) {
                Some(v) => {
                    consumed.insert(k.clone());
                    Some(v.clone())
                }
                None => match default {
                    Some(d) => Some(lexer.process_word(d, &global).map_err(|e| {
                        PlanError::new(PlanErrorKind::Expand(Box::new(e)), Some(cmd.location))
                    })?),
                    None => None,
                },
            };
            if let Some(v) = value {
                match global.iter_mut().find(|(n, _)| n == k) {
                    Some(slot) => slot.1 = v,
                    None => global.push((k.clone(), v)),
                }
            }
        }
    }
    Ok(global)
}

/// Parses ONBUILD trigger expressions into commands placed at the FROM line.
fn triggers(exprs: &[String], at: Location) -> Result<Vec<Command>, PlanError> {
    let mut out = Vec::new();
    for expr in exprs {
        let df = crate::dockerfile::parse(expr.as_bytes())
            .map_err(|e| PlanError::invalid(format!("ONBUILD trigger {expr:?}: {}", e.kind), at))?;
        let [node] = df.instructions.as_slice() else {
            return Err(PlanError::invalid(
                "onbuild trigger should be a single expression",
                at,
            ));
        };
        let mut node = node.clone();
        node.location = at;
        match typed::line(&node).map_err(|e| PlanError {
            location: Some(at),
            span: (0, 0),
            ..e
        })? {
            Line::Command(mut cmd) => {
                cmd.from_onbuild = true;
                out.push(cmd);
            }
            Line::From(_) => {
                return Err(PlanError::invalid(
                    "FROM isn't allowed as an ONBUILD trigger",
                    at,
                ));
            }
        }
    }
    Ok(out)
}

/// Stages `pos` needs directly (base stage, `--from`, `from=`), by position.
fn direct_deps(stages: &[RawStage], resolved: &[Option<Resolved>], pos: usize) -> BTreeSet<usize> {
    let mut deps = BTreeSet::new();
    if let Some(Some(r)) = resolved.get(pos) {
        if let Base::Stage(b) = r.base {
            deps.insert(b);
        }
        for c in &r.triggers {
            deps.extend(c.sources().iter().filter_map(|s| find_stage(stages, s)));
        }
    }
    for c in &stages[pos].commands {
        deps.extend(c.sources().iter().filter_map(|s| find_stage(stages, s)));
    }
    deps.remove(&pos);
    deps
}

/// Plans a build (see [`super::plan`]).
pub(crate) fn plan(
    df: &Dockerfile,
    opts: &PlanOptions,
    resolver: &dyn BaseResolver,
) -> Result<BuildGraph, PlanError> {
    let (meta, stages) = split(df)?;
    // Stage references must point backwards, even in stages the target does not need.
    for (pos, s) in stages.iter().enumerate() {
        let lookup = Lookup {
            stages: &stages,
            current: pos,
        };
        for c in &s.commands {
            if let Op::Copy(copy) = &c.kind {
                if let Some(from) = &copy.from {
                    lookup.lookup(from, c.location, None)?;
                }
            }
        }
    }
    let lexer = Lexer::new(df.escape);
    let target_pos = match &opts.target {
        None => stages.len() - 1,
        Some(t) => find_stage(&stages, t)
            .filter(|_| t.parse::<i64>().is_err())
            .ok_or_else(|| {
                let names: Vec<&str> = stages
                    .iter()
                    .filter_map(|s| s.from.name.as_deref())
                    .collect();
                let mut hint = super::suggest::did_you_mean(t, names.iter().copied())
                    .map(|h| format!("{h} "))
                    .unwrap_or_default();
                if names.is_empty() {
                    hint.push_str("the Dockerfile has no named stages (FROM image AS name)");
                } else {
                    hint.push_str(&format!("stages: {}", names.join(", ")));
                }
                PlanError::new(PlanErrorKind::UnknownTarget(t.clone()), None).with_hint(Some(hint))
            })?,
    };
    let target_platform = opts
        .platform
        .clone()
        .unwrap_or_else(|| opts.build_platform.clone());
    let target_name = opts
        .target
        .clone()
        .or_else(|| stages[target_pos].from.name.clone())
        .unwrap_or_else(|| "default".to_string());
    let mut consumed = BTreeSet::new();
    let global = global_args(
        &meta,
        opts,
        &target_platform,
        &target_name,
        lexer,
        &mut consumed,
    )?;
    let declared_meta: BTreeSet<String> = meta
        .iter()
        .flat_map(|c| match &c.kind {
            Op::Arg(p) => p.iter().map(|(k, _)| k.clone()).collect(),
            _ => Vec::new(),
        })
        .collect();

    // FROM lines: expand with the global scope, find stage bases.
    let mut bases: Vec<(String, Option<usize>, Platform)> = Vec::new();
    for (pos, s) in stages.iter().enumerate() {
        let loc = s.from.location;
        let expand = |w: &str| {
            lexer
                .process_word(w, &global)
                .map_err(|e| PlanError::new(PlanErrorKind::Expand(Box::new(e)), Some(loc)))
        };
        let base = expand(&s.from.base)?;
        if base.is_empty() {
            return Err(PlanError::invalid(
                format!("base name ({}) should not be blank", s.from.base),
                loc,
            ));
        }
        let stage_base = stages[..pos]
            .iter()
            .rposition(|e| e.from.name.as_deref() == Some(base.to_lowercase().as_str()));
        if s.from.name.as_deref() == Some(base.to_lowercase().as_str()) && stage_base.is_none() {
            return Err(PlanError::new(PlanErrorKind::Cycle(base), Some(loc)));
        }
        let platform = match &s.from.platform {
            None => None,
            Some(p) => {
                let v = expand(p)?;
                if v.is_empty() {
                    return Err(PlanError::invalid(
                        format!("empty platform value from expression {p}"),
                        loc,
                    ));
                }
                Some(platform::parse(&v).map_err(|e| {
                    PlanError::invalid(format!("failed to parse platform {p}: {e}"), loc)
                })?)
            }
        };
        let platform = match (platform, stage_base) {
            (Some(p), _) => p,
            (None, Some(b)) => bases[b].2.clone(),
            (None, None) => target_platform.clone(),
        };
        bases.push((base, stage_base, platform));
    }

    // Reachable stages; resolving bases may add ONBUILD triggers and with them new deps.
    let mut resolved: Vec<Option<Resolved>> = (0..stages.len()).map(|_| None).collect();
    let reachable = loop {
        let mut reach = BTreeSet::new();
        let mut todo = vec![target_pos];
        while let Some(p) = todo.pop() {
            if reach.insert(p) {
                todo.extend(direct_deps(&stages, &resolved, p));
            }
        }
        let mut changed = false;
        for &p in &reach {
            if resolved[p].is_some() {
                continue;
            }
            changed = true;
            let (name, stage_base, platform) = &bases[p];
            let loc = stages[p].from.location;
            let r = if let Some(b) = stage_base {
                let exprs: Vec<String> = stages[*b]
                    .commands
                    .iter()
                    .filter_map(|c| match &c.kind {
                        Op::Onbuild(e) => Some(e.clone()),
                        _ => None,
                    })
                    .collect();
                Resolved {
                    base: Base::Stage(*b),
                    base_config: None,
                    platform: platform.clone(),
                    triggers: triggers(&exprs, loc)?,
                }
            } else if name.eq_ignore_ascii_case("scratch") {
                Resolved {
                    base: Base::Scratch,
                    base_config: None,
                    platform: platform.clone(),
                    triggers: Vec::new(),
                }
            } else {
                let config = resolver.resolve(name, platform).map_err(|message| {
                    PlanError::new(
                        PlanErrorKind::Resolve {
                            reference: name.clone(),
                            message,
                        },
                        Some(loc),
                    )
                })?;
                let exprs = config.config.on_build.clone().unwrap_or_default();
                Resolved {
                    base: Base::Image(name.clone()),
                    base_config: Some(config),
                    platform: platform.clone(),
                    triggers: triggers(&exprs, loc)?,
                }
            };
            resolved[p] = Some(r);
        }
        if !changed {
            break reach;
        }
    };

    // Dispatch reachable stages in Dockerfile order.
    let mut ctx = Ctx {
        lexer,
        build_args: &opts.build_args,
        global: &global,
        consumed,
    };
    let mut states: BTreeMap<usize, StageState> = BTreeMap::new();
    let mut planned: Vec<(usize, Stage)> = Vec::new();
    for &pos in &reachable {
        let Some(r) = resolved[pos].as_ref() else {
            continue;
        };
        let mut state = match (&r.base, &r.base_config) {
            (Base::Stage(b), _) => match states.get(b) {
                Some(parent) => StageState::from_stage(parent),
                None => StageState::from_image(&ImageConfig::default(), r.platform.clone()),
            },
            (_, Some(cfg)) => {
                let mut s = StageState::from_image(cfg, r.platform.clone());
                s.config.on_build = None;
                s
            }
            (_, None) => StageState::from_image(&ImageConfig::default(), r.platform.clone()),
        };
        let lookup = Lookup {
            stages: &stages,
            current: pos,
        };
        let mut steps = Vec::new();
        for cmd in r.triggers.iter().chain(&stages[pos].commands) {
            steps.push(dispatch(&mut state, cmd, &mut ctx, &lookup)?);
        }
        let stage = Stage {
            id: 0,
            index: pos,
            name: stages[pos].from.name.clone(),
            base: r.base.clone(),
            base_config: r.base_config.clone(),
            platform: r.platform.clone(),
            location: stages[pos].from.location,
            steps,
            deps: direct_deps(&stages, &resolved, pos).into_iter().collect(),
            final_config: state.image_config(),
        };
        states.insert(pos, state);
        planned.push((pos, stage));
    }

    finish(df, opts, planned, target_pos, &ctx.consumed, &declared_meta)
}

/// Renumbers stages densely, maps stage references to graph ids, computes groups and
/// warnings.
fn finish(
    df: &Dockerfile,
    opts: &PlanOptions,
    planned: Vec<(usize, Stage)>,
    target_pos: usize,
    consumed: &BTreeSet<String>,
    declared_meta: &BTreeSet<String>,
) -> Result<BuildGraph, PlanError> {
    let id_of: BTreeMap<usize, usize> = planned
        .iter()
        .enumerate()
        .map(|(id, (pos, _))| (*pos, id))
        .collect();
    let map = |pos: usize| id_of.get(&pos).copied().unwrap_or(pos);
    let mut stages = Vec::new();
    for (id, (_, mut s)) in planned.into_iter().enumerate() {
        s.id = id;
        if let Base::Stage(b) = s.base {
            s.base = Base::Stage(map(b));
        }
        s.deps = s.deps.iter().map(|d| map(*d)).collect();
        s.deps.sort_unstable();
        s.deps.dedup();
        for step in &mut s.steps {
            match &mut step.instruction {
                Instruction::Copy(c) => {
                    if let CopyFrom::Stage(p) = c.from {
                        c.from = CopyFrom::Stage(map(p));
                    }
                }
                Instruction::Run(r) => {
                    for m in &mut r.mounts {
                        if let Some(MountFrom::Stage(p)) = m.from {
                            m.from = Some(MountFrom::Stage(map(p)));
                        }
                    }
                }
                _ => {}
            }
        }
        stages.push(s);
    }
    // Level = 1 + deepest dependency; stages of a level run in parallel.
    let mut level = vec![0usize; stages.len()];
    for s in &stages {
        level[s.id] = s.deps.iter().map(|d| level[*d] + 1).max().unwrap_or(0);
    }
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (id, l) in level.iter().enumerate() {
        if groups.len() <= *l {
            groups.resize(l + 1, Vec::new());
        }
        groups[*l].push(id);
    }
    let mut warnings = df.warnings.clone();
    let unused: Vec<&str> = opts
        .build_args
        .keys()
        .map(String::as_str)
        .filter(|k| !consumed.contains(*k) && !declared_meta.contains(*k))
        .filter(|k| {
            !PROXY_ARGS.contains(k) && !k.starts_with("BUILDKIT_") && *k != "SOURCE_DATE_EPOCH"
        })
        .collect();
    if !unused.is_empty() {
        warnings.push(Warning {
            location: None,
            message: format!(
                "[Warning] One or more build-args [{}] were not consumed",
                unused.join(" ")
            ),
        });
    }
    let _ = opts;
    Ok(BuildGraph {
        target: map(target_pos),
        stages,
        groups,
        warnings,
    })
}
