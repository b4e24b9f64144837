//! Cyclomatic complexity, radon's definition (`radon/visitors.py`, `ComplexityVisitor`,
//! radon 6.0.1).
//!
//! A function scores 1 plus the decision points of the nodes in its body. A nested
//! `def` or `class` is not part of the body (radon scores it apart); the function's own
//! decorators, default values and annotations are not either. Decision points:
//!
//! | node | points |
//! |---|---|
//! | `if`, `elif`, conditional expression | 1 |
//! | `for`, `async for`, `while` | 1, plus 1 with an `else` |
//! | `try` | 1 per `except`, plus 1 with an `else` (`try`/`except*`: 0, radon 6.0.1 does not know it) |
//! | boolean operator with *n* operands (`a and b or c` is two operators) | *n* − 1 |
//! | each `for` of a comprehension | 1, plus 1 per `if` in it |
//! | `match` | 1 per `case`, minus 1 if a case is a bare name or `_` |
//! | `assert` | 1, and nothing inside it counts |
//!
//! `with`, `lambda` (its body counts, the lambda itself does not), `return` and the rest
//! score 0.

use ruff_python_ast::{AnyNodeRef, Pattern};

/// The points the node itself adds (its children are scored when they are visited).
pub(super) fn decision_points(node: AnyNodeRef<'_>) -> u32 {
    let points = match node {
        AnyNodeRef::StmtIf(stmt) => {
            1 + stmt
                .elif_else_clauses
                .iter()
                .filter(|clause| clause.test.is_some())
                .count()
        }
        AnyNodeRef::StmtFor(stmt) => 1 + usize::from(!stmt.orelse.is_empty()),
        AnyNodeRef::StmtWhile(stmt) => 1 + usize::from(!stmt.orelse.is_empty()),
        AnyNodeRef::StmtTry(stmt) if !stmt.is_star => {
            stmt.handlers.len() + usize::from(!stmt.orelse.is_empty())
        }
        AnyNodeRef::StmtMatch(stmt) => {
            let catch_all = stmt.cases.iter().any(|case| {
                matches!(&case.pattern, Pattern::MatchAs(pattern) if pattern.pattern.is_none())
            });
            stmt.cases.len().saturating_sub(usize::from(catch_all))
        }
        AnyNodeRef::StmtAssert(_) => 1,
        AnyNodeRef::ExprBoolOp(expr) => expr.values.len().saturating_sub(1),
        AnyNodeRef::ExprIf(_) => 1,
        AnyNodeRef::ExprListComp(expr) => comprehensions(&expr.generators),
        AnyNodeRef::ExprSetComp(expr) => comprehensions(&expr.generators),
        AnyNodeRef::ExprDictComp(expr) => comprehensions(&expr.generators),
        AnyNodeRef::ExprGenerator(expr) => comprehensions(&expr.generators),
        _ => 0,
    };
    u32::try_from(points).unwrap_or(u32::MAX)
}

fn comprehensions(generators: &[ruff_python_ast::Comprehension]) -> usize {
    generators
        .iter()
        .map(|generator| 1 + generator.ifs.len())
        .sum()
}

/// Whether radon stops at the node: it scores an `assert` without looking inside.
pub(super) fn is_opaque(node: AnyNodeRef<'_>) -> bool {
    matches!(node, AnyNodeRef::StmtAssert(_))
}
