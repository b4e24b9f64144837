//! What happens to a sandbox when airlock itself is interrupted or killed: nothing of the
//! sandbox outlives it.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Host pids whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<u32> {
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(marker))
                .unwrap_or(false)
        })
        .collect()
}

/// Start `airlock run` on code that spawns a marked, long-sleeping grandchild and says so.
/// The code holds the marker reversed, so only the grandchild's command line shows it.
fn start_marked(marker: &str) -> Child {
    let reversed: String = marker.chars().rev().collect();
    let code = format!(
        "import os, sys, time\n\
         if os.fork() == 0:\n    os.setsid()\n    os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(300)', '{reversed}'[::-1]])\n\
         print('started', flush=True)\ntime.sleep(300)\n"
    );
    common::airlock()
        .args(["run", "--json", "--allow-run", "-c", &code])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Kills the airlock process if the test fails half-way.
struct Reaper(Option<Child>);

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Directories named airlock-* under this process's cgroups (v1 and v2).
fn sandbox_cgroups() -> Vec<String> {
    let mut found = Vec::new();
    for root in [
        "/sys/fs/cgroup/pids",
        "/sys/fs/cgroup/memory",
        "/sys/fs/cgroup/unified",
        "/sys/fs/cgroup",
    ] {
        let walk = Command::new("find")
            .args([root, "-maxdepth", "4", "-type", "d", "-name", "airlock-*"])
            .output();
        if let Ok(out) = walk {
            found.extend(
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .map(String::from),
            );
        }
    }
    found
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn sigint_cancels_the_run_and_leaves_nothing_behind() {
    require_root!();
    let marker = common::canary("sigint");
    let mut reaper = Reaper(Some(start_marked(&marker)));
    let pid = reaper.0.as_ref().unwrap().id();
    wait_until("the marked grandchild", Duration::from_secs(10), || {
        !processes_with(&marker).is_empty()
    });
    Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    let t = Instant::now();
    let out = reaper.0.take().unwrap().wait_with_output().unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "cancel took {:?}",
        t.elapsed()
    );
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["status"], "cancelled", "{result}");
    assert_eq!(result["stdout"], "started\n");
    assert!(
        processes_with(&marker).is_empty(),
        "a sandbox process outlived the run"
    );
    let name = result["sandbox"]["id"]
        .as_str()
        .expect("sandbox id in the result");
    let cg: Vec<String> = sandbox_cgroups();
    assert!(
        cg.iter().all(|d| !d.ends_with(name)),
        "cgroup {name} left behind: {cg:?}"
    );
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn killing_airlock_kills_the_whole_sandbox() {
    require_root!();
    let marker = common::canary("sigkill");
    let reaper = Reaper(Some(start_marked(&marker)));
    wait_until("the marked grandchild", Duration::from_secs(10), || {
        !processes_with(&marker).is_empty()
    });
    // The oracle can fire: the marked process is visible on the host while airlock runs.
    assert!(!processes_with(&marker).is_empty());
    drop(reaper); // SIGKILL to airlock, then reap it
    wait_until(
        "the sandbox to die with airlock",
        Duration::from_secs(3),
        || processes_with(&marker).is_empty(),
    );
}
