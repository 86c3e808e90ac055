//! Registry commands: pull, push, login, logout.

use std::path::Path;

use super::Report;
use super::args::{LoginArgs, LogoutArgs, PullArgs, PushArgs};

fn todo(what: &str) -> Result<(), Report> {
    Err(Report::msg(format!("rbuild {what} is not built yet")))
}

/// Runs `rbuild pull`.
pub fn pull(_root: &Path, _a: PullArgs) -> Result<(), Report> {
    todo("pull")
}
/// Runs `rbuild push`.
pub fn push(_root: &Path, _a: PushArgs) -> Result<(), Report> {
    todo("push")
}
/// Runs `rbuild login`.
pub fn login(_a: LoginArgs) -> Result<(), Report> {
    todo("login")
}
/// Runs `rbuild logout`.
pub fn logout(_a: LogoutArgs) -> Result<(), Report> {
    todo("logout")
}
