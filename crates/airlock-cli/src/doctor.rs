//! `airlock doctor`: every isolation layer, available or not and why, then a real run that
//! shows what the kernel enforced; with `--pool`, the configured warm pools started, filled
//! and measured.

use airlock_jail::doctor::{probes, Probe};
use airlock_runtime::env::Environments;
use airlock_runtime::pool::{Mode, PoolMemory};
use airlock_runtime::procmem::Memory;
use airlock_runtime::python::Interpreter;
use airlock_runtime::request::Policy;
use airlock_runtime::ExecutionRequest;
use airlock_service::config::PoolConfig;
use airlock_service::pools::{EnvPoolReport, Pools};
use airlock_service::Config;
use clap::Args;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Also start the configured warm pools, wait for them to fill, and show their state
    /// and idle memory.
    #[arg(long)]
    pool: bool,
    /// The configuration file (default: $AIRLOCK_CONFIG, else /etc/airlock/airlock.toml).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Debug, serde::Serialize)]
struct Report {
    layers: Vec<Probe>,
    python: Option<String>,
    trial_run: Result<serde_json::Value, String>,
    /// The pools' mode on this host, and with `--pool` each pool's state.
    pool: PoolReport,
    ok: bool,
}

#[derive(Debug, serde::Serialize)]
struct PoolReport {
    mode: Mode,
    config: PoolConfig,
    /// With `--pool`: each pool once full (or when the wait ended).
    pools: Vec<EnvPoolReport>,
    /// With `--pool`: seconds until every pool was full.
    fill_seconds: Option<f64>,
    /// Environments whose pool could not start, or pools that did not fill, and why.
    errors: Vec<String>,
}

/// How long `--pool` waits for the pools to fill.
const FILL_TIMEOUT: Duration = Duration::from_secs(180);

/// Start the configured pools, wait for them to fill, and report them.
fn start_pools(config: &Config) -> PoolReport {
    let mut report = PoolReport {
        mode: Mode::for_host(),
        config: config.pool.clone(),
        pools: Vec::new(),
        fill_seconds: None,
        errors: Vec::new(),
    };
    let envs = match Environments::from_env() {
        Ok(envs) => envs,
        Err(e) => {
            report.errors.push(e.to_string());
            return report;
        }
    };
    let started = Instant::now();
    let (pools, failed) = Pools::start(
        &config.pool,
        &envs,
        &config.policy(),
        crate::env::progress(false).as_ref(),
    );
    report
        .errors
        .extend(failed.into_iter().map(|(env, e)| format!("{env}: {e}")));
    if pools.wait_full(FILL_TIMEOUT) {
        report.fill_seconds = Some(started.elapsed().as_secs_f64());
    }
    report.pools = pools.report();
    for p in &report.pools {
        if p.status.ready == 0 || report.fill_seconds.is_none() {
            report.errors.push(format!(
                "{}: {} of {} sandboxes ready after {} s ({})",
                p.env,
                p.status.ready,
                p.status.size,
                FILL_TIMEOUT.as_secs(),
                p.last_error.as_deref().unwrap_or("still starting")
            ));
        }
    }
    drop(pools);
    airlock_jail::settle();
    report
}

