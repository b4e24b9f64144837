//! The service's live sessions: who owns each, when it was last used, and the calls made
//! in it. Sessions live in memory (a restart ends them; a snapshot carries their state
//! across). A session unused for its idle timeout ends, and with it its sandbox, its
//! processes and its files. Each call is a job like any other execution: stored, run,
//! made final with its audit record (kind "session").

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use airlock_runtime::gate::Verdict;
use airlock_runtime::session::Session;
use airlock_runtime::ExecutionResult;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};

use crate::api::body::ExecuteBody;
use crate::api::error::ApiError;
use crate::auth::Caller;
use crate::config::SessionConfig;
use crate::jobs::blocking;
use crate::service::Service;
use crate::store::JobKind;

/// One live session.
#[derive(Debug)]
pub struct Slot {
    pub id: String,
    pub tenant: String,
    pub env: String,
    pub created_at: DateTime<Utc>,
    pub idle_timeout: Duration,
    /// The limits it was made with; `timeout` is each call's default.
    pub limits: SessionLimits,
    /// What of its snapshot could not be restored.
    pub warnings: Vec<String>,
    /// Its sandbox's name on the host.
    pub sandbox: String,
    session: Mutex<Session>,
    used: Mutex<(Instant, DateTime<Utc>)>,
    calls: AtomicU64,
    /// Interrupts the running call (set when the session is deleted).
    cancel: AtomicBool,
    ended: Mutex<Option<String>>,
}

/// The limits of a session.
#[derive(Clone, Copy, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct SessionLimits {
    /// Each call's wall-clock limit unless the call names its own.
    pub timeout: f64,
    /// For the session's whole life.
    pub max_memory_mb: u64,
    pub max_cpu_percent: u32,
    pub max_processes: u32,
    pub output_limit: u64,
}

/// A session as the API shows it.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct SessionInfo {
    pub id: String,
    pub env: String,
    /// "alive", or "ended" (see `error`).
    pub status: String,
    /// Why it ended.
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    /// When it ends unless used before.
    pub expires_at: DateTime<Utc>,
    pub idle_timeout: f64,
    pub calls: u64,
    pub limits: SessionLimits,
    /// Its sandbox's name on the host (its cgroup is named after it).
    pub sandbox: String,
    /// What of the snapshot it started from could not be restored.
    pub warnings: Vec<String>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Slot {
    pub fn new(
        tenant: &str,
        env: &str,
        idle_timeout: Duration,
        limits: SessionLimits,
        session: Session,
        warnings: Vec<String>,
    ) -> Slot {
        let now = Utc::now();
        Slot {
            id: uuid::Uuid::new_v4().to_string(),
            tenant: tenant.to_string(),
            env: env.to_string(),
            created_at: now,
            idle_timeout,
            limits,
            warnings,
            sandbox: session.sandbox_id().to_string(),
            session: Mutex::new(session),
            used: Mutex::new((Instant::now(), now)),
            calls: AtomicU64::new(0),
            cancel: AtomicBool::new(false),
            ended: Mutex::new(None),
        }
    }

    fn touch(&self) {
        *lock(&self.used) = (Instant::now(), Utc::now());
    }

    fn idle_for(&self) -> Duration {
        lock(&self.used).0.elapsed()
    }

    pub fn info(&self) -> SessionInfo {
        let error = match self.session.try_lock() {
            Ok(mut s) => {
                let ended = s.ended().map(String::from);
                if ended.is_some() {
                    *lock(&self.ended) = ended.clone();
                }
                ended
            }
            // Busy with a call: what is known from the last one.
            Err(_) => lock(&self.ended).clone(),
        };
        let last_used_at = lock(&self.used).1;
        let idle = chrono::Duration::from_std(self.idle_timeout).unwrap_or_default();
        SessionInfo {
            id: self.id.clone(),
            env: self.env.clone(),
            status: if error.is_some() { "ended" } else { "alive" }.into(),
            error,
            created_at: self.created_at,
            last_used_at,
            expires_at: last_used_at + idle,
            idle_timeout: self.idle_timeout.as_secs_f64(),
            calls: self.calls.load(Ordering::SeqCst),
            limits: self.limits,
            sandbox: self.sandbox.clone(),
            warnings: self.warnings.clone(),
        }
    }

    /// Use the session on this (blocking) thread; 409 while another call has it.
    pub fn with<T>(
        &self,
        f: impl FnOnce(&mut Session, &AtomicBool) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let mut session = self.session.try_lock().map_err(|_| {
            ApiError::new(
                StatusCode::CONFLICT,
                "busy",
                "the session is running another call; try again when it is done",
            )
        })?;
        self.touch();
        let out = f(&mut session, &self.cancel);
        if let Some(why) = session.ended() {
            *lock(&self.ended) = Some(why.to_string());
        }
        self.touch();
        out
    }
}

/// Every live session of the service.
#[derive(Debug)]
pub struct Sessions {
    config: SessionConfig,
    slots: Mutex<HashMap<String, Arc<Slot>>>,
}

impl Sessions {
    pub fn new(config: &SessionConfig) -> Sessions {
        Sessions {
            config: config.clone(),
            slots: Mutex::default(),
        }
    }

