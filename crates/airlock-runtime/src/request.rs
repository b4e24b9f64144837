//! An execution request (the CLI flags and the HTTP body map onto it one to one), its
//! validation, and its translation into a jail spec.
//!
//! Every value a caller gives is checked here and a bad one is refused with a message
//! naming the field, before anything is started.

use std::path::{Path, PathBuf};
use std::time::Duration;

use std::collections::BTreeMap;

use airlock_jail::{bounds, Bind, Channel, JailError, JailSpec, Limits, SandboxFile, WORKDIR};

use crate::python::Interpreter;
use crate::runner::{self, Caps, CODE_FILENAME, RUNNER_PATH, RUNNER_SOURCE};

/// Largest code accepted.
pub const MAX_CODE_BYTES: usize = 1 << 20;
/// Largest total of injected variables (as JSON).
pub const MAX_VARIABLES_BYTES: usize = 16 << 20;
/// Largest total of input files.
pub const MAX_INPUT_FILES_BYTES: usize = 256 << 20;

/// A file copied into the working directory before the code runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputFile {
    pub name: String,
    pub data: Vec<u8>,
}

/// The static-analysis gate in front of a run.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckMode {
    Off,
    #[default]
    Warn,
    Enforce,
}

/// Host resources the caller asks to expose. Each is off by default.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Grants {
    /// Host environment variables passed in by name.
    pub allow_env: Vec<String>,
    /// Host paths bound read-only at the same place.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub allow_read: Vec<PathBuf>,
    /// Host paths bound read-write (only under operator-approved roots).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub allow_write: Vec<PathBuf>,
    /// Outbound network destinations (not available yet: refused).
    pub allow_net: Vec<String>,
    /// Writable mounts may hold executable code.
    pub allow_ffi: bool,
    /// Isolation layers switched off deliberately (defence-in-depth tests only).
    pub insecure_disable: Vec<airlock_jail::Optional>,
}

/// One request to run code.
#[derive(Clone, Debug)]
pub struct ExecutionRequest {
    pub code: String,
    pub language: String,
    pub timeout: f64,
    pub max_memory_mb: u64,
    pub max_cpu_percent: u32,
    pub max_processes: u32,
    pub output_limit: u64,
    pub stdin: Option<Vec<u8>>,
    pub grants: Grants,
    /// Injected into the code's globals.
    pub variables: BTreeMap<String, serde_json::Value>,
    /// Copied into the working directory.
    pub files: Vec<InputFile>,
    /// The code may start other programs (otherwise execve is refused by the kernel).
    pub allow_run: bool,
    /// Mask secret-looking values in what comes back.
    pub redact: bool,
    pub check: CheckMode,
}

impl Default for ExecutionRequest {
    fn default() -> Self {
        let l = Limits::default();
        ExecutionRequest {
            code: String::new(),
            language: "python".into(),
            timeout: l.timeout.as_secs_f64(),
            max_memory_mb: l.memory_bytes >> 20,
            max_cpu_percent: l.cpu_percent,
            max_processes: l.pids,
            output_limit: l.output_bytes,
            stdin: None,
            grants: Grants::default(),
            variables: BTreeMap::new(),
            files: Vec::new(),
            allow_run: false,
            redact: true,
            check: CheckMode::Warn,
        }
    }
}

/// A Python identifier usable as a global name.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 100
}

/// A file name for the working directory: one plain component, printable, not reserved.
pub fn check_input_file_name(name: &str) -> Result<(), InvalidRequest> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name != "."
        && name != ".."
        && name != runner::OUTPUTS_DIR
        && !name.contains('/')
        && !name.chars().any(|c| c.is_control());
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "file",
            format!(
                "{name:?} is not a plain file name (no '/', not '.', '..' or '{}')",
                runner::OUTPUTS_DIR
            ),
        ))
    }
}

