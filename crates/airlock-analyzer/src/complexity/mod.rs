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
//! Every walk over the tree uses an explicit stack, so that deeply nested code cannot
//! overflow the thread's stack.

mod cognitive;
mod cyclomatic;
#[cfg(test)]
mod tests;

use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{
    BytesLiteral, Expr, FString, ModModule, Pattern, Stmt, StmtFunctionDef, StringLiteral, TString,
};
use ruff_text_size::{Ranged, TextRange, TextSize};

use crate::result::{Complexity, FunctionComplexity};
use crate::source::Source;

/// Measure a parsed module.
pub fn measure(module: &ModModule, source: &Source) -> Complexity {
    let walk = Walk::run(&module.body, source.text);

    let mut functions: Vec<(TextSize, FunctionComplexity)> =
        Vec::with_capacity(walk.functions.len());
    let defs: Vec<&StmtFunctionDef> = walk.functions.iter().map(|record| record.def).collect();
    let scores = cognitive::functions(&defs);
    let mut cognitive_total = cognitive::module(&module.body);
    for (record, &cognitive) in walk.functions.iter().zip(&scores) {
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
        lines_of_code: lines_of_code(source.text, walk.multiline_strings),
        cyclomatic_complexity: clamp(walk.cyclomatic_total),
        cognitive_complexity: clamp(cognitive_total),
        nesting_depth: walk.nesting_depth,
        functions: functions.into_iter().map(|(_, f)| f).collect(),
    }
}

fn clamp(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

/// A node of the tree that can hold other nodes.
#[derive(Clone, Copy, Debug)]
enum Node<'a> {
    Stmt(&'a Stmt),
    Expr(&'a Expr),
    Pattern(&'a Pattern),
}

/// Collects the direct children (statements, expressions, patterns) of one node without
/// descending further: the caller pushes them on its own stack. Ruff's walk functions
/// go through the small intermediate nodes (arguments, comprehensions, handlers, match
/// cases, parameters), whose depth is bounded.
#[derive(Debug, Default)]
struct Children<'a> {
    nodes: Vec<Node<'a>>,
    /// Ranges of string literal parts, collected only when `strings` is set.
    string_ranges: Vec<TextRange>,
    strings: bool,
}

impl<'a> Children<'a> {
    /// Replace the collected nodes with the children of `node`.
    fn of(&mut self, node: Node<'a>) {
        self.nodes.clear();
        match node {
            Node::Stmt(stmt) => visitor::walk_stmt(self, stmt),
            Node::Expr(expr) => visitor::walk_expr(self, expr),
            Node::Pattern(pattern) => visitor::walk_pattern(self, pattern),
        }
    }
}

impl<'a> Visitor<'a> for Children<'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        self.nodes.push(Node::Stmt(stmt));
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        self.nodes.push(Node::Expr(expr));
    }

    fn visit_pattern(&mut self, pattern: &'a Pattern) {
        self.nodes.push(Node::Pattern(pattern));
    }

    fn visit_string_literal(&mut self, literal: &'a StringLiteral) {
        if self.strings {
            self.string_ranges.push(literal.range);
        }
    }

    fn visit_bytes_literal(&mut self, literal: &'a BytesLiteral) {
        if self.strings {
            self.string_ranges.push(literal.range);
        }
    }

    fn visit_f_string(&mut self, f_string: &'a FString) {
        if self.strings {
            self.string_ranges.push(f_string.range);
        }
        visitor::walk_f_string(self, f_string);
    }

    fn visit_t_string(&mut self, t_string: &'a TString) {
        if self.strings {
            self.string_ranges.push(t_string.range);
        }
        visitor::walk_t_string(self, t_string);
    }
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

/// One node waiting on the walk's stack.
#[derive(Clone, Copy, Debug)]
struct Item<'a> {
    node: Node<'a>,
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
struct Walk<'a> {
    /// In the order found: every function after the functions enclosing it.
    functions: Vec<FunctionRecord<'a>>,
    scopes: Vec<Scope>,
    cyclomatic_total: u64,
    nesting_depth: u32,
    multiline_strings: Vec<TextRange>,
}

