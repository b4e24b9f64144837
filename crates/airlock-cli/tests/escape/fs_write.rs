//! FS-WRITE: the code changes nothing of the host and leaves nothing for the next run.
//! Oracles: fingerprints (contents, mode, owner, times) of host files unchanged; no
//! planted file on the host; the next run finds nothing.

use std::fmt::Debug;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::common::{bare_python, Run};
use crate::{
    assert_bare_ran, assert_no_line_with, assert_ran, fill, fingerprint_dir, lines_with, marker,
    py, py_bool, py_list, run_json_env, run_probe, Fingerprint, TempDir,
};

/// The host interpreter's files, as the host sees them.
struct Interpreter {
    exe: PathBuf,
    os_py: PathBuf,
    stdlib: PathBuf,
    purelib: PathBuf,
}

fn interpreter() -> Interpreter {
    let out = bare_python(
        "import json, os, sys, sysconfig\n\
         p = sysconfig.get_paths()\n\
         print(json.dumps([os.path.realpath(sys.executable), os.path.realpath(os.__file__), \
         os.path.realpath(p['stdlib']), os.path.realpath(p['purelib'])]))",
    );
    let v: Vec<PathBuf> = serde_json::from_slice(&out.stdout).expect("describe interpreter");
    Interpreter {
        exe: v[0].clone(),
        os_py: v[1].clone(),
        stdlib: v[2].clone(),
        purelib: v[3].clone(),
    }
}

/// Shared by the probes below: `attempt` prints whether a change went through (`DONE how`)
/// or was refused (`DENIED how errno`).
const ATTEMPT: &str = r#"def attempt(how, f):
    try:
        f()
        print("DONE", how)
    except OSError as e:
        print("DENIED", how, e.errno)"#;

/// `template` with `vars` and the shared [`ATTEMPT`] filled in.
fn probe(template: &str, vars: &[(&str, String)]) -> String {
    let mut vars = vars.to_vec();
    vars.push(("ATTEMPT", ATTEMPT.to_string()));
    fill(template, &vars)
}

/// Tries to change the interpreter, the stdlib and site-packages, also after trying to
/// remount them writable; plants files that a later run would execute.
const TAMPER: &str = r#"
import ctypes, os, sysconfig
M = @MARKER@
exe = os.readlink("/proc/self/exe")
stdlib = sysconfig.get_paths()["stdlib"]
purelib = sysconfig.get_paths()["purelib"]
@ATTEMPT@
def append(p, data):
    with open(p, "ab") as f:
        f.write(data)
def create(p, data):
    with open(p, "xb") as f:
        f.write(data)
libc = ctypes.CDLL(None, use_errno=True)
MS_REMOUNT, MS_BIND = 32, 4096
for d in (stdlib, purelib, os.path.dirname(exe)):
    r = libc.mount(None, d.encode(), None, MS_REMOUNT | MS_BIND, None)
    print("remount", d, r, ctypes.get_errno())
for round in (1, 2):
    # Appending a comment (or trailing bytes to an ELF) is harmless should it ever land.
    attempt("append exe", lambda: append(exe, M.encode()))
    attempt("append /proc/self/exe", lambda: append("/proc/self/exe", M.encode()))
    attempt("append os.py", lambda: append(os.__file__, ("\n# " + M + "\n").encode()))
    attempt("utime os.py", lambda: os.utime(os.__file__, (0, 0)))
    attempt("chmod os.py", lambda: os.chmod(os.__file__, os.stat(os.__file__).st_mode ^ 0o040))
    attempt("link os.py", lambda: os.link(os.__file__, os.path.join(stdlib, M + ".py")))
    for d in (stdlib, purelib):
        attempt("sitecustomize " + d, lambda: create(os.path.join(d, "sitecustomize.py"), ("print(%r)\n" % M).encode()))
        attempt("usercustomize " + d, lambda: create(os.path.join(d, "usercustomize.py"), ("print(%r)\n" % M).encode()))
        attempt("pth " + d, lambda: create(os.path.join(d, M + ".pth"), ("import sys; print(%r)\n" % M).encode()))
        attempt("pycache " + d, lambda: create(os.path.join(d, "__pycache__", M + ".cpython-311.pyc"), b"x"))
        attempt("mkdir " + d, lambda: os.mkdir(os.path.join(d, M)))
