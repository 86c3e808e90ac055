//! History entries as BuildKit writes them (`created_by` text, `empty_layer`), so
//! `docker history` of an rbuild image reads like one built by BuildKit.

use crate::dockerfile::goquote;
use crate::plan::{Command, CopySource, Instruction, Step};

/// The `comment` BuildKit puts on every history entry.
pub const HISTORY_COMMENT: &str = "buildkit.dockerfile.v0";

/// The `created_by` text of a step and whether it makes a layer; `None` for steps that
/// leave no history (ONBUILD). `run_argv` is the argv a RUN executes.
pub fn created_by(step: &Step, run_argv: Option<&[String]>) -> Option<(String, bool)> {
    let text = match &step.instruction {
        Instruction::Run(_) => {
            let argv = run_argv.unwrap_or(&[]);
            return Some((
                format!("RUN {} # buildkit", run_command_string(argv, &step.args)),
                true,
            ));
        }
        Instruction::Copy(c) => {
            let mut msg = String::from(if c.is_add { "ADD" } else { "COPY" });
            if c.parents {
                msg.push_str(" --parents");
            }
            if let Some(ch) = &c.chown {
                msg.push_str(&format!(" --chown={ch}"));
            }
            if let Some(m) = &c.chmod {
                msg.push_str(&format!(" --chmod={m}"));
            }
            for s in &c.sources {
                match s {
                    CopySource::Path(p) | CopySource::Url(p) | CopySource::Git(p) => {
                        msg.push_str(&format!(" {p}"))
                    }
                    CopySource::Heredoc(_) => {}
                }
            }
            for s in &c.sources {
                if let CopySource::Heredoc(h) = s {
                    msg.push_str(&format!(" <<{}", h.name));
                }
            }
            msg.push_str(&format!(" {} # buildkit", c.dest_written));
            return Some((msg, true));
        }
        Instruction::Workdir(wd) => return Some((format!("WORKDIR {wd}"), wd != "/")),
        Instruction::Env(pairs) => {
            let mut msg = String::from("ENV");
            for (k, v) in pairs {
                msg.push_str(&format!(" {k}={v}"));
            }
            msg
        }
        Instruction::Arg(args) => {
            let parts: Vec<String> = args
                .iter()
                .map(|(k, v)| match v {
                    Some(v) => format!("{k}={v}"),
                    None => k.clone(),
                })
                .collect();
            format!("ARG {}", parts.join(" "))
        }
        Instruction::Label(pairs) => {
            let mut msg = String::from("LABEL");
            for (k, v) in pairs {
                msg.push_str(&format!(" {k}={v}"));
            }
            msg
        }
        Instruction::Maintainer(m) => format!("MAINTAINER {m}"),
        Instruction::Expose(ports) => format!("EXPOSE [{}]", ports.join(" ")),
        Instruction::Volume(v) => format!("VOLUME [{}]", v.join(" ")),
        Instruction::User(u) => format!("USER {u}"),
        Instruction::Cmd(_) => format!(
            "CMD {}",
            go_quoted_list(step.config.cmd.as_deref().unwrap_or(&[]))
        ),
        Instruction::Entrypoint(_) => {
            format!(
                "ENTRYPOINT {}",
                go_quoted_list(step.config.entrypoint.as_deref().unwrap_or(&[]))
            )
        }
        Instruction::Shell(s) => format!("SHELL [{}]", s.join(" ")),
        Instruction::StopSignal(s) => format!("STOPSIGNAL {s}"),
        Instruction::Healthcheck(_) => healthcheck_text(step),
        Instruction::Onbuild(_) => return None,
    };
    Some((text, false))
}

/// BuildKit's `runCommandString`: `|N K=V … argv…` when build args are in scope.
pub fn run_command_string(argv: &[String], args: &[(String, String)]) -> String {
    let mut parts: Vec<String> = Vec::new();
    if !args.is_empty() {
        parts.push(format!("|{}", args.len()));
        parts.extend(args.iter().map(|(k, v)| format!("{k}={v}")));
    }
    parts.extend(argv.iter().cloned());
    parts.join(" ")
}

/// Go's `fmt.Sprintf("%q", []string{…})`: `["a" "b"]`.
fn go_quoted_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| goquote(s)).collect();
    format!("[{}]", quoted.join(" "))
}

/// `HEALTHCHECK {Test:[…] Interval:30s …}` in the shape of Go's `%+v` of Docker's struct.
fn healthcheck_text(step: &Step) -> String {
    let Some(h) = &step.config.healthcheck else {
        return "HEALTHCHECK {Test:[NONE]}".to_string();
    };
    let dur = |ns: Option<i64>| go_duration(ns.unwrap_or(0));
    format!(
        "HEALTHCHECK {{Test:[{}] Interval:{} Timeout:{} StartPeriod:{} StartInterval:{} Retries:{}}}",
        h.test.as_deref().unwrap_or(&[]).join(" "),
        dur(h.interval),
        dur(h.timeout),
        dur(h.start_period),
        dur(h.start_interval),
        h.retries.unwrap_or(0)
    )
}

