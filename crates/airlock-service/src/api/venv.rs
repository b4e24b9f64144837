//! `/api/venv/…`: the environments code runs in. Every caller may list and read them;
//! creating, installing into and removing them needs a key with `manage_envs` (or no
//! keys at all). Builds run in the installer's sandbox, as with `airlock env`; a change
//! to an environment with a warm pool replaces the pool.

use std::sync::{mpsc, Arc};

use airlock_runtime::env::{EnvError, Progress, VirtualEnvironment};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::error::{ApiError, ErrorBody, JsonBody};
use super::responses::{Forbidden, Malformed, NoSuchEnvironment, Unauthorized};
use crate::engine::Engine;
use crate::jobs::blocking;
use crate::service::Service;

/// The body of `POST /api/venv/create`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    pub name: String,
    /// A version such as "3.11" (an interpreter the host has); the service's own when
    /// absent.
    #[serde(default)]
    pub python_version: Option<String>,
    #[serde(default)]
    pub packages: Vec<String>,
    /// Answer once the environment is ready (201), or at once while it is being created
    /// (202, status "creating").
    #[serde(default = "yes")]
    pub wait: bool,
}

fn yes() -> bool {
    true
}

/// The body of `POST /api/venv/{id}/install`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstallBody {
    pub packages: Vec<String>,
}

/// Installer output kept in an error message (its end, where the reason is).
const INSTALLER_OUTPUT_CHARS: usize = 4000;

/// An environment operation's error as the API answers it.
fn env_error(e: EnvError) -> ApiError {
    match e {
        EnvError::NotFound(name) => ApiError::not_found(format!("environment {name:?}")),
        EnvError::InvalidName { .. } => ApiError::invalid("name", e),
        EnvError::InvalidPackage { .. } => ApiError::invalid("packages", e),
        EnvError::InvalidPython(_) => ApiError::invalid("python_version", e),
        EnvError::Conflict { .. } | EnvError::Corrupted { .. } => {
            ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
        }
        EnvError::Installer { step, output } => {
            let skip = output
                .chars()
                .count()
                .saturating_sub(INSTALLER_OUTPUT_CHARS);
            let tail: String = output.chars().skip(skip).collect();
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "install_failed",
                format!("packages: the installer failed to {step}:\n{tail}"),
            )
        }
        other => ApiError::internal(other),
    }
}

/// The caller, who must be allowed to change environments.
fn manager(service: &Service, headers: &HeaderMap) -> Result<(), ApiError> {
    if service.auth.caller(headers)?.manage_envs {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this API key may not change environments (its manage_envs is off)",
        ))
    }
}

/// Run an environment operation on a blocking thread.
async fn with_engine<T: Send + 'static>(
    service: &Service,
    f: impl FnOnce(&Engine) -> Result<T, EnvError> + Send + 'static,
) -> Result<T, ApiError> {
    let engine = Arc::clone(&service.engine);
    blocking(move || f(&engine)).await?.map_err(env_error)
}

#[utoipa::path(
    get,
    path = "/api/venv/list",
    tag = "environments",
    summary = "Every environment",
    responses(
        (status = 200, description = "The environments, by name", body = [airlock_runtime::env::VirtualEnvironment]),
        (status = 401, response = Unauthorized)
    )
)]
pub async fn list(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    service.auth.caller(&headers)?;
    let envs = with_engine(&service, |e| e.envs().list()).await?;
    Ok(Json(envs).into_response())
}

#[utoipa::path(
    get,
    path = "/api/venv/{id}",
    tag = "environments",
    summary = "One environment",
    params(("id" = String, Path, description = "The environment's id or name")),
    responses(
        (status = 200, description = "The environment", body = airlock_runtime::env::VirtualEnvironment),
        (status = 401, response = Unauthorized),
        (status = 404, response = NoSuchEnvironment)
    )
)]
pub async fn get(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    service.auth.caller(&headers)?;
    let env = with_engine(&service, move |e| e.envs().find(&id)).await?;
    Ok(Json(env).into_response())
}

#[utoipa::path(
    get,
    path = "/api/venv/{id}/packages",
    tag = "environments",
    summary = "The packages of an environment",
    params(("id" = String, Path, description = "The environment's id or name")),
    responses(
        (status = 200, description = "Its packages", body = [airlock_runtime::env::Package]),
        (status = 401, response = Unauthorized),
        (status = 404, response = NoSuchEnvironment)
    )
)]
pub async fn packages(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    service.auth.caller(&headers)?;
    let env = with_engine(&service, move |e| e.envs().find(&id)).await?;
    Ok(Json(env.packages).into_response())
}

