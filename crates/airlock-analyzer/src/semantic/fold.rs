//! Constant folding: the value of an expression built only from literals, when the
//! analyzer can tell it without running anything.
//!
//! Obfuscated code hides a name by building it at run time: `"o" + "s"`, `"".join(chr(c)
//! for c in [101, 118, 97, 108])`, `"lave"[::-1]`, `bytes.fromhex("6576616c").decode()`,
//! `base64.b64decode("ZXZhbA==").decode()`, `codecs.decode("riny", "rot13")`. Folding
//! recovers the name so the rules see `eval` — and records that it was *built*, which is
//! itself a finding when it feeds `eval`, `getattr` or `__import__`.
//!
//! Everything here is bounded: nesting depth, number of steps, and the size of every value,
//! so folding hostile input costs little and never recurses deeply.

use ruff_python_ast::{
    self as ast, ConversionFlag, Expr, ExprRef, InterpolatedStringElement, Number, Operator,
    UnaryOp,
};

use super::{Budget, Model};

/// Deepest arithmetic folded by [`magnitude`].
const MAX_DEPTH: u32 = 48;
/// Longest string, bytes or list produced.
const MAX_LEN: usize = 65_536;

/// A value known without running the code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Str(String),
    Bytes(Vec<u8>),
    Int(i128),
    List(Vec<Value>),
}

/// A folded value, and whether building it took any operation (concatenation, join,
/// `chr`, decoding, slicing …) rather than reading one literal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Folded {
    pub value: Value,
    pub built: bool,
}

impl Folded {
    /// The value as text, when it is a string.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// Variables bound by comprehensions being folded (`c` in `chr(c) for c in [...]`).
type Env<'e> = Vec<(&'e str, Value)>;

pub(super) struct Evaluator<'m, 'b> {
    model: &'m Model,
    /// Shared with the resolver: one question's depth and steps.
    budget: &'b mut Budget,
    /// The depth this fold starts at (when the resolver asked for it).
    base: u32,
    built: bool,
}

impl<'m, 'b> Evaluator<'m, 'b> {
    pub(super) fn new(model: &'m Model, base: u32, budget: &'b mut Budget) -> Evaluator<'m, 'b> {
        Evaluator {
            model,
            budget,
            base,
            built: false,
        }
    }

    pub(super) fn fold(mut self, expr: &Expr) -> Option<Folded> {
        let mut env = Env::new();
        let value = self.eval(expr, &mut env, 0)?;
        Some(Folded {
            value,
            built: self.built,
        })
    }

    pub(super) fn fold_call(mut self, call: &ast::ExprCall) -> Option<Folded> {
        let mut env = Env::new();
        let value = self.call(call, &mut env, 0)?;
        Some(Folded {
            value,
            built: self.built,
        })
    }

