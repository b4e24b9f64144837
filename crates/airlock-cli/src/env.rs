//! `airlock env …`: managed environments, and the progress display long operations show
//! on a terminal (and only there: `--quiet` or a pipe gets none).

use std::io::IsTerminal;
use std::time::Duration;

use airlock_jail::Bind;
use airlock_runtime::env::{
    interpreter_for, EnvError, EnvRuntime, Environments, Progress, Quiet, VirtualEnvironment,
    NO_ENV,
};
use airlock_runtime::python::Interpreter;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::{internal_error, usage_error};

#[derive(Debug, Args)]
pub struct EnvArgs {
    #[command(subcommand)]
    command: EnvCommand,
}

#[derive(Debug, Subcommand)]
enum EnvCommand {
    /// Create an environment (its packages installed inside a sandbox).
    Create {
        name: String,
        /// Python version (3.11: python3.11 on PATH) or interpreter path; default python3.
        #[arg(long, value_name = "VERSION|PATH")]
        python: Option<String>,
        /// Packages to install, comma-separated (a,b==1.2).
        #[arg(long, value_delimiter = ',', value_name = "PKGS")]
        packages: Vec<String>,
        #[command(flatten)]
        output: Output,
    },
    /// List environments.
    List {
        #[arg(long)]
        json: bool,
    },
    /// List the packages of an environment (by name or id).
    Packages {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Install packages into an environment: all of them, or none on failure.
    Install {
        name: String,
        #[arg(required = true, value_name = "PKG")]
        packages: Vec<String>,
        #[command(flatten)]
        output: Output,
    },
    /// Start an environment's interpreter in a sandbox; mark it corrupted if it fails.
    Check { name: String },
    /// Remove an environment.
    Rm { name: String },
    /// Remove environments not used for DAYS (and leftovers of interrupted builds).
    Gc {
        #[arg(
            long = "unused-for",
            value_name = "DAYS",
            allow_negative_numbers = true
        )]
        unused_for: f64,
    },
}

#[derive(Debug, Args)]
struct Output {
    /// No progress display.
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Print the resulting environment as JSON.
    #[arg(long)]
    json: bool,
}

/// A spinner on stderr naming the current stage and the installer's latest line.
pub struct Spinner {
    bar: ProgressBar,
    stage: std::sync::Mutex<String>,
}

impl Spinner {
    fn new() -> Spinner {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        Spinner {
            bar,
            stage: std::sync::Mutex::new(String::new()),
        }
    }
}

impl Progress for Spinner {
    fn stage(&self, what: &str) {
        if let Ok(mut s) = self.stage.lock() {
            *s = what.to_string();
        }
        self.bar.set_message(what.to_string());
    }

