//! The warm pool, through the library with the real jail and the default environment:
//! functional, not timed (speed is `airlock bench --runner`).

mod common;

use std::time::Duration;

use airlock_runtime::env::{Environments, Quiet, DEFAULT_ENV};
use airlock_runtime::pool::{Pool, PoolOptions};
use airlock_runtime::request::Policy;
use airlock_runtime::{ExecutionRequest, ExecutionResult};

/// A pool of `size` sandboxes of the default environment, and a function running a
/// request cold in the same environment.
fn setup(size: usize) -> (Pool, impl Fn(&ExecutionRequest) -> ExecutionResult) {
    setup_with(PoolOptions::new(size))
}

fn setup_with(options: PoolOptions) -> (Pool, impl Fn(&ExecutionRequest) -> ExecutionResult) {
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
    (Pool::start(spec, options), cold)
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

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn a_listening_socket_of_one_execution_is_out_of_anothers_reach() {
    require_root!();
    let (pool, _) = setup(2);
    assert!(
        pool.wait_ready(2, Duration::from_secs(120)),
        "{:?}",
        pool.last_error()
    );
    let listener = pool.take(&request("pass")).expect("ready");
    let other = pool.take(&request("pass")).expect("ready");
    // The first listens on an abstract unix socket and a UDP port (TCP is Landlock's
    // to deny anyway), proves it can reach both itself (the oracle can fire), and waits
    // for anything from another execution while the second one runs.
    let listen = request(
        "import socket\n\
         u = socket.socket(socket.AF_UNIX); u.bind('\\0airlock-left'); u.listen()\n\
         s = socket.socket(socket.AF_UNIX); s.connect('\\0airlock-left'); s.close()\n\
         d = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); d.bind(('127.0.0.1', 45871))\n\
         d.settimeout(3); d.sendto(b'self', ('127.0.0.1', 45871)); assert d.recvfrom(16)[0] == b'self'\n\
         print('self ok', flush=True)\n\
         try:\n\
         \x20   print('got', d.recvfrom(16)[0])\n\
         except socket.timeout:\n\
         \x20   print('nothing from others')",
    );
    let first = std::thread::spawn(move || {
        let outcome = listener.run(&listen, None, None).unwrap().unwrap();
        ExecutionResult::from_outcome(&listen, chrono::Utc::now(), outcome)
    });
    std::thread::sleep(Duration::from_millis(1000));
    let probe = request(
        "import socket\n\
         socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'other', ('127.0.0.1', 45871)); print('sent')\n\
         s = socket.socket(socket.AF_UNIX)\n\
         try:\n\
         \x20   s.connect('\\0airlock-left'); print('reached')\n\
         except OSError as e:\n\
         \x20   print('refused', type(e).__name__)",
    );
    let outcome = other.run(&probe, None, None).unwrap().unwrap();
    let second = ExecutionResult::from_outcome(&probe, chrono::Utc::now(), outcome);
    let first = first.join().unwrap();
    assert_eq!(
        first.stdout, "self ok\nnothing from others\n",
        "{:?} {}",
        first.error, first.stderr
    );
    assert_eq!(
        second.stdout, "sent\nrefused ConnectionRefusedError\n",
        "{}",
        second.stderr
    );
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn a_pooled_sandbox_has_every_layer_of_a_cold_one() {
    require_root!();
    let (pool, cold) = setup(1);
    // What the kernel says of the process, and what it refuses: the same probes cold and
    // warm (a cold sandbox is the reference the escape suite holds to).
    let probe = request(
        "import ctypes, mmap, os\n\
         status = dict(l.split(':\\t', 1) for l in open('/proc/self/status').read().splitlines() if ':\\t' in l)\n\
         print(os.getuid(), os.getgid(), status['CapEff'].strip(), status['CapBnd'].strip(), status['NoNewPrivs'].strip(), status['Seccomp'].strip())\n\
         def attempt(name, f):\n\
         \x20   try:\n\
         \x20       f(); print(name, 'allowed')\n\
         \x20   except Exception as e:\n\
         \x20       print(name, 'denied', type(e).__name__)\n\
         attempt('exec', lambda: os.execv('/bin/true', ['true']))\n\
         attempt('write-root', lambda: open('/airlock/x', 'w'))\n\
         attempt('write-interpreter', lambda: open(os.__file__, 'a'))\n\
         libc = ctypes.CDLL(None, use_errno=True)\n\
         def call(r):\n\
         \x20   if r != 0: raise OSError(ctypes.get_errno(), 'failed')\n\
         attempt('unshare-user', lambda: call(libc.unshare(0x10000000)))\n\
         attempt('mount', lambda: call(libc.mount(b'tmpfs', b'/tmp', b'tmpfs', 0, None)))\n\
         attempt('exec-memory', lambda: mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC))\n\
         attempt('write-tmp', lambda: open('/tmp/x', 'w').write('x'))\n\
         attempt('write-work', lambda: open('/work/x', 'w').write('x'))\n\
         print(open('/proc/sys/kernel/hostname').read().strip(), [len(open(p).read()) for p in ('/proc/timer_list', '/proc/sched_debug') if os.path.exists(p)])",
    );
    let c = cold(&probe);
    let w = warm(&pool, &probe);
    assert_eq!(c.status, "completed", "{:?} {}", c.error, c.stderr);
    assert_eq!(w.status, "completed", "{:?} {}", w.error, w.stderr);
    assert_eq!(w.stdout, c.stdout, "warm differs from cold");
    // The oracles can fire: the lines name both outcomes.
    assert!(w.stdout.contains("exec denied") && w.stdout.contains("write-tmp allowed"));
    assert!(w
        .stdout
        .starts_with("1000 1000 0000000000000000 0000000000000000 1 2\n"));
    let layers = w.sandbox.as_ref().expect("layers");
    assert!(layers.host_uid >= 2_000_000_000, "{layers:?}");
    assert_ne!(
        Some(layers.host_uid),
        c.sandbox.as_ref().map(|s| s.host_uid),
        "its own host uid"
    );
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn killing_the_template_makes_the_pool_rebuild_it_and_no_request_fails() {
    require_root!();
    let (pool, _) = setup(2);
    assert!(
        pool.wait_ready(2, Duration::from_secs(120)),
        "{:?}",
        pool.last_error()
    );
    let template = pool.template_pid().expect("zygote mode as root");
    // One request is running when the template dies.
    let running = pool.take(&request("pass")).expect("ready");
    let slow = request("import time\ntime.sleep(1)\nprint('survived')");
    let in_flight = std::thread::spawn(move || {
        let outcome = running.run(&slow, None, None).unwrap().unwrap();
        ExecutionResult::from_outcome(&slow, chrono::Utc::now(), outcome)
    });
    std::thread::sleep(Duration::from_millis(200));
    let killed = std::process::Command::new("kill")
        .args(["-9", &template.to_string()])
        .status()
        .unwrap();
    assert!(
        killed.success(),
        "the oracle can fire: the template was there to kill"
    );
    for i in 0..6 {
        let code = format!("print({i} * 2)");
        let r = warm(&pool, &request(&code));
        assert_eq!(
            (r.status.as_str(), r.stdout.trim()),
            ("completed", (i * 2).to_string().as_str()),
            "request {i} after the kill: {:?} {}",
            r.error,
            r.stderr
        );
    }
    let r = in_flight.join().unwrap();
    assert_eq!(
        (r.status.as_str(), r.stdout.as_str(), r.exit_code),
        ("completed", "survived\n", Some(0)),
        "{:?}",
        r.error
    );
    let status = pool.status();
    assert!(status.templates_started >= 2, "{status:?}");
    assert_ne!(pool.template_pid(), Some(template));
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn a_memory_budget_holds_the_pool_below_its_size() {
    require_root!();
    // Unbounded, the same pool fills to its size: the budget is what stops it.
    let (pool, _) = setup(3);
    assert!(
        pool.wait_full(Duration::from_secs(120)),
        "{:?}",
        pool.last_error()
    );
    let full = pool.memory();
    assert_eq!(full.sandboxes.len(), 3, "{full:?}");
    assert!(!pool.status().limited_by_memory);
    for m in &full.sandboxes {
        assert!(m.private_mb > 0.0 && m.private_mb <= m.pss_mb, "{m:?}");
    }
    // A budget below what one sandbox and its template hold: the pool keeps one only.
    let budget = (full.total_pss_mb / 3.0) as u64;
    drop(pool);
    let (pool, _) = setup_with(PoolOptions {
        memory_budget_mb: Some(budget),
        ..PoolOptions::new(3)
    });
    assert!(
        pool.wait_full(Duration::from_secs(120)),
        "{:?}",
        pool.last_error()
    );
    std::thread::sleep(Duration::from_millis(500)); // a wrongly started second would show
    let status = pool.status();
    assert_eq!((status.ready, status.starting), (1, 0), "{status:?}");
    assert!(status.limited_by_memory, "{status:?}");
    assert_eq!(status.memory_budget_mb, Some(budget));
    // It still serves, and refills to its one sandbox.
    let r = warm(&pool, &request("print(7)"));
    assert_eq!(r.stdout, "7\n", "{:?}", r.error);
    assert!(pool.wait_full(Duration::from_secs(120)));
    assert_eq!(pool.status().ready, 1, "{:?}", pool.status());
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn doctor_starts_the_configured_pools_and_shows_their_state() {
    require_root!();
    let dir = common::temp_dir("doctor-pool");
    let config = dir.join("airlock.toml");
    std::fs::write(&config, "[pool]\nsize = 2\npreload = [\"numpy\"]\n").unwrap();
    let out = common::airlock()
        .args(["doctor", "--json", "--pool", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert!(out.status.success(), "{report:#}");
    let pool = &report["pool"];
    assert_eq!(pool["mode"], "zygote", "{pool:#}");
    assert_eq!(pool["config"]["preload"], serde_json::json!(["numpy"]));
    let default = &pool["pools"][0];
    assert_eq!(default["env"], "default");
    assert_eq!(
        (&default["ready"], &default["size"]),
        (&2.into(), &2.into()),
        "{default:#}"
    );
    assert_eq!(default["failures"], 0);
    assert_eq!(
        default["memory"]["sandboxes"].as_array().map(Vec::len),
        Some(2)
    );
    assert!(
        default["memory"]["template"]["pss_mb"].as_f64() > Some(1.0),
        "{default:#}"
    );
    assert!(pool["fill_seconds"].as_f64().is_some(), "{pool:#}");

    // A misspelt key is a usage error naming the file and the key; nothing starts.
    std::fs::write(&config, "[pool]\nsise = 2\n").unwrap();
    let out = common::airlock()
        .args(["doctor", "--pool", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("airlock.toml") && err.contains("sise"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