/// Go's `time.Duration.String()` for whole-unit values (`30s`, `1m30s`, `0s`, `500ms`).
pub fn go_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".to_string();
    }
    let neg = ns < 0;
    let ns = ns.unsigned_abs();
    let sign = if neg { "-" } else { "" };
    if ns < 1_000 {
        return format!("{sign}{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{sign}{}µs", trim_float(ns as f64 / 1e3));
    }
    if ns < 1_000_000_000 {
        return format!("{sign}{}ms", trim_float(ns as f64 / 1e6));
    }
    let total_s = ns as f64 / 1e9;
    let h = ns / 3_600_000_000_000;
    let m = (ns / 60_000_000_000) % 60;
    let s = total_s - (h * 3600 + m * 60) as f64;
    let mut out = String::from(sign);
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&format!("{}s", trim_float(s)));
    out
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.9}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// The argv a RUN step executes. The planner already turned heredocs into the shell
/// command as BuildKit does (a lone `RUN <<EOF` runs the body; anything else is
/// reassembled for the shell); what is left here is BuildKit's shebang case: a lone
/// heredoc starting with `#!` is provided as an executable file and run directly.
/// Shell forms are prefixed with the stage's SHELL (default `/bin/sh -c`).
pub fn run_argv(command: &Command, heredocs: &[crate::plan::Heredoc], shell: &[String]) -> RunArgv {
    let default_shell = ["/bin/sh".to_string(), "-c".to_string()];
    let shell: &[String] = if shell.is_empty() {
        &default_shell
    } else {
        shell
    };
    match command {
        Command::Exec(argv) => RunArgv {
            argv: argv.clone(),
            script: None,
        },
        Command::Shell(cmd) => {
            if let [only] = heredocs {
                if *cmd == only.content && only.content.starts_with("#!") {
                    let path = format!("/dev/pipes/{}", only.name);
                    return RunArgv {
                        argv: vec![path.clone()],
                        script: Some((path, only.content.clone())),
                    };
                }
            }
            let mut argv = shell.to_vec();
            argv.push(cmd.clone());
            RunArgv { argv, script: None }
        }
    }
}

/// A RUN's argv, and a script file (image path, contents) to provide during the step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunArgv {
    /// What to execute.
    pub argv: Vec<String>,
    /// A shebang heredoc to mount at this path (mode 0755).
    pub script: Option<(String, String)>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Heredoc;

    fn heredoc(name: &str, content: &str) -> Heredoc {
        Heredoc {
            name: name.into(),
            content: content.into(),
            expand: true,
            fd: None,
        }
    }

    #[test]
    fn run_command_string_like_buildkit() {
        let argv = vec![
            "/bin/sh".to_string(),
            "-c".to_string(),
            "echo hi".to_string(),
        ];
        assert_eq!(run_command_string(&argv, &[]), "/bin/sh -c echo hi");
        assert_eq!(
            run_command_string(
                &argv,
                &[("A".into(), "1".into()), ("B".into(), "x y".into())]
            ),
            "|2 A=1 B=x y /bin/sh -c echo hi"
        );
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(30_000_000_000), "30s");
        assert_eq!(go_duration(90_000_000_000), "1m30s");
        assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(go_duration(500_000_000), "500ms");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(0), "0s");
    }

    #[test]
    fn heredoc_argv_rules() {
        let sh = vec!["/bin/sh".to_string(), "-c".to_string()];
        let plain = run_argv(
            &Command::Shell("echo a\n".into()),
            &[heredoc("EOF", "echo a\n")],
            &sh,
        );
        assert_eq!(plain.argv, ["/bin/sh", "-c", "echo a\n"]);
        assert!(plain.script.is_none());
        let body = "#!/bin/sh\necho a\n";
        let shebang = run_argv(&Command::Shell(body.into()), &[heredoc("EOF", body)], &sh);
        assert_eq!(shebang.argv, ["/dev/pipes/EOF"]);
        assert_eq!(
            shebang.script.unwrap(),
            ("/dev/pipes/EOF".to_string(), body.to_string())
        );
        let complex = run_argv(
            &Command::Shell("cat <<EOF > /f\nhello\nEOF".into()),
            &[heredoc("EOF", "hello\n")],
            &sh,
        );
        assert_eq!(
            complex.argv,
            ["/bin/sh", "-c", "cat <<EOF > /f\nhello\nEOF"]
        );
        let exec = run_argv(&Command::Exec(vec!["a".into(), "b".into()]), &[], &sh);
        assert_eq!(exec.argv, ["a", "b"]);
    }
}
