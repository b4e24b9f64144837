//! What runs in the forked children, in the order the jail is built.
//!
//! Three processes, each with one job:
//! - **stage** (forked by the supervisor, still host-privileged): joins the sandbox cgroup,
//!   unshares every namespace, waits for the supervisor to write its uid/gid maps, forks
//!   the init and waits for it. It stays outside the new pid namespace.
//! - **init** (pid 1 of the new pid namespace): builds the filesystem, pivots into it,
//!   drops every privilege and applies Landlock and seccomp, then forks the program and
//!   reaps every process until the program ends; its exit takes the namespace with it.
//! - **program**: a new session, stdio, no other descriptors, `execve`.
//!
//! Setup failures are reported on the report pipe as "layer: message" and the child exits;
//! the supervisor then refuses to run anything (fail closed).

use std::ffi::{CString, OsStr};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::Layer;
use crate::landlock::Enforcement;
use crate::plan::{Source, Step, DEVICES};
use crate::spec::{JailSpec, Network, Optional, HOSTNAME, SANDBOX_UID, WORKDIR};
use crate::sys;

/// Capability number of CAP_SYS_ADMIN (linux/capability.h).
const CAP_SYS_ADMIN: u64 = 21;

/// Where the new root is assembled, inside the new mount namespace (host unaffected).
const NEW_ROOT: &str = "/tmp";

/// Messages on the report pipe (child → supervisor). Each is written with one `write`,
/// below PIPE_BUF, so messages from different processes never interleave.
pub mod msg {
    pub const UNSHARED: u8 = b'U';
    pub const INIT_PID: u8 = b'P';
    pub const LANDLOCK: u8 = b'L';
    pub const ERROR: u8 = b'E';
    pub const EXITED: u8 = b'X';
    /// Supervisor → stage: the id maps are written.
    pub const MAPPED: u8 = b'M';
}

/// Descriptors the children use, prepared by the supervisor before fork.
#[derive(Debug)]
pub struct ChildFds {
    pub report: OwnedFd,
    pub exec_sync: OwnedFd,
    pub go: OwnedFd,
    pub stdin: Option<OwnedFd>,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
    /// The program's protocol channel: fd 3 reads what the supervisor sends, fd 4
    /// writes what it reads back.
    pub channel: Option<(OwnedFd, OwnedFd)>,
    /// A template's unix socket for descriptors (fd 5).
    pub control: Option<OwnedFd>,
}

/// Descriptors the program starts with: stdio, then the channel (when there is one), then
/// a template's control socket.
struct ProgramFds {
    stdin: Option<OwnedFd>,
    stdout: OwnedFd,
    stderr: OwnedFd,
    channel: Option<(OwnedFd, OwnedFd)>,
    control: Option<OwnedFd>,
}

/// Everything the children need, computed by the supervisor before fork.
#[derive(Debug)]
pub struct Prepared<'a> {
    pub spec: &'a JailSpec,
    /// The supervisor's pid, for the stage to check it was not orphaned.
    pub supervisor_pid: i32,
    /// Airlock is not root (setgroups is denied in the sandbox's user namespace).
    pub rootless: bool,
    pub steps: Vec<Step>,
    pub cgroup_procs: Vec<PathBuf>,
    /// Seccomp filters, applied in order (each one only narrows the last).
    pub seccomp: Vec<&'static seccompiler::BpfProgram>,
    pub writable: Vec<PathBuf>,
}

type StepResult<T = ()> = Result<T, (Layer, String)>;

fn fail<T>(layer: Layer, what: impl std::fmt::Display) -> StepResult<T> {
    Err((layer, what.to_string()))
}

fn cstr(path: impl AsRef<OsStr>) -> CString {
    // Paths were validated to hold no NUL byte; a NUL would be a bug, reported by the
    // kernel as a missing file rather than a panic.
    CString::new(path.as_ref().as_bytes()).unwrap_or_default()
}

fn report(fd: RawFd, tag: u8, payload: &[u8]) {
    let mut buf = Vec::with_capacity(payload.len() + 5);
    buf.push(tag);
    buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    buf.extend_from_slice(payload);
    let _ = sys::write_all(fd, &buf);
}

fn report_error_and_exit(fd: RawFd, (layer, message): (Layer, String)) -> ! {
    let text = format!("{}\0{}", layer.name(), message);
    let bytes = text.as_bytes();
    report(fd, msg::ERROR, &bytes[..bytes.len().min(1500)]);
    sys::exit_now(126)
}

