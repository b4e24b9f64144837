//! FD: the code uses no descriptor it did not open itself. Airlock is started by a
//! launcher that leaks descriptors into it on purpose (a directory, as in
//! CVE-2024-21626, and the secret file itself, also at numbers ≥ 1024), or gives it a
//! terminal on stdin. Oracles: the canary never shows; only stdio exists in the sandbox;
//! nothing is injected into the host's terminal.

use std::process::Command;

use crate::common::{host_python, run_json_cmd, Run};
use crate::{
    airlock_argv, assert_bare_ran, assert_printed, assert_ran, assert_secret_absent, fill,
    lines_with, marker, py, Secret, TempDir,
};

/// Host-side launcher: leaks `cfg.leak` ([path, fd number]) as inheritable descriptors,
/// optionally puts a pty on stdin, runs argv, reports what the pty saw.
const LAUNCHER: &str = r#"
import json, os, pty, resource, subprocess, sys, time
cfg = json.loads(sys.argv[1])
argv = sys.argv[2:]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if soft < 2048 and (hard == resource.RLIM_INFINITY or hard >= 2048):
    resource.setrlimit(resource.RLIMIT_NOFILE, (2048, hard))
soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
leaked = []
for path, at in cfg["leak"]:
    fd = os.open(path, os.O_RDONLY)
    at = min(at, soft - 1 - len(leaked))
    os.dup2(fd, at)
    os.close(fd)
    leaked.append(at)
stdin, master, slave = subprocess.DEVNULL, None, None
if cfg["pty"]:
    master, slave = pty.openpty()
    stdin = slave
p = subprocess.run(argv, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=False)
report = {"leaked": leaked, "tty": ""}
if master is not None:
    time.sleep(0.1)
    seen = b""
    for fd in (master, slave):
        os.set_blocking(fd, False)
        try:
            seen += os.read(fd, 65536)
        except OSError:
            pass
    report["tty"] = seen.decode("latin-1")
with open(cfg["report"], "w") as f:
    json.dump(report, f)
sys.stdout.buffer.write(p.stdout)
sys.stderr.buffer.write(p.stderr)
sys.exit(p.returncode)
"#;

/// Looks at every descriptor it might have inherited and tries to use it: climb out of
/// a directory one (fchdir), read a file one, inject input into a terminal one.
const PROBE: &str = r#"
import fcntl, os, stat, termios
NAME, INJECT = @NAME@, @INJECT@
print("FDS", sorted(int(x) for x in os.listdir("/proc/self/fd")))
found = []
for fd in range(0, 70000):
    try:
        st = os.fstat(fd)
    except OSError:
        continue
    found.append(fd)
    if stat.S_ISDIR(st.st_mode):
        try:
            print("READ", fd, open("/proc/self/fd/%d/%s" % (fd, NAME)).read())
        except OSError:
            pass
        try:
            os.fchdir(fd)
            for _ in range(8):
                try:
                    print("READ", fd, open(NAME).read())
                except OSError:
                    pass
                os.chdir("..")
        except OSError as e:
            print("FCHDIR", fd, e.errno)
    elif stat.S_ISREG(st.st_mode):
        try:
            print("READ", fd, os.pread(fd, 4096, 0))
        except OSError:
            pass
print("OPEN", found)
for fd in (0, 1, 2):
    print("ISATTY", fd, os.isatty(fd))
    try:
        for ch in INJECT:
            fcntl.ioctl(fd, termios.TIOCSTI, ch.encode())
        print("TIOCSTI", fd, "DONE")
    except OSError as e:
        print("TIOCSTI", fd, e.errno)
try:
    os.open("/dev/tty", os.O_RDWR)
    print("DEVTTY opened")
except OSError as e:
    print("DEVTTY", e.errno)
print("PROBE-RAN")
"#;

struct Launch {
    _dir: TempDir,
    report: std::path::PathBuf,
    inject: String,
}

