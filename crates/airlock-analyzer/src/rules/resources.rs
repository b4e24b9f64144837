//! AL5xx: code that will certainly exhaust its limits — loops that cannot end, allocations
//! and integers whose size is written in the code, iterators that never stop materialized
//! into lists. The jail enforces the limits anyway; the analyzer says why a run will be
//! killed before it is.
//!
//! Sizes come from constant folding (`10**10`, `N = 10**12; [0] * N`) and are compared
//! with the policy's `[thresholds]`.

use ruff_python_ast::{self as ast, AnyNodeRef, Expr, Operator, Stmt, UnaryOp};
use ruff_text_size::{Ranged, TextSize};

use crate::result::Severity;
use crate::semantic::Value;
use crate::walk::{Entry, Walk};

use super::{argument, callee_in, Checker, Family, Rule};

pub const FAMILY: Family = Family {
    title: "resources",
    codes: "AL5xx",
    about: "Loops that cannot end and sizes known from the code that exceed the policy's \
            `[thresholds]` (`allocation_bytes`, `integer_bits`, `iterations`, \
            `recursion_limit`). Sizes are computed from constants, including names bound \
            once (`N = 10**10`).",
    rules: &[
        &ENDLESS_LOOP,
        &HUGE_ALLOCATION,
        &HUGE_INTEGER,
        &HUGE_ITERATION,
        &INFINITE_ITERATOR,
        &RECURSION_LIMIT,
    ],
};

/// AL501: a loop with no way out.
pub const ENDLESS_LOOP: Rule = Rule {
    code: "AL501",
    name: "endless-loop",
    severity: Severity::High,
    summary: "a loop with no way out (`while True` without break, return or raise)",
    what: "Reports `while True:` (or any constant true test: `while 1:`, `while \"x\":`) \
           and `for` over `itertools.count()`, `itertools.cycle(…)`, \
           `itertools.repeat(x)` or `iter(int, 1)` (a sentinel never returned), when the \
           body has no `break` of that loop, no `return`, `raise`, `yield` or \
           `sys.exit()` (nested functions do not count). A loop inside a `try` with \
           handlers whose body calls or indexes something is taken to end by exception \
           (`try: while True: stack.pop() except IndexError: pass`).",
    why: "Such a loop runs until the sandbox's timeout kills it: the whole time budget is \
          burnt and no result comes back.",
    example: "while True:\n    prices = prices * 1.01",
    instead: "Loop over what you need (`for day in range(252):`), or give the loop an exit: \
              `if converged: break`.",
};

/// AL502: a huge constant-size allocation.
pub const HUGE_ALLOCATION: Rule = Rule {
    code: "AL502",
    name: "huge-allocation",
    severity: Severity::High,
    summary: "an allocation larger than the memory threshold",
    what: "Reports allocations whose size is known from constants and exceeds \
           `thresholds.allocation_bytes`: `[0] * n`, `\"x\" * n`, `bytearray(n)`, \
           `bytes(n)`, `list(range(n))` (and tuple, set, sorted …), list comprehensions \
           over `range(n)`, `np.zeros`/`ones`/`empty`/`full`/`arange`/`eye`/`random.rand` \
           with constant shapes, `\"x\".ljust(n)`. Sizes are estimates (8 bytes per list \
           slot or float).",
    why: "The sandbox's memory limit kills the run (or the allocation fails with \
          MemoryError) before any result is produced.",
    example: "grid = [0] * 10**10",
    instead: "Work in chunks (`pd.read_csv(..., chunksize=...)`), use generators instead of \
              lists, or use a smaller size; numpy arrays of float32 halve the memory.",
};

/// AL503: a huge integer.
pub const HUGE_INTEGER: Rule = Rule {
    code: "AL503",
    name: "huge-integer",
    severity: Severity::High,
    summary: "an integer power or shift with more bits than the threshold",
    what: "Reports `a ** b`, `pow(a, b)` and `a << b` with constant operands whose result \
           has more than `thresholds.integer_bits` bits (`10**10**10`).",
    why: "Python computes big integers exactly: the result takes gigabytes and minutes of \
          CPU before anything else runs.",
    example: "x = 10 ** 10 ** 10",
    instead: "Use floats (`1e100`), logarithms (`math.log10`), or `pow(a, b, m)` when only \
              the remainder matters.",
};

