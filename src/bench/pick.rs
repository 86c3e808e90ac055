//! Which file the `changed` scenario edits when no `--change` is given.
//!
//! The rule, simple enough to predict: the most recently modified regular file of the
//! context that the build would receive (the build context's own walk, with Docker's
//! `.dockerignore` rules, re-inclusions and `<Dockerfile>.dockerignore` included) and
//! that is not the Dockerfile or an ignore file. When the guess is wrong (no step uses
//! the file), the report says so and `--change PATH` picks another.

use std::path::{Path, PathBuf};

use super::BenchError;
use crate::context::{Context, Kind};

/// The file to change by default, relative to `context`: see the module doc. `dockerfile`
/// is the Dockerfile's path when it lies inside the context (relative to it).
pub fn default_change(context: &Path, dockerfile: &Path) -> Result<Option<PathBuf>, BenchError> {
    let ctx = Context::open(context, Some(&context.join(dockerfile)), None)
        .map_err(|e| BenchError::Io(std::io::Error::other(e.to_string())))?;
    let index = ctx
        .walk()
        .map_err(|e| BenchError::Io(std::io::Error::other(e.to_string())))?;
    let dockerfile = dockerfile.to_string_lossy();
    let named_ignore = format!("{dockerfile}.dockerignore");
    let skip = [dockerfile.as_ref(), ".dockerignore", named_ignore.as_str()];
    let mut best: Option<(i64, &str)> = None;
    for e in index.entries() {
        if e.meta.kind != Kind::File || skip.contains(&e.path.as_str()) {
            continue;
        }
        // Strictly newer wins, so on a tie the first path in walk order stays.
        if best.is_none_or(|(t, _)| e.meta.mtime_ns > t) {
            best = Some((e.meta.mtime_ns, &e.path));
        }
    }
    Ok(best.map(|(_, p)| PathBuf::from(p)))
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::time::{Duration, SystemTime};

    use super::*;

    fn touch(dir: &Path, rel: &str, age_secs: u64) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, rel).unwrap();
        let t = SystemTime::now() - Duration::from_secs(age_secs);
        File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(t)
            .unwrap();
    }

    #[test]
    fn picks_the_newest_file_the_build_receives() {
        let d = tempfile::tempdir().unwrap();
        touch(d.path(), "Dockerfile", 0);
        touch(d.path(), ".dockerignore", 0);
        std::fs::write(d.path().join(".dockerignore"), "*.log\nbuild/\n!keep.log\n").unwrap();
        touch(d.path(), "app.log", 1); // ignored
        touch(d.path(), "build/out.o", 2); // under an ignored directory
        touch(d.path(), "src/old.c", 100);
        touch(d.path(), "src/new.c", 50);
        touch(d.path(), "docs/a.log", 3); // `*.log` is anchored: not ignored here
        let got = default_change(d.path(), Path::new("Dockerfile")).unwrap();
        assert_eq!(got, Some(PathBuf::from("docs/a.log")));

        touch(d.path(), "keep.log", 2); // re-included by `!keep.log`
        let got = default_change(d.path(), Path::new("Dockerfile")).unwrap();
        assert_eq!(got, Some(PathBuf::from("keep.log")));
    }

    #[test]
    fn skips_a_named_dockerfile_and_its_ignore_file() {
        let d = tempfile::tempdir().unwrap();
        touch(d.path(), "a.txt", 100);
        touch(d.path(), "ci/app.Dockerfile", 0);
        touch(d.path(), "ci/app.Dockerfile.dockerignore", 0);
        touch(d.path(), "b.txt", 10);
        std::fs::write(d.path().join("ci/app.Dockerfile.dockerignore"), "b.txt\n").unwrap();
        // The named ignore file takes precedence over .dockerignore (which would keep b.txt).
        std::fs::write(d.path().join(".dockerignore"), "a.txt\n").unwrap();
        let got = default_change(d.path(), Path::new("ci/app.Dockerfile")).unwrap();
        assert_eq!(got, Some(PathBuf::from("a.txt")));
    }

    #[test]
    fn none_when_the_context_has_only_the_dockerfile() {
        let d = tempfile::tempdir().unwrap();
        touch(d.path(), "Dockerfile", 0);
        assert_eq!(
            default_change(d.path(), Path::new("Dockerfile")).unwrap(),
            None
        );
    }

    #[test]
    fn ties_go_to_the_first_path() {
        let d = tempfile::tempdir().unwrap();
        let t = SystemTime::now() - Duration::from_secs(5);
        for name in ["b", "a", "c"] {
            let p = d.path().join(name);
            std::fs::write(&p, name).unwrap();
            File::options()
                .write(true)
                .open(&p)
                .unwrap()
                .set_modified(t)
                .unwrap();
        }
        assert_eq!(
            default_change(d.path(), Path::new("Dockerfile")).unwrap(),
            Some(PathBuf::from("a"))
        );
    }

    #[test]
    fn re_included_files_under_an_excluded_directory_count() {
        let d = tempfile::tempdir().unwrap();
        touch(d.path(), "Dockerfile", 0);
        touch(d.path(), ".dockerignore", 0);
        std::fs::write(d.path().join(".dockerignore"), "logs\n!logs/keep.log\n").unwrap();
        touch(d.path(), "old.txt", 100);
        touch(d.path(), "logs/drop.log", 1);
        touch(d.path(), "logs/keep.log", 10);
        assert_eq!(
            default_change(d.path(), Path::new("Dockerfile")).unwrap(),
            Some(PathBuf::from("logs/keep.log"))
        );
    }
}
