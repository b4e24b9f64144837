//! Airlock's jail: runs one program in a fresh set of Linux namespaces, on a minimal
//! read-only root reached by `pivot_root`, as an unprivileged user without capabilities,
//! under Landlock and a seccomp allow-list, inside its own cgroup, with a wall-clock limit
//! that kills everything it started. It knows nothing of Python: callers describe the
//! program, its binds and limits in a [`JailSpec`] and get an [`Outcome`] back.
//!
//! Public types only describe; the private `child` module enforces, and `sys` is the one
//! place that talks to the kernel (and the only `unsafe` code of the project).
//!
//! [`run`] forks. glibc keeps `malloc` usable in the child of a multi-threaded process and
//! the child code takes no locks, so it may be called from any thread.

mod boxid;
mod cgroup;
mod child;
pub mod doctor;
mod error;
mod landlock;
mod live;
mod plan;
mod seccomp;
mod spec;
mod supervisor;
#[allow(unsafe_code)]
mod sys;
mod zygote;

pub use boxid::INSTALLER_UID;
pub use error::{JailError, Layer};
pub use landlock::Enforcement;
pub use live::{CallLimits, Live};
pub use spec::{
    bounds, Bind, Channel, Identity, JailSpec, Limits, Network, Optional, SandboxFile, HOSTNAME,
    SANDBOX_UID, WORKDIR,
};
pub use supervisor::{
    run, settle, start, EndOfRun, Exit, Layers, Observer, Outcome, Pending, Stream,
};
pub use zygote::{Zygote, CHILD_UID_BASE};
