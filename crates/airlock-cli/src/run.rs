//! `airlock run`: read the code, build the request from the flags, run it, print the
//! result (passing the code's output through, or as one ExecutionResult with --json).

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use airlock_jail::{Exit, Stream};
use airlock_runtime::gate::Verdict;
use airlock_runtime::request::Policy;
use airlock_runtime::{CheckMode, ExecutionRequest, ExecutionResult, Grants, InputFile};
use clap::Args;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use crate::{internal_error, usage_error};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// File with the code, or '-' to read it from stdin.
    #[arg(value_name = "FILE|-")]
    file: Option<PathBuf>,
    /// Code given inline instead of FILE.
    #[arg(
        short = 'c',
        long = "code",
        value_name = "STRING",
        conflicts_with = "file"
    )]
    code: Option<String>,
    /// Language of the code.
    #[arg(
        long = "lang",
        default_value = "python",
        value_name = "python|javascript|bash"
    )]
    lang: String,
    /// Environment to run in ('none': the host interpreter's standard library only).
    #[arg(long, default_value = "default", value_name = "NAME")]
    env: String,
    /// No progress display while the default environment is created on first use.
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Wall-clock limit in seconds.
    #[arg(
        long,
        default_value_t = 30.0,
        value_name = "SECS",
        allow_negative_numbers = true
    )]
    timeout: f64,
    /// Memory limit of the whole sandbox, in MB.
    #[arg(
        long,
        default_value_t = 512,
        value_name = "MB",
        allow_negative_numbers = true
    )]
    memory: u64,
    /// CPU share in percent (100 = one core).
    #[arg(
        long,
        default_value_t = 100,
        value_name = "PERCENT",
        allow_negative_numbers = true
    )]
    cpu: u32,
    /// Cap on stdout and on stderr, each, in bytes.
    #[arg(
        long = "output-limit",
        default_value_t = 10 << 20,
        value_name = "BYTES",
        allow_negative_numbers = true
    )]
    output_limit: u64,
    /// Cap on processes and threads in the sandbox.
    #[arg(
        long,
        default_value_t = 64,
        value_name = "N",
        allow_negative_numbers = true
    )]
    pids: u32,
    /// Give the code this file (or '-', airlock's stdin) as its stdin; default /dev/null.
    #[arg(long, value_name = "PATH|-")]
    input: Option<PathBuf>,
    /// Inject a variable into the code's globals (repeatable), e.g. --var window=20.
    #[arg(long = "var", value_name = "NAME=JSON", value_parser = parse_var)]
    vars: Vec<(String, serde_json::Value)>,
    /// Copy a host file into the working dir, as NAME if given (repeatable).
    #[arg(long = "file", value_name = "PATH[:NAME]")]
    files: Vec<String>,
    /// Let the code start other programs (execve); refused by the kernel otherwise.
    #[arg(long = "allow-run")]
    allow_run: bool,
    /// Do not mask secret-looking values in outputs.
    #[arg(long = "no-redact")]
    no_redact: bool,
    /// Static-analysis gate.
    #[arg(long, value_enum, default_value = "warn")]
    check: Check,
    /// Allow outbound connections to HOST (not available yet: refused).
    #[arg(long = "allow-net", value_name = "HOST[:PORT]")]
    allow_net: Vec<String>,
    /// Pass this host environment variable in (repeatable).
    #[arg(long = "allow-env", value_name = "NAME")]
    allow_env: Vec<String>,
    /// Bind a host path read-only at the same path (repeatable).
    #[arg(long = "allow-read", value_name = "PATH")]
    allow_read: Vec<PathBuf>,
    /// Bind a host path read-write (only under the operator's write_roots).
    #[arg(long = "allow-write", value_name = "PATH")]
    allow_write: Vec<PathBuf>,
    /// Let the code load native code it wrote (writable mounts are noexec otherwise).
    #[arg(long = "allow-ffi")]
    allow_ffi: bool,
    /// Switch an isolation layer off (seccomp or landlock) to show that the others hold on
    /// their own. For defence-in-depth tests only; reported in the result.
    #[arg(long = "insecure-disable-layer", value_name = "seccomp|landlock", value_parser = parse_optional)]
    insecure_disable: Vec<airlock_jail::Optional>,
    /// Print exactly one ExecutionResult JSON object on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Check {
    Off,
    Warn,
    Enforce,
}

fn parse_var(s: &str) -> Result<(String, serde_json::Value), String> {
    let (name, json) = s.split_once('=').ok_or("expected NAME=JSON")?;
    let value = serde_json::from_str(json)
        .map_err(|e| format!("{json:?} is not JSON ({e}); quote strings: NAME='\"text\"'"))?;
    Ok((name.to_string(), value))
}

