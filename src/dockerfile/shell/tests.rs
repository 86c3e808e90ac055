//! Ports of BuildKit's Go-table lexer tests (`shell/lex_test.go`); the data-file vectors
//! (`envVarTest`, `wordsTest`) run in `tests/conformance.rs`.

use std::collections::BTreeMap;

use super::*;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

// TestShellParserMandatoryEnvVars
#[test]
fn mandatory_env_vars() {
    let lex = Lexer::new('\\');
    let set = env(&[("VAR", "plain"), ("ARG", "x")]);
    let empty = env(&[("VAR", ""), ("ARG", "x")]);
    let unset = env(&[("ARG", "x")]);
    let no_empty = "${VAR:?message here$ARG}";
    let no_unset = "${VAR?message here$ARG}";

    assert_eq!(lex.process_word(no_empty, &set).unwrap(), "plain");
    let e = lex.process_word(no_empty, &empty).unwrap_err();
    assert!(e.to_string().contains("message herex"), "{e}");
    let e = lex.process_word(no_empty, &unset).unwrap_err();
    assert!(e.to_string().contains("message herex"), "{e}");

    assert_eq!(lex.process_word(no_unset, &set).unwrap(), "plain");
    assert_eq!(lex.process_word(no_unset, &empty).unwrap(), "");
    let e = lex.process_word(no_unset, &unset).unwrap_err();
    assert!(e.to_string().contains("message herex"), "{e}");
    assert_eq!(
        e.to_string(),
        r#"failed to process "${VAR?message here$ARG}": VAR: message herex"#
    );
    let e = lex.process_word("${VAR?}", &unset).unwrap_err();
    assert_eq!(e.kind.to_string(), "VAR: is not allowed to be unset");
    let e = lex.process_word("${VAR:?}", &empty).unwrap_err();
    assert_eq!(e.kind.to_string(), "VAR: is not allowed to be empty");
}

// TestGetEnv: the last assignment of a name wins.
#[test]
fn last_assignment_wins() {
    let pairs: Vec<(String, String)> = [("foo", "bar"), ("car", "hat"), ("car", "bike")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lex = Lexer::new('\\');
    assert_eq!(lex.process_word("$foo $car", &pairs).unwrap(), "bar bike");
    assert_eq!(lex.process_word("[$nope]", &pairs).unwrap(), "[]");
}

struct Case {
    input: &'static str,
    env: &'static [(&'static str, &'static str)],
    expected: Option<&'static str>,
    matches: &'static [&'static str],
    unmatched: &'static [&'static str],
}

const fn ok(
    input: &'static str,
    env: &'static [(&'static str, &'static str)],
    expected: &'static str,
    matches: &'static [&'static str],
    unmatched: &'static [&'static str],
) -> Case {
    Case {
        input,
        env,
        expected: Some(expected),
        matches,
        unmatched,
    }
}

const fn err(input: &'static str, env: &'static [(&'static str, &'static str)]) -> Case {
    Case {
        input,
        env,
        expected: None,
        matches: &[],
        unmatched: &[],
    }
}

const FOO_BAR: &[(&str, &str)] = &[("FOO", "xxx"), ("BAR", "")];
const XXYY: &[(&str, &str)] = &[("FOO", "xxyy")];

