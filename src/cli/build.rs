//! `rbuild build`: read the Dockerfile, plan, solve, export, report.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize};

use super::args::{BuildArgs, Compression, ProgressMode};
use super::flags::{self, SecretSource};
use super::{Report, open_store};
use crate::cache::{BuildCache, CacheError, ExportSpec, ImportSpec};
use crate::context::Context;
use crate::dockerfile::{self, Diagnostic, Dockerfile};
use crate::export::{self, OutputSpec, OutputType};
use crate::image::Platform;
use crate::layer::LayerOptions;
use crate::plan::{self, PlanOptions};
use crate::progress::{
    Clock, Fanout, JsonPrinter, PlainPrinter, Recorder, Sink, TtyPrinter, chrome_trace,
};
use crate::registry::{Reference, RegistryClient, RegistryOptions};
use crate::solve::{
    self, BuildCounters, ImageSource, SolveError, SolveErrorKind, SolveOptions, Solver,
};

/// Runs `rbuild build`.
pub fn build(root: &Path, a: BuildArgs) -> Result<(), Report> {
    // `rbuild build - < Dockerfile` (no context) or `rbuild build - < context.tar`, as
    // `docker build -` takes them: the context is made in a temp dir of the store.
    let stdin_context = if a.context.as_os_str() == "-" {
        Some(stdin_context(root)?)
    } else {
        None
    };
    let mut a = a;
    if let Some(dir) = &stdin_context {
        a.context = dir.path().to_path_buf();
    }
    let context_dir = a.context.clone();
    if !context_dir.is_dir() {
        return Err(Report::msg(format!(
            "unable to prepare context: path {:?} not found",
            context_dir.display().to_string()
        ))
        .with_hint("the last argument is the build context: a directory (usually `.`)"));
    }
    let (dockerfile_path, dockerfile_name, bytes) = read_dockerfile(&a, &context_dir)?;
    let df = dockerfile::parse(&bytes).map_err(|e| {
        diagnostic_report(
            &e.diagnostic(&dockerfile_name),
            &String::from_utf8_lossy(&bytes),
        )
    })?;

    let clock = Clock::start();
    let recorder = Arc::new(Recorder::new(clock));
    let quiet = a.quiet || a.progress == ProgressMode::Quiet;
    let mut fan = Fanout::new();
    fan.add(recorder.clone());
    if !quiet {
        match a.progress {
            ProgressMode::Plain => fan.add(Arc::new(PlainPrinter::stderr())),
            ProgressMode::Tty => fan.add(Arc::new(TtyPrinter::new())),
            ProgressMode::Rawjson => fan.add(Arc::new(JsonPrinter::new(
                Box::new(std::io::stderr()),
                clock,
            ))),
            ProgressMode::Auto
                if std::io::stderr().is_terminal()
                    && std::env::var_os("TERM").is_none_or(|t| t != "dumb") =>
            {
                fan.add(Arc::new(TtyPrinter::new()))
            }
            _ => fan.add(Arc::new(PlainPrinter::stderr())),
        }
    }
    let sink: Arc<dyn Sink> = Arc::new(fan);
    for w in &df.warnings {
        let d = Diagnostic::warning(
            &dockerfile_name,
            w.location.unwrap_or_default(),
            w.message.clone(),
        );
        if !quiet {
            eprint!("{}", d.render(&df.source));
        }
    }

    let store = open_store(root)?;
    let _guard = store.build_guard().map_err(|e| Report::from_error(&e))?;
    let registry = Arc::new(RegistryClient::new(RegistryOptions {
        insecure_registries: a.insecure_registries.clone(),
        tls_ca: a.tls_ca.clone(),
        ..RegistryOptions::from_env()
    }));
    let ids = Arc::new(AtomicUsize::new(0));
    let policy = match a.pull {
        None => solve::PullPolicy::Default,
        Some(super::PullPolicy::Never) => solve::PullPolicy::Never,
        Some(super::PullPolicy::Missing) => solve::PullPolicy::Missing,
        Some(super::PullPolicy::Always) => solve::PullPolicy::Always,
    };
    let images = ImageSource::new(
        store.clone(),
        Some(registry.clone()),
        policy,
        sink.clone(),
        ids.clone(),
    );

    let target_platform = match &a.platform {
        Some(p) => Some(
            plan::platform::parse(p)
                .map_err(|e| Report::msg(format!("invalid --platform {p:?}: {e}")))?,
        ),
        None => None,
    };
    let plan_opts = PlanOptions {
        build_args: flags::build_args(&a.build_args)?,
        target: a.target.clone(),
        platform: target_platform,
        build_platform: plan::platform::normalize(Platform::host()),
        dockerfile_name: dockerfile_name.clone(),
    };
    let graph = if a.dry_run {
        plan::plan(&df, &plan_opts, &plan::EmptyResolver)
    } else {
        plan::plan(&df, &plan_opts, &images)
    }
    .map_err(|e| diagnostic_report(&e.diagnostic(&dockerfile_name), &df.source))?;
    for w in &graph.warnings {
        if quiet {
            continue;
        }
        match w.location {
            Some(loc) => eprint!(
                "{}",
                Diagnostic::warning(&dockerfile_name, loc, w.message.clone()).render(&df.source)
            ),
            None => sink.emit(&crate::progress::Event::Warning {
                message: w.message.clone(),
            }),
        }
    }
    if a.dry_run {
        print!("{}", plan::render_dry_run(&graph));
        return Ok(());
    }

    // Output and cache specs are checked before anything is built.
    let mut specs: Vec<OutputSpec> = a
        .outputs
        .iter()
        .map(|o| OutputSpec::parse(o).map_err(|e| Report::from_error(&e)))
        .collect::<Result<_, _>>()?;
    let (cache_imports, cache_exports) = cache_specs(&a, sink.as_ref())?;

    let context = Context::open(
        &context_dir,
        Some(&dockerfile_path),
        Some(&store.root().join("contexts")),
    )
    .map_err(|e| Report::from_error(&e))?;
    let cancel = Arc::new(AtomicBool::new(false));
    let _sigint = signal_hook::flag::register(signal_hook::consts::SIGINT, cancel.clone());
    let _sigterm = signal_hook::flag::register(signal_hook::consts::SIGTERM, cancel.clone());
    let mut layer = LayerOptions::from_env();
    layer.compression = match a.compression {
        Compression::Gzip => crate::layer::Compression::Gzip,
        Compression::Zstd => crate::layer::Compression::Zstd,
        Compression::Uncompressed => crate::layer::Compression::Uncompressed,
    };
    let opts = SolveOptions {
        no_cache: a.no_cache,
        layer,
        secrets: load_secrets(&a.secrets)?,
        network: match a.network.as_deref() {
            None | Some("default") => None,
            Some("none") => Some(plan::NetworkMode::None),
            Some("host") => Some(plan::NetworkMode::Host),
            Some(other) => {
                return Err(Report::msg(format!(
                    "invalid --network {other:?}: expected default, none or host"
                )));
            }
        },
        labels: flags::labels(&a.labels)?,
        source_date_epoch: crate::layer::source_date_epoch(),
        cancel: cancel.clone(),
    };
    let dockerfile_id = format!(
        "{}\0{}",
        context.root().display(),
        dockerfile_path.display()
    );
    // Shared cache: imports read only manifests and configs; layers come lazily.
    let mut build_cache =
        BuildCache::new(store.clone(), registry.clone(), sink.clone(), ids.clone());
    if !a.no_cache {
        for spec in &cache_imports {
            build_cache.import(spec);
        }
    }
    let solver = Solver {
        store: &store,
        context: &context,
        images: &images,
        opts: &opts,
        sink: sink.clone(),
        ids,
        dockerfile_id,
        stats: BuildCounters::default(),
        cache: Some(&build_cache),
    };
    let result = solve::solve(&graph, &solver);
    let _ = context.save_statcache();
    // Shared cache: export (a failure fails the build once the outputs are written, as
    // in buildx), and fetch the lazily imported layers that local outputs will read.
    let mut cache_error = None;
    if let Ok(o) = &result {
        for spec in &cache_exports {
            if let Err(e) = build_cache.export(spec, &graph, &o.layers) {
                cache_error.get_or_insert(e);
            }
        }
        if specs
            .iter()
            .any(|s| !matches!(s.kind, OutputType::Image | OutputType::Registry))
        {
            build_cache
                .fetch_all(&o.layers)
                .map_err(|e| cache_report(&e))?;
        }
    }
    sink.finish();
    let output = match result {
        Ok(o) => o,
        Err(e) => {
            if let Some(trace) = &a.trace {
                let _ = std::fs::write(trace, chrome_trace(&recorder.steps()).to_string());
            }
            let interrupted = matches!(*e.kind, SolveErrorKind::Interrupted);
            let mut r = solve_report(&e, &dockerfile_name, &df);
            if interrupted {
                r.exit_code = 130;
            }
            return Err(r);
        }
    };

    // Outputs: tags, exporters, pushes.
    let mut to_push: Vec<String> = Vec::new();
    if a.push {
        to_push.extend(a.tags.iter().cloned());
    }
    if specs.is_empty() || !a.tags.is_empty() {
        for t in &a.tags {
            store.tag(t, &output.manifest).map_err(|e| {
                Report::from_error(&e).with_hint(format!("{t:?} is not a valid image name"))
            })?;
        }
    }
    for spec in specs.iter_mut() {
        if spec.kind == OutputType::Local && spec.dest.is_none() {
            return Err(Report::msg(
                "the local output needs a destination: -o type=local,dest=DIR",
            ));
        }
        let outcome = export::export(&store, &output.manifest, spec, &a.tags)
            .map_err(|e| Report::from_error(&e))?;
        if outcome.push {
            to_push.extend(outcome.tagged);
        }
    }
    let mut pushed: BTreeMap<String, String> = BTreeMap::new();
    for name in dedup(to_push) {
        let reference = Reference::parse(&name).map_err(|e| Report::from_error(&e))?;
        // Through the shared cache: lazily imported layers the registry has or can
        // mount are not downloaded first.
        let digest = build_cache
            .push(&output.manifest, &reference, &|_| {})
            .map_err(|e| cache_report(&e).context(format!("pushing {reference}")))?;
        if !quiet {
            eprintln!("pushed {reference}@{digest}");
        }
        pushed.insert(name, digest.to_string());
    }

    let stats = solver.build_stats();
    if let Some(path) = &a.metadata_file {
        let steps: Vec<serde_json::Value> = recorder
            .steps()
            .into_iter()
            .filter(|s| !s.info.stage.is_empty())
            .map(|s| {
                serde_json::json!({
                    "stage": s.info.stage,
                    "instruction": s.info.text,
                    "cached": s.cached,
                    "duration_ms": s.duration_ms(),
                    "miss_reason": s.miss_reason,
                })
            })
            .collect();
        let mut names: Vec<String> = a.tags.clone();
        names.extend(specs.iter().flat_map(|s| s.names.clone()));
        let names = dedup(names);
        let meta = serde_json::json!({
            "containerimage.digest": output.manifest.digest.to_string(),
            "containerimage.config.digest": output.config_descriptor.digest.to_string(),
            "containerimage.descriptor": output.manifest,
            "image.name": names.join(","),
            "rbuild.steps": steps,
            "rbuild.stats": stats,
            "rbuild.pushed": pushed,
        });
        crate::fsutil::atomic_write(
            path,
            serde_json::to_string_pretty(&meta)
                .unwrap_or_default()
                .as_bytes(),
        )
        .map_err(|e| Report::msg(format!("writing {}: {e}", path.display())))?;
    }
    if let Some(trace) = &a.trace {
        std::fs::write(trace, chrome_trace(&recorder.steps()).to_string())
            .map_err(|e| Report::msg(format!("writing {}: {e}", trace.display())))?;
    }
    let image_id = output.config_descriptor.digest.to_string();
    if let Some(path) = &a.iidfile {
        std::fs::write(path, &image_id)
            .map_err(|e| Report::msg(format!("writing {}: {e}", path.display())))?;
    }
    if let Some(e) = cache_error {
        return Err(cache_report(&e));
    }
    if quiet {
        println!("{image_id}");
    } else {
        let names = if a.tags.is_empty() {
            String::new()
        } else {
            format!(" ({})", a.tags.join(", "))
        };
        eprintln!("writing image {image_id} done{names}");
        eprintln!("manifest {}", output.manifest.digest);
    }
    Ok(())
}

