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

fn trial_run() -> Result<serde_json::Value, String> {
    let python = Interpreter::default_host().map_err(|e| e.to_string())?;
    let req = ExecutionRequest {
        code: "import os; print(os.getuid())".into(),
        timeout: 10.0,
        ..Default::default()
    };
    let spec = req
        .to_spec(&python, &Policy::default())
        .map_err(|e| e.to_string())?;
    let outcome = airlock_jail::run(&spec, None).map_err(|e| e.to_string())?;
    if outcome.exit != airlock_jail::Exit::Code(0) {
        return Err(format!(
            "trial run ended with {:?}: {}",
            outcome.exit,
            String::from_utf8_lossy(&outcome.stderr).trim()
        ));
    }
    serde_json::to_value(&outcome.layers).map_err(|e| e.to_string())
}

pub fn main(args: DoctorArgs) -> i32 {
    let layers = probes();
    let python = Interpreter::default_host()
        .map(|p| format!("{} ({})", p.executable.display(), p.version))
        .ok();
    let trial = trial_run();
    let ok = layers.iter().all(|p| p.available || !p.required) && trial.is_ok();
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
            "{}  {:<16} {}",
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
            Ok(layers) => println!("ok   {:<16} {}", "trial run", layers),
            Err(e) => println!("FAIL {:<16} {}", "trial run", e),
        }
    }
    if report.ok {
        0
    } else {
        1
    }
}
