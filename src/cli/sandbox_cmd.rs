//! `rbuild __sandbox`: hidden plumbing over the sandbox (see `sandbox::plumbing`).

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use super::Report;
use crate::layer::{UnpackMode, unpack};
use crate::sandbox::{RunSpec, enter_user_namespace, plumbing};

/// `rbuild __sandbox …`.
#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: SandboxCommand,
}

/// How `unpack` applies whiteouts.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Mode {
    /// Flatten (delete whited-out paths).
    Merge,
    /// Keep overlayfs whiteouts (a snapshot).
    Overlay,
}

/// Sandbox plumbing commands. Each first makes an ordinary user root of a user
/// namespace, as a build does.
#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Run one step from a JSON RunSpec; print a JSON report on stdout.
    Run {
        /// The spec file.
        spec: PathBuf,
        /// Move the step's changes (its upperdir) to DIR.
        #[arg(long, value_name = "DIR")]
        keep: Option<PathBuf>,
    },
    /// Apply an uncompressed layer tar to a directory.
    Unpack {
        /// Whiteout handling.
        #[arg(long, value_enum, default_value = "overlay")]
        mode: Mode,
        /// The tar.
        tar: PathBuf,
        /// The directory.
        dest: PathBuf,
    },
    /// Run a host command as root of rbuild's user namespace (like `podman unshare`).
    Unshare {
        /// The command and its arguments.
        #[arg(trailing_var_arg = true, required = true, allow_hyphen_values = true)]
        command: Vec<OsString>,
    },
}

/// Runs `rbuild __sandbox`.
pub fn sandbox(a: SandboxArgs) -> Result<(), Report> {
    enter_user_namespace()?;
    match a.command {
        SandboxCommand::Run { spec, keep } => {
            let text = fs_err::read(&spec)?;
            let spec: RunSpec = serde_json::from_slice(&text)?;
            let report = plumbing::run_step(&spec, keep.as_deref())?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(())
        }
        SandboxCommand::Unpack { mode, tar, dest } => {
            let mode = match mode {
                Mode::Merge => UnpackMode::Merge,
                Mode::Overlay => UnpackMode::Overlay,
            };
            let report = unpack(fs_err::File::open(&tar)?, &dest, mode)?;
            eprintln!("{report:?}");
            Ok(())
        }
        SandboxCommand::Unshare { command } => {
            use std::os::unix::process::CommandExt;
            let (prog, args) = command
                .split_first()
                .ok_or_else(|| Report::msg("no command"))?;
            let err = std::process::Command::new(prog).args(args).exec();
            Err(Report::msg(format!("{}: {err}", prog.to_string_lossy())))
        }
    }
}
