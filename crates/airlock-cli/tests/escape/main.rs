//! The escape suite: every threat category of `shared/docs/THREATS.md`, attacked from
//! inside the real jail (`airlock run --json`, one process per case) and judged by a
//! host-side oracle — a canary file, a file fingerprint, a loopback listener, a sentinel
//! process, a scan of the host's `/proc`. Each category also has a twin that runs the
//! same probe unsandboxed (or does the forbidden thing on the host directly) and shows
//! the oracle notices, so no test here can pass because its oracle is blind.
//!
//! Every probe ends by printing `PROBE-RAN` and every test checks it ([`assert_ran`]): a
//! probe that never ran proves nothing. The suite needs root (per-box host uids, cgroup
//! creation) and says so loudly when it is not; CI runs it as root.
//!
//! Twins are harmless by construction: they write only inside a directory the test
//! created, signal only a sentinel the test spawned, and send traffic only to loopback
//! listeners the test bound.

#[path = "../common/mod.rs"]
#[macro_use]
mod common;

mod collector;
mod fd;
mod fs_read;
mod fs_write;
mod info;
mod kernel;
mod net;
mod ns;
mod res;
mod signal;

use std::collections::hash_map::DefaultHasher;
use std::ffi::OsStr;
use std::hash::{Hash, Hasher};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{run_json, Run};

/// What every probe prints last.
pub const RAN: &str = "PROBE-RAN";

/// Panic unless the probe's code ran to its end (it printed [`RAN`]).
#[track_caller]
pub fn assert_ran(run: &Run) {
    // Shown by the test runner only for a failing test (or with --no-capture).
    eprintln!(
        "sandbox stdout:\n{}\nsandbox stderr:\n{}",
        run.stdout(),
        run.stderr()
    );
    assert!(
        run.stdout().contains(RAN),
        "the probe did not run to its end, so it proves nothing: {:#}",
        run.result
    );
}

/// Run the probe `code` sandboxed (`airlock run --json FLAGS`); panic unless it ran to
/// its end ([`assert_ran`]).
#[track_caller]
pub fn run_probe(code: &str, flags: &[&str]) -> Run {
    let run = run_json(code, flags);
    assert_ran(&run);
    run
}

/// Start `run_json(code, flags)` on a thread of its own (a run the test watches, or
/// attacks, from the host while it goes on).
pub fn spawn_run(code: String, flags: &[&str]) -> JoinHandle<Run> {
    let flags: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
    std::thread::spawn(move || {
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        run_json(&code, &flags)
    })
}

/// Panic unless `text` (bare probe output) shows the probe ran.
#[track_caller]
pub fn assert_bare_ran(out: &Output) -> String {
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(RAN), "the bare twin did not run: {text}");
    text
}

/// A Python string literal for `s` (JSON string syntax is valid Python).
pub fn py(s: impl AsRef<str>) -> String {
    serde_json::to_string(s.as_ref()).expect("encode string")
}

/// A Python list literal of the strings `items`.
pub fn py_list(items: &[&str]) -> String {
    format!("[{}]", items.iter().map(py).collect::<Vec<_>>().join(", "))
}

/// A Python bool literal.
pub fn py_bool(b: bool) -> String {
    if b { "True" } else { "False" }.to_string()
}

/// Replace each `@NAME@` in a probe template with its value (already Python source).
pub fn fill(template: &str, vars: &[(&str, String)]) -> String {
    let mut code = template.to_string();
    for (name, value) in vars {
        let placeholder = format!("@{name}@");
        assert!(
            code.contains(&placeholder),
            "{placeholder} not in the probe"
        );
        code = code.replace(&placeholder, value);
    }
    for (i, _) in code.match_indices('@') {
        let rest = &code[i + 1..];
        if let Some(word) = rest.find('@').map(|end| &rest[..end]) {
            let placeholder =
                !word.is_empty() && word.bytes().all(|b| b.is_ascii_uppercase() || b == b'_');
            assert!(!placeholder, "unfilled placeholder @{word}@ in probe");
        }
    }
    code
}