print("PROBE-RAN")
"#;

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn interpreter_stdlib_and_site_packages_stay_unchanged() {
    require_root!();
    let py_ = interpreter();
    let files = [&py_.exe, &py_.os_py];
    let before: Vec<Fingerprint> = files.iter().map(|p| Fingerprint::of(p)).collect();
    let m = marker();
    let run = run_probe(&probe(TAMPER, &[("MARKER", py(&m))]), &[]);
    // Planted files are removed before judging, so a failure leaves the host clean.
    let planted: Vec<PathBuf> = [&py_.stdlib, &py_.purelib]
        .iter()
        .flat_map(|d| {
            [
                d.join("sitecustomize.py"),
                d.join("usercustomize.py"),
                d.join(format!("{m}.pth")),
                d.join(format!("{m}.py")),
                d.join(&m),
                d.join("__pycache__").join(format!("{m}.cpython-311.pyc")),
            ]
        })
        .filter(|p| {
            let named = p.to_string_lossy().contains(&m);
            let holds = std::fs::read(p).is_ok_and(|b| String::from_utf8_lossy(&b).contains(&m));
            holds || (named && std::fs::symlink_metadata(p).is_ok())
        })
        .collect();
    for p in &planted {
        let _ = std::fs::remove_file(p).or_else(|_| std::fs::remove_dir(p));
    }
    assert!(planted.is_empty(), "planted on the host: {planted:?}");
    let after: Vec<Fingerprint> = files.iter().map(|p| Fingerprint::of(p)).collect();
    // Undo what the probe's harmless changes would have done, then judge.
    for (b, a) in before.iter().zip(&after) {
        if a.mode != b.mode {
            crate::chmod(&b.path, b.mode & 0o7777);
        }
        if a.len > b.len {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&b.path)
                .unwrap();
            f.set_len(b.len).unwrap();
        }
    }
    assert_eq!(before, after, "host interpreter files changed");
    assert!(
        lines_with(run.stdout(), "DONE ").is_empty(),
        "every write must fail: {}",
        run.stdout()
    );
}

/// Every way to change a directory and the file in it; the grant is read-only.
const MODIFY: &str = r#"
import os
D = @DIR@
V = os.path.join(D, "victim.txt")
@ATTEMPT@
def append(p):
    with open(p, "a") as f:
        f.write("tampered")
attempt("append", lambda: append(V))
attempt("truncate", lambda: os.truncate(V, 1))
attempt("chmod", lambda: os.chmod(V, 0o600))
attempt("utime", lambda: os.utime(V, (0, 0)))
attempt("setxattr", lambda: os.setxattr(V, "user.airlock", b"1"))
attempt("rename", lambda: os.rename(V, V + ".moved"))
attempt("unlink", lambda: os.unlink(V))
attempt("create", lambda: open(os.path.join(D, "new.txt"), "x").close())
attempt("mkdir", lambda: os.mkdir(os.path.join(D, "newdir")))
attempt("symlink", lambda: os.symlink("/", os.path.join(D, "link")))
attempt("mkfifo", lambda: os.mkfifo(os.path.join(D, "fifo")))
attempt("chmod dir", lambda: os.chmod(D, 0o700))
print("PROBE-RAN")
"#;

/// The MODIFY probe aimed at `grant`.
fn modify_probe(grant: &Path) -> String {
    probe(MODIFY, &[("DIR", py(grant.to_str().unwrap()))])
}

fn modifiable_dir(tag: &str) -> (TempDir, PathBuf) {
    let dir = TempDir::new(tag);
    let grant = dir.join("granted");
    std::fs::create_dir(&grant).unwrap();
    // Wide open, so that only the sandbox (not file permissions) can stop the writes.
    crate::chmod(&grant, 0o777);
    let victim = grant.join("victim.txt");
    std::fs::write(&victim, "original").unwrap();
    crate::chmod(&victim, 0o666);
    (dir, grant)
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn read_only_grant_cannot_be_modified() {
    require_root!();
    let (_dir, grant) = modifiable_dir("fswrite-grant");
    let before = fingerprint_dir(&grant);
    let run = run_probe(
        &modify_probe(&grant),
        &["--allow-read", grant.to_str().unwrap()],
    );
    assert_eq!(before, fingerprint_dir(&grant), "{}", run.stdout());
    assert_no_line_with(&run, "DONE ");
}

/// The twin: the same probe unsandboxed changes the directory, and the fingerprint sees it.
#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn twin_bare_python_modifies_the_directory() {
    require_root!();
    let (_dir, grant) = modifiable_dir("fswrite-twin");
    let before = fingerprint_dir(&grant);
    assert_bare_ran(&bare_python(&modify_probe(&grant)));
    assert_ne!(before, fingerprint_dir(&grant));
}

