//! Complexity per file and per function.
//!
//! Two published tools define the numbers, so that an operator can check them:
//!
//! - cyclomatic complexity is radon's (`radon cc`, 6.0.1): see `cyclomatic.rs`;
//! - cognitive complexity is complexipy's (8.3.0), its reading of SonarSource's
//!   definition: see `cognitive.rs`.
//!
//! `scripts/compare-complexity` runs both tools and this module on the CPython standard
//! library and prints how often they agree, function by function.
//!
//! The fields of [`Complexity`]:
//!
//! - `lines_of_code`: lines that are neither blank nor comment-only. A line inside a
//!   multi-line string is code even when it starts with `#`.
//! - `cyclomatic_complexity`: the file's total, 1 plus every decision point in the file
//!   (module code, class bodies, every function, nested ones included, decorators and
//!   default values), each counted once with radon's rules: the McCabe number of the
//!   whole file. radon's `cc` prints no file total (its visitor's `total_complexity`
//!   counts a method's base 1 but not a function's and leaves closures out); per-function
//!   values are the ones that match radon.
//! - `cognitive_complexity`: the file's total as complexipy computes it: the sum over the
//!   functions not nested in another function (a nested function is part of its
//!   enclosing function's score) plus the module-level code outside functions and
//!   classes.
//! - `nesting_depth`: the deepest block: a top-level statement is at depth 0, a
//!   statement in the body of a compound statement (`def`, `class`, `if`, `for`, `with`,
//!   `try`, `match`...) one deeper than that statement.
//! - `functions`: every `def`, nested ones included, in source order. The name is the
//!   qualified name without `<locals>` (`Class.method`, `outer.inner`), the line is the
//!   line of the `def` keyword (of `async` for `async def`), 1-based, as Python's `ast`
//!   reports it. Each function is scored on its own: its cyclomatic complexity leaves out
//!   nested functions and classes (as radon does); its cognitive complexity includes the
//!   nested functions (as complexipy and SonarSource do). A qualified name longer than
//!   512 bytes keeps its last 512 bytes, after a `…`.
//!
//! Every walk over the tree is a [`crate::walk::Walk`] (or, for cognitive complexity, an
//! explicit stack of its own), so that deeply nested code cannot overflow the thread's
//! stack.

mod cognitive;
mod cyclomatic;
#[cfg(test)]
mod tests;

use ruff_python_ast::{AnyNodeRef, ModModule, Stmt, StmtFunctionDef};
use ruff_text_size::{Ranged, TextRange, TextSize};

use crate::result::{Complexity, FunctionComplexity};
use crate::source::Source;
use crate::walk::Walk;

/// Measure a parsed module.
pub fn measure(module: &ModModule, source: &Source) -> Complexity {
    let tally = Tally::run(&module.body, source.text);

    let mut functions: Vec<(TextSize, FunctionComplexity)> =
        Vec::with_capacity(tally.functions.len());
    let defs: Vec<&StmtFunctionDef> = tally.functions.iter().map(|record| record.def).collect();
    let scores = cognitive::functions(&defs);
    let mut cognitive_total = cognitive::module(&module.body);
    for (record, &cognitive) in tally.functions.iter().zip(&scores) {
        if !record.nested {
            cognitive_total = cognitive_total.saturating_add(cognitive);
        }
        functions.push((
            record.def.range().start(),
            FunctionComplexity {
                name: record.name.clone(),
                line: source.line(def_keyword(record.def, source.text)),
                cyclomatic: clamp(record.cyclomatic),
                cognitive: clamp(cognitive),
            },
        ));
    }
    functions.sort_by_key(|(start, _)| *start);

    Complexity {
        lines_of_code: lines_of_code(source.text, tally.multiline_strings),
        cyclomatic_complexity: clamp(tally.cyclomatic_total),
        cognitive_complexity: clamp(cognitive_total),
        nesting_depth: tally.nesting_depth,
        functions: functions.into_iter().map(|(_, f)| f).collect(),
    }
}

fn clamp(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

/// One `def` found by the walk.
#[derive(Debug)]
struct FunctionRecord<'a> {
    def: &'a StmtFunctionDef,
    name: String,
    /// Inside another function (at any depth, through classes too).
    nested: bool,
    cyclomatic: u64,
}

/// A class or function scope, for qualified names.
#[derive(Debug)]
struct Scope {
    qualname: String,
    in_function: bool,
}

/// Where a node stands, carried down the walk from parent to child.
#[derive(Clone, Copy, Debug)]
struct Place {
    /// The function whose body holds the node (not through a nested def or class).
    owner: Option<usize>,
    /// The innermost class or function scope.
    scope: Option<usize>,
    /// Block depth of the statement holding the node.
    depth: u32,
    /// Whether radon counts the node (it does not look inside `assert`).
    counted: bool,
}

/// The single pass over the whole tree: functions and their names, radon's counts, the
/// deepest block and the multi-line strings.
#[derive(Debug, Default)]
struct Tally<'a> {
    /// In the order found: every function after the functions enclosing it.
    functions: Vec<FunctionRecord<'a>>,
    scopes: Vec<Scope>,
    cyclomatic_total: u64,
    nesting_depth: u32,
    multiline_strings: Vec<TextRange>,
}

