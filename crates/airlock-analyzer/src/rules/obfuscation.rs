//! AL4xx: names and code built at run time so that no reader — person or rule — sees
//! them: `getattr(os, "sys" + "tem")`, `eval("".join(chr(c) for c in codes))`,
//! `exec(base64.b64decode(blob))`, `"\x5f\x5fimport\x5f\x5f"`.
//!
//! The semantic model folds what it can (`"sys" + "tem"` is `system`), so the other
//! families still see the real call; this family reports the hiding itself.

use ruff_python_ast::{self as ast, AnyNodeRef, Expr, Operator};
use ruff_text_size::{Ranged, TextRange, TextSize};

use crate::policy::ModuleDecision;
use crate::result::Severity;
use crate::walk::{Entry, Walk};

use super::{argument, callee_in, Checker, Family, Rule};

pub const FAMILY: Family = Family {
    title: "obfuscation",
    codes: "AL4xx",
    about: "Strings assembled at run time and fed to something that turns a string into \
            behaviour (`eval`, `exec`, `compile`, `__import__`, `importlib.import_module`, \
            `getattr`/`setattr`/`delattr`). Analysis code names what it uses; code that \
            hides names is hiding them from review.",
    rules: &[
        &BUILT_NAME,
        &CHARACTER_CODES,
        &DECODED_PAYLOAD,
        &COMPUTED_ATTRIBUTE,
        &COMPUTED_DANGEROUS_ATTRIBUTE,
        &ESCAPED_NAME,
    ],
};

/// AL401: a string built at run time fed to a dynamic sink.
pub const BUILT_NAME: Rule = Rule {
    code: "AL401",
    name: "built-name",
    severity: Severity::Critical,
    summary: "a string built at run time passed to `eval`, `exec`, `__import__` or `getattr`",
    what: "Reports `eval`, `exec`, `compile`, `__import__`, `importlib.import_module`, \
           `getattr`, `setattr`, `delattr`, `hasattr` and `operator.attrgetter` when the \
           code or name they receive is assembled from literal pieces (concatenation, `%`, \
           `.format`, f-strings, `join`, `chr`, slicing, decoding: the message shows the \
           value), or disguised even when its parts are not known (character codes, \
           reversal with `[::-1]`, decoding, `translate`, `swapcase`, `.replace` on a \
           literal). Lookups in a namespace by such a string (`os.__dict__[…]`, \
           `sys.modules[…]`, `globals()[…]`) count too. Ordinary dispatch such as \
           `getattr(self, \"do_\" + command)` is AL404.",
    why: "There is no honest reason to spell `system` as `\"sys\" + \"tem\"`: splitting a \
          name is how code slips past a reviewer and a denylist.",
    example: "import os\ngetattr(os, \"sys\" + \"tem\")(\"id\")",
    instead: "Write the name you mean as a plain identifier (`os.system` — which is then \
              judged on its own), or use a dict that maps choices to functions.",
};

/// AL402: text built from character codes.
pub const CHARACTER_CODES: Rule = Rule {
    code: "AL402",
    name: "character-codes",
    severity: Severity::Medium,
    summary: "text built from character codes (`chr` joins)",
    what: "Reports `\"\".join(chr(c) for c in …)`, `\"\".join(map(chr, …))`, lists or sums \
           of several `chr(…)` calls, and `bytes([...]).decode()` of several codes.",
    why: "Spelling text as numbers hides it from a reader; it is the first layer of most \
          obfuscated payloads. (A single `chr(65 + i)` for column labels is not \
          reported.)",
    example: "name = \"\".join(chr(c) for c in [101, 118, 97, 108])",
    instead: "Write the string literally.",
};

/// AL403: decoded payload executed.
pub const DECODED_PAYLOAD: Rule = Rule {
    code: "AL403",
    name: "decoded-payload",
    severity: Severity::Critical,
    summary: "decoded data run as code (base64, hex, rot13, zlib into exec/eval)",
    what: "Reports `eval`, `exec` and `compile` whose argument decodes something: \
           `base64.*decode`, `codecs.decode`, `binascii.unhexlify`/`a2b_*`, \
           `bytes.fromhex`, `zlib`/`gzip`/`bz2`/`lzma` decompression, `marshal.loads`, or \
           any `.decode(…)`.",
    why: "Encoding a payload exists only to hide it: what runs is invisible until it runs.",
    example: "import base64\nexec(base64.b64decode(\"cHJpbnQoJ2hpJyk=\"))",
    instead: "Send the code itself, in clear; it is analysed and run the same way.",
};

