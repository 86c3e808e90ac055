//! Planner behaviour, checked against the Dockerfile reference and BuildKit's
//! `dockerfile2llb`: scoping of ARG/ENV, expansion, config rules, stage graph, errors.

use std::collections::BTreeMap;

use rbuild::dockerfile;
use rbuild::image::{ContainerConfig, ImageConfig, Platform};
use rbuild::plan::{
    self, Base, BaseResolver, BuildGraph, Command, CopyFrom, CopySource, EmptyResolver,
    Instruction, MountFrom, MountKind, NetworkMode, PlanError, PlanOptions, Sharing, Step,
};

/// Resolves a few fake images.
struct Images(BTreeMap<String, ImageConfig>);

impl BaseResolver for Images {
    fn resolve(&self, reference: &str, platform: &Platform) -> Result<ImageConfig, String> {
        match self.0.get(reference) {
            Some(c) => Ok(c.clone()),
            None => EmptyResolver.resolve(reference, platform),
        }
    }
}

fn images() -> Images {
    let mut m = BTreeMap::new();
    m.insert(
        "golang".to_string(),
        ImageConfig {
            config: ContainerConfig {
                env: Some(vec![
                    "PATH=/go/bin:/usr/local/go/bin:/usr/bin:/bin".into(),
                    "GOPATH=/go".into(),
                ]),
                working_dir: Some("/go".into()),
                cmd: Some(vec!["bash".into()]),
                ..Default::default()
            },
            ..Default::default()
        },
    );
    m.insert(
        "onbuild-base".to_string(),
        ImageConfig {
            config: ContainerConfig {
                on_build: Some(vec!["COPY . /app/src".into(), "RUN make".into()]),
                ..Default::default()
            },
            ..Default::default()
        },
    );
    Images(m)
}

fn opts(args: &[(&str, &str)]) -> PlanOptions {
    PlanOptions {
        build_args: args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        build_platform: plan::platform::parse("linux/amd64").unwrap(),
        ..PlanOptions::default()
    }
}

fn try_plan_with(src: &str, o: &PlanOptions) -> Result<BuildGraph, PlanError> {
    let df = dockerfile::parse(src.as_bytes()).unwrap_or_else(|e| panic!("parse: {e}"));
    plan::plan(&df, o, &images())
}

fn plan_with(src: &str, o: &PlanOptions) -> BuildGraph {
    try_plan_with(src, o).unwrap_or_else(|e| panic!("{e}\n{src}"))
}

fn plan_src(src: &str) -> BuildGraph {
    plan_with(src, &opts(&[]))
}

fn err(src: &str) -> PlanError {
    try_plan_with(src, &opts(&[])).expect_err("planning should fail")
}

fn last_step(g: &BuildGraph) -> &Step {
    g.stages[g.target].steps.last().unwrap()
}

fn env(c: &ContainerConfig) -> Vec<String> {
    c.env.clone().unwrap_or_default()
}

#[test]
fn base_image_env_expands_and_workdir_is_relative() {
    let g = plan_src("FROM golang\nWORKDIR $GOPATH/src\nWORKDIR app\nRUN go build\n");
    let s = &g.stages[0];
    assert_eq!(s.base, Base::Image("golang".into()));
    assert_eq!(
        s.steps[0].instruction,
        Instruction::Workdir("/go/src".into())
    );
    assert_eq!(
        s.steps[1].instruction,
        Instruction::Workdir("/go/src/app".into())
    );
    assert_eq!(
        s.steps[2].config.working_dir.as_deref(),
        Some("/go/src/app")
    );
    assert!(env(&s.final_config.config).contains(&"GOPATH=/go".to_string()));
    assert_eq!(s.final_config.architecture, "amd64");
    assert_eq!(s.final_config.os, "linux");
}

#[test]
fn scratch_gets_default_path_and_root_workdir() {
    let g = plan_src("FROM scratch\nCOPY a /a\n");
    let c = &g.stages[0].final_config.config;
    assert_eq!(
        env(c),
        ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    );
    assert_eq!(c.working_dir, None);
    assert_eq!(g.stages[0].base, Base::Scratch);
    let Instruction::Copy(c) = &g.stages[0].steps[0].instruction else {
        panic!()
    };
    assert_eq!(
        (c.sources.clone(), c.dest.as_str()),
        (vec![CopySource::Path("a".into())], "/a")
    );
}

