//! The operator's configuration: one TOML file, every key optional.
//!
//! Found at `--config FILE`, else `$AIRLOCK_CONFIG`, else `/etc/airlock/airlock.toml`
//! when it exists; without one, the defaults hold. Unknown keys are errors (a misspelt key
//! must not be silently ignored), and every error names the file and the key.
//!
//! ```toml
//! write_roots = ["/srv/airlock-shared"]   # --allow-write is accepted only below these
//! analyzer_policy = "/etc/airlock/analyzer.toml"
//!
//! [pool]
//! size = 4                    # sandboxes kept ready per environment; 0 turns pools off
//! envs = ["default"]          # environments that get a pool
//! preload = ["numpy", "pandas", "matplotlib.pyplot"]
//! memory_budget_mb = 200      # cap on a pool's idle memory (PSS); default none
//!
//! [server]
//! addr = "127.0.0.1:8080"
//! workers = 2                 # async jobs run at once (default: one per core)
//! queue_limit = 1000          # async jobs waiting; more are refused with 503
//! max_running = 8             # executions at once, sync and async; more wait, then 503
//! max_code_bytes = 1048576    # larger code: 413
//! max_body_bytes = 67108864   # larger request bodies: 413
//! code_retention_days = 30    # the audit log keeps the code this long (its hash forever)
//! callback_hosts = ["127.0.0.1:9000"]   # where callback_url may point
//! shutdown_grace_secs = 30    # on SIGTERM, running jobs get this long, then are re-queued
//!
//! [limits]                    # the most any request may ask for
//! timeout = 300
//! max_memory_mb = 4096
//!
//! [[keys]]                    # with keys, every request needs one (Bearer or X-API-Key)
//! tenant = "research"
//! key_sha256 = "…"            # from `airlock key create`
//! max_concurrent = 4
//! per_minute = 120
//! limits = { timeout = 60 }
//! ```

use std::path::{Path, PathBuf};

use airlock_runtime::env::{check_env_name, DEFAULT_ENV};
use airlock_runtime::request::Policy;
use airlock_runtime::ExecutionRequest;
use serde::Deserialize;

/// Where the configuration file is looked for when no path is given.
pub const DEFAULT_PATH: &str = "/etc/airlock/airlock.toml";

/// The most sandboxes one pool may keep ready.
pub const MAX_POOL_SIZE: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config {path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Everything the operator can set.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Host directories under which `allow_write` grants are accepted.
    pub write_roots: Vec<PathBuf>,
    /// The analyzer policy (TOML) for the `check` gate; the built-in one when absent.
    pub analyzer_policy: Option<PathBuf>,
    pub pool: PoolConfig,
    pub server: ServerConfig,
    pub sessions: SessionConfig,
    /// The most any request may ask for.
    pub limits: MaxLimits,
    /// API keys; without any, the service takes requests from anyone who can reach it
    /// (bind it to loopback).
    pub keys: Vec<KeyConfig>,
}

/// How `airlock serve` listens and works.
#[derive(Clone, Debug, PartialEq, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub addr: String,
    /// Async jobs run at once (0: one per core).
    pub workers: usize,
    /// Async jobs waiting to run; more are refused (503).
    pub queue_limit: usize,
    /// Executions running at once, sync and async together (0: twice the cores).
    pub max_running: usize,
    pub max_code_bytes: usize,
    pub max_body_bytes: usize,
    /// Days the audit log keeps the code text (0: never stored; its sha256 always is).
    pub code_retention_days: u32,
    /// Hosts (`host` or `host:port`) a `callback_url` may point at.
    pub callback_hosts: Vec<String>,
    /// Whether HTTP callers may ask for host grants (allow_read, allow_write, allow_env).
    pub allow_host_grants: bool,
    pub shutdown_grace_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            addr: "127.0.0.1:8080".into(),
            workers: 0,
            queue_limit: 1000,
            max_running: 0,
            max_code_bytes: 1 << 20,
            max_body_bytes: 64 << 20,
            code_retention_days: 30,
            callback_hosts: Vec::new(),
            allow_host_grants: false,
            shutdown_grace_secs: 30,
        }
    }
}

impl ServerConfig {
    pub fn workers(&self) -> usize {
        match self.workers {
            0 => cores(),
            n => n,
        }
    }

