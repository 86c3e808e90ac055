//! The build context: a host directory seen through `.dockerignore`, walked lazily,
//! hashed lazily through the persistent stat cache.
//!
//! Nothing is walked when the context is opened. A source that names a file directly
//! (`COPY deps.txt .`) costs a few `lstat`s and, on a cache hit, no read at all; the
//! first directory or wildcard source triggers one parallel walk of the whole context,
//! which later selections reuse. Only the files a selection needs are hashed.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rayon::prelude::*;

use super::error::ContextError;
use super::hash::hash_file;
use super::host;
use super::ignorefile;
use super::index::Index;
use super::meta::Meta;
use super::path::is_within;
use super::pattern::{MatchInfo, PatternMatcher};
use super::select::{SelectOptions, Selection, select};
use super::statcache::{LoadOutcome, StatCache};
use super::tree::{Tree, Visit};
use super::walk;
use crate::digest::Digest;

/// An open build context.
///
/// ```no_run
/// use std::path::Path;
/// use rbuild::context::{Context, SelectOptions};
///
/// let ctx = Context::open(Path::new("."), Some(Path::new("Dockerfile")), Some(Path::new("/store/contexts")))?;
/// // COPY --exclude=*.md src/ /app/
/// let opts = SelectOptions { excludes: vec!["*.md".into()], ..SelectOptions::default() };
/// let sel = ctx.select(&["src/".to_string()], &opts)?;
/// println!("cache key input: {}", sel.digest());
/// ctx.save_statcache()?;
/// # Ok::<(), rbuild::context::ContextError>(())
/// ```
pub struct Context {
    root: PathBuf,
    root_fd: File,
    ignore: Option<PatternMatcher>,
    ignore_file: Option<PathBuf>,
    statcache_file: Option<PathBuf>,
    index: Mutex<Option<Arc<Index>>>,
    cache: Mutex<Option<StatCache>>,
    cache_outcome: Mutex<Option<LoadOutcome>>,
    counters: Counters,
}

#[derive(Default)]
struct Counters {
    entries_walked: AtomicU64,
    walk_ns: AtomicU64,
    files_hashed: AtomicU64,
    bytes_hashed: AtomicU64,
    hash_ns: AtomicU64,
    cache_hits: AtomicU64,
    cache_loaded: AtomicU64,
    cache_load_ns: AtomicU64,
}

/// What a context did so far (for traces and benchmarks).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContextStats {
    /// Entries found by the walk (0 when no walk was needed).
    pub entries_walked: u64,
    /// Time spent walking.
    pub walk_time: Duration,
    /// Files whose bytes were read and hashed.
    pub files_hashed: u64,
    /// Bytes read and hashed.
    pub bytes_hashed: u64,
    /// Wall time spent computing digests (stat cache lookups included).
    pub hash_time: Duration,
    /// Digests answered by the stat cache.
    pub statcache_hits: u64,
    /// Records loaded from the stat cache file.
    pub statcache_loaded: u64,
    /// Time spent loading the stat cache.
    pub statcache_load_time: Duration,
    /// How loading the stat cache went (`None`: not needed yet, or disabled).
    pub statcache: Option<LoadOutcome>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

