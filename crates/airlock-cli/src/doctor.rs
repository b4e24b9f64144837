//! `airlock doctor`: every isolation layer, available or not and why, then a real run that
//! shows what the kernel enforced.

use airlock_jail::doctor::{probes, Probe};
use airlock_runtime::python::Interpreter;
use airlock_runtime::request::Policy;
use airlock_runtime::ExecutionRequest;
use clap::Args;

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, serde::Serialize)]
struct Report {
    layers: Vec<Probe>,
    python: Option<String>,
    trial_run: Result<serde_json::Value, String>,
    ok: bool,
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
    let layers = probes();
    let python = Interpreter::default_host()
        .map(|p| format!("{} ({})", p.executable.display(), p.version))
        .ok();
    let trial = trial_run();
    let checks = trial
        .as_ref()
        .map(|t| inside_checks(&t["seen_inside"]))
        .unwrap_or_default();
    let ok = layers.iter().all(|p| p.available || !p.required)
        && trial.is_ok()
        && checks.iter().all(|c| c.0);
    let report = Report {
        layers,
        python,
        trial_run: trial,
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
    }
    if report.ok {
        0
    } else {
        1
    }
}