    fn eval<'e>(&mut self, expr: &'e Expr, env: &mut Env<'e>, depth: u32) -> Option<Value> {
        if !self.budget.take(self.base + depth) {
            return None;
        }
        let depth = depth + 1;
        let value = match expr {
            Expr::StringLiteral(s) => Value::Str(s.value.to_str().to_string()),
            Expr::BytesLiteral(b) => Value::Bytes(
                b.value
                    .iter()
                    .flat_map(|p| p.value.iter().copied())
                    .collect(),
            ),
            Expr::NumberLiteral(n) => match &n.value {
                Number::Int(i) => Value::Int(i128::from(i.as_i64()?)),
                _ => return None,
            },
            Expr::BooleanLiteral(b) => Value::Int(i128::from(b.value)),
            Expr::List(ast::ExprList { elts, .. })
            | Expr::Tuple(ast::ExprTuple { elts, .. })
            | Expr::Set(ast::ExprSet { elts, .. }) => {
                if elts.len() > MAX_LEN {
                    return None;
                }
                let mut items = Vec::with_capacity(elts.len());
                for elt in elts {
                    items.push(self.eval(elt, env, depth)?);
                }
                Value::List(items)
            }
            Expr::Name(name) => {
                let id = name.id.as_str();
                if let Some((_, value)) = env.iter().rev().find(|(n, _)| *n == id) {
                    value.clone()
                } else {
                    let folded = self.model.constant(id)?;
                    self.built |= folded.built;
                    folded.value.clone()
                }
            }
            Expr::Named(named) => self.eval(&named.value, env, depth)?,
            Expr::BinOp(bin) => {
                let left = self.eval(&bin.left, env, depth)?;
                let right = self.eval(&bin.right, env, depth)?;
                self.built = true;
                binary(left, bin.op, right)?
            }
            Expr::UnaryOp(unary) => {
                let Value::Int(i) = self.eval(&unary.operand, env, depth)? else {
                    return None;
                };
                match unary.op {
                    UnaryOp::USub => Value::Int(i.checked_neg()?),
                    UnaryOp::UAdd => Value::Int(i),
                    UnaryOp::Invert => Value::Int(!i),
                    UnaryOp::Not => Value::Int(i128::from(i == 0)),
                }
            }
            Expr::Subscript(sub) => {
                let value = self.eval(&sub.value, env, depth)?;
                self.built = true;
                match &*sub.slice {
                    Expr::Slice(slice) => {
                        let mut bound = |e: &'e Option<Box<Expr>>| -> Option<Option<i128>> {
                            match e {
                                None => Some(None),
                                Some(e) => match self.eval(e, env, depth)? {
                                    Value::Int(i) => Some(Some(i)),
                                    _ => None,
                                },
                            }
                        };
                        let lower = bound(&slice.lower)?;
                        let upper = bound(&slice.upper)?;
                        let step = bound(&slice.step)?;
                        slice_value(value, lower, upper, step)?
                    }
                    index => {
                        let Value::Int(i) = self.eval(index, env, depth)? else {
                            return None;
                        };
                        index_value(value, i)?
                    }
                }
            }
            Expr::Call(call) => self.call(call, env, depth)?,
            Expr::Generator(ast::ExprGenerator {
                elt, generators, ..
            })
            | Expr::ListComp(ast::ExprListComp {
                elt, generators, ..
            }) => {
                let [generator] = generators.as_slice() else {
                    return None;
                };
                let Expr::Name(target) = &generator.target else {
                    return None;
                };
                if !generator.ifs.is_empty() || generator.is_async {
                    return None;
                }
                let items = iterate(self.eval(&generator.iter, env, depth)?)?;
                self.built = true;
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    env.push((target.id.as_str(), item));
                    let value = self.eval(elt, env, depth);
                    env.pop();
                    out.push(value?);
                }
                Value::List(out)
            }
            Expr::FString(f) => {
                let mut text = String::new();
                for part in f.value.iter() {
                    match part {
                        ast::FStringPart::Literal(lit) => text.push_str(&lit.value),
                        ast::FStringPart::FString(fs) => {
                            for element in &fs.elements {
                                match element {
                                    InterpolatedStringElement::Literal(lit) => {
                                        text.push_str(&lit.value);
                                    }
                                    InterpolatedStringElement::Interpolation(i) => {
                                        if i.format_spec.is_some()
                                            || !matches!(
                                                i.conversion,
                                                ConversionFlag::None | ConversionFlag::Str
                                            )
                                        {
                                            return None;
                                        }
                                        self.built = true;
                                        let value = self.eval(&i.expression, env, depth)?;
                                        text.push_str(&to_text(&value)?);
                                    }
                                }
                            }
                        }
                    }
                    if text.len() > MAX_LEN {
                        return None;
                    }
                }
                Value::Str(text)
            }
            _ => return None,
        };
        bounded(value)
    }

    fn call<'e>(
        &mut self,
        call: &'e ast::ExprCall,
        env: &mut Env<'e>,
        depth: u32,
    ) -> Option<Value> {
        if !call.arguments.keywords.is_empty() {
            return None;
        }
        let args = &call.arguments.args;
        // A method of a value we know: "".join(…), "…".replace(…), b"…".decode().
        if let Expr::Attribute(attr) = &*call.func {
            if let Some(receiver) = self.eval(&attr.value, env, depth) {
                let mut values = Vec::with_capacity(args.len());
                for arg in args.iter() {
                    values.push(self.eval(arg, env, depth)?);
                }
                self.built = true;
                return method(receiver, attr.attr.as_str(), values);
            }
        }
        let callees =
            self.model
                .resolve_at(ExprRef::from(&*call.func), self.base + depth, self.budget);
        let callee = callees
            .iter()
            .find(|c| FOLDABLE_CALLS.contains(&c.as_str()))?;
        // `map(chr, …)`: the function is an argument, not a value.
        if callee == "map" {
            let [function, iterable] = &args[..] else {
                return None;
            };
            let function =
                self.model
                    .resolve_at(ExprRef::from(function), self.base + depth, self.budget);
            let items = iterate(self.eval(iterable, env, depth)?)?;
            self.built = true;
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                let applied = function.iter().find_map(|f| builtin(f, vec![item.clone()]));
                out.push(applied?);
            }
            return Some(Value::List(out));
        }
        let mut values = Vec::with_capacity(args.len());
        for arg in args.iter() {
            values.push(self.eval(arg, env, depth)?);
        }
        self.built = true;
        builtin(callee, values)
    }
}

