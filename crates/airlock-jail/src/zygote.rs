//! Sandboxes forked from a template (a zygote, as Chromium and Android make processes):
//! the expensive part of a warm sandbox — an interpreter that has imported numpy and
//! pandas — is done once, in a jailed template that never runs a request, and each child
//! is a `fork` of it that enters its own namespaces and cgroup and drops every privilege
//! before it reads a byte of its request.
//!
//! The template is an ordinary jail (`JailSpec::zygote`) whose program stays root of its
//! user namespace, so it can build children. The host sends it, once, everything a child
//! needs as data computed here: the seccomp programs, the Landlock rules, the mounts to
//! replace. Then, per child, one message on a unix socket carrying the child's pipes and
//! its cgroup's join files (SCM_RIGHTS). The child (see `runner/zygote.py` of the
//! runtime) joins the cgroup; unshares mount, net, ipc, uts and cgroup namespaces (it is
//! already pid 1 of a new pid namespace); mounts fresh /tmp, /work, /dev/shm and /proc;
//! takes its own host uid through a nested user namespace that shows it as the usual
//! sandbox uid; drops its capabilities; applies Landlock and the sandbox's seccomp filters.
//!
//! The Python doing those steps is not trusted for the result: before a child is handed
//! out the host reads, from /proc, what the kernel says of it — every namespace differs
//! from the template's and the host's, its uid and gid are its own box's, it has no
//! capability and no_new_privs, exactly the expected number of seccomp filters, only its
//! own five descriptors, and no writable mount shared with the template (so none shared
//! with another child). A child that fails any of it is killed and never used.

use std::collections::HashSet;
use std::fs;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::boxid::{HostIdentity, BOX_COUNT, BOX_ID_BASE};
use crate::cgroup::{Cgroup, Hierarchy};
use crate::error::{JailError, Layer};
use crate::landlock::Enforcement;
use crate::plan::{Step, DEVICES};
use crate::spec::{Identity, JailSpec, Limits, SANDBOX_UID, WORKDIR};
use crate::supervisor::{ms_until, Capture, Layers, Pending, Reports, Running, Stream};
use crate::sys;

/// Children's uids inside the template's user namespace: `CHILD_UID_BASE + box` maps to
/// the host uid `BOX_ID_BASE + box`.
pub const CHILD_UID_BASE: u32 = 100_000;

/// How long a child may take from the fork to the end of its setup.
const CHILD_SETUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the runner keeps its channel once it has started (runner.py's `Channel`).
const RUNNER_CHANNEL_FD: &str = "1000";

/// Namespaces every child has of its own (checked in /proc).
const NAMESPACES: [&str; 7] = ["mnt", "net", "ipc", "uts", "pid", "user", "cgroup"];

/// The uid and gid maps of a template: itself as root on its own box id, and every other
/// box id for its children. Without root only the caller's own id can be mapped.
pub(crate) fn template_id_maps(identity: &HostIdentity) -> (String, String) {
    let map = |own: u32| {
        let mut text = format!("0 {own} 1\n");
        if identity.per_box {
            let mine = own - BOX_ID_BASE;
            for (first, count) in [(0, mine), (mine + 1, BOX_COUNT - mine - 1)] {
                if count > 0 {
                    let (inside, host) = (CHILD_UID_BASE + first, BOX_ID_BASE + first);
                    text.push_str(&format!("{inside} {host} {count}\n"));
                }
            }
        }
        text
    };
    (map(identity.uid), map(identity.gid))
}

/// A mount step of a child, as the template's Python executes it.
#[derive(Debug, serde::Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum MountStep {
    /// Detach the template's mount here (with everything under it).
    Umount {
        target: String,
    },
    /// A fresh tmpfs; the child adds uid= and gid= for itself.
    Tmpfs {
        target: String,
        options: String,
        flags: libc::c_ulong,
    },
    Proc {
        target: String,
        flags: libc::c_ulong,
    },
    /// Move the mount at `from` to `to` (MS_MOVE).
    Move {
        from: String,
        to: String,
    },
    MaskFile {
        target: String,
    },
    MaskDir {
        target: String,
        options: String,
        flags: libc::c_ulong,
    },
    ReadOnly {
        target: String,
        flags: libc::c_ulong,
    },
}

