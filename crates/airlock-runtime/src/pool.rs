//! A warm pool: sandboxes set up ahead of time for one environment, each with its runner
//! started and the environment's heavy modules imported, waiting for one request.
//!
//! Taking one skips the jail's setup and the interpreter's start and imports; the request's
//! limits are written to the sandbox's cgroup at the hand-off and its wall clock starts
//! then. Every sandbox serves exactly one request and is destroyed after it (ARCHITECTURE:
//! one execution, one sandbox); a background thread keeps the pool filled. A sandbox that
//! died while waiting is discarded and counted, never handed out.
//!
//! The pool's idle memory can be capped ([`PoolOptions::memory_budget_mb`]): under a budget the
//! pool grows one sandbox at a time, and makes no further one while the template and the
//! waiting sandboxes (their PSS, measured) plus the pages one more would hold on its own
//! exceed the budget; the pool always keeps one.
//!
//! Only requests whose sandbox-shaping settings equal the pool's can use it (no grants,
//! the pool's CPU share, no stdin, at most the pool's memory); others start cold.
//!
//! Two ways to make the sandboxes ([`Mode`]). As root, a template (zygote) imports the
//! modules once and each sandbox is a fork of it that builds its own namespaces and drops
//! its privileges, checked by the host before use (`airlock_jail::Zygote`): a new sandbox
//! costs milliseconds, so the pool keeps up under sustained load. Otherwise each sandbox
//! is a cold start that imports the modules itself. A template that dies is replaced;
//! the sandboxes it already made keep working.

use std::collections::VecDeque;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use airlock_jail::{JailError, JailSpec, Limits, Observer, Outcome, Pending, SandboxFile, Zygote};

use crate::procmem::Memory;
use crate::request::{ExecutionRequest, InvalidRequest};
use crate::runner::{RUNNER_PATH, ZYGOTE_PATH, ZYGOTE_SOURCE};

/// How long a new sandbox may take to import its modules and say it is ready.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// How a pool makes its sandboxes.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Forked from a template that imported the modules once (needs root).
    #[default]
    Zygote,
    /// Each started cold, importing the modules itself (any host).
    Prestart,
}

impl Mode {
    /// The best mode this host allows.
    pub fn for_host() -> Mode {
        if airlock_jail::doctor::is_root() {
            Mode::Zygote
        } else {
            Mode::Prestart
        }
    }
}

/// What the pool holds and has done, for `doctor`-style output and `/health`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PoolStatus {
    pub mode: Mode,
    pub size: usize,
    pub ready: usize,
    pub starting: usize,
    pub in_use: usize,
    pub served: u64,
    /// Sandboxes that could not be started or died while waiting.
    pub failures: u64,
    /// Templates started (zygote mode): more than one means one ended and was replaced.
    pub templates_started: u64,
    /// The cap on the pool's idle memory (PSS of the template and the waiting sandboxes).
    pub memory_budget_mb: Option<u64>,
    /// The budget keeps the pool below its size now.
    pub limited_by_memory: bool,
}

/// What a pool holds in memory while it waits.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct PoolMemory {
    /// The template (zygote mode), if one is running.
    pub template: Option<Memory>,
    /// Each waiting sandbox.
    pub sandboxes: Vec<Memory>,
    /// PSS of all of them: what the pool costs the machine now.
    pub total_pss_mb: f64,
}

impl PoolMemory {
    fn measure(template: Option<i32>, sandboxes: &[Vec<i32>]) -> PoolMemory {
        let template = template.map(|pid| Memory::of(&[pid]));
        let sandboxes: Vec<Memory> = sandboxes.iter().map(|pids| Memory::of(pids)).collect();
        let total_pss_mb = template.iter().chain(&sandboxes).map(|m| m.pss_mb).sum();
        PoolMemory {
            template,
            sandboxes,
            total_pss_mb,
        }
    }
}

#[derive(Default)]
struct State {
    ready: VecDeque<Pending>,
    status: PoolStatus,
    stopping: bool,
    /// Why the last sandbox could not be made.
    last_error: Option<String>,
    /// The host pid of the newest template, for measuring the pool's memory.
    template_pid: Option<i32>,
}