/// AL504: a loop over a huge range.
pub const HUGE_ITERATION: Rule = Rule {
    code: "AL504",
    name: "huge-iteration",
    severity: Severity::Medium,
    summary: "a loop over more iterations than the threshold",
    what: "Reports `for … in range(n)` and comprehensions over `range(n)` where `n` is a \
           constant above `thresholds.iterations`.",
    why: "At tens of millions of iterations a second at best, a billion-step Python loop \
          outlasts the sandbox's timeout.",
    example: "total = 0\nfor i in range(10**12):\n    total += i",
    instead: "Vectorize with numpy (`np.arange(n).sum()` for moderate n), use a closed \
              form (`n * (n - 1) // 2`), or sample.",
};

/// AL505: an infinite iterator materialized.
pub const INFINITE_ITERATOR: Rule = Rule {
    code: "AL505",
    name: "infinite-iterator",
    severity: Severity::High,
    summary: "an infinite iterator consumed whole (`list(itertools.count())`)",
    what: "Reports `list`, `tuple`, `set`, `frozenset`, `sorted`, `sum`, `max`, `min`, \
           `dict`, `collections.deque` (without `maxlen`), `np.array`, `np.fromiter` \
           (without `count`), `\"\".join` and comprehensions applied to \
           `itertools.count()`, `itertools.cycle(…)`, `itertools.repeat(x)` or \
           `iter(int, 1)`.",
    why: "Consuming an endless iterator never finishes and grows memory until the sandbox \
          kills the run.",
    example: "import itertools\nticks = list(itertools.count())",
    instead: "Take what you need: `list(itertools.islice(itertools.count(), 100))`, or \
              `range(100)`.",
};

/// AL506: raising the recursion limit.
pub const RECURSION_LIMIT: Rule = Rule {
    code: "AL506",
    name: "recursion-limit",
    severity: Severity::High,
    summary: "the recursion limit raised above the threshold",
    what: "Reports `sys.setrecursionlimit(n)` with `n` above `thresholds.recursion_limit`, \
           or not known statically.",
    why: "Python's recursion limit protects the C stack: past it, deep recursion crashes \
          the interpreter with a segmentation fault instead of raising RecursionError.",
    example: "import sys\nsys.setrecursionlimit(10**6)",
    instead: "Rewrite the recursion as a loop with an explicit stack, or use \
              `functools.lru_cache` to cut the depth.",
};

/// Calls that return iterators that never end (with how many arguments make them so).
const INFINITE: &[(&str, Option<usize>)] = &[
    ("itertools.count", None),
    ("itertools.cycle", None),
    ("itertools.repeat", Some(1)),
    ("iter", Some(2)), // only when the function can never return the sentinel
];

/// Calls that consume their first argument whole.
const CONSUMERS: &[&str] = &[
    "list",
    "tuple",
    "set",
    "frozenset",
    "sorted",
    "sum",
    "max",
    "min",
    "dict",
    "collections.deque",
    "numpy.array",
    "numpy.fromiter",
    "numpy.asarray",
    "pandas.Series",
    "pandas.DataFrame",
];

/// Calls that build a container of their argument's length.
const MATERIALIZERS: &[&str] = &[
    "list",
    "tuple",
    "set",
    "frozenset",
    "sorted",
    "collections.deque",
    "numpy.array",
    "numpy.fromiter",
    "numpy.asarray",
    "pandas.Series",
];

/// Bytes per list slot or float: an estimate, deliberately low.
const SLOT: f64 = 8.0;

/// Most nodes inspected looking for a loop's exit.
const SCAN_BUDGET: usize = 100_000;