/// AL404: getattr & co. with a name that is not known.
pub const COMPUTED_ATTRIBUTE: Rule = Rule {
    code: "AL404",
    name: "computed-attribute",
    severity: Severity::Medium,
    summary: "`getattr`/`setattr`/`delattr` with a name known only at run time",
    what: "Reports `getattr`, `setattr` and `delattr` whose name argument is a variable or \
           expression the analyzer cannot compute (a literal, or a name bound once to a \
           literal, is fine).",
    why: "Dispatching on a run-time string hides which attribute is used; when the string \
          comes from data, the data chooses what runs.",
    example: "method = config[\"method\"]\nresult = getattr(df, method)()",
    instead: "Map the allowed choices explicitly: `{\"mean\": df.mean, \"median\": \
              df.median}[method]()`.",
};

/// AL405: a computed attribute of a dangerous module.
pub const COMPUTED_DANGEROUS_ATTRIBUTE: Rule = Rule {
    code: "AL405",
    name: "computed-dangerous-attribute",
    severity: Severity::High,
    summary: "a computed attribute of a denied module or of builtins",
    what: "Reports `getattr`, `setattr` and `delattr` with a run-time name on a module the \
           policy denies, on `builtins`/`__builtins__`, or on the namespace (`globals()`).",
    why: "`getattr(os, name)` can be any function of `os`; `getattr(__builtins__, name)` \
          can be `eval`. The name is exactly what the analyzer needed to see.",
    example: "import os\nfn = getattr(os, user_choice)",
    instead: "Call the one function you need by name, so it can be judged.",
};

/// AL406: a dangerous name spelled with escapes.
pub const ESCAPED_NAME: Rule = Rule {
    code: "AL406",
    name: "escaped-name",
    severity: Severity::High,
    summary: "a dunder or dangerous name spelled with string escapes",
    what: "Reports a string or bytes literal whose value contains a dunder name \
           (`__import__`) or the name of a denied module or call (`system`, `eval`) that its \
           source text spells with escapes (`\\x5f`, `\\137`, `\\u005f`, `\\N{…}`).",
    why: "Nobody writes `\"\\x5f\\x5fimport\\x5f\\x5f\"` by accident: escapes are chosen so \
          that searching the source for the name finds nothing.",
    example: "f = getattr(__builtins__, \"\\x5f\\x5fimport\\x5f\\x5f\")",
    instead: "Write names in plain text.",
};

