//! A session: one long-lived interpreter in a live sandbox (`airlock_jail::Live`) whose
//! globals, imports and working directory stay from one call to the next, as in a
//! notebook kernel. Each call's result is a full ExecutionResult of that call only.
//!
//! The sandbox is made like a run's (`ExecutionRequest::sandbox_spec`: the same layers,
//! grants and limits; its memory limit holds for the session's whole life) and runs the
//! runner in session mode. A call past its time is interrupted (KeyboardInterrupt in the
//! code) and the session keeps its state; a call that does not stop within the grace is
//! killed with everything in the sandbox, and the session is dead. Files and snapshots
//! are read and written by the interpreter inside the sandbox: the host touches neither
//! the session's files nor its pickles.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use airlock_jail::{Bind, CallLimits, Exit, JailError, Live, SandboxFile};
use base64::Engine as _;
use chrono::{DateTime, Utc};

use crate::env::EnvRuntime;
use crate::python::Interpreter;
use crate::request::{InvalidRequest, Policy};
use crate::runner::{self, announced_end, split_frames, Caps};
use crate::{ExecutionRequest, ExecutionResult};

/// The session half of the runner: files and snapshots (`runner/session_state.py`).
pub const SESSION_STATE_SOURCE: &str = include_str!("../runner/session_state.py");
pub const SESSION_STATE_PATH: &str = "/airlock/session_state.py";

/// How long a new session's interpreter may take to start (imports, a restore).
const READY: Duration = Duration::from_secs(60);
/// Time for the host's own requests (open, files, snapshot) to be answered.
const OPERATION: Duration = Duration::from_secs(120);

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Invalid(#[from] InvalidRequest),
    #[error(transparent)]
    Jail(#[from] JailError),
    /// A file or snapshot request the session refused.
    #[error("{message}")]
    Refused { status: Refusal, message: String },
    #[error("the session has ended: {0}")]
    Dead(String),
}

/// Why a files or snapshot request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The path is not one inside the working directory (absolute, `..`, a link out), or
    /// not a regular file.
    Path,
    NotFound,
    TooLarge,
}

/// How a session is shaped beyond its sandbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionOptions {
    /// Time an interrupted call has to end before the session is killed.
    pub grace: Duration,
}

impl Default for SessionOptions {
    fn default() -> SessionOptions {
        SessionOptions {
            grace: Duration::from_secs(3),
        }
    }
}

/// A live session.
#[derive(Debug)]
pub struct Session {
    live: Live,
    options: SessionOptions,
    /// The environment's lease: its build stays while the session lives.
    env: Option<EnvRuntime>,
    /// Why the session ended, once it has.
    ended: Option<String>,
}

/// Check a path of the files API before it goes to the session: relative, plain
/// components (links are checked by the session itself).
pub fn check_path(path: &str) -> Result<(), SessionError> {
    let refused = |why: &str| SessionError::Refused {
        status: Refusal::Path,
        message: format!("path {path:?}: {why}"),
    };
    if path.is_empty() || path.len() > 4096 {
        return Err(refused("must be 1 to 4096 bytes"));
    }
    if path.starts_with('/') {
        return Err(refused(
            "must be relative to the session's working directory",
        ));
    }
    if path.contains('\0') || path.chars().any(char::is_control) {
        return Err(refused("contains a control character"));
    }
    if path
        .split('/')
        .any(|p| p.is_empty() || p == "." || p == "..")
    {
        return Err(refused("may not contain empty, . or .. components"));
    }
    Ok(())
}

impl Session {
    /// Start a session whose sandbox is the one `req` describes (limits, grants,
    /// `allow_run`) for `python` with `binds`, holding `env`'s lease; from `snapshot`
    /// (a blob [`Session::snapshot`] made) when given. Returns the session and what could
    /// not be restored.
    pub fn start(
        req: &ExecutionRequest,
        python: &Interpreter,
        binds: &[Bind],
        policy: &Policy,
        env: Option<EnvRuntime>,
        snapshot: Option<&[u8]>,
        options: SessionOptions,
    ) -> Result<(Session, Vec<String>), SessionError> {
        let mut spec = req.sandbox_spec(python, binds, &[], policy)?;
        spec.env.push(("AIRLOCK_SESSION".into(), "1".into()));
        spec.files.push(SandboxFile {
            path: SESSION_STATE_PATH.into(),
            contents: SESSION_STATE_SOURCE.as_bytes().to_vec(),
            mode: 0o444,
        });
        spec.limits.timeout = READY;
        let live = Live::start(&spec, READY)?;
        let mut session = Session {
            live,
            options,
            env,
            ended: None,
        };
        let b64 = base64::engine::general_purpose::STANDARD;
        let opening = serde_json::json!({
            "type": "open",
            "allow_run": req.allow_run,
            "snapshot": snapshot.map(|s| b64.encode(s)),
        });
        let frames = session.operation(&opening)?;
        let warnings = frames
            .iter()
            .filter(|f| f["type"] == "warning")
            .filter_map(|f| f["message"].as_str().map(String::from))
            .collect();
        if let Some(error) = frames.iter().find(|f| f["type"] == "error") {
            return Err(SessionError::Dead(format!(
                "the session could not start: {}",
                error["message"]
            )));
        }
        Ok((session, warnings))
    }

    /// This session's sandbox name on the host.
    pub fn sandbox_id(&self) -> &str {
        self.live.id()
    }

    /// Whether the session takes calls; why not, once it has ended.
    pub fn ended(&mut self) -> Option<&str> {
        if self.ended.is_none() && !self.live.is_alive() {
            self.ended = Some("its interpreter exited".into());
        }
        self.ended.as_deref()
    }