#[test]
fn global_args_scope() {
    let src = "ARG VERSION=1.0\nARG BASE=alpine\nFROM ${BASE}:${VERSION}\nRUN echo $VERSION\nARG VERSION\nRUN echo $VERSION\nLABEL v=$VERSION\n";
    let g = plan_src(src);
    let s = &g.stages[0];
    assert_eq!(s.base, Base::Image("alpine:1.0".into()));
    // Not visible before it is re-declared in the stage.
    assert_eq!(s.steps[0].args, []);
    assert_eq!(
        s.steps[1].instruction,
        Instruction::Arg(vec![("VERSION".into(), Some("1.0".into()))])
    );
    assert_eq!(
        s.steps[2].args,
        [("VERSION".to_string(), "1.0".to_string())]
    );
    assert_eq!(
        s.steps[3].instruction,
        Instruction::Label(vec![("v".into(), "1.0".into())])
    );
    assert_eq!(
        s.steps[3].args,
        [("VERSION".to_string(), "1.0".to_string())]
    );
    // --build-arg overrides the global default, in FROM and in the stage.
    let g = plan_with(src, &opts(&[("VERSION", "2.0")]));
    assert_eq!(g.stages[0].base, Base::Image("alpine:2.0".into()));
    assert_eq!(
        g.stages[0].steps[2].args,
        [("VERSION".to_string(), "2.0".to_string())]
    );
    assert!(g.warnings.is_empty());
}

#[test]
fn arg_defaults_build_args_and_use_before_declaration() {
    let src = "FROM busybox\nUSER ${username:-some_user}\nARG username\nUSER $username\nARG x=def\nENV y=$x\n";
    let g = plan_with(src, &opts(&[("username", "what_user")]));
    let s = &g.stages[0].steps;
    assert_eq!(s[0].instruction, Instruction::User("some_user".into()));
    assert_eq!(s[0].args, []);
    assert_eq!(s[2].instruction, Instruction::User("what_user".into()));
    assert_eq!(
        s[2].args,
        [("username".to_string(), "what_user".to_string())]
    );
    assert_eq!(
        s[4].instruction,
        Instruction::Env(vec![("y".into(), "def".into())])
    );
    let g = plan_src(src);
    assert_eq!(
        g.stages[0].steps[2].instruction,
        Instruction::User(String::new())
    );
}

#[test]
fn env_overrides_arg_of_the_same_name() {
    let src = "FROM ubuntu\nARG CONT_IMG_VER\nENV CONT_IMG_VER=v1.0.0\nRUN echo $CONT_IMG_VER\n";
    let g = plan_with(src, &opts(&[("CONT_IMG_VER", "v2.0.1")]));
    let run = last_step(&g);
    assert_eq!(run.args, []);
    assert!(env(&run.config).contains(&"CONT_IMG_VER=v1.0.0".to_string()));
    let src = "FROM ubuntu\nARG CONT_IMG_VER\nENV CONT_IMG_VER=${CONT_IMG_VER:-v1.0.0}\nRUN echo $CONT_IMG_VER\n";
    let g = plan_src(src);
    assert!(env(&last_step(&g).config).contains(&"CONT_IMG_VER=v1.0.0".to_string()));
    let g = plan_with(src, &opts(&[("CONT_IMG_VER", "v2")]));
    assert!(env(&last_step(&g).config).contains(&"CONT_IMG_VER=v2".to_string()));
    assert_eq!(
        g.stages[0].steps[1].args,
        [("CONT_IMG_VER".to_string(), "v2".to_string())]
    );
}

#[test]
fn run_steps_carry_every_arg_in_scope_but_no_proxy() {
    let src = "FROM alpine\nARG A=1\nARG B\nARG HTTP_PROXY\nRUN true\n";
    let g = plan_with(
        src,
        &opts(&[("HTTP_PROXY", "http://p"), ("https_proxy", "http://s")]),
    );
    let run = last_step(&g);
    assert_eq!(
        run.args,
        [
            ("A".to_string(), "1".to_string()),
            ("HTTP_PROXY".to_string(), "http://p".to_string())
        ]
    );
    let Instruction::Run(r) = &run.instruction else {
        panic!()
    };
    assert_eq!(
        r.proxy,
        [("https_proxy".to_string(), "http://s".to_string())]
    );
    assert_eq!(r.command, Command::Shell("true".into()));
    assert!(g.warnings.is_empty(), "{:?}", g.warnings);
}

