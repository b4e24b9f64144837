//! Per-sandbox control groups, on cgroup v2 or v1.
//!
//! Each sandbox gets its own cgroup, created under the cgroup airlock itself runs in (so an
//! operator's limits on airlock cover its sandboxes), limited before any sandbox process
//! joins it, read for peak memory and CPU time after the run, and removed afterwards.
//! Hosts differ: a unified v2 hierarchy with the memory, pids and cpu controllers, or v1
//! hierarchies per controller (possibly beside an empty v2 mount, as on this project's own
//! machines). Both are supported; if neither offers all three controllers the run fails
//! closed, naming what is missing.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{JailError, Layer};

/// Which cgroup layout the host has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hierarchy {
    /// Unified hierarchy: the directory of airlock's own cgroup.
    V2 { own: PathBuf },
    /// One directory per controller: airlock's own cgroup in each.
    V1 {
        memory: PathBuf,
        pids: PathBuf,
        cpu: PathBuf,
        cpuacct: PathBuf,
    },
}

/// A cgroup line of /proc/self/cgroup: hierarchy id, controllers, path.
fn own_cgroups(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ':');
            let _id = parts.next()?;
            let controllers = parts.next()?.to_string();
            let path = parts.next()?.to_string();
            Some((controllers, path))
        })
        .collect()
}

/// Mounted cgroup filesystems: (fstype, mount root, mount point, super options).
fn cgroup_mounts(text: &str) -> Vec<(String, String, PathBuf, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let fields: Vec<&str> = left.split(' ').collect();
        let rfields: Vec<&str> = right.split(' ').collect();
        if fields.len() < 5 || rfields.len() < 3 {
            continue;
        }
        let fstype = rfields[0];
        if fstype != "cgroup" && fstype != "cgroup2" {
            continue;
        }
        out.push((
            fstype.to_string(),
            unescape(fields[3]),
            PathBuf::from(unescape(fields[4])),
            rfields[2].to_string(),
        ));
    }
    out
}

fn unescape(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// Join a mount point, its mount root and a cgroup path into the directory on disk.
fn cgroup_dir(mount_point: &Path, mount_root: &str, path: &str) -> PathBuf {
    let rel = path
        .strip_prefix(mount_root)
        .unwrap_or(path)
        .trim_start_matches('/');
    mount_point.join(rel)
}

impl Hierarchy {
    /// Find the hierarchy to use, or say why none can be used.
    pub fn detect() -> Result<Hierarchy, String> {
        let cgroup = fs::read_to_string("/proc/self/cgroup")
            .map_err(|e| format!("read /proc/self/cgroup: {e}"))?;
        let mountinfo = fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| format!("read /proc/self/mountinfo: {e}"))?;
        Hierarchy::detect_from(&cgroup, &mountinfo, |dir| {
            fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default()
        })
    }

    /// `detect` on given /proc texts; `controllers` reads a v2 cgroup's controller list.
    fn detect_from(
        cgroup: &str,
        mountinfo: &str,
        controllers: impl Fn(&Path) -> String,
    ) -> Result<Hierarchy, String> {
        let own = own_cgroups(cgroup);
        let mounts = cgroup_mounts(mountinfo);

        let mut v2_problem = String::from("no cgroup2 mount");
        if let (Some((_, root, point, _)), Some((_, path))) = (
            mounts.iter().find(|m| m.0 == "cgroup2"),
            own.iter().find(|(c, _)| c.is_empty()),
        ) {
            let dir = cgroup_dir(point, root, path);
            let available = controllers(&dir);
            let missing: Vec<&str> = ["memory", "pids", "cpu"]
                .into_iter()
                .filter(|c| !available.split_whitespace().any(|a| a == *c))
                .collect();
            if missing.is_empty() {
                return Ok(Hierarchy::V2 { own: dir });
            }
            v2_problem = format!(
                "cgroup2 at {} lacks controllers {}",
                point.display(),
                missing.join(",")
            );
        }

        let find_v1 = |controller: &str| -> Option<PathBuf> {
            let (_, root, point, _) = mounts.iter().find(|(fstype, _, _, opts)| {
                fstype == "cgroup" && opts.split(',').any(|o| o == controller)
            })?;
            let (_, path) = own
                .iter()
                .find(|(c, _)| c.split(',').any(|x| x == controller))?;
            Some(cgroup_dir(point, root, path))
        };
        match (
            find_v1("memory"),
            find_v1("pids"),
            find_v1("cpu"),
            find_v1("cpuacct"),
        ) {
            (Some(memory), Some(pids), Some(cpu), Some(cpuacct)) => Ok(Hierarchy::V1 {
                memory,
                pids,
                cpu,
                cpuacct,
            }),
            (m, p, c, a) => {
                let missing: Vec<&str> = [("memory", m), ("pids", p), ("cpu", c), ("cpuacct", a)]
                    .into_iter()
                    .filter(|(_, x)| x.is_none())
                    .map(|(n, _)| n)
                    .collect();
                Err(format!(
                    "{v2_problem}; cgroup v1 lacks controllers {}",
                    missing.join(",")
                ))
            }
        }
    }

    pub fn version(&self) -> &'static str {
        match self {
            Hierarchy::V2 { .. } => "v2",
            Hierarchy::V1 { .. } => "v1",
        }
    }
}

