//! `airlock bench`: the jail's cost, measured against its baseline in the same run.
//!
//! Both sides start the same real interpreter (not a pyenv shim) with the same arguments
//! on `pass`: once as a bare child process, once through the full jail (namespaces,
//! mounts, cgroup, Landlock, seccomp, teardown). Runs alternate so drift hits both sides.

use std::time::{Duration, Instant};

use airlock_runtime::env::{Environments, DEFAULT_ENV};
use airlock_runtime::pool::Pool;
use airlock_runtime::python::Interpreter;
use airlock_runtime::request::Policy;
use airlock_runtime::ExecutionRequest;
use clap::Args;

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Runs per contender (after warm-up).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(3..=10_000))]
    runs: u32,
    /// Also time code through the runner: a cold sandbox against a warm pool.
    #[arg(long)]
    runner: bool,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The pandas workload of the benchmark: a factor on 10,000 rows.
const FACTOR: &str = "import numpy as np, pandas as pd\n\
prices = pd.Series(100 + np.cumsum(np.random.default_rng(1).normal(0, 1, 10_000)))\n\
factor = prices.rolling(5).mean() / prices.rolling(20).mean() - 1\n\
float(factor.iloc[-1])";

/// Modules the warm pool's sandboxes import before their request arrives.
const PRELOAD: [&str; 3] = ["numpy", "pandas", "matplotlib.pyplot"];

fn row(name: &str, v: &mut [Duration]) {
    v.sort();
    println!(
        "{name:<32} {:>10.2} {:>10.2}",
        ms(percentile(v, 0.5)),
        ms(percentile(v, 0.95))
    );
}

/// Code through the runner in the default environment: a cold sandbox per run against
/// one taken from a warm pool (refilled between runs, so each measures one hand-off).
fn runner_table(runs: u32) -> Result<(), String> {
    let envs = Environments::from_env().map_err(|e| e.to_string())?;
    let env = envs
        .runtime(DEFAULT_ENV, crate::env::progress(false).as_ref())
        .map_err(|e| e.to_string())?;
    let binds = [env.bind.clone()];
    let template = ExecutionRequest::default();
    let preload: Vec<String> = PRELOAD.iter().map(|m| m.to_string()).collect();
    let spec = template
        .sandbox_spec(&env.interpreter, &binds, &preload, &Policy::default())
        .map_err(|e| e.to_string())?;
    let pool = Pool::new(spec, 2);
    println!(
        "\nthe runner in the default environment, {runs} runs each (pool of 2, preloading {}; warm = hand-off to result)",
        PRELOAD.join(", ")
    );
    println!(
        "{:<32} {:>10} {:>10}",
        "workload / contender", "median ms", "p95 ms"
    );
    for (label, code) in [
        ("print(1)", "print(1)"),
        ("pandas factor (10k rows)", FACTOR),
    ] {
        let req = ExecutionRequest {
            code: code.into(),
            ..Default::default()
        };
        let cold_spec = req
            .to_spec_in(&env.interpreter, &binds, &Policy::default())
            .map_err(|e| e.to_string())?;
        let (mut cold, mut warm) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            let t = Instant::now();
            let o = airlock_jail::run(&cold_spec, None, None).map_err(|e| e.to_string())?;
            cold.push(t.elapsed());
            check_ok(&o)?;
            // Take one, let the pool refill, then time the hand-off alone: on two cores a
            // refill running alongside would measure the refill, not the hand-off.
            let ready = || pool.wait_ready(2, Duration::from_secs(120));
            if !ready() {
                return Err(format!(
                    "the pool could not start sandboxes: {:?}",
                    pool.status()
                ));
            }
            let taken = pool.take(&req).ok_or("the pool had no sandbox ready")?;
            ready();
            let t = Instant::now();
            let o = taken
                .run(&req, None, None)
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            warm.push(t.elapsed());
            check_ok(&o)?;
        }
        let (c, w) = (percentile_of(&mut cold), percentile_of(&mut warm));
        row(&format!("{label}: cold"), &mut cold);
        row(&format!("{label}: warm"), &mut warm);
        println!("{:<32} {:>9.1}x", "  warm speed-up (median)", c / w);
    }
    println!("pool: {:?}", pool.status());
    Ok(())
}

fn percentile_of(v: &mut [Duration]) -> f64 {
    v.sort();
    ms(percentile(v, 0.5))
}

fn check_ok(o: &airlock_jail::Outcome) -> Result<(), String> {
    if o.exit == airlock_jail::Exit::Code(0) {
        Ok(())
    } else {
        Err(format!(
            "run ended {:?}: {}",
            o.exit,
            String::from_utf8_lossy(&o.stderr)
        ))
    }
}

pub fn main(args: BenchArgs) -> i32 {
    let python = match Interpreter::default_host() {
        Ok(p) => p,
        Err(e) => return crate::internal_error(e),
    };
    let req = ExecutionRequest {
        code: "pass".into(),
        timeout: 30.0,
        ..Default::default()
    };
    // The sandbox of a real run (binds, limits, every layer), but the very command the
    // bare side runs: the jail's own cost, not the runner's.
    let mut spec = match req.to_spec(&python, &Policy::default()) {
        Ok(s) => s,
        Err(e) => return crate::internal_error(e),
    };
    spec.args = [
        python.executable.to_string_lossy().as_ref(),
        "-B",
        "-s",
        "-c",
        "pass",
    ]
    .map(String::from)
    .to_vec();
    spec.channel = None;
    let bare = || -> Result<Duration, String> {
        let t = Instant::now();
        let status = std::process::Command::new(&python.executable)
            .args(&spec.args[1..])
            .env_clear()
            .envs(spec.env.iter().cloned())
            .stdin(std::process::Stdio::null())
            .status()
            .map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(format!("bare python exited {status}"));
        }
        Ok(t.elapsed())
    };
    let jailed = || -> Result<(Duration, Duration, Duration), String> {
        let t = Instant::now();
        let o = airlock_jail::run(&spec, None, None).map_err(|e| e.to_string())?;
        if o.exit != airlock_jail::Exit::Code(0) {
            return Err(format!(
                "jailed python ended {:?}: {}",
                o.exit,
                String::from_utf8_lossy(&o.stderr)
            ));
        }
        Ok((t.elapsed(), o.setup, o.duration))
    };
    let (mut b, mut j, mut s, mut r) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..args.runs + 3 {
        let (bt, (jt, st, rt)) = match (bare(), jailed()) {
            (Ok(bt), Ok(js)) => (bt, js),
            (Err(e), _) | (_, Err(e)) => return crate::internal_error(e),
        };
        if i >= 3 {
            b.push(bt);
            j.push(jt);
            s.push(st);
            r.push(rt);
        }
    }
    for v in [&mut b, &mut j, &mut s, &mut r] {
        v.sort();
    }
    println!(
        "python3 -c pass, {} runs each ({} {})",
        args.runs,
        python.executable.display(),
        python.version
    );
    println!("{:<28} {:>10} {:>10}", "contender", "median ms", "p95 ms");
    row("bare subprocess", &mut b);
    row("airlock jail (end to end)", &mut j);
    row("  of which jail setup", &mut s);
    row("  of which program run", &mut r);
    let overhead = ms(percentile(&j, 0.5)) - ms(percentile(&b, 0.5));
    println!(
        "overhead: {overhead:.2} ms median (jail/bare = {:.2}x)",
        ms(percentile(&j, 0.5)) / ms(percentile(&b, 0.5))
    );
    if args.runner {
        if let Err(e) = runner_table(args.runs.min(50)) {
            return crate::internal_error(e);
        }
    }
    0
}
