//! The host side of one run: prepare everything that can fail before forking, start the
//! jail, write the id maps, enforce the wall-clock limit, capture output within its caps,
//! and collect the resource use before the cgroup is removed.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use crate::boxid::HostIdentity;
use crate::cgroup::{Cgroup, Hierarchy};
use crate::child::{self, msg, ChildFds, Prepared};
use crate::error::{JailError, Layer};
use crate::landlock::Enforcement;
use crate::spec::{JailSpec, Limits, SANDBOX_UID};
use crate::sys;

/// Processes of the jail itself in the sandbox's cgroup: the stage and pid 1.
const JAIL_PROCESSES: u32 = 2;

/// Which output stream a chunk came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
    /// The program's protocol channel (fd 4).
    Channel,
}

/// How the program ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this code.
    Code(i32),
    /// A signal ended it (SIGKILL from the OOM killer shows as `oom_killed` too).
    Signal(i32),
    /// The wall-clock limit ran out and everything in the sandbox was killed.
    Timeout,
    /// The caller cancelled the run and everything in the sandbox was killed.
    Cancelled,
    /// It ended, but nobody could say how: a pool child whose template ended before it
    /// (the template is its parent and reports its status). The program's own report,
    /// if it made one, is what is left.
    Unreported,
}

/// What one run produced and used.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub exit: Exit,
    /// The memory limit was hit and the kernel killed a process of the sandbox.
    pub oom_killed: bool,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    /// What the program wrote on its channel (fd 4), within the channel's limit.
    pub channel: Vec<u8>,
    pub channel_truncated: bool,
    pub started_at: SystemTime,
    pub completed_at: SystemTime,
    /// Wall time from the program's exec to its end.
    pub duration: Duration,
    /// Jail setup time, from the call until the program was exec'd.
    pub setup: Duration,
    pub cpu_time: Duration,
    pub peak_memory_bytes: u64,
    /// What the kernel enforced of every layer.
    pub layers: Layers,
}

/// The isolation a run actually had, for the result and for audit.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, serde::Serialize)]
pub struct Layers {
    /// This sandbox's name on the host (its cgroup is named after it).
    pub id: String,
    pub namespaces: Vec<&'static str>,
    pub cgroup: &'static str,
    pub landlock: Enforcement,
    /// The kernel's Landlock ABI (0 without Landlock).
    pub landlock_abi: i64,
    pub seccomp: &'static str,
    /// Layers the caller switched off on purpose (see [`crate::Optional`]).
    pub disabled: Vec<crate::Optional>,
    /// Host uid the sandbox user maps to.
    pub host_uid: u32,
    /// Whether that uid belongs to this sandbox alone.
    pub host_uid_per_box: bool,
    pub uid: u32,
}

/// Receives output as it arrives (for passing it through to a terminal).
pub type Observer<'a> = &'a mut dyn FnMut(Stream, &[u8]);

/// The longest a capture is drained once its program has announced its end.
const DRAIN_TIME: Duration = Duration::from_millis(100);

#[derive(Debug)]
pub(crate) struct Capture {
    pub(crate) fd: Option<OwnedFd>,
    pub(crate) kept: Vec<u8>,
    pub(crate) truncated: bool,
    pub(crate) limit: usize,
    stream: Stream,
}

impl Capture {
    pub(crate) fn new(fd: OwnedFd, limit: u64, stream: Stream) -> Capture {
        Capture {
            fd: Some(fd),
            kept: Vec::new(),
            truncated: false,
            limit: limit.min(usize::MAX as u64) as usize,
            stream,
        }
    }

