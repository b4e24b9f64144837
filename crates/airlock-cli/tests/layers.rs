//! Defence in depth: each optional layer is switched off in turn
//! (`--insecure-disable-layer`) to show what it alone stops — the probe succeeds without
//! it, so the oracle can fire — and that the other layers still hold without it.

mod common;

use common::run_json;

/// Python that calls a raw system call and prints "NAME RESULT ERRNO".
fn syscall_probe(name: &str, nr: i64, args: &str) -> String {
    format!(
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n\
         r = libc.syscall({nr}, {args})\nprint('{name}', r, ctypes.get_errno())\nprint('PROBE-RAN')"
    )
}

fn probe_line<'a>(run: &'a common::Run, name: &str) -> Vec<&'a str> {
    assert!(
        run.stdout().contains("PROBE-RAN"),
        "probe did not run: {}",
        run.everything()
    );
    run.stdout()
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("no {name} line: {}", run.everything()))
        .split_whitespace()
        .collect()
}

const PTRACE: i64 = 101;
const UNSHARE: i64 = 272;
const CLONE_NEWUSER: i64 = 0x1000_0000;
const ENOSYS: &str = "38";

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn seccomp_alone_stops_ptrace_and_nested_user_namespaces() {
    require_root!();
    for (name, nr, args) in [
        ("ptrace", PTRACE, "0, 0, 0, 0".to_string()),
        ("unshare", UNSHARE, CLONE_NEWUSER.to_string()),
    ] {
        let code = syscall_probe(name, nr, &args);
        let on = run_json(&code, &[]);
        assert_eq!(
            probe_line(&on, name)[1..],
            ["-1", ENOSYS],
            "{name} with seccomp"
        );
        // The twin: without seccomp the same call goes through, so the probe can tell.
        let off = run_json(&code, &["--insecure-disable-layer", "seccomp"]);
        assert_eq!(
            probe_line(&off, name)[1],
            "0",
            "{name} without seccomp: {}",
            off.everything()
        );
        assert_eq!(off.result["sandbox"]["seccomp"], "disabled");
    }
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn namespaces_and_capabilities_hold_without_seccomp() {
    require_root!();
    let code = r#"
import ctypes, os, socket
libc = ctypes.CDLL(None, use_errno=True)
r = libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)
print("mount", r, ctypes.get_errno())
r = libc.sethostname(b"evil", 4)
print("sethostname", r, ctypes.get_errno())
print("hostname", socket.gethostname())
print("shadow", os.path.exists("/etc/shadow"))
print("PROBE-RAN")
"#;
    let run = run_json(code, &["--insecure-disable-layer", "seccomp"]);
    const EPERM: &str = "1";
    assert_eq!(probe_line(&run, "mount")[1..], ["-1", EPERM]);
    assert_eq!(probe_line(&run, "sethostname")[1..], ["-1", EPERM]);
    assert_eq!(probe_line(&run, "hostname")[1], "airlock");
    assert_eq!(probe_line(&run, "shadow")[1], "False");
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn landlock_alone_stops_writes_to_proc_and_tcp() {
    require_root!();
    let code = r#"
import socket
try:
    open("/proc/self/comm", "w").write("renamed")
    print("proc-write ok")
except OSError as e:
    print("proc-write", e.errno)
try:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    print("tcp-bind ok")
except OSError as e:
    print("tcp-bind", e.errno)
print("PROBE-RAN")
"#;
    const EACCES: &str = "13";
    let on = run_json(code, &[]);
    // "partial" on kernels older than the newest ABI the jail asks for.
    assert_ne!(on.result["sandbox"]["landlock"], "none", "{}", on.result);
    assert_eq!(probe_line(&on, "proc-write")[1], EACCES);
    assert_eq!(probe_line(&on, "tcp-bind")[1], EACCES);
    let off = run_json(code, &["--insecure-disable-layer", "landlock"]);
    assert_eq!(off.result["sandbox"]["landlock"], "none");
    assert_eq!(probe_line(&off, "proc-write")[1], "ok");
    assert_eq!(probe_line(&off, "tcp-bind")[1], "ok");
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn mounts_alone_keep_the_root_read_only_without_landlock_and_seccomp() {
    require_root!();
    let code = r#"
import os
for path in ("/airlock/planted.py", "/usr/lib/planted", "/planted"):
    try:
        open(path, "a").write("x")
        print("write", path, "ok")
    except OSError as e:
        print("write", path, e.errno)
# /etc/passwd belongs to the sandbox user (mode 0444): only the mount stops a chmod.
try:
    os.chmod("/etc/passwd", 0o666)
    print("write chmod-passwd ok")
except OSError as e:
    print("write chmod-passwd", e.errno)
print("PROBE-RAN")
"#;
    let run = run_json(
        code,
        &[
            "--insecure-disable-layer",
            "seccomp",
            "--insecure-disable-layer",
            "landlock",
        ],
    );
    assert!(run.stdout().contains("PROBE-RAN"), "{}", run.everything());
    const EROFS: &str = "30";
    for line in run.stdout().lines().filter(|l| l.starts_with("write")) {
        assert!(
            line.ends_with(EROFS),
            "read-only mount let a write through: {line}"
        );
    }
}

#[test]
fn unknown_layers_cannot_be_disabled() {
    let out = common::airlock()
        .args([
            "run",
            "--insecure-disable-layer",
            "namespaces",
            "-c",
            "pass",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--insecure-disable-layer"));
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn host_supplementary_groups_do_not_follow_into_the_sandbox() {
    require_root!();
    // The oracle can fire: this test process (root) has at least group 0.
    let ours = std::fs::read_to_string("/proc/self/status").unwrap();
    assert!(ours.lines().any(|l| l.starts_with("Groups:")), "{ours}");
    let run = run_json(
        "import os\nprint('GROUPS', os.getgroups())\nprint('PROBE-RAN')",
        &[],
    );
    assert_eq!(probe_line(&run, "GROUPS")[1], "[]", "{}", run.everything());
}
