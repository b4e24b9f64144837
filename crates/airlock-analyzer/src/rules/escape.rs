//! AL3xx: the idioms of escaping a Python-level sandbox — walking from any object to every
//! class (`().__class__.__base__.__subclasses__()`), from a function to its module's
//! globals (`f.__globals__`), from a frame to its callers (`sys._getframe().f_back`), from
//! the garbage collector to every live object. None of it has a place in analysis code.
//!
//! The attribute may be written plainly, read with `getattr` (with a literal or a name
//! folded from pieces), through `__getattribute__`, `operator.attrgetter`, or a
//! `__dict__` subscript: all are the same access.

use ruff_python_ast::{self as ast, AnyNodeRef, Expr, ExprContext};
use ruff_text_size::{Ranged, TextSize};

use crate::result::Severity;
use crate::walk::Entry;

use super::{callee_in, Checker, Family, Rule};

pub const FAMILY: Family = Family {
    title: "sandbox-escape idioms",
    codes: "AL3xx",
    about: "Attribute walks and introspection calls that lead from any object to the \
            interpreter's internals. They are reported however the attribute is reached: \
            `x.__globals__`, `getattr(x, \"__glo\" + \"bals__\")`, \
            `x.__getattribute__(\"__globals__\")`, `operator.attrgetter(\"__globals__\")`, \
            `type(x).__dict__[\"__globals__\"]`.",
    rules: &[
        &SUBCLASSES,
        &FUNCTION_INTERNALS,
        &CLASS_HIERARCHY,
        &FRAMES,
        &BUILTINS_ACCESS,
        &OBJECT_GRAPH,
        &CODE_OBJECTS,
        &DUNDER_MUTATION,
    ],
};

/// AL301: `__subclasses__`.
pub const SUBCLASSES: Rule = Rule {
    code: "AL301",
    name: "subclasses-walk",
    severity: Severity::Critical,
    summary: "every loaded class reached through `__subclasses__`",
    what: "Reports any access to `__subclasses__`.",
    why: "`object.__subclasses__()` lists every class loaded in the interpreter — \
          including ones whose methods hold `os`, `subprocess` or `sys` in their globals. \
          It is the classic first step out of a restricted `eval`.",
    example: "for cls in ().__class__.__base__.__subclasses__():\n    if cls.__name__ == \"Popen\":\n        cls([\"id\"])",
    instead: "Name the classes you need by importing them; to inspect a type, use \
              `type(x).__name__` or `isinstance`.",
};

/// AL302: function internals.
pub const FUNCTION_INTERNALS: Rule = Rule {
    code: "AL302",
    name: "function-internals",
    severity: Severity::Critical,
    summary: "a function's globals, code or closure reached",
    what: "Reports access to `__globals__`, `__code__`, `__closure__`, `func_globals` and \
           `func_code`.",
    why: "A function's `__globals__` is its module's namespace — with whatever that module \
          imported, `os` included; `__code__` can be read, rewritten and run as new code.",
    example: "leak = some_function.__globals__[\"os\"]",
    instead: "Call functions; do not take them apart. Pass what a function needs as \
              arguments.",
};

/// AL303: class-hierarchy walking.
pub const CLASS_HIERARCHY: Rule = Rule {
    code: "AL303",
    name: "class-hierarchy-walk",
    severity: Severity::High,
    summary: "the class hierarchy walked (`__mro__`, `__bases__`, `__base__`, `mro()`)",
    what: "Reports access to `__mro__`, `__bases__`, `__base__` and calls of `.mro()`.",
    why: "Climbing from an instance to `object` is how escape chains reach \
          `__subclasses__`; `().__class__.__base__` is `object`.",
    example: "base = ().__class__.__base__",
    instead: "Use `isinstance(x, SomeClass)` or `issubclass`; name base classes directly.",
};

/// AL304: frame and traceback walking.
pub const FRAMES: Rule = Rule {
    code: "AL304",
    name: "frame-walk",
    severity: Severity::Critical,
    summary: "stack frames reached (`sys._getframe`, `f_back`, `f_globals`, `tb_frame`)",
    what: "Reports `sys._getframe`, `sys._current_frames`, `inspect.currentframe`, \
           `inspect.stack`, `inspect.trace`, `inspect.getouterframes`, \
           `inspect.getinnerframes`, `traceback.walk_stack`, `traceback.walk_tb`, and \
           access to `f_globals`, `f_locals`, `f_builtins`, `f_back`, `tb_frame`, \
           `gi_frame`, `cr_frame`, `ag_frame`.",
    why: "Frames hold their caller's globals and locals: from user code, `f_back` climbs \
          into the runner that launched it, with its modules and its channel.",
    example: "import sys\ncaller = sys._getframe(1).f_globals",
    instead: "Pass values explicitly; for error reports print the exception \
              (`traceback.format_exc()`) instead of walking frames.",
};

