//! Parser tests ported from BuildKit's Go tables (`parser_test.go`,
//! `parser_heredoc_test.go`, `line_parsers_test.go`) plus our own edge cases. The data-file
//! cases run in `tests/conformance.rs`.

use super::*;

fn ok(src: &str) -> Dockerfile {
    parse(src.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{src}"))
}

fn heredoc(name: &str, content: &str, expand: bool, chomp: bool, fd: u64) -> Heredoc {
    Heredoc {
        name: name.into(),
        fd,
        expand,
        chomp,
        content: content.into(),
    }
}

const HEREDOCS: &str = r#"
FROM alpine:3.6

ENV NAME=me

RUN ls

USER <<INVALID
INVALID

RUN <<EMPTY
EMPTY

RUN 3<<EMPTY2
EMPTY2

RUN "<<NOHEREDOC"

RUN <<INDENT
	foo
	bar
INDENT

RUN <<-UNINDENT
	baz
	quux
UNINDENT

RUN <<-UNINDENT2
	baz
	quux
	UNINDENT2

RUN <<-EXPAND
	expand $NAME
EXPAND

RUN <<-'NOEXPAND'
	don't expand $NAME
NOEXPAND

RUN <<COPY
echo hello world
echo foo bar
COPY

RUN <<COMMENT
# internal comment
echo hello world
echo foo bar # trailing comment
COMMENT

RUN --mount=type=cache,target=/foo <<MOUNT
echo hello
MOUNT

COPY <<FILE1 <<FILE2 /dest
content 1
FILE1
content 2
FILE2

COPY <<EOF /quotes
"foo"
'bar'
EOF

COPY <<X <<Y /dest
Y
X
X
Y

RUN <<COMPLEX python3
print('hello world')
COMPLEX

COPY <<file.txt /dest
hello world
file.txt

RUN <<eo'f'
echo foo
eof

RUN <<eo\'f
echo foo
eo'f

RUN <<'e'o\'f
echo foo
eo'f

RUN <<'one two'
echo bar
one two

RUN <<$EOF
$EOF

RUN <<  EOF
EOF

RUN <<  EOF  > foo
EOF
	"#;

// TestParseExtractsHeredoc
#[test]
fn extracts_heredocs() {
    let df = ok(HEREDOCS);
    let h = heredoc;
    let want: Vec<Vec<Heredoc>> = vec![
        vec![],
        vec![],
        vec![],
        vec![],
        vec![h("EMPTY", "", true, false, 0)],
        vec![h("EMPTY2", "", true, false, 3)],
        vec![],
        vec![h("INDENT", "\tfoo\n\tbar\n", true, false, 0)],
        vec![h("UNINDENT", "\tbaz\n\tquux\n", true, true, 0)],
        vec![h("UNINDENT2", "\tbaz\n\tquux\n", true, true, 0)],
        vec![h("EXPAND", "\texpand $NAME\n", true, true, 0)],
        vec![h("NOEXPAND", "\tdon't expand $NAME\n", false, true, 0)],
        vec![h(
            "COPY",
            "echo hello world\necho foo bar\n",
            true,
            false,
            0,
        )],
        vec![h(
            "COMMENT",
            "# internal comment\necho hello world\necho foo bar # trailing comment\n",
            true,
            false,
            0,
        )],
        vec![h("MOUNT", "echo hello\n", true, false, 0)],
        vec![
            h("FILE1", "content 1\n", true, false, 0),
            h("FILE2", "content 2\n", true, false, 0),
        ],
        vec![h("EOF", "\"foo\"\n'bar'\n", true, false, 0)],
        vec![h("X", "Y\n", true, false, 0), h("Y", "X\n", true, false, 0)],
        vec![h("COMPLEX", "print('hello world')\n", true, false, 0)],
        vec![h("file.txt", "hello world\n", true, false, 0)],
        vec![h("eof", "echo foo\n", false, false, 0)],
        vec![h("eo'f", "echo foo\n", true, false, 0)],
        vec![h("eo'f", "echo foo\n", false, false, 0)],
        vec![h("one two", "echo bar\n", false, false, 0)],
        vec![h("$EOF", "", true, false, 0)],
        vec![h("EOF", "", true, false, 0)],
        vec![h("EOF", "", true, false, 0)],
    ];
    assert_eq!(df.instructions.len(), want.len() + 1);
    for (i, w) in want.iter().enumerate() {
        assert_eq!(&df.instructions[i + 1].heredocs, w, "instruction {}", i + 1);
    }
    // The body is part of the instruction: its lines are in the range, not parsed.
    let copy = &df.instructions[16];
    assert_eq!(copy.original, "COPY <<FILE1 <<FILE2 /dest");
    assert_eq!(copy.args, ["<<FILE1", "<<FILE2", "/dest"]);
    assert_eq!(copy.location.end_line - copy.location.start_line, 4);
    // USER takes no heredoc: the next line is an (unknown) instruction.
    assert_eq!(dump_instruction(&df.instructions[4]), "invalid \"\"");
}

// TestParseJSONHeredoc
#[test]
fn json_form_has_no_heredocs() {
    let df = ok("\nFROM alpine:3.6\n\nRUN [\"whoami\"]\nRUN [\"<<EOF\"]\nRUN [\"<<'EOF'\"]\n\t");
    for i in 1..=3 {
        assert!(df.instructions[i].heredocs.is_empty());
    }
    assert_eq!(df.instructions.len(), 4);
}

#[test]
fn onbuild_heredoc_and_unterminated_heredoc() {
    let df = ok("FROM a\nONBUILD RUN <<EOF\necho hi\nEOF\nRUN x\n");
    assert_eq!(
        df.instructions[1].heredocs,
        [heredoc("EOF", "echo hi\n", true, false, 0)]
    );
    assert_eq!(df.instructions[1].location.end_line, 4);
    assert_eq!(
        dump(&df),
        "(from \"a\")\n(onbuild (run \"<<EOF\"))\n(run \"x\")\n"
    );
    let e = parse(b"FROM a\nRUN <<EOF\necho hi\n").unwrap_err();
    assert_eq!(e.kind, ParseErrorKind::UnterminatedHeredoc);
    assert_eq!((e.location.start_line, e.location.end_line), (2, 3));
    // A terminator with CRLF still ends the body; the body keeps its line endings.
    let df = ok("FROM a\r\nRUN <<EOF\r\nx\r\nEOF\r\nRUN y\r\n");
    assert_eq!(df.instructions[1].heredocs[0].content, "x\r\n");
    assert_eq!(df.instructions[2].original, "RUN y");
}

// TestParseNameValOldFormat, TestParseNameValNewFormat, TestParseNameValWithoutVal
#[test]
fn name_value_forms() {
    let df =
        ok("FROM a\nLABEL foo bar\nLABEL foo=bar thing=star\nENV A=\"x y\" B='z'\nENV C  d e  \n");
    assert_eq!(df.instructions[1].args, ["foo", "bar", ""]);
    assert_eq!(
        df.instructions[2].args,
        ["foo", "bar", "=", "thing", "star", "="]
    );
    assert_eq!(
        df.instructions[3].args,
        ["A", "\"x y\"", "=", "B", "'z'", "="]
    );
    assert_eq!(df.instructions[4].args, ["C", "d e", ""]);
    let e = parse(b"FROM a\nENV foo\n").unwrap_err();
    assert_eq!(e.kind.to_string(), "ENV must have two arguments");
    assert_eq!(e.location.start_line, 2);
    let e = parse(b"FROM a\nLABEL a=b c\n").unwrap_err();
    assert_eq!(
        e.kind.to_string(),
        r#"Syntax error - can't find = in "c". Must be of the form: name=value"#
    );
    // A bare ENV parses (the planner rejects it).
    assert!(ok("FROM a\nENV\n").instructions[1].args.is_empty());
}

// TestParseWarnsOnEmptyContinutationLine
#[test]
fn empty_continuation_lines_warn() {
    let src = "\nFROM alpine:3.6\n\nRUN valid \\\n    continuation\n\nRUN something \\\n\n    following \\\n\n    more\n\nRUN another \\\n\n    thing\n\nRUN non-indented \\\n# this is a comment\n   after-comment\n\nRUN indented \\\n    # this is an indented comment\n    comment\n\t";
    let df = ok(src);
    assert_eq!(df.warnings.len(), 2);
    assert_eq!(
        df.warnings[0].message,
        "Empty continuation line found in: RUN something     following     more"
    );
    assert_eq!(
        df.warnings[1].message,
        "Empty continuation line found in: RUN another     thing"
    );
    assert_eq!(
        df.instructions[4].original,
        "RUN non-indented    after-comment"
    );
    assert_eq!(df.instructions[5].original, "RUN indented     comment");
    let l = df.instructions[2].location;
    assert_eq!((l.start_line, l.end_line), (7, 11));
}

// TestParseReturnsScannerErrors
#[test]
fn long_lines_are_an_error() {
    let label = "a".repeat(65536);
    let src = format!("\n\t\tFROM image\n\t\tLABEL test={label}\n");
    let e = parse(src.as_bytes()).unwrap_err();
    assert_eq!(
        e.kind.to_string(),
        "dockerfile line greater than max allowed size of 65535"
    );
    // 65535 bytes and the newline fit.
    let fits = format!("FROM a\nLABEL a={}\n", "b".repeat(65535 - 8));
    let too_long = format!("FROM a\nLABEL a={}\n", "b".repeat(65536 - 8));
    assert!(parse(too_long.as_bytes()).is_err());
    assert!(parse(fits.as_bytes()).is_ok());
}

#[test]
fn directives_escape_and_bom() {
    let df = ok("\u{feff}# syntax=docker/dockerfile:1\n# escape=`\n\nFROM a\nRUN echo \\ `\n  b\n");
    assert_eq!(df.directive("syntax"), Some("docker/dockerfile:1"));
    assert_eq!(df.escape, '`');
    assert_eq!(df.instructions[1].original, "RUN echo \\   b");
    assert_eq!(df.location.start_line, 4);
    // After a plain comment, a directive is just a comment.
    let df = ok("# hello\n# escape=`\nFROM a\n");
    assert_eq!(df.escape, '\\');
    assert!(df.directives.is_empty());
    let e = parse(b"# escape=x\nFROM a\n").unwrap_err();
    assert_eq!(
        e.kind.to_string(),
        "invalid escape token 'x' does not match ` or \\"
    );
    let e = parse(b"# syntax=a\n# syntax=b\nFROM a\n").unwrap_err();
    assert_eq!(
        e.kind.to_string(),
        "only one syntax parser directive can be used"
    );
    assert_eq!(e.location.start_line, 2);
}

#[test]
fn crlf_and_comments_inside_continuations() {
    let df = ok("FROM a\r\nRUN a \\\r\n # c\r\n  b\r\n");
    assert_eq!(df.instructions[1].original, "RUN a   b");
    assert_eq!(df.instructions[1].location.end_line, 4);
    assert_eq!(df.line(2), Some("RUN a \\"));
}

#[test]
fn empty_inputs_fail() {
    for src in [
        "",
        "\n\n",
        "# only\n#comments\n",
        "\u{feff}",
        "# syntax=x\n",
    ] {
        let e = parse(src.as_bytes()).unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::NoInstructions, "{src:?}");
    }
}

