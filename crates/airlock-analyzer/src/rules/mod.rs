//! The rules. Each family lives in a file of its own; every rule has a stable code.

use ruff_python_ast::ModModule;

use crate::policy::Policy;
use crate::result::{Complexity, Issue};
use crate::semantic::Model;
use crate::source::Source;

/// Every rule's issues for one module.
pub fn check(
    _module: &ModModule,
    _model: &Model,
    _source: &Source,
    _policy: &Policy,
) -> Vec<Issue> {
    Vec::new()
}

/// Issues for complexity over the policy's thresholds.
pub fn complexity_issues(_complexity: &Complexity, _policy: &Policy) -> Vec<Issue> {
    Vec::new()
}

/// The dangerous calls named by issues (for the result's `dangerous_calls`).
pub fn dangerous_call_names(_issues: &[Issue]) -> Vec<String> {
    Vec::new()
}