    pub fn max_running(&self) -> usize {
        match self.max_running {
            0 => 2 * cores(),
            n => n,
        }
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Sessions: long-lived interpreters whose state stays between calls.
#[derive(Clone, Debug, PartialEq, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionConfig {
    /// A session unused this long ends (its sandbox and files go); a caller may ask for
    /// less with `idle_timeout`.
    pub idle_timeout_secs: u64,
    /// Live sessions one tenant may have.
    pub max_per_tenant: usize,
    /// Live sessions in all.
    pub max_sessions: usize,
    /// Time a call interrupted at its timeout has to stop before the session is killed.
    pub grace_secs: f64,
    /// Largest file upload, and download, through the files API.
    pub max_file_bytes: u64,
    /// Largest snapshot, made or restored.
    pub max_snapshot_bytes: u64,
}

impl Default for SessionConfig {
    fn default() -> SessionConfig {
        SessionConfig {
            idle_timeout_secs: 900,
            max_per_tenant: 4,
            max_sessions: 32,
            grace_secs: 3.0,
            max_file_bytes: 32 << 20,
            max_snapshot_bytes: 64 << 20,
        }
    }
}

/// Upper bounds on what a request may ask for (absent: the jail's own bounds).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Deserialize, serde::Serialize, utoipa::ToSchema,
)]
#[serde(default, deny_unknown_fields)]
pub struct MaxLimits {
    pub timeout: Option<f64>,
    pub max_memory_mb: Option<u64>,
    pub max_cpu_percent: Option<u32>,
    pub max_processes: Option<u32>,
    pub output_limit: Option<u64>,
}

impl MaxLimits {
    /// The contract's defaults, lowered to these bounds where they are tighter (what a
    /// request that names no limit gets).
    pub fn defaults(&self) -> ExecutionRequest {
        fn within<T: PartialOrd + Copy>(default: T, max: Option<T>) -> T {
            match max {
                Some(m) if m < default => m,
                _ => default,
            }
        }
        let d = ExecutionRequest::default();
        ExecutionRequest {
            timeout: within(d.timeout, self.timeout),
            max_memory_mb: within(d.max_memory_mb, self.max_memory_mb),
            max_cpu_percent: within(d.max_cpu_percent, self.max_cpu_percent),
            max_processes: within(d.max_processes, self.max_processes),
            output_limit: within(d.output_limit, self.output_limit),
            ..d
        }
    }

    /// The tighter of two sets of bounds, field by field.
    pub fn min(&self, other: &MaxLimits) -> MaxLimits {
        fn tighter<T: PartialOrd + Copy>(a: Option<T>, b: Option<T>) -> Option<T> {
            match (a, b) {
                (Some(a), Some(b)) => Some(if b < a { b } else { a }),
                (a, b) => a.or(b),
            }
        }
        MaxLimits {
            timeout: tighter(self.timeout, other.timeout),
            max_memory_mb: tighter(self.max_memory_mb, other.max_memory_mb),
            max_cpu_percent: tighter(self.max_cpu_percent, other.max_cpu_percent),
            max_processes: tighter(self.max_processes, other.max_processes),
            output_limit: tighter(self.output_limit, other.output_limit),
        }
    }
}

/// One API key: who uses it and how much.
#[derive(Clone, Debug, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// The tenant its executions are recorded under.
    pub tenant: String,
    /// sha256 (hex) of the key; the key itself is never stored.
    pub key_sha256: String,
    /// Sync executions of this key running at once (0: no cap); async jobs are bounded by
    /// the workers and counted by `per_minute` when submitted.
    #[serde(default)]
    pub max_concurrent: u32,
    /// Executions this key may start per minute (0: no cap).
    #[serde(default)]
    pub per_minute: u32,
    /// The most this key's requests may ask for (within the operator's `[limits]`).
    #[serde(default)]
    pub limits: MaxLimits,
    /// Whether this key may create, change and remove environments (every key may list
    /// them and run code in them).
    #[serde(default)]
    pub manage_envs: bool,
}

/// The warm pools: one per listed environment.
#[derive(Clone, Debug, PartialEq, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PoolConfig {
    /// Sandboxes each pool keeps ready (0: no pools, every run starts cold).
    pub size: usize,
    /// The environments that get a pool.
    pub envs: Vec<String>,
    /// Modules a pooled sandbox has imported before its request arrives.
    pub preload: Vec<String>,
    /// A cap on each pool's idle memory, template and waiting sandboxes (PSS, MiB).
    pub memory_budget_mb: Option<u64>,
}

impl Default for PoolConfig {
    fn default() -> PoolConfig {
        PoolConfig {
            size: 4,
            envs: vec![DEFAULT_ENV.into()],
            preload: ["numpy", "pandas", "matplotlib.pyplot"]
                .map(String::from)
                .to_vec(),
            memory_budget_mb: None,
        }
    }
}

