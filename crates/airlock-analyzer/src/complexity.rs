//! Complexity per file and per function.

use ruff_python_ast::ModModule;

use crate::result::Complexity;
use crate::source::Source;

/// Measure a parsed module.
pub fn measure(_module: &ModModule, _source: &Source) -> Complexity {
    Complexity::default()
}