/// Resource use read from a sandbox's cgroup after its run.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Usage {
    pub peak_memory_bytes: u64,
    pub cpu_time_ns: u64,
    pub oom_kills: u64,
}

/// One sandbox's cgroup (a directory per hierarchy); removed on drop.
#[derive(Debug)]
pub struct Cgroup {
    hierarchy: Hierarchy,
    /// Directories of this cgroup: one for v2, four for v1 (memory, pids, cpu, cpuacct).
    dirs: Vec<PathBuf>,
}

fn write_file(path: &Path, value: &str) -> Result<(), JailError> {
    fs::write(path, value).map_err(|e| {
        JailError::layer(
            Layer::Cgroup,
            format!("write {value:?} to {}: {e}", path.display()),
        )
    })
}

fn read_u64(path: &Path) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn keyed_u64(path: &Path, key: &str) -> Option<u64> {
    fs::read_to_string(path).ok()?.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

impl Cgroup {
    /// Create the cgroup `name` under airlock's own cgroup and apply the limits.
    pub fn create(
        hierarchy: &Hierarchy,
        name: &str,
        memory_bytes: u64,
        pids: u32,
        cpu_percent: u32,
    ) -> Result<Cgroup, JailError> {
        let dirs: Vec<PathBuf> = match hierarchy {
            Hierarchy::V2 { own } => {
                enable_v2_controllers(own)?;
                vec![own.join(name)]
            }
            Hierarchy::V1 {
                memory,
                pids,
                cpu,
                cpuacct,
            } => vec![
                memory.join(name),
                pids.join(name),
                cpu.join(name),
                cpuacct.join(name),
            ],
        };
        let mut cg = Cgroup {
            hierarchy: hierarchy.clone(),
            dirs: Vec::new(),
        };
        for parent in dirs.iter().filter_map(|d| d.parent()) {
            sweep_stale(parent);
        }
        for dir in dirs {
            // A cpu and cpuacct co-mounted hierarchy gives the same directory twice.
            if cg.dirs.contains(&dir) {
                cg.dirs.push(dir);
                continue;
            }
            fs::create_dir(&dir).map_err(|e| {
                JailError::layer(Layer::Cgroup, format!("create {}: {e}", dir.display()))
            })?;
            cg.dirs.push(dir);
        }
        cg.set_limits(memory_bytes, pids, cpu_percent)?;
        Ok(cg)
    }

    /// Set the limits (at creation, and again when a waiting sandbox is handed its run).
    pub fn set_limits(&self, memory: u64, pids: u32, cpu_percent: u32) -> Result<(), JailError> {
        const PERIOD_US: u64 = 100_000;
        let quota_us = (cpu_percent as u64 * PERIOD_US / 100).max(1_000);
        match &self.hierarchy {
            Hierarchy::V2 { .. } => {
                let d = &self.dirs[0];
                write_file(&d.join("memory.max"), &memory.to_string())?;
                if d.join("memory.swap.max").exists() {
                    write_file(&d.join("memory.swap.max"), "0")?;
                }
                write_file(&d.join("pids.max"), &pids.to_string())?;
                write_file(&d.join("cpu.max"), &format!("{quota_us} {PERIOD_US}"))?;
            }
            Hierarchy::V1 { .. } => {
                let (mem, pid, cpu) = (&self.dirs[0], &self.dirs[1], &self.dirs[2]);
                write_file(&mem.join("memory.limit_in_bytes"), &memory.to_string())?;
                let memsw = mem.join("memory.memsw.limit_in_bytes");
                if memsw.exists() {
                    write_file(&memsw, &memory.to_string())?;
                }
                let _ = fs::write(mem.join("memory.swappiness"), "0");
                write_file(&pid.join("pids.max"), &pids.to_string())?;
                write_file(&cpu.join("cpu.cfs_period_us"), &PERIOD_US.to_string())?;
                write_file(&cpu.join("cpu.cfs_quota_us"), &quota_us.to_string())?;
            }
        }
        Ok(())
    }

    /// The files a single-threaded process writes "0" to in order to join this cgroup.
    ///
    /// On v1 that is `tasks`: moving only the calling thread lets the kernel skip the
    /// thread-group lock, whose writer side waits for an RCU grace period (~15 ms here),
    /// which `cgroup.procs` would pay on every sandbox start.
    pub fn join_files(&self) -> Vec<PathBuf> {
        let file = match self.hierarchy {
            Hierarchy::V2 { .. } => "cgroup.procs",
            Hierarchy::V1 { .. } => "tasks",
        };
        let mut files: Vec<PathBuf> = self.dirs.iter().map(|d| d.join(file)).collect();
        files.dedup();
        files
    }

    fn procs_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = self.dirs.iter().map(|d| d.join("cgroup.procs")).collect();
        files.dedup();
        files
    }

    /// Memory peak, CPU time and OOM kills so far.
    pub fn usage(&self) -> Usage {
        match &self.hierarchy {
            Hierarchy::V2 { .. } => {
                let d = &self.dirs[0];
                Usage {
                    peak_memory_bytes: read_u64(&d.join("memory.peak"))
                        .or_else(|| read_u64(&d.join("memory.current")))
                        .unwrap_or(0),
                    cpu_time_ns: keyed_u64(&d.join("cpu.stat"), "usage_usec").unwrap_or(0) * 1000,
                    oom_kills: keyed_u64(&d.join("memory.events"), "oom_kill").unwrap_or(0),
                }
            }
            Hierarchy::V1 { .. } => {
                let (mem, acct) = (&self.dirs[0], &self.dirs[3]);
                Usage {
                    peak_memory_bytes: read_u64(&mem.join("memory.max_usage_in_bytes"))
                        .unwrap_or(0),
                    cpu_time_ns: read_u64(&acct.join("cpuacct.usage")).unwrap_or(0),
                    oom_kills: keyed_u64(&mem.join("memory.oom_control"), "oom_kill").unwrap_or(0),
                }
            }
        }
    }

    /// Process ids in the cgroup (as the host sees them).
    pub fn pids(&self) -> Vec<i32> {
        let mut all = Vec::new();
        for f in self.procs_files() {
            if let Ok(text) = fs::read_to_string(f) {
                all.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
            }
        }
        all.sort_unstable();
        all.dedup();
        all
    }

    /// SIGKILL everything in the cgroup until it is empty (bounded).
    pub fn kill_all(&self) {
        if let Hierarchy::V2 { .. } = self.hierarchy {
            let kill_file = self.dirs[0].join("cgroup.kill");
            if kill_file.exists() && fs::write(&kill_file, "1").is_ok() {
                return;
            }
        }
        for _ in 0..100 {
            let pids = self.pids();
            if pids.is_empty() {
                return;
            }
            for pid in pids {
                let _ = crate::sys::kill(pid, libc::SIGKILL);
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }

    fn remove(&mut self) {
        self.kill_all();
        let mut dirs = std::mem::take(&mut self.dirs);
        dirs.dedup();
        for dir in dirs.iter().rev() {
            for attempt in 0..200 {
                match fs::remove_dir(dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                    Err(_) if attempt < 199 => {
                        std::thread::sleep(std::time::Duration::from_millis(5))
                    }
                    Err(e) => eprintln!("airlock: could not remove cgroup {}: {e}", dir.display()),
                }
            }
        }
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        self.remove();
    }
}

/// How old an empty sandbox cgroup must be before another run removes it.
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(120);

/// Remove sandbox cgroups that a killed airlock (SIGKILL: no destructor ran) left behind.
/// Only empty ones can be removed at all (rmdir fails on a cgroup with processes), and
/// only old ones are tried, so a cgroup another run is just setting up is never touched.
fn sweep_stale(parent: &Path) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let is_sandbox = name
            .to_str()
            .is_some_and(|n| n.starts_with("airlock-") && n != "airlock-supervisor");
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_AFTER);
        if is_sandbox && old {
            let _ = fs::remove_dir(entry.path());
        }
    }
}