pub(super) fn check(checker: &mut Checker, entry: &Entry, ancestors: &[AnyNodeRef]) {
    match entry.node {
        AnyNodeRef::StmtWhile(stmt)
            if always_true(&stmt.test)
                && !has_exit(checker, &stmt.body)
                && !ended_by_exception(entry.node, &stmt.body, ancestors) =>
        {
            checker.report(
                &ENDLESS_LOOP,
                stmt.start(),
                "`while` with a constant true test and no break, return or raise: \
                 it runs until the timeout"
                    .to_string(),
            );
        }
        AnyNodeRef::StmtFor(stmt) => {
            if let Some(name) = infinite_iterator(checker, &stmt.iter) {
                if !has_exit(checker, &stmt.body)
                    && !ended_by_exception(entry.node, &stmt.body, ancestors)
                {
                    checker.report(
                        &ENDLESS_LOOP,
                        stmt.start(),
                        format!("`for` over `{name}` with no break, return or raise"),
                    );
                }
            } else if let Some(n) = range_length(checker, &stmt.iter) {
                huge_iteration(checker, n, stmt.start());
            }
        }
        AnyNodeRef::ExprListComp(ast::ExprListComp {
            generators, range, ..
        })
        | AnyNodeRef::ExprSetComp(ast::ExprSetComp {
            generators, range, ..
        })
        | AnyNodeRef::ExprDictComp(ast::ExprDictComp {
            generators, range, ..
        }) => {
            comprehension(checker, generators, range.start(), true);
        }
        AnyNodeRef::ExprGenerator(ast::ExprGenerator {
            generators, range, ..
        }) => {
            comprehension(checker, generators, range.start(), false);
        }
        AnyNodeRef::ExprBinOp(bin) => binary(checker, bin),
        AnyNodeRef::ExprCall(call) => call_site(checker, call),
        AnyNodeRef::ExprList(list) => {
            // [*range(n)]
            for elt in &list.elts {
                if let Expr::Starred(starred) = elt {
                    if let Some(n) = range_length(checker, &starred.value) {
                        allocation(checker, n * SLOT, list.start(), "list of a range");
                    }
                }
            }
        }
        _ => {}
    }
}

fn comprehension(
    checker: &mut Checker,
    generators: &[ast::Comprehension],
    offset: TextSize,
    materialized: bool,
) {
    let Some(first) = generators.first() else {
        return;
    };
    if let Some(name) = infinite_iterator(checker, &first.iter) {
        if materialized {
            checker.report(
                &INFINITE_ITERATOR,
                offset,
                format!("comprehension over `{name}`, which never ends"),
            );
        }
        return;
    }
    let Some(n) = range_length(checker, &first.iter) else {
        return;
    };
    if materialized && n * SLOT > checker.policy.thresholds.allocation_bytes as f64 {
        allocation(checker, n * SLOT, offset, "comprehension over a range");
    } else {
        huge_iteration(checker, n, offset);
    }
}

/// Reports `rule` when `value` is above the threshold `limit`: the message is what
/// `describe` makes of the value (written by [`human`]), then the threshold.
fn above(
    checker: &mut Checker,
    rule: &Rule,
    offset: TextSize,
    value: f64,
    limit: u64,
    describe: impl FnOnce(String) -> String,
) {
    let limit = limit as f64;
    if value > limit {
        let message = format!("{} (threshold {})", describe(human(value)), human(limit));
        checker.report(rule, offset, message);
    }
}

fn huge_iteration(checker: &mut Checker, n: f64, offset: TextSize) {
    let limit = checker.policy.thresholds.iterations;
    above(checker, &HUGE_ITERATION, offset, n, limit, |n| {
        format!("loop over {n} iterations")
    });
}

fn allocation(checker: &mut Checker, bytes: f64, offset: TextSize, what: &str) {
    let limit = checker.policy.thresholds.allocation_bytes;
    above(checker, &HUGE_ALLOCATION, offset, bytes, limit, |bytes| {
        format!("{what} of about {bytes} bytes")
    });
}

fn binary(checker: &mut Checker, bin: &ast::ExprBinOp) {
    match bin.op {
        Operator::Mult => {
            for (sequence, count) in [(&*bin.left, &*bin.right), (&*bin.right, &*bin.left)] {
                let unit = match sequence {
                    Expr::List(l) => l.elts.len() as f64 * SLOT,
                    Expr::Tuple(t) => t.elts.len() as f64 * SLOT,
                    Expr::StringLiteral(s) => s.value.to_str().len() as f64,
                    Expr::BytesLiteral(b) => {
                        b.value.iter().map(|p| p.value.len()).sum::<usize>() as f64
                    }
                    _ => continue,
                };
                if let Some(n) = checker.model.magnitude(count) {
                    allocation(checker, unit * n, bin.start(), "repeated sequence");
                }
                return;
            }
        }
        Operator::Pow => {
            if let (Some(base), Some(exponent)) =
                (integer(checker, &bin.left), integer(checker, &bin.right))
            {
                huge_integer(checker, base, exponent, bin.start());
            }
        }
        Operator::LShift => {
            if let (Some(value), Some(shift)) =
                (integer(checker, &bin.left), integer(checker, &bin.right))
            {
                if value != 0.0 {
                    huge_bits(checker, shift, bin.start());
                }
            }
        }
        _ => {}
    }
}

