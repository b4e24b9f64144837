//! `/api/venv/…` and `/api/environment` through a real server whose environments live in
//! a data dir of their own, with real installs of small pure-Python packages: create
//! (waiting and not), read, install, remove, who may do it, and a warm pool that follows
//! its environment's changes.

mod common;

use std::time::{Duration, Instant};

use common::server::Server;
use serde_json::{json, Value};

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

/// Poll `/health` until the pool of `env` has a sandbox ready (after it was replaced).
fn wait_pool_ready(server: &Server, env: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, health) = server.call(server.get("/health"));
        let pool = health["pools"]
            .as_array()
            .and_then(|p| p.iter().find(|p| p["env"] == env).cloned());
        if let Some(pool) = pool.filter(|p| p["ready"].as_u64() > Some(0)) {
            return pool;
        }
        assert!(
            Instant::now() < deadline,
            "no ready pool for {env}: {health}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn environments_are_created_changed_and_removed_over_http() {
    require_root!();
    let home = common::temp_dir("serve-envs");
    let config = format!(
        "[pool]\nsize = 1\nenvs = [\"small\"]\n\
         [[keys]]\ntenant = \"ops\"\nkey_sha256 = \"{}\"\nmanage_envs = true\n\
         [[keys]]\ntenant = \"user\"\nkey_sha256 = \"{}\"\n",
        airlock_service::auth::key_hash("ops-key"),
        airlock_service::auth::key_hash("user-key"),
    );
    let server = Server::start_with_env(&config, &[("AIRLOCK_HOME", home.to_str().unwrap())]);
    let ops = |r: reqwest::blocking::RequestBuilder| server.call(r.bearer_auth("ops-key"));
    let user = |r: reqwest::blocking::RequestBuilder| server.call(r.bearer_auth("user-key"));

    // Only a key with manage_envs may change environments; any key may read them.
    let (status, e) = user(server.post("/api/venv/create", &json!({"name": "small"})));
    assert_eq!((status, code(&e)), (403, "forbidden"), "{e}");
    assert_eq!(user(server.get("/api/venv/list")), (200, json!([])));

    // Bad input names its field and leaves nothing behind.
    for (body, field) in [
        (json!({"name": "../up"}), "name"),
        (
            json!({"name": "x", "packages": ["--index-url=http://x"]}),
            "packages",
        ),
        (
            json!({"name": "x", "python_version": "/usr/bin/python3"}),
            "python_version",
        ),
        // A version the host has no interpreter for (once a 500).
        (
            json!({"name": "x", "python_version": "3.99"}),
            "python_version",
        ),
        (json!({"name": "x", "colour": "red"}), "colour"),
    ] {
        let (status, e) = ops(server.post("/api/venv/create", &body));
        assert_eq!(status, 422, "{body}: {e}");
        assert!(message(&e).starts_with(field), "{body}: {e}");
    }
    assert_eq!(ops(server.get("/api/venv/list")).1, json!([]));
    assert!(
        !home.join("envs/x").exists(),
        "a refused create wrote nothing"
    );

    // Waiting (the default): 201 with the ready environment.
    let (status, small) = ops(server.post(
        "/api/venv/create",
        &json!({"name": "small", "packages": ["six"]}),
    ));
    assert_eq!(
        (status, small["status"].as_str()),
        (201, Some("ready")),
        "{small}"
    );
    let (status, e) = ops(server.post("/api/venv/create", &json!({"name": "small"})));
    assert_eq!((status, code(&e)), (409, "conflict"), "{e}");

    // Not waiting: 202 while it is created, then ready.
    let (status, other) = ops(server.post(
        "/api/venv/create",
        &json!({"name": "other", "packages": ["idna"], "wait": false}),
    ));
    assert_eq!(
        (status, other["status"].as_str()),
        (202, Some("creating")),
        "{other}"
    );
    let deadline = Instant::now() + Duration::from_secs(300);
    let other = loop {
        let (status, env) =
            user(server.get(&format!("/api/venv/{}", other["id"].as_str().unwrap())));
        assert_eq!(status, 200, "by id: {env}");
        if env["status"] != "creating" {
            break env;
        }
        assert!(Instant::now() < deadline, "still creating: {env}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(other["status"], "ready", "{other}");

    let (_, list) = user(server.get("/api/venv/list"));
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(names, ["other", "small"]);
    let (status, packages) = user(server.get("/api/venv/small/packages"));
    assert_eq!(status, 200);
    assert!(
        packages
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "six"),
        "{packages}"
    );
    assert_eq!(user(server.get("/api/venv/nope")).0, 404);

    // What code can use, for a prompt.
    let (status, info) = user(server.get("/api/environment?env=small"));
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["env"], "small");
    assert!(info["packages"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "six"));
    assert_eq!(info["prebound"], json!([]), "no numpy here: {info}");
    assert_eq!(info["network"], "none");
    assert!(info["prompt"].as_str().unwrap().contains("six "), "{info}");
    assert_eq!(user(server.get("/api/environment?env=nope")).0, 404);
    assert_eq!(user(server.get("/api/environment?colour=red")).0, 422);

    // The pool follows the environment: after an install, pooled runs see the package.
    wait_pool_ready(&server, "small");
    let run = |code: &str| {
        user(server.post("/api/code/execute", &json!({"code": code, "env": "small"}))).1
    };
    let r = run("import six\nprint(six.__name__)");
    assert_eq!(r["stdout"], "six\n", "{r}");
    let (status, e) = user(server.post("/api/venv/small/install", &json!({"packages": ["idna"]})));
    assert_eq!((status, code(&e)), (403, "forbidden"));
    let (status, installed) =
        ops(server.post("/api/venv/small/install", &json!({"packages": ["idna"]})));
    assert_eq!(status, 200, "{installed}");
    wait_pool_ready(&server, "small");
    for _ in 0..3 {
        let r = run("import idna, six\nprint('both')");
        assert_eq!(
            r["stdout"], "both\n",
            "a pooled sandbox of the old build: {r}"
        );
    }
    let (status, e) = ops(server.post(
        "/api/venv/small/install",
        &json!({"packages": ["airlock-no-such-package-x9"]}),
    ));
    assert_eq!((status, code(&e)), (422, "install_failed"), "{e}");
    let r = run("import idna\nprint('still')");
    assert_eq!(
        r["stdout"], "still\n",
        "a failed install changes nothing: {r}"
    );

    // Removal: the pool goes with it.
    assert_eq!(user(server.delete("/api/venv/small")).0, 403);
    let (status, gone) = ops(server.delete("/api/venv/small"));
    assert_eq!(
        (status, gone["status"].as_str()),
        (200, Some("deleted")),
        "{gone}"
    );
    assert_eq!(user(server.get("/api/venv/small")).0, 404);
    let (_, health) = server.call(server.get("/health"));
    assert_eq!(health["pools"], json!([]), "{health}");
    let (status, e) = user(server.post("/api/code/execute", &json!({"code": "1", "env": "small"})));
    assert_eq!(status, 422, "{e}");
    drop(server);
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn a_default_environment_that_cannot_be_built_is_503_and_is_retried() {
    require_root!();
    let home = common::temp_dir("serve-envs-unbuilt");
    // A package index on a loopback port where nothing listens.
    let dead_index = "http://127.0.0.1:9/simple";
    let server = Server::start_with_env(
        "[pool]\nsize = 0\n",
        &[
            ("AIRLOCK_HOME", home.to_str().unwrap()),
            ("UV_DEFAULT_INDEX", dead_index),
            ("PIP_INDEX_URL", dead_index),
        ],
    );
    for attempt in 0..2 {
        let (status, e) = server.call(server.post("/api/code/execute", &json!({"code": "1"})));
        assert_eq!(
            (status, code(&e)),
            (503, "env_unavailable"),
            "attempt {attempt}: {e}"
        );
        assert!(message(&e).starts_with("env:"), "{e}");
    }
    let (_, list) = server.call(server.get("/api/venv/list"));
    assert_eq!(list[0]["status"], "failed", "{list}");
    drop(server);
    // With the index back, the next run builds it again instead of refusing.
    let out = common::airlock()
        .env("AIRLOCK_HOME", &home)
        .args(["run", "--quiet", "-c", "print('built')"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "built\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&home);
}