/// Everything a template needs to build a child, sent once on its channel.
#[derive(Debug, serde::Serialize)]
struct ChildPlan {
    /// Seccomp programs (hex of their `sock_filter` arrays), applied in order.
    seccomp: Vec<String>,
    landlock: Option<crate::landlock::RawRuleset>,
    mounts: Vec<MountStep>,
    /// The uid (and gid) the sandbox's user has inside, as in a cold sandbox.
    sandbox_uid: u32,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where a child mounts its /proc before moving it into place (its own fresh /tmp).
const PROC_STAGING: &str = "/tmp";
const NOSUID_NODEV: libc::c_ulong = libc::MS_NOSUID | libc::MS_NODEV;
const NOEXEC: libc::c_ulong = libc::MS_NOEXEC;

/// The per-child part of the jail's own plan: the writable tmpfs and /proc with its masks.
fn child_mounts(steps: &[Step]) -> Vec<MountStep> {
    let fresh = ["/tmp", WORKDIR, "/dev/shm"];
    let text = |p: &Path| p.display().to_string();
    let mut out = Vec::new();
    for step in steps {
        match step {
            Step::Tmpfs {
                target,
                size,
                mode,
                exec,
            } if fresh.iter().any(|f| target == Path::new(f)) => {
                out.push(MountStep::Umount {
                    target: text(target),
                });
                out.push(MountStep::Tmpfs {
                    target: text(target),
                    options: format!("size={size},mode={mode:o},nr_inodes=65536"),
                    flags: NOSUID_NODEV | if *exec { 0 } else { NOEXEC },
                });
            }
            Step::Proc { target } => {
                // The kernel lets a user namespace mount proc only while a fully visible
                // proc is mounted (the template's): mount the child's on its fresh /tmp
                // first, detach the template's, then move the new one into place.
                out.push(MountStep::Proc {
                    target: PROC_STAGING.into(),
                    flags: NOSUID_NODEV | NOEXEC,
                });
                out.push(MountStep::Umount {
                    target: text(target),
                });
                out.push(MountStep::Move {
                    from: PROC_STAGING.into(),
                    to: text(target),
                });
            }
            Step::MaskFile { target } => out.push(MountStep::MaskFile {
                target: text(target),
            }),
            Step::MaskDir { target } => out.push(MountStep::MaskDir {
                target: text(target),
                options: "size=4096,mode=555".into(),
                flags: NOSUID_NODEV | NOEXEC | libc::MS_RDONLY,
            }),
            Step::ReadOnly { target } if target.starts_with("/proc") => {
                out.push(MountStep::ReadOnly {
                    target: text(target),
                    flags: NOSUID_NODEV | NOEXEC | libc::MS_RDONLY,
                })
            }
            _ => {}
        }
    }
    out
}

fn child_plan(spec: &JailSpec) -> Result<ChildPlan, JailError> {
    let seccomp_err = |e| JailError::layer(Layer::Seccomp, e);
    let filters = [
        crate::seccomp::no_native_code().map_err(seccomp_err)?,
        crate::seccomp::program().map_err(seccomp_err)?,
        crate::seccomp::no_exec().map_err(seccomp_err)?,
    ];
    let writable: Vec<String> = crate::plan::writable_paths(spec)
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let writable: Vec<&str> = writable.iter().map(String::as_str).collect();
    let devices: Vec<String> = DEVICES.iter().map(|d| format!("/dev/{d}")).collect();
    let devices: Vec<&str> = devices.iter().map(String::as_str).collect();
    Ok(ChildPlan {
        seccomp: filters
            .iter()
            .map(|f| hex(&crate::seccomp::program_bytes(f)))
            .collect(),
        landlock: crate::landlock::raw_ruleset(
            sys::landlock_abi().unwrap_or(0),
            &writable,
            &devices,
        ),
        mounts: child_mounts(&crate::plan::plan(spec)),
        sandbox_uid: SANDBOX_UID,
    })
}

/// What the template looks like to the kernel, for comparing its children against.
#[derive(Debug)]
struct Baseline {
    /// Namespace links ("mnt:[4026531841]") of the template and of the host process.
    namespaces: HashSet<String>,
    seccomp_filters: u32,
    /// Device numbers of every filesystem mounted in the template.
    devices: HashSet<String>,
}

/// A running template, shared by the pool and every child it made (a child's pid 1 is a
/// descendant of the template's pid 1, so the template's jail must outlive it).
#[derive(Debug)]
pub struct Template {
    jail: Option<Pending>,
    /// Each spawn is one SEQPACKET message (sent whole), so callers need no lock.
    control: OwnedFd,
    alive: Arc<AtomicBool>,
    pid: i32,
    baseline: Baseline,
    child_filters: u32,
    hierarchy: Hierarchy,
    channel_limit: u64,
    stderr_tail: Arc<Mutex<Vec<u8>>>,
    stop: Option<OwnedFd>,
    watcher: Option<JoinHandle<()>>,
}

/// A template and the way to fork sandboxes from it.
#[derive(Clone, Debug)]
pub struct Zygote {
    template: Arc<Template>,
}

impl Zygote {
    /// Start a template for `spec` (which must have `zygote` set) and wait until it says
    /// it is ready (its modules imported), at most `timeout`.
    pub fn start(spec: &JailSpec, timeout: Duration) -> Result<Zygote, JailError> {
        if !spec.zygote {
            return Err(JailError::InvalidSpec {
                field: "zygote".into(),
                reason: "the spec is not a template's".into(),
            });
        }
        if sys::getuid() != 0 {
            return Err(JailError::layer(
                Layer::Zygote,
                "forking sandboxes from a template needs root (rootless pools start each \
                 sandbox cold)",
            ));
        }
        let plan = child_plan(spec)?;
        let mut jail = crate::supervisor::start(spec, None)?;
        let body = serde_json::to_vec(&plan)
            .map_err(|e| JailError::layer(Layer::Zygote, e.to_string()))?;
        let mut frame = (body.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(&body);
        if let Some(input) = jail.channel_w.take() {
            sys::write_all(input.as_raw_fd(), &frame)
                .map_err(|e| JailError::layer(Layer::Zygote, format!("send the plan: {e}")))?;
        }
        if !jail.wait_for_channel(timeout) {
            let err = String::from_utf8_lossy(&jail.captures[1].kept).into_owned();
            return Err(JailError::layer(
                Layer::Zygote,
                format!("the template did not become ready: {}", tail(&err)),
            ));
        }
        let hello = String::from_utf8_lossy(&jail.captures[2].kept).into_owned();
        if !hello.contains("\"hello\"") {
            return Err(JailError::layer(
                Layer::Zygote,
                format!("the template failed: {}", tail(&hello)),
            ));
        }
        let pid = program_pid(&jail.run.cgroup)?;
        let baseline = baseline(pid)?;
        let control = jail
            .control
            .take()
            .ok_or_else(|| JailError::layer(Layer::Zygote, "the template has no socket"))?;
        let alive = Arc::new(AtomicBool::new(true));
        let stderr_tail = Arc::new(Mutex::new(Vec::new()));
        let (stop_r, stop_w) = sys::pipe().map_err(JailError::supervisor("create pipe"))?;
        let watcher = watch(
            &mut jail,
            stop_r,
            Arc::clone(&alive),
            Arc::clone(&stderr_tail),
        )?;
        Ok(Zygote {
            template: Arc::new(Template {
                jail: Some(jail),
                control,
                alive,
                pid,
                baseline,
                child_filters: plan.seccomp.len() as u32,
                hierarchy: Hierarchy::detect().map_err(|e| JailError::layer(Layer::Cgroup, e))?,
                channel_limit: spec.channel.as_ref().map_or(0, |c| c.output_limit),
                stderr_tail,
                stop: Some(stop_w),
                watcher: Some(watcher),
            }),
        })
    }

    /// The template is running (it can still make children).
    pub fn is_alive(&self) -> bool {
        self.template.alive.load(Ordering::Relaxed)
    }

    /// The template's host pid (for tests and operators).
    pub fn pid(&self) -> i32 {
        self.template.pid
    }

    /// Fork a child sandbox under `limits`; it is returned once its runner has said hello
    /// (ready for its request) and the host has checked it.
    pub fn spawn(&self, limits: &Limits) -> Result<Pending, JailError> {
        let called = Instant::now();
        limits.validate()?;
        let t = &self.template;
        if !self.is_alive() {
            let tail_text = t
                .stderr_tail
                .lock()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            return Err(JailError::layer(
                Layer::Zygote,
                format!("the template has ended: {}", tail(&tail_text)),
            ));
        }
        let identity = HostIdentity::acquire(Identity::PerRun)?;
        let name = format!("airlock-{}", uuid::Uuid::new_v4().simple());
        let cgroup = Cgroup::create(
            &t.hierarchy,
            &name,
            limits.memory_bytes,
            limits.pids,
            limits.cpu_percent,
        )?;
        let joins: Vec<OwnedFd> = cgroup
            .join_files()
            .iter()
            .map(|f| {
                fs::OpenOptions::new()
                    .write(true)
                    .open(f)
                    .map(OwnedFd::from)
                    .map_err(|e| {
                        JailError::layer(Layer::Cgroup, format!("open {}: {e}", f.display()))
                    })
            })
            .collect::<Result<_, _>>()?;
        let pipe = || sys::pipe().map_err(JailError::supervisor("create pipe"));
        let (report_r, report_w) = pipe()?;
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        let (chan_in_r, chan_in_w) = pipe()?;
        let (chan_out_r, chan_out_w) = pipe()?;
        let uid = identity
            .per_box
            .then(|| CHILD_UID_BASE + (identity.uid - BOX_ID_BASE));
        let message = serde_json::json!({ "uid": uid }).to_string();
        let mut fds: Vec<RawFd> = [&report_w, &out_w, &err_w, &chan_in_r, &chan_out_w]
            .iter()
            .map(|f| f.as_raw_fd())
            .collect();
        fds.extend(joins.iter().map(|f| f.as_raw_fd()));
        sys::send_with_fds(t.control.as_raw_fd(), message.as_bytes(), &fds)
            .map_err(|e| JailError::layer(Layer::Zygote, format!("ask for a child: {e}")))?;
        let pipe_inodes = [&out_r, &err_r, &chan_in_w, &chan_out_r].map(inode);
        drop((report_w, out_w, err_w, chan_in_r, chan_out_w, joins));

        let mut run = Running {
            stage_pid: None,
            jail_processes: 0,
            cgroup,
            report: report_r,
            reports: Reports::default(),
            pidfd: None,
        };
        let setup = wait_for_setup(&mut run, called + CHILD_SETUP_TIMEOUT);
        let landlock = run.reports.landlock.unwrap_or(Enforcement::None);
        let layers = Layers {
            id: name,
            namespaces: vec!["user", "mount", "pid", "net", "ipc", "uts", "cgroup"],
            cgroup: t.hierarchy.version(),
            landlock,
            landlock_abi: sys::landlock_abi().unwrap_or(0),
            seccomp: "allow-list, no native code",
            disabled: Vec::new(),
            host_uid: identity.uid,
            host_uid_per_box: identity.per_box,
            uid: SANDBOX_UID,
        };
        let mut captures = vec![
            Capture::new(out_r, limits.output_bytes, Stream::Stdout),
            Capture::new(err_r, limits.output_bytes, Stream::Stderr),
            Capture::new(chan_out_r, t.channel_limit, Stream::Channel),
        ];
        for c in &mut captures {
            if let Some(fd) = &c.fd {
                let _ = sys::set_nonblocking(fd.as_raw_fd());
            }
        }
        let pending = Pending {
            run,
            captures,
            stdin_w: None,
            channel_w: Some(chan_in_w),
            control: None,
            limits: limits.clone(),
            layers,
            setup: called.elapsed(),
            _identity: identity,
            _template: Some(Arc::clone(&self.template)),
            finished: false,
            end_of_run: None,
        };
        // On failure the pending child is dropped: killed, its cgroup removed.
        setup?;
        // Checked once its runner has said hello: the setup has closed its report pipe
        // by then, so the descriptors are final.
        let mut pending = pending;
        if !pending.wait_for_channel(CHILD_SETUP_TIMEOUT) {
            return Err(JailError::layer(
                Layer::Zygote,
                "the child's runner did not start",
            ));
        }
        let pids = pending.run.cgroup.pids();
        let checked = match pids[..] {
            // The pidfd is opened before the check, so the checked process is the one
            // watched afterwards (a pid cannot be reused under it).
            [pid] => sys::pidfd_open(pid)
                .map_err(|e| format!("pidfd_open: {e}"))
                .and_then(|fd| {
                    pending.run.pidfd = Some(fd);
                    verify_child(
                        pid,
                        &t.baseline,
                        t.child_filters,
                        pending._identity.uid,
                        &pipe_inodes,
                    )
                }),
            _ => Err(format!(
                "expected one process in the cgroup, found {pids:?}"
            )),
        };
        checked.map_err(|e| JailError::layer(Layer::Zygote, format!("child check failed: {e}")))?;
        Ok(pending)
    }
}

fn tail(text: &str) -> &str {
    let text = text.trim();
    let start = text.len().saturating_sub(600);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    &text[start..]
}

fn inode(fd: &OwnedFd) -> u64 {
    fs::metadata(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .map(|m| m.ino())
        .unwrap_or(0)
}

/// Wait until the child reports the end of its setup (its Landlock status) or fails.
fn wait_for_setup(run: &mut Running, deadline: Instant) -> Result<(), JailError> {
    while run.reports.landlock.is_none() {
        if let Some((layer, message)) = run.reports.error.take() {
            return Err(JailError::Layer {
                layer: Layer::from_name(&layer),
                message,
            });
        }
        if run.reports.eof || run.reports.exited.is_some() {
            return Err(JailError::layer(
                Layer::Zygote,
                "the child ended during its setup",
            ));
        }
        if Instant::now() >= deadline {
            return Err(JailError::layer(
                Layer::Zygote,
                "the child did not finish its setup in time",
            ));
        }
        let fd = run.report.as_raw_fd();
        if sys::poll_readable(&[fd], ms_until(deadline).min(1000))
            .map_err(JailError::supervisor("poll"))?[0]
        {
            run.reports.pump(fd);
        }
    }
    Ok(())
}

/// The template program's host pid: the process of its cgroup that is pid 2 of its own
/// pid namespace (after the jail's pid 1).
fn program_pid(cgroup: &Cgroup) -> Result<i32, JailError> {
    cgroup
        .pids()
        .into_iter()
        .find(|pid| {
            status_field(*pid, "NSpid").is_some_and(|v| v.split_whitespace().last() == Some("2"))
        })
        .ok_or_else(|| JailError::layer(Layer::Zygote, "cannot find the template's process"))
}

fn status_field(pid: i32, key: &str) -> Option<String> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status(&text, key)
}

fn parse_status(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k == key).then(|| v.trim().to_string())
    })
}