/// The magnitude of an integer-valued constant expression (floats are not integers: a
/// float power overflows instead of growing).
fn integer(checker: &Checker, expr: &Expr) -> Option<f64> {
    if matches!(expr, Expr::NumberLiteral(n) if !n.value.is_int()) {
        return None;
    }
    checker.model.magnitude(expr)
}

fn huge_integer(checker: &mut Checker, base: f64, exponent: f64, offset: TextSize) {
    let base = base.abs();
    if base <= 1.0 || exponent <= 0.0 {
        return;
    }
    huge_bits(checker, exponent * base.log2(), offset);
}

fn huge_bits(checker: &mut Checker, bits: f64, offset: TextSize) {
    let limit = checker.policy.thresholds.integer_bits;
    above(checker, &HUGE_INTEGER, offset, bits, limit, |bits| {
        format!("integer of about {bits} bits")
    });
}

fn call_site(checker: &mut Checker, call: &ast::ExprCall) {
    let args = &call.arguments.args;
    let callees = checker.model.resolve(&*call.func);
    let is = |name: &str| callees.iter().any(|c| c == name);
    let offset = call.start();

    // Infinite iterators consumed whole.
    if let Some(first) = args.first() {
        let consumer = CONSUMERS.iter().find(|c| is(c)).copied().or_else(|| {
            matches!(&*call.func, Expr::Attribute(a) if a.attr.as_str() == "join").then_some("join")
        });
        if let Some(consumer) = consumer {
            let has = |name: &str| call.arguments.find_keyword(name).is_some();
            let bounded = (consumer == "collections.deque" && has("maxlen"))
                || (consumer == "numpy.fromiter" && (has("count") || args.len() >= 3));
            if !bounded {
                if let Some(name) = infinite_iterator(checker, first) {
                    checker.report(
                        &INFINITE_ITERATOR,
                        offset,
                        format!("`{consumer}` of `{name}`, which never ends"),
                    );
                    return;
                }
            }
        }
        if let Some(materializer) = MATERIALIZERS.iter().find(|c| is(c)) {
            if let Some(n) = range_length(checker, first) {
                allocation(
                    checker,
                    n * SLOT,
                    offset,
                    &format!("`{materializer}` of a range"),
                );
                return;
            }
        }
    }

    if is("bytearray") || is("bytes") {
        if let [size] = &args[..] {
            if let Some(n) = integer(checker, size) {
                allocation(checker, n, offset, "zero-filled bytes");
            }
        }
    } else if is("pow") && args.len() == 2 {
        if let (Some(base), Some(exponent)) =
            (integer(checker, &args[0]), integer(checker, &args[1]))
        {
            huge_integer(checker, base, exponent, offset);
        }
    } else if is("sys.setrecursionlimit") {
        let limit = checker.policy.thresholds.recursion_limit as f64;
        match args.first().and_then(|a| checker.model.magnitude(a)) {
            Some(n) if n <= limit => {}
            Some(n) => checker.report(
                &RECURSION_LIMIT,
                offset,
                format!(
                    "recursion limit raised to {} (threshold {})",
                    human(n),
                    human(limit)
                ),
            ),
            None => checker.report(
                &RECURSION_LIMIT,
                offset,
                "recursion limit raised to a value known only at run time".to_string(),
            ),
        }
    } else if let Some(elements) = numpy_elements(checker, call, &is) {
        allocation(checker, elements * SLOT, offset, "array");
    } else if let Expr::Attribute(attribute) = &*call.func {
        // "x".ljust(n), "-".center(n), "0".zfill(n)
        if matches!(
            attribute.attr.as_str(),
            "ljust" | "rjust" | "center" | "zfill"
        ) && matches!(&*attribute.value, Expr::StringLiteral(_))
        {
            if let Some(n) = args.first().and_then(|a| integer(checker, a)) {
                allocation(checker, n, offset, "padded string");
            }
        }
    }
}

