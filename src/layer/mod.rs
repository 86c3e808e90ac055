//! Layers: the deterministic tar writer and compression (one streaming pass yields the
//! diff ID and the blob digest), safe unpacking into snapshots, and the overlay
//! upperdir → layer diff.
//!
//! [`Entry`] is the meeting point: COPY and the RUN diff produce entries, the writer
//! turns them into a tar stream.

mod entry;
pub mod view;

pub use entry::{Entry, EntryKind, sort_entries};