impl<'a> Walk<'a> {
    fn run(body: &'a [Stmt], text: &str) -> Walk<'a> {
        let mut walk = Walk {
            cyclomatic_total: 1,
            ..Walk::default()
        };
        let mut stack: Vec<Item<'a>> = body
            .iter()
            .rev()
            .map(|stmt| Item {
                node: Node::Stmt(stmt),
                owner: None,
                scope: None,
                depth: 0,
                counted: true,
            })
            .collect();
        let mut children = Children {
            strings: true,
            ..Children::default()
        };
        while let Some(item) = stack.pop() {
            walk.visit(item, &mut children, &mut stack);
            for range in children.string_ranges.drain(..) {
                if text
                    .get(range.start().to_usize()..range.end().to_usize())
                    .is_some_and(|s| s.contains(['\n', '\r']))
                {
                    walk.multiline_strings.push(range);
                }
            }
        }
        walk
    }

    fn visit(&mut self, item: Item<'a>, children: &mut Children<'a>, stack: &mut Vec<Item<'a>>) {
        if item.counted {
            let points = u64::from(cyclomatic::decision_points(item.node));
            self.cyclomatic_total = self.cyclomatic_total.saturating_add(points);
            if let Some(owner) = item.owner {
                let record = &mut self.functions[owner];
                record.cyclomatic = record.cyclomatic.saturating_add(points);
            }
        }
        let counted = item.counted && !cyclomatic::is_opaque(item.node);
        if let Node::Stmt(_) = item.node {
            self.nesting_depth = self.nesting_depth.max(item.depth);
        }
        match item.node {
            Node::Stmt(Stmt::FunctionDef(def)) => {
                let in_scope = item.scope.map(|s| &self.scopes[s]);
                let name = qualify(in_scope, def.name.as_str());
                let nested = in_scope.is_some_and(|s| s.in_function);
                let scope = self.scopes.len();
                self.scopes.push(Scope {
                    qualname: name.clone(),
                    in_function: true,
                });
                let index = self.functions.len();
                self.functions.push(FunctionRecord {
                    def,
                    name,
                    nested,
                    cyclomatic: 1,
                });
                // The header (decorators, type parameters, defaults, annotations) is
                // evaluated in the enclosing scope and belongs to no function's score.
                children.nodes.clear();
                for decorator in &def.decorator_list {
                    children.visit_decorator(decorator);
                }
                if let Some(type_params) = &def.type_params {
                    children.visit_type_params(type_params);
                }
                children.visit_parameters(&def.parameters);
                if let Some(returns) = &def.returns {
                    children.visit_annotation(returns);
                }
                push_all(
                    stack,
                    &children.nodes,
                    Item {
                        owner: None,
                        counted,
                        ..item
                    },
                );
                for stmt in def.body.iter().rev() {
                    stack.push(Item {
                        node: Node::Stmt(stmt),
                        owner: Some(index),
                        scope: Some(scope),
                        depth: item.depth + 1,
                        counted,
                    });
                }
            }
            Node::Stmt(Stmt::ClassDef(class)) => {
                let in_scope = item.scope.map(|s| &self.scopes[s]);
                let scope = self.scopes.len();
                self.scopes.push(Scope {
                    qualname: qualify(in_scope, class.name.as_str()),
                    in_function: in_scope.is_some_and(|s| s.in_function),
                });
                children.of(item.node);
                for node in children.nodes.iter().rev() {
                    let mut child = Item {
                        node: *node,
                        owner: None,
                        counted,
                        ..item
                    };
                    if let Node::Stmt(_) = node {
                        child.scope = Some(scope);
                        child.depth = item.depth + 1;
                    }
                    stack.push(child);
                }
            }
            Node::Stmt(_) => {
                children.of(item.node);
                for node in children.nodes.iter().rev() {
                    let depth = match node {
                        Node::Stmt(_) => item.depth + 1,
                        _ => item.depth,
                    };
                    stack.push(Item {
                        node: *node,
                        depth,
                        counted,
                        ..item
                    });
                }
            }
            Node::Expr(_) | Node::Pattern(_) => {
                children.of(item.node);
                push_all(stack, &children.nodes, Item { counted, ..item });
            }
        }
    }
}

fn push_all<'a>(stack: &mut Vec<Item<'a>>, nodes: &[Node<'a>], template: Item<'a>) {
    stack.extend(nodes.iter().rev().map(|node| Item {
        node: *node,
        ..template
    }));
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