/// Entry of the stage process. Never returns.
pub fn stage(prep: &Prepared, fds: ChildFds) -> ! {
    let report_fd = fds.report.as_raw_fd();
    match stage_inner(prep, fds) {
        Ok(code) => sys::exit_now(code),
        Err(e) => report_error_and_exit(report_fd, e),
    }
}

/// Be killed when the parent dies (the kernel clears this on every credential change).
fn die_with_parent() {
    let _ = sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
}

fn stage_inner(prep: &Prepared, fds: ChildFds) -> StepResult<i32> {
    die_with_parent();
    // Nothing the supervisor had open (sockets of a server, say) follows into the sandbox.
    let mut keep: Vec<u32> = [
        &fds.report,
        &fds.exec_sync,
        &fds.go,
        &fds.stdout,
        &fds.stderr,
    ]
    .into_iter()
    .chain(fds.stdin.as_ref())
    .chain(fds.control.as_ref())
    .chain(fds.channel.iter().flat_map(|(r, w)| [r, w]))
    .map(|f| f.as_raw_fd() as u32)
    .collect();
    keep.sort_unstable();
    sys::close_from(3, &keep).or_else(|e| fail(Layer::Fds, format!("close_range: {e}")))?;
    for procs in &prep.cgroup_procs {
        if let Err(e) = std::fs::write(procs, "0") {
            return fail(Layer::Cgroup, format!("join {}: {e}", procs.display()));
        }
    }
    let mut flags = libc::CLONE_NEWUSER
        | libc::CLONE_NEWNS
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWUTS
        | libc::CLONE_NEWCGROUP;
    if prep.spec.network == Network::None {
        flags |= libc::CLONE_NEWNET;
    }
    if let Err(e) = sys::unshare(flags) {
        return fail(
            Layer::Namespaces,
            format!("unshare(user, mount, pid, net, ipc, uts, cgroup): {e}"),
        );
    }
    // A credential change (entering the user namespace) clears the parent-death signal.
    die_with_parent();
    if sys::getppid() != prep.supervisor_pid {
        return fail(Layer::Namespaces, "the supervisor died during setup");
    }
    report(fds.report.as_raw_fd(), msg::UNSHARED, &[]);
    let mut byte = [0u8; 1];
    match sys::read(fds.go.as_raw_fd(), &mut byte) {
        Ok(1) if byte[0] == msg::MAPPED => {}
        _ => return fail(Layer::UidMap, "supervisor did not write the id maps"),
    }
    drop(fds.go);
    // pid 1 sees this pipe hang up if the stage dies before its parent-death signal is set.
    let (lifeline_r, lifeline_w) =
        sys::pipe().or_else(|e| fail(Layer::Namespaces, format!("lifeline pipe: {e}")))?;
    match sys::fork() {
        Err(e) => fail(Layer::Namespaces, format!("fork pid 1 of the sandbox: {e}")),
        Ok(sys::Forked::Child) => {
            drop(lifeline_w);
            let program = ProgramFds {
                stdin: fds.stdin,
                stdout: fds.stdout,
                stderr: fds.stderr,
                channel: fds.channel,
                control: fds.control,
            };
            init(prep, lifeline_r, fds.report, fds.exec_sync, program)
        }
        Ok(sys::Forked::Parent(pid)) => {
            drop(lifeline_r);
            let _lifeline = lifeline_w;
            report(fds.report.as_raw_fd(), msg::INIT_PID, &pid.to_le_bytes());
            drop(fds.exec_sync);
            drop(fds.stdout);
            drop(fds.stderr);
            drop(fds.stdin);
            drop(fds.channel);
            drop(fds.control);
            let status = sys::waitpid(pid, false)
                .ok()
                .flatten()
                .map_or(1, |(_, s)| s);
            Ok(if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                128 + libc::WTERMSIG(status)
            })
        }
    }
}

