//! The VirtualEnvironment record of CONTRACT.md, as stored in each environment's
//! `env.json` and returned by the CLI and the HTTP API.

use std::path::PathBuf;

use chrono::{DateTime, Utc};

use crate::python::Interpreter;

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", schema(as = EnvStatus))]
pub enum Status {
    Creating,
    Ready,
    Corrupted,
    Deleted,
    Failed,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub installed_at: DateTime<Utc>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct VirtualEnvironment {
    pub id: String,
    pub name: String,
    /// Host directory of the environment (its current build lives below it).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub path: PathBuf,
    pub python_version: String,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub packages: Vec<Package>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub usage_count: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub size_mb: f64,
    /// Which installer built it ("uv 0.x" or "pip").
    #[serde(default)]
    pub installer: String,
    /// The base interpreter the environment was made from (bound read-only at run time).
    pub base: Interpreter,
    /// Id of the current build (a directory under `versions/`).
    #[serde(default)]
    pub build: Option<String>,
}
