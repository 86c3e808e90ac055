//! `rbuild build` and `rbuild bench`.

use std::path::Path;

use super::Report;
use super::args::BuildArgs;

/// Runs `rbuild build`.
pub fn build(_root: &Path, _a: BuildArgs) -> Result<(), Report> {
    Err(Report::msg("rbuild build is not built yet"))
}