/// pid 1 of the sandbox. Never returns.
fn init(
    prep: &Prepared,
    lifeline: OwnedFd,
    report_fd: OwnedFd,
    exec_sync: OwnedFd,
    program_fds: ProgramFds,
) -> ! {
    let rfd = report_fd.as_raw_fd();
    let setup = || -> StepResult<Enforcement> {
        die_with_parent();
        sys::wipe_process_identity("airlock-init")
            .or_else(|e| fail(Layer::Fds, format!("hide the supervisor's arguments: {e}")))?;
        let sources = open_sources(prep)?;
        become_sandbox_user(prep)?;
        build_root(prep, &sources)?;
        drop(sources);
        enter_root()?;
        set_hostname()?;
        if prep.spec.network == Network::None {
            bring_up_loopback()?;
        }
        set_rlimits(prep)?;
        // A template keeps its namespace's capabilities to build its children, which
        // drop them (the host checks each child before handing it out).
        if !prep.spec.zygote {
            drop_capabilities()?;
        }
        set_no_new_privs()?;
        let disabled = |layer| prep.spec.disabled.contains(&layer);
        // Landlock forbids mounting, which a template's children must do.
        let landlock = if disabled(Optional::Landlock) || prep.spec.zygote {
            Enforcement::None
        } else {
            apply_landlock(prep)?
        };
        if !disabled(Optional::Seccomp) {
            apply_seccomp(prep)?;
        }
        Ok(landlock)
    };
    let landlock = match setup() {
        Ok(l) => l,
        Err(e) => report_error_and_exit(rfd, e),
    };
    // Taking the sandbox uid cleared the parent-death signal: set it for good, then make
    // sure the stage did not die in between (its end of the lifeline would have closed).
    die_with_parent();
    if sys::poll_readable(&[lifeline.as_raw_fd()], 0).map_or(true, |r| r[0]) {
        sys::exit_now(1);
    }
    drop(lifeline);
    report(rfd, msg::LANDLOCK, &[landlock as u8]);
    let _ = sys::prctl(libc::PR_SET_DUMPABLE, 0);

    let program = match sys::fork() {
        Err(e) => report_error_and_exit(rfd, (Layer::Exec, format!("fork the program: {e}"))),
        Ok(sys::Forked::Child) => {
            let Err(e) = exec_program(prep, rfd, exec_sync.as_raw_fd(), &program_fds);
            report_error_and_exit(rfd, e)
        }
        Ok(sys::Forked::Parent(pid)) => pid,
    };
    drop(exec_sync);
    drop(program_fds);
    // Reap every process of the namespace; report the program's status when it ends.
    // A template's children are still serving requests when it ends: pid 1 stays (its
    // exit would kill them) until the last of them is gone.
    loop {
        match sys::waitpid(-1, false) {
            Ok(Some((pid, status))) if pid == program => {
                report(rfd, msg::EXITED, &status.to_le_bytes());
                if !prep.spec.zygote {
                    sys::exit_now(0);
                }
            }
            Ok(_) => {}
            Err(_) => sys::exit_now(i32::from(!prep.spec.zygote)),
        }
    }
}

/// Open every bind source while still the host's user, so a path under a 0700 directory
/// such as /root can be reached; mounts later refer to the descriptors, not the paths.
fn open_sources(prep: &Prepared) -> StepResult<Vec<OwnedFd>> {
    if let Err(e) = sys::mount(
        None,
        &cstr("/"),
        None,
        libc::MS_REC | libc::MS_PRIVATE,
        None,
    ) {
        return fail(Layer::Mounts, format!("make / private: {e}"));
    }
    let mut fds = Vec::new();
    let devices = DEVICES.iter().map(|d| PathBuf::from("/dev").join(d));
    for (i, path) in prep
        .spec
        .binds
        .iter()
        .map(|b| b.source.clone())
        .chain(devices)
        .enumerate()
    {
        let fd = match sys::open(&cstr(&path), libc::O_PATH | libc::O_NOFOLLOW, 0) {
            Ok(fd) => fd,
            Err(e) => return fail(Layer::Mounts, format!("open {}: {e}", path.display())),
        };
        // The supervisor resolved symlinks; a path that resolves elsewhere now was swapped.
        let actual = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()));
        if i < prep.spec.binds.len() && actual.as_deref().ok() != Some(path.as_path()) {
            return fail(
                Layer::Mounts,
                format!(
                    "{} changed while being opened (now {:?})",
                    path.display(),
                    actual
                ),
            );
        }
        fds.push(fd);
    }
    Ok(fds)
}

