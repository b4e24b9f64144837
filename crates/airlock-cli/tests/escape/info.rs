//! INFO: the code learns nothing about the host or other tenants.
//! Oracle: values the host holds (a canary in airlock's environment, the hostname,
//! machine ids, host paths, device names, another run's files) never appear in output.

use std::time::Duration;

use crate::common::{bare_python, run_json, Run};
use crate::{
    assert_bare_ran, assert_no_line_with, assert_not_shown, assert_printed, assert_ran,
    bare_python_env, lines_with, marker, py, py_list, run_json_env, run_probe, spawn_run,
    wait_for_thread, with_name_thread, TempDir, RAN,
};

const ENVIRONMENT: &str = r#"
import os
print("ENV", dict(os.environ))
for pid in [p for p in os.listdir("/proc") if p.isdigit()] + ["self"]:
    for name in ("environ", "cmdline"):
        try:
            print("PROC", pid, name, open("/proc/%s/%s" % (pid, name), "rb").read())
        except OSError as e:
            print("DENIED", pid, name, e.errno)
print("PROBE-RAN")
"#;

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn host_environment_is_not_visible() {
    require_root!();
    let secret = crate::common::canary("ENV-SECRET");
    let allowed = crate::common::canary("ENV-ALLOWED");
    let run = run_json_env(
        ENVIRONMENT,
        &["--allow-env", "AIRLOCK_ESCAPE_ALLOWED"],
        &[
            ("AIRLOCK_ESCAPE_SECRET", secret.as_ref()),
            ("AIRLOCK_ESCAPE_ALLOWED", allowed.as_ref()),
        ],
    );
    assert_ran(&run);
    assert!(
        run.stdout().contains(&allowed),
        "the granted variable must show (else the probe sees no environment): {}",
        run.stdout()
    );
    assert_not_shown(&run, &secret);
}

/// The twin: unsandboxed, the same probe shows the secret variable.
#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn twin_bare_python_sees_the_environment() {
    require_root!();
    let secret = crate::common::canary("ENV-TWIN");
    let text = assert_bare_ran(&bare_python_env(
        ENVIRONMENT,
        &[("AIRLOCK_ESCAPE_SECRET", &secret)],
    ));
    assert!(text.contains(&secret));
}

const HOSTNAME: &str = r#"
import os, socket
def read(p):
    try:
        return open(p).read().strip()
    except OSError as e:
        return "ERR%d" % e.errno
print("HOSTNAME", socket.gethostname())
print("NODENAME", os.uname().nodename)
print("PROCHOST", read("/proc/sys/kernel/hostname"))
print("ETCHOST", read("/etc/hostname"))
print("FQDN", socket.getfqdn())
print("PROBE-RAN")
"#;

fn host_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string()
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn hostname_is_the_sandbox_s_own() {
    require_root!();
    let host = host_hostname();
    let run = run_probe(HOSTNAME, &[]);
    for key in ["HOSTNAME ", "NODENAME ", "PROCHOST ", "ETCHOST "] {
        let v = lines_with(run.stdout(), key);
        assert_eq!(v, ["airlock"], "{key}{}", run.stdout());
    }
    if host != "airlock" && host.len() >= 4 {
        assert_not_shown(&run, &host);
    }
}

/// The twin: unsandboxed, the probe reports the host's own name.
#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn twin_bare_python_sees_the_host_name() {
    require_root!();
    let text = assert_bare_ran(&bare_python(HOSTNAME));
    assert_eq!(lines_with(&text, "HOSTNAME "), [host_hostname().as_str()]);
}

const IDS: [&str; 5] = [
    "/etc/machine-id",
    "/var/lib/dbus/machine-id",
    "/sys/class/dmi/id/product_uuid",
    "/sys/class/dmi/id/board_serial",
    "/sys/class/dmi/id/product_serial",
];

fn read_ids_probe(paths: &[&str]) -> String {
    format!(
        "for p in {}:\n    try:\n        print('ID', p, open(p).read().strip())\n    \
         except OSError as e:\n        print('DENIED', p, e.errno)\nprint('{RAN}')",
        py_list(paths)
    )
}

/// Host identifiers that exist and are readable (non-trivial ones only).
fn host_ids(paths: &[&str]) -> Vec<String> {
    paths
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|v| v.trim().to_string())
        .filter(|v| v.len() >= 8)
        .collect()
}

