//! The analyzer's policy, as data: which modules and calls are allowed or denied, severity
//! overrides per rule code, complexity and resource thresholds. The built-in default is
//! `policy/default.toml` (documented entry by entry); an operator's TOML file replaces it.

use std::collections::{BTreeMap, HashSet};

use crate::result::Severity;

const DEFAULT: &str = include_str!("../policy/default.toml");

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Modules {
    /// Modules code may import without an issue (a package allows its submodules).
    #[serde(default)]
    pub allowed: Vec<String>,
    /// Modules whose import is a high issue (AL101).
    #[serde(default)]
    pub denied: Vec<String>,
    /// Modules legitimate in notebooks that still reach beyond computation (files,
    /// threads): a medium issue (AL102).
    #[serde(default)]
    pub restricted: Vec<String>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Calls {
    /// Fully qualified calls that are an issue ("os.system", "eval"). A trailing `*`
    /// matches any suffix: "os.exec*" (os.execv, os.execlp …), "subprocess.*".
    #[serde(default)]
    pub denied: Vec<String>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// Cyclomatic complexity of one function above which AL601 fires.
    pub cyclomatic: u32,
    /// Cognitive complexity of one function above which AL602 fires.
    pub cognitive: u32,
    /// Nesting depth of the file above which AL603 fires.
    pub nesting: u32,
    /// Lines of code of the file above which AL604 fires.
    pub lines_of_code: u32,
    /// Bytes a constant-size allocation may take before AL502 fires.
    pub allocation_bytes: u64,
    /// Bits a constant integer power may have before AL503 fires.
    pub integer_bits: u64,
    /// Iterations of a constant-range loop before AL504 fires.
    pub iterations: u64,
    /// Largest `sys.setrecursionlimit` before AL506 fires.
    pub recursion_limit: u64,
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds {
            cyclomatic: 15,
            cognitive: 20,
            nesting: 5,
            lines_of_code: 2000,
            allocation_bytes: 512 << 20,
            integer_bits: 10_000_000,
            iterations: 1_000_000_000,
            recursion_limit: 10_000,
        }
    }
}

/// What the policy says of one module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModuleDecision {
    Allowed,
    Restricted,
    Denied,
    /// In no list.
    Unknown,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid policy: {0}")]
pub struct PolicyError(String);

impl Policy {
    /// The built-in policy.
    pub fn builtin() -> Policy {
        Policy::from_toml(DEFAULT).expect("the built-in policy parses")
    }

    /// Parses and checks a policy: every code under `[severity]` must be a rule's.
    pub fn from_toml(text: &str) -> Result<Policy, PolicyError> {
        let policy: Policy = toml::from_str(text).map_err(|e| PolicyError(e.to_string()))?;
        if let Some(code) = policy
            .severity
            .keys()
            .find(|code| crate::rules::find(code).is_none())
        {
            return Err(PolicyError(format!(
                "[severity] names {code}, which is no rule's code"
            )));
        }
        Ok(policy)
    }

    pub fn severity_override(&self, code: &str) -> Option<Severity> {
        self.severity.get(code).copied()
    }

    pub fn thresholds(&self) -> &Thresholds {
        &self.thresholds
    }

    /// The decision for a module (`os.path`, `matplotlib.pyplot`): the most specific entry
    /// of any list wins (`os.path` allowed beats `os` denied); on a tie, denied beats
    /// restricted beats allowed. Also returns the entry that decided.
    pub fn module_decision(&self, module: &str) -> (ModuleDecision, Option<&str>) {
        let lists = [
            (ModuleDecision::Denied, &self.modules.denied),
            (ModuleDecision::Restricted, &self.modules.restricted),
            (ModuleDecision::Allowed, &self.modules.allowed),
        ];
        let mut best: Option<(usize, ModuleDecision, &str)> = None;
        for (decision, list) in lists {
            for entry in list {
                if covers(entry, module) && best.is_none_or(|(len, _, _)| entry.len() > len) {
                    best = Some((entry.len(), decision, entry));
                }
            }
        }
        match best {
            Some((_, decision, entry)) => (decision, Some(entry)),
            None => (ModuleDecision::Unknown, None),
        }
    }

