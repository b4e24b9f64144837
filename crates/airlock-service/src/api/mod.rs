//! The HTTP API of CONTRACT.md: the router and its handlers, one module per area.

pub mod body;
pub mod code;
pub mod environment;
pub mod error;
pub mod system;
pub mod venv;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::{Extension, Router};

use crate::service::Service;
use error::{ApiError, BodyLimit};

/// Every route, with the service as state.
pub fn router(service: Arc<Service>) -> Router {
    let limit = BodyLimit(service.config.server.max_body_bytes);
    Router::new()
        .route("/api/code/validate", post(code::validate))
        .route("/api/code/analyze", post(code::analyze))
        .route("/api/code/whitelist", get(code::whitelist))
        .route("/api/code/templates", get(system::templates))
        .route("/api/code/examples", get(system::examples))
        .route("/api/code/execute", post(code::execute))
        .route("/api/code/execute/async", post(code::execute_async))
        .route("/api/code/execution/{id}", get(code::execution))
        .route("/api/code/execution/{id}/cancel", post(code::cancel))
        .route("/api/code/executions", get(code::executions))
        .route("/api/environment", get(environment::environment))
        .route("/api/venv/list", get(venv::list))
        .route("/api/venv/create", post(venv::create))
        .route("/api/venv/{id}", get(venv::get).delete(venv::delete))
        .route("/api/venv/{id}/packages", get(venv::packages))
        .route("/api/venv/{id}/install", post(venv::install))
        .route("/health", get(system::health))
        .route("/metrics", get(system::metrics))
        .fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                "not_found",
                "no such endpoint",
            )
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this endpoint does not take that method",
            )
        })
        .layer(DefaultBodyLimit::disable())
        .layer(Extension(limit))
        .with_state(service)
}
