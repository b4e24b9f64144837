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
use airlock_runtime::session::{Session, SessionOptions};
use airlock_runtime::ExecutionRequest;
use clap::Args;

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Runs per contender (after warm-up).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(3..=10_000))]
    runs: u32,
    /// Also time code through the runner: bare python, bubblewrap, a cold sandbox and a
    /// warm pool, on print(1), a pandas factor and a pure-Python loop.
    #[arg(long)]
    runner: bool,
    /// With --runner: seconds of sustained load per workload through the pool (0: none).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=3600))]
    sustained: u64,
    /// With --runner: sandboxes the pool keeps ready.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    pool_size: u64,
    /// With --runner: modules the pool's template imports (comma-separated).
    #[arg(long, value_delimiter = ',', value_parser = airlock_service::config::module_name, default_values_t = PRELOAD.map(String::from))]
    preload: Vec<String>,
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
print(float(factor.iloc[-1]))";

/// The pure-Python workload: a loop of a million additions.
const LOOP: &str = "total = 0\nfor i in range(1_000_000):\n    total += i % 7\nprint(total)";

/// The workloads of the runner table: label and code.
const WORKLOADS: [(&str, &str); 3] = [
    ("print(1)", "print(1)"),
    ("pandas factor (10k rows)", FACTOR),
    ("pure-Python loop (1M)", LOOP),
];

/// Modules the warm pool's sandboxes import before their request arrives.
const PRELOAD: [&str; 3] = ["numpy", "pandas", "matplotlib.pyplot"];

fn row(name: &str, v: &mut [Duration]) {
    v.sort();
    println!(
        "{name:<40} {:>10.2} {:>10.2}",
        ms(percentile(v, 0.5)),
        ms(percentile(v, 0.95))
    );
}

/// Time a command to its end; an unsuccessful exit is an error.
fn time_command(program: &str, args: &[&str]) -> Result<Duration, String> {
    let t = Instant::now();
    let out = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{program} exited {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(t.elapsed())
}

fn which(program: &str) -> Option<String> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| format!("{d}/{program}"))
        .find(|p| std::path::Path::new(p).is_file())
}

