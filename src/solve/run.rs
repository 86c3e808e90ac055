//! RUN: the key (command, environment, user, working dir, mounts, network), and on a
//! miss the sandbox run on the stage's snapshots, the diff of what changed as a layer,
//! and the upper dir kept as that layer's snapshot so the next step needs no unpack.

use std::path::PathBuf;

use super::error::{SolveError, SolveErrorKind};
use super::history::{created_by, run_argv, run_command_string};
use super::key::KeyInputs;
use super::stage::{Produced, StageState, StepCtx, layer_step};
use crate::layer::{Snapshots, sort_entries, write_layer};
use crate::plan::{MountFrom, MountKind, MountSpec, NetworkMode, RunStep};
use crate::progress::{Event, Phase, Stream};
use crate::sandbox::{self, ExtraFile, Network, RunSpec, SecretUse};

/// Output kept for the error report of a failing command.
const TAIL_BYTES: usize = 4096;

/// Runs a RUN step; true when the cache answered.
pub(crate) fn run_step(
    ctx: &StepCtx<'_, '_>,
    state: &mut StageState,
    r: &RunStep,
) -> Result<bool, SolveError> {
    let s = ctx.s;
    let config = &ctx.step.config;
    let shell = config.shell.clone().unwrap_or_default();
    let argv = run_argv(&r.command, &r.heredocs, &shell);
    let env = run_env(config.env.as_deref().unwrap_or(&[]), &ctx.step.args);
    let cwd = config
        .working_dir
        .clone()
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".to_string());
    let user = config.user.clone().unwrap_or_default();
    let network = match r.network {
        NetworkMode::Default => s.opts.network.unwrap_or(NetworkMode::Default),
        other => other,
    };

    let mut inputs = KeyInputs::new();
    inputs
        .add("kind", "RUN")
        .add_json("instruction", &argv.argv)
        .add_json("env", &env)
        .add("user", user.clone())
        .add("workdir", cwd.clone())
        .add("network", format!("{network:?}"))
        .add("insecure", r.insecure.to_string());
    if let Some((path, body)) = &argv.script {
        inputs.add("script", format!("{path}\0{body}"));
    }
    for (k, v) in &ctx.step.args {
        inputs.add(format!("arg:{k}"), v.clone());
    }
    for (i, m) in r.mounts.iter().enumerate() {
        inputs.add(format!("mount:{i}"), mount_identity(ctx, m)?);
    }
    let history_text = created_by(ctx.step, Some(&argv.argv))
        .map(|(t, _)| t)
        .unwrap_or_default();

    layer_step(
        ctx,
        state,
        &inputs,
        history_text,
        || {},
        |state| {
            let lowers = {
                let _p = ctx.phase(Phase::Unpack);
                state.lowers(s)?
            };
            let mut spec = RunSpec::new(s.store, lowers.clone(), argv.argv.clone());
            spec.env = env.clone();
            // Predefined proxy args reach the command but never the key or the history.
            spec.env
                .extend(r.proxy.iter().map(|(k, v)| format!("{k}={v}")));
            spec.cwd = cwd.clone();
            spec.user = user.clone();
            spec.network = Network::from(network);
            spec.cancel = Some(s.opts.cancel.clone());
            if let Some((path, body)) = &argv.script {
                spec.extra_files.push(ExtraFile {
                    target: path.clone(),
                    contents: body.clone().into_bytes(),
                    mode: 0o755,
                    uid: 0,
                    gid: 0,
                });
            }
            for m in &r.mounts {
                add_mount(ctx, &mut spec, m)?;
            }
            let mut tail: Vec<u8> = Vec::new();
            let outcome = {
                let _p = ctx.phase(Phase::Command);
                let mut out = |stream: sandbox::Stream, data: &[u8]| {
                    let stream = match stream {
                        sandbox::Stream::Stdout => Stream::Stdout,
                        sandbox::Stream::Stderr => Stream::Stderr,
                    };
                    s.sink.emit(&Event::StepOutput {
                        id: ctx.id,
                        stream,
                        data: data.to_vec(),
                    });
                    tail.extend_from_slice(data);
                    if tail.len() > 2 * TAIL_BYTES {
                        tail.drain(..tail.len() - TAIL_BYTES);
                    }
                };
                sandbox::run(&spec, &mut out).map_err(|e| match e {
                    sandbox::SandboxError::Cancelled => {
                        SolveError::new(SolveErrorKind::Interrupted)
                    }
                    other => SolveError::run(other),
                })?
            };
            if outcome.used_fallback {
                s.sink.emit(&Event::StepNote {
                    id: ctx.id,
                    message:
                        "overlayfs is not available here: using a copied root filesystem (slower)"
                            .to_string(),
                });
            }
            if !outcome.success() {
                let tail = String::from_utf8_lossy(&tail[tail.len().saturating_sub(TAIL_BYTES)..])
                    .into_owned();
                let mut tail = last_lines(&tail, 10);
                if let Some(e) = &outcome.exec_error {
                    if !tail.contains(e.as_str()) {
                        tail.push_str(e);
                    }
                }
                return Err(SolveError::new(SolveErrorKind::RunFailed {
                    command: run_command_string(&argv.argv, &[]),
                    code: outcome.status.code(),
                    tail,
                }));
            }
            let mut entries = {
                let _p = ctx.phase(Phase::Diff);
                outcome.diff(&lowers).map_err(SolveError::run)?
            };
            sort_entries(&mut entries);
            let layer = {
                let _p = ctx.phase(Phase::Tar);
                write_layer(s.store, &entries, &s.opts.layer).map_err(SolveError::store)?
            };
            // Keep the upper dir as the new layer's snapshot (a later RUN mounts it as is).
            let snaps = Snapshots::new(s.store);
            if !snaps.contains(&layer.diff_id) {
                let _ = outcome.into_snapshot(&snaps, &layer.diff_id);
            }
            Ok(Produced { layer })
        },
    )
}