impl<'a> Tally<'a> {
    fn run(body: &'a [Stmt], text: &str) -> Tally<'a> {
        let mut tally = Tally {
            cyclomatic_total: 1,
            ..Tally::default()
        };
        let top = Place {
            owner: None,
            scope: None,
            depth: 0,
            counted: true,
        };
        let mut walk = Walk::with_state(body.iter().map(AnyNodeRef::from), top);
        while let Some(entry) = walk.next() {
            let (statements, others) = tally.visit(entry.node, entry.state, text);
            walk.descend(|child| {
                if child.is_statement() {
                    statements
                } else {
                    others
                }
            });
        }
        tally
    }

    /// Counts one node; returns the places of its child statements and of its other
    /// children.
    fn visit(&mut self, node: AnyNodeRef<'a>, place: Place, text: &str) -> (Place, Place) {
        if place.counted {
            let points = u64::from(cyclomatic::decision_points(node));
            self.cyclomatic_total = self.cyclomatic_total.saturating_add(points);
            if let Some(owner) = place.owner {
                let record = &mut self.functions[owner];
                record.cyclomatic = record.cyclomatic.saturating_add(points);
            }
        }
        if node.is_statement() {
            self.nesting_depth = self.nesting_depth.max(place.depth);
        }
        if let AnyNodeRef::StringLiteral(_)
        | AnyNodeRef::BytesLiteral(_)
        | AnyNodeRef::FString(_)
        | AnyNodeRef::TString(_) = node
        {
            let range = node.range();
            if text
                .get(range.start().to_usize()..range.end().to_usize())
                .is_some_and(|s| s.contains(['\n', '\r']))
            {
                self.multiline_strings.push(range);
            }
        }
        let others = Place {
            counted: place.counted && !cyclomatic::is_opaque(node),
            ..place
        };
        let statements = Place {
            depth: place.depth + 1,
            ..others
        };
        let (owner, scope) = match node {
            AnyNodeRef::StmtFunctionDef(def) => {
                let (scope, name, nested) = self.open_scope(place.scope, def.name.as_str(), true);
                self.functions.push(FunctionRecord {
                    def,
                    name,
                    nested,
                    cyclomatic: 1,
                });
                (Some(self.functions.len() - 1), scope)
            }
            AnyNodeRef::StmtClassDef(class) => {
                let (scope, _, _) = self.open_scope(place.scope, class.name.as_str(), false);
                (None, scope)
            }
            _ => return (statements, others),
        };
        // The body of a def or class is in its scope (and a def's body in its score); the
        // header (decorators, type parameters, defaults, bases, annotations) is evaluated
        // in the enclosing scope and belongs to no function's score.
        let body = Place {
            owner,
            scope: Some(scope),
            ..statements
        };
        let header = Place {
            owner: None,
            ..others
        };
        (body, header)
    }

    /// Opens the scope of a `def` (`function`) or `class` named `name` inside the scope
    /// `enclosing`: returns its index, its qualified name, and whether it is inside a
    /// function.
    fn open_scope(
        &mut self,
        enclosing: Option<usize>,
        name: &str,
        function: bool,
    ) -> (usize, String, bool) {
        let enclosing = enclosing.map(|s| &self.scopes[s]);
        let qualname = qualify(enclosing, name);
        let nested = enclosing.is_some_and(|s| s.in_function);
        self.scopes.push(Scope {
            qualname: qualname.clone(),
            in_function: function || nested,
        });
        (self.scopes.len() - 1, qualname, nested)
    }
}

/// Longest qualified name kept whole, in bytes: names of functions nested thousands
/// deep would otherwise take memory quadratic in the source's size.
const MAX_NAME: usize = 512;

/// `scope.name`, cut to its last [`MAX_NAME`] bytes (after a `…`) if longer.
fn qualify(scope: Option<&Scope>, name: &str) -> String {
    let full = match scope {
        Some(scope) => format!("{}.{name}", scope.qualname),
        None => name.to_string(),
    };
    if full.len() <= MAX_NAME {
        return full;
    }
    let mut cut = full.len() - MAX_NAME;
    while !full.is_char_boundary(cut) {
        cut += 1;
    }
    format!("…{}", &full[cut..])
}

/// Offset of the `def` (or `async`) keyword: a decorated function's range starts at its
/// first decorator, Python's `ast` reports the line of the keyword.
fn def_keyword(def: &StmtFunctionDef, text: &str) -> TextSize {
    let Some(last) = def.decorator_list.last() else {
        return def.range().start();
    };
    let bytes = text.as_bytes();
    let mut at = last.range().end().to_usize();
    let end = def.name.range().start().to_usize().min(bytes.len());
    while at < end {
        match bytes[at] {
            b' ' | b'\t' | b'\x0c' | b'\r' | b'\n' | b'\\' => at += 1,
            b'#' => {
                while at < end && !matches!(bytes[at], b'\n' | b'\r') {
                    at += 1;
                }
            }
            _ => return TextSize::try_from(at).unwrap_or_else(|_| def.name.range().start()),
        }
    }
    def.name.range().start()
}

/// Lines with something other than whitespace and a comment on them.
fn lines_of_code(text: &str, mut strings: Vec<TextRange>) -> u32 {
    strings.sort_by_key(|r| r.start());
    // Merge, so that "is this offset inside a string" is one binary search.
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(strings.len());
    for range in strings {
        let (start, end) = (range.start().to_usize(), range.end().to_usize());
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    let in_string = |offset: usize| {
        let i = merged.partition_point(|&(start, _)| start <= offset);
        i > 0 && offset < merged[i - 1].1
    };

    let bytes = text.as_bytes();
    let mut count: u32 = 0;
    let mut start = 0;
    while start < bytes.len() {
        let mut end = start;
        while end < bytes.len() && !matches!(bytes[end], b'\n' | b'\r') {
            end += 1;
        }
        let line = &text[start..end];
        if let Some(first) = line.find(|c: char| !c.is_whitespace()) {
            if !line[first..].starts_with('#') || in_string(start + first) {
                count = count.saturating_add(1);
            }
        }
        start = if bytes.get(end) == Some(&b'\r') && bytes.get(end + 1) == Some(&b'\n') {
            end + 2
        } else {
            end + 1
        };
    }
    count
}
