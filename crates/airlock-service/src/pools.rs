//! The warm pools the configuration asks for: one per listed environment, each holding
//! that environment's lease so its build stays while sandboxes use it.

use std::time::Duration;

use airlock_runtime::env::{EnvRuntime, Environments, Progress};
use airlock_runtime::pool::{Pool, PoolMemory, PoolOptions, PoolStatus};
use airlock_runtime::request::Policy;
use airlock_runtime::ExecutionRequest;

use crate::config::PoolConfig;

/// One environment's pool.
#[derive(Debug)]
pub struct EnvPool {
    pub env: String,
    pub pool: Pool,
    _runtime: EnvRuntime,
}

/// A pool's state as `doctor` and `/health` show it.
#[derive(Clone, Debug, serde::Serialize)]
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
    pools: Vec<EnvPool>,
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
        let mut pools = Pools::default();
        let mut failed = Vec::new();
        if config.size == 0 {
            return (pools, failed);
        }
        for name in &config.envs {
            let started = envs
                .runtime(name, progress)
                .map_err(|e| e.to_string())
                .and_then(|runtime| {
                    let binds = [runtime.bind.clone()];
                    let spec = ExecutionRequest::default()
                        .sandbox_spec(&runtime.interpreter, &binds, &config.preload, policy)
                        .map_err(|e| e.to_string())?;
                    let pool = Pool::start(
                        spec,
                        PoolOptions {
                            memory_budget_mb: config.memory_budget_mb,
                            ..PoolOptions::new(config.size)
                        },
                    );
                    Ok(EnvPool {
                        env: name.clone(),
                        pool,
                        _runtime: runtime,
                    })
                });
            match started {
                Ok(pool) => pools.pools.push(pool),
                Err(e) => failed.push((name.clone(), e)),
            }
        }
        (pools, failed)
    }

    /// The pool of environment `env`, if it has one.
    pub fn get(&self, env: &str) -> Option<&Pool> {
        self.pools.iter().find(|p| p.env == env).map(|p| &p.pool)
    }

    /// Wait until every pool is full or `timeout` passes; true when all are full.
    pub fn wait_full(&self, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        self.pools.iter().all(|p| {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            p.pool.wait_full(left)
        })
    }

    /// Every pool's state and memory now.
    pub fn report(&self) -> Vec<EnvPoolReport> {
        self.pools
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
