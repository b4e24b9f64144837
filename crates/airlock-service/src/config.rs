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
//! ```

use std::path::{Path, PathBuf};

use airlock_runtime::env::{check_env_name, DEFAULT_ENV};
use airlock_runtime::request::Policy;
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
        Ok(())
    }
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
