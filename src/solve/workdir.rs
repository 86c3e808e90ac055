//! WORKDIR: as BuildKit does, a `mkdir -p` of the directory (owned by the current USER)
//! that makes a layer (with the existing ancestors, as an overlay diff has them), empty
//! when the directory already exists. The path is resolved
//! inside the image; a symlink leading out of the image root is an error.

use std::path::PathBuf;

use super::error::SolveError;
use super::history::created_by;
use super::key::KeyInputs;
use super::stage::{Produced, StageState, StepCtx, layer_step};
use super::usermap::user_ids;
use crate::layer::view::{LayerView, ViewError};
use crate::layer::{Entry, write_layer};

/// Runs a WORKDIR step (not `/`); true when the cache answered.
pub(crate) fn workdir_step(
    ctx: &StepCtx<'_, '_>,
    state: &mut StageState,
    dir: &str,
) -> Result<bool, SolveError> {
    let s = ctx.s;
    let user = ctx.step.config.user.clone().unwrap_or_default();
    let mut inputs = KeyInputs::new();
    inputs
        .add("kind", "WORKDIR")
        .add("instruction", dir)
        .add("user", user.clone());
    let history_text = created_by(ctx.step, None)
        .map(|(t, _)| t)
        .unwrap_or_default();
    layer_step(
        ctx,
        state,
        &inputs,
        history_text,
        || {},
        |state| {
            let lowers: Vec<PathBuf> = if state.layers.is_empty() {
                Vec::new()
            } else {
                state.lowers(s)?
            };
            let view = LayerView::new(lowers);
            let (path, found) = view.resolve(dir, true).map_err(|e| match e {
                ViewError::Escape { .. } => SolveError::copy(format!(
                    "WORKDIR {dir}: a symbolic link leads outside the image root"
                )),
                other => SolveError::copy(format!("WORKDIR {dir}: {other}")),
            })?;
            let mut entries = Vec::new();
            match found {
                Some(f) if f.is_dir() => {}
                Some(_) => {
                    return Err(SolveError::copy(format!(
                        "WORKDIR {dir}: /{path} exists and is not a directory"
                    )));
                }
                None => {
                    let (uid, gid) = user_ids(&user, &view)?;
                    let mut cur = String::new();
                    for comp in path.split('/').filter(|c| !c.is_empty()) {
                        cur = if cur.is_empty() {
                            comp.to_string()
                        } else {
                            format!("{cur}/{comp}")
                        };
                        // Existing ancestors are in the layer too, as they are in an
                        // overlay diff (their child list changed), with what they hold.
                        let entry = match view.lookup(&cur).ok().flatten() {
                            Some(f) => f.dir_entry(cur.clone()),
                            None => Entry::dir(cur.clone(), 0o755, uid, gid, s.created_mtime()),
                        };
                        entries.push(entry);
                    }
                }
            }
            let layer = write_layer(s.store, &entries, &s.opts.layer).map_err(SolveError::store)?;
            Ok(Produced { layer })
        },
    )
}
