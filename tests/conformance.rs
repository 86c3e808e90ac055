//! BuildKit conformance: the vendored data files of `testdata/buildkit` (see its
//! `FORMAT.md`) must give exactly upstream's results, through the library and through the
//! `rbuild parse --dump` binary.

use std::path::{Path, PathBuf};
use std::process::Command;

use rbuild::dockerfile::{self, shell::Lexer};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/buildkit/frontend/dockerfile")
}

fn cases(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(data().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

fn expected_result(case: &Path) -> String {
    let bytes = std::fs::read(case.join("result")).unwrap();
    String::from_utf8(bytes).unwrap().replace("\r\n", "\n")
}

#[test]
fn positive_cases_dump_exactly() {
    let cases = cases("parser/testfiles");
    assert_eq!(cases.len(), 33);
    let mut failures = Vec::new();
    for case in &cases {
        let src = std::fs::read(case.join("Dockerfile")).unwrap();
        let want = expected_result(case);
        match dockerfile::parse(&src) {
            Ok(df) => {
                let got = dockerfile::dump(&df);
                if got != want {
                    failures.push(format!(
                        "{}:\n--- want\n{want}--- got\n{got}",
                        case.display()
                    ));
                }
            }
            Err(e) => failures.push(format!("{}: {e}", case.display())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn negative_cases_fail() {
    let cases = cases("parser/testfiles-negative");
    assert_eq!(cases.len(), 4);
    for case in &cases {
        let src = std::fs::read(case.join("Dockerfile")).unwrap();
        let r = dockerfile::parse(&src);
        assert!(r.is_err(), "{} parsed: {r:?}", case.display());
    }
    let msg = |name: &str| {
        let path = data()
            .join("parser/testfiles-negative")
            .join(name)
            .join("Dockerfile");
        let src = std::fs::read(path).unwrap();
        dockerfile::parse(&src).unwrap_err().kind.to_string()
    };
    assert_eq!(msg("empty_dockerfile"), "file with no instructions");
    assert_eq!(msg("only_comments"), "file with no instructions");
    assert_eq!(msg("env_no_value"), "ENV must have two arguments");
    assert_eq!(
        msg("shykes-nested-json"),
        "when using JSON array syntax, arrays must be comprised of strings only"
    );
}

#[test]
fn line_numbers() {
    let src = std::fs::read(data().join("parser/testfile-line/Dockerfile")).unwrap();
    let df = dockerfile::parse(&src).unwrap();
    assert_eq!((df.location.start_line, df.location.end_line), (5, 31));
    let ranges: Vec<(usize, usize)> = df
        .instructions
        .iter()
        .map(|n| (n.location.start_line, n.location.end_line))
        .collect();
    assert_eq!(ranges, [(5, 5), (11, 12), (17, 31)]);
}

#[test]
fn env_var_vectors() {
    let text = std::fs::read_to_string(data().join("shell/envVarTest")).unwrap();
    let env: Vec<(String, String)> = [
        ("PWD", "/home"),
        ("SHELL", "bash"),
        ("KOREAN", "한국어"),
        ("NULL", ""),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let lex = Lexer::new('\\');
    let mut run = 0;
    let mut skipped = 0;
    for (n, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.trim().split('|').collect();
        assert_eq!(fields.len(), 3, "line {}", n + 1);
        let (tag, input, expected) = (fields[0].trim(), fields[1].trim(), fields[2].trim());
        match tag {
            "A" | "U" => {}
            "W" => {
                skipped += 1;
                continue;
            }
            other => panic!("bad tag {other} at line {}", n + 1),
        }
        run += 1;
        let got = lex.process_word(input, &env);
        if expected == "error" {
            assert!(got.is_err(), "line {}: {input:?} gave {got:?}", n + 1);
        } else {
            assert_eq!(got.as_deref(), Ok(expected), "line {}: {input:?}", n + 1);
        }
    }
    assert_eq!((run, skipped), (228, 2));
}

#[test]
fn words_vectors() {
    let text = std::fs::read_to_string(data().join("shell/wordsTest")).unwrap();
    let mut env: Vec<(String, String)> = Vec::new();
    let lex = Lexer::new('\\');
    let mut run = 0;
    for (n, line) in text.lines().enumerate() {
        if line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix("ENV ") {
            let rest = rest.trim_start_matches(' ');
            let (k, v) = rest.split_once('=').unwrap_or((rest, ""));
            env.push((k.to_string(), v.to_string()));
            continue;
        }
        let fields: Vec<&str> = line.split('|').collect();
        assert_eq!(fields.len(), 2, "line {}", n + 1);
        let input = fields[0].trim();
        let expected: Vec<&str> = fields[1].trim_start_matches(' ').split(',').collect();
        let got = lex
            .process_words(input, &env)
            .unwrap_or_else(|_| vec!["error".to_string()]);
        assert_eq!(got, expected, "line {}: {input:?}", n + 1);
        run += 1;
    }
    assert_eq!(run, 24);
}

#[test]
fn binary_dump_matches_results() {
    let bin = env!("CARGO_BIN_EXE_rbuild");
    for case in cases("parser/testfiles") {
        let out = Command::new(bin)
            .args(["parse", "--dump"])
            .arg(case.join("Dockerfile"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            case.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            expected_result(&case),
            "{}",
            case.display()
        );
    }
}

#[test]
fn binary_reports_parse_errors_with_the_line() {
    let bin = env!("CARGO_BIN_EXE_rbuild");
    let case = data().join("parser/testfiles-negative/shykes-nested-json/Dockerfile");
    let out = Command::new(bin)
        .args(["parse", "--dump"])
        .arg(&case)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with("error: when using JSON array syntax"),
        "{err}"
    );
    assert!(err.contains("Dockerfile:1:1\n"), "{err}");
    assert!(
        err.contains("1 | CMD [ \"echo\", [ \"nested json\" ] ]"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn binary_reads_stdin_and_prints_json() {
    use std::io::Write as _;
    let bin = env!("CARGO_BIN_EXE_rbuild");
    let mut child = Command::new(bin)
        .args(["parse", "--json", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"FROM alpine AS build\nRUN echo hi\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["instructions"][0]["args"],
        serde_json::json!(["alpine", "AS", "build"])
    );
    assert_eq!(v["instructions"][1]["location"]["end_line"], 2);
}
