//! `/health` (liveness and pool state), `/metrics` (Prometheus), and the templates and
//! examples.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::jobs::blocking;
use crate::metrics::Gauges;
use crate::pools::EnvPoolReport;
use crate::service::Service;
use crate::templates::Template;

/// The answer of `GET /health`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    /// "ok" whenever the service answers.
    pub status: String,
    pub version: String,
    /// Async jobs waiting for a worker.
    pub queue_depth: usize,
    /// Executions running now.
    pub running: usize,
    /// Live sessions.
    pub sessions: usize,
    pub pools: Vec<EnvPoolReport>,
}

fn gauges(service: &Service) -> Gauges {
    Gauges {
        queued: service.jobs.queue_depth(),
        running: service.jobs.running(),
        sessions: service.sessions.count(),
    }
}

#[utoipa::path(
    get,
    path = "/health",
    tag = "system",
    summary = "Liveness, the queue and the warm pools",
    responses(
        (status = 200, description = "The service is up", body = Health)
    )
)]
pub async fn health(State(service): State<Arc<Service>>) -> Response {
    let engine = Arc::clone(&service.engine);
    let pools = blocking(move || engine.pools().report())
        .await
        .unwrap_or_default();
    Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        queue_depth: service.jobs.queue_depth(),
        running: service.jobs.running(),
        sessions: service.sessions.count(),
        pools,
    })
    .into_response()
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "system",
    summary = "Prometheus metrics: executions by status, durations, pools, queue",
    responses(
        (status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")
    )
)]
pub async fn metrics(State(service): State<Arc<Service>>) -> Response {
    let engine = Arc::clone(&service.engine);
    let pools = blocking(move || engine.pools().report())
        .await
        .unwrap_or_default();
    let text = service.metrics.render(&gauges(&service), &pools);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

#[utoipa::path(
    get,
    path = "/api/code/templates",
    tag = "code",
    summary = "Code templates to start from (a factor, an indicator)",
    responses(
        (status = 200, description = "The templates", body = [Template])
    )
)]
pub async fn templates() -> Response {
    Json(crate::templates::TEMPLATES).into_response()
}

#[utoipa::path(
    get,
    path = "/api/code/examples",
    tag = "code",
    summary = "Runnable examples (a chart)",
    responses(
        (status = 200, description = "The examples", body = [Template])
    )
)]
pub async fn examples() -> Response {
    Json(crate::templates::EXAMPLES).into_response()
}
