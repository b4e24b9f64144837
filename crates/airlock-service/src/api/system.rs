//! `/health` (liveness and pool state), `/metrics` (Prometheus), and the templates and
//! examples.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::jobs::blocking;
use crate::service::Service;

pub async fn health(State(service): State<Arc<Service>>) -> Response {
    let engine = Arc::clone(&service.engine);
    let pools = blocking(move || engine.pools().report())
        .await
        .unwrap_or_default();
    Json(serde_json::json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "queue_depth": service.jobs.queue_depth(),
        "running": service.jobs.running(),
        "pools": pools,
    }))
    .into_response()
}

pub async fn metrics(State(service): State<Arc<Service>>) -> Response {
    let engine = Arc::clone(&service.engine);
    let pools = blocking(move || engine.pools().report())
        .await
        .unwrap_or_default();
    let text = service
        .metrics
        .render(service.jobs.queue_depth(), service.jobs.running(), &pools);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

pub async fn templates() -> Response {
    Json(crate::templates::TEMPLATES).into_response()
}

pub async fn examples() -> Response {
    Json(crate::templates::EXAMPLES).into_response()
}
