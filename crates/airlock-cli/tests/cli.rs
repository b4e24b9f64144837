//! Functional tests of `airlock run`, through the real binary: bad input is refused with
//! a one-line error and nothing started, results carry the contract's fields and reasons,
//! the pass-through mode behaves like the code itself, grants expose exactly what they
//! name, and every run cleans up after itself (cgroups, processes, box locks).
//!
//! Tests run in parallel (nextest), with each other and possibly with other test binaries
//! driving airlock, so the leftover checks only blame what is provably this test's: every
//! airlock process a test starts carries a unique marker in its environment (the forks
//! that become the sandbox's supervisor and pid 1 inherit it), and a new `airlock-*`
//! cgroup is a leftover when it outlives a short grace period while empty or holding a
//! marked process (a live cgroup of someone else's run holds unmarked processes).

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{airlock, canary, is_root, run_json, temp_dir};
use serde_json::Value;

/// Environment variable carrying a test's marker into every airlock process it starts.
const MARKER_VAR: &str = "AIRLOCK_CLI_TEST_MARKER";

// ---------------------------------------------------------------------------------------
// Leftover checks: cgroups, processes, box locks.
// ---------------------------------------------------------------------------------------

/// The directories of this process's own cgroups (airlock, our child, creates its
/// sandbox cgroups under them): the v2 one and the v1 memory, pids, cpu and cpuacct ones,
/// whichever are mounted. Found the way airlock finds them, from /proc/self/cgroup and
/// /proc/self/mountinfo.
fn own_cgroup_dirs() -> Vec<PathBuf> {
    let own = fs::read_to_string("/proc/self/cgroup").expect("read /proc/self/cgroup");
    let mounts = fs::read_to_string("/proc/self/mountinfo").expect("read mountinfo");
    let mut dirs = Vec::new();
    for line in mounts.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let l: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        if l.len() < 5 || r.len() < 3 {
            continue;
        }
        let (mount_root, mount_point) = (l[3], l[4]);
        let path = match r[0] {
            "cgroup2" => own.lines().find_map(|x| x.strip_prefix("0::")),
            "cgroup" => {
                let opts: Vec<&str> = r[2].split(',').collect();
                if !["memory", "pids", "cpu", "cpuacct"]
                    .iter()
                    .any(|c| opts.contains(c))
                {
                    continue;
                }
                own.lines().find_map(|x| {
                    let mut parts = x.splitn(3, ':');
                    let _id = parts.next()?;
                    let controllers = parts.next()?;
                    let path = parts.next()?;
                    controllers
                        .split(',')
                        .any(|c| !c.is_empty() && opts.contains(&c))
                        .then_some(path)
                })
            }
            _ => continue,
        };
        let Some(path) = path else { continue };
        let rel = path
            .strip_prefix(mount_root)
            .unwrap_or(path)
            .trim_start_matches('/');
        dirs.push(Path::new(mount_point).join(rel));
    }
    dirs.sort();
    dirs.dedup();
    dirs
}

fn collect_airlock_cgroups(dir: &Path, depth: u32, out: &mut BTreeSet<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        // `airlock-supervisor` is airlock's own (persistent) leaf on v2, not a sandbox's.
        if name.starts_with("airlock-") && name != "airlock-supervisor" {
            out.insert(entry.path());
        } else if depth > 0 {
            collect_airlock_cgroups(&entry.path(), depth - 1, out);
        }
    }
}

/// Every sandbox cgroup (`airlock-*`) under our own cgroups, at any hierarchy.
fn airlock_cgroups() -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    for dir in own_cgroup_dirs() {
        collect_airlock_cgroups(&dir, 2, &mut out);
    }
    out
}

fn cgroup_pids(dir: &Path) -> Vec<i32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Whether process `pid` carries `marker` in its command line or environment.
fn has_marker(pid: i32, marker: &str) -> bool {
    ["cmdline", "environ"].iter().any(|f| {
        fs::read(format!("/proc/{pid}/{f}"))
            .map(|b| contains(&b, marker.as_bytes()))
            .unwrap_or(false)
    })
}

fn parent_of(pid: i32) -> Option<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    after.split(' ').nth(1)?.parse().ok()
}

/// Whether `pid` or one of its ancestors carries `marker`.
fn descends_from_marked(pid: i32, marker: &str) -> bool {
    let mut p = pid;
    for _ in 0..64 {
        if has_marker(p, marker) {
            return true;
        }
        match parent_of(p) {
            Some(pp) if pp > 1 => p = pp,
            _ => return false,
        }
    }
    false
}

/// Processes (other than this test process) carrying `marker`, as "pid: cmdline".
fn marked_processes(marker: &str) -> Vec<String> {
    let me = std::process::id() as i32;
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid != me && has_marker(pid, marker) {
            let cmd = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            found.push(format!(
                "{pid}: {}",
                String::from_utf8_lossy(&cmd).replace('\0', " ")
            ));
        }
    }
    found
}