#[test]
fn unconsumed_build_args_warn() {
    let g = plan_with(
        "FROM alpine\nARG USED\n",
        &opts(&[("FOO", "1"), ("USED", "x"), ("BAR", "2")]),
    );
    assert_eq!(g.warnings.len(), 1);
    assert_eq!(
        g.warnings[0].message,
        "[Warning] One or more build-args [BAR FOO] were not consumed"
    );
}

#[test]
fn builtin_platform_args() {
    let src = "FROM --platform=$BUILDPLATFORM alpine AS build\nARG TARGETPLATFORM\nARG TARGETARCH\nARG BUILDOS\nRUN echo $TARGETPLATFORM\nFROM alpine\nRUN echo $TARGETARCH\n";
    let mut o = opts(&[]);
    o.platform = Some(plan::platform::parse("linux/arm64").unwrap());
    let g = plan_with(src, &o);
    // The build stage is pruned: the final stage does not need it.
    assert_eq!(g.stages.len(), 1);
    assert_eq!(g.stages[0].platform.architecture, "arm64");
    assert_eq!(last_step(&g).args, []);
    o.target = Some("build".into());
    let g = plan_with(src, &o);
    let s = &g.stages[0];
    assert_eq!(s.platform.architecture, "amd64");
    assert_eq!(
        s.steps[0].instruction,
        Instruction::Arg(vec![("TARGETPLATFORM".into(), Some("linux/arm64".into()))])
    );
    assert_eq!(
        last_step(&g).args,
        [
            ("TARGETPLATFORM".to_string(), "linux/arm64".to_string()),
            ("TARGETARCH".to_string(), "arm64".to_string()),
            ("BUILDOS".to_string(), "linux".to_string()),
        ]
    );
    assert_eq!(s.final_config.architecture, "amd64");
}

#[test]
fn targetstage_arg() {
    let src = "ARG TARGETSTAGE\nFROM alpine AS one\nARG TARGETSTAGE\nRUN echo $TARGETSTAGE\n";
    let g = plan_src(src);
    assert_eq!(
        last_step(&g).args,
        [("TARGETSTAGE".to_string(), "one".to_string())]
    );
}

#[test]
fn stages_by_name_and_index_with_pruning_and_groups() {
    let src = "FROM golang AS build\nRUN go build -o /app\nFROM alpine AS assets\nRUN make assets\nFROM node AS unused\nRUN npm test\nFROM scratch\nCOPY --from=build /app /app\nCOPY --from=1 /assets /assets\nCOPY --from=nginx:latest /etc/nginx /etc/nginx\n";
    let g = plan_src(src);
    let names: Vec<Option<&str>> = g.stages.iter().map(|s| s.name.as_deref()).collect();
    assert_eq!(names, [Some("build"), Some("assets"), None]);
    assert_eq!(g.target, 2);
    assert_eq!(g.stages[2].index, 3);
    assert_eq!(g.stages[2].deps, [0, 1]);
    assert_eq!(g.groups, [vec![0, 1], vec![2]]);
    let froms: Vec<CopyFrom> = g.stages[2]
        .steps
        .iter()
        .map(|s| match &s.instruction {
            Instruction::Copy(c) => c.from.clone(),
            _ => panic!(),
        })
        .collect();
    assert_eq!(
        froms,
        [
            CopyFrom::Stage(0),
            CopyFrom::Stage(1),
            CopyFrom::Image("nginx:latest".into())
        ]
    );
}