/// On v2, make memory, pids and cpu available to children of airlock's cgroup. A cgroup
/// with processes in it cannot hand controllers down ("no internal processes"), so if
/// enabling fails with EBUSY airlock moves itself into a leaf `airlock-supervisor` first.
fn enable_v2_controllers(own: &Path) -> Result<(), JailError> {
    let control = own.join("cgroup.subtree_control");
    let enabled = fs::read_to_string(&control).unwrap_or_default();
    if ["memory", "pids", "cpu"]
        .iter()
        .all(|c| enabled.split_whitespace().any(|e| e == *c))
    {
        return Ok(());
    }
    match fs::write(&control, "+memory +pids +cpu") {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
            let leaf = own.join("airlock-supervisor");
            match fs::create_dir(&leaf) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    return Err(JailError::layer(
                        Layer::Cgroup,
                        format!("create {}: {e}", leaf.display()),
                    ))
                }
            }
            write_file(&leaf.join("cgroup.procs"), "0")?;
            write_file(&control, "+memory +pids +cpu")
        }
        Err(e) => Err(JailError::layer(
            Layer::Cgroup,
            format!("enable controllers in {}: {e}", control.display()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_dir_strips_the_mount_root() {
        assert_eq!(
            cgroup_dir(Path::new("/sys/fs/cgroup/memory"), "/", "/a/b"),
            PathBuf::from("/sys/fs/cgroup/memory/a/b")
        );
        assert_eq!(
            cgroup_dir(Path::new("/sys/fs/cgroup"), "/a", "/a/b"),
            PathBuf::from("/sys/fs/cgroup/b")
        );
    }

    const MOUNTS_V1: &str = "\
35 25 0:30 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
36 35 0:31 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
37 35 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
38 35 0:33 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids
39 35 0:34 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
";
    const OWN_V1: &str = "5:memory:/svc\n4:pids:/\n3:cpu,cpuacct:/svc\n0::/svc\n";

    #[test]
    fn v1_beside_an_empty_v2_is_used_and_comounted_cpu_shares_a_directory() {
        let h = Hierarchy::detect_from(OWN_V1, MOUNTS_V1, |_| "hugetlb".into()).unwrap();
        assert_eq!(
            h,
            Hierarchy::V1 {
                memory: "/sys/fs/cgroup/memory/svc".into(),
                pids: "/sys/fs/cgroup/pids".into(),
                cpu: "/sys/fs/cgroup/cpu,cpuacct/svc".into(),
                cpuacct: "/sys/fs/cgroup/cpu,cpuacct/svc".into(),
            }
        );
    }

    #[test]
    fn v2_with_all_controllers_is_preferred() {
        let mounts = "30 25 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
        let h = Hierarchy::detect_from("0::/user.slice/app\n", mounts, |dir| {
            assert_eq!(dir, Path::new("/sys/fs/cgroup/user.slice/app"));
            "cpuset cpu io memory pids".into()
        })
        .unwrap();
        assert_eq!(
            h,
            Hierarchy::V2 {
                own: "/sys/fs/cgroup/user.slice/app".into()
            }
        );
    }

    #[test]
    fn missing_controllers_are_named() {
        let mounts = "30 25 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        let err = Hierarchy::detect_from("0::/\n", mounts, |_| "cpu io".into()).unwrap_err();
        assert!(err.contains("memory,pids"), "{err}");
    }

    #[test]
    fn detect_finds_a_hierarchy_or_says_why() {
        match Hierarchy::detect() {
            Ok(h) => assert!(["v1", "v2"].contains(&h.version())),
            Err(why) => assert!(why.contains("cgroup"), "{why}"),
        }
    }
}