/// Calls whose result folding knows.
const FOLDABLE_CALLS: &[&str] = &[
    "chr",
    "ord",
    "str",
    "bytes",
    "bytearray",
    "reversed",
    "list",
    "tuple",
    "map",
    "bytes.fromhex",
    "bytearray.fromhex",
    "base64.b64decode",
    "base64.standard_b64decode",
    "base64.urlsafe_b64decode",
    "base64.decodebytes",
    "base64.b16decode",
    "binascii.a2b_base64",
    "binascii.unhexlify",
    "binascii.a2b_hex",
    "codecs.decode",
    "codecs.encode",
];

fn builtin(name: &str, args: Vec<Value>) -> Option<Value> {
    let mut args = args.into_iter();
    let first = args.next();
    let second = args.next();
    let value = match (name, first, second) {
        ("chr", Some(Value::Int(i)), None) => {
            Value::Str(char::from_u32(u32::try_from(i).ok()?)?.to_string())
        }
        ("ord", Some(Value::Str(s)), None) => {
            let mut chars = s.chars();
            let c = chars.next()?;
            if chars.next().is_some() {
                return None;
            }
            Value::Int(i128::from(u32::from(c)))
        }
        ("str", Some(v), None) => Value::Str(to_text(&v)?),
        ("bytes" | "bytearray", Some(Value::List(items)), None) => Value::Bytes(
            items
                .into_iter()
                .map(|v| match v {
                    Value::Int(i) => u8::try_from(i).ok(),
                    _ => None,
                })
                .collect::<Option<Vec<u8>>>()?,
        ),
        ("bytes" | "bytearray", Some(Value::Str(s)), Some(Value::Str(_))) => {
            Value::Bytes(s.into_bytes())
        }
        ("reversed", Some(v), None) => {
            let mut items = iterate(v)?;
            items.reverse();
            Value::List(items)
        }
        ("list" | "tuple", Some(v), None) => Value::List(iterate(v)?),
        ("bytes.fromhex" | "bytearray.fromhex", Some(Value::Str(s)), None) => {
            Value::Bytes(hex_decode(&s)?)
        }
        ("base64.b16decode" | "binascii.unhexlify" | "binascii.a2b_hex", Some(v), None) => {
            Value::Bytes(hex_decode(&text_of(v)?)?)
        }
        (
            "base64.b64decode"
            | "base64.standard_b64decode"
            | "base64.decodebytes"
            | "binascii.a2b_base64",
            Some(v),
            None,
        ) => Value::Bytes(base64_decode(&text_of(v)?)?),
        ("base64.urlsafe_b64decode", Some(v), None) => {
            let text = text_of(v)?.replace('-', "+").replace('_', "/");
            Value::Bytes(base64_decode(&text)?)
        }
        ("codecs.decode" | "codecs.encode", Some(v), Some(Value::Str(codec))) => {
            let codec = codec.to_ascii_lowercase().replace('-', "_");
            match (codec.as_str(), v) {
                ("rot13" | "rot_13", Value::Str(s)) => Value::Str(rot13(&s)),
                ("hex" | "hex_codec", v) if name == "codecs.decode" => {
                    Value::Bytes(hex_decode(&text_of(v)?)?)
                }
                ("base64" | "base64_codec", v) if name == "codecs.decode" => {
                    Value::Bytes(base64_decode(&text_of(v)?)?)
                }
                ("utf_8" | "utf8" | "ascii" | "latin_1", Value::Bytes(b)) => {
                    Value::Str(String::from_utf8_lossy(&b).into_owned())
                }
                _ => return None,
            }
        }
        _ => return None,
    };
    bounded(value)
}

