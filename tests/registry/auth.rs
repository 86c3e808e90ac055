//! Authentication: TLS with basic auth and `rbuild login`, credential helpers, token auth.

use crate::*;

#[test]
fn tls_registry_with_basic_auth_login_pull_logout() {
    if !require(&["docker-registry", "skopeo", "openssl"]) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let (ca, cert, key) = make_tls(work.path());
    let reg = Registry::start_with(&RegistryConfig {
        htpasswd: vec![("alice".into(), "s3cret".into())],
        tls: Some((cert, key)),
        ..Default::default()
    });
    let digest = seed_busybox(
        &reg.host,
        "busybox",
        "latest",
        &["--dest-creds", "alice:s3cret"],
    );
    let cfg_dir = work.path().join("docker");
    let cfg = cfg_dir.join("config.json");
    let root = work.path().join("store");
    let ca = ca.display().to_string();
    let image = format!("{}/busybox", reg.host);

    // A loopback registry is insecure by default, as in Docker: its self-signed
    // certificate is accepted without --tls-ca (wrong credentials are still refused).
    let out = rbuild_stdin(
        &root,
        &cfg_dir,
        &["login", &reg.host, "-u", "alice", "--password-stdin"],
        Some("wrong\n"),
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("401"), "{}", stderr(&out));
    assert!(!cfg.exists());

    // Wrong credentials: refused, nothing written.
    let out = rbuild_stdin(
        &root,
        &cfg_dir,
        &[
            "login",
            &reg.host,
            "-u",
            "alice",
            "--password-stdin",
            "--tls-ca",
            &ca,
        ],
        Some("wrong\n"),
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("authentication required (401 Unauthorized)"),
        "{err}"
    );
    assert!(err.contains("nothing was saved"), "{err}");
    assert!(!cfg.exists());

    // Pulling before login: 401 with a hint to log in.
    let out = rbuild(&root, &cfg_dir, &["pull", "--tls-ca", &ca, &image]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("hint: log in first: rbuild login {}", reg.host)),
        "{}",
        stderr(&out)
    );

    // Right credentials: saved as base64 user:password, mode 0600.
    let out = rbuild_stdin(
        &root,
        &cfg_dir,
        &[
            "login",
            &reg.host,
            "-u",
            "alice",
            "--password-stdin",
            "--tls-ca",
            &ca,
        ],
        Some("s3cret\n"),
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Login Succeeded");
    let v = read_json(&cfg);
    assert_eq!(
        v["auths"][&reg.host]["auth"], "YWxpY2U6czNjcmV0",
        "base64 of alice:s3cret"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&cfg).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // Pull over TLS: with --tls-ca, with SSL_CERT_FILE, and with --insecure-registry.
    let out = rbuild(&root, &cfg_dir, &["pull", "--tls-ca", &ca, &image]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), digest);
    let out = rbuild_stdin(
        &work.path().join("s2"),
        &cfg_dir,
        &["pull", &image],
        None,
        &[("SSL_CERT_FILE", &ca)],
    );
    assert!(out.status.success(), "SSL_CERT_FILE: {}", stderr(&out));
    let out = rbuild(
        &work.path().join("s3"),
        &cfg_dir,
        &["pull", "--insecure-registry", &reg.host, &image],
    );
    assert!(
        out.status.success(),
        "--insecure-registry: {}",
        stderr(&out)
    );

    // Logout removes only that entry.
    let out = rbuild(&root, &cfg_dir, &["logout", &reg.host]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(read_json(&cfg)["auths"].get(&reg.host).is_none());
    let out = rbuild(&root, &cfg_dir, &["logout", &reg.host]);
    assert_eq!(stdout(&out), format!("Not logged in to {}", reg.host));
    let out = rbuild(
        &work.path().join("s4"),
        &cfg_dir,
        &["pull", "--tls-ca", &ca, &image],
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn credentials_through_a_credential_helper() {
    if !require(&["docker-registry", "skopeo"]) {
        return;
    }
    let reg = Registry::start_with(&RegistryConfig {
        htpasswd: vec![("bob".into(), "hunter2".into())],
        ..Default::default()
    });
    let digest = seed_busybox(
        &reg.host,
        "busybox",
        "latest",
        &["--dest-creds", "bob:hunter2"],
    );
    let work = tempfile::tempdir().unwrap();
    // A helper that keeps one entry in a file, speaking docker-credential-helpers' protocol.
    let bin = work.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let store_file = work.path().join("helper-store.json");
    let helper = bin.join("docker-credential-rbtest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\nf={}\ncase \"$1\" in\n get) read s; [ -f \"$f\" ] && cat \"$f\" || {{ echo 'credentials not found in native keychain'; exit 1; }} ;;\n store) cat > \"$f\" ;;\n erase) read s; rm -f \"$f\" ;;\nesac\n",
            store_file.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cfg_dir = work.path().join("docker");
    std::fs::create_dir_all(&cfg_dir).unwrap();
    std::fs::write(cfg_dir.join("config.json"), r#"{"credsStore":"rbtest"}"#).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let env = [("PATH", path.as_str())];
    let root = work.path().join("store");

    let out = rbuild_stdin(
        &root,
        &cfg_dir,
        &["login", &reg.host, "-u", "bob", "--password-stdin"],
        Some("hunter2"),
        &env,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let stored = read_json(&store_file);
    assert_eq!(stored["ServerURL"], reg.host.as_str());
    assert_eq!(stored["Username"], "bob");
    assert_eq!(stored["Secret"], "hunter2");
    let v = read_json(&cfg_dir.join("config.json"));
    assert_eq!(v["credsStore"], "rbtest");
    assert_eq!(
        v["auths"][&reg.host],
        serde_json::json!({}),
        "no secret in the file"
    );

    let out = rbuild_stdin(
        &root,
        &cfg_dir,
        &["pull", &format!("{}/busybox", reg.host)],
        None,
        &env,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), digest);

    let out = rbuild_stdin(&root, &cfg_dir, &["logout", &reg.host], None, &env);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!store_file.exists());
}

#[test]
fn token_auth_login_pull_push_and_mount() {
    if !require(&["docker-registry", "skopeo", "openssl"]) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let tokens = token::TokenServer::start(work.path(), "carol", "pw");
    let reg = Registry::start_with(&RegistryConfig {
        token: Some((
            tokens.realm.clone(),
            token::SERVICE.into(),
            token::ISSUER.into(),
            tokens.bundle.clone(),
        )),
        ..Default::default()
    });
    let digest = seed_busybox(
        &reg.host,
        "lib/busybox",
        "latest",
        &["--dest-creds", "carol:pw"],
    );
    let cfg_dir = work.path().join("docker");
    let root = work.path().join("store");

    // Anonymous: the token server refuses, and the error says to log in.
    let out = rbuild(
        &root,
        &cfg_dir,
        &["pull", &format!("{}/lib/busybox", reg.host)],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("hint: log in first: rbuild login {}", reg.host)),
        "{}",
        stderr(&out)
    );

    let out = rbuild_stdin(
        &root,
        &cfg_dir,
        &["login", &reg.host, "-u", "carol", "--password-stdin"],
        Some("nope"),
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(!cfg_dir.join("config.json").exists());
    let out = rbuild_stdin(
        &root,
        &cfg_dir,
        &["login", &reg.host, "-u", "carol", "--password-stdin"],
        Some("pw"),
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));

    tokens.requests.lock().unwrap().clear();
    let mut o = opts(work.path());
    o.docker_config = Some(cfg_dir.join("config.json"));
    let client = RegistryClient::new(o);
    let store = Store::open(&root).unwrap();
    let src = Reference::parse(&format!("{}/lib/busybox", reg.host)).unwrap();
    let img = client
        .pull(&store, &src, &host_amd64(), &no_progress)
        .unwrap();
    assert_eq!(img.manifest_descriptor.digest.to_string(), digest);
    assert_eq!(
        *tokens.requests.lock().unwrap(),
        ["repository:lib/busybox:pull"],
        "one token, reused for every blob"
    );

    // Push to another repository: push scope, and a mount scope that can read the source.
    let events = Mutex::new(Vec::new());
    let target = Reference::parse(&format!("{}/team/app:2", reg.host)).unwrap();
    let pushed = client
        .push(&store, &img.manifest_descriptor, &target, &|e| {
            events.lock().unwrap().push(e.phase)
        })
        .unwrap();
    assert_eq!(pushed.to_string(), digest);
    assert!(events.lock().unwrap().contains(&TransferPhase::Mounted));
    let reqs = tokens.requests.lock().unwrap().clone();
    assert!(
        reqs.contains(&"repository:team/app:pull,push".to_string()),
        "{reqs:?}"
    );
    assert_eq!(
        reqs,
        [
            "repository:lib/busybox:pull",
            "repository:team/app:pull,push",
            "repository:team/app:pull,push repository:lib/busybox:pull"
        ],
        "one token per scope, shared by the parallel transfers"
    );
}