/// The step's environment: the image's ENV, then the build args in scope that ENV does
/// not override (as BuildKit passes them).
fn run_env(image_env: &[String], args: &[(String, String)]) -> Vec<String> {
    let mut env: Vec<String> = image_env.to_vec();
    for (k, v) in args {
        let overridden = image_env
            .iter()
            .any(|e| e.split_once('=').map_or(e.as_str(), |(n, _)| n) == k);
        if !overridden {
            env.push(format!("{k}={v}"));
        }
    }
    env
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(n);
    let mut out = lines[start..].join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

/// What of a mount goes into the key: its options, and the identity of its source
/// (the selected context files, the stage's key, the image's digest). Never a secret's
/// value, never a cache mount's content.
fn mount_identity(ctx: &StepCtx<'_, '_>, m: &MountSpec) -> Result<String, SolveError> {
    let mut spec = m.clone();
    let from = match &m.from {
        Some(MountFrom::Stage(i)) => {
            spec.from = None;
            format!("stage:{}", ctx.stage_state(*i)?.key)
        }
        Some(MountFrom::Image(r)) => {
            let img = ctx
                .s
                .images
                .get(r, &ctx.stage.platform)
                .map_err(|e| SolveError::run(format!("{r}: {e}")))?;
            format!("image:{}", img.image.descriptor.digest)
        }
        None if m.kind == MountKind::Bind => {
            let source = bind_source(m)?;
            let sel = ctx
                .s
                .context
                .select(std::slice::from_ref(&source), &Default::default())
                .map_err(SolveError::run)?;
            format!("context:{}", sel.digest())
        }
        None => String::new(),
    };
    Ok(format!(
        "{}\0{from}",
        serde_json::to_string(&spec).unwrap_or_default()
    ))
}

/// A bind mount's source inside its tree; `..` climbing out of it is refused.
fn bind_source(m: &MountSpec) -> Result<String, SolveError> {
    let raw = m.source.clone().unwrap_or_else(|| "/".to_string());
    let mut depth: i32 = 0;
    for c in raw.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return Err(SolveError::run(format!(
                        "bind mount source {raw:?} is outside the build context"
                    )));
                }
            }
            _ => depth += 1,
        }
    }
    Ok(raw)
}

