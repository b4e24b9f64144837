//! Host identities of sandboxes.
//!
//! Run as root, every concurrent sandbox gets its own unprivileged host uid and gid
//! (`BOX_ID_BASE + n`, an isolate-style box id), held by an exclusive lock on a file in
//! the runtime directory for as long as the sandbox lives; two sandboxes never share a
//! host identity, so nothing one leaves behind is the other's. Without root, the
//! sandbox's uid maps to the caller's own uid (rootless user namespaces).

use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;

use crate::error::{JailError, Layer};
use crate::spec::Identity;
use crate::sys;

/// First host uid/gid of the box range; far above any human or system account.
pub const BOX_ID_BASE: u32 = 2_000_000_000;
/// The host uid (and gid) of package installers, just below the box range.
pub const INSTALLER_UID: u32 = BOX_ID_BASE - 1;
/// How many sandboxes may run at once on one host.
pub const BOX_COUNT: u32 = 4096;

/// The host uid/gid a sandbox's user maps to, and the lock that reserves it.
#[derive(Debug)]
pub struct HostIdentity {
    pub uid: u32,
    pub gid: u32,
    /// True when each sandbox has its own host uid (airlock runs as root).
    pub per_box: bool,
    /// Airlock is not root: the kernel only lets it map its own uid, and only after
    /// setgroups is denied (so the sandbox keeps the caller's supplementary groups).
    pub rootless: bool,
    _lock: Option<OwnedFd>,
}

fn runtime_dir() -> PathBuf {
    std::env::var_os("AIRLOCK_RUNTIME_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/airlock"))
        .join("boxes")
}

impl HostIdentity {
    #[cfg(test)]
    pub(crate) fn for_tests(uid: u32, per_box: bool) -> HostIdentity {
        HostIdentity {
            uid,
            gid: uid,
            per_box,
            rootless: !per_box,
            _lock: None,
        }
    }

    pub fn acquire(identity: Identity) -> Result<HostIdentity, JailError> {
        let (euid, egid) = (sys::getuid(), sys::getgid());
        if euid != 0 || identity == Identity::Installer {
            let (uid, gid) = if euid != 0 {
                (euid, egid)
            } else {
                (INSTALLER_UID, INSTALLER_UID)
            };
            return Ok(HostIdentity {
                uid,
                gid,
                per_box: false,
                rootless: euid != 0,
                _lock: None,
            });
        }
        let dir = runtime_dir();
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| {
                JailError::layer(Layer::UidMap, format!("create {}: {e}", dir.display()))
            })?;
        // Start at a pseudo-random slot so concurrent starters rarely contend.
        let start = (std::process::id()
            ^ (std::time::UNIX_EPOCH
                .elapsed()
                .unwrap_or_default()
                .subsec_nanos()))
            % BOX_COUNT;
        for i in 0..BOX_COUNT {
            let n = (start + i) % BOX_COUNT;
            let path = dir.join(format!("{n}.lock"));
            let file = fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .mode(0o600)
                .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
                .open(&path)
                .map_err(|e| {
                    JailError::layer(Layer::UidMap, format!("open {}: {e}", path.display()))
                })?;
            let fd = OwnedFd::from(file);
            if sys::try_lock(fd.as_raw_fd()).map_err(|e| {
                JailError::layer(Layer::UidMap, format!("lock {}: {e}", path.display()))
            })? {
                return Ok(HostIdentity {
                    uid: BOX_ID_BASE + n,
                    gid: BOX_ID_BASE + n,
                    per_box: true,
                    rootless: false,
                    _lock: Some(fd),
                });
            }
        }
        Err(JailError::layer(
            Layer::UidMap,
            format!("all {BOX_COUNT} box ids are in use"),
        ))
    }
}
