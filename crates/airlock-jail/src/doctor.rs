//! What isolation this host supports, layer by layer, for `airlock doctor`.
//!
//! Each probe says whether the layer is available and, when it is not, why. The probes
//! are cheap and have no lasting effect: the real proof is a run, which `airlock doctor`
//! also makes.

use crate::cgroup::{Cgroup, Hierarchy};
use crate::sys;

/// One layer's availability.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Probe {
    pub layer: &'static str,
    pub available: bool,
    /// What is there (a version, a mode) or why it is missing.
    pub detail: String,
    /// A sandbox cannot run without this layer.
    pub required: bool,
}

fn probe(layer: &'static str, required: bool, result: Result<String, String>) -> Probe {
    let (available, detail) = match result {
        Ok(d) => (true, d),
        Err(d) => (false, d),
    };
    Probe {
        layer,
        available,
        detail,
        required,
    }
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// The running kernel's Landlock ABI, 0 when Landlock is unavailable.
pub fn landlock_abi() -> i64 {
    sys::landlock_abi().unwrap_or(0)
}

/// Whether airlock runs as root (each sandbox then gets its own host uid).
pub fn is_root() -> bool {
    sys::getuid() == 0
}

/// Probe every layer.
pub fn probes() -> Vec<Probe> {
    let root = is_root();
    let userns = match read("/proc/sys/user/max_user_namespaces").as_deref() {
        Some("0") => Err("user.max_user_namespaces is 0".to_string()),
        _ if !root
            && read("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") =>
        {
            Err("kernel.unprivileged_userns_clone is 0 and airlock is not root".to_string())
        }
        _ => Ok(if root {
            "root: each sandbox gets its own host uid".to_string()
        } else {
            "rootless: the sandbox uid maps to the caller's uid".to_string()
        }),
    };
    // Detecting a hierarchy is not enough: airlock must be allowed to create under it.
    let cgroup = Hierarchy::detect().and_then(|h| {
        let name = format!("airlock-doctor-{}", std::process::id());
        Cgroup::create(&h, &name, 64 << 20, 8, 100).map_err(|e| e.to_string())?;
        Ok(match h {
            Hierarchy::V2 { own } => format!("v2 under {}", own.display()),
            Hierarchy::V1 { memory, .. } => format!("v1 (memory under {})", memory.display()),
        })
    });
    let landlock = sys::landlock_abi()
        .map(|abi| {
            if abi < 9 {
                format!("ABI {abi} (below 9: a pathname unix socket inside an --allow-read grant can be connected to)")
            } else {
                format!("ABI {abi}")
            }
        })
        .map_err(|e| format!("not available: {e}"));
    let seccomp = crate::seccomp::program()
        .map(|p| {
            format!(
                "allow-list of {} BPF instructions, arch {}",
                p.len(),
                std::env::consts::ARCH
            )
        })
        .and_then(|d| match read("/proc/sys/kernel/seccomp/actions_avail") {
            Some(a) if a.contains("errno") => Ok(d),
            Some(a) => Err(format!("kernel lacks errno action ({a})")),
            None => Ok(d),
        });
    vec![
        probe("user namespace", true, userns),
        probe("cgroups", true, cgroup),
        probe("seccomp", true, seccomp),
        probe("landlock", false, landlock),
    ]
}