/// A short unique marker (≤ 15 bytes, so it also fits a thread name in `comm`).
pub fn marker() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut h = DefaultHasher::new();
    (nanos, std::process::id()).hash(&mut h);
    format!("alk{:012x}", h.finish() & 0xffff_ffff_ffff)
}

/// `airlock run --json FLAGS -c CODE` as argv (for launchers and extra environment).
pub fn airlock_argv(code: &str, flags: &[&str]) -> Vec<String> {
    let mut argv = vec![
        env!("CARGO_BIN_EXE_airlock").to_string(),
        "run".into(),
        "--json".into(),
    ];
    argv.extend(flags.iter().map(|f| f.to_string()));
    argv.push("-c".into());
    argv.push(code.into());
    argv
}

/// `run_json` with extra environment variables for the airlock process.
pub fn run_json_env(code: &str, flags: &[&str], env: &[(&str, &OsStr)]) -> Run {
    let mut cmd = common::json_command(code, flags);
    cmd.envs(env.iter().copied());
    common::run_json_cmd(cmd)
}

/// A host directory of one test, removed (with everything in it) when dropped.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        TempDir(common::temp_dir(tag))
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
    pub fn chmod(&self, mode: u32) {
        chmod(&self.0, mode);
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A canary secret in a file on the host, in a directory of the test's own.
#[derive(Debug)]
pub struct Secret {
    pub dir: TempDir,
    pub file: PathBuf,
    pub value: String,
}

impl Secret {
    /// A canary anyone on the host may read (0644 in a 0755 directory): file
    /// permissions cannot be what keeps it from the sandbox, only its mount view can.
    pub fn open(tag: &str) -> Secret {
        Secret::create(tag, 0o755, 0o644)
    }

    /// A canary only root may read (0600 in a 0700 directory).
    pub fn private(tag: &str) -> Secret {
        Secret::create(tag, 0o700, 0o600)
    }

    fn create(tag: &str, dir_mode: u32, file_mode: u32) -> Secret {
        let dir = TempDir::new(tag);
        dir.chmod(0o755);
        let holder = dir.join("secret");
        std::fs::create_dir(&holder).unwrap();
        chmod(&holder, dir_mode);
        let file = holder.join("secret.txt");
        let value = common::canary(&format!("{tag}-SECRET"));
        std::fs::write(&file, format!("{value}\n")).unwrap();
        chmod(&file, file_mode);
        Secret { dir, file, value }
    }

    pub fn path_str(&self) -> &str {
        self.file.to_str().unwrap()
    }
}

/// Panic if the secret shows anywhere in what the caller of the sandbox sees.
#[track_caller]
pub fn assert_secret_absent(run: &Run, secret: &Secret) {
    assert!(
        !run.everything().contains(&secret.value)
            && !String::from_utf8_lossy(&run.raw.stdout).contains(&secret.value),
        "the host secret leaked into the sandbox's output: {:#}",
        run.result
    );
}

/// Panic if `value` (something only the host holds) shows in what the caller of the
/// sandbox sees.
#[track_caller]
pub fn assert_not_shown(run: &Run, value: &str) {
    assert!(!run.everything().contains(value), "{}", run.stdout());
}

/// What a host file is: contents hash, size, mode, owner, times, inode.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Fingerprint {
    pub path: PathBuf,
    pub content: Option<u64>,
    pub len: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
    pub ino: u64,
}

impl Fingerprint {
    pub fn of(path: &Path) -> Fingerprint {
        let meta = std::fs::symlink_metadata(path)
            .unwrap_or_else(|e| panic!("fingerprint {}: {e}", path.display()));
        let content = if meta.is_file() {
            let mut h = DefaultHasher::new();
            let mut f = std::fs::File::open(path).unwrap();
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = f.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                buf[..n].hash(&mut h);
            }
            Some(h.finish())
        } else {
            None
        };
        Fingerprint {
            path: path.to_path_buf(),
            content,
            len: meta.len(),
            mode: meta.mode(),
            uid: meta.uid(),
            gid: meta.gid(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
            ino: meta.ino(),
        }
    }
}

