//! clap definitions: `rbuild build` mirrors `docker build` / `docker buildx build` flags.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// rbuild: build OCI images from Dockerfiles, without a daemon.
#[derive(Debug, Parser)]
#[command(name = "rbuild", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Store root (blobs, cache, snapshots, tags).
    #[arg(long, global = true, env = "RBUILD_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build an image from a Dockerfile (`rbuild -t app:1.0 .` is short for `rbuild build -t app:1.0 .`).
    Build(BuildArgs),
    /// Parse a Dockerfile and print its syntax tree.
    Parse(ParseArgs),
    /// Turn a rootfs tarball into a one-layer image in the store (like `docker import`).
    Import(ImportArgs),
    /// List images in the store.
    Images(ImagesArgs),
    /// Remove image tags from the store.
    Rmi(RmiArgs),
    /// Give an image another name.
    Tag(TagArgs),
    /// Write an image to an OCI or docker-archive tarball.
    Save(SaveArgs),
    /// Print an image's config JSON.
    Inspect(InspectArgs),
    /// Remove unreferenced blobs, snapshots, cache records and temp files.
    Prune(PruneArgs),
    /// Show how much disk the store uses.
    Du,
    /// Pull an image from a registry into the store.
    Pull(PullArgs),
    /// Push an image from the store to a registry.
    Push(PushArgs),
    /// Log in to a registry (writes ~/.docker/config.json).
    Login(LoginArgs),
    /// Log out of a registry.
    Logout(LogoutArgs),
    /// Time cold, no-op and changed-file rebuilds of a context.
    Bench(BenchArgs),
    /// Sandbox plumbing (run a step from JSON, unpack a layer, enter rbuild's user
    /// namespace); for tests and debugging.
    #[command(name = "__sandbox", hide = true)]
    Sandbox(super::sandbox_cmd::SandboxArgs),
}

/// How build progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ProgressMode {
    /// `tty` on a terminal, else `plain`.
    #[default]
    Auto,
    /// One line per event, BuildKit style.
    Plain,
    /// A live view.
    Tty,
    /// Nothing but errors (and the image digest).
    Quiet,
    /// JSON events, one per line.
    Rawjson,
}

/// Layer compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Compression {
    /// gzip (the default, readable everywhere).
    #[default]
    Gzip,
    /// zstd (faster, multi-threaded).
    Zstd,
    /// No compression.
    Uncompressed,
}

/// When to consult a registry for a FROM image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum PullPolicy {
    /// Never: use only the store.
    Never,
    /// Only when the store lacks the image.
    #[default]
    Missing,
    /// Always resolve the tag against the registry.
    Always,
}

/// Options of `rbuild build` (and of `rbuild bench`).
#[derive(Debug, Clone, Args, Default)]
pub struct BuildArgs {
    /// Name and optionally a tag (`name:tag`); repeatable.
    #[arg(short = 't', long = "tag", value_name = "NAME[:TAG]")]
    pub tags: Vec<String>,
    /// Dockerfile to use (default: PATH/Dockerfile; `-` reads standard input).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Set a build-time variable (`KEY=VALUE`, or `KEY` to take it from the environment).
    #[arg(long = "build-arg", value_name = "KEY[=VALUE]")]
    pub build_args: Vec<String>,
    /// Build this stage (default: the last one).
    #[arg(long)]
    pub target: Option<String>,
    /// Ignore cached steps (results are still stored).
    #[arg(long)]
    pub no_cache: bool,
    /// Pull policy for FROM images (`--pull` alone means `always`).
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "always")]
    pub pull: Option<PullPolicy>,
    /// Output destination (`type=oci|docker|local|image,dest=…`); repeatable.
    #[arg(short = 'o', long = "output", value_name = "SPEC")]
    pub outputs: Vec<String>,
    /// Target platform (`linux/amd64`); default: the host's.
    #[arg(long)]
    pub platform: Option<String>,
    /// Progress output.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
    /// Print only the image digest.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Write build results (digests, per-step timings) as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub metadata_file: Option<PathBuf>,
    /// Write the image ID to FILE.
    #[arg(long, value_name = "FILE")]
    pub iidfile: Option<PathBuf>,
    /// Secret for `RUN --mount=type=secret` (`id=ID,src=FILE` or `id=ID,env=VAR`); repeatable.
    #[arg(long = "secret", value_name = "SPEC")]
    pub secrets: Vec<String>,
    /// Default network for RUN (`default`, `none`, `host`).
    #[arg(long)]
    pub network: Option<String>,
    /// Layer compression.
    #[arg(long, value_enum, default_value_t = Compression::Gzip)]
    pub compression: Compression,
    /// Import build cache (`type=registry,ref=…` or `type=local,src=DIR`); repeatable.
    #[arg(long = "cache-from", value_name = "SPEC")]
    pub cache_from: Vec<String>,
    /// Export build cache (`type=registry,ref=…[,mode=min|max]` or `type=local,dest=DIR`); repeatable.
    #[arg(long = "cache-to", value_name = "SPEC")]
    pub cache_to: Vec<String>,
    /// Push the tagged image to its registry.
    #[arg(long)]
    pub push: bool,
    /// Registry that may be reached over plain HTTP; repeatable.
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub insecure_registries: Vec<String>,
    /// Extra CA certificate (PEM) for registries.
    #[arg(long = "tls-ca", value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// Set an image label (`KEY=VALUE`); repeatable.
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Print the build plan and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Write a Chrome trace-event JSON of the build to FILE.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Build context directory.
    #[arg(value_name = "PATH")]
    pub context: PathBuf,
}

