//! What names mean: the module's imports and aliases, so that the rules see one fully
//! qualified name whatever the spelling —
//!
//! ```python
//! import os as o; o.system("x")                # os.system
//! from os import system as s; s("x")           # os.system
//! from subprocess import *; run(["ls"])        # subprocess.run
//! e = eval; e("1")                             # eval
//! __builtins__.eval("1"); builtins.eval("1")   # eval
//! getattr(__import__("o" + "s"), "system")     # os.system
//! ```
//!
//! The model is flow- and scope-insensitive on purpose: a name bound anywhere (at module
//! level, in a function, in dead code) may stand for everything it is ever bound to, so
//! hiding a binding in a branch or a function does not hide it from the rules. A name can
//! therefore resolve to several qualified names; a rule fires if any of them matches.
//!
//! Builtins resolve to their bare name (`eval`, `open`): `builtins.eval` and
//! `__builtins__.eval` are written the same way.

mod fold;

use std::collections::{BTreeMap, HashMap, HashSet};

use ruff_python_ast::{self as ast, AnyNodeRef, Expr, ExprContext, ExprRef, ModModule};
use ruff_text_size::{Ranged, TextSize};

pub use fold::{Folded, Value};

use crate::walk::Walk;

/// Names the runner binds before user code runs (CONTRACT.md: `np`, `pd`, `plt`, `sns`).
const PREBOUND: &[(&str, &str)] = &[
    ("np", "numpy"),
    ("pd", "pandas"),
    ("plt", "matplotlib.pyplot"),
    ("sns", "seaborn"),
];

/// Python's builtin functions and types, and the module attributes every module has (the
/// names that resolve without an import).
const BUILTINS: &[&str] = &[
    "__build_class__",
    "__import__",
    "__loader__",
    "__spec__",
    "abs",
    "aiter",
    "all",
    "anext",
    "any",
    "ascii",
    "bin",
    "bool",
    "breakpoint",
    "bytearray",
    "bytes",
    "callable",
    "chr",
    "classmethod",
    "compile",
    "complex",
    "copyright",
    "credits",
    "delattr",
    "dict",
    "dir",
    "divmod",
    "enumerate",
    "eval",
    "exec",
    "exit",
    "filter",
    "float",
    "format",
    "frozenset",
    "getattr",
    "globals",
    "hasattr",
    "hash",
    "help",
    "hex",
    "id",
    "input",
    "int",
    "isinstance",
    "issubclass",
    "iter",
    "len",
    "license",
    "list",
    "locals",
    "map",
    "max",
    "memoryview",
    "min",
    "next",
    "object",
    "oct",
    "open",
    "ord",
    "pow",
    "print",
    "property",
    "quit",
    "range",
    "repr",
    "reversed",
    "round",
    "set",
    "setattr",
    "slice",
    "sorted",
    "staticmethod",
    "str",
    "sum",
    "super",
    "tuple",
    "type",
    "vars",
    "zip",
];

/// Calls that import a module named by their first argument.
const IMPORTERS: &[&str] = &[
    "__import__",
    "importlib.import_module",
    "importlib.__import__",
    "__loader__.load_module",
];

/// The value of `globals()`, `locals()` and `vars()`: subscripting it names a variable.
const NAMESPACE: &str = "<namespace>";

/// Longest attribute chain resolved (no qualified name worth knowing is longer).
const MAX_CHAIN: usize = 32;
/// Deepest nesting followed by one question to the model (resolving and folding call each
/// other: `getattr(x, "a" + "b")` folds inside a resolve), and most steps it may take.
const MAX_DEPTH: u32 = 64;
const MAX_STEPS: u32 = 20_000;

/// What one question to the model (a resolve or a fold) may still cost. Shared by the
/// resolver and the folder as they call each other, so that no input — however deep or
/// wide — makes a question recurse deeply or take long.
#[derive(Debug, Default)]
struct Budget {
    steps: u32,
}

impl Budget {
    /// Takes one step at `depth`; false when the question has gone too deep or too long.
    fn take(&mut self, depth: u32) -> bool {
        if depth > MAX_DEPTH || self.steps >= MAX_STEPS {
            return false;
        }
        self.steps += 1;
        true
    }
}
/// Most qualified names one local name may stand for.
const MAX_CANDIDATES: usize = 16;