/// Parses `--cache-from` / `--cache-to` (warnings go to the progress output).
fn cache_specs(
    a: &BuildArgs,
    sink: &dyn Sink,
) -> Result<(Vec<ImportSpec>, Vec<ExportSpec>), Report> {
    let mut imports = Vec::new();
    for raw in &a.cache_from {
        let p = ImportSpec::parse(raw).map_err(|e| cache_report(&e))?;
        warn_all(sink, &p.warnings);
        imports.extend(p.spec);
    }
    let mut exports = Vec::new();
    for raw in &a.cache_to {
        let p = ExportSpec::parse(raw).map_err(|e| cache_report(&e))?;
        warn_all(sink, &p.warnings);
        exports.extend(p.spec);
    }
    Ok((imports, exports))
}

fn warn_all(sink: &dyn Sink, warnings: &[String]) {
    for message in warnings {
        sink.emit(&crate::progress::Event::Warning {
            message: message.clone(),
        });
    }
}

/// The report of a shared-cache error, with its hint.
pub(super) fn cache_report(e: &CacheError) -> Report {
    let r = Report::from_error(e);
    match e.hint() {
        Some(h) => r.with_hint(h),
        None => r,
    }
}

/// Reads standard input as a build context: a tar archive (possibly compressed) is
/// unpacked, anything else is the Dockerfile of an empty context.
fn stdin_context(root: &Path) -> Result<tempfile::TempDir, Report> {
    let mut bytes = Vec::new();
    std::io::stdin().read_to_end(&mut bytes).map_err(|e| {
        Report::msg(format!(
            "reading the build context from standard input: {e}"
        ))
    })?;
    let tmp = root.join("tmp");
    std::fs::create_dir_all(&tmp).map_err(|e| Report::msg(format!("{}: {e}", tmp.display())))?;
    let dir = tempfile::Builder::new()
        .prefix("stdin-context-")
        .tempdir_in(&tmp)
        .map_err(|e| Report::msg(format!("{}: {e}", tmp.display())))?;
    let mut header = [0u8; 512];
    let is_tar = crate::layer::decompress(std::io::Cursor::new(bytes.clone()))
        .ok()
        .and_then(|mut r| r.read_exact(&mut header).ok())
        .is_some_and(|()| &header[257..262] == b"ustar");
    if is_tar {
        let reader = crate::layer::decompress(std::io::Cursor::new(bytes))
            .map_err(|e| Report::msg(format!("reading the context archive: {e}")))?;
        crate::layer::unpack(reader, dir.path(), crate::layer::UnpackMode::Merge).map_err(|e| {
            Report::msg(format!(
                "unpacking the context archive from standard input: {e}"
            ))
        })?;
    } else {
        std::fs::write(dir.path().join("Dockerfile"), &bytes)
            .map_err(|e| Report::msg(format!("writing the Dockerfile from standard input: {e}")))?;
    }
    Ok(dir)
}

