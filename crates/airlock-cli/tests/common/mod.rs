//! Shared helpers of the CLI's integration tests: they drive the real `airlock` binary.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The `airlock` binary built for this test run. The first call in a test process makes
/// sure the default environment exists (it is created on first use, which takes a while
/// once per machine), so that no test times that creation as part of its own run.
pub fn airlock() -> Command {
    static DEFAULT_ENV: std::sync::Once = std::sync::Once::new();
    DEFAULT_ENV.call_once(ensure_default_env);
    Command::new(env!("CARGO_BIN_EXE_airlock"))
}

fn ensure_default_env() {
    let home = std::env::var_os("AIRLOCK_HOME")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share/airlock"))
        });
    if home.is_some_and(|h| h.join("envs/default/env.json").is_file()) {
        return;
    }
    // Waits on the environment's lock while another test process creates it.
    let out = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["run", "--quiet", "-c", "pass"])
        .stdin(Stdio::null())
        .output()
        .expect("start airlock");
    assert!(
        out.status.success(),
        "creating the default environment failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A finished `airlock run --json`: the parsed ExecutionResult and how long it took.
#[derive(Debug)]
pub struct Run {
    pub result: serde_json::Value,
    pub elapsed: Duration,
    pub raw: Output,
}

impl Run {
    pub fn stdout(&self) -> &str {
        self.result["stdout"].as_str().unwrap_or_default()
    }
    pub fn stderr(&self) -> &str {
        self.result["stderr"].as_str().unwrap_or_default()
    }
    pub fn status(&self) -> &str {
        self.result["status"].as_str().unwrap_or_default()
    }
    pub fn reason(&self) -> Option<&str> {
        self.result["reason"].as_str()
    }
    /// stdout, stderr and error joined: everything the caller would see.
    pub fn everything(&self) -> String {
        format!(
            "{}\n{}\n{}",
            self.stdout(),
            self.stderr(),
            self.result["error"].as_str().unwrap_or_default()
        )
    }
}

/// Run `code` with `airlock run --json` and extra flags; panics unless exactly one
/// ExecutionResult was printed with exit status 0.
pub fn run_json(code: &str, flags: &[&str]) -> Run {
    run_json_cmd(json_command(code, flags))
}

/// `airlock run --json FLAGS -c CODE`, to run with [`run_json_cmd`] (after adding extra
/// environment, say).
pub fn json_command(code: &str, flags: &[&str]) -> Command {
    let mut cmd = airlock();
    cmd.arg("run").arg("--json").args(flags).arg("-c").arg(code);
    cmd
}

/// Run a prepared `airlock run --json …` command (extra environment, a launcher in
/// front …) with stdin from /dev/null; panics unless exactly one ExecutionResult was
/// printed with exit status 0.
pub fn run_json_cmd(mut cmd: Command) -> Run {
    let start = Instant::now();
    let raw = cmd.stdin(Stdio::null()).output().expect("start airlock");
    let elapsed = start.elapsed();
    assert_eq!(
        raw.status.code(),
        Some(0),
        "airlock run --json failed: stdout={} stderr={}",
        String::from_utf8_lossy(&raw.stdout),
        String::from_utf8_lossy(&raw.stderr)
    );
    let result: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap_or_else(|e| {
        panic!(
            "not one JSON object ({e}): {}",
            String::from_utf8_lossy(&raw.stdout)
        )
    });
    Run {
        result,
        elapsed,
        raw,
    }
}

/// The real interpreter the sandbox runs (not a pyenv shim).
pub fn host_python() -> PathBuf {
    let out = Command::new(std::env::var("AIRLOCK_PYTHON").unwrap_or_else(|_| "python3".into()))
        .args([
            "-c",
            "import os, sys; print(os.path.realpath(sys.executable))",
        ])
        .output()
        .expect("python3 on PATH");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// Run `code` with the host interpreter, unsandboxed: the twin that proves an oracle fires.
pub fn bare_python(code: &str) -> Output {
    Command::new(host_python())
        .args(["-c", code])
        .stdin(Stdio::null())
        .output()
        .expect("run bare python")
}

pub fn is_root() -> bool {
    // SAFETY-free: read our own uid from /proc.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().next().map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Skip the calling test, loudly, when not root. Use as `require_root!();`.
#[macro_export]
macro_rules! require_root {
    () => {
        if !$crate::common::is_root() {
            eprintln!(
                "SKIPPED {}: needs root (per-box host uids, cgroup creation); CI runs as root",
                module_path!()
            );
            return;
        }
    };
}

/// A unique secret string that must never appear in sandbox output.
pub fn canary(tag: &str) -> String {
    format!(
        "AIRLOCK-CANARY-{tag}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

/// A fresh host directory for one test, removed by the caller.
pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(canary(tag).to_lowercase());
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub mod server;