struct Shared {
    spec: JailSpec,
    state: Mutex<State>,
    wake: Condvar,
    /// The current template (zygote mode).
    zygote: Mutex<Option<Zygote>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("spec", &self.spec.program)
            .finish()
    }
}

/// A pool of `size` waiting sandboxes made from `spec`.
#[derive(Debug)]
pub struct Pool {
    shared: Arc<Shared>,
    fillers: Vec<JoinHandle<()>>,
}

/// A sandbox taken from the pool for one request.
#[derive(Debug)]
pub struct Taken {
    pending: Pending,
    shared: Arc<Shared>,
}

/// How a pool is shaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolOptions {
    /// Sandboxes kept ready.
    pub size: usize,
    pub mode: Mode,
    /// A cap on the pool's idle memory (PSS of the template and the waiting sandboxes,
    /// MiB); the pool still keeps one sandbox whatever it costs.
    pub memory_budget_mb: Option<u64>,
}

impl PoolOptions {
    /// `size` sandboxes in the best mode the host allows, no memory cap.
    pub fn new(size: usize) -> PoolOptions {
        PoolOptions {
            size,
            mode: Mode::for_host(),
            memory_budget_mb: None,
        }
    }
}

impl Pool {
    /// Start filling a pool of `size` sandboxes made from `spec` (a request's sandbox
    /// spec), in the best mode the host allows.
    pub fn new(spec: JailSpec, size: usize) -> Pool {
        Pool::start(spec, PoolOptions::new(size))
    }

    /// Start filling a pool shaped by `options`.
    pub fn start(spec: JailSpec, options: PoolOptions) -> Pool {
        let PoolOptions {
            size,
            mode,
            memory_budget_mb,
        } = options;
        let shared = Arc::new(Shared {
            spec,
            state: Mutex::new(State {
                status: PoolStatus {
                    mode,
                    size,
                    memory_budget_mb,
                    ..PoolStatus::default()
                },
                ..State::default()
            }),
            wake: Condvar::new(),
            zygote: Mutex::new(None),
        });
        // Forked sandboxes are made one per core at a time (a child's setup is mostly its
        // own CPU); cold-started ones one at a time (each imports for a second).
        let count = match mode {
            Mode::Zygote => std::thread::available_parallelism().map_or(1, |n| n.get()),
            Mode::Prestart => 1,
        }
        .clamp(1, size.max(1));
        let fillers = (0..count)
            .filter_map(|_| {
                let shared = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name("airlock-pool".into())
                    .spawn(move || fill(&shared))
                    .ok()
            })
            .collect();
        Pool { shared, fillers }
    }

    /// What the pool holds in memory now.
    pub fn memory(&self) -> PoolMemory {
        let Ok(state) = self.shared.state.lock() else {
            return PoolMemory::default();
        };
        let pids: Vec<Vec<i32>> = state.ready.iter().map(Pending::pids).collect();
        let template = state.template_pid;
        drop(state);
        PoolMemory::measure(template, &pids)
    }

    pub fn status(&self) -> PoolStatus {
        self.shared
            .state
            .lock()
            .map(|s| s.status)
            .unwrap_or_default()
    }

    /// Whether `req` can run in one of this pool's sandboxes: grants, stdin and the CPU
    /// share shape a sandbox when it starts, so a request that differs must start cold.
    fn fits(&self, req: &ExecutionRequest) -> bool {
        let l = &self.shared.spec.limits;
        req.grants == Default::default()
            && req.stdin.is_none()
            && req.max_cpu_percent == l.cpu_percent
            && (req.max_memory_mb << 20) <= l.memory_bytes
    }

    /// A waiting sandbox for `req`, if one is ready now and `req` fits the pool (dead
    /// sandboxes are discarded on the way). None means: run it cold.
    pub fn take(&self, req: &ExecutionRequest) -> Option<Taken> {
        if !self.fits(req) {
            return None;
        }
        let mut state = self.shared.state.lock().ok()?;
        while let Some(mut pending) = state.ready.pop_front() {
            state.status.ready = state.ready.len();
            if pending.is_waiting() {
                state.status.in_use += 1;
                self.shared.wake.notify_all();
                return Some(Taken {
                    pending,
                    shared: Arc::clone(&self.shared),
                });
            }
            state.status.failures += 1;
        }
        self.shared.wake.notify_all();
        None
    }

