//! `airlock serve`, `airlock audit verify` and `airlock key create`: the service's
//! commands (the service itself is `airlock_service`).

use std::path::PathBuf;

use airlock_service::auth::key_hash;
use airlock_service::serve::DB_FILE;
use airlock_service::store::{SqliteStore, Store};
use airlock_service::Config;
use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on (default: the config's server.addr, 127.0.0.1:8080).
    #[arg(long)]
    addr: Option<std::net::SocketAddr>,
    /// Where the database lives (default: $AIRLOCK_HOME, ~/.local/share/airlock).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// The configuration file (default: $AIRLOCK_CONFIG, else /etc/airlock/airlock.toml).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check the audit log's hash chain: every record unaltered, none removed.
    Verify {
        /// Where the database lives (default: $AIRLOCK_HOME, ~/.local/share/airlock).
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct KeyArgs {
    #[command(subcommand)]
    command: KeyCommand,
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Make a new API key: prints the key once, and the [[keys]] entry for the config.
    Create {
        /// The tenant its executions are recorded under.
        #[arg(long)]
        tenant: String,
        /// Executions at once (0: no cap).
        #[arg(long, default_value_t = 4)]
        max_concurrent: u32,
        /// Executions started per minute (0: no cap).
        #[arg(long, default_value_t = 120)]
        per_minute: u32,
        /// The key may also create, change and remove environments (/api/venv/...).
        #[arg(long)]
        manage_envs: bool,
    },
}

/// The data dir: `--data`, else `$AIRLOCK_HOME`, else ~/.local/share/airlock.
fn data_dir(explicit: Option<PathBuf>) -> Result<PathBuf, String> {
    explicit
        .or_else(|| std::env::var_os("AIRLOCK_HOME").map(PathBuf::from))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share/airlock")))
        .ok_or_else(|| "no data dir: give --data DIR or set AIRLOCK_HOME".into())
}

pub fn serve(args: ServeArgs) -> i32 {
    let mut config = match Config::load(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => return crate::usage_error(e),
    };
    if let Some(addr) = args.addr {
        config.server.addr = addr.to_string();
    }
    let data = match data_dir(args.data) {
        Ok(d) => d,
        Err(e) => return crate::usage_error(e),
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AIRLOCK_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match airlock_service::serve::serve(config, &data) {
        Ok(()) => 0,
        Err(e) => crate::internal_error(e),
    }
}

pub fn audit(args: AuditArgs) -> i32 {
    let AuditCommand::Verify { data, json } = args.command;
    let db = match data_dir(data) {
        Ok(d) => d.join(DB_FILE),
        Err(e) => return crate::usage_error(e),
    };
    if !db.is_file() {
        return crate::usage_error(format!("{}: no audit log here (see --data)", db.display()));
    }
    let report = match SqliteStore::open(&db).and_then(|s| s.verify_audit()) {
        Ok(r) => r,
        Err(e) => return crate::internal_error(format!("{}: {e}", db.display())),
    };
    if json {
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
    } else {
        match &report.broken {
            None => println!("ok: {} records, the chain is unbroken", report.records),
            Some((seq, what)) => println!("BROKEN at record {seq}: {what}"),
        }
    }
    if report.broken.is_some() {
        3
    } else {
        0
    }
}

pub fn key(args: KeyArgs) -> i32 {
    let KeyCommand::Create {
        tenant,
        max_concurrent,
        per_minute,
        manage_envs,
    } = args.command;
    if tenant.is_empty() || tenant.len() > 64 || tenant.chars().any(char::is_control) {
        return crate::usage_error("--tenant: must be 1 to 64 printable characters");
    }
    let key = format!(
        "al_{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    println!("key (shown once; give it to the caller): {key}");
    println!("\n# add to the configuration file:");
    println!(
        "[[keys]]\ntenant = {}\nkey_sha256 = \"{}\"\nmax_concurrent = {max_concurrent}\nper_minute = {per_minute}\nmanage_envs = {manage_envs}",
        toml::Value::String(tenant),
        key_hash(&key)
    );
    0
}
