//! `/openapi.json` against the real service: the document lists every endpoint of
//! CONTRACT.md, and schemathesis, generating requests from it (valid and invalid),
//! finds no 5xx, no undocumented status code and no answer that breaks its schema.
//!
//! The server has environments of its own (`AIRLOCK_HOME`), made before it starts, and a
//! package index on a loopback port where nothing listens: the installs schemathesis
//! asks for fail at once, and no request of this test leaves the machine.

mod common;

use std::process::Command;

use common::server::Server;

/// CONTRACT.md's endpoints.
const CONTRACT: &[(&str, &str)] = &[
    ("post", "/api/code/validate"),
    ("post", "/api/code/analyze"),
    ("get", "/api/code/whitelist"),
    ("get", "/api/code/templates"),
    ("get", "/api/code/examples"),
    ("post", "/api/code/execute"),
    ("post", "/api/code/execute/async"),
    ("get", "/api/code/execution/{id}"),
    ("post", "/api/code/execution/{id}/cancel"),
    ("get", "/api/code/executions"),
    ("get", "/api/environment"),
    ("get", "/api/venv/list"),
    ("post", "/api/venv/create"),
    ("get", "/api/venv/{id}"),
    ("delete", "/api/venv/{id}"),
    ("get", "/api/venv/{id}/packages"),
    ("post", "/api/venv/{id}/install"),
    ("post", "/api/sessions"),
    ("get", "/api/sessions"),
    ("get", "/api/sessions/{id}/snapshot"),
    ("post", "/api/sessions/{id}/execute"),
    ("put", "/api/sessions/{id}/files/{path}"),
    ("get", "/api/sessions/{id}/files/{path}"),
    ("delete", "/api/sessions/{id}"),
    ("get", "/health"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
];

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn the_document_lists_every_endpoint_of_the_contract() {
    require_root!();
    let server = Server::start("[pool]\nsize = 0\n");
    let (status, doc) = server.call(server.get("/openapi.json"));
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    let paths = doc["paths"].as_object().unwrap();
    for (method, path) in CONTRACT {
        let operation = &paths
            .get(*path)
            .unwrap_or_else(|| panic!("{path} is not in the document"))[method];
        assert!(
            operation.is_object(),
            "{method} {path} is not in the document"
        );
        assert!(
            operation["responses"]
                .as_object()
                .is_some_and(|r| !r.is_empty()),
            "{method} {path} documents no answer"
        );
    }
    let count: usize = paths
        .values()
        .map(|item| item.as_object().map_or(0, |o| o.len()))
        .sum();
    assert_eq!(
        count,
        CONTRACT.len(),
        "an endpoint the contract does not name"
    );
    let execute = &doc["components"]["schemas"]["ExecutionResult"]["properties"];
    for field in [
        "status",
        "reason",
        "stdout",
        "return_value",
        "charts",
        "files",
    ] {
        assert!(
            execute[field].is_object(),
            "ExecutionResult.{field}: {execute}"
        );
    }
}

/// `airlock` with `AIRLOCK_HOME` set to `home`; it must succeed.
fn airlock_in(home: &std::path::Path, args: &[&str]) {
    let out = common::airlock()
        .env("AIRLOCK_HOME", home)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "airlock {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
#[cfg_attr(
    no_schemathesis,
    ignore = "needs schemathesis (scripts/install-test-deps installs it)"
)]
fn schemathesis_finds_no_server_error() {
    require_root!();
    let home = common::temp_dir("openapi-home");
    // The environments requests use, made with the real index before the server starts.
    airlock_in(&home, &["run", "--quiet", "-c", "pass"]);
    airlock_in(
        &home,
        &["env", "create", "small", "--packages", "six", "--quiet"],
    );
    let dead_index = "http://127.0.0.1:9/simple";
    let server = Server::start_with_env(
        "[pool]\nsize = 0\n",
        &[
            ("AIRLOCK_HOME", home.to_str().unwrap()),
            ("UV_DEFAULT_INDEX", dead_index),
            ("PIP_INDEX_URL", dead_index),
        ],
    );
    // Operations on one environment or session get an existing one, so they reach past
    // the 404 (deletions get made-up ids: they would take it from the others).
    let (status, session) = server.call(server.post(
        "/api/sessions",
        &serde_json::json!({"env": "none", "timeout": 2}),
    ));
    assert_eq!(status, 201, "{session}");
    let config = server.data.join("schemathesis.toml");
    let session_id = session["id"].as_str().unwrap();
    let fixed: String = [
        ("GET /api/venv/{id}", "small"),
        ("GET /api/venv/{id}/packages", "small"),
        ("POST /api/venv/{id}/install", "small"),
        ("POST /api/sessions/{id}/execute", session_id),
        ("GET /api/sessions/{id}/snapshot", session_id),
        ("PUT /api/sessions/{id}/files/{path}", session_id),
        ("GET /api/sessions/{id}/files/{path}", session_id),
    ]
    .iter()
    .map(|(operation, id)| {
        format!("[[operations]]\ninclude-name = \"{operation}\"\nparameters = {{ \"path.id\" = \"{id}\" }}\n")
    })
    .collect();
    std::fs::write(&config, fixed).unwrap();
    let out = Command::new(env!("AIRLOCK_TEST_SCHEMATHESIS"))
        .arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(format!("{}/openapi.json", server.base))
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--phases",
            "coverage,fuzzing",
            "--max-examples",
            "25",
            "--seed",
            "1",
            "--request-timeout",
            "120",
            "--generation-database",
            "none",
            "--no-color",
        ])
        .current_dir(&server.data)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    eprintln!("{report}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "schemathesis found failures (above)");
    let generated: u64 = report
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_suffix(" passed")?
                .split(" generated")
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0);
    assert!(
        generated > 500,
        "schemathesis made only {generated} requests"
    );
    // Requests reached the service: the audit log has executions schemathesis made.
    let (_, log) = server.call(server.get("/api/code/executions?limit=5"));
    assert!(
        log["items"].as_array().is_some_and(|i| !i.is_empty()),
        "{log}"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&home);
}
