//! `/api/sessions/…`: create a session, run code in it call after call, move files in
//! and out of its working directory, snapshot it, list and delete sessions. A caller sees
//! only its own sessions.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde::Deserialize;

use super::body::{ExecuteBody, FileBody};
use super::error::{ApiError, ErrorBody, JsonBody};
use super::responses::{
    CodeTooLarge, Invalid, Malformed, NoSuchSession, OverQuota, SessionUnavailable, Unauthorized,
};
use crate::engine::EngineError;
use crate::jobs::blocking;
use crate::service::Service;
use crate::sessions::{SessionInfo, SessionLimits, Slot};
use airlock_runtime::session::SessionOptions;
use airlock_runtime::{CheckMode, ExecutionResult};

/// The body of `POST /api/sessions`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSessionBody {
    /// The environment ("default" when absent; "none" for the host interpreter).
    pub env: Option<String>,
    /// Each call's wall-clock limit unless the call names its own (seconds).
    pub timeout: Option<f64>,
    /// For the session's whole life.
    pub max_memory_mb: Option<u64>,
    pub max_cpu_percent: Option<f64>,
    pub max_processes: Option<u32>,
    pub output_limit: Option<u64>,
    /// Seconds unused before the session ends (at most the operator's).
    pub idle_timeout: Option<f64>,
    #[serde(default)]
    pub allow_net: Vec<String>,
    #[serde(default)]
    pub allow_env: Vec<String>,
    #[serde(default)]
    pub allow_read: Vec<String>,
    #[serde(default)]
    pub allow_write: Vec<String>,
    #[serde(default)]
    pub allow_run: bool,
    #[serde(default)]
    pub allow_ffi: bool,
    /// Start from this state (base64 of what GET /api/sessions/{id}/snapshot returned).
    pub snapshot: Option<String>,
}

/// The body of `POST /api/sessions/{id}/execute`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionExecuteBody {
    pub code: String,
    /// This call's wall-clock limit (seconds); the session's when absent.
    pub timeout: Option<f64>,
    #[serde(default)]
    pub variables: std::collections::BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub files: Vec<FileBody>,
    pub check: Option<CheckMode>,
}

#[utoipa::path(
    post,
    path = "/api/sessions",
    tag = "sessions",
    summary = "Start a session: one interpreter whose globals, imports and files stay between calls",
    request_body = CreateSessionBody,
    responses(
        (status = 201, description = "Started", body = SessionInfo),
        (status = 400, response = Malformed),
        (status = 401, response = Unauthorized),
        (status = 413, description = "The body or the snapshot is larger than allowed", body = ErrorBody),
        (status = 422, response = Invalid),
        (status = 429, description = "This caller has its most sessions", body = ErrorBody),
        (status = 503, description = "The service has its most sessions, or the environment could not be built now", body = ErrorBody)
    )
)]
pub async fn create(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<CreateSessionBody>,
) -> Result<Response, ApiError> {
    let caller = service.auth.caller(&headers)?;
    let config = &service.config.sessions;
    let idle = match body.idle_timeout {
        None => config.idle_timeout_secs as f64,
        Some(t) if t.is_finite() && t > 0.0 && t <= config.idle_timeout_secs as f64 => t,
        Some(t) => {
            return Err(ApiError::invalid(
                "idle_timeout",
                format!(
                    "{t} is not between 0 and {} seconds",
                    config.idle_timeout_secs
                ),
            ))
        }
    };
    let snapshot = match &body.snapshot {
        None => None,
        Some(text) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|e| ApiError::invalid("snapshot", format!("not base64: {e}")))?;
            if bytes.len() as u64 > config.max_snapshot_bytes {
                return Err(ApiError::too_large(format!(
                    "snapshot: {} bytes is more than the {} allowed",
                    bytes.len(),
                    config.max_snapshot_bytes
                )));
            }
            Some(bytes)
        }
    };
    let shape = ExecuteBody {
        env: body.env.clone(),
        timeout: body.timeout,
        max_memory_mb: body.max_memory_mb,
        max_cpu_percent: body.max_cpu_percent,
        max_processes: body.max_processes,
        output_limit: body.output_limit,
        allow_net: body.allow_net.clone(),
        allow_env: body.allow_env.clone(),
        allow_read: body.allow_read.iter().map(Into::into).collect(),
        allow_write: body.allow_write.iter().map(Into::into).collect(),
        allow_run: body.allow_run,
        allow_ffi: body.allow_ffi,
        ..ExecuteBody::default()
    };
    let req = shape.to_request(&caller.max, &service.config.server)?;
    // Every value is checked before the caller's room for one more session.
    req.limits()
        .map_err(|e| ApiError::invalid(super::error::body_field(&e.field), e.reason))?;
    service.sessions.check_room(&caller.tenant)?;
    let env = shape.env().to_string();
    let engine = Arc::clone(&service.engine);
    let options = SessionOptions {
        grace: Duration::from_secs_f64(config.grace_secs),
    };
    let limits = SessionLimits {
        timeout: req.timeout,
        max_memory_mb: req.max_memory_mb,
        max_cpu_percent: req.max_cpu_percent,
        max_processes: req.max_processes,
        output_limit: req.output_limit,
    };
    let (tenant, at) = (caller.tenant.clone(), env.clone());
    let slot = blocking(move || -> Result<Slot, ApiError> {
        let (session, warnings) = engine.start_session(&req, &at, snapshot.as_deref(), options)?;
        Ok(Slot::new(
            &tenant,
            &at,
            Duration::from_secs_f64(idle),
            limits,
            session,
            warnings,
        ))
    })
    .await??;
    let slot = service.sessions.insert(slot)?;
    Ok((StatusCode::CREATED, Json(slot.info())).into_response())
}