impl Config {
    /// The configuration in force: `explicit` (which must exist), else `$AIRLOCK_CONFIG`
    /// (which must exist), else [`DEFAULT_PATH`] if there is one, else the defaults.
    pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        let named = explicit
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("AIRLOCK_CONFIG").map(PathBuf::from));
        let path = match named {
            Some(path) => path,
            None if Path::new(DEFAULT_PATH).exists() => PathBuf::from(DEFAULT_PATH),
            None => return Ok(Config::default()),
        };
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        Config::parse(&text).map_err(|message| ConfigError::Invalid { path, message })
    }

    /// Parse and validate the text of a configuration file.
    pub fn parse(text: &str) -> Result<Config, String> {
        let config: Config = toml::from_str(text).map_err(|e| one_line(&e))?;
        config.validate()?;
        Ok(config)
    }

    /// What bounds the grants a caller may ask for.
    pub fn policy(&self) -> Policy {
        Policy {
            write_roots: self.write_roots.clone(),
            analyzer_policy: self.analyzer_policy.clone(),
        }
    }

    fn validate(&self) -> Result<(), String> {
        let pool = &self.pool;
        if pool.size > MAX_POOL_SIZE {
            return Err(format!(
                "pool.size: {} is more than {MAX_POOL_SIZE}",
                pool.size
            ));
        }
        for name in &pool.envs {
            check_env_name(name).map_err(|e| format!("pool.envs: {e}"))?;
        }
        for name in &pool.preload {
            module_name(name).map_err(|e| format!("pool.preload: {e}"))?;
        }
        if pool.memory_budget_mb == Some(0) {
            return Err(
                "pool.memory_budget_mb: must be more than 0 (leave it out for no cap)".into(),
            );
        }
        let server = &self.server;
        server.addr.parse::<std::net::SocketAddr>().map_err(|e| {
            format!(
                "server.addr: {:?} is not an address and port: {e}",
                server.addr
            )
        })?;
        for (key, value) in [
            ("server.queue_limit", server.queue_limit),
            ("server.max_code_bytes", server.max_code_bytes),
            ("server.max_body_bytes", server.max_body_bytes),
        ] {
            if value == 0 {
                return Err(format!("{key}: must be more than 0"));
            }
        }
        let sessions = &self.sessions;
        for (key, value) in [
            ("sessions.idle_timeout_secs", sessions.idle_timeout_secs),
            ("sessions.max_per_tenant", sessions.max_per_tenant as u64),
            ("sessions.max_sessions", sessions.max_sessions as u64),
            ("sessions.max_file_bytes", sessions.max_file_bytes),
            ("sessions.max_snapshot_bytes", sessions.max_snapshot_bytes),
        ] {
            if value == 0 {
                return Err(format!("{key}: must be more than 0"));
            }
        }
        if !(sessions.grace_secs.is_finite() && (0.1..=600.0).contains(&sessions.grace_secs)) {
            return Err(format!(
                "sessions.grace_secs: {} is not between 0.1 and 600",
                sessions.grace_secs
            ));
        }
        check_limits("limits", &self.limits)?;
        let mut seen = std::collections::HashSet::new();
        for (i, key) in self.keys.iter().enumerate() {
            let at = format!("keys[{i}]");
            if key.tenant.is_empty()
                || key.tenant.len() > 64
                || key.tenant.chars().any(char::is_control)
            {
                return Err(format!("{at}.tenant: must be 1 to 64 printable characters"));
            }
            let hex =
                key.key_sha256.len() == 64 && key.key_sha256.chars().all(|c| c.is_ascii_hexdigit());
            if !hex {
                return Err(format!(
                    "{at}.key_sha256: must be 64 hex digits (see `airlock key create`)"
                ));
            }
            if !seen.insert(key.key_sha256.to_ascii_lowercase()) {
                return Err(format!("{at}.key_sha256: the same key is listed twice"));
            }
            check_limits(&format!("{at}.limits"), &key.limits)?;
        }
        Ok(())
    }
}

/// Bounds must be positive numbers.
fn check_limits(at: &str, limits: &MaxLimits) -> Result<(), String> {
    if limits.timeout.is_some_and(|t| !(t.is_finite() && t > 0.0)) {
        return Err(format!(
            "{at}.timeout: must be a positive number of seconds"
        ));
    }
    for (key, value) in [
        ("max_memory_mb", limits.max_memory_mb),
        ("max_cpu_percent", limits.max_cpu_percent.map(u64::from)),
        ("max_processes", limits.max_processes.map(u64::from)),
        ("output_limit", limits.output_limit),
    ] {
        if value == Some(0) {
            return Err(format!("{at}.{key}: must be more than 0"));
        }
    }
    Ok(())
}

/// TOML's message on one line: "unknown field `sise`, expected one of … at line 2".
fn one_line(e: &toml::de::Error) -> String {
    let mut message = e.message().trim().to_string();
    if let Some(span) = e.span() {
        message.push_str(&format!(" (at byte {})", span.start));
    }
    message
}