/// How a module came to be imported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportKind {
    /// `import a.b` or `import a.b as c`.
    Import,
    /// `from a import b`.
    From,
    /// `from a import *`.
    Star,
    /// `__import__("a")`, `importlib.import_module("a")` with a name known statically.
    Dynamic,
}

/// One imported module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Import {
    /// The module, fully qualified (`os.path`; for `from os import path`, `os`).
    pub module: String,
    /// For `from m import a, b`: `m.a`, `m.b`, each with where its name starts.
    pub names: Vec<(String, TextSize)>,
    pub kind: ImportKind,
    /// Where the statement or call starts.
    pub offset: TextSize,
}

/// Imports, aliases and constants of one module.
#[derive(Debug, Default)]
pub struct Model {
    /// Local name → the qualified names it may stand for.
    bindings: BTreeMap<String, Vec<String>>,
    /// Modules imported with `*`: any otherwise unbound name may come from them.
    star_modules: Vec<String>,
    imports: Vec<Import>,
    /// Names bound exactly once, to a value folding knows.
    constants: HashMap<String, Folded>,
    /// Names bound exactly once, to a number.
    numbers: HashMap<String, f64>,
    /// Names the code binds itself (assignments, parameters, loop targets, definitions):
    /// a wildcard import does not explain them.
    local: HashSet<String>,
}

impl Model {
    pub fn build(module: &ModModule) -> Model {
        let mut model = Model::default();
        let mut assignments: Vec<(&str, &Expr)> = Vec::new();
        let mut stores: HashMap<&str, u32> = HashMap::new();
        let mut calls: Vec<&ast::ExprCall> = Vec::new();
        for entry in Walk::new(AnyNodeRef::from(module)) {
            match entry.node {
                AnyNodeRef::StmtImport(import) => {
                    for alias in &import.names {
                        let bound = model.add_import(alias);
                        *stores.entry(bound).or_default() += 1;
                    }
                }
                AnyNodeRef::StmtImportFrom(import) => {
                    for bound in model.add_import_from(import) {
                        *stores.entry(bound).or_default() += 1;
                    }
                }
                AnyNodeRef::StmtAssign(assign) => {
                    for target in &assign.targets {
                        pair_targets(target, &assign.value, &mut assignments);
                    }
                }
                AnyNodeRef::StmtAnnAssign(assign) => {
                    if let Some(value) = &assign.value {
                        pair_targets(&assign.target, value, &mut assignments);
                    }
                }
                AnyNodeRef::ExprNamed(named) => {
                    pair_targets(&named.target, &named.value, &mut assignments);
                }
                AnyNodeRef::ParameterWithDefault(parameter) => {
                    if let Some(default) = &parameter.default {
                        assignments.push((parameter.parameter.name.as_str(), default));
                    }
                }
                AnyNodeRef::Parameter(parameter) => {
                    *stores.entry(parameter.name.as_str()).or_default() += 1;
                }
                AnyNodeRef::ExprName(name) if name.ctx != ExprContext::Load => {
                    *stores.entry(name.id.as_str()).or_default() += 1;
                }
                AnyNodeRef::StmtFunctionDef(def) => {
                    *stores.entry(def.name.as_str()).or_default() += 1;
                }
                AnyNodeRef::StmtClassDef(def) => {
                    *stores.entry(def.name.as_str()).or_default() += 1;
                }
                AnyNodeRef::ExprCall(call) => calls.push(call),
                _ => {}
            }
        }
        model.local = stores.keys().map(|name| (*name).to_string()).collect();
        // Constants first (a name may be looked up through one: `getattr(os, n)`), then
        // aliases — which may be bound in any order, so repeat until nothing changes — then
        // constants again, now that aliases are known (`d = base64.b64decode; d("…")`).
        model.fold_constants(&assignments, &stores);
        for _ in 0..4 {
            let mut changed = false;
            for &(name, value) in &assignments {
                for qualified in model.resolve(value) {
                    changed |= model.bind(name, qualified);
                }
            }
            if !changed {
                break;
            }
        }
        model.fold_constants(&assignments, &stores);
        for call in calls {
            let callees = model.resolve(&*call.func);
            if !callees.iter().any(|c| IMPORTERS.contains(&c.as_str())) {
                continue;
            }
            let Some(first) = call.arguments.args.first() else {
                continue;
            };
            if let Some(name) = model
                .fold(first)
                .and_then(|f| f.as_str().map(str::to_string))
            {
                if is_module_name(&name) {
                    model.imports.push(Import {
                        module: name,
                        names: Vec::new(),
                        kind: ImportKind::Dynamic,
                        offset: call.start(),
                    });
                }
            }
        }
        model
    }