/// Code through the runner in the default environment, each workload against its
/// contenders: the environment's python bare (no isolation), under bubblewrap
/// (`bwrap --unshare-all`), a cold airlock sandbox, and a warm one from the pool (taken
/// when the pool is full, so each measures one hand-off).
fn runner_table(
    runs: u32,
    sustained: Duration,
    pool_size: usize,
    preload: &[String],
) -> Result<(), String> {
    let envs = Environments::from_env().map_err(|e| e.to_string())?;
    let env = envs
        .runtime(DEFAULT_ENV, crate::env::progress(false).as_ref())
        .map_err(|e| e.to_string())?;
    let binds = [env.bind.clone()];
    let spec = ExecutionRequest::default()
        .sandbox_spec(&env.interpreter, &binds, preload, &Policy::default())
        .map_err(|e| e.to_string())?;
    let pool = Pool::new(spec, pool_size);
    // The environment's own python on the host (a venv's: no certifi .pth at start).
    let python = match env.interpreter.executable.strip_prefix(&env.bind.target) {
        Ok(relative) => env.bind.source.join(relative),
        Err(_) => env.interpreter.executable.clone(),
    }
    .to_string_lossy()
    .into_owned();
    // One session for every workload's calls: its state (and imports) stay.
    let (mut session, _) = Session::start(
        &ExecutionRequest::default(),
        &env.interpreter,
        &binds,
        &Policy::default(),
        None,
        None,
        SessionOptions::default(),
    )
    .map_err(|e| format!("start a session: {e}"))?;
    let bwrap = which("bwrap");
    println!(
        "\nthe runner in the default environment, {runs} runs each; bare = {python} -c CODE; \
         warm = a pool of {pool_size} ({:?} mode, preloading {})",
        pool.status().mode,
        preload.join(", ")
    );
    println!(
        "{:<40} {:>10} {:>10}",
        "workload / contender", "median ms", "p95 ms"
    );
    let full = || {
        pool.wait_ready(pool_size, Duration::from_secs(120))
            .then_some(())
            .ok_or_else(|| format!("the pool could not fill: {:?}", pool.last_error()))
    };
    for (label, code) in WORKLOADS {
        let req = ExecutionRequest {
            code: code.into(),
            timeout: 60.0,
            ..Default::default()
        };
        let cold_spec = req
            .to_spec_in(&env.interpreter, &binds, &Policy::default())
            .map_err(|e| e.to_string())?;
        let (mut bare, mut wrapped, mut cold, mut warm, mut in_session) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs {
            bare.push(time_command(&python, &["-c", code])?);
            if let Some(bwrap) = &bwrap {
                let args = [
                    "--unshare-all",
                    "--die-with-parent",
                    "--ro-bind",
                    "/",
                    "/",
                    "--dev",
                    "/dev",
                    "--proc",
                    "/proc",
                    "--tmpfs",
                    "/tmp",
                    "--",
                    &python,
                    "-c",
                    code,
                ];
                wrapped.push(time_command(bwrap, &args)?);
            }
            let t = Instant::now();
            let o = airlock_jail::run(&cold_spec, None, None).map_err(|e| e.to_string())?;
            cold.push(t.elapsed());
            check_ok(&o)?;
            full()?;
            let taken = pool.take(&req).ok_or("the pool had no sandbox ready")?;
            let t = Instant::now();
            let o = taken
                .run(&req, None, None)
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            warm.push(t.elapsed());
            check_ok(&o)?;
            let t = Instant::now();
            let r = session
                .execute(&req, chrono::Utc::now(), None)
                .map_err(|e| e.to_string())?;
            in_session.push(t.elapsed());
            if r.status != "completed" {
                return Err(format!("a session call ended {}: {:?}", r.status, r.error));
            }
        }
        let (b, w) = (percentile_of(&mut bare), percentile_of(&mut warm));
        row(&format!("{label}: bare python"), &mut bare);
        if bwrap.is_some() {
            row(&format!("{label}: bwrap"), &mut wrapped);
        } else {
            println!("{:<40} {:>10}", format!("{label}: bwrap"), "not installed");
        }
        row(&format!("{label}: airlock cold"), &mut cold);
        row(&format!("{label}: airlock warm"), &mut warm);
        let c = percentile_of(&mut in_session);
        row(&format!("{label}: airlock session"), &mut in_session);
        println!("{:<40} {:>9.1}x", "  warm vs bare python (median)", b / w);
        println!(
            "{:<40} {:>9.1}x",
            "  session vs bare python (median)",
            b / c
        );
    }
    full()?;
    let memory = pool.memory();
    let each = |f| crate::doctor::per_sandbox(&memory, f);
    println!(
        "idle pooled sandbox: {} MB PSS each ({} MB its own, {} waiting); template: {:.1} MB PSS",
        each(|m| m.pss_mb),
        each(|m| m.private_mb),
        memory.sandboxes.len(),
        memory.template.map_or(0.0, |t| t.pss_mb)
    );
    if !sustained.is_zero() {
        println!(
            "\nsustained load: {} s per workload, {} callers (one per core), pool of {pool_size}",
            sustained.as_secs(),
            cores()
        );
        for (label, code) in &WORKLOADS[..2] {
            let (done, failed) = sustain(&pool, code, sustained);
            println!(
                "{label:<40} {:>8.1} executions/s ({done} done, {failed} failed)",
                done as f64 / sustained.as_secs_f64()
            );
        }
    }
    println!("pool: {:?}", pool.status());
    drop(pool);
    // Warm runs are torn down in the background: let that finish before exiting.
    airlock_jail::settle();
    Ok(())
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Run `code` through the pool from one caller per core for `duration`; a caller that
/// finds no sandbox ready waits for one. (done, failed) executions.
fn sustain(pool: &Pool, code: &str, duration: Duration) -> (u64, u64) {
    let req = ExecutionRequest {
        code: code.into(),
        ..Default::default()
    };
    let end = Instant::now() + duration;
    let done = std::sync::atomic::AtomicU64::new(0);
    let failed = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|scope| {
        for _ in 0..cores() {
            scope.spawn(|| {
                while Instant::now() < end {
                    let Some(taken) = pool.take(&req).or_else(|| {
                        pool.wait_ready(1, Duration::from_secs(5));
                        pool.take(&req)
                    }) else {
                        continue;
                    };
                    let ok = matches!(
                        taken.run(&req, None, None),
                        Ok(Ok(o)) if o.exit == airlock_jail::Exit::Code(0)
                    );
                    let counter = if ok { &done } else { &failed };
                    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
    });
    (done.into_inner(), failed.into_inner())
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
        let sustained = Duration::from_secs(args.sustained);
        let pool_size = args.pool_size as usize;
        if let Err(e) = runner_table(args.runs.min(50), sustained, pool_size, &args.preload) {
            return crate::internal_error(e);
        }
    }
    0
}
