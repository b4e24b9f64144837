//! One execution end to end, the same for sync and async jobs: the static gate, the
//! environment, a warm sandbox when a pool can serve the request or a cold one when not,
//! and the ExecutionResult. Blocking: the HTTP side calls it from a blocking thread.

use std::sync::atomic::AtomicBool;

use airlock_jail::JailError;
use airlock_runtime::env::{interpreter_for, EnvError, EnvRuntime, Environments, Quiet, NO_ENV};
use airlock_runtime::gate::{self, Verdict};
use airlock_runtime::request::{InvalidRequest, Policy};
use airlock_runtime::session::{Session, SessionError, SessionOptions};
use airlock_runtime::{ExecutionRequest, ExecutionResult};
use chrono::{DateTime, Utc};

use crate::pools::Pools;
use crate::Config;

/// Why an execution could not be attempted (a result is returned for everything else,
/// including sandbox failures).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Invalid(#[from] InvalidRequest),
    #[error(transparent)]
    Env(#[from] EnvError),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("{0}")]
    Host(String),
}

/// What every execution needs: environments, pools and the operator's policies.
#[derive(Debug)]
pub struct Engine {
    envs: Environments,
    pools: Pools,
    policy: Policy,
    analyzer: airlock_analyzer::Policy,
}

impl Engine {
    pub fn new(config: &Config, envs: Environments, pools: Pools) -> Result<Engine, String> {
        let policy = config.policy();
        let analyzer = match &policy.analyzer_policy {
            None => airlock_analyzer::Policy::builtin(),
            Some(path) => std::fs::read_to_string(path)
                .map_err(|e| e.to_string())
                .and_then(|t| airlock_analyzer::Policy::from_toml(&t).map_err(|e| e.to_string()))
                .map_err(|e| format!("config analyzer_policy {}: {e}", path.display()))?,
        };
        Ok(Engine {
            envs,
            pools,
            policy,
            analyzer,
        })
    }

    pub fn envs(&self) -> &Environments {
        &self.envs
    }

    pub fn pools(&self) -> &Pools {
        &self.pools
    }

    pub fn analyzer(&self) -> &airlock_analyzer::Policy {
        &self.analyzer
    }

    /// Everything about `req` that can be refused, checked before anything is stored
    /// or started: the gate's verdict, the environment, the sandbox spec.
    pub fn prepare(&self, req: ExecutionRequest, env: &str) -> Result<Prepared, EngineError> {
        let verdict = self.check(&req);
        // The lease on the environment's build lasts until the run is over.
        let runtime = self.runtime(env)?;
        let (python, binds) =
            interpreter_for(runtime.as_ref()).map_err(|e| EngineError::Host(e.to_string()))?;
        // Every value is checked here (limits, grants, files, variables).
        let spec = req.to_spec_in(&python, &binds, &self.policy)?;
        Ok(Prepared {
            req,
            env: env.to_string(),
            verdict,
            runtime,
            spec,
        })
    }

    /// The static gate's verdict on `req`.
    pub fn check(&self, req: &ExecutionRequest) -> Verdict {
        gate::check(req, &self.analyzer)
    }

    /// The lease on environment `env` (none for "none").
    fn runtime(&self, env: &str) -> Result<Option<EnvRuntime>, EngineError> {
        Ok(match env {
            NO_ENV => None,
            name => Some(self.envs.runtime(name, &Quiet)?),
        })
    }

    /// Start a session whose sandbox `req` shapes, in environment `env`, from `snapshot`
    /// when given; with what of the snapshot could not be restored.
    pub fn start_session(
        &self,
        req: &ExecutionRequest,
        env: &str,
        snapshot: Option<&[u8]>,
        options: SessionOptions,
    ) -> Result<(Session, Vec<String>), EngineError> {
        let runtime = self.runtime(env)?;
        let (python, binds) =
            interpreter_for(runtime.as_ref()).map_err(|e| EngineError::Host(e.to_string()))?;
        Ok(Session::start(
            req,
            &python,
            &binds,
            &self.policy,
            runtime,
            snapshot,
            options,
        )?)
    }

    /// Run a prepared request as execution `id`; `cancel` ends it early.
    pub fn execute(
        &self,
        id: &str,
        created_at: DateTime<Utc>,
        prepared: Prepared,
        cancel: &AtomicBool,
    ) -> Result<ExecutionResult, EngineError> {
        let Prepared {
            req,
            env,
            verdict,
            runtime,
            spec,
        } = prepared;
        let validation = match verdict {
            Verdict::Run(validation) => validation,
            Verdict::Reject(validation) => {
                let mut result = ExecutionResult::rejected(&req, created_at, validation);
                result.id = id.to_string();
                return Ok(result);
            }
        };
        let taken = runtime
            .as_ref()
            .and_then(|rt| self.pools.take(&self.envs, &env, &rt.bind.source, &req));
        let outcome = match (taken, &spec.channel) {
            (Some(taken), Some(channel)) => {
                taken.run_framed(&channel.input, &spec.limits, None, Some(cancel))
            }
            _ => airlock_jail::run(&spec, None, Some(cancel)),
        };
        let mut result = match outcome {
            Ok(o) => {
                let mut result =
                    ExecutionResult::from_outcome(&req, created_at, o).in_env(runtime.as_ref());
                result.validation = validation;
                result
            }
            Err(JailError::InvalidSpec { field, reason }) => {
                return Err(InvalidRequest { field, reason }.into())
            }
            Err(JailError::Cancelled) => ExecutionResult::cancelled(&req, created_at),
            Err(e) => ExecutionResult::sandbox_error(&req, created_at, e.to_string()),
        };
        result.id = id.to_string();
        Ok(result)
    }
}

/// A request checked and ready to run, holding its environment's lease.
#[derive(Debug)]
pub struct Prepared {
    req: ExecutionRequest,
    env: String,
    verdict: Verdict,
    runtime: Option<EnvRuntime>,
    spec: airlock_jail::JailSpec,
}
