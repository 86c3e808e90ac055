//! Fresh stores for the `cold` scenario, with the base images already in them.
//!
//! A cold run must pay for everything a first build pays for, except getting the base
//! images: those are "already pulled". So each cold store starts as a copy of the user's
//! store reduced to its images: `index.json` (every tag) and the blobs the tagged
//! manifests reach (indexes, manifests, configs, layers), hard-linked (copied when a link
//! is refused). No cache records, no unpacked snapshots, no stat caches: nothing the build
//! itself would otherwise have left behind.
//!
//! Which images a Dockerfile needs depends on build args and targets, so every tagged
//! image is seeded rather than guessing; hard links make that cheap, and it happens
//! outside the timed window. An image missing from the user's store is pulled by every
//! cold build (and timed): the bench warns when a cold build added images.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::fsutil;
use crate::image::{Index, Manifest, REF_NAME_ANNOTATION, media};
use crate::store::Store;

use super::BenchError;

/// The images to plant in every cold store.
#[derive(Debug, Clone, Default)]
pub struct Seed {
    source: PathBuf,
    index: Option<Vec<u8>>,
    blobs: BTreeSet<Digest>,
    names: BTreeSet<String>,
}

impl Seed {
    /// Reads the images of the store at `root` (nothing when it has no `index.json`).
    pub fn from_store(root: &Path) -> Result<Seed, BenchError> {
        let mut seed = Seed {
            source: root.to_path_buf(),
            ..Seed::default()
        };
        let bytes = match fs_err::read(root.join("index.json")) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(seed),
            Err(e) => return Err(e.into()),
        };
        let index: Index = match serde_json::from_slice(&bytes) {
            Ok(i) => i,
            // An unreadable index seeds nothing; the user's builds will complain about it.
            Err(_) => return Ok(seed),
        };
        for d in &index.manifests {
            if let Some(name) = d.annotation(REF_NAME_ANNOTATION) {
                seed.names.insert(name.to_string());
            }
            seed.reach(&d.media_type, &d.digest, 0);
        }
        seed.index = Some(bytes);
        Ok(seed)
    }

    /// Names of the seeded images.
    pub fn names(&self) -> &BTreeSet<String> {
        &self.names
    }

    /// How many blobs each cold store gets.
    pub fn blob_count(&self) -> usize {
        self.blobs.len()
    }

    /// Adds `digest` and, for an index or manifest, what it references. Missing blobs
    /// (layers a store fetches lazily) are skipped.
    fn reach(&mut self, media_type: &str, digest: &Digest, depth: usize) {
        let path = self.blob_path(digest);
        if depth > 8 || !path.is_file() || !self.blobs.insert(*digest) {
            return;
        }
        if media::is_index(media_type) {
            if let Some(index) = read_json::<Index>(&path) {
                for d in &index.manifests {
                    self.reach(&d.media_type, &d.digest, depth + 1);
                }
            }
        } else if media::is_manifest(media_type) {
            if let Some(m) = read_json::<Manifest>(&path) {
                self.reach(&m.config.media_type, &m.config.digest, depth + 1);
                for l in &m.layers {
                    self.reach(&l.media_type, &l.digest, depth + 1);
                }
            }
        }
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.source.join("blobs/sha256").join(digest.hex())
    }

    /// Creates a store at `root` holding the seeded images.
    pub fn plant(&self, root: &Path) -> Result<Store, BenchError> {
        let store = Store::open(root)?;
        for digest in &self.blobs {
            let dest = store.blob_path(digest);
            let src = self.blob_path(digest);
            if std::fs::hard_link(&src, &dest).is_err() && !dest.exists() {
                fs_err::copy(&src, &dest)?;
            }
        }
        if let Some(bytes) = &self.index {
            let path = store.root().join("index.json");
            fsutil::atomic_write(&path, bytes)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        }
        Ok(store)
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Names tagged in the store at `root` that point at something other than `output` (the
/// built image): images the build added, i.e. pulled.
pub fn added_images(root: &Path, seeded: &BTreeSet<String>, output: Option<&str>) -> Vec<String> {
    let Some(index) = read_json::<Index>(&root.join("index.json")) else {
        return Vec::new();
    };
    index
        .manifests
        .iter()
        .filter(|d| output != Some(d.digest.to_string().as_str()))
        .filter_map(|d| d.annotation(REF_NAME_ANNOTATION))
        .filter(|n| !seeded.contains(*n))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;
    use crate::image::Descriptor;

    #[test]
    fn plants_tagged_images_and_nothing_else() {
        let d = tempfile::tempdir().unwrap();
        let user = Store::open(&d.path().join("user")).unwrap();
        let (layer, lsize) = user.put_blob(b"layer bytes").unwrap();
        let (config, csize) = user.put_blob(b"{\"config\":1}").unwrap();
        let (orphan, _) = user.put_blob(b"an old build's layer").unwrap();
        let m = Manifest::oci(
            Descriptor::new(media::OCI_CONFIG, config, csize),
            vec![Descriptor::new(media::OCI_LAYER_GZIP, layer, lsize)],
        );
        let (mdigest, msize) = user.put_blob(&m.to_bytes()).unwrap();
        let mut index = Index::empty();
        index.manifests.push(
            Descriptor::new(media::OCI_MANIFEST, mdigest, msize)
                .with_annotation(REF_NAME_ANNOTATION, "base:1"),
        );
        std::fs::write(user.root().join("index.json"), index.to_bytes()).unwrap();
        std::fs::write(user.root().join("cache/some-record"), b"{}").unwrap();

        let seed = Seed::from_store(user.root()).unwrap();
        assert_eq!(seed.blob_count(), 3);
        assert!(seed.names().contains("base:1"));
        let cold = seed.plant(&d.path().join("cold")).unwrap();
        for digest in [layer, config, mdigest] {
            assert!(cold.has_blob(&digest));
            let (a, b) = (
                std::fs::metadata(user.blob_path(&digest)).unwrap(),
                std::fs::metadata(cold.blob_path(&digest)).unwrap(),
            );
            assert_eq!(a.ino(), b.ino(), "hard-linked");
        }
        assert!(!cold.has_blob(&orphan));
        assert_eq!(
            std::fs::read_dir(cold.root().join("cache"))
                .unwrap()
                .count(),
            0
        );
        let planted: Index =
            serde_json::from_slice(&std::fs::read(cold.root().join("index.json")).unwrap())
                .unwrap();
        assert_eq!(planted, index);

        // A build that tags its output and pulls another image.
        let output = Descriptor::new(media::OCI_MANIFEST, Digest::of(b"out"), 3)
            .with_annotation(REF_NAME_ANNOTATION, "app:1");
        let pulled = Descriptor::new(media::OCI_MANIFEST, Digest::of(b"pulled"), 6)
            .with_annotation(REF_NAME_ANNOTATION, "docker.io/library/alpine:3");
        let mut after = index.clone();
        after.manifests.extend([output, pulled]);
        std::fs::write(cold.root().join("index.json"), after.to_bytes()).unwrap();
        let out = Digest::of(b"out").to_string();
        assert_eq!(
            added_images(cold.root(), seed.names(), Some(&out)),
            vec!["docker.io/library/alpine:3".to_string()]
        );
    }

    #[test]
    fn an_empty_or_missing_store_seeds_nothing() {
        let d = tempfile::tempdir().unwrap();
        let seed = Seed::from_store(&d.path().join("nowhere")).unwrap();
        assert_eq!(seed.blob_count(), 0);
        let cold = seed.plant(&d.path().join("cold")).unwrap();
        let index: Index =
            serde_json::from_slice(&std::fs::read(cold.root().join("index.json")).unwrap())
                .unwrap();
        assert!(index.manifests.is_empty());
    }
}
