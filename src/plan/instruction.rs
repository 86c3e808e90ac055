//! Typed, validated, expanded instructions: what the solver executes.

use serde::Serialize;

/// Shell form or exec form of RUN/CMD/ENTRYPOINT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Command {
    /// Shell form: run through the stage's SHELL (default `/bin/sh -c`).
    Shell(String),
    /// Exec form (JSON array).
    Exec(Vec<String>),
}

/// A heredoc attached to RUN/COPY/ADD.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Heredoc {
    /// The delimiter word (for COPY/ADD: the file name).
    pub name: String,
    /// The body (tabs chomped for `<<-`; for COPY/ADD already expanded when the delimiter
    /// was unquoted).
    pub content: String,
    /// False when the delimiter was quoted (no expansion).
    pub expand: bool,
    /// File descriptor (`3<<EOF`), if given.
    pub fd: Option<u32>,
}

/// Where a COPY reads from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum CopyFrom {
    /// The build context.
    Context,
    /// An earlier stage (graph index).
    Stage(usize),
    /// An image reference.
    Image(String),
}

/// One source of COPY/ADD.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum CopySource {
    /// A path or wildcard pattern (relative to the context or the `--from` root).
    Path(String),
    /// A remote URL (ADD only).
    Url(String),
    /// A git repository (ADD only).
    Git(String),
    /// An inline heredoc file.
    Heredoc(Heredoc),
}

/// COPY or ADD.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopyStep {
    /// True for ADD (archives are extracted, URLs allowed).
    pub is_add: bool,
    /// Sources in order.
    pub sources: Vec<CopySource>,
    /// Destination, expanded (relative ones resolve against WORKDIR).
    pub dest: String,
    /// Destination as written after expansion, before WORKDIR resolution (history text).
    pub dest_written: String,
    /// `--from`.
    pub from: CopyFrom,
    /// `--chown=user[:group]`.
    pub chown: Option<String>,
    /// `--chmod=` (octal, or symbolic as BuildKit allows).
    pub chmod: Option<String>,
    /// `--link`.
    pub link: bool,
    /// `--parents`.
    pub parents: bool,
    /// `--exclude=` patterns.
    pub excludes: Vec<String>,
    /// ADD `--checksum=`.
    pub checksum: Option<String>,
    /// ADD `--keep-git-dir`.
    pub keep_git_dir: bool,
    /// ADD `--unpack=` (None: the default, extract local archives only).
    pub unpack: Option<bool>,
}

/// `RUN --mount` type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum MountKind {
    /// Bind a directory of the context, a stage or an image (read-only unless `rw`).
    Bind,
    /// A persistent cache directory.
    Cache,
    /// A fresh tmpfs.
    Tmpfs,
    /// A secret file (or env var).
    Secret,
    /// An SSH agent socket.
    Ssh,
}

/// Cache mount sharing mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Sharing {
    /// Concurrent writers share it.
    Shared,
    /// Each concurrent writer gets its own.
    Private,
    /// Writers take turns.
    Locked,
}

/// `RUN --mount from=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum MountFrom {
    /// An earlier stage (graph index).
    Stage(usize),
    /// An image reference.
    Image(String),
}

/// One `RUN --mount=…`, with BuildKit's defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MountSpec {
    /// Type.
    pub kind: MountKind,
    /// Mount point in the container (absolute after WORKDIR resolution).
    pub target: Option<String>,
    /// Path in the source.
    pub source: Option<String>,
    /// `from=`; `None` means the build context (bind) or an empty dir (cache).
    pub from: Option<MountFrom>,
    /// Writable (`rw`/`readwrite` for bind; cache and tmpfs are writable by default).
    pub readwrite: bool,
    /// `id=` (cache, secret, ssh).
    pub id: Option<String>,
    /// `sharing=` (cache).
    pub sharing: Sharing,
    /// `mode=` (octal).
    pub mode: Option<u32>,
    /// `uid=`.
    pub uid: Option<u32>,
    /// `gid=`.
    pub gid: Option<u32>,
    /// `size=` in bytes (tmpfs).
    pub size: Option<u64>,
    /// `required=` (secret, ssh).
    pub required: bool,
    /// `env=` (secret exposed as an environment variable).
    pub env: Option<String>,
}

impl MountSpec {
    /// A read-only mount of `kind` with no options set.
    pub fn new(kind: MountKind) -> Self {
        MountSpec {
            kind,
            target: None,
            source: None,
            from: None,
            readwrite: false,
            id: None,
            sharing: Sharing::Shared,
            mode: None,
            uid: None,
            gid: None,
            size: None,
            required: false,
            env: None,
        }
    }
}

/// `RUN --network=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum NetworkMode {
    /// The builder's default.
    Default,
    /// No network: only loopback.
    None,
    /// The host's network.
    Host,
}

/// RUN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunStep {
    /// The command (a heredoc-only `RUN <<EOF` is a shell command whose script is the heredoc).
    pub command: Command,
    /// Heredocs on the line (their bodies become files or stdin, as BuildKit does).
    pub heredocs: Vec<Heredoc>,
    /// `--mount`s.
    pub mounts: Vec<MountSpec>,
    /// `--network`.
    pub network: NetworkMode,
    /// `--security=insecure`.
    pub insecure: bool,
    /// Predefined proxy build args (`HTTP_PROXY`…) given with `--build-arg` and not
    /// declared with ARG: set in the command's environment, but kept out of the cache key
    /// and the history, as Docker does.
    pub proxy: Vec<(String, String)>,
}

/// HEALTHCHECK CMD with its options (durations in nanoseconds, as Docker stores them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthcheckSpec {
    /// `["CMD", …]` or `["CMD-SHELL", cmd]`.
    pub test: Vec<String>,
    /// `--interval`.
    pub interval: Option<i64>,
    /// `--timeout`.
    pub timeout: Option<i64>,
    /// `--start-period`.
    pub start_period: Option<i64>,
    /// `--start-interval`.
    pub start_interval: Option<i64>,
    /// `--retries`.
    pub retries: Option<i64>,
}

/// A typed instruction (FROM is the stage itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Instruction {
    /// RUN.
    Run(RunStep),
    /// COPY / ADD.
    Copy(CopyStep),
    /// ENV key=value pairs, values expanded.
    Env(Vec<(String, String)>),
    /// ARG declarations with their resolved values (not persisted in the image).
    Arg(Vec<(String, Option<String>)>),
    /// LABEL key=value pairs.
    Label(Vec<(String, String)>),
    /// MAINTAINER (recorded as the config's `author`).
    Maintainer(String),
    /// EXPOSE, normalised to `port/proto`.
    Expose(Vec<String>),
    /// VOLUME paths.
    Volume(Vec<String>),
    /// USER.
    User(String),
    /// WORKDIR, resolved to an absolute path.
    Workdir(String),
    /// CMD.
    Cmd(Command),
    /// ENTRYPOINT.
    Entrypoint(Command),
    /// SHELL.
    Shell(Vec<String>),
    /// STOPSIGNAL.
    StopSignal(String),
    /// HEALTHCHECK (`None` for `HEALTHCHECK NONE`).
    Healthcheck(Option<HealthcheckSpec>),
    /// ONBUILD trigger text (stored in the config).
    Onbuild(String),
}