    /// Why the last sandbox could not be made, if one could not.
    pub fn last_error(&self) -> Option<String> {
        self.shared.state.lock().ok()?.last_error.clone()
    }

    /// The host pid of the current template (zygote mode), for operators and tests.
    pub fn template_pid(&self) -> Option<i32> {
        let zygote = self.shared.zygote.lock().ok()?;
        zygote.as_ref().filter(|z| z.is_alive()).map(Zygote::pid)
    }

    /// The host names (cgroup names) of the sandboxes waiting now.
    pub fn ready_ids(&self) -> Vec<String> {
        self.shared
            .state
            .lock()
            .map(|s| s.ready.iter().map(|p| p.id().to_string()).collect())
            .unwrap_or_default()
    }

    /// Wait until `count` sandboxes are ready or `timeout` passes (a host that cannot
    /// start sandboxes must not hang the caller). True when they are ready.
    pub fn wait_ready(&self, count: usize, timeout: std::time::Duration) -> bool {
        self.wait_until(timeout, |state| state.ready.len() >= count)
    }

    /// Wait until the pool is as full as it will get: all its sandboxes ready, or as many
    /// as its memory budget allows. False if `timeout` passes first.
    pub fn wait_full(&self, timeout: std::time::Duration) -> bool {
        self.wait_until(timeout, |state| {
            state.ready.len() >= state.status.size
                || (state.status.limited_by_memory && state.status.starting == 0)
        })
    }

    fn wait_until(&self, timeout: std::time::Duration, done: impl Fn(&State) -> bool) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        let Ok(mut state) = self.shared.state.lock() else {
            return false;
        };
        while !done(&state) && !state.stopping {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            state = match self.shared.wake.wait_timeout(state, left) {
                Ok((s, _)) => s,
                Err(_) => return false,
            };
        }
        done(&state)
    }
}

impl Taken {
    /// Run `req` in this sandbox under the request's limits.
    pub fn run(
        self,
        req: &ExecutionRequest,
        observer: Option<Observer>,
        cancel: Option<&AtomicBool>,
    ) -> Result<Result<Outcome, airlock_jail::JailError>, InvalidRequest> {
        Ok(self.run_framed(&req.request_frame()?, &req.limits()?, observer, cancel))
    }

    /// The same with the request already encoded and its limits checked (the input frame
    /// and limits of the request's own spec: nothing is built twice on the hand-off).
    pub fn run_framed(
        self,
        frame: &[u8],
        limits: &Limits,
        observer: Option<Observer>,
        cancel: Option<&AtomicBool>,
    ) -> Result<Outcome, airlock_jail::JailError> {
        let Taken { pending, shared } = self;
        // The result is back as soon as the runner's last frame is; the sandbox is torn
        // down in the background.
        let outcome = pending.end_on(crate::runner::announced_end).hand_off(
            None,
            Some(frame),
            Some(limits),
            observer,
            cancel,
        );
        if let Ok(mut state) = shared.state.lock() {
            state.status.in_use = state.status.in_use.saturating_sub(1);
            state.status.served += 1;
        }
        outcome
    }

    /// This sandbox's name on the host (its cgroup's), for tests and audit.
    pub fn id(&self) -> &str {
        self.pending.id()
    }
}

/// The spec of a template for sandboxes of `spec`: the zygote instead of the runner.
pub fn zygote_spec(spec: &JailSpec) -> JailSpec {
    let mut zygote = spec.clone();
    for arg in zygote.args.iter_mut().filter(|a| *a == RUNNER_PATH) {
        *arg = ZYGOTE_PATH.into();
    }
    zygote.files.push(SandboxFile {
        path: ZYGOTE_PATH.into(),
        contents: ZYGOTE_SOURCE.as_bytes().to_vec(),
        mode: 0o444,
    });
    zygote.zygote = true;
    zygote
}