/// Functions that turn a string into behaviour, and which argument is the string.
const SINKS: &[(&str, usize, Sink)] = &[
    ("eval", 0, Sink::Code),
    ("exec", 0, Sink::Code),
    ("compile", 0, Sink::Code),
    ("__import__", 0, Sink::Module),
    ("importlib.import_module", 0, Sink::Module),
    ("importlib.__import__", 0, Sink::Module),
    ("getattr", 1, Sink::Attribute),
    ("setattr", 1, Sink::Attribute),
    ("delattr", 1, Sink::Attribute),
    ("hasattr", 1, Sink::Module),
    ("operator.attrgetter", 0, Sink::Module),
    ("operator.methodcaller", 0, Sink::Module),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sink {
    /// Runs its argument as code.
    Code,
    /// Looks up a module or an attribute by name (built names reported, plain variables
    /// are not: other rules judge these calls).
    Module,
    /// getattr and friends: a plain variable is AL404/AL405.
    Attribute,
}

/// Calls that decode data.
const DECODERS: &[&str] = &[
    "base64.b64decode",
    "base64.standard_b64decode",
    "base64.urlsafe_b64decode",
    "base64.b32decode",
    "base64.b32hexdecode",
    "base64.b16decode",
    "base64.b85decode",
    "base64.a85decode",
    "base64.decodebytes",
    "base64.decodestring",
    "codecs.decode",
    "binascii.unhexlify",
    "binascii.a2b_hex",
    "binascii.a2b_base64",
    "binascii.a2b_uu",
    "binascii.a2b_qp",
    "bytes.fromhex",
    "bytearray.fromhex",
    "zlib.decompress",
    "gzip.decompress",
    "bz2.decompress",
    "lzma.decompress",
    "marshal.loads",
];

/// Most nodes inspected inside one sink's argument, and how deep.
const SCAN_BUDGET: usize = 512;
const SCAN_DEPTH: u32 = 12;

pub(super) fn check(checker: &mut Checker, entry: &Entry) {
    match entry.node {
        AnyNodeRef::ExprCall(call) => {
            check_sink(checker, call);
            check_character_codes(checker, call);
        }
        AnyNodeRef::ExprBinOp(bin) if bin.op == Operator::Add => {
            // chr(101) + chr(118) + chr(97) + …, reported once at the top of the chain.
            let top =
                !matches!(entry.parent, Some(AnyNodeRef::ExprBinOp(p)) if p.op == Operator::Add);
            if top && count_chr_in_sum(checker, bin) >= 3 {
                report_character_codes(checker, bin.start(), None);
            }
        }
        AnyNodeRef::ExprSubscript(subscript) => check_namespace_lookup(checker, subscript),
        AnyNodeRef::StringLiteral(literal) => {
            escaped(checker, literal.range, &literal.value);
        }
        AnyNodeRef::BytesLiteral(literal) => {
            let text: String = literal.value.iter().map(|&b| char::from(b)).collect();
            escaped(checker, literal.range, &text);
        }
        _ => {}
    }
}

fn check_sink(checker: &mut Checker, call: &ast::ExprCall) {
    let callees = checker.model.resolve(&*call.func);
    let Some(&(sink_name, index, kind)) = SINKS
        .iter()
        .find(|(name, _, _)| callees.iter().any(|c| c == name))
    else {
        return;
    };
    let Some(arg) = argument(call, index, &["source", "name", "object"]) else {
        return;
    };
    if kind == Sink::Code {
        if let Some(decoder) = find_decoder(checker, arg) {
            checker.report(
                &DECODED_PAYLOAD,
                call.start(),
                format!("`{sink_name}` runs data decoded by `{decoder}`"),
            );
            return;
        }
    }
    if let Some(folded) = checker.model.fold(arg) {
        if folded.built {
            let shown = match folded.as_str() {
                Some(text) => format!(" (`{}`)", shorten(text)),
                None => String::new(),
            };
            checker.report(
                &BUILT_NAME,
                call.start(),
                format!("`{sink_name}` receives a string built at run time{shown}"),
            );
        }
        return;
    }
    if shape(checker, arg, 0) == Shape::Disguised {
        checker.report(
            &BUILT_NAME,
            call.start(),
            format!("`{sink_name}` receives a string disguised at run time"),
        );
        return;
    }
    if kind == Sink::Attribute && !matches!(arg, Expr::StringLiteral(_)) {
        let owner = call
            .arguments
            .args
            .first()
            .map(|o| checker.model.resolve(o))
            .unwrap_or_default();
        let dangerous = owner.iter().find(|o| {
            o.as_str() == "builtins"
                || o.starts_with('<')
                || checker.policy.module_decision(o).0 == ModuleDecision::Denied
        });
        match dangerous {
            Some(owner) => {
                let owner = if owner.starts_with('<') {
                    "the namespace"
                } else {
                    owner
                };
                checker.report(
                    &COMPUTED_DANGEROUS_ATTRIBUTE,
                    call.start(),
                    format!("`{sink_name}` of a run-time name on `{owner}`"),
                );
            }
            None => checker.report(
                &COMPUTED_ATTRIBUTE,
                call.start(),
                format!("`{sink_name}` with a name known only at run time"),
            ),
        }
    }
}

/// `os.__dict__["sys" + "tem"]`, `sys.modules["o" + "s"]`, `globals()["ev" + "al"]`: a
/// namespace looked up by a built name is `getattr` by another spelling.
fn check_namespace_lookup(checker: &mut Checker, subscript: &ast::ExprSubscript) {
    let namespace = match &*subscript.value {
        Expr::Attribute(a) if a.attr.as_str() == "__dict__" => true,
        value => checker.model.resolve(value).iter().any(|q| {
            q.starts_with('<') || q == "sys.modules" || q == "builtins" || q.ends_with(".__dict__")
        }),
    };
    if !namespace {
        return;
    }
    let built = match checker.model.fold(&subscript.slice) {
        Some(folded) if folded.built => folded.as_str().map(|t| format!(" (`{}`)", shorten(t))),
        Some(_) => None,
        None => (shape(checker, &subscript.slice, 0) == Shape::Disguised).then(String::new),
    };
    if let Some(shown) = built {
        checker.report(
            &BUILT_NAME,
            subscript.start(),
            format!("namespace lookup by a string built at run time{shown}"),
        );
    }
}

/// How a string that cannot be computed was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Shape {
    /// A plain variable, attribute or call.
    Plain,
    /// Assembled from run-time parts the ordinary way: `"do_" + cmd`, f-strings,
    /// `.format`, `"_".join(parts)` — a dispatch, not a disguise.
    Assembled,
    /// Disguised: character codes, reversal, decoding, `translate`, `swapcase`, a
    /// `.replace` on a literal.
    Disguised,
}

