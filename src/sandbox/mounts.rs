//! `RUN --mount` support: turning the planner's [`MountSpec`] into a
//! [`ResolvedMount`] (or a secret file / variable), and leasing cache directories.
//!
//! Cache mounts persist in `cache-mounts/<sha256(id)>[-N]/` of the store, outside every
//! layer. `sharing=locked` holds an exclusive lock for the step; `private` takes the
//! first instance nobody holds (`-1`, `-2`… are made as needed); `shared` uses the main
//! one. A new cache directory is prepared in the store's `tmp/` (seeded from `from=`,
//! given `mode`/`uid`/`gid`) and renamed into place, so a half-made one is never used.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::error::SandboxError;
use super::spec::{CacheMount, CacheSharing, ExtraFile, ResolvedMount};
use crate::digest::Digest;
use crate::fsutil::FileLock;
use crate::plan::{MountKind, MountSpec};

/// How a `type=secret` mount is provided (its `Debug` never shows the value).
#[derive(Clone, PartialEq, Eq)]
pub enum SecretUse {
    /// As a file (add it to [`RunSpec::extra_files`](super::RunSpec::extra_files)).
    File(ExtraFile),
    /// As an environment variable (add it to the step's env only, never to the cache
    /// key or the image config).
    Env {
        /// Variable name.
        name: String,
        /// Value.
        value: String,
    },
}

impl std::fmt::Debug for SecretUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl std::fmt::Display for SecretUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretUse::File(x) => write!(f, "secret file {}", x.target),
            SecretUse::Env { name, .. } => write!(f, "secret variable {name}"),
        }
    }
}

/// A `type=secret` mount with its value (`None` when the build has no such secret):
/// a file at `target` (default `/run/secrets/<id>`, mode 0400) and/or a variable
/// (`env=`). A missing optional secret yields nothing; a missing `required` one is an
/// error.
pub fn secret_mount(
    spec: &MountSpec,
    value: Option<&[u8]>,
) -> Result<Vec<SecretUse>, SandboxError> {
    let id = match (&spec.id, &spec.target) {
        (Some(id), _) if !id.is_empty() => id.clone(),
        (_, Some(t)) => t.rsplit('/').next().unwrap_or_default().to_string(),
        _ => String::new(),
    };
    if id.is_empty() {
        return Err(SandboxError::Invalid(
            "secret mount needs an id or a target".into(),
        ));
    }
    let Some(value) = value else {
        return if spec.required {
            Err(SandboxError::SecretNotFound(id))
        } else {
            Ok(Vec::new())
        };
    };
    let mut uses = Vec::new();
    if let Some(name) = &spec.env {
        uses.push(SecretUse::Env {
            name: name.clone(),
            value: String::from_utf8_lossy(value).into_owned(),
        });
    }
    if spec.env.is_none() || spec.target.is_some() {
        uses.push(SecretUse::File(ExtraFile {
            target: spec
                .target
                .clone()
                .unwrap_or_else(|| format!("/run/secrets/{id}")),
            contents: value.to_vec(),
            mode: spec.mode.unwrap_or(0o400),
            uid: spec.uid.unwrap_or(0),
            gid: spec.gid.unwrap_or(0),
        }));
    }
    Ok(uses)
}

/// Converts a bind, cache or tmpfs mount. `source_layers` is the tree a bind reads from
/// (the context dir, or a stage's snapshots top first); `seed` the host dir a cache is
/// seeded from when it has `from=`. Secrets go through [`secret_mount`]; SSH is not
/// supported.
pub fn resolve_mount(
    spec: &MountSpec,
    source_layers: Vec<PathBuf>,
    seed: Option<PathBuf>,
) -> Result<ResolvedMount, SandboxError> {
    let target = || {
        spec.target
            .clone()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| SandboxError::Invalid("mount target is missing".into()))
    };
    match spec.kind {
        MountKind::Bind => Ok(ResolvedMount::Bind {
            target: target()?,
            source_layers,
            source: spec.source.clone().unwrap_or_else(|| "/".into()),
            readwrite: spec.readwrite,
        }),
        MountKind::Cache => {
            let target = target()?;
            Ok(ResolvedMount::Cache(CacheMount {
                id: spec
                    .id
                    .clone()
                    .filter(|i| !i.is_empty())
                    .unwrap_or_else(|| target.clone()),
                target,
                sharing: spec.sharing.into(),
                mode: spec.mode.unwrap_or(0o755),
                uid: spec.uid.unwrap_or(0),
                gid: spec.gid.unwrap_or(0),
                seed,
                readonly: !spec.readwrite,
            }))
        }
        MountKind::Tmpfs => Ok(ResolvedMount::Tmpfs {
            target: target()?,
            size: spec.size,
        }),
        MountKind::Secret => Err(SandboxError::Invalid(
            "secret mounts go through secret_mount".into(),
        )),
        MountKind::Ssh => Err(SandboxError::Unsupported("RUN --mount=type=ssh")),
    }
}

/// A cache directory held for one step.
pub(crate) struct CacheLease {
    /// The directory to bind.
    pub dir: PathBuf,
    _lock: Option<FileLock>,
}

impl std::fmt::Debug for CacheLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheLease")
            .field("dir", &self.dir)
            .finish()
    }
}

