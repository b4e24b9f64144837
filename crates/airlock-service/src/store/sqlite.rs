//! The SQLite store: one file in the data dir, so accepted jobs and the audit log outlive
//! the process with no database server to run. One connection behind a mutex (SQLite runs
//! one writer at a time anyway); WAL, so that another process reading the file (an audit
//! export, a backup) does not stall the service.

use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSqlOutput, Value, ValueRef};
use rusqlite::{
    params, params_from_iter, Connection, OptionalExtension, Params, Row, ToSql, Transaction,
    TransactionBehavior,
};

use super::chain::{self, timestamp};
use super::{
    AuditEntry, AuditFilter, AuditRecord, Callback, CallbackOutcome, CallbackState, ChainReport,
    Job, JobKind, JobState, Store, StoreError,
};

/// The schema, one script per version; `PRAGMA user_version` says how many are applied.
/// Only ever append: a database that applied a script must never see it change.
const MIGRATIONS: &[&str] = &[
    r"
CREATE TABLE jobs (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    caller TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'final')),
    request TEXT NOT NULL,
    result TEXT,
    idempotency_key TEXT,
    callback_url TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX jobs_idempotency ON jobs (caller, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_state ON jobs (state);

CREATE TABLE audit (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    caller TEXT NOT NULL,
    created_at TEXT NOT NULL,
    started_at TEXT,
    completed_at TEXT,
    language TEXT NOT NULL,
    env TEXT,
    code_sha256 TEXT NOT NULL,
    code TEXT,
    verdict TEXT,
    limits TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    duration REAL NOT NULL,
    cpu_time_seconds REAL NOT NULL,
    memory_used_mb REAL NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_caller ON audit (caller);
CREATE INDEX audit_status ON audit (status);
CREATE INDEX audit_created_at ON audit (created_at);

-- The newest record's seq and hash, written with each record: without it, deleting the
-- newest records would leave a shorter chain that still verifies.
CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL
);
",
    r"
-- The callback owed for a final job with a callback_url, queued in the transaction that
-- makes the job final, so that a restart delivers what a stop or crash interrupted.
CREATE TABLE callbacks (
    job_id TEXT PRIMARY KEY NOT NULL REFERENCES jobs (id),
    url TEXT NOT NULL,
    -- Attempts made so far.
    attempts INTEGER NOT NULL CHECK (attempts >= 0),
    -- When the next attempt is due (while pending).
    next_at TEXT NOT NULL,
    -- Why the latest failed attempt failed (kept once delivered).
    last_error TEXT,
    state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    updated_at TEXT NOT NULL
);
CREATE INDEX callbacks_due ON callbacks (next_at) WHERE state = 'pending';
",
];

const JOB_COLUMNS: &str = "id, kind, caller, state, request, result, idempotency_key, \
                           callback_url, created_at, updated_at";
const AUDIT_COLUMNS: &str = "seq, id, kind, caller, created_at, started_at, completed_at, \
                             language, env, code_sha256, code, verdict, limits, status, \
                             reason, duration, cpu_time_seconds, memory_used_mb, prev_hash, hash";

/// Audit records listed when the filter asks for 0, and the most it may ask for.
const DEFAULT_PAGE: usize = 50;
const MAX_PAGE: usize = 1000;

/// The default store: one SQLite file in the data dir.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens (creating it and its directory if missing) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Database(format!("creating {}: {e}", dir.display())))?;
        }
        Self::set_up(Connection::open(path).map_err(db)?)
    }

    /// A private database that lives as long as the store (for tests).
    pub fn open_in_memory() -> Result<SqliteStore, StoreError> {
        Self::set_up(Connection::open_in_memory().map_err(db)?)
    }

    fn set_up(mut conn: Connection) -> Result<SqliteStore, StoreError> {
        conn.busy_timeout(Duration::from_secs(5)).map_err(db)?;
        // WAL with synchronous=NORMAL: a commit has reached the WAL file (the kernel's page
        // cache) when it returns, so an accepted job survives the process being killed
        // (kill -9, OOM, panic=abort); only an OS crash or power loss can take the latest
        // commits, never leaving the file inconsistent. FULL would add an fsync per commit
        // to cover that too. (An in-memory database keeps its own journal.)
        let pragmas = [
            ("journal_mode", "WAL"),
            ("synchronous", "NORMAL"),
            ("foreign_keys", "ON"),
        ];
        for (pragma, value) in pragmas {
            conn.pragma_update(None, pragma, value).map_err(db)?;
        }
        migrate(&mut conn, MIGRATIONS)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
    }

    /// Runs `f` in one transaction, committed if it returns Ok, rolled back otherwise.
    fn run<T>(
        &self,
        behavior: TransactionBehavior,
        f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        // A panic while the lock was held left no transaction open (dropping one rolls it
        // back), so the connection is still sound.
        let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let tx = conn.transaction_with_behavior(behavior).map_err(db)?;
        let value = f(&tx).map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(value)
    }

    /// A transaction that reads one snapshot of the database.
    fn read<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        self.run(TransactionBehavior::Deferred, f)
    }

    /// A transaction that writes: it takes the write lock at BEGIN, so it waits for another
    /// writer there rather than failing with SQLITE_BUSY once it has read.
    fn write<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        self.run(TransactionBehavior::Immediate, f)
    }

    /// Moves job `id` from state `from` to `to`; whether it was in `from`.
    fn transition(&self, id: &str, from: JobState, to: JobState) -> Result<bool, StoreError> {
        let sql = "UPDATE jobs SET state = ?3, updated_at = ?4 WHERE id = ?1 AND state = ?2";
        let now = timestamp(&Utc::now());
        self.write(|tx| tx.execute(sql, params![id, from, to, now]))
            .map(|changed| changed > 0)
    }
}

