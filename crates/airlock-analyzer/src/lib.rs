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
//! - [`rules`]: one file per rule family, each rule with a stable code.
//! - [`complexity`]: lines of code, cyclomatic (radon's definition), cognitive
//!   (SonarSource's definition), nesting depth, per file and per function.

pub mod complexity;
pub mod policy;
pub mod result;
pub mod rules;
pub mod semantic;
mod source;

pub use policy::Policy;
pub use result::{CodeValidationResult, Complexity, FunctionComplexity, Issue, Severity, Status};
pub use source::Source;

/// Largest source accepted (bigger input is an issue, not a parse).
pub const MAX_SOURCE_BYTES: usize = 10 << 20;

/// Analyze `code` under `policy`.
pub fn analyze(code: &str, policy: &Policy) -> CodeValidationResult {
    if code.len() > MAX_SOURCE_BYTES {
        return CodeValidationResult::from_issues(
            vec![Issue::new(
                "AL000",
                Severity::High,
                1,
                0,
                format!(
                    "code is {} bytes, above the {MAX_SOURCE_BYTES}-byte limit",
                    code.len()
                ),
                Some("split the code or send smaller pieces".into()),
            )],
            Complexity::default(),
            Vec::new(),
            Vec::new(),
        );
    }
    let source = Source::new(code);
    let parsed = ruff_python_parser::parse_module(code);
    let module = match parsed {
        Ok(parsed) => parsed.into_syntax(),
        Err(error) => {
            let (line, column) = source.line_column(error.location.start());
            let issue = Issue::new(
                "AL001",
                Severity::High,
                line,
                column,
                format!("syntax error: {}", error.error),
                Some("fix the syntax; the code cannot run as written".into()),
            );
            return CodeValidationResult::from_issues(
                vec![issue],
                Complexity::default(),
                Vec::new(),
                Vec::new(),
            );
        }
    };
    let model = semantic::Model::build(&module);
    let mut issues = rules::check(&module, &model, &source, policy);
    for issue in &mut issues {
        if let Some(severity) = policy.severity_override(&issue.code) {
            issue.severity = severity;
        }
    }
    let complexity = complexity::measure(&module, &source);
    issues.extend(rules::complexity_issues(&complexity, policy));
    issues.sort_by(|a, b| (a.line, a.column, &a.code).cmp(&(b.line, b.column, &b.code)));
    issues.dedup_by(|a, b| a.line == b.line && a.column == b.column && a.code == b.code);
    let imports = model.imported_modules();
    let dangerous_calls = rules::dangerous_call_names(&issues);
    CodeValidationResult::from_issues(issues, complexity, imports, dangerous_calls)
}
