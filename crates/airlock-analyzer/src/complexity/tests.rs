//! Known values: cyclomatic as `radon cc` 6.0.1 reports it, cognitive as complexipy
//! 8.3.0 does (each checked against the tools).

use super::measure;
use crate::result::{Complexity, FunctionComplexity};
use crate::source::Source;

fn measure_code(code: &str) -> Complexity {
    let module = ruff_python_parser::parse_module(code)
        .expect("test code parses")
        .into_syntax();
    measure(&module, &Source::new(code))
}

/// (name, line, cyclomatic, cognitive) of every function.
fn functions(code: &str) -> Vec<(String, u32, u32, u32)> {
    measure_code(code)
        .functions
        .into_iter()
        .map(|f| (f.name, f.line, f.cyclomatic, f.cognitive))
        .collect()
}

/// (cyclomatic, cognitive) of the only function.
fn only(code: &str) -> (u32, u32) {
    let functions = measure_code(code).functions;
    assert_eq!(functions.len(), 1, "{functions:?}");
    (functions[0].cyclomatic, functions[0].cognitive)
}

#[test]
fn straight_line_code_scores_one_and_zero() {
    let c = measure_code("def f(x):\n    y = x + 1\n    return y\n");
    assert_eq!(
        c.functions,
        vec![FunctionComplexity {
            name: "f".into(),
            line: 1,
            cyclomatic: 1,
            cognitive: 0,
        }]
    );
}

#[test]
fn if_elif_else() {
    let code = "\
def f(x):
    if x > 0:
        return 1
    elif x < 0:
        return -1
    else:
        return 0
";
    // radon: 1 + if + elif; cognitive: if 1, elif 1, else 1.
    assert_eq!(only(code), (3, 3));
}

#[test]
fn nested_ifs_pay_for_nesting() {
    let code = "\
def f(a, b, c):
    if a:
        if b:
            if c:
                pass
";
    // cognitive: 1 + 2 + 3.
    assert_eq!(only(code), (4, 6));
}

#[test]
fn loops_with_else() {
    let code = "\
def f(xs):
    for x in xs:
        while x:
            x -= 1
        else:
            pass
    else:
        return 0
";
    // radon: 1 + for (1 + else) + while (1 + else); cognitive: for 1, while 2, else 0.
    assert_eq!(only(code), (5, 3));
}

#[test]
fn try_except_else_finally() {
    let code = "\
def f():
    try:
        g()
    except ValueError:
        if x:
            pass
    except KeyError:
        pass
    else:
        pass
    finally:
        pass
";
    // radon: 1 + two handlers + else + if; cognitive: except 1, nested if 2, except 1.
    assert_eq!(only(code), (5, 4));
}

#[test]
fn try_star_is_unknown_to_radon() {
    let code = "\
def f():
    try:
        g()
    except* ValueError:
        pass
";
    assert_eq!(only(code), (1, 1));
}

#[test]
fn boolean_operators() {
    // One sequence: radon counts operators, cognitive counts sequences.
    assert_eq!(
        only("def f(a, b, c):\n    if a and b and c:\n        pass\n"),
        (4, 2)
    );
    // A change of operator.
    assert_eq!(only("def f(a, b, c):\n    return a and b or c\n"), (3, 2));
    // `not` around a sequence scores; `not` of a name does not.
    assert_eq!(only("def f(a, b):\n    return not (a and b)\n"), (2, 1));
    assert_eq!(only("def f(a, b):\n    return not a and not b\n"), (2, 1));
    // complexipy does not look into a call inside a boolean operation.
    assert_eq!(
        only("def f(a, b, c):\n    return a and g(b or c)\n"),
        (3, 1)
    );
    // radon does not look inside an assert at all.
    assert_eq!(only("def f(a, b):\n    assert a and b\n"), (2, 1));
}

#[test]
fn comprehensions() {
    let code = "def f(xs, y):\n    return [x for x in xs if x if y for z in x]\n";
    // radon: (1 + 2 ifs) + 1; cognitive: 1 per for, 1 per if.
    assert_eq!(only(code), (5, 4));
    let code = "def f(xs):\n    return {k: v for k, v in xs}\n";
    assert_eq!(only(code), (2, 1));
}