fn method(receiver: Value, name: &str, args: Vec<Value>) -> Option<Value> {
    let value = match (receiver, name, &args[..]) {
        (Value::Str(sep), "join", [items]) => {
            let mut out = String::new();
            for (n, item) in iterate(items.clone())?.into_iter().enumerate() {
                let Value::Str(s) = item else { return None };
                if n > 0 {
                    out.push_str(&sep);
                }
                out.push_str(&s);
                if out.len() > MAX_LEN {
                    return None;
                }
            }
            Value::Str(out)
        }
        (Value::Bytes(sep), "join", [items]) => {
            let mut out = Vec::new();
            for (n, item) in iterate(items.clone())?.into_iter().enumerate() {
                let Value::Bytes(b) = item else { return None };
                if n > 0 {
                    out.extend_from_slice(&sep);
                }
                out.extend_from_slice(&b);
                if out.len() > MAX_LEN {
                    return None;
                }
            }
            Value::Bytes(out)
        }
        (Value::Str(s), "replace", [Value::Str(from), Value::Str(to)]) => {
            if from.is_empty() {
                return None;
            }
            let count = s.matches(from.as_str()).count();
            if s.len() + count.saturating_mul(to.len()) > MAX_LEN {
                return None;
            }
            Value::Str(s.replace(from.as_str(), to))
        }
        (Value::Str(s), "upper", []) => Value::Str(s.to_uppercase()),
        (Value::Str(s), "lower" | "casefold", []) => Value::Str(s.to_lowercase()),
        (Value::Str(s), "strip", []) => Value::Str(s.trim().to_string()),
        (Value::Str(s), "lstrip", []) => Value::Str(s.trim_start().to_string()),
        (Value::Str(s), "rstrip", []) => Value::Str(s.trim_end().to_string()),
        (Value::Str(s), "swapcase", []) => Value::Str(
            s.chars()
                .map(|c| {
                    if c.is_uppercase() {
                        c.to_lowercase().collect::<String>()
                    } else {
                        c.to_uppercase().collect::<String>()
                    }
                })
                .collect(),
        ),
        (Value::Str(s), "encode", []) => Value::Bytes(s.into_bytes()),
        (Value::Str(s), "encode", [Value::Str(_)]) => Value::Bytes(s.into_bytes()),
        (Value::Bytes(b), "decode", []) => Value::Str(String::from_utf8_lossy(&b).into_owned()),
        (Value::Bytes(b), "decode", [Value::Str(_)]) => {
            Value::Str(String::from_utf8_lossy(&b).into_owned())
        }
        (Value::Str(s), "split", [Value::Str(sep)]) if !sep.is_empty() => Value::List(
            s.split(sep.as_str())
                .map(|p| Value::Str(p.to_string()))
                .collect(),
        ),
        (Value::Str(s), "format", args) => Value::Str(format_braces(&s, args)?),
        _ => return None,
    };
    bounded(value)
}

