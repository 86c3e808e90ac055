//! What a RUN step asks of the sandbox ([`RunSpec`]) and what it gets back.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};

use crate::plan::{NetworkMode, Sharing};
use crate::store::Store;

/// The hostname a step sees unless told otherwise: BuildKit's.
pub const DEFAULT_HOSTNAME: &str = "buildkitsandbox";

/// `PATH` when the step's environment has none (BuildKit's default).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The step's network.
///
/// There is no daemon to set up a bridge, so `default` is the host's network, as with
/// buildah's chroot isolation; `none` is a fresh network namespace with only `lo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Network {
    /// Share the host's network (`--network=host` and `default`).
    Host,
    /// A new network namespace with loopback only (`--network=none`).
    None,
}

impl From<NetworkMode> for Network {
    fn from(m: NetworkMode) -> Network {
        match m {
            NetworkMode::None => Network::None,
            NetworkMode::Default | NetworkMode::Host => Network::Host,
        }
    }
}

/// Cache mount sharing (`sharing=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CacheSharing {
    /// Concurrent steps use the same directory.
    Shared,
    /// A concurrent step gets another instance of the cache.
    Private,
    /// Concurrent steps take turns (a file lock).
    Locked,
}

impl From<Sharing> for CacheSharing {
    fn from(s: Sharing) -> CacheSharing {
        match s {
            Sharing::Shared => CacheSharing::Shared,
            Sharing::Private => CacheSharing::Private,
            Sharing::Locked => CacheSharing::Locked,
        }
    }
}

/// A `type=cache` mount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheMount {
    /// Mount point in the container (absolute).
    pub target: String,
    /// The cache's identity (`id=`, BuildKit's default is the target).
    pub id: String,
    /// `sharing=`.
    pub sharing: CacheSharing,
    /// Mode of the cache directory when it is first created.
    pub mode: u32,
    /// Owner of the cache directory when it is first created.
    pub uid: u32,
    /// Group of the cache directory when it is first created.
    pub gid: u32,
    /// A host directory whose content seeds a new cache (`from=`/`source=`).
    pub seed: Option<PathBuf>,
    /// Mounted read-only.
    pub readonly: bool,
}

/// A mount of a RUN step, with its source resolved to host paths by the solver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResolvedMount {
    /// `type=bind`: `source` inside the tree formed by `source_layers` (one directory,
    /// e.g. the build context, or a stage's snapshot stack, top first). The source path
    /// is resolved inside that tree, never outside it. Read-only unless `readwrite`;
    /// writes are then discarded after the step.
    Bind {
        /// Mount point in the container (absolute).
        target: String,
        /// The tree the source lives in (top first).
        source_layers: Vec<PathBuf>,
        /// Path inside the tree (`/` for all of it).
        source: String,
        /// Writable (changes are thrown away).
        readwrite: bool,
    },
    /// `type=cache`.
    Cache(CacheMount),
    /// `type=tmpfs`.
    Tmpfs {
        /// Mount point in the container (absolute).
        target: String,
        /// `size=` in bytes.
        size: Option<u64>,
    },
}

impl ResolvedMount {
    /// The mount point in the container.
    pub fn target(&self) -> &str {
        match self {
            ResolvedMount::Bind { target, .. } | ResolvedMount::Tmpfs { target, .. } => target,
            ResolvedMount::Cache(c) => &c.target,
        }
    }
}

/// A file provided to the step but never part of its layer: a secret, a heredoc script.
/// Its bytes live only in a tmpfs of the step's mount namespace.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtraFile {
    /// Path in the container (absolute).
    pub target: String,
    /// Content.
    pub contents: Vec<u8>,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

impl std::fmt::Debug for ExtraFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the content: it may be a secret.
        f.debug_struct("ExtraFile")
            .field("target", &self.target)
            .field("len", &self.contents.len())
            .field("mode", &format_args!("{:o}", self.mode))
            .finish()
    }
}

/// One RUN step to execute.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSpec {
    /// Snapshot directories of the parent layers, top first (empty for `FROM scratch`).
    pub lowers: Vec<PathBuf>,
    /// The command, already wrapped (shell form arrives as `[shell…, cmd]`).
    pub argv: Vec<String>,
    /// The environment, exactly (`PATH` and `HOME` are added when absent).
    pub env: Vec<String>,
    /// Working directory (absolute; created, owned by the user, if missing).
    pub cwd: String,
    /// `USER`: a name or `uid[:gid]`, resolved in the rootfs (empty for root).
    pub user: String,
    /// Hostname inside the step.
    pub hostname: String,
    /// Network.
    pub network: Network,
    /// `RUN --mount`s.
    pub mounts: Vec<ResolvedMount>,
    /// Files provided during the step only.
    pub extra_files: Vec<ExtraFile>,
    /// Where the step's upper/work dirs are made (the store's `tmp/`).
    pub work_root: PathBuf,
    /// Where cache mounts persist (the store's `cache-mounts/`).
    pub cache_root: PathBuf,
    /// Use the copy fallback even where overlayfs works (tests, benchmarks).
    #[serde(default)]
    pub force_copy: bool,
    /// Set to stop the step: the sandbox is killed and `run` returns
    /// [`SandboxError::Cancelled`](super::SandboxError::Cancelled).
    #[serde(skip)]
    pub cancel: Option<Arc<AtomicBool>>,
}

impl RunSpec {
    /// A spec with BuildKit's defaults: root, `/`, the default hostname, host network,
    /// work and cache dirs in `store`.
    pub fn new(store: &Store, lowers: Vec<PathBuf>, argv: Vec<String>) -> RunSpec {
        RunSpec {
            lowers,
            argv,
            env: Vec::new(),
            cwd: "/".to_string(),
            user: String::new(),
            hostname: DEFAULT_HOSTNAME.to_string(),
            network: Network::Host,
            mounts: Vec::new(),
            extra_files: Vec::new(),
            work_root: store.tmp_dir(),
            cache_root: store.root().join("cache-mounts"),
            force_copy: false,
            cancel: None,
        }
    }
}

/// Which output stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// How the step's process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExitStatus {
    /// It exited with this code (127: command not found, 126: not executable).
    Code(i32),
    /// A signal killed it.
    Signal(i32),
}

impl ExitStatus {
    /// True for exit code 0.
    pub fn success(self) -> bool {
        self == ExitStatus::Code(0)
    }

    /// The code as a shell reports it (128 + signal for a signal).
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Code(c) => c,
            ExitStatus::Signal(s) => 128 + s,
        }
    }
}
