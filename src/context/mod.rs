//! The build context: what `docker build` sends to the builder, and what COPY/ADD
//! read from it.
//!
//! * [`Context`] opens a context directory with its `.dockerignore` (Docker's rules,
//!   [`PatternMatcher`]), walks it in parallel when a selection needs it, and hashes
//!   only the files a selection needs, through a persistent stat cache so an
//!   unchanged file is never read twice.
//! * [`select`] implements COPY/ADD source selection (wildcards, symlink sources,
//!   `--exclude`, `--parents`) over any [`Tree`]: the context, or another stage's or
//!   image's filesystem. The resulting [`Selection`] carries content digests and one
//!   digest for the step's cache key.
//!
//! Nothing here knows about layers: a selection says which files, with which metadata
//! and contents; the layer writer decides how they land in an image.

mod dirtree;
mod error;
mod glob;
mod hash;
mod host;
mod ignorefile;
mod index;
mod local;
mod meta;
mod path;
mod pattern;
mod select;
mod statcache;
mod tree;
mod walk;

pub use dirtree::DirTree;
pub use error::ContextError;
pub use glob::{BadPattern, has_wildcards, matches as glob_match};
pub use ignorefile::{locate as locate_ignore_file, parse as parse_ignore_file};
pub use index::{Index, IndexEntry, Unrepresentable};
pub use local::{Context, ContextStats};
pub use meta::{Kind, Meta};
pub use path::{clean as clean_path, cmp_paths};
pub use pattern::{MatchInfo, Pattern, PatternError, PatternMatcher};
pub use select::{SelectOptions, SelectedEntry, SelectedRoot, Selection, select};
pub use statcache::{LoadOutcome, StatCache};
pub use tree::{Resolved, Tree, Visit, resolve};
