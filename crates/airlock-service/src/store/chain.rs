//! The audit log's hash chain, apart from any database: each record's hash covers its
//! contents and the hash of the record before, so a record altered or removed breaks the
//! chain there. Every store hashes and verifies with these functions, so the same log
//! verifies whichever store holds it.

use chrono::{DateTime, SecondsFormat, Utc};
use sha2::{Digest, Sha256};

use super::{AuditEntry, AuditRecord, ChainReport};

/// The `prev_hash` of the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A time as stored and hashed: RFC 3339, UTC, always nine fractional digits. One width for
/// all, so text order is time order, and every `DateTime<Utc>` comes back exactly.
pub fn timestamp(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// sha256 (lowercase hex) of the record's canonical form: a JSON object of every field of
/// `entry` except the code text (retention drops it; `code_sha256` stays), plus `seq` and
/// `prev_hash`.
pub fn record_hash(seq: u64, prev_hash: &str, entry: &AuditEntry) -> String {
    let canonical = canonical_form(seq, prev_hash, entry).to_string();
    format!("{:x}", Sha256::digest(canonical))
}

/// The keys are in alphabetical order, so the text is the same whether serde_json's maps
/// sort (the default) or keep insertion order (`preserve_order`). Changing a key or how a
/// value is written changes every hash: that would need a new chain, not an edit here.
fn canonical_form(seq: u64, prev_hash: &str, e: &AuditEntry) -> serde_json::Value {
    serde_json::json!({
        "caller": e.caller,
        "code_sha256": e.code_sha256,
        "completed_at": e.completed_at.as_ref().map(timestamp),
        "cpu_time_seconds": float(e.cpu_time_seconds),
        "created_at": timestamp(&e.created_at),
        "duration": float(e.duration),
        "env": e.env,
        "id": e.id,
        "kind": e.kind,
        "language": e.language,
        "limits": e.limits,
        "memory_used_mb": float(e.memory_used_mb),
        "prev_hash": prev_hash,
        "reason": e.reason,
        "seq": seq,
        "started_at": e.started_at.as_ref().map(timestamp),
        "status": e.status,
        "verdict": e.verdict,
    })
}

/// -0.0 as 0.0: SQLite keeps an integral REAL as an integer, so a stored -0.0 comes back
/// as 0.0, and both must hash alike. (Adding 0.0 changes nothing else.)
fn float(value: f64) -> f64 {
    value + 0.0
}

/// Walks `records` (in seq order) and reports the first break: a seq missing, a
/// `prev_hash` that is not the previous record's hash, a hash that is not the record's.
/// Then `head`, the (seq, hash) the store wrote with the newest record, shows whether
/// records were removed from the end or the newest one rewritten. An error reading a
/// record ends the walk with that error.
pub fn verify<E>(
    records: impl IntoIterator<Item = Result<AuditRecord, E>>,
    head: Option<(u64, String)>,
) -> Result<ChainReport, E> {
    let mut checked = 0;
    let mut last = (0, GENESIS_HASH.to_owned());
    for record in records {
        let record = record?;
        checked += 1;
        if let Some(broken) = link_break(&last, &record) {
            return Ok(ChainReport {
                records: checked,
                broken: Some(broken),
            });
        }
        last = (record.seq, record.hash);
    }
    Ok(ChainReport {
        records: checked,
        broken: head_break(&last, head),
    })
}

/// What is wrong with `record` following `last` (seq, hash), if anything.
fn link_break(
    (last_seq, last_hash): &(u64, String),
    record: &AuditRecord,
) -> Option<(u64, String)> {
    let seq = last_seq + 1;
    if record.seq != seq {
        return Some((seq, format!("record {seq} is missing (removed)")));
    }
    if record.prev_hash != *last_hash {
        let before = match last_seq {
            0 => "the start of the chain".to_owned(),
            n => format!("record {n}"),
        };
        let message = format!(
            "record {seq}: its prev_hash does not match {before} (a record was altered or removed)"
        );
        return Some((seq, message));
    }
    if record_hash(seq, &record.prev_hash, &record.entry) != record.hash {
        let message = format!("record {seq} was altered: its hash does not match its contents");
        return Some((seq, message));
    }
    None
}

/// What the head says about the end of a chain whose last record is `last` (seq, hash).
fn head_break((seq, hash): &(u64, String), head: Option<(u64, String)>) -> Option<(u64, String)> {
    let Some((head_seq, head_hash)) = head else {
        let message = "the chain's head is missing (it is written with every record)";
        return (*seq > 0).then(|| (*seq, message.to_owned()));
    };
    if head_seq > *seq {
        return Some((seq + 1, format!("records after {seq} were removed")));
    }
    if head_seq < *seq {
        let added = head_seq + 1;
        let message =
            format!("record {added} was not appended by the store (its head ends at {head_seq})");
        return Some((added, message));
    }
    (head_hash != *hash).then(|| {
        let message = format!("the newest record ({seq}) was altered: the head holds another hash");
        (*seq, message)
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::JobKind;

    /// A fixed time plus `secs`, with nanoseconds (to show they survive storage).
    pub(crate) fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 123_456_789).unwrap()
    }

    /// An entry for job `id` with `status`, created at `at(secs)`, its code still held.
    pub(crate) fn entry(id: &str, status: &str, secs: i64) -> AuditEntry {
        AuditEntry {
            id: id.to_owned(),
            kind: JobKind::Async,
            caller: "alice".to_owned(),
            created_at: at(secs),
            started_at: Some(at(secs + 1)),
            completed_at: Some(at(secs + 2)),
            language: "python".to_owned(),
            env: Some("default".to_owned()),
            code_sha256: format!("{:064x}", secs),
            code: Some(format!("print({secs})")),
            verdict: Some("safe".to_owned()),
            limits: serde_json::json!({ "timeout": 30, "max_memory_mb": 512, "max_cpu_percent": 50.5 }),
            status: status.to_owned(),
            reason: None,
            duration: 0.1 + 0.2,
            cpu_time_seconds: 0.25,
            memory_used_mb: 12.0,
        }
    }

    #[test]
    fn the_hash_covers_every_field_but_the_code_text() {
        let base = entry("job-1", "completed", 0);
        let hash = record_hash(1, GENESIS_HASH, &base);
        assert_eq!(hash.len(), 64);
        assert!(hash
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        let without_code = AuditEntry {
            code: None,
            ..base.clone()
        };
        assert_eq!(record_hash(1, GENESIS_HASH, &without_code), hash);

        let changes: [fn(&mut AuditEntry); 17] = [
            |e| e.id.push('x'),
            |e| e.kind = JobKind::Sync,
            |e| e.caller.push('x'),
            |e| e.created_at += chrono::Duration::nanoseconds(1),
            |e| e.started_at = None,
            |e| e.completed_at = None,
            |e| e.language.push('x'),
            |e| e.env = None,
            |e| e.code_sha256.push('x'),
            |e| e.verdict = None,
            |e| e.limits["timeout"] = 31.into(),
            |e| e.status.push('x'),
            |e| e.reason = Some(String::new()),
            |e| e.duration += 1e-9,
            |e| e.cpu_time_seconds = 0.0,
            |e| e.memory_used_mb = 13.0,
            |e| e.limits = serde_json::Value::Null,
        ];
        for (i, change) in changes.iter().enumerate() {
            let mut changed = base.clone();
            change(&mut changed);
            assert_ne!(record_hash(1, GENESIS_HASH, &changed), hash, "change {i}");
        }
        assert_ne!(record_hash(2, GENESIS_HASH, &base), hash);
        assert_ne!(record_hash(1, &"1".repeat(64), &base), hash);
    }

    #[test]
    fn timestamps_have_one_width_and_come_back_exactly() {
        let times = [
            DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap(),
            DateTime::from_timestamp(1_700_000_000, 1_000).unwrap(),
        ];
        for time in times {
            let text = timestamp(&time);
            assert_eq!(text.len(), "2023-11-14T22:13:20.000000000Z".len(), "{text}");
            let back = DateTime::parse_from_rfc3339(&text).unwrap();
            assert_eq!(back.with_timezone(&Utc), time);
        }
    }

    #[test]
    fn limits_with_any_float_hash_alike_after_a_trip_through_json_text() {
        // serde_json's default float parser can be one ulp off; the workspace enables
        // `float_roundtrip`, without which stored limits would stop verifying.
        let values = [
            0.1 + 0.2,
            1.947_700_395_895_162e-169,
            12.345,
            f64::MAX,
            5e-324,
        ];
        for value in values {
            let limits = serde_json::json!({ "max_cpu_percent": value });
            let back: serde_json::Value = serde_json::from_str(&limits.to_string()).unwrap();
            assert_eq!(back.to_string(), limits.to_string());
        }
    }

    #[test]
    fn negative_zero_hashes_as_zero() {
        assert_eq!(float(-0.0).to_bits(), 0.0f64.to_bits());
        assert_eq!(float(-1.5), -1.5);
    }
}