fn namespace_links(pid: &str) -> Result<Vec<String>, String> {
    NAMESPACES
        .iter()
        .map(|ns| {
            fs::read_link(format!("/proc/{pid}/ns/{ns}"))
                .map(|l| l.display().to_string())
                .map_err(|e| format!("read namespace {ns} of {pid}: {e}"))
        })
        .collect()
}

/// A line of a mountinfo file.
struct MountLine {
    device: String,
    /// The mounted object's path inside its filesystem ("/null" for a bind of a device).
    root: String,
    point: String,
    options: String,
}

fn mounts(text: &str) -> Vec<MountLine> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            Some(MountLine {
                device: f.get(2)?.to_string(),
                root: f.get(3)?.to_string(),
                point: f.get(4)?.to_string(),
                options: f.get(5)?.to_string(),
            })
        })
        .collect()
}

fn baseline(pid: i32) -> Result<Baseline, JailError> {
    let err = |e: String| JailError::layer(Layer::Zygote, e);
    let mut namespaces: HashSet<String> = namespace_links(&pid.to_string())
        .map_err(err)?
        .into_iter()
        .collect();
    namespaces.extend(namespace_links("self").map_err(err)?);
    let seccomp_filters = status_field(pid, "Seccomp_filters")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| err("cannot read the template's seccomp filters".into()))?;
    let mountinfo = fs::read_to_string(format!("/proc/{pid}/mountinfo"))
        .map_err(|e| err(format!("read the template's mounts: {e}")))?;
    Ok(Baseline {
        namespaces,
        seccomp_filters,
        devices: mounts(&mountinfo).into_iter().map(|m| m.device).collect(),
    })
}

