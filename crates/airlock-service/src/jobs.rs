//! Executions as jobs: every one is stored before it runs and made final (with its audit
//! record, atomically) when it ends, so an accepted async job is never lost.
//!
//! Async jobs wait in a queue for one of a bounded set of workers; sync ones run on the
//! caller's request. Both take one of `max_running` slots. Cancelling a pending job makes
//! it final without running it; cancelling a running one kills its sandbox. On shutdown,
//! running async jobs get a grace period, then are killed and put back to pending; at the
//! next start, pending and interrupted jobs run again.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use airlock_runtime::ExecutionResult;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::api::body::ExecuteBody;
use crate::api::error::ApiError;
use crate::auth::Caller;
use crate::config::{MaxLimits, ServerConfig};
use crate::engine::Prepared;
use crate::service::Service;
use crate::store::{AuditEntry, Job, JobKind, JobState};

/// How long a sync request waits for a free slot before the answer is 503.
const SLOT_WAIT: Duration = Duration::from_secs(30);

/// What a running job can be told.
#[derive(Debug, Default)]
struct Flags {
    cancel: AtomicBool,
    /// Killed by a shutdown: back to pending, not final.
    requeue: AtomicBool,
}

/// The queue, the running jobs and the slots.
#[derive(Debug)]
pub struct Jobs {
    queue: Mutex<VecDeque<String>>,
    queued: Notify,
    running: Mutex<HashMap<String, Arc<Flags>>>,
    /// Signalled when a job stops running (for cancel and shutdown waits).
    ended: Notify,
    slots: Arc<Semaphore>,
    stopping: AtomicBool,
    /// Workers still looping.
    workers: AtomicUsize,
}

impl Jobs {
    pub fn new(max_running: usize) -> Jobs {
        Jobs {
            queue: Mutex::new(VecDeque::new()),
            queued: Notify::new(),
            running: Mutex::new(HashMap::new()),
            ended: Notify::new(),
            slots: Arc::new(Semaphore::new(max_running.max(1))),
            stopping: AtomicBool::new(false),
            workers: AtomicUsize::new(0),
        }
    }

    /// Async jobs waiting to run.
    pub fn queue_depth(&self) -> usize {
        self.queue.lock().map_or(0, |q| q.len())
    }

    /// Executions running now.
    pub fn running(&self) -> usize {
        self.running.lock().map_or(0, |r| r.len())
    }

    fn push(&self, id: String) {
        if let Ok(mut q) = self.queue.lock() {
            q.push_back(id);
        }
        self.queued.notify_one();
    }

    fn pop(&self) -> Option<String> {
        self.queue.lock().ok()?.pop_front()
    }

    fn register(&self, id: &str) -> Arc<Flags> {
        let flags = Arc::new(Flags::default());
        if let Ok(mut r) = self.running.lock() {
            r.insert(id.to_string(), Arc::clone(&flags));
        }
        flags
    }

