//! RES: the code neither outlives nor overwhelms its limits.
//! Oracles, all on the host: the run ends by its timeout + 1 s; no process carrying the
//! run's marker (in its command line or a thread name) exists afterwards, nor more of
//! them during the run than the pids limit allows; the memory the host charged stays at
//! the limit; output kept within its cap.

use std::time::Duration;

use crate::common::{bare_python, Run};
use crate::{
    assert_bare_ran, assert_ended_within, assert_memory_within, assert_no_process_left,
    assert_printed, assert_ran, fill, lines_with, marker, poll, processes_with, py, run_probe,
    spawn_run, tasks_named, threads_named, wait_for_thread, with_marker,
};

/// After a run: the grace given to the kernel to tear down a dead pid namespace.
const GRACE: Duration = Duration::from_millis(1500);

/// Runs `code` while counting, from the host, the processes and threads carrying the
/// marker; returns the run and the largest count seen.
fn run_counting(code: &str, flags: &[&str], m: &str) -> (Run, usize) {
    let handle = spawn_run(code.to_string(), flags);
    let mut peak = 0;
    while !handle.is_finished() {
        peak = peak.max(threads_named(m));
        std::thread::sleep(Duration::from_millis(20));
    }
    (handle.join().unwrap(), peak)
}

/// The pids limit the bombs run under.
const BOMB_PIDS: usize = 16;

/// Runs a bomb (`template` with a fresh marker) under `--pids BOMB_PIDS --timeout 10`,
/// counting its processes from the host: the marker, the run (run to its end) and the
/// largest count seen.
fn run_bomb(template: &str) -> (String, Run, usize) {
    let m = marker();
    let (run, peak) = run_counting(
        &with_marker(template, &m),
        &["--pids", &BOMB_PIDS.to_string(), "--timeout", "10"],
        &m,
    );
    assert_ran(&run);
    (m, run, peak)
}

/// Runs `template` with a fresh marker and `flags`: the marker and the run (run to its end).
fn run_marked(template: &str, flags: &[&str]) -> (String, Run) {
    let m = marker();
    let run = run_probe(&with_marker(template, &m), flags);
    (m, run)
}

