//! The analyzer must never panic, overflow its stack or hang, whatever it is given. These
//! run on the test harness's ordinary threads (2 MiB of stack): a recursive walk or a
//! recursive drop of a deep tree would abort the whole process here.

use std::time::{Duration, Instant};

use airlock_analyzer::{analyze, CodeValidationResult, Policy, MAX_SOURCE_BYTES};

/// Analyses `code`, checks it took less than `limit`, and returns the result.
fn survive(name: &str, code: &str, limit: Duration) -> CodeValidationResult {
    let started = Instant::now();
    let result = analyze(code, &Policy::builtin());
    let took = started.elapsed();
    eprintln!(
        "{name}: {} bytes, {} issues, {took:.2?}",
        code.len(),
        result.issues.len()
    );
    // Generous: debug builds are slow, and CI machines slower.
    assert!(took < limit, "{name} took {took:?}");
    result
}

fn codes(result: &CodeValidationResult) -> Vec<&str> {
    result.issues.iter().map(|i| i.code.as_str()).collect()
}

const SHORT: Duration = Duration::from_secs(20);

#[test]
fn empty_and_blank_inputs() {
    for code in [
        "",
        "\n",
        "   ",
        "\n\n\n",
        "\t",
        "# only a comment",
        "\u{feff}",
        "\r\n\r\n",
        "\x0c",
    ] {
        let result = survive("blank", code, SHORT);
        assert!(
            result.issues.iter().all(|i| i.code == "AL001"),
            "{code:?}: {:?}",
            result.issues
        );
    }
}

#[test]
fn ten_thousand_nested_parentheses() {
    let code = format!("x = {}1{}\n", "(".repeat(10_000), ")".repeat(10_000));
    survive("parens", &code, SHORT);
}

#[test]
fn ten_thousand_nested_lists() {
    let code = format!("x = {}1{}\n", "[".repeat(10_000), "]".repeat(10_000));
    let result = survive("lists", &code, SHORT);
    assert!(codes(&result).contains(&"AL002"), "{:?}", codes(&result));
}

fn nested_ifs(depth: usize) -> String {
    let mut code = String::new();
    for level in 0..depth {
        code.push_str(&" ".repeat(level));
        code.push_str("if x:\n");
    }
    code.push_str(&" ".repeat(depth));
    code.push_str("eval(y)\n");
    code
}

#[test]
fn ten_thousand_nested_ifs() {
    // Ten thousand levels of indentation take 50 MB, over MAX_SOURCE_BYTES: run the model
    // and the rules themselves on them, then `analyze` on the deepest nesting that fits.
    let code = nested_ifs(10_000);
    let started = Instant::now();
    let parsed = ruff_python_parser::parse_module(&code).expect("parses");
    let module = parsed.into_syntax();
    let model = airlock_analyzer::semantic::Model::build(&module);
    let source = airlock_analyzer::Source::new(&code);
    let (issues, calls) =
        airlock_analyzer::rules::check(&module, &model, &source, &Policy::builtin());
    drop(model);
    airlock_analyzer::walk::dismantle(module);
    eprintln!(
        "ifs (rules only): {} bytes, {:.2?}",
        code.len(),
        started.elapsed()
    );
    assert!(issues.iter().any(|i| i.code == "AL201"), "{issues:?}");
    assert_eq!(calls, ["eval"]);

    let code = nested_ifs(4_000);
    assert!(code.len() <= MAX_SOURCE_BYTES);
    let result = survive("ifs", &code, Duration::from_secs(120));
    assert!(
        codes(&result).contains(&"AL201"),
        "the eval at the bottom is still found: {:?}",
        codes(&result)
    );
}