/// AL305: the builtins namespace.
pub const BUILTINS_ACCESS: Rule = Rule {
    code: "AL305",
    name: "builtins-access",
    severity: Severity::High,
    summary: "the builtins namespace reached (`__builtins__`)",
    what: "Reports any use of `__builtins__`, as a name or an attribute.",
    why: "`__builtins__` hands out `eval`, `exec`, `open` and `__import__` under a name no \
          denylist of calls mentions; patched or deleted builtins are restored through it.",
    example: "__builtins__.__dict__[\"ev\" + \"al\"](\"1 + 1\")",
    instead: "Call builtins by their names (`len`, `sum`, `print`); they are always there.",
};

/// AL306: object-graph walking.
pub const OBJECT_GRAPH: Rule = Rule {
    code: "AL306",
    name: "object-graph-walk",
    severity: Severity::High,
    summary: "every live object or module reached (`gc.get_objects`, `sys.modules`)",
    what: "Reports `gc.get_objects`, `gc.get_referrers`, `gc.get_referents`, and access \
           to `sys.modules`.",
    why: "The garbage collector and the module table reach every object in the process — \
          modules the code never imported, the runner's own state.",
    example: "import gc\nfuncs = [o for o in gc.get_objects() if callable(o)]",
    instead: "Keep references to what you create; import the modules you need.",
};

/// AL307: building code objects.
pub const CODE_OBJECTS: Rule = Rule {
    code: "AL307",
    name: "code-object",
    severity: Severity::Critical,
    summary: "functions built from code objects (`types.CodeType`, `types.FunctionType`)",
    what: "Reports calls of `types.CodeType`, `types.FunctionType` and `types.LambdaType`.",
    why: "Assembling bytecode by hand runs code no analysis can read, and malformed \
          bytecode crashes the interpreter.",
    example: "import types\nf = types.FunctionType(g.__code__.replace(co_consts=(1,)), {})",
    instead: "Define functions with `def` or `lambda`.",
};

/// AL308: rewriting internals.
pub const DUNDER_MUTATION: Rule = Rule {
    code: "AL308",
    name: "dunder-mutation",
    severity: Severity::High,
    summary: "an object's internals rewritten (`__class__`, `__dict__`, `__code__` …)",
    what: "Reports assignment to, deletion of, or `setattr`/`delattr` on `__class__`, \
           `__dict__`, `__code__`, `__globals__`, `__builtins__`, `__bases__`, \
           `__defaults__`, `__kwdefaults__` and `__closure__`.",
    why: "Swapping an object's class or a function's code changes what trusted code does \
          when it next touches the object — the write half of an escape.",
    example: "victim.__class__ = Payload",
    instead: "Create a new object of the class you need; subclass or wrap instead of \
              patching.",
};

/// Attributes whose mere access is an escape idiom.
const ATTRIBUTES: &[(&str, &Rule)] = &[
    ("__subclasses__", &SUBCLASSES),
    ("__globals__", &FUNCTION_INTERNALS),
    ("__code__", &FUNCTION_INTERNALS),
    ("__closure__", &FUNCTION_INTERNALS),
    ("func_globals", &FUNCTION_INTERNALS),
    ("func_code", &FUNCTION_INTERNALS),
    ("__mro__", &CLASS_HIERARCHY),
    ("__bases__", &CLASS_HIERARCHY),
    ("__base__", &CLASS_HIERARCHY),
    ("f_globals", &FRAMES),
    ("f_locals", &FRAMES),
    ("f_builtins", &FRAMES),
    ("f_back", &FRAMES),
    ("tb_frame", &FRAMES),
    ("gi_frame", &FRAMES),
    ("cr_frame", &FRAMES),
    ("ag_frame", &FRAMES),
    ("__builtins__", &BUILTINS_ACCESS),
];

/// Calls that are escape idioms.
const CALLS: &[(&str, &Rule)] = &[
    ("sys._getframe", &FRAMES),
    ("sys._current_frames", &FRAMES),
    ("inspect.currentframe", &FRAMES),
    ("inspect.stack", &FRAMES),
    ("inspect.trace", &FRAMES),
    ("inspect.getouterframes", &FRAMES),
    ("inspect.getinnerframes", &FRAMES),
    ("traceback.walk_stack", &FRAMES),
    ("traceback.walk_tb", &FRAMES),
    ("gc.get_objects", &OBJECT_GRAPH),
    ("gc.get_referrers", &OBJECT_GRAPH),
    ("gc.get_referents", &OBJECT_GRAPH),
    ("types.CodeType", &CODE_OBJECTS),
    ("types.FunctionType", &CODE_OBJECTS),
    ("types.LambdaType", &CODE_OBJECTS),
];

/// Attributes whose rewriting is AL308.
const MUTABLE_INTERNALS: &[&str] = &[
    "__class__",
    "__dict__",
    "__code__",
    "__globals__",
    "__builtins__",
    "__bases__",
    "__defaults__",
    "__kwdefaults__",
    "__closure__",
];

/// Qualified attributes that are escape idioms.
const QUALIFIED: &[(&str, &Rule)] = &[("sys.modules", &OBJECT_GRAPH)];