#[test]
fn unknown_keywords_and_odd_lines_parse() {
    let df = ok("FROM a\nFOO bar baz\n\\\n");
    assert_eq!(dump(&df), "(from \"a\")\n(foo \"\")\n(\"\")\n");
}

#[test]
fn onbuild_nesting_is_bounded() {
    let deep = format!("FROM a\n{}RUN x\n", "ONBUILD ".repeat(40));
    assert_eq!(
        parse(deep.as_bytes()).unwrap_err().kind,
        ParseErrorKind::TooDeep
    );
    let two = ok("FROM a\nONBUILD ONBUILD RUN x\n");
    assert_eq!(
        dump(&two),
        "(from \"a\")\n(onbuild (onbuild (run \"x\")))\n"
    );
}

#[test]
fn invalid_utf8_is_replaced_not_fatal() {
    let df = parse(b"FROM a\nLABEL x=\xff\n").unwrap();
    assert_eq!(df.instructions[1].args, ["x", "\u{fffd}", "="]);
}

#[test]
fn json_ast_serializes() {
    let df = ok("FROM a AS b\nCOPY --from=b [\"x\", \"y\"]\n");
    let v = serde_json::to_value(&df).unwrap();
    assert_eq!(v["instructions"][1]["keyword"], "COPY");
    assert_eq!(v["instructions"][1]["flags"][0], "--from=b");
    assert_eq!(v["instructions"][1]["json"], true);
    assert_eq!(v["instructions"][1]["location"]["start_line"], 2);
    assert_eq!(v["escape"], "\\");
}

#[test]
fn keywords_are_lower_cased_like_go() {
    // U+212A KELVIN SIGN lower-cases to `k`, as in Go's strings.ToLower.
    let df = ok("FROM a\nHEALTHCHEC\u{212A} NONE\nrUn x\n");
    assert_eq!(df.instructions[1].args, ["NONE"]);
    assert_eq!(
        dump(&df),
        "(from \"a\")\n(healthcheck \"NONE\")\n(run \"x\")\n"
    );
}