#[utoipa::path(
    get,
    path = "/api/sessions",
    tag = "sessions",
    summary = "This caller's live sessions",
    responses(
        (status = 200, description = "The sessions, oldest first", body = [SessionInfo]),
        (status = 401, response = Unauthorized)
    )
)]
pub async fn list(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = service.auth.caller(&headers)?;
    let infos: Vec<SessionInfo> = service
        .sessions
        .list(&caller)
        .iter()
        .map(|s| s.info())
        .collect();
    Ok(Json(infos).into_response())
}

#[utoipa::path(
    post,
    path = "/api/sessions/{id}/execute",
    tag = "sessions",
    summary = "Run code in the session; the result is this call's alone",
    request_body = SessionExecuteBody,
    params(("id" = String, Path, description = "The session's id")),
    responses(
        (status = 200, description = "The result, whatever the code did (a timeout interrupts the call; the session keeps its state unless it ended, see error)", body = ExecutionResult),
        (status = 400, response = Malformed),
        (status = 401, response = Unauthorized),
        (status = 404, response = NoSuchSession),
        (status = 409, description = "The session is running another call (code busy) or has ended (code session_ended)", body = ErrorBody),
        (status = 413, response = CodeTooLarge),
        (status = 422, response = Invalid),
        (status = 429, response = OverQuota),
        (status = 503, description = "Every execution slot is busy", body = ErrorBody)
    )
)]
pub async fn execute(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<SessionExecuteBody>,
) -> Result<Response, ApiError> {
    let caller = service.auth.caller(&headers)?;
    let slot = service.sessions.get(&caller, &id)?;
    let limits = slot.limits;
    let call = ExecuteBody {
        code: body.code,
        env: Some(slot.env.clone()),
        timeout: Some(body.timeout.unwrap_or(limits.timeout)),
        max_memory_mb: Some(limits.max_memory_mb),
        max_cpu_percent: Some(f64::from(limits.max_cpu_percent)),
        max_processes: Some(limits.max_processes),
        output_limit: Some(limits.output_limit),
        variables: body.variables,
        files: body.files,
        check: body.check,
        ..ExecuteBody::default()
    };
    let result = service.execute_in_session(&caller, slot, call).await?;
    Ok(Json(result).into_response())
}

