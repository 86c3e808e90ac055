//! The command line: clap definitions and error reports. No build logic lives here.

use std::process::ExitCode;

/// Runs the CLI with the process arguments and returns the exit code.
pub fn main() -> ExitCode {
    ExitCode::SUCCESS
}