/// A CJK-capable font on the host, so charts labelled in Chinese render:
/// `$AIRLOCK_CJK_FONT`, or the first of the fonts Debian and others ship.
fn cjk_font() -> Option<PathBuf> {
    let candidates = [
        "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
        "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
        "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
        "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
        "/usr/share/fonts/truetype/arphic/uming.ttc",
    ];
    std::env::var_os("AIRLOCK_CJK_FONT")
        .map(PathBuf::from)
        .into_iter()
        .chain(candidates.iter().map(PathBuf::from))
        .find(|p| p.is_file())
        .and_then(|p| std::fs::canonicalize(p).ok())
}

/// A request that cannot run, naming the field (flag) at fault.
#[derive(Debug, thiserror::Error)]
#[error("invalid {field}: {reason}")]
pub struct InvalidRequest {
    pub field: String,
    pub reason: String,
}

fn invalid(field: &str, reason: impl Into<String>) -> InvalidRequest {
    InvalidRequest {
        field: field.to_string(),
        reason: reason.into(),
    }
}

/// Operator settings that bound what callers may ask for.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// Host directories under which `allow_write` grants are accepted.
    pub write_roots: Vec<PathBuf>,
    /// The analyzer policy (TOML) for the `check` gate; the built-in one when absent.
    pub analyzer_policy: Option<PathBuf>,
}

/// Resolve a host path the caller named: absolute, existing, symlinks resolved.
fn resolve(field: &'static str, path: &Path) -> Result<PathBuf, InvalidRequest> {
    std::fs::canonicalize(path).map_err(|e| invalid(field, format!("{}: {e}", path.display())))
}

impl ExecutionRequest {
    /// The request's limits, checked.
    pub fn limits(&self) -> Result<Limits, InvalidRequest> {
        // Duration::from_secs_f64 panics on these; everything else is the jail's check.
        if !self.timeout.is_finite()
            || self.timeout <= 0.0
            || self.timeout > bounds::TIMEOUT_MAX_SECS
        {
            return Err(invalid(
                "timeout",
                format!(
                    "{} is not a number of seconds in (0, {}]",
                    self.timeout,
                    bounds::TIMEOUT_MAX_SECS
                ),
            ));
        }
        let memory_bytes = self.max_memory_mb.checked_mul(1 << 20).ok_or_else(|| {
            invalid(
                "memory",
                format!("{} MB is out of range", self.max_memory_mb),
            )
        })?;
        let limits = Limits {
            timeout: Duration::from_secs_f64(self.timeout),
            memory_bytes,
            cpu_percent: self.max_cpu_percent,
            pids: self.max_processes,
            output_bytes: self.output_limit,
            // Every tmpfs is charged to the memory cgroup too; none may exceed the limit.
            tmpfs_bytes: memory_bytes,
            file_size_bytes: memory_bytes,
            ..Limits::default()
        };
        limits.validate().map_err(|e| match e {
            JailError::InvalidSpec { field, reason } => InvalidRequest { field, reason },
            other => invalid("request", other.to_string()),
        })?;
        Ok(limits)
    }