fn attribute_rule(name: &str) -> Option<&'static Rule> {
    ATTRIBUTES.iter().find(|(n, _)| *n == name).map(|(_, r)| *r)
}

pub(super) fn check(checker: &mut Checker, entry: &Entry) {
    match entry.node {
        AnyNodeRef::ExprAttribute(attribute) => {
            let name = attribute.attr.as_str();
            if attribute.ctx != ExprContext::Load {
                if MUTABLE_INTERNALS.contains(&name) {
                    let verb = if attribute.ctx == ExprContext::Del {
                        "deletes"
                    } else {
                        "assigns"
                    };
                    checker.report(
                        &DUNDER_MUTATION,
                        attribute.attr.start(),
                        format!("{verb} `{name}`: {}", DUNDER_MUTATION.summary),
                    );
                }
                return;
            }
            if let Some(rule) = attribute_rule(name) {
                checker.report(
                    rule,
                    attribute.attr.start(),
                    format!("access to `{name}`: {}", rule.summary),
                );
            } else if name == "mro" && is_callee(entry) {
                checker.report(
                    &CLASS_HIERARCHY,
                    attribute.attr.start(),
                    format!("call of `.mro()`: {}", CLASS_HIERARCHY.summary),
                );
            }
            if QUALIFIED.iter().any(|(q, _)| q.ends_with(name)) {
                for qualified in checker.model.resolve(attribute) {
                    if let Some((_, rule)) = QUALIFIED.iter().find(|(q, _)| *q == qualified) {
                        checker.report(
                            rule,
                            attribute.attr.start(),
                            format!("access to `{qualified}`: {}", rule.summary),
                        );
                        break;
                    }
                }
            }
        }
        AnyNodeRef::ExprName(name)
            if name.id.as_str() == "__builtins__" && name.ctx == ExprContext::Load =>
        {
            checker.report(
                &BUILTINS_ACCESS,
                name.start(),
                format!("use of `__builtins__`: {}", BUILTINS_ACCESS.summary),
            );
        }
        AnyNodeRef::ExprCall(call) => check_call(checker, call),
        AnyNodeRef::ExprSubscript(subscript) => {
            // type(x).__dict__["__globals__"], vars(x)["__code__"]
            let through_dict = match &*subscript.value {
                Expr::Attribute(a) => a.attr.as_str() == "__dict__",
                Expr::Call(c) => callee_in(checker.model, c, &["vars"]).is_some(),
                _ => false,
            };
            if through_dict {
                if let Some(name) = folded_name(checker, &subscript.slice) {
                    if let Some(rule) = attribute_rule(&name) {
                        checker.report(
                            rule,
                            subscript.slice.start(),
                            format!("`__dict__` lookup of `{name}`: {}", rule.summary),
                        );
                    }
                }
            }
        }
        _ => {}
    }
}

fn check_call(checker: &mut Checker, call: &ast::ExprCall) {
    let args = &call.arguments.args;
    let callees = checker.model.resolve(&*call.func);
    for (name, rule) in CALLS {
        if callees.iter().any(|c| c == name) {
            checker.dangerous_call(name);
            checker.report(
                rule,
                call.start(),
                format!("call to `{name}`: {}", rule.summary),
            );
            return;
        }
    }
    // getattr(x, "__globals__"), setattr(x, "__class__", y), operator.attrgetter("a.__code__")
    let (accessor, index) = if let Some(f) = ["getattr", "hasattr", "setattr", "delattr"]
        .into_iter()
        .find(|f| callees.iter().any(|c| c == f))
    {
        (f, 1)
    } else if callees.iter().any(|c| c == "operator.attrgetter") {
        ("operator.attrgetter", 0)
    } else if let Expr::Attribute(a) = &*call.func {
        if a.attr.as_str() != "__getattribute__" {
            return;
        }
        // obj.__getattribute__("n") or object.__getattribute__(obj, "n")
        ("__getattribute__", usize::from(args.len() >= 2))
    } else {
        return;
    };
    let Some(name) = args.get(index).and_then(|a| folded_name(checker, a)) else {
        return;
    };
    for part in name.split('.') {
        if matches!(accessor, "setattr" | "delattr") && MUTABLE_INTERNALS.contains(&part) {
            report_at(checker, &DUNDER_MUTATION, call.start(), accessor, part);
        } else if let Some(rule) = attribute_rule(part) {
            report_at(checker, rule, call.start(), accessor, part);
        }
    }
}

fn report_at(checker: &mut Checker, rule: &Rule, offset: TextSize, accessor: &str, name: &str) {
    checker.report(
        rule,
        offset,
        format!("`{accessor}` of `{name}`: {}", rule.summary),
    );
}

fn folded_name(checker: &Checker, expr: &Expr) -> Option<String> {
    checker
        .model
        .fold(expr)
        .and_then(|f| f.as_str().map(str::to_string))
}

/// True if the node is the function its parent calls.
fn is_callee(entry: &Entry) -> bool {
    matches!(entry.parent, Some(AnyNodeRef::ExprCall(call))
        if AnyNodeRef::from(&*call.func).ptr_eq(entry.node))
}
