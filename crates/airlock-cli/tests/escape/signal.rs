//! SIGNAL: the code affects no process outside its sandbox.
//! Oracles: a host sentinel process (spawned by the test) is still alive and untraced;
//! another tenant's sandbox runs to its end; the supervisor answers with a result.

use std::time::Duration;

use crate::common::{bare_python, run_json};
use crate::{
    assert_bare_ran, assert_ran, fill, lines_with, marker, poll, py_bool, run_probe, spawn_run,
    wait_for_thread, with_marker, Sentinel,
};

/// Signals everything it can name: every process (`kill(-1)`), the sentinel's host pid,
/// its parent and pid 1, every pid up to 65536; pidfds of the sentinel; ptrace of the
/// sentinel. KILL_ALL is off only in the twin, which must never `kill(-1)` the host.
const SIGNALS: &str = r#"
import ctypes, errno, os, signal
SENTINEL, KILL_ALL = @SENTINEL@, @KILL_ALL@
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def attempt(how, f):
    try:
        f()
        print("DONE", how)
    except OSError as e:
        print("DENIED", how, errno.errorcode.get(e.errno))
def sc(how, nr, *args):
    ctypes.set_errno(0)
    rc = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    print("CALL", how, rc, errno.errorcode.get(ctypes.get_errno(), "-") if rc < 0 else "-")
    return rc
signal.signal(signal.SIGTERM, signal.SIG_IGN)
attempt("kill sentinel", lambda: os.kill(SENTINEL, signal.SIGKILL))
sc("ptrace_attach_sentinel", 101, 16, SENTINEL, 0, 0)
sc("ptrace_seize_sentinel", 101, 0x4206, SENTINEL, 0, 0)
fd = sc("pidfd_open_sentinel", 434, SENTINEL, 0)
if fd >= 0:
    sc("pidfd_send_signal_sentinel", 424, fd, signal.SIGKILL, 0, 0)
if KILL_ALL:
    attempt("kill -1", lambda: os.kill(-1, signal.SIGKILL))
    attempt("kill parent", lambda: os.kill(os.getppid(), signal.SIGKILL))
    for sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGSTOP, signal.SIGSEGV):
        attempt("kill 1 %d" % sig, lambda: os.kill(1, sig))
    reached = 0
    for pid in range(2, 65536):
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, signal.SIGKILL)
            reached += 1
        except OSError:
            pass
    print("REACHED", reached)
print("PROBE-RAN")
"#;

fn probe(sentinel: u32, kill_all: bool) -> String {
    fill(
        SIGNALS,
        &[
            ("SENTINEL", sentinel.to_string()),
            ("KILL_ALL", py_bool(kill_all)),
        ],
    )
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn kill_everything_spares_the_host_sentinel_and_the_supervisor_answers() {
    require_root!();
    let mut sentinel = Sentinel::spawn();
    let run = run_probe(&probe(sentinel.pid(), true), &["--timeout", "20"]);
    // The supervisor answered: a complete result for a program that exited normally.
    assert_eq!(run.status(), "completed", "{:#}", run.result);
    assert!(run.elapsed < Duration::from_secs(10));
    assert!(sentinel.alive(), "the host sentinel was killed");
    assert_eq!(sentinel.tracer(), 0, "the host sentinel is being traced");
    assert!(
        lines_with(run.stdout(), "CALL ")
            .iter()
            .all(|l| l.contains(" -1 ")),
        "{}",
        run.stdout()
    );
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn another_tenant_survives_a_signal_storm() {
    require_root!();
    let mut sentinel = Sentinel::spawn();
    let m = marker();
    let victim_code = with_marker(
        "import time\nname_thread(@MARKER@)\ntime.sleep(3)\n\
         print('VICTIM-SURVIVED')\nprint('PROBE-RAN')",
        &m,
    );
    let victim = spawn_run(victim_code, &["--timeout", "20"]);
    // The storm starts once the victim runs (its thread name shows on the host).
    let ready = wait_for_thread(&m, Duration::from_secs(10));
    let attacker = run_json(&probe(sentinel.pid(), true), &["--timeout", "20"]);
    let victim = victim.join().unwrap();
    assert!(ready, "the victim never started");
    assert_ran(&attacker);
    assert_ran(&victim);
    assert_eq!(victim.status(), "completed", "{:#}", victim.result);
    assert!(victim.stdout().contains("VICTIM-SURVIVED"));
    assert!(sentinel.alive());
}

/// The twin: unsandboxed (and without `kill(-1)`), the probe kills the sentinel, and
/// the oracle sees it die.
#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn twin_bare_python_kills_the_sentinel() {
    require_root!();
    let mut sentinel = Sentinel::spawn();
    let text = assert_bare_ran(&bare_python(&probe(sentinel.pid(), false)));
    assert!(text.contains("DONE kill sentinel"), "{text}");
    poll(Duration::from_secs(2), Duration::from_millis(10), || {
        !sentinel.alive()
    });
    assert!(!sentinel.alive(), "the oracle must see the sentinel die");
}