fn add_mount(ctx: &StepCtx<'_, '_>, spec: &mut RunSpec, m: &MountSpec) -> Result<(), SolveError> {
    let s = ctx.s;
    let layers_of = |from: &MountFrom| -> Result<Vec<PathBuf>, SolveError> {
        match from {
            MountFrom::Stage(i) => ctx.stage_state(*i)?.lowers(s),
            MountFrom::Image(r) => {
                let img = s
                    .images
                    .get(r, &ctx.stage.platform)
                    .map_err(|e| SolveError::run(format!("{r}: {e}")))?;
                let layers = img
                    .image
                    .manifest
                    .layers
                    .iter()
                    .zip(&img.image.config.rootfs.diff_ids)
                    .map(|(d, id)| crate::store::LayerRecord {
                        descriptor: d.clone(),
                        diff_id: *id,
                    })
                    .collect();
                let st = StageState {
                    key: crate::digest::Digest::of(b""),
                    layers,
                    history: Vec::new(),
                    last_created: None,
                    platform: ctx.stage.platform.clone(),
                };
                st.lowers(s)
            }
        }
    };
    match m.kind {
        MountKind::Secret => {
            let id = m.id.clone().or_else(|| {
                m.target
                    .as_ref()
                    .and_then(|t| t.rsplit('/').next().map(str::to_string))
            });
            let value = id
                .as_ref()
                .and_then(|i| s.opts.secrets.get(i))
                .map(Vec::as_slice);
            for u in sandbox::secret_mount(m, value).map_err(SolveError::run)? {
                match u {
                    SecretUse::File(f) => spec.extra_files.push(f),
                    SecretUse::Env { name, value } => spec.env.push(format!("{name}={value}")),
                }
            }
        }
        MountKind::Ssh => return Err(SolveError::run("RUN --mount=type=ssh is not supported")),
        MountKind::Bind => {
            let layers = match &m.from {
                Some(f) => layers_of(f)?,
                None => {
                    bind_source(m)?;
                    vec![s.context.root().to_path_buf()]
                }
            };
            spec.mounts
                .push(sandbox::resolve_mount(m, layers, None).map_err(SolveError::run)?);
        }
        MountKind::Cache => {
            let seed = match &m.from {
                Some(f) => {
                    let layers = layers_of(f)?;
                    let src = m.source.clone().unwrap_or_default();
                    let view = crate::layer::view::LayerView::new(layers);
                    view.resolve(&src, true)
                        .ok()
                        .and_then(|(_, f)| f)
                        .filter(|f| f.is_dir())
                        .map(|f| f.host)
                }
                None => None,
            };
            spec.mounts
                .push(sandbox::resolve_mount(m, Vec::new(), seed).map_err(SolveError::run)?);
        }
        MountKind::Tmpfs => spec
            .mounts
            .push(sandbox::resolve_mount(m, Vec::new(), None).map_err(SolveError::run)?),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_gets_args_not_overridden() {
        let env = run_env(
            &["PATH=/bin".into(), "A=env".into()],
            &[("A".into(), "arg".into()), ("B".into(), "b".into())],
        );
        assert_eq!(env, ["PATH=/bin", "A=env", "B=b"]);
    }

    #[test]
    fn bind_sources_stay_inside() {
        let m = |src: &str| MountSpec {
            target: Some("/x".into()),
            source: Some(src.into()),
            ..MountSpec::new(MountKind::Bind)
        };
        assert!(bind_source(&m("a/../b")).is_ok());
        assert!(bind_source(&m("../..")).is_err());
        assert!(bind_source(&m("a/../../b")).is_err());
    }

    #[test]
    fn tails() {
        assert_eq!(last_lines("a\nb\nc\n", 2), "b\nc\n");
        assert_eq!(last_lines("", 2), "");
    }
}