/// How many elements a numpy constructor with constant shape allocates.
fn numpy_elements(
    checker: &Checker,
    call: &ast::ExprCall,
    is: &dyn Fn(&str) -> bool,
) -> Option<f64> {
    let args = &call.arguments.args;
    let shape = |expr: &Expr| -> Option<f64> {
        match expr {
            Expr::Tuple(ast::ExprTuple { elts, .. }) | Expr::List(ast::ExprList { elts, .. }) => {
                product(checker, elts)
            }
            e => checker.model.magnitude(e),
        }
    };
    if ["numpy.zeros", "numpy.ones", "numpy.empty", "numpy.full"]
        .iter()
        .any(|n| is(n))
    {
        return shape(argument(call, 0, &["shape"])?);
    }
    if is("numpy.arange") {
        return steps(checker, args);
    }
    if is("numpy.linspace") {
        return checker.model.magnitude(argument(call, 2, &["num"])?);
    }
    if is("numpy.eye") || is("numpy.identity") {
        let n = checker.model.magnitude(args.first()?)?;
        let m = argument(call, 1, &["M"])
            .and_then(|a| checker.model.magnitude(a))
            .unwrap_or(n);
        return Some(n * m);
    }
    if is("numpy.random.rand") || is("numpy.random.randn") {
        return product(checker, args);
    }
    let sized = [
        "numpy.random.random",
        "numpy.random.random_sample",
        "numpy.random.standard_normal",
        "numpy.random.normal",
        "numpy.random.uniform",
        "numpy.random.randint",
        "numpy.random.choice",
    ];
    if sized.iter().any(|n| is(n)) {
        return shape(&call.arguments.find_keyword("size")?.value);
    }
    None
}

/// The product of constant expressions.
fn product(checker: &Checker, exprs: &[Expr]) -> Option<f64> {
    exprs
        .iter()
        .map(|e| checker.model.magnitude(e))
        .try_fold(1.0, |acc, n| Some(acc * n?))
}

/// The number of steps of `range(…)` or `numpy.arange(…)` with constant arguments
/// (negative for an empty range).
fn steps(checker: &Checker, args: &[Expr]) -> Option<f64> {
    let values: Vec<f64> = args
        .iter()
        .map(|a| checker.model.magnitude(a))
        .collect::<Option<_>>()?;
    match values[..] {
        [stop] => Some(stop),
        [start, stop] => Some(stop - start),
        [start, stop, step] if step != 0.0 => Some((stop - start) / step),
        _ => None,
    }
}

/// The length of `range(…)` with constant bounds.
fn range_length(checker: &Checker, expr: &Expr) -> Option<f64> {
    let Expr::Call(call) = expr else { return None };
    callee_in(checker.model, call, &["range"])?;
    Some(steps(checker, &call.arguments.args)?.max(0.0))
}

/// The name of the endless iterator `expr` creates, if it does.
fn infinite_iterator(checker: &Checker, expr: &Expr) -> Option<&'static str> {
    let Expr::Call(call) = expr else { return None };
    let callees = checker.model.resolve(&*call.func);
    let found = INFINITE.iter().find_map(|(name, arity)| {
        let matches = callees.iter().any(|c| c == name)
            && arity.is_none_or(|n| call.arguments.args.len() == n)
            && call.arguments.keywords.is_empty();
        matches.then_some(*name)
    })?;
    if found == "iter" && !never_sentinel(checker, &call.arguments.args) {
        return None;
    }
    Some(found)
}

/// `iter(f, sentinel)` ends when `f()` returns the sentinel: endless only when `f` returns
/// one constant that is not the sentinel (`iter(int, 1)`, `iter(lambda: 0, 1)`).
fn never_sentinel(checker: &Checker, args: &[Expr]) -> bool {
    let [function, sentinel] = args else {
        return false;
    };
    let Some(sentinel) = checker.model.fold(sentinel) else {
        return false;
    };
    let produced = match function {
        Expr::Lambda(lambda) if lambda.parameters.is_none() => {
            match checker.model.fold(&lambda.body) {
                Some(value) => value.value,
                None => return false,
            }
        }
        other => {
            let callees = checker.model.resolve(other);
            if callees.iter().any(|c| c == "int" || c == "bool") {
                Value::Int(0)
            } else if callees.iter().any(|c| c == "str") {
                Value::Str(String::new())
            } else {
                return false;
            }
        }
    };
    produced != sentinel.value
}

