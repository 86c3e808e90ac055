//! The `rbuild build` command line of each timed build, rebuilt from the parsed options
//! the user gave `rbuild bench`.
//!
//! The bench owns `--root`, `--metadata-file`, `--trace` and the context path of its
//! builds; `-f` is re-pointed into the context copy when the Dockerfile lives in the
//! context. Everything else is passed through unchanged, so a bench times exactly the
//! build the user would run (outputs, pushes and `--iidfile` included: they happen, and
//! are timed, on every run).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::ValueEnum;

use super::BenchError;
use crate::cli::BuildArgs;

/// Clap ids of the [`BuildArgs`] fields this module handles; a test fails when a new
/// build option appears that is not passed on here.
pub const HANDLED: &[&str] = &[
    "tags",
    "file",
    "build_args",
    "target",
    "no_cache",
    "pull",
    "outputs",
    "platform",
    "progress",
    "quiet",
    "metadata_file",
    "iidfile",
    "secrets",
    "network",
    "compression",
    "cache_from",
    "cache_to",
    "push",
    "insecure_registries",
    "tls_ca",
    "labels",
    "dry_run",
    "trace",
    "context",
];

/// The build options to pass to every timed build: all of `a` except the context, `-f`,
/// `--metadata-file` and `--trace`, which the bench sets per run. Options that make no
/// sense in a bench are refused.
pub fn build_flags(a: &BuildArgs) -> Result<Vec<OsString>, BenchError> {
    if a.dry_run {
        return Err(BenchError::Unsupported(
            "--dry-run builds nothing, so there is nothing to time".into(),
        ));
    }
    if a.metadata_file.is_some() {
        return Err(BenchError::Unsupported(
            "--metadata-file is the bench's own (each build writes one); use --format json for the report".into(),
        ));
    }
    if a.file.as_deref() == Some(Path::new("-")) {
        return Err(BenchError::Unsupported(
            "-f - reads the Dockerfile from standard input once; a bench builds many times: name a file".into(),
        ));
    }
    let mut out: Vec<OsString> = Vec::new();
    let mut many = |flag: &str, values: &[String]| {
        for v in values {
            out.push(format!("{flag}={v}").into());
        }
    };
    many("--tag", &a.tags);
    many("--build-arg", &a.build_args);
    many("--output", &a.outputs);
    many("--secret", &a.secrets);
    many("--cache-from", &a.cache_from);
    many("--cache-to", &a.cache_to);
    many("--insecure-registry", &a.insecure_registries);
    many("--label", &a.labels);
    let mut one = |flag: &str, value: Option<&str>| {
        if let Some(v) = value {
            out.push(format!("{flag}={v}").into());
        }
    };
    one("--target", a.target.as_deref());
    one("--platform", a.platform.as_deref());
    one("--network", a.network.as_deref());
    one("--pull", a.pull.as_ref().map(value_name).as_deref());
    one("--progress", Some(&value_name(&a.progress)));
    one("--compression", Some(&value_name(&a.compression)));
    let mut path = |flag: &str, value: &Option<PathBuf>| {
        if let Some(p) = value {
            let mut s = OsString::from(format!("{flag}="));
            s.push(p);
            out.push(s);
        }
    };
    path("--iidfile", &a.iidfile);
    path("--tls-ca", &a.tls_ca);
    if a.no_cache {
        out.push("--no-cache".into());
    }
    if a.quiet {
        out.push("--quiet".into());
    }
    if a.push {
        out.push("--push".into());
    }
    Ok(out)
}

fn value_name<T: ValueEnum>(v: &T) -> String {
    v.to_possible_value()
        .map(|p| p.get_name().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use clap::{Args, CommandFactory, Parser};

    use super::*;
    use crate::cli::{Compression, ProgressMode, PullPolicy};

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        build: BuildArgs,
    }

    fn parse(argv: &[OsString]) -> BuildArgs {
        let mut full: Vec<OsString> = vec!["x".into()];
        full.extend(argv.iter().cloned());
        Wrap::try_parse_from(full).unwrap().build
    }

    #[test]
    fn every_build_option_is_handled() {
        let cmd = BuildArgs::augment_args(clap::Command::new("x"));
        let mut ids: Vec<String> = cmd
            .get_arguments()
            .map(|a| a.get_id().to_string())
            .filter(|id| id != "help")
            .collect();
        ids.sort();
        let mut handled: Vec<String> = HANDLED.iter().map(|s| s.to_string()).collect();
        handled.sort();
        assert_eq!(
            ids, handled,
            "a build option was added: pass it on in build_flags"
        );
        let _ = Wrap::command();
    }

    #[test]
    fn flags_round_trip_through_the_parser() {
        let a = BuildArgs {
            tags: vec!["app:1".into(), "app:latest".into()],
            file: None,
            build_args: vec!["A=1".into(), "B".into(), "C=x=y".into()],
            target: Some("final".into()),
            no_cache: true,
            pull: Some(PullPolicy::Never),
            outputs: vec!["type=oci,dest=out.tar".into()],
            platform: Some("linux/amd64".into()),
            progress: ProgressMode::Plain,
            quiet: true,
            metadata_file: None,
            iidfile: Some(PathBuf::from("id file")),
            secrets: vec!["id=s,src=secret.txt".into()],
            network: Some("none".into()),
            compression: Compression::Zstd,
            cache_from: vec!["type=local,src=c".into()],
            cache_to: vec!["type=local,dest=c".into()],
            push: true,
            insecure_registries: vec!["127.0.0.1:5000".into()],
            tls_ca: Some(PathBuf::from("ca.pem")),
            labels: vec!["k=v w".into()],
            dry_run: false,
            trace: None,
            context: PathBuf::from("ctx"),
        };
        let mut argv = build_flags(&a).unwrap();
        argv.push("ctx".into());
        assert_eq!(format!("{:?}", parse(&argv)), format!("{a:?}"));
    }

    #[test]
    fn defaults_stay_defaults() {
        let a = parse(&["ctx".into()]);
        let mut argv = build_flags(&a).unwrap();
        argv.push("ctx".into());
        assert_eq!(format!("{:?}", parse(&argv)), format!("{a:?}"));
    }

    #[test]
    fn refuses_what_a_bench_cannot_do() {
        let base = parse(&["ctx".into()]);
        let stdin = BuildArgs {
            file: Some("-".into()),
            ..base.clone()
        };
        assert!(
            build_flags(&stdin)
                .unwrap_err()
                .to_string()
                .contains("-f -")
        );
        let dry = BuildArgs {
            dry_run: true,
            ..base.clone()
        };
        assert!(
            build_flags(&dry)
                .unwrap_err()
                .to_string()
                .contains("--dry-run")
        );
        let meta = BuildArgs {
            metadata_file: Some("m.json".into()),
            ..base
        };
        assert!(
            build_flags(&meta)
                .unwrap_err()
                .to_string()
                .contains("--metadata-file")
        );
    }
}
