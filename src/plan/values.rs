//! Small value rules of instructions: COPY/ADD source kinds and destinations, WORKDIR
//! paths, STOPSIGNAL names and `--chmod` modes, as BuildKit and moby define them.

use super::instruction::CopySource;

/// A COPY/ADD source: for ADD, URLs and git repositories are told apart from paths.
pub(crate) fn copy_source(src: &str, is_add: bool) -> CopySource {
    if is_add {
        let lower = src.to_lowercase();
        let http = lower.starts_with("http://") || lower.starts_with("https://");
        let git = lower.starts_with("git@")
            || lower.starts_with("git://")
            || (http && (lower.ends_with(".git") || lower.contains(".git#")));
        if git {
            return CopySource::Git(src.to_string());
        }
        if http {
            return CopySource::Url(src.to_string());
        }
    }
    CopySource::Path(src.to_string())
}

/// WORKDIR: an absolute path as written, a relative one joined to the current one.
pub(crate) fn workdir(current: &str, new: &str) -> String {
    if new.is_empty() {
        return current.to_string();
    }
    if new.starts_with('/') {
        return new.to_string();
    }
    super::mount::clean_path(&format!("{current}/{new}"))
}

/// A COPY/ADD destination against the working directory, keeping a trailing `/` or
/// `/.` (BuildKit's `pathRelativeToWorkingDir`); absolute ones stay as written.
pub(crate) fn resolve_dest(workdir: &str, dest: &str) -> String {
    if dest.starts_with('/') {
        return dest.to_string();
    }
    let p = if dest.is_empty() || dest == "." {
        "./"
    } else {
        dest
    };
    let mut out = super::mount::clean_path(&format!("/{workdir}/{p}"));
    if p.ends_with('/') && !out.ends_with('/') {
        out.push('/');
    } else if p.ends_with("/.") {
        if out != "/" {
            out.push('/');
        }
        out.push('.');
    }
    out
}

/// moby's `signal.ParseSignal`: a positive number or a known name, `SIG` optional.
pub(crate) fn valid_signal(s: &str) -> bool {
    if let Ok(n) = s.parse::<i64>() {
        return n > 0 && n < 256;
    }
    const NAMES: &[&str] = &[
        "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT",
        "KILL", "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM",
        "TRAP", "TSTP", "TTIN", "TTOU", "UNUSED", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU",
        "XFSZ",
    ];
    let upper = s.to_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if NAMES.contains(&name) {
        return true;
    }
    // RTMIN, RTMIN+n, RTMAX-n
    name == "RTMIN"
        || name == "RTMAX"
        || name
            .strip_prefix("RTMIN+")
            .or_else(|| name.strip_prefix("RTMAX-"))
            .and_then(|n| n.parse::<u8>().ok())
            .is_some_and(|n| (1..=15).contains(&n))
}

/// `--chmod`: octal (`755`, `0644`) or symbolic (`u=rwx,g+x`), as BuildKit accepts.
pub(crate) fn check_chmod(mode: &str) -> Result<(), String> {
    if !mode.is_empty() && mode.chars().all(|c| c.is_ascii_digit()) {
        return match u32::from_str_radix(mode, 8) {
            Ok(m) if m <= 0o7777 => Ok(()),
            _ => Err(format!("invalid chmod parameter: {mode}")),
        };
    }
    let clause_ok = |clause: &str| {
        let who_end = clause
            .find(|c: char| !"ugoa".contains(c))
            .unwrap_or(clause.len());
        let rest = &clause[who_end..];
        if rest.is_empty() {
            return false;
        }
        let mut chars = rest.chars().peekable();
        let mut ops = 0;
        while let Some(op) = chars.next() {
            if !"+-=".contains(op) {
                return false;
            }
            ops += 1;
            while let Some(c) = chars.peek() {
                if "rwxXstugo".contains(*c) {
                    chars.next();
                } else {
                    break;
                }
            }
        }
        ops > 0
    };
    if !mode.is_empty() && mode.split(',').all(clause_ok) {
        Ok(())
    } else {
        Err(format!("invalid chmod parameter: {mode}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workdir_rules() {
        assert_eq!(workdir("/", "app"), "/app");
        assert_eq!(workdir("/app", "src/../lib"), "/app/lib");
        assert_eq!(workdir("/app", "/srv/"), "/srv/");
        assert_eq!(workdir("/app", ""), "/app");
        assert_eq!(workdir("/a", ".."), "/");
    }

    #[test]
    fn copy_destinations() {
        assert_eq!(resolve_dest("/", "."), "/");
        assert_eq!(resolve_dest("/app", "."), "/app/");
        assert_eq!(resolve_dest("/app", "bin"), "/app/bin");
        assert_eq!(resolve_dest("/app", "bin/"), "/app/bin/");
        assert_eq!(resolve_dest("/app", "bin/."), "/app/bin/.");
        assert_eq!(resolve_dest("/app", "../x"), "/x");
        assert_eq!(resolve_dest("/app", "/abs/./y/"), "/abs/./y/");
    }

    #[test]
    fn signals_and_chmod() {
        for s in ["SIGTERM", "term", "9", "SIGRTMIN+3", "KILL"] {
            assert!(valid_signal(s), "{s}");
        }
        for s in ["SIGFOO", "0", "-1", "", "RTMIN+20"] {
            assert!(!valid_signal(s), "{s}");
        }
        for m in ["755", "0644", "u=rwx,g=rx,o=", "a+x", "go-w", "u+s"] {
            assert!(check_chmod(m).is_ok(), "{m}");
        }
        for m in ["999", "abc", "u", "u=q", "", "77777"] {
            assert!(check_chmod(m).is_err(), "{m}");
        }
    }
}
