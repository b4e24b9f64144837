//! The rules. Each family lives in a file of its own; every rule has a stable code, a
//! severity, and a description — what it does, why it matters, an example, what to write
//! instead — that is both the issue's `suggestion` and the text of `RULES.md`
//! ([`markdown`] writes it; a test keeps the file in step).
//!
//! | codes | family |
//! |---|---|
//! | AL000–AL002 | [`parse`]: input too large, syntax errors, nesting too deep |
//! | AL1xx | [`imports`]: denied, restricted and unknown modules |
//! | AL2xx | [`calls`]: dangerous calls, through any alias |
//! | AL3xx | [`escape`]: sandbox-escape idioms (subclasses, frames, globals) |
//! | AL4xx | [`obfuscation`]: names and code built at run time |
//! | AL5xx | [`resources`]: loops that never end, huge allocations |
//! | AL6xx | [`thresholds`]: complexity above the policy's thresholds |
//!
//! All rules share one walk of the tree ([`crate::walk::Walk`], no recursion) and read
//! names through the [`Model`]: they never match source text.

pub mod calls;
pub mod escape;
pub mod imports;
pub mod obfuscation;
pub mod parse;
pub mod resources;
pub mod thresholds;

use std::cell::OnceCell;
use std::collections::{BTreeSet, HashSet};
use std::fmt::Write as _;

use ruff_python_ast::{AnyNodeRef, Expr, ModModule};
use ruff_text_size::TextSize;

use crate::policy::{CallMatcher, Policy};
use crate::result::{Complexity, Issue, Severity};
use crate::semantic::Model;
use crate::source::Source;
use crate::walk::Walk;

/// One rule, described once for the issue and for the docs.
#[derive(Debug)]
pub struct Rule {
    /// Stable code ("AL201").
    pub code: &'static str,
    /// Short kebab-case name ("code-execution").
    pub name: &'static str,
    /// Severity before the policy's overrides.
    pub severity: Severity,
    /// One line: what the rule reports.
    pub summary: &'static str,
    /// What the rule does, precisely.
    pub what: &'static str,
    /// Why it matters.
    pub why: &'static str,
    /// Python that the rule reports.
    pub example: &'static str,
    /// What to write instead (the issue's `suggestion`).
    pub instead: &'static str,
}

/// A family of rules: one file, one range of codes.
#[derive(Debug)]
pub struct Family {
    pub title: &'static str,
    pub codes: &'static str,
    pub about: &'static str,
    pub rules: &'static [&'static Rule],
}

/// Every family, in code order.
pub const FAMILIES: &[&Family] = &[
    &parse::FAMILY,
    &imports::FAMILY,
    &calls::FAMILY,
    &escape::FAMILY,
    &obfuscation::FAMILY,
    &resources::FAMILY,
    &thresholds::FAMILY,
];

/// Every rule, in code order.
pub fn all() -> impl Iterator<Item = &'static Rule> {
    FAMILIES.iter().flat_map(|f| f.rules.iter().copied())
}

/// The rule with this code.
pub fn find(code: &str) -> Option<&'static Rule> {
    all().find(|r| r.code == code)
}

/// What the rules share while they walk one module.
pub(crate) struct Checker<'m> {
    pub model: &'m Model,
    pub source: &'m Source<'m>,
    pub policy: &'m Policy,
    pub denied_calls: CallMatcher,
    issues: Vec<Issue>,
    dangerous_calls: BTreeSet<String>,
    sensitive: OnceCell<HashSet<String>>,
}

impl<'m> Checker<'m> {
    fn new(model: &'m Model, source: &'m Source<'m>, policy: &'m Policy) -> Checker<'m> {
        Checker {
            model,
            source,
            policy,
            denied_calls: policy.denied_calls(),
            issues: Vec::new(),
            dangerous_calls: BTreeSet::new(),
            sensitive: OnceCell::new(),
        }
    }

    /// Names worth hiding: denied top-level modules and the last part of every call the
    /// policy denies by name (`system`, `eval`, `popen`).
    pub fn sensitive_names(&self) -> &HashSet<String> {
        self.sensitive.get_or_init(|| {
            let modules = self
                .policy
                .modules
                .denied
                .iter()
                .filter(|m| !m.contains('.'));
            let calls = self
                .policy
                .calls
                .denied
                .iter()
                .filter(|p| !p.ends_with('*'))
                .filter_map(|p| p.rsplit('.').next());
            modules
                .map(String::as_str)
                .chain(calls)
                .map(str::to_string)
                .collect()
        })
    }

    /// An issue of `rule` at `offset`; its suggestion is the rule's "instead".
    pub fn report(&mut self, rule: &Rule, offset: TextSize, message: String) {
        let (line, column) = self.source.line_column(offset);
        self.issues.push(issue(rule, line, column, message));
    }

    /// Records a dangerous call for the result's `dangerous_calls`.
    pub fn dangerous_call(&mut self, name: &str) {
        if !self.dangerous_calls.contains(name) {
            self.dangerous_calls.insert(name.to_string());
        }
    }
}

/// An issue of `rule` at a position.
pub fn issue(rule: &Rule, line: u32, column: u32, message: String) -> Issue {
    Issue::new(
        rule.code,
        rule.severity,
        line,
        column,
        message,
        Some(rule.instead.to_string()),
    )
}