/// Take the sandbox uid/gid (mapped to an unprivileged host id) while keeping, for now,
/// the capabilities of the new user namespace: files the jail creates belong to it.
fn become_sandbox_user(prep: &Prepared) -> StepResult {
    // Rootless, setgroups is denied in the namespace (the kernel's condition for mapping
    // the caller's uid); as root it must succeed, or host root's groups would follow.
    match sys::setgroups_empty() {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EPERM) && prep.rootless => {}
        Err(e) => return fail(Layer::UidMap, format!("setgroups: {e}")),
    }
    // A template is root of its namespace: its capabilities then survive its execve.
    let id = if prep.spec.zygote { 0 } else { SANDBOX_UID };
    sys::setresgid(id).or_else(|e| fail(Layer::UidMap, format!("setresgid: {e}")))?;
    sys::prctl(libc::PR_SET_KEEPCAPS, 1)
        .or_else(|e| fail(Layer::UidMap, format!("keepcaps: {e}")))?;
    sys::setresuid(id).or_else(|e| fail(Layer::UidMap, format!("setresuid: {e}")))?;
    match sys::effective_capabilities() {
        Ok(caps) if caps & (1 << CAP_SYS_ADMIN) != 0 => Ok(()),
        Ok(_) => fail(Layer::UidMap, "lost CAP_SYS_ADMIN in the user namespace"),
        Err(e) => fail(Layer::UidMap, format!("read capabilities: {e}")),
    }
}

fn under_root(target: &Path) -> PathBuf {
    let rel = target.strip_prefix("/").unwrap_or(target);
    Path::new(NEW_ROOT).join(rel)
}

fn mkdir_p(path: &Path) -> StepResult {
    let mut cur = PathBuf::from("/");
    for c in path.components().skip(1) {
        cur.push(c);
        if let Err(e) = sys::mkdir(&cstr(&cur), 0o755) {
            return fail(Layer::Mounts, format!("mkdir {}: {e}", cur.display()));
        }
    }
    Ok(())
}

fn tmpfs_options(size: u64, mode: u32) -> CString {
    cstr(format!("size={size},mode={mode:o},nr_inodes=65536"))
}

fn build_root(prep: &Prepared, sources: &[OwnedFd]) -> StepResult {
    let nbinds = prep.spec.binds.len();
    for step in &prep.steps {
        match step {
            Step::Tmpfs {
                target,
                size,
                mode,
                exec,
            } => {
                let at = under_root(target);
                mkdir_p(&at)?;
                let mut flags = libc::MS_NOSUID | libc::MS_NODEV;
                if !exec {
                    flags |= libc::MS_NOEXEC;
                }
                sys::mount(
                    Some(&cstr("tmpfs")),
                    &cstr(&at),
                    Some(&cstr("tmpfs")),
                    flags,
                    Some(&tmpfs_options(*size, *mode)),
                )
                .or_else(|e| {
                    fail(
                        Layer::Mounts,
                        format!("mount tmpfs at {}: {e}", target.display()),
                    )
                })?;
            }
            Step::Symlink { link, points_to } => {
                let at = under_root(link);
                if let Some(parent) = at.parent() {
                    mkdir_p(parent)?;
                }
                sys::symlink(&cstr(points_to), &cstr(&at))
                    .or_else(|e| fail(Layer::Mounts, format!("symlink {}: {e}", link.display())))?;
            }
            Step::Bind {
                source,
                target,
                writable,
                exec,
            } => {
                let fd = match source {
                    Source::Bind(i) => &sources[*i],
                    Source::Device(i) => &sources[nbinds + i],
                };
                bind(fd, target, *writable, *exec)?;
            }
            Step::File {
                target,
                contents,
                mode,
            } => {
                let at = under_root(target);
                if let Some(parent) = at.parent() {
                    mkdir_p(parent)?;
                }
                write_file(&at, contents, *mode)
                    .or_else(|e| fail(Layer::Mounts, format!("write {}: {e}", target.display())))?;
            }
            Step::Proc { target } => {
                let at = under_root(target);
                mkdir_p(&at)?;
                sys::mount(
                    Some(&cstr("proc")),
                    &cstr(&at),
                    Some(&cstr("proc")),
                    libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                    None,
                )
                .or_else(|e| fail(Layer::Mounts, format!("mount proc: {e}")))?;
            }
            Step::MaskFile { target } => {
                let at = under_root(target);
                if at.exists() {
                    let null = &sources[nbinds];
                    let src = cstr(format!("/proc/self/fd/{}", null.as_raw_fd()));
                    sys::mount(Some(&src), &cstr(&at), None, libc::MS_BIND, None).or_else(|e| {
                        fail(Layer::Mounts, format!("mask {}: {e}", target.display()))
                    })?;
                }
            }
            Step::MaskDir { target } => {
                let at = under_root(target);
                if at.is_dir() {
                    sys::mount(
                        Some(&cstr("tmpfs")),
                        &cstr(&at),
                        Some(&cstr("tmpfs")),
                        libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                        Some(&tmpfs_options(4096, 0o555)),
                    )
                    .or_else(|e| fail(Layer::Mounts, format!("mask {}: {e}", target.display())))?;
                }
            }
            Step::ReadOnly { target } => {
                let at = under_root(target);
                if at.exists() {
                    if target.starts_with("/proc") {
                        // Bind the subtree onto itself so it becomes its own mount first.
                        sys::mount(
                            Some(&cstr(&at)),
                            &cstr(&at),
                            None,
                            libc::MS_BIND | libc::MS_REC,
                            None,
                        )
                        .or_else(|e| {
                            fail(Layer::Mounts, format!("bind {}: {e}", target.display()))
                        })?;
                    }
                    remount(&at, target, libc::MS_RDONLY)?;
                }
            }
        }
    }
    Ok(())
}

