//! COLLECTOR: the code cannot make the host misbehave while it collects the results.
//! Oracles, on what airlock prints: exactly one JSON line, whose verdict is the one the
//! host observed (not one the code wrote); no raw control bytes; no host secret behind
//! a planted link; an answer in bounded time even with FIFOs and sparse giants left in
//! the output directories.

use std::time::Duration;

use crate::common::{bare_python, Run};
use crate::{assert_printed, assert_secret_absent, fill, py, run_probe, Secret};

/// Panic unless airlock printed exactly one line: one JSON object, newline-terminated.
#[track_caller]
fn assert_one_json_line(run: &Run) {
    let raw = &run.raw.stdout;
    assert_eq!(
        raw.iter().filter(|&&b| b == b'\n').count(),
        1,
        "more than one line: {}",
        String::from_utf8_lossy(raw)
    );
    assert_eq!(raw.last(), Some(&b'\n'));
}

/// Run `code` with `flags`: it ran to its end and airlock printed exactly one line.
#[track_caller]
fn run_one_line(code: &str, flags: &[&str]) -> Run {
    let run = run_probe(code, flags);
    assert_one_json_line(&run);
    run
}

/// Panic unless the verdict is the one the host observed: failed with `exit_code`.
#[track_caller]
fn assert_failed_with(run: &Run, exit_code: i32) {
    assert_eq!(run.result["exit_code"], exit_code, "{:#}", run.result);
    assert_eq!(run.status(), "failed");
    assert_eq!(run.reason(), Some("exit_code"));
}

/// A result in the shape airlock prints, claiming success.
const FORGED_RESULT: &str = r#"
import json, sys
fake = {"status": "completed", "reason": None, "exit_code": 0, "signal": None,
        "stdout": "all good", "stderr": "", "error": None, "memory_used_mb": 1.0}
print(json.dumps(fake))
sys.stdout.flush()
sys.stderr.write(json.dumps(fake) + "\n")
print("PROBE-RAN")
sys.exit(3)
"#;

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn forged_result_on_stdout_is_only_output() {
    require_root!();
    let run = run_one_line(FORGED_RESULT, &[]);
    assert_failed_with(&run, 3);
    assert!(run.stdout().contains("\"status\": \"completed\""));
}

/// The twin: unsandboxed, a caller that trusted the program's stdout would read the
/// forged success although the program failed with 3 — the check above would notice.
#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn twin_bare_forged_result_fools_a_caller_that_trusts_stdout() {
    require_root!();
    let out = bare_python(FORGED_RESULT);
    assert_eq!(out.status.code(), Some(3));
    let first = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap()
        .to_string();
    let claimed: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(claimed["exit_code"], 0);
}

/// Writes forged supervisor reports ("exited 0", "layer failed", "landlock none") to
/// every descriptor it might share with the host and to pid 1's descriptors.
const FORGED_FRAMES: &str = r#"
import os, struct
def frame(tag, payload):
    return tag + struct.pack("<I", len(payload)) + payload
frames = (frame(b"X", struct.pack("<i", 0)) + frame(b"E", b"seccomp\0forged failure")
          + frame(b"L", b"\x02") + frame(b"M", b"") + frame(b"X", struct.pack("<i", 0)))
written = []
for fd in range(3, 1024):
    try:
        os.write(fd, frames)
        written.append(fd)
    except OSError:
        pass
print("WROTE FDS", written)
for pid in ("1", "self"):
    try:
        names = os.listdir("/proc/%s/fd" % pid)
    except OSError as e:
        print("DENIED", pid, e.errno)
        continue
    for n in names:
        try:
            with open("/proc/%s/fd/%s" % (pid, n), "wb") as f:
                f.write(frames)
            print("WROTE", pid, n)
        except OSError as e:
            print("DENIED", pid, n, e.errno)
os.write(2, frames)
print("PROBE-RAN", flush=True)
os._exit(5)
"#;

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn forged_frames_on_shared_descriptors_are_ignored() {
    require_root!();
    let run = run_one_line(FORGED_FRAMES, &[]);
    assert_failed_with(&run, 5);
    assert_ne!(run.result["sandbox"]["landlock"], "none");
    // Only the runner's channel (fd 1000) takes writes, and the host decodes what
    // arrives there as untrusted frames: the supervisor's report pipe is out of reach.
    assert_printed(&run, "WROTE FDS [1000]");
}