#[test]
fn lambdas_and_ternaries() {
    // The lambda itself is free; its body nests one level.
    assert_eq!(
        only("def f():\n    key = lambda x: x if x else 0\n"),
        (2, 2)
    );
    // A ternary in a ternary's branch is nested.
    assert_eq!(
        only("def f(a, b, c, d, e):\n    return a if b else (c if d else e)\n"),
        (3, 3)
    );
}

#[test]
fn nested_functions() {
    let code = "\
def outer(x):
    def inner(y):
        if y:
            return 1
    if x:
        return inner(x)
";
    // radon scores `inner` apart; complexipy folds it into `outer`, one level deeper.
    assert_eq!(
        functions(code),
        vec![("outer".into(), 1, 2, 3), ("outer.inner".into(), 2, 2, 1),]
    );
}

#[test]
fn decorator_factory_is_scored_as_its_wrapper() {
    let code = "\
def deco(fn):
    def wrapper(*a):
        if a:
            return fn(*a)
    return wrapper
";
    assert_eq!(
        functions(code),
        vec![("deco".into(), 1, 1, 1), ("deco.wrapper".into(), 2, 2, 1)]
    );
}

#[test]
fn match_statement() {
    let code = "\
def f(p):
    match p:
        case 1:
            return 'one'
        case [x, y] if x:
            if y:
                return 'pair'
        case _:
            return 'other'
";
    // radon: one per case but the catch-all; cognitive: match 1, nested if 2.
    assert_eq!(only(code), (4, 3));
}

#[test]
fn with_does_not_nest() {
    let code = "\
def f(p):
    with open(p) as a, g() as b:
        if a:
            pass
    with a or b:
        pass
";
    assert_eq!(only(code), (3, 2));
}

#[test]
fn recursion_counts_once_for_cognitive() {
    let code = "def fact(n):\n    return 1 if n < 2 else n * fact(n - 1) * fact(n - 2)\n";
    assert_eq!(only(code), (2, 2));
}

#[test]
fn names_and_lines() {
    let code = "\
import functools


class A:
    @property
    # a comment between the decorator and the def
    def value(self):
        return 1

    class B:
        async def method(self):
            pass


@functools.cache
def top():
    class Local:
        def m(self):
            pass
";
    let names: Vec<(String, u32)> = functions(code)
        .into_iter()
        .map(|(name, line, _, _)| (name, line))
        .collect();
    assert_eq!(
        names,
        vec![
            ("A.value".into(), 7),
            ("A.B.method".into(), 11),
            ("top".into(), 16),
            ("top.Local.m".into(), 18),
        ]
    );
}

#[test]
fn file_totals() {
    let code = "\
\"\"\"Docstring.

# not a comment: inside the string
\"\"\"
import os  # a trailing comment is code

# a comment


if os.name:
    X = 1 if os.sep else 2


class C:
    def m(self, a):
        for x in a:
            if x and a:
                return x


def f(a):
    def g():
        if a:
            pass
    return g
";
    let c = measure_code(code);
    assert_eq!(c.lines_of_code, 16);
    // 1 + module if + ternary + for + if + `and` + g's if.
    assert_eq!(c.cyclomatic_complexity, 7);
    // Module: if 1, ternary nested 2. C.m: for 1, if 2, and 1. f: g's if (decorator
    // factory shape) 1. g is part of f, not added again.
    assert_eq!(c.cognitive_complexity, 3 + 4 + 1);
    // `return x` is in class, def, for, if.
    assert_eq!(c.nesting_depth, 4);
    assert_eq!(
        c.functions
            .iter()
            .map(|f| (f.name.as_str(), f.cyclomatic, f.cognitive))
            .collect::<Vec<_>>(),
        vec![("C.m", 4, 4), ("f", 1, 1), ("f.g", 2, 1)]
    );
}

