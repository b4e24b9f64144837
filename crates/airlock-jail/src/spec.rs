//! What a jail should look like, as plain data.
//!
//! These types only describe; `child.rs` enforces. They are `Clone + Debug` so a caller can
//! build one, log it, and hand copies to many runs. Paths here are validated by
//! [`JailSpec::validate`] before anything is forked, so a bad spec never half-starts.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::JailError;

/// The uid and gid the code has inside the sandbox (mapped to an unprivileged host id).
pub const SANDBOX_UID: u32 = 1000;
/// The sandbox's working directory, a size-capped tmpfs owned by the sandbox user.
pub const WORKDIR: &str = "/work";
/// The hostname every sandbox has.
pub const HOSTNAME: &str = "airlock";

/// One host path made visible in the sandbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bind {
    /// Canonical host path (no symlinks); opened before the jail drops privileges.
    pub source: PathBuf,
    /// Absolute path inside the sandbox.
    pub target: PathBuf,
    /// Writable bind (only for operator-approved grants).
    pub writable: bool,
}

/// A file airlock itself places in the sandbox (read-only there).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SandboxFile {
    /// Absolute path inside the sandbox; its parent directories are created.
    pub path: PathBuf,
    pub contents: Vec<u8>,
    /// Permission bits, e.g. 0o444.
    pub mode: u32,
}

/// Resource limits of one sandbox.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// Wall-clock limit from the start of the program; everything in the sandbox is killed then.
    pub timeout: Duration,
    /// Memory of the whole sandbox (processes, tmpfs, /dev/shm), in bytes.
    pub memory_bytes: u64,
    /// CPU share in percent of one core (100 = one core).
    pub cpu_percent: u32,
    /// Processes and threads in the sandbox.
    pub pids: u32,
    /// Bytes kept of stdout and of stderr, each; the rest is read and discarded.
    pub output_bytes: u64,
    /// Size cap of each writable tmpfs (/tmp, the working dir, /dev/shm).
    pub tmpfs_bytes: u64,
    /// Largest file the code may write (RLIMIT_FSIZE).
    pub file_size_bytes: u64,
    /// Open descriptors per process (RLIMIT_NOFILE).
    pub open_files: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(30),
            memory_bytes: 512 << 20,
            cpu_percent: 100,
            pids: 64,
            output_bytes: 10 << 20,
            tmpfs_bytes: 256 << 20,
            file_size_bytes: 256 << 20,
            open_files: 1024,
        }
    }
}

/// Bounds every limit must stay within; `validate` names the field that does not.
pub mod bounds {
    pub const TIMEOUT_MAX_SECS: f64 = 24.0 * 3600.0;
    pub const MEMORY_MIN: u64 = 16 << 20;
    pub const MEMORY_MAX: u64 = 1 << 40;
    pub const CPU_MIN: u32 = 1;
    pub const CPU_MAX: u32 = 100 * 1024;
    pub const PIDS_MIN: u32 = 1;
    pub const PIDS_MAX: u32 = 1 << 16;
    pub const OUTPUT_MAX: u64 = 1 << 30;
}

fn in_range(field: &str, value: u64, min: u64, max: u64, unit: &str) -> Result<(), JailError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(JailError::InvalidSpec {
            field: field.to_string(),
            reason: format!("{value}{unit} is outside {min}{unit}..={max}{unit}"),
        })
    }
}

impl Limits {
    /// Check every limit against [`bounds`]; the error names the field (as a CLI flag).
    pub fn validate(&self) -> Result<(), JailError> {
        let secs = self.timeout.as_secs_f64();
        if self.timeout.is_zero() || secs > bounds::TIMEOUT_MAX_SECS {
            return Err(JailError::InvalidSpec {
                field: "timeout".into(),
                reason: format!("{secs} s is not in (0, {}] s", bounds::TIMEOUT_MAX_SECS),
            });
        }
        in_range(
            "memory",
            self.memory_bytes >> 20,
            bounds::MEMORY_MIN >> 20,
            bounds::MEMORY_MAX >> 20,
            " MB",
        )?;
        in_range(
            "cpu",
            self.cpu_percent.into(),
            bounds::CPU_MIN.into(),
            bounds::CPU_MAX.into(),
            "%",
        )?;
        in_range(
            "pids",
            self.pids.into(),
            bounds::PIDS_MIN.into(),
            bounds::PIDS_MAX.into(),
            "",
        )?;
        in_range(
            "output-limit",
            self.output_bytes,
            0,
            bounds::OUTPUT_MAX,
            " bytes",
        )
    }
}