/// Leaves something behind (files in every writable place, a SysV shared memory segment)
/// or, with FIND, looks for what an earlier run left.
const PERSIST: &str = r#"
import ctypes, os
M, DIRS, SYSV, FIND = @MARKER@, @DIRS@, @SYSV@, @FIND@
KEY = int(M[-8:], 16) & 0x7fffffff
libc = ctypes.CDLL(None, use_errno=True)
for d in DIRS:
    p = os.path.join(d, M)
    if FIND:
        names = os.listdir(d) if os.path.isdir(d) else []
        print("FOUND" if any(M in n for n in names) else "CLEAN", d)
    else:
        try:
            with open(p, "w") as f:
                f.write(M)
            print("PLANTED", d)
        except OSError as e:
            print("DENIED", d, e.errno)
if SYSV:
    IPC_CREAT = 0o1000
    shm = libc.shmget(KEY, 4096 if not FIND else 0, (IPC_CREAT if not FIND else 0) | 0o666)
    print(("FOUND" if shm >= 0 else "CLEAN") if FIND else ("PLANTED" if shm >= 0 else "DENIED"), "sysv", shm)
    print("SYSVIPC", open("/proc/sysvipc/shm").read().count(" %d " % KEY))
print("PROBE-RAN")
"#;

fn persist_probe(m: &str, dirs: &[&str], sysv: bool, find: bool) -> String {
    fill(
        PERSIST,
        &[
            ("MARKER", py(m)),
            ("DIRS", py_list(dirs)),
            ("SYSV", py_bool(sysv)),
            ("FIND", py_bool(find)),
        ],
    )
}

fn host_entries_with(m: &str) -> Vec<PathBuf> {
    ["/tmp", "/var/tmp", "/dev/shm"]
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flat_map(|rd| rd.flatten().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().contains(m))
        .collect()
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn next_run_finds_nothing_of_the_last() {
    require_root!();
    let m = format!("{}{:08x}", marker(), std::process::id());
    let dirs = ["/tmp", "/work", "/dev/shm", "/var/tmp"];
    let plant = run_probe(&persist_probe(&m, &dirs, true, false), &[]);
    assert!(
        lines_with(plant.stdout(), "PLANTED ").len() >= 4,
        "the first run must manage to leave things in its own writable places: {}",
        plant.stdout()
    );
    assert!(
        host_entries_with(&m).is_empty(),
        "the run wrote into the host's temp dirs: {:?}",
        host_entries_with(&m)
    );
    let key_line = |t: &str| {
        let key = i64::from_str_radix(&m[m.len() - 8..], 16).unwrap() & 0x7fff_ffff;
        t.lines()
            .any(|l| l.split_whitespace().next() == Some(&key.to_string()))
    };
    let sysvipc = std::fs::read_to_string("/proc/sysvipc/shm").unwrap_or_default();
    assert!(!key_line(&sysvipc), "the run's SysV segment is on the host");
    let find = run_probe(&persist_probe(&m, &dirs, true, true), &[]);
    assert!(
        lines_with(find.stdout(), "FOUND ").is_empty(),
        "the next run found what the last one left: {}",
        find.stdout()
    );
}

/// The twin: unsandboxed, on a shared directory, the second run does find the first's file.
#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn twin_bare_runs_share_what_they_leave() {
    require_root!();
    let dir = TempDir::new("fswrite-persist-twin");
    let m = marker();
    let d = [dir.path().to_str().unwrap()];
    assert_bare_ran(&bare_python(&persist_probe(&m, &d, false, false)));
    let found = assert_bare_ran(&bare_python(&persist_probe(&m, &d, false, true)));
    assert!(lines_with(&found, "FOUND ").len() == 1, "{found}");
}

/// In a granted writable directory: set setuid/setgid bits, create device nodes.
const PRIVILEGED_FILES: &str = r#"
import ctypes, os, stat
D = @DIR@
@ATTEMPT@
with open(os.path.join(D, "plain"), "w") as f:
    f.write("x")
