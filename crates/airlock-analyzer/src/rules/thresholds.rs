//! AL6xx: complexity above the policy's `[thresholds]`. Advice only (low and medium): hard
//! code is hard to review, which matters when code comes from an LLM or a stranger, but it
//! is never a reason to refuse a run. The measures come from [`crate::complexity`].

use crate::policy::Policy;
use crate::result::{Complexity, Issue, Severity};

use super::{issue, Family, Rule};

pub const FAMILY: Family = Family {
    title: "complexity",
    codes: "AL6xx",
    about: "Functions and files whose measured complexity exceeds the policy's \
            `[thresholds]` (`cyclomatic`, `cognitive`, `nesting`, `lines_of_code`).",
    rules: &[&CYCLOMATIC, &COGNITIVE, &NESTING, &LINES_OF_CODE],
};

/// AL601: cyclomatic complexity of a function.
pub const CYCLOMATIC: Rule = Rule {
    code: "AL601",
    name: "cyclomatic-complexity",
    severity: Severity::Medium,
    summary: "a function with more independent paths than the threshold",
    what: "Reports each function whose cyclomatic complexity (radon's definition: 1 + one \
           per branch, loop, boolean operator, except clause, comprehension) exceeds \
           `thresholds.cyclomatic`.",
    why: "Every path is a case to review and test; past fifteen or so, reviewers stop \
          seeing what the function does — including what it should not.",
    example: "def signal(x):\n    if x > 3:\n        return 3\n    elif x > 2:\n        return 2\n    elif x > 1:\n        return 1\n    return 0  # … and a dozen more branches",
    instead: "Split the function: one function per decision, lookup tables instead of \
              elif chains, vectorized conditions (`np.select`) instead of per-row branches.",
};

/// AL602: cognitive complexity of a function.
pub const COGNITIVE: Rule = Rule {
    code: "AL602",
    name: "cognitive-complexity",
    severity: Severity::Medium,
    summary: "a function harder to follow than the threshold",
    what: "Reports each function whose cognitive complexity (SonarSource's definition: \
           breaks in linear flow, weighted by nesting) exceeds `thresholds.cognitive`.",
    why: "Deeply nested, interleaved logic is where mistakes and hidden behaviour survive \
          review.",
    example: "def scan(rows):\n    for r in rows:\n        if r:\n            for c in r:\n                if c:\n                    while c:\n                        c -= 1  # … nested deeper still",
    instead: "Return early, extract the inner loops into named functions, and prefer \
              pandas/numpy operations over nested loops.",
};

/// AL603: nesting depth.
pub const NESTING: Rule = Rule {
    code: "AL603",
    name: "deep-nesting",
    severity: Severity::Low,
    summary: "blocks nested deeper than the threshold",
    what: "Reports a file whose deepest nesting of blocks (if, for, while, with, try, \
           function) exceeds `thresholds.nesting`.",
    why: "Each level is context a reader must hold; deep nesting hides which branch does \
          what.",
    example: "for a in xs:\n    for b in ys:\n        if a:\n            if b:\n                with ctx:\n                    try:\n                        pass\n                    except ValueError:\n                        pass",
    instead: "Flatten with early `continue`/`return`, and move inner blocks into \
              functions.",
};

/// AL604: file length.
pub const LINES_OF_CODE: Rule = Rule {
    code: "AL604",
    name: "long-file",
    severity: Severity::Low,
    summary: "more lines of code than the threshold",
    what: "Reports a file with more lines of code than `thresholds.lines_of_code`.",
    why: "A snippet that long is hard to review as a whole, and is often data pasted as \
          code.",
    example: "# two thousand lines of code …\nx = 1",
    instead: "Send data as files (`files` in the request) and keep the code to the \
              analysis itself.",
};

/// Issues for complexity over the policy's thresholds.
pub fn check(complexity: &Complexity, policy: &Policy) -> Vec<Issue> {
    let t = policy.thresholds();
    let mut issues = Vec::new();
    for function in &complexity.functions {
        let name = &function.name;
        issues.extend(above(
            &CYCLOMATIC,
            function.line,
            function.cyclomatic,
            t.cyclomatic,
            |v| format!("function `{name}` has cyclomatic complexity {v}"),
        ));
        issues.extend(above(
            &COGNITIVE,
            function.line,
            function.cognitive,
            t.cognitive,
            |v| format!("function `{name}` has cognitive complexity {v}"),
        ));
    }
    issues.extend(above(
        &NESTING,
        1,
        complexity.nesting_depth,
        t.nesting,
        |v| format!("blocks nested {v} deep"),
    ));
    issues.extend(above(
        &LINES_OF_CODE,
        1,
        complexity.lines_of_code,
        t.lines_of_code,
        |v| format!("{v} lines of code"),
    ));
    issues
}

/// An issue of `rule` at the start of `line` when `value` is above the threshold `limit`:
/// the message is what `describe` makes of the value, then the threshold.
fn above(
    rule: &Rule,
    line: u32,
    value: u32,
    limit: u32,
    describe: impl FnOnce(u32) -> String,
) -> Option<Issue> {
    (value > limit).then(|| {
        let message = format!("{} (threshold {limit})", describe(value));
        issue(rule, line, 0, message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::FunctionComplexity;

    #[test]
    fn reports_only_above_thresholds() {
        let policy = Policy::builtin();
        let t = policy.thresholds().clone();
        let at = Complexity {
            lines_of_code: t.lines_of_code,
            cyclomatic_complexity: 1,
            cognitive_complexity: 1,
            nesting_depth: t.nesting,
            functions: vec![FunctionComplexity {
                name: "f".into(),
                line: 3,
                cyclomatic: t.cyclomatic,
                cognitive: t.cognitive,
            }],
        };
        assert!(check(&at, &policy).is_empty());
        let above = Complexity {
            lines_of_code: t.lines_of_code + 1,
            nesting_depth: t.nesting + 1,
            functions: vec![
                FunctionComplexity {
                    name: "f".into(),
                    line: 3,
                    cyclomatic: t.cyclomatic + 1,
                    cognitive: t.cognitive + 1,
                },
                FunctionComplexity {
                    name: "g".into(),
                    line: 9,
                    cyclomatic: 1,
                    cognitive: 1,
                },
            ],
            ..at
        };
        let found: Vec<(String, u32, Severity)> = check(&above, &policy)
            .into_iter()
            .map(|i| (i.code, i.line, i.severity))
            .collect();
        assert_eq!(
            found,
            [
                ("AL601".to_string(), 3, Severity::Medium),
                ("AL602".to_string(), 3, Severity::Medium),
                ("AL603".to_string(), 1, Severity::Low),
                ("AL604".to_string(), 1, Severity::Low),
            ]
        );
    }

    #[test]
    fn thresholds_come_from_the_policy() {
        let policy = Policy::from_toml("[thresholds]\ncyclomatic = 2\n").expect("parses");
        let complexity = Complexity {
            functions: vec![FunctionComplexity {
                name: "f".into(),
                line: 1,
                cyclomatic: 3,
                cognitive: 0,
            }],
            ..Complexity::default()
        };
        let issues = check(&complexity, &policy);
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].code, "AL601");
        assert!(issues[0].suggestion.is_some());
    }
}
