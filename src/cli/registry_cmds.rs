//! Registry commands: pull, push, login, logout.

use std::io::Read;
use std::path::Path;

use super::Report;
use super::args::{LoginArgs, LogoutArgs, PullArgs, PushArgs, RegistryArgs};
use crate::image::{PULLED_FROM_ANNOTATION, Platform};
use crate::registry::{
    Credentials, DOCKER_HUB, DockerConfig, Reference, RegistryClient, RegistryError,
    RegistryOptions, TransferEvent, TransferPhase, normalize_registry, parse_platform,
};

/// Runs `rbuild pull`: prints the manifest digest.
pub fn pull(root: &Path, a: PullArgs) -> Result<(), Report> {
    let reference = Reference::parse(&a.reference).map_err(Report::from)?;
    let platform = match &a.platform {
        Some(p) => parse_platform(p).map_err(report)?,
        None => Platform::host(),
    };
    let store = super::open_store(root)?;
    // Held while blobs land in the store, so a concurrent prune waits for us.
    let _guard = store.build_guard().map_err(Report::from)?;
    let client = RegistryClient::new(options(&a.registry));
    let progress = |e: &TransferEvent| print_event(e, "Pull complete", "Already exists");
    let image = client
        .pull(&store, &reference, &platform, &progress)
        .map_err(report)?;
    // Marked as pulled: builds re-resolve its tag against the registry.
    let desc = image
        .manifest_descriptor
        .clone()
        .with_annotation(PULLED_FROM_ANNOTATION, &reference.to_string());
    store
        .tag(&reference.familiar(), &desc)
        .map_err(Report::from)?;
    println!("{}", image.manifest_descriptor.digest);
    Ok(())
}

/// Runs `rbuild push`: prints the pushed manifest digest.
pub fn push(root: &Path, a: PushArgs) -> Result<(), Report> {
    let store = super::open_store(root)?;
    let desc = store
        .resolve(&a.name)
        .map_err(Report::from)?
        .ok_or_else(|| {
            Report::msg(format!("no image named {} in the store", a.name))
                .with_hint("rbuild images lists the images; rbuild tag gives one another name")
        })?;
    let target =
        Reference::parse(a.reference.as_deref().unwrap_or(&a.name)).map_err(Report::from)?;
    let client = RegistryClient::new(options(&a.registry));
    let progress = |e: &TransferEvent| print_event(e, "Pushed", "Layer already exists");
    // Through the build cache's lazy blobs: a layer a cache import made a hit without
    // downloading it is fetched only if the registry neither has it nor can mount it.
    let digest = crate::cache::LazyBlobs::new(&store, &client)
        .push(&desc, &target, &progress)
        .map_err(|e| super::build::cache_report(&e).context(format!("pushing {target}")))?;
    println!("{digest}");
    Ok(())
}

/// Runs `rbuild login`: checks the credentials with the registry, then saves them.
pub fn login(a: LoginArgs) -> Result<(), Report> {
    let registry = normalize_registry(a.server.as_deref().unwrap_or(DOCKER_HUB));
    let username = a
        .username
        .clone()
        .filter(|u| !u.is_empty())
        .ok_or_else(|| {
            Report::msg("a user name is required")
                .with_hint("rbuild login [SERVER] -u USER --password-stdin")
        })?;
    let password = match (&a.password, a.password_stdin) {
        (Some(_), true) => {
            return Err(Report::msg(
                "--password and --password-stdin are mutually exclusive",
            ));
        }
        (Some(p), false) => {
            eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
            p.clone()
        }
        (None, true) => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).map_err(|e| {
                Report::msg(format!("reading the password from standard input: {e}"))
            })?;
            s.trim_end_matches(['\n', '\r']).to_string()
        }
        (None, false) => {
            return Err(Report::msg("a password is required")
                .with_hint("pass it on standard input with --password-stdin"));
        }
    };
    if password.is_empty() {
        return Err(Report::msg("the password is empty"));
    }
    let opts = options(&a.registry);
    let creds = Credentials {
        username,
        password,
        identity_token: None,
    };
    let client = RegistryClient::new(opts.clone());
    client
        .check_credentials(&registry, creds.clone())
        .map_err(|e| match e {
            RegistryError::Unauthorized { .. } => Report::from_error(&e)
                .with_hint("check the user name and password; nothing was saved"),
            e => report(e),
        })?;
    let path = opts
        .docker_config
        .clone()
        .unwrap_or_else(DockerConfig::default_path);
    let mut config = DockerConfig::load(&path).map_err(report)?;
    config.store(&registry, &creds).map_err(report)?;
    config.save().map_err(report)?;
    println!("Login Succeeded");
    Ok(())
}

/// Runs `rbuild logout`.
pub fn logout(a: LogoutArgs) -> Result<(), Report> {
    let registry = normalize_registry(a.server.as_deref().unwrap_or(DOCKER_HUB));
    let path = DockerConfig::default_path();
    let mut config = DockerConfig::load(&path).map_err(report)?;
    if !config.remove(&registry).map_err(report)? {
        println!("Not logged in to {registry}");
        return Ok(());
    }
    config.save().map_err(report)?;
    println!("Removing login credentials for {registry}");
    Ok(())
}

/// Registry options from the command line and the environment.
fn options(a: &RegistryArgs) -> RegistryOptions {
    RegistryOptions {
        insecure_registries: a.insecure_registries.clone(),
        tls_ca: a.tls_ca.clone(),
        ..RegistryOptions::from_env()
    }
}

/// A registry error as a report, with its hint.
fn report(e: RegistryError) -> Report {
    let hint = e.hint();
    let r = Report::from_error(&e);
    match hint {
        Some(h) => r.with_hint(h),
        None => r,
    }
}

/// One line per finished blob on standard error, as `docker pull` prints.
fn print_event(e: &TransferEvent, done: &str, skipped: &str) {
    let what = match e.phase {
        TransferPhase::Done => done,
        TransferPhase::Skipped => skipped,
        TransferPhase::Mounted => "Mounted from another repository",
        TransferPhase::Start | TransferPhase::Progress => return,
    };
    eprintln!("{}: {what}", e.digest.short());
}
