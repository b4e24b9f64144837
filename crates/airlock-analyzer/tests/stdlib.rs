//! The analyzer must never panic: run it on every `.py` file of this machine's CPython
//! standard library (thousands of real files, including the test suite's deliberately
//! strange ones: bad encodings, syntax errors, huge literals).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Instant;

use airlock_analyzer::{analyze, Policy};

fn stdlib_dir() -> Option<PathBuf> {
    let output = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['stdlib'])",
        ])
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let dir = String::from_utf8(output.stdout).ok()?.trim().to_string();
    Some(PathBuf::from(dir)).filter(|d| d.is_dir())
}

/// Every `.py` file under `dir`, third-party packages left out.
fn python_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                let name = entry.file_name();
                if name != "site-packages" && name != "dist-packages" {
                    stack.push(path);
                }
            } else if kind.is_file() && path.extension().is_some_and(|e| e == "py") {
                out.push(path);
            }
        }
    }
    out.sort();
}

#[test]
fn every_stdlib_file_is_analysed_without_panic() {
    let Some(dir) = stdlib_dir() else {
        eprintln!(
            "\n*** SKIPPED every_stdlib_file_is_analysed_without_panic: python3 (or its \
             stdlib directory) not found on this machine ***\n"
        );
        return;
    };
    let mut files = Vec::new();
    python_files(&dir, &mut files);
    assert!(
        !files.is_empty(),
        "no .py files under {}: is this really the stdlib?",
        dir.display()
    );
    let policy = Policy::builtin();
    let started = Instant::now();
    let panicked = Mutex::new(Vec::new());
    let codes: Mutex<BTreeMap<String, usize>> = Mutex::new(BTreeMap::new());
    let syntax_errors = Mutex::new(0usize);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = files.len().div_ceil(threads);
    std::thread::scope(|scope| {
        for part in files.chunks(chunk) {
            let (policy, panicked, codes, syntax_errors) =
                (&policy, &panicked, &codes, &syntax_errors);
            scope.spawn(move || {
                for path in part {
                    let Ok(bytes) = std::fs::read(path) else {
                        continue;
                    };
                    let code = String::from_utf8_lossy(&bytes);
                    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        analyze(&code, policy)
                    }));
                    match outcome {
                        Ok(result) => {
                            let mut codes = codes.lock().expect("not poisoned");
                            for issue in &result.issues {
                                *codes.entry(issue.code.clone()).or_default() += 1;
                            }
                            if result.issues.iter().any(|i| i.code == "AL001") {
                                *syntax_errors.lock().expect("not poisoned") += 1;
                            }
                        }
                        Err(_) => panicked
                            .lock()
                            .expect("not poisoned")
                            .push(path.display().to_string()),
                    }
                }
            });
        }
    });
    let panicked = panicked.into_inner().expect("not poisoned");
    let codes = codes.into_inner().expect("not poisoned");
    eprintln!(
        "stdlib: analysed {} files under {} in {:.1?} ({} with syntax errors); \
         issues by code: {:?}",
        files.len(),
        dir.display(),
        started.elapsed(),
        syntax_errors.into_inner().expect("not poisoned"),
        codes
    );
    assert!(
        panicked.is_empty(),
        "the analyzer panicked on {} files: {:?}",
        panicked.len(),
        panicked
    );
}