/// Everything the jail needs to run one program.
#[derive(Clone, Debug)]
pub struct JailSpec {
    /// Program to execute, as a path inside the sandbox.
    pub program: PathBuf,
    /// argv, including argv[0].
    pub args: Vec<String>,
    /// The complete environment of the program (nothing else is inherited).
    pub env: Vec<(String, String)>,
    /// Read-only (or granted writable) binds of host paths.
    pub binds: Vec<Bind>,
    /// Top-level symlinks of the root, e.g. `/lib -> usr/lib` on merged-/usr hosts.
    pub symlinks: Vec<(PathBuf, PathBuf)>,
    /// Files airlock places in the sandbox, read-only.
    pub files: Vec<SandboxFile>,
    /// Bytes given on stdin; None means stdin is /dev/null.
    pub stdin: Option<Vec<u8>>,
    /// A protocol channel for a runner: `input` arrives on fd 3, what the program writes
    /// to fd 4 comes back in the outcome (up to `output_limit` bytes).
    pub channel: Option<Channel>,
    pub limits: Limits,
    /// Writable mounts may hold executable code (otherwise they are noexec).
    pub allow_exec_writable: bool,
    /// The sandbox's network: none (the default) or the host's, for package installers.
    pub network: Network,
    /// Which host identity the sandbox user maps to (as root).
    pub identity: Identity,
    /// Layers switched off on purpose, to show that every other layer holds on its own
    /// (defence-in-depth tests). Reported in the outcome; empty in any normal use.
    pub disabled: Vec<Optional>,
    /// The program is a warm pool's template (see [`crate::Zygote`]): it stays root of
    /// its user namespace with that namespace's capabilities (to build child sandboxes
    /// it forks), runs under the zygote seccomp filter and no Landlock (which forbids
    /// mounting), gets a unix socket for descriptors at fd 5, and its pid 1 outlives it
    /// until its children are gone. Never for code of a request.
    pub zygote: bool,
}

/// The two pipes between the host and a runner inside the sandbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Channel {
    pub input: Vec<u8>,
    pub output_limit: u64,
}

/// The host uid a sandbox's user maps to when airlock runs as root (without root it is
/// always the caller's own uid).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Identity {
    /// A uid of this sandbox's own, held for its lifetime (user code).
    #[default]
    PerRun,
    /// The one installer uid ([`crate::INSTALLER_UID`]): package installers write into
    /// a staging environment and a package cache that airlock hands to that uid.
    Installer,
}

/// What network a sandbox has.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Network {
    /// A network namespace of its own with only loopback: no route anywhere.
    #[default]
    None,
    /// The host's network namespace, with outgoing TCP limited by Landlock to these
    /// ports (where the kernel has Landlock's network rules). Only for installers that
    /// fetch packages; user code never gets this.
    Host { tcp_ports: Vec<u16> },
}

/// The layers a caller may switch off deliberately. The others (namespaces, mounts,
/// pivot_root, cgroups, capabilities, no_new_privs) are the jail itself and cannot be.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Optional {
    Seccomp,
    Landlock,
}

impl JailSpec {
    /// A spec that runs `program` with `args`, no binds, default limits.
    pub fn new(program: impl Into<PathBuf>, args: Vec<String>) -> Self {
        JailSpec {
            program: program.into(),
            args,
            env: Vec::new(),
            binds: Vec::new(),
            symlinks: Vec::new(),
            files: Vec::new(),
            stdin: None,
            channel: None,
            limits: Limits::default(),
            allow_exec_writable: false,
            disabled: Vec::new(),
            network: Network::None,
            identity: Identity::PerRun,
            zygote: false,
        }
    }