    fn unregister(&self, id: &str) {
        if let Ok(mut r) = self.running.lock() {
            r.remove(id);
        }
        self.ended.notify_waiters();
    }
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn parse_time(text: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The audit record of a finished job, from its result (as the caller sees it).
fn audit_entry(
    job: &Job,
    body: &ExecuteBody,
    result: &serde_json::Value,
    keep_code: bool,
) -> AuditEntry {
    let text = |k: &str| result.get(k).and_then(|v| v.as_str()).map(String::from);
    let number = |k: &str| result.get(k).and_then(|v| v.as_f64()).unwrap_or(0.0);
    AuditEntry {
        id: job.id.clone(),
        kind: job.kind,
        caller: job.caller.clone(),
        created_at: job.created_at,
        started_at: parse_time(text("started_at").as_deref()),
        completed_at: parse_time(text("completed_at").as_deref()).or_else(|| Some(Utc::now())),
        language: body.language.clone(),
        env: Some(body.env().to_string()),
        code_sha256: sha256_hex(&body.code),
        code: keep_code.then(|| body.code.clone()),
        verdict: result
            .pointer("/validation/status")
            .and_then(|v| v.as_str())
            .map(String::from),
        limits: serde_json::json!({
            "timeout": result.get("timeout"),
            "max_memory_mb": result.get("max_memory_mb"),
            "max_cpu_percent": result.get("max_cpu_percent"),
            "max_processes": result.get("max_processes"),
            "output_limit": body.output_limit,
        }),
        status: text("status").unwrap_or_default(),
        reason: text("reason"),
        duration: number("duration"),
        cpu_time_seconds: number("cpu_time_seconds"),
        memory_used_mb: number("memory_used_mb"),
    }
}

/// How a job ended without running.
#[derive(Clone, Copy, Debug)]
enum Unrun<'a> {
    /// Cancelled while pending.
    Cancelled,
    /// Lost to a restart (sync), or no longer valid under the configuration (async, after
    /// a restart): the reason.
    Failed(&'a str),
}

/// The request a stored job's body describes. The body was checked when it was accepted;
/// only the request's shape is needed here, not its checks.
fn stored_request(body: &ExecuteBody) -> airlock_runtime::ExecutionRequest {
    let lenient = ServerConfig {
        max_code_bytes: usize::MAX,
        allow_host_grants: true,
        ..ServerConfig::default()
    };
    body.to_request(&MaxLimits::default(), &lenient)
        .unwrap_or_else(|_| airlock_runtime::ExecutionRequest {
            code: body.code.clone(),
            language: body.language.clone(),
            ..Default::default()
        })
}

/// The result of a job that ended without running, built like every other result.
fn unrun_result(job: &Job, body: &ExecuteBody, how: Unrun) -> ExecutionResult {
    let req = stored_request(body);
    let mut result = match how {
        Unrun::Cancelled => ExecutionResult::cancelled(&req, job.created_at),
        Unrun::Failed(error) => ExecutionResult::sandbox_error(&req, job.created_at, error.into()),
    };
    result.id = job.id.clone();
    result.env = Some(body.env().to_string());
    result
}

/// What the caller sees of a job: its result when final, else an ExecutionResult whose
/// status says how far it is.
pub fn view(job: &Job) -> serde_json::Value {
    if let Some(result) = &job.result {
        return result.clone();
    }
    let body: ExecuteBody = serde_json::from_value(job.request.clone()).unwrap_or_default();
    let status = match job.state {
        JobState::Running => "running",
        _ => "pending",
    };
    let mut result = ExecutionResult::in_progress(&stored_request(&body), job.created_at, status);
    result.id = job.id.clone();
    result.env = Some(body.env().to_string());
    serde_json::to_value(result).unwrap_or_default()
}

impl Service {
    pub(crate) fn new_job(
        &self,
        kind: JobKind,
        caller: &str,
        body: &ExecuteBody,
        idempotency_key: Option<String>,
    ) -> Job {
        let now = Utc::now();
        Job {
            id: uuid::Uuid::new_v4().to_string(),
            kind,
            caller: caller.to_string(),
            state: match kind {
                JobKind::Async => JobState::Pending,
                _ => JobState::Running,
            },
            request: serde_json::to_value(body).unwrap_or_default(),
            result: None,
            idempotency_key,
            callback_url: body.callback_url.clone(),
            created_at: now,
            updated_at: now,
        }
    }

    /// Run a request now, on behalf of `caller`, and return its result. The run is its
    /// own task: a caller that hangs up cancels it, and it still ends (cancelled) in the
    /// store and the audit log.
    pub async fn execute_sync(
        self: &Arc<Self>,
        caller: &Caller,
        body: ExecuteBody,
    ) -> Result<serde_json::Value, ApiError> {
        let prepared = self.prepare(&caller.max, &body).await?;
        // Only a valid request counts against the caller's quotas.
        let admission = caller.admit()?;
        let permit = self.slot().await?;
        let job = self.new_job(JobKind::Sync, &caller.tenant, &body, None);
        let store = Arc::clone(&self.store);
        let stored = job.clone();
        blocking(move || store.insert_job(&stored)).await??;
        let flags = self.jobs.register(&job.id);
        let mut guard = CancelOnDrop(Some(Arc::clone(&flags)));
        let service = Arc::clone(self);
        let task = tokio::spawn(async move {
            let result = service.run(&job, prepared, &flags).await;
            drop((permit, admission));
            service.conclude(&job, &body, result).await
        });
        let answer = task.await.map_err(ApiError::internal)?;
        guard.0 = None;
        answer
    }

    /// One of the execution slots (`server.max_running`), waiting at most SLOT_WAIT.
    pub(crate) async fn slot(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        tokio::time::timeout(SLOT_WAIT, Arc::clone(&self.jobs.slots).acquire_owned())
            .await
            .map_err(|_| ApiError::overloaded("every execution slot is busy; try again"))?
            .map_err(|_| ApiError::overloaded("the service is stopping"))
    }

    /// Make a job that ran (or could not) final; the caller's answer.
    pub(crate) async fn conclude(
        &self,
        job: &Job,
        body: &ExecuteBody,
        ran: Result<ExecutionResult, ApiError>,
    ) -> Result<serde_json::Value, ApiError> {
        match ran {
            Ok(result) => self.finish(job, body, result).await?.ok_or_else(|| {
                ApiError::internal(format!("execution {} was made final twice", job.id))
            }),
            Err(e) => {
                self.fail(job, &e.message).await;
                Err(e)
            }
        }
    }

    /// End a job that could not run, with the reason.
    async fn fail(&self, job: &Job, error: &str) {
        if let Err(e) = self.end_unrun(job, Unrun::Failed(error)).await {
            tracing::error!("job {}: could not be made final: {e:?}", job.id);
        }
    }

    /// Make a job final without (further) running it. None when it was final already.
    async fn end_unrun(
        &self,
        job: &Job,
        how: Unrun<'_>,
    ) -> Result<Option<serde_json::Value>, ApiError> {
        let body: ExecuteBody = serde_json::from_value(job.request.clone()).unwrap_or_default();
        let result = unrun_result(job, &body, how);
        self.finish(job, &body, result).await
    }

    /// Accept an async job: stored (pending) before this returns.
    /// A retried submit (same Idempotency-Key) returns the first job and counts nothing.
    /// Async jobs count against the per-minute quota when accepted; the workers bound how
    /// many run at once.
    pub async fn submit(
        self: &Arc<Self>,
        caller: &Caller,
        body: ExecuteBody,
        idempotency_key: Option<String>,
    ) -> Result<(Job, bool), ApiError> {
        drop(self.prepare(&caller.max, &body).await?);
        if let Some(url) = &body.callback_url {
            crate::callback::check_url(url, &self.config.server.callback_hosts)
                .map_err(|e| ApiError::invalid("callback_url", e))?;
        }
        if self.jobs.stopping.load(Ordering::SeqCst) {
            return Err(ApiError::overloaded("the service is stopping"));
        }
        if self.jobs.queue_depth() >= self.config.server.queue_limit {
            return Err(ApiError::overloaded(format!(
                "{} jobs are waiting already; try again later",
                self.config.server.queue_limit
            )));
        }
        if let Some(key) = &idempotency_key {
            let store = Arc::clone(&self.store);
            let (tenant, key) = (caller.tenant.clone(), key.clone());
            if let Some(first) = blocking(move || store.find_idempotent(&tenant, &key)).await?? {
                return Ok((first, false));
            }
        }
        caller.admit_async()?;
        let job = self.new_job(JobKind::Async, &caller.tenant, &body, idempotency_key);
        let store = Arc::clone(&self.store);
        let (job, created) = blocking(move || store.insert_job(&job)).await??;
        if created {
            self.jobs.push(job.id.clone());
        }
        Ok((job, created))
    }

    /// Cancel a job: pending ones end without running, running ones are killed. Returns
    /// the job as it ended; a job that was final already is a conflict.
    pub async fn cancel(self: &Arc<Self>, job: Job) -> Result<serde_json::Value, ApiError> {
        if job.state == JobState::Final {
            return Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "conflict",
                format!("execution {} has already ended", job.id),
            ));
        }
        let flags = self
            .jobs
            .running
            .lock()
            .ok()
            .and_then(|r| r.get(&job.id).cloned());
        match flags {
            Some(flags) => {
                flags.cancel.store(true, Ordering::SeqCst);
                self.wait_final(&job.id, Duration::from_secs(30)).await
            }
            None => {
                let ended = self.end_unrun(&job, Unrun::Cancelled).await?;
                if let Some(result) = ended {
                    Ok(result)
                } else {
                    // It started or ended meanwhile: cancel it as a running one.
                    let flags = self
                        .jobs
                        .running
                        .lock()
                        .ok()
                        .and_then(|r| r.get(&job.id).cloned());
                    if let Some(flags) = flags {
                        flags.cancel.store(true, Ordering::SeqCst);
                    }
                    self.wait_final(&job.id, Duration::from_secs(30)).await
                }
            }
        }
    }