fn shape(checker: &Checker, expr: &Expr, depth: u32) -> Shape {
    if depth > 8 {
        return Shape::Plain;
    }
    match expr {
        Expr::BinOp(bin) if matches!(bin.op, Operator::Add | Operator::Mod) => {
            let parts =
                shape(checker, &bin.left, depth + 1).max(shape(checker, &bin.right, depth + 1));
            let stringish = |e: &Expr| matches!(e, Expr::StringLiteral(_) | Expr::FString(_));
            if stringish(&bin.left) || stringish(&bin.right) {
                parts.max(Shape::Assembled)
            } else {
                parts
            }
        }
        Expr::Call(call) => {
            if callee_in(
                checker.model,
                call,
                &["chr", "bytes", "bytearray", "reversed"],
            )
            .is_some()
                || find_decoder(checker, expr).is_some()
            {
                return Shape::Disguised;
            }
            let Expr::Attribute(attribute) = &*call.func else {
                return Shape::Plain;
            };
            match attribute.attr.as_str() {
                "translate" | "swapcase" => Shape::Disguised,
                "replace" if matches!(&*attribute.value, Expr::StringLiteral(_)) => {
                    Shape::Disguised
                }
                "join" => {
                    let codes = call
                        .arguments
                        .args
                        .first()
                        .is_some_and(|a| contains_chr(checker, a));
                    if codes {
                        Shape::Disguised
                    } else {
                        Shape::Assembled
                    }
                }
                "format" | "replace" | "lower" | "upper" | "strip" => Shape::Assembled,
                _ => Shape::Plain,
            }
        }
        Expr::Subscript(subscript) => match &*subscript.slice {
            Expr::Slice(slice)
                if slice
                    .step
                    .as_ref()
                    .and_then(|s| checker.model.magnitude(s))
                    .is_some_and(|s| s < 0.0) =>
            {
                Shape::Disguised
            }
            Expr::Slice(_) => Shape::Assembled,
            _ => Shape::Plain,
        },
        Expr::FString(_) => Shape::Assembled,
        _ => Shape::Plain,
    }
}

/// A decoding call inside `expr`, if any (within a few levels: decoders sit right under
/// the `exec` they feed, and nested sinks must not make the search quadratic).
fn find_decoder(checker: &Checker, expr: &Expr) -> Option<String> {
    let mut walk = Walk::new(AnyNodeRef::from(expr));
    let mut seen = 0;
    while let Some(entry) = walk.next() {
        seen += 1;
        if seen > SCAN_BUDGET {
            break;
        }
        if entry.depth >= SCAN_DEPTH {
            walk.skip_children();
        }
        let AnyNodeRef::ExprCall(call) = entry.node else {
            continue;
        };
        if let Some(name) = callee_in(checker.model, call, DECODERS) {
            return Some(name.to_string());
        }
        if let Expr::Attribute(attribute) = &*call.func {
            if matches!(attribute.attr.as_str(), "decode" | "fromhex" | "decompress") {
                return Some(format!(".{}()", attribute.attr));
            }
        }
    }
    None
}

