//! OCI image layouts into the store: `FROM oci-layout:///dir[:tag]` and
//! `FROM oci-archive:///file.tar[:tag]`.
//!
//! The image is chosen as skopeo chooses it: by the `org.opencontainers.image.ref.name`
//! annotation when a name is given, else the only image of the layout; an index then
//! resolves to the wanted platform. Blobs are copied (never hard-linked: a link would let
//! later edits of the source layout change content the store believes immutable) and
//! verified on the way in; blobs already in the store are not read at all.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::ImportError;
use crate::digest::Digest;
use crate::image::{Descriptor, Index, Manifest, Platform, REF_NAME_ANNOTATION, media};
use crate::store::platform::select_manifest;
use crate::store::{CONTAINERD_NAME_ANNOTATION, Store, StoreError};

/// Largest `index.json` we accept.
const MAX_INDEX: u64 = 4 << 20;

/// A parsed `oci-layout://` or `oci-archive://` reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutRef {
    /// True for `oci-archive://` (a tarball), false for `oci-layout://` (a directory).
    pub archive: bool,
    /// The directory or tarball.
    pub path: PathBuf,
    /// The image name or `sha256:` digest after the path, if any.
    pub tag: Option<String>,
}

/// Parses `oci-layout:///path[:tag]`, `oci-layout:///path@sha256:…` and the same with
/// `oci-archive://`; `None` for other references.
pub fn parse_layout_ref(reference: &str) -> Option<LayoutRef> {
    let (archive, rest) = if let Some(r) = reference.strip_prefix("oci-layout://") {
        (false, r)
    } else {
        (true, reference.strip_prefix("oci-archive://")?)
    };
    let (path, tag) = if let Some((p, d)) = rest.rsplit_once('@') {
        (p, Some(d.to_string()))
    } else {
        let slash = rest.rfind('/').map_or(0, |i| i + 1);
        match rest[slash..].find(':') {
            Some(i) => (&rest[..slash + i], Some(rest[slash + i + 1..].to_string())),
            None => (rest, None),
        }
    };
    if path.is_empty() {
        return None;
    }
    Some(LayoutRef {
        archive,
        path: PathBuf::from(path),
        tag: tag.filter(|t| !t.is_empty()),
    })
}

impl Store {
    /// Imports the image `tag` names (or the only image) from the layout directory `dir`,
    /// for the host platform; returns its manifest descriptor.
    pub fn import_oci_layout(
        &self,
        dir: &Path,
        tag: Option<&str>,
    ) -> Result<Descriptor, ImportError> {
        self.import_oci_layout_for(dir, tag, &Platform::host())
    }

    /// [`Store::import_oci_layout`] for a given platform.
    pub fn import_oci_layout_for(
        &self,
        dir: &Path,
        tag: Option<&str>,
        platform: &Platform,
    ) -> Result<Descriptor, ImportError> {
        let _guard = self.build_guard()?;
        let index_path = dir.join("index.json");
        let file = std::fs::File::open(&index_path).map_err(|e| ImportError::NotALayout {
            path: dir.to_path_buf(),
            reason: format!("cannot read index.json: {e}"),
        })?;
        let index = parse_index(dir, file)?;
        let chosen = choose(dir, &index, tag)?;
        let source = DirSource { dir };
        self.import_tree(&source, &chosen, platform, 0)
    }

    /// Imports from an OCI layout tarball (`skopeo copy … oci-archive:`); every blob of
    /// the archive is stored in one streaming pass, then the image is chosen as for a
    /// directory.
    pub fn import_oci_archive(
        &self,
        tar: &Path,
        tag: Option<&str>,
    ) -> Result<Descriptor, ImportError> {
        self.import_oci_archive_for(tar, tag, &Platform::host())
    }

    /// [`Store::import_oci_archive`] for a given platform.
    pub fn import_oci_archive_for(
        &self,
        tar: &Path,
        tag: Option<&str>,
        platform: &Platform,
    ) -> Result<Descriptor, ImportError> {
        let _guard = self.build_guard()?;
        let io = |e| ImportError::Io {
            path: tar.to_path_buf(),
            source: e,
        };
        let file = std::fs::File::open(tar).map_err(io)?;
        let reader = crate::layer::decompress(std::io::BufReader::new(file)).map_err(io)?;
        let mut archive = tar::Archive::new(reader);
        let mut index = None;
        for entry in archive.entries().map_err(io)? {
            let mut entry = entry.map_err(io)?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let name = raw.trim_start_matches("./").trim_start_matches('/');
            if name == "index.json" {
                index = Some(parse_index(tar, &mut entry)?);
            } else if let Some(hex) = name.strip_prefix("blobs/sha256/") {
                let Ok(digest) = Digest::from_hex(hex) else {
                    continue;
                };
                let size = entry.header().size().map_err(io)?;
                if !self.has_blob(&digest) {
                    let mut w = self.blob_writer()?;
                    std::io::copy(&mut entry, &mut w).map_err(io)?;
                    w.commit(Some((digest, size)))?;
                }
            }
        }
        let index = index.ok_or_else(|| ImportError::NotALayout {
            path: tar.to_path_buf(),
            reason: "the tarball has no index.json".into(),
        })?;
        let chosen = choose(tar, &index, tag)?;
        self.import_tree(&StoredSource { origin: tar }, &chosen, platform, 0)
    }