/// Assert that the runs marked `marker` left nothing behind: no process carrying the
/// marker, and no `airlock-*` cgroup that was not there `before` and is empty or holds a
/// process of ours. Waits up to 3 s for a concurrent run's cgroup to settle (empty only
/// for a moment while it is created or torn down); a leak never settles.
fn assert_nothing_left(before: &BTreeSet<PathBuf>, marker: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let procs = marked_processes(marker);
        let cgroups: Vec<PathBuf> = airlock_cgroups()
            .difference(before)
            .filter(|d| {
                let pids = cgroup_pids(d);
                d.exists()
                    && (pids.is_empty() || pids.iter().any(|&p| descends_from_marked(p, marker)))
            })
            .cloned()
            .collect();
        if procs.is_empty() && cgroups.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            panic!("{what}: left behind processes {procs:?} and cgroups {cgroups:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Linux's major and minor numbers of a `st_dev`.
fn major_minor(dev: u64) -> (u64, u64) {
    (
        ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff),
        (dev & 0xff) | ((dev >> 12) & !0xff),
    )
}

/// Whether some process holds a lock on `path`, per /proc/locks
/// ("1: FLOCK  ADVISORY  WRITE 1234 00:1f:5678 0 EOF").
fn is_locked(path: &Path) -> bool {
    let meta = fs::metadata(path).expect("lock file exists");
    let (major, minor) = major_minor(meta.dev());
    let locks = fs::read_to_string("/proc/locks").expect("read /proc/locks");
    locks.lines().any(|l| {
        l.split_whitespace().any(|field| {
            let parts: Vec<&str> = field.split(':').collect();
            parts.len() == 3
                && u64::from_str_radix(parts[0], 16) == Ok(major)
                && u64::from_str_radix(parts[1], 16) == Ok(minor)
                && parts[2].parse::<u64>() == Ok(meta.ino())
        })
    })
}

/// The box runtime directory airlock uses (as `boxid.rs` resolves it).
fn boxes_dir() -> PathBuf {
    std::env::var_os("AIRLOCK_RUNTIME_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/airlock"))
        .join("boxes")
}