    /// 429 when `tenant` has its most sessions, 503 when the service has.
    pub fn check_room(&self, tenant: &str) -> Result<(), ApiError> {
        let slots = lock(&self.slots);
        if slots.len() >= self.config.max_sessions {
            return Err(ApiError::overloaded(format!(
                "the service has its most sessions ({}) already",
                self.config.max_sessions
            )));
        }
        let own = slots.values().filter(|s| s.tenant == tenant).count();
        if own >= self.config.max_per_tenant {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "over_quota",
                format!(
                    "this caller has its most sessions ({}) already; delete one or let it expire",
                    self.config.max_per_tenant
                ),
            ));
        }
        Ok(())
    }

    /// Add a new session (checked for room again: others may have been made meanwhile).
    pub fn insert(&self, slot: Slot) -> Result<Arc<Slot>, ApiError> {
        self.check_room(&slot.tenant)?;
        let slot = Arc::new(slot);
        lock(&self.slots).insert(slot.id.clone(), Arc::clone(&slot));
        Ok(slot)
    }

    /// The session `id`, if `caller` may see it.
    pub fn get(&self, caller: &Caller, id: &str) -> Result<Arc<Slot>, ApiError> {
        lock(&self.slots)
            .get(id)
            .filter(|s| caller.sees(&s.tenant))
            .cloned()
            .ok_or_else(|| {
                let shown: String = id.chars().take(80).collect();
                ApiError::not_found(format!("session {shown:?}"))
            })
    }

    /// The sessions `caller` may see, oldest first.
    pub fn list(&self, caller: &Caller) -> Vec<Arc<Slot>> {
        let mut list: Vec<Arc<Slot>> = lock(&self.slots)
            .values()
            .filter(|s| caller.sees(&s.tenant))
            .cloned()
            .collect();
        list.sort_by_key(|s| s.created_at);
        list
    }

    /// End the session `id`: a call running in it is interrupted, and its sandbox goes
    /// once nothing uses it.
    pub fn remove(&self, caller: &Caller, id: &str) -> Result<Arc<Slot>, ApiError> {
        let slot = self.get(caller, id)?;
        lock(&self.slots).remove(id);
        slot.cancel.store(true, Ordering::SeqCst);
        Ok(slot)
    }

    /// End the sessions unused for longer than their idle timeout (not while a call
    /// runs); how many.
    pub fn expire(&self) -> usize {
        let expired: Vec<Arc<Slot>> = {
            let mut slots = lock(&self.slots);
            let old: Vec<String> = slots
                .values()
                .filter(|s| s.idle_for() > s.idle_timeout && s.session.try_lock().is_ok())
                .map(|s| s.id.clone())
                .collect();
            old.iter().filter_map(|id| slots.remove(id)).collect()
        };
        expired.len()
    }

    /// End every session (the service is stopping).
    pub fn clear(&self) {
        let all: Vec<Arc<Slot>> = lock(&self.slots).drain().map(|(_, s)| s).collect();
        for slot in &all {
            slot.cancel.store(true, Ordering::SeqCst);
        }
    }

    pub fn count(&self) -> usize {
        lock(&self.slots).len()
    }
}

/// End idle sessions every second, for as long as the service runs.
pub async fn expire_idle(service: Arc<Service>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        if service.sessions.count() == 0 {
            continue;
        }
        let sessions = Arc::clone(&service);
        // Dropping a session tears its sandbox down, which may take a moment.
        let ended = blocking(move || sessions.sessions.expire())
            .await
            .unwrap_or(0);
        if ended > 0 {
            tracing::info!("{ended} idle sessions ended");
        }
    }
}

impl Service {
    /// Run `body`'s code in session `slot` for `caller`: checked by the gate, counted
    /// against the caller's quotas, stored as a job, recorded in the audit log.
    pub async fn execute_in_session(
        self: &Arc<Self>,
        caller: &Caller,
        slot: Arc<Slot>,
        body: ExecuteBody,
    ) -> Result<serde_json::Value, ApiError> {
        let req = body.to_request(&caller.max, &self.config.server)?;
        let engine = Arc::clone(&self.engine);
        let checked = req.clone();
        let verdict = blocking(move || engine.check(&checked)).await?;
        let admission = caller.admit()?;
        let permit = self.slot().await?;
        let job = self.new_job(JobKind::Session, &caller.tenant, &body, None);
        let store = Arc::clone(&self.store);
        let stored = job.clone();
        blocking(move || store.insert_job(&stored)).await??;
        let (id, created_at) = (job.id.clone(), job.created_at);
        let ran = blocking(move || {
            slot.with(|session, cancel| {
                let mut result = match verdict {
                    Verdict::Reject(validation) => {
                        ExecutionResult::rejected(&req, created_at, validation)
                    }
                    Verdict::Run(validation) => {
                        let mut result = session
                            .execute(&req, created_at, Some(cancel))
                            .map_err(|e| ApiError::from(crate::engine::EngineError::from(e)))?;
                        result.validation = validation;
                        result
                    }
                };
                slot.calls.fetch_add(1, Ordering::SeqCst);
                result.id = id;
                Ok(result)
            })
        })
        .await
        .and_then(|r| r);
        drop((permit, admission));
        self.conclude(&job, &body, ran).await
    }
}