    /// Brings `desc` and what it refers to into the store; an index resolves to the
    /// manifest for `platform`, whose descriptor is returned.
    fn import_tree(
        &self,
        source: &dyn BlobSource,
        desc: &Descriptor,
        platform: &Platform,
        depth: usize,
    ) -> Result<Descriptor, ImportError> {
        if depth > 8 {
            return Err(StoreError::InvalidImage {
                digest: desc.digest,
                reason: "image indexes nested too deeply".into(),
            }
            .into());
        }
        source.fetch(self, desc)?;
        let v: serde_json::Value = self.read_small_json(&desc.digest)?;
        let is_index = media::is_index(&desc.media_type)
            || (!media::is_manifest(&desc.media_type) && v.get("manifests").is_some());
        let bad = |e: serde_json::Error| StoreError::Json {
            path: self.blob_path(&desc.digest),
            source: e,
        };
        if is_index {
            let index: Index = serde_json::from_value(v).map_err(bad)?;
            let child = select_manifest(&index, &desc.digest, platform)?;
            return self.import_tree(source, &child, platform, depth + 1);
        }
        let manifest: Manifest = serde_json::from_value(v).map_err(bad)?;
        source.fetch(self, &manifest.config)?;
        for layer in &manifest.layers {
            source.fetch(self, layer)?;
        }
        let mut out = desc.clone();
        out.annotations = None;
        if out.media_type.is_empty() || !media::is_manifest(&out.media_type) {
            out.media_type = manifest
                .media_type
                .clone()
                .unwrap_or_else(|| media::OCI_MANIFEST.to_string());
        }
        Ok(out)
    }
}

/// Where the blobs of a layout come from.
trait BlobSource {
    /// Makes sure `desc`'s blob is in the store, verified.
    fn fetch(&self, store: &Store, desc: &Descriptor) -> Result<(), ImportError>;
}

/// A layout directory.
struct DirSource<'a> {
    dir: &'a Path,
}

impl BlobSource for DirSource<'_> {
    fn fetch(&self, store: &Store, desc: &Descriptor) -> Result<(), ImportError> {
        if store.has_blob(&desc.digest) {
            return Ok(());
        }
        let path = self.dir.join("blobs/sha256").join(desc.digest.hex());
        let mut file = std::fs::File::open(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ImportError::MissingBlob {
                path: self.dir.to_path_buf(),
                digest: desc.digest,
            },
            _ => ImportError::Io {
                path: path.clone(),
                source: e,
            },
        })?;
        let mut w = store.blob_writer()?;
        std::io::copy(&mut file, &mut w).map_err(|e| ImportError::Io { path, source: e })?;
        w.commit(Some((desc.digest, desc.size)))?;
        Ok(())
    }
}

/// Blobs an archive import already stored: only check they are there.
struct StoredSource<'a> {
    origin: &'a Path,
}

impl BlobSource for StoredSource<'_> {
    fn fetch(&self, store: &Store, desc: &Descriptor) -> Result<(), ImportError> {
        match std::fs::metadata(store.blob_path(&desc.digest)) {
            Ok(m) if m.len() == desc.size => Ok(()),
            Ok(m) => Err(StoreError::DigestMismatch {
                expected: desc.digest,
                expected_size: desc.size,
                actual: desc.digest,
                actual_size: m.len(),
            }
            .into()),
            Err(_) => Err(ImportError::MissingBlob {
                path: self.origin.to_path_buf(),
                digest: desc.digest,
            }),
        }
    }
}

fn parse_index(origin: &Path, reader: impl Read) -> Result<Index, ImportError> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_INDEX + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ImportError::Io {
            path: origin.to_path_buf(),
            source: e,
        })?;
    if bytes.len() as u64 > MAX_INDEX {
        return Err(ImportError::NotALayout {
            path: origin.to_path_buf(),
            reason: "index.json is larger than 4 MiB".into(),
        });
    }
    serde_json::from_slice(&bytes).map_err(|e| ImportError::NotALayout {
        path: origin.to_path_buf(),
        reason: format!("index.json: {e}"),
    })
}