fn write_file(path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents)?;
    f.set_permissions(std::fs::Permissions::from_mode(mode))
}

/// Bind `fd` at `target` (under the new root) and remount it with the sandbox's flags.
fn bind(fd: &OwnedFd, target: &Path, writable: bool, exec: bool) -> StepResult {
    let at = under_root(target);
    let src = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let is_dir = std::fs::metadata(&src).map(|m| m.is_dir()).unwrap_or(false);
    if is_dir {
        mkdir_p(&at)?;
    } else {
        if let Some(parent) = at.parent() {
            mkdir_p(parent)?;
        }
        if !at.exists() {
            write_file(&at, b"", 0o444).or_else(|e| {
                fail(
                    Layer::Mounts,
                    format!("create mount point {}: {e}", target.display()),
                )
            })?;
        }
    }
    sys::mount(Some(&cstr(&src)), &cstr(&at), None, libc::MS_BIND, None)
        .or_else(|e| fail(Layer::Mounts, format!("bind {}: {e}", target.display())))?;
    if target.starts_with("/dev") {
        // Device nodes keep their own mount's flags; nothing can be written into them.
        return Ok(());
    }
    let mut flags = if writable { 0 } else { libc::MS_RDONLY };
    if !exec {
        flags |= libc::MS_NOEXEC;
    }
    remount(&at, target, flags)
}

/// Remount a bind with nosuid,nodev plus `extra`, keeping the flags the kernel locks
/// (a less privileged namespace may not clear noexec or change atime behaviour).
fn remount(at: &Path, target: &Path, extra: libc::c_ulong) -> StepResult {
    let c = cstr(at);
    let kept = sys::mount_flags(&c)
        .or_else(|e| fail(Layer::Mounts, format!("statvfs {}: {e}", target.display())))?
        & (libc::MS_NOEXEC
            | libc::MS_NOATIME
            | libc::MS_NODIRATIME
            | libc::MS_RELATIME
            | libc::MS_RDONLY);
    let flags = libc::MS_REMOUNT | libc::MS_BIND | libc::MS_NOSUID | libc::MS_NODEV | kept | extra;
    sys::mount(None, &c, None, flags, None)
        .or_else(|e| fail(Layer::Mounts, format!("remount {}: {e}", target.display())))
}

fn enter_root() -> StepResult {
    let root = cstr(NEW_ROOT);
    sys::chdir(&root).or_else(|e| fail(Layer::PivotRoot, format!("chdir new root: {e}")))?;
    sys::pivot_root(&cstr("."), &cstr(".")).or_else(|e| fail(Layer::PivotRoot, e))?;
    sys::umount_detach(&cstr("."))
        .or_else(|e| fail(Layer::PivotRoot, format!("detach old root: {e}")))?;
    sys::chdir(&cstr(WORKDIR)).or_else(|e| fail(Layer::PivotRoot, format!("chdir {WORKDIR}: {e}")))
}

fn set_hostname() -> StepResult {
    sys::sethostname(HOSTNAME.as_bytes()).or_else(|e| fail(Layer::Hostname, e))
}

fn bring_up_loopback() -> StepResult {
    sys::loopback_up().or_else(|e| fail(Layer::Network, format!("loopback up: {e}")))
}

fn set_rlimits(prep: &Prepared) -> StepResult {
    let l = &prep.spec.limits;
    for (res, value, name) in [
        (libc::RLIMIT_CORE, 0, "RLIMIT_CORE"),
        (libc::RLIMIT_FSIZE, l.file_size_bytes, "RLIMIT_FSIZE"),
        (libc::RLIMIT_NOFILE, l.open_files, "RLIMIT_NOFILE"),
    ] {
        sys::setrlimit(res, value).or_else(|e| fail(Layer::Rlimits, format!("{name}: {e}")))?;
    }
    Ok(())
}

