//! FS-READ: the code reads nothing of the host beyond the runtime it was given.
//! Oracle: a canary secret placed on the host never shows in any output.
//!
//! The canaries are world-readable unless the test says otherwise, so that file
//! permissions cannot be what stops the read: only the sandbox's mount view can.

use crate::common::{bare_python, Run};
use crate::{assert_bare_ran, assert_secret_absent, fill, lines_with, py, run_probe, Secret};

/// Shared by the probes below: `attempt` prints what a reader got (`READ how …`) or how
/// it failed (`DENIED how …`); `read` reads a whole file.
const READERS: &str = r#"def attempt(how, f):
    try:
        print("READ", how, repr(f())[:300])
    except Exception as e:
        print("DENIED", how, type(e).__name__, getattr(e, "errno", ""))
def read(p):
    with open(p, "rb") as f:
        return f.read()"#;

/// Reads the target directly, with native readers below Python's file objects, and
/// with `sendfile`/`mmap`; prints whatever it gets.
const DIRECT: &str = r#"
import ctypes, mmap, os
TARGET = @TARGET@
@READERS@
attempt("open", lambda: read(TARGET))
attempt("listdir", lambda: os.listdir(os.path.dirname(TARGET)))
attempt("stat", lambda: os.stat(TARGET))
libc = ctypes.CDLL(None, use_errno=True)
def native(p):
    fd = libc.open(p.encode(), 0)
    if fd < 0:
        raise OSError(ctypes.get_errno(), "libc.open")
    buf = ctypes.create_string_buffer(65536)
    n = libc.read(fd, buf, 65536)
    libc.close(fd)
    return buf.raw[:max(n, 0)]
attempt("libc.open+read", lambda: native(TARGET))
def mapped(p):
    with open(p, "rb") as f:
        return mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)[:]
attempt("mmap", lambda: mapped(TARGET))
def sendfile(p):
    r, w = os.pipe()
    src = os.open(p, os.O_RDONLY)
    os.sendfile(w, src, 0, 65536)
    return os.read(r, 65536)
attempt("sendfile", lambda: sendfile(TARGET))
print("PROBE-RAN")
"#;

/// Reaches for the target through other processes' roots and cwds, the old root after
/// pivot_root (climbing `..`), and file handles (the "shocker" escape).
const INDIRECT: &str = r#"
import ctypes, errno, os
TARGET = @TARGET@
@READERS@
pids = [p for p in os.listdir("/proc") if p.isdigit()] + ["self", "thread-self", str(os.getppid())]
for pid in pids:
    for link in ("root", "cwd"):
        p = "/proc/%s/%s%s" % (pid, link, TARGET)
        attempt(p, lambda: read(p))
attempt("dotdot", lambda: read("/work/" + "../" * 40 + TARGET.lstrip("/")))
os.chdir("/")
for _ in range(64):
    os.chdir("..")
print("CLIMBED", os.getcwd(), sorted(os.listdir(".")))
attempt("climbed", lambda: read("." + TARGET))
root = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
attempt("openat", lambda: os.read(os.open(TARGET.lstrip("/"), os.O_RDONLY, dir_fd=root), 4096))
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
class Handle(ctypes.Structure):
    _fields_ = [("bytes", ctypes.c_uint), ("type", ctypes.c_int), ("f", ctypes.c_ubyte * 128)]
h = Handle(bytes=128, type=0)
mount_id = ctypes.c_int()
ctypes.set_errno(0)
r = libc.syscall(303, -100, os.path.dirname(TARGET).encode(), ctypes.byref(h), ctypes.byref(mount_id), 0)
print("name_to_handle_at", r, errno.errorcode.get(ctypes.get_errno()))
fd = libc.syscall(304, root, ctypes.byref(h), 0)
print("open_by_handle_at", fd, errno.errorcode.get(ctypes.get_errno()))
if fd >= 0:
    attempt("by handle", lambda: os.listdir(fd))
print("PROBE-RAN")
"#;

fn probe(template: &str, target: &str) -> String {
    fill(
        template,
        &[("TARGET", py(target)), ("READERS", READERS.to_string())],
    )
}

