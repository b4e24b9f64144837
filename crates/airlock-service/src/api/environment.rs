//! `GET /api/environment`: what code sent to this service can use — the interpreter, the
//! packages, the names bound before it runs, the limits this caller gets, the network
//! policy — and a `prompt` text that says the same to a code-writing model, so an agent
//! platform can put it in front of its model as is.

use std::sync::Arc;

use airlock_runtime::env::{normalize, NO_ENV};
use airlock_runtime::python::Interpreter;
use airlock_runtime::runner::{OUTPUTS_DIR, PREBOUND};
use airlock_runtime::ExecutionRequest;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::responses::{Invalid, NoSuchEnvironment, Unauthorized};
use crate::config::MaxLimits;
use crate::jobs::blocking;
use crate::service::Service;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentQuery {
    /// The environment to describe (default: "default"; "none" for the bare interpreter).
    pub env: Option<String>,
}

/// A name bound in the code's globals before it runs.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Prebound {
    pub name: String,
    pub module: String,
}

/// A package as code sees it.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PackageVersion {
    pub name: String,
    pub version: String,
}

/// The limits a request of this caller gets when it names none, and the most it may ask.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CallerLimits {
    pub defaults: LimitValues,
    /// null: no cap beyond the sandbox's own bounds.
    pub max: MaxLimits,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LimitValues {
    pub timeout: f64,
    pub max_memory_mb: u64,
    pub max_cpu_percent: u32,
    pub max_processes: u32,
    pub output_limit: u64,
}

impl From<&ExecutionRequest> for LimitValues {
    fn from(r: &ExecutionRequest) -> LimitValues {
        LimitValues {
            timeout: r.timeout,
            max_memory_mb: r.max_memory_mb,
            max_cpu_percent: r.max_cpu_percent,
            max_processes: r.max_processes,
            output_limit: r.output_limit,
        }
    }
}

/// The answer of `GET /api/environment`.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EnvironmentInfo {
    pub env: String,
    pub language: String,
    pub python_version: String,
    pub packages: Vec<PackageVersion>,
    pub prebound: Vec<Prebound>,
    pub limits: CallerLimits,
    /// "none": sandboxes have only their own loopback.
    pub network: String,
    /// The code's working directory (input files are there; it is writable).
    pub working_dir: String,
    /// Files written under this directory of the working dir come back in the result.
    pub outputs_dir: String,
    /// Whether the code may start other programs.
    pub allow_run: bool,
    /// All of the above as instructions for a model that writes the code.
    pub prompt: String,
}

impl EnvironmentInfo {
    fn new(
        env: String,
        python_version: String,
        packages: Vec<PackageVersion>,
        max: MaxLimits,
    ) -> EnvironmentInfo {
        let installed = |module: &str| {
            let root = module.split('.').next().unwrap_or(module);
            packages
                .iter()
                .any(|p| normalize(&p.name) == normalize(root))
        };
        let prebound = PREBOUND
            .iter()
            .filter(|(_, module)| installed(module))
            .map(|(name, module)| Prebound {
                name: name.to_string(),
                module: module.to_string(),
            })
            .collect();
        let mut info = EnvironmentInfo {
            env,
            language: "python".into(),
            python_version,
            packages,
            prebound,
            limits: CallerLimits {
                defaults: LimitValues::from(&max.defaults()),
                max,
            },
            network: "none".into(),
            working_dir: airlock_jail::WORKDIR.into(),
            outputs_dir: OUTPUTS_DIR.into(),
            allow_run: false,
            prompt: String::new(),
        };
        info.prompt = info.prompt_text();
        info
    }