    /// Names bound exactly once to a value folding knows, in source order, each from those
    /// before it.
    fn fold_constants(&mut self, assignments: &[(&str, &Expr)], stores: &HashMap<&str, u32>) {
        for &(name, value) in assignments {
            if stores.get(name) != Some(&1) {
                continue;
            }
            if let Some(folded) = self.fold(value) {
                self.constants.insert(name.to_string(), folded);
            } else if let Some(number) = self.magnitude(value) {
                self.numbers.insert(name.to_string(), number);
            }
        }
    }

    /// `import a.b.c` binds `a`; `import a.b.c as d` binds `d` to `a.b.c`. Returns the bound
    /// name.
    fn add_import<'a>(&mut self, alias: &'a ast::Alias) -> &'a str {
        let module = alias.name.as_str();
        self.imports.push(Import {
            module: module.to_string(),
            names: Vec::new(),
            kind: ImportKind::Import,
            offset: alias.start(),
        });
        match &alias.asname {
            Some(asname) => {
                self.bind(asname.as_str(), module.to_string());
                asname.as_str()
            }
            None => {
                let top = module.split('.').next().unwrap_or(module);
                self.bind(top, top.to_string());
                top
            }
        }
    }

    /// `from a import b as c` binds `c` to `a.b`. Returns the bound names. Relative imports
    /// name the code's own package, which a sandboxed snippet does not have: ignored.
    fn add_import_from<'a>(&mut self, import: &'a ast::StmtImportFrom) -> Vec<&'a str> {
        let Some(module) = import.module.as_ref().filter(|_| import.level == 0) else {
            return Vec::new();
        };
        let module = module.as_str();
        let mut bound = Vec::new();
        let mut names = Vec::new();
        let mut star = false;
        for alias in &import.names {
            let name = alias.name.as_str();
            if name == "*" {
                star = true;
                self.star_modules.push(module.to_string());
                continue;
            }
            let qualified = format!("{module}.{name}");
            names.push((qualified.clone(), alias.start()));
            let local = alias.asname.as_ref().unwrap_or(&alias.name).as_str();
            self.bind(local, qualified);
            bound.push(local);
        }
        self.imports.push(Import {
            module: module.to_string(),
            names,
            kind: if star {
                ImportKind::Star
            } else {
                ImportKind::From
            },
            offset: import.start(),
        });
        bound
    }

    /// Adds a meaning to `name`; true if it is new.
    fn bind(&mut self, name: &str, qualified: String) -> bool {
        let qualified = canonical(qualified);
        let meanings = self.bindings.entry(name.to_string()).or_default();
        if meanings.contains(&qualified) || meanings.len() >= MAX_CANDIDATES {
            return false;
        }
        meanings.push(qualified);
        true
    }

    /// Every import, in the order the walk met them.
    pub fn imports(&self) -> &[Import] {
        &self.imports
    }

    /// Top-level names of imported modules (static imports, and dynamic ones whose name is
    /// known), sorted, unique.
    pub fn imported_modules(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .imports
            .iter()
            .filter_map(|i| i.module.split('.').next())
            .filter(|top| !top.is_empty())
            .map(str::to_string)
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The qualified names `expr` may stand for: a module (`os`), a function (`os.system`,
    /// `eval`), an attribute (`sys.modules`). Empty when the model cannot tell.
    pub fn resolve<'e>(&self, expr: impl Into<ExprRef<'e>>) -> Vec<String> {
        self.resolve_at(expr.into(), 0, &mut Budget::default())
    }

    fn resolve_at(&self, expr: ExprRef<'_>, depth: u32, budget: &mut Budget) -> Vec<String> {
        if !budget.take(depth) {
            return Vec::new();
        }
        let mut attributes = Vec::new();
        let mut base = expr;
        while let ExprRef::Attribute(attribute) = base {
            if attributes.len() >= MAX_CHAIN {
                return Vec::new();
            }
            attributes.push(attribute.attr.as_str());
            base = ExprRef::from(&*attribute.value);
        }
        let bases = match base {
            ExprRef::Name(name) => self.resolve_name(name.id.as_str()),
            ExprRef::Call(call) => self.resolve_call(call, depth + 1, budget),
            ExprRef::Subscript(subscript) => self.resolve_subscript(subscript, depth + 1, budget),
            ExprRef::Named(named) => {
                self.resolve_at(ExprRef::from(&*named.value), depth + 1, budget)
            }
            _ => Vec::new(),
        };
        let mut out: Vec<String> = Vec::with_capacity(bases.len());
        for base in bases {
            if base == NAMESPACE && !attributes.is_empty() {
                continue;
            }
            let mut qualified = base;
            for attribute in attributes.iter().rev() {
                qualified.push('.');
                qualified.push_str(attribute);
            }
            let qualified = canonical(qualified);
            if !out.contains(&qualified) {
                out.push(qualified);
            }
        }
        out
    }

    fn resolve_name(&self, name: &str) -> Vec<String> {
        let mut out = Vec::new();
        let bound = self.bindings.get(name);
        if let Some(meanings) = bound {
            out.extend(meanings.iter().cloned());
        }
        let builtin = name == "__builtins__" || BUILTINS.contains(&name);
        if name == "__builtins__" {
            out.push("builtins".to_string());
        } else if builtin {
            out.push(name.to_string());
        }
        // A wildcard import may bind any name, but reading every builtin as
        // `module.builtin` would make every `len()` suspect: builtins keep their meaning.
        if bound.is_none() && !builtin && !self.local.contains(name) {
            if let Some((_, module)) = PREBOUND.iter().find(|(n, _)| *n == name) {
                out.push((*module).to_string());
            } else {
                for module in &self.star_modules {
                    out.push(format!("{module}.{name}"));
                }
            }
        }
        out
    }

    /// What a call returns, when it is a module or a named object: `__import__("os")`,
    /// `importlib.import_module("os")`, `getattr(os, "system")`, `vars(x)` (`x.__dict__`),
    /// `globals()`.
    fn resolve_call(&self, call: &ast::ExprCall, depth: u32, budget: &mut Budget) -> Vec<String> {
        let args = &call.arguments.args;
        let literal = |index: usize, budget: &mut Budget| -> Option<String> {
            let folded = self.fold_at(args.get(index)?, depth, budget)?;
            folded.as_str().map(str::to_string)
        };
        let mut out = Vec::new();
        // obj.__getattribute__("name"), object.__getattribute__(obj, "name")
        if let Expr::Attribute(attribute) = &*call.func {
            if attribute.attr.as_str() == "__getattribute__" {
                let owner = self.resolve_at(ExprRef::from(&*attribute.value), depth, budget);
                if owner.iter().any(|o| o == "object" || o == "type") && args.len() >= 2 {
                    if let Some(name) = literal(1, budget) {
                        out.extend(
                            self.resolve_at(ExprRef::from(&args[0]), depth, budget)
                                .into_iter()
                                .map(|q| format!("{q}.{name}")),
                        );
                    }
                } else if let Some(name) = literal(0, budget) {
                    out.extend(owner.into_iter().map(|q| format!("{q}.{name}")));
                }
                return out;
            }
        }
        for callee in self.resolve_at(ExprRef::from(&*call.func), depth, budget) {
            match callee.as_str() {
                "getattr" if args.len() >= 2 => {
                    if let Some(name) = literal(1, budget) {
                        out.extend(
                            self.resolve_at(ExprRef::from(&args[0]), depth, budget)
                                .into_iter()
                                .filter(|q| q != NAMESPACE)
                                .map(|q| format!("{q}.{name}")),
                        );
                    }
                }
                "__import__" | "importlib.__import__" => {
                    if let Some(name) = literal(0, budget) {
                        let fromlist =
                            args.len() >= 4 || call.arguments.find_keyword("fromlist").is_some();
                        if fromlist {
                            out.push(name);
                        } else {
                            out.push(name.split('.').next().unwrap_or_default().to_string());
                        }
                    }
                }
                "importlib.import_module" | "__loader__.load_module" => {
                    out.extend(literal(0, budget));
                }
                "vars" if args.len() == 1 => out.extend(
                    self.resolve_at(ExprRef::from(&args[0]), depth, budget)
                        .into_iter()
                        .map(|q| format!("{q}.__dict__")),
                ),
                "vars" | "globals" | "locals" if args.is_empty() => out.push(NAMESPACE.into()),
                _ => {}
            }
        }
        out
    }

    /// `x.__dict__["name"]`, `__builtins__["eval"]`, `sys.modules["os"]`,
    /// `globals()["name"]`.
    fn resolve_subscript(
        &self,
        subscript: &ast::ExprSubscript,
        depth: u32,
        budget: &mut Budget,
    ) -> Vec<String> {
        let Some(key) = self
            .fold_at(&subscript.slice, depth, budget)
            .and_then(|f| f.as_str().map(str::to_string))
        else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for base in self.resolve_at(ExprRef::from(&*subscript.value), depth, budget) {
            if base == NAMESPACE {
                out.extend(self.resolve_name(&key));
            } else if base == "sys.modules" {
                out.push(key.clone());
            } else if let Some(owner) = base.strip_suffix(".__dict__") {
                out.push(format!("{owner}.{key}"));
            } else if base == "builtins" {
                out.push(key.clone());
            }
        }
        out
    }

    /// The value of `expr` when it is built from literals only (see [`fold`]).
    pub fn fold(&self, expr: &Expr) -> Option<Folded> {
        self.fold_at(expr, 0, &mut Budget::default())
    }

    fn fold_at(&self, expr: &Expr, depth: u32, budget: &mut Budget) -> Option<Folded> {
        fold::Evaluator::new(self, depth, budget).fold(expr)
    }

    /// The value a call returns, when folding knows it (`"".join(…)`, `chr(…)`).
    pub fn fold_call(&self, call: &ast::ExprCall) -> Option<Folded> {
        fold::Evaluator::new(self, 0, &mut Budget::default()).fold_call(call)
    }

    /// How large a constant number `expr` is, roughly.
    pub fn magnitude(&self, expr: &Expr) -> Option<f64> {
        fold::magnitude(self, expr)
    }

    /// The folded value of a name bound once.
    pub fn constant(&self, name: &str) -> Option<&Folded> {
        self.constants.get(name)
    }

    /// The number a name bound once stands for.
    pub fn number(&self, name: &str) -> Option<f64> {
        match self.constants.get(name) {
            Some(Folded {
                value: Value::Int(i),
                ..
            }) => Some(*i as f64),
            _ => self.numbers.get(name).copied(),
        }
    }
}

