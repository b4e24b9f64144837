//! The warm pool, through the library with the real jail and the default environment:
//! functional, not timed (speed is `airlock bench --runner`).

mod common;

use std::time::Duration;

use airlock_runtime::env::{Environments, Quiet, DEFAULT_ENV};
use airlock_runtime::pool::Pool;
use airlock_runtime::request::Policy;
use airlock_runtime::{ExecutionRequest, ExecutionResult};

/// A pool of `size` sandboxes of the default environment, and a function running a
/// request cold in the same environment.
fn setup(size: usize) -> (Pool, impl Fn(&ExecutionRequest) -> ExecutionResult) {
    common::airlock(); // makes sure the default environment exists
    let envs = Environments::from_env().unwrap();
    let env = envs.runtime(DEFAULT_ENV, &Quiet).unwrap();
    let binds = vec![env.bind.clone()];
    let preload = vec!["numpy".to_string(), "pandas".to_string()];
    let spec = ExecutionRequest::default()
        .sandbox_spec(&env.interpreter, &binds, &preload, &Policy::default())
        .unwrap();
    let interpreter = env.interpreter.clone();
    let cold = move |req: &ExecutionRequest| {
        let _lease = &env;
        let spec = req
            .to_spec_in(&interpreter, &binds, &Policy::default())
            .unwrap();
        let outcome = airlock_jail::run(&spec, None, None).unwrap();
        ExecutionResult::from_outcome(req, chrono::Utc::now(), outcome)
    };
    (Pool::new(spec, size), cold)
}

fn warm(pool: &Pool, req: &ExecutionRequest) -> ExecutionResult {
    assert!(
        pool.wait_ready(1, Duration::from_secs(120)),
        "{:?} {:?}",
        pool.status(),
        pool.last_error()
    );
    let taken = pool.take(req).expect("a ready sandbox");
    let outcome = taken.run(req, None, None).unwrap().unwrap();
    ExecutionResult::from_outcome(req, chrono::Utc::now(), outcome)
}

