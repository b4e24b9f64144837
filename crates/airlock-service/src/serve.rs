//! `airlock serve`: open the store, start the pools and workers, listen, and on SIGTERM
//! or Ctrl-C stop accepting, give running jobs their grace, and re-queue the rest.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use airlock_runtime::env::{Environments, Quiet};

use crate::engine::Engine;
use crate::pools::Pools;
use crate::service::Service;
use crate::store::SqliteStore;
use crate::Config;

/// The database file in the data dir.
pub const DB_FILE: &str = "airlock.db";

/// Serve until a stop signal; errors name what could not be set up.
pub fn serve(config: Config, data_dir: &Path) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("start the async runtime: {e}"))?;
    runtime.block_on(run(config, data_dir))
}

async fn run(config: Config, data_dir: &Path) -> Result<(), String> {
    let db = data_dir.join(DB_FILE);
    let store = SqliteStore::open(&db).map_err(|e| format!("{}: {e}", db.display()))?;
    let envs = Environments::from_env().map_err(|e| e.to_string())?;
    let (pools, failed) = Pools::start(&config.pool, &envs, &config.policy(), &Quiet);
    for (env, e) in failed {
        tracing::warn!("no warm pool for environment {env}: {e}");
    }
    let engine = Engine::new(&config, envs, pools)?;
    let addr = config.server.addr.clone();
    let grace = Duration::from_secs(config.server.shutdown_grace_secs);
    let service = Service::new(config, engine, Arc::new(store));
    let picked = service
        .start_workers()
        .await
        .map_err(|e| format!("pick up unfinished jobs: {}", e.message))?;
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    // Tests and scripts read this line to learn the port (with addr port 0).
    eprintln!("airlock: listening on http://{local} ({picked} unfinished jobs picked up)");
    if service.auth.required() {
        tracing::info!("API keys required");
    } else if !local.ip().is_loopback() {
        tracing::warn!("no API keys are configured and {local} is not loopback: anyone who can reach it can run code");
    }
    tokio::spawn(purge_code(Arc::clone(&service)));
    tokio::spawn(crate::sessions::expire_idle(Arc::clone(&service)));
    let app = crate::api::router(Arc::clone(&service));
    axum::serve(listener, app)
        .with_graceful_shutdown(stop_signal())
        .await
        .map_err(|e| format!("serve: {e}"))?;
    eprintln!("airlock: stopping; running jobs have {} s", grace.as_secs());
    service.sessions.clear();
    service.stop_workers(grace).await;
    tokio::task::spawn_blocking(airlock_jail::settle)
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Drop the code text of audit records older than the retention period, at start and
/// then hourly (their sha256 and the chain stay).
async fn purge_code(service: Arc<Service>) {
    let days = service.config.server.code_retention_days;
    if days == 0 {
        return; // the code is never stored
    }
    loop {
        let before = chrono::Utc::now() - chrono::Duration::days(i64::from(days));
        let store = Arc::clone(&service.store);
        match tokio::task::spawn_blocking(move || store.purge_code(before)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => {
                tracing::info!("audit log: dropped the code of {n} records older than {days} days")
            }
            other => tracing::error!("audit log: purging old code failed: {other:?}"),
        }
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
