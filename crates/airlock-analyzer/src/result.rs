//! The CodeValidationResult of CONTRACT.md.

/// How serious an issue is.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// The name the result gives the severity (`"low"` … `"critical"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", schema(as = ValidationStatus))]
pub enum Status {
    Safe,
    Warning,
    Dangerous,
}

/// One finding, on its line.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Issue {
    pub severity: Severity,
    /// 1-based.
    pub line: u32,
    /// 0-based.
    pub column: u32,
    /// Stable rule code ("AL101").
    pub code: String,
    pub message: String,
    /// What to do instead.
    pub suggestion: Option<String>,
}

impl Issue {
    pub fn new(
        code: &str,
        severity: Severity,
        line: u32,
        column: u32,
        message: String,
        suggestion: Option<String>,
    ) -> Issue {
        Issue {
            severity,
            line,
            column,
            code: code.to_string(),
            message,
            suggestion,
        }
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct FunctionComplexity {
    pub name: String,
    pub line: u32,
    pub cyclomatic: u32,
    pub cognitive: u32,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Complexity {
    pub lines_of_code: u32,
    pub cyclomatic_complexity: u32,
    pub cognitive_complexity: u32,
    pub nesting_depth: u32,
    pub functions: Vec<FunctionComplexity>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, serde::Serialize)]
pub struct CodeValidationResult {
    pub status: Status,
    pub is_safe: bool,
    pub issues: Vec<Issue>,
    pub complexity: Complexity,
    pub imports: Vec<String>,
    pub dangerous_calls: Vec<String>,
    pub warnings: Vec<String>,
}

impl CodeValidationResult {
    /// Dangerous if any high or critical issue, warning if any other, safe otherwise.
    pub fn from_issues(
        issues: Vec<Issue>,
        complexity: Complexity,
        imports: Vec<String>,
        dangerous_calls: Vec<String>,
    ) -> CodeValidationResult {
        let worst = issues.iter().map(|i| i.severity).max();
        let status = match worst {
            Some(Severity::High | Severity::Critical) => Status::Dangerous,
            Some(_) => Status::Warning,
            None => Status::Safe,
        };
        let warnings = issues
            .iter()
            .map(|i| format!("line {}: {} ({})", i.line, i.message, i.code))
            .collect();
        CodeValidationResult {
            status,
            is_safe: status == Status::Safe,
            issues,
            complexity,
            imports,
            dangerous_calls,
            warnings,
        }
    }
}