fn drop_capabilities() -> StepResult {
    sys::drop_all_capabilities().or_else(|e| fail(Layer::Capabilities, e))?;
    match sys::effective_capabilities() {
        Ok(0) => Ok(()),
        Ok(caps) => fail(
            Layer::Capabilities,
            format!("capabilities remain: {caps:#x}"),
        ),
        Err(e) => fail(Layer::Capabilities, e),
    }
}

fn set_no_new_privs() -> StepResult {
    sys::prctl(libc::PR_SET_NO_NEW_PRIVS, 1)
        .map(drop)
        .or_else(|e| fail(Layer::NoNewPrivs, e))
}

fn apply_landlock(prep: &Prepared) -> StepResult<Enforcement> {
    let writable: Vec<&str> = prep.writable.iter().filter_map(|p| p.to_str()).collect();
    let devices: Vec<String> = DEVICES.iter().map(|d| format!("/dev/{d}")).collect();
    let devices: Vec<&str> = devices.iter().map(String::as_str).collect();
    let tcp_ports = match &prep.spec.network {
        Network::None => &[][..],
        Network::Host { tcp_ports } => &tcp_ports[..],
    };
    crate::landlock::restrict(&writable, &devices, tcp_ports).or_else(|e| fail(Layer::Landlock, e))
}

fn apply_seccomp(prep: &Prepared) -> StepResult {
    for filter in &prep.seccomp {
        crate::seccomp::apply(filter).or_else(|e| fail(Layer::Seccomp, e))?;
    }
    Ok(())
}

/// Lowest descriptor number the program's own descriptors are moved above before they
/// are placed at 0–4, so that placing one never overwrites another.
const SCRATCH_FD: i32 = 16;

/// In the program process: new session, stdio (and the channel at 3 and 4), no other
/// descriptors, exec.
fn exec_program(
    prep: &Prepared,
    report_fd: RawFd,
    exec_sync_fd: RawFd,
    fds: &ProgramFds,
) -> StepResult<std::convert::Infallible> {
    sys::setsid().or_else(|e| fail(Layer::Exec, format!("setsid: {e}")))?;
    let null;
    let stdin_fd = match &fds.stdin {
        Some(fd) => fd.as_raw_fd(),
        None => {
            null = sys::open(&cstr("/dev/null"), libc::O_RDONLY, 0)
                .or_else(|e| fail(Layer::Fds, format!("open /dev/null: {e}")))?;
            null.as_raw_fd()
        }
    };
    let mut placements = vec![stdin_fd, fds.stdout.as_raw_fd(), fds.stderr.as_raw_fd()];
    if let Some((input, output)) = &fds.channel {
        placements.extend([input.as_raw_fd(), output.as_raw_fd()]);
    }
    placements.extend(fds.control.as_ref().map(|c| c.as_raw_fd()));
    // Move every descriptor still needed above the targets first (close-on-exec copies).
    let raise = |fd: RawFd| {
        sys::dup_above(fd, SCRATCH_FD).or_else(|e| fail(Layer::Fds, format!("dup {fd}: {e}")))
    };
    let report_fd = raise(report_fd)?;
    let exec_sync_fd = raise(exec_sync_fd)?;
    let raised: Vec<RawFd> = placements
        .iter()
        .map(|&fd| raise(fd))
        .collect::<Result<_, _>>()?;
    for (to, &from) in raised.iter().enumerate() {
        sys::dup2(from, to as RawFd).or_else(|e| fail(Layer::Fds, format!("dup2 to {to}: {e}")))?;
    }
    // The report and exec pipes stay open (close-on-exec): an exec failure can still be
    // reported, and the supervisor sees the exec pipe close only once execve succeeded.
    let mut keep = [report_fd as u32, exec_sync_fd as u32];
    keep.sort_unstable();
    sys::close_from(raised.len() as u32, &keep)
        .or_else(|e| fail(Layer::Fds, format!("close_range: {e}")))?;
    let argv: Vec<CString> = prep.spec.args.iter().map(cstr).collect();
    let envp: Vec<CString> = prep
        .spec
        .env
        .iter()
        .map(|(k, v)| cstr(format!("{k}={v}")))
        .collect();
    let err = sys::execve(&cstr(&prep.spec.program), &argv, &envp);
    fail(
        Layer::Exec,
        format!("execve {}: {err}", prep.spec.program.display()),
    )
}