// TestProcessWithMatches
const MATCH_CASES: &[Case] = &[
    ok("x", &[("DUMMY", "dummy")], "x", &[], &[]),
    ok("x ${UNUSED}", &[("DUMMY", "dummy")], "x ", &[], &["UNUSED"]),
    ok("x ${FOO}", &[("FOO", "y")], "x y", &["FOO"], &[]),
    ok(
        "${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}",
        FOO_BAR,
        "xxx  ccc",
        &["FOO", "BAR"],
        &["BAZ"],
    ),
    ok(
        "${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}",
        FOO_BAR,
        "xxx bbb ccc",
        &["FOO", "BAR"],
        &["BAZ"],
    ),
    ok("${FOO:-}", FOO_BAR, "xxx", &["FOO"], &[]),
    ok("${FOO:-}", &[], "", &[], &["FOO"]),
    ok(
        "${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}",
        FOO_BAR,
        "aaa bbb ",
        &["FOO", "BAR"],
        &["BAZ"],
    ),
    ok(
        "${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}",
        FOO_BAR,
        "aaa  ",
        &["FOO", "BAR"],
        &["BAZ"],
    ),
    ok("${FOO?aaa}", FOO_BAR, "xxx", &["FOO"], &[]),
    ok("${BAR?bbb}", FOO_BAR, "", &["BAR"], &[]),
    err("${BAZ?ccc}", FOO_BAR),
    ok("${FOO:?aaa}", FOO_BAR, "xxx", &["FOO"], &[]),
    err("${BAR:?bbb}", FOO_BAR),
    err("${BAZ:?ccc}", FOO_BAR),
    err("${BAZ:?}", FOO_BAR),
    err("${FOO=aaa}", FOO_BAR),
    err("${FOO=:aaa}", FOO_BAR),
    err("${FOO=}", &[]),
    ok(
        r"${FOO#()[]{\}^$.\*\?|\\}",
        &[("FOO", r"()[]{}^$.*?|\x")],
        "x",
        &["FOO"],
        &[],
    ),
    ok(r"${FOO%%\**}", &[("FOO", "xx**")], "xx", &["FOO"], &[]),
    ok("${FOO#*x*y}", XXYY, "y", &["FOO"], &[]),
    ok("${FOO#*}", XXYY, "xxyy", &["FOO"], &[]),
    ok(
        "${FOO#$BAR}",
        &[("FOO", "xxyy"), ("BAR", "x")],
        "xyy",
        &["FOO", "BAR"],
        &[],
    ),
    ok(
        "${FOO#$BAR}",
        &[("FOO", "xxyy"), ("BAR", "")],
        "xxyy",
        &["FOO", "BAR"],
        &[],
    ),
    ok("${FOO#}", XXYY, "xxyy", &["FOO"], &[]),
    ok("${FOO##*x}", XXYY, "yy", &["FOO"], &[]),
    ok("${FOO##}", XXYY, "xxyy", &["FOO"], &[]),
    ok(r"${FOO#?\?}", &[("FOO", "???y")], "?y", &["FOO"], &[]),
    ok(
        "${ABC:-.}${FOO%x}${ABC:-.}",
        XXYY,
        ".xxyy.",
        &["FOO"],
        &["ABC"],
    ),
    ok(r"${FOO%%\**\*}", &[("FOO", "a***yy*")], "a", &["FOO"], &[]),
    ok("${FOO%}", XXYY, "xxyy", &["FOO"], &[]),
    ok(
        "${FOO%%$BAR}",
        &[("FOO", "xxyy"), ("BAR", "")],
        "xxyy",
        &["FOO", "BAR"],
        &[],
    ),
    err("${FOO:#}", &[]),
    err("${FOO:##}", &[]),
    err("${FOO:%}", &[]),
    err("${FOO:%%}", &[]),
    ok(
        "${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}",
        &[("FOO", "/foo*/*/*.txt"), ("NEEDLE", r"\*/")],
        "/foo.*/*.txt - /foo..*.txt",
        &["FOO", "NEEDLE"],
        &[],
    ),
    ok(
        "${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}",
        &[("FOO", "/tmp/tmp/bar.txt"), ("NEEDLE", "/tmp")],
        "/tmp/bar.txt - /bar.txt",
        &["FOO", "NEEDLE"],
        &[],
    ),
    ok(
        "${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}",
        &[
            ("FOO", "/a/foo/b/c.txt"),
            ("NEEDLE", "/?/"),
            ("REPLACEMENT", "/"),
        ],
        "/foo/b/c.txt - /foo/c.txt",
        &["FOO", "NEEDLE", "REPLACEMENT"],
        &[],
    ),
    ok(
        "${FOO/$NEEDLE/$REPLACEMENT}",
        &[
            ("FOO", "http://google.de"),
            ("NEEDLE", "http://"),
            ("REPLACEMENT", "https://"),
        ],
        "https://google.de",
        &["FOO", "NEEDLE", "REPLACEMENT"],
        &[],
    ),
    ok(
        r"${FOO//\//\/}",
        &[("FOO", "/tmp/foo.txt")],
        r"\/tmp\/foo.txt",
        &["FOO"],
        &[],
    ),
    ok(
        "${FOO/$BAR/ww}",
        &[("FOO", "xxyy"), ("BAR", "")],
        "wwxxyy",
        &["FOO", "BAR"],
        &[],
    ),
    err("${FOO//ww}", XXYY),
    err("${FOO//}", XXYY),
    ok("${FOO///}", XXYY, "xxyy", &["FOO"], &[]),
    ok("${FOO///}", &[], "", &[], &["FOO"]),
];

#[test]
fn process_with_matches() {
    let lex = Lexer::new('\\');
    for c in MATCH_CASES {
        let r = lex.process_word_with_matches(c.input, &env(c.env));
        match c.expected {
            None => assert!(r.is_err(), "{}: expected an error, got {r:?}", c.input),
            Some(want) => {
                let r = r.unwrap_or_else(|e| panic!("{}: {e}", c.input));
                assert_eq!(r.result, want, "{}", c.input);
                let m: Vec<&str> = r.matched.iter().map(String::as_str).collect();
                let mut wm = c.matches.to_vec();
                wm.sort_unstable();
                assert_eq!(m, wm, "{} matched", c.input);
                let u: Vec<&str> = r.unmatched.iter().map(String::as_str).collect();
                let mut wu = c.unmatched.to_vec();
                wu.sort_unstable();
                assert_eq!(u, wu, "{} unmatched", c.input);
            }
        }
    }
}

