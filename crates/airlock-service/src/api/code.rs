//! `/api/code/…`: static checks and executions (sync, async, their state, cancel, the
//! audit log).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::body::ExecuteBody;
use super::error::{ApiError, JsonBody};
use crate::jobs::{blocking, view};
use crate::service::Service;
use crate::store::{AuditFilter, Job};

/// `{code}`, the body of validate and analyze.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeBody {
    pub code: String,
}

fn check_size(service: &Service, code: &str) -> Result<(), ApiError> {
    let max = service.config.server.max_code_bytes;
    if code.len() > max {
        return Err(ApiError::too_large(format!(
            "code: {} bytes is more than the {max} allowed",
            code.len()
        )));
    }
    Ok(())
}

/// The analyzer's verdict on a caller's code.
async fn analyzed(
    service: &Arc<Service>,
    headers: &HeaderMap,
    body: CodeBody,
) -> Result<airlock_analyzer::CodeValidationResult, ApiError> {
    service.auth.caller(headers)?;
    check_size(service, &body.code)?;
    let engine = Arc::clone(&service.engine);
    blocking(move || airlock_analyzer::analyze(&body.code, engine.analyzer())).await
}

pub async fn validate(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<CodeBody>,
) -> Result<Response, ApiError> {
    Ok(Json(analyzed(&service, &headers, body).await?).into_response())
}

pub async fn analyze(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<CodeBody>,
) -> Result<Response, ApiError> {
    let result = analyzed(&service, &headers, body).await?;
    Ok(
        Json(serde_json::json!({"complexity": result.complexity, "imports": result.imports}))
            .into_response(),
    )
}

pub async fn whitelist(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    service.auth.caller(&headers)?;
    Ok(Json(service.engine.analyzer()).into_response())
}

pub async fn execute(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<ExecuteBody>,
) -> Result<Response, ApiError> {
    let caller = service.auth.caller(&headers)?;
    if body.callback_url.is_some() {
        return Err(ApiError::invalid(
            "callback_url",
            "only async executions call back (POST /api/code/execute/async)",
        ));
    }
    let result = service.execute_sync(&caller, body).await?;
    Ok(Json(result).into_response())
}

/// The `Idempotency-Key` header, if any (at most 200 printable characters).
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 200)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed",
                "Idempotency-Key: must be 1 to 200 printable characters",
            )
        })?;
    Ok(Some(key.to_string()))
}

pub async fn execute_async(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<ExecuteBody>,
) -> Result<Response, ApiError> {
    let caller = service.auth.caller(&headers)?;
    let key = idempotency_key(&headers)?;
    let (job, created) = service.submit(&caller, body, key).await?;
    let status = if created {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    let state = view(&job)["status"].clone();
    Ok((
        status,
        Json(serde_json::json!({"id": job.id, "status": state})),
    )
        .into_response())
}

/// The job `id`, if this caller may see it.
async fn job_of(service: &Arc<Service>, headers: &HeaderMap, id: String) -> Result<Job, ApiError> {
    let caller = service.auth.caller(headers)?;
    let store = Arc::clone(&service.store);
    let key = id.clone();
    match blocking(move || store.get_job(&key)).await?? {
        Some(job) if caller.sees(&job.caller) => Ok(job),
        _ => Err(ApiError::not_found(format!("execution {id:?}"))),
    }
}

pub async fn execution(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let job = job_of(&service, &headers, id).await?;
    Ok(Json(view(&job)).into_response())
}

pub async fn cancel(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let job = job_of(&service, &headers, id).await?;
    Ok(Json(service.cancel(job).await?).into_response())
}

/// Query of `GET /api/code/executions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub status: Option<String>,
    pub caller: Option<String>,
    pub since: Option<DateTime<Utc>>,
    /// The `next` cursor of the previous page.
    pub cursor: Option<u64>,
    pub limit: Option<usize>,
}

pub async fn executions(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let caller = service.auth.caller(&headers)?;
    let Query(query) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("{limit} is not in 1..=1000"),
        ));
    }
    // A tenant's key sees its own records only.
    let who = if caller.sees_all() {
        query.caller
    } else {
        Some(caller.tenant.clone())
    };
    let filter = AuditFilter {
        status: query.status,
        caller: who,
        since: query.since,
        before_seq: query.cursor,
        limit,
    };
    let store = Arc::clone(&service.store);
    let records = blocking(move || store.list_audit(&filter)).await??;
    let next = (records.len() == limit)
        .then(|| records.last().map(|r| r.seq))
        .flatten();
    Ok(Json(serde_json::json!({"items": records, "next": next})).into_response())
}
