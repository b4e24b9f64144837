//! NS: the code neither leaves its namespaces nor touches its own limits.
//! Oracles: a host loopback listener (reachable only from the host's network
//! namespace) sees nothing after the code tried to change namespaces; the memory limit
//! still holds after the code tried to raise it; host cgroup and sysctl files unchanged.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::{bare_python, run_json};
use crate::{
    assert_bare_ran, assert_memory_within, assert_no_line_with, assert_printed, assert_ran, fill,
    lines_with, marker, py_list, run_probe, spawn_run, tasks_named, wait_for_thread, with_marker,
    Fingerprint, TcpTrap, RAN, TRAP_WAIT,
};

/// Joins every namespace it can name under /proc (`setns`), then, as a new user
/// namespace's root if it could make one, dials the host's loopback listener.
const SETNS: &str = r#"
import ctypes, errno, os, socket
PORT, PIDS = @PORT@, @PIDS@
libc = ctypes.CDLL(None, use_errno=True)
if PIDS is None:
    PIDS = [p for p in os.listdir("/proc") if p.isdigit()] + ["self"]
for pid in PIDS:
    try:
        kinds = os.listdir("/proc/%s/ns" % pid)
    except OSError as e:
        print("NSDIR", pid, e.errno)
        continue
    for kind in kinds:
        try:
            fd = os.open("/proc/%s/ns/%s" % (pid, kind), os.O_RDONLY)
        except OSError as e:
            print("OPEN", pid, kind, e.errno)
            continue
        ctypes.set_errno(0)
        rc = libc.setns(fd, 0)
        print("SETNS", pid, kind, rc, errno.errorcode.get(ctypes.get_errno(), "-") if rc else "-")
        os.close(fd)
rc = libc.unshare(0x10000000)
print("UNSHARE_USER", rc, errno.errorcode.get(ctypes.get_errno(), "-"))
for path, text in [("/proc/self/setgroups", "deny"), ("/proc/self/uid_map", "0 %d 1" % os.getuid()),
                   ("/proc/self/gid_map", "0 %d 1" % os.getgid())]:
    try:
        with open(path, "w") as f:
            f.write(text)
        print("WROTE", path)
    except OSError as e:
        print("DENIED", path, e.errno)
status = dict(l.split(":\t", 1) for l in open("/proc/self/status").read().splitlines() if ":\t" in l)
print("CAPS", status["CapEff"].strip(), status["CapPrm"].strip(), status["CapBnd"].strip())
print("UID", os.getuid(), os.geteuid())
s = socket.socket()
s.settimeout(1)
try:
    s.connect(("127.0.0.1", PORT))
    print("CONNECTED")
except OSError as e:
    print("REFUSED", e.errno)
print("PROBE-RAN")
"#;

fn setns_probe(port: u16, pids: &str) -> String {
    fill(SETNS, &[("PORT", port.to_string()), ("PIDS", pids.into())])
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn namespace_changes_do_not_reach_the_host_network() {
    require_root!();
    let trap = TcpTrap::v4();
    let run = run_probe(&setns_probe(trap.port, "None"), &[]);
    assert!(
        !trap.saw_connection(TRAP_WAIT),
        "the host listener was reached: {}",
        run.stdout()
    );
    let setns = lines_with(run.stdout(), "SETNS ");
    assert!(!setns.is_empty(), "nothing to setns into: {}", run.stdout());
    assert!(
        setns
            .iter()
            .all(|l| l.ends_with("ENOSYS") || l.ends_with("EPERM")),
        "{setns:#?}"
    );
    assert_printed(&run, "UID 1000 1000");
    assert_no_line_with(&run, "WROTE ");
    assert!(
        run.stdout()
            .contains("CAPS 0000000000000000 0000000000000000 0000000000000000"),
        "the code must hold no capability at all: {}",
        run.stdout()
    );
}

/// The twin: the same probe unsandboxed (joining only its own namespaces, a no-op on
/// the host) reaches the listener, so the listener would notice.
#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn twin_bare_python_reaches_the_listener() {
    require_root!();
    let trap = TcpTrap::v4();
    let text = assert_bare_ran(&bare_python(&setns_probe(trap.port, "[\"self\"]")));
    assert!(text.contains("CONNECTED"), "{text}");
    assert!(trap.saw_connection(TRAP_WAIT));
}

