//! `rbuild bench`: cache-hit rebuild speed as a first-class, repeatable measurement.
//!
//! A bench times three kinds of build of one context, each in a fresh `rbuild build`
//! process (so every run starts cold in memory, and its peak memory is its own):
//!
//! - `cold`: a store with the base images and nothing else (see [`seed`]);
//! - `no-op`: a rebuild with nothing changed, the case rbuild is built to make fast;
//! - `changed:<path>`: a rebuild after one file got new content (see [`copy::Changer`]).
//!
//! The user's context and store are only read: the builds run on a copy of the context
//! and on private stores in a scratch dir ([`workspace`]) that is removed at the end, on
//! Ctrl-C too ([`interrupt`]). The result is a [`BenchReport`]: a table for people
//! ([`table`]), a versioned JSON document for machines, ratios against an earlier report
//! ([`mod@compare`]), and optionally one Chrome trace of a representative run per scenario
//! ([`trace`]).
//!
//! Each build reports its steps through its `--metadata-file` (`rbuild.steps`,
//! `rbuild.stats`, see [`metadata`]); the bench adds nothing to the timed window but the
//! spawn and the wait ([`child`]).

pub mod aggregate;
pub mod argv;
pub mod child;
pub mod compare;
pub mod copy;
mod error;
pub mod interrupt;
pub mod metadata;
pub mod pick;
pub mod report;
mod runner;
pub mod seed;
pub mod summary;
pub mod table;
pub mod trace;
pub mod workspace;

pub use compare::{Comparison, Regression, compare};
pub use error::BenchError;
pub use interrupt::{Interrupt, SignalGuard};
pub use report::{BenchReport, SCHEMA, ScenarioKind, ScenarioReport, StepReport};
pub use runner::{BenchOutcome, BenchPlan, run};
pub use summary::Summary;

/// Test and debug hook: a program to run instead of `rbuild` for each build. It is called
/// as `PROGRAM --root STORE build [OPTIONS] --metadata-file FILE [--trace FILE] CONTEXT`
/// and must write the metadata file as `rbuild build` does.
pub const BUILDER_ENV: &str = "RBUILD_BENCH_BUILDER";

/// A `walkdir` error as an I/O error that names the path.
pub(crate) fn walk_error(e: walkdir::Error) -> BenchError {
    let path = e
        .path()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let kind = e
        .io_error()
        .map_or(std::io::ErrorKind::Other, |io| io.kind());
    BenchError::Io(std::io::Error::new(kind, format!("{path}: {e}")))
}
