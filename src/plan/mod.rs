//! The planner: a parsed Dockerfile, build args and a target become a [`BuildGraph`] of
//! stages and typed, fully expanded steps.
//!
//! (The planning logic is being written; the graph types below are the contract the
//! solver builds on.)

mod graph;
mod instruction;

pub use graph::{Base, BuildGraph, Location, Stage, Step, Warning};
pub use instruction::{
    Command, CopyFrom, CopySource, CopyStep, HealthcheckSpec, Heredoc, Instruction, MountFrom,
    MountKind, MountSpec, NetworkMode, RunStep, Sharing,
};