/// Assert that the box lock of the sandbox whose host uid was `host_uid` exists and is
/// no longer held (a concurrent run may reuse the slot for a moment: wait up to 3 s).
fn assert_box_released(host_uid: u64) {
    let n = host_uid - 2_000_000_000;
    let lock = boxes_dir().join(format!("{n}.lock"));
    assert!(lock.exists(), "{} missing", lock.display());
    let deadline = Instant::now() + Duration::from_secs(3);
    while is_locked(&lock) {
        assert!(
            Instant::now() < deadline,
            "{} still locked after the run ended",
            lock.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------------------
// Running airlock.
// ---------------------------------------------------------------------------------------

/// `airlock` with the marker in its environment, stdin from /dev/null, and no operator
/// config unless a test gives one.
fn marked(marker: &str) -> Command {
    let mut cmd = airlock();
    cmd.env(MARKER_VAR, marker)
        .env_remove("AIRLOCK_CONFIG")
        .stdin(Stdio::null());
    cmd
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A plain run exited with `status` and printed exactly `stdout`.
#[track_caller]
fn assert_plain(out: &Output, status: i32, stdout: &str) {
    assert_eq!(
        out.status.code(),
        Some(status),
        "stderr={}",
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout), stdout);
}

/// The ExecutionResult a `--json` run printed; panics unless it exited 0.
#[track_caller]
fn json_result(out: &Output) -> Value {
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A finished marked `airlock run --json` that was checked for leftovers.
struct Marked {
    result: Value,
    elapsed: Duration,
}

impl Marked {
    fn str(&self, field: &str) -> &str {
        self.result[field].as_str().unwrap_or_default()
    }
}

/// Run `code` with `airlock run --json FLAGS` and `envs`, expect exactly one
/// ExecutionResult and exit 0, and check that nothing was left behind.
fn run_marked(code: &str, flags: &[&str], envs: &[(&str, &str)]) -> Marked {
    let marker = canary("run");
    let before = airlock_cgroups();
    let mut cmd = marked(&marker);
    cmd.args(["run", "--json"]).args(flags).arg("-c").arg(code);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let start = Instant::now();
    let out = cmd.output().expect("start airlock");
    let elapsed = start.elapsed();
    assert_eq!(
        out.status.code(),
        Some(0),
        "airlock run --json {flags:?} failed: stderr={}",
        text(&out.stderr)
    );
    let result: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not one JSON object ({e}): {}", text(&out.stdout)));
    assert_nothing_left(&before, &marker, &format!("run {flags:?}"));
    Marked { result, elapsed }
}

/// Run `airlock run ARGS` (no --json) with `stdin`, returning its output and wall time.
fn run_plain(args: &[&str], stdin: Option<&[u8]>) -> (Output, Duration) {
    use std::io::Write;
    let marker = canary("plain");
    let mut cmd = marked(&marker);
    cmd.arg("run")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let start = Instant::now();
    let mut child = cmd.spawn().expect("start airlock");
    if let Some(data) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(data).unwrap();
    }
    let out = child.wait_with_output().expect("wait for airlock");
    (out, start.elapsed())
}

/// One bad-input case: `airlock run ARGS` with `envs`.
struct Bad<'a> {
    args: Vec<String>,
    envs: Vec<(&'a str, String)>,
    /// Strings the error message must contain (the flag or the file).
    mentions: Vec<String>,
}

fn bad(args: &[&str], mentions: &[&str]) -> Bad<'static> {
    Bad {
        args: args.iter().map(|s| s.to_string()).collect(),
        envs: Vec::new(),
        mentions: mentions.iter().map(|s| s.to_string()).collect(),
    }
}

impl Bad<'_> {
    /// The case with `config` as the operator config (`$AIRLOCK_CONFIG`).
    fn with_config(mut self, config: &Path) -> Self {
        self.envs = vec![("AIRLOCK_CONFIG", path_str(config).to_string())];
        self
    }
}

/// Run a bad-input case, plain and with --json: exit status 2, nothing on stdout, an
/// error on stderr naming what was wrong (on one line when `one_line`), and nothing left
/// behind. With root, a private box directory also proves that no sandbox was begun: it
/// would be created before any cgroup.
fn check_refused(case: &Bad, one_line: bool) {
    for json in [false, true] {
        let marker = canary("bad");
        let runtime = temp_dir("bad-runtime");
        let before = airlock_cgroups();
        let mut cmd = marked(&marker);
        cmd.arg("run");
        if json {
            cmd.arg("--json");
        }
        cmd.args(&case.args).env("AIRLOCK_RUNTIME_DIR", &runtime);
        for (k, v) in &case.envs {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("start airlock");
        let stderr = text(&out.stderr);
        let label = format!(
            "airlock run {}{:?}",
            if json { "--json " } else { "" },
            case.args
        );
        assert_eq!(out.status.code(), Some(2), "{label}: stderr={stderr}");
        assert!(
            out.stdout.is_empty(),
            "{label}: printed on stdout: {}",
            text(&out.stdout)
        );
        assert!(!stderr.trim().is_empty(), "{label}: no error message");
        if one_line {
            assert_eq!(
                stderr.trim_end().lines().count(),
                1,
                "{label}: error is not one line: {stderr:?}"
            );
        }
        for m in &case.mentions {
            assert!(
                stderr.contains(m.as_str()),
                "{label}: {stderr:?} does not name {m:?}"
            );
        }
        assert_nothing_left(&before, &marker, &label);
        if is_root() {
            assert!(
                !runtime.join("boxes").exists(),
                "{label}: a sandbox box was allocated for bad input"
            );
        }
        fs::remove_dir_all(&runtime).unwrap();
    }
}

/// A code file that cannot be run is refused, naming the file, on one line.
fn check_file_refused(file: &Path) {
    check_refused(&bad(&[path_str(file)], &[path_str(file)]), true);
}

/// Flags `args` before some code are refused, naming `flag`.
fn check_flag_refused(args: &[&str], flag: &str, one_line: bool) {
    let mut args = args.to_vec();
    args.extend(["-c", "print('must not run')"]);
    check_refused(&bad(&args, &[flag]), one_line);
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

fn write_config(dir: &Path, roots: &[&Path]) -> PathBuf {
    let list: Vec<String> = roots.iter().map(|r| format!("{:?}", path_str(r))).collect();
    let config = dir.join("airlock.toml");
    fs::write(&config, format!("write_roots = [{}]\n", list.join(", "))).unwrap();
    config
}

// ---------------------------------------------------------------------------------------
// 1. Bad input.
// ---------------------------------------------------------------------------------------

/// Code files that cannot be run: missing, unreadable, binary, not UTF-8; no code at all;
/// an --input that cannot be read.
#[test]
fn bad_code_files_are_refused_naming_the_file() {
    let dir = temp_dir("badfiles");
    let missing = dir.join("missing.py");
    check_file_refused(&missing);

    let plain = dir.join("plain.py");
    fs::write(&plain, "print('x')\n").unwrap();
    if is_root() {
        // Root reads a chmod-000 file anyway, so the unreadable cases for root are paths
        // that no one can read as a file: a directory, and a path whose parent is a file.
        check_file_refused(&dir);
        check_file_refused(&plain.join("x.py"));
    } else {
        let locked = dir.join("locked.py");
        fs::write(&locked, "print('x')\n").unwrap();
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
        check_file_refused(&locked);
    }

    let binary = dir.join("binary.py");
    fs::write(&binary, b"print('x')\n\0\0\x01\x02").unwrap();
    check_file_refused(&binary);

    let latin1 = dir.join("latin1.py");
    fs::write(&latin1, b"print('caf\xe9')\n").unwrap();
    check_file_refused(&latin1);

    check_refused(&bad(&[], &["-c"]), true);

    check_refused(
        &bad(
            &["--input", path_str(&missing), "-c", "print(input())"],
            &["--input", path_str(&missing)],
        ),
        true,
    );
    fs::remove_dir_all(&dir).unwrap();
}

/// Limits out of range are refused by airlock's own validation, naming the flag.
#[test]
fn limits_out_of_range_are_refused_naming_the_flag() {
    for (args, flag) in [
        (&["--timeout", "0"][..], "--timeout"),
        (&["--timeout", "-1"], "--timeout"),
        (&["--timeout", "nan"], "--timeout"),
        (&["--memory", "1"], "--memory"),
        (&["--memory", "99999999999"], "--memory"),
        (&["--cpu", "0"], "--cpu"),
        (&["--pids", "0"], "--pids"),
        (&["--output-limit", "99999999999999"], "--output-limit"),
    ] {
        check_flag_refused(args, flag, true);
    }
}

/// Values that are not numbers at all (or overflow the type) are refused by the flag
/// parser: exit status 2, the flag named, nothing started.
#[test]
fn unparsable_limits_are_refused_naming_the_flag() {
    for (args, flag) in [
        (&["--timeout", "abc"][..], "--timeout"),
        (
            &["--output-limit", "99999999999999999999999"],
            "--output-limit",
        ),
        (&["--pids=-3"], "--pids"),
    ] {
        check_flag_refused(args, flag, false);
    }
}

/// A negative value given as a separate word is still an error about that flag.
#[test]
fn negative_values_of_integer_flags_name_the_flag() {
    for flag in ["--pids", "--memory", "--cpu", "--output-limit"] {
        check_flag_refused(&[flag, "-3"], flag, false);
    }
}

/// The flag parser's errors are one line too, like airlock's own.
#[test]
fn unparsable_limits_give_a_one_line_error() {
    for (args, flag) in [
        (&["--timeout", "abc"][..], "--timeout"),
        (
            &["--output-limit", "99999999999999999999999"],
            "--output-limit",
        ),
    ] {
        check_flag_refused(args, flag, true);
    }
}

/// An unsupported language, a network grant, an unset variable: refused, not ignored.
#[test]
fn unsupported_language_and_grants_are_refused() {
    let code = "print('must not run')";
    check_refused(
        &bad(&["--lang", "cobol", "-c", code], &["--lang", "cobol"]),
        true,
    );
    check_refused(
        &bad(
            &["--allow-net", "127.0.0.1:80", "-c", code],
            &["--allow-net", "network"],
        ),
        true,
    );
    let unset = format!("AIRLOCK_UNSET_{}", std::process::id());
    assert!(std::env::var_os(&unset).is_none());
    check_refused(
        &bad(
            &["--allow-env", &unset, "-c", code],
            &["--allow-env", &unset],
        ),
        true,
    );
    let missing = temp_dir("noread").join("nothing-here");
    check_refused(
        &bad(
            &["--allow-read", path_str(&missing), "-c", code],
            &["--allow-read", path_str(&missing)],
        ),
        true,
    );
    fs::remove_dir_all(missing.parent().unwrap()).unwrap();
}

/// --allow-write only below the operator's write roots: refused without roots, outside
/// them, through a symlink that leaves them, and with a config file that is missing.
#[test]
fn write_grants_outside_operator_roots_are_refused() {
    let code = "print('must not run')";
    let base = temp_dir("wroots");
    let root = base.join("root");
    let outside = base.join("outside");
    fs::create_dir_all(&root).unwrap();
    fs::create_dir_all(&outside).unwrap();
    let link = root.join("escape");
    std::os::unix::fs::symlink(&outside, &link).unwrap();

    // A config that names no roots.
    let empty_config = base.join("empty.toml");
    fs::write(&empty_config, "").unwrap();
    check_refused(
        &bad(
            &["--allow-write", path_str(&root), "-c", code],
            &["--allow-write", path_str(&root)],
        )
        .with_config(&empty_config),
        true,
    );

    // No config at all (the default path does not exist on this host).
    if !Path::new("/etc/airlock/airlock.toml").exists() {
        check_refused(
            &bad(
                &["--allow-write", path_str(&root), "-c", code],
                &["--allow-write"],
            ),
            true,
        );
    }

    // A config explicitly named that does not exist.
    let gone = base.join("gone.toml");
    check_refused(
        &bad(
            &["--allow-write", path_str(&root), "-c", code],
            &[path_str(&gone)],
        )
        .with_config(&gone),
        true,
    );

    let config = write_config(&base, &[&root]);

    // Outside the configured root, and through a symlink inside the root that points
    // outside it.
    for target in [&outside, &link] {
        check_refused(
            &bad(
                &["--allow-write", path_str(target), "-c", code],
                &["--allow-write", path_str(target)],
            )
            .with_config(&config),
            true,
        );
    }

    fs::remove_dir_all(&base).unwrap();
}

// ---------------------------------------------------------------------------------------
// 2. Results (--json).
// ---------------------------------------------------------------------------------------

#[test]
fn print_completes() {
    let r = run_json("print('hello from the sandbox')", &[]);
    assert_eq!(r.stdout(), "hello from the sandbox\n");
    assert_eq!(r.status(), "completed");
    assert_eq!(r.result["exit_code"], 0);
    assert!(r.result["reason"].is_null());
    assert!(r.result["error"].is_null());
    assert!(r.result["signal"].is_null());
    assert_eq!(r.result["stdout_truncated"], false);
}

#[test]
fn system_exit_fails_with_its_code() {
    let r = run_json("raise SystemExit(3)", &[]);
    assert_eq!(r.status(), "failed");
    assert_eq!(r.reason(), Some("exit_code"));
    assert_eq!(r.result["exit_code"], 3);
    assert!(r.result["signal"].is_null());
}

#[test]
fn uncaught_exception_is_reported() {
    let r = run_json("print('before')\n1/0\n", &[]);
    assert_eq!(r.status(), "failed");
    assert_eq!(r.reason(), Some("exception"));
    assert_eq!(r.result["exit_code"], 1);
    assert_eq!(r.stdout(), "before\n");
    let error = r.result["error"].as_str().unwrap();
    assert_eq!(error, "ZeroDivisionError: division by zero");
    let traceback = r.result["exception"]["traceback"].as_str().unwrap();
    assert!(traceback.starts_with("Traceback"), "{traceback:?}");
}

#[test]
fn timeout_kills_and_returns_promptly() {
    let r = run_marked("while True: pass", &["--timeout", "1"], &[]);
    assert_eq!(r.str("status"), "timeout");
    assert_eq!(r.str("reason"), "timeout");
    assert!(r.result["exit_code"].is_null());
    assert!(r.str("error").contains("timeout"), "{}", r.str("error"));
    assert!(
        r.elapsed < Duration::from_secs(2),
        "airlock took {:?} for --timeout 1",
        r.elapsed
    );
    // It burned CPU until killed.
    assert!(r.result["cpu_time_seconds"].as_f64().unwrap() > 0.5);
}

#[test]
fn memory_hog_hits_the_memory_limit() {
    let code = "b = bytearray(200 << 20)\n\
                for i in range(0, len(b), 4096):\n    b[i] = 1\n\
                print('survived')\n";
    let r = run_marked(code, &["--memory", "64"], &[]);
    assert_eq!(r.str("status"), "failed");
    assert_eq!(r.str("reason"), "memory_limit");
    assert!(!r.str("stdout").contains("survived"));
    assert_eq!(r.result["max_memory_mb"], 64);
    let peak = r.result["memory_used_mb"].as_f64().unwrap();
    assert!(
        peak > 32.0 && peak <= 65.0,
        "peak {peak} MB under a 64 MB limit"
    );
}

#[test]
fn output_flood_is_truncated_at_the_limit() {
    let r = run_json(
        "import sys\nfor _ in range(20):\n    sys.stdout.write('x' * 100_000)\n",
        &["--output-limit", "1000"],
    );
    assert_eq!(r.result["stdout_truncated"], true);
    assert_eq!(r.result["stderr_truncated"], false);
    assert_eq!(r.reason(), Some("output_limit"));
    assert_eq!(r.status(), "failed");
    assert_eq!(r.stdout().len(), 1000);
    assert!(r.stdout().bytes().all(|b| b == b'x'));

    let r = run_json(
        "import sys\nprint('fine')\nfor _ in range(20):\n    sys.stderr.write('e' * 100_000)\n",
        &["--output-limit", "1000"],
    );
    assert_eq!(r.result["stderr_truncated"], true);
    assert_eq!(r.result["stdout_truncated"], false);
    assert_eq!(r.reason(), Some("output_limit"));
    assert_eq!(r.stderr().len(), 1000);
    assert_eq!(r.stdout(), "fine\n");
}

#[test]
fn killed_by_a_signal() {
    let r = run_marked("import os\nos.kill(os.getpid(), 9)\n", &[], &[]);
    assert_eq!(r.str("status"), "failed");
    assert_eq!(r.str("reason"), "signal");
    assert_eq!(r.result["signal"], 9);
    assert!(r.result["exit_code"].is_null());
}

/// Run `code` with --json: it completes with exactly `stdout` and `stderr`.
#[track_caller]
fn assert_completes_with(code: &str, stdout: &str, stderr: &str) {
    let r = run_json(code, &[]);
    assert_eq!(r.status(), "completed");
    assert_eq!(r.stdout(), stdout);
    assert_eq!(r.stderr(), stderr);
}

#[test]
fn stderr_is_captured_separately() {
    assert_completes_with(
        "import sys\nprint('to-out')\nprint('to-err', file=sys.stderr)\nprint('out-again')\n",
        "to-out\nout-again\n",
        "to-err\n",
    );
}

#[test]
fn invalid_utf8_output_is_replaced() {
    assert_completes_with(
        "import sys\nsys.stdout.buffer.write(b'ok\\xff\\xfeend\\n')\n\
         sys.stderr.buffer.write(b'err\\xc3\\n')\n",
        "ok\u{FFFD}\u{FFFD}end\n",
        "err\u{FFFD}\n",
    );
}

#[test]
fn resource_use_is_measured() {
    let r = run_json(
        "x = 0\nfor i in range(3_000_000):\n    x += i\nprint(x)\n",
        &[],
    );
    assert_eq!(r.status(), "completed");
    let mem = r.result["memory_used_mb"].as_f64().unwrap();
    let cpu = r.result["cpu_time_seconds"].as_f64().unwrap();
    let duration = r.result["duration"].as_f64().unwrap();
    assert!(mem > 0.0, "memory_used_mb={mem}");
    assert!(cpu > 0.0, "cpu_time_seconds={cpu}");
    assert!(duration > 0.0, "duration={duration}");
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parse an RFC 3339 date-time ("2026-01-02T03:04:05.678Z", offsets allowed) into
/// seconds since the epoch; None when it is not one.
fn rfc3339(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        (!part.is_empty() && part.bytes().all(|c| c.is_ascii_digit()))
            .then(|| part.parse().ok())
            .flatten()
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, min, sec) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut frac = 0.0;
    if b[i] == b'.' {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        frac = format!("0.{}", &s[start..i]).parse().ok()?;
    }
    let offset = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let (oh, om) = (digits(i + 1..i + 3)?, digits(i + 4..i + 6)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let off = oh * 3600 + om * 60;
            if *sign == b'+' {
                off
            } else {
                -off
            }
        }
        _ => return None,
    };
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + min * 60 + sec - offset;
    Some(secs as f64 + frac)
}

#[test]
fn rfc3339_parser_accepts_only_rfc3339() {
    assert_eq!(rfc3339("1970-01-01T00:00:00Z"), Some(0.0));
    assert_eq!(rfc3339("1970-01-02T00:00:01.5Z"), Some(86_401.5));
    assert_eq!(rfc3339("2000-03-01T01:00:00+01:00"), Some(951_868_800.0));
    for bad in [
        "2026-11-21 21:05:59Z",
        "2026-11-21T21:05:59",
        "2026-13-21T21:05:59Z",
        "2026-11-21T21:05:59.Z",
        "21/11/2026",
        "",
    ] {
        assert_eq!(rfc3339(bad), None, "{bad:?}");
    }
}

fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_i64() || n.is_u64() => "int",
        Value::Number(_) => "float",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every field of the contract's ExecutionResult is present with the right JSON type.
fn assert_contract_fields(r: &Value, code: &str) {
    let obj = r.as_object().expect("ExecutionResult is an object");
    let number = ["int", "float"];
    let expect: &[(&str, &[&str])] = &[
        ("id", &["string"]),
        ("code", &["string"]),
        ("language", &["string"]),
        ("env", &["string", "null"]),
        ("status", &["string"]),
        ("reason", &["string", "null"]),
        ("exit_code", &["int", "null"]),
        ("signal", &["int", "null"]),
        ("stdout", &["string"]),
        ("stderr", &["string"]),
        ("stdout_truncated", &["bool"]),
        ("stderr_truncated", &["bool"]),
        (
            "return_value",
            &["null", "bool", "int", "float", "string", "array", "object"],
        ),
        ("exception", &["object", "null"]),
        ("error", &["string", "null"]),
        ("charts", &["array"]),
        ("files", &["array"]),
        ("validation", &["object", "null"]),
        ("timeout", &number),
        ("max_memory_mb", &number),
        ("max_cpu_percent", &number),
        ("started_at", &["string"]),
        ("completed_at", &["string"]),
        ("created_at", &["string"]),
        ("duration", &number),
        ("cpu_time_seconds", &number),
        ("memory_used_mb", &number),
    ];
    for (field, types) in expect {
        let v = obj
            .get(*field)
            .unwrap_or_else(|| panic!("field {field} missing from {r}"));
        assert!(
            types.contains(&type_of(v)),
            "{field} is {} ({v}), expected one of {types:?}",
            type_of(v)
        );
    }
    assert!(!r["id"].as_str().unwrap().is_empty());
    assert_eq!(r["code"], code);
    assert_eq!(r["language"], "python");
    let statuses = [
        "pending",
        "running",
        "completed",
        "failed",
        "timeout",
        "cancelled",
        "rejected",
    ];
    assert!(statuses.contains(&r["status"].as_str().unwrap()));
    let times: Vec<f64> = ["created_at", "started_at", "completed_at"]
        .iter()
        .map(|f| {
            let s = r[*f].as_str().unwrap();
            rfc3339(s).unwrap_or_else(|| panic!("{f} = {s:?} is not RFC 3339"))
        })
        .collect();
    let (created, started, completed) = (times[0], times[1], times[2]);
    assert!(
        created <= started + 0.001 && started <= completed + 0.001,
        "created {created} started {started} completed {completed} out of order"
    );
    let duration = r["duration"].as_f64().unwrap();
    assert!(
        (completed - started - duration).abs() < 0.5,
        "completed - started = {} but duration = {duration}",
        completed - started
    );
}

#[test]
fn results_have_every_contract_field_with_its_type() {
    let code = "print('fields')";
    let r = run_json(code, &["--timeout", "7", "--memory", "128", "--cpu", "50"]);
    assert_contract_fields(&r.result, code);
    assert_eq!(r.result["timeout"].as_f64(), Some(7.0));
    assert_eq!(r.result["max_memory_mb"].as_f64(), Some(128.0));
    assert_eq!(r.result["max_cpu_percent"].as_f64(), Some(50.0));
    assert_eq!(r.result["charts"], serde_json::json!([]));
    assert_eq!(r.result["files"], serde_json::json!([]));

    // A failed run has the same fields (types where null is allowed may differ).
    let code = "1/0";
    let r = run_json(code, &[]);
    assert_contract_fields(&r.result, code);
    assert_eq!(r.status(), "failed");

    // And a run that never got to the end.
    let code = "import time\ntime.sleep(10)";
    let r = run_json(code, &["--timeout", "0.5"]);
    assert_contract_fields(&r.result, code);
    assert_eq!(r.status(), "timeout");
    assert_eq!(r.result["timeout"].as_f64(), Some(0.5));
}

// ---------------------------------------------------------------------------------------
// 3. Without --json: pass-through and exit status.
// ---------------------------------------------------------------------------------------

#[test]
fn plain_mode_passes_output_and_exit_status_through() {
    let (out, _) = run_plain(
        &[
            "-c",
            "import sys\nprint('hello')\nprint('oops', file=sys.stderr)",
        ],
        None,
    );
    assert_plain(&out, 0, "hello\n");
    assert_eq!(text(&out.stderr), "oops\n");

    let (out, _) = run_plain(&["-c", "print('bye')\nraise SystemExit(7)"], None);
    assert_plain(&out, 7, "bye\n");

    let (out, _) = run_plain(&["-c", "import os\nos.kill(os.getpid(), 9)"], None);
    assert_eq!(
        out.status.code(),
        Some(128 + 9),
        "stderr={}",
        text(&out.stderr)
    );
}

#[test]
fn plain_mode_timeout_exits_124() {
    let (out, elapsed) = run_plain(&["--timeout", "1", "-c", "while True: pass"], None);
    assert_eq!(out.status.code(), Some(124), "stderr={}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("timeout"),
        "{}",
        text(&out.stderr)
    );
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
}

#[test]
fn code_from_a_file_and_from_stdin() {
    let dir = temp_dir("codefile");
    let file = dir.join("prog.py");
    fs::write(&file, "import sys\nprint('from file', sys.argv[0] != '')\n").unwrap();
    let (out, _) = run_plain(&[path_str(&file)], None);
    assert_plain(&out, 0, "from file True\n");

    let (out, _) = run_plain(&["-"], Some(b"print('from stdin')\n"));
    assert_plain(&out, 0, "from stdin\n");

    // --json with a file gives the file's code back in the result.
    let (out, _) = run_plain(&["--json", path_str(&file)], None);
    let r = json_result(&out);
    assert_eq!(r["code"], fs::read_to_string(&file).unwrap());
    assert_eq!(r["status"], "completed");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn input_becomes_the_codes_stdin() {
    let dir = temp_dir("input");
    let input = dir.join("in.txt");
    fs::write(&input, "line one\nline two\n").unwrap();
    let (out, _) = run_plain(
        &[
            "--input",
            path_str(&input),
            "-c",
            "print(input())\nprint(input())",
        ],
        None,
    );
    assert_plain(&out, 0, "line one\nline two\n");

    // `--input -` hands airlock's own stdin over.
    let (out, _) = run_plain(
        &[
            "--input",
            "-",
            "-c",
            "import sys\nprint(sys.stdin.read().upper())",
        ],
        Some(b"piped in"),
    );
    assert_plain(&out, 0, "PIPED IN\n");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn default_stdin_is_empty() {
    // Even when airlock's own stdin has data, the code's stdin is /dev/null by default.
    let (out, _) = run_plain(
        &[
            "--json",
            "-c",
            "import sys\nprint(repr(sys.stdin.read()))\ninput()",
        ],
        Some(b"should not be seen\n"),
    );
    let r = json_result(&out);
    assert_eq!(r["stdout"], "''\n");
    assert_eq!(r["reason"], "exception");
    let error = r["error"].as_str().unwrap();
    assert!(error.contains("EOFError"), "error={error:?}");
}

// ---------------------------------------------------------------------------------------
// 4. Grants.
// ---------------------------------------------------------------------------------------

#[test]
fn allow_read_binds_a_host_dir_read_only() {
    let dir = temp_dir("allowread");
    let secret = canary("readable");
    let file = dir.join("data.txt");
    fs::write(&file, &secret).unwrap();
    let code = format!(
        "import os\n\
         p = {file:?}\n\
         print(os.path.exists(p))\n\
         if os.path.exists(p):\n\
         \x20   print(open(p).read())\n\
         \x20   for target in (p, os.path.join(os.path.dirname(p), 'new.txt')):\n\
         \x20       try:\n\
         \x20           open(target, 'a').write('tampered')\n\
         \x20           print('WRITE-OK')\n\
         \x20       except OSError as e:\n\
         \x20           print('write refused', e.errno)\n",
        file = path_str(&file)
    );
    let r = run_marked(&code, &["--allow-read", path_str(&dir)], &[]);
    assert_eq!(r.str("status"), "completed", "{}", r.str("stderr"));
    let lines: Vec<&str> = r.str("stdout").lines().collect();
    assert_eq!(lines[0], "True");
    assert_eq!(lines[1], secret);
    assert!(!r.str("stdout").contains("WRITE-OK"), "{}", r.str("stdout"));
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert!(lines[2..].iter().all(|l| l.starts_with("write refused")));
    assert_eq!(fs::read_to_string(&file).unwrap(), secret);
    assert!(!dir.join("new.txt").exists());

    // Without the grant the path is not there at all.
    let r = run_marked(&code, &[], &[]);
    assert_eq!(r.str("status"), "completed", "{}", r.str("stderr"));
    assert_eq!(r.str("stdout"), "False\n");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn allow_env_passes_exactly_the_named_variable() {
    let pid = std::process::id();
    let (granted, other) = (
        format!("AIRLOCK_GRANTED_{pid}"),
        format!("AIRLOCK_NOT_GRANTED_{pid}"),
    );
    let (value, hidden) = (canary("env-granted"), canary("env-hidden"));
    let code = "import os, json\nprint(json.dumps(dict(os.environ)))";
    let r = run_marked(
        code,
        &["--allow-env", &granted],
        &[(&granted, &value), (&other, &hidden)],
    );
    assert_eq!(r.str("status"), "completed", "{}", r.str("stderr"));
    let env: Value = serde_json::from_str(r.str("stdout")).unwrap();
    let env = env.as_object().unwrap();
    assert_eq!(
        env.get(&granted).and_then(Value::as_str),
        Some(value.as_str())
    );
    assert!(!env.contains_key(&other));
    assert!(!r.str("stdout").contains(&hidden));
    // Nothing else of the host's environment: only the fixed allow-list and the grant.
    let allowed = [
        "PATH",
        "HOME",
        "TMPDIR",
        "LANG",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONUNBUFFERED",
        "PYTHONIOENCODING",
        "LC_CTYPE",
        // Set for the runner: thread pools sized to the CPU share, charts off-screen.
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "NUMEXPR_NUM_THREADS",
        "MPLBACKEND",
        "MPLCONFIGDIR",
        granted.as_str(),
    ];
    for key in env.keys() {
        assert!(allowed.contains(&key.as_str()), "unexpected variable {key}");
    }
    assert!(!env.contains_key(MARKER_VAR));
}

#[test]
fn allow_write_under_a_configured_root() {
    let base = temp_dir("allowwrite");
    let root = base.join("root");
    let granted = root.join("shared");
    fs::create_dir_all(&granted).unwrap();
    // As root the sandbox user is a high unprivileged host uid: it needs the mode bits.
    fs::set_permissions(&granted, fs::Permissions::from_mode(0o777)).unwrap();
    let config = write_config(&base, &[&root]);
    let content = canary("written");
    let out_file = granted.join("out.txt");
    let code = format!(
        "open({:?}, 'w').write({content:?})\nprint('written')",
        path_str(&out_file)
    );
    let r = run_marked(
        &code,
        &["--allow-write", path_str(&granted)],
        &[("AIRLOCK_CONFIG", path_str(&config))],
    );
    assert_eq!(r.str("status"), "completed", "{}", r.str("stderr"));
    assert_eq!(r.str("stdout"), "written\n");
    assert_eq!(fs::read_to_string(&out_file).unwrap(), content);
    if is_root() {
        let owner = fs::metadata(&out_file).unwrap().uid();
        assert_eq!(
            Some(u64::from(owner)),
            r.result["sandbox"]["host_uid"].as_u64(),
            "the file belongs to the sandbox's own host uid"
        );
        assert!(owner >= 2_000_000_000);
    }
    fs::remove_dir_all(&base).unwrap();
}

#[test]
fn pids_limit_caps_threads_and_forks() {
    let threads = "import threading, time\n\
                   done = []\n\
                   ts = [threading.Thread(target=lambda: (time.sleep(0.3), done.append(1))) for _ in range(4)]\n\
                   [t.start() for t in ts]\n\
                   [t.join() for t in ts]\n\
                   print('threads', len(done))\n";
    let r = run_marked(threads, &["--pids", "8"], &[]);
    assert_eq!(r.str("status"), "completed", "{}", r.str("stderr"));
    assert_eq!(r.str("stdout"), "threads 4\n");

    let forks = "import os, time\n\
                 ok = failed = 0\n\
                 for _ in range(50):\n\
                 \x20   try:\n\
                 \x20       pid = os.fork()\n\
                 \x20   except OSError:\n\
                 \x20       failed += 1\n\
                 \x20       continue\n\
                 \x20   if pid == 0:\n\
                 \x20       time.sleep(2)\n\
                 \x20       os._exit(0)\n\
                 \x20   ok += 1\n\
                 print(ok, failed)\n";
    let r = run_marked(forks, &["--pids", "8"], &[]);
    assert_eq!(r.str("status"), "completed", "{}", r.str("stderr"));
    let counts: Vec<u32> = r
        .str("stdout")
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(counts.len(), 2, "{}", r.str("stdout"));
    let (ok, failed) = (counts[0], counts[1]);
    assert_eq!(ok + failed, 50);
    assert!((1..8).contains(&ok), "{ok} forks succeeded under --pids 8");
    assert!(failed > 0);
    // The sleeping children died with the sandbox: airlock did not wait for them.
    assert!(r.elapsed < Duration::from_secs(2), "took {:?}", r.elapsed);
}

// ---------------------------------------------------------------------------------------
// 5. Cleanup.
// ---------------------------------------------------------------------------------------

/// The host uid of a `--json` run, which must have completed printing exactly `stdout`
/// with a host uid of its box's own.
#[track_caller]
fn box_uid_of_completed(out: &Output, stdout: &str) -> u64 {
    let r = json_result(out);
    assert_eq!(r["status"], "completed", "{r}");
    assert_eq!(r["stdout"], stdout);
    assert_eq!(r["sandbox"]["host_uid_per_box"], true);
    r["sandbox"]["host_uid"].as_u64().unwrap()
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn sequential_runs_leave_no_cgroups_or_locks() {
    require_root!();
    let marker = canary("seq");
    let before = airlock_cgroups();
    let mut uids = Vec::new();
    for i in 0..5 {
        let out = marked(&marker)
            .args(["run", "--json", "-c"])
            .arg(format!("print({i})"))
            .output()
            .unwrap();
        uids.push(box_uid_of_completed(&out, &format!("{i}\n")));
    }
    assert_nothing_left(&before, &marker, "5 sequential runs");
    for uid in uids {
        assert!(uid >= 2_000_000_000, "host uid {uid}");
        assert_box_released(uid);
    }
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn concurrent_runs_get_their_own_host_uids() {
    require_root!();
    let marker = canary("burst");
    let before = airlock_cgroups();
    let children: Vec<_> = (0..4)
        .map(|i| {
            marked(&marker)
                .args(["run", "--json", "-c"])
                .arg(format!("import time\ntime.sleep(1)\nprint('burst', {i})"))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut uids = BTreeSet::new();
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        uids.insert(box_uid_of_completed(&out, &format!("burst {i}\n")));
    }
    assert_eq!(
        uids.len(),
        4,
        "overlapping sandboxes shared a host uid: {uids:?}"
    );
    assert_nothing_left(&before, &marker, "4 concurrent runs");
    for uid in uids {
        assert_box_released(uid);
    }
}

/// The leftover checks are not vacuous: while a sandbox runs they see its cgroup (in
/// every hierarchy airlock uses), its marked processes and its held box lock.
#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn leftover_checks_see_a_live_sandbox() {
    require_root!();
    let marker = canary("live");
    let before = airlock_cgroups();
    let child = marked(&marker)
        .args(["run", "--json", "-c", "import time\ntime.sleep(1.5)"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(1);
    let (mut live, mut locked) = (Vec::new(), BTreeSet::new());
    while Instant::now() < deadline {
        live = airlock_cgroups()
            .difference(&before)
            .filter(|d| {
                cgroup_pids(d)
                    .iter()
                    .any(|&p| descends_from_marked(p, &marker))
            })
            .cloned()
            .collect();
        if !live.is_empty() {
            locked = fs::read_dir(boxes_dir())
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .filter(|p| is_locked(p))
                .collect();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !live.is_empty(),
        "the running sandbox's cgroup was not found"
    );
    // v1: the same sandbox cgroup in the memory and the pids hierarchy (at least).
    if Path::new("/sys/fs/cgroup/memory/cgroup.procs").exists() {
        for controller in ["memory", "pids"] {
            let root = Path::new("/sys/fs/cgroup").join(controller);
            assert!(
                live.iter().any(|d| d.starts_with(&root)),
                "no {controller} cgroup among {live:?}"
            );
        }
    }
    assert!(!marked_processes(&marker).is_empty());
    let out = child.wait_with_output().unwrap();
    let r = json_result(&out);
    assert_eq!(r["status"], "completed");
    let uid = r["sandbox"]["host_uid"].as_u64().unwrap();
    let lock = boxes_dir().join(format!("{}.lock", uid - 2_000_000_000));
    assert!(
        locked.contains(&lock),
        "{} was not seen locked during the run",
        lock.display()
    );
    assert_nothing_left(&before, &marker, "the live run");
    assert_box_released(uid);
}
