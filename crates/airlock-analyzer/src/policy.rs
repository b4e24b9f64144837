//! The analyzer's policy, as data: which modules and calls are allowed or denied, severity
//! overrides per rule code, complexity thresholds. The built-in default is
//! `policy/default.toml` (documented entry by entry); an operator's TOML file replaces it.

use std::collections::BTreeMap;

use crate::result::Severity;

const DEFAULT: &str = include_str!("../policy/default.toml");

#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    #[serde(default)]
    pub modules: Modules,
    #[serde(default)]
    pub calls: Calls,
    /// Rule code → severity, replacing the rule's own.
    #[serde(default)]
    pub severity: BTreeMap<String, Severity>,
    #[serde(default)]
    pub thresholds: Thresholds,
}

#[derive(Clone, Debug, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Modules {
    /// Modules code may import without an issue (a package allows its submodules).
    #[serde(default)]
    pub allowed: Vec<String>,
    /// Modules whose import is an issue of the rule's severity.
    #[serde(default)]
    pub denied: Vec<String>,
}

#[derive(Clone, Debug, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Calls {
    /// Fully qualified calls that are an issue ("os.system", "eval").
    #[serde(default)]
    pub denied: Vec<String>,
}

#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    pub cyclomatic: u32,
    pub cognitive: u32,
    pub nesting: u32,
    pub lines_of_code: u32,
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds {
            cyclomatic: 15,
            cognitive: 20,
            nesting: 5,
            lines_of_code: 2000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid policy: {0}")]
pub struct PolicyError(String);

impl Policy {
    /// The built-in policy.
    pub fn builtin() -> Policy {
        Policy::from_toml(DEFAULT).expect("the built-in policy parses")
    }

    pub fn from_toml(text: &str) -> Result<Policy, PolicyError> {
        toml::from_str(text).map_err(|e| PolicyError(e.to_string()))
    }

    pub fn severity_override(&self, code: &str) -> Option<Severity> {
        self.severity.get(code).copied()
    }
}

impl Default for Policy {
    fn default() -> Policy {
        Policy::builtin()
    }
}
