//! `airlock bench`: the jail's cost, measured against its baseline in the same run.
//!
//! Both sides start the same real interpreter (not a pyenv shim) with the same arguments
//! on `pass`: once as a bare child process, once through the full jail (namespaces,
//! mounts, cgroup, Landlock, seccomp, teardown). Runs alternate so drift hits both sides.

use std::time::{Duration, Instant};

use airlock_runtime::python::Interpreter;
use airlock_runtime::request::Policy;
use airlock_runtime::ExecutionRequest;
use clap::Args;

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Runs per contender (after warm-up).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(3..=10_000))]
    runs: u32,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
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
    let row = |name: &str, v: &[Duration]| {
        println!(
            "{name:<28} {:>10.2} {:>10.2}",
            ms(percentile(v, 0.5)),
            ms(percentile(v, 0.95))
        )
    };
    row("bare subprocess", &b);
    row("airlock jail (end to end)", &j);
    row("  of which jail setup", &s);
    row("  of which program run", &r);
    let overhead = ms(percentile(&j, 0.5)) - ms(percentile(&b, 0.5));
    println!(
        "overhead: {overhead:.2} ms median (jail/bare = {:.2}x)",
        ms(percentile(&j, 0.5)) / ms(percentile(&b, 0.5))
    );
    0
}
