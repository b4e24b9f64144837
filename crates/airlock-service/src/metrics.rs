//! `/metrics` in the Prometheus text format: executions by kind and status, their
//! durations, callback attempts by outcome, the queue, running executions and the pools.
//! Counted here by hand: a few counters do not need a metrics framework.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use crate::pools::EnvPoolReport;
use crate::store::{CallbackOutcome, JobKind};

/// Upper bounds (seconds) of the duration histogram's buckets.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0];

/// The outcomes of callback attempts, each listed even before it happens.
const CALLBACK_OUTCOMES: [&str; 3] = ["delivered", "retried", "failed"];

#[derive(Debug, Default)]
struct Counts {
    executions: BTreeMap<(String, String), u64>,
    callbacks: BTreeMap<&'static str, u64>,
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Debug, Default)]
pub struct Metrics {
    counts: Mutex<Counts>,
}

fn kind_name(kind: JobKind) -> &'static str {
    match kind {
        JobKind::Sync => "sync",
        JobKind::Async => "async",
        JobKind::Session => "session",
    }
}

fn outcome_name(outcome: &CallbackOutcome) -> &'static str {
    match outcome {
        CallbackOutcome::Delivered => "delivered",
        CallbackOutcome::Retry { .. } => "retried",
        CallbackOutcome::Failed { .. } => "failed",
    }
}

/// What the service is doing now, for the gauges.
#[derive(Clone, Copy, Debug, Default)]
pub struct Gauges {
    /// Async jobs waiting to run.
    pub queued: usize,
    /// Executions running.
    pub running: usize,
    /// Live sessions.
    pub sessions: usize,
}

impl Metrics {
    /// One execution ended.
    pub fn record(&self, kind: JobKind, status: &str, duration: f64) {
        let Ok(mut c) = self.counts.lock() else {
            return;
        };
        *c.executions
            .entry((kind_name(kind).into(), status.into()))
            .or_default() += 1;
        for (bucket, bound) in c.buckets.iter_mut().zip(BUCKETS) {
            if duration <= bound {
                *bucket += 1;
            }
        }
        c.count += 1;
        c.sum += duration;
    }

    /// One attempt at a callback ended.
    pub fn record_callback(&self, outcome: &CallbackOutcome) {
        if let Ok(mut c) = self.counts.lock() {
            *c.callbacks.entry(outcome_name(outcome)).or_default() += 1;
        }
    }

    /// The text of `/metrics`.
    pub fn render(&self, now: &Gauges, pools: &[EnvPoolReport]) -> String {
        let mut out = String::new();
        let Ok(c) = self.counts.lock() else {
            return out;
        };
        out.push_str("# HELP airlock_executions_total Executions ended, by kind and status.\n# TYPE airlock_executions_total counter\n");
        for ((kind, status), n) in &c.executions {
            let _ = writeln!(
                out,
                "airlock_executions_total{{kind=\"{kind}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str("# HELP airlock_execution_duration_seconds Wall time of the code.\n# TYPE airlock_execution_duration_seconds histogram\n");
        for (n, bound) in c.buckets.iter().zip(BUCKETS) {
            let _ = writeln!(
                out,
                "airlock_execution_duration_seconds_bucket{{le=\"{bound}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "airlock_execution_duration_seconds_bucket{{le=\"+Inf\"}} {}",
            c.count
        );
        let _ = writeln!(out, "airlock_execution_duration_seconds_sum {}", c.sum);
        let _ = writeln!(out, "airlock_execution_duration_seconds_count {}", c.count);
        out.push_str("# HELP airlock_callbacks_total Callback attempts, by outcome (retried: failed, to be tried again).\n# TYPE airlock_callbacks_total counter\n");
        for outcome in CALLBACK_OUTCOMES {
            let n = c.callbacks.get(outcome).copied().unwrap_or(0);
            let _ = writeln!(out, "airlock_callbacks_total{{outcome=\"{outcome}\"}} {n}");
        }
        for (name, help, value) in [
            (
                "airlock_queue_depth",
                "Async jobs waiting to run.",
                now.queued,
            ),
            (
                "airlock_running_executions",
                "Executions running now.",
                now.running,
            ),
            ("airlock_sessions", "Live sessions.", now.sessions),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        out.push_str("# HELP airlock_pool_sandboxes Pooled sandboxes by environment and state.\n# TYPE airlock_pool_sandboxes gauge\n");
        for p in pools {
            for (state, n) in [
                ("ready", p.status.ready),
                ("starting", p.status.starting),
                ("in_use", p.status.in_use),
            ] {
                let _ = writeln!(
                    out,
                    "airlock_pool_sandboxes{{env=\"{}\",state=\"{state}\"}} {n}",
                    p.env
                );
            }
        }
        out.push_str("# HELP airlock_pool_failures_total Pooled sandboxes that could not be made or died waiting.\n# TYPE airlock_pool_failures_total counter\n");
        for p in pools {
            let _ = writeln!(
                out,
                "airlock_pool_failures_total{{env=\"{}\"}} {}",
                p.env, p.status.failures
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_attempts_are_counted_by_outcome() {
        let metrics = Metrics::default();
        let zero = metrics.render(&Gauges::default(), &[]);
        for outcome in CALLBACK_OUTCOMES {
            let line = format!("airlock_callbacks_total{{outcome=\"{outcome}\"}} 0\n");
            assert!(zero.contains(&line), "{zero}");
        }
        let retry = CallbackOutcome::Retry {
            error: "refused".into(),
            next_at: chrono::Utc::now(),
        };
        let failed = CallbackOutcome::Failed {
            error: "refused".into(),
        };
        for outcome in [&retry, &retry, &CallbackOutcome::Delivered, &retry, &failed] {
            metrics.record_callback(outcome);
        }
        let text = metrics.render(&Gauges::default(), &[]);
        for (outcome, n) in [("delivered", 1), ("retried", 3), ("failed", 1)] {
            let line = format!("airlock_callbacks_total{{outcome=\"{outcome}\"}} {n}\n");
            assert!(text.contains(&line), "{text}");
        }
        assert!(text.contains("# TYPE airlock_callbacks_total counter\n"));
    }
}
