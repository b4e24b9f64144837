//! Cognitive complexity, complexipy's definition (complexipy 8.3.0, which reads
//! SonarSource's "Cognitive Complexity" for Python). Increments, with `n` the nesting
//! level (0 in a function's body):
//!
//! | construct | increment | nesting of its blocks |
//! |---|---|---|
//! | `if` | 1 + n, plus 1 per `elif` and for `else` | n + 1 |
//! | `for`, `while` (and `async for`) | 1 + n (`else`: 0) | body n + 1, `else` n |
//! | `try` | 0; 1 + n per `except` | `try`, `else`, `finally` n; `except` n + 1 |
//! | `match` | 1 + n (cases: 0) | n + 1 |
//! | `with` | 0 | n |
//! | nested `def` | 0 | n + 1 when it is directly in a function body |
//! | conditional expression | 1 + n | its branches n + 1 |
//! | comprehension | 1 + n per `for`, 1 per `if` | element and `if`s n + 1 |
//! | `lambda` | 0 | n + 1 |
//! | boolean operators | 1 per sequence, plus 1 per change of operator (see below) | |
//! | direct recursion (a call of the function's own name) | 1, once | |
//!
//! Expressions are only looked at where complexipy looks: the value of an assignment,
//! `return`, `raise`, an expression statement, `assert`, the test of `if`/`elif`/`while`,
//! the iterable of `for`, the context managers of `with`; inside them, through calls'
//! positional arguments, tuples, lists, sets, dict values, comparisons, conditional
//! expressions, lambdas and comprehensions. A class inside a function contributes its
//! methods (directly in its body) at the class's nesting level. A function whose body is
//! exactly a nested `def` and a `return` (a decorator factory's shape) scores as that
//! nested function, without the extra nesting level.
//!
//! Boolean operators follow complexipy's reading too: a sequence (`a and b and c`)
//! scores 1, an operand that is itself a boolean operation of the other operator scores
//! 1 more (`a or b and c`: 2), and so does a boolean operation under a unary operator
//! (`not (a and b)`: 1); only boolean operations and unary operators are looked through
//! (`a and f(b or c)`: 1).

use std::collections::HashMap;

use ruff_python_ast::{AnyNodeRef, Expr, Stmt, StmtFunctionDef};

use crate::walk::Walk;

/// Cognitive complexity of each function on its own (its nested functions included), in
/// the order given. `defs` holds every function of the module, each after the functions
/// that enclose it.
///
/// Each body is walked once: a nested function's score at nesting level `n` is its score
/// at level 0 plus `n` for each of its increments that depend on nesting, so the inner
/// functions are scored first and folded into the outer ones by that formula.
pub(super) fn functions(defs: &[&StmtFunctionDef]) -> Vec<u64> {
    let mut folds: HashMap<*const StmtFunctionDef, Fold> = HashMap::with_capacity(defs.len());
    let mut scores = vec![0; defs.len()];
    for (index, def) in defs.iter().enumerate().rev() {
        let mut engine = Engine::new(Some(&folds));
        engine.function_body(def, 0);
        let base = engine.run();
        let fold = Fold {
            base,
            terms: engine.terms,
        };
        scores[index] = base.saturating_add(u64::from(is_recursive(def)));
        folds.insert(std::ptr::from_ref(*def), fold);
    }
    scores
}

/// Cognitive complexity of the module-level code: everything outside functions and
/// class bodies (complexipy scores those as functions, or not at all).
pub(super) fn module(body: &[Stmt]) -> u64 {
    let mut engine = Engine::new(None);
    engine.body(body, 0);
    engine.run()
}

/// A function's score at nesting level 0 and its number of increments that grow with the
/// nesting level.
#[derive(Clone, Copy, Debug)]
struct Fold {
    base: u64,
    terms: u64,
}

