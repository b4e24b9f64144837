//! Airlock's static analyzer: explains, line by line, what in a piece of Python is risky
//! and how complex it is, and lets an operator refuse code by policy.
//!
//! It is advice and policy, never the security boundary (the jail is): a clean verdict
//! never lowers isolation. Parsing uses Ruff's parser, which accepts modern syntax and
//! recovers from errors; a syntax error is an issue with its line and column, not a crash.
//!
//! - [`result`]: the CodeValidationResult of CONTRACT.md.
//! - [`policy`]: allowed and denied modules and calls, severity overrides, thresholds —
//!   data, from `policy/default.toml` or an operator's file.
//! - [`semantic`]: what names mean (imports and aliases), so `import os as o; o.system`
//!   is `os.system`.
//! - [`rules`]: one file per rule family, each rule with a stable code (`RULES.md`).
//! - [`walk`]: walking and dropping trees without recursion, whatever their depth.
//! - [`complexity`]: lines of code, cyclomatic (radon's definition), cognitive
//!   (SonarSource's definition), nesting depth, per file and per function.

pub mod complexity;
pub mod policy;
pub mod result;
pub mod rules;
pub mod semantic;
mod source;
pub mod walk;

pub use policy::Policy;
pub use result::{CodeValidationResult, Complexity, FunctionComplexity, Issue, Severity, Status};
pub use source::Source;

use ruff_python_ast::{AnyNodeRef, PySourceType};

/// Largest source accepted (bigger input is an issue, not a parse).
pub const MAX_SOURCE_BYTES: usize = 10 << 20;

/// Deepest syntax tree analysed without an AL002 issue. CPython refuses as much or less
/// (200 nested brackets; about 3,000 nested expressions in 3.11), and real code stays far
/// below (the deepest file of CPython's own library is 30 levels). The analyzer itself
/// copes with any depth: it walks and drops trees without recursion.
pub const MAX_NESTING: u32 = 3_000;

/// Analyze `code` under `policy`.
pub fn analyze(code: &str, policy: &Policy) -> CodeValidationResult {
    if code.len() > MAX_SOURCE_BYTES {
        let issue = rules::issue(
            &rules::parse::TOO_LARGE,
            1,
            0,
            format!(
                "code is {} bytes, above the {MAX_SOURCE_BYTES}-byte limit",
                code.len()
            ),
        );
        return CodeValidationResult::from_issues(
            vec![issue],
            Complexity::default(),
            Vec::new(),
            Vec::new(),
        );
    }
    let source = Source::new(code);
    // Parse without stopping at the first error: the parser recovers, and we take the
    // tree apart ourselves (a recursive drop of a deep tree would overflow the stack).
    let parsed = ruff_python_parser::parse_unchecked_source(code, PySourceType::Python);
    let first_error = parsed
        .errors()
        .first()
        .map(|error| (error.location.start(), error.error.to_string()));
    let module = parsed.into_syntax();
    if let Some((offset, message)) = first_error {
        walk::dismantle(module);
        let (line, column) = source.line_column(offset);
        let issue = rules::issue(
            &rules::parse::SYNTAX_ERROR,
            line,
            column,
            format!("syntax error: {message}"),
        );
        return CodeValidationResult::from_issues(
            vec![issue],
            Complexity::default(),
            Vec::new(),
            Vec::new(),
        );
    }
    let mut issues = Vec::new();
    let depth = walk::max_depth(AnyNodeRef::from(&module));
    if depth > MAX_NESTING {
        issues.push(rules::issue(
            &rules::parse::TOO_DEEP,
            1,
            0,
            format!("syntax tree {depth} levels deep (limit {MAX_NESTING})"),
        ));
    }
    let model = semantic::Model::build(&module);
    let (found, dangerous_calls) = rules::check(&module, &model, &source, policy);
    issues.extend(found);
    let imports = model.imported_modules();
    drop(model);
    let complexity = complexity::measure(&module, &source);
    walk::dismantle(module);
    issues.extend(rules::complexity_issues(&complexity, policy));
    for issue in &mut issues {
        if let Some(severity) = policy.severity_override(&issue.code) {
            issue.severity = severity;
        }
    }
    issues.sort_by(|a, b| (a.line, a.column, &a.code).cmp(&(b.line, b.column, &b.code)));
    issues.dedup_by(|a, b| a.line == b.line && a.column == b.column && a.code == b.code);
    CodeValidationResult::from_issues(issues, complexity, imports, dangerous_calls)
}