/// Read the identifiers at `paths` in the sandbox: none of the host's shows.
#[track_caller]
fn assert_host_ids_hidden(paths: &[&str]) {
    let ids = host_ids(paths);
    let run = run_probe(&read_ids_probe(paths), &[]);
    for id in &ids {
        assert_not_shown(&run, id);
    }
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn machine_ids_are_not_the_host_s() {
    require_root!();
    assert_host_ids_hidden(&IDS);
}

/// The twin: unsandboxed, the probe reads the host's ids.
#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn twin_bare_python_reads_the_machine_id() {
    require_root!();
    let ids = host_ids(&IDS);
    if ids.is_empty() {
        eprintln!(
            "SKIPPED {}: this host has no machine id to read",
            module_path!()
        );
        return;
    }
    let text = assert_bare_ran(&bare_python(&read_ids_probe(&IDS)));
    assert!(ids.iter().all(|id| text.contains(id.as_str())), "{text}");
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn boot_id_is_not_the_host_s() {
    require_root!();
    assert_host_ids_hidden(&["/proc/sys/kernel/random/boot_id"]);
}

const DEVICES: &str = r#"
import os
print("SYS", os.path.exists("/sys"))
print("DEV", sorted(os.listdir("/dev")))
for p in ["/dev/mem", "/dev/kmem", "/dev/port", "/dev/kmsg", "/dev/kvm", "/dev/vda", "/dev/sda",
          "/dev/tty", "/dev/console", "/dev/ptmx", "/dev/net/tun", "/dev/fuse", "/dev/loop-control",
          "/dev/mapper/control", "/dev/hwrng", "/dev/cpu/0/msr"]:
    try:
        os.close(os.open(p, os.O_RDONLY | os.O_NONBLOCK))
        print("OPENED", p)
    except OSError as e:
        print("DENIED", p, e.errno)
print("PROBE-RAN")
"#;

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn sys_is_absent_and_dev_holds_only_the_harmless_devices() {
    require_root!();
    let allowed = [
        "null", "zero", "full", "random", "urandom", "shm", "fd", "stdin", "stdout", "stderr",
    ];
    let run = run_probe(DEVICES, &[]);
    assert_printed(&run, "SYS False");
    assert_no_line_with(&run, "OPENED ");
    let listing = lines_with(run.stdout(), "DEV ")[0];
    let shown: Vec<&str> = listing
        .trim_matches(|c| c == '[' || c == ']')
        .split(", ")
        .map(|s| s.trim_matches('\''))
        .collect();
    for name in &shown {
        assert!(allowed.contains(name), "/dev/{name} in the sandbox");
    }
    // And, from the host's side: none of the host's other device names shows up.
    for e in std::fs::read_dir("/dev").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !allowed.contains(&name.as_str()) {
            assert!(!shown.contains(&name.as_str()), "host /dev/{name} visible");
        }
    }
}

const MOUNTS: &str = r#"
for p in ["/proc/self/mountinfo", "/proc/self/mounts", "/proc/1/mountinfo", "/proc/self/cgroup",
          "/proc/1/cgroup", "/proc/self/cpuset"]:
    try:
        print("FILE", p, repr(open(p).read()))
    except OSError as e:
        print("DENIED", p, e.errno)
import os
print("CWD", os.getcwd())
print("PROBE-RAN")
"#;

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn mount_table_and_cgroup_show_no_unbound_host_paths() {
    require_root!();
    let dir = TempDir::new("info-mounts");
    let run = run_probe(MOUNTS, &[]);
    let text = run.everything();
    let host_paths = [
        dir.path().to_string_lossy().into_owned(),
        env!("CARGO_MANIFEST_DIR").to_string(),
        std::env::current_dir()
            .unwrap()
            .to_string_lossy()
            .into_owned(),
        "/run/airlock".into(),
    ];
    for p in &host_paths {
        assert!(!text.contains(p.as_str()), "host path {p} visible: {text}");
    }
    assert!(
        !text.contains("airlock-"),
        "the host cgroup's name is visible: {text}"
    );
}

/// The twin: unsandboxed, the same probe's working directory is a host path.
#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn twin_bare_python_shows_host_paths() {
    require_root!();
    let text = assert_bare_ran(&bare_python(MOUNTS));
    let cwd = std::env::current_dir().unwrap();
    assert!(text.contains(cwd.to_str().unwrap()), "{text}");
}

