//! Building environments inside the jail.
//!
//! The installer (uv, or `python -m venv` + pip when uv cannot be had) runs in a sandbox
//! like any other code, with three differences: it has the host's network (outgoing TCP
//! only to the index's ports, enforced by Landlock where the kernel has network rules),
//! it may write exactly two host directories — the staging copy of the environment,
//! seen as `/env`, and the package cache, seen as `/cache` — and it runs as the installer
//! uid, which airlock hands those two directories to for the duration. It never sees the
//! host's home, other environments, or any host environment variable beyond the proxy
//! and index settings listed in `PASSED_VARS`. Wheels only: source distributions are not
//! built, so no package's own code runs at install time.

use std::path::{Path, PathBuf};
use std::time::Duration;

use airlock_jail::{Bind, Exit, Identity, JailSpec, Limits, Network, Stream};

use super::{EnvError, Progress};
use crate::python::Interpreter;

/// Where an environment appears inside every sandbox (its scripts refer to this path).
pub const ENV_MOUNT: &str = "/env";
/// Where the package cache appears inside installer sandboxes.
const CACHE_MOUNT: &str = "/cache";
/// The uv release airlock installs for itself when none is on the host.
pub const UV_VERSION: &str = "0.13.9";

/// Host variables an installer may see: how to reach the package index, nothing else.
const PASSED_VARS: &[&str] = &[
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "UV_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_EXTRA_INDEX_URL",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
];

/// Which tool builds environments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tool {
    /// A uv binary (a static executable: bound read-only into the installer sandbox).
    Uv(PathBuf),
    /// `python -m venv` and pip, from the base interpreter.
    Pip,
}

impl Tool {
    pub fn describe(&self) -> String {
        match self {
            Tool::Uv(path) => format!("uv ({})", path.display()),
            Tool::Pip => "pip".into(),
        }
    }
}

/// Runs installer commands for one environment build.
#[derive(Debug)]
pub struct Installer {
    pub tool: Tool,
    base: Interpreter,
    cache: PathBuf,
}

/// TCP ports an installer may connect to: HTTPS, HTTP, and those of configured proxies
/// and indexes.
fn index_ports() -> Vec<u16> {
    index_ports_from(|var| std::env::var(var).ok())
}

