//! The running service's shared state: configuration, engine, store, jobs, metrics, auth.

use std::sync::Arc;

use crate::auth::Auth;
use crate::engine::Engine;
use crate::jobs::Jobs;
use crate::metrics::Metrics;
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
}

impl Service {
    pub fn new(config: Config, engine: Engine, store: Arc<dyn Store>) -> Arc<Service> {
        let jobs = Jobs::new(config.server.max_running());
        let auth = Auth::new(&config);
        Arc::new(Service {
            engine: Arc::new(engine),
            store,
            jobs,
            metrics: Metrics::default(),
            auth,
            config,
        })
    }
}
