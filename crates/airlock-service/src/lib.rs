//! Airlock as a long-running service: the operator's configuration and the warm pools it
//! keeps, shared by `airlock serve` and `airlock doctor --pool`.

pub mod config;
pub mod pools;
pub mod store;

pub use config::{Config, ConfigError};