fn index_ports_from(lookup: impl Fn(&str) -> Option<String>) -> Vec<u16> {
    let mut ports = vec![443, 80];
    for var in PASSED_VARS {
        if let Some(url) = lookup(var) {
            for item in url.split([',', ' ']) {
                let after_scheme = item.split_once("://").map_or(item, |(_, r)| r);
                let host_port = after_scheme.split('/').next().unwrap_or_default();
                let host_port = host_port.rsplit_once('@').map_or(host_port, |(_, h)| h);
                if let Some(port) = host_port.rsplit_once(':').and_then(|(_, p)| p.parse().ok()) {
                    ports.push(port);
                }
            }
        }
    }
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// The CA bundle the host's TLS clients use, if there is one to pass in.
fn ca_bundle() -> Option<PathBuf> {
    ["SSL_CERT_FILE", "PIP_CERT", "REQUESTS_CA_BUNDLE"]
        .iter()
        .filter_map(std::env::var_os)
        .map(PathBuf::from)
        .chain([
            "/etc/ssl/certs/ca-certificates.crt".into(),
            "/etc/pki/tls/certs/ca-bundle.crt".into(),
        ])
        .find(|p| p.is_file())
}

fn describe_exit(exit: Exit) -> String {
    match exit {
        Exit::Code(c) => format!("exit status {c}"),
        Exit::Signal(s) => format!("killed by signal {s}"),
        Exit::Timeout => "timed out".into(),
        Exit::Cancelled => "cancelled".into(),
        Exit::Unreported => "ended without a status".into(),
    }
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

impl Installer {
    pub fn new(tool: Tool, base: Interpreter, cache: PathBuf) -> Installer {
        Installer { tool, base, cache }
    }

    /// A jail spec for an installer command: base interpreter, `rw` host directories
    /// bound writable at their targets, the host network limited to the index's ports.
    fn spec(&self, program: &Path, args: Vec<String>, rw: &[(&Path, &str)]) -> JailSpec {
        let (mut binds, symlinks) = self.base.sandbox_view();
        if let Tool::Uv(uv) = &self.tool {
            binds.push(Bind {
                source: uv.clone(),
                target: uv.clone(),
                writable: false,
            });
        }
        for (host, target) in rw {
            binds.push(Bind {
                source: host.to_path_buf(),
                target: target.into(),
                writable: true,
            });
        }
        let mut env: Vec<(String, String)> = vec![
            ("PATH".into(), "/usr/bin:/bin".into()),
            ("HOME".into(), "/tmp".into()),
            ("LANG".into(), "C.UTF-8".into()),
            ("UV_CACHE_DIR".into(), format!("{CACHE_MOUNT}/uv")),
            ("UV_PYTHON_DOWNLOADS".into(), "never".into()),
            ("UV_NO_CONFIG".into(), "1".into()),
            ("UV_LINK_MODE".into(), "copy".into()),
            ("UV_NO_PROGRESS".into(), "1".into()),
            ("PIP_CACHE_DIR".into(), format!("{CACHE_MOUNT}/pip")),
            ("PIP_NO_INPUT".into(), "1".into()),
            ("PIP_DISABLE_PIP_VERSION_CHECK".into(), "1".into()),
        ];
        if let Some(bundle) = ca_bundle().and_then(|b| std::fs::canonicalize(b).ok()) {
            env.push(("SSL_CERT_FILE".into(), bundle.display().to_string()));
            env.push(("PIP_CERT".into(), bundle.display().to_string()));
            binds.push(Bind {
                source: bundle.clone(),
                target: bundle,
                writable: false,
            });
        }
        if let Ok(resolv) = std::fs::canonicalize("/etc/resolv.conf") {
            binds.push(Bind {
                source: resolv,
                target: "/etc/resolv.conf".into(),
                writable: false,
            });
        }
        for var in PASSED_VARS {
            if let Ok(value) = std::env::var(var) {
                env.push((var.to_string(), value));
            }
        }
        let mut spec = JailSpec::new(program, args);
        spec.binds = binds;
        spec.symlinks = symlinks;
        spec.env = env;
        spec.network = Network::Host {
            tcp_ports: index_ports(),
        };
        spec.identity = Identity::Installer;
        spec.limits = Limits {
            timeout: Duration::from_secs(30 * 60),
            memory_bytes: 4 << 30,
            pids: 512,
            output_bytes: 4 << 20,
            tmpfs_bytes: 2 << 30,
            file_size_bytes: 2 << 30,
            ..Limits::default()
        };
        spec
    }

    /// Run one installer command; its output lines go to `progress`.
    fn run(
        &self,
        step: &str,
        program: &Path,
        args: Vec<String>,
        rw: &[(&Path, &str)],
        progress: &dyn Progress,
    ) -> Result<(), EnvError> {
        let mut spec = self.spec(program, args, rw);
        let argv0 = program.display().to_string();
        spec.args.insert(0, argv0);
        let mut pending = String::new();
        let mut observer = |_: Stream, bytes: &[u8]| {
            pending.push_str(&String::from_utf8_lossy(bytes));
            while let Some(i) = pending.find('\n') {
                let line: String = pending.drain(..=i).collect();
                progress.output(line.trim_end());
            }
        };
        let outcome = airlock_jail::run(&spec, Some(&mut observer), None)?;
        let output = format!(
            "{}\n{}",
            String::from_utf8_lossy(&outcome.stdout),
            String::from_utf8_lossy(&outcome.stderr)
        );
        match outcome.exit {
            Exit::Code(0) => Ok(()),
            other => Err(EnvError::Installer {
                step: step.to_string(),
                output: format!("{}\n({})", last_lines(&output, 40), describe_exit(other)),
            }),
        }
    }

    /// Create an empty virtual environment in `staging` (seen as /env).
    pub fn create_venv(&self, staging: &Path, progress: &dyn Progress) -> Result<(), EnvError> {
        let base = self.base.base_executable.display().to_string();
        let rw = [(staging, ENV_MOUNT), (self.cache.as_path(), CACHE_MOUNT)];
        match &self.tool {
            Tool::Uv(uv) => self.run(
                "create the environment",
                uv,
                vec![
                    "venv".into(),
                    ENV_MOUNT.into(),
                    "--python".into(),
                    base,
                    "--no-project".into(),
                    "--quiet".into(),
                ],
                &rw,
                progress,
            ),
            Tool::Pip => self.run(
                "create the environment",
                &self.base.base_executable,
                vec!["-I".into(), "-m".into(), "venv".into(), ENV_MOUNT.into()],
                &rw,
                progress,
            ),
        }
    }

    /// Install `packages` into the environment in `staging`.
    pub fn install(
        &self,
        staging: &Path,
        packages: &[String],
        progress: &dyn Progress,
    ) -> Result<(), EnvError> {
        if packages.is_empty() {
            return Ok(());
        }
        let rw = [(staging, ENV_MOUNT), (self.cache.as_path(), CACHE_MOUNT)];
        let python = format!("{ENV_MOUNT}/bin/python");
        match &self.tool {
            Tool::Uv(uv) => {
                let mut args: Vec<String> = [
                    "pip",
                    "install",
                    "--python",
                    &python,
                    "--no-build",
                    "--compile-bytecode",
                ]
                .iter()
                .map(|s| s.to_string())
                .collect();
                args.extend(packages.iter().cloned());
                self.run("install packages", uv, args, &rw, progress)
            }
            Tool::Pip => {
                let mut args: Vec<String> = ["-I", "-m", "pip", "install", "--only-binary=:all:"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                args.extend(packages.iter().cloned());
                self.run("install packages", Path::new(&python), args, &rw, progress)
            }
        }
    }

    /// Install uv into `tools` (seen at the same path) with the base interpreter's pip.
    pub fn bootstrap_uv(
        base: &Interpreter,
        cache: &Path,
        tools: &Path,
        progress: &dyn Progress,
    ) -> Result<PathBuf, EnvError> {
        let pip = Installer::new(Tool::Pip, base.clone(), cache.to_path_buf());
        let tools_str = tools.display().to_string();
        let args = vec![
            "-I".into(),
            "-m".into(),
            "pip".into(),
            "install".into(),
            "--only-binary=:all:".into(),
            "--target".into(),
            tools_str.clone(),
            format!("uv=={UV_VERSION}"),
        ];
        pip.run(
            "install uv",
            &base.base_executable,
            args,
            &[(tools, tools_str.as_str()), (cache, CACHE_MOUNT)],
            progress,
        )?;
        let uv = tools.join("bin/uv");
        if uv.is_file() {
            Ok(uv)
        } else {
            Err(EnvError::Installer {
                step: "install uv".into(),
                output: format!("pip finished but {} is missing", uv.display()),
            })
        }
    }
}

/// Check that the environment in `root` starts and reports itself as /env.
pub fn health_probe(base: &Interpreter, root: &Path) -> Result<(), String> {
    let (mut binds, symlinks) = base.sandbox_view();
    binds.push(Bind {
        source: root.to_path_buf(),
        target: ENV_MOUNT.into(),
        writable: false,
    });
    let python = format!("{ENV_MOUNT}/bin/python");
    let mut spec = JailSpec::new(
        &python,
        vec![
            python.clone(),
            "-I".into(),
            "-c".into(),
            "import sys; print(sys.prefix)".into(),
        ],
    );
    spec.binds = binds;
    spec.symlinks = symlinks;
    spec.env = vec![
        ("PATH".into(), "/usr/bin:/bin".into()),
        ("LANG".into(), "C.UTF-8".into()),
    ];
    spec.limits.timeout = Duration::from_secs(60);
    let outcome = airlock_jail::run(&spec, None, None).map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&outcome.stdout);
    if outcome.exit == Exit::Code(0) && stdout.trim() == ENV_MOUNT {
        Ok(())
    } else {
        Err(format!(
            "the interpreter did not start as {ENV_MOUNT} ({:?}): {}",
            outcome.exit,
            last_lines(&String::from_utf8_lossy(&outcome.stderr), 5)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The installer sandbox's view: the base interpreter, the uv binary, the staging
    /// build and the cache writable, resolv.conf and the CA bundle; no home, no other
    /// environment, no host variable beyond the index and proxy settings.
    #[test]
    fn installers_see_only_the_build_the_cache_and_the_index() {
        let base = Interpreter::default_host()
            .expect("python3 on the host")
            .base();
        let uv = PathBuf::from("/opt/uv/bin/uv");
        let installer = Installer::new(
            Tool::Uv(uv.clone()),
            base.clone(),
            "/var/cache/airlock".into(),
        );
        let staging = Path::new("/srv/airlock/envs/x/builds/new");
        let spec = installer.spec(
            &uv,
            vec![],
            &[
                (staging, ENV_MOUNT),
                (Path::new("/var/cache/airlock"), CACHE_MOUNT),
            ],
        );
        let writable: Vec<(&Path, &Path)> = spec
            .binds
            .iter()
            .filter(|b| b.writable)
            .map(|b| (b.source.as_path(), b.target.as_path()))
            .collect();
        assert_eq!(
            writable,
            [
                (staging, Path::new(ENV_MOUNT)),
                (Path::new("/var/cache/airlock"), Path::new(CACHE_MOUNT))
            ]
        );
        let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
        for b in &spec.binds {
            assert!(
                !b.source.starts_with(&home)
                    || base.base_prefixes.iter().any(|p| b.source.starts_with(p)),
                "the installer sees the home directory: {b:?}"
            );
        }
        let allowed: Vec<&str> = PASSED_VARS.to_vec();
        for (k, _) in &spec.env {
            assert!(
                allowed.contains(&k.as_str())
                    || k.starts_with("UV_")
                    || k.starts_with("PIP_")
                    || ["PATH", "HOME", "LANG", "SSL_CERT_FILE"].contains(&k.as_str()),
                "unexpected variable {k}"
            );
        }
        assert_eq!(spec.identity, airlock_jail::Identity::Installer);
        assert!(
            matches!(spec.network, Network::Host { ref tcp_ports } if tcp_ports.contains(&443))
        );
        assert!(spec.env.iter().any(|(k, v)| k == "HOME" && v == "/tmp"));
    }

    #[test]
    fn index_ports_include_those_of_configured_proxies() {
        let ports = index_ports_from(|var| {
            (var == "UV_INDEX_URL")
                .then(|| "https://user:pw@mirror.example:8443/simple".to_string())
        });
        assert!(
            ports.contains(&443) && ports.contains(&80) && ports.contains(&8443),
            "{ports:?}"
        );
    }
}