/// Check a child as the kernel shows it; the first difference from a sandbox's expected
/// state is the error.
fn verify_child(
    pid: i32,
    baseline: &Baseline,
    child_filters: u32,
    host_id: u32,
    pipe_inodes: &[u64; 4],
) -> Result<(), String> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("read status: {e}"))?;
    let mountinfo = fs::read_to_string(format!("/proc/{pid}/mountinfo"))
        .map_err(|e| format!("read mounts: {e}"))?;
    let links = namespace_links(&pid.to_string())?;
    let mut fds = Vec::new();
    for entry in fs::read_dir(format!("/proc/{pid}/fd")).map_err(|e| format!("list fds: {e}"))? {
        let entry = entry.map_err(|e| format!("list fds: {e}"))?;
        let target = fs::read_link(entry.path()).map_err(|e| format!("read fd: {e}"))?;
        fds.push((
            entry.file_name().to_string_lossy().into_owned(),
            target.display().to_string(),
        ));
    }
    check_child(&ChildView {
        status: &status,
        mountinfo: &mountinfo,
        namespaces: &links,
        fds: &fds,
        baseline,
        child_filters,
        host_id,
        pipe_inodes,
    })
}

/// What the host read of a child, and what it should be.
struct ChildView<'a> {
    status: &'a str,
    mountinfo: &'a str,
    namespaces: &'a [String],
    fds: &'a [(String, String)],
    baseline: &'a Baseline,
    child_filters: u32,
    host_id: u32,
    /// Inodes of the child's stdout, stderr, channel-in and channel-out pipes.
    pipe_inodes: &'a [u64; 4],
}

