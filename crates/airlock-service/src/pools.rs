//! The warm pools the configuration asks for: one per listed environment, each holding
//! that environment's lease so its build stays while sandboxes use it.
//!
//! A pool is made from one build of its environment. When the environment changes (a
//! package installed, the environment rebuilt or removed, by the API or by the CLI in
//! another process), a request for it runs cold and the pool is replaced by one made
//! from the current build, so a sandbox never runs code against packages it does not
//! have.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use airlock_runtime::env::{EnvRuntime, Environments, Progress, Quiet};
use airlock_runtime::pool::{Pool, PoolMemory, PoolOptions, PoolStatus, Taken};
use airlock_runtime::request::Policy;
use airlock_runtime::ExecutionRequest;

use crate::config::PoolConfig;

/// One environment's pool.
#[derive(Debug)]
struct EnvPool {
    env: String,
    pool: Pool,
    runtime: EnvRuntime,
}

/// A pool's state as `doctor` and `/health` show it.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct EnvPoolReport {
    pub env: String,
    #[serde(flatten)]
    pub status: PoolStatus,
    pub memory: PoolMemory,
    /// Why the last sandbox could not be made, if one could not.
    pub last_error: Option<String>,
}

/// The pools of a service.
#[derive(Debug, Default)]
pub struct Pools {
    config: PoolConfig,
    policy: Policy,
    pools: Mutex<Vec<Arc<EnvPool>>>,
}

impl Pools {
    /// Start a pool for each environment of `config` (none when its size is 0). An
    /// environment that cannot be used is returned with the reason, and gets no pool.
    pub fn start(
        config: &PoolConfig,
        envs: &Environments,
        policy: &Policy,
        progress: &dyn Progress,
    ) -> (Pools, Vec<(String, String)>) {
        let pools = Pools {
            config: config.clone(),
            policy: policy.clone(),
            pools: Mutex::default(),
        };
        let mut failed = Vec::new();
        if config.size == 0 {
            return (pools, failed);
        }
        for name in &config.envs {
            match pools.make(envs, name, progress) {
                Ok(pool) => pools.list().push(Arc::new(pool)),
                Err(e) => failed.push((name.clone(), e)),
            }
        }
        (pools, failed)
    }

    fn list(&self) -> std::sync::MutexGuard<'_, Vec<Arc<EnvPool>>> {
        self.pools.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A pool of the current build of `name`.
    fn make(
        &self,
        envs: &Environments,
        name: &str,
        progress: &dyn Progress,
    ) -> Result<EnvPool, String> {
        let runtime = envs.runtime(name, progress).map_err(|e| e.to_string())?;
        let binds = [runtime.bind.clone()];
        let spec = ExecutionRequest::default()
            .sandbox_spec(
                &runtime.interpreter,
                &binds,
                &self.config.preload,
                &self.policy,
            )
            .map_err(|e| e.to_string())?;
        let pool = Pool::start(
            spec,
            PoolOptions {
                memory_budget_mb: self.config.memory_budget_mb,
                ..PoolOptions::new(self.config.size)
            },
        );
        Ok(EnvPool {
            env: name.to_string(),
            pool,
            runtime,
        })
    }

    /// A waiting sandbox for `req` in environment `env` whose build is `build` (the
    /// bind source of the request's own lease). None when the pool cannot serve it; a
    /// pool of another build is replaced, and the request runs cold.
    pub fn take(
        &self,
        envs: &Environments,
        env: &str,
        build: &Path,
        req: &ExecutionRequest,
    ) -> Option<Taken> {
        let pool = self.list().iter().find(|p| p.env == env).cloned()?;
        if pool.runtime.bind.source == build {
            return pool.pool.take(req);
        }
        self.replace(envs, env);
        None
    }

    /// Stop the pool of `env` (before the environment is removed). True if it had one.
    pub fn stop(&self, env: &str) -> bool {
        let removed: Vec<Arc<EnvPool>> = {
            let mut list = self.list();
            let (gone, kept) = list.drain(..).partition(|p| p.env == env);
            *list = kept;
            gone
        };
        let had = !removed.is_empty();
        drop(removed); // its sandboxes are stopped and its lease released here
        had
    }

    /// Replace the pool of `env` (if it is one the configuration pools) with one of the
    /// environment's current build. The old one is stopped in the background.
    pub fn replace(&self, envs: &Environments, env: &str) {
        if self.config.size == 0 || !self.config.envs.iter().any(|e| e == env) {
            return;
        }
        let fresh = match self.make(envs, env, &Quiet) {
            Ok(pool) => Some(Arc::new(pool)),
            Err(e) => {
                tracing::warn!("no warm pool for environment {env}: {e}");
                None
            }
        };
        let old: Vec<Arc<EnvPool>> = {
            let mut list = self.list();
            let (old, mut kept): (Vec<_>, Vec<_>) = list.drain(..).partition(|p| p.env == env);
            kept.extend(fresh);
            *list = kept;
            old
        };
        if !old.is_empty() {
            std::thread::spawn(move || drop(old));
        }
    }

    /// Wait until every pool is full or `timeout` passes; true when all are full.
    pub fn wait_full(&self, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        let pools: Vec<Arc<EnvPool>> = self.list().clone();
        pools.iter().all(|p| {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            p.pool.wait_full(left)
        })
    }

    /// Every pool's state and memory now.
    pub fn report(&self) -> Vec<EnvPoolReport> {
        let pools: Vec<Arc<EnvPool>> = self.list().clone();
        pools
            .iter()
            .map(|p| EnvPoolReport {
                env: p.env.clone(),
                status: p.pool.status(),
                memory: p.pool.memory(),
                last_error: p.pool.last_error(),
            })
            .collect()
    }
}
