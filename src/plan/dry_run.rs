//! `rbuild build --dry-run`: the plan as text — the stages that would run, in which
//! parallel groups, and each step with its arguments expanded.

use std::fmt::Write as _;

use super::instruction::{Command, CopyFrom, CopySource, Instruction, MountFrom, NetworkMode};
use super::{Base, BuildGraph, Stage};

fn stage_label(g: &BuildGraph, id: usize) -> String {
    match g.stages.get(id).and_then(|s| s.name.as_deref()) {
        Some(n) => format!("#{id} {n}"),
        None => format!("#{id}"),
    }
}

fn command(c: &Command) -> String {
    match c {
        Command::Shell(s) => s.clone(),
        Command::Exec(v) => serde_json::to_string(v).unwrap_or_default(),
    }
}

fn lines(l: &super::Location) -> String {
    if l.end_line > l.start_line {
        format!("{}-{}", l.start_line, l.end_line)
    } else {
        l.start_line.to_string()
    }
}

/// One step, expanded (`COPY --from=#0 build /out/app /app`).
fn describe(g: &BuildGraph, i: &Instruction) -> String {
    let pairs = |v: &[(String, String)]| {
        v.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    match i {
        Instruction::Run(r) => {
            let mut s = String::from("RUN ");
            for m in &r.mounts {
                let mut spec = format!("--mount=type={:?}", m.kind).to_lowercase();
                if let Some(t) = &m.target {
                    let _ = write!(spec, ",target={t}");
                }
                match &m.from {
                    Some(MountFrom::Stage(id)) => {
                        let _ = write!(spec, ",from={}", stage_label(g, *id));
                    }
                    Some(MountFrom::Image(r)) => {
                        let _ = write!(spec, ",from={r}");
                    }
                    None => {}
                }
                s.push_str(&spec);
                s.push(' ');
            }
            match r.network {
                NetworkMode::None => s.push_str("--network=none "),
                NetworkMode::Host => s.push_str("--network=host "),
                NetworkMode::Default => {}
            }
            if r.insecure {
                s.push_str("--security=insecure ");
            }
            s.push_str(&command(&r.command).replace('\n', "\\n"));
            s
        }
        Instruction::Copy(c) => {
            let mut s = String::from(if c.is_add { "ADD " } else { "COPY " });
            match &c.from {
                CopyFrom::Context => {}
                CopyFrom::Stage(id) => {
                    let _ = write!(s, "--from={} ", stage_label(g, *id));
                }
                CopyFrom::Image(r) => {
                    let _ = write!(s, "--from={r} ");
                }
            }
            for (flag, v) in [
                ("chown", &c.chown),
                ("chmod", &c.chmod),
                ("checksum", &c.checksum),
            ] {
                if let Some(v) = v {
                    let _ = write!(s, "--{flag}={v} ");
                }
            }
            if c.link {
                s.push_str("--link ");
            }
            if c.parents {
                s.push_str("--parents ");
            }
            for e in &c.excludes {
                let _ = write!(s, "--exclude={e} ");
            }
            for src in &c.sources {
                match src {
                    CopySource::Path(p) | CopySource::Url(p) | CopySource::Git(p) => s.push_str(p),
                    CopySource::Heredoc(h) => {
                        let _ = write!(s, "<<{}", h.name);
                    }
                }
                s.push(' ');
            }
            s.push_str(&c.dest);
            s
        }
        Instruction::Env(v) => format!("ENV {}", pairs(v)),
        Instruction::Arg(v) => {
            let parts: Vec<String> = v
                .iter()
                .map(|(k, v)| match v {
                    Some(v) => format!("{k}={v}"),
                    None => k.clone(),
                })
                .collect();
            format!("ARG {}", parts.join(" "))
        }
        Instruction::Label(v) => format!("LABEL {}", pairs(v)),
        Instruction::Maintainer(m) => format!("MAINTAINER {m}"),
        Instruction::Expose(p) => format!("EXPOSE {}", p.join(" ")),
        Instruction::Volume(v) => format!("VOLUME {}", v.join(" ")),
        Instruction::User(u) => format!("USER {u}"),
        Instruction::Workdir(w) => format!("WORKDIR {w}"),
        Instruction::Cmd(c) => format!("CMD {}", command(c)),
        Instruction::Entrypoint(c) => format!("ENTRYPOINT {}", command(c)),
        Instruction::Shell(s) => format!("SHELL {}", serde_json::to_string(s).unwrap_or_default()),
        Instruction::StopSignal(s) => format!("STOPSIGNAL {s}"),
        Instruction::Healthcheck(None) => "HEALTHCHECK NONE".to_string(),
        Instruction::Healthcheck(Some(h)) => format!(
            "HEALTHCHECK {}",
            serde_json::to_string(&h.test).unwrap_or_default()
        ),
        Instruction::Onbuild(e) => format!("ONBUILD {e}"),
    }
}

fn render_stage(out: &mut String, g: &BuildGraph, s: &Stage) {
    let base = match &s.base {
        Base::Scratch => "scratch".to_string(),
        Base::Image(r) => r.clone(),
        Base::Stage(id) => stage_label(g, *id),
    };
    let target = if s.id == g.target { "  (target)" } else { "" };
    let _ = writeln!(
        out,
        "{}  FROM {base}  [{}]  line {}{target}",
        stage_label(g, s.id),
        s.platform.to_spec(),
        lines(&s.location)
    );
    for step in &s.steps {
        let mut line = format!(
            "  {:<8} {}",
            lines(&step.location),
            describe(g, &step.instruction)
        );
        if step.from_onbuild {
            line.push_str("  (ONBUILD trigger)");
        }
        if !step.args.is_empty() {
            let args: Vec<String> = step.args.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let _ = write!(line, "  [args: {}]", args.join(" "));
        }
        let _ = writeln!(out, "{line}");
    }
}

/// The plan as text, for `rbuild build --dry-run`.
pub fn render_dry_run(g: &BuildGraph) -> String {
    let mut out = String::new();
    let n = g.stages.len();
    let _ = writeln!(
        out,
        "plan: {n} stage{} to build, target {}",
        if n == 1 { "" } else { "s" },
        stage_label(g, g.target)
    );
    for (i, group) in g.groups.iter().enumerate() {
        let members: Vec<String> = group.iter().map(|id| stage_label(g, *id)).collect();
        let _ = writeln!(out, "group {}: {}", i + 1, members.join(", "));
    }
    for s in &g.stages {
        out.push('\n');
        render_stage(&mut out, g, s);
    }
    for w in &g.warnings {
        let _ = writeln!(out, "\nwarning: {}", w.message);
    }
    out
}