print("WROTE plain")
attempt("chmod setuid", lambda: os.chmod(os.path.join(D, "plain"), 0o4755))
attempt("chmod setgid", lambda: os.chmod(os.path.join(D, "plain"), 0o2755))
attempt("create setuid", lambda: os.close(os.open(os.path.join(D, "created"), os.O_CREAT | os.O_WRONLY, 0o6755)))
fd = os.open(os.path.join(D, "fchmod"), os.O_CREAT | os.O_WRONLY, 0o644)
attempt("fchmod setuid", lambda: os.fchmod(fd, 0o4755))
dev = os.makedev(1, 3)
attempt("mknod chr", lambda: os.mknod(os.path.join(D, "chr"), stat.S_IFCHR | 0o666, dev))
attempt("mknod blk", lambda: os.mknod(os.path.join(D, "blk"), stat.S_IFBLK | 0o666, dev))
libc = ctypes.CDLL(None, use_errno=True)
# The mode with bits above the 32 the filter compares: the kernel takes 32 bits.
r = libc.syscall(ctypes.c_long(259), ctypes.c_long(-100), os.path.join(D, "chr2").encode(),
                 ctypes.c_long((1 << 32) | stat.S_IFCHR | 0o666), ctypes.c_long(dev))
print("mknodat high bits", r, ctypes.get_errno())
print("PROBE-RAN")
"#;

/// A directory the operator allows writes under (via `$AIRLOCK_CONFIG`).
fn write_root(tag: &str) -> (TempDir, PathBuf, PathBuf) {
    let dir = TempDir::new(tag);
    let root = dir.join("writable");
    std::fs::create_dir(&root).unwrap();
    crate::chmod(&root, 0o777);
    let config = dir.join("airlock.toml");
    std::fs::write(
        &config,
        format!("write_roots = [{}]\n", py(root.to_str().unwrap())),
    )
    .unwrap();
    (dir, root, config)
}

/// The PRIVILEGED_FILES probe aimed at `root`.
fn privileged_probe(root: &Path) -> String {
    probe(PRIVILEGED_FILES, &[("DIR", py(root.to_str().unwrap()))])
}

fn run_privileged_files(root: &Path, config: &Path) -> Run {
    let run = run_json_env(
        &privileged_probe(root),
        &["--allow-write", root.to_str().unwrap()],
        &[("AIRLOCK_CONFIG", config.as_os_str())],
    );
    assert_ran(&run);
    assert!(
        run.stdout().contains("WROTE plain"),
        "the write grant must work (else this test proves nothing): {:#}",
        run.result
    );
    run
}

/// Files under `dir` with a setuid/setgid bit, and device nodes.
fn privileged_files(dir: &Path) -> (Vec<(PathBuf, u32)>, Vec<PathBuf>) {
    let mut suid = Vec::new();
    let mut devices = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let meta = std::fs::symlink_metadata(e.path()).unwrap();
        let mode = meta.permissions().mode();
        if mode & 0o6000 != 0 {
            suid.push((e.path(), mode));
        }
        let ft = meta.file_type();
        if ft.is_char_device() || ft.is_block_device() {
            devices.push(e.path());
        }
    }
    (suid, devices)
}

/// Runs the PRIVILEGED_FILES probe in a fresh write root (tagged `tag`): the setuid files
/// and device nodes it left there, and the run.
fn privileged_files_left_by_a_run(tag: &str) -> (Vec<(PathBuf, u32)>, Vec<PathBuf>, Run) {
    let (_dir, root, config) = write_root(tag);
    let run = run_privileged_files(&root, &config);
    let (suid, devices) = privileged_files(&root);
    (suid, devices, run)
}

/// Panic, showing the probe's output, if `found` (`what` the run left on the host) is
/// not empty.
#[track_caller]
fn assert_none_left<T: Debug>(found: &[T], what: &str, run: &Run) {
    assert!(
        found.is_empty(),
        "{what} on the host: {found:?}\n{}",
        run.stdout()
    );
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn granted_write_dir_gets_no_device_nodes() {
    require_root!();
    let (_, devices, run) = privileged_files_left_by_a_run("fswrite-dev");
    assert_none_left(&devices, "device nodes", &run);
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn granted_write_dir_gets_no_setuid_files() {
    require_root!();
    let (suid, _, run) = privileged_files_left_by_a_run("fswrite-suid");
    assert_none_left(&suid, "setuid/setgid files", &run);
}

/// The twin: unsandboxed, the probe does leave setuid files and device nodes (a null
/// device, in the test's own directory), and the oracle sees them.
#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn twin_bare_python_leaves_setuid_files_and_devices() {
    require_root!();
    let (_dir, root, _config) = write_root("fswrite-suid-twin");
    assert_bare_ran(&bare_python(&privileged_probe(&root)));
    let (suid, devices) = privileged_files(&root);
    assert!(!suid.is_empty() && !devices.is_empty());
}