#[test]
fn from_stage_inherits_env_args_and_config_but_not_onbuild() {
    let src = "FROM alpine AS base\nENV A=1\nARG V=7\nWORKDIR /srv\nONBUILD RUN echo triggered\nCMD [\"x\"]\nFROM BASE AS child\nRUN echo $A\nFROM child\nRUN true\n";
    let g = plan_src(src);
    assert_eq!(g.stages[1].base, Base::Stage(0));
    let child = &g.stages[1];
    // The ONBUILD of the base stage runs first in the child, and is not inherited further.
    assert!(child.steps[0].from_onbuild);
    assert_eq!(child.steps[0].location, child.location);
    assert_eq!(child.final_config.config.on_build, None);
    assert_eq!(child.steps[1].args, [("V".to_string(), "7".to_string())]);
    assert_eq!(
        child.final_config.config.working_dir.as_deref(),
        Some("/srv")
    );
    assert_eq!(
        child.final_config.config.cmd.as_deref(),
        Some(&["x".to_string()][..])
    );
    assert!(env(&child.final_config.config).contains(&"A=1".to_string()));
    assert!(!g.stages[2].steps[0].from_onbuild);
    assert_eq!(g.groups, [vec![0], vec![1], vec![2]]);
}

#[test]
fn base_image_onbuild_triggers_run_first() {
    let g = plan_src("FROM onbuild-base\nRUN ls\n");
    let s = &g.stages[0];
    assert_eq!(s.steps.len(), 3);
    assert!(s.steps[0].from_onbuild && s.steps[1].from_onbuild && !s.steps[2].from_onbuild);
    assert_eq!(
        s.steps[1].instruction,
        Instruction::Run(match &s.steps[1].instruction {
            Instruction::Run(r) => r.clone(),
            _ => panic!(),
        })
    );
    assert_eq!(s.final_config.config.on_build, None);
}

#[test]
fn cmd_entrypoint_shell_rules() {
    let g = plan_src("FROM golang\nENTRYPOINT [\"/app\"]\n");
    let c = &g.stages[0].final_config.config;
    assert_eq!(c.entrypoint.as_deref(), Some(&["/app".to_string()][..]));
    assert_eq!(c.cmd, None, "ENTRYPOINT clears an inherited CMD");
    let g = plan_src("FROM golang\nCMD [\"serve\"]\nENTRYPOINT /app run\n");
    let c = &g.stages[0].final_config.config;
    assert_eq!(c.cmd.as_deref(), Some(&["serve".to_string()][..]));
    assert_eq!(c.entrypoint.clone().unwrap(), ["/bin/sh", "-c", "/app run"]);
    let g = plan_src(
        "FROM alpine\nSHELL [\"/bin/bash\", \"-eo\", \"pipefail\", \"-c\"]\nCMD echo hi\nRUN echo $HOME\n",
    );
    let c = &g.stages[0].final_config.config;
    assert_eq!(
        c.cmd.clone().unwrap(),
        ["/bin/bash", "-eo", "pipefail", "-c", "echo hi"]
    );
    assert_eq!(c.args_escaped, Some(true));
    assert_eq!(
        c.shell.clone().unwrap(),
        ["/bin/bash", "-eo", "pipefail", "-c"]
    );
    // RUN is not expanded by the planner: the shell does it.
    let Instruction::Run(r) = &last_step(&g).instruction else {
        panic!()
    };
    assert_eq!(r.command, Command::Shell("echo $HOME".into()));
}

