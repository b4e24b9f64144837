//! `/api/code/…`: static checks and executions (sync, async, their state, cancel, the
//! audit log).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use airlock_runtime::ExecutionResult;

use super::body::ExecuteBody;
use super::error::{ApiError, ErrorBody, JsonBody};
use super::responses::{CodeTooLarge, Invalid, Malformed, OverQuota, Unauthorized};
use crate::jobs::{blocking, view};
use crate::service::Service;
use crate::store::{AuditFilter, AuditRecord, Job};

/// `{code}`, the body of validate and analyze.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeBody {
    pub code: String,
}

/// The answer of `POST /api/code/analyze`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AnalyzeResult {
    pub complexity: airlock_analyzer::Complexity,
    pub imports: Vec<String>,
}

/// The answer of `POST /api/code/execute/async`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Accepted {
    pub id: String,
    /// pending, or the state of the job an earlier request with the same key made.
    pub status: String,
}

/// A page of the audit log.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditRecord>,
    /// The cursor of the next page; null on the last.
    pub next: Option<u64>,
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

#[utoipa::path(
    post,
    path = "/api/code/validate",
    tag = "code",
    summary = "Check code statically: issues with line, column and suggestion; complexity; imports",
    request_body = CodeBody,
    responses(
        (status = 200, description = "The verdict", body = airlock_analyzer::CodeValidationResult),
        (status = 400, response = Malformed),
        (status = 401, response = Unauthorized),
        (status = 413, response = CodeTooLarge),
        (status = 422, response = Invalid)
    )
)]
pub async fn validate(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<CodeBody>,
) -> Result<Response, ApiError> {
    Ok(Json(analyzed(&service, &headers, body).await?).into_response())
}

#[utoipa::path(
    post,
    path = "/api/code/analyze",
    tag = "code",
    summary = "The complexity and imports of code",
    request_body = CodeBody,
    responses(
        (status = 200, description = "Complexity and imports", body = AnalyzeResult),
        (status = 400, response = Malformed),
        (status = 401, response = Unauthorized),
        (status = 413, response = CodeTooLarge),
        (status = 422, response = Invalid)
    )
)]
pub async fn analyze(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<CodeBody>,
) -> Result<Response, ApiError> {
    let result = analyzed(&service, &headers, body).await?;
    Ok(Json(AnalyzeResult {
        complexity: result.complexity,
        imports: result.imports,
    })
    .into_response())
}

#[utoipa::path(
    get,
    path = "/api/code/whitelist",
    tag = "code",
    summary = "The module and call policy in force",
    responses(
        (status = 200, description = "The analyzer policy", body = airlock_analyzer::Policy),
        (status = 401, response = Unauthorized)
    )
)]
pub async fn whitelist(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    service.auth.caller(&headers)?;
    Ok(Json(service.engine.analyzer()).into_response())
}

#[utoipa::path(
    post,
    path = "/api/code/execute",
    tag = "executions",
    summary = "Run code in a sandbox and wait for its result",
    request_body = ExecuteBody,
    responses(
        (status = 200, description = "The result, whatever the code did (see status and reason)", body = ExecutionResult),
        (status = 400, response = Malformed),
        (status = 401, response = Unauthorized),
        (status = 413, response = CodeTooLarge),
        (status = 409, description = "The environment is being changed", body = ErrorBody),
        (status = 422, response = Invalid),
        (status = 429, response = OverQuota),
        (status = 503, description = "Overloaded (code overloaded), or the environment could not be built now (code env_unavailable)", body = ErrorBody)
    )
)]
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

#[utoipa::path(
    post,
    path = "/api/code/execute/async",
    tag = "executions",
    summary = "Queue code to run; poll GET /api/code/execution/{id}",
    request_body = ExecuteBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "A retried submit with the same key returns the first job and never runs twice")),
    responses(
        (status = 202, description = "Accepted and stored; it will run even across a restart", body = Accepted),
        (status = 200, description = "The job an earlier request with the same Idempotency-Key made", body = Accepted),
        (status = 400, response = Malformed),
        (status = 401, response = Unauthorized),
        (status = 413, response = CodeTooLarge),
        (status = 409, description = "The environment is being changed", body = ErrorBody),
        (status = 422, response = Invalid),
        (status = 429, response = OverQuota),
        (status = 503, description = "Overloaded (code overloaded), or the environment could not be built now (code env_unavailable)", body = ErrorBody)
    )
)]
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
    let state = view(&job)["status"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    Ok((
        status,
        Json(Accepted {
            id: job.id,
            status: state,
        }),
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

#[utoipa::path(
    get,
    path = "/api/code/execution/{id}",
    tag = "executions",
    summary = "An execution in any state (pending and running ones have only their status so far)",
    params(("id" = String, Path, description = "The execution's id")),
    responses(
        (status = 200, description = "The result", body = ExecutionResult),
        (status = 401, response = Unauthorized),
        (status = 404, description = "No such execution (or not this caller's)", body = ErrorBody)
    )
)]
pub async fn execution(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let job = job_of(&service, &headers, id).await?;
    Ok(Json(view(&job)).into_response())
}

#[utoipa::path(
    post,
    path = "/api/code/execution/{id}/cancel",
    tag = "executions",
    summary = "Cancel a pending execution (it never starts) or a running one (it is killed)",
    params(("id" = String, Path, description = "The execution's id")),
    responses(
        (status = 200, description = "The result, status cancelled", body = ExecutionResult),
        (status = 401, response = Unauthorized),
        (status = 404, description = "No such execution (or not this caller's)", body = ErrorBody),
        (status = 409, description = "The execution is already final", body = ErrorBody)
    )
)]
pub async fn cancel(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let job = job_of(&service, &headers, id).await?;
    Ok(Json(service.cancel(job).await?).into_response())
}

/// Query of `GET /api/code/executions`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub status: Option<String>,
    pub caller: Option<String>,
    pub since: Option<DateTime<Utc>>,
    /// The `next` cursor of the previous page.
    pub cursor: Option<u64>,
    pub limit: Option<usize>,
}

#[utoipa::path(
    get,
    path = "/api/code/executions",
    tag = "executions",
    summary = "The audit log, newest first, a page at a time",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of records; pass next as cursor for the following page", body = AuditPage),
        (status = 401, response = Unauthorized),
        (status = 422, response = Invalid)
    )
)]
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
    Ok(Json(AuditPage {
        items: records,
        next,
    })
    .into_response())
}