impl Launch {
    /// A canary secret (tagged `tag`) and a launch (tagged `tag-launch`) to leak it with.
    fn new(tag: &str) -> (Secret, Launch) {
        let secret = Secret::open(tag);
        let dir = TempDir::new(&format!("{tag}-launch"));
        let report = dir.join("report.json");
        let launch = Launch {
            _dir: dir,
            report,
            inject: format!("{}\n", marker()),
        };
        (secret, launch)
    }

    /// The launcher command: leaks the secret's directory and file, runs `argv`.
    fn command(&self, secret: &Secret, pty: bool, argv: &[String]) -> Command {
        let dir = secret.file.parent().unwrap();
        let cfg = serde_json::json!({
            "leak": [[dir, 7], [&secret.file, 1023], [dir, 1500], [&secret.file, 1900]],
            "pty": pty,
            "report": &self.report,
        });
        let mut cmd = Command::new(host_python());
        cmd.arg("-c").arg(LAUNCHER).arg(cfg.to_string()).args(argv);
        cmd
    }

    fn probe(&self, secret: &Secret) -> String {
        fill(
            PROBE,
            &[
                (
                    "NAME",
                    py(secret.file.file_name().unwrap().to_str().unwrap()),
                ),
                ("INJECT", py(&self.inject)),
            ],
        )
    }

    fn report(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(&self.report).unwrap()).unwrap()
    }

    /// What the launcher's terminal saw.
    fn tty(&self) -> String {
        self.report()["tty"].as_str().unwrap().to_string()
    }

    /// The probe, sandboxed, run to its end.
    fn sandboxed(&self, secret: &Secret, pty: bool) -> Run {
        let run = run_json_cmd(self.command(secret, pty, &airlock_argv(&self.probe(secret), &[])));
        assert_ran(&run);
        run
    }

    fn bare(&self, secret: &Secret, pty: bool) -> String {
        let argv = [
            host_python().to_string_lossy().into_owned(),
            "-c".into(),
            self.probe(secret),
        ];
        let out = self.command(secret, pty, &argv).output().unwrap();
        assert_bare_ran(&out)
    }
}

fn leaked_numbers(report: &serde_json::Value) -> Vec<u64> {
    report["leaked"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_u64())
        .collect()
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn inherited_descriptors_are_closed_before_the_code_runs() {
    require_root!();
    let (secret, launch) = Launch::new("fd-leak");
    let run = launch.sandboxed(&secret, false);
    let leaked = leaked_numbers(&launch.report());
    assert!(leaked.len() == 4, "the launcher must leak: {leaked:?}");
    assert_secret_absent(&run, &secret);
    // Stdio and the runner's own channel to the host (fd 1000, close-on-exec).
    assert_eq!(
        lines_with(run.stdout(), "OPEN "),
        ["[0, 1, 2, 1000]"],
        "only stdio and the runner's channel may exist in the sandbox (leaked into airlock: {leaked:?}): {}",
        run.stdout()
    );
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn terminal_of_the_caller_is_not_passed_in() {
    require_root!();
    let (secret, launch) = Launch::new("fd-tty");
    let run = launch.sandboxed(&secret, true);
    for fd in 0..3 {
        assert_printed(&run, &format!("ISATTY {fd} False"));
    }
    assert!(
        lines_with(run.stdout(), "TIOCSTI ")
            .iter()
            .all(|l| !l.ends_with("DONE")),
        "{}",
        run.stdout()
    );
    let tty = launch.tty();
    assert!(
        !tty.contains(launch.inject.trim()),
        "input was injected into the caller's terminal: {tty:?}"
    );
}

/// The twin: the same launcher and probe without the sandbox — the leaked directory lets
/// the probe read the canary, and TIOCSTI lands in the terminal.
#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn twin_bare_python_uses_what_it_inherits() {
    require_root!();
    let (secret, launch) = Launch::new("fd-twin");
    let text = launch.bare(&secret, true);
    assert!(text.contains(&secret.value), "{text}");
    let tty = launch.tty();
    assert!(
        tty.contains(launch.inject.trim()),
        "TIOCSTI unsandboxed must reach the terminal: {tty:?}\n{text}"
    );
}
