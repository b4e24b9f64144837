//! The ExecutionResult of CONTRACT.md, built from what the jail reports.
//!
//! `status` is `completed` only when the program ran to its end with exit status 0 and
//! nothing was cut; otherwise `reason` tells why, in this order of precedence: timeout,
//! memory_limit (the kernel's OOM killer fired in the sandbox's cgroup), signal,
//! output_limit (stdout or stderr was truncated), exit_code.

use airlock_jail::{Exit, Layers, Outcome};
use chrono::{DateTime, SecondsFormat, Utc};

use crate::redact::{redact, redact_json};
use crate::request::{ExecutionRequest, Grants};
use crate::runner::{Caps, Chart, Ending, OutputFile, Report};

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, serde::Serialize)]
pub struct ExceptionInfo {
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
    pub traceback: String,
    pub line: Option<u32>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, serde::Serialize)]
pub struct ExecutionResult {
    pub id: String,
    pub code: String,
    pub language: String,
    pub env: Option<String>,
    pub venv_id: Option<String>,
    pub status: String,
    pub reason: Option<String>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    pub return_value: Option<serde_json::Value>,
    pub exception: Option<ExceptionInfo>,
    pub error: Option<String>,
    pub charts: Vec<Chart>,
    pub files: Vec<OutputFile>,
    /// What the runner left out or refused (over a cap, unsafe name …).
    pub warnings: Vec<String>,
    pub validation: Option<airlock_analyzer::CodeValidationResult>,
    pub timeout: f64,
    pub max_memory_mb: u64,
    pub max_cpu_percent: u32,
    pub max_processes: u32,
    pub created_at: String,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    pub duration: f64,
    pub setup_seconds: f64,
    pub cpu_time_seconds: f64,
    pub memory_used_mb: f64,
    /// What the caller was granted beyond the default (nothing).
    pub grants: Grants,
    /// The isolation the run actually had.
    pub sandbox: Option<Layers>,
}

fn rfc3339(t: impl Into<DateTime<Utc>>) -> String {
    t.into().to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc_sig::SIGKILL => "SIGKILL",
        libc_sig::SIGSEGV => "SIGSEGV",
        libc_sig::SIGABRT => "SIGABRT",
        libc_sig::SIGTERM => "SIGTERM",
        libc_sig::SIGXFSZ => "SIGXFSZ",
        libc_sig::SIGXCPU => "SIGXCPU",
        libc_sig::SIGBUS => "SIGBUS",
        libc_sig::SIGSYS => "SIGSYS",
        _ => return format!("signal {sig}"),
    };
    name.to_string()
}

/// Signal numbers of Linux (x86_64 and aarch64 agree on these).
mod libc_sig {
    pub const SIGABRT: i32 = 6;
    pub const SIGBUS: i32 = 7;
    pub const SIGKILL: i32 = 9;
    pub const SIGSEGV: i32 = 11;
    pub const SIGTERM: i32 = 15;
    pub const SIGXCPU: i32 = 24;
    pub const SIGXFSZ: i32 = 25;
    pub const SIGSYS: i32 = 31;
}

impl ExecutionResult {
    fn base(req: &ExecutionRequest, created_at: String) -> ExecutionResult {
        ExecutionResult {
            id: uuid::Uuid::new_v4().to_string(),
            code: req.code.clone(),
            language: req.language.clone(),
            env: None,
            venv_id: None,
            status: "failed".into(),
            reason: None,
            exit_code: None,
            signal: None,
            stdout: String::new(),
            stderr: String::new(),
            stdout_truncated: false,
            stderr_truncated: false,
            return_value: None,
            exception: None,
            error: None,
            charts: Vec::new(),
            files: Vec::new(),
            warnings: Vec::new(),
            validation: None,
            timeout: req.timeout,
            max_memory_mb: req.max_memory_mb,
            max_cpu_percent: req.max_cpu_percent,
            max_processes: req.max_processes,
            created_at,
            started_at: None,
            completed_at: None,
            duration: 0.0,
            setup_seconds: 0.0,
            cpu_time_seconds: 0.0,
            memory_used_mb: 0.0,
            grants: req.grants.clone(),
            sandbox: None,
        }
    }

    /// A run that the sandbox could not be set up for (nothing ran).
    pub fn sandbox_error(
        req: &ExecutionRequest,
        created_at: DateTime<Utc>,
        error: String,
    ) -> ExecutionResult {
        let mut r = ExecutionResult::base(req, rfc3339(created_at));
        r.reason = Some("sandbox_error".into());
        r.error = Some(error);
        r
    }

    /// Name the environment the run used (None: the host interpreter).
    pub fn in_env(mut self, env: Option<&crate::env::EnvRuntime>) -> ExecutionResult {
        self.env = env.map(|e| e.name.clone());
        self.venv_id = env.map(|e| e.id.clone());
        self
    }

    /// Code the policy gate refused: nothing ran.
    pub fn rejected(
        req: &ExecutionRequest,
        created_at: DateTime<Utc>,
        validation: airlock_analyzer::CodeValidationResult,
    ) -> ExecutionResult {
        let mut r = ExecutionResult::base(req, rfc3339(created_at));
        r.status = "rejected".into();
        r.reason = Some("policy".into());
        r.error = Some(crate::gate::rejection_message(&validation));
        r.validation = Some(validation);
        r
    }

    /// A job not final yet: `status` is "pending" or "running"; nothing else is known.
    pub fn in_progress(
        req: &ExecutionRequest,
        created_at: DateTime<Utc>,
        status: &str,
    ) -> ExecutionResult {
        let mut r = ExecutionResult::base(req, rfc3339(created_at));
        r.status = status.into();
        r
    }