/// One new sandbox, ready (its runner said hello: the modules are imported).
fn make(shared: &Shared) -> Result<Pending, JailError> {
    let mode = shared
        .state
        .lock()
        .map(|s| s.status.mode)
        .unwrap_or_default();
    let mut pending = match mode {
        Mode::Prestart => airlock_jail::start(&shared.spec, None)?,
        Mode::Zygote => {
            let mut current = shared.zygote.lock().map_err(|_| JailError::Layer {
                layer: airlock_jail::Layer::Zygote,
                message: "the pool's template lock is poisoned".into(),
            })?;
            if !current.as_ref().is_some_and(Zygote::is_alive) {
                // The sandboxes the old template made hold it until they are done.
                *current = None;
                let zygote = Zygote::start(&zygote_spec(&shared.spec), READY_TIMEOUT)?;
                if let Ok(mut state) = shared.state.lock() {
                    state.status.templates_started += 1;
                    state.template_pid = Some(zygote.pid());
                }
                *current = Some(zygote);
            }
            let zygote = current.as_ref().expect("just set").clone();
            drop(current);
            zygote.spawn(&shared.spec.limits)?
        }
    };
    if pending.wait_for_channel(READY_TIMEOUT) {
        Ok(pending)
    } else {
        Err(JailError::Cancelled)
    }
}

/// A filler: keep `size` sandboxes ready or being made, making one at a time.
fn fill(shared: &Shared) {
    while claim(shared) {
        let started = make(shared);
        let Ok(mut state) = shared.state.lock() else {
            return;
        };
        state.status.starting -= 1;
        match started {
            Ok(pending) => state.ready.push_back(pending),
            Err(e) => {
                state.status.failures += 1;
                state.last_error = Some(e.to_string());
                // Do not spin on a host that cannot start sandboxes right now.
                drop(state);
                std::thread::sleep(std::time::Duration::from_millis(200));
                continue;
            }
        }
        state.status.ready = state.ready.len();
        shared.wake.notify_all();
    }
}

/// Wait until the pool has room for one more sandbox, in number and in its memory budget,
/// and count it as starting. False when the pool is stopping.
fn claim(shared: &Shared) -> bool {
    let Ok(mut state) = shared.state.lock() else {
        return false;
    };
    loop {
        if state.stopping {
            return false;
        }
        let held = state.ready.len() + state.status.starting;
        if held >= state.status.size {
            state = match shared.wake.wait(state) {
                Ok(s) => s,
                Err(_) => return false,
            };
            continue;
        }
        let Some(budget) = state.status.memory_budget_mb.filter(|_| held > 0) else {
            state.status.limited_by_memory = false;
            state.status.starting += 1;
            return true;
        };
        if state.status.starting > 0 {
            // Under a budget the pool grows one measured sandbox at a time.
            state = match shared.wake.wait(state) {
                Ok(s) => s,
                Err(_) => return false,
            };
            continue;
        }
        // Measured without the lock (reading /proc takes a while; takers must not wait).
        let pids: Vec<Vec<i32>> = state.ready.iter().map(Pending::pids).collect();
        let template = state.template_pid;
        drop(state);
        let now = PoolMemory::measure(template, &pids);
        // One more sandbox adds its own pages; those it shares are counted already.
        let each = match now.sandboxes.len() {
            0 => 0.0,
            n => now.sandboxes.iter().map(|m| m.private_mb).sum::<f64>() / n as f64,
        };
        let fits = now.total_pss_mb + each <= budget as f64;
        state = match shared.state.lock() {
            Ok(s) => s,
            Err(_) => return false,
        };
        state.status.limited_by_memory = !fits;
        if !fits {
            shared.wake.notify_all(); // for `wait_full`
        }
        if fits && state.ready.len() + state.status.starting == held {
            state.status.starting += 1;
            return true;
        }
        if !fits {
            // Memory shrinks as sandboxes are taken: look again soon, or when woken.
            state = match shared
                .wake
                .wait_timeout(state, std::time::Duration::from_secs(1))
            {
                Ok((s, _)) => s,
                Err(_) => return false,
            };
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        if let Ok(mut state) = self.shared.state.lock() {
            state.stopping = true;
            state.ready.clear();
        }
        self.shared.wake.notify_all();
        for filler in self.fillers.drain(..) {
            let _ = filler.join();
        }
        if let Ok(mut state) = self.shared.state.lock() {
            state.ready.clear();
        }
        if let Ok(mut zygote) = self.shared.zygote.lock() {
            zygote.take();
        }
    }
}