#[test]
fn empty_and_comment_only_sources() {
    assert_eq!(
        measure_code(""),
        Complexity {
            cyclomatic_complexity: 1,
            ..Complexity::default()
        }
    );
    let c = measure_code("# just a comment\r\n\r\n   # another\r\n");
    assert_eq!((c.lines_of_code, c.nesting_depth), (0, 0));
    let c = measure_code("x = 1\r\ny = 2\rz = 3\n");
    assert_eq!(c.lines_of_code, 3);
}

/// Run `f` on a thread with a small stack: the walks must not recurse with the depth of
/// the code.
fn on_small_stack<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn_scoped(scope, f)
            .expect("spawn")
            .join()
            .expect("the walk overflowed a 256 KiB stack")
    })
}

#[test]
fn deeply_nested_ifs_do_not_overflow() {
    let depth = 1000;
    let mut code = String::from("def f(x):\n");
    for level in 1..=depth {
        code.push_str(&" ".repeat(level));
        code.push_str("if x:\n");
    }
    code.push_str(&" ".repeat(depth + 1));
    code.push_str("pass\n");
    let module = ruff_python_parser::parse_module(&code)
        .expect("parses")
        .into_syntax();
    let source = Source::new(&code);
    let c = on_small_stack(|| measure(&module, &source));
    let depth = u32::try_from(depth).unwrap();
    assert_eq!(c.nesting_depth, depth + 1);
    assert_eq!(c.functions[0].cyclomatic, depth + 1);
    // 1 + 2 + ... + depth.
    assert_eq!(c.functions[0].cognitive, depth * (depth + 1) / 2);
}

#[test]
fn deeply_nested_expressions_do_not_overflow() {
    let depth = 10_000;
    // Parentheses alone add no node; nested lists, `not`s and ternaries do.
    let parens = format!("x = {}1{}\n", "(".repeat(depth), ")".repeat(depth));
    let lists = format!("y = {}1{}\n", "[".repeat(2000), "]".repeat(2000));
    let nots = format!(
        "def f(a, b):\n    return {}(a and b)\n",
        "not ".repeat(2000)
    );
    let ternaries = format!("def g(a):\n    return {}0\n", "a if a else ".repeat(500));
    let code = format!("{parens}{lists}{nots}{ternaries}");
    let module = ruff_python_parser::parse_module(&code)
        .expect("parses")
        .into_syntax();
    let source = Source::new(&code);
    let c = on_small_stack(|| measure(&module, &source));
    assert_eq!(c.functions.len(), 2);
    // The sequence under `not`s scores 1, whatever the number of `not`s.
    assert_eq!(
        (c.functions[0].cyclomatic, c.functions[0].cognitive),
        (2, 1)
    );
    // Each ternary nests in the previous one's `else`: 1 + 2 + ... + 500.
    assert_eq!(
        (c.functions[1].cyclomatic, c.functions[1].cognitive),
        (501, 125_250)
    );
}

#[test]
fn deeply_nested_functions_are_folded_not_rewalked() {
    // f0 holds f1 and an `if`, f1 holds f2 and an `if`, ...
    let depth: u32 = 300;
    let mut code = String::new();
    for level in 0..depth {
        let indent = " ".repeat(level as usize);
        code.push_str(&format!("{indent}def f{level}(x):\n"));
    }
    for level in (0..depth).rev() {
        let indent = " ".repeat(level as usize + 1);
        code.push_str(&format!("{indent}if x:\n{indent} pass\n"));
    }
    let module = ruff_python_parser::parse_module(&code)
        .expect("parses")
        .into_syntax();
    let source = Source::new(&code);
    let c = on_small_stack(|| measure(&module, &source));
    assert_eq!(c.functions.len(), depth as usize);
    // The `if` of f_j sits j levels deep in f0: 1 + 2 + ... + depth.
    assert_eq!(c.functions[0].cognitive, depth * (depth + 1) / 2);
    assert_eq!(c.functions[0].cyclomatic, 2);
    let last = c.functions.last().unwrap();
    assert_eq!((last.cyclomatic, last.cognitive), (2, 1));
    assert_eq!(c.cognitive_complexity, depth * (depth + 1) / 2);
    // Long qualified names keep their end.
    assert!(last.name.starts_with('…') && last.name.ends_with(".f298.f299"));
    assert!(last.name.len() <= 512 + '…'.len_utf8());
}