/// Options of `rbuild parse`.
#[derive(Debug, Args)]
pub struct ParseArgs {
    /// Print BuildKit's node dump (the format of its parser test `result` files).
    #[arg(long, conflicts_with = "json")]
    pub dump: bool,
    /// Print the syntax tree as JSON.
    #[arg(long)]
    pub json: bool,
    /// The Dockerfile (`-` for standard input).
    pub file: PathBuf,
}

/// Options of `rbuild import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A tarball of a root filesystem (plain, gzip, bzip2, xz or zstd).
    pub rootfs: PathBuf,
    /// Name for the image.
    pub name: String,
}

/// Output format for listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ListFormat {
    /// A table.
    #[default]
    Table,
    /// JSON.
    Json,
}

/// Options of `rbuild images`.
#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

/// Options of `rbuild rmi`.
#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Images to untag.
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// Options of `rbuild tag`.
#[derive(Debug, Args)]
pub struct TagArgs {
    /// Existing image.
    pub source: String,
    /// New name.
    pub target: String,
}

/// Archive format for `rbuild save`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum SaveFormat {
    /// OCI image layout tarball.
    #[default]
    Oci,
    /// docker-archive (for `docker load` / `podman load`).
    Docker,
}

/// Options of `rbuild save`.
#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Image to save.
    pub name: String,
    /// Output file.
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
    /// Archive format.
    #[arg(long, value_enum, default_value_t = SaveFormat::Oci)]
    pub format: SaveFormat,
}

/// Options of `rbuild inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Image to inspect.
    pub name: String,
}

/// Options of `rbuild prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Also drop the build cache and images without a tag.
    #[arg(long)]
    pub all: bool,
}

/// Options shared by commands that talk to registries.
#[derive(Debug, Clone, Args, Default)]
pub struct RegistryArgs {
    /// Registry that may be reached over plain HTTP; repeatable.
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub insecure_registries: Vec<String>,
    /// Extra CA certificate (PEM).
    #[arg(long = "tls-ca", value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
}

/// Options of `rbuild pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// Image reference.
    pub reference: String,
    /// Platform to select from a multi-platform image.
    #[arg(long)]
    pub platform: Option<String>,
    /// Registry options.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Options of `rbuild push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// Image in the store.
    pub name: String,
    /// Destination reference (default: NAME).
    pub reference: Option<String>,
    /// Registry options.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Options of `rbuild login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Registry host (default: Docker Hub).
    pub server: Option<String>,
    /// User name.
    #[arg(short = 'u', long)]
    pub username: Option<String>,
    /// Password (prefer --password-stdin).
    #[arg(short = 'p', long)]
    pub password: Option<String>,
    /// Read the password from standard input.
    #[arg(long)]
    pub password_stdin: bool,
    /// Registry options.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Options of `rbuild logout`.
#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// Registry host (default: Docker Hub).
    pub server: Option<String>,
}

/// Report format of `rbuild bench`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum BenchFormat {
    /// A table.
    #[default]
    Table,
    /// JSON.
    Json,
}

/// Options of `rbuild bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Runs per scenario.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Warm-up runs per scenario.
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// A file whose change is timed (`changed:<path>`), relative to the context; repeatable
    /// (default: the newest file of the context that .dockerignore does not exclude).
    #[arg(long = "change", value_name = "PATH")]
    pub changes: Vec<PathBuf>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = BenchFormat::Table)]
    pub format: BenchFormat,
    /// Compare with a previous `--format json` report.
    #[arg(long, value_name = "FILE.json")]
    pub compare: Option<PathBuf>,
    /// Exit with code 3 when a scenario's median is slower than the compared one by more than PCT.
    #[arg(long, value_name = "PCT", requires = "compare")]
    pub fail_slower: Option<f64>,
    /// Build options.
    #[command(flatten)]
    pub build: BuildArgs,
}

/// Subcommand names, for the `rbuild -t x .` shorthand.
pub const SUBCOMMANDS: &[&str] = &[
    "build",
    "parse",
    "import",
    "images",
    "rmi",
    "tag",
    "save",
    "inspect",
    "prune",
    "du",
    "pull",
    "push",
    "login",
    "logout",
    "bench",
    "help",
    "__sandbox",
];

/// Inserts `build` when the first word that is not a global option is not a subcommand,
/// so `rbuild -t app:1.0 .` means `rbuild build -t app:1.0 .`.
pub fn with_implicit_build(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let mut i = 1;
    while i < args.len() {
        let a = args[i].to_string_lossy();
        if a == "--root" {
            i += 2;
            continue;
        }
        if a.starts_with("--root=") {
            i += 1;
            continue;
        }
        if SUBCOMMANDS.contains(&a.as_ref())
            || matches!(a.as_ref(), "-h" | "--help" | "-V" | "--version")
        {
            return args;
        }
        break;
    }
    if args.len() <= 1 {
        return args;
    }
    let mut out = args;
    out.insert(1, "build".into());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<std::ffi::OsString> {
        s.split_whitespace().map(Into::into).collect()
    }

    #[test]
    fn shorthand_inserts_build() {
        assert_eq!(
            with_implicit_build(words("rbuild -t a:1 .")),
            words("rbuild build -t a:1 .")
        );
        assert_eq!(
            with_implicit_build(words("rbuild --root /x -t a .")),
            words("rbuild build --root /x -t a .")
        );
        assert_eq!(
            with_implicit_build(words("rbuild .")),
            words("rbuild build .")
        );
        assert_eq!(
            with_implicit_build(words("rbuild --root /x images")),
            words("rbuild --root /x images")
        );
        assert_eq!(
            with_implicit_build(words("rbuild build .")),
            words("rbuild build .")
        );
        assert_eq!(
            with_implicit_build(words("rbuild --help")),
            words("rbuild --help")
        );
        assert_eq!(with_implicit_build(words("rbuild")), words("rbuild"));
    }

    #[test]
    fn clap_definitions_are_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
