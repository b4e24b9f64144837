//! `airlock check`: static analysis of files, directories or stdin.
//!
//! One path and `--json` prints the CodeValidationResult itself (CONTRACT.md); several
//! paths or a directory print one line per file, `{"path": …, "result": …}`, as linters
//! do. Files are analysed on every core. Exit status: 0 when nothing is dangerous, 1
//! when some file is, 2 for a usage error (a path that does not exist).

use std::io::Read;
use std::path::{Path, PathBuf};

use airlock_analyzer::{analyze, CodeValidationResult, Issue, Policy, Severity, Status};
use clap::Args;

use crate::usage_error;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Files and directories to analyse (directories: every .py file below), or '-' for stdin.
    #[arg(value_name = "FILE|DIR|-", default_value = "-")]
    paths: Vec<PathBuf>,
    /// Print JSON: the result for one input, one {"path", "result"} line per file otherwise.
    #[arg(long)]
    json: bool,
    /// A policy TOML file instead of the built-in one.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
}

/// One input: its name and the result (or a read error turned into an issue).
struct Checked {
    path: String,
    result: CodeValidationResult,
}

fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            files.push(path.clone());
            continue;
        }
        let meta =
            std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if meta.is_dir() {
            walk(path, &mut files).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

/// Every .py file under `dir`, in a stable order, not following links.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(&path, out)?;
        } else if kind.is_file() && path.extension().is_some_and(|e| e == "py") {
            out.push(path);
        }
    }
    Ok(())
}

/// A result for input that cannot be analysed as text.
fn unreadable(message: String) -> CodeValidationResult {
    CodeValidationResult::from_issues(
        vec![Issue::new(
            "AL002",
            Severity::High,
            1,
            0,
            message,
            Some("send the code as UTF-8 text".into()),
        )],
        Default::default(),
        Vec::new(),
        Vec::new(),
    )
}

fn check_bytes(bytes: &[u8], policy: &Policy) -> CodeValidationResult {
    match std::str::from_utf8(bytes) {
        Ok(text) => analyze(text, policy),
        Err(e) => unreadable(format!(
            "the code is not UTF-8 (invalid byte at offset {})",
            e.valid_up_to()
        )),
    }
}

fn check_one(path: &Path, policy: &Policy) -> Checked {
    let (name, bytes) = if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        let read = std::io::stdin().read_to_end(&mut buf);
        ("-".to_string(), read.map(|_| buf))
    } else {
        (path.display().to_string(), std::fs::read(path))
    };
    let result = match bytes {
        Ok(bytes) => check_bytes(&bytes, policy),
        Err(e) => unreadable(format!("cannot read {name}: {e}")),
    };
    Checked { path: name, result }
}

/// Analyse `files` on every core, keeping their order.
fn check_all(files: &[PathBuf], policy: &Policy) -> Vec<Checked> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len().max(1));
    let chunk = files.len().div_ceil(workers).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|f| check_one(f, policy))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

fn print_human(checked: &Checked) {
    for issue in &checked.result.issues {
        println!(
            "{}:{}:{}: {} [{}] {}",
            checked.path,
            issue.line,
            issue.column,
            issue.code,
            serde_json::to_value(issue.severity)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
            issue.message
        );
        if let Some(s) = &issue.suggestion {
            println!("    instead: {s}");
        }
    }
}

pub fn main(args: CheckArgs) -> i32 {
    let policy = match &args.policy {
        None => Policy::builtin(),
        Some(path) => match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| Policy::from_toml(&t).map_err(|e| e.to_string()))
        {
            Ok(p) => p,
            Err(e) => return usage_error(format!("invalid --policy {}: {e}", path.display())),
        },
    };
    let files = match collect(&args.paths) {
        Ok(f) => f,
        Err(e) => return usage_error(e),
    };
    let single = args.paths.len() == 1
        && files.len() == 1
        && !files[0].is_dir()
        && args.paths[0] == files[0];
    let checked = check_all(&files, &policy);
    for c in &checked {
        match (args.json, single) {
            (true, true) => println!("{}", serde_json::to_string(&c.result).unwrap_or_default()),
            (true, false) => println!(
                "{}",
                serde_json::json!({"path": c.path, "result": c.result})
            ),
            (false, _) => print_human(c),
        }
    }
    if !args.json {
        let issues: usize = checked.iter().map(|c| c.result.issues.len()).sum();
        let dangerous = checked
            .iter()
            .filter(|c| c.result.status == Status::Dangerous)
            .count();
        eprintln!(
            "{} files, {issues} issues, {dangerous} dangerous",
            checked.len()
        );
    }
    i32::from(checked.iter().any(|c| c.result.status == Status::Dangerous))
}
