//! The planner: a parsed Dockerfile, build args and a target become a [`BuildGraph`] of
//! stages and typed, fully expanded steps.
//!
//! Planning follows BuildKit's `dockerfile2llb`: global ARGs before the first FROM (with
//! the automatic platform args), FROM expanded in that scope, stages referenced by name or
//! index, only the stages the target needs, base-image ONBUILD triggers run first, and
//! every instruction expanded and applied to the runtime config with Docker's rules. It
//! runs nothing and touches no file; base images are looked up through a
//! [`BaseResolver`].

mod dispatch;
mod dry_run;
mod duration;
mod error;
mod expose;
mod flags;
mod graph;
mod instruction;
mod mount;
pub mod platform;
mod stages;
mod state;
mod suggest;
mod typed;
mod values;

use std::collections::BTreeMap;

pub use dry_run::render_dry_run;
pub use duration::parse_duration;
pub use error::{PlanError, PlanErrorKind};
pub use graph::{Base, BuildGraph, Location, Stage, Step, Warning};
pub use instruction::{
    Command, CopyFrom, CopySource, CopyStep, HealthcheckSpec, Heredoc, Instruction, MountFrom,
    MountKind, MountSpec, NetworkMode, RunStep, Sharing,
};

use crate::dockerfile::Dockerfile;
use crate::image::{ImageConfig, Platform};

/// What to plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanOptions {
    /// `--build-arg` values, already resolved (`--build-arg K` took K from the environment).
    pub build_args: BTreeMap<String, String>,
    /// `--target` (default: the last stage).
    pub target: Option<String>,
    /// `--platform`, the target platform (default: `build_platform`).
    pub platform: Option<Platform>,
    /// The platform of the machine that builds.
    pub build_platform: Platform,
    /// The Dockerfile's name, for messages.
    pub dockerfile_name: String,
}

impl Default for PlanOptions {
    fn default() -> PlanOptions {
        PlanOptions {
            build_args: BTreeMap::new(),
            target: None,
            platform: None,
            build_platform: platform::normalize(Platform::host()),
            dockerfile_name: "Dockerfile".to_string(),
        }
    }
}

/// Looks up the config of an external base image (the solver's store or registry).
pub trait BaseResolver {
    /// The image config of `reference` for `platform`, or a message saying why not.
    fn resolve(&self, reference: &str, platform: &Platform) -> Result<ImageConfig, String>;
}

/// A resolver that knows no image: every base has an empty config (for `--dry-run`-style
/// planning and tests).
#[derive(Debug, Clone, Copy, Default)]
pub struct EmptyResolver;

impl BaseResolver for EmptyResolver {
    fn resolve(&self, _reference: &str, platform: &Platform) -> Result<ImageConfig, String> {
        Ok(ImageConfig {
            architecture: platform.architecture.clone(),
            os: platform.os.clone(),
            variant: platform.variant.clone(),
            ..ImageConfig::default()
        })
    }
}

/// Plans `df`: checks every instruction, picks the target and the stages it needs,
/// expands variables and computes each step's config.
pub fn plan(
    df: &Dockerfile,
    opts: &PlanOptions,
    resolver: &dyn BaseResolver,
) -> Result<BuildGraph, PlanError> {
    stages::plan(df, opts, resolver)
}
