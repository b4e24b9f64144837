//! The HTTP API of CONTRACT.md: the router and its handlers, one module per area.
//!
//! Routes are registered through utoipa-axum, so each handler's `#[utoipa::path]` is both
//! its route and its entry in the OpenAPI document served at `/openapi.json`: the
//! document cannot list an endpoint the router lacks, or miss one it has.

pub mod body;
pub mod code;
pub mod environment;
pub mod error;
pub mod responses;
pub mod sessions;
pub mod system;
pub mod venv;

use std::sync::{Arc, OnceLock};

use axum::extract::DefaultBodyLimit;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use axum::{Extension, Router};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, SecurityRequirement};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::service::Service;
use error::{ApiError, BodyLimit};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Airlock",
        description = "Run untrusted Python in a kernel-enforced sandbox: static checks, \
                       sync and async executions, environments, the audit log. Errors are \
                       {\"error\": {\"code\", \"message\"}}.",
    ),
    // Registered by hand (their path ends in a wildcard, which the router spells
    // differently from OpenAPI); every other route is documented where it is registered.
    paths(sessions::put_file, sessions::get_file),
    components(responses(
        responses::Malformed,
        responses::Unauthorized,
        responses::Forbidden,
        responses::NoSuchEnvironment,
        responses::NoSuchSession,
        responses::SessionUnavailable,
        responses::CodeTooLarge,
        responses::Invalid,
        responses::OverQuota,
    )),
    modifiers(&ApiKeys),
    tags(
        (name = "code", description = "Static checks, templates and examples"),
        (name = "executions", description = "Running code, jobs, the audit log"),
        (name = "environments", description = "The environments code runs in"),
        (name = "sessions", description = "Interpreters whose state stays between calls"),
        (name = "system", description = "Health, metrics, this document"),
    )
)]
struct ApiDoc;

/// API keys, as `Authorization: Bearer KEY` or `X-API-Key: KEY`; optional when the
/// operator configured none (a loopback-only service).
struct ApiKeys;

impl Modify for ApiKeys {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
        doc.security = Some(vec![
            SecurityRequirement::default(),
            SecurityRequirement::new("bearer", Vec::<String>::new()),
            SecurityRequirement::new("api_key", Vec::<String>::new()),
        ]);
    }
}

/// Every documented route.
fn routes() -> OpenApiRouter<Arc<Service>> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(code::validate))
        .routes(routes!(code::analyze))
        .routes(routes!(code::whitelist))
        .routes(routes!(system::templates))
        .routes(routes!(system::examples))
        .routes(routes!(code::execute))
        .routes(routes!(code::execute_async))
        .routes(routes!(code::execution))
        .routes(routes!(code::cancel))
        .routes(routes!(code::executions))
        .routes(routes!(environment::environment))
        .routes(routes!(venv::list))
        .routes(routes!(venv::create))
        .routes(routes!(venv::get, venv::delete))
        .routes(routes!(venv::packages))
        .routes(routes!(venv::install))
        .routes(routes!(sessions::create, sessions::list))
        .routes(routes!(sessions::execute))
        .routes(routes!(sessions::snapshot))
        .routes(routes!(sessions::delete))
        .routes(routes!(system::health))
        .routes(routes!(system::metrics))
        .routes(routes!(openapi_json))
}

/// The OpenAPI document of the router.
pub fn openapi() -> Document {
    routes().split_for_parts().1
}

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "system",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json"))
)]
async fn openapi_json() -> Response {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    let text = DOCUMENT.get_or_init(|| openapi().to_json().unwrap_or_default());
    ([(header::CONTENT_TYPE, "application/json")], text.as_str()).into_response()
}

/// Every route, with the service as state.
pub fn router(service: Arc<Service>) -> Router {
    let limit = BodyLimit(service.config.server.max_body_bytes);
    let (router, _) = routes().split_for_parts();
    router
        .route(
            "/api/sessions/{id}/files/{*path}",
            put(sessions::put_file).get(sessions::get_file),
        )
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