/// True if the loop sits in the body of a `try` with handlers (within its function) and
/// calls or indexes something: the idiom `try: while True: it.pop() except KeyError:`
/// ends by exception.
fn ended_by_exception(node: AnyNodeRef, body: &[Stmt], ancestors: &[AnyNodeRef]) -> bool {
    let range = node.range();
    let guarded = ancestors
        .iter()
        .rev()
        .take_while(|a| {
            !matches!(
                a,
                AnyNodeRef::StmtFunctionDef(_) | AnyNodeRef::StmtClassDef(_)
            )
        })
        .any(|a| match a {
            AnyNodeRef::StmtTry(t) => {
                !t.handlers.is_empty()
                    && t.body.first().is_some_and(|s| s.start() <= range.start())
                    && t.body.last().is_some_and(|s| range.end() <= s.end())
            }
            _ => false,
        });
    guarded
        && body.iter().any(|stmt| {
            Walk::new(AnyNodeRef::from(stmt))
                .take(SCAN_BUDGET)
                .any(|e| {
                    matches!(
                        e.node,
                        AnyNodeRef::ExprCall(_) | AnyNodeRef::ExprSubscript(_)
                    )
                })
        })
}

/// `True`, a non-zero number, a non-empty string, `not False`.
fn always_true(test: &Expr) -> bool {
    match test {
        Expr::BooleanLiteral(b) => b.value,
        Expr::NumberLiteral(n) => match &n.value {
            ast::Number::Int(i) => i.as_u64() != Some(0),
            ast::Number::Float(f) => *f != 0.0,
            ast::Number::Complex { real, imag } => *real != 0.0 || *imag != 0.0,
        },
        Expr::StringLiteral(s) => !s.value.is_empty(),
        Expr::UnaryOp(u) if u.op == UnaryOp::Not => {
            matches!(
                &*u.operand,
                Expr::BooleanLiteral(ast::ExprBooleanLiteral { value: false, .. })
                    | Expr::NoneLiteral(_)
            ) || matches!(&*u.operand, Expr::NumberLiteral(n) if matches!(&n.value, ast::Number::Int(i) if i.as_u64() == Some(0)))
        }
        _ => false,
    }
}

/// True if the loop body can leave the loop: a `break` of this loop (not of a nested
/// one), `return`, `raise`, `yield`, or a call to `sys.exit`/`exit`/`quit`/`os._exit`.
/// Nested functions, classes and lambdas do not count. On very large bodies, assumes an
/// exit (no finding rather than a slow one).
fn has_exit(checker: &Checker, body: &[Stmt]) -> bool {
    // Each node carries whether it is inside a loop nested in this one.
    let mut walk = Walk::with_state(body.iter().map(AnyNodeRef::from), false);
    let mut seen = 0;
    while let Some(Entry {
        node,
        state: nested_loop,
        ..
    }) = walk.next()
    {
        seen += 1;
        if seen > SCAN_BUDGET {
            return true;
        }
        match node {
            AnyNodeRef::StmtBreak(_) if !nested_loop => return true,
            AnyNodeRef::StmtReturn(_)
            | AnyNodeRef::StmtRaise(_)
            | AnyNodeRef::ExprYield(_)
            | AnyNodeRef::ExprYieldFrom(_) => return true,
            AnyNodeRef::ExprCall(call)
                if callee_in(
                    checker.model,
                    call,
                    &["sys.exit", "exit", "quit", "os._exit", "os.abort"],
                )
                .is_some() =>
            {
                return true;
            }
            AnyNodeRef::StmtFunctionDef(_)
            | AnyNodeRef::StmtClassDef(_)
            | AnyNodeRef::ExprLambda(_) => walk.skip_children(),
            AnyNodeRef::StmtFor(_) | AnyNodeRef::StmtWhile(_) => walk.descend(|_| true),
            _ => {}
        }
    }
    false
}

/// 1.2e10 as "1.2e10", 4096 as "4096".
fn human(n: f64) -> String {
    if n.is_infinite() {
        "more than 1e308".to_string()
    } else if n.abs() < 1e6 {
        format!("{n:.0}")
    } else {
        format!("{n:.1e}")
    }
}
