//! The static-analysis gate in front of every run (`--check off|warn|enforce`).
//!
//! This is the hook point the analyzer fills in: it will attach a CodeValidationResult
//! (`warn`) or refuse dangerous code with status `rejected` (`enforce`). Until the
//! analyzer exists, `off` and `warn` run the code with `validation: null`, and `enforce`
//! is refused — a gate that silently let everything through would be weaker than asked.

use crate::request::{CheckMode, ExecutionRequest, InvalidRequest};

/// The validation to attach to the result, or why the request cannot run.
pub fn check(req: &ExecutionRequest) -> Result<Option<serde_json::Value>, InvalidRequest> {
    match req.check {
        CheckMode::Off | CheckMode::Warn => Ok(None),
        CheckMode::Enforce => Err(InvalidRequest {
            field: "check".into(),
            reason: "enforce needs the static analyzer, which this build does not have yet (use warn or off)".into(),
        }),
    }
}