/// `PATH[:NAME]` → the file's bytes and its name in the working dir.
fn read_input_file(spec: &str) -> Result<InputFile, String> {
    // PATH:NAME, unless the whole argument is an existing path (paths may hold ':').
    let (path, name) = match spec.rsplit_once(':') {
        Some((path, name)) if !name.is_empty() && !std::path::Path::new(spec).exists() => {
            (path, name.to_string())
        }
        _ => {
            let name = std::path::Path::new(spec)
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| format!("invalid --file {spec:?}: no file name"))?;
            (spec, name.to_string())
        }
    };
    let data = std::fs::read(path).map_err(|e| format!("invalid --file {path}: {e}"))?;
    airlock_runtime::request::check_input_file_name(&name)
        .map_err(|e| format!("invalid --file {spec}: {}", e.reason))?;
    Ok(InputFile { name, data })
}

fn parse_optional(s: &str) -> Result<airlock_jail::Optional, String> {
    match s {
        "seccomp" => Ok(airlock_jail::Optional::Seccomp),
        "landlock" => Ok(airlock_jail::Optional::Landlock),
        other => Err(format!(
            "{other:?} is not a layer that can be switched off (seccomp, landlock)"
        )),
    }
}

/// Flags as the user typed them, for error messages that name the flag.
fn flag(field: &str) -> String {
    match field {
        "code" | "request" => field.to_string(),
        other => format!("--{other}"),
    }
}

fn read_source(path: &PathBuf, what: &str) -> Result<Vec<u8>, String> {
    if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| format!("cannot read {what} from stdin: {e}"))?;
        Ok(buf)
    } else {
        std::fs::read(path).map_err(|e| format!("cannot read {what} {}: {e}", path.display()))
    }
}

