//! `airlock check` through the real binary: output shapes, many files in one call, and
//! hostile input that must give a result or a clear error, never a crash or a hang.

mod common;

use std::io::Write;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

fn check(args: &[&str], stdin: Option<&[u8]>) -> (Output, Duration) {
    let start = Instant::now();
    let mut child = common::airlock()
        .arg("check")
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(bytes) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        let bytes = bytes.to_vec();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&bytes);
        });
    }
    let out = child.wait_with_output().unwrap();
    (out, start.elapsed())
}

fn json_of(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not one JSON object ({e}): {} {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn codes(result: &serde_json::Value) -> Vec<String> {
    result["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn one_input_prints_the_contracts_validation_result() {
    let (out, _) = check(
        &["--json", "-"],
        Some(b"import math\n\ndef f(x):\n    if x:\n        return math.sqrt(x)\n    return 0\n"),
    );
    assert_eq!(out.status.code(), Some(0));
    let r = json_of(&out);
    for field in [
        "status",
        "is_safe",
        "issues",
        "complexity",
        "imports",
        "dangerous_calls",
        "warnings",
    ] {
        assert!(r.get(field).is_some(), "{field} missing: {r}");
    }
    for field in [
        "lines_of_code",
        "cyclomatic_complexity",
        "cognitive_complexity",
        "nesting_depth",
        "functions",
    ] {
        assert!(
            r["complexity"].get(field).is_some(),
            "complexity.{field} missing: {r}"
        );
    }
    assert_eq!(r["status"], "safe", "{r}");
    assert_eq!(r["is_safe"], true);
}

#[test]
fn many_files_and_directories_give_one_line_per_file() {
    let dir = common::temp_dir("check-many");
    std::fs::create_dir_all(dir.join("pkg/sub")).unwrap();
    std::fs::write(dir.join("a.py"), "x = 1\n").unwrap();
    std::fs::write(dir.join("pkg/b.py"), "y = 2\n").unwrap();
    std::fs::write(dir.join("pkg/sub/c.py"), "def f(:\n").unwrap();
    std::fs::write(dir.join("pkg/notes.txt"), "not python").unwrap();
    let extra = dir.join("a.py");
    let (out, _) = check(
        &[
            "--json",
            dir.join("pkg").to_str().unwrap(),
            extra.to_str().unwrap(),
        ],
        None,
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let paths: Vec<&str> = lines.iter().map(|l| l["path"].as_str().unwrap()).collect();
    assert_eq!(paths.len(), 3, "{paths:?}");
    assert!(
        paths[0].ends_with("pkg/b.py")
            && paths[1].ends_with("pkg/sub/c.py")
            && paths[2].ends_with("a.py")
    );
    assert!(
        codes(&lines[1]["result"]).contains(&"AL001".to_string()),
        "the syntax error: {}",
        lines[1]
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "a dangerous file (the syntax error) makes the exit status 1"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_missing_path_is_a_usage_error() {
    let (out, _) = check(&["/nonexistent/airlock/file.py"], None);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/airlock/file.py"), "{err}");
    assert_eq!(err.lines().count(), 1);
}

#[test]
fn syntax_errors_are_issues_with_line_and_column() {
    let (out, _) = check(&["--json", "-"], Some(b"x = 1\ny = (\n"));
    let r = json_of(&out);
    let issue = &r["issues"][0];
    assert_eq!(issue["code"], "AL001", "{r}");
    assert!(issue["line"].as_u64().unwrap() >= 2, "{issue}");
    assert!(issue["column"].is_u64());
}

#[test]
fn hostile_inputs_give_a_result_quickly() {
    let empty = b"".to_vec();
    let nul = b"x = 1\n\0\0\0print(x)\n".to_vec();
    let invalid_utf8 = b"x = '\xff\xfe'\n".to_vec();
    let deep_parens = format!("x = {}1{}\n", "(".repeat(10_000), ")".repeat(10_000)).into_bytes();
    let deep_lists = format!("x = {}{}\n", "[".repeat(10_000), "]".repeat(10_000)).into_bytes();
    let deep_ifs: String = (0..1000)
        .map(|i| format!("{}if x:\n", " ".repeat(i)))
        .collect::<String>()
        + &" ".repeat(1000)
        + "pass\n";
    let ten_mb = "value = 12345 + 67890  # a plain line of code\n"
        .repeat(10_000_000 / 44)
        .into_bytes();
    for (name, input) in [
        ("empty", empty),
        ("NUL bytes", nul),
        ("invalid UTF-8", invalid_utf8),
        ("10,000 nested parentheses", deep_parens),
        ("10,000 nested lists", deep_lists),
        ("1,000 nested ifs", deep_ifs.into_bytes()),
        ("10 MB", ten_mb),
    ] {
        let (out, took) = check(&["--json", "-"], Some(&input));
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{name}: exit {:?}, stderr {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let r = json_of(&out);
        assert!(r["status"].is_string(), "{name}: {r}");
        assert!(took < Duration::from_secs(60), "{name} took {took:?}");
    }
}

#[test]
fn invalid_utf8_is_an_issue_not_a_crash() {
    let (out, _) = check(&["--json", "-"], Some(b"x = '\xff'\n"));
    let r = json_of(&out);
    assert_eq!(codes(&r), ["AL002"], "{r}");
    assert_eq!(r["status"], "dangerous");
}
