//! The running service's shared state: configuration, engine, store, jobs, metrics, auth,
//! sessions, and the signal that wakes callback delivery.

use std::sync::Arc;

use tokio::sync::Notify;

use crate::auth::Auth;
use crate::engine::Engine;
use crate::jobs::Jobs;
use crate::metrics::Metrics;
use crate::sessions::Sessions;
use crate::store::Store;
use crate::Config;

#[derive(Debug)]
pub struct Service {
    pub config: Config,
    pub engine: Arc<Engine>,
    pub store: Arc<dyn Store>,
    pub jobs: Jobs,
    pub metrics: Metrics,
    pub auth: Auth,
    /// Signalled when a job is made final with a callback queued, to wake the delivery
    /// loop ([`crate::callback::delivery`]).
    pub callback_queued: Notify,
    pub sessions: Sessions,
}

impl Service {
    pub fn new(config: Config, engine: Engine, store: Arc<dyn Store>) -> Arc<Service> {
        let jobs = Jobs::new(config.server.max_running());
        let auth = Auth::new(&config);
        let sessions = Sessions::new(&config.sessions);
        Arc::new(Service {
            engine: Arc::new(engine),
            store,
            jobs,
            metrics: Metrics::default(),
            auth,
            callback_queued: Notify::new(),
            sessions,
            config,
        })
    }
}