    /// Read what is there; false at end of file.
    pub(crate) fn pump(&mut self, observer: &mut Option<Observer>) -> bool {
        let Some(fd) = &self.fd else { return false };
        let mut buf = [0u8; 65536];
        match sys::read(fd.as_raw_fd(), &mut buf) {
            Ok(0) => {
                self.fd = None;
                false
            }
            Ok(n) => {
                let room = self.limit.saturating_sub(self.kept.len());
                let take = n.min(room);
                if take < n {
                    self.truncated = true;
                }
                self.kept.extend_from_slice(&buf[..take]);
                if let Some(obs) = observer.as_mut() {
                    if take > 0 {
                        obs(self.stream, &buf[..take]);
                    }
                }
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => true,
            Err(_) => {
                self.fd = None;
                false
            }
        }
    }

    /// Read what the pipe holds now, without waiting for more, and for at most
    /// [`DRAIN_TIME`]: a process that keeps writing (a thread of the code that outlives
    /// its call) must not keep the supervisor reading forever.
    pub(crate) fn drain(&mut self, observer: &mut Option<Observer>) {
        let until = Instant::now() + DRAIN_TIME;
        while let Some(fd) = self.fd.as_ref().map(|f| f.as_raw_fd()) {
            if Instant::now() >= until
                || !sys::poll_readable(&[fd], 0).is_ok_and(|r| r[0])
                || !self.pump(observer)
            {
                break;
            }
        }
    }
}

/// Recognises, in what a program wrote on its channel, that it announced the end of its
/// run and with which exit code (a runner's last frame). The run then ends at once: the
/// result goes back to the caller and the sandbox is torn down in the background.
pub type EndOfRun = fn(&[u8]) -> Option<i32>;

/// What the supervisor does when the time of a run (or a live sandbox's call) is up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OnDeadline {
    /// Kill every process of the sandbox.
    Kill,
    /// Interrupt the program (SIGINT), and kill every process only if it has not
    /// announced its end this much later.
    Interrupt(Duration),
}

/// Background teardowns still running (see [`settle`]).
static TEARDOWNS: std::sync::Mutex<Vec<std::thread::JoinHandle<()>>> =
    std::sync::Mutex::new(Vec::new());

/// Tear a sandbox down on another thread (kill, reap, remove its cgroup, release its uid).
fn tear_down_later(pending: Pending) {
    let Ok(mut list) = TEARDOWNS.lock() else {
        drop(pending);
        return;
    };
    list.retain(|h| !h.is_finished());
    // If no thread can be started, the closure (and the sandbox in it) is dropped here:
    // torn down at once instead.
    if let Ok(handle) = std::thread::Builder::new()
        .name("airlock-teardown".into())
        .spawn(move || drop(pending))
    {
        list.push(handle);
    }
}

/// Wait until every sandbox whose run ended early has been torn down (a one-shot
/// program calls this before it exits, so nothing is left to the stale sweep).
pub fn settle() {
    let handles = TEARDOWNS
        .lock()
        .map(|mut l| std::mem::take(&mut *l))
        .unwrap_or_default();
    for handle in handles {
        let _ = handle.join();
    }
}

/// Bytes still to write into one of the program's input pipes.
pub(crate) struct Feeder<'a> {
    fd: Option<OwnedFd>,
    rest: &'a [u8],
}