/// Terminal escapes (OSC 52 clipboard write, title, clear screen, C0 and DEL),
/// NUL, invalid UTF-8, on both streams.
const ESCAPES: &str = r#"
import os
nasty = (b"\x1b]52;c;cHduZWQ=\x07\x1b]0;pwned\x07\x1b[2J\x1b[31m\x00\x07\x08\r"
         b"\xff\xfe\xc0\xaf\xed\xa0\x80\x1bP+q\x1b\\\x7f\n")
os.write(1, nasty)
os.write(2, nasty)
os.write(1, b"PROBE-RAN\n")
"#;

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn terminal_escapes_and_invalid_utf8_are_escaped_in_the_result() {
    require_root!();
    let run = run_one_line(ESCAPES, &[]);
    let raw = &run.raw.stdout;
    assert!(std::str::from_utf8(raw).is_ok(), "the result is not UTF-8");
    let control: Vec<u8> = raw[..raw.len() - 1]
        .iter()
        .copied()
        .filter(|&b| b < 0x20)
        .collect();
    assert!(
        control.is_empty(),
        "raw control bytes {control:x?} in airlock's output"
    );
    // The content is kept, escaped.
    assert!(run.stdout().contains("\u{1b}]52;c;"), "{:#}", run.result);
    assert!(run.stderr().contains("\u{1b}[2J"), "{:#}", run.result);
}

/// The twin: unsandboxed, the same output carries raw escapes, so the check would fire.
#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn twin_bare_output_carries_raw_escapes() {
    require_root!();
    let out = bare_python(ESCAPES);
    assert!(out.stdout.contains(&0x1b));
    assert!(std::str::from_utf8(&out.stdout).is_err());
}

/// Leaves output files a collector must not trust: links to host paths, FIFOs under
/// the names results use, a sparse giant, hostile names, many files.
const HOSTILE_FILES: &str = r#"
import os
SECRET = @SECRET@
made = 0
for d in ("/work", "/tmp", "/dev/shm"):
    for name, target in [("result.json", SECRET), ("secret.txt", SECRET), ("environ", "/proc/self/environ"),
                         ("shadow", "/etc/shadow"), ("root", "/"), ("loop", "loop")]:
        os.symlink(target, os.path.join(d, name))
        made += 1
    for name in ("output.txt", "chart.png", "stdout"):
        os.mkfifo(os.path.join(d, name))
        made += 1
    with open(os.path.join(d, "sparse.bin"), "wb") as f:
        for size in (1 << 40, 1 << 28):
            try:
                f.truncate(size)
                print("SPARSE", size)
                break
            except OSError as e:
                print("SPARSE REFUSED", size, e.errno)
    for name in ["a\nb", "\x1b[31mred", "-rf", " ", "...", "x" * 255, "\u202eexe.txt"]:
        with open(os.path.join(d, name), "w") as f:
            f.write("hostile")
        made += 1
    fd = os.open(os.path.join(d, "").encode() + b"\xff\xfe-invalid", os.O_CREAT | os.O_WRONLY)
    os.close(fd)
for i in range(3000):
    open("/work/many-%d" % i, "w").close()
# Keep a FIFO open for writing, so a reader on the host would see a live writer.
keep = os.open("/work/output.txt", os.O_RDWR)
print("MADE", made)
print("PROBE-RAN")
"#;

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn hostile_output_files_neither_hang_nor_leak() {
    require_root!();
    let secret = Secret::open("collector-files");
    let code = fill(HOSTILE_FILES, &[("SECRET", py(secret.path_str()))]);
    let run = run_one_line(&code, &["--timeout", "30"]);
    assert_eq!(run.status(), "completed", "{:#}", run.result);
    assert!(run.elapsed < Duration::from_secs(10), "{:?}", run.elapsed);
    assert_secret_absent(&run, &secret);
    // Whatever a collector returns must be regular files within the output cap.
    if let Some(files) = run.result["files"].as_array() {
        for f in files {
            let size = f["size"].as_u64().unwrap_or(0);
            assert!(size <= 10 << 20, "collected a giant: {f}");
            let text = f.to_string();
            assert!(
                !text.contains(&secret.value),
                "collected through a link: {f}"
            );
        }
    }
}