#[test]
fn config_instructions() {
    let src = "FROM alpine\nENV A=1 B=\"two words\"\nENV A 3\nLABEL \"com.x\"=\"y z\" k=v\nEXPOSE 80 53/udp 8000-8001\nVOLUME [\"/data\", \"/logs\"]\nVOLUME /more\nUSER app:app\nSTOPSIGNAL SIGKILL\nMAINTAINER Jane <j@x>\nHEALTHCHECK --interval=30s --timeout=3s --start-period=1m --start-interval=2s --retries=3 CMD curl -f http://localhost/\n";
    let g = plan_src(src);
    let f = &g.stages[0].final_config;
    let c = &f.config;
    assert_eq!(&env(c)[1..], ["A=3", "B=two words"]);
    let labels = c.labels.clone().unwrap();
    assert_eq!(labels.get("com.x").map(String::as_str), Some("y z"));
    let ports: Vec<&String> = c.exposed_ports.as_ref().unwrap().keys().collect();
    assert_eq!(ports, ["53/udp", "80/tcp", "8000/tcp", "8001/tcp"]);
    let vols: Vec<&String> = c.volumes.as_ref().unwrap().keys().collect();
    assert_eq!(vols, ["/data", "/logs", "/more"]);
    assert_eq!(c.user.as_deref(), Some("app:app"));
    assert_eq!(c.stop_signal.as_deref(), Some("SIGKILL"));
    assert_eq!(f.author.as_deref(), Some("Jane <j@x>"));
    let h = c.healthcheck.clone().unwrap();
    assert_eq!(h.test.unwrap(), ["CMD-SHELL", "curl -f http://localhost/"]);
    assert_eq!(h.interval, Some(30_000_000_000));
    assert_eq!(h.timeout, Some(3_000_000_000));
    assert_eq!(h.start_period, Some(60_000_000_000));
    assert_eq!(h.start_interval, Some(2_000_000_000));
    assert_eq!(h.retries, Some(3));
    let g = plan_src("FROM alpine\nHEALTHCHECK NONE\n");
    let h = g.stages[0].final_config.config.healthcheck.clone().unwrap();
    assert_eq!(h.test.unwrap(), ["NONE"]);
    let g = plan_src("FROM alpine\nHEALTHCHECK CMD [\"/bin/check\", \"-q\"]\n");
    let h = g.stages[0].final_config.config.healthcheck.clone().unwrap();
    assert_eq!(h.test.unwrap(), ["CMD", "/bin/check", "-q"]);
}

#[test]
fn copy_flags_heredocs_and_sources() {
    let src = "FROM alpine\nARG OWNER=app\nCOPY --chown=$OWNER:$OWNER --chmod=0755 --link --exclude=*.md --parents a b /dst/\nADD --checksum=sha256:abc --keep-git-dir --unpack=false https://x/y.tar.gz git@github.com:a/b.git /d/\nCOPY <<EOF <<'RAW' /etc/\nname=$OWNER\nEOF\nkeep=$OWNER\nRAW\n";
    let g = plan_src(src);
    let s = &g.stages[0].steps;
    let Instruction::Copy(c) = &s[1].instruction else {
        panic!()
    };
    assert_eq!(c.chown.as_deref(), Some("app:app"));
    assert_eq!(c.chmod.as_deref(), Some("0755"));
    assert!(c.link && c.parents);
    assert_eq!(c.excludes, ["*.md"]);
    assert_eq!(s[1].args, [("OWNER".to_string(), "app".to_string())]);
    let Instruction::Copy(a) = &s[2].instruction else {
        panic!()
    };
    assert!(a.is_add && a.keep_git_dir);
    assert_eq!(a.unpack, Some(false));
    assert_eq!(a.checksum.as_deref(), Some("sha256:abc"));
    assert_eq!(
        a.sources,
        [
            CopySource::Url("https://x/y.tar.gz".into()),
            CopySource::Git("git@github.com:a/b.git".into())
        ]
    );
    let Instruction::Copy(h) = &s[3].instruction else {
        panic!()
    };
    let docs: Vec<(String, String, bool)> = h
        .sources
        .iter()
        .map(|src| match src {
            CopySource::Heredoc(d) => (d.name.clone(), d.content.clone(), d.expand),
            _ => panic!(),
        })
        .collect();
    assert_eq!(
        docs,
        [
            ("EOF".to_string(), "name=app\n".to_string(), true),
            ("RAW".to_string(), "keep=$OWNER\n".to_string(), false)
        ]
    );
}

#[test]
fn run_heredocs_and_flags() {
    let g = plan_src(
        "FROM alpine\nRUN <<EOF\necho a\necho b\nEOF\nRUN <<-EOF bash\n\techo c\n\tEOF\nRUN --network=none --security=insecure cat <<A > /x\nbody\nA\n",
    );
    let s = &g.stages[0].steps;
    let Instruction::Run(r) = &s[0].instruction else {
        panic!()
    };
    assert_eq!(r.command, Command::Shell("echo a\necho b\n".into()));
    assert_eq!(r.heredocs[0].name, "EOF");
    let Instruction::Run(r) = &s[1].instruction else {
        panic!()
    };
    assert_eq!(r.heredocs[0].content, "echo c\n");
    assert_eq!(
        r.command,
        Command::Shell("<<-EOF bash\n\techo c\nEOF".into())
    );
    let Instruction::Run(r) = &s[2].instruction else {
        panic!()
    };
    assert_eq!(r.command, Command::Shell("cat <<A > /x\nbody\nA".into()));
    assert_eq!((r.network, r.insecure), (NetworkMode::None, true));
}