fn binary(left: Value, op: Operator, right: Value) -> Option<Value> {
    let value = match (left, op, right) {
        (Value::Str(a), Operator::Add, Value::Str(b)) => Value::Str(a + &b),
        (Value::Bytes(mut a), Operator::Add, Value::Bytes(b)) => {
            a.extend_from_slice(&b);
            Value::Bytes(a)
        }
        (Value::List(mut a), Operator::Add, Value::List(b)) => {
            a.extend(b);
            Value::List(a)
        }
        (Value::Str(s), Operator::Mult, Value::Int(n))
        | (Value::Int(n), Operator::Mult, Value::Str(s)) => {
            let n = usize::try_from(n.max(0)).ok()?;
            if s.len().saturating_mul(n) > MAX_LEN {
                return None;
            }
            Value::Str(s.repeat(n))
        }
        (Value::Str(fmt), Operator::Mod, args) => {
            let args = match args {
                Value::List(items) => items,
                single => vec![single],
            };
            Value::Str(format_percent(&fmt, &args)?)
        }
        (Value::Int(a), op, Value::Int(b)) => Value::Int(match op {
            Operator::Add => a.checked_add(b)?,
            Operator::Sub => a.checked_sub(b)?,
            Operator::Mult => a.checked_mul(b)?,
            Operator::FloorDiv => a.checked_div_euclid(b)?,
            Operator::Mod => a.checked_rem_euclid(b)?,
            Operator::Pow => a.checked_pow(u32::try_from(b).ok()?)?,
            Operator::BitXor => a ^ b,
            Operator::BitAnd => a & b,
            Operator::BitOr => a | b,
            Operator::LShift => a.checked_shl(u32::try_from(b).ok()?)?,
            Operator::RShift => a.checked_shr(u32::try_from(b).ok()?)?,
            _ => return None,
        }),
        _ => return None,
    };
    bounded(value)
}

/// The items a `for` over the value would see.
fn iterate(value: Value) -> Option<Vec<Value>> {
    match value {
        Value::List(items) => Some(items),
        Value::Str(s) => Some(s.chars().map(|c| Value::Str(c.to_string())).collect()),
        Value::Bytes(b) => Some(b.into_iter().map(|x| Value::Int(i128::from(x))).collect()),
        Value::Int(_) => None,
    }
}

fn to_text(value: &Value) -> Option<String> {
    match value {
        Value::Str(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

fn text_of(value: Value) -> Option<String> {
    match value {
        Value::Str(s) => Some(s),
        Value::Bytes(b) => String::from_utf8(b).ok(),
        _ => None,
    }
}

fn bounded(value: Value) -> Option<Value> {
    let len = match &value {
        Value::Str(s) => s.len(),
        Value::Bytes(b) => b.len(),
        Value::List(items) => items.len(),
        Value::Int(_) => 0,
    };
    (len <= MAX_LEN).then_some(value)
}

fn index_value(value: Value, index: i128) -> Option<Value> {
    let items = iterate(value.clone())?;
    let len = i128::try_from(items.len()).ok()?;
    let at = if index < 0 { index + len } else { index };
    let at = usize::try_from(at).ok()?;
    match value {
        Value::Str(_) | Value::List(_) | Value::Bytes(_) => items.into_iter().nth(at),
        Value::Int(_) => None,
    }
}

/// Python's `seq[lower:upper:step]`.
fn slice_value(
    value: Value,
    lower: Option<i128>,
    upper: Option<i128>,
    step: Option<i128>,
) -> Option<Value> {
    let step = step.unwrap_or(1);
    if step == 0 {
        return None;
    }
    let (kind, items) = match value {
        Value::Str(s) => (0, s.chars().map(|c| Value::Str(c.to_string())).collect()),
        Value::Bytes(b) => (
            1,
            b.into_iter().map(|x| Value::Int(i128::from(x))).collect(),
        ),
        Value::List(items) => (2, items),
        Value::Int(_) => return None,
    };
    let items: Vec<Value> = items;
    let len = i128::try_from(items.len()).ok()?;
    let clamp = |i: i128, lo: i128, hi: i128| i.max(lo).min(hi);
    let norm = |i: i128| if i < 0 { i + len } else { i };
    let mut picked = Vec::new();
    if step > 0 {
        let start = clamp(norm(lower.unwrap_or(0)), 0, len);
        let stop = clamp(norm(upper.unwrap_or(len)), 0, len);
        let mut i = start;
        while i < stop {
            picked.push(items[usize::try_from(i).ok()?].clone());
            i += step;
        }
    } else {
        let start = clamp(norm(lower.unwrap_or(len - 1)), -1, len - 1);
        let stop = upper.map(|u| clamp(norm(u), -1, len - 1)).unwrap_or(-1);
        let mut i = start;
        while i > stop {
            picked.push(items[usize::try_from(i).ok()?].clone());
            i += step;
        }
    }
    Some(match kind {
        0 => Value::Str(
            picked
                .into_iter()
                .filter_map(|v| match v {
                    Value::Str(s) => Some(s),
                    _ => None,
                })
                .collect(),
        ),
        1 => Value::Bytes(
            picked
                .into_iter()
                .filter_map(|v| match v {
                    Value::Int(i) => u8::try_from(i).ok(),
                    _ => None,
                })
                .collect(),
        ),
        _ => Value::List(picked),
    })
}

/// `"{}{}".format(a, b)` and `"{0}{1}"`, nothing fancier.
fn format_braces(fmt: &str, args: &[Value]) -> Option<String> {
    let mut out = String::new();
    let mut next = 0;
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let mut field = String::new();
                loop {
                    match chars.next()? {
                        '}' => break,
                        c => field.push(c),
                    }
                }
                let index = if field.is_empty() {
                    next += 1;
                    next - 1
                } else {
                    field.parse::<usize>().ok()?
                };
                out.push_str(&to_text(args.get(index)?)?);
            }
            c => out.push(c),
        }
        if out.len() > MAX_LEN {
            return None;
        }
    }
    Some(out)
}

