//! Store commands: import, images, rmi, tag, save, inspect, prune, du.

use std::path::Path;

use super::Report;
use super::args::{ImagesArgs, ImportArgs, InspectArgs, PruneArgs, RmiArgs, SaveArgs, TagArgs};

fn todo(what: &str) -> Result<(), Report> {
    Err(Report::msg(format!("rbuild {what} is not built yet")))
}

/// Runs `rbuild import`.
pub fn import(_root: &Path, _a: ImportArgs) -> Result<(), Report> {
    todo("import")
}
/// Runs `rbuild images`.
pub fn images(_root: &Path, _a: ImagesArgs) -> Result<(), Report> {
    todo("images")
}
/// Runs `rbuild rmi`.
pub fn rmi(_root: &Path, _a: RmiArgs) -> Result<(), Report> {
    todo("rmi")
}
/// Runs `rbuild tag`.
pub fn tag(_root: &Path, _a: TagArgs) -> Result<(), Report> {
    todo("tag")
}
/// Runs `rbuild save`.
pub fn save(_root: &Path, _a: SaveArgs) -> Result<(), Report> {
    todo("save")
}
/// Runs `rbuild inspect`.
pub fn inspect(_root: &Path, _a: InspectArgs) -> Result<(), Report> {
    todo("inspect")
}
/// Runs `rbuild prune`.
pub fn prune(_root: &Path, _a: PruneArgs) -> Result<(), Report> {
    todo("prune")
}
/// Runs `rbuild du`.
pub fn du(root: &Path) -> Result<(), Report> {
    super::open_store(root)?;
    todo("du")
}