fn load_code(args: &RunArgs) -> Result<String, String> {
    let (bytes, name) = match (&args.code, &args.file) {
        (Some(code), _) => return Ok(code.clone()),
        (None, Some(path)) => (read_source(path, "code file")?, path.display().to_string()),
        (None, None) => return Err("no code given: pass FILE, '-' for stdin, or -c CODE".into()),
    };
    if bytes.contains(&0) {
        return Err(format!(
            "{name} is binary (it holds NUL bytes), not source code"
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "{name} is not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}

/// The operator's policy, from the configuration file (`airlock_service::config`).
fn load_policy() -> Result<Policy, String> {
    airlock_service::Config::load(None)
        .map(|c| c.policy())
        .map_err(|e| e.to_string())
}

/// Output bound for a terminal loses its control characters (escape sequences could
/// retitle the window, write the clipboard or forge what the user sees); pipes and files
/// get the bytes unchanged.
fn for_terminal(bytes: &[u8], is_tty: bool) -> std::borrow::Cow<'_, [u8]> {
    let control = |b: u8| (b < 0x20 && !matches!(b, b'\n' | b'\t' | b'\r')) || b == 0x7f;
    if !is_tty || !bytes.iter().any(|&b| control(b)) {
        return std::borrow::Cow::Borrowed(bytes);
    }
    std::borrow::Cow::Owned(
        bytes
            .iter()
            .flat_map(|&b| {
                if control(b) {
                    vec![b'^', (b ^ 0x40)]
                } else {
                    vec![b]
                }
            })
            .collect(),
    )
}

/// serde_json escapes only C0 controls; DEL and the C1 controls (U+0080..U+009F, which
/// some terminals obey as CSI and friends) are escaped too, so the JSON line stays inert
/// wherever it is printed. The output is the same JSON value.
fn escape_controls(json: &str) -> std::borrow::Cow<'_, str> {
    let risky = |c: char| c == '\u{7f}' || ('\u{80}'..='\u{9f}').contains(&c);
    if !json.chars().any(risky) {
        return std::borrow::Cow::Borrowed(json);
    }
    std::borrow::Cow::Owned(
        json.chars()
            .map(|c| {
                if risky(c) {
                    format!("\\u{:04x}", c as u32)
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

pub fn main(args: RunArgs) -> i32 {
    let created_at = chrono::Utc::now();
    let code = match load_code(&args) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    let stdin = match &args.input {
        Some(p)
            if p.as_os_str() == "-" && args.file.as_deref() == Some(std::path::Path::new("-")) =>
        {
            return usage_error("--input - and FILE - cannot both read stdin");
        }
        Some(p) => match read_source(p, "--input") {
            Ok(b) => Some(b),
            Err(e) => return usage_error(e),
        },
        None => None,
    };
    let mut files = Vec::new();
    for spec in &args.files {
        match read_input_file(spec) {
            Ok(f) => files.push(f),
            Err(e) => return usage_error(e),
        }
    }
    let policy = match load_policy() {
        Ok(p) => p,
        Err(e) => return usage_error(e),
    };
    let req = ExecutionRequest {
        code,
        language: args.lang.clone(),
        timeout: args.timeout,
        max_memory_mb: args.memory,
        max_cpu_percent: args.cpu,
        max_processes: args.pids,
        output_limit: args.output_limit,
        stdin,
        grants: Grants {
            allow_env: args.allow_env.clone(),
            allow_read: args.allow_read.clone(),
            allow_write: args.allow_write.clone(),
            allow_net: args.allow_net.clone(),
            allow_ffi: args.allow_ffi,
            insecure_disable: args.insecure_disable.clone(),
        },
        variables: args.vars.iter().cloned().collect(),
        files,
        allow_run: args.allow_run,
        redact: !args.no_redact,
        check: match args.check {
            Check::Off => CheckMode::Off,
            Check::Warn => CheckMode::Warn,
            Check::Enforce => CheckMode::Enforce,
        },
    };
    let analyzer_policy = match &policy.analyzer_policy {
        None => airlock_analyzer::Policy::builtin(),
        Some(path) => match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| airlock_analyzer::Policy::from_toml(&t).map_err(|e| e.to_string()))
        {
            Ok(p) => p,
            Err(e) => {
                return usage_error(format!("config analyzer_policy {}: {e}", path.display()))
            }
        },
    };
    let validation = match airlock_runtime::gate::check(&req, &analyzer_policy) {
        Verdict::Run(validation) => validation,
        Verdict::Reject(validation) => {
            let result = ExecutionResult::rejected(&req, created_at, validation);
            return if args.json {
                println!(
                    "{}",
                    escape_controls(&serde_json::to_string(&result).unwrap_or_default())
                );
                0
            } else {
                internal_error(result.error.unwrap_or_default())
            };
        }
    };
    // The lease on the environment's build lasts until this function returns.
    let crate::env::Leased {
        runtime,
        python,
        binds,
    } = match crate::env::lease(&args.env, args.quiet) {
        Ok(leased) => leased,
        Err(code) => return code,
    };
    let spec = match req.to_spec_in(&python, &binds, &policy) {
        Ok(s) => s,
        Err(e) => return usage_error(format!("invalid {}: {}", flag(&e.field), e.reason)),
    };
    let tty = (
        std::io::stdout().is_terminal(),
        std::io::stderr().is_terminal(),
    );
    let mut passthrough = |stream: Stream, bytes: &[u8]| {
        let _ = match stream {
            Stream::Stdout => std::io::stdout()
                .write_all(&for_terminal(bytes, tty.0))
                .and_then(|_| std::io::stdout().flush()),
            Stream::Stderr => std::io::stderr().write_all(&for_terminal(bytes, tty.1)),
            Stream::Channel => Ok(()),
        };
    };
    let observer: Option<airlock_jail::Observer> = if args.json {
        None
    } else {
        Some(&mut passthrough)
    };
    // Ctrl-C, SIGTERM or a closed terminal end the sandbox cleanly (cgroup removed).
    let cancel = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM, SIGHUP] {
        if let Err(e) = signal_hook::flag::register(signal, Arc::clone(&cancel)) {
            return internal_error(format!("install signal handler: {e}"));
        }
    }
    let outcome = airlock_jail::run(&spec, observer, Some(&cancel));

    if args.json {
        let result = match outcome {
            Ok(o) => {
                let mut result =
                    ExecutionResult::from_outcome(&req, created_at, o).in_env(runtime.as_ref());
                result.validation = validation;
                result
            }
            Err(airlock_jail::JailError::InvalidSpec { field, reason }) => {
                return usage_error(format!("invalid {field}: {reason}"))
            }
            Err(airlock_jail::JailError::Cancelled) => ExecutionResult::cancelled(&req, created_at),
            Err(e) => ExecutionResult::sandbox_error(&req, created_at, e.to_string()),
        };
        match serde_json::to_string(&result) {
            Ok(text) => {
                println!("{}", escape_controls(&text));
                0
            }
            Err(e) => internal_error(format!("encode result: {e}")),
        }
    } else {
        match outcome {
            Ok(o) => {
                let result = ExecutionResult::from_outcome(&req, created_at, o.clone());
                if let (Some(reason), Some(error)) = (&result.reason, &result.error) {
                    if reason != "exit_code" {
                        eprintln!("airlock: {error}");
                    }
                }
                match o.exit {
                    Exit::Code(c) => c,
                    Exit::Timeout => 124,
                    Exit::Cancelled => 130,
                    Exit::Signal(s) => 128 + s,
                    Exit::Unreported => 128 + 9,
                }
            }
            Err(e) => internal_error(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::for_terminal;

    #[test]
    fn json_output_escapes_del_and_c1_controls() {
        let value = serde_json::json!({"stdout": "a\u{7f}b\u{9b}31m"});
        let text = serde_json::to_string(&value).unwrap();
        let escaped = super::escape_controls(&text);
        assert!(!escaped.contains('\u{9b}') && !escaped.contains('\u{7f}'));
        let back: serde_json::Value = serde_json::from_str(&escaped).unwrap();
        assert_eq!(back, value, "still the same JSON value");
    }

    #[test]
    fn escape_sequences_are_shown_not_obeyed_on_a_terminal() {
        let evil = b"ok\x1b]52;c;AAAA\x07\n";
        assert_eq!(&*for_terminal(evil, true), b"ok^[]52;c;AAAA^G\n");
        assert_eq!(
            &*for_terminal(evil, false),
            evil,
            "pipes get the bytes unchanged"
        );
    }
}