#[test]
fn run_mounts() {
    let src = "FROM alpine AS deps\nRUN true\nFROM alpine\nWORKDIR /src\nARG CACHE=/root/.cache\nRUN --mount=type=cache,target=$CACHE,sharing=locked --mount=from=deps,source=/x,target=vendor --mount=type=secret,id=tok --mount=type=ssh --mount=type=tmpfs,target=/tmp,size=1m make\n";
    let g = plan_src(src);
    let Instruction::Run(r) = &last_step(&g).instruction else {
        panic!()
    };
    let m = &r.mounts;
    assert_eq!(m.len(), 5);
    assert_eq!(
        (
            m[0].kind,
            m[0].target.as_deref(),
            m[0].id.as_deref(),
            m[0].sharing
        ),
        (
            MountKind::Cache,
            Some("/root/.cache"),
            Some("/root/.cache"),
            Sharing::Locked
        )
    );
    assert!(m[0].readwrite);
    assert_eq!(
        (m[1].kind, m[1].target.as_deref(), m[1].from.clone()),
        (
            MountKind::Bind,
            Some("/src/vendor"),
            Some(MountFrom::Stage(0))
        )
    );
    assert!(!m[1].readwrite);
    assert_eq!(m[2].target.as_deref(), Some("/run/secrets/tok"));
    assert_eq!(m[3].id.as_deref(), Some("default"));
    assert_eq!(m[4].size, Some(1 << 20));
    assert_eq!(g.stages[1].deps, [0]);
}

#[test]
fn errors_point_at_lines() {
    let e = err("FROM alpine\n\nCOPPY . /app\n");
    assert_eq!(e.kind.to_string(), "unknown instruction: COPPY");
    assert_eq!(e.location.unwrap().start_line, 3);
    assert_eq!(e.hint.as_deref(), Some("did you mean COPY?"));
    let r = e
        .diagnostic("Dockerfile")
        .render("FROM alpine\n\nCOPPY . /app\n");
    assert_eq!(
        r,
        "error: unknown instruction: COPPY\n --> Dockerfile:3:1\n  |\n3 | COPPY . /app\n  | ^^^^^ did you mean COPY?\n"
    );

    let e = err("FROM alpine\nCOPY --form=a b c\n");
    assert_eq!(e.kind.to_string(), "unknown flag: --form");
    assert_eq!(e.hint.as_deref(), Some("did you mean --from?"));
    let r = e
        .diagnostic("Dockerfile")
        .render("FROM alpine\nCOPY --form=a b c\n");
    assert!(
        r.contains(" --> Dockerfile:2:6\n") && r.contains("  |      ^^^^^^"),
        "{r}"
    );

    let cases: &[(&str, &str)] = &[
        ("", "no stages"),
        ("ARG A=1\n", "dockerfile contains no stages to build"),
        ("RUN x\nFROM a\n", "no build stage in current context"),
        ("FROM a\nENV\n", "ENV requires at least one argument"),
        (
            "FROM a\nRUN --mount=type=bogus,target=/x y\n",
            "unsupported mount type \"bogus\"",
        ),
        (
            "FROM a\nRUN --mount=type=cache,tagret=/x y\n",
            "unexpected key 'tagret' in 'tagret=/x'",
        ),
        (
            "FROM a\nRUN --mount=type=cache y\n",
            "mount type cache requires a target",
        ),
        (
            "FROM a\nCOPY --chmod=abc x /y\n",
            "invalid chmod parameter: abc",
        ),
        (
            "FROM a\nCOPY a b c\n",
            "When using COPY with more than one source file, the destination must be a directory and end with a /",
        ),
        (
            "FROM a\nCOPY x\n",
            "COPY requires at least two arguments, but only one was provided. Destination could not be determined",
        ),
        (
            "FROM a\nCOPY --from=later x /y\nFROM b AS later\n",
            "cannot copy from stage \"later\", it needs to be defined before current stage \"stage-0\"",
        ),
        (
            "FROM a AS me\nCOPY --from=me x /y\n",
            "circular dependency detected on stage: me",
        ),
        ("FROM a AS a\n", "circular dependency detected on stage: a"),
        ("FROM a AS x\nFROM b AS X\n", "duplicate stage name \"x\""),
        (
            "FROM a\nRUN --network=bridge x\n",
            "invalid network mode \"bridge\"",
        ),
        ("FROM a\nWORKDIR\n", "WORKDIR requires exactly one argument"),
        (
            "FROM a\nSHELL bash -c\n",
            "SHELL requires the arguments to be in JSON form",
        ),
        (
            "FROM a\nHEALTHCHECK --interval=5x CMD y\n",
            "time: invalid duration \"5x\"",
        ),
        (
            "FROM a\nHEALTHCHECK --retries=-1 CMD y\n",
            "--retries cannot be negative (-1)",
        ),
        (
            "FROM a\nHEALTHCHECK NONE x\n",
            "HEALTHCHECK NONE takes no arguments",
        ),
        ("FROM a\nSTOPSIGNAL SIGNOPE\n", "Invalid signal: SIGNOPE"),
        (
            "FROM a\nONBUILD FROM b\n",
            "FROM isn't allowed as an ONBUILD trigger",
        ),
        (
            "FROM a\nONBUILD ONBUILD RUN x\n",
            "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
        ),
        (
            "FROM a AS 1x\n",
            "invalid name for build stage: \"1x\", name can't start with a number or contain symbols",
        ),
        ("FROM $NOPE\n", "base name ($NOPE) should not be blank"),
        (
            "FROM a\nUSER ${X:?must be set}\n",
            "failed to process \"${X:?must be set}\": X: must be set",
        ),
        (
            "FROM a\nEXPOSE 80/tcpx\n",
            "invalid port: \"80/tcpx\": invalid proto: tcpx",
        ),
        (
            "FROM a\nCOPY --from=$X a /b\n",
            "variable expansion is not supported for --from",
        ),
        ("FROM a\nARG --x=1 A\n", "unknown flag: --x"),
    ];
    for (src, want) in cases {
        if src.is_empty() {
            continue;
        }
        let e = err(src);
        assert!(e.to_string().contains(want), "{src:?}: got {e}");
    }
}

