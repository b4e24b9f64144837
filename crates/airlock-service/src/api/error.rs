//! The error shape of the contract, `{"error": {"code", "message"}}`, with its status, and
//! the JSON body extractor that turns bad input into 400, 413 or 422 in that shape.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::engine::EngineError;
use crate::store::StoreError;

/// An error answered to the caller.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn not_found(what: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    /// A value out of range or otherwise unusable: 422, the message names the field.
    pub fn invalid(field: &str, reason: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
            format!("{field}: {reason}"),
        )
    }

    pub fn too_large(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", what)
    }

    pub fn overloaded(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", what)
    }

    pub fn internal(what: impl std::fmt::Display) -> ApiError {
        tracing::error!("internal error: {what}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            what.to_string(),
        )
    }
}

/// The body of every error answer.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// What went wrong, for programs: malformed, unauthorized, forbidden, not_found,
    /// conflict, too_large, invalid_value, install_failed, over_quota, overloaded,
    /// internal …
    pub code: String,
    /// What went wrong, for people; a field at fault is named first ("timeout: …").
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.into(),
                message: self.message,
            },
        };
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        ApiError::internal(e)
    }
}

/// Request fields are named as in the HTTP body, not as the CLI's flags.
pub fn body_field(field: &str) -> &str {
    match field {
        "memory" => "max_memory_mb",
        "cpu" => "max_cpu_percent",
        "pids" => "max_processes",
        "output-limit" => "output_limit",
        "allow-env" => "allow_env",
        "allow-read" => "allow_read",
        "allow-write" => "allow_write",
        "allow-net" => "allow_net",
        "file" => "files",
        "var" => "variables",
        "lang" => "language",
        other => other,
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> ApiError {
        use airlock_runtime::env::EnvError;
        match e {
            EngineError::Invalid(e) => ApiError::invalid(body_field(&e.field), e.reason),
            EngineError::Env(EnvError::NotFound(name)) => {
                ApiError::invalid("env", format!("no environment named {name:?}"))
            }
            EngineError::Env(e @ (EnvError::InvalidName { .. } | EnvError::Corrupted { .. })) => {
                ApiError::invalid("env", e)
            }
            EngineError::Env(e @ EnvError::Conflict { .. }) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
            }
            // The environment had to be built for this request and could not be (the
            // package index unreachable, say): the request may succeed later.
            EngineError::Env(e @ EnvError::Installer { .. }) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "env_unavailable",
                format!("env: the environment could not be built: {e}"),
            ),
            EngineError::Session(e) => session_error(e),
            other => ApiError::internal(other),
        }
    }
}

/// A session's error as the API answers it.
fn session_error(e: airlock_runtime::session::SessionError) -> ApiError {
    use airlock_runtime::session::{Refusal, SessionError};
    match e {
        SessionError::Invalid(e) => ApiError::invalid(body_field(&e.field), e.reason),
        SessionError::Jail(airlock_jail::JailError::InvalidSpec { field, reason }) => {
            ApiError::invalid(body_field(&field), reason)
        }
        SessionError::Refused { status, message } => match status {
            Refusal::Path => ApiError::new(StatusCode::BAD_REQUEST, "bad_path", message),
            Refusal::NotFound => ApiError::not_found(message),
            Refusal::TooLarge => ApiError::too_large(message),
        },
        e @ SessionError::Dead(_) => {
            ApiError::new(StatusCode::CONFLICT, "session_ended", e.to_string())
        }
        other => ApiError::internal(other),
    }
}

/// A JSON body: over the size limit 413, not JSON 400, the wrong shape or type 422.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

/// The largest request body the router accepts (set from the configuration).
#[derive(Clone, Copy, Debug)]
pub struct BodyLimit(pub usize);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let limit = req.extensions().get::<BodyLimit>().map_or(1 << 20, |l| l.0);
        let body = req.into_body();
        let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
            ApiError::too_large(format!("the request body is larger than {limit} bytes"))
        })?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Parse a body: syntax errors are 400, shape and type errors 422 naming the field.
pub fn parse_json<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let text = inner.to_string();
                // "missing field `code` at line 1 column 14": the field is the missing one.
                let missing = text
                    .strip_prefix("missing field `")
                    .and_then(|rest| rest.split('`').next());
                let field = match (missing, path.as_str()) {
                    (Some(name), ".") => name.to_string(),
                    (Some(name), at) => format!("{at}.{name}"),
                    (None, ".") => "body".to_string(),
                    (None, at) => at.to_string(),
                };
                ApiError::invalid(&field, text)
            }
            _ => ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed",
                format!("the body is not valid JSON: {inner}"),
            ),
        }
    })
}