/// Every rule's issues for one module, and the fully qualified names of the dangerous
/// calls found (sorted, unique: the result's `dangerous_calls`).
pub fn check(
    module: &ModModule,
    model: &Model,
    source: &Source,
    policy: &Policy,
) -> (Vec<Issue>, Vec<String>) {
    let mut checker = Checker::new(model, source, policy);
    imports::check(&mut checker);
    // The nodes enclosing the current one, outermost first (the walk is pre-order, so the
    // stack is cut back to the entry's depth).
    let mut ancestors: Vec<AnyNodeRef> = Vec::new();
    for entry in Walk::new(AnyNodeRef::from(module)) {
        ancestors.truncate(entry.depth as usize);
        calls::check(&mut checker, &entry);
        escape::check(&mut checker, &entry);
        obfuscation::check(&mut checker, &entry);
        resources::check(&mut checker, &entry, &ancestors);
        ancestors.push(entry.node);
    }
    let Checker {
        issues,
        dangerous_calls,
        ..
    } = checker;
    (issues, dangerous_calls.into_iter().collect())
}

/// Issues for complexity over the policy's thresholds.
pub fn complexity_issues(complexity: &Complexity, policy: &Policy) -> Vec<Issue> {
    thresholds::check(complexity, policy)
}

/// `RULES.md`: every rule, from the same text the issues carry.
pub fn markdown() -> String {
    let mut out = String::new();
    out.push_str(
        "# Airlock analyzer rules\n\n\
         <!-- Generated from crates/airlock-analyzer/src/rules by `rules::markdown()`; \
         regenerate with UPDATE_SNAPSHOTS=1 cargo test -p airlock-analyzer --test rules. -->\n\n\
         Every issue the analyzer reports carries one of these codes. The analyzer is advice \
         and policy, not the security boundary: the jail contains code whatever its \
         verdict. A result is `dangerous` when any issue is high or critical (and \
         `--check enforce` then refuses the code), `warning` when any other issue remains, \
         `safe` otherwise. Which modules and calls are denied, severity overrides and \
         thresholds are data: `policy/default.toml`, or an operator's file.\n\n\
         Names are resolved through imports and aliases (`import os as o; o.system` is \
         `os.system`; so are `from os import system as s`, `getattr(os, \"system\")` and \
         `getattr(__import__(\"o\" + \"s\"), \"system\")`), never by matching text.\n\n\
         | code | name | severity | reports |\n|---|---|---|---|\n",
    );
    for rule in all() {
        let _ = writeln!(
            out,
            "| [{code}](#{anchor}) | {name} | {severity} | {summary} |",
            code = rule.code,
            anchor = anchor(rule),
            name = rule.name,
            severity = rule.severity.as_str(),
            summary = rule.summary,
        );
    }
    for family in FAMILIES {
        let _ = write!(
            out,
            "\n## {codes}: {title}\n\n{about}\n",
            codes = family.codes,
            title = family.title,
            about = family.about
        );
        for rule in family.rules {
            let _ = write!(
                out,
                "\n### {code} {name}\n\n\
                 Severity: **{severity}**. {summary}.\n\n\
                 {what}\n\n\
                 **Why it matters.** {why}\n\n\
                 **Example.**\n\n```python\n{example}\n```\n\n\
                 **Instead.** {instead}\n",
                code = rule.code,
                name = rule.name,
                severity = rule.severity.as_str(),
                summary = upper_first(rule.summary),
                what = rule.what,
                why = rule.why,
                example = rule.example.trim_end(),
                instead = rule.instead,
            );
        }
    }
    out
}

fn anchor(rule: &Rule) -> String {
    format!("{}-{}", rule.code.to_lowercase(), rule.name)
}

fn upper_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The qualified name of what a call calls, if the model knows it and any candidate is in
/// `names`.
pub(crate) fn callee_in<'n>(
    model: &Model,
    call: &ruff_python_ast::ExprCall,
    names: &[&'n str],
) -> Option<&'n str> {
    let callees = model.resolve(&*call.func);
    names
        .iter()
        .copied()
        .find(|n| callees.iter().any(|c| c == n))
}

/// A call's argument at position `index`, or else its first keyword argument named one of
/// `names`.
pub(crate) fn argument<'c>(
    call: &'c ruff_python_ast::ExprCall,
    index: usize,
    names: &[&str],
) -> Option<&'c Expr> {
    call.arguments.args.get(index).or_else(|| {
        call.arguments
            .keywords
            .iter()
            .find(|k| k.arg.as_ref().is_some_and(|a| names.contains(&a.as_str())))
            .map(|k| &k.value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_well_formed_and_in_their_family_range() {
        let mut seen = BTreeSet::new();
        for family in FAMILIES {
            let prefix = &family.codes[..3];
            for rule in family.rules {
                assert!(seen.insert(rule.code), "duplicate code {}", rule.code);
                assert_eq!(rule.code.len(), 5, "{}", rule.code);
                assert!(rule.code.starts_with("AL"), "{}", rule.code);
                assert!(
                    rule.code.starts_with(prefix),
                    "{} outside {}",
                    rule.code,
                    family.codes
                );
                for (field, text) in [
                    ("summary", rule.summary),
                    ("what", rule.what),
                    ("why", rule.why),
                    ("example", rule.example),
                    ("instead", rule.instead),
                ] {
                    assert!(!text.trim().is_empty(), "{} has no {field}", rule.code);
                }
            }
        }
    }

    #[test]
    fn every_rule_example_parses() {
        for rule in all() {
            if rule.code == "AL001" {
                continue;
            }
            assert!(
                ruff_python_parser::parse_module(rule.example).is_ok(),
                "{}'s example does not parse",
                rule.code
            );
        }
    }
}