impl<'a> Feeder<'a> {
    pub(crate) fn new(fd: OwnedFd, bytes: &'a [u8]) -> Feeder<'a> {
        let _ = sys::set_nonblocking(fd.as_raw_fd());
        Feeder {
            fd: Some(fd),
            rest: bytes,
        }
    }

    /// Write what the pipe takes now; close it as soon as all is written (a reader that
    /// reads to end of file must not wait for the next turn of the loop), or when the
    /// reader has left.
    fn feed(&mut self) {
        let Some(fd) = &self.fd else { return };
        if !self.rest.is_empty() && sys::poll_writable(fd.as_raw_fd(), 0).unwrap_or(false) {
            match sys::write(fd.as_raw_fd(), self.rest) {
                Ok(n) => self.rest = &self.rest[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => self.fd = None,
            }
        }
        if self.rest.is_empty() {
            self.fd = None;
        }
    }
}

fn split<T>(pair: Option<(T, T)>) -> (Option<T>, Option<T>) {
    match pair {
        Some((a, b)) => (Some(a), Some(b)),
        None => (None, None),
    }
}

/// Messages from the children, parsed from the report pipe.
#[derive(Debug, Default)]
pub(crate) struct Reports {
    buf: Vec<u8>,
    pub(crate) eof: bool,
    unshared: bool,
    pub(crate) init_pid: Option<i32>,
    pub(crate) landlock: Option<Enforcement>,
    pub(crate) error: Option<(String, String)>,
    pub(crate) exited: Option<i32>,
}

impl Reports {
    pub(crate) fn pump(&mut self, fd: RawFd) {
        let mut buf = [0u8; 4096];
        match sys::read(fd, &mut buf) {
            Ok(0) | Err(_) => self.eof = true,
            Ok(n) => self.buf.extend_from_slice(&buf[..n]),
        }
        self.parse();
    }

    fn parse(&mut self) {
        while self.buf.len() >= 5 {
            let len =
                u32::from_le_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize;
            if len > 4096 {
                // Only airlock's own code writes here; garbage means a broken child.
                self.error = Some(("protocol".into(), "malformed report".into()));
                self.buf.clear();
                return;
            }
            if self.buf.len() < 5 + len {
                return;
            }
            let tag = self.buf[0];
            let payload: Vec<u8> = self.buf[5..5 + len].to_vec();
            self.buf.drain(..5 + len);
            let int = || {
                payload
                    .get(..4)
                    .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            };
            match tag {
                msg::UNSHARED => self.unshared = true,
                msg::INIT_PID => self.init_pid = int(),
                msg::EXITED => self.exited = int(),
                msg::LANDLOCK => {
                    self.landlock = Some(match payload.first() {
                        Some(0) => Enforcement::Full,
                        Some(1) => Enforcement::Partial,
                        _ => Enforcement::None,
                    })
                }
                msg::ERROR => {
                    let text = String::from_utf8_lossy(&payload).into_owned();
                    let (layer, message) = text.split_once('\0').unwrap_or(("setup", &text));
                    if self.error.is_none() {
                        self.error = Some((layer.to_string(), message.to_string()));
                    }
                }
                _ => {}
            }
        }
    }
}

pub(crate) fn ms_until(deadline: Instant) -> i32 {
    deadline
        .saturating_duration_since(Instant::now())
        .as_millis()
        .min(i32::MAX as u128) as i32
}

/// Run `spec` to completion in a fresh jail. Setting `cancel` (from a signal handler or
/// another thread) kills the sandbox at once; the run then ends as [`Exit::Cancelled`].
pub fn run(
    spec: &JailSpec,
    observer: Option<Observer>,
    cancel: Option<&AtomicBool>,
) -> Result<Outcome, JailError> {
    let channel = spec.channel.as_ref().map(|c| c.input.as_slice());
    start(spec, cancel)?.hand_off(spec.stdin.as_deref(), channel, None, observer, cancel)
}

/// A sandbox that is set up and whose program has started but not yet been given its
/// input (stdin, the channel): the program typically blocks reading it. Dropping it kills
/// the sandbox and removes its cgroup.
#[derive(Debug)]
pub struct Pending {
    pub(crate) run: Running,
    pub(crate) captures: Vec<Capture>,
    pub(crate) stdin_w: Option<OwnedFd>,
    pub(crate) channel_w: Option<OwnedFd>,
    /// A template's end of its control socket.
    pub(crate) control: Option<OwnedFd>,
    pub(crate) limits: Limits,
    pub(crate) layers: Layers,
    pub(crate) setup: Duration,
    /// Holds the sandbox's host uid (its box lock) for as long as the sandbox lives.
    pub(crate) _identity: HostIdentity,
    /// A pool child keeps its template alive: the template's pid 1 is its ancestor.
    pub(crate) _template: Option<std::sync::Arc<crate::zygote::Template>>,
    pub(crate) finished: bool,
    pub(crate) end_of_run: Option<EndOfRun>,
}

/// Set up a sandbox for `spec` and start its program; give it its input with
/// [`Pending::hand_off`]. The wall-clock limit starts at the hand-off.
pub fn start(spec: &JailSpec, cancel: Option<&AtomicBool>) -> Result<Pending, JailError> {
    let called = Instant::now();
    spec.validate()?;
    // The narrower filter goes first: the allow-list itself forbids seccomp(2) afterwards.
    let mut seccomp = Vec::new();
    if spec.zygote {
        seccomp.push(
            crate::seccomp::zygote_program().map_err(|e| JailError::layer(Layer::Seccomp, e))?,
        );
    } else if !spec.allow_exec_writable {
        seccomp.push(
            crate::seccomp::no_native_code().map_err(|e| JailError::layer(Layer::Seccomp, e))?,
        );
    }
    if !spec.zygote {
        seccomp.push(crate::seccomp::program().map_err(|e| JailError::layer(Layer::Seccomp, e))?);
    }
    let hierarchy = Hierarchy::detect().map_err(|e| JailError::layer(Layer::Cgroup, e))?;
    let identity = HostIdentity::acquire(spec.identity)?;
    let name = format!("airlock-{}", uuid::Uuid::new_v4().simple());
    let cgroup = Cgroup::create(
        &hierarchy,
        &name,
        spec.limits.memory_bytes,
        // The stage and pid 1 live in the cgroup too; the limit is the program's own.
        spec.limits.pids + JAIL_PROCESSES,
        spec.limits.cpu_percent,
    )?;
    let prep = Prepared {
        spec,
        supervisor_pid: std::process::id() as i32,
        rootless: identity.rootless,
        steps: crate::plan::plan(spec),
        cgroup_procs: cgroup.join_files(),
        seccomp,
        writable: crate::plan::writable_paths(spec),
    };

    let pipe = || sys::pipe().map_err(JailError::supervisor("create pipe"));
    let (report_r, report_w) = pipe()?;
    let (exec_r, exec_w) = pipe()?;
    let (go_r, go_w) = pipe()?;
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let optional_pipe = |wanted: bool| if wanted { pipe().map(Some) } else { Ok(None) };
    let (stdin_r, stdin_w) = split(optional_pipe(spec.stdin.is_some())?);
    let (chan_in_r, chan_in_w) = split(optional_pipe(spec.channel.is_some())?);
    let (chan_out_r, chan_out_w) = split(optional_pipe(spec.channel.is_some())?);
    let (control, control_sandbox) = if spec.zygote {
        let (a, b) = sys::seqpacket_pair().map_err(JailError::supervisor("socketpair"))?;
        (Some(a), Some(b))
    } else {
        (None, None)
    };

    let stage_pid = match sys::fork().map_err(JailError::supervisor("fork"))? {
        sys::Forked::Child => {
            drop((
                report_r, exec_r, go_w, out_r, err_r, stdin_w, chan_in_w, chan_out_r, control,
            ));
            child::stage(
                &prep,
                ChildFds {
                    report: report_w,
                    exec_sync: exec_w,
                    go: go_r,
                    stdin: stdin_r,
                    stdout: out_w,
                    stderr: err_w,
                    channel: chan_in_r.zip(chan_out_w),
                    control: control_sandbox,
                },
            )
        }
        sys::Forked::Parent(pid) => pid,
    };
    drop((
        report_w,
        exec_w,
        go_r,
        out_w,
        err_w,
        stdin_r,
        chan_in_r,
        chan_out_w,
        control_sandbox,
    ));

    let mut run = Running {
        stage_pid: Some(stage_pid),
        jail_processes: JAIL_PROCESSES,
        cgroup,
        report: report_r,
        reports: Reports::default(),
        pidfd: None,
    };
    let setup = run.setup(
        &go_w,
        &exec_r,
        &IdMaps {
            identity: &identity,
            zygote: spec.zygote,
        },
        called + spec.limits.timeout,
        cancel,
    );
    drop(go_w);
    drop(exec_r);
    if let Err(e) = setup {
        run.abort();
        return Err(e);
    }
    let mut captures = vec![
        Capture::new(out_r, spec.limits.output_bytes, Stream::Stdout),
        Capture::new(err_r, spec.limits.output_bytes, Stream::Stderr),
    ];
    if let (Some(fd), Some(channel)) = (chan_out_r, &spec.channel) {
        captures.push(Capture::new(fd, channel.output_limit, Stream::Channel));
    }
    for c in &captures {
        if let Some(fd) = &c.fd {
            let _ = sys::set_nonblocking(fd.as_raw_fd());
        }
    }
    let layers = Layers {
        id: name,
        namespaces: match spec.network {
            crate::Network::None => vec!["user", "mount", "pid", "net", "ipc", "uts", "cgroup"],
            crate::Network::Host { .. } => vec!["user", "mount", "pid", "ipc", "uts", "cgroup"],
        },
        cgroup: hierarchy.version(),
        landlock: run.reports.landlock.unwrap_or(Enforcement::None),
        landlock_abi: sys::landlock_abi().unwrap_or(0),
        seccomp: if spec.disabled.contains(&crate::Optional::Seccomp) {
            "disabled"
        } else if spec.allow_exec_writable {
            "allow-list"
        } else {
            "allow-list, no native code"
        },
        disabled: spec.disabled.clone(),
        host_uid: identity.uid,
        host_uid_per_box: identity.per_box,
        uid: SANDBOX_UID,
    };
    Ok(Pending {
        run,
        captures,
        stdin_w,
        channel_w: chan_in_w,
        control,
        limits: spec.limits.clone(),
        layers,
        setup: called.elapsed(),
        _identity: identity,
        _template: None,
        finished: false,
        end_of_run: None,
    })
}

impl Pending {
    /// This sandbox's name on the host (its cgroup is named after it).
    pub fn id(&self) -> &str {
        &self.layers.id
    }

    /// Host pids of the sandbox's processes (for measuring them).
    pub fn pids(&self) -> Vec<i32> {
        self.run.cgroup.pids()
    }

    /// The program is still alive and waiting (it has neither exited nor been killed).
    pub fn is_waiting(&mut self) -> bool {
        if let Some(pidfd) = &self.run.pidfd {
            return !sys::poll_readable(&[pidfd.as_raw_fd()], 0).map_or(true, |r| r[0]);
        }
        let fd = self.run.report.as_raw_fd();
        while !self.run.reports.eof && sys::poll_readable(&[fd], 0).map(|r| r[0]).unwrap_or(false) {
            self.run.reports.pump(fd);
        }
        !self.run.reports.eof && self.run.reports.exited.is_none()
    }

    /// Wait until the program has written something on its channel — a runner announces
    /// that it is ready this way — or `timeout` passes or it dies. True when it spoke.
    pub fn wait_for_channel(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let report = self.run.report.as_raw_fd();
        let Some(channel) = self.captures.get_mut(2) else {
            return false;
        };
        while channel.kept.is_empty() && Instant::now() < deadline {
            let Some(fd) = channel.fd.as_ref().map(|f| f.as_raw_fd()) else {
                return false;
            };
            let ready =
                sys::poll_readable(&[fd, report], ms_until(deadline).min(1000)).unwrap_or_default();
            if ready.first() == Some(&true) && !channel.pump(&mut None) {
                return false;
            }
            if ready.get(1) == Some(&true) {
                self.run.reports.pump(report);
                if self.run.reports.eof || self.run.reports.exited.is_some() {
                    return false;
                }
            }
        }
        !channel.kept.is_empty()
    }

    /// End the run as soon as the program announces its end on its channel (see
    /// [`EndOfRun`]) instead of when its processes are gone.
    pub fn end_on(mut self, detector: EndOfRun) -> Pending {
        self.end_of_run = Some(detector);
        self
    }

    /// Give the program its stdin and channel input (both are closed once written) and
    /// run it to its end under `limits` (the spec's when None). The wall clock starts now.
    pub fn hand_off(
        mut self,
        stdin: Option<&[u8]>,
        channel: Option<&[u8]>,
        limits: Option<&Limits>,
        observer: Option<Observer>,
        cancel: Option<&AtomicBool>,
    ) -> Result<Outcome, JailError> {
        if let Some(limits) = limits {
            limits.validate()?;
            self.run.cgroup.set_limits(
                limits.memory_bytes,
                limits.pids + self.run.jail_processes,
                limits.cpu_percent,
            )?;
            for c in self.captures.iter_mut().take(2) {
                c.limit = limits.output_bytes.min(usize::MAX as u64) as usize;
            }
            self.limits = limits.clone();
        }
        let started_at = SystemTime::now();
        let start = Instant::now();
        let deadline = start + self.limits.timeout;
        let mut feeders: Vec<Feeder> = [
            (self.stdin_w.take(), stdin),
            (self.channel_w.take(), channel),
        ]
        .into_iter()
        .filter_map(|(fd, bytes)| Some(Feeder::new(fd?, bytes.unwrap_or_default())))
        .collect();
        let mut observer = observer;
        let ended = self.run.supervise(
            &mut self.captures,
            &mut feeders,
            deadline,
            OnDeadline::Kill,
            &mut observer,
            cancel,
            self.end_of_run,
        );
        drop(feeders);
        let duration = start.elapsed();
        let completed_at = SystemTime::now();
        let usage = self.run.cgroup.usage();
        let status = self.run.reports.exited;
        let announced = matches!(ended, Some(Exit::Code(_)));
        if !announced {
            self.run.finish();
            self.finished = true;
        }
        if let Some((layer, message)) = self.run.reports.error.take() {
            return Err(JailError::Layer {
                layer: Layer::from_name(&layer),
                message,
            });
        }
        let exit = ended.unwrap_or_else(|| self.run.exit_status(status));
        let mut captures = std::mem::take(&mut self.captures).into_iter();
        let (out, err) = (
            captures.next().expect("stdout"),
            captures.next().expect("stderr"),
        );
        let channel = captures.next();
        let setup = self.setup;
        let layers = {
            // Landlock's enforcement was reported during setup.
            let mut layers = self.layers.clone();
            layers.landlock = self.run.reports.landlock.unwrap_or(Enforcement::None);
            layers
        };
        if announced {
            // Dropping an unfinished sandbox kills what is left and removes it.
            tear_down_later(self);
        }
        Ok(Outcome {
            exit,
            oom_killed: usage.oom_kills > 0,
            stdout: out.kept,
            stderr: err.kept,
            stdout_truncated: out.truncated,
            stderr_truncated: err.truncated,
            channel_truncated: channel.as_ref().is_some_and(|c| c.truncated),
            channel: channel.map(|c| c.kept).unwrap_or_default(),
            started_at,
            completed_at,
            duration,
            setup,
            cpu_time: Duration::from_nanos(usage.cpu_time_ns),
            peak_memory_bytes: usage.peak_memory_bytes,
            layers,
        })
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.finished {
            self.run.abort();
        }
    }
}

/// A started jail, until its processes are gone and its cgroup removed.
#[derive(Debug)]
pub(crate) struct Running {
    /// The stage process, when this supervisor forked it (a pool child's parent is its
    /// template, which reports its end on the report pipe).
    pub(crate) stage_pid: Option<i32>,
    /// Processes of the jail itself in the cgroup besides the program's own.
    pub(crate) jail_processes: u32,
    pub(crate) cgroup: Cgroup,
    pub(crate) report: OwnedFd,
    pub(crate) reports: Reports,
    /// A pool child's process, for knowing whether it still lives (its status comes
    /// from its template, which may end first).
    pub(crate) pidfd: Option<OwnedFd>,
}

/// How the sandbox's ids map to the host's.
struct IdMaps<'a> {
    identity: &'a HostIdentity,
    zygote: bool,
}

impl Running {
    /// Write the id maps when the stage has unshared, then wait until the program is
    /// exec'd (the exec pipe closes) or a layer reports failure.
    fn setup(
        &mut self,
        go: &OwnedFd,
        exec: &OwnedFd,
        maps: &IdMaps,
        deadline: Instant,
        cancel: Option<&AtomicBool>,
    ) -> Result<(), JailError> {
        let mut exec_open = true;
        let mut mapped = false;
        while exec_open {
            if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                return Err(JailError::Cancelled);
            }
            if Instant::now() >= deadline {
                return Err(JailError::layer(
                    Layer::Exec,
                    "sandbox setup did not finish in time",
                ));
            }
            let fds = [self.report.as_raw_fd(), exec.as_raw_fd()];
            let ready = sys::poll_readable(&fds, ms_until(deadline).min(1000))
                .map_err(JailError::supervisor("poll"))?;
            if ready[0] && !self.reports.eof {
                self.reports.pump(self.report.as_raw_fd());
            }
            if ready[1] {
                let mut b = [0u8; 1];
                if matches!(sys::read(exec.as_raw_fd(), &mut b), Ok(0) | Err(_)) {
                    exec_open = false;
                }
            }
            if self.reports.unshared && !mapped {
                let stage = self.stage_pid.ok_or_else(|| {
                    JailError::layer(Layer::UidMap, "no stage process to map ids for")
                })?;
                write_id_maps(stage, maps)?;
                sys::write_all(go.as_raw_fd(), &[msg::MAPPED])
                    .map_err(JailError::supervisor("signal stage"))?;
                mapped = true;
            }
            if self.reports.eof && exec_open {
                break;
            }
        }
        // Anything reported before the exec pipe closed is already in the report pipe.
        while !self.reports.eof
            && sys::poll_readable(&[self.report.as_raw_fd()], 0)
                .map(|r| r[0])
                .unwrap_or(false)
        {
            self.reports.pump(self.report.as_raw_fd());
            if self.reports.error.is_some() {
                break;
            }
        }
        if let Some((layer, message)) = self.reports.error.take() {
            return Err(JailError::Layer {
                layer: Layer::from_name(&layer),
                message,
            });
        }
        if exec_open {
            return Err(JailError::layer(
                Layer::Exec,
                "sandbox setup ended without starting the program",
            ));
        }
        Ok(())
    }