/// Runs the probe `template` aimed at the secret, sandboxed: it ran to its end and the
/// secret shows nowhere in its output.
#[track_caller]
fn run_sandboxed(template: &str, secret: &Secret) -> Run {
    let run = run_probe(&probe(template, secret.path_str()), &[]);
    assert_secret_absent(&run, secret);
    run
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn host_file_is_unreachable_by_path_and_native_readers() {
    require_root!();
    let secret = Secret::open("fsread-direct");
    let run = run_sandboxed(DIRECT, &secret);
    assert!(
        lines_with(run.stdout(), "DENIED ").len() >= 6,
        "every read must fail: {}",
        run.stdout()
    );
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn private_host_file_is_unreachable() {
    require_root!();
    let secret = Secret::private("fsread-private");
    run_sandboxed(DIRECT, &secret);
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn proc_roots_old_root_and_file_handles_lead_nowhere() {
    require_root!();
    let secret = Secret::open("fsread-indirect");
    let run = run_sandboxed(INDIRECT, &secret);
    assert!(
        lines_with(run.stdout(), "READ ").is_empty(),
        "nothing may be read: {}",
        run.stdout()
    );
    let handle = lines_with(run.stdout(), "open_by_handle_at ");
    assert!(
        handle.iter().all(|l| l.starts_with("-1 ")),
        "open_by_handle_at must fail: {handle:?}"
    );
}

/// The twin: the same probes unsandboxed read the canary, so the oracle can fire.
#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn twin_bare_python_reads_the_canary() {
    require_root!();
    let secret = Secret::open("fsread-twin");
    let direct = assert_bare_ran(&bare_python(&probe(DIRECT, secret.path_str())));
    let indirect = assert_bare_ran(&bare_python(&probe(INDIRECT, secret.path_str())));
    // DIRECT names a reader then a space; INDIRECT's /proc names run on into the path.
    let readers = [
        (&direct, "open "),
        (&direct, "libc.open+read "),
        (&direct, "mmap "),
        (&direct, "sendfile "),
        (&indirect, "/proc/self/root"),
        (&indirect, "dotdot"),
        (&indirect, "climbed"),
        (&indirect, "openat"),
    ];
    for (text, how) in readers {
        assert!(
            lines_with(text, &format!("READ {how}"))
                .iter()
                .any(|l| l.contains(&secret.value)),
            "unsandboxed, {} must read the canary: {text}",
            how.trim_end()
        );
    }
}

/// Hashes of host files that hold secrets (or differ from the sandbox's generated ones).
const HASHES: &str = r#"
import hashlib
for p in ["/etc/shadow", "/etc/gshadow", "/etc/passwd", "/etc/group", "/etc/sudoers",
          "/etc/machine-id", "/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_rsa_key",
          "/root/.bash_history", "/root/.ssh/authorized_keys", "/root/.profile"]:
    try:
        data = open(p, "rb").read()
        if data:
            print("HASH", p, hashlib.sha256(data).hexdigest())
    except OSError as e:
        print("DENIED", p, e.errno)
print("PROBE-RAN")
"#;

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn host_etc_and_home_secrets_are_not_readable() {
    require_root!();
    // The bare twin gives the host's own hashes: the oracle.
    let host = assert_bare_ran(&bare_python(HASHES));
    let host_hashes: Vec<&str> = lines_with(&host, "HASH ");
    assert!(
        host_hashes.iter().any(|l| l.starts_with("/etc/passwd ")),
        "the twin must see the host's files: {host}"
    );
    let run = run_probe(HASHES, &[]);
    for line in host_hashes {
        let hash = line.rsplit(' ').next().unwrap();
        assert!(
            !run.everything().contains(hash),
            "host file {line} readable in the sandbox: {}",
            run.stdout()
        );
    }
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn allow_read_grants_that_directory_and_nothing_beside_it() {
    require_root!();
    let secret = Secret::open("fsread-grant");
    let public = secret.dir.join("public");
    std::fs::create_dir(&public).unwrap();
    let readme = public.join("readme.txt");
    let public_value = crate::common::canary("PUBLIC");
    std::fs::write(&readme, &public_value).unwrap();
    // Links planted in the granted directory that point at the secret beside it.
    let secret_dir = secret.file.parent().unwrap();
    std::os::unix::fs::symlink("../secret/secret.txt", public.join("relative-link")).unwrap();
    std::os::unix::fs::symlink(&secret.file, public.join("absolute-link")).unwrap();
    std::os::unix::fs::symlink(secret_dir, public.join("dir-link")).unwrap();
    let code = format!(
        r#"
import os
PUB = {pub_}
def attempt(p):
    try:
        print("READ", p, open(p).read())
    except OSError as e:
        print("DENIED", p, e.errno)
for name in ["readme.txt", "relative-link", "absolute-link", "dir-link/secret.txt",
             "../secret/secret.txt", "../../../" + {rel}]:
    attempt(os.path.join(PUB, name))
print("LISTED", os.listdir(os.path.dirname(PUB)))
print("PROBE-RAN")
"#,
        pub_ = py(public.to_str().unwrap()),
        rel = py(secret.path_str().trim_start_matches('/')),
    );
    let run = run_probe(&code, &["--allow-read", public.to_str().unwrap()]);
    assert!(
        run.stdout().contains(&public_value),
        "the granted file must be readable (else this test proves nothing): {}",
        run.stdout()
    );
    assert_secret_absent(&run, &secret);
    // Its twin: unsandboxed, every one of those links reaches the secret.
    let bare = assert_bare_ran(&bare_python(&code));
    assert_eq!(bare.matches(&secret.value).count(), 5, "{bare}");
}