/// `builtins.eval` and `__builtin__.eval` are `eval`.
fn canonical(qualified: String) -> String {
    for prefix in ["builtins.", "__builtin__."] {
        if let Some(rest) = qualified.strip_prefix(prefix) {
            // `builtins.__dict__` stays: subscripting it names a builtin.
            if rest.starts_with("__dict__") {
                return format!("builtins.{rest}");
            }
            return rest.to_string();
        }
    }
    if qualified == "__builtin__" {
        return "builtins".to_string();
    }
    qualified
}

fn is_module_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_alphanumeric() || c == '_'))
}

/// `a = v`, `a, b = v, w` (element by element).
fn pair_targets<'a>(target: &'a Expr, value: &'a Expr, out: &mut Vec<(&'a str, &'a Expr)>) {
    match (target, value) {
        (Expr::Name(name), value) => out.push((name.id.as_str(), value)),
        (
            Expr::Tuple(ast::ExprTuple { elts: targets, .. })
            | Expr::List(ast::ExprList { elts: targets, .. }),
            Expr::Tuple(ast::ExprTuple { elts: values, .. })
            | Expr::List(ast::ExprList { elts: values, .. }),
        ) if targets.len() == values.len() => {
            for (t, v) in targets.iter().zip(values.iter()) {
                if let Expr::Name(name) = t {
                    out.push((name.id.as_str(), v));
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds the model of `code` and hands it to `check` with the expression of the last
    /// statement.
    pub(super) fn model_and_last(code: &str, check: impl FnOnce(&Model, &Expr)) {
        let module = ruff_python_parser::parse_module(code)
            .expect("parses")
            .into_syntax();
        let model = Model::build(&module);
        let ast::Stmt::Expr(last) = module.body.last().expect("a statement") else {
            panic!("last statement is not an expression")
        };
        check(&model, &last.value);
    }

    fn resolves(code: &str) -> Vec<String> {
        let mut out = Vec::new();
        model_and_last(code, |model, expr| {
            let target = match expr {
                Expr::Call(call) => &*call.func,
                other => other,
            };
            out = model.resolve(target);
        });
        out
    }

    #[test]
    fn aliases_do_not_hide_a_call() {
        assert_eq!(resolves("import os as o\no.system('x')"), ["os.system"]);
        assert_eq!(
            resolves("from os import system as s\ns('x')"),
            ["os.system"]
        );
        assert_eq!(
            resolves("import subprocess as sp\nsp.run"),
            ["subprocess.run"]
        );
        assert_eq!(
            resolves("from subprocess import *\nrun(['ls'])"),
            ["subprocess.run"]
        );
        assert_eq!(resolves("import os.path\nos.system('x')"), ["os.system"]);
        assert_eq!(resolves("import os.path as p\np.join"), ["os.path.join"]);
        assert_eq!(
            resolves("def f():\n    import os as q\nq.popen('x')"),
            ["os.popen"]
        );
    }

    #[test]
    fn builtins_resolve_to_their_bare_name() {
        assert_eq!(resolves("eval('1')"), ["eval"]);
        assert_eq!(resolves("__builtins__.eval('1')"), ["eval"]);
        assert_eq!(resolves("import builtins\nbuiltins.exec('1')"), ["exec"]);
        assert_eq!(resolves("from builtins import eval as e\ne('1')"), ["eval"]);
        assert_eq!(resolves("__builtins__['eval']('1')"), ["eval"]);
        assert_eq!(resolves("__builtins__.__dict__['eval']('1')"), ["eval"]);
        assert_eq!(resolves("globals()['__builtins__'].eval('1')"), ["eval"]);
    }

    #[test]
    fn assignments_and_defaults_alias() {
        assert_eq!(resolves("e = eval\ne('1')"), ["eval"]);
        assert_eq!(
            resolves("import os\nx = os\ny = x.system\ny('ls')"),
            ["os.system"]
        );
        assert_eq!(resolves("def f(g=eval):\n    pass\ng('1')"), ["eval"]);
        assert_eq!(resolves("a, b = eval, exec\nb('1')"), ["exec"]);
    }

    #[test]
    fn dynamic_lookups_with_known_names() {
        assert_eq!(
            resolves("import os\ngetattr(os, 'system')('x')"),
            ["os.system"]
        );
        assert_eq!(
            resolves("getattr(__import__('o' + 's'), 'sys' + 'tem')('x')"),
            ["os.system"]
        );
        assert_eq!(
            resolves("import importlib\nimportlib.import_module('subprocess').run"),
            ["subprocess.run"]
        );
        assert_eq!(
            resolves("import sys\nsys.modules['os'].system"),
            ["os.system"]
        );
        assert_eq!(
            resolves("object.__getattribute__(__builtins__, 'eval')('1')"),
            ["eval"]
        );
        assert_eq!(resolves("vars(__builtins__)['exec']('1')"), ["exec"]);
    }

    #[test]
    fn prebound_names_and_unknowns() {
        assert_eq!(resolves("np.zeros(3)"), ["numpy.zeros"]);
        assert_eq!(resolves("import numpy as np\nnp.ones(3)"), ["numpy.ones"]);
        assert!(resolves("df.eval('a + b')").is_empty());
        assert!(resolves("x = 1\nx").is_empty());
    }

    #[test]
    fn imported_modules_are_top_level_sorted_unique() {
        let module = ruff_python_parser::parse_module(
            "import pandas as pd\nimport os.path\nfrom numpy.linalg import inv\nimport numpy\n\
             def f():\n    import json\nfrom . import sibling\n__import__('subprocess')\n",
        )
        .expect("parses")
        .into_syntax();
        let model = Model::build(&module);
        assert_eq!(
            model.imported_modules(),
            ["json", "numpy", "os", "pandas", "subprocess"]
        );
    }
}