    /// Run `req`'s code (its timeout, output limit, variables and files; the sandbox's
    /// other limits are the session's) in the session.
    pub fn execute(
        &mut self,
        req: &ExecutionRequest,
        created_at: DateTime<Utc>,
        cancel: Option<&AtomicBool>,
    ) -> Result<ExecutionResult, SessionError> {
        if let Some(why) = self.ended() {
            return Err(SessionError::Dead(why.to_string()));
        }
        let frame = req.request_frame()?;
        let limits = CallLimits {
            timeout: Duration::from_secs_f64(req.timeout),
            grace: self.options.grace,
            output_bytes: req.output_limit,
        };
        let outcome = self.live.call(&frame, &limits, announced_end, cancel)?;
        let exit = outcome.exit;
        let mut result =
            ExecutionResult::from_outcome(req, created_at, outcome).in_env(self.env.as_ref());
        if self.live.is_alive() {
            if exit == Exit::Timeout {
                result.error = Some(format!(
                    "Execution timeout after {} seconds: the call was interrupted; the session keeps its state",
                    req.timeout
                ));
            }
        } else {
            let why = match exit {
                Exit::Timeout => format!(
                    "the call did not stop within {} s of being interrupted and was killed",
                    self.options.grace.as_secs_f64()
                ),
                Exit::Cancelled => "it was cancelled".into(),
                _ if result.reason.as_deref() == Some("memory_limit") => {
                    "it ran out of memory".into()
                }
                _ => "its interpreter ended".into(),
            };
            result.error = Some(format!(
                "{}; the session has ended: {why}",
                result.error.as_deref().unwrap_or("The call did not finish")
            ));
            self.ended = Some(why);
        }
        Ok(result)
    }

    /// Write `data` to `path` in the working directory (directories are made).
    pub fn put_file(&mut self, path: &str, data: &[u8]) -> Result<u64, SessionError> {
        check_path(path)?;
        let b64 = base64::engine::general_purpose::STANDARD;
        let reply = self.file_operation(&serde_json::json!({
            "type": "put", "path": path, "data": b64.encode(data),
        }))?;
        Ok(reply["size"].as_u64().unwrap_or_default())
    }

    /// The bytes of `path` in the working directory, at most `max_bytes`.
    pub fn get_file(&mut self, path: &str, max_bytes: u64) -> Result<Vec<u8>, SessionError> {
        check_path(path)?;
        let reply = self.file_operation(&serde_json::json!({
            "type": "get", "path": path, "max_bytes": max_bytes,
        }))?;
        decode_data(&reply)
    }

    /// The session's state as an opaque blob (at most `max_bytes`), and the names of the
    /// globals that could not be pickled.
    pub fn snapshot(&mut self, max_bytes: u64) -> Result<(Vec<u8>, Vec<String>), SessionError> {
        let reply = self.file_operation(&serde_json::json!({
            "type": "snapshot", "max_bytes": max_bytes,
        }))?;
        let skipped = reply["skipped"]
            .as_array()
            .map(|names| {
                names
                    .iter()
                    .filter_map(|n| n.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        Ok((decode_data(&reply)?, skipped))
    }

    /// A files or snapshot request: its reply frame, or the refusal.
    fn file_operation(
        &mut self,
        request: &serde_json::Value,
    ) -> Result<serde_json::Value, SessionError> {
        if let Some(why) = self.ended() {
            return Err(SessionError::Dead(why.to_string()));
        }
        let frames = self.operation(request)?;
        let reply = frames
            .into_iter()
            .find(|f| matches!(f["type"].as_str(), Some("file_op" | "snapshot")))
            .ok_or_else(|| SessionError::Dead("the session did not answer".into()))?;
        if reply["type"] == "file_op" && reply["ok"] != true {
            let status = match reply["status"].as_str() {
                Some("not_found") => Refusal::NotFound,
                Some("too_large") => Refusal::TooLarge,
                _ => Refusal::Path,
            };
            return Err(SessionError::Refused {
                status,
                message: reply["message"].as_str().unwrap_or("refused").into(),
            });
        }
        Ok(reply)
    }

    /// Send one of the host's own requests and return the reply's frames.
    fn operation(
        &mut self,
        request: &serde_json::Value,
    ) -> Result<Vec<serde_json::Value>, SessionError> {
        let limits = CallLimits {
            timeout: OPERATION,
            grace: self.options.grace,
            output_bytes: 64 << 10,
        };
        let outcome = self
            .live
            .call(&runner::frame(request), &limits, announced_end, None)?;
        if !matches!(outcome.exit, Exit::Code(_)) || !self.live.is_alive() {
            let why = format!(
                "its interpreter ended during an operation ({:?})",
                outcome.exit
            );
            self.ended = Some(why.clone());
            return Err(SessionError::Dead(why));
        }
        let (frames, _) = split_frames(&outcome.channel, Caps::default().frame_bytes());
        Ok(frames
            .into_iter()
            .filter_map(|f| serde_json::from_slice(f).ok())
            .collect())
    }
}

fn decode_data(reply: &serde_json::Value) -> Result<Vec<u8>, SessionError> {
    base64::engine::general_purpose::STANDARD
        .decode(reply["data"].as_str().unwrap_or_default())
        .map_err(|e| SessionError::Dead(format!("the session sent undecodable data: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_must_stay_inside_the_working_directory() {
        for good in ["a.csv", "data/prices.csv", "outputs/x.png", "a..b"] {
            assert!(check_path(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            "a/.",
            "x\0y",
        ] {
            assert!(
                matches!(
                    check_path(bad),
                    Err(SessionError::Refused {
                        status: Refusal::Path,
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }
}