/// Tries every way to raise its own memory limit or leave its cgroup, then allocates
/// four times the limit.
const CGROUP_ESCAPE: &str = r#"
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
print("CGROUP", open("/proc/self/cgroup").read().replace("\n", " | "))
os.makedirs("/tmp/cg", exist_ok=True)
mounted = False
for fstype, opts in [(b"cgroup", b"memory"), (b"cgroup", b"pids"), (b"cgroup2", None),
                     (b"cgroup", b"none,name=airlock")]:
    rc = libc.mount(fstype, b"/tmp/cg", fstype, 0, opts)
    print("MOUNT", fstype, opts, rc, ctypes.get_errno())
    mounted = mounted or rc == 0
targets = []
for line in open("/proc/self/cgroup").read().splitlines():
    _, controllers, path = line.split(":", 2)
    # /tmp/cg is a plain directory of the sandbox's tmpfs unless a mount succeeded.
    for base in ["/sys/fs/cgroup", "/sys/fs/cgroup/" + (controllers.split(",")[0] or "unified")] + (["/tmp/cg"] if mounted else []):
        for p in [path, os.path.dirname(path), "/"]:
            d = os.path.normpath(base + "/" + p)
            targets += [(d + "/memory.max", "max"), (d + "/memory.limit_in_bytes", "-1"),
                        (d + "/memory.memsw.limit_in_bytes", "-1"), (d + "/memory.swap.max", "max"),
                        (d + "/pids.max", "max"), (d + "/cgroup.procs", str(os.getpid())),
                        (d + "/tasks", str(os.getpid())), (d + "/release_agent", "/work/agent"),
                        (d + "/notify_on_release", "1")]
done = 0
for path, value in sorted(set(targets)):
    try:
        with open(path, "w") as f:
            f.write(value)
        print("WROTE", path)
        done += 1
    except OSError:
        pass
print("WRITES", done, "of", len(set(targets)))
print("PROBE-RAN", flush=True)
hog = bytearray(@BYTES@)
for i in range(0, len(hog), 4096):
    hog[i] = 1
print("ALLOCATED")
"#;

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn own_memory_limit_cannot_be_raised() {
    require_root!();
    let mb = 64u64;
    let code = fill(CGROUP_ESCAPE, &[("BYTES", ((4 * mb) << 20).to_string())]);
    let run = run_probe(&code, &["--memory", &mb.to_string()]);
    assert_no_line_with(&run, "WROTE ");
    assert!(!run.stdout().contains("ALLOCATED"), "{}", run.stdout());
    assert_eq!(run.reason(), Some("memory_limit"), "{:#}", run.result);
    assert_memory_within(&run, mb, "cgroup escape");
}

/// The host's cgroup files a release_agent escape would change.
fn host_cgroup_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
        for e in rd.flatten() {
            for name in ["release_agent", "notify_on_release"] {
                let p = e.path().join(name);
                if p.is_file() {
                    files.push(p);
                }
            }
        }
    }
    files
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn host_release_agent_and_cgroup_files_stay_unchanged() {
    require_root!();
    let files = host_cgroup_files();
    let snapshot = || -> Vec<(Fingerprint, String)> {
        files
            .iter()
            .map(|p| (Fingerprint::of(p), std::fs::read_to_string(p).unwrap()))
            .collect()
    };
    let before = snapshot();
    let code = fill(CGROUP_ESCAPE, &[("BYTES", "0".into())]);
    let run = run_probe(&code, &[]);
    assert!(run.stdout().contains("ALLOCATED"));
    let after = snapshot();
    assert_eq!(before, after, "{}", run.stdout());
    assert!(
        after.iter().all(|(_, text)| !text.contains("/work/agent")),
        "release_agent points into the sandbox"
    );
}

