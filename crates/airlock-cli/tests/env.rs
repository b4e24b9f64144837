//! Managed environments through the real binary, against real installs of small
//! pure-Python packages from the package index. Each test has a data dir of its own
//! (`AIRLOCK_HOME`); the package cache and airlock's uv are shared (`~/.cache/airlock`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

struct Home {
    dir: PathBuf,
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Home {
    fn new(tag: &str) -> Home {
        Home {
            dir: common::temp_dir(&format!("env-{tag}")),
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = common::airlock();
        cmd.env("AIRLOCK_HOME", &self.dir)
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    fn airlock(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("start airlock")
    }

    /// Run a command that must succeed; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.airlock(args);
        assert!(
            out.status.success(),
            "airlock {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&self.ok(args)).expect("JSON")
    }

    fn packages(&self, name: &str) -> Vec<String> {
        self.json(&["env", "packages", name, "--json"])
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                format!(
                    "{}=={}",
                    p["name"].as_str().unwrap(),
                    p["version"].as_str().unwrap()
                )
            })
            .collect()
    }

    fn run(&self, env: &str, code: &str) -> serde_json::Value {
        self.json(&["run", "--json", "--env", env, "-c", code])
    }

    fn builds(&self, name: &str) -> Vec<String> {
        std::fs::read_dir(self.dir.join("envs").join(name).join("builds"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.ends_with(".lease"))
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn create_list_install_run_and_remove() {
    require_root!();
    let home = Home::new("cycle");
    let created = home.json(&["env", "create", "small", "--packages", "six", "--json"]);
    assert_eq!(created["status"], "ready", "{created}");
    assert_eq!(created["name"], "small");
    for field in [
        "id",
        "path",
        "python_version",
        "created_at",
        "updated_at",
        "size_mb",
        "usage_count",
    ] {
        assert!(!created[field].is_null(), "{field} missing: {created}");
    }
    let list = home.json(&["env", "list", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(home
        .packages("small")
        .iter()
        .any(|p| p.starts_with("six==")));

    let run = home.run("small", "import six, sys\nprint(six.__name__, sys.prefix)");
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["stdout"], "six /env\n");
    assert_eq!(run["env"], "small");
    assert_eq!(run["venv_id"], created["id"]);

    home.ok(&["env", "install", "small", "idna", "--quiet"]);
    let pkgs = home.packages("small");
    assert!(
        pkgs.iter().any(|p| p.starts_with("idna==")) && pkgs.iter().any(|p| p.starts_with("six==")),
        "{pkgs:?}"
    );
    let run = home.run("small", "import idna, six\nprint('both')");
    assert_eq!(run["stdout"], "both\n", "{run}");
    assert_eq!(home.builds("small").len(), 1, "the replaced build is gone");

    let used = home.json(&["env", "list", "--json"]);
    assert_eq!(used[0]["usage_count"], 2, "{used}");
    assert!(used[0]["last_used_at"].is_string());

    home.ok(&["env", "rm", "small"]);
    assert_eq!(home.json(&["env", "list", "--json"]), serde_json::json!([]));
    let gone = home.airlock(&["run", "--env", "small", "-c", "pass"]);
    assert_eq!(gone.status.code(), Some(1));
    assert!(
        stderr(&gone).contains("no environment named \"small\""),
        "{}",
        stderr(&gone)
    );
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn a_failed_install_leaves_the_environment_as_it_was() {
    require_root!();
    let home = Home::new("atomic");
    home.ok(&["env", "create", "keep", "--packages", "six", "--quiet"]);
    let before = home.json(&["env", "packages", "keep", "--json"]);
    let builds_before = home.builds("keep");
    let out = home.airlock(&[
        "env",
        "install",
        "keep",
        "idna",
        "airlock-no-such-package-zz9",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("airlock-no-such-package-zz9"),
        "the installer's error text: {}",
        stderr(&out)
    );
    assert_eq!(
        home.json(&["env", "packages", "keep", "--json"]),
        before,
        "packages unchanged"
    );
    assert_eq!(
        home.builds("keep"),
        builds_before,
        "no half-built directory left"
    );
    let run = home.run(
        "keep",
        "import importlib.util as u\nprint(u.find_spec('idna') is None)",
    );
    assert_eq!(run["stdout"], "True\n", "idna was not installed: {run}");
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn a_failed_create_is_reported_and_can_be_retried() {
    require_root!();
    let home = Home::new("failed");
    let out = home.airlock(&[
        "env",
        "create",
        "retry",
        "--packages",
        "airlock-no-such-package-zz9",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let list = home.json(&["env", "list", "--json"]);
    assert_eq!(list[0]["status"], "failed", "{list}");
    assert!(list[0]["error"]
        .as_str()
        .unwrap()
        .contains("airlock-no-such-package-zz9"));
    home.ok(&["env", "create", "retry", "--packages", "six", "--quiet"]);
    assert_eq!(home.json(&["env", "list", "--json"])[0]["status"], "ready");
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn a_creation_cut_short_is_reported_failed_and_can_be_redone() {
    require_root!();
    let home = Home::new("cut");
    home.ok(&["env", "create", "cut", "--quiet"]);
    // What a process killed in the middle of a creation leaves: the record says
    // "creating" and nobody holds the environment's lock.
    let record = home.dir.join("envs/cut/env.json");
    let mut env: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    env["status"] = "creating".into();
    std::fs::write(&record, env.to_string()).unwrap();
    let list = home.json(&["env", "list", "--json"]);
    assert_eq!(list[0]["status"], "failed", "{list}");
    assert!(
        list[0]["error"].as_str().unwrap().contains("interrupted"),
        "{list}"
    );
    home.ok(&["env", "create", "cut", "--packages", "six", "--quiet"]);
    assert_eq!(home.json(&["env", "list", "--json"])[0]["status"], "ready");
}

#[test]
fn names_that_would_escape_the_data_dir_are_refused() {
    let home = Home::new("names");
    let long = "a".repeat(300);
    for name in ["../x", "/abs", "", long.as_str(), ".hidden", "none"] {
        let out = home.airlock(&["env", "create", name]);
        assert_eq!(out.status.code(), Some(2), "{name:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("invalid environment name"),
            "{name:?}: {}",
            stderr(&out)
        );
        assert_eq!(stderr(&out).lines().count(), 1);
    }
    let envs: Vec<_> = std::fs::read_dir(home.dir.join("envs"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        envs,
        [std::ffi::OsString::from(".locks")],
        "nothing was created"
    );
    assert!(!home.dir.parent().unwrap().join("x").exists());
}

#[test]
fn package_options_paths_and_urls_are_refused() {
    let home = Home::new("pkgs");
    for spec in [
        "--index-url=http://127.0.0.1:9/simple",
        "-r/etc/passwd",
        "./local",
        "git+https://127.0.0.1/x",
    ] {
        let out = home.airlock(&["env", "create", "p", &format!("--packages={spec}")]);
        assert_eq!(out.status.code(), Some(2), "{spec}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("invalid package"),
            "{spec}: {}",
            stderr(&out)
        );
    }
    assert!(!home.dir.join("envs/p").exists());
    // After `--`, what looks like an option is a package, and is refused as one.
    let out = home.airlock(&[
        "env",
        "install",
        "p",
        "--",
        "--index-url=http://127.0.0.1:9/simple",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("invalid package"), "{}", stderr(&out));
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn two_concurrent_creates_of_one_name_one_wins() {
    require_root!();
    let home = Home::new("race");
    let spawn = || {
        home.cmd(&["env", "create", "race", "--packages", "six", "--quiet"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let outs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    let wins = outs.iter().filter(|o| o.status.success()).count();
    assert_eq!(wins, 1, "{:?}", outs.iter().map(stderr).collect::<Vec<_>>());
    let loser = outs.iter().find(|o| !o.status.success()).unwrap();
    let msg = stderr(loser);
    assert!(
        msg.contains("another operation") || msg.contains("already exists"),
        "{msg}"
    );
    assert_eq!(home.json(&["env", "list", "--json"])[0]["status"], "ready");
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn gc_removes_only_environments_unused_for_that_long() {
    require_root!();
    let home = Home::new("gc");
    home.ok(&["env", "create", "old", "--quiet"]);
    home.ok(&["env", "create", "fresh", "--quiet"]);
    // "old" was last used ten days ago.
    let ten_days_ago = (chrono_like_now_minus_days(10)).to_string();
    std::fs::write(
        home.dir.join("envs/old/usage.json"),
        format!("{{\"count\":3,\"last_used_at\":\"{ten_days_ago}\"}}"),
    )
    .unwrap();
    assert!(home
        .ok(&["env", "gc", "--unused-for", "5"])
        .contains("removed old"));
    let names: Vec<String> = home
        .json(&["env", "list", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["fresh"]);
    let bad = home.airlock(&["env", "gc", "--unused-for", "-1"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("--unused-for"));
}

/// RFC 3339 for "now minus `days`", from the host's `date` (no extra test dependency).
fn chrono_like_now_minus_days(days: u32) -> String {
    let out = Command::new("date")
        .args([
            "-u",
            "-d",
            &format!("{days} days ago"),
            "+%Y-%m-%dT%H:%M:%SZ",
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn a_broken_environment_is_reported_corrupted() {
    require_root!();
    let home = Home::new("corrupt");
    home.ok(&["env", "create", "broken", "--quiet"]);
    let build = home.builds("broken").pop().unwrap();
    std::fs::remove_file(
        home.dir
            .join("envs/broken/builds")
            .join(build)
            .join("pyvenv.cfg"),
    )
    .unwrap();
    let list = home.json(&["env", "list", "--json"]);
    assert_eq!(list[0]["status"], "corrupted", "{list}");
    let out = home.airlock(&["run", "--env", "broken", "-c", "pass"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("corrupted"), "{}", stderr(&out));
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn code_cannot_change_its_environment() {
    require_root!();
    let home = Home::new("ro");
    home.ok(&["env", "create", "ro", "--packages", "six", "--quiet"]);
    let build = home
        .dir
        .join("envs/ro/builds")
        .join(home.builds("ro").pop().unwrap());
    let six = find(&build, "six.py").expect("six.py in the build");
    let before = std::fs::read(&six).unwrap();
    let code = "import six, os\ntry:\n    open(six.__file__, 'a').write('# planted')\n    print('WROTE')\nexcept OSError as e:\n    print('REFUSED', e.errno)";
    let run = home.run("ro", code);
    assert!(
        run["stdout"].as_str().unwrap().starts_with("REFUSED"),
        "{run}"
    );
    assert_eq!(std::fs::read(&six).unwrap(), before, "host copy unchanged");
}

fn find(dir: &Path, name: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.file_name().is_some_and(|n| n == name) {
            return Some(path);
        }
        if entry.file_type().ok()?.is_dir() {
            if let Some(found) = find(&path, name) {
                return Some(found);
            }
        }
    }
    None
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn env_none_runs_the_host_interpreter_without_an_environment() {
    require_root!();
    let home = Home::new("none");
    let run = home.run("none", "import sys\nprint(sys.prefix != '/env')");
    assert_eq!(run["stdout"], "True\n", "{run}");
    assert!(run["env"].is_null());
    assert!(
        !home.dir.join("envs/default").exists(),
        "no default environment was created"
    );
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn pip_is_the_fallback_installer() {
    require_root!();
    let home = Home::new("pip");
    let out = home
        .cmd(&["env", "create", "viapip", "--packages", "six", "--json"])
        .env("AIRLOCK_INSTALLER", "pip")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let env: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(env["installer"], "pip", "{env}");
    let run = home.run("viapip", "import six\nprint('six', bool(six.__version__))");
    assert_eq!(run["stdout"], "six True\n", "{run}");
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn check_marks_an_environment_whose_interpreter_fails_as_corrupted() {
    require_root!();
    let home = Home::new("check");
    home.ok(&["env", "create", "probe", "--quiet"]);
    assert!(home.ok(&["env", "check", "probe"]).contains("healthy"));
    // The oracle can fire: break the interpreter link the way a bad disk or a careless
    // operator would; the cheap check on listing still sees pyvenv.cfg.
    let build = home
        .dir
        .join("envs/probe/builds")
        .join(home.builds("probe").pop().unwrap());
    let python = build.join("bin/python");
    std::fs::remove_file(&python).unwrap();
    std::os::unix::fs::symlink("/nonexistent/python", &python).unwrap();
    let out = home.airlock(&["env", "check", "probe"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("corrupted"), "{}", stderr(&out));
    assert_eq!(
        home.json(&["env", "list", "--json"])[0]["status"],
        "corrupted"
    );
    let run = home.airlock(&["run", "--env", "probe", "-c", "pass"]);
    assert_eq!(run.status.code(), Some(1));
}