#[test]
fn deep_calls_and_chains_hide_nothing() {
    // eval at the bottom of 10,000 nested calls, and at the far end of a long `+` chain.
    let calls = format!("x = {}eval(y){}\n", "f(".repeat(10_000), ")".repeat(10_000));
    let result = survive("calls", &calls, SHORT);
    assert!(codes(&result).contains(&"AL201"), "{:?}", codes(&result));
    let chain = format!("x = eval(y){}\n", " + 1".repeat(100_000));
    let result = survive("chain", &chain, SHORT);
    assert!(codes(&result).contains(&"AL201"), "{:?}", codes(&result));
    let attributes = format!("x = os{}\n", ".a".repeat(100_000));
    survive("attributes", &attributes, SHORT);
    let unary = format!("x = {}1\n", "-".repeat(100_000));
    survive("unary", &unary, SHORT);
    let nested_evals = format!("{}y{}\n", "exec(".repeat(5_000), ")".repeat(5_000));
    survive("nested sinks", &nested_evals, SHORT);
    let getattrs = format!(
        "{}x{}\n",
        "getattr(".repeat(3_000),
        ", 'a' + 'b')".repeat(3_000)
    );
    survive("nested getattr", &getattrs, SHORT);
    let subscripts = format!("x = y{}\n", "['a' + 'b']".repeat(20_000));
    survive("subscripts", &subscripts, SHORT);
    let lambdas = format!("f = {}0\n", "lambda: ".repeat(10_000));
    survive("lambdas", &lambdas, SHORT);
    let strings = format!("x = {}\n", vec!["'a'"; 50_000].join(" + "));
    survive("string chain", &strings, SHORT);
    let balanced = (0..16).fold("1".to_string(), |e, _| format!("({e} + {e})"));
    survive("balanced", &format!("x = [0] * {balanced}\n"), SHORT);
    let whiles: String = (0..2_000)
        .map(|d| format!("{}while True:\n", " ".repeat(d)))
        .chain(std::iter::once(format!("{}pass\n", " ".repeat(2_000))))
        .collect();
    survive("nested whiles", &whiles, Duration::from_secs(60));
    let patterns = format!(
        "match x:\n    case {}1{}:\n        pass\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    survive("patterns", &patterns, SHORT);
}

#[test]
fn unclosed_and_broken_inputs() {
    for (name, code) in [
        ("unclosed calls", format!("x = {}1\n", "f(".repeat(20_000))),
        ("unclosed lists", format!("x = {}\n", "[".repeat(20_000))),
        ("unclosed string", "x = '''never closed".to_string()),
        ("stray dedent", "if x:\n        a\n    b\n".to_string()),
        ("nul bytes", "x = 1\0\0\0\n".to_string()),
        ("operators", "+-*/%@&|^~<>=!".repeat(10_000)),
        (
            "keywords",
            "def class if else while for try except ".repeat(10_000),
        ),
        ("decorators", "@x\n".repeat(10_000)),
    ] {
        let result = survive(name, &code, SHORT);
        assert!(
            codes(&result).contains(&"AL001"),
            "{name}: {:?}",
            codes(&result)
        );
    }
}

#[test]
fn odd_but_valid_inputs() {
    for (name, code) in [
        (
            "long line",
            format!("x = {}\n", "1 + ".repeat(50_000) + "1"),
        ),
        ("huge literal", format!("x = '{}'\n", "a".repeat(5 << 20))),
        ("escapes", format!("x = '{}'\n", "\\x5f".repeat(200_000))),
        (
            "many names",
            (0..50_000).map(|i| format!("v{i} = {i}\n")).collect(),
        ),
        (
            "many imports",
            (0..20_000)
                .map(|i| format!("import m{i} as a{i}\n"))
                .collect(),
        ),
        (
            "star imports",
            (0..5_000)
                .map(|i| format!("from m{i} import *\n"))
                .collect::<String>()
                + "run()\n",
        ),
        (
            "alias chain",
            (0..5_000)
                .map(|i| format!("a{} = a{i}\n", i + 1))
                .collect::<String>()
                + "a5000()\n",
        ),
        (
            "unicode",
            "π = 3.14\nнаименование = 'данные'\n名前 = '値'\n".repeat(1_000),
        ),
        ("crlf", "x = 1\r\ny = 2\r\n".repeat(1_000)),
    ] {
        survive(name, &code, SHORT);
    }
}

#[test]
fn ten_megabyte_source() {
    let line = "df['ma'] = df['close'].rolling(20).mean()\n";
    let code = line.repeat(10_000_000 / line.len());
    assert!(code.len() <= MAX_SOURCE_BYTES);
    let result = survive("10 MB", &code, Duration::from_secs(300));
    assert!(
        result.issues.iter().all(|i| i.code.starts_with("AL6")),
        "{:?}",
        codes(&result)
    );
    let over = "x = 1\n".repeat(MAX_SOURCE_BYTES / 6 + 1);
    let result = survive("over the limit", &over, SHORT);
    assert_eq!(codes(&result), ["AL000"]);
}

/// Regression: `parse_module` dropped the recovered tree of invalid input inside the
/// parser, recursively — 20,000 unclosed calls aborted the process with a stack overflow
/// before any issue could be reported. `analyze` now parses unchecked and dismantles.
#[test]
fn deep_tree_with_a_syntax_error_does_not_overflow_on_drop() {
    let code = format!("x = {}1\n", "f(".repeat(20_000));
    let result = survive("unclosed calls", &code, SHORT);
    assert_eq!(codes(&result), ["AL001"]);
}