fn elapsed_ns(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

impl Context {
    /// Opens the context at `root`: reads the ignore file (`<dockerfile>.dockerignore`
    /// first, then `<root>/.dockerignore`) and remembers where the stat cache lives
    /// (`statcache_dir`, e.g. the store's `contexts/`; `None` disables it). Nothing is
    /// walked or hashed yet.
    pub fn open(
        root: &Path,
        dockerfile: Option<&Path>,
        statcache_dir: Option<&Path>,
    ) -> Result<Context, ContextError> {
        let canonical = root.canonicalize().map_err(|e| ContextError::io(root, e))?;
        if !canonical.is_dir() {
            return Err(ContextError::NotADirectory {
                path: root.to_path_buf(),
            });
        }
        let root_fd = File::open(&canonical).map_err(|e| ContextError::io(&canonical, e))?;
        let ignore_file = ignorefile::locate(&canonical, dockerfile);
        let ignore = match &ignore_file {
            Some(path) => {
                let text = std::fs::read(path).map_err(|e| ContextError::io(path, e))?;
                let patterns = ignorefile::parse(&text);
                let m = PatternMatcher::new(&patterns).map_err(|e| ContextError::BadPattern {
                    origin: path.display().to_string(),
                    pattern: e.pattern,
                    reason: e.reason,
                })?;
                (!m.is_empty()).then_some(m)
            }
            None => None,
        };
        Ok(Context {
            statcache_file: statcache_dir.map(|d| StatCache::file_for(d, &canonical)),
            root: canonical,
            root_fd,
            ignore,
            ignore_file,
            index: Mutex::new(None),
            cache: Mutex::new(None),
            cache_outcome: Mutex::new(None),
            counters: Counters::default(),
        })
    }

    /// The canonical context directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The ignore file in use, if any.
    pub fn ignore_file(&self) -> Option<&Path> {
        self.ignore_file.as_deref()
    }

    /// True when `.dockerignore` excludes `path` (relative, cleaned) — as Docker's
    /// context walk decides, element by element from the root.
    pub fn is_ignored(&self, path: &str) -> bool {
        let Some(m) = &self.ignore else {
            return false;
        };
        if path.is_empty() {
            return false;
        }
        let mut info = MatchInfo::default();
        let mut hit = false;
        let mut end = 0;
        for elem in path.split('/') {
            end += elem.len();
            let (h, next) = m.matches_using_parent_results(&path[..end], &info);
            hit = h;
            info = next;
            end += 1;
        }
        hit
    }

    /// Walks the whole context now (once; later calls reuse the result).
    pub fn walk(&self) -> Result<Arc<Index>, ContextError> {
        let mut slot = lock(&self.index);
        if let Some(idx) = slot.as_ref() {
            return Ok(Arc::clone(idx));
        }
        let start = Instant::now();
        let idx = Arc::new(walk::walk(&self.root, self.ignore.as_ref())?);
        self.counters
            .entries_walked
            .store(idx.len() as u64, Relaxed);
        self.counters.walk_ns.store(elapsed_ns(start), Relaxed);
        *slot = Some(Arc::clone(&idx));
        Ok(idx)
    }

    fn walked(&self) -> Option<Arc<Index>> {
        lock(&self.index).clone()
    }

    /// Selects COPY/ADD sources from the context (see [`select`]).
    pub fn select(
        &self,
        sources: &[String],
        opts: &SelectOptions,
    ) -> Result<Selection, ContextError> {
        select(self, sources, opts)
    }

    /// Writes the stat cache back if anything changed (new digests, files gone). Also
    /// done, errors ignored, when the context is dropped.
    pub fn save_statcache(&self) -> Result<(), ContextError> {
        let Some(file) = &self.statcache_file else {
            return Ok(());
        };
        let mut slot = lock(&self.cache);
        let Some(cache) = slot.as_mut() else {
            return Ok(());
        };
        // Drop records of files that are gone, unless every record was just used.
        if let Some(idx) = self.walked()
            && !cache.all_used()
        {
            cache.retain(|p| idx.get(p).is_some_and(Meta::is_file));
        }
        if !cache.is_dirty() {
            return Ok(());
        }
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).map_err(|e| ContextError::io(dir, e))?;
        }
        cache
            .save(file, &self.root, now_ns())
            .map_err(|e| ContextError::io(file, e))
    }

    /// Counters so far.
    pub fn stats(&self) -> ContextStats {
        let c = &self.counters;
        ContextStats {
            entries_walked: c.entries_walked.load(Relaxed),
            walk_time: Duration::from_nanos(c.walk_ns.load(Relaxed)),
            files_hashed: c.files_hashed.load(Relaxed),
            bytes_hashed: c.bytes_hashed.load(Relaxed),
            hash_time: Duration::from_nanos(c.hash_ns.load(Relaxed)),
            statcache_hits: c.cache_hits.load(Relaxed),
            statcache_loaded: c.cache_loaded.load(Relaxed),
            statcache_load_time: Duration::from_nanos(c.cache_load_ns.load(Relaxed)),
            statcache: *lock(&self.cache_outcome),
        }
    }

    /// The stat cache, loaded on first use.
    fn cache(&self) -> MutexGuard<'_, Option<StatCache>> {
        let mut slot = lock(&self.cache);
        if slot.is_none() {
            let start = Instant::now();
            let cache = match &self.statcache_file {
                Some(f) => {
                    let (cache, outcome) = StatCache::load(f, &self.root);
                    if let LoadOutcome::Loaded(n) = outcome {
                        self.counters.cache_loaded.store(n as u64, Relaxed);
                    }
                    *lock(&self.cache_outcome) = Some(outcome);
                    cache
                }
                None => StatCache::default(),
            };
            self.counters
                .cache_load_ns
                .store(elapsed_ns(start), Relaxed);
            *slot = Some(cache);
        }
        slot
    }

    fn host_lstat(&self, path: &str) -> Result<Option<Meta>, ContextError> {
        host::lstat(&self.root_fd, &self.root, path)
            .map_err(|e| ContextError::io(&self.host_path_of(path), e))
    }

    fn host_path_of(&self, path: &str) -> PathBuf {
        walk::host_path(&self.root, path)
    }
}