#[utoipa::path(
    get,
    path = "/api/sessions/{id}/snapshot",
    tag = "sessions",
    summary = "The session's state (picklable globals, imported modules, working directory) as an opaque blob",
    params(("id" = String, Path, description = "The session's id")),
    responses(
        (status = 200, description = "The snapshot; give it base64-encoded as `snapshot` to POST /api/sessions. The Airlock-Skipped header names the globals that could not be pickled", content_type = "application/octet-stream"),
        (status = 401, response = Unauthorized),
        (status = 404, response = NoSuchSession),
        (status = 409, response = SessionUnavailable),
        (status = 413, description = "The snapshot would be larger than allowed", body = ErrorBody)
    )
)]
pub async fn snapshot(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let caller = service.auth.caller(&headers)?;
    let slot = service.sessions.get(&caller, &id)?;
    let max = service.config.sessions.max_snapshot_bytes;
    let (bytes, skipped) = blocking(move || {
        slot.with(|session, _| {
            session
                .snapshot(max)
                .map_err(|e| ApiError::from(EngineError::from(e)))
        })
    })
    .await??;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (
                header::HeaderName::from_static("airlock-skipped"),
                skipped.join(","),
            ),
        ],
        bytes,
    )
        .into_response())
}

#[utoipa::path(
    put,
    path = "/api/sessions/{id}/files/{path}",
    tag = "sessions",
    summary = "Write a file into the session's working directory (directories are made)",
    params(
        ("id" = String, Path, description = "The session's id"),
        ("path" = String, Path, description = "Relative to the working directory; may contain /")
    ),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses(
        (status = 200, description = "Written", body = FileWritten),
        (status = 400, description = "The path is absolute, has . or .. components, or leads outside the working directory", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 404, response = NoSuchSession),
        (status = 409, response = SessionUnavailable),
        (status = 413, description = "The file is larger than allowed", body = ErrorBody)
    )
)]
pub async fn put_file(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    Path((id, path)): Path<(String, String)>,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = service.auth.caller(&headers)?;
    let slot = service.sessions.get(&caller, &id)?;
    let max = service.config.sessions.max_file_bytes;
    let data: Bytes = axum::body::to_bytes(body, max.min(usize::MAX as u64) as usize)
        .await
        .map_err(|_| ApiError::too_large(format!("the file is larger than {max} bytes")))?;
    let name = path.clone();
    let size = blocking(move || {
        slot.with(|session, _| {
            session
                .put_file(&name, &data)
                .map_err(|e| ApiError::from(EngineError::from(e)))
        })
    })
    .await??;
    Ok(Json(FileWritten { path, size }).into_response())
}

/// The answer of a file upload.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct FileWritten {
    pub path: String,
    pub size: u64,
}

#[utoipa::path(
    get,
    path = "/api/sessions/{id}/files/{path}",
    tag = "sessions",
    summary = "Read a file of the session's working directory",
    params(
        ("id" = String, Path, description = "The session's id"),
        ("path" = String, Path, description = "Relative to the working directory; may contain /")
    ),
    responses(
        (status = 200, description = "The file's bytes", content_type = "application/octet-stream"),
        (status = 400, description = "The path is absolute, has . or .. components, leads outside the working directory, or is not a regular file", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 404, description = "No such session (or not this caller's), or no such file", body = ErrorBody),
        (status = 409, response = SessionUnavailable),
        (status = 413, description = "The file is larger than allowed", body = ErrorBody)
    )
)]
pub async fn get_file(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    Path((id, path)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let caller = service.auth.caller(&headers)?;
    let slot = service.sessions.get(&caller, &id)?;
    let max = service.config.sessions.max_file_bytes;
    let bytes = blocking(move || {
        slot.with(|session, _| {
            session
                .get_file(&path, max)
                .map_err(|e| ApiError::from(EngineError::from(e)))
        })
    })
    .await??;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

#[utoipa::path(
    delete,
    path = "/api/sessions/{id}",
    tag = "sessions",
    summary = "End a session: its sandbox, processes and files go (a running call is interrupted first)",
    params(("id" = String, Path, description = "The session's id")),
    responses(
        (status = 200, description = "Ended", body = SessionInfo),
        (status = 401, response = Unauthorized),
        (status = 404, response = NoSuchSession)
    )
)]
pub async fn delete(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let caller = service.auth.caller(&headers)?;
    let slot = service.sessions.remove(&caller, &id)?;
    let mut info = slot.info();
    info.status = "deleted".into();
    // The sandbox is torn down when the last user of the session lets go of it.
    blocking(move || drop(slot)).await?;
    Ok(Json(info).into_response())
}