/// `"%s%s" % (a, b)`, only `%s`, `%d` and `%c`.
fn format_percent(fmt: &str, args: &[Value]) -> Option<String> {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            '%' => out.push('%'),
            's' | 'd' => out.push_str(&to_text(args.next()?)?),
            'c' => match args.next()? {
                Value::Int(i) => out.push(char::from_u32(u32::try_from(*i).ok()?)?),
                Value::Str(s) => out.push_str(s),
                _ => return None,
            },
            _ => return None,
        }
        if out.len() > MAX_LEN {
            return None;
        }
    }
    args.next().is_none().then_some(out)
}

fn rot13(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'a'..='z' => char::from(b'a' + (c as u8 - b'a' + 13) % 26),
            'A'..='Z' => char::from(b'A' + (c as u8 - b'A' + 13) % 26),
            _ => c,
        })
        .collect()
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = s
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .map(|b| {
            char::from(b)
                .to_digit(16)
                .and_then(|d| u8::try_from(d).ok())
        })
        .collect::<Option<_>>()?;
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    Some(digits.chunks(2).map(|p| p[0] * 16 + p[1]).collect())
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for b in s.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            b if b.is_ascii_whitespace() => continue,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff).ok()?);
        }
    }
    Some(out)
}

/// How large a number is, roughly (`f64`, so `10**100` and `10**10**10` still compare),
/// for the resource rules. Names bound once to a number count. At most `MAX_DEPTH` deep
/// and `MAGNITUDE_STEPS` nodes: a balanced tree of additions cannot make it exponential.
pub(super) fn magnitude(model: &Model, expr: &Expr) -> Option<f64> {
    let mut steps = 0;
    magnitude_at(model, expr, 0, &mut steps)
}

const MAGNITUDE_STEPS: u32 = 256;

fn magnitude_at(model: &Model, expr: &Expr, depth: u32, steps: &mut u32) -> Option<f64> {
    if depth > MAX_DEPTH || *steps >= MAGNITUDE_STEPS {
        return None;
    }
    *steps += 1;
    let depth = depth + 1;
    match expr {
        Expr::NumberLiteral(n) => match &n.value {
            Number::Int(i) => Some(match i.as_u64() {
                Some(v) => v as f64,
                None => big_int_magnitude(&i.to_string()),
            }),
            Number::Float(f) => Some(*f),
            Number::Complex { .. } => None,
        },
        Expr::BooleanLiteral(b) => Some(f64::from(u8::from(b.value))),
        Expr::Name(name) => model.number(name.id.as_str()),
        Expr::UnaryOp(u) => {
            let v = magnitude_at(model, &u.operand, depth, steps)?;
            match u.op {
                UnaryOp::USub => Some(-v),
                UnaryOp::UAdd => Some(v),
                _ => None,
            }
        }
        Expr::BinOp(b) => {
            let l = magnitude_at(model, &b.left, depth, steps)?;
            let r = magnitude_at(model, &b.right, depth, steps)?;
            let v = match b.op {
                Operator::Add => l + r,
                Operator::Sub => l - r,
                Operator::Mult => l * r,
                Operator::Div => l / r,
                Operator::FloorDiv => (l / r).floor(),
                Operator::Pow => l.powf(r),
                Operator::LShift => l * 2f64.powf(r),
                Operator::RShift => l / 2f64.powf(r),
                _ => return None,
            };
            (!v.is_nan()).then_some(v)
        }
        _ => None,
    }
}

