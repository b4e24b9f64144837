//! The static-analysis gate in front of every run (`--check off|warn|enforce`).
//!
//! `warn` (the default) analyses the code and attaches the CodeValidationResult to the
//! result; `enforce` also refuses code the analyzer calls dangerous — the run does not
//! start, the result has status `rejected`, reason `policy`, and the validation. The
//! analyzer is advice and policy: a clean verdict never lowers the sandbox's isolation.

use airlock_analyzer::{analyze, CodeValidationResult, Policy, Severity, Status};

use crate::request::{CheckMode, ExecutionRequest};

/// What the gate decided.
#[derive(Debug)]
pub enum Verdict {
    /// Run it; attach this validation (None with `--check off`).
    Run(Option<CodeValidationResult>),
    /// Do not run it: the policy refuses it (`--check enforce`).
    Reject(CodeValidationResult),
}

/// Analyse the request's code as its `check` mode asks.
pub fn check(req: &ExecutionRequest, policy: &Policy) -> Verdict {
    if req.check == CheckMode::Off {
        return Verdict::Run(None);
    }
    let validation = analyze(&req.code, policy);
    if req.check == CheckMode::Enforce && validation.status == Status::Dangerous {
        Verdict::Reject(validation)
    } else {
        Verdict::Run(Some(validation))
    }
}

/// The one-line reason for a rejection: the first high or critical issue.
pub fn rejection_message(validation: &CodeValidationResult) -> String {
    let worst = validation
        .issues
        .iter()
        .find(|i| i.severity >= Severity::High)
        .or(validation.issues.first());
    match worst {
        Some(i) => format!(
            "Code safety validation failed: line {}: {} ({})",
            i.line, i.message, i.code
        ),
        None => "Code safety validation failed".to_string(),
    }
}