/// Another tenant's traces: files, SysV segments, abstract sockets, processes.
const VICTIM: &str = r#"
import ctypes, os, socket, time
SECRET, READY = @SECRET@, @READY@
for d in ("/tmp", "/work", "/dev/shm"):
    with open(os.path.join(d, "secret-" + SECRET), "w") as f:
        f.write(SECRET)
libc = ctypes.CDLL(None)
libc.shmget(0x41424344, 4096, 0o1000 | 0o666)
s = socket.socket(socket.AF_UNIX)
s.bind("\0" + SECRET)
s.listen()
name_thread(READY)
time.sleep(3)
print("VICTIM-DONE")
print("PROBE-RAN")
"#;

const SNOOP: &str = r#"
import os
for d in ("/tmp", "/work", "/dev/shm", "/var/tmp"):
    for root, dirs, files in os.walk(d):
        for f in files:
            p = os.path.join(root, f)
            try:
                print("FILE", p, open(p, errors="replace").read(200))
            except OSError as e:
                print("DENIED", p, e.errno)
for p in ("/proc/sysvipc/shm", "/proc/net/unix"):
    print("TABLE", p, repr(open(p).read()))
import ctypes
print("SHMGET", ctypes.CDLL(None).shmget(0x41424344, 0, 0))
for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
    try:
        print("PROC", pid, open("/proc/%s/cmdline" % pid, "rb").read())
    except OSError:
        pass
print("PROBE-RAN")
"#;

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn another_run_s_files_sockets_and_processes_are_invisible() {
    require_root!();
    let secret = format!("{}-secret", marker());
    let ready = marker();
    let victim_code = with_name_thread(VICTIM, &[("SECRET", py(&secret)), ("READY", py(&ready))]);
    let victim = spawn_run(victim_code, &["--timeout", "20"]);
    // Snoop once the victim has left its traces (its thread name shows on the host).
    let started = wait_for_thread(&ready, Duration::from_secs(10));
    let snoop: Run = run_json(SNOOP, &[]);
    let victim = victim.join().unwrap();
    assert!(started, "the victim never got ready");
    assert_ran(&victim);
    assert_ran(&snoop);
    assert_eq!(victim.status(), "completed", "{:#}", victim.result);
    assert!(
        !snoop.everything().contains(&secret),
        "another run's traces are visible: {}",
        snoop.stdout()
    );
    assert!(
        snoop.stdout().contains("SHMGET -1") && !snoop.stdout().contains(" 1094861636 "),
        "another run's SysV segment is visible: {}",
        snoop.stdout()
    );
}

/// Watches the interpreter's shared, read-only byte-code directory with inotify and
/// reports every file another process opens there.
const WATCH: &str = r#"
import ctypes, os, select, struct, sysconfig, time
READY = @READY@
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init1(os.O_NONBLOCK)
cache = os.path.join(sysconfig.get_paths()["stdlib"], "__pycache__")
wd = libc.inotify_add_watch(fd, cache.encode(), 0x20 | 0x01)   # IN_OPEN | IN_ACCESS
print("WATCH", fd, wd, ctypes.get_errno())
name_thread(READY)
seen = set()
end = time.time() + 2.5
while time.time() < end:
    # Stay alive for the whole window even when inotify is refused, so the host sees READY.
    if fd < 0:
        time.sleep(0.1)
    elif select.select([fd], [], [], 0.1)[0]:
        buf = os.read(fd, 65536)
        i = 0
        while i < len(buf):
            _, _, _, n = struct.unpack_from("iIII", buf, i)
            seen.add(buf[i + 16:i + 16 + n].rstrip(b"\0").decode())
            i += 16 + n
print("SEEN", sorted(seen))
print("PROBE-RAN")
"#;

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn another_run_s_file_accesses_are_not_observable() {
    require_root!();
    let ready = marker();
    let watcher_code = with_name_thread(WATCH, &[("READY", py(&ready))]);
    let watcher = spawn_run(watcher_code, &[]);
    assert!(wait_for_thread(&ready, Duration::from_secs(10)));
    // Another tenant imports a module nothing else in the suite uses.
    let victim = run_json("import colorsys\nprint('PROBE-RAN')", &[]);
    let watcher = watcher.join().unwrap();
    assert_ran(&victim);
    assert_ran(&watcher);
    assert!(
        !watcher.stdout().contains("colorsys"),
        "another tenant's imports are observable: {}",
        watcher.stdout()
    );
}
