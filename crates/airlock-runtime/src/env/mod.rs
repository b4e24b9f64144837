//! Managed Python environments: virtual environments that sandboxes run in.
//!
//! Layout under the data dir (`$AIRLOCK_HOME`, default `~/.local/share/airlock`):
//!
//! ```text
//! envs/NAME/env.json              the VirtualEnvironment record; names the current build
//! envs/NAME/usage.json            last use and use count (updated by every run)
//! envs/NAME/builds/ID/            a virtual environment, seen as /env in sandboxes
//! envs/NAME/builds/ID.lease       held shared by runs using that build
//! envs/.locks/NAME.lock           held while NAME is being created or changed
//! ```
//!
//! Every change builds a new directory — a fresh one for `create`, a copy of the current
//! build for `install` — and switches `env.json` to it (an atomic rename) only once the
//! installer succeeded and the result passed a health probe; on failure the new directory
//! is deleted and the environment is exactly as it was. Builds are made under the sandbox path `/env`, so
//! they work wherever they sit on the host. The package cache and airlock's own uv live
//! under `$AIRLOCK_CACHE` (default `~/.cache/airlock`), shared by all data dirs.

mod files;
mod installer;
mod model;
mod names;

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;

use airlock_jail::Bind;

pub use files::normalize;
pub use installer::{Tool, ENV_MOUNT, UV_VERSION};
pub use model::{Package, Status, VirtualEnvironment};
pub use names::{check_env_name, check_package, NO_ENV};

use crate::python::{Interpreter, PythonError};
use installer::Installer;

/// The environment `airlock run` uses unless told otherwise; created on first use.
pub const DEFAULT_ENV: &str = "default";
/// What the default environment holds (CONTRACT.md).
pub const DEFAULT_PACKAGES: &[&str] = &["numpy", "pandas", "scipy", "matplotlib", "seaborn"];

