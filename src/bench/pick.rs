//! Which file the `changed` scenario edits when no `--change` is given.
//!
//! The rule, simple enough to predict: the most recently modified regular file of the
//! context that the build would receive and that is not the Dockerfile or an ignore
//! file. "Would receive" follows `.dockerignore` roughly: each pattern is matched against
//! the whole path from the context root (`**` for any number of directories, `!` to
//! re-include, the last match winning, a matched directory excluding what is under it),
//! but a file under an excluded directory is never re-included. When the guess is wrong
//! (no step uses the file), the report says so and `--change PATH` picks another.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use walkdir::WalkDir;

use super::{BenchError, walk_error};

/// The file to change by default, relative to `context`: see the module doc. `dockerfile`
/// is the Dockerfile's path when it lies inside the context (relative to it).
pub fn default_change(context: &Path, dockerfile: &Path) -> Result<Option<PathBuf>, BenchError> {
    let ignore = dockerignore(context, dockerfile)?;
    let mut skip: Vec<PathBuf> = vec![dockerfile.to_path_buf(), PathBuf::from(".dockerignore")];
    let mut named_ignore = dockerfile.as_os_str().to_owned();
    named_ignore.push(".dockerignore");
    skip.push(named_ignore.into());

    let mut best: Option<(SystemTime, PathBuf)> = None;
    let walk = WalkDir::new(context)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            let rel = e.path().strip_prefix(context).unwrap_or(e.path());
            rel.as_os_str().is_empty() || !ignored(&ignore, rel, e.file_type().is_dir())
        });
    for entry in walk {
        let entry = entry.map_err(walk_error)?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(context)
            .unwrap_or(entry.path())
            .to_path_buf();
        if skip.contains(&rel) {
            continue;
        }
        let mtime = entry
            .metadata()
            .map_err(walk_error)?
            .modified()
            .map_err(|e| {
                BenchError::Io(std::io::Error::new(
                    e.kind(),
                    format!("{}: {e}", entry.path().display()),
                ))
            })?;
        // Strictly newer wins, so on a tie the first path in sorted order stays.
        if best.as_ref().is_none_or(|(t, _)| mtime > *t) {
            best = Some((mtime, rel));
        }
    }
    Ok(best.map(|(_, p)| p))
}

fn ignored(ignore: &Gitignore, rel: &Path, is_dir: bool) -> bool {
    ignore.matched_path_or_any_parents(rel, is_dir).is_ignore()
}

/// The context's ignore rules: `<Dockerfile>.dockerignore` beside the Dockerfile when it
/// exists, else `.dockerignore`, each pattern anchored at the context root.
fn dockerignore(context: &Path, dockerfile: &Path) -> Result<Gitignore, BenchError> {
    let mut named = context.join(dockerfile).into_os_string();
    named.push(".dockerignore");
    let named = PathBuf::from(named);
    let file = if named.is_file() {
        named
    } else {
        context.join(".dockerignore")
    };
    let text = match fs_err::read_to_string(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e.into()),
    };
    let mut b = GitignoreBuilder::new(context);
    for line in text.lines() {
        if let Some(glob) = anchored(line) {
            // A pattern the glob syntax rejects matches nothing here (this is a guess).
            let _ = b.add_line(None, &glob);
        }
    }
    Ok(b.build().unwrap_or_else(|_| Gitignore::empty()))
}

/// A `.dockerignore` line as an anchored gitignore pattern, `None` for blanks and comments.
fn anchored(line: &str) -> Option<String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (neg, pat) = match line.strip_prefix('!') {
        Some(p) => ("!", p.trim()),
        None => ("", line),
    };
    let pat = pat.trim_start_matches('/').trim_end_matches('/');
    let pat = pat.strip_prefix("./").unwrap_or(pat);
    if pat.is_empty() || pat == "." {
        return None;
    }
    Some(format!("{neg}/{pat}"))
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::time::Duration;

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
    fn dockerignore_lines_become_anchored_globs() {
        assert_eq!(anchored("*.md"), Some("/*.md".into()));
        assert_eq!(anchored("/build/"), Some("/build".into()));
        assert_eq!(anchored("!./keep"), Some("!/keep".into()));
        assert_eq!(anchored("# comment"), None);
        assert_eq!(anchored("  "), None);
    }
}