/// The job `caller` submitted with idempotency key `key`, if any.
fn idempotent(
    tx: &rusqlite::Transaction<'_>,
    caller: &str,
    key: &str,
) -> rusqlite::Result<Option<Job>> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE caller = ?1 AND idempotency_key = ?2");
    tx.query_row(&sql, params![caller, key], job_from_row)
        .optional()
}

impl Store for SqliteStore {
    fn insert_job(&self, job: &Job) -> Result<(Job, bool), StoreError> {
        self.write(|tx| {
            if let Some(key) = &job.idempotency_key {
                if let Some(first) = idempotent(tx, &job.caller, key)? {
                    return Ok((first, false));
                }
            }
            tx.execute(
                "INSERT INTO jobs (id, kind, caller, state, request, result, idempotency_key, \
                 callback_url, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    job.id,
                    job.kind,
                    job.caller,
                    job.state,
                    job.request.to_string(),
                    job.result.as_ref().map(ToString::to_string),
                    job.idempotency_key,
                    job.callback_url,
                    timestamp(&job.created_at),
                    timestamp(&job.updated_at),
                ],
            )?;
            Ok((job.clone(), true))
        })
    }

    fn find_idempotent(&self, caller: &str, key: &str) -> Result<Option<Job>, StoreError> {
        self.read(|tx| idempotent(tx, caller, key))
    }

    fn get_job(&self, id: &str) -> Result<Option<Job>, StoreError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1");
        self.read(|tx| tx.query_row(&sql, [id], job_from_row).optional())
    }

    fn start_job(&self, id: &str) -> Result<bool, StoreError> {
        self.transition(id, JobState::Pending, JobState::Running)
    }

    fn requeue_job(&self, id: &str) -> Result<(), StoreError> {
        self.transition(id, JobState::Running, JobState::Pending)
            .map(drop)
    }

    fn finish_job(
        &self,
        id: &str,
        result: &serde_json::Value,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE jobs SET state = ?2, result = ?3, updated_at = ?4 \
                   WHERE id = ?1 AND state <> ?2";
        let queue = "INSERT INTO callbacks (job_id, url, attempts, next_at, state, updated_at) \
                     SELECT id, callback_url, 0, ?2, ?3, ?2 FROM jobs \
                     WHERE id = ?1 AND callback_url IS NOT NULL";
        let now = timestamp(&Utc::now());
        self.write(|tx| {
            if tx.execute(sql, params![id, JobState::Final, result.to_string(), now])? == 0 {
                return Ok(false);
            }
            append_audit(tx, audit)?;
            tx.execute(queue, params![id, now, CallbackState::Pending])?;
            Ok(true)
        })
    }

    fn unfinished_jobs(&self) -> Result<Vec<Job>, StoreError> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE state IN (?1, ?2) ORDER BY created_at, id"
        );
        let states = params![JobState::Pending, JobState::Running];
        self.read(|tx| all(tx, &sql, states, job_from_row))
    }

    fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError> {
        let (conditions, mut args) = audit_conditions(filter);
        args.push(Value::Integer(page_size(filter.limit) as i64));
        let sql =
            format!("SELECT {AUDIT_COLUMNS} FROM audit{conditions} ORDER BY seq DESC LIMIT ?");
        self.read(|tx| all(tx, &sql, params_from_iter(args), audit_from_row))
    }

    fn verify_audit(&self) -> Result<ChainReport, StoreError> {
        let sql = format!("SELECT {AUDIT_COLUMNS} FROM audit ORDER BY seq");
        self.read(|tx| {
            let head = head(tx)?;
            let mut stmt = tx.prepare(&sql)?;
            let records = stmt.query_map([], audit_from_row)?;
            chain::verify(records, head)
        })
    }

    fn purge_code(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let sql = "UPDATE audit SET code = NULL \
                   WHERE code IS NOT NULL AND COALESCE(completed_at, created_at) < ?1";
        self.write(|tx| tx.execute(sql, [timestamp(&before)]))
            .map(|purged| purged as u64)
    }

    fn due_callbacks(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Callback>, StoreError> {
        let sql = "SELECT c.job_id, c.url, c.attempts, j.result \
                   FROM callbacks c JOIN jobs j ON j.id = c.job_id \
                   WHERE c.state = ?1 AND c.next_at <= ?2 \
                   ORDER BY c.next_at, c.job_id LIMIT ?3";
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let args = params![CallbackState::Pending, timestamp(&now), limit];
        self.read(|tx| all(tx, sql, args, callback_from_row))
    }

    fn next_callback_at(&self, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, StoreError> {
        let sql = "SELECT min(next_at) FROM callbacks WHERE state = ?1 AND next_at > ?2";
        let args = params![CallbackState::Pending, timestamp(&now)];
        self.read(|tx| tx.query_row(sql, args, |row| row.get::<_, Option<Time>>(0)))
            .map(|next| next.map(|time| time.0))
    }

    fn record_callback(&self, job_id: &str, outcome: &CallbackOutcome) -> Result<(), StoreError> {
        let (error, next_at) = match outcome {
            CallbackOutcome::Delivered => (None, None),
            CallbackOutcome::Retry { error, next_at } => (Some(error), Some(timestamp(next_at))),
            CallbackOutcome::Failed { error } => (Some(error), None),
        };
        let sql = "UPDATE callbacks SET attempts = attempts + 1, state = ?3, \
                   next_at = COALESCE(?4, next_at), last_error = COALESCE(?5, last_error), \
                   updated_at = ?6 WHERE job_id = ?1 AND state = ?2";
        let now = timestamp(&Utc::now());
        let args = params![
            job_id,
            CallbackState::Pending,
            outcome.state(),
            next_at,
            error,
            now
        ];
        self.write(|tx| tx.execute(sql, args)).map(drop)
    }
}

/// The one way a database error becomes a [`StoreError`].
fn db(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

/// Applies the `scripts` the database has not seen, each in its own transaction with the
/// `user_version` that records it. The version is read inside the transaction, so two
/// processes opening a new database at once apply each script once.
fn migrate(conn: &mut Connection, scripts: &[&str]) -> Result<(), StoreError> {
    let known = u32::try_from(scripts.len()).unwrap_or(u32::MAX);
    loop {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let found: u32 = tx
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(db)?;
        if found > known {
            return Err(StoreError::TooNew { found, known });
        }
        let Some(script) = scripts.get(found as usize) else {
            return Ok(());
        };
        let version = found + 1;
        tx.execute_batch(script)
            .and_then(|()| tx.pragma_update(None, "user_version", version))
            .and_then(|()| tx.commit())
            .map_err(|e| StoreError::Migration {
                version,
                message: e.to_string(),
            })?;
    }
}

/// Appends `entry` to the chain after the head, and moves the head to it. Built on the
/// head rather than on the last record, so that records removed from the end stay a gap
/// in the chain when the next one is appended.
fn append_audit(tx: &Transaction<'_>, entry: &AuditEntry) -> rusqlite::Result<()> {
    let (last_seq, last_hash) = head(tx)?.unwrap_or_else(|| (0, chain::GENESIS_HASH.to_owned()));
    let seq = last_seq + 1;
    let hash = chain::record_hash(seq, &last_hash, entry);
    tx.execute(
        "INSERT INTO audit (seq, id, kind, caller, created_at, started_at, completed_at, \
         language, env, code_sha256, code, verdict, limits, status, reason, duration, \
         cpu_time_seconds, memory_used_mb, prev_hash, hash) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, \
         ?18, ?19, ?20)",
        params![
            seq,
            entry.id,
            entry.kind,
            entry.caller,
            timestamp(&entry.created_at),
            entry.started_at.as_ref().map(timestamp),
            entry.completed_at.as_ref().map(timestamp),
            entry.language,
            entry.env,
            entry.code_sha256,
            entry.code,
            entry.verdict,
            entry.limits.to_string(),
            entry.status,
            entry.reason,
            entry.duration,
            entry.cpu_time_seconds,
            entry.memory_used_mb,
            last_hash,
            hash,
        ],
    )?;
    tx.execute(
        "INSERT OR REPLACE INTO audit_head (id, seq, hash) VALUES (1, ?1, ?2)",
        params![seq, hash],
    )?;
    Ok(())
}

/// The newest record's (seq, hash) as the last append left it; none before the first.
fn head(conn: &Connection) -> rusqlite::Result<Option<(u64, String)>> {
    conn.query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |row| {
        Ok((row.get(0)?, row.get(1)?))
    })
    .optional()
}

/// The WHERE clause (with its leading space, or empty) and arguments for `filter`.
fn audit_conditions(filter: &AuditFilter) -> (String, Vec<Value>) {
    let mut clauses = Vec::new();
    let mut args = Vec::new();
    if let Some(status) = &filter.status {
        clauses.push("status = ?");
        args.push(Value::Text(status.clone()));
    }
    if let Some(caller) = &filter.caller {
        clauses.push("caller = ?");
        args.push(Value::Text(caller.clone()));
    }
    if let Some(since) = &filter.since {
        clauses.push("created_at >= ?");
        args.push(Value::Text(timestamp(since)));
    }
    if let Some(before) = filter.before_seq {
        clauses.push("seq < ?");
        args.push(Value::Integer(i64::try_from(before).unwrap_or(i64::MAX)));
    }
    if clauses.is_empty() {
        return (String::new(), args);
    }
    (format!(" WHERE {}", clauses.join(" AND ")), args)
}

fn page_size(limit: usize) -> usize {
    match limit {
        0 => DEFAULT_PAGE,
        n => n.min(MAX_PAGE),
    }
}

/// Every row `sql` returns, as `f` reads it.
fn all<T, P: Params>(
    conn: &Connection,
    sql: &str,
    params: P,
    f: fn(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Vec<T>> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map(params, f)?;
    rows.collect()
}

fn job_from_row(row: &Row<'_>) -> rusqlite::Result<Job> {
    Ok(Job {
        id: row.get("id")?,
        kind: row.get("kind")?,
        caller: row.get("caller")?,
        state: row.get("state")?,
        request: row.get::<_, Json>("request")?.0,
        result: row.get::<_, Option<Json>>("result")?.map(|json| json.0),
        idempotency_key: row.get("idempotency_key")?,
        callback_url: row.get("callback_url")?,
        created_at: row.get::<_, Time>("created_at")?.0,
        updated_at: row.get::<_, Time>("updated_at")?.0,
    })
}

fn callback_from_row(row: &Row<'_>) -> rusqlite::Result<Callback> {
    Ok(Callback {
        job_id: row.get("job_id")?,
        url: row.get("url")?,
        attempts: row.get("attempts")?,
        result: row.get::<_, Json>("result")?.0,
    })
}

fn audit_from_row(row: &Row<'_>) -> rusqlite::Result<AuditRecord> {
    let entry = AuditEntry {
        id: row.get("id")?,
        kind: row.get("kind")?,
        caller: row.get("caller")?,
        created_at: row.get::<_, Time>("created_at")?.0,
        started_at: row.get::<_, Option<Time>>("started_at")?.map(|time| time.0),
        completed_at: row
            .get::<_, Option<Time>>("completed_at")?
            .map(|time| time.0),
        language: row.get("language")?,
        env: row.get("env")?,
        code_sha256: row.get("code_sha256")?,
        code: row.get("code")?,
        verdict: row.get("verdict")?,
        limits: row.get::<_, Json>("limits")?.0,
        status: row.get("status")?,
        reason: row.get("reason")?,
        duration: row.get("duration")?,
        cpu_time_seconds: row.get("cpu_time_seconds")?,
        memory_used_mb: row.get("memory_used_mb")?,
    };
    Ok(AuditRecord {
        seq: row.get("seq")?,
        entry,
        prev_hash: row.get("prev_hash")?,
        hash: row.get("hash")?,
    })
}

/// A JSON column, stored as its text.
struct Json(serde_json::Value);

impl FromSql for Json {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        serde_json::from_str(value.as_str()?)
            .map(Json)
            .map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}

/// A time column, stored as [`chain::timestamp`] writes it.
struct Time(DateTime<Utc>);

impl FromSql for Time {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        DateTime::parse_from_rfc3339(value.as_str()?)
            .map(|time| Time(time.with_timezone(&Utc)))
            .map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}

/// Stores an enum as the snake_case text serde gives it (the schema's CHECK uses it too).
macro_rules! text_enum {
    ($ty:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl ToSql for $ty {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(match self {
                    $($ty::$variant => $text,)+
                }))
            }
        }

        impl FromSql for $ty {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                match value.as_str()? {
                    $($text => Ok($ty::$variant),)+
                    other => Err(FromSqlError::Other(
                        format!("unknown {}: {other:?}", stringify!($ty)).into(),
                    )),
                }
            }
        }
    };
}