/// Fingerprints of a directory and everything directly in it, sorted by name.
pub fn fingerprint_dir(dir: &Path) -> Vec<Fingerprint> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    let mut out = vec![Fingerprint::of(dir)];
    out.extend(names.iter().map(|p| Fingerprint::of(p)));
    out
}

/// A process the test spawned to be the target of attacks; killed when dropped.
#[derive(Debug)]
pub struct Sentinel(pub Child);

impl Sentinel {
    pub fn spawn() -> Sentinel {
        let child = Command::new("sleep")
            .arg("300")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sentinel `sleep 300`");
        Sentinel(child)
    }
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
    /// Still running (not exited, not a zombie).
    pub fn alive(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(None))
    }
    /// The sentinel's `TracerPid` from its /proc status (0: nobody traces it).
    pub fn tracer(&self) -> u32 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("TracerPid:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap()
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Host processes whose command line or any thread name contains `marker`.
pub fn processes_with(marker: &str) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let dir = entry.path();
        let cmdline = std::fs::read(dir.join("cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default();
        let mut names = vec![cmdline];
        if let Ok(tasks) = std::fs::read_dir(dir.join("task")) {
            for t in tasks.flatten() {
                if let Ok(comm) = std::fs::read_to_string(t.path().join("comm")) {
                    names.push(comm);
                }
            }
        }
        if let Some(hit) = names.into_iter().find(|n| n.contains(marker)) {
            found.push((pid, hit.trim().to_string()));
        }
    }
    found
}

/// Panic if a process carrying `marker` still exists `grace` after the run ended (the
/// kernel tears a dead pid namespace down asynchronously; a process of it that is still
/// there after the grace period outlived the sandbox).
#[track_caller]
pub fn assert_no_process_left(marker: &str, grace: Duration) {
    let mut left = Vec::new();
    let gone = poll(grace, Duration::from_millis(20), || {
        left = processes_with(marker);
        left.is_empty()
    });
    if !gone {
        panic!("processes of the sandbox outlived it: {left:?}");
    }
}

/// Ask `done` every `step` until it says yes (true) or `wait` has passed (false); it is
/// asked at least once, the last time at or after the deadline.
pub fn poll(wait: Duration, step: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + wait;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(step);
    }
}

/// The run ended within its timeout plus one second (as the host measured it, setup
/// included).
#[track_caller]
pub fn assert_ended_within(run: &Run, timeout_secs: f64) {
    let limit = Duration::from_secs_f64(timeout_secs + 1.0);
    assert!(
        run.elapsed <= limit,
        "the run took {:?}, more than its timeout {timeout_secs}s + 1s: {:#}",
        run.elapsed,
        run.result
    );
}

/// The host charged the run no more than `limit_mb` MB of memory at its peak (5 %
/// slack); `what` names the run in the message.
#[track_caller]
pub fn assert_memory_within(run: &Run, limit_mb: u64, what: &str) {
    let used = run.result["memory_used_mb"].as_f64().unwrap();
    assert!(
        used <= limit_mb as f64 * 1.05,
        "{what}: peak {used} MB above the {limit_mb} MB limit"
    );
}

/// Lines of probe output that start with `prefix`, prefix removed.
pub fn lines_with<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.lines()
        .filter_map(|l| l.strip_prefix(prefix))
        .collect()
}

/// Panic if a line of the probe's output starts with `prefix` (something that must not
/// have happened).
#[track_caller]
pub fn assert_no_line_with(run: &Run, prefix: &str) {
    assert!(
        lines_with(run.stdout(), prefix).is_empty(),
        "{}",
        run.stdout()
    );
}

/// Panic unless the probe printed `text`.
#[track_caller]
pub fn assert_printed(run: &Run, text: &str) {
    assert!(run.stdout().contains(text), "{}", run.stdout());
}