/// The rules of [`verify_child`], on text already read (so they are tested on real and
/// on doctored views alike).
fn check_child(v: &ChildView) -> Result<(), String> {
    let field =
        |key: &str| parse_status(v.status, key).ok_or_else(|| format!("status has no {key} line"));
    for key in ["Uid", "Gid"] {
        let ids = field(key)?;
        if ids.split_whitespace().any(|id| id != v.host_id.to_string()) {
            return Err(format!("{key} is {ids:?}, not {} throughout", v.host_id));
        }
    }
    for key in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        let caps = field(key)?;
        if u64::from_str_radix(&caps, 16) != Ok(0) {
            return Err(format!("{key} is {caps}"));
        }
    }
    for (key, want) in [
        ("NoNewPrivs", "1".to_string()),
        ("Seccomp", "2".to_string()),
        (
            "Seccomp_filters",
            (v.baseline.seccomp_filters + v.child_filters).to_string(),
        ),
        ("Threads", "1".to_string()),
    ] {
        let got = field(key)?;
        if got != want {
            return Err(format!("{key} is {got}, expected {want}"));
        }
    }
    if let Some(shared) = v
        .namespaces
        .iter()
        .find(|ns| v.baseline.namespaces.contains(*ns))
    {
        return Err(format!(
            "namespace {shared} is the template's or the host's"
        ));
    }
    // The runner moves its channel from 4 to 1000 as soon as it starts (possibly before
    // this check): either place, never both.
    let channel_out = if v.fds.iter().any(|(n, _)| n == RUNNER_CHANNEL_FD) {
        RUNNER_CHANNEL_FD
    } else {
        "4"
    };
    let mut names: Vec<&str> = v.fds.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    let mut expected = vec!["0", "1", "2", "3", channel_out];
    expected.sort_unstable();
    if names != expected {
        return Err(format!("descriptors {names:?}, expected {expected:?} only"));
    }
    for (fd, inode) in ["1", "2", "3", channel_out].iter().zip(v.pipe_inodes) {
        let target = v.fds.iter().find(|(n, _)| n == fd).map(|(_, t)| t.as_str());
        if target != Some(&format!("pipe:[{inode}]")) {
            return Err(format!("descriptor {fd} is {target:?}, not its own pipe"));
        }
    }
    // Device nodes (/dev/null, and the /proc files masked with it) are bound from the
    // host's /dev in every sandbox; nothing can be stored in them.
    let device_nodes: Vec<String> = DEVICES.iter().map(|d| format!("/{d}")).collect();
    for m in mounts(v.mountinfo) {
        let writable = m.options.split(',').any(|o| o == "rw");
        if writable && !device_nodes.contains(&m.root) && v.baseline.devices.contains(&m.device) {
            return Err(format!(
                "{} is writable and the template's filesystem ({})",
                m.point, m.device
            ));
        }
    }
    Ok(())
}

