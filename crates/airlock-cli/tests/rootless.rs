//! Airlock without root: the sandbox user maps to the caller's own uid (rootless user
//! namespaces), it works in a cgroup delegated to that user, and it fails closed, naming
//! the cgroup layer, where no cgroup is delegated.
//!
//! The test runs as root only to set the scene (a delegated cgroup, a copy of the binary
//! that an unprivileged user can execute) and then runs `airlock` as `nobody`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const NOBODY: u32 = 65534;

/// The cgroup directories of this process, one per hierarchy airlock uses.
fn own_cgroup_dirs() -> Vec<PathBuf> {
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mut dirs = Vec::new();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let (l, r): (Vec<&str>, Vec<&str>) =
            (left.split(' ').collect(), right.split(' ').collect());
        let (root, point, fstype, opts) = (l[3], l[4], r[0], r[2]);
        let path = cgroups.lines().find_map(|c| {
            let mut parts = c.splitn(3, ':');
            let (_, ctrl, path) = (parts.next()?, parts.next()?, parts.next()?);
            let wanted = match fstype {
                "cgroup2" => ctrl.is_empty(),
                "cgroup" => ctrl.split(',').any(|c| {
                    ["memory", "pids", "cpu", "cpuacct"].contains(&c)
                        && opts.split(',').any(|o| o == c)
                }),
                _ => false,
            };
            wanted.then(|| path.to_string())
        });
        if let Some(path) = path {
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .trim_start_matches('/');
            dirs.push(Path::new(point).join(rel));
        }
    }
    dirs
}

fn on_cgroup_v1() -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.contains(" - cgroup ") && l.contains("memory"))
}

/// A copy of the binary that `nobody` can execute, in a temp dir removed on drop.
struct Scene {
    dir: PathBuf,
    cgroups: Vec<PathBuf>,
}

impl Drop for Scene {
    fn drop(&mut self) {
        for cg in self.cgroups.iter().rev() {
            let _ = std::fs::remove_dir(cg);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn scene(tag: &str, delegate: bool) -> Scene {
    let dir = common::temp_dir(tag);
    std::fs::copy(env!("CARGO_BIN_EXE_airlock"), dir.join("airlock")).unwrap();
    for p in [&dir, &dir.join("airlock")] {
        Command::new("chmod").arg("0755").arg(p).status().unwrap();
    }
    let mut cgroups = Vec::new();
    if delegate {
        for own in own_cgroup_dirs() {
            let cg = own.join(format!("rootless-{tag}-{}", std::process::id()));
            std::fs::create_dir(&cg).unwrap();
            Command::new("chown")
                .arg("-R")
                .arg(format!("{NOBODY}:{NOBODY}"))
                .arg(&cg)
                .status()
                .unwrap();
            cgroups.push(cg);
        }
    }
    Scene { dir, cgroups }
}

/// Run `airlock run --json -c CODE` as nobody, inside the scene's cgroups.
fn run_as_nobody(scene: &Scene, code: &str) -> std::process::Output {
    let join: String = scene
        .cgroups
        .iter()
        .map(|cg| format!("echo $$ > {}/cgroup.procs && ", cg.display()))
        .collect();
    let script = format!(
        "{join}exec setpriv --reuid={NOBODY} --regid={NOBODY} --clear-groups \
         env AIRLOCK_PYTHON=/usr/bin/python3 AIRLOCK_RUNTIME_DIR={dir}/run {dir}/airlock run --json --env none -c \"$0\"",
        dir = scene.dir.display()
    );
    Command::new("sh")
        .args(["-c", &script, code])
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn prerequisites() -> Option<&'static str> {
    if !common::is_root() {
        return Some("needs root to delegate a cgroup to an unprivileged user; CI runs as root");
    }
    if !Path::new("/usr/bin/python3").exists() {
        return Some("needs /usr/bin/python3, an interpreter an unprivileged user can reach");
    }
    if Command::new("setpriv").arg("--version").output().is_err() {
        return Some("needs setpriv (util-linux)");
    }
    if !on_cgroup_v1() {
        return Some("delegating a cgroup in this test is written for cgroup v1 hosts");
    }
    None
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root to delegate a cgroup to an unprivileged user; CI runs as root"
)]
fn rootless_run_maps_the_sandbox_user_to_the_callers_uid() {
    if let Some(why) = prerequisites() {
        eprintln!("SKIPPED rootless_run_maps_the_sandbox_user_to_the_callers_uid: {why}");
        return;
    }
    let scene = scene("rootless-ok", true);
    let out = run_as_nobody(
        &scene,
        "import os; print(os.getuid(), open('/proc/self/uid_map').read().split())",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let result: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{e}: {text} {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(result["status"], "completed", "{result}");
    assert_eq!(
        result["stdout"].as_str().unwrap().trim(),
        "1000 ['1000', '65534', '1']",
        "uid 1000 inside maps to nobody's uid outside"
    );
    assert_eq!(result["sandbox"]["host_uid"], NOBODY);
    assert_eq!(result["sandbox"]["host_uid_per_box"], false);
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root to delegate a cgroup to an unprivileged user; CI runs as root"
)]
fn rootless_without_a_delegated_cgroup_fails_closed_naming_the_layer() {
    if let Some(why) = prerequisites() {
        eprintln!(
            "SKIPPED rootless_without_a_delegated_cgroup_fails_closed_naming_the_layer: {why}"
        );
        return;
    }
    let scene = scene("rootless-closed", false);
    let out = run_as_nobody(&scene, "print('RAN')");
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["reason"], "sandbox_error", "{result}");
    assert!(
        result["error"].as_str().unwrap().contains("cgroup"),
        "{result}"
    );
    assert!(
        !result["stdout"].as_str().unwrap().contains("RAN"),
        "nothing ran"
    );
}