/// Host-wide sysctls (not namespaced): a write would change the host.
const SYSCTLS: [&str; 3] = [
    "/proc/sys/fs/lease-break-time",
    "/proc/sys/vm/stat_interval",
    "/proc/sys/kernel/printk_ratelimit",
];

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn host_sysctls_cannot_be_changed() {
    require_root!();
    let read = || -> Vec<String> {
        SYSCTLS
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap_or_default())
            .collect()
    };
    let before = read();
    // Each value plus one: harmless should it ever land (and put back below).
    let paths = py_list(&SYSCTLS);
    let code = format!(
        r#"
for p in {paths}:
    try:
        v = int(open(p).read().split()[0]) + 1
        with open(p, "w") as f:
            f.write(str(v))
        print("WROTE", p)
    except (OSError, ValueError, IndexError) as e:
        print("DENIED", p, getattr(e, "errno", e))
print("{RAN}")
"#
    );
    let run = run_json(&code, &[]);
    let after = read();
    for ((p, b), a) in SYSCTLS.iter().zip(&before).zip(&after) {
        if a != b {
            let _ = std::fs::write(p, b.trim());
        }
    }
    assert_ran(&run);
    assert_eq!(before, after, "host sysctls changed: {}", run.stdout());
    assert_eq!(lines_with(run.stdout(), "DENIED ").len(), SYSCTLS.len());
}

/// Tries to loosen every per-process limit it holds: rlimits, nice, real-time
/// scheduling, OOM score; then waits, named, while the host looks at it.
const LOOSEN: &str = r#"
import os, resource, time
M = @MARKER@
def attempt(how, f):
    try:
        f()
        print("DONE", how)
    except (OSError, ValueError) as e:
        print("DENIED", how, e)
for name in ("RLIMIT_NOFILE", "RLIMIT_FSIZE", "RLIMIT_CORE", "RLIMIT_NPROC", "RLIMIT_MEMLOCK", "RLIMIT_RTPRIO"):
    r = getattr(resource, name)
    print("LIMIT", name, *["unlimited" if v == resource.RLIM_INFINITY else v for v in resource.getrlimit(r)])
    attempt("raise " + name, lambda: resource.setrlimit(r, (resource.RLIM_INFINITY, resource.RLIM_INFINITY)))
attempt("oom_score_adj", lambda: open("/proc/self/oom_score_adj", "w").write("-1000"))
attempt("nice -20", lambda: os.setpriority(os.PRIO_PROCESS, 0, -20))
attempt("SCHED_FIFO", lambda: os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(50)))
attempt("SCHED_RR", lambda: os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(1)))
name_thread(M)
print("PROBE-RAN", flush=True)
time.sleep(2)
"#;

/// The OOM score adjustment of the process (or task) whose /proc directory is `proc`.
fn oom_score_adj(proc: &Path) -> i32 {
    std::fs::read_to_string(proc.join("oom_score_adj"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn own_rlimits_priority_and_oom_score_cannot_be_loosened() {
    require_root!();
    let m = marker();
    let run = spawn_run(with_marker(LOOSEN, &m), &[]);
    assert!(
        wait_for_thread(&m, Duration::from_secs(10)),
        "the probe never ran"
    );
    // Read the sandboxed process from the host while it waits.
    let task = tasks_named(&m).pop().expect("the probe's thread");
    let stat = std::fs::read_to_string(task.join("stat")).unwrap();
    let oom = oom_score_adj(&task);
    let limits = std::fs::read_to_string(task.join("limits")).unwrap();
    let run = run.join().unwrap();
    assert_ran(&run);
    // stat fields after "(comm)": state is field 3, nice 19, policy 41.
    let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
    assert_eq!(fields[19 - 3], "0", "nice changed: {stat}");
    assert_eq!(fields[41 - 3], "0", "scheduling policy changed: {stat}");
    let ours = oom_score_adj(Path::new("/proc/self"));
    assert!(oom >= ours, "OOM score lowered to {oom}");
    // The limits the host sees are still those the probe started with.
    for (limit, name) in [
        ("Max open files", "RLIMIT_NOFILE"),
        ("Max file size", "RLIMIT_FSIZE"),
        ("Max core file size", "RLIMIT_CORE"),
        ("Max processes", "RLIMIT_NPROC"),
        ("Max locked memory", "RLIMIT_MEMLOCK"),
        ("Max realtime priority", "RLIMIT_RTPRIO"),
    ] {
        let line = limits.lines().find(|l| l.starts_with(limit)).unwrap();
        let host = line[limit.len()..]
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        let before = lines_with(run.stdout(), &format!("LIMIT {name} "));
        assert_eq!(before, [host.as_str()], "{line}");
    }
    assert!(limits.contains("Max core file size        0"), "{limits}");
    assert_no_line_with(&run, "DONE ");
}
