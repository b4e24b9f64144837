//! Finding a Python interpreter on the host and what the sandbox must see of it.
//!
//! `python3` on PATH may be a shell shim (pyenv) rather than the interpreter, so the host
//! interpreter is asked once for `sys.executable` and its prefixes; the sandbox then gets
//! read-only binds of exactly those, plus the system's shared-library directories, never
//! the shim, the user's home or anything else beside them.

use std::path::{Path, PathBuf};
use std::process::Command;

use airlock_jail::Bind;

/// A host interpreter and the host paths it needs.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Interpreter {
    /// sys.executable as the interpreter reports it: the path to exec. For a virtual
    /// environment this is the venv's own `bin/python` (a symlink), which is how Python
    /// finds `pyvenv.cfg`; resolving it would silently run the base interpreter instead.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub executable: PathBuf,
    /// The file `executable` resolves to.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub real_executable: PathBuf,
    /// sys.prefix, sys.base_prefix, sys.exec_prefix … (canonical, deduplicated).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub prefixes: Vec<PathBuf>,
    /// "3.11.7".
    pub version: String,
    /// The base interpreter behind a virtual environment (itself when it is one).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub base_executable: PathBuf,
    /// sys.base_prefix and sys.base_exec_prefix (canonical, deduplicated).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub base_prefixes: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum PythonError {
    #[error("python interpreter {0:?} could not be started: {1}")]
    Spawn(String, std::io::Error),
    #[error("python interpreter {0:?} failed to describe itself: {1}")]
    Describe(String, String),
}

const DESCRIBE: &str = "import json, os, sys, platform\n\
print(json.dumps({'executable': sys.executable, 'real': os.path.realpath(sys.executable), \
'prefixes': [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix], \
'base': os.path.realpath(getattr(sys, '_base_executable', sys.executable)), \
'base_prefixes': [sys.base_prefix, sys.base_exec_prefix], \
'version': platform.python_version()}))";

fn canonical_list(v: &serde_json::Value) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = v
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p.as_str())
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect();
    paths.sort();
    paths.dedup();
    paths
}

impl Interpreter {
    /// Ask `python` (a command name or path) where it really lives.
    pub fn discover(python: &str) -> Result<Interpreter, PythonError> {
        let out = Command::new(python)
            .args(["-I", "-c", DESCRIBE])
            .env_remove("PYTHONPATH")
            .output()
            .map_err(|e| PythonError::Spawn(python.to_string(), e))?;
        if !out.status.success() {
            return Err(PythonError::Describe(
                python.to_string(),
                String::from_utf8_lossy(&out.stderr).trim().to_string(),
            ));
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| PythonError::Describe(python.to_string(), e.to_string()))?;
        let executable = PathBuf::from(v["executable"].as_str().unwrap_or_default());
        let real_executable = PathBuf::from(v["real"].as_str().unwrap_or_default());
        if !executable.is_absolute() || !real_executable.is_absolute() {
            return Err(PythonError::Describe(
                python.to_string(),
                "no absolute sys.executable".into(),
            ));
        }
        let prefixes = canonical_list(&v["prefixes"]);
        let base_executable = PathBuf::from(v["base"].as_str().unwrap_or_default());
        if !base_executable.is_absolute() {
            return Err(PythonError::Describe(
                python.to_string(),
                "no base executable".into(),
            ));
        }
        Ok(Interpreter {
            executable,
            real_executable,
            prefixes,
            version: v["version"].as_str().unwrap_or_default().to_string(),
            base_executable,
            base_prefixes: canonical_list(&v["base_prefixes"]),
        })
    }

    /// The base interpreter behind this one (itself when it is not a virtual environment).
    pub fn base(&self) -> Interpreter {
        Interpreter {
            executable: self.base_executable.clone(),
            real_executable: self.base_executable.clone(),
            prefixes: self.base_prefixes.clone(),
            version: self.version.clone(),
            base_executable: self.base_executable.clone(),
            base_prefixes: self.base_prefixes.clone(),
        }
    }

    /// The interpreter named by `AIRLOCK_PYTHON`, or `python3` on PATH.
    pub fn default_host() -> Result<Interpreter, PythonError> {
        let name = std::env::var("AIRLOCK_PYTHON").unwrap_or_else(|_| "python3".into());
        Interpreter::discover(&name)
    }

    /// Read-only binds the sandbox needs to run this interpreter, and the top-level
    /// symlinks of a merged-/usr host (`/lib -> usr/lib`).
    pub fn sandbox_view(&self) -> (Vec<Bind>, Vec<(PathBuf, PathBuf)>) {
        let mut paths: Vec<PathBuf> = Vec::new();
        let mut symlinks = Vec::new();
        // Shared libraries and the dynamic loader.
        for top in ["/lib", "/lib64", "/lib32", "/bin", "/sbin"] {
            let p = Path::new(top);
            match std::fs::read_link(p) {
                Ok(to) => symlinks.push((p.to_path_buf(), to)),
                Err(_) if p.is_dir() && top.starts_with("/lib") => paths.push(p.to_path_buf()),
                Err(_) => {}
            }
        }
        for dir in [
            "/usr/lib",
            "/usr/lib64",
            "/usr/lib32",
            "/usr/share/zoneinfo",
        ] {
            if Path::new(dir).is_dir() {
                paths.push(dir.into());
            }
        }
        // The interpreter's own trees, unless already inside a bound directory.
        paths.push(self.executable.clone());
        paths.push(self.real_executable.clone());
        paths.extend(self.prefixes.iter().cloned());
        paths.sort();
        paths.dedup();
        let covered: Vec<PathBuf> = paths.clone();
        paths.retain(|p| !covered.iter().any(|c| c != p && p.starts_with(c)));

        let mut binds: Vec<Bind> = paths
            .into_iter()
            .filter_map(|p| {
                let source = std::fs::canonicalize(&p).ok()?;
                Some(Bind {
                    source,
                    target: p,
                    writable: false,
                })
            })
            .collect();
        for etc in ["/etc/ld.so.cache", "/etc/localtime"] {
            if let Ok(source) = std::fs::canonicalize(etc) {
                binds.push(Bind {
                    source,
                    target: etc.into(),
                    writable: false,
                });
            }
        }
        (binds, symlinks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_python_is_found_with_its_prefix() {
        let py = Interpreter::default_host().expect("CI has python3");
        assert!(py.executable.is_file(), "{py:?}");
        assert!(py.version.starts_with('3'));
        let (binds, _) = py.sandbox_view();
        assert!(
            binds.iter().any(|b| py.executable.starts_with(&b.target)),
            "the interpreter is bound: {binds:?}"
        );
        assert!(binds.iter().all(|b| !b.writable));
    }
}
