//! Integration tests of the build context: `.dockerignore` facts, the walk, COPY source
//! selection and the stat cache, on real temp directories.

#[path = "context/cases.rs"]
mod cases;
#[path = "context/ignore.rs"]
mod ignore;
#[path = "context/select.rs"]
mod select;
#[path = "context/statcache.rs"]
mod statcache;
#[path = "context/support.rs"]
mod support;
