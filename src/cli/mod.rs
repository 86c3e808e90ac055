//! The command line: clap definitions, dispatch and error reports. No build logic lives here.
//!
//! Library errors are typed (thiserror) in their modules; here they become a [`Report`]:
//! the message with its causes, an optional `hint:` line, and exit code 1.

mod args;
mod bench;
mod build;
mod flags;
mod parse;
mod registry_cmds;
mod report;
mod sandbox_cmd;
mod store_cmds;

pub use args::{
    BenchArgs, BenchFormat, BuildArgs, Cli, Command, Compression, ListFormat, ProgressMode,
    PullPolicy, RegistryArgs, SaveFormat,
};
pub use report::Report;

use std::process::ExitCode;

use clap::Parser;

use crate::store::Store;

/// Runs the CLI with the process arguments and returns the exit code.
pub fn main() -> ExitCode {
    let argv = args::with_implicit_build(std::env::args_os().collect());
    let cli = Cli::parse_from(argv);
    // An ordinary user runs builds (and prunes snapshots owned by mapped ids) as root of
    // its own user namespace; this must happen before any thread starts.
    if matches!(
        cli.command,
        Command::Build(_) | Command::Prune(_) | Command::Import(_)
    ) {
        if let Err(e) = crate::sandbox::enter_user_namespace() {
            let r = Report::from_error(&e).with_hint(
                "rootless builds need user namespaces (and newuidmap/newgidmap with /etc/subuid ranges for images with several owners)",
            );
            r.print();
            return ExitCode::from(r.exit_code);
        }
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(report) => {
            report.print();
            ExitCode::from(report.exit_code)
        }
    }
}

/// Runs one parsed command line.
pub fn run(cli: Cli) -> Result<(), Report> {
    let root = cli.root.clone().unwrap_or_else(Store::default_root);
    match cli.command {
        Command::Build(a) => build::build(&root, a),
        Command::Parse(a) => parse::parse(a),
        Command::Import(a) => store_cmds::import(&root, a),
        Command::Images(a) => store_cmds::images(&root, a),
        Command::Rmi(a) => store_cmds::rmi(&root, a),
        Command::Tag(a) => store_cmds::tag(&root, a),
        Command::Save(a) => store_cmds::save(&root, a),
        Command::Inspect(a) => store_cmds::inspect(&root, a),
        Command::Prune(a) => store_cmds::prune(&root, a),
        Command::Du => store_cmds::du(&root),
        Command::Pull(a) => registry_cmds::pull(&root, a),
        Command::Push(a) => registry_cmds::push(&root, a),
        Command::Login(a) => registry_cmds::login(a),
        Command::Logout(a) => registry_cmds::logout(a),
        Command::Bench(a) => bench::bench(&root, a),
        Command::Sandbox(a) => sandbox_cmd::sandbox(a),
    }
}

/// Opens the store at `root`, as every store command does first.
pub(crate) fn open_store(root: &std::path::Path) -> Result<Store, Report> {
    Store::open(root).map_err(|e| {
        Report::from_error(&e).with_hint(format!(
            "the store root is {}; --root or RBUILD_ROOT moves it",
            root.display()
        ))
    })
}