/// Leases the directory for cache mount `m`.
pub(crate) fn lease_cache(
    cache_root: &Path,
    tmp: &Path,
    m: &CacheMount,
) -> Result<CacheLease, SandboxError> {
    std::fs::create_dir_all(cache_root).map_err(SandboxError::at(cache_root))?;
    let key = Digest::of(m.id.as_bytes()).hex();
    let instance = |n: usize| {
        if n == 0 {
            key.clone()
        } else {
            format!("{key}-{n}")
        }
    };
    let lock_path = |name: &str| cache_root.join(format!("{name}.lock"));
    let (name, lock) = match m.sharing {
        CacheSharing::Shared => (instance(0), None),
        CacheSharing::Locked => {
            let p = lock_path(&instance(0));
            (
                instance(0),
                Some(FileLock::exclusive(&p).map_err(SandboxError::at(&p))?),
            )
        }
        CacheSharing::Private => {
            let mut n = 0;
            loop {
                let p = lock_path(&instance(n));
                if let Some(l) = FileLock::try_exclusive(&p).map_err(SandboxError::at(&p))? {
                    break (instance(n), Some(l));
                }
                n += 1;
            }
        }
    };
    let dir = cache_root.join(&name);
    if !dir.is_dir() {
        create_cache_dir(&dir, tmp, m)?;
    }
    Ok(CacheLease { dir, _lock: lock })
}

fn create_cache_dir(dir: &Path, tmp: &Path, m: &CacheMount) -> Result<(), SandboxError> {
    let staging = tempfile::Builder::new()
        .prefix("cache-mount-")
        .tempdir_in(tmp)
        .map_err(SandboxError::at(tmp))?;
    if let Some(seed) = &m.seed {
        crate::layer::copy_merged(std::slice::from_ref(seed), staging.path())?;
    }
    let p = staging.path();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m.mode))
        .map_err(SandboxError::at(p))?;
    if rustix::process::geteuid().is_root() {
        std::os::unix::fs::lchown(p, Some(m.uid), Some(m.gid)).map_err(SandboxError::at(p))?;
    }
    match rustix::fs::renameat_with(
        rustix::fs::CWD,
        p,
        rustix::fs::CWD,
        dir,
        rustix::fs::RenameFlags::NOREPLACE,
    ) {
        Ok(()) => {
            let _ = staging.keep();
            Ok(())
        }
        // Another step made it first: use theirs (the TempDir removes ours).
        Err(rustix::io::Errno::EXIST | rustix::io::Errno::NOTEMPTY) => Ok(()),
        Err(e) => Err(SandboxError::io(dir, e.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: MountKind) -> MountSpec {
        MountSpec {
            readwrite: true,
            ..MountSpec::new(kind)
        }
    }

    #[test]
    fn secret_defaults_and_requirements() {
        let mut s = spec(MountKind::Secret);
        s.id = Some("tok".into());
        let uses = secret_mount(&s, Some(b"abc")).unwrap();
        let SecretUse::File(f) = &uses[0] else {
            panic!("{uses:?}")
        };
        assert_eq!(
            (f.target.as_str(), f.mode, f.contents.as_slice()),
            ("/run/secrets/tok", 0o400, &b"abc"[..])
        );
        assert!(secret_mount(&s, None).unwrap().is_empty());
        s.required = true;
        assert_eq!(
            secret_mount(&s, None).unwrap_err().to_string(),
            "secret tok: not found"
        );
        s.env = Some("TOKEN".into());
        let uses = secret_mount(&s, Some(b"abc")).unwrap();
        assert_eq!(
            uses,
            [SecretUse::Env {
                name: "TOKEN".into(),
                value: "abc".into()
            }]
        );
        let mut t = spec(MountKind::Secret);
        t.target = Some("/etc/key.pem".into());
        let uses = secret_mount(&t, Some(b"k")).unwrap();
        assert!(matches!(&uses[0], SecretUse::File(f) if f.target == "/etc/key.pem"));
        let shown = format!("{uses:?} {:?}", secret_mount(&s, Some(b"hunter2")).unwrap());
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn ssh_is_refused_and_cache_id_defaults_to_target() {
        let err = resolve_mount(&spec(MountKind::Ssh), vec![], None).unwrap_err();
        assert_eq!(err.to_string(), "RUN --mount=type=ssh is not supported");
        let mut c = spec(MountKind::Cache);
        c.target = Some("/root/.cache".into());
        let ResolvedMount::Cache(m) = resolve_mount(&c, vec![], None).unwrap() else {
            panic!()
        };
        assert_eq!(
            (m.id.as_str(), m.mode, m.readonly),
            ("/root/.cache", 0o755, false)
        );
    }

    #[test]
    fn private_caches_get_separate_instances_while_held() {
        let root = tempfile::tempdir().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let m = CacheMount {
            target: "/c".into(),
            id: "x".into(),
            sharing: CacheSharing::Private,
            mode: 0o700,
            uid: 0,
            gid: 0,
            seed: None,
            readonly: false,
        };
        let a = lease_cache(root.path(), tmp.path(), &m).unwrap();
        let b = lease_cache(root.path(), tmp.path(), &m).unwrap();
        assert_ne!(a.dir, b.dir);
        let mode = std::fs::metadata(&a.dir).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o700);
        drop(a);
        let c = lease_cache(root.path(), tmp.path(), &m).unwrap();
        assert!(
            !c.dir.to_string_lossy().ends_with("-1"),
            "the released instance is reused"
        );
    }
}
