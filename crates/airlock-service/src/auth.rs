//! Who is calling, and whether they may: API keys from the configuration (only their
//! sha256 is stored), each with a tenant and quotas. Without keys every caller is
//! "local" with the operator's limits (for a service bound to loopback).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use sha2::{Digest, Sha256};

use crate::api::error::ApiError;
use crate::config::{Config, KeyConfig, MaxLimits};

/// The tenant name of callers when no keys are configured.
pub const LOCAL: &str = "local";

/// A caller, once its key is checked.
#[derive(Clone, Debug)]
pub struct Caller {
    pub tenant: String,
    /// What this caller's requests may ask for at most.
    pub max: MaxLimits,
    /// Whether it may create, change and remove environments.
    pub manage_envs: bool,
    quota: Option<Arc<Quota>>,
}

#[derive(Debug)]
struct Quota {
    key: KeyConfig,
    running: AtomicU32,
    started: Mutex<VecDeque<Instant>>,
}

/// Holds one of a key's concurrent executions until dropped.
#[derive(Debug)]
pub struct Admission(Option<Arc<Quota>>);

impl Drop for Admission {
    fn drop(&mut self) {
        if let Some(q) = &self.0 {
            q.running.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

#[derive(Debug)]
pub struct Auth {
    /// sha256 hex of the key -> its quota.
    keys: HashMap<String, Arc<Quota>>,
    limits: MaxLimits,
}

/// sha256 (hex) of a key, as the configuration stores it.
pub fn key_hash(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn over_quota(message: String) -> ApiError {
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, "over_quota", message)
}

impl Quota {
    /// Record an execution started now, unless the key started its most this minute.
    fn start(&self) -> Result<(), ApiError> {
        if self.key.per_minute == 0 {
            return Ok(());
        }
        let mut started = self
            .started
            .lock()
            .map_err(|_| ApiError::internal("quota lock"))?;
        let now = Instant::now();
        while started
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
        {
            started.pop_front();
        }
        if started.len() >= self.key.per_minute as usize {
            return Err(over_quota(format!(
                "this key may start {} executions a minute",
                self.key.per_minute
            )));
        }
        started.push_back(now);
        Ok(())
    }
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

impl Auth {
    pub fn new(config: &Config) -> Auth {
        let keys = config
            .keys
            .iter()
            .map(|k| {
                let quota = Quota {
                    key: k.clone(),
                    running: AtomicU32::new(0),
                    started: Mutex::new(VecDeque::new()),
                };
                (k.key_sha256.to_ascii_lowercase(), Arc::new(quota))
            })
            .collect();
        Auth {
            keys,
            limits: config.limits,
        }
    }

    /// Whether requests need a key.
    pub fn required(&self) -> bool {
        !self.keys.is_empty()
    }

    /// The caller of a request: `Authorization: Bearer KEY` or `X-API-Key: KEY`.
    pub fn caller(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        if !self.required() {
            return Ok(Caller {
                tenant: LOCAL.into(),
                max: self.limits,
                manage_envs: true,
                quota: None,
            });
        }
        let key = headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .or_else(|| {
                headers
                    .get(axum::http::header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
            })
            .ok_or_else(|| unauthorized("an API key is required (Authorization: Bearer KEY)"))?;
        let quota = self
            .keys
            .get(&key_hash(key.trim()))
            .ok_or_else(|| unauthorized("the API key is not valid"))?;
        Ok(Caller {
            tenant: quota.key.tenant.clone(),
            max: self.limits.min(&quota.key.limits),
            manage_envs: quota.key.manage_envs,
            quota: Some(Arc::clone(quota)),
        })
    }
}

impl Caller {
    /// Take one sync execution of this caller's quotas: 429 when it runs its most at
    /// once or has started its most this minute. A refused request uses up nothing.
    pub fn admit(&self) -> Result<Admission, ApiError> {
        let Some(q) = &self.quota else {
            return Ok(Admission(None));
        };
        let running = q.running.fetch_add(1, Ordering::SeqCst);
        let admission = Admission(Some(Arc::clone(q)));
        if q.key.max_concurrent > 0 && running >= q.key.max_concurrent {
            return Err(over_quota(format!(
                "this key may run {} executions at once",
                q.key.max_concurrent
            )));
        }
        q.start()?;
        Ok(admission)
    }

    /// Count an async submit against the per-minute quota (the workers bound how many
    /// async jobs run at once, so the concurrency quota of sync runs does not apply).
    pub fn admit_async(&self) -> Result<(), ApiError> {
        self.quota.as_ref().map_or(Ok(()), |q| q.start())
    }

    /// Whether this caller sees every tenant's records (only without keys: the local,
    /// loopback-only setup).
    pub fn sees_all(&self) -> bool {
        self.quota.is_none()
    }

    /// Whether this caller may see records of `tenant`.
    pub fn sees(&self, tenant: &str) -> bool {
        self.sees_all() || self.tenant == tenant
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(max_concurrent: u32, per_minute: u32) -> Caller {
        let config = Config {
            keys: vec![KeyConfig {
                tenant: "t".into(),
                key_sha256: key_hash("k"),
                max_concurrent,
                per_minute,
                limits: MaxLimits::default(),
                manage_envs: false,
            }],
            ..Config::default()
        };
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", "k".parse().unwrap());
        Auth::new(&config).caller(&headers).unwrap()
    }

    #[test]
    fn a_request_refused_for_concurrency_uses_no_minute_slot() {
        let c = caller(1, 2);
        let running = c.admit().unwrap();
        for _ in 0..5 {
            assert_eq!(c.admit().unwrap_err().status, StatusCode::TOO_MANY_REQUESTS);
        }
        drop(running);
        // One slot of the two was used; the five refusals used none.
        let second = c.admit().unwrap();
        drop(second);
        let third = c.admit().unwrap_err();
        assert!(third.message.contains("a minute"), "{}", third.message);
    }

    #[test]
    fn async_submits_count_per_minute_but_not_against_sync_concurrency() {
        let c = caller(1, 3);
        let _running = c.admit().unwrap();
        c.admit_async().unwrap();
        c.admit_async().unwrap();
        assert!(c.admit_async().unwrap_err().message.contains("a minute"));
    }
}