    /// A run cancelled before its program started.
    pub fn cancelled(req: &ExecutionRequest, created_at: DateTime<Utc>) -> ExecutionResult {
        let mut r = ExecutionResult::base(req, rfc3339(created_at));
        r.status = "cancelled".into();
        r.reason = Some("cancelled".into());
        r.error = Some("Execution cancelled".into());
        r
    }

    pub fn from_outcome(
        req: &ExecutionRequest,
        created_at: DateTime<Utc>,
        o: Outcome,
    ) -> ExecutionResult {
        let mut r = ExecutionResult::base(req, rfc3339(created_at));
        r.stdout = String::from_utf8_lossy(&o.stdout).into_owned();
        r.stderr = String::from_utf8_lossy(&o.stderr).into_owned();
        r.stdout_truncated = o.stdout_truncated;
        r.stderr_truncated = o.stderr_truncated;
        r.started_at = Some(rfc3339(o.started_at));
        r.completed_at = Some(rfc3339(o.completed_at));
        r.duration = o.duration.as_secs_f64();
        r.setup_seconds = o.setup.as_secs_f64();
        r.cpu_time_seconds = o.cpu_time.as_secs_f64();
        r.memory_used_mb = o.peak_memory_bytes as f64 / (1024.0 * 1024.0);
        r.sandbox = Some(o.layers);
        let report = Report::decode(&o.channel, o.channel_truncated, &Caps::default());
        r.return_value = report.value.clone();
        r.charts = report.charts.clone();
        r.files = report.files.clone();
        r.warnings = report.warnings.clone();
        r.exception = report.exception.as_ref().map(|e| ExceptionInfo {
            kind: e.kind.clone(),
            message: e.message.clone(),
            traceback: e.traceback.clone(),
            line: e.line,
        });
        let truncated = o.stdout_truncated || o.stderr_truncated;
        // A pool child whose template ended first: nobody reaped it for the host, so the
        // runner's own last frame says how it ended (without one, it was killed).
        let exit = match o.exit {
            Exit::Unreported => match report.ending {
                Some(Ending::Completed) => Exit::Code(0),
                Some(Ending::Exception) => Exit::Code(1),
                Some(Ending::Exited(code)) => Exit::Code(code),
                None => Exit::Signal(libc_sig::SIGKILL),
            },
            other => other,
        };
        match exit {
            Exit::Code(code) => r.exit_code = Some(code),
            Exit::Signal(sig) => r.signal = Some(sig),
            Exit::Timeout | Exit::Cancelled | Exit::Unreported => {}
        }
        let (status, reason, error) = match exit {
            Exit::Timeout => (
                "timeout",
                Some("timeout"),
                Some(format!("Execution timeout after {} seconds", req.timeout)),
            ),
            Exit::Cancelled => (
                "cancelled",
                Some("cancelled"),
                Some("Execution cancelled".to_string()),
            ),
            _ if o.oom_killed => (
                "failed",
                Some("memory_limit"),
                Some(format!("Memory limit of {} MB exceeded", req.max_memory_mb)),
            ),
            Exit::Signal(sig) => (
                "failed",
                Some("signal"),
                Some(format!("Killed by {}", signal_name(sig))),
            ),
            Exit::Code(_) if report.runner_error.is_some() => (
                "failed",
                Some("sandbox_error"),
                report.runner_error.clone().map(|e| format!("runner: {e}")),
            ),
            Exit::Code(_) if truncated => (
                "failed",
                Some("output_limit"),
                Some(format!(
                    "Output limit of {} bytes exceeded",
                    req.output_limit
                )),
            ),
            Exit::Code(_) if report.ending == Some(Ending::Exception) => {
                let e = report.exception.as_ref();
                let error = e.map_or_else(
                    || "Exception".to_string(),
                    |e| {
                        if e.message.is_empty() {
                            e.kind.clone()
                        } else {
                            format!("{}: {}", e.kind, e.message)
                        }
                    },
                );
                ("failed", Some("exception"), Some(error))
            }
            Exit::Code(0) => ("completed", None, None),
            // Resolved from the report above; kept for completeness.
            Exit::Unreported => (
                "failed",
                Some("signal"),
                Some("Ended without a status".to_string()),
            ),
            Exit::Code(code) => {
                // The last line of stderr is usually the one-line form of the failure
                // ("ZeroDivisionError: division by zero").
                let last = r.stderr.lines().rev().find(|l| !l.trim().is_empty());
                let error = last.map_or_else(
                    || format!("Exited with status {code}"),
                    |l| l.trim().to_string(),
                );
                ("failed", Some("exit_code"), Some(error))
            }
        };
        r.status = status.into();
        r.reason = reason.map(Into::into);
        r.error = error;
        if req.redact {
            r.redact();
        }
        r
    }

    /// Mask secret-looking values in everything the code produced.
    fn redact(&mut self) {
        for text in [&mut self.stdout, &mut self.stderr] {
            if let std::borrow::Cow::Owned(masked) = redact(text) {
                *text = masked;
            }
        }
        if let Some(e) = &mut self.exception {
            e.message = redact(&e.message).into_owned();
            e.traceback = redact(&e.traceback).into_owned();
        }
        if let Some(error) = &mut self.error {
            *error = redact(error).into_owned();
        }
        if let Some(value) = &mut self.return_value {
            redact_json(value);
        }
    }
}