fn dedup(v: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for x in v {
        if !out.contains(&x) {
            out.push(x);
        }
    }
    out
}

/// Finds and reads the Dockerfile: `-f FILE` (relative to the working directory, `-`
/// for standard input), else `CONTEXT/Dockerfile` (or `dockerfile`).
fn read_dockerfile(a: &BuildArgs, context: &Path) -> Result<(PathBuf, String, Vec<u8>), Report> {
    match &a.file {
        Some(f) if f.as_os_str() == "-" => {
            let mut bytes = Vec::new();
            std::io::stdin().read_to_end(&mut bytes).map_err(|e| {
                Report::msg(format!("reading the Dockerfile from standard input: {e}"))
            })?;
            Ok((context.join("Dockerfile"), "Dockerfile".to_string(), bytes))
        }
        Some(f) => {
            let bytes = std::fs::read(f).map_err(|e| {
                Report::msg(format!(
                    "failed to read dockerfile: open {}: {e}",
                    f.display()
                ))
                .with_hint("-f names the Dockerfile, relative to the current directory")
            })?;
            Ok((f.clone(), f.display().to_string(), bytes))
        }
        None => {
            for name in ["Dockerfile", "dockerfile"] {
                let p = context.join(name);
                if p.is_file() {
                    let bytes = std::fs::read(&p).map_err(|e| {
                        Report::msg(format!(
                            "failed to read dockerfile: open {}: {e}",
                            p.display()
                        ))
                    })?;
                    return Ok((p, name.to_string(), bytes));
                }
            }
            Err(Report::msg(format!(
                "failed to read dockerfile: open {}: no such file or directory",
                context.join("Dockerfile").display()
            ))
            .with_hint("put a Dockerfile in the context, or name one with -f"))
        }
    }
}

