//! Landlock, applied inside the sandbox after pivot_root: the whole (already minimal) root
//! may be read and executed, only the sandbox's writable mounts may be written, TCP bind
//! and connect are denied, and signals and abstract unix sockets may not cross the
//! sandbox's Landlock domain. Best effort by the kernel's ABI: the result says how much of
//! it the kernel enforced, and `airlock doctor` reports the ABI.

use landlock::{
    path_beneath_rules, Access, AccessFs, AccessNet, NetPort, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetError, RulesetStatus, Scope, ABI,
};

/// How much of the Landlock policy the kernel enforces.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Enforcement {
    Full,
    Partial,
    None,
}

/// Restrict the calling process. `writable` are the sandbox paths it may write under;
/// `device_files` are device nodes it may read and write (/dev/null …); `tcp_ports` the
/// only ports it may connect to over TCP (none for user code).
pub fn restrict(
    writable: &[&str],
    device_files: &[&str],
    tcp_ports: &[u16],
) -> Result<Enforcement, String> {
    // The newest ABI this crate knows; the kernel enforces what it has (best effort).
    // From ABI 9 on, connecting to a pathname unix socket needs a write-class right, so
    // sockets inside read-only grants become unreachable.
    let abi = ABI::V9;
    let status = Ruleset::default()
        .handle_access(AccessFs::from_all(abi))
        .and_then(|r| r.handle_access(AccessNet::from_all(abi)))
        .and_then(|r| r.scope(Scope::from_all(abi)))
        .and_then(|r| r.create())
        .and_then(|r| r.add_rules(path_beneath_rules(["/"], AccessFs::from_read(abi))))
        .and_then(|r| r.add_rules(path_beneath_rules(writable, AccessFs::from_all(abi))))
        .and_then(|r| {
            r.add_rules(path_beneath_rules(
                device_files,
                AccessFs::from_file(abi) & !AccessFs::Execute,
            ))
        })
        .and_then(|r| {
            r.add_rules(
                tcp_ports
                    .iter()
                    .map(|&p| Ok::<_, RulesetError>(NetPort::new(p, AccessNet::ConnectTcp))),
            )
        })
        .and_then(|r| r.restrict_self())
        .map_err(|e| e.to_string())?;
    Ok(match status.ruleset {
        RulesetStatus::FullyEnforced => Enforcement::Full,
        RulesetStatus::PartiallyEnforced => Enforcement::Partial,
        RulesetStatus::NotEnforced => Enforcement::None,
    })
}

/// The same policy as raw numbers for the kernel's ABI, for a warm pool's template to
/// install in each child it forks (Python makes the three system calls with them).
#[derive(Clone, Debug, serde::Serialize)]
pub struct RawRuleset {
    pub handled_fs: u64,
    pub handled_net: u64,
    pub scoped: u64,
    /// (path, allowed access) pairs, in the order they are added.
    pub rules: Vec<(String, u64)>,
    /// What the kernel will enforce of it, as the child reports it ([`Enforcement`]).
    pub enforcement: u8,
}

/// [`restrict`]'s policy (without TCP ports) for ABI `abi`; None when there is no Landlock.
pub fn raw_ruleset(abi: i64, writable: &[&str], device_files: &[&str]) -> Option<RawRuleset> {
    if abi < 1 {
        return None;
    }
    let version = ABI::from(abi.min(i64::from(i32::MAX)) as i32);
    let all = AccessFs::from_all(version);
    let mut rules = vec![("/".to_string(), AccessFs::from_read(version).bits())];
    rules.extend(writable.iter().map(|p| (p.to_string(), all.bits())));
    let file = AccessFs::from_file(version) & !AccessFs::Execute;
    rules.extend(device_files.iter().map(|p| (p.to_string(), file.bits())));
    Some(RawRuleset {
        handled_fs: all.bits(),
        handled_net: AccessNet::from_all(version).bits(),
        scoped: Scope::from_all(version).bits(),
        rules,
        enforcement: if abi >= 9 {
            Enforcement::Full as u8
        } else {
            Enforcement::Partial as u8
        },
    })
}
