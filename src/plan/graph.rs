//! The build graph: stages (only those the target needs), their dependencies, and the
//! groups of stages that can run in parallel.

use crate::image::{ContainerConfig, ImageConfig, Platform};

use super::Instruction;

/// Where an instruction is in the Dockerfile (1-based physical lines, inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Location {
    /// First line.
    pub start_line: usize,
    /// Last line (continuations and heredoc bodies included).
    pub end_line: usize,
}

/// A non-fatal finding (unused build arg, empty continuation line…).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Warning {
    /// Where, when it concerns one instruction.
    pub location: Option<Location>,
    /// What.
    pub message: String,
}

/// What a stage starts from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Base {
    /// `FROM scratch`: an empty filesystem and an empty config.
    Scratch,
    /// An image reference, with variables expanded (`busybox:1.36`, `oci-layout:///p:tag`…).
    Image(String),
    /// An earlier stage, by its index in [`BuildGraph::stages`].
    Stage(usize),
}

/// One stage (`FROM … [AS name]` and its instructions).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Stage {
    /// Index in [`BuildGraph::stages`].
    pub id: usize,
    /// Position of the FROM in the Dockerfile (0-based; what `COPY --from=0` names).
    pub index: usize,
    /// `AS name`, lower-cased as Docker compares them.
    pub name: Option<String>,
    /// What it starts from.
    pub base: Base,
    /// The config of an [`Base::Image`] as the resolver returned it (`None` for scratch
    /// and stage bases: the solver starts from the parent stage's final config).
    #[serde(skip)]
    pub base_config: Option<ImageConfig>,
    /// The platform it builds for (FROM `--platform`, else the target platform).
    pub platform: Platform,
    /// The FROM line.
    pub location: Location,
    /// The steps after FROM, including ONBUILD triggers of the base image first.
    pub steps: Vec<Step>,
    /// Stages this one needs (base stage, `COPY --from`, `RUN --mount from=`), by graph index.
    pub deps: Vec<usize>,
    /// The config once every step is applied (`author` from MAINTAINER; `architecture`,
    /// `os`, `variant` from the platform; no history or rootfs: the solver adds those).
    #[serde(skip)]
    pub final_config: ImageConfig,
}

/// One step of a stage.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Step {
    /// The typed instruction, variables expanded where Docker expands them.
    pub instruction: Instruction,
    /// Where it is.
    pub location: Location,
    /// The instruction as written, continuations joined (`COPY src/ ./src/`), for progress.
    pub text: String,
    /// Build args this step depends on, with their values: for RUN every ARG in scope (they
    /// are its environment, unless an ENV of the same name overrides them); for other
    /// instructions the ARGs that expansion read. Part of the cache key.
    pub args: Vec<(String, String)>,
    /// True for an ONBUILD trigger inherited from the base image.
    pub from_onbuild: bool,
    /// The stage's runtime config as it stands once this step is applied (for RUN: the
    /// env, user, working dir and shell it runs with). Config instructions (ENV, CMD,
    /// ENTRYPOINT…) are applied by the planner with Docker's rules, e.g. ENTRYPOINT
    /// clearing a CMD inherited from the base image, shell forms wrapped in SHELL.
    pub config: ContainerConfig,
}

/// The whole plan.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BuildGraph {
    /// Stages the target needs, dependencies before dependents.
    pub stages: Vec<Stage>,
    /// The stage to export (index into `stages`).
    pub target: usize,
    /// Parallel groups: every stage of a group depends only on stages of earlier groups.
    pub groups: Vec<Vec<usize>>,
    /// Findings worth printing.
    pub warnings: Vec<Warning>,
}
