//! The `--metadata-file` a build writes, as far as the bench reads it: per-step timings
//! and cache results, and the build's counters.
//!
//! Parsing is lenient where the contract may grow: unknown keys are ignored and
//! `rbuild.stats` is read as an open map of counters, so a new counter reaches the report
//! without a change here.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::BenchError;

/// One step as the build reported it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StepMeta {
    /// Stage label (`AS` name, else `stage-N`).
    pub stage: String,
    /// The instruction as written (`COPY src/ /app/src/`).
    pub instruction: String,
    /// Answered by the cache.
    pub cached: bool,
    /// Wall time of the step.
    pub duration_ms: f64,
    /// Why it missed the cache, in one line.
    #[serde(default)]
    pub miss_reason: Option<String>,
}

/// What the bench needs from one build's metadata file.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct BuildMetadata {
    /// The image manifest digest.
    #[serde(rename = "containerimage.digest", default)]
    pub image_digest: Option<String>,
    /// Steps in the order the build recorded them.
    #[serde(rename = "rbuild.steps", default)]
    pub steps: Vec<StepMeta>,
    /// Counters (`files_walked`, `bytes_hashed`, `layer_bytes_written`, …).
    #[serde(rename = "rbuild.stats", default, deserialize_with = "counters")]
    pub stats: BTreeMap<String, u64>,
}

/// Keeps the counters that are non-negative integers; anything else is not a counter.
fn counters<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<String, u64>, D::Error> {
    let raw = BTreeMap::<String, serde_json::Value>::deserialize(d)?;
    Ok(raw
        .into_iter()
        .filter_map(|(k, v)| v.as_u64().map(|n| (k, n)))
        .collect())
}

impl BuildMetadata {
    /// Reads and parses the file a build wrote.
    pub fn read(path: &Path) -> Result<BuildMetadata, BenchError> {
        let bytes = fs_err::read(path).map_err(BenchError::Io)?;
        serde_json::from_slice(&bytes).map_err(|source| BenchError::Metadata {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Steps answered by the cache.
    pub fn hits(&self) -> u64 {
        self.steps.iter().filter(|s| s.cached).count() as u64
    }

    /// Steps that ran.
    pub fn misses(&self) -> u64 {
        self.steps.iter().filter(|s| !s.cached).count() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_contract_fields_and_ignores_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.json");
        std::fs::write(
            &p,
            r#"{
              "containerimage.digest": "sha256:aa",
              "containerimage.config.digest": "sha256:bb",
              "image.name": "app:1",
              "containerimage.descriptor": {"size": 3},
              "rbuild.steps": [
                {"stage": "stage-0", "instruction": "FROM scratch", "cached": true, "duration_ms": 0.5, "miss_reason": null},
                {"stage": "stage-0", "instruction": "COPY a /a", "cached": false, "duration_ms": 2.0, "miss_reason": "file a changed"}
              ],
              "rbuild.stats": {"files_walked": 3, "bytes_hashed": 10, "layer_bytes_written": 99, "note": "x"}
            }"#,
        )
        .unwrap();
        let m = BuildMetadata::read(&p).unwrap();
        assert_eq!(m.image_digest.as_deref(), Some("sha256:aa"));
        assert_eq!(m.steps.len(), 2);
        assert_eq!(m.steps[1].miss_reason.as_deref(), Some("file a changed"));
        assert_eq!((m.hits(), m.misses()), (1, 1));
        assert_eq!(m.stats["layer_bytes_written"], 99);
        assert!(!m.stats.contains_key("note"));
    }

    #[test]
    fn a_broken_file_names_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.json");
        std::fs::write(&p, "{\"rbuild.steps\": 3}").unwrap();
        let err = BuildMetadata::read(&p).unwrap_err().to_string();
        assert!(err.contains("m.json"), "{err}");
    }
}