/// One figure of each waiting sandbox, as "17.0, 16.9" (MB).
pub fn per_sandbox(memory: &PoolMemory, figure: fn(&Memory) -> f64) -> String {
    memory
        .sandboxes
        .iter()
        .map(|m| format!("{:.1}", figure(m)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_pools(report: &PoolReport, started: bool) {
    let c = &report.config;
    println!(
        "ok   {:<16} {:?} mode; {} per environment ({}), preloading {}{}",
        "warm pool",
        report.mode,
        c.size,
        c.envs.join(", "),
        c.preload.join(", "),
        c.memory_budget_mb.map_or(String::new(), |mb| format!(
            "; idle memory capped at {mb} MB"
        ))
    );
    if !started {
        println!(
            "     {:<16} (--pool starts them and measures their memory)",
            ""
        );
        return;
    }
    for p in &report.pools {
        let s = &p.status;
        let each = |f| per_sandbox(&p.memory, f);
        println!(
            "{} {:<16} {}: {} ready of {}, {} starting, {} in use, {} failures, {} template(s){}",
            if s.ready > 0 { "ok  " } else { "FAIL" },
            "pool",
            p.env,
            s.ready,
            s.size,
            s.starting,
            s.in_use,
            s.failures,
            s.templates_started,
            if s.limited_by_memory {
                " (held below its size by the memory budget)"
            } else {
                ""
            }
        );
        println!(
            "     {:<16} idle memory {:.1} MB PSS in all: each sandbox {} MB PSS ({} MB its own){}",
            "",
            p.memory.total_pss_mb,
            each(|m| m.pss_mb),
            each(|m| m.private_mb),
            p.memory
                .template
                .map_or(String::new(), |t| format!(", template {:.1} MB", t.pss_mb))
        );
    }
    if let Some(secs) = report.fill_seconds {
        println!("ok   {:<16} filled in {secs:.1} s", "pool fill");
    }
    for e in &report.errors {
        println!("FAIL {:<16} {e}", "pool");
    }
}

/// Code that reports, from inside, what the kernel shows it.
const TRIAL: &str = r#"
import json, os, socket
status = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines() if ":" in l)
try:
    open("/airlock/probe", "w")
    root_ro = False
except OSError:
    root_ro = True
print(json.dumps({
    "uid": os.getuid(), "pid": os.getpid(), "hostname": socket.gethostname(),
    "cap_eff": status["CapEff"].strip(), "no_new_privs": status["NoNewPrivs"].strip(),
    "seccomp": status["Seccomp"].strip(), "root_read_only": root_ro,
    "sys_visible": os.path.exists("/sys"), "processes": len([p for p in os.listdir("/proc") if p.isdigit()]),
}))
"#;

/// Lines "layer: evidence" from the trial's own view, or why a layer is not in force.
fn inside_checks(seen: &serde_json::Value) -> Vec<(bool, &'static str, String)> {
    let s = |k: &str| seen[k].as_str().unwrap_or_default().to_string();
    vec![
        (
            seen["pid"].as_i64().is_some_and(|p| p < 10)
                && seen["processes"].as_i64().is_some_and(|n| n <= 3),
            "pid namespace",
            format!(
                "pid {} inside, {} processes visible",
                seen["pid"], seen["processes"]
            ),
        ),
        (
            s("hostname") == "airlock",
            "uts namespace",
            format!("hostname {}", s("hostname")),
        ),
        (
            seen["uid"] == 1000,
            "user",
            format!("uid {} inside", seen["uid"]),
        ),
        (
            seen["root_read_only"] == true && seen["sys_visible"] == false,
            "mounts",
            "read-only root, no /sys".into(),
        ),
        (
            s("cap_eff").trim_start_matches('0').is_empty(),
            "capabilities",
            format!("CapEff {}", s("cap_eff")),
        ),
        (
            s("no_new_privs") == "1",
            "no_new_privs",
            format!("NoNewPrivs {}", s("no_new_privs")),
        ),
        (
            s("seccomp") == "2",
            "seccomp filter",
            format!("Seccomp mode {}", s("seccomp")),
        ),
    ]
}

fn trial_run() -> Result<serde_json::Value, String> {
    let python = Interpreter::default_host().map_err(|e| e.to_string())?;
    let req = ExecutionRequest {
        code: TRIAL.into(),
        timeout: 10.0,
        ..Default::default()
    };
    let spec = req
        .to_spec(&python, &Policy::default())
        .map_err(|e| e.to_string())?;
    let outcome = airlock_jail::run(&spec, None, None).map_err(|e| e.to_string())?;
    if outcome.exit != airlock_jail::Exit::Code(0) {
        return Err(format!(
            "trial run ended with {:?}: {}",
            outcome.exit,
            String::from_utf8_lossy(&outcome.stderr).trim()
        ));
    }
    let seen: serde_json::Value =
        serde_json::from_slice(&outcome.stdout).map_err(|e| format!("trial output: {e}"))?;
    Ok(serde_json::json!({ "layers": outcome.layers, "seen_inside": seen }))
}

pub fn main(args: DoctorArgs) -> i32 {
    let config = match Config::load(args.config.as_deref()) {
        Ok(config) => config,
        Err(e) => return crate::usage_error(e),
    };
    let layers = probes();
    let python = Interpreter::default_host()
        .map(|p| format!("{} ({})", p.executable.display(), p.version))
        .ok();
    let trial = trial_run();
    let checks = trial
        .as_ref()
        .map(|t| inside_checks(&t["seen_inside"]))
        .unwrap_or_default();
    let pool = if args.pool {
        start_pools(&config)
    } else {
        PoolReport {
            mode: Mode::for_host(),
            config: config.pool.clone(),
            pools: Vec::new(),
            fill_seconds: None,
            errors: Vec::new(),
        }
    };
    let ok = layers.iter().all(|p| p.available || !p.required)
        && trial.is_ok()
        && checks.iter().all(|c| c.0)
        && pool.errors.is_empty();
    let report = Report {
        layers,
        python,
        trial_run: trial,
        pool,
        ok,
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        for p in &report.layers {
            let mark = match (p.available, p.required) {
                (true, _) => "ok  ",
                (false, true) => "FAIL",
                (false, false) => "warn",
            };
            println!("{mark} {:<16} {}", p.layer, p.detail);
        }
        println!(
            "{} {:<16} {}",
            if report.python.is_some() {
                "ok  "
            } else {
                "FAIL"
            },
            "python",
            report
                .python
                .as_deref()
                .unwrap_or("no python3 found (set AIRLOCK_PYTHON)")
        );
        match &report.trial_run {
            Ok(t) => {
                println!("ok   {:<16} {}", "trial run", t["layers"]);
                for (good, layer, evidence) in &checks {
                    println!(
                        "{} {:<16} {}",
                        if *good { "ok  " } else { "FAIL" },
                        layer,
                        evidence
                    );
                }
            }
            Err(e) => println!("FAIL {:<16} {}", "trial run", e),
        }
        print_pools(&report.pool, args.pool);
    }
    if report.ok {
        0
    } else {
        1
    }
}
