//! Sessions through a real server and through `airlock repl`: state kept across calls,
//! timeouts that interrupt and keep the state, a call that ignores the interrupt ending
//! its session within the grace, isolation between sessions, snapshots, the files API's
//! confinement, expiry, quotas, and the memory limit over a session's whole life.

mod common;

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::server::Server;
use serde_json::{json, Value};

fn config(extra: &str) -> String {
    format!("[pool]\nsize = 0\n[sessions]\ngrace_secs = 1.0\n{extra}")
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not the error shape: {body}"))
}

/// Start a session; its id.
fn create(server: &Server, body: Value) -> String {
    let (status, info) = server.call(server.post("/api/sessions", &body));
    assert_eq!(status, 201, "{info}");
    assert_eq!(info["status"], "alive", "{info}");
    info["id"].as_str().unwrap().to_string()
}

fn run(server: &Server, id: &str, code: &str) -> Value {
    let (status, result) = server.call(server.post(
        &format!("/api/sessions/{id}/execute"),
        &json!({ "code": code }),
    ));
    assert_eq!(status, 200, "{result}");
    result
}

/// Host processes in the cgroup of sandbox `name`.
fn processes_of(sandbox: &str) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter(|e| {
            std::fs::read_to_string(e.path().join("cgroup")).is_ok_and(|c| c.contains(sandbox))
        })
        .count()
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn state_is_kept_across_calls_and_each_result_is_its_calls_alone() {
    require_root!();
    let server = Server::start(&config(""));
    let id = create(&server, json!({}));
    let first = run(&server, &id, "import math\nx = 40\nprint('one')");
    assert_eq!(
        (first["status"].as_str(), first["stdout"].as_str()),
        (Some("completed"), Some("one\n")),
        "{first}"
    );
    let second = run(
        &server,
        &id,
        "x += 2\nplt.plot([1, 2])\nopen('outputs/a.txt', 'w').write('a')\nprint('two')",
    );
    assert_eq!(
        second["stdout"], "two\n",
        "only this call's output: {second}"
    );
    assert_eq!(
        second["charts"].as_array().map(Vec::len),
        Some(1),
        "{second}"
    );
    assert_eq!(second["files"][0]["name"], "a.txt", "{second}");
    let third = run(&server, &id, "round(math.sqrt(x) ** 2)");
    assert_eq!(third["return_value"], 42, "{third}");
    assert_eq!(third["stdout"], "");
    assert_eq!(
        third["charts"],
        json!([]),
        "the chart was the second call's"
    );
    assert_eq!(third["files"], json!([]), "the file was the second call's");
    // Every call is in the audit log, as a session call.
    let (_, log) = server.call(server.get("/api/code/executions?limit=3"));
    let kinds: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["session", "session", "session"], "{log}");
    let (_, list) = server.call(server.get("/api/sessions"));
    assert_eq!(list[0]["calls"], 3, "{list}");
    let (_, health) = server.call(server.get("/health"));
    assert_eq!(health["sessions"], 1, "{health}");
    let metrics = server.get("/metrics").send().unwrap().text().unwrap();
    assert!(metrics.contains("\nairlock_sessions 1\n"), "{metrics}");
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn a_timeout_interrupts_the_call_and_the_state_survives() {
    require_root!();
    let server = Server::start(&config(""));
    let id = create(&server, json!({"env": "none", "timeout": 1}));
    run(&server, &id, "import time\nx = 7");
    let started = Instant::now();
    let slow = run(&server, &id, "time.sleep(30)");
    assert!(started.elapsed() < Duration::from_secs(10), "{slow}");
    assert_eq!(slow["status"], "timeout", "{slow}");
    assert_eq!(slow["exception"]["type"], "KeyboardInterrupt", "{slow}");
    assert!(
        slow["error"].as_str().unwrap().contains("keeps its state"),
        "{slow}"
    );
    let after = run(&server, &id, "x * 6");
    assert_eq!(after["return_value"], 42, "{after}");
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn a_thread_that_writes_forever_does_not_hold_up_the_next_calls() {
    require_root!();
    let server = Server::start(&config(""));
    let id = create(&server, json!({"env": "none", "output_limit": 1000}));
    run(
        &server,
        &id,
        "import os, threading
def flood():
    while True:
        os.write(1, b'x' * 65536)
for _ in range(8):\n    threading.Thread(target=flood, daemon=True).start()",
    );
    for call in 0..3 {
        let started = Instant::now();
        let r = run(
            &server,
            &id,
            "print('mine')
6 * 7",
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "call {call}: {r}"
        );
        assert_eq!(r["return_value"], 42, "call {call}: {r}");
        assert_eq!(
            r["stdout_truncated"], true,
            "call {call}: the flood is capped"
        );
    }
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn a_call_that_ignores_the_interrupt_ends_the_session_within_the_grace() {
    require_root!();
    let server = Server::start(&config(""));
    let (status, info) =
        server.call(server.post("/api/sessions", &json!({"env": "none", "timeout": 1})));
    assert_eq!(status, 201);
    let id = info["id"].as_str().unwrap();
    let sandbox = info["sandbox"].as_str().unwrap();
    assert!(
        processes_of(sandbox) > 0,
        "the oracle can fire: the sandbox has processes"
    );
    let started = Instant::now();
    let stubborn = run(
        &server,
        id,
        "import time\nwhile True:\n    try:\n        time.sleep(0.05)\n    except KeyboardInterrupt:\n        pass",
    );
    let took = started.elapsed();
    // 1 s timeout + 1 s grace, and the teardown.
    assert!(took < Duration::from_secs(5), "took {took:?}: {stubborn}");
    assert_eq!(stubborn["status"], "timeout", "{stubborn}");
    assert!(
        stubborn["error"]
            .as_str()
            .unwrap()
            .contains("the session has ended"),
        "{stubborn}"
    );
    let (status, e) = server.call(server.post(
        &format!("/api/sessions/{id}/execute"),
        &json!({"code": "1"}),
    ));
    assert_eq!((status, error_code(&e)), (409, "session_ended"), "{e}");
    let (_, list) = server.call(server.get("/api/sessions"));
    assert_eq!(list[0]["status"], "ended", "{list}");
    assert_eq!(processes_of(sandbox), 0, "nothing of the session runs on");
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn two_sessions_see_neither_files_nor_variables_nor_processes_of_each_other() {
    require_root!();
    let keys = format!(
        "[[keys]]\ntenant = \"alpha\"\nkey_sha256 = \"{}\"\n[[keys]]\ntenant = \"beta\"\nkey_sha256 = \"{}\"\n",
        airlock_service::auth::key_hash("alpha-key"),
        airlock_service::auth::key_hash("beta-key"),
    );
    let server = Server::start(&config(&keys));
    let as_alpha =
        |path: &str, body: Value| server.call(server.post(path, &body).bearer_auth("alpha-key"));
    let (_, a) = as_alpha("/api/sessions", json!({"env": "none"}));
    let (_, b) = as_alpha("/api/sessions", json!({"env": "none"}));
    let (a, b) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    let (_, r) = as_alpha(
        &format!("/api/sessions/{a}/execute"),
        json!({"code": "import time, subprocess\nsecret = 'alpha'\nopen('secret.txt', 'w').write(secret)\nimport threading\nthreading.Thread(target=time.sleep, args=(60,), daemon=True).start()"}),
    );
    assert_eq!(r["status"], "completed", "{r}");
    let (_, seen) = as_alpha(
        &format!("/api/sessions/{b}/execute"),
        json!({"code": "import os\n[os.path.exists('secret.txt'), 'secret' in globals(), sorted(int(p) for p in os.listdir('/proc') if p.isdigit())]"}),
    );
    let value = &seen["return_value"];
    assert_eq!(value[0], false, "a's file: {seen}");
    assert_eq!(value[1], false, "a's variable: {seen}");
    // Its own pid namespace: pid 1 and its own interpreter, nothing of a's.
    assert!(
        value[2].as_array().unwrap().len() <= 3,
        "processes seen: {seen}"
    );
    // Another tenant cannot even name them.
    let as_beta = |path: &str| server.call(server.get(path).bearer_auth("beta-key"));
    assert_eq!(as_beta("/api/sessions").1, json!([]));
    assert_eq!(
        as_beta(&format!("/api/sessions/{a}/files/secret.txt")).0,
        404
    );
    let (status, _) = server.call(
        server
            .post(
                &format!("/api/sessions/{a}/execute"),
                &json!({"code": "secret"}),
            )
            .bearer_auth("beta-key"),
    );
    assert_eq!(status, 404);
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn a_snapshot_restored_into_a_new_session_gives_back_its_state() {
    require_root!();
    let server = Server::start(&config(""));
    let first = create(&server, json!({}));
    let r = run(
        &server,
        &first,
        "import json\nprices = pd.DataFrame({'close': [1.5, 2.5]})\nx = {'a': [1, 2]}\nf = lambda: 1\nopen('notes.txt', 'w').write('kept')",
    );
    assert_eq!(r["status"], "completed", "{r}");
    let response = server
        .get(&format!("/api/sessions/{first}/snapshot"))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let skipped = response.headers()["airlock-skipped"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(skipped, "f", "the lambda cannot be pickled");
    let blob = response.bytes().unwrap();
    server.call(server.delete(&format!("/api/sessions/{first}")));
    use base64::Engine as _;
    let second = create(
        &server,
        json!({"snapshot": base64::engine::general_purpose::STANDARD.encode(&blob)}),
    );
    let back = run(
        &server,
        &second,
        "[x, json.dumps(x), float(prices.close.sum()), open('notes.txt').read()]",
    );
    assert_eq!(
        back["return_value"],
        json!([{"a": [1, 2]}, "{\"a\": [1, 2]}", 4.0, "kept"]),
        "{back}"
    );
    // A blob that is not a snapshot is refused by the session, not unpickled by the host.
    let (status, info) = server.call(server.post(
        "/api/sessions",
        &json!({"snapshot": base64::engine::general_purpose::STANDARD.encode(b"not a snapshot")}),
    ));
    assert_eq!(status, 201, "{info}");
    assert!(
        info["warnings"][0]
            .as_str()
            .unwrap()
            .contains("could not be read"),
        "{info}"
    );
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn file_paths_stay_in_the_working_directory_and_uploads_are_capped() {
    require_root!();
    let server = Server::start(&config("max_file_bytes = 1000\n"));
    let id = create(&server, json!({"env": "none"}));
    let files = format!("/api/sessions/{id}/files");
    let put = |path: &str, data: &'static [u8]| {
        let response = server
            .client
            .put(format!("{}{files}/{path}", server.base))
            .body(data)
            .send()
            .unwrap();
        response.status().as_u16()
    };
    assert_eq!(put("data/prices.csv", b"close\n1\n2\n"), 200);
    let r = run(&server, &id, "open('data/prices.csv').read().split()");
    assert_eq!(r["return_value"], json!(["close", "1", "2"]), "{r}");
    let got = server
        .get(&format!("{files}/data/prices.csv"))
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    assert_eq!(&got[..], b"close\n1\n2\n");
    // A link the code made that points out of the working directory.
    run(
        &server,
        &id,
        "import os\nos.symlink('/etc', 'etc')\nos.symlink('/etc/hostname', 'host')",
    );
    for path in [
        "..%2Fx",
        "a/..%2F..%2Fx",
        "%2Fetc%2Fpasswd",
        "etc/passwd",
        "host",
    ] {
        let (status, e) = server.call(server.get(&format!("{files}/{path}")));
        assert_eq!((status, error_code(&e)), (400, "bad_path"), "{path}: {e}");
    }
    assert_eq!(put("etc/evil", b"x"), 400, "writing through the link");
    assert_eq!(
        server.call(server.get(&format!("{files}/missing.csv"))).0,
        404
    );
    assert_eq!(put("big.bin", &[b'x'; 1001]), 413);
    assert_eq!(
        server.call(server.get(&format!("{files}/big.bin"))).0,
        404,
        "nothing half-written"
    );
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn an_idle_session_expires_and_its_sandbox_goes() {
    require_root!();
    let server = Server::start(&config("max_per_tenant = 2\n"));
    let (status, info) =
        server.call(server.post("/api/sessions", &json!({"env": "none", "idle_timeout": 1})));
    assert_eq!(status, 201, "{info}");
    let id = info["id"].as_str().unwrap();
    let sandbox = info["sandbox"].as_str().unwrap().to_string();
    assert!(processes_of(&sandbox) > 0, "the oracle can fire");
    create(&server, json!({"env": "none"}));
    let (status, e) = server.call(server.post("/api/sessions", &json!({"env": "none"})));
    assert_eq!(
        (status, error_code(&e)),
        (429, "over_quota"),
        "a third: {e}"
    );
    // Listing does not count as use.
    let listed = |id: &str| {
        let (_, list) = server.call(server.get("/api/sessions"));
        list.as_array().unwrap().iter().any(|s| s["id"] == id)
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while listed(id) || processes_of(&sandbox) > 0 {
        assert!(Instant::now() < deadline, "the idle session is still there");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (_, list) = server.call(server.get("/api/sessions"));
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    // Its place is free again.
    create(&server, json!({"env": "none"}));
    // Bad input names its field.
    for (body, field) in [
        (json!({"idle_timeout": 0}), "idle_timeout"),
        (json!({"timeout": -1}), "timeout"),
        (json!({"snapshot": "***"}), "snapshot"),
        (json!({"colour": 1}), "colour"),
    ] {
        let (status, e) = server.call(server.post("/api/sessions", &body));
        assert_eq!(status, 422, "{body}: {e}");
        assert!(
            e["error"]["message"].as_str().unwrap().starts_with(field),
            "{e}"
        );
    }
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn the_memory_limit_holds_for_the_whole_session() {
    require_root!();
    let server = Server::start(&config(""));
    let id = create(&server, json!({"env": "none", "max_memory_mb": 120}));
    let first = run(&server, &id, "a = bytearray(70 << 20)\nlen(a) >> 20");
    assert_eq!(first["return_value"], 70, "{first}");
    // Each call alone is under the limit; together they are not.
    let second = run(&server, &id, "b = bytearray(70 << 20)\nlen(b) >> 20");
    assert_eq!(second["reason"], "memory_limit", "{second}");
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn the_repl_keeps_state_between_inputs() {
    require_root!();
    let mut child = common::airlock()
        .args(["repl", "--env", "none", "--timeout", "1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"x = 41\ndef f(a):\n    return a + 1\n\nimport time\ntime.sleep(5)\nf(x)\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    assert_eq!(stdout, "42\n", "{stderr}");
    assert!(stderr.contains("KeyboardInterrupt"), "{stderr}");
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn ctrl_c_in_the_repl_interrupts_the_running_input_and_keeps_the_session() {
    require_root!();
    let mut child = common::airlock()
        .args(["repl", "--env", "none", "--timeout", "60"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"x = 6\nimport time\ntime.sleep(60)\n")
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let started = Instant::now();
    // What a terminal sends on Ctrl-C.
    send_signal(child.id(), "INT");
    stdin.write_all(b"x * 7\n").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(started.elapsed() < Duration::from_secs(20), "{stderr}");
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stderr.contains("KeyboardInterrupt"), "{stderr}");
    assert_eq!(stdout, "42\n", "{stderr}");
}

/// Send a signal with kill(1).
fn send_signal(pid: u32, signal: &str) {
    let sent = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}