#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error("invalid environment name {name:?}: {reason}")]
    InvalidName { name: String, reason: String },
    #[error("invalid package {spec:?}: {reason}")]
    InvalidPackage { spec: String, reason: String },
    #[error("invalid --python {0}")]
    InvalidPython(String),
    #[error("no environment named {0:?}")]
    NotFound(String),
    #[error("environment {name:?} {reason}")]
    Conflict { name: String, reason: String },
    #[error("environment {name:?} is corrupted: {reason}")]
    Corrupted { name: String, reason: String },
    #[error("installer failed to {step}:\n{output}")]
    Installer { step: String, output: String },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Jail(#[from] airlock_jail::JailError),
    #[error(transparent)]
    Python(#[from] PythonError),
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> EnvError + 'a {
    move |source| EnvError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Receives what a long operation is doing, for a progress display.
pub trait Progress {
    /// A new stage ("creating environment default", "installing numpy, pandas").
    fn stage(&self, what: &str);
    /// A line the installer printed.
    fn output(&self, line: &str);
    /// A new environment's record exists (status creating); its build follows.
    fn created(&self, _env: &VirtualEnvironment) {}
}

/// Open (creating it if needed) a file used only for its lock.
fn lock_file(path: &Path) -> Result<File, EnvError> {
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(io("open", path))
}

/// Progress that goes nowhere (scripts, `--quiet`).
#[derive(Debug)]
pub struct Quiet;

impl Progress for Quiet {
    fn stage(&self, _: &str) {}
    fn output(&self, _: &str) {}
}

/// What a run needs to use an environment: its base interpreter, the interpreter path
/// inside the sandbox, the bind of its build, and a lease that keeps the build from being
/// deleted while the run lasts.
#[derive(Debug)]
pub struct EnvRuntime {
    pub name: String,
    pub id: String,
    pub interpreter: Interpreter,
    pub bind: Bind,
    _lease: File,
}

/// The interpreter a run uses and the binds it needs: the environment's of `runtime`, or
/// the host's own interpreter without one (`--env none`).
pub fn interpreter_for(
    runtime: Option<&EnvRuntime>,
) -> Result<(Interpreter, Vec<Bind>), PythonError> {
    Ok(match runtime {
        Some(rt) => (rt.interpreter.clone(), vec![rt.bind.clone()]),
        None => (Interpreter::default_host()?, Vec::new()),
    })
}

/// How often and when an environment was last used (kept apart from the record).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Usage {
    count: u64,
    last_used_at: Option<chrono::DateTime<Utc>>,
}

/// The environments of one data dir.
#[derive(Debug, Clone)]
pub struct Environments {
    home: PathBuf,
    cache: PathBuf,
}

fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// Whether the current process is root (environments are then handed to the installer
/// uid while being built, and back to root afterwards).
fn running_as_root() -> bool {
    airlock_jail::doctor::is_root()
}

impl Environments {
    /// The data dir from `$AIRLOCK_HOME` (or `~/.local/share/airlock`) and the cache from
    /// `$AIRLOCK_CACHE` (or `~/.cache/airlock`).
    pub fn from_env() -> Result<Environments, EnvError> {
        let home = std::env::var_os("AIRLOCK_HOME")
            .map(PathBuf::from)
            .or_else(|| home_dir().map(|h| h.join(".local/share/airlock")));
        let cache = std::env::var_os("AIRLOCK_CACHE")
            .map(PathBuf::from)
            .or_else(|| home_dir().map(|h| h.join(".cache/airlock")));
        match (home, cache) {
            (Some(home), Some(cache)) => Environments::open(home, cache),
            _ => Err(EnvError::Io {
                op: "find the data dir (set AIRLOCK_HOME and AIRLOCK_CACHE, or HOME)",
                path: PathBuf::new(),
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            }),
        }
    }

    pub fn open(home: PathBuf, cache: PathBuf) -> Result<Environments, EnvError> {
        for dir in [home.join("envs/.locks"), cache.join("tools")] {
            fs::create_dir_all(&dir).map_err(io("create", &dir))?;
        }
        Ok(Environments { home, cache })
    }

    pub fn home(&self) -> &Path {
        &self.home
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.home.join("envs").join(name)
    }

    fn record_path(&self, name: &str) -> PathBuf {
        self.dir(name).join("env.json")
    }

    /// Take the lock that serialises changes to `name`: at once or a conflict (`wait`
    /// false), or after whatever holds it finishes (`wait` true).
    fn lock(&self, name: &str, wait: bool) -> Result<File, EnvError> {
        let path = self.home.join("envs/.locks").join(format!("{name}.lock"));
        let file = lock_file(&path)?;
        if wait {
            file.lock().map_err(io("lock", &path))?;
        } else if file.try_lock().is_err() {
            return Err(EnvError::Conflict {
                name: name.to_string(),
                reason: "is being created or changed by another operation".into(),
            });
        }
        Ok(file)
    }

    /// The record with the use counters of `usage.json` filled in.
    fn with_usage(&self, mut env: VirtualEnvironment) -> VirtualEnvironment {
        if let Ok(text) = fs::read(self.dir(&env.name).join("usage.json")) {
            if let Ok(usage) = serde_json::from_slice::<Usage>(&text) {
                env.usage_count = usage.count;
                env.last_used_at = usage.last_used_at;
            }
        }
        env
    }

    fn load(&self, name: &str) -> Result<VirtualEnvironment, EnvError> {
        let path = self.record_path(name);
        let text = match fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(EnvError::NotFound(name.to_string()))
            }
            Err(e) => return Err(io("read", &path)(e)),
        };
        let env = serde_json::from_slice(&text).map_err(|e| EnvError::Corrupted {
            name: name.to_string(),
            reason: format!("{} is unreadable: {e}", path.display()),
        })?;
        Ok(self.with_usage(env))
    }

    fn save(&self, env: &VirtualEnvironment) -> Result<(), EnvError> {
        let path = self.record_path(&env.name);
        let text = serde_json::to_vec_pretty(env).map_err(|e| EnvError::Io {
            op: "encode",
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        files::write_atomic(&path, &text).map_err(io("write", &path))
    }

    /// The record of `name`, with its status checked against what is on disk.
    pub fn get(&self, name: &str) -> Result<VirtualEnvironment, EnvError> {
        check_env_name(name)?;
        let mut env = self.load(name)?;
        match env.status {
            Status::Ready => {
                if let Err(reason) = self.quick_check(&env) {
                    env.status = Status::Corrupted;
                    env.error = Some(reason);
                }
            }
            // A creation in progress holds the lock; one that does not was interrupted.
            Status::Creating if self.lock(name, false).is_ok() => {
                env.status = Status::Failed;
                env.error = Some("its creation was interrupted; create it again".into());
            }
            _ => {}
        }
        Ok(env)
    }

    /// An environment by name or by id (the HTTP API's `{id}` accepts either).
    pub fn find(&self, id_or_name: &str) -> Result<VirtualEnvironment, EnvError> {
        if check_env_name(id_or_name).is_ok() {
            match self.get(id_or_name) {
                Err(EnvError::NotFound(_)) => {}
                found => return found,
            }
        }
        self.list()?
            .into_iter()
            .find(|e| e.id == id_or_name)
            .ok_or_else(|| EnvError::NotFound(id_or_name.chars().take(80).collect()))
    }

    /// Every environment, by name.
    pub fn list(&self) -> Result<Vec<VirtualEnvironment>, EnvError> {
        let dir = self.home.join("envs");
        let mut envs = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io("list", &dir))? {
            let entry = entry.map_err(io("list", &dir))?;
            let Some(name) = entry.file_name().to_str().map(String::from) else {
                continue;
            };
            if check_env_name(&name).is_err() {
                continue;
            }
            match self.get(&name) {
                Ok(env) => envs.push(env),
                Err(EnvError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        envs.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(envs)
    }

    /// The build directory `current` points at.
    fn current_build(&self, env: &VirtualEnvironment) -> Option<PathBuf> {
        env.build
            .as_ref()
            .map(|id| self.dir(&env.name).join("builds").join(id))
    }

    /// Cheap corruption check: the build exists and its interpreter resolves to a file.
    fn quick_check(&self, env: &VirtualEnvironment) -> Result<(), String> {
        let build = self.current_build(env).ok_or("no current build")?;
        if !build.join("pyvenv.cfg").is_file() {
            return Err(format!("{} has no pyvenv.cfg", build.display()));
        }
        if !env.base.base_executable.is_file() {
            return Err(format!(
                "base interpreter {} is missing",
                env.base.base_executable.display()
            ));
        }
        Ok(())
    }

    /// The base interpreter for `python`: a path, a version ("3.11" → `python3.11` on
    /// PATH), or the host default.
    fn base_interpreter(python: Option<&str>) -> Result<Interpreter, EnvError> {
        let found = match python {
            None => Interpreter::default_host()?,
            Some(p) if p.contains('/') => Interpreter::discover(p)?,
            // A version this host has no interpreter for is the caller's to change.
            Some(v) if v.chars().all(|c| c.is_ascii_digit() || c == '.') => {
                Interpreter::discover(&format!("python{v}"))
                    .map_err(|e| EnvError::InvalidPython(format!("{v}: {e}")))?
            }
            Some(other) => {
                return Err(EnvError::InvalidPython(format!(
                    "{other:?}: give a version such as 3.11 or an interpreter path"
                )))
            }
        };
        Ok(found.base())
    }

    /// uv: `$AIRLOCK_UV`, airlock's own copy in the cache, or one installed there now;
    /// pip when none can be had.
    fn installer(&self, base: &Interpreter, progress: &dyn Progress) -> Installer {
        let cache = self.cache.join("packages");
        let tools = self.cache.join("tools/uv");
        let forced = std::env::var("AIRLOCK_INSTALLER").ok();
        let chosen = if forced.as_deref() == Some("pip") {
            Tool::Pip
        } else if let Some(uv) = std::env::var_os("AIRLOCK_UV").map(PathBuf::from) {
            Tool::Uv(uv)
        } else if tools.join("bin/uv").is_file() {
            Tool::Uv(tools.join("bin/uv"))
        } else {
            progress.stage(&format!("installing uv {UV_VERSION} for airlock"));
            match self.bootstrap_uv(base, &tools, progress) {
                Ok(uv) => Tool::Uv(uv),
                Err(e) => {
                    progress.stage(&format!("uv unavailable ({e}); using pip"));
                    Tool::Pip
                }
            }
        };
        Installer::new(chosen, base.clone(), cache)
    }

    fn bootstrap_uv(
        &self,
        base: &Interpreter,
        tools: &Path,
        progress: &dyn Progress,
    ) -> Result<PathBuf, EnvError> {
        let lock_path = self.cache.join("tools/uv.lock");
        let lock = File::create(&lock_path).map_err(io("open", &lock_path))?;
        lock.lock().map_err(io("lock", &lock_path))?;
        if tools.join("bin/uv").is_file() {
            return Ok(tools.join("bin/uv"));
        }
        let staging = self
            .cache
            .join(format!("tools/uv.staging-{}", std::process::id()));
        let _ = fs::remove_dir_all(&staging);
        fs::create_dir_all(&staging).map_err(io("create", &staging))?;
        let cache = self.package_cache()?;
        let result = self.as_installer(&staging).and_then(|_| {
            Installer::bootstrap_uv(base, &cache, &staging, progress)?;
            self.take_back(&staging)
        });
        match result.and_then(|_| fs::rename(&staging, tools).map_err(io("rename", tools))) {
            Ok(()) => Ok(tools.join("bin/uv")),
            Err(e) => {
                let _ = fs::remove_dir_all(&staging);
                Err(e)
            }
        }
    }

    /// The shared package cache, owned by the installer uid when airlock is root.
    fn package_cache(&self) -> Result<PathBuf, EnvError> {
        let cache = self.cache.join("packages");
        fs::create_dir_all(&cache).map_err(io("create", &cache))?;
        if running_as_root() {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&cache, fs::Permissions::from_mode(0o700))
                .map_err(io("chmod", &cache))?;
            std::os::unix::fs::chown(
                &cache,
                Some(airlock_jail::INSTALLER_UID),
                Some(airlock_jail::INSTALLER_UID),
            )
            .map_err(io("chown", &cache))?;
        }
        Ok(cache)
    }

    /// Hand `dir` to the installer uid (as root) so the installer sandbox may write it.
    fn as_installer(&self, dir: &Path) -> Result<(), EnvError> {
        if running_as_root() {
            let uid = airlock_jail::INSTALLER_UID;
            files::chown_tree(dir, uid, uid).map_err(io("chown", dir))?;
        }
        Ok(())
    }

    /// Take `dir` back from the installer uid once the installer is done with it.
    fn take_back(&self, dir: &Path) -> Result<(), EnvError> {
        if running_as_root() {
            files::chown_tree(dir, 0, 0).map_err(io("chown", dir))?;
        }
        Ok(())
    }

    /// Run the installer into a new build of `env`, check it, and make it current in the
    /// record (saved); the build it replaces is removed unless a run still uses it.
    /// `copy_current`: start from a copy of the current build (install) or empty (create).
    fn build(
        &self,
        env: &mut VirtualEnvironment,
        packages: &[String],
        copy_current: bool,
        progress: &dyn Progress,
    ) -> Result<(), EnvError> {
        let builds = self.dir(&env.name).join("builds");
        fs::create_dir_all(&builds).map_err(io("create", &builds))?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let staging = builds.join(&id);
        let mut next = env.clone();
        let built = self
            .build_into(&mut next, &staging, packages, copy_current, progress)
            .and_then(|()| {
                next.build = Some(id);
                next.status = Status::Ready;
                next.error = None;
                self.save(&next)
            });
        if let Err(e) = built {
            let _ = fs::remove_dir_all(&staging);
            return Err(e);
        }
        let previous = std::mem::replace(env, next).build;
        if let Some(old) = previous {
            self.remove_build_if_unused(&env.name, &old);
        }
        Ok(())
    }

    fn build_into(
        &self,
        env: &mut VirtualEnvironment,
        staging: &Path,
        packages: &[String],
        copy_current: bool,
        progress: &dyn Progress,
    ) -> Result<(), EnvError> {
        let current = self.current_build(env).filter(|_| copy_current);
        match &current {
            Some(current) => files::copy_tree(current, staging).map_err(io("copy", current))?,
            None => fs::create_dir(staging).map_err(io("create", staging))?,
        }
        self.package_cache()?;
        self.as_installer(staging)?;
        let installer = self.installer(&env.base, progress);
        env.installer = installer.tool.describe();
        if current.is_none() {
            progress.stage(&format!(
                "creating environment {} with Python {}",
                env.name, env.base.version
            ));
            installer.create_venv(staging, progress)?;
        }
        if !packages.is_empty() {
            progress.stage(&format!(
                "installing {} into {}",
                packages.join(", "),
                env.name
            ));
            installer.install(staging, packages, progress)?;
        }
        self.take_back(staging)?;
        progress.stage(&format!("checking environment {}", env.name));
        installer::health_probe(&env.base, staging).map_err(|reason| EnvError::Corrupted {
            name: env.name.clone(),
            reason,
        })?;
        self.refresh_contents(env, staging)
    }

    /// Re-read the package list and size of a build.
    fn refresh_contents(&self, env: &mut VirtualEnvironment, build: &Path) -> Result<(), EnvError> {
        let now = Utc::now();
        let found = files::installed_packages(build).map_err(io("list packages in", build))?;
        env.packages = found
            .into_iter()
            .map(|(name, version)| {
                let installed_at = env
                    .packages
                    .iter()
                    .find(|p| p.name == name && p.version == version)
                    .map_or(now, |p| p.installed_at);
                Package {
                    name,
                    version,
                    installed_at,
                }
            })
            .collect();
        env.size_mb =
            files::tree_size(build).map_err(io("measure", build))? as f64 / (1024.0 * 1024.0);
        env.updated_at = now;
        Ok(())
    }

    /// Lease file of a build: runs hold it shared; removal needs it exclusively.
    fn lease_path(&self, name: &str, build: &str) -> PathBuf {
        self.dir(name).join("builds").join(format!("{build}.lease"))
    }

    fn remove_build_if_unused(&self, name: &str, build: &str) {
        let lease = self.lease_path(name, build);
        let unused = lock_file(&lease)
            .map(|f| f.try_lock().is_ok())
            .unwrap_or(false);
        if unused {
            let _ = fs::remove_dir_all(self.dir(name).join("builds").join(build));
            let _ = fs::remove_file(&lease);
        }
    }

    /// `airlock env create NAME`: build a new environment with `packages`.
    pub fn create(
        &self,
        name: &str,
        python: Option<&str>,
        packages: &[String],
        progress: &dyn Progress,
    ) -> Result<VirtualEnvironment, EnvError> {
        check_env_name(name)?;
        packages.iter().try_for_each(|p| check_package(p))?;
        let _lock = self.lock(name, false)?;
        match self.load(name) {
            // Under the lock, a record still creating is one whose creation was interrupted.
            Ok(existing) if !matches!(existing.status, Status::Failed | Status::Creating) => {
                return Err(EnvError::Conflict {
                    name: name.to_string(),
                    reason: "already exists".into(),
                })
            }
            Ok(_) | Err(EnvError::NotFound(_)) | Err(EnvError::Corrupted { .. }) => {}
            Err(e) => return Err(e),
        }
        self.create_locked(name, python, packages, progress)
    }

    fn create_locked(
        &self,
        name: &str,
        python: Option<&str>,
        packages: &[String],
        progress: &dyn Progress,
    ) -> Result<VirtualEnvironment, EnvError> {
        // An interpreter the host lacks is refused before anything is written.
        let base = Environments::base_interpreter(python)?;
        let dir = self.dir(name);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).map_err(io("create", &dir))?;
        let now = Utc::now();
        let mut env = VirtualEnvironment {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.to_string(),
            path: dir.clone(),
            python_version: base.version.clone(),
            status: Status::Creating,
            error: None,
            packages: Vec::new(),
            last_used_at: None,
            usage_count: 0,
            created_at: now,
            updated_at: now,
            size_mb: 0.0,
            installer: String::new(),
            base,
            build: None,
        };
        self.save(&env)?;
        progress.created(&env);
        match self.build(&mut env, packages, false, progress) {
            Ok(()) => Ok(env),
            Err(e) => {
                env.status = Status::Failed;
                env.error = Some(e.to_string());
                env.updated_at = Utc::now();
                self.save(&env)?;
                Err(e)
            }
        }
    }

    /// `airlock env install NAME PKG...`: all or nothing.
    pub fn install(
        &self,
        name: &str,
        packages: &[String],
        progress: &dyn Progress,
    ) -> Result<VirtualEnvironment, EnvError> {
        check_env_name(name)?;
        packages.iter().try_for_each(|p| check_package(p))?;
        if packages.is_empty() {
            return Err(EnvError::InvalidPackage {
                spec: String::new(),
                reason: "name at least one package to install".into(),
            });
        }
        let _lock = self.lock(name, false)?;
        let mut env = self.get(name)?;
        if env.status != Status::Ready {
            return Err(EnvError::Conflict {
                name: name.to_string(),
                reason: format!(
                    "is {:?}, not ready: {}",
                    env.status,
                    env.error.clone().unwrap_or_default()
                ),
            });
        }
        self.build(&mut env, packages, true, progress)?;
        Ok(self.with_usage(env))
    }

    /// `airlock env check NAME`: start the environment's interpreter in a sandbox; one
    /// that does not start is marked corrupted (and runs are refused until it is rebuilt).
    pub fn check(&self, name: &str) -> Result<VirtualEnvironment, EnvError> {
        check_env_name(name)?;
        let _lock = self.lock(name, false)?;
        let mut env = self.get(name)?;
        if env.status == Status::Ready {
            let build = self.current_build(&env).unwrap_or_default();
            if let Err(reason) = installer::health_probe(&env.base, &build) {
                env.status = Status::Corrupted;
                env.error = Some(reason);
                env.updated_at = Utc::now();
                self.save(&env)?;
            }
        }
        Ok(env)
    }

    /// `airlock env rm NAME`.
    pub fn remove(&self, name: &str) -> Result<VirtualEnvironment, EnvError> {
        check_env_name(name)?;
        let _lock = self.lock(name, false)?;
        let mut env = self.load(name)?;
        if let Some(build) = &env.build {
            let lease = lock_file(&self.lease_path(name, build))?;
            if lease.try_lock().is_err() {
                return Err(EnvError::Conflict {
                    name: name.to_string(),
                    reason: "is in use by a running sandbox".into(),
                });
            }
        }
        let dir = self.dir(name);
        let trash = self
            .home
            .join("envs/.locks")
            .join(format!("{name}.removing-{}", uuid::Uuid::new_v4().simple()));
        fs::rename(&dir, &trash).map_err(io("remove", &dir))?;
        fs::remove_dir_all(&trash).map_err(io("remove", &trash))?;
        env.status = Status::Deleted;
        env.updated_at = Utc::now();
        Ok(env)
    }

    /// `airlock env gc --unused-for DAYS`: remove environments not used for that long
    /// (never-used ones count from their creation). Returns the removed names.
    pub fn gc(&self, unused_for: Duration) -> Result<Vec<String>, EnvError> {
        let cutoff =
            Utc::now() - chrono::Duration::from_std(unused_for).unwrap_or(chrono::Duration::MAX);
        let mut removed = Vec::new();
        self.remove_leftovers()?;
        for env in self.list()? {
            let last = env.last_used_at.unwrap_or(env.created_at);
            if last <= cutoff {
                match self.remove(&env.name) {
                    Ok(_) => removed.push(env.name),
                    Err(EnvError::Conflict { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(removed)
    }

    /// Builds no record points at (an install that crashed, a replaced build a run was
    /// still using) and half-removed environments.
    fn remove_leftovers(&self) -> Result<(), EnvError> {
        let locks = self.home.join("envs/.locks");
        for entry in fs::read_dir(&locks).map_err(io("list", &locks))?.flatten() {
            if entry.file_name().to_string_lossy().contains(".removing-") {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
        for env in self.list()? {
            let Ok(_lock) = self.lock(&env.name, false) else {
                continue;
            };
            let builds = self.dir(&env.name).join("builds");
            let Ok(entries) = fs::read_dir(&builds) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if !name.ends_with(".lease") && env.build.as_deref() != Some(name.as_str()) {
                    self.remove_build_if_unused(&env.name, &name);
                }
            }
        }
        Ok(())
    }

    /// Everything a run needs to use `name`, with its use recorded. The default
    /// environment is created first if it does not exist yet (or its creation failed).
    pub fn runtime(&self, name: &str, progress: &dyn Progress) -> Result<EnvRuntime, EnvError> {
        check_env_name(name)?;
        let env = match self.get(name) {
            // The default environment is made on first use, and made again after a
            // build that failed (an index that was unreachable for a while).
            Err(EnvError::NotFound(_)) if name == DEFAULT_ENV => self.ensure_default(progress)?,
            Ok(env) if name == DEFAULT_ENV && env.status == Status::Failed => {
                self.ensure_default(progress)?
            }
            other => other?,
        };
        match env.status {
            Status::Ready => {}
            Status::Corrupted => {
                return Err(EnvError::Corrupted {
                    name: name.to_string(),
                    reason: env.error.unwrap_or_default(),
                })
            }
            other => {
                return Err(EnvError::Conflict {
                    name: name.to_string(),
                    reason: format!("is {other:?}: {}", env.error.unwrap_or_default()),
                })
            }
        }
        let build = env.build.clone().unwrap_or_default();
        let lease_path = self.lease_path(name, &build);
        let lease = lock_file(&lease_path)?;
        lease.lock_shared().map_err(io("lock", &lease_path))?;
        self.record_use(name);
        let mut interpreter = env.base.clone();
        interpreter.executable = PathBuf::from(format!("{ENV_MOUNT}/bin/python"));
        Ok(EnvRuntime {
            name: name.to_string(),
            id: env.id.clone(),
            interpreter,
            bind: Bind {
                source: self.dir(name).join("builds").join(&build),
                target: ENV_MOUNT.into(),
                writable: false,
            },
            _lease: lease,
        })
    }

    /// Count a use (best effort: a run never fails because the counter could not be
    /// updated). Counters have a file and a lock of their own, so runs never wait for an
    /// install of the same environment.
    fn record_use(&self, name: &str) {
        let path = self.dir(name).join("usage.json");
        let lock_path = self.dir(name).join("usage.lock");
        let Ok(lock) = lock_file(&lock_path) else {
            return;
        };
        if lock.lock().is_err() {
            return;
        }
        let mut usage: Usage = fs::read(&path)
            .ok()
            .and_then(|t| serde_json::from_slice(&t).ok())
            .unwrap_or_default();
        usage.count += 1;
        usage.last_used_at = Some(Utc::now());
        if let Ok(text) = serde_json::to_vec(&usage) {
            let _ = files::write_atomic(&path, &text);
        }
    }

    /// Create the default environment unless another process already did (or is doing
    /// so, in which case this waits for it).
    pub fn ensure_default(&self, progress: &dyn Progress) -> Result<VirtualEnvironment, EnvError> {
        let _lock = self.lock(DEFAULT_ENV, true)?;
        match self.load(DEFAULT_ENV) {
            Ok(env) if env.status == Status::Ready => return Ok(env),
            Ok(_) | Err(EnvError::NotFound(_)) | Err(EnvError::Corrupted { .. }) => {}
            Err(e) => return Err(e),
        }
        let packages: Vec<String> = DEFAULT_PACKAGES.iter().map(|p| p.to_string()).collect();
        self.create_locked(DEFAULT_ENV, None, &packages, progress)
    }
}