impl Drop for Context {
    /// Saves the stat cache if the caller did not: an unchanged rebuild depends on it.
    /// Errors are ignored here; call [`Context::save_statcache`] to see them.
    fn drop(&mut self) {
        let _ = self.save_statcache();
    }
}

impl Tree for Context {
    fn lstat(&self, path: &str) -> Result<Option<Meta>, ContextError> {
        if let Some(idx) = self.walked() {
            return Ok(idx.get(path).cloned());
        }
        let Some(meta) = self.host_lstat(path)? else {
            return Ok(None);
        };
        if !self.is_ignored(path) {
            return Ok(Some(meta));
        }
        // An ignored directory is still there if an exception re-includes something
        // inside it; only the walk can tell.
        if meta.is_dir()
            && self
                .ignore
                .as_ref()
                .is_some_and(PatternMatcher::has_exclusions)
        {
            return Ok(self.walk()?.get(path).cloned());
        }
        Ok(None)
    }

    fn read_dir(&self, dir: &str) -> Result<Vec<(String, Meta)>, ContextError> {
        let idx = self.walk()?;
        let skip = if dir.is_empty() { 0 } else { dir.len() + 1 };
        Ok(idx
            .subtree(dir)
            .iter()
            .filter(|e| !e.path[skip..].contains('/'))
            .map(|e| (e.path[skip..].to_string(), e.meta.clone()))
            .collect())
    }

    fn descendants(
        &self,
        dir: &str,
        visit: &mut dyn FnMut(&str, &Meta) -> Visit,
    ) -> Result<(), ContextError> {
        let idx = self.walk()?;
        if let Some(bad) = idx
            .unrepresentable()
            .iter()
            .find(|b| is_within(&b.lossy_path, dir))
        {
            return Err(ContextError::NonUtf8Path {
                path: bad.host_path.clone(),
            });
        }
        let sub = idx.subtree(dir);
        let skip = if dir.is_empty() { 0 } else { dir.len() + 1 };
        let mut i = 0;
        while i < sub.len() {
            let e = &sub[i];
            i += 1;
            if visit(&e.path[skip..], &e.meta) == Visit::SkipDir && e.meta.is_dir() {
                i += sub[i..].partition_point(|x| is_within(&x.path, &e.path));
            }
        }
        Ok(())
    }

    fn file_digests(&self, files: &[(&str, &Meta)]) -> Result<Vec<Digest>, ContextError> {
        let start = Instant::now();
        let mut out: Vec<Option<Digest>> = {
            let mut cache = self.cache();
            match cache.as_mut() {
                Some(c) => files.iter().map(|(p, m)| c.lookup(p, m)).collect(),
                None => vec![None; files.len()],
            }
        };
        let misses: Vec<usize> = (0..files.len()).filter(|&i| out[i].is_none()).collect();
        self.counters
            .cache_hits
            .fetch_add((files.len() - misses.len()) as u64, Relaxed);
        let hashed = misses
            .par_iter()
            .map(|&i| {
                let (path, meta) = files[i];
                let hashed_at = now_ns();
                let io = |e| ContextError::io(&self.host_path_of(path), e);
                let f = host::open_file(&self.root_fd, &self.root, path).map_err(io)?;
                let h = hash_file(f, meta).map_err(io)?;
                Ok((i, h, hashed_at))
            })
            .collect::<Result<Vec<_>, ContextError>>()?;
        {
            let mut cache = self.cache();
            for &(i, h, hashed_at) in &hashed {
                let (path, meta) = files[i];
                if h.unchanged
                    && let Some(c) = cache.as_mut()
                {
                    c.insert(path, meta, h.digest, hashed_at);
                }
                out[i] = Some(h.digest);
                self.counters.bytes_hashed.fetch_add(h.len, Relaxed);
            }
        }
        self.counters
            .files_hashed
            .fetch_add(hashed.len() as u64, Relaxed);
        self.counters.hash_ns.fetch_add(elapsed_ns(start), Relaxed);
        Ok(out.into_iter().flatten().collect())
    }

    fn host_path(&self, path: &str) -> Option<PathBuf> {
        Some(self.host_path_of(path))
    }

    fn open(&self, path: &str) -> Result<Box<dyn std::io::Read + Send + '_>, ContextError> {
        let f = host::open_file(&self.root_fd, &self.root, path)
            .map_err(|e| ContextError::io(&self.host_path_of(path), e))?;
        Ok(Box::new(f))
    }

    fn keeps_ownership(&self) -> bool {
        false
    }
}
