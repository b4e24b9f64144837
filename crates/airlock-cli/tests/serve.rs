//! `airlock serve` through a real server on a loopback port: the endpoints, their error
//! shape and status codes, async jobs, cancel, idempotency, keys and quotas, the audit
//! log and its verification, and jobs and their callbacks surviving a kill -9.

mod common;

use std::time::Duration;

use common::server::Server;
use serde_json::{json, Value};

/// A configuration without pools (fast to start) and with `extra` appended.
fn config(extra: &str) -> String {
    format!("[pool]\nsize = 0\n{extra}")
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not the error shape: {body}"))
}

fn error_message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn a_sync_execution_returns_the_contract_result_and_is_audited() {
    require_root!();
    let server = Server::start(&config(""));
    let (status, r) =
        server.call(server.post("/api/code/execute", &json!({"code": "print('hi')\n6 * 7"})));
    assert_eq!(status, 200, "{r}");
    assert_eq!(
        (r["status"].as_str(), r["stdout"].as_str()),
        (Some("completed"), Some("hi\n")),
        "{r}"
    );
    assert_eq!(r["return_value"], 42);
    assert_eq!(r["env"], "default");
    let id = r["id"].as_str().unwrap();
    let (status, again) = server.call(server.get(&format!("/api/code/execution/{id}")));
    assert_eq!((status, &again["stdout"]), (200, &r["stdout"]));

    let (_, failing) = server.call(server.post("/api/code/execute", &json!({"code": "1/0"})));
    assert_eq!(
        (failing["status"].as_str(), failing["reason"].as_str()),
        (Some("failed"), Some("exception"))
    );

    let (status, log) = server.call(server.get("/api/code/executions"));
    assert_eq!(status, 200, "{log}");
    let items = log["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{log}");
    assert_eq!(items[0]["id"], failing["id"], "newest first");
    assert_eq!(
        (items[1]["id"].as_str(), items[1]["caller"].as_str()),
        (Some(id), Some("local"))
    );
    assert_eq!(items[1]["code_sha256"].as_str().map(str::len), Some(64));
    assert_eq!(items[1]["status"], "completed");
    assert_eq!(items[1]["verdict"], "safe");
    let (_, only_failed) = server.call(server.get("/api/code/executions?status=failed"));
    assert_eq!(
        only_failed["items"].as_array().map(Vec::len),
        Some(1),
        "{only_failed}"
    );
    let (_, page) = server.call(server.get("/api/code/executions?limit=1"));
    let next = page["next"].as_u64().expect("a next cursor");
    let (_, rest) = server.call(server.get(&format!("/api/code/executions?limit=1&cursor={next}")));
    assert_eq!(rest["items"][0]["id"].as_str(), Some(id), "{rest}");

    let verify = common::airlock()
        .args(["audit", "verify", "--data"])
        .arg(&server.data)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    assert!(String::from_utf8_lossy(&verify.stdout).contains("2 records"));
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn bad_input_gets_the_contract_error_and_status() {
    require_root!();
    let server = Server::start(&config(
        "[server]\nmax_code_bytes = 1000\n[limits]\ntimeout = 5\n",
    ));
    let raw = |body: &str| {
        server.call(
            server
                .client
                .post(format!("{}/api/code/execute", server.base))
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
    };
    let cases: Vec<((u16, Value), u16, &str, &str)> = vec![
        (raw("{not json"), 400, "malformed", ""),
        (
            raw(r#"{"code": "1", "timeout": "soon"}"#),
            422,
            "invalid_value",
            "timeout",
        ),
        (
            raw(r#"{"code": "1", "timout": 3}"#),
            422,
            "invalid_value",
            "timout",
        ),
        (raw(r#"{"timeout": 3}"#), 422, "invalid_value", "code"),
        (
            server.call(server.post("/api/code/execute", &json!({"code": "x" .repeat(1001)}))),
            413,
            "too_large",
            "code",
        ),
        (
            server.call(server.post("/api/code/execute", &json!({"code": "1", "timeout": 6}))),
            422,
            "invalid_value",
            "timeout",
        ),
        (
            server.call(server.post(
                "/api/code/execute",
                &json!({"code": "1", "max_memory_mb": 1}),
            )),
            422,
            "invalid_value",
            "max_memory_mb",
        ),
        (
            server.call(server.post(
                "/api/code/execute",
                &json!({"code": "1", "allow_read": ["/etc"]}),
            )),
            422,
            "invalid_value",
            "allow_read",
        ),
        (
            server.call(server.post("/api/code/execute", &json!({"code": "1", "env": "nope"}))),
            422,
            "invalid_value",
            "env",
        ),
        (
            server.call(server.post(
                "/api/code/execute/async",
                &json!({"code": "1", "callback_url": "http://10.1.2.3/"}),
            )),
            422,
            "invalid_value",
            "callback_url",
        ),
        (
            server.call(server.get("/api/code/execution/no-such-id")),
            404,
            "not_found",
            "",
        ),
        (
            server.call(server.get("/api/nothing/here")),
            404,
            "not_found",
            "",
        ),
        (
            server.call(server.get("/api/code/execute")),
            405,
            "method_not_allowed",
            "",
        ),
        (
            server.call(server.get("/api/code/executions?limit=0")),
            422,
            "invalid_value",
            "limit",
        ),
    ];
    for (i, ((status, body), want, code, field)) in cases.iter().enumerate() {
        assert_eq!(*status, *want, "case {i}: {body}");
        assert_eq!(error_code(body), *code, "case {i}: {body}");
        assert!(error_message(body).starts_with(field), "case {i}: {body}");
    }
    // Nothing was run or recorded for any of them.
    let (_, log) = server.call(server.get("/api/code/executions"));
    assert_eq!(log["items"], json!([]), "{log}");
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn async_jobs_run_cancel_and_are_idempotent() {
    require_root!();
    // One worker: a second job waits (pending) while the first runs.
    let server = Server::start(&config("[server]\nworkers = 1\n"));
    let submit =
        |code: &str| server.call(server.post("/api/code/execute/async", &json!({"code": code})));
    let (status, first) = submit("import time\ntime.sleep(30)");
    assert_eq!(
        (status, first["status"].as_str()),
        (202, Some("pending")),
        "{first}"
    );
    let (_, second) = submit("print('never')");
    let (first, second) = (
        first["id"].as_str().unwrap().to_string(),
        second["id"].as_str().unwrap().to_string(),
    );
    // The first is running, the second pending.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while server
        .call(server.get(&format!("/api/code/execution/{first}")))
        .1["status"]
        != "running"
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the first job never ran"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        server
            .call(server.get(&format!("/api/code/execution/{second}")))
            .1["status"],
        "pending"
    );
    let (status, cancelled) =
        server.call(server.post(&format!("/api/code/execution/{second}/cancel"), &json!({})));
    assert_eq!(
        (status, cancelled["status"].as_str()),
        (200, Some("cancelled")),
        "{cancelled}"
    );
    let started = std::time::Instant::now();
    let (status, killed) =
        server.call(server.post(&format!("/api/code/execution/{first}/cancel"), &json!({})));
    assert_eq!(
        (status, killed["status"].as_str()),
        (200, Some("cancelled")),
        "{killed}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the running job was killed, not waited for"
    );
    // Cancelling again is a conflict; the pending one never ran.
    let (status, again) =
        server.call(server.post(&format!("/api/code/execution/{second}/cancel"), &json!({})));
    assert_eq!((status, error_code(&again)), (409, "conflict"));
    assert_eq!(
        server.wait_final(&second, Duration::from_secs(5))["stdout"],
        ""
    );

    // A retried submit with the same Idempotency-Key returns the first job and runs once.
    let keyed = || {
        server.call(
            server
                .post("/api/code/execute/async", &json!({"code": "print('once')"}))
                .header("Idempotency-Key", "k-1"),
        )
    };
    let ((s1, a), (s2, b)) = (keyed(), keyed());
    assert_eq!((s1, s2), (202, 200));
    assert_eq!(a["id"], b["id"]);
    let done = server.wait_final(a["id"].as_str().unwrap(), Duration::from_secs(60));
    assert_eq!(done["stdout"], "once\n", "{done}");
    let (_, log) = server.call(server.get("/api/code/executions"));
    let runs = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["id"] == a["id"])
        .count();
    assert_eq!(runs, 1, "{log}");
}

/// sha256 (hex) of an API key, as the configuration holds it.
fn hash(key: &str) -> String {
    airlock_service::auth::key_hash(key)
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn api_keys_tenants_and_quotas() {
    require_root!();
    let keys = format!(
        "[[keys]]\ntenant = \"alpha\"\nkey_sha256 = \"{}\"\nper_minute = 2\nlimits = {{ timeout = 10 }}\n\
         [[keys]]\ntenant = \"beta\"\nkey_sha256 = \"{}\"\n",
        hash("alpha-key"),
        hash("beta-key")
    );
    let server = Server::start(&config(&keys));
    let body = json!({"code": "print(1)"});
    let (status, e) = server.call(server.post("/api/code/execute", &body));
    assert_eq!((status, error_code(&e)), (401, "unauthorized"), "no key");
    let (status, _) = server.call(server.post("/api/code/execute", &body).bearer_auth("wrong"));
    assert_eq!(status, 401, "a wrong key");
    let alpha =
        |b: &Value| server.call(server.post("/api/code/execute", b).bearer_auth("alpha-key"));
    // The key's own maximum applies (the operator's would allow more).
    let (status, e) = alpha(&json!({"code": "1", "timeout": 11}));
    assert_eq!(
        (status, error_message(&e).starts_with("timeout")),
        (422, true),
        "{e}"
    );
    let (status, r) = alpha(&body);
    assert_eq!(
        (status, r["status"].as_str()),
        (200, Some("completed")),
        "{r}"
    );
    let (status, _) = alpha(&body);
    assert_eq!(status, 200);
    let (status, e) = alpha(&body);
    assert_eq!(
        (status, error_code(&e)),
        (429, "over_quota"),
        "a third in one minute: {e}"
    );
    // Another tenant sees neither alpha's executions nor their records.
    let id = r["id"].as_str().unwrap();
    let beta = |path: &str| server.call(server.get(path).header("X-API-Key", "beta-key"));
    assert_eq!(beta(&format!("/api/code/execution/{id}")).0, 404);
    assert_eq!(beta("/api/code/executions").1["items"], json!([]));
    let (_, own) = server.call(server.get("/api/code/executions").bearer_auth("alpha-key"));
    assert_eq!(own["items"].as_array().map(Vec::len), Some(2), "{own}");
    assert!(own["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["caller"] == "alpha"));
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn accepted_jobs_survive_a_kill_9_and_a_sigterm() {
    require_root!();
    let server = Server::start(&config("[server]\nworkers = 1\nshutdown_grace_secs = 1\n"));
    let mut ids = Vec::new();
    for i in 0..4 {
        let code = format!("import time\ntime.sleep(0.5)\nprint({i})");
        let (status, r) =
            server.call(server.post("/api/code/execute/async", &json!({"code": code})));
        assert_eq!(status, 202, "{r}");
        ids.push(r["id"].as_str().unwrap().to_string());
    }
    std::thread::sleep(Duration::from_millis(700)); // the first is running or done
    let data = server.data.clone();
    let status = server.stop_with("KILL");
    assert!(
        !status.success(),
        "the oracle can fire: the server was killed ({status})"
    );

    let server = Server::start_in(&data);
    for (i, id) in ids.iter().enumerate() {
        let r = server.wait_final(id, Duration::from_secs(120));
        assert_eq!(
            (r["status"].as_str(), r["stdout"].as_str()),
            (Some("completed"), Some(format!("{i}\n").as_str())),
            "{r}"
        );
    }
    // SIGTERM with a job running past the grace period: it goes back to pending and runs
    // at the next start.
    let (_, r) = server.call(server.post(
        "/api/code/execute/async",
        &json!({"code": "import time\ntime.sleep(4)\nprint('late')"}),
    ));
    let id = r["id"].as_str().unwrap().to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while server
        .call(server.get(&format!("/api/code/execution/{id}")))
        .1["status"]
        != "running"
    {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = server.stop_with("TERM");
    assert!(status.success(), "a clean stop: {status}");
    let server = Server::start_in(&data);
    let r = server.wait_final(&id, Duration::from_secs(120));
    assert_eq!(
        (r["status"].as_str(), r["stdout"].as_str()),
        (Some("completed"), Some("late\n")),
        "{r}"
    );
    let (_, log) = server.call(server.get("/api/code/executions?limit=100"));
    assert_eq!(
        log["items"].as_array().map(Vec::len),
        Some(5),
        "each job recorded once: {log}"
    );
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn audit_verify_names_the_first_altered_record() {
    require_root!();
    let server = Server::start(&config(""));
    for i in 0..3 {
        let (status, _) =
            server.call(server.post("/api/code/execute", &json!({"code": format!("print({i})")})));
        assert_eq!(status, 200);
    }
    let data = server.data.clone();
    assert!(server.stop_with("TERM").success());
    let verify = || {
        let out = common::airlock()
            .args(["audit", "verify", "--json", "--data"])
            .arg(&data)
            .output()
            .unwrap();
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        (out.status.code(), report)
    };
    let (code, report) = verify();
    assert_eq!(
        (code, &report["records"]),
        (Some(0), &json!(3)),
        "the oracle can fire: the untouched chain verifies: {report}"
    );
    let db = rusqlite::Connection::open(data.join("airlock.db")).unwrap();
    db.execute("UPDATE audit SET status = 'timeout' WHERE seq = 2", [])
        .unwrap();
    let (code, report) = verify();
    assert_eq!(
        (code, &report["broken"][0]),
        (Some(3), &json!(2)),
        "{report}"
    );
    std::fs::remove_dir_all(&data).unwrap();
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn health_and_metrics_show_the_pool_and_the_executions() {
    require_root!();
    let server = Server::start("[pool]\nsize = 1\npreload = [\"numpy\"]\n");
    let (status, health) = server.call(server.get("/health"));
    assert_eq!(
        (status, health["status"].as_str()),
        (200, Some("ok")),
        "{health}"
    );
    assert_eq!(health["pools"][0]["env"], "default", "{health}");
    assert_eq!(health["pools"][0]["size"], 1);
    let (_, r) = server.call(server.post(
        "/api/code/execute",
        &json!({"code": "print(np.arange(3).sum())"}),
    ));
    assert_eq!(r["stdout"], "3\n", "{r}");
    let text = server.get("/metrics").send().unwrap().text().unwrap();
    assert!(
        text.contains("airlock_executions_total{kind=\"sync\",status=\"completed\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("airlock_pool_sandboxes{env=\"default\",state=\"ready\"}"),
        "{text}"
    );
    assert!(text.contains("airlock_queue_depth 0"), "{text}");
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn validate_analyze_and_whitelist() {
    require_root!();
    let server = Server::start(&config(""));
    let code = "import os\nos.system('ls')\ndef f(x):\n    if x:\n        return 1\n    return 2\n";
    let (status, v) = server.call(server.post("/api/code/validate", &json!({"code": code})));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "dangerous", "{v}");
    assert!(
        v["issues"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["line"] == 2),
        "{v}"
    );
    let (status, a) = server.call(server.post("/api/code/analyze", &json!({"code": code})));
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["imports"], json!(["os"]));
    assert_eq!(a["complexity"]["functions"][0]["name"], "f", "{a}");
    let (status, bad) = server.call(server.post("/api/code/validate", &json!({"source": code})));
    assert_eq!(
        (status, error_message(&bad).starts_with("source")),
        (422, true),
        "{bad}"
    );
    let (status, w) = server.call(server.get("/api/code/whitelist"));
    assert_eq!(status, 200, "{w}");
    assert!(w.is_object() && !w.as_object().unwrap().is_empty(), "{w}");
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn a_callback_is_posted_once_the_job_is_final_and_retried() {
    require_root!();
    // A loopback listener that refuses the first attempt (500) and takes the second.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let receiver = std::thread::spawn(move || {
        ["500 Internal Server Error", "204 No Content"]
            .map(|answer| take_callback(&listener, answer))
    });
    let server = Server::start(&config(&format!(
        "[server]\ncallback_hosts = [\"127.0.0.1:{port}\"]\n"
    )));
    let url = format!("http://127.0.0.1:{port}/done");
    let (status, r) = server.call(server.post(
        "/api/code/execute/async",
        &json!({"code": "print('called')", "callback_url": url}),
    ));
    assert_eq!(status, 202, "{r}");
    // The refused attempt and the one taken.
    for body in receiver.join().unwrap() {
        let result: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            (&result["id"], result["stdout"].as_str()),
            (&r["id"], Some("called\n")),
            "{result}"
        );
    }
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn a_callback_still_owed_at_a_kill_9_is_delivered_once_after_the_restart() {
    require_root!();
    // A loopback port nobody listens on until the server has been killed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = Server::start(&config(&format!(
        "[server]\ncallback_hosts = [\"127.0.0.1:{port}\"]\n"
    )));
    let url = format!("http://127.0.0.1:{port}/done");
    let (status, r) = server.call(server.post(
        "/api/code/execute/async",
        &json!({"code": "print('owed')", "callback_url": url}),
    ));
    assert_eq!(status, 202, "{r}");
    let id = r["id"].as_str().unwrap().to_string();
    let fin = server.wait_final(&id, Duration::from_secs(120));
    assert_eq!(fin["status"], "completed", "{fin}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while callbacks(&server, "retried") < 1 {
        assert!(std::time::Instant::now() < deadline, "no attempt failed");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(callbacks(&server, "delivered"), 0);
    let data = server.data.clone();
    let status = server.stop_with("KILL");
    assert!(
        !status.success(),
        "the oracle can fire: the server was killed ({status})"
    );

    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let (arrived, bodies) = std::sync::mpsc::channel();
    std::thread::spawn(move || loop {
        let body = take_callback(&listener, "204 No Content");
        if arrived.send(body).is_err() {
            return;
        }
    });
    let server = Server::start_in(&data);
    let body = bodies
        .recv_timeout(Duration::from_secs(60))
        .expect("the callback owed before the kill was never delivered");
    let result: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (&result["id"], &result["status"], &result["stdout"]),
        (&fin["id"], &fin["status"], &fin["stdout"]),
        "{result}"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while callbacks(&server, "delivered") < 1 {
        assert!(std::time::Instant::now() < deadline, "delivery not counted");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Past the longest wait between attempts: nothing more comes.
    let again = bodies.recv_timeout(Duration::from_secs(10));
    assert!(again.is_err(), "delivered twice: {again:?}");
}

/// `airlock_callbacks_total{outcome}` as `/metrics` shows it now.
fn callbacks(server: &Server, outcome: &str) -> u64 {
    let text = server.get("/metrics").send().unwrap().text().unwrap();
    let prefix = format!("airlock_callbacks_total{{outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {prefix}in {text}"))
        .parse()
        .unwrap()
}

/// Accept one callback on `listener`, answer it with `answer` (as "204 No Content") and
/// return its body.
fn take_callback(listener: &std::net::TcpListener, answer: &str) -> String {
    use std::io::{Read, Write};
    let (mut conn, _) = listener.accept().unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut request = Vec::new();
    let mut buf = [0u8; 65536];
    // Headers, then as many body bytes as Content-Length says.
    let body = loop {
        let n = conn.read(&mut buf).unwrap();
        request.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&request).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if request.len() >= end + 4 + length {
                break text[end + 4..].to_string();
            }
        }
        assert!(n > 0, "the connection closed early");
    };
    write!(
        conn,
        "HTTP/1.1 {answer}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    body
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn under_load_every_request_gets_a_well_formed_answer() {
    require_root!();
    // 2,000 requests from 50 callers: async submissions, sync runs, validations, reads.
    let server =
        Server::start("[pool]\nsize = 2\npreload = [\"numpy\"]\n[server]\nqueue_limit = 500\n");
    let accepted = std::sync::Mutex::new(Vec::new());
    let answers = std::sync::Mutex::new(std::collections::BTreeMap::<u16, u32>::new());
    std::thread::scope(|scope| {
        for caller in 0..50 {
            let (server, accepted, answers) = (&server, &accepted, &answers);
            scope.spawn(move || {
                for i in 0..40 {
                    let code = json!({"code": format!("print({caller} * 100 + {i})")});
                    let request = match i % 4 {
                        0 | 1 => server.post("/api/code/execute/async", &code),
                        2 => server.post("/api/code/execute", &code),
                        _ => server.post("/api/code/validate", &code),
                    };
                    let (status, body) = server.call(request);
                    assert!(matches!(status, 200 | 202 | 429 | 503), "{status}: {body}");
                    if status >= 400 {
                        assert!(body["error"]["code"].is_string(), "{body}");
                    }
                    if status == 202 {
                        accepted
                            .lock()
                            .unwrap()
                            .push(body["id"].as_str().unwrap().to_string());
                    }
                    *answers.lock().unwrap().entry(status).or_default() += 1;
                }
            });
        }
    });
    let answers = answers.into_inner().unwrap();
    eprintln!("answers by status: {answers:?}");
    assert_eq!(answers.values().sum::<u32>(), 2000);
    let accepted = accepted.into_inner().unwrap();
    assert!(!accepted.is_empty());
    for id in &accepted {
        let r = server.wait_final(id, Duration::from_secs(300));
        assert_eq!(r["status"], "completed", "{r}");
    }
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn every_template_and_example_runs_as_is() {
    require_root!();
    let server = Server::start(&config(""));
    let (_, templates) = server.call(server.get("/api/code/templates"));
    let (_, examples) = server.call(server.get("/api/code/examples"));
    let all: Vec<&Value> = templates
        .as_array()
        .unwrap()
        .iter()
        .chain(examples.as_array().unwrap())
        .collect();
    let ids: Vec<&str> = all.iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["factor", "indicator", "chart"]);
    for t in all {
        let (status, r) = server.call(server.post(
            "/api/code/execute",
            &json!({"code": t["code"], "check": "enforce"}),
        ));
        assert_eq!(
            (status, r["status"].as_str()),
            (200, Some("completed")),
            "{}: {r}",
            t["id"]
        );
        match t["id"].as_str() {
            Some("chart") => assert_eq!(r["charts"].as_array().map(Vec::len), Some(1), "{r}"),
            _ => assert!(!r["return_value"].is_null(), "{}: {r}", t["id"]),
        }
    }
}