    /// Check the spec before anything is started.
    pub fn validate(&self) -> Result<(), JailError> {
        let invalid = |field: &str, why: String| JailError::InvalidSpec {
            field: field.to_string(),
            reason: why,
        };
        self.limits.validate()?;
        check_sandbox_path("program", &self.program)?;
        if self.args.is_empty() {
            return Err(invalid("args", "argv must hold at least argv[0]".into()));
        }
        for bind in &self.binds {
            check_sandbox_path("bind target", &bind.target)?;
            if !bind.source.is_absolute() {
                return Err(invalid(
                    "bind source",
                    format!("{} is not absolute", bind.source.display()),
                ));
            }
            if reserved(&bind.target) {
                return Err(invalid(
                    "bind target",
                    format!("{} is reserved by the sandbox", bind.target.display()),
                ));
            }
        }
        for file in &self.files {
            check_sandbox_path("file", &file.path)?;
        }
        if self.zygote {
            let shaped = self.channel.is_none()
                || self.stdin.is_some()
                || self.network != Network::None
                || self.identity != Identity::PerRun
                || !self.disabled.is_empty()
                || self.binds.iter().any(|b| b.writable);
            if shaped {
                return Err(invalid(
                    "zygote",
                    "a template needs a channel and takes no stdin, network, installer \
                     identity, disabled layer or writable bind"
                        .into(),
                ));
            }
        }
        for (name, value) in &self.env {
            if name.is_empty() || name.contains('=') || name.contains('\0') || value.contains('\0')
            {
                return Err(invalid(
                    "env",
                    format!("bad variable name or value: {name:?}"),
                ));
            }
        }
        Ok(())
    }
}

/// Sandbox paths that only the jail itself mounts.
fn reserved(target: &Path) -> bool {
    target == Path::new("/")
        || target == Path::new("/tmp")
        || target == Path::new(WORKDIR)
        || [
            "/proc",
            "/dev",
            "/etc/passwd",
            "/etc/group",
            "/etc/hosts",
            "/etc/hostname",
        ]
        .iter()
        .any(|r| target.starts_with(r))
}

fn check_sandbox_path(field: &str, path: &Path) -> Result<(), JailError> {
    let ok = path.is_absolute()
        && path.components().all(|c| {
            matches!(
                c,
                std::path::Component::RootDir | std::path::Component::Normal(_)
            )
        })
        && !path.as_os_str().as_encoded_bytes().contains(&0);
    if ok {
        Ok(())
    } else {
        Err(JailError::InvalidSpec {
            field: field.to_string(),
            reason: format!("{} must be an absolute path without '..'", path.display()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> JailSpec {
        JailSpec::new("/usr/bin/true", vec!["true".into()])
    }

    #[test]
    fn default_spec_is_valid() {
        spec().validate().unwrap();
    }

    #[test]
    fn zero_timeout_names_the_field() {
        let mut s = spec();
        s.limits.timeout = Duration::ZERO;
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("timeout"), "{err}");
    }

    #[test]
    fn tiny_memory_names_the_field() {
        let mut s = spec();
        s.limits.memory_bytes = 1 << 20;
        assert!(s.validate().unwrap_err().to_string().contains("memory"));
    }

    #[test]
    fn bind_over_proc_is_refused() {
        let mut s = spec();
        s.binds.push(Bind {
            source: "/etc".into(),
            target: "/proc/self".into(),
            writable: false,
        });
        assert!(s.validate().unwrap_err().to_string().contains("reserved"));
    }

    #[test]
    fn dotdot_paths_are_refused() {
        let mut s = spec();
        s.program = "/usr/../etc/x".into();
        assert!(s.validate().is_err());
        s.program = "relative".into();
        assert!(s.validate().is_err());
    }
}
