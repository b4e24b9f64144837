//! Delivering callbacks from the store, so that a restart loses none. A job made final
//! with a `callback_url` has its callback queued in the same transaction
//! ([`Store::finish_job`](crate::store::Store::finish_job)); this loop POSTs each one when
//! it is due, records every attempt, and at start carries on with whatever a stopped or
//! killed process left pending.
//!
//! Delivery is at least once: a service stopped after the receiver took a result but
//! before the attempt was recorded sends it again at the next start. The result's `id`
//! lets a receiver tell.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::{Id, JoinSet};

use crate::service::Service;
use crate::store::{Callback, CallbackOutcome, Store, StoreError};

/// Attempts before a callback is given up.
const ATTEMPTS: u32 = 5;
/// The wait after the first failed attempt, doubled after each next one: 1, 2, 4, 8 s.
const FIRST_WAIT: Duration = Duration::from_secs(1);
/// How long one attempt may take, connection to answer.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts under way at once; other due callbacks wait for one of them to end.
const IN_FLIGHT: usize = 32;
/// The wait before using the store again after it failed.
const STORE_RETRY: Duration = Duration::from_secs(1);

/// What becomes of a callback whose attempt number `attempt` (from 1) failed with
/// `error` at `now`.
fn after_failure(attempt: u32, error: String, now: DateTime<Utc>) -> CallbackOutcome {
    if attempt >= ATTEMPTS {
        return CallbackOutcome::Failed { error };
    }
    let wait = FIRST_WAIT * 2u32.pow(attempt.saturating_sub(1));
    CallbackOutcome::Retry {
        error,
        next_at: now + wait,
    }
}

/// Deliver callbacks until the process ends: those due now, then each as it falls due or
/// as [`Service::callback_queued`] says one was queued. Every attempt runs as its own
/// task, so a slow receiver holds up neither the others nor the job workers.
pub async fn run(service: Arc<Service>) {
    let client = match reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(client) => client,
        Err(e) => return tracing::error!("callbacks: no HTTP client, none will be sent: {e}"),
    };
    // The job each attempt under way is for.
    let mut in_flight: HashMap<Id, String> = HashMap::new();
    let mut attempts = JoinSet::new();
    loop {
        let queued = service.callback_queued.notified();
        let wait = match schedule(&service, &in_flight).await {
            Ok((due, next)) => {
                for callback in due {
                    let job_id = callback.job_id.clone();
                    let task = attempt(Arc::clone(&service), client.clone(), callback);
                    in_flight.insert(attempts.spawn(task).id(), job_id);
                }
                next.map(|at| (at - Utc::now()).to_std().unwrap_or_default())
            }
            Err(e) => {
                tracing::error!("callbacks: reading the store failed: {e}");
                Some(STORE_RETRY)
            }
        };
        let due_again = async {
            match wait {
                Some(wait) => tokio::time::sleep(wait).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = queued => {}
            () = due_again => {}
            Some(ended) = attempts.join_next_with_id() => {
                let id = match ended {
                    Ok((id, ())) => id,
                    Err(e) => {
                        tracing::error!("callbacks: an attempt ended abnormally: {e}");
                        e.id()
                    }
                };
                in_flight.remove(&id);
            }
        }
    }
}

/// The callbacks due now that no attempt is under way for (as many as may start), and
/// when the next one not yet due falls due.
async fn schedule(
    service: &Service,
    in_flight: &HashMap<Id, String>,
) -> Result<(Vec<Callback>, Option<DateTime<Utc>>), String> {
    let free = IN_FLIGHT.saturating_sub(in_flight.len());
    let busy: HashSet<String> = in_flight.values().cloned().collect();
    let now = Utc::now();
    with_store(service, move |store| {
        // Those under way are still pending and due: read past them.
        let due = store.due_callbacks(now, free + busy.len())?;
        let idle = due.into_iter().filter(|c| !busy.contains(&c.job_id));
        Ok((idle.take(free).collect(), store.next_callback_at(now)?))
    })
    .await
}

/// Run `f` on the store off the async threads; its error, or the task's, as text.
async fn with_store<T: Send + 'static>(
    service: &Service,
    f: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, String> {
    let store = Arc::clone(&service.store);
    match tokio::task::spawn_blocking(move || f(store.as_ref())).await {
        Ok(done) => done.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// One attempt at `callback`: POST the result, then count and record how it went.
async fn attempt(service: Arc<Service>, client: reqwest::Client, callback: Callback) {
    let Callback {
        job_id,
        url,
        attempts,
        result,
    } = callback;
    let attempt = attempts + 1;
    let outcome = match post(&client, &url, &result).await {
        Ok(()) => CallbackOutcome::Delivered,
        Err(error) => after_failure(attempt, error, Utc::now()),
    };
    match &outcome {
        CallbackOutcome::Delivered => {
            tracing::debug!("callback of job {job_id} to {url}: delivered (attempt {attempt})")
        }
        CallbackOutcome::Retry { error, next_at } => tracing::warn!(
            "callback of job {job_id} to {url}: attempt {attempt} of {ATTEMPTS}: {error}; \
             next at {next_at}"
        ),
        CallbackOutcome::Failed { error } => tracing::error!(
            "callback of job {job_id} to {url}: given up after {ATTEMPTS} attempts: {error}"
        ),
    }
    service.metrics.record_callback(&outcome);
    // Until recorded, the callback is still due in the store: keep it in flight and retry
    // the record, rather than let the loop post it again at once.
    loop {
        let (job_id, outcome) = (job_id.clone(), outcome.clone());
        let recorded = with_store(&service, move |store| {
            store.record_callback(&job_id, &outcome)
        });
        match recorded.await {
            Ok(()) => return,
            Err(e) => {
                tracing::error!("callback to {url}: attempt {attempt} could not be recorded: {e}");
                tokio::time::sleep(STORE_RETRY).await;
            }
        }
    }
}

/// POST `result` to `url`: Ok when the receiver answers 2xx, else what went wrong.
async fn post(
    client: &reqwest::Client,
    url: &str,
    result: &serde_json::Value,
) -> Result<(), String> {
    let response = client
        .post(url)
        .json(result)
        .send()
        .await
        .map_err(|e| with_causes(&e))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("answered {status}"))
    }
}

/// An error and the errors under it, "a: b: c": reqwest's own message leaves out why a
/// connection failed.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text = format!("{text}: {e}");
        cause = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_attempts_waiting_1_2_4_8_seconds_between_them() {
        let now = Utc::now();
        for (attempt, secs) in [(1, 1), (2, 2), (3, 4), (4, 8)] {
            let outcome = after_failure(attempt, "refused".into(), now);
            let next_at = now + chrono::Duration::seconds(secs);
            let expected = CallbackOutcome::Retry {
                error: "refused".into(),
                next_at,
            };
            assert_eq!(outcome, expected, "after attempt {attempt}");
        }
        let last = after_failure(ATTEMPTS, "refused".into(), now);
        let failed = CallbackOutcome::Failed {
            error: "refused".into(),
        };
        assert_eq!(last, failed);
    }

    #[derive(Debug, thiserror::Error)]
    #[error("error sending request")]
    struct Sending(#[source] std::io::Error);

    #[test]
    fn an_error_names_its_causes() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let error = Sending(refused);
        assert_eq!(with_causes(&error), "error sending request: refused");
    }
}
