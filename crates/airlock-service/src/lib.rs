//! Airlock as a long-running service: the operator's configuration and the warm pools it
//! keeps, shared by `airlock serve` and `airlock doctor --pool`.

pub mod api;
pub mod auth;
pub mod callback;
pub mod config;
pub mod engine;
pub mod jobs;
pub mod metrics;
pub mod pools;
pub mod serve;
pub mod service;
pub mod sessions;
pub mod store;
pub mod templates;

pub use config::{Config, ConfigError};