/// Sends the record of a new environment as soon as it exists.
struct Created(mpsc::SyncSender<VirtualEnvironment>);

impl Progress for Created {
    fn stage(&self, _: &str) {}
    fn output(&self, _: &str) {}
    fn created(&self, env: &VirtualEnvironment) {
        let _ = self.0.try_send(env.clone());
    }
}

#[utoipa::path(
    post,
    path = "/api/venv/create",
    tag = "environments",
    summary = "Create an environment; its packages are installed in a sandbox",
    request_body = CreateBody,
    responses(
        (status = 201, description = "Created and ready (wait true)", body = airlock_runtime::env::VirtualEnvironment),
        (status = 202, description = "Being created (wait false); poll GET /api/venv/{id}", body = airlock_runtime::env::VirtualEnvironment),
        (status = 400, response = Malformed),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, description = "An environment of that name exists or is being created", body = ErrorBody),
        (status = 422, description = "A field is invalid, or the installer failed (code install_failed)", body = ErrorBody)
    )
)]
pub async fn create(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<Response, ApiError> {
    manager(&service, &headers)?;
    // A path would make the service execute a host binary of the caller's choosing.
    if let Some(v) = &body.python_version {
        let version = v.split('.').collect::<Vec<_>>();
        if !(2..=3).contains(&version.len())
            || version
                .iter()
                .any(|p| p.is_empty() || p.len() > 3 || !p.chars().all(|c| c.is_ascii_digit()))
        {
            return Err(ApiError::invalid(
                "python_version",
                format!("{v:?} is not a version such as 3.11"),
            ));
        }
    }
    let CreateBody {
        name,
        python_version,
        packages,
        wait,
    } = body;
    let engine = Arc::clone(&service.engine);
    let (sender, created) = mpsc::sync_channel(1);
    let build = tokio::task::spawn_blocking(move || {
        let made = engine.envs().create(
            &name,
            python_version.as_deref(),
            &packages,
            &Created(sender),
        );
        if made.is_ok() {
            engine.pools().replace(engine.envs(), &name);
        }
        made
    });
    if wait {
        let env = build
            .await
            .map_err(ApiError::internal)?
            .map_err(env_error)?;
        return Ok((StatusCode::CREATED, Json(env)).into_response());
    }
    // Answer once the record exists, or with the error that came before it.
    match blocking(move || created.recv()).await? {
        Ok(env) => Ok((StatusCode::ACCEPTED, Json(env)).into_response()),
        Err(_) => {
            let made = build.await.map_err(ApiError::internal)?;
            Err(made
                .map_err(env_error)
                .err()
                .unwrap_or_else(|| ApiError::internal("the environment was made without a record")))
        }
    }
}

#[utoipa::path(
    post,
    path = "/api/venv/{id}/install",
    tag = "environments",
    summary = "Install packages into an environment, all or nothing",
    request_body = InstallBody,
    params(("id" = String, Path, description = "The environment's id or name")),
    responses(
        (status = 200, description = "Installed", body = airlock_runtime::env::VirtualEnvironment),
        (status = 400, response = Malformed),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NoSuchEnvironment),
        (status = 409, description = "The environment is being changed, or is not ready", body = ErrorBody),
        (status = 422, description = "A package is invalid, or the installer failed (code install_failed); nothing changed", body = ErrorBody)
    )
)]
pub async fn install(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<InstallBody>,
) -> Result<Response, ApiError> {
    manager(&service, &headers)?;
    let env = with_engine(&service, move |e| {
        let name = e.envs().find(&id)?.name;
        let env = e
            .envs()
            .install(&name, &body.packages, &airlock_runtime::env::Quiet)?;
        e.pools().replace(e.envs(), &name);
        Ok(env)
    })
    .await?;
    Ok(Json(env).into_response())
}

#[utoipa::path(
    delete,
    path = "/api/venv/{id}",
    tag = "environments",
    summary = "Remove an environment",
    params(("id" = String, Path, description = "The environment's id or name")),
    responses(
        (status = 200, description = "Removed (status deleted)", body = airlock_runtime::env::VirtualEnvironment),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NoSuchEnvironment),
        (status = 409, description = "The environment is in use or being changed", body = ErrorBody)
    )
)]
pub async fn delete(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    manager(&service, &headers)?;
    let env = with_engine(&service, move |e| {
        let name = e.envs().find(&id)?.name;
        // A pool holds the environment's build; it goes first, and comes back if the
        // environment stays.
        let had_pool = e.pools().stop(&name);
        let removed = e.envs().remove(&name);
        if removed.is_err() && had_pool {
            e.pools().replace(e.envs(), &name);
        }
        removed
    })
    .await?;
    Ok(Json(env).into_response())
}