fn request(code: &str) -> ExecutionRequest {
    ExecutionRequest {
        code: code.into(),
        ..Default::default()
    }
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn pooled_and_cold_runs_give_the_same_result() {
    require_root!();
    let (pool, cold) = setup(1);
    let req = request("import sys\nprint('out', 1 + 1)\nprint('err', file=sys.stderr)\npd.Series([1, 2, 3]).sum()");
    let (c, w) = (cold(&req), warm(&pool, &req));
    for r in [&c, &w] {
        assert_eq!(r.status, "completed", "{:?}", r.error);
    }
    assert_eq!((&c.stdout, &c.stderr), (&w.stdout, &w.stderr));
    assert_eq!(c.return_value, w.return_value);
    assert_eq!(w.return_value, Some(serde_json::json!(6)));
    let failing = request("x = 1\ny = 2\nz = x / 0");
    let (c, w) = (cold(&failing), warm(&pool, &failing));
    assert_eq!(
        (c.reason.as_deref(), c.exception.as_ref().map(|e| e.line)),
        (Some("exception"), Some(Some(3)))
    );
    assert_eq!(
        (w.reason.as_deref(), w.exception.as_ref().map(|e| e.line)),
        (Some("exception"), Some(Some(3)))
    );
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn an_execution_sees_nothing_another_left_behind() {
    require_root!();
    let (pool, _) = setup(2);
    let first = warm(
        &pool,
        &request("import os\nopen('/tmp/left', 'w').write('x')\nopen('/work/left', 'w').write('x')\nos.environ['LEFT'] = '1'\nimport pandas\npandas.LEFT = True\nprint(os.getpid())"),
    );
    assert_eq!(first.status, "completed", "{:?}", first.error);
    let second = warm(
        &pool,
        &request("import os, pandas\nprint(os.path.exists('/tmp/left'), os.path.exists('/work/left'), 'LEFT' in os.environ, hasattr(pandas, 'LEFT'))\nprint([p for p in os.listdir('/proc') if p.isdigit() and p not in ('1', str(os.getpid()))])"),
    );
    let lines: Vec<&str> = second.stdout.lines().collect();
    assert_eq!(lines[0], "False False False False", "{}", second.stdout);
    // Its own pid namespace: pid 1 and its own process only (forked from a template, the
    // runner is pid 1 itself).
    assert_eq!(lines[1], "[]", "{}", second.stdout);
    assert_ne!(
        first.sandbox.as_ref().map(|s| s.id.clone()),
        second.sandbox.as_ref().map(|s| s.id.clone()),
        "one sandbox per execution"
    );
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn a_sandbox_that_died_while_waiting_is_never_handed_out() {
    require_root!();
    let (pool, _) = setup(1);
    assert!(
        pool.wait_ready(1, Duration::from_secs(120)),
        "{:?}",
        pool.status()
    );
    let victim = pool.ready_ids().pop().expect("one waiting");
    // Kill everything in the waiting sandbox's cgroup, as an OOM kill or an operator would.
    let found = std::process::Command::new("find")
        .args([
            "/sys/fs/cgroup",
            "-maxdepth",
            "5",
            "-type",
            "d",
            "-name",
            &victim,
        ])
        .output()
        .unwrap();
    let dir = String::from_utf8_lossy(&found.stdout)
        .lines()
        .next()
        .expect("the sandbox's cgroup")
        .to_string();
    let procs = format!("{dir}/cgroup.procs");
    let pids = std::fs::read_to_string(&procs).unwrap_or_else(|e| panic!("{procs}: {e}"));
    assert!(
        !pids.trim().is_empty(),
        "the oracle can fire: the waiting sandbox has processes"
    );
    for pid in pids.lines() {
        std::process::Command::new("kill")
            .args(["-9", pid])
            .status()
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(200));
    let taken = pool.take(&request("pass"));
    assert!(
        taken.is_none() || taken.as_ref().is_some_and(|t| t.id() != victim),
        "a dead sandbox was handed out"
    );
    drop(taken);
    assert!(pool.status().failures >= 1, "{:?}", pool.status());
    // The pool replaces it.
    let r = warm(&pool, &request("print('replaced')"));
    assert_eq!(r.stdout, "replaced\n");
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn requests_the_pool_cannot_serve_are_left_to_a_cold_start() {
    require_root!();
    let (pool, _) = setup(1);
    assert!(pool.wait_ready(1, Duration::from_secs(120)));
    let mut granted = request("pass");
    granted.grants.allow_env = vec!["PATH".into()];
    let with_stdin = ExecutionRequest {
        stdin: Some(b"x".to_vec()),
        ..request("pass")
    };
    let bigger = ExecutionRequest {
        max_memory_mb: 4096,
        ..request("pass")
    };
    for req in [&granted, &with_stdin, &bigger] {
        assert!(
            pool.take(req).is_none(),
            "{:?} was given a pooled sandbox",
            req.grants
        );
    }
    // The oracle can fire: a plain request gets one.
    assert!(pool.take(&request("pass")).is_some());
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn the_requests_limits_apply_at_hand_off() {
    require_root!();
    let (pool, _) = setup(1);
    let hog = ExecutionRequest {
        code: "b = bytearray(300 << 20)\nprint('allocated')".into(),
        max_memory_mb: 128,
        ..Default::default()
    };
    let r = warm(&pool, &hog);
    assert_eq!(
        r.reason.as_deref(),
        Some("memory_limit"),
        "{:?} {}",
        r.error,
        r.stdout
    );
    let slow = ExecutionRequest {
        code: "while True: pass".into(),
        timeout: 1.0,
        ..Default::default()
    };
    let r = warm(&pool, &slow);
    assert_eq!(r.status, "timeout");
    assert!(r.duration < 2.0, "{}", r.duration);
}