/// The count on the probe's first `STOPPED n …` line.
fn stopped_at(stdout: &str) -> Option<u64> {
    lines_with(stdout, "STOPPED ")
        .first()
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

const FORK_BOMB: &str = r#"
import os, time
M = @MARKER@
n = failures = 0
while failures < 50:
    try:
        pid = os.fork()
    except OSError:
        failures += 1
        time.sleep(0.005)
        continue
    if pid == 0:
        name_thread(M)
        while True:
            try:
                os.fork()
            except OSError:
                time.sleep(0.05)
    n += 1
print("FORKED", n, flush=True)
time.sleep(1)
print("PROBE-RAN")
"#;

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn fork_bomb_is_capped_by_pids_and_cleaned_up() {
    require_root!();
    let (m, run, peak) = run_bomb(FORK_BOMB);
    assert_ended_within(&run, 10.0);
    assert!(
        peak > 0,
        "the host never saw the bomb: the count proves nothing"
    );
    assert!(
        peak < BOMB_PIDS,
        "{peak} processes of the sandbox at once, limit {BOMB_PIDS}"
    );
    assert_no_process_left(&m, GRACE);
}

const THREAD_BOMB: &str = r#"
import threading, time
M = @MARKER@
def sleeper():
    name_thread(M)
    time.sleep(600)
n = 0
try:
    while n < 10000:
        threading.Thread(target=sleeper, daemon=True).start()
        n += 1
except RuntimeError as e:
    print("STOPPED", n, e)
time.sleep(1)
print("PROBE-RAN", flush=True)
"#;

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn thread_bomb_is_capped_by_pids_and_cleaned_up() {
    require_root!();
    let (m, run, peak) = run_bomb(THREAD_BOMB);
    assert_printed(&run, "STOPPED");
    assert!(
        peak > 0 && peak <= BOMB_PIDS,
        "peak {peak}, limit {BOMB_PIDS}"
    );
    assert_no_process_left(&m, GRACE);
}

/// Runs with 64 MB and checks the host stopped it at the limit.
fn assert_memory_limit(code: &str) {
    let run = run_probe(code, &["--memory", "64", "--timeout", "20"]);
    assert_eq!(run.reason(), Some("memory_limit"), "{:#}", run.result);
    assert_memory_within(&run, 64, "memory bomb");
    assert!(!run.stdout().contains("SURVIVED"), "{}", run.stdout());
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn touched_memory_bomb_hits_the_memory_limit() {
    require_root!();
    assert_memory_limit(
        "print('PROBE-RAN', flush=True)\nhog = []\nfor _ in range(1024):\n    \
         hog.append(b'x' * (1 << 20))\nprint('SURVIVED')",
    );
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn reserved_then_touched_memory_hits_the_memory_limit() {
    require_root!();
    assert_memory_limit(
        "import mmap\nm = mmap.mmap(-1, 4 << 30)\nprint('RESERVED 4 GiB')\n\
         print('PROBE-RAN', flush=True)\n\
         for i in range(0, len(m), 4096):\n    m[i] = 1\nprint('SURVIVED')",
    );
}

/// Fills a tmpfs (or an anonymous memory file) until something stops it.
const FILL: &str = r#"
import os
WHERE = @WHERE@
print("PROBE-RAN", flush=True)
if WHERE == "memfd":
    fd = os.memfd_create("fill")
    f = open(fd, "wb")
else:
    f = open(os.path.join(WHERE, "fill"), "wb")
chunk = b"x" * (1 << 20)
n = 0
try:
    while n < 4096:
        f.write(chunk)
        f.flush()
        n += 1
except OSError as e:
    print("STOPPED", n, e, flush=True)
print("SURVIVED", n)
"#;

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn tmpfs_dev_shm_and_memfd_are_charged_to_the_memory_limit() {
    require_root!();
    for place in ["/dev/shm", "/tmp", "/work", "memfd"] {
        // Memory files exist only where native code is allowed (--allow-ffi).
        let flags: &[&str] = if place == "memfd" {
            &["--memory", "64", "--allow-ffi"]
        } else {
            &["--memory", "64"]
        };
        let run = run_probe(&fill(FILL, &[("WHERE", py(place))]), flags);
        assert_memory_within(&run, 64, place);
        // Either the cgroup killed the writer or the write failed below the limit.
        let stopped = stopped_at(run.stdout());
        assert!(
            run.reason() == Some("memory_limit") || stopped.is_some_and(|n| n <= 64),
            "{place}: {:#}",
            run.result
        );
    }
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn inode_fill_stops_at_the_tmpfs_cap() {
    require_root!();
    let run = run_probe(
        "import os\nn = 0\ntry:\n    while n < 200000:\n        os.close(os.open('/work/f%d' % n, os.O_CREAT | os.O_WRONLY))\n        n += 1\nexcept OSError as e:\n    print('STOPPED', n, e.errno)\nprint('PROBE-RAN')",
        &["--timeout", "20"],
    );
    let stopped = lines_with(run.stdout(), "STOPPED ");
    assert_eq!(stopped.len(), 1, "{}", run.stdout());
    let n = stopped_at(run.stdout()).unwrap();
    assert!(n <= 65536, "{n} files");
    assert_eq!(run.status(), "completed");
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn descriptor_exhaustion_is_capped() {
    require_root!();
    let run = run_probe(
        "import os, resource\nprint('LIMIT', resource.getrlimit(resource.RLIMIT_NOFILE))\n\
         try:\n    resource.setrlimit(resource.RLIMIT_NOFILE, (1 << 20, 1 << 20))\n    print('RAISED')\nexcept (OSError, ValueError) as e:\n    print('NOT RAISED', e)\n\
         n = 0\ntry:\n    while True:\n        os.open('/dev/null', 0)\n        n += 1\nexcept OSError as e:\n    print('STOPPED', n, e.errno)\nprint('PROBE-RAN')",
        &[],
    );
    assert!(!run.stdout().contains("\nRAISED"), "{}", run.stdout());
    let n = stopped_at(run.stdout()).unwrap();
    assert!(n < 4096, "{n} descriptors opened");
}

/// Runs an output flood under a 64 KiB `--output-limit` (and `flags`): the limit and the
/// run, run to its end.
fn run_flood(code: &str, flags: &[&str]) -> (usize, Run) {
    let limit = 65536;
    let cap = limit.to_string();
    let mut all = vec!["--output-limit", cap.as_str()];
    all.extend(flags);
    (limit, run_probe(code, &all))
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn finite_output_flood_is_truncated_at_the_cap() {
    require_root!();
    let (limit, run) = run_flood(
        "import sys\nsys.stderr.write('E' * (4 << 20))\nprint('PROBE-RAN')\nsys.stdout.write('A' * (4 << 20))",
        &[],
    );
    assert_eq!(run.result["stdout_truncated"], true, "{:#}", run.result);
    assert_eq!(run.result["stderr_truncated"], true);
    assert_eq!(run.reason(), Some("output_limit"));
    assert!(run.stdout().len() <= limit && run.stderr().len() <= limit);
    assert!(
        run.raw.stdout.len() < 4 * limit + 65536,
        "the result itself is capped"
    );
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn endless_output_flood_is_truncated_and_ends_by_timeout() {
    require_root!();
    let (limit, run) = run_flood(
        "import os\nos.write(1, b'PROBE-RAN\\n')\nwhile True:\n    os.write(1, b'A' * 65536)",
        &["--timeout", "2"],
    );
    assert_ended_within(&run, 2.0);
    assert_eq!(run.result["stdout_truncated"], true);
    assert_eq!(run.status(), "timeout");
    assert!(run.stdout().len() <= limit);
}

const GRANDCHILD: &str = r#"
import os, time
M = @MARKER@
if os.fork() == 0:
    os.setsid()
    name_thread(M)
    time.sleep(600)   # holding stdout and stderr open
    os._exit(0)
print("PROBE-RAN", flush=True)
"#;

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn grandchild_holding_stdout_does_not_hold_the_run() {
    require_root!();
    let (m, run) = run_marked(GRANDCHILD, &["--timeout", "20"]);
    assert_eq!(run.status(), "completed", "{:#}", run.result);
    assert!(run.elapsed < Duration::from_secs(5), "{:?}", run.elapsed);
    assert_no_process_left(&m, GRACE);
}

const STUBBORN: &str = r#"
import os, signal, time
M = @MARKER@
for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGXCPU):
    signal.signal(sig, signal.SIG_IGN)
if os.fork() == 0:
    name_thread(M)
    os.kill(os.getpid(), signal.SIGSTOP)   # a stopped child
    os._exit(0)
if os.fork() == 0:
    name_thread(M)
    while True:
        pass
name_thread(M)
print("PROBE-RAN", flush=True)
while True:
    pass
"#;

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn sigterm_ignoring_and_stopped_processes_end_by_timeout() {
    require_root!();
    let (m, run) = run_marked(STUBBORN, &["--timeout", "2"]);
    assert_eq!(run.status(), "timeout", "{:#}", run.result);
    assert_ended_within(&run, 2.0);
    assert_no_process_left(&m, GRACE);
}

/// A daemon the classic way: fork, setsid, fork, exec — the marker in its argv.
const DAEMON: &str = r#"
import os, time
M, SLEEP = @MARKER@, @SLEEP@
exe = os.readlink("/proc/self/exe")
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.execv(exe, [exe, "-c", "import time; time.sleep(%d)" % SLEEP, M])
    os._exit(0)
time.sleep(0.5)
print("PROBE-RAN")
"#;

fn daemon(m: &str, sleep: u32) -> String {
    fill(DAEMON, &[("MARKER", py(m)), ("SLEEP", sleep.to_string())])
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn setsid_double_fork_daemon_does_not_outlive_the_run() {
    require_root!();
    let m = marker();
    let run = run_probe(&daemon(&m, 600), &[]);
    assert_eq!(run.status(), "completed", "{:#}", run.result);
    assert_no_process_left(&m, GRACE);
}

const ZOMBIES: &str = r#"
import os, time
M = @MARKER@
for _ in range(20):
    if os.fork() == 0:
        name_thread(M)
        os._exit(0)
time.sleep(0.3)
zombies = sum(1 for p in os.listdir("/proc") if p.isdigit() and " Z " in open("/proc/%s/stat" % p).read())
print("ZOMBIES", zombies)
print("PROBE-RAN")
"#;

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn zombies_do_not_outlive_the_run() {
    require_root!();
    let (m, run) = run_marked(ZOMBIES, &[]);
    assert_printed(&run, "ZOMBIES 20");
    assert_no_process_left(&m, GRACE);
}

/// The twin: the same daemon started unsandboxed does outlive its parent, and the
/// host's process scan finds it (then the test ends it: it is the test's own process).
#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn twin_bare_daemon_is_found_by_the_process_scan() {
    require_root!();
    let m = marker();
    assert_bare_ran(&bare_python(&daemon(&m, 30)));
    let found = processes_with(&m);
    for (pid, _) in &found {
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status();
    }
    assert!(!found.is_empty(), "the scan must find the daemon");
    poll(Duration::from_secs(2), Duration::from_millis(20), || {
        processes_with(&m).is_empty()
    });
}

/// If airlock itself dies (killed by the operator or the host's OOM killer), its
/// sandbox dies with it: nothing is left running without a supervisor and a timeout.
#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn sandbox_dies_with_its_supervisor() {
    require_root!();
    let m = marker();
    let code = with_marker(
        "import time\nM = @MARKER@\nname_thread(M)\nprint('PROBE-RAN', flush=True)\ntime.sleep(60)",
        &m,
    );
    let mut airlock = crate::common::airlock()
        .args(["run", "--json", "--timeout", "60", "-c", &code])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start airlock");
    let started = wait_for_thread(&m, Duration::from_secs(10));
    // The sandbox's cgroups, as the host names them, to remove after the kill: a
    // killed airlock cannot remove them itself.
    let cgroups = tasks_named(&m)
        .first()
        .and_then(|task| std::fs::read_to_string(task.join("cgroup")).ok())
        .map(|text| sandbox_cgroup_dirs(&text))
        .unwrap_or_default();
    let _ = airlock.kill();
    let _ = airlock.wait();
    assert!(started, "the sandboxed program never showed up on the host");
    let left = std::panic::catch_unwind(|| assert_no_process_left(&m, GRACE));
    for dir in &cgroups {
        let _ = std::fs::remove_dir(dir);
    }
    if let Err(panic) = left {
        std::panic::resume_unwind(panic);
    }
}

/// Host directories of the per-run cgroups named in a `/proc/PID/cgroup` text (v1: one
/// per hierarchy, under /sys/fs/cgroup/NAME; v2: under /sys/fs/cgroup).
fn sandbox_cgroup_dirs(proc_cgroup: &str) -> Vec<std::path::PathBuf> {
    let mounts: Vec<std::path::PathBuf> = std::fs::read_dir("/sys/fs/cgroup")
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    let mut dirs = Vec::new();
    for line in proc_cgroup.lines() {
        let Some(path) = line.splitn(3, ':').nth(2) else {
            continue;
        };
        let is_run = std::path::Path::new(path)
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("airlock-"));
        if !is_run {
            continue;
        }
        let rel = path.trim_start_matches('/');
        for base in mounts
            .iter()
            .chain([&std::path::PathBuf::from("/sys/fs/cgroup")])
        {
            let dir = base.join(rel);
            if dir.is_dir() && !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
    }
    dirs
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn cpu_quota_holds_against_many_busy_processes() {
    require_root!();
    let run = run_probe(
        "import os, time\nfor _ in range(3):\n    if os.fork() == 0:\n        end = time.time() + 1.5\n        \
         while time.time() < end:\n            pass\n        os._exit(0)\nfor _ in range(3):\n    os.wait()\n\
         print('PROBE-RAN')",
        &["--cpu", "50", "--timeout", "20"],
    );
    let cpu = run.result["cpu_time_seconds"].as_f64().unwrap();
    let wall = run.result["duration"].as_f64().unwrap();
    // Three busy processes would burn 3 × wall unlimited; half a core allows wall / 2.
    assert!(
        cpu > 0.2 && cpu <= wall * 0.5 * 1.25 + 0.1,
        "cpu {cpu}s in {wall}s at a 50% quota"
    );
}
