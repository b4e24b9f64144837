//! The acceptance corpus.
//!
//! - `tests/corpus/risky/*.py`: escape attempts, obfuscation, resource bombs and plain
//!   misuse. Each file's first line is `# expect: AL201 AL301 …`: every listed code must be
//!   reported.
//! - `tests/corpus/benign/*.py`: everyday data-science code (pandas, numpy, matplotlib,
//!   scipy, seaborn, talib, sklearn …). None may raise a high or critical issue; low and
//!   medium are allowed (reading a CSV with `open()` is AL207, medium, on purpose).

use std::path::{Path, PathBuf};

use airlock_analyzer::{analyze, Policy, Severity, Status};

fn corpus(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "py"))
        .collect();
    files.sort();
    files
}

fn name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[test]
fn risky_snippets_are_detected() {
    let policy = Policy::builtin();
    let files = corpus("risky");
    let mut failures = Vec::new();
    let mut dangerous = 0;
    for path in &files {
        let code = std::fs::read_to_string(path).expect("readable");
        let expected: Vec<&str> = code
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect:"))
            .unwrap_or_else(|| panic!("{} lacks its `# expect:` line", name(path)))
            .split_whitespace()
            .collect();
        assert!(!expected.is_empty(), "{} expects nothing", name(path));
        let result = analyze(&code, &policy);
        if result.status == Status::Dangerous {
            dangerous += 1;
        }
        let found: Vec<&str> = result.issues.iter().map(|i| i.code.as_str()).collect();
        let missing: Vec<&&str> = expected.iter().filter(|c| !found.contains(c)).collect();
        if !missing.is_empty() {
            failures.push(format!(
                "{}: missing {missing:?}, found {found:?}",
                name(path)
            ));
        }
    }
    eprintln!(
        "risky corpus: {} files, {} with every expected code, {} dangerous, {} warning only",
        files.len(),
        files.len() - failures.len(),
        dangerous,
        files.len() - dangerous
    );
    assert!(files.len() >= 60, "only {} risky snippets", files.len());
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn benign_snippets_raise_nothing_high() {
    let policy = Policy::builtin();
    let files = corpus("benign");
    let mut failures = Vec::new();
    let mut clean = 0;
    let mut with_low_or_medium = Vec::new();
    for path in &files {
        let code = std::fs::read_to_string(path).expect("readable");
        let result = analyze(&code, &policy);
        let serious: Vec<String> = result
            .issues
            .iter()
            .filter(|i| i.severity >= Severity::High)
            .map(|i| format!("{}:{} {} {}", i.line, i.column, i.code, i.message))
            .collect();
        if !serious.is_empty() {
            failures.push(format!("{}: {serious:?}", name(path)));
        }
        if result.issues.is_empty() {
            clean += 1;
        } else {
            let codes: Vec<&str> = result.issues.iter().map(|i| i.code.as_str()).collect();
            with_low_or_medium.push(format!("{} {codes:?}", name(path)));
        }
    }
    eprintln!(
        "benign corpus: {} files, {} without any issue, {} with low/medium only, {} with \
         high or critical; low/medium: {with_low_or_medium:?}",
        files.len(),
        clean,
        files.len() - clean - failures.len(),
        failures.len()
    );
    assert!(files.len() >= 60, "only {} benign snippets", files.len());
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