    fn output(&self, line: &str) {
        let stage = self.stage.lock().map(|s| s.clone()).unwrap_or_default();
        let line: String = line.chars().filter(|c| !c.is_control()).take(80).collect();
        self.bar.set_message(format!("{stage}: {line}"));
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// Progress for a long operation: a spinner on a terminal, nothing otherwise.
pub fn progress(quiet: bool) -> Box<dyn Progress> {
    if quiet || !std::io::stderr().is_terminal() {
        Box::new(Quiet)
    } else {
        Box::new(Spinner::new())
    }
}

/// What a run or a session in environment `name` needs: the lease on its build, held
/// while it lasts (None for "none"; the default environment is made on first use, with
/// progress unless `quiet`), the interpreter and the binds. Err is the exit status, the
/// reason already reported.
pub fn lease(name: &str, quiet: bool) -> Result<Leased, i32> {
    let runtime = match name {
        NO_ENV => None,
        name => Some(
            Environments::from_env()
                .and_then(|envs| envs.runtime(name, progress(quiet).as_ref()))
                .map_err(report)?,
        ),
    };
    let (python, binds) = interpreter_for(runtime.as_ref()).map_err(internal_error)?;
    Ok(Leased {
        runtime,
        python,
        binds,
    })
}

/// See [`lease`].
#[derive(Debug)]
pub struct Leased {
    pub runtime: Option<EnvRuntime>,
    pub python: Interpreter,
    pub binds: Vec<Bind>,
}

/// Exit status and message for an environment error: the caller's mistakes are usage
/// errors (2), everything else a failure (1).
pub fn report(e: EnvError) -> i32 {
    match e {
        EnvError::InvalidName { .. }
        | EnvError::InvalidPackage { .. }
        | EnvError::InvalidPython(_) => usage_error(e),
        other => internal_error(other),
    }
}

fn print_env(env: &VirtualEnvironment, json: bool) {
    if json {
        println!("{}", serde_json::to_string(env).unwrap_or_default());
    } else {
        println!(
            "{} ready: Python {}, {} packages, {:.1} MB ({})",
            env.name,
            env.python_version,
            env.packages.len(),
            env.size_mb,
            env.installer
        );
    }
}

fn status_word(env: &VirtualEnvironment) -> String {
    status_word_of(env.status)
}

fn status_word_of(status: airlock_runtime::env::Status) -> String {
    serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

pub fn main(args: EnvArgs) -> i32 {
    let envs = match Environments::from_env() {
        Ok(e) => e,
        Err(e) => return report(e),
    };
    let result = match args.command {
        EnvCommand::Create {
            name,
            python,
            packages,
            output,
        } => {
            let progress = progress(output.quiet);
            envs.create(&name, python.as_deref(), &packages, progress.as_ref())
                .map(|env| print_env(&env, output.json))
        }
        EnvCommand::Install {
            name,
            packages,
            output,
        } => {
            let progress = progress(output.quiet);
            envs.install(&name, &packages, progress.as_ref())
                .map(|env| print_env(&env, output.json))
        }
        EnvCommand::List { json } => envs.list().map(|list| {
            if json {
                println!("{}", serde_json::to_string(&list).unwrap_or_default());
            } else if list.is_empty() {
                println!("no environments (airlock env create NAME --packages …)");
            } else {
                println!(
                    "{:<20} {:<10} {:<8} {:>8} {:>9} {:>6}  last used",
                    "name", "status", "python", "packages", "size MB", "uses"
                );
                for env in &list {
                    println!(
                        "{:<20} {:<10} {:<8} {:>8} {:>9.1} {:>6}  {}",
                        env.name,
                        status_word(env),
                        env.python_version,
                        env.packages.len(),
                        env.size_mb,
                        env.usage_count,
                        env.last_used_at
                            .map_or("never".into(), |t| t.format("%Y-%m-%d %H:%M").to_string())
                    );
                }
            }
        }),
        EnvCommand::Packages { name, json } => envs.find(&name).map(|env| {
            if json {
                println!(
                    "{}",
                    serde_json::to_string(&env.packages).unwrap_or_default()
                );
            } else {
                for p in &env.packages {
                    println!("{}=={}", p.name, p.version);
                }
            }
        }),
        EnvCommand::Check { name } => envs.check(&name).and_then(|env| match env.status {
            airlock_runtime::env::Status::Ready => {
                println!("{} is healthy", env.name);
                Ok(())
            }
            _ => Err(EnvError::Corrupted {
                name: env.name,
                reason: env.error.unwrap_or_else(|| status_word_of(env.status)),
            }),
        }),
        EnvCommand::Rm { name } => envs
            .remove(&name)
            .map(|env| println!("removed {}", env.name)),
        EnvCommand::Gc { unused_for } => {
            if !unused_for.is_finite() || !(0.0..=36500.0).contains(&unused_for) {
                return usage_error(format!(
                    "invalid --unused-for: {unused_for} is not a number of days in 0..=36500"
                ));
            }
            envs.gc(Duration::from_secs_f64(unused_for * 86400.0))
                .map(|removed| {
                    if removed.is_empty() {
                        println!("nothing to remove");
                    }
                    for name in removed {
                        println!("removed {name}");
                    }
                })
        }
    };
    match result {
        Ok(()) => 0,
        Err(e) => report(e),
    }
}