#[test]
fn unknown_target_lists_stages() {
    let mut o = opts(&[]);
    o.target = Some("buidl".into());
    let e = try_plan_with("FROM a AS build\nFROM b AS test\n", &o).unwrap_err();
    assert_eq!(
        e.kind.to_string(),
        "target stage \"buidl\" could not be found"
    );
    assert_eq!(
        e.hint.as_deref(),
        Some("did you mean build? stages: build, test")
    );
}

#[test]
fn resolver_errors_are_reported_at_the_from_line() {
    struct Fails;
    impl BaseResolver for Fails {
        fn resolve(&self, r: &str, _: &Platform) -> Result<ImageConfig, String> {
            Err(format!("{r} not found"))
        }
    }
    let df = dockerfile::parse(b"FROM scratch AS a\nFROM nope:1\n").unwrap();
    let e = plan::plan(&df, &opts(&[]), &Fails).unwrap_err();
    assert_eq!(e.to_string(), "line 2: nope:1: nope:1 not found");
    // Pruned stages are not resolved.
    let df = dockerfile::parse(b"FROM nope AS unused\nFROM scratch\n").unwrap();
    assert!(plan::plan(&df, &opts(&[]), &Fails).is_ok());
}

#[test]
fn dry_run_rendering() {
    let g = plan_src(
        "FROM golang AS build\nARG V=1\nRUN go build -ldflags=$V\nFROM scratch\nCOPY --from=build /app /app\nCMD [\"/app\"]\n",
    );
    let text = plan::render_dry_run(&g);
    let want = "plan: 2 stages to build, target #1\n\
group 1: #0 build\n\
group 2: #1\n\
\n\
#0 build  FROM golang  [linux/amd64]  line 1\n\
\x20 2        ARG V=1\n\
\x20 3        RUN go build -ldflags=$V  [args: V=1]\n\
\n\
#1  FROM scratch  [linux/amd64]  line 4  (target)\n\
\x20 5        COPY --from=#0 build /app /app\n\
\x20 6        CMD [\"/app\"]\n";
    assert_eq!(text, want);
}