    async fn wait_final(&self, id: &str, limit: Duration) -> Result<serde_json::Value, ApiError> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let ended = self.jobs.ended.notified();
            let store = Arc::clone(&self.store);
            let key = id.to_string();
            if let Some(job) = blocking(move || store.get_job(&key)).await?? {
                if job.state == JobState::Final {
                    return Ok(view(&job));
                }
            }
            if tokio::time::timeout_at(deadline, ended).await.is_err() {
                return Err(ApiError::internal(format!(
                    "execution {id} did not end after being cancelled"
                )));
            }
        }
    }

    fn audit_of(&self, job: &Job, body: &ExecuteBody, result: &serde_json::Value) -> AuditEntry {
        audit_entry(
            job,
            body,
            result,
            self.config.server.code_retention_days > 0,
        )
    }

    /// Check a body against `max` and the engine (environment, limits, spec): every
    /// refusal happens here, before anything is stored.
    async fn prepare(&self, max: &MaxLimits, body: &ExecuteBody) -> Result<Prepared, ApiError> {
        let req = body.to_request(max, &self.config.server)?;
        let engine = Arc::clone(&self.engine);
        let env = body.env().to_string();
        Ok(blocking(move || engine.prepare(req, &env)).await??)
    }

    /// Run a stored job's prepared request in the engine, on a blocking thread.
    async fn run(
        &self,
        job: &Job,
        prepared: Prepared,
        flags: &Arc<Flags>,
    ) -> Result<ExecutionResult, ApiError> {
        let engine = Arc::clone(&self.engine);
        let (id, created_at) = (job.id.clone(), job.created_at);
        let flags = Arc::clone(flags);
        let ran = blocking(move || engine.execute(&id, created_at, prepared, &flags.cancel)).await;
        self.jobs.unregister(&job.id);
        Ok(ran??)
    }

    /// Make a job final with its result and audit record (and its callback queued, if it
    /// has one); metrics and the callback's delivery follow. None (and nothing written)
    /// when the job was final already.
    async fn finish(
        &self,
        job: &Job,
        body: &ExecuteBody,
        result: ExecutionResult,
    ) -> Result<Option<serde_json::Value>, ApiError> {
        let value = serde_json::to_value(&result).map_err(ApiError::internal)?;
        let audit = self.audit_of(job, body, &value);
        let store = Arc::clone(&self.store);
        let (id, stored) = (job.id.clone(), value.clone());
        if !blocking(move || store.finish_job(&id, &stored, &audit)).await?? {
            return Ok(None);
        }
        self.metrics
            .record(job.kind, &result.status, result.duration);
        if job.callback_url.is_some() {
            self.callback_queued.notify_one();
        }
        Ok(Some(value))
    }

    /// One async job, taken from the queue.
    async fn work_on(self: &Arc<Self>, id: String) {
        let store = Arc::clone(&self.store);
        let key = id.clone();
        let job = match blocking(move || store.get_job(&key)).await {
            Ok(Ok(Some(job))) if job.state == JobState::Pending => job,
            Ok(Ok(_)) => return, // cancelled meanwhile
            other => {
                tracing::error!("job {id}: cannot be read: {other:?}");
                return;
            }
        };
        let flags = self.jobs.register(&id);
        let store = Arc::clone(&self.store);
        let key = id.clone();
        if !matches!(blocking(move || store.start_job(&key)).await, Ok(Ok(true))) {
            self.jobs.unregister(&id);
            return;
        }
        let body: ExecuteBody = serde_json::from_value(job.request.clone()).unwrap_or_default();
        let result = match self.prepare(&self.config.limits, &body).await {
            Ok(prepared) => self.run(&job, prepared, &flags).await,
            Err(e) => {
                self.jobs.unregister(&id);
                Err(e)
            }
        };
        if flags.requeue.load(Ordering::SeqCst) {
            let store = Arc::clone(&self.store);
            if let Err(e) = blocking(move || store.requeue_job(&id)).await {
                tracing::error!("job {}: could not be put back: {e:?}", job.id);
            }
            return;
        }
        match result {
            Ok(result) => {
                if let Err(e) = self.finish(&job, &body, result).await {
                    tracing::error!("job {}: could not be made final: {e:?}", job.id);
                }
            }
            Err(e) => self.fail(&job, &e.message).await,
        }
    }

    /// Start the workers and callback delivery, after picking up what a previous run left:
    /// pending and interrupted async jobs run again; sync ones, whose caller is gone, end
    /// failed; callbacks still pending are delivered.
    pub async fn start_workers(self: &Arc<Self>) -> Result<usize, ApiError> {
        let store = Arc::clone(&self.store);
        let unfinished = blocking(move || store.unfinished_jobs()).await??;
        let picked = unfinished.len();
        for job in unfinished {
            match job.kind {
                JobKind::Async => {
                    if job.state == JobState::Running {
                        let store = Arc::clone(&self.store);
                        let id = job.id.clone();
                        blocking(move || store.requeue_job(&id)).await??;
                    }
                    self.jobs.push(job.id);
                }
                _ => {
                    let lost = "the service stopped during this execution";
                    self.end_unrun(&job, Unrun::Failed(lost)).await?;
                }
            }
        }
        for _ in 0..self.config.server.workers() {
            let service = Arc::clone(self);
            self.jobs.workers.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                service.worker().await;
                service.jobs.workers.fetch_sub(1, Ordering::SeqCst);
            });
        }
        tokio::spawn(crate::callback::delivery::run(Arc::clone(self)));
        Ok(picked)
    }

    async fn worker(self: &Arc<Self>) {
        loop {
            let queued = self.jobs.queued.notified();
            if self.jobs.stopping.load(Ordering::SeqCst) {
                return;
            }
            let Some(id) = self.jobs.pop() else {
                queued.await;
                continue;
            };
            let Ok(permit) = Arc::clone(&self.jobs.slots).acquire_owned().await else {
                return;
            };
            if self.jobs.stopping.load(Ordering::SeqCst) {
                return; // still pending in the store: the next start runs it
            }
            self.work_on(id).await;
            drop(permit);
        }
    }

    /// Stop taking jobs; give running ones `grace`, then kill them and put async ones back
    /// to pending for the next start.
    pub async fn stop_workers(&self, grace: Duration) {
        self.jobs.stopping.store(true, Ordering::SeqCst);
        self.jobs.queued.notify_waiters();
        let deadline = tokio::time::Instant::now() + grace;
        while self.jobs.running() > 0 && tokio::time::Instant::now() < deadline {
            let ended = self.jobs.ended.notified();
            let _ = tokio::time::timeout_at(deadline, ended).await;
        }
        let left: Vec<Arc<Flags>> = self
            .jobs
            .running
            .lock()
            .map(|r| r.values().cloned().collect())
            .unwrap_or_default();
        for flags in &left {
            flags.requeue.store(true, Ordering::SeqCst);
            flags.cancel.store(true, Ordering::SeqCst);
        }
        while self.jobs.running() > 0 || self.jobs.workers.load(Ordering::SeqCst) > 0 {
            let ended = self.jobs.ended.notified();
            self.jobs.queued.notify_waiters();
            let _ = tokio::time::timeout(Duration::from_millis(100), ended).await;
        }
    }
}

/// Sets a run's cancel flag when dropped while armed (a sync caller that hung up).
struct CancelOnDrop(Option<Arc<Flags>>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(flags) = &self.0 {
            flags.cancel.store(true, Ordering::SeqCst);
        }
    }
}

/// Run blocking work (the store, the jail) off the async threads.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)
}