    fn prompt_text(&self) -> String {
        let packages = if self.packages.is_empty() {
            "only the standard library".to_string()
        } else {
            self.packages
                .iter()
                .map(|p| format!("{} {}", p.name, p.version))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let prebound = if self.prebound.is_empty() {
            String::new()
        } else {
            let names: Vec<String> = self
                .prebound
                .iter()
                .map(|p| format!("{} ({})", p.name, p.module))
                .collect();
            format!(
                "These names are already defined, no import needed: {}.\n",
                names.join(", ")
            )
        };
        let d = &self.limits.defaults;
        format!(
            "Write Python {version} code. It runs in an isolated sandbox, once, top to bottom, \
             like a notebook cell.\n\
             Packages available: {packages}. Nothing else can be installed from the code.\n\
             {prebound}\
             What comes back: everything printed, the value of the last expression (as in a \
             notebook), an exception with its line, every matplotlib figure left open (as a \
             PNG; do not call plt.show() or savefig for that), and the files the code writes \
             under ./{outputs}/.\n\
             The working directory is {workdir}; input files are there. Values passed as \
             variables are already defined as globals.\n\
             There is no network access and no access to the host's files; starting other \
             programs (subprocess, os.system) is refused.\n\
             Limits: {timeout} s of wall time, {memory} MB of memory, {output} bytes of \
             output. Keep work within them: vectorise with numpy or pandas rather than \
             looping in Python.\n",
            version = self.python_version,
            outputs = self.outputs_dir,
            workdir = self.working_dir,
            timeout = d.timeout,
            memory = d.max_memory_mb,
            output = d.output_limit,
        )
    }
}

#[utoipa::path(
    get,
    path = "/api/environment",
    tag = "environments",
    summary = "What code can use, with a prompt text for a model that writes it",
    params(EnvironmentQuery),
    responses(
        (status = 200, description = "The environment as code sees it", body = EnvironmentInfo),
        (status = 401, response = Unauthorized),
        (status = 404, response = NoSuchEnvironment),
        (status = 422, response = Invalid)
    )
)]
pub async fn environment(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    query: Result<Query<EnvironmentQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let caller = service.auth.caller(&headers)?;
    let env = query
        .env
        .unwrap_or_else(|| airlock_runtime::env::DEFAULT_ENV.into());
    let engine = Arc::clone(&service.engine);
    let info = blocking(move || -> Result<EnvironmentInfo, ApiError> {
        if env == NO_ENV {
            let python = Interpreter::default_host().map_err(ApiError::internal)?;
            return Ok(EnvironmentInfo::new(
                env,
                python.version,
                Vec::new(),
                caller.max,
            ));
        }
        let found = engine
            .envs()
            .find(&env)
            .map_err(|_| ApiError::not_found(format!("environment {env:?}")))?;
        let packages = found
            .packages
            .into_iter()
            .map(|p| PackageVersion {
                name: p.name,
                version: p.version,
            })
            .collect();
        Ok(EnvironmentInfo::new(
            found.name,
            found.python_version,
            packages,
            caller.max,
        ))
    })
    .await??;
    Ok(Json(info).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(name: &str) -> PackageVersion {
        PackageVersion {
            name: name.into(),
            version: "1.0".into(),
        }
    }

    #[test]
    fn only_installed_modules_are_prebound_and_the_prompt_says_so() {
        let info = EnvironmentInfo::new(
            "default".into(),
            "3.11.9".into(),
            vec![package("numpy"), package("Pandas")],
            MaxLimits {
                timeout: Some(5.0),
                ..Default::default()
            },
        );
        let names: Vec<&str> = info.prebound.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["np", "pd"]);
        assert_eq!(info.limits.defaults.timeout, 5.0);
        for expected in [
            "Python 3.11.9",
            "numpy 1.0, Pandas 1.0",
            "np (numpy), pd (pandas)",
            "5 s of wall time",
            "no network access",
            "./outputs/",
        ] {
            assert!(
                info.prompt.contains(expected),
                "{expected}: {}",
                info.prompt
            );
        }
        assert!(!info.prompt.contains("plt (matplotlib"), "{}", info.prompt);
    }

    #[test]
    fn a_bare_interpreter_has_only_the_standard_library() {
        let info = EnvironmentInfo::new(
            NO_ENV.into(),
            "3.11.9".into(),
            Vec::new(),
            MaxLimits::default(),
        );
        assert!(info.prebound.is_empty());
        assert!(info.prompt.contains("only the standard library"));
        assert!(!info.prompt.contains("already defined, no import"));
    }
}