fn check_character_codes(checker: &mut Checker, call: &ast::ExprCall) {
    let Expr::Attribute(attribute) = &*call.func else {
        return;
    };
    let args = &call.arguments.args;
    let hit = match attribute.attr.as_str() {
        "join" => args.first().is_some_and(|arg| match arg {
            Expr::Generator(ast::ExprGenerator { elt, .. })
            | Expr::ListComp(ast::ExprListComp { elt, .. }) => contains_chr(checker, elt),
            Expr::Call(inner) => {
                callee_in(checker.model, inner, &["map"]).is_some()
                    && inner
                        .arguments
                        .args
                        .first()
                        .is_some_and(|f| checker.model.resolve(f).iter().any(|c| c == "chr"))
            }
            Expr::List(ast::ExprList { elts, .. }) | Expr::Tuple(ast::ExprTuple { elts, .. }) => {
                elts.iter().filter(|e| is_chr_call(checker, e)).count() >= 2
            }
            _ => false,
        }),
        "decode" => match &*attribute.value {
            Expr::Call(inner) => {
                callee_in(checker.model, inner, &["bytes", "bytearray"]).is_some()
                    && inner.arguments.args.first().is_some_and(|a| match a {
                        Expr::List(ast::ExprList { elts, .. })
                        | Expr::Tuple(ast::ExprTuple { elts, .. }) => {
                            elts.len() >= 3
                                && elts.iter().all(|e| matches!(e, Expr::NumberLiteral(_)))
                        }
                        _ => false,
                    })
            }
            _ => false,
        },
        _ => false,
    };
    if hit {
        let value = checker
            .model
            .fold_call(call)
            .and_then(|f| f.as_str().map(shorten));
        report_character_codes(checker, call.start(), value);
    }
}

fn report_character_codes(checker: &mut Checker, offset: TextSize, value: Option<String>) {
    let shown = value.map(|v| format!(" (`{v}`)")).unwrap_or_default();
    checker.report(
        &CHARACTER_CODES,
        offset,
        format!("text built from character codes{shown}"),
    );
}

fn is_chr_call(checker: &Checker, expr: &Expr) -> bool {
    matches!(expr, Expr::Call(call) if callee_in(checker.model, call, &["chr"]).is_some())
}

/// True if `expr` is or directly wraps a `chr(…)` call (`chr(c)`, `chr(c + 1)` inside an
/// f-string or `str()` does not matter: the call itself is what counts).
fn contains_chr(checker: &Checker, expr: &Expr) -> bool {
    Walk::new(AnyNodeRef::from(expr))
        .take(64)
        .any(|e| matches!(e.node, AnyNodeRef::ExprCall(call) if callee_in(checker.model, call, &["chr"]).is_some()))
}

/// How many `chr(…)` terms a `+` chain adds (iteratively: chains can be long).
fn count_chr_in_sum(checker: &Checker, bin: &ast::ExprBinOp) -> usize {
    let mut count = 0;
    let mut stack: Vec<&Expr> = vec![&bin.left, &bin.right];
    let mut seen = 0;
    while let Some(expr) = stack.pop() {
        seen += 1;
        if seen > SCAN_BUDGET {
            break;
        }
        match expr {
            Expr::BinOp(inner) if inner.op == Operator::Add => {
                stack.push(&inner.left);
                stack.push(&inner.right);
            }
            e if is_chr_call(checker, e) => count += 1,
            _ => {}
        }
    }
    count
}

/// AL406: a literal whose value holds a sensitive name that its source text does not.
fn escaped(checker: &mut Checker, range: TextRange, value: &str) {
    let raw = &checker.source.text[range_in(checker.source.text, range)];
    if !raw.contains('\\') {
        return;
    }
    for token in identifiers(value) {
        if token.len() < 2 || raw.contains(token) || !sensitive(checker, token) {
            continue;
        }
        checker.report(
            &ESCAPED_NAME,
            range.start(),
            format!("`{}` spelled with escapes", shorten(token)),
        );
        return;
    }
}

fn range_in(text: &str, range: TextRange) -> std::ops::Range<usize> {
    let start = usize::from(range.start()).min(text.len());
    let end = usize::from(range.end()).min(text.len()).max(start);
    start..end
}

/// The identifier-like runs of a string.
fn identifiers(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|t| !t.is_empty())
}

/// Dunder names, and names of denied modules and calls.
fn sensitive(checker: &Checker, token: &str) -> bool {
    (token.len() > 4 && token.starts_with("__") && token.ends_with("__"))
        || checker.sensitive_names().contains(token)
}

fn shorten(text: &str) -> String {
    const MAX: usize = 60;
    if text.chars().count() <= MAX {
        text.escape_debug().to_string()
    } else {
        let head: String = text.chars().take(MAX).collect();
        format!("{}…", head.escape_debug())
    }
}