#[derive(Clone, Copy, Debug)]
enum Work<'a> {
    Stmt(&'a Stmt, u64),
    /// An expression where complexipy looks for boolean operators and the like.
    Expr(&'a Expr, u64),
    /// complexipy's comparison of an operand with an enclosing operation.
    Mixed(&'a Expr, &'a Expr),
}

#[derive(Debug)]
struct Engine<'a, 'f> {
    stack: Vec<Work<'a>>,
    /// The nested functions already scored, when nested definitions count (inside a
    /// function); `None` at module level, where functions are scored apart and class
    /// bodies not at all.
    folds: Option<&'f HashMap<*const StmtFunctionDef, Fold>>,
    total: u64,
    /// Increments of the form 1 + nesting level seen so far.
    terms: u64,
}

impl<'a> Engine<'a, '_> {
    fn new(folds: Option<&HashMap<*const StmtFunctionDef, Fold>>) -> Engine<'a, '_> {
        Engine {
            stack: Vec::new(),
            folds,
            total: 0,
            terms: 0,
        }
    }

    fn run(&mut self) -> u64 {
        while let Some(work) = self.stack.pop() {
            match work {
                Work::Stmt(stmt, nesting) => self.stmt(stmt, nesting),
                Work::Expr(expr, nesting) => self.expr(expr, nesting),
                Work::Mixed(expr, parent) => self.mixed(expr, parent),
            }
        }
        self.total
    }

    fn add(&mut self, points: u64) {
        self.total = self.total.saturating_add(points);
    }

    /// An increment that grows with the nesting level.
    fn nested(&mut self, n: u64) {
        self.add(1 + n);
        self.terms = self.terms.saturating_add(1);
    }

    fn body(&mut self, body: &'a [Stmt], nesting: u64) {
        self.stack
            .extend(body.iter().map(|stmt| Work::Stmt(stmt, nesting)));
    }

    fn expr_at(&mut self, expr: &'a Expr, nesting: u64) {
        self.stack.push(Work::Expr(expr, nesting));
    }

    /// A nested function already scored, at nesting level `n`.
    fn folded(&mut self, def: &StmtFunctionDef, n: u64) -> bool {
        let Some(fold) = self
            .folds
            .and_then(|folds| folds.get(&std::ptr::from_ref(def)))
        else {
            return false;
        };
        let (base, terms) = (fold.base, fold.terms);
        self.add(base.saturating_add(n.saturating_mul(terms)));
        self.terms = self.terms.saturating_add(terms);
        true
    }

    /// A nested `def` at nesting level `n`.
    fn definition(&mut self, def: &'a StmtFunctionDef, n: u64) {
        if !self.folded(def, n) {
            self.function_body(def, n);
        }
    }

    /// The statements of a function's body at nesting level `n`, nested `def`s one level
    /// deeper. A decorator factory's body (a `def` and a `return`) stands for its inner
    /// function at the same level.
    fn function_body(&mut self, mut def: &'a StmtFunctionDef, n: u64) {
        while let [Stmt::FunctionDef(inner), Stmt::Return(_)] = def.body.as_slice() {
            if self.folded(inner, n) {
                return;
            }
            def = inner;
        }
        for stmt in &def.body {
            let n = n + u64::from(matches!(stmt, Stmt::FunctionDef(_)));
            self.stack.push(Work::Stmt(stmt, n));
        }
    }

    fn stmt(&mut self, stmt: &'a Stmt, n: u64) {
        match stmt {
            // At module level, functions and classes are scored apart (or not at all).
            Stmt::FunctionDef(def) if self.folds.is_some() => self.definition(def, n),
            Stmt::ClassDef(class) if self.folds.is_some() => {
                for stmt in &class.body {
                    if let Stmt::FunctionDef(_) = stmt {
                        self.stack.push(Work::Stmt(stmt, n));
                    }
                }
            }
            Stmt::Assign(stmt) => self.expr_at(&stmt.value, n),
            Stmt::AnnAssign(stmt) => {
                if let Some(value) = &stmt.value {
                    self.expr_at(value, n);
                }
            }
            Stmt::AugAssign(stmt) => self.expr_at(&stmt.value, n),
            Stmt::For(stmt) => {
                self.nested(n);
                self.expr_at(&stmt.iter, n);
                self.body(&stmt.body, n + 1);
                self.body(&stmt.orelse, n);
            }
            Stmt::While(stmt) => {
                self.nested(n);
                self.expr_at(&stmt.test, n);
                self.body(&stmt.body, n + 1);
                self.body(&stmt.orelse, n);
            }
            Stmt::If(stmt) => {
                self.nested(n);
                self.expr_at(&stmt.test, n);
                self.body(&stmt.body, n + 1);
                for clause in &stmt.elif_else_clauses {
                    self.add(1);
                    if let Some(test) = &clause.test {
                        self.expr_at(test, n);
                    }
                    self.body(&clause.body, n + 1);
                }
            }
            Stmt::Try(stmt) => {
                self.body(&stmt.body, n);
                for handler in &stmt.handlers {
                    let ruff_python_ast::ExceptHandler::ExceptHandler(handler) = handler;
                    self.nested(n);
                    self.body(&handler.body, n + 1);
                }
                self.body(&stmt.orelse, n);
                self.body(&stmt.finalbody, n);
            }
            Stmt::Match(stmt) => {
                self.nested(n);
                for case in &stmt.cases {
                    self.body(&case.body, n + 1);
                }
            }
            Stmt::Return(stmt) => {
                if let Some(value) = &stmt.value {
                    self.expr_at(value, n);
                }
            }
            Stmt::Raise(stmt) => {
                for expr in [&stmt.exc, &stmt.cause].into_iter().flatten() {
                    self.expr_at(expr, n);
                }
            }
            Stmt::Assert(stmt) => {
                self.expr_at(&stmt.test, n);
                if let Some(msg) = &stmt.msg {
                    self.expr_at(msg, n);
                }
            }
            Stmt::With(stmt) => {
                for item in &stmt.items {
                    self.expr_at(&item.context_expr, n);
                }
                self.body(&stmt.body, n);
            }
            Stmt::Expr(stmt) => self.expr_at(&stmt.value, n),
            _ => {}
        }
    }

    fn expr(&mut self, expr: &'a Expr, n: u64) {
        match expr {
            Expr::BoolOp(bool_op) => {
                self.add(1);
                for value in &bool_op.values {
                    self.mixed_step(value, expr);
                }
            }
            Expr::UnaryOp(unary) => self.mixed_step(&unary.operand, expr),
            Expr::Compare(compare) => {
                self.expr_at(&compare.left, n);
                for comparator in &compare.comparators {
                    self.expr_at(comparator, n);
                }
            }
            Expr::If(if_expr) => {
                self.nested(n);
                self.expr_at(&if_expr.test, n);
                self.expr_at(&if_expr.body, n + 1);
                self.expr_at(&if_expr.orelse, n + 1);
            }
            Expr::Lambda(lambda) => self.expr_at(&lambda.body, n + 1),
            Expr::ListComp(comp) => self.comprehension(&[&comp.elt], &comp.generators, n),
            Expr::SetComp(comp) => self.comprehension(&[&comp.elt], &comp.generators, n),
            Expr::Generator(comp) => self.comprehension(&[&comp.elt], &comp.generators, n),
            Expr::DictComp(comp) => match &comp.key {
                Some(key) => self.comprehension(&[key, &comp.value], &comp.generators, n),
                None => self.comprehension(&[&comp.value], &comp.generators, n),
            },
            Expr::Call(call) => {
                for arg in &call.arguments.args {
                    self.expr_at(arg, n);
                }
            }
            Expr::Tuple(tuple) => {
                for element in &tuple.elts {
                    self.expr_at(element, n);
                }
            }
            Expr::List(list) => {
                for element in &list.elts {
                    self.expr_at(element, n);
                }
            }
            Expr::Set(set) => {
                for element in &set.elts {
                    self.expr_at(element, n);
                }
            }
            Expr::Dict(dict) => {
                for value in dict.iter_values() {
                    self.expr_at(value, n);
                }
            }
            _ => {}
        }
    }

    fn comprehension(
        &mut self,
        elements: &[&'a Expr],
        generators: &'a [ruff_python_ast::Comprehension],
        n: u64,
    ) {
        for generator in generators {
            self.nested(n);
            self.expr_at(&generator.iter, n);
            for condition in &generator.ifs {
                self.add(1);
                self.expr_at(condition, n + 1);
            }
        }
        for element in elements {
            self.expr_at(element, n + 1);
        }
    }

    /// complexipy's `count_different_childs_type`: below a boolean operation or a
    /// unary operator, a boolean operation of the other operator (or under a unary
    /// operator) scores 1, and the walk goes on through boolean operations and unary
    /// operators only.
    fn mixed(&mut self, expr: &'a Expr, parent: &'a Expr) {
        match expr {
            Expr::BoolOp(this) => {
                let points = match parent {
                    Expr::BoolOp(up) => u64::from(this.op != up.op),
                    _ => 1,
                };
                self.add(points);
                for value in &this.values {
                    self.mixed_step(value, expr);
                }
            }
            Expr::UnaryOp(this) => self.mixed_step(&this.operand, expr),
            _ => {}
        }
    }

    fn mixed_step(&mut self, expr: &'a Expr, parent: &'a Expr) {
        if matches!(expr, Expr::BoolOp(_) | Expr::UnaryOp(_)) {
            self.stack.push(Work::Mixed(expr, parent));
        }
    }
}

/// Whether the body calls the function by its bare name, outside nested functions,
/// classes and lambdas (complexipy's direct-recursion rule).
fn is_recursive(def: &StmtFunctionDef) -> bool {
    let name = def.name.as_str();
    let mut walk = Walk::over(def.body.iter().map(AnyNodeRef::from));
    while let Some(entry) = walk.next() {
        match entry.node {
            AnyNodeRef::StmtFunctionDef(_)
            | AnyNodeRef::StmtClassDef(_)
            | AnyNodeRef::ExprLambda(_) => walk.skip_children(),
            AnyNodeRef::ExprCall(call) => {
                if let Expr::Name(callee) = call.func.as_ref() {
                    if callee.id.as_str() == name {
                        return true;
                    }
                }
            }
            _ => {}
        }
    }
    false
}
