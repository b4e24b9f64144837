//! `airlock repl`: a session in the terminal. Each input (one line, or a block that ends
//! with an empty line) is one call of a session; globals, imports and files persist.
//! Ctrl-C interrupts the running call (KeyboardInterrupt in the code; a second Ctrl-C
//! kills the session); Ctrl-D ends the session. `:snapshot FILE` saves the session's
//! state, and `--snapshot FILE` starts from it.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use airlock_runtime::session::{Session, SessionOptions};
use airlock_runtime::{ExecutionRequest, ExecutionResult};
use base64::Engine as _;
use signal_hook::consts::SIGINT;

use crate::{internal_error, usage_error};

#[derive(Debug, clap::Args)]
pub struct ReplArgs {
    /// The environment the session runs in ("none": the host interpreter).
    #[arg(long, default_value = "default", value_name = "NAME")]
    env: String,
    /// Wall-clock limit of each call, in seconds.
    #[arg(long, default_value_t = 30.0, value_name = "SECS")]
    timeout: f64,
    /// Memory limit of the whole session, in MiB.
    #[arg(long, default_value_t = 512, value_name = "MIB")]
    memory: u64,
    /// The code may start other programs.
    #[arg(long = "allow-run")]
    allow_run: bool,
    /// Start from a snapshot (`:snapshot FILE`, or GET /api/sessions/{id}/snapshot).
    #[arg(long, value_name = "FILE")]
    snapshot: Option<PathBuf>,
    /// No progress while an environment is created.
    #[arg(long, short = 'q')]
    quiet: bool,
}

/// Largest snapshot the REPL saves or loads.
const MAX_SNAPSHOT_BYTES: u64 = 256 << 20;

pub fn main(args: ReplArgs) -> i32 {
    let snapshot = match &args.snapshot {
        None => None,
        Some(path) => match std::fs::read(path) {
            Ok(bytes) => Some(bytes),
            Err(e) => return usage_error(format!("--snapshot {}: {e}", path.display())),
        },
    };
    let policy = match airlock_service::Config::load(None) {
        Ok(config) => config.policy(),
        Err(e) => return usage_error(e),
    };
    let crate::env::Leased {
        runtime,
        python,
        binds,
    } = match crate::env::lease(&args.env, args.quiet) {
        Ok(leased) => leased,
        Err(code) => return code,
    };
    let shape = ExecutionRequest {
        max_memory_mb: args.memory,
        allow_run: args.allow_run,
        ..ExecutionRequest::default()
    };
    let started = Session::start(
        &shape,
        &python,
        &binds,
        &policy,
        runtime,
        snapshot.as_deref(),
        SessionOptions::default(),
    );
    let (mut session, warnings) = match started {
        Ok(s) => s,
        Err(e) => return internal_error(format!("the session could not start: {e}")),
    };
    for w in warnings {
        eprintln!("warning: {w}");
    }
    let interrupt = Arc::new(AtomicBool::new(false));
    if let Err(e) = signal_hook::flag::register(SIGINT, Arc::clone(&interrupt)) {
        return internal_error(format!("install signal handler: {e}"));
    }
    let tty = std::io::stdin().is_terminal();
    if tty {
        eprintln!(
            "airlock session in {} (Python {}); Ctrl-D to end, :snapshot FILE to save",
            args.env, python.version
        );
    }
    let mut calls = 0;
    let mut lines = std::io::stdin().lock().lines();
    loop {
        let Some(input) = read_input(&mut lines, tty) else {
            return 0;
        };
        if interrupt.swap(false, Ordering::SeqCst) {
            eprintln!("KeyboardInterrupt");
            continue;
        }
        if input.trim().is_empty() {
            continue;
        }
        if let Some(path) = input.trim().strip_prefix(":snapshot ") {
            match session.snapshot(MAX_SNAPSHOT_BYTES) {
                Ok((bytes, skipped)) => match std::fs::write(path.trim(), &bytes) {
                    Ok(()) => eprintln!(
                        "saved {} bytes to {}{}",
                        bytes.len(),
                        path.trim(),
                        if skipped.is_empty() {
                            String::new()
                        } else {
                            format!(" (not picklable, left out: {})", skipped.join(", "))
                        }
                    ),
                    Err(e) => eprintln!("error: {}: {e}", path.trim()),
                },
                Err(e) => eprintln!("error: {e}"),
            }
            continue;
        }
        calls += 1;
        let req = ExecutionRequest {
            code: input,
            timeout: args.timeout,
            max_memory_mb: args.memory,
            ..ExecutionRequest::default()
        };
        match session.execute(&req, chrono::Utc::now(), Some(&interrupt)) {
            Ok(result) => show(&result, calls),
            Err(e) => eprintln!("error: {e}"),
        }
        interrupt.store(false, Ordering::SeqCst);
        if let Some(why) = session.ended() {
            eprintln!("the session has ended: {why}");
            return 1;
        }
    }
}

/// One input: a line, or a block (a line ending with `:`, or continued lines) up to an
/// empty line. None at end of input.
fn read_input(
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
    tty: bool,
) -> Option<String> {
    let prompt = |p: &str| {
        if tty {
            eprint!("{p}");
            let _ = std::io::stderr().flush();
        }
    };
    prompt(">>> ");
    let first = lines.next()?.ok()?;
    let mut block = first.clone();
    let opens_block = |l: &str| l.trim_end().ends_with(':') || l.trim_end().ends_with('\\');
    if !opens_block(&first) {
        return Some(block);
    }
    loop {
        prompt("... ");
        match lines.next() {
            Some(Ok(line)) if !line.trim().is_empty() => {
                block.push('\n');
                block.push_str(&line);
            }
            _ => return Some(block),
        }
    }
}

/// A call's result as a person reads it.
fn show(result: &ExecutionResult, call: usize) {
    let _ = std::io::stdout().write_all(result.stdout.as_bytes());
    let _ = std::io::stderr().write_all(result.stderr.as_bytes());
    if let Some(value) = &result.return_value {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        );
    }
    if let Some(e) = &result.exception {
        eprint!("{}", e.traceback);
    } else if let Some(error) = &result.error {
        eprintln!("{error}");
    }
    for (i, chart) in result.charts.iter().enumerate() {
        let name = format!("airlock-chart-{call}-{}.png", i + 1);
        match base64::engine::general_purpose::STANDARD.decode(&chart.data) {
            Ok(bytes) if std::fs::write(&name, &bytes).is_ok() => {
                eprintln!("[chart {}x{} saved to {name}]", chart.width, chart.height)
            }
            _ => eprintln!(
                "[chart {}x{} could not be saved]",
                chart.width, chart.height
            ),
        }
    }
    for file in &result.files {
        eprintln!("[output file {} ({} bytes)]", file.name, file.size);
    }
    for w in &result.warnings {
        eprintln!("warning: {w}");
    }
}
