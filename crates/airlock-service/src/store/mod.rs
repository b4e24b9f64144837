//! Where the service keeps what must outlive it: execution jobs (so an accepted async job
//! survives a restart), the callbacks still owed for final jobs (so a restart delivers
//! them), and the audit log (append-only, hash-chained).
//!
//! Behind the [`Store`] trait so another database can follow; [`sqlite::SqliteStore`] is
//! the default, one file in the data dir, with versioned migrations.

pub mod chain;
pub mod sqlite;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store: {0}")]
    Database(String),
    #[error("store: migration {version}: {message}")]
    Migration { version: u32, message: String },
    #[error(
        "store: the database is from a newer airlock (schema {found}, this one knows {known})"
    )]
    TooNew { found: u32, known: u32 },
}

/// How a job was submitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// `POST /api/code/execute`: the caller waits on the connection.
    Sync,
    /// `POST /api/code/execute/async`: run by the workers, polled by the caller.
    Async,
    /// A call in a session.
    Session,
}

/// Where a job is in its life. Final states never change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Pending,
    Running,
    /// Ended: its `result` holds the ExecutionResult (whose own status says how).
    Final,
}

/// An execution as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: String,
    pub kind: JobKind,
    /// The tenant of the API key that submitted it ("local" without keys).
    pub caller: String,
    pub state: JobState,
    /// The request body as accepted (JSON), enough to run it again after a restart.
    pub request: serde_json::Value,
    /// The ExecutionResult (JSON), once final.
    pub result: Option<serde_json::Value>,
    pub idempotency_key: Option<String>,
    pub callback_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A callback still to be delivered: the job's final result, to POST to `url`.
#[derive(Clone, Debug, PartialEq)]
pub struct Callback {
    pub job_id: String,
    pub url: String,
    /// Attempts made so far (0 before the first).
    pub attempts: u32,
    /// The job's ExecutionResult (JSON).
    pub result: serde_json::Value,
}

/// Where a callback is. Delivered and failed never change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallbackState {
    /// Waiting for its next attempt.
    Pending,
    /// The receiver took it (2xx).
    Delivered,
    /// Given up after the last attempt.
    Failed,
}

/// How an attempt at a callback went, as [`Store::record_callback`] keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallbackOutcome {
    Delivered,
    /// Refused or unreachable; try again at `next_at`.
    Retry {
        error: String,
        next_at: DateTime<Utc>,
    },
    /// Refused or unreachable, and that was the last attempt.
    Failed {
        error: String,
    },
}

impl CallbackOutcome {
    /// The state the callback is in after this outcome.
    pub fn state(&self) -> CallbackState {
        match self {
            CallbackOutcome::Delivered => CallbackState::Delivered,
            CallbackOutcome::Retry { .. } => CallbackState::Pending,
            CallbackOutcome::Failed { .. } => CallbackState::Failed,
        }
    }
}

/// One line of the audit log, as the caller of [`Store::finish_job`] gives it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// The execution's id.
    pub id: String,
    pub kind: JobKind,
    pub caller: String,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub language: String,
    pub env: Option<String>,
    pub code_sha256: String,
    /// The code itself; dropped after the retention period (the hash stays).
    pub code: Option<String>,
    /// The validation verdict: safe, warning, dangerous (none when the gate was off).
    pub verdict: Option<String>,
    /// The limits applied: timeout, max_memory_mb, max_cpu_percent, max_processes,
    /// output_limit.
    pub limits: serde_json::Value,
    pub status: String,
    pub reason: Option<String>,
    pub duration: f64,
    pub cpu_time_seconds: f64,
    pub memory_used_mb: f64,
}

/// A stored audit record: the entry, its place in the chain and the chain's hashes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditRecord {
    /// 1, 2, 3 … with no gaps.
    pub seq: u64,
    #[serde(flatten)]
    pub entry: AuditEntry,
    /// The hash of the record before (64 zeros for the first).
    pub prev_hash: String,
    /// sha256 of this record's canonical form, which includes `prev_hash` (not the code
    /// text, which retention may drop; its hash is in).
    pub hash: String,
}

/// Which audit records a listing wants, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub status: Option<String>,
    pub caller: Option<String>,
    pub since: Option<DateTime<Utc>>,
    /// Only records with a smaller seq (the cursor of the previous page).
    pub before_seq: Option<u64>,
    pub limit: usize,
}

/// What `verify` found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    /// Records checked.
    pub records: u64,
    /// The first break, if any: the seq and what is wrong with it.
    pub broken: Option<(u64, String)>,
}

/// What the service keeps. Every method is one transaction.
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Store a new job (state pending or running). With an idempotency key already used by
    /// the same caller, nothing is stored and the first job is returned: (job, false).
    fn insert_job(&self, job: &Job) -> Result<(Job, bool), StoreError>;
    /// The job `caller` submitted with idempotency key `key`, if any.
    fn find_idempotent(&self, caller: &str, key: &str) -> Result<Option<Job>, StoreError>;
    fn get_job(&self, id: &str) -> Result<Option<Job>, StoreError>;
    /// Pending -> running. False when the job is not pending (cancelled meanwhile).
    fn start_job(&self, id: &str) -> Result<bool, StoreError>;
    /// Running -> pending (a job interrupted by a shutdown or crash, to run again).
    fn requeue_job(&self, id: &str) -> Result<(), StoreError>;
    /// Make the job final with `result`, append `audit` to the log and, when the job has a
    /// `callback_url`, queue its callback (pending, due now), atomically: a final job is
    /// never without its callback. False (and nothing written) when the job was final
    /// already.
    fn finish_job(
        &self,
        id: &str,
        result: &serde_json::Value,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError>;
    /// Jobs pending or running, oldest first (what a restart must pick up).
    fn unfinished_jobs(&self) -> Result<Vec<Job>, StoreError>;
    /// Records matching `filter`, newest first.
    fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError>;
    /// Walk the whole chain and report the first record altered or removed.
    fn verify_audit(&self) -> Result<ChainReport, StoreError>;
    /// Drop the code text of records completed before `before` (the hash stays).
    fn purge_code(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Pending callbacks due by `now`, earliest first, at most `limit`, each with its
    /// job's result.
    fn due_callbacks(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Callback>, StoreError>;
    /// When the earliest pending callback not yet due at `now` is due; none when no other
    /// callback is waiting.
    fn next_callback_at(&self, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// Count an attempt at job `job_id`'s callback and keep how it went. Only a pending
    /// callback changes: a delivered or failed one stays as it ended.
    fn record_callback(&self, job_id: &str, outcome: &CallbackOutcome) -> Result<(), StoreError>;
}