    fn grant_binds(&self, policy: &Policy) -> Result<Vec<Bind>, InvalidRequest> {
        let g = &self.grants;
        if !g.allow_net.is_empty() {
            return Err(invalid(
                "allow-net",
                "network access is not available yet (it needs the egress proxy); sandboxes have no network",
            ));
        }
        let mut binds = Vec::new();
        for p in &g.allow_read {
            let source = resolve("allow-read", p)?;
            binds.push(Bind {
                target: source.clone(),
                source,
                writable: false,
            });
        }
        for p in &g.allow_write {
            let source = resolve("allow-write", p)?;
            let roots: Vec<PathBuf> = policy
                .write_roots
                .iter()
                .filter_map(|r| std::fs::canonicalize(r).ok())
                .collect();
            if !roots.iter().any(|r| source.starts_with(r)) {
                return Err(invalid(
                    "allow-write",
                    format!(
                        "{} (resolved {}) is not under a write root the operator allows ({})",
                        p.display(),
                        source.display(),
                        if roots.is_empty() {
                            "none configured".to_string()
                        } else {
                            roots
                                .iter()
                                .map(|r| r.display().to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        }
                    ),
                ));
            }
            binds.push(Bind {
                target: source.clone(),
                source,
                writable: true,
            });
        }
        for b in &binds {
            if b.target == Path::new("/") {
                return Err(invalid("allow-read", "the host root cannot be granted"));
            }
        }
        Ok(binds)
    }

    fn environment(&self) -> Result<Vec<(String, String)>, InvalidRequest> {
        let mut env: Vec<(String, String)> = [
            ("PATH", "/usr/local/bin:/usr/bin:/bin"),
            ("HOME", WORKDIR),
            ("TMPDIR", "/tmp"),
            ("LANG", "C.UTF-8"),
            ("PYTHONDONTWRITEBYTECODE", "1"),
            ("PYTHONUNBUFFERED", "1"),
            ("PYTHONIOENCODING", "utf-8"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for name in &self.grants.allow_env {
            if name.is_empty() || name.contains('=') || name.contains('\0') {
                return Err(invalid(
                    "allow-env",
                    format!("{name:?} is not a variable name"),
                ));
            }
            let value = std::env::var(name)
                .map_err(|_| invalid("allow-env", format!("{name} is not set on the host")))?;
            env.retain(|(k, _)| k != name);
            env.push((name.clone(), value));
        }
        Ok(env)
    }

    fn check_input_files(&self) -> Result<(), InvalidRequest> {
        let total: usize = self.files.iter().map(|f| f.data.len()).sum();
        if total > MAX_INPUT_FILES_BYTES {
            return Err(invalid(
                "file",
                format!("{total} bytes of files is above {MAX_INPUT_FILES_BYTES}"),
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for f in &self.files {
            check_input_file_name(&f.name)?;
            if !names.insert(f.name.as_str()) {
                return Err(invalid("file", format!("{:?} is given twice", f.name)));
            }
        }
        Ok(())
    }

    fn check_variables(&self) -> Result<(), InvalidRequest> {
        let mut total = 0;
        for (name, value) in &self.variables {
            if !is_identifier(name) {
                return Err(invalid(
                    "var",
                    format!("{name:?} is not a Python identifier"),
                ));
            }
            total += serde_json::to_string(value).map(|s| s.len()).unwrap_or(0);
        }
        if total > MAX_VARIABLES_BYTES {
            return Err(invalid(
                "var",
                format!("{total} bytes of variables is above {MAX_VARIABLES_BYTES}"),
            ));
        }
        Ok(())
    }

    /// Validate the request and build the jail spec that runs it with `python`.
    pub fn to_spec(
        &self,
        python: &Interpreter,
        policy: &Policy,
    ) -> Result<JailSpec, InvalidRequest> {
        self.to_spec_in(python, &[], policy)
    }

    /// `to_spec` for an interpreter that needs more binds (a managed environment's build).
    pub fn to_spec_in(
        &self,
        python: &Interpreter,
        runtime_binds: &[Bind],
        policy: &Policy,
    ) -> Result<JailSpec, InvalidRequest> {
        let mut spec = self.sandbox_spec(python, runtime_binds, &[], policy)?;
        if let Some(channel) = &mut spec.channel {
            channel.input = self.request_frame()?;
        }
        Ok(spec)
    }

    /// The sandbox this request needs, without the request itself (what a sandbox waiting
    /// in a pool is made from): interpreter, binds and grants, environment, limits, the
    /// runner, and `preload`, the modules the runner imports before the request arrives.
    pub fn sandbox_spec(
        &self,
        python: &Interpreter,
        runtime_binds: &[Bind],
        preload: &[String],
        policy: &Policy,
    ) -> Result<JailSpec, InvalidRequest> {
        if self.language != "python" {
            return Err(invalid(
                "lang",
                format!("{:?} is not supported yet (python is)", self.language),
            ));
        }
        let limits = self.limits()?;
        let grants = self.grant_binds(policy)?;
        let (mut binds, symlinks) = python.sandbox_view();
        binds.extend(runtime_binds.iter().cloned());
        binds.extend(grants);
        // argv[0] is the full path: Python derives sys.executable from it, and code that
        // starts interpreters (multiprocessing's spawn) needs that. -I: no user site, no
        // PYTHON* variables, no script directory on sys.path (the runner adds /work).
        let program = python.executable.clone();
        let argv0 = program.to_string_lossy().into_owned();
        let mut spec = JailSpec::new(
            program,
            vec![
                argv0,
                "-I".into(),
                "-B".into(),
                "-u".into(),
                RUNNER_PATH.into(),
            ],
        );
        spec.env = self.environment()?;
        let threads = self.max_cpu_percent.div_ceil(100).max(1).to_string();
        for var in [
            "OMP_NUM_THREADS",
            "OPENBLAS_NUM_THREADS",
            "MKL_NUM_THREADS",
            "NUMEXPR_NUM_THREADS",
        ] {
            spec.env.push((var.into(), threads.clone()));
        }
        spec.env.push(("MPLBACKEND".into(), "Agg".into()));
        spec.env
            .push(("MPLCONFIGDIR".into(), "/tmp/matplotlib".into()));
        if let Some(font) = cjk_font() {
            spec.env
                .push(("AIRLOCK_FONT".into(), font.display().to_string()));
            binds.push(Bind {
                source: font.clone(),
                target: font,
                writable: false,
            });
        }
        if !preload.is_empty() {
            spec.env.push(("AIRLOCK_PRELOAD".into(), preload.join(",")));
        }
        spec.binds = binds;
        spec.symlinks = symlinks;
        spec.files = vec![SandboxFile {
            path: RUNNER_PATH.into(),
            contents: RUNNER_SOURCE.as_bytes().to_vec(),
            mode: 0o444,
        }];
        spec.channel = Some(Channel {
            input: Vec::new(),
            output_limit: Caps::default().channel_bytes(),
        });
        spec.stdin = self.stdin.clone();
        spec.limits = limits;
        spec.allow_exec_writable = self.grants.allow_ffi;
        spec.disabled = self.grants.insecure_disable.clone();
        spec.validate()
            .map_err(|e| invalid("request", e.to_string()))?;
        Ok(spec)
    }

    /// The frame the runner reads on fd 3: the code, its variables and files, and what it
    /// may do.
    pub fn request_frame(&self) -> Result<Vec<u8>, InvalidRequest> {
        if self.code.len() > MAX_CODE_BYTES {
            return Err(invalid(
                "code",
                format!(
                    "{} bytes is above the {MAX_CODE_BYTES}-byte limit",
                    self.code.len()
                ),
            ));
        }
        if self.code.contains('\0') {
            return Err(invalid("code", "contains a NUL byte"));
        }
        self.check_variables()?;
        self.check_input_files()?;
        let b64 = base64::engine::general_purpose::STANDARD;
        let files: Vec<serde_json::Value> = self
            .files
            .iter()
            .map(|f| serde_json::json!({"name": f.name, "data": base64::Engine::encode(&b64, &f.data)}))
            .collect();
        Ok(runner::frame(&serde_json::json!({
            "type": "execute",
            "version": 1,
            "code": self.code,
            "filename": CODE_FILENAME,
            "variables": self.variables,
            "files": files,
            "allow_run": self.allow_run,
            "limits": Caps::default(),
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn python() -> Interpreter {
        Interpreter {
            executable: "/usr/bin/python3".into(),
            real_executable: "/usr/bin/python3.11".into(),
            prefixes: vec!["/usr".into()],
            version: "3.11.0".into(),
            base_executable: "/usr/bin/python3.11".into(),
            base_prefixes: vec!["/usr".into()],
        }
    }

    fn field_of(req: ExecutionRequest) -> String {
        req.to_spec(&python(), &Policy::default())
            .unwrap_err()
            .field
    }

    #[test]
    fn limits_out_of_range_name_their_flag() {
        let base = ExecutionRequest {
            code: "print(1)".into(),
            ..Default::default()
        };
        assert_eq!(
            field_of(ExecutionRequest {
                timeout: 0.0,
                ..base.clone()
            }),
            "timeout"
        );
        assert_eq!(
            field_of(ExecutionRequest {
                timeout: -1.0,
                ..base.clone()
            }),
            "timeout"
        );
        assert_eq!(
            field_of(ExecutionRequest {
                timeout: f64::NAN,
                ..base.clone()
            }),
            "timeout"
        );
        assert_eq!(
            field_of(ExecutionRequest {
                max_memory_mb: 1,
                ..base.clone()
            }),
            "memory"
        );
        assert_eq!(
            field_of(ExecutionRequest {
                max_memory_mb: u64::MAX >> 20,
                ..base.clone()
            }),
            "memory"
        );
        assert_eq!(
            field_of(ExecutionRequest {
                max_cpu_percent: 0,
                ..base.clone()
            }),
            "cpu"
        );
        assert_eq!(
            field_of(ExecutionRequest {
                max_processes: 0,
                ..base.clone()
            }),
            "pids"
        );
        assert_eq!(
            field_of(ExecutionRequest {
                output_limit: u64::MAX,
                ..base.clone()
            }),
            "output-limit"
        );
        assert_eq!(
            field_of(ExecutionRequest {
                language: "cobol".into(),
                ..base
            }),
            "lang"
        );
    }

    #[test]
    fn network_grants_are_refused_not_ignored() {
        let mut req = ExecutionRequest {
            code: "print(1)".into(),
            ..Default::default()
        };
        req.grants.allow_net = vec!["127.0.0.1:80".into()];
        assert_eq!(field_of(req), "allow-net");
    }

    #[test]
    fn write_grants_need_an_operator_root() {
        let dir = std::env::temp_dir().join(format!("airlock-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("inner")).unwrap();
        let mut req = ExecutionRequest {
            code: "print(1)".into(),
            ..Default::default()
        };
        req.grants.allow_write = vec![dir.join("inner")];
        let refused = req.to_spec(&python(), &Policy::default()).unwrap_err();
        assert_eq!(refused.field, "allow-write");
        let policy = Policy {
            write_roots: vec![dir.clone()],
            ..Policy::default()
        };
        let spec = req.to_spec(&python(), &policy).unwrap();
        assert!(spec
            .binds
            .iter()
            .any(|b| b.writable && b.target.ends_with("inner")));
        // A symlink inside the root that points out of it is refused.
        std::os::unix::fs::symlink("/etc", dir.join("out")).unwrap();
        req.grants.allow_write = vec![dir.join("out")];
        assert_eq!(
            req.to_spec(&python(), &policy).unwrap_err().field,
            "allow-write"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn argv0_is_the_interpreter_path_so_sys_executable_is_set() {
        let req = ExecutionRequest {
            code: "print(1)".into(),
            ..Default::default()
        };
        let spec = req.to_spec(&python(), &Policy::default()).unwrap();
        assert_eq!(spec.args[0], "/usr/bin/python3");
    }

    #[test]
    fn env_is_an_allow_list() {
        let req = ExecutionRequest {
            code: "print(1)".into(),
            ..Default::default()
        };
        let spec = req.to_spec(&python(), &Policy::default()).unwrap();
        assert!(spec.env.iter().all(|(k, _)| k != "AIRLOCK_CANARY_NOT_SET"));
        assert!(!spec
            .env
            .iter()
            .any(|(k, _)| k == "USER" || k == "SSH_AUTH_SOCK"));
    }
}
