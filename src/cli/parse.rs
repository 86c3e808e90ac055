//! `rbuild parse`: print a Dockerfile's syntax tree.

use super::Report;
use super::args::ParseArgs;

/// Runs `rbuild parse`.
pub fn parse(_args: ParseArgs) -> Result<(), Report> {
    Err(Report::msg("rbuild parse is not built yet"))
}
