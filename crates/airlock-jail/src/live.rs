//! A sandbox whose program stays between calls: the interpreter of a session, which keeps
//! its globals, imports and files from one call to the next.
//!
//! It is an ordinary jail (same layers, one cgroup for its whole life, so the memory limit
//! holds for the session's whole life) whose channel stays open: each call writes one
//! request on it and collects stdout, stderr and the channel until the program announces
//! the call's end. A call past its time is interrupted (SIGINT: KeyboardInterrupt in
//! Python) and the program lives on if it ends the call within the grace; if it does not,
//! every process of the sandbox is killed and the sandbox is dead. The program is never
//! trusted to stop itself: the kill does not depend on it.

use std::os::fd::OwnedFd;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant, SystemTime};

use crate::error::{JailError, Layer};
use crate::spec::JailSpec;
use crate::supervisor::{start, EndOfRun, Exit, Feeder, OnDeadline, Outcome, Pending};

/// How long one call may take and print.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallLimits {
    /// Wall time before the call is interrupted.
    pub timeout: Duration,
    /// Time an interrupted call has to end before the sandbox is killed.
    pub grace: Duration,
    /// Bytes of stdout and of stderr kept (each).
    pub output_bytes: u64,
}

/// A started sandbox serving calls until it is dropped (which kills it and removes its
/// cgroup) or dies.
#[derive(Debug)]
pub struct Live {
    pending: Pending,
    /// The host's end of the program's request channel, open for the sandbox's life.
    requests: OwnedFd,
    /// Setup time, reported with the first call.
    setup: Option<Duration>,
    dead: bool,
}

impl Live {
    /// Start `spec`'s program and wait, at most `ready`, until it speaks on its channel
    /// (a session's interpreter says hello once it is ready to take calls).
    pub fn start(spec: &JailSpec, ready: Duration) -> Result<Live, JailError> {
        if spec.channel.is_none() {
            return Err(JailError::InvalidSpec {
                field: "channel".into(),
                reason: "a live sandbox takes its calls on a channel".into(),
            });
        }
        let mut pending = start(spec, None)?;
        let requests = pending
            .channel_w
            .take()
            .ok_or_else(|| JailError::layer(Layer::Exec, "the sandbox has no request channel"))?;
        if !pending.wait_for_channel(ready) {
            let stderr = pending
                .captures
                .get_mut(1)
                .map(|c| {
                    c.drain(&mut None);
                    String::from_utf8_lossy(&c.kept).into_owned()
                })
                .unwrap_or_default();
            return Err(JailError::layer(
                Layer::Exec,
                format!(
                    "the program did not become ready within {} s: {stderr}",
                    ready.as_secs_f64()
                ),
            ));
        }
        let setup = Some(pending.setup);
        Ok(Live {
            pending,
            requests,
            setup,
            dead: false,
        })
    }

    /// This sandbox's name on the host (its cgroup is named after it).
    pub fn id(&self) -> &str {
        self.pending.id()
    }

    /// Whether the program still runs (a dead sandbox takes no more calls).
    pub fn is_alive(&mut self) -> bool {
        !self.dead && self.pending.is_waiting()
    }

    /// Send `request` on the channel and collect the call's stdout, stderr and channel
    /// output until `end` recognises the program's end-of-call frame. Setting `cancel`
    /// interrupts the call like its time running out (and is cleared, so that setting it
    /// again kills the sandbox). The outcome's exit is the announced code; Timeout or
    /// Cancelled if the call was interrupted (the sandbox is alive if the call ended
    /// within the grace, dead otherwise); a signal or a code when the sandbox ended. Its cpu time is the call's; its peak memory the
    /// sandbox's so far.
    pub fn call(
        &mut self,
        request: &[u8],
        limits: &CallLimits,
        end: EndOfRun,
        cancel: Option<&AtomicBool>,
    ) -> Result<Outcome, JailError> {
        if !self.is_alive() {
            return Err(JailError::layer(Layer::Exec, "the sandbox has ended"));
        }
        let output = limits.output_bytes.min(usize::MAX as u64) as usize;
        for (i, c) in self.pending.captures.iter_mut().enumerate() {
            // What came between calls (a hello, a background thread's prints) is nobody's.
            c.drain(&mut None);
            c.kept.clear();
            c.truncated = false;
            if i < 2 {
                c.limit = output;
            }
        }
        let before = self.pending.run.cgroup.usage();
        let writer = self
            .requests
            .try_clone()
            .map_err(JailError::supervisor("duplicate the request channel"))?;
        let mut feeders = [Feeder::new(writer, request)];
        let started_at = SystemTime::now();
        let began = Instant::now();
        let ended = self.pending.run.supervise(
            &mut self.pending.captures,
            &mut feeders,
            began + limits.timeout,
            OnDeadline::Interrupt(limits.grace),
            &mut None,
            cancel,
            Some(end),
        );
        drop(feeders);
        let duration = began.elapsed();
        let usage = self.pending.run.cgroup.usage();
        // The end was announced (possibly after an interrupt): the program takes more
        // calls. Anything else ended the sandbox.
        let announced = matches!(ended, Some(Exit::Code(_)))
            || (matches!(ended, Some(Exit::Timeout | Exit::Cancelled))
                && self.pending.is_waiting());
        let exit = match ended {
            Some(exit) => exit,
            None => {
                let status = self.pending.run.reports.exited;
                self.pending.run.exit_status(status)
            }
        };
        if !announced {
            self.dead = true;
            self.pending.run.finish();
            self.pending.finished = true;
        }
        let take = |c: Option<&mut crate::supervisor::Capture>| {
            c.map(|c| (std::mem::take(&mut c.kept), c.truncated))
                .unwrap_or_default()
        };
        let (stdout, stdout_truncated) = take(self.pending.captures.get_mut(0));
        let (stderr, stderr_truncated) = take(self.pending.captures.get_mut(1));
        let (channel, channel_truncated) = take(self.pending.captures.get_mut(2));
        Ok(Outcome {
            exit,
            oom_killed: usage.oom_kills > before.oom_kills,
            stdout,
            stderr,
            stdout_truncated,
            stderr_truncated,
            channel,
            channel_truncated,
            started_at,
            completed_at: SystemTime::now(),
            duration,
            setup: self.setup.take().unwrap_or_default(),
            cpu_time: Duration::from_nanos(usage.cpu_time_ns.saturating_sub(before.cpu_time_ns)),
            peak_memory_bytes: usage.peak_memory_bytes,
            layers: {
                let mut layers = self.pending.layers.clone();
                if let Some(landlock) = self.pending.run.reports.landlock {
                    layers.landlock = landlock;
                }
                layers
            },
        })
    }
}