// TestProcessWithMatchesPlatform
#[test]
fn release_file_name() {
    let lex = Lexer::new('\\');
    let word =
        "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz";
    let base = [("VERSION", "v1.2.3"), ("TARGETOS", "linux")];
    let mut e = env(&base);
    e.insert("TARGETARCH".into(), "arm".into());
    e.insert("TARGETVARIANT".into(), "v7".into());
    assert_eq!(
        lex.process_word(word, &e).unwrap(),
        "something-v1.2.3.linux-arm-v7.tar.gz"
    );
    e.insert("TARGETARCH".into(), "arm64".into());
    e.insert("TARGETVARIANT".into(), String::new());
    assert_eq!(
        lex.process_word(word, &e).unwrap(),
        "something-v1.2.3.linux-arm64.tar.gz"
    );
    e.remove("TARGETVARIANT");
    assert_eq!(
        lex.process_word(word, &e).unwrap(),
        "something-v1.2.3.linux-arm64.tar.gz"
    );
}

#[test]
fn raw_modes_keep_quotes_escapes_and_unset_references() {
    let lex = Lexer {
        raw_quotes: true,
        raw_escapes: true,
        skip_unset_env: true,
        ..Lexer::new('\\')
    };
    let words = lex
        .process_words(r#"RUN cat <<"EOF" \$x $HOME ${A:-b} '${B}'"#, &NoEnv)
        .unwrap();
    assert_eq!(
        words,
        [
            "RUN",
            "cat",
            r#"<<"EOF""#,
            r"\$x",
            "$HOME",
            "${A:-b}",
            "'${B}'"
        ]
    );
    // `<<` swallows the blanks after it, so `<< EOF` stays one word.
    assert_eq!(
        Lexer::new('\\')
            .process_words("cat << EOF", &NoEnv)
            .unwrap(),
        ["cat", "<< EOF"]
    );
}

#[test]
fn backtick_escape() {
    let lex = Lexer::new('`');
    assert_eq!(
        lex.process_word(r"C:\path`$x", &NoEnv).unwrap(),
        r"C:\path$x"
    );
    assert_eq!(lex.process_word("\"a`\"b\"", &NoEnv).unwrap(), "a\"b");
}

#[test]
fn nested_modifier_restarts_the_split_word() {
    // BuildKit's shared words buffer: text before `${X:-…}` is lost in words mode.
    let lex = Lexer::new('\\');
    assert_eq!(
        lex.process_words("ab${X:-c}d e", &NoEnv).unwrap(),
        ["cd", "e"]
    );
    assert_eq!(lex.process_word("ab${X:-c}d e", &NoEnv).unwrap(), "abcd e");
}

#[test]
fn byte_order_mark_is_skipped_at_the_start() {
    let lex = Lexer::new('\\');
    assert_eq!(
        lex.process_word("\u{feff}a\u{feff}", &NoEnv).unwrap(),
        "a\u{feff}"
    );
}

#[test]
fn error_messages() {
    let lex = Lexer::new('\\');
    let msg = |w: &str| lex.process_word(w, &NoEnv).unwrap_err().kind.to_string();
    assert_eq!(msg("${"), "syntax error: missing '}'");
    assert_eq!(msg("${}"), "syntax error: bad substitution");
    assert_eq!(msg("${a:-b"), "syntax error: missing '}'");
    assert_eq!(msg("${a/b"), "syntax error: missing '/' in ${}");
    assert_eq!(msg("${a=b}"), "unsupported modifier (=) in substitution");
    assert_eq!(msg("${a:=b}"), "unsupported modifier (:=) in substitution");
    assert_eq!(
        msg("'a"),
        "unexpected end of statement while looking for matching single-quote"
    );
    assert_eq!(
        msg("\"a"),
        "unexpected end of statement while looking for matching double-quote"
    );
}

// Fuzzing regression (lex target, timeout): nested `${P//…/…}` grew the word
// exponentially and the result was then compiled as a `%` pattern.
#[test]
fn exponential_substitution_is_bounded() {
    let word = "he${%\x00\x00${P/////\x00c/)\x00\x00${P///\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\x00${P///\x00&\\/)\x00\\/\x00;\x00\x00\x04\x00D\x14$\x14e/////\x00c/)\x00\x00${P///\t\t\t\t/)\x00\x00${P///\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\x00\x00;\x00\x00\x04\x00D\x14\x14eXX$}6xjB}:\u{584}XX$}8xjB}:\u{584},}}\x00";
    let env = vec![("P".to_string(), "/x/*/y?".to_string())];
    for lex in [
        Lexer::new('\\'),
        Lexer {
            raw_quotes: true,
            raw_escapes: true,
            skip_unset_env: true,
            ..Lexer::new('`')
        },
    ] {
        let _ = lex.process_word(word, &env);
        let _ = lex.process_words(word, &env);
    }
    // The simplest doubling: every level multiplies the value.
    let mut w = "$P".to_string();
    for _ in 0..40 {
        w = format!("${{P//{}/x}}", w);
    }
    let e = Lexer::new('\\').process_word(
        "${A//x/$A$A$A$A$A$A$A$A}",
        &vec![("A".to_string(), "x".repeat(200_000))],
    );
    assert_eq!(e.unwrap_err().kind, ShellErrorKind::TooLarge);
    let _ = Lexer::new('\\').process_word(&w, &env);
}