/// Drain the template's output (keeping the end of its stderr for error messages) and
/// mark it dead when it ends. Stops when `stop` becomes readable.
fn watch(
    jail: &mut Pending,
    stop: OwnedFd,
    alive: Arc<AtomicBool>,
    stderr_tail: Arc<Mutex<Vec<u8>>>,
) -> Result<JoinHandle<()>, JailError> {
    let report = jail
        .run
        .report
        .try_clone()
        .map_err(JailError::supervisor("dup"))?;
    let mut captures: Vec<Capture> = jail.captures.drain(..2).collect();
    for c in &mut captures {
        c.limit = 64 << 10;
    }
    std::thread::Builder::new()
        .name("airlock-zygote".into())
        .spawn(move || {
            let mut reports = Reports::default();
            loop {
                let mut fds = vec![stop.as_raw_fd(), report.as_raw_fd()];
                fds.extend(
                    captures
                        .iter()
                        .map(|c| c.fd.as_ref().map_or(-1, |f| f.as_raw_fd())),
                );
                let Ok(ready) = sys::poll_readable(&fds, 1000) else {
                    break;
                };
                if ready[0] {
                    break;
                }
                if ready[1] {
                    reports.pump(report.as_raw_fd());
                }
                for (i, c) in captures.iter_mut().enumerate() {
                    if ready[2 + i] {
                        c.pump(&mut None);
                        if c.kept.len() > 32 << 10 {
                            c.kept.drain(..16 << 10);
                        }
                    }
                }
                if let Ok(mut t) = stderr_tail.lock() {
                    t.clone_from(&captures[1].kept);
                }
                if reports.eof || reports.exited.is_some() {
                    alive.store(false, Ordering::Relaxed);
                    break;
                }
            }
        })
        .map_err(JailError::supervisor("start the template's watcher"))
}

