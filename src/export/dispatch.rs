//! One entry point for `-o/--output`: runs the exporter an [`OutputSpec`] names.
//!
//! Tarballs go to a file (written atomically: a failed export leaves no half archive) or
//! to standard output, which must not be a terminal, as buildx refuses too. `type=image`
//! tags the image in the store; pushing is left to the caller (the registry module),
//! which [`ExportOutcome::push`] tells.

use std::io::{IsTerminal, Write};
use std::path::Path;

use super::spec::{Dest, OutputSpec, OutputType};
use super::{
    ExportError, export_local, write_docker_archive, write_oci_archive, write_oci_dir,
    write_rootfs_tar,
};
use crate::fsutil::AtomicFile;
use crate::image::{Descriptor, Platform};
use crate::store::Store;

/// What an export did that the caller may need to act on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportOutcome {
    /// Names tagged in the store (`type=image`/`registry`).
    pub tagged: Vec<String>,
    /// The caller should push `tagged` (`push=true`, `type=registry`).
    pub push: bool,
    /// Device nodes a local export skipped (creating them needs root).
    pub skipped_devices: usize,
}

/// Exports the image `desc` as `spec` says. `default_names` (the build's `-t` tags) name
/// the image when the spec has no `name=`.
pub fn export(
    store: &Store,
    desc: &Descriptor,
    spec: &OutputSpec,
    default_names: &[String],
) -> Result<ExportOutcome, ExportError> {
    let names: Vec<String> = if spec.names.is_empty() {
        default_names.to_vec()
    } else {
        spec.names.clone()
    };
    let mut outcome = ExportOutcome::default();
    match spec.kind {
        OutputType::Image | OutputType::Registry => {
            for n in &names {
                store.tag(n, desc)?;
            }
            outcome.tagged = names;
            outcome.push = spec.push;
        }
        OutputType::Oci if !spec.tar => write_oci_dir(store, desc, &names, &dir_dest(spec)?)?,
        OutputType::Docker if !spec.tar => {
            // A docker layout directory is the OCI layout plus manifest.json; the OCI
            // directory is what tools read, so write that.
            write_oci_dir(store, desc, &names, &dir_dest(spec)?)?
        }
        OutputType::Oci => to_dest(spec, |w| {
            write_oci_archive(store, desc, &names, w).map(drop)
        })?,
        OutputType::Docker => to_dest(spec, |w| {
            write_docker_archive(store, desc, &names, w).map(drop)
        })?,
        OutputType::Tar => {
            let layers = store
                .load_image_for(desc, &Platform::host())?
                .manifest
                .layers;
            to_dest(spec, |w| write_rootfs_tar(store, &layers, w).map(drop))?
        }
        OutputType::Local => {
            let layers = store
                .load_image_for(desc, &Platform::host())?
                .manifest
                .layers;
            outcome.skipped_devices =
                export_local(store, &layers, &dir_dest(spec)?)?.skipped_devices;
        }
    }
    Ok(outcome)
}

fn dir_dest(spec: &OutputSpec) -> Result<std::path::PathBuf, ExportError> {
    match &spec.dest {
        Some(Dest::Path(p)) => Ok(p.clone()),
        _ => Err(ExportError::InvalidOutput {
            spec: format!("{spec:?}"),
            reason: "this output writes a directory: give dest=DIR".into(),
        }),
    }
}

/// Runs `write` on the spec's file (atomically) or on standard output.
fn to_dest(
    spec: &OutputSpec,
    write: impl FnOnce(&mut dyn Write) -> Result<(), ExportError>,
) -> Result<(), ExportError> {
    match &spec.dest {
        Some(Dest::Path(p)) => write_file(p, write),
        Some(Dest::Stdout) | None => {
            let stdout = std::io::stdout();
            if stdout.is_terminal() {
                return Err(ExportError::InvalidOutput {
                    spec: format!("{spec:?}"),
                    reason: "refusing to write a tarball to a terminal: give dest=FILE or redirect standard output".into(),
                });
            }
            let mut lock = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
            write(&mut lock)?;
            lock.flush().map_err(|e| ExportError::Io {
                path: "<stdout>".into(),
                source: e,
            })
        }
    }
}

/// Writes a file atomically: the archive appears complete or not at all.
pub fn write_file(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> Result<(), ExportError>,
) -> Result<(), ExportError> {
    let io = |e| ExportError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let mut file = AtomicFile::create(path).map_err(io)?;
    {
        let mut buf = std::io::BufWriter::with_capacity(1 << 20, &mut file);
        write(&mut buf)?;
        buf.flush().map_err(io)?;
    }
    file.commit().map_err(io)
}
