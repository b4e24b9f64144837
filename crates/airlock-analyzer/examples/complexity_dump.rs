//! Complexity of every Python file under the given paths, one JSON object per file and
//! line: `{"path", "functions": [{name, line, cyclomatic, cognitive}], "complexity"}`, or
//! `{"path", "error"}` for a file that is not UTF-8 or does not parse.
//!
//! `cargo run --release -p airlock-analyzer --example complexity_dump -- [--skip-dir NAME]... PATH...`
//!
//! `--skip-dir NAME` leaves out directories with that name (`site-packages`). Used by
//! `scripts/compare-complexity`.

use std::io::Write;
use std::path::{Path, PathBuf};

use airlock_analyzer::Source;

fn main() {
    let mut skip: Vec<String> = Vec::new();
    let mut roots: Vec<PathBuf> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--skip-dir" {
            match args.next() {
                Some(name) => skip.push(name),
                None => usage(),
            }
        } else if arg.starts_with('-') {
            usage();
        } else {
            roots.push(arg.into());
        }
    }
    if roots.is_empty() {
        usage();
    }

    let mut files = Vec::new();
    for root in &roots {
        collect(root, &skip, &mut files);
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for file in files {
        let line = dump(&file);
        if writeln!(out, "{line}").is_err() {
            std::process::exit(1);
        }
    }
    if out.flush().is_err() {
        std::process::exit(1);
    }
}

fn usage() -> ! {
    eprintln!("usage: complexity_dump [--skip-dir NAME]... PATH...");
    std::process::exit(2);
}

/// Python files under `path`, sorted, not following symbolic links to directories.
fn collect(path: &Path, skip: &[String], files: &mut Vec<PathBuf>) {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    if meta.is_dir() {
        let Ok(entries) = std::fs::read_dir(path) else {
            return;
        };
        let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for entry in entries {
            let name = entry.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let is_dir = std::fs::symlink_metadata(&entry).is_ok_and(|m| m.is_dir());
            if is_dir && (skip.iter().any(|s| s == name) || name.starts_with('.')) {
                continue;
            }
            collect(&entry, skip, files);
        }
    } else if path.extension().is_some_and(|e| e == "py") && meta.is_file() {
        files.push(path.to_path_buf());
    }
}

fn dump(path: &Path) -> serde_json::Value {
    let name = path.display().to_string();
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) => return serde_json::json!({"path": name, "error": error.to_string()}),
    };
    let Ok(code) = String::from_utf8(bytes) else {
        return serde_json::json!({"path": name, "error": "not UTF-8"});
    };
    let module = match ruff_python_parser::parse_module(&code) {
        Ok(parsed) => parsed.into_syntax(),
        Err(error) => return serde_json::json!({"path": name, "error": error.to_string()}),
    };
    let complexity = airlock_analyzer::complexity::measure(&module, &Source::new(&code));
    serde_json::json!({
        "path": name,
        "functions": complexity.functions,
        "complexity": {
            "lines_of_code": complexity.lines_of_code,
            "cyclomatic_complexity": complexity.cyclomatic_complexity,
            "cognitive_complexity": complexity.cognitive_complexity,
            "nesting_depth": complexity.nesting_depth,
        },
    })
}