impl Drop for Template {
    fn drop(&mut self) {
        self.alive.store(false, Ordering::Relaxed);
        if let Some(stop) = self.stop.take() {
            let _ = sys::write_all(stop.as_raw_fd(), b"x");
        }
        if let Some(watcher) = self.watcher.take() {
            let _ = watcher.join();
        }
        // Dropping the template's jail kills it and removes its cgroup.
        self.jail.take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_maps_leave_out_the_templates_own_box() {
        let identity = HostIdentity::for_tests(BOX_ID_BASE + 7, true);
        let (uids, gids) = template_id_maps(&identity);
        assert_eq!(uids, gids);
        let lines: Vec<&str> = uids.lines().collect();
        assert_eq!(lines[0], format!("0 {} 1", BOX_ID_BASE + 7));
        assert_eq!(lines[1], format!("{CHILD_UID_BASE} {BOX_ID_BASE} 7"));
        assert_eq!(
            lines[2],
            format!(
                "{} {} {}",
                CHILD_UID_BASE + 8,
                BOX_ID_BASE + 8,
                BOX_COUNT - 8
            )
        );
        let first = HostIdentity::for_tests(BOX_ID_BASE, true);
        assert_eq!(template_id_maps(&first).0.lines().count(), 2);
        let rootless = HostIdentity::for_tests(1000, false);
        assert_eq!(template_id_maps(&rootless).0, "0 1000 1\n");
    }

    #[test]
    fn child_mounts_replace_the_writable_tmpfs_and_proc() {
        let spec = JailSpec::new("/bin/true", vec!["true".into()]);
        let steps = child_mounts(&crate::plan::plan(&spec));
        let ops: Vec<String> = steps
            .iter()
            .map(|s| serde_json::to_value(s).unwrap()["op"].to_string())
            .collect();
        let umounts = steps
            .iter()
            .filter(|s| matches!(s, MountStep::Umount { .. }))
            .count();
        assert_eq!(umounts, 4, "/tmp, /work, /dev/shm and /proc: {ops:?}");
        // Every umount is followed by the fresh mount of the same target, and the fresh
        // /tmp exists before proc is staged on it.
        for pair in steps.windows(2) {
            if let MountStep::Umount { target } = &pair[0] {
                match &pair[1] {
                    MountStep::Tmpfs { target: t, .. } | MountStep::Move { to: t, .. } => {
                        assert_eq!(t, target)
                    }
                    other => panic!("{target} is not remounted: {other:?}"),
                }
            }
        }
        let tmp = steps
            .iter()
            .position(|s| matches!(s, MountStep::Tmpfs { target, .. } if target == "/tmp"));
        let proc = steps
            .iter()
            .position(|s| matches!(s, MountStep::Proc { .. }));
        assert!(tmp < proc, "{ops:?}");
        assert!(steps
            .iter()
            .any(|s| matches!(s, MountStep::MaskFile { target } if target == "/proc/kcore")));
        assert!(!steps
            .iter()
            .any(|s| matches!(s, MountStep::ReadOnly { target, .. } if target == "/")));
    }

    fn good_status(filters: u32) -> String {
        format!(
            "Name:\tpython3\nUid:\t2000000005\t2000000005\t2000000005\t2000000005\n\
             Gid:\t2000000005\t2000000005\t2000000005\t2000000005\nThreads:\t1\n\
             CapInh:\t0000000000000000\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n\
             CapBnd:\t0000000000000000\nCapAmb:\t0000000000000000\nNoNewPrivs:\t1\n\
             Seccomp:\t2\nSeccomp_filters:\t{filters}\n"
        )
    }

    #[test]
    fn the_child_check_fires_on_each_difference() {
        let baseline = Baseline {
            namespaces: ["mnt:[1]".to_string(), "net:[2]".to_string()].into(),
            seccomp_filters: 1,
            devices: ["0:40".to_string(), "0:5".to_string()].into(),
        };
        let status = good_status(4);
        let mountinfo = "1 0 0:40 / / ro,nosuid - tmpfs tmpfs ro\n\
                         2 1 0:50 / /tmp rw,nosuid - tmpfs tmpfs rw\n\
                         3 1 0:5 /null /dev/null rw,nosuid - devtmpfs udev rw\n\
                         4 1 0:5 /null /proc/keys rw,nosuid - devtmpfs udev rw\n";
        let namespaces = vec!["mnt:[10]".to_string(), "net:[11]".to_string()];
        let fds: Vec<(String, String)> = [
            ("0", "/dev/null"),
            ("1", "pipe:[101]"),
            ("2", "pipe:[102]"),
            ("3", "pipe:[103]"),
            ("4", "pipe:[104]"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let good = ChildView {
            status: &status,
            mountinfo,
            namespaces: &namespaces,
            fds: &fds,
            baseline: &baseline,
            child_filters: 3,
            host_id: 2_000_000_005,
            pipe_inodes: &[101, 102, 103, 104],
        };
        assert_eq!(check_child(&good), Ok(()));

        let bad_status = [
            status.replace("Uid:\t2000000005\t", "Uid:\t0\t"),
            status.replace("CapEff:\t0000000000000000", "CapEff:\t0000000000200000"),
            status.replace("CapBnd:\t0000000000000000", "CapBnd:\t000001ffffffffff"),
            status.replace("NoNewPrivs:\t1", "NoNewPrivs:\t0"),
            good_status(3),
            status.replace("Threads:\t1", "Threads:\t2"),
            status.replace("Seccomp:\t2\n", ""),
        ];
        for s in &bad_status {
            assert!(
                check_child(&ChildView { status: s, ..good }).is_err(),
                "{s}"
            );
        }
        let shared_ns = vec!["mnt:[10]".to_string(), "net:[2]".to_string()];
        assert!(check_child(&ChildView {
            namespaces: &shared_ns,
            ..good
        })
        .is_err());
        let mut extra_fd = fds.clone();
        extra_fd.push(("5".into(), "pipe:[999]".into()));
        assert!(check_child(&ChildView {
            fds: &extra_fd,
            ..good
        })
        .is_err());
        let mut moved = fds.clone();
        moved[4].0 = "1000".into();
        assert_eq!(
            check_child(&ChildView {
                fds: &moved,
                ..good
            }),
            Ok(())
        );
        let mut both = moved.clone();
        both.push(("4".into(), "pipe:[104]".into()));
        assert!(check_child(&ChildView { fds: &both, ..good }).is_err());
        let mut foreign_pipe = fds.clone();
        foreign_pipe[3].1 = "pipe:[999]".into();
        assert!(check_child(&ChildView {
            fds: &foreign_pipe,
            ..good
        })
        .is_err());
        let shared_tmp = mountinfo.replace("0:50 / /tmp", "0:40 / /tmp");
        let host_dev = mountinfo.replace("0:5 /null /dev/null", "0:5 / /dev/shm");
        assert!(check_child(&ChildView {
            mountinfo: &host_dev,
            ..good
        })
        .is_err());
        assert!(check_child(&ChildView {
            mountinfo: &shared_tmp,
            ..good
        })
        .is_err());
    }
}