    /// Pump output and reports until the program's end, its announced end or the
    /// deadline. Some(Exit::Code) when it announced its end, Some(Timeout or Cancelled)
    /// when it was killed, None when it ended by itself.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn supervise(
        &mut self,
        captures: &mut [Capture],
        feeders: &mut [Feeder],
        deadline: Instant,
        on_deadline: OnDeadline,
        observer: &mut Option<Observer>,
        cancel: Option<&AtomicBool>,
        end_of_run: Option<EndOfRun>,
    ) -> Option<Exit> {
        let mut deadline = deadline;
        // Why the program was interrupted, once it has been.
        let mut interrupted: Option<Exit> = None;
        let mut killed = None;
        let mut drain_deadline: Option<Instant> = None;
        loop {
            // Feed inputs without ever blocking on a program that does not read them.
            feeders.iter_mut().for_each(Feeder::feed);
            let feeding = feeders.iter().any(|f| f.fd.is_some());
            let mut fds: Vec<RawFd> = captures
                .iter()
                .map(|c| c.fd.as_ref().map_or(-1, |f| f.as_raw_fd()))
                .collect();
            fds.push(if self.reports.eof {
                -1
            } else {
                self.report.as_raw_fd()
            });
            if fds.iter().all(|&f| f < 0) {
                break;
            }
            let limit = drain_deadline.unwrap_or(deadline);
            let wait = if feeding {
                10
            } else {
                ms_until(limit).min(1000)
            };
            let ready = sys::poll_readable(&fds, wait).unwrap_or_else(|_| vec![false; fds.len()]);
            for (i, c) in captures.iter_mut().enumerate() {
                if ready[i] {
                    c.pump(observer);
                }
            }
            let channel_spoke = captures.get(2).is_some() && ready[2];
            if let (true, Some(detect)) = (channel_spoke && killed.is_none(), end_of_run) {
                if let Some(code) = detect(&captures[2].kept) {
                    // Everything the program wrote before its last frame is in the pipes.
                    for c in captures.iter_mut() {
                        c.drain(observer);
                    }
                    // An interrupted call that still ended is a timeout (or a cancel)
                    // all the same.
                    return Some(interrupted.unwrap_or(Exit::Code(code)));
                }
            }
            if ready[captures.len()] {
                self.reports.pump(self.report.as_raw_fd());
            }
            let now = Instant::now();
            if self.reports.exited.is_some() && drain_deadline.is_none() {
                // The program ended; pid 1 exits and the namespace's processes die with it.
                drain_deadline = Some(now + Duration::from_millis(500));
            }
            if drain_deadline.is_none() {
                let cancelled = cancel.is_some_and(|c| c.load(Ordering::Relaxed));
                let why = if now >= deadline {
                    Some(interrupted.unwrap_or(Exit::Timeout))
                } else if cancelled {
                    Some(Exit::Cancelled)
                } else {
                    None
                };
                match (why, on_deadline) {
                    // The first time (time up, or a cancel) interrupts; the second kills.
                    (Some(why), OnDeadline::Interrupt(grace)) if interrupted.is_none() => {
                        if let (Exit::Cancelled, Some(flag)) = (why, cancel) {
                            flag.store(false, Ordering::Relaxed); // set again to kill
                        }
                        self.interrupt();
                        interrupted = Some(why);
                        deadline = now + grace;
                    }
                    (Some(why), _) => killed = Some(why),
                    (None, _) => {}
                }
                if killed.is_some() {
                    self.cgroup.kill_all();
                    drain_deadline = Some(now + Duration::from_millis(500));
                }
            }
            if drain_deadline.is_some_and(|d| now >= d) {
                self.cgroup.kill_all();
                break;
            }
        }
        killed
    }

    /// How the program ended, from its status as the stage reported it.
    pub(crate) fn exit_status(&self, status: Option<i32>) -> Exit {
        match status {
            Some(s) if libc::WIFEXITED(s) => Exit::Code(libc::WEXITSTATUS(s)),
            Some(s) if libc::WIFSIGNALED(s) => Exit::Signal(libc::WTERMSIG(s)),
            _ if self.stage_pid.is_none() => Exit::Unreported,
            // pid 1 itself was killed (the OOM killer may pick it): report it as SIGKILL.
            _ => Exit::Signal(libc::SIGKILL),
        }
    }

    /// SIGINT to the program and whatever it started (not to the jail's own stage and
    /// pid 1): Python raises KeyboardInterrupt in the code that is running.
    fn interrupt(&mut self) {
        let jail = [self.stage_pid, self.reports.init_pid];
        for pid in self.cgroup.pids() {
            if !jail.contains(&Some(pid)) {
                let _ = sys::kill(pid, libc::SIGINT);
            }
        }
    }

    /// Kill whatever is left and reap the stage.
    pub(crate) fn finish(&mut self) {
        self.cgroup.kill_all();
        if let Some(stage) = self.stage_pid {
            let _ = sys::waitpid(stage, false);
        }
    }

    fn abort(&mut self) {
        if let Some(stage) = self.stage_pid {
            let _ = sys::kill(stage, libc::SIGKILL);
        }
        self.finish();
    }
}

/// Map the sandbox uid/gid to the host identity (written from outside, as the kernel
/// requires for ids other than the writer's own).
fn write_id_maps(pid: i32, maps: &IdMaps) -> Result<(), JailError> {
    let identity = maps.identity;
    let write = |file: &str, text: String| {
        let path = format!("/proc/{pid}/{file}");
        std::fs::write(&path, text)
            .map_err(|e| JailError::layer(Layer::UidMap, format!("write {path}: {e}")))
    };
    // As root, setgroups stays allowed so the sandbox drops root's supplementary groups.
    if identity.rootless {
        write("setgroups", "deny".into())?;
    }
    if maps.zygote {
        let (uids, gids) = crate::zygote::template_id_maps(identity);
        write("uid_map", uids)?;
        return write("gid_map", gids);
    }
    write("uid_map", format!("{SANDBOX_UID} {} 1\n", identity.uid))?;
    write("gid_map", format!("{SANDBOX_UID} {} 1\n", identity.gid))
}
