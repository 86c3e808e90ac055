//! The solver: runs a build graph against the store, reusing cached steps.
//!
//! (Being written: history and RUN argv rules first; the scheduler lands with the
//! context, store and sandbox modules.)

pub mod history;
pub mod key;