text_enum!(JobKind { Sync => "sync", Async => "async", Session => "session" });
text_enum!(JobState { Pending => "pending", Running => "running", Final => "final" });
text_enum!(CallbackState { Pending => "pending", Delivered => "delivered", Failed => "failed" });

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;
    use std::path::PathBuf;
    use std::process::{Command, Stdio};

    use serde::Serialize;
    use serde_json::json;

    use super::*;
    use crate::store::chain::tests::{at, entry};

    /// A directory of its own under the system's temp dir (not created: `open` must),
    /// removed with everything in it when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> TempDir {
            let name = format!("airlock-store-{}", uuid::Uuid::new_v4());
            TempDir(std::env::temp_dir().join(name))
        }

        fn db(&self) -> PathBuf {
            self.0.join("data").join("airlock.db")
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn mem() -> SqliteStore {
        SqliteStore::open_in_memory().unwrap()
    }

    /// A pending async job of alice's, created at `at(0)`.
    fn job(id: &str, key: Option<&str>) -> Job {
        Job {
            id: id.to_owned(),
            kind: JobKind::Async,
            caller: "alice".to_owned(),
            state: JobState::Pending,
            request: json!({ "code": "print(1)", "language": "python", "timeout": 2.5 }),
            result: None,
            idempotency_key: key.map(str::to_owned),
            callback_url: Some("https://example.com/hook".to_owned()),
            created_at: at(0),
            updated_at: at(0),
        }
    }

    /// The entry job `job-{i}` is finished with: odd ones completed, even ones failed;
    /// every third one bob's.
    fn nth(i: i64) -> AuditEntry {
        let status = if i % 2 == 1 { "completed" } else { "failed" };
        let caller = if i % 3 == 0 { "bob" } else { "alice" };
        AuditEntry {
            caller: caller.to_owned(),
            ..entry(&format!("job-{i}"), status, i)
        }
    }

    /// A store whose audit log holds records 1..=n, record i being `nth(i)`.
    fn seeded(n: i64) -> SqliteStore {
        let store = mem();
        (1..=n).for_each(|i| finish(&store, &nth(i)));
        store
    }

    /// Stores the job `entry` is about and finishes it with `entry`.
    fn finish(store: &SqliteStore, entry: &AuditEntry) {
        store.insert_job(&job(&entry.id, None)).unwrap();
        assert!(store
            .finish_job(&entry.id, &json!({ "status": entry.status }), entry)
            .unwrap());
    }

    fn raw(store: &SqliteStore, sql: &str) {
        store.conn.lock().unwrap().execute_batch(sql).unwrap();
    }

    fn pragma(store: &SqliteStore, name: &str) -> Value {
        let conn = store.conn.lock().unwrap();
        conn.query_row(&format!("PRAGMA {name}"), [], |row| row.get(0))
            .unwrap()
    }

    fn seqs(records: &[AuditRecord]) -> Vec<u64> {
        records.iter().map(|record| record.seq).collect()
    }

    fn list(store: &SqliteStore, filter: AuditFilter) -> Vec<u64> {
        seqs(&store.list_audit(&filter).unwrap())
    }

    fn intact(records: u64) -> ChainReport {
        ChainReport {
            records,
            broken: None,
        }
    }

    #[test]
    fn open_creates_the_directory_and_sets_up_the_file() {
        let dir = TempDir::new();
        let store = SqliteStore::open(&dir.db()).unwrap();
        assert!(dir.db().is_file());
        let expected = [
            ("journal_mode", Value::Text("wal".to_owned())),
            ("synchronous", Value::Integer(1)), // NORMAL
            ("foreign_keys", Value::Integer(1)),
            ("busy_timeout", Value::Integer(5000)),
            ("user_version", Value::Integer(MIGRATIONS.len() as i64)),
        ];
        for (name, value) in expected {
            assert_eq!(pragma(&store, name), value, "{name}");
        }
    }

    #[test]
    fn reopening_the_file_keeps_jobs_and_the_log() {
        let dir = TempDir::new();
        let store = SqliteStore::open(&dir.db()).unwrap();
        store.insert_job(&job("waiting", Some("k"))).unwrap();
        finish(&store, &nth(1));
        let jobs = store.unfinished_jobs().unwrap();
        let log = store.list_audit(&AuditFilter::default()).unwrap();
        drop(store);

        // Twice: the second open must find nothing to migrate either.
        for _ in 0..2 {
            let store = SqliteStore::open(&dir.db()).unwrap();
            assert_eq!(store.unfinished_jobs().unwrap(), jobs);
            assert_eq!(store.list_audit(&AuditFilter::default()).unwrap(), log);
            assert_eq!(store.verify_audit().unwrap(), intact(1));
            let user_version = Value::Integer(MIGRATIONS.len() as i64);
            assert_eq!(pragma(&store, "user_version"), user_version);
        }
    }

    const CRASH_DB: &str = "AIRLOCK_STORE_TEST_CRASH_DB";

    #[test]
    fn an_accepted_job_survives_kill_9() {
        if let Some(path) = std::env::var_os(CRASH_DB) {
            // The child: accept a job, then die at once: no destructor runs, the
            // connection is never closed, the WAL never checkpointed.
            let store = SqliteStore::open(Path::new(&path)).unwrap();
            store.insert_job(&job("accepted", None)).unwrap();
            let pid = std::process::id().to_string();
            let kill = Command::new("kill").args(["-9", &pid]).status();
            panic!("kill -9 {pid} returned: {kill:?}");
        }
        let dir = TempDir::new();
        let (_, test) = module_path!().split_once("::").unwrap();
        let status = Command::new(std::env::current_exe().unwrap())
            .args([
                &format!("{test}::an_accepted_job_survives_kill_9"),
                "--exact",
            ])
            .env(CRASH_DB, dir.db())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert_eq!(status.signal(), Some(9), "{status}");
        let wal = dir.db().with_extension("db-wal");
        assert!(
            std::fs::metadata(&wal).unwrap().len() > 0,
            "the job is in the WAL"
        );

        let store = SqliteStore::open(&dir.db()).unwrap();
        let accepted = store.get_job("accepted").unwrap();
        assert_eq!(accepted, Some(job("accepted", None)));
    }

    #[test]
    fn a_database_from_a_newer_airlock_is_refused() {
        let dir = TempDir::new();
        drop(SqliteStore::open(&dir.db()).unwrap());
        let conn = Connection::open(dir.db()).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let err = SqliteStore::open(&dir.db()).unwrap_err();
        let known = MIGRATIONS.len() as u32;
        assert!(
            matches!(err, StoreError::TooNew { found: 99, known: k } if k == known),
            "{err}"
        );
    }

    #[test]
    fn a_failing_migration_is_named_and_leaves_nothing_behind() {
        let mut conn = Connection::open_in_memory().unwrap();
        let scripts = [
            MIGRATIONS[0],
            "CREATE TABLE half (a); CREATE TABLE broken (",
        ];
        let err = migrate(&mut conn, &scripts).unwrap_err();
        assert!(
            matches!(&err, StoreError::Migration { version: 2, message } if !message.is_empty())
        );
        let version: u32 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, 1);
        let half = "SELECT count(*) FROM sqlite_master WHERE name = 'half'";
        let tables: i64 = conn.query_row(half, [], |row| row.get(0)).unwrap();
        assert_eq!(tables, 0);
    }

    #[test]
    fn a_job_comes_back_as_stored() {
        let store = mem();
        let stored = Job {
            kind: JobKind::Session,
            state: JobState::Running,
            result: Some(json!({ "stdout": "1\n", "duration": 0.1 + 0.2 })),
            idempotency_key: Some("key".to_owned()),
            updated_at: at(5),
            ..job("j", None)
        };
        assert_eq!(store.insert_job(&stored).unwrap(), (stored.clone(), true));
        assert_eq!(store.get_job("j").unwrap(), Some(stored.clone()));
        assert_eq!(store.get_job("missing").unwrap(), None);
        let same_id = Job {
            idempotency_key: None,
            ..stored
        };
        let err = store.insert_job(&same_id).unwrap_err();
        assert!(
            matches!(err, StoreError::Database(_)),
            "the same id twice: {err}"
        );
    }

    #[test]
    fn an_idempotency_key_returns_the_first_job() {
        let store = mem();
        let first = job("first", Some("k"));
        assert_eq!(store.insert_job(&first).unwrap(), (first.clone(), true));
        let again = Job {
            request: json!({ "code": "other" }),
            ..job("again", Some("k"))
        };
        assert_eq!(store.insert_job(&again).unwrap(), (first, false));
        assert_eq!(store.get_job("again").unwrap(), None);

        let bobs = Job {
            caller: "bob".to_owned(),
            ..job("bobs", Some("k"))
        };
        let keyless = [job("keyless-1", None), job("keyless-2", None)];
        for new in [&bobs, &keyless[0], &keyless[1]] {
            assert_eq!(
                store.insert_job(new).unwrap(),
                (new.clone(), true),
                "{}",
                new.id
            );
        }
    }

    #[test]
    fn start_and_requeue_move_a_job_only_from_their_state() {
        let store = mem();
        store.insert_job(&job("j", None)).unwrap();
        let state = || store.get_job("j").unwrap().unwrap().state;

        assert!(store.start_job("j").unwrap());
        assert_eq!(state(), JobState::Running);
        assert!(store.get_job("j").unwrap().unwrap().updated_at > at(0));
        assert!(!store.start_job("j").unwrap(), "already running");
        store.requeue_job("j").unwrap();
        assert_eq!(state(), JobState::Pending);
        store.requeue_job("j").unwrap();
        assert_eq!(
            state(),
            JobState::Pending,
            "requeueing a pending job changes nothing"
        );
        assert!(store.start_job("j").unwrap());

        assert!(store
            .finish_job("j", &json!({}), &entry("j", "completed", 0))
            .unwrap());
        assert!(!store.start_job("j").unwrap());
        store.requeue_job("j").unwrap();
        assert_eq!(state(), JobState::Final);

        assert!(!store.start_job("missing").unwrap());
        store.requeue_job("missing").unwrap();
    }

    #[test]
    fn finishing_twice_appends_one_record() {
        let store = mem();
        store.insert_job(&job("j", None)).unwrap();
        let first = entry("j", "completed", 0);
        assert!(store.finish_job("j", &json!({ "n": 1 }), &first).unwrap());
        let second = entry("j", "failed", 1);
        assert!(!store.finish_job("j", &json!({ "n": 2 }), &second).unwrap());
        assert!(!store.finish_job("missing", &json!({}), &second).unwrap());

        let finished = store.get_job("j").unwrap().unwrap();
        assert_eq!(
            (finished.state, finished.result),
            (JobState::Final, Some(json!({ "n": 1 })))
        );
        let log = store.list_audit(&AuditFilter::default()).unwrap();
        assert_eq!(seqs(&log), [1]);
        assert_eq!(log[0].entry, first);
        assert_eq!(log[0].prev_hash, chain::GENESIS_HASH);
        assert_eq!(
            log[0].hash,
            chain::record_hash(1, chain::GENESIS_HASH, &first)
        );
        assert!(store.unfinished_jobs().unwrap().is_empty());
    }

    #[test]
    fn a_refused_audit_record_leaves_the_job_unfinished() {
        let store = mem();
        store.insert_job(&job("j", None)).unwrap();
        // SQLite stores NaN as NULL, which the schema refuses.
        let bad = AuditEntry {
            duration: f64::NAN,
            ..entry("j", "completed", 0)
        };
        assert!(store.finish_job("j", &json!({}), &bad).is_err());
        assert_eq!(store.get_job("j").unwrap().unwrap(), job("j", None));
        assert_eq!(store.verify_audit().unwrap(), intact(0));

        assert!(store
            .finish_job("j", &json!({}), &entry("j", "completed", 0))
            .unwrap());
        assert_eq!(list(&store, AuditFilter::default()), [1]);
    }

    /// Job `id`'s callback row: (attempts, state, last_error, next_at); none if not queued.
    fn callback_row(
        store: &SqliteStore,
        id: &str,
    ) -> Option<(u32, CallbackState, Option<String>, DateTime<Utc>)> {
        let sql = "SELECT attempts, state, last_error, next_at FROM callbacks WHERE job_id = ?1";
        let conn = store.conn.lock().unwrap();
        conn.query_row(sql, [id], |row| {
            let next_at = row.get::<_, Time>(3)?.0;
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, next_at))
        })
        .optional()
        .unwrap()
    }

    fn due_ids(store: &SqliteStore, now: DateTime<Utc>) -> Vec<String> {
        let due = store.due_callbacks(now, 100).unwrap();
        due.into_iter().map(|c| c.job_id).collect()
    }

    #[test]
    fn finishing_a_job_with_a_callback_url_queues_its_callback() {
        let store = mem();
        store.insert_job(&job("hooked", None)).unwrap();
        let silent = Job {
            callback_url: None,
            ..job("silent", None)
        };
        store.insert_job(&silent).unwrap();
        let before = Utc::now();
        for id in ["hooked", "silent"] {
            let result = json!({ "id": id, "status": "completed" });
            assert!(store
                .finish_job(id, &result, &entry(id, "completed", 0))
                .unwrap());
        }
        assert!(!store
            .finish_job("hooked", &json!({}), &entry("hooked", "failed", 1))
            .unwrap());

        let (attempts, state, last_error, next_at) = callback_row(&store, "hooked").unwrap();
        assert_eq!(
            (attempts, state, last_error),
            (0, CallbackState::Pending, None)
        );
        assert!(
            next_at >= before && next_at <= Utc::now(),
            "due at once: {next_at}"
        );
        assert_eq!(
            callback_row(&store, "silent"),
            None,
            "no callback_url, no callback"
        );
        let due = store.due_callbacks(Utc::now(), 100).unwrap();
        let expected = Callback {
            job_id: "hooked".to_owned(),
            url: "https://example.com/hook".to_owned(),
            attempts: 0,
            result: json!({ "id": "hooked", "status": "completed" }),
        };
        assert_eq!(due, [expected]);
    }

    #[test]
    fn a_refused_callback_leaves_the_job_unfinished() {
        let store = mem();
        store.insert_job(&job("j", None)).unwrap();
        raw(
            &store,
            "CREATE TRIGGER refuse BEFORE INSERT ON callbacks \
             BEGIN SELECT RAISE(ABORT, 'refused'); END",
        );
        let err = store
            .finish_job("j", &json!({}), &entry("j", "completed", 0))
            .unwrap_err();
        assert!(err.to_string().contains("refused"), "{err}");
        assert_eq!(store.get_job("j").unwrap().unwrap(), job("j", None));
        assert_eq!(store.verify_audit().unwrap(), intact(0));

        raw(&store, "DROP TRIGGER refuse");
        assert!(store
            .finish_job("j", &json!({}), &entry("j", "completed", 0))
            .unwrap());
        assert_eq!(due_ids(&store, Utc::now()), ["j"]);
    }

    #[test]
    fn attempts_are_counted_until_delivered_or_given_up() {
        let store = mem();
        for id in ["delivered", "failed", "waiting"] {
            finish(&store, &entry(id, "completed", 0));
        }
        let now = Utc::now();
        assert_eq!(due_ids(&store, now), ["delivered", "failed", "waiting"]);
        assert_eq!(store.next_callback_at(now).unwrap(), None, "all are due");

        let later = now + chrono::Duration::seconds(2);
        let retry = |error: &str, next_at| CallbackOutcome::Retry {
            error: error.to_owned(),
            next_at,
        };
        store
            .record_callback("delivered", &retry("refused", later))
            .unwrap();
        store
            .record_callback("failed", &retry("500", later))
            .unwrap();
        assert_eq!(due_ids(&store, now), ["waiting"]);
        assert_eq!(store.next_callback_at(now).unwrap(), Some(later));
        assert_eq!(due_ids(&store, later), ["waiting", "delivered", "failed"]);
        assert_eq!(
            callback_row(&store, "failed").unwrap(),
            (1, CallbackState::Pending, Some("500".to_owned()), later)
        );

        store
            .record_callback("delivered", &CallbackOutcome::Delivered)
            .unwrap();
        let gave_up = CallbackOutcome::Failed {
            error: "timed out".to_owned(),
        };
        store.record_callback("failed", &gave_up).unwrap();
        assert_eq!(due_ids(&store, later), ["waiting"]);
        assert_eq!(store.next_callback_at(now).unwrap(), None);
        let delivered = (
            2,
            CallbackState::Delivered,
            Some("refused".to_owned()),
            later,
        );
        let failed = (
            2,
            CallbackState::Failed,
            Some("timed out".to_owned()),
            later,
        );
        assert_eq!(callback_row(&store, "delivered").unwrap(), delivered);
        assert_eq!(callback_row(&store, "failed").unwrap(), failed);

        // An ended callback stays as it ended; an unknown one is nothing to record.
        store
            .record_callback("delivered", &retry("late", later))
            .unwrap();
        store
            .record_callback("failed", &CallbackOutcome::Delivered)
            .unwrap();
        store
            .record_callback("missing", &CallbackOutcome::Delivered)
            .unwrap();
        assert_eq!(callback_row(&store, "delivered").unwrap(), delivered);
        assert_eq!(callback_row(&store, "failed").unwrap(), failed);
    }

    #[test]
    fn due_callbacks_come_earliest_first_up_to_the_limit() {
        let store = mem();
        for id in ["c", "a", "b"] {
            finish(&store, &entry(id, "completed", 0));
        }
        // "c" was queued first; "a" and "b" are pushed back, "a" furthest.
        let now = Utc::now();
        for (id, secs) in [("a", 2), ("b", 1)] {
            let next_at = now + chrono::Duration::seconds(secs);
            let outcome = CallbackOutcome::Retry {
                error: "refused".to_owned(),
                next_at,
            };
            store.record_callback(id, &outcome).unwrap();
        }
        let then = now + chrono::Duration::seconds(2);
        assert_eq!(due_ids(&store, then), ["c", "b", "a"]);
        let first_two = store.due_callbacks(then, 2).unwrap();
        let first_two: Vec<_> = first_two.iter().map(|c| c.job_id.as_str()).collect();
        assert_eq!(first_two, ["c", "b"]);
    }

    #[test]
    fn a_version_1_database_upgrades_and_keeps_its_jobs() {
        let dir = TempDir::new();
        std::fs::create_dir_all(dir.db().parent().unwrap()).unwrap();
        let mut conn = Connection::open(dir.db()).unwrap();
        migrate(&mut conn, &MIGRATIONS[..1]).unwrap();
        let insert = "INSERT INTO jobs (id, kind, caller, state, request, result, \
                      idempotency_key, callback_url, created_at, updated_at) \
                      VALUES (?1, 'async', 'alice', ?2, '{}', ?3, NULL, ?4, ?5, ?5)";
        let created = timestamp(&at(0));
        let rows = [
            ("waiting", "pending", None, Some("https://example.com/hook")),
            (
                "done",
                "final",
                Some("{\"n\":1}"),
                Some("https://example.com/hook"),
            ),
        ];
        for (id, state, result, url) in rows {
            conn.execute(insert, params![id, state, result, url, created])
                .unwrap();
        }
        drop(conn);

        let store = SqliteStore::open(&dir.db()).unwrap();
        assert_eq!(pragma(&store, "user_version"), Value::Integer(2));
        let waiting = store.get_job("waiting").unwrap().unwrap();
        assert_eq!(
            (waiting.state, waiting.callback_url.as_deref()),
            (JobState::Pending, Some("https://example.com/hook"))
        );
        let done = store.get_job("done").unwrap().unwrap();
        assert_eq!(
            (done.state, done.result),
            (JobState::Final, Some(json!({ "n": 1 })))
        );
        assert_eq!(
            callback_row(&store, "done"),
            None,
            "a job final before the upgrade had its callback from the process that ended it"
        );
        assert!(store
            .finish_job("waiting", &json!({}), &entry("waiting", "completed", 0))
            .unwrap());
        assert_eq!(due_ids(&store, Utc::now()), ["waiting"]);
    }

    #[test]
    fn unfinished_jobs_are_oldest_first() {
        let store = mem();
        let created = [("late", 3), ("done", 0), ("b", 2), ("early", 1), ("a", 2)];
        for (id, secs) in created {
            let created_at = at(secs);
            store
                .insert_job(&Job {
                    created_at,
                    ..job(id, None)
                })
                .unwrap();
        }
        store.start_job("b").unwrap();
        store
            .finish_job("done", &json!({}), &entry("done", "completed", 0))
            .unwrap();
        let ids: Vec<_> = store
            .unfinished_jobs()
            .unwrap()
            .into_iter()
            .map(|j| j.id)
            .collect();
        assert_eq!(ids, ["early", "a", "b", "late"]);
    }

    #[test]
    fn list_audit_filters_newest_first_and_pages() {
        let store = seeded(6);
        let filter = |f: fn(&mut AuditFilter)| {
            let mut filter = AuditFilter::default();
            f(&mut filter);
            filter
        };
        let cases: [(AuditFilter, &[u64]); 8] = [
            (AuditFilter::default(), &[6, 5, 4, 3, 2, 1]),
            (filter(|f| f.status = Some("failed".into())), &[6, 4, 2]),
            (filter(|f| f.caller = Some("bob".into())), &[6, 3]),
            (filter(|f| f.since = Some(at(4))), &[6, 5, 4]),
            (filter(|f| f.before_seq = Some(4)), &[3, 2, 1]),
            (filter(|f| (f.before_seq, f.limit) = (Some(4), 2)), &[3, 2]),
            (filter(|f| f.limit = 1), &[6]),
            (
                filter(|f| (f.status, f.caller) = (Some("completed".into()), Some("alice".into()))),
                &[5, 1],
            ),
        ];
        for (filter, expected) in cases {
            assert_eq!(list(&store, filter.clone()), expected, "{filter:?}");
        }
        let newest = &store.list_audit(&AuditFilter::default()).unwrap()[0];
        assert_eq!(newest.entry, nth(6));
    }

    #[test]
    fn page_size_defaults_to_50_and_stops_at_1000() {
        let sizes = [
            (0, 50),
            (1, 1),
            (1000, 1000),
            (1001, 1000),
            (usize::MAX, 1000),
        ];
        for (asked, given) in sizes {
            assert_eq!(page_size(asked), given, "{asked}");
        }
    }

    #[test]
    fn the_chain_verifies_after_appends() {
        assert_eq!(mem().verify_audit().unwrap(), intact(0));
        assert_eq!(seeded(1).verify_audit().unwrap(), intact(1));
        assert_eq!(seeded(20).verify_audit().unwrap(), intact(20));
    }

    #[test]
    fn awkward_floats_hash_alike_after_storage() {
        let store = mem();
        let floats = [
            -0.0,
            5.0,
            0.1 + 0.2,
            1e-300,
            5e-324,
            f64::MAX,
            f64::INFINITY,
        ];
        for (i, float) in floats.into_iter().enumerate() {
            let entry = AuditEntry {
                duration: float,
                cpu_time_seconds: -float,
                memory_used_mb: float / 3.0,
                limits: json!({ "max_cpu_percent": float / 7.0 }),
                ..nth(i as i64 + 1)
            };
            finish(&store, &entry);
        }
        assert_eq!(store.verify_audit().unwrap(), intact(floats.len() as u64));
    }

    #[test]
    fn tampering_is_found_at_the_record_it_touched() {
        // Someone who knows the scheme rewrites record 5 and its hash: only the head shows.
        let reference = seeded(5);
        let newest = &reference.list_audit(&AuditFilter::default()).unwrap()[0];
        let forged = AuditEntry {
            status: "forged".into(),
            ..newest.entry.clone()
        };
        let forged_hash = chain::record_hash(5, &newest.prev_hash, &forged);
        let forge =
            format!("UPDATE audit SET status = 'forged', hash = '{forged_hash}' WHERE seq = 5");

        let cases = [
            (
                "UPDATE audit SET status = 'completed' WHERE seq = 2",
                2,
                "record 2 was altered",
            ),
            (
                "UPDATE audit SET code_sha256 = 'x' WHERE seq = 1",
                1,
                "record 1 was altered",
            ),
            (
                "DELETE FROM audit WHERE seq = 3",
                3,
                "record 3 is missing (removed)",
            ),
            (
                "DELETE FROM audit WHERE seq = 1",
                1,
                "record 1 is missing (removed)",
            ),
            (
                "DELETE FROM audit WHERE seq = 5",
                5,
                "records after 4 were removed",
            ),
            (
                "DELETE FROM audit WHERE seq >= 3",
                3,
                "records after 2 were removed",
            ),
            (
                "UPDATE audit SET prev_hash = hash WHERE seq = 4",
                4,
                "record 4: its prev_hash does not match record 3",
            ),
            (
                "UPDATE audit SET prev_hash = hash WHERE seq = 1",
                1,
                "does not match the start of the chain",
            ),
            (&forge, 5, "the newest record (5) was altered"),
            ("DELETE FROM audit_head", 5, "head is missing"),
            (
                "UPDATE audit_head SET seq = 4",
                5,
                "record 5 was not appended by the store",
            ),
        ];
        for (sql, seq, found) in cases {
            let store = seeded(5);
            assert_eq!(store.verify_audit().unwrap(), intact(5), "before: {sql}");
            raw(&store, sql);
            let report = store.verify_audit().unwrap();
            let (at_seq, message) = report.broken.unwrap_or_else(|| panic!("missed: {sql}"));
            assert_eq!(at_seq, seq, "{sql}: {message}");
            assert!(message.contains(found), "{sql}: {message}");
        }
    }

    #[test]
    fn a_removal_stays_visible_after_the_next_append() {
        let store = seeded(5);
        raw(&store, "DELETE FROM audit WHERE seq = 5");
        finish(&store, &nth(6));
        let broken = store.verify_audit().unwrap().broken;
        assert_eq!(
            broken,
            Some((5, "record 5 is missing (removed)".to_owned()))
        );
    }

    #[test]
    fn purging_code_keeps_hashes_and_the_chain() {
        // Record i completed at at(i + 2); record 5 never completed and was created at at(1).
        let store = seeded(4);
        let never_completed = AuditEntry {
            completed_at: None,
            ..entry("job-5", "cancelled", 1)
        };
        finish(&store, &never_completed);
        let before = store.list_audit(&AuditFilter::default()).unwrap();

        assert_eq!(store.purge_code(at(5)).unwrap(), 3);
        assert_eq!(store.purge_code(at(5)).unwrap(), 0);
        let after = store.list_audit(&AuditFilter::default()).unwrap();
        for (old, new) in before.iter().zip(&after) {
            let purged = [1, 2, 5].contains(&new.seq);
            assert_eq!(new.entry.code.is_none(), purged, "record {}", new.seq);
            let kept = AuditEntry {
                code: None,
                ..old.entry.clone()
            };
            assert_eq!(
                AuditEntry {
                    code: None,
                    ..new.entry.clone()
                },
                kept
            );
            assert_eq!(new.hash, old.hash);
        }
        assert_eq!(store.verify_audit().unwrap(), intact(5));
    }

    #[test]
    fn enums_are_stored_as_serde_names_them() {
        fn check<T: ToSql + FromSql + Serialize + PartialEq + std::fmt::Debug>(value: T) {
            let name = serde_json::to_value(&value).unwrap();
            let name = name.as_str().unwrap();
            let stored = value.to_sql().unwrap();
            assert!(
                matches!(stored, ToSqlOutput::Borrowed(ValueRef::Text(t)) if t == name.as_bytes())
            );
            assert_eq!(
                T::column_result(ValueRef::Text(name.as_bytes())).unwrap(),
                value
            );
        }
        [JobKind::Sync, JobKind::Async, JobKind::Session]
            .into_iter()
            .for_each(check);
        [JobState::Pending, JobState::Running, JobState::Final]
            .into_iter()
            .for_each(check);
        [
            CallbackState::Pending,
            CallbackState::Delivered,
            CallbackState::Failed,
        ]
        .into_iter()
        .for_each(check);
        assert!(JobState::column_result(ValueRef::Text(b"done")).is_err());
    }
}