/// A dotted Python module name (what a pool's template passes to importlib).
pub fn module_name(text: &str) -> Result<String, String> {
    let valid = !text.is_empty()
        && text.split('.').all(|part| {
            part.chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_')
                && part.chars().all(|c| c.is_alphanumeric() || c == '_')
        });
    if valid {
        Ok(text.to_string())
    } else {
        Err(format!("{text:?} is not a module name"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        assert_eq!(Config::parse("").unwrap(), Config::default());
        assert_eq!(Config::default().pool.size, 4);
    }

    #[test]
    fn policy_keys_stay_at_the_top() {
        let c = Config::parse("write_roots = [\"/srv\"]\n[pool]\nsize = 0\n").unwrap();
        assert_eq!(c.policy().write_roots, [PathBuf::from("/srv")]);
        assert_eq!(c.pool.size, 0);
    }

    #[test]
    fn pool_section_is_read() {
        let c = Config::parse(
            "[pool]\nsize = 2\nenvs = [\"quant\"]\npreload = [\"numpy\"]\nmemory_budget_mb = 120\n",
        )
        .unwrap();
        assert_eq!(c.pool.size, 2);
        assert_eq!(c.pool.envs, ["quant"]);
        assert_eq!(c.pool.preload, ["numpy"]);
        assert_eq!(c.pool.memory_budget_mb, Some(120));
    }

    #[test]
    fn errors_name_the_key() {
        for (text, named) in [
            ("[pool]\nsise = 2\n", "sise"),
            ("[pol]\n", "pol"),
            ("[pool]\nsize = -1\n", "-1"),
            ("[pool]\nsize = 65\n", "pool.size"),
            ("[pool]\npreload = [\"os; rm\"]\n", "pool.preload"),
            ("[pool]\nenvs = [\"../x\"]\n", "pool.envs"),
            ("[pool]\nmemory_budget_mb = 0\n", "pool.memory_budget_mb"),
            ("[pool\n", "byte"),
        ] {
            let e = Config::parse(text).unwrap_err();
            assert!(e.contains(named), "{text:?}: {e}");
        }
    }

    #[test]
    fn server_limits_and_keys_are_read() {
        let c = Config::parse(concat!(
            "[server]\naddr = \"127.0.0.1:0\"\nworkers = 3\ncallback_hosts = [\"127.0.0.1:9\"]\n",
            "[limits]\ntimeout = 60\n",
            "[[keys]]\ntenant = \"t\"\nkey_sha256 = \"",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "\"\nper_minute = 5\nlimits = { timeout = 10, max_memory_mb = 256 }\n",
        ))
        .unwrap();
        assert_eq!(c.server.workers(), 3);
        assert_eq!(c.limits.timeout, Some(60.0));
        let key = &c.keys[0];
        assert_eq!((key.tenant.as_str(), key.per_minute), ("t", 5));
        let both = c.limits.min(&key.limits);
        assert_eq!((both.timeout, both.max_memory_mb), (Some(10.0), Some(256)));
    }

    #[test]
    fn server_and_key_errors_name_the_key() {
        let key = |rest: &str| format!("[[keys]]\ntenant = \"t\"\n{rest}\n");
        let hash = format!("key_sha256 = \"{}\"", "a".repeat(64));
        for (text, named) in [
            ("[server]\naddr = \"nowhere\"\n".to_string(), "server.addr"),
            (
                "[server]\nqueue_limit = 0\n".to_string(),
                "server.queue_limit",
            ),
            ("[limits]\ntimeout = -1\n".to_string(), "limits.timeout"),
            (
                "[limits]\nmax_memory_mb = 0\n".to_string(),
                "limits.max_memory_mb",
            ),
            (key("key_sha256 = \"abc\""), "keys[0].key_sha256"),
            (
                key(&format!("{hash}\nlimits = {{ max_processes = 0 }}")),
                "keys[0].limits.max_processes",
            ),
            (
                format!("{}{}", key(&hash), key(&hash)),
                "keys[1].key_sha256",
            ),
            (key(""), "key_sha256"),
        ] {
            let e = Config::parse(&text).unwrap_err();
            assert!(e.contains(named), "{text:?}: {e}");
        }
    }

    #[test]
    fn a_named_file_that_is_missing_is_an_error_naming_it() {
        let e = Config::load(Some(Path::new("/nonexistent/airlock.toml"))).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/airlock.toml"), "{e}");
    }

    #[test]
    fn module_names() {
        assert!(module_name("matplotlib.pyplot").is_ok());
        for bad in ["", "a..b", "1x", "a-b", "a b"] {
            assert!(module_name(bad).is_err(), "{bad:?}");
        }
    }
}