    /// The denied-call patterns, ready to match many names.
    pub fn denied_calls(&self) -> CallMatcher {
        CallMatcher::new(&self.calls.denied)
    }
}

impl Default for Policy {
    fn default() -> Policy {
        Policy::builtin()
    }
}

/// True if `entry` names `module` or a package holding it.
fn covers(entry: &str, module: &str) -> bool {
    module == entry
        || (module.len() > entry.len()
            && module.starts_with(entry)
            && module.as_bytes()[entry.len()] == b'.')
}

/// True if a call pattern matches a fully qualified name: exactly, or with a trailing `*`
/// standing for any suffix, empty included (`os.fork*` matches `os.fork` and
/// `os.forkpty`; `subprocess.*` matches `subprocess.run` but not `subprocess`).
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

/// A set of call patterns, split into exact names (a hash lookup) and prefixes.
#[derive(Clone, Debug, Default)]
pub struct CallMatcher {
    exact: HashSet<String>,
    prefixes: Vec<String>,
}

impl CallMatcher {
    pub fn new(patterns: &[String]) -> CallMatcher {
        let mut matcher = CallMatcher::default();
        for pattern in patterns {
            match pattern.strip_suffix('*') {
                Some(prefix) => matcher.prefixes.push(prefix.to_string()),
                None => {
                    matcher.exact.insert(pattern.clone());
                }
            }
        }
        matcher
    }

    /// True if some pattern matches `name`.
    pub fn matches(&self, name: &str) -> bool {
        self.exact.contains(name) || self.prefixes.iter().any(|p| name.starts_with(p.as_str()))
    }

    /// True if `name` is listed as such, not only through a wildcard.
    pub fn matches_exactly(&self, name: &str) -> bool {
        self.exact.contains(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_policy_parses_and_decides() {
        let policy = Policy::builtin();
        for (module, decision) in [
            ("numpy", ModuleDecision::Allowed),
            ("matplotlib.pyplot", ModuleDecision::Allowed),
            ("os", ModuleDecision::Denied),
            ("os.path", ModuleDecision::Allowed),
            ("subprocess", ModuleDecision::Denied),
            ("urllib.request", ModuleDecision::Denied),
            ("urllib.parse", ModuleDecision::Allowed),
            ("pathlib", ModuleDecision::Restricted),
            ("osmium", ModuleDecision::Unknown),
        ] {
            assert_eq!(policy.module_decision(module).0, decision, "{module}");
        }
        assert_eq!(
            policy.module_decision("numpyx").0,
            ModuleDecision::Unknown,
            "a prefix match must end at a dot"
        );
    }

    #[test]
    fn every_builtin_severity_override_names_a_rule() {
        let error = Policy::from_toml("[severity]\nAL999 = \"low\"\n").expect_err("rejected");
        assert!(error.to_string().contains("AL999"));
        let policy = Policy::from_toml("[severity]\nAL101 = \"low\"\n").expect("parses");
        assert_eq!(policy.severity_override("AL101"), Some(Severity::Low));
    }

    #[test]
    fn partial_thresholds_keep_defaults() {
        let policy = Policy::from_toml("[thresholds]\ncyclomatic = 3\n").expect("parses");
        assert_eq!(policy.thresholds().cyclomatic, 3);
        assert_eq!(policy.thresholds().cognitive, 20);
        assert_eq!(policy.thresholds().allocation_bytes, 512 << 20);
    }

    #[test]
    fn call_patterns() {
        let matcher = CallMatcher::new(&[
            "eval".to_string(),
            "os.exec*".to_string(),
            "subprocess.*".to_string(),
        ]);
        assert!(matcher.matches("eval"));
        assert!(matcher.matches("os.execvp"));
        assert!(matcher.matches("subprocess.run"));
        assert!(!matcher.matches("subprocess"));
        assert!(!matcher.matches("evaluate"));
        assert!(matcher.matches_exactly("eval"));
        assert!(!matcher.matches_exactly("subprocess.run"));
        assert!(pattern_matches("os.spawn*", "os.spawnlp"));
        assert!(pattern_matches("os.fork*", "os.fork"));
        assert!(!pattern_matches("os.system", "os.systemx"));
    }
}