fn load_secrets(raw: &[String]) -> Result<BTreeMap<String, Vec<u8>>, Report> {
    let mut out = BTreeMap::new();
    for (id, src) in flags::secrets(raw)? {
        let bytes = match &src {
            SecretSource::File(p) => std::fs::read(p)
                .map_err(|e| Report::msg(format!("secret {id}: reading {}: {e}", p.display())))?,
            SecretSource::Env(v) => std::env::var(v)
                .map_err(|_| {
                    Report::msg(format!("secret {id}: environment variable {v} is not set"))
                })?
                .into_bytes(),
        };
        out.insert(id, bytes);
    }
    Ok(out)
}

/// A compiler-style report from a diagnostic.
fn diagnostic_report(d: &Diagnostic, source: &str) -> Report {
    let text = d.render(source);
    let text = text
        .strip_prefix("error: ")
        .unwrap_or(&text)
        .trim_end()
        .to_string();
    Report::msg(text)
}

/// The report of a failed build: the message at its Dockerfile line, and for a failed
/// RUN the last lines of its output.
fn solve_report(e: &SolveError, name: &str, df: &Dockerfile) -> Report {
    let mut text = match e.location {
        Some(loc) => {
            let mut d = Diagnostic::error(name, loc, e.kind.to_string());
            d.hint = e.hint.clone();
            let t = d.render(&df.source);
            t.strip_prefix("error: ")
                .unwrap_or(&t)
                .trim_end()
                .to_string()
        }
        None => e.kind.to_string(),
    };
    if let SolveErrorKind::RunFailed { tail, .. } = e.kind.as_ref() {
        if !tail.trim().is_empty() {
            text.push_str("\n--- last lines of output ---\n");
            text.push_str(tail.trim_end());
        }
    }
    let mut r = Report::msg(text);
    if e.location.is_none() {
        r.hint = e.hint.clone();
    }
    r
}