/// Picks the index entry for `tag` (a ref name, a full image name, or a digest), or the
/// only entry when no tag is given.
fn choose(origin: &Path, index: &Index, tag: Option<&str>) -> Result<Descriptor, ImportError> {
    let names: Vec<String> = index
        .manifests
        .iter()
        .filter_map(|d| d.annotation(REF_NAME_ANNOTATION).map(str::to_string))
        .collect();
    let Some(tag) = tag else {
        return match index.manifests.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(ImportError::NotALayout {
                path: origin.to_path_buf(),
                reason: "index.json lists no images".into(),
            }),
            _ => Err(ImportError::AmbiguousImage {
                path: origin.to_path_buf(),
                available: names,
            }),
        };
    };
    let by = |key: &str| {
        index
            .manifests
            .iter()
            .find(|d| d.annotation(key) == Some(tag))
            .cloned()
    };
    // Also a full name given for a layout that stores only the tag (BuildKit writes the
    // tag in ref.name and the full name in io.containerd.image.name).
    let by_full_name = || {
        let want = crate::store::names::canonical(tag).ok()?;
        index
            .manifests
            .iter()
            .find(|d| {
                d.annotation(CONTAINERD_NAME_ANNOTATION)
                    .and_then(|n| crate::store::names::canonical(n).ok())
                    .is_some_and(|n| n == want)
            })
            .cloned()
    };
    by(REF_NAME_ANNOTATION)
        .or_else(|| by(CONTAINERD_NAME_ANNOTATION))
        .or_else(by_full_name)
        .or_else(|| {
            let digest: Digest = tag.parse().ok()?;
            index.manifests.iter().find(|d| d.digest == digest).cloned()
        })
        .ok_or_else(|| ImportError::TagNotFound {
            path: origin.to_path_buf(),
            tag: tag.to_string(),
            available: names,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_layout_references() {
        assert_eq!(
            parse_layout_ref("oci-layout:///srv/img:1.0"),
            Some(LayoutRef {
                archive: false,
                path: "/srv/img".into(),
                tag: Some("1.0".into())
            })
        );
        let d = Digest::of(b"");
        assert_eq!(
            parse_layout_ref(&format!("oci-archive:///a:b/x.tar@{d}")).unwrap(),
            LayoutRef {
                archive: true,
                path: "/a:b/x.tar".into(),
                tag: Some(d.to_string())
            }
        );
        assert_eq!(parse_layout_ref("oci-layout:///p").unwrap().tag, None);
        assert_eq!(parse_layout_ref("docker://x"), None);
    }

    /// A layout directory with two tagged images written by the store itself.
    #[test]
    fn imports_by_name_and_refuses_ambiguity() {
        let src_dir = tempfile::tempdir().unwrap();
        let src = Store::open(src_dir.path()).unwrap();
        let mut config = crate::image::ImageConfig::default();
        config.config.cmd = Some(vec!["one".into()]);
        let one = src.write_image(&config, &[]).unwrap();
        config.config.cmd = Some(vec!["two".into()]);
        let two = src.write_image(&config, &[]).unwrap();
        src.tag("one", &one).unwrap();
        src.tag("two", &two).unwrap();

        let dst_dir = tempfile::tempdir().unwrap();
        let dst = Store::open(dst_dir.path()).unwrap();
        let got = dst
            .import_oci_layout(src_dir.path(), Some("two:latest"))
            .unwrap();
        assert_eq!(got.digest, two.digest);
        assert_eq!(
            dst.load_image(&got).unwrap().config.config.cmd,
            Some(vec!["two".to_string()])
        );
        let err = dst.import_oci_layout(src_dir.path(), None).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}: the layout holds 2 images; name one of: one:latest, two:latest",
                src_dir.path().display()
            )
        );
        let err = dst
            .import_oci_layout(src_dir.path(), Some("three"))
            .unwrap_err();
        assert!(matches!(err, ImportError::TagNotFound { .. }), "{err}");

        // A corrupted blob is refused and nothing is kept.
        let fresh_dir = tempfile::tempdir().unwrap();
        let fresh = Store::open(fresh_dir.path()).unwrap();
        let config_blob = src.load_image(&one).unwrap().config_descriptor.digest;
        std::fs::write(src.blob_path(&config_blob), b"{\"tampered\":1}").unwrap();
        let err = fresh
            .import_oci_layout(src_dir.path(), Some("one:latest"))
            .unwrap_err();
        assert!(err.to_string().contains("content mismatch"), "{err}");
        assert!(!fresh.has_blob(&config_blob));
    }
}
