//! Each rule family has a fixture (`tests/fixtures/<family>.py`) and a snapshot of its
//! findings (`tests/fixtures/<family>.expected`, one `line:col code severity` per line).
//! `RULES.md` is generated from the rules' own text and must match it.
//!
//! Regenerate snapshots and RULES.md after an intended change with
//! `UPDATE_SNAPSHOTS=1 cargo test -p airlock-analyzer --test rules`, then review the diff.

use std::path::{Path, PathBuf};

use airlock_analyzer::{analyze, rules, Policy, Severity};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn updating() -> bool {
    std::env::var_os("UPDATE_SNAPSHOTS").is_some_and(|v| v != "0" && !v.is_empty())
}

/// The findings of one fixture, as snapshot lines. Complexity (AL6xx) depends on another
/// module's measures and has its own tests: left out.
fn findings(code: &str) -> String {
    let result = analyze(code, &Policy::builtin());
    let mut out = String::new();
    for issue in result.issues.iter().filter(|i| !i.code.starts_with("AL6")) {
        out.push_str(&format!(
            "{}:{} {} {}\n",
            issue.line,
            issue.column,
            issue.code,
            issue.severity.as_str()
        ));
    }
    out
}

/// Compares `actual` with the file at `path`, or rewrites it when updating.
fn check_snapshot(path: &Path, actual: &str) -> Result<(), String> {
    if updating() {
        std::fs::write(path, actual).map_err(|e| format!("write {}: {e}", path.display()))?;
        return Ok(());
    }
    let expected = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "read {}: {e} (create it with UPDATE_SNAPSHOTS=1)",
            path.display()
        )
    })?;
    if expected == actual {
        return Ok(());
    }
    let expected_lines: Vec<&str> = expected.lines().collect();
    let actual_lines: Vec<&str> = actual.lines().collect();
    let missing: Vec<&&str> = expected_lines
        .iter()
        .filter(|l| !actual_lines.contains(l))
        .collect();
    let extra: Vec<&&str> = actual_lines
        .iter()
        .filter(|l| !expected_lines.contains(l))
        .collect();
    Err(format!(
        "{} differs: missing {missing:?}, unexpected {extra:?} \
         (if intended: UPDATE_SNAPSHOTS=1 cargo test -p airlock-analyzer --test rules)",
        path.display()
    ))
}

const FAMILIES: &[&str] = &["imports", "calls", "escape", "obfuscation", "resources"];

#[test]
fn fixtures_match_their_snapshots() {
    let dir = crate_dir().join("tests/fixtures");
    let mut failures = Vec::new();
    for family in FAMILIES {
        let fixture = dir.join(format!("{family}.py"));
        let code = std::fs::read_to_string(&fixture)
            .unwrap_or_else(|e| panic!("read {}: {e}", fixture.display()));
        let actual = findings(&code);
        if let Err(e) = check_snapshot(&dir.join(format!("{family}.expected")), &actual) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_fixture_exercises_its_family() {
    let dir = crate_dir().join("tests/fixtures");
    for (family, prefix) in FAMILIES.iter().zip(["AL1", "AL2", "AL3", "AL4", "AL5"]) {
        let code = std::fs::read_to_string(dir.join(format!("{family}.py"))).expect("fixture");
        let found = findings(&code);
        // AL200 needs an operator's own denied call: see every_rule_example_triggers_its_rule.
        for rule in rules::all().filter(|r| r.code.starts_with(prefix) && r.code != "AL200") {
            assert!(
                found.contains(&format!(" {} ", rule.code)),
                "{family}.py never triggers {}",
                rule.code
            );
        }
    }
}

#[test]
fn rules_md_is_generated_from_the_rules() {
    let path = crate_dir().join("RULES.md");
    let generated = rules::markdown();
    if let Err(e) = check_snapshot(&path, &generated) {
        panic!("{e}");
    }
    for rule in rules::all() {
        assert!(
            generated.contains(&format!("### {} {}", rule.code, rule.name)),
            "RULES.md lacks {}",
            rule.code
        );
    }
}

#[test]
fn every_rule_example_triggers_its_rule() {
    for rule in rules::all() {
        // Input (AL0xx) and complexity (AL6xx) examples are illustrations, not triggers.
        if rule.code.starts_with("AL0") || rule.code.starts_with("AL6") {
            continue;
        }
        let mut policy = Policy::builtin();
        if rule.code == "AL200" {
            policy.calls.denied.push("numpy.load".into());
        }
        let result = analyze(rule.example, &policy);
        assert!(
            result.issues.iter().any(|i| i.code == rule.code),
            "the example of {} does not trigger it; issues: {:?}",
            rule.code,
            result.issues
        );
        let issue = result
            .issues
            .iter()
            .find(|i| i.code == rule.code)
            .expect("found above");
        assert_eq!(issue.suggestion.as_deref(), Some(rule.instead));
    }
}

#[test]
fn severity_overrides_apply() {
    let policy = Policy::from_toml(
        &std::fs::read_to_string(crate_dir().join("policy/default.toml"))
            .expect("default policy")
            .replace(
                "[severity]",
                "[severity]\nAL101 = \"low\"\nAL203 = \"medium\"",
            ),
    )
    .expect("parses");
    let result = analyze("import os\nos.system('id')\n", &policy);
    let severities: Vec<(&str, Severity)> = result
        .issues
        .iter()
        .map(|i| (i.code.as_str(), i.severity))
        .collect();
    assert_eq!(
        severities,
        [("AL101", Severity::Low), ("AL203", Severity::Medium)]
    );
}

#[test]
fn removing_a_call_from_the_policy_allows_it() {
    let mut policy = Policy::builtin();
    policy.calls.denied.retain(|c| c != "open");
    let result = analyze("with open('prices.csv') as f:\n    f.read()\n", &policy);
    assert!(result.issues.is_empty(), "{:?}", result.issues);
    assert!(result.dangerous_calls.is_empty());
}

#[test]
fn result_lists_imports_and_dangerous_calls() {
    let code = "import numpy as np\nimport os as o\nfrom subprocess import run as r\n\
                def f():\n    import json\n    return json.dumps({})\n\
                o.system('id')\nr(['ls'])\ne = eval\n";
    let result = analyze(code, &Policy::builtin());
    assert_eq!(result.imports, ["json", "numpy", "os", "subprocess"]);
    assert_eq!(
        result.dangerous_calls,
        ["eval", "os.system", "subprocess.run"]
    );
}