/// Run the host interpreter with extra environment (a bare twin that needs it).
pub fn bare_python_env(code: &str, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(common::host_python());
    cmd.args(["-c", code]).stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run bare python")
}

/// A loopback TCP listener on the host: did anyone connect?
#[derive(Debug)]
pub struct TcpTrap {
    listener: std::net::TcpListener,
    pub port: u16,
}

impl TcpTrap {
    /// On 127.0.0.1, a free port.
    pub fn v4() -> TcpTrap {
        TcpTrap::bind("127.0.0.1:0").expect("bind 127.0.0.1")
    }
    /// On [::1], a free port (None when the host has no IPv6 loopback).
    pub fn v6() -> Option<TcpTrap> {
        TcpTrap::bind("[::1]:0").ok()
    }
    fn bind(addr: &str) -> std::io::Result<TcpTrap> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        Ok(TcpTrap { listener, port })
    }
    /// True if a connection arrived (or arrives within `wait`).
    pub fn saw_connection(&self, wait: Duration) -> bool {
        poll(wait, Duration::from_millis(10), || {
            match self.listener.accept() {
                Ok(_) => true,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => false,
                Err(e) => panic!("accept: {e}"),
            }
        })
    }
}

/// A loopback UDP socket on the host: did any datagram arrive?
#[derive(Debug)]
pub struct UdpTrap {
    socket: std::net::UdpSocket,
    pub port: u16,
}

impl UdpTrap {
    pub fn bind(addr: &str) -> Option<UdpTrap> {
        let socket = std::net::UdpSocket::bind(addr).ok()?;
        socket.set_nonblocking(true).ok()?;
        let port = socket.local_addr().ok()?.port();
        Some(UdpTrap { socket, port })
    }
    pub fn saw_datagram(&self, wait: Duration) -> bool {
        let mut buf = [0u8; 2048];
        poll(wait, Duration::from_millis(10), || {
            match self.socket.recv_from(&mut buf) {
                Ok(_) => true,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => false,
                Err(e) => panic!("recv: {e}"),
            }
        })
    }
}

/// How long a trap keeps listening after the run ended (connections made during the
/// run are already queued; this only covers stragglers).
pub const TRAP_WAIT: Duration = Duration::from_millis(300);

/// Shared by the probes: name the calling thread (visible on the host in `comm`).
pub const NAME_THREAD: &str = r#"
import ctypes
_libc = ctypes.CDLL(None, use_errno=True)
def name_thread(name):
    _libc.prctl(15, name.encode(), 0, 0, 0)
"#;

/// A probe that names its threads: `template` filled with `vars`, after [`NAME_THREAD`].
pub fn with_name_thread(template: &str, vars: &[(&str, String)]) -> String {
    format!("{NAME_THREAD}\n{}", fill(template, vars))
}

/// A probe whose `@MARKER@` is the thread name `m` (see [`with_name_thread`]).
pub fn with_marker(template: &str, m: &str) -> String {
    with_name_thread(template, &[("MARKER", py(m))])
}

/// Host task directories (`/proc/PID/task/TID`) of threads named `m`.
pub fn tasks_named(m: &str) -> Vec<PathBuf> {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .flatten()
        .filter_map(|p| std::fs::read_dir(p.path().join("task")).ok())
        .flat_map(|tasks| tasks.flatten())
        .map(|t| t.path())
        .filter(|t| std::fs::read_to_string(t.join("comm")).is_ok_and(|c| c.trim() == m))
        .collect()
}

/// How many host threads are named `m`.
pub fn threads_named(m: &str) -> usize {
    tasks_named(m).len()
}

/// Wait until a thread named `m` exists on the host (a sandboxed program announcing
/// it is ready); false after `wait`.
pub fn wait_for_thread(m: &str, wait: Duration) -> bool {
    poll(wait, Duration::from_millis(20), || threads_named(m) > 0)
}
