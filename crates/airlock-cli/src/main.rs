//! The `airlock` binary: parses flags and calls the library crates. No policy lives here.

mod bench;
mod check;
mod doctor;
mod env;
mod repl;
mod run;
mod serve;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "airlock",
    version,
    about = "Run code nobody trusts, in a kernel-enforced sandbox"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run code in a fresh sandbox (FILE, '-' for stdin, or -c CODE).
    Run(Box<run::RunArgs>),
    /// An interactive session: state kept from one input to the next, in one sandbox.
    Repl(repl::ReplArgs),
    /// Manage the Python environments code runs in.
    Env(env::EnvArgs),
    /// Static analysis: risky code and complexity, per file, with what to do instead.
    Check(check::CheckArgs),
    /// Show what isolation this host supports, layer by layer, and prove it with a run.
    Doctor(doctor::DoctorArgs),
    /// Measure the jail's setup overhead against running the interpreter bare.
    Bench(bench::BenchArgs),
    /// Serve the HTTP API (sync and async executions, audit log, health, metrics).
    Serve(serve::ServeArgs),
    /// The audit log: `verify` checks its hash chain.
    Audit(serve::AuditArgs),
    /// API keys: `create` makes one.
    Key(serve::KeyArgs),
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        Err(e) => std::process::exit(usage_error(one_line(&e))),
    };
    let code = match cli.command {
        Command::Run(args) => run::main(*args),
        Command::Repl(args) => repl::main(args),
        Command::Check(args) => check::main(args),
        Command::Doctor(args) => doctor::main(args),
        Command::Env(args) => env::main(args),
        Command::Bench(args) => bench::main(args),
        Command::Serve(args) => serve::serve(args),
        Command::Audit(args) => serve::audit(args),
        Command::Key(args) => serve::key(args),
    };
    std::process::exit(code);
}

/// clap's message on one line ("invalid value 'abc' for '--timeout <SECS>': …"), without
/// its "error:" prefix, tips and usage block.
fn one_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let first = text.lines().next().unwrap_or("invalid arguments");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    format!("{first} (see 'airlock --help')")
}

/// Print a usage error naming what was wrong; exit status 2.
fn usage_error(message: impl std::fmt::Display) -> i32 {
    eprintln!("airlock: {message}");
    2
}

/// Print a failure of airlock itself; exit status 1.
fn internal_error(message: impl std::fmt::Display) -> i32 {
    eprintln!("airlock: {message}");
    1
}