#[test]
fn planning_is_deterministic() {
    let src = "FROM golang AS a\nRUN x\nFROM alpine AS b\nRUN y\nFROM scratch\nCOPY --from=a / /\nCOPY --from=b / /\n";
    let one = serde_json::to_string(&plan_src(src)).unwrap();
    let two = serde_json::to_string(&plan_src(src)).unwrap();
    assert_eq!(one, two);
}

#[test]
fn fixtures_plan() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/dockerfiles");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let src = std::fs::read(&path).unwrap();
        let df = dockerfile::parse(&src).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let g = plan::plan(&df, &opts(&[]), &images())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!plan::render_dry_run(&g).is_empty());
        seen += 1;
    }
    assert_eq!(seen, 4);
}

#[test]
fn fixture_multistage_go() {
    let src = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/dockerfiles/multistage-go.Dockerfile"),
    )
    .unwrap();
    let mut o = opts(&[]);
    o.platform = Some(plan::platform::parse("linux/arm64").unwrap());
    let g = plan_with(&src, &o);
    assert_eq!(g.groups, [vec![0, 1], vec![2]]);
    let build = &g.stages[0];
    assert_eq!(build.base, Base::Image("golang:1.22".into()));
    assert_eq!(build.platform.architecture, "amd64");
    assert_eq!(g.stages[1].platform.architecture, "arm64");
    let Instruction::Copy(c) = &build.steps[2].instruction else {
        panic!()
    };
    assert_eq!(c.dest, "/src/");
    let run = &build.steps[5];
    assert_eq!(
        run.args,
        [
            ("TARGETOS".to_string(), "linux".to_string()),
            ("TARGETARCH".to_string(), "arm64".to_string())
        ]
    );
    let fin = &g.stages[2].final_config;
    assert_eq!(
        (fin.architecture.as_str(), fin.config.user.as_deref()),
        ("arm64", Some("65534:65534"))
    );
}

#[test]
fn fixture_config() {
    let src = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/dockerfiles/config.Dockerfile"),
    )
    .unwrap();
    let g = plan_src(&src);
    let c = &g.stages[0].final_config.config;
    assert_eq!(c.working_dir.as_deref(), Some("/srv/app"));
    let ports: Vec<&String> = c.exposed_ports.as_ref().unwrap().keys().collect();
    assert_eq!(ports, ["8080/tcp", "9000/udp", "9001/udp"]);
    assert_eq!(
        c.cmd.clone().unwrap(),
        ["/bin/sh", "-eu", "-c", "exec ./run --port \"$PORT\""]
    );
    assert_eq!(c.on_build.clone().unwrap(), ["COPY . /srv/app/src"]);
    assert_eq!(
        c.healthcheck.clone().unwrap().test.unwrap(),
        [
            "CMD-SHELL",
            "wget -qO- http://localhost:${PORT}/health || exit 1"
        ]
    );
}

#[test]
fn fixture_heredocs() {
    let src = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/dockerfiles/heredocs.Dockerfile"),
    )
    .unwrap();
    let g = plan_src(&src);
    let s = &g.stages[0].steps;
    let Instruction::Copy(c) = &s[2].instruction else {
        panic!()
    };
    let bodies: Vec<(String, String)> = c
        .sources
        .iter()
        .map(|x| match x {
            CopySource::Heredoc(h) => (h.name.clone(), h.content.clone()),
            _ => panic!(),
        })
        .collect();
    assert_eq!(
        bodies,
        [
            (
                "config.ini".to_string(),
                "[app]\ngreeting=hello\n".to_string()
            ),
            (
                "script.sh".to_string(),
                "#!/bin/sh\necho $GREETING\n".to_string()
            ),
        ]
    );
    assert_eq!(c.dest, "/etc/app/");
    let Instruction::Run(r) = &s[3].instruction else {
        panic!()
    };
    assert_eq!(
        r.command,
        Command::Shell("cat <<A >/a && cat <<B >/b\nfirst\nA\nsecond\nB".into())
    );
    assert_eq!(r.heredocs.len(), 2);
}
