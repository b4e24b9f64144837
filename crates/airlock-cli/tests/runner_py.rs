//! The runner's own Python unit tests (`crates/airlock-runtime/runner/test_runner.py`),
//! run the way users' code runs: inside a sandbox with the default environment.

mod common;

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn runner_py_unit_tests_pass_in_the_sandbox() {
    require_root!();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../airlock-runtime/runner");
    let code = "import sys, unittest\n\
                suite = unittest.defaultTestLoader.loadTestsFromName('test_runner')\n\
                result = unittest.TextTestRunner(stream=sys.stdout, verbosity=2).run(suite)\n\
                print('TESTS', result.testsRun, 'FAILED', len(result.failures) + len(result.errors))";
    let run = common::run_json(
        code,
        &[
            "--file",
            &format!("{dir}/runner.py:runner.py"),
            "--file",
            &format!("{dir}/test_runner.py:test_runner.py"),
        ],
    );
    let out = run.stdout();
    assert_eq!(run.status(), "completed", "{}", run.everything());
    let last = out.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("TESTS ") && last.ends_with(" FAILED 0"),
        "{out}"
    );
    assert!(!last.starts_with("TESTS 0 "), "no test ran: {out}");
}

/// The runner must at least compile with the host's interpreter (a syntax slip would
/// otherwise only show as every run failing).
#[test]
fn runner_py_compiles() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../airlock-runtime/runner");
    for file in ["runner.py", "test_runner.py"] {
        let out = common::bare_python(&format!(
            "import sys; compile(open('{dir}/{file}').read(), '{file}', 'exec'); print('ok')"
        ));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "ok",
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
