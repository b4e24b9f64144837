//! Errors of the jail. Every variant names the operation or layer that failed, so that
//! "fail closed" always comes with a reason an operator can act on.

use std::io;
use std::path::PathBuf;

/// The isolation layers, in the order the jail builds them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    Cgroup,
    Namespaces,
    UidMap,
    Mounts,
    PivotRoot,
    Hostname,
    Network,
    Fds,
    Rlimits,
    Capabilities,
    NoNewPrivs,
    Landlock,
    Seccomp,
    Exec,
    /// A warm pool's template, or the check of a child it made.
    Zygote,
}

impl Layer {
    /// Every layer, in build order.
    pub const ALL: [Layer; 15] = [
        Layer::Cgroup,
        Layer::Namespaces,
        Layer::UidMap,
        Layer::Mounts,
        Layer::PivotRoot,
        Layer::Hostname,
        Layer::Network,
        Layer::Fds,
        Layer::Rlimits,
        Layer::Capabilities,
        Layer::NoNewPrivs,
        Layer::Landlock,
        Layer::Seccomp,
        Layer::Exec,
        Layer::Zygote,
    ];

    /// The layer a child reported by name (unknown names count as the exec step).
    pub(crate) fn from_name(name: &str) -> Layer {
        Layer::ALL
            .into_iter()
            .find(|l| l.name() == name)
            .unwrap_or(Layer::Exec)
    }

    pub fn name(self) -> &'static str {
        match self {
            Layer::Cgroup => "cgroup",
            Layer::Namespaces => "namespaces",
            Layer::UidMap => "uid_map",
            Layer::Mounts => "mounts",
            Layer::PivotRoot => "pivot_root",
            Layer::Hostname => "hostname",
            Layer::Network => "network",
            Layer::Fds => "fds",
            Layer::Rlimits => "rlimits",
            Layer::Capabilities => "capabilities",
            Layer::NoNewPrivs => "no_new_privs",
            Layer::Landlock => "landlock",
            Layer::Seccomp => "seccomp",
            Layer::Exec => "exec",
            Layer::Zygote => "zygote",
        }
    }
}

impl std::fmt::Display for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JailError {
    /// The caller asked for something invalid; nothing was started.
    #[error("invalid {field}: {reason}")]
    InvalidSpec { field: String, reason: String },

    /// An isolation layer could not be set up; no code ran.
    #[error("sandbox layer {layer} failed: {message}")]
    Layer { layer: Layer, message: String },

    /// The caller cancelled the run before the program started.
    #[error("cancelled before the program started")]
    Cancelled,

    /// The supervisor itself failed (pipes, fork, waiting).
    #[error("{op}: {source}")]
    Supervisor {
        op: &'static str,
        #[source]
        source: io::Error,
    },

    #[error("{op} {path}: {source}")]
    Path {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl JailError {
    pub(crate) fn layer(layer: Layer, message: impl Into<String>) -> Self {
        JailError::Layer {
            layer,
            message: message.into(),
        }
    }

    pub(crate) fn supervisor(op: &'static str) -> impl FnOnce(io::Error) -> Self {
        move |source| JailError::Supervisor { op, source }
    }
}
