//! rbuild: a daemonless Dockerfile build engine.
//!
//! Data flows one way (see `README.md` and `../shared/DESIGN.md`):
//!
//! ```text
//! Dockerfile ──dockerfile──▶ AST ──plan──▶ BuildGraph ──solve──▶ store ──export──▶ OCI / docker / registry
//! build context ──context──▶ ContextIndex ─────┘   (RUN: sandbox, layers: layer)
//! ```
//!
//! Each module owns one concern; the binary in `main.rs` only calls [`cli::main`].

pub mod bench;
pub mod cache;
pub mod cli;
pub mod context;
pub mod digest;
pub mod dockerfile;
pub mod export;
pub mod fsutil;
pub mod image;
pub mod layer;
pub mod plan;
pub mod progress;
pub mod registry;
pub mod sandbox;
pub mod solve;
pub mod store;