fn big_int_magnitude(token: &str) -> f64 {
    let token = token.replace('_', "").to_ascii_lowercase();
    let (digits, base) = if let Some(rest) = token.strip_prefix("0x") {
        (rest.len(), 16f64)
    } else if let Some(rest) = token.strip_prefix("0o") {
        (rest.len(), 8f64)
    } else if let Some(rest) = token.strip_prefix("0b") {
        (rest.len(), 2f64)
    } else {
        return token.parse::<f64>().unwrap_or(f64::INFINITY);
    };
    base.powf(digits as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::semantic::tests::model_and_last;

    fn fold(code: &str) -> Option<Folded> {
        let mut folded = None;
        model_and_last(code, |model, expr| folded = model.fold(expr));
        folded
    }

    fn text(code: &str) -> Option<String> {
        fold(code).and_then(|f| f.as_str().map(str::to_string))
    }

    #[test]
    fn folds_obfuscated_names() {
        assert_eq!(text("'o' + 's'").as_deref(), Some("os"));
        assert_eq!(
            text("''.join(['e', 'v', 'a', 'l'])").as_deref(),
            Some("eval")
        );
        assert_eq!(
            text("''.join(chr(c) for c in [101, 118, 97, 108])").as_deref(),
            Some("eval")
        );
        assert_eq!(
            text("''.join(map(chr, [101, 118, 97, 108]))").as_deref(),
            Some("eval")
        );
        assert_eq!(text("'lave'[::-1]").as_deref(), Some("eval"));
        assert_eq!(
            text("bytes.fromhex('6576616c').decode()").as_deref(),
            Some("eval")
        );
        assert_eq!(
            text("import base64\nbase64.b64decode('ZXZhbA==').decode()").as_deref(),
            Some("eval")
        );
        assert_eq!(
            text("import codecs\ncodecs.decode('riny', 'rot13')").as_deref(),
            Some("eval")
        );
        assert_eq!(text("'%s%s' % ('ev', 'al')").as_deref(), Some("eval"));
        assert_eq!(text("'{}{}'.format('ev', 'al')").as_deref(), Some("eval"));
        assert_eq!(text("a = 'ev'\nb = 'al'\na + b").as_deref(), Some("eval"));
        assert_eq!(text("f\"{'ev'}al\"").as_deref(), Some("eval"));
        assert_eq!(text("'__imp' 'ort__'").as_deref(), Some("__import__"));
        assert_eq!(
            text("chr(95) * 2 + 'import' + chr(95) * 2").as_deref(),
            Some("__import__")
        );
        assert_eq!(text("'EVAL'.lower()").as_deref(), Some("eval"));
    }

    #[test]
    fn records_whether_a_value_was_built() {
        assert!(!fold("'eval'").expect("folds").built);
        assert!(fold("'ev' + 'al'").expect("folds").built);
        assert!(fold("n = 'ev' + 'al'\nn").expect("folds").built);
        assert!(!fold("n = 'eval'\nn").expect("folds").built);
    }

    #[test]
    fn does_not_fold_unknowns_or_reassigned_names() {
        assert_eq!(fold("x + 'a'"), None);
        assert_eq!(fold("n = 'a'\nn = 'b'\nn"), None);
        assert_eq!(fold("'a' * 10**9"), None);
        assert_eq!(fold("f('a')"), None);
    }
}
