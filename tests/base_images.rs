//! Bases and outputs end to end: an image in the store as a base (with its ONBUILD
//! triggers), `FROM oci-layout://` and `oci-archive://`, `COPY --from=<image>`, build args
//! in FROM, `-o type=local` / `type=tar`, `--iidfile`, `--label`.

mod support;

use std::process::Command;

use serde_json::Value;
use support::{TestDir, have_tool};

fn config(t: &TestDir, name: &str) -> Value {
    serde_json::from_str(&t.ok(&["inspect", name])).unwrap()
}

fn ctx(t: &TestDir, dir: &str, dockerfile: &str) -> String {
    t.write(&format!("{dir}/Dockerfile"), dockerfile);
    t.path().join(dir).to_string_lossy().into_owned()
}

#[test]
fn onbuild_triggers_run_in_the_child_build() {
    let t = TestDir::new();
    t.write("parent/p.txt", "parent");
    let p = ctx(
        &t,
        "parent",
        "FROM scratch\nCOPY p.txt /\nONBUILD COPY child.txt /from-trigger.txt\nONBUILD ENV TRIGGERED=yes\n",
    );
    t.ok(&["build", "-t", "parent:1", &p]);
    assert_eq!(
        config(&t, "parent:1")["config"]["OnBuild"],
        serde_json::json!(["COPY child.txt /from-trigger.txt", "ENV TRIGGERED=yes"])
    );
    t.write("child/child.txt", "child");
    let c = ctx(&t, "child", "FROM parent:1\nLABEL x=y\n");
    let dest = t.path().join("out");
    t.ok(&[
        "build",
        "-t",
        "child:1",
        "-o",
        &format!("type=local,dest={}", dest.display()),
        &c,
    ]);
    assert_eq!(
        std::fs::read_to_string(dest.join("from-trigger.txt")).unwrap(),
        "child"
    );
    assert_eq!(
        std::fs::read_to_string(dest.join("p.txt")).unwrap(),
        "parent"
    );
    let cfg = config(&t, "child:1");
    assert!(
        cfg["config"]["Env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "TRIGGERED=yes")
    );
    assert!(
        cfg["config"].get("OnBuild").is_none_or(|o| o.is_null()),
        "triggers are not inherited further: {}",
        cfg["config"]
    );
}

#[test]
fn oci_layout_and_archive_bases() {
    if !have_tool("skopeo") {
        return;
    }
    let t = TestDir::new();
    t.write("base/b.txt", "base file");
    let b = ctx(&t, "base", "FROM scratch\nCOPY b.txt /\nENV FROM_BASE=1\n");
    let layout = t.path().join("layout");
    let archive = t.path().join("base.tar");
    t.ok(&[
        "build",
        "-o",
        &format!("type=oci,dest={},tar=false,name=base:v1", layout.display()),
        &b,
    ]);
    t.ok(&[
        "build",
        "-o",
        &format!("type=oci,dest={},name=base:v1", archive.display()),
        &b,
    ]);
    for (i, reference) in [
        format!("oci-layout://{}:base:v1", layout.display()),
        format!("oci-archive://{}", archive.display()),
    ]
    .iter()
    .enumerate()
    {
        let dir = format!("child{i}");
        t.write(&format!("{dir}/c.txt"), "child file");
        let c = ctx(&t, &dir, &format!("FROM {reference}\nCOPY c.txt /\n"));
        let tag = format!("fromlayout:{i}");
        t.ok(&["build", "-t", &tag, &c]);
        let cfg = config(&t, &tag);
        assert_eq!(
            cfg["rootfs"]["diff_ids"].as_array().unwrap().len(),
            2,
            "{reference}"
        );
        assert!(
            cfg["config"]["Env"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e == "FROM_BASE=1"),
            "{reference}"
        );
    }
}

#[test]
fn copy_from_an_image_and_build_args_in_from() {
    let t = TestDir::new();
    t.write("tool/tool.bin", "tool");
    let tool = ctx(&t, "tool", "FROM scratch\nCOPY tool.bin /usr/bin/tool\n");
    t.ok(&["build", "-t", "tools:2", &tool]);
    let c = ctx(
        &t,
        "app",
        "ARG TOOLS=tools:1\nFROM ${TOOLS} AS tools\nFROM scratch\nCOPY --from=tools:2 /usr/bin/tool /a\nCOPY --from=tools /usr/bin/tool /b\n",
    );
    let dest = t.path().join("out.tar");
    t.ok(&[
        "build",
        "--build-arg",
        "TOOLS=tools:2",
        "-o",
        &format!("type=tar,dest={}", dest.display()),
        &c,
    ]);
    let list = Command::new("tar").arg("tf").arg(&dest).output().unwrap();
    let names = String::from_utf8_lossy(&list.stdout).to_string();
    assert!(
        names.lines().any(|l| l.trim_start_matches("./") == "a"),
        "{names}"
    );
    assert!(
        names.lines().any(|l| l.trim_start_matches("./") == "b"),
        "{names}"
    );
}

#[test]
fn iidfile_and_labels() {
    let t = TestDir::new();
    let c = ctx(&t, "c", "FROM scratch\nLABEL from=dockerfile\n");
    let iid = t.path().join("iid");
    let out = t.ok(&[
        "build",
        "-q",
        "--iidfile",
        iid.to_str().unwrap(),
        "--label",
        "from=cli",
        "--label",
        "extra=1",
        "-t",
        "lab:1",
        &c,
    ]);
    let id = std::fs::read_to_string(&iid).unwrap();
    assert_eq!(out.trim(), id.trim());
    let cfg = config(&t, "lab:1");
    assert_eq!(
        cfg["config"]["Labels"]["from"], "cli",
        "--label overrides the Dockerfile's"
    );
    assert_eq!(cfg["config"]["Labels"]["extra"], "1");
    let images = t.ok(&["images"]);
    assert!(
        images.contains("lab") && images.contains(&id.trim_start_matches("sha256:")[..12]),
        "{images}"
    );
}

#[test]
fn unused_build_arg_warns() {
    let t = TestDir::new();
    let c = ctx(&t, "c", "FROM scratch\nARG USED\nLABEL v=$USED\n");
    let out = t.rbuild(&[
        "build",
        "--progress",
        "plain",
        "--build-arg",
        "USED=1",
        "--build-arg",
        "NOTDECLARED=2",
        &c,
    ]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("NOTDECLARED") && !err.contains("[USED]"),
        "{err}"
    );
}
