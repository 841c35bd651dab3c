//! The emulated account and everything the connection threads share.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use crate::{lock, Config, Fault, FaultAction, Limits, Log, Resource, RetryAfterMode};

/// The purge types, each with its own rate window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum PurgeKind {
    Url,
    Pattern,
    All,
}

/// Mutable emulated-account state.
pub(crate) struct State {
    pub resources: HashMap<i64, Resource>,
    pub faults: VecDeque<Fault>,
    /// Acceptance times of the purges in the current window, oldest first.
    pub windows: HashMap<(i64, PurgeKind), VecDeque<Instant>>,
    pub limits: Limits,
    pub retry_after: RetryAfterMode,
}

impl State {
    fn initial(config: &Config) -> State {
        State {
            resources: config
                .seed_resources
                .iter()
                .map(|&id| (id, Resource::new(id)))
                .collect(),
            faults: VecDeque::new(),
            windows: HashMap::new(),
            limits: config.limits.clone(),
            retry_after: config.retry_after,
        }
    }

    /// Takes one use of the first fault matching the request, if any.
    pub fn take_fault(&mut self, method: &str, path: &str) -> Option<FaultAction> {
        let i = self.faults.iter().position(|f| f.matches(method, path))?;
        let fault = &mut self.faults[i];
        fault.times -= 1;
        if fault.times == 0 {
            self.faults.remove(i).map(|f| f.action)
        } else {
            Some(fault.action.clone())
        }
    }
}

/// Everything the connection threads share.
pub(crate) struct Shared {
    pub initial: Config,
    pub addr: SocketAddr,
    state: Mutex<State>,
    log: Mutex<Log>,
    logging: AtomicBool,
    logger: OnceLock<SyncSender<String>>,
    recording: AtomicBool,
    shutdown: AtomicBool,
    /// Held while `shutdown` is set, so that a sleeper cannot miss the wake-up.
    sleepers: Mutex<()>,
    wake: Condvar,
}

impl Shared {
    pub fn new(initial: Config, addr: SocketAddr) -> Shared {
        Shared {
            state: Mutex::new(State::initial(&initial)),
            initial,
            addr,
            log: Mutex::new(Log::default()),
            logging: AtomicBool::new(false),
            logger: OnceLock::new(),
            recording: AtomicBool::new(true),
            shutdown: AtomicBool::new(false),
            sleepers: Mutex::new(()),
            wake: Condvar::new(),
        }
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub(crate) fn log(&self) -> MutexGuard<'_, Log> {
        lock(&self.log)
    }

    pub fn reset(&self) {
        *self.state() = State::initial(&self.initial);
        self.log().clear();
    }

    pub fn set_logging(&self, on: bool) {
        if on {
            self.logger.get_or_init(spawn_logger);
        }
        self.logging.store(on, Ordering::Relaxed);
    }

    /// Logs one line to stderr without ever blocking a connection thread: the line is
    /// handed to the logger thread, and dropped if it is behind (e.g. stderr is a pipe
    /// nobody reads).
    pub fn log_line(&self, line: impl FnOnce() -> String) {
        if self.logging.load(Ordering::Relaxed) {
            if let Some(tx) = self.logger.get() {
                let _ = tx.try_send(line());
            }
        }
    }

    pub fn set_recording(&self, on: bool) {
        self.recording.store(on, Ordering::Relaxed);
    }

    pub fn recording(&self) -> bool {
        self.recording.load(Ordering::Relaxed)
    }

    /// Marks the emulator as stopping and wakes every [`Shared::sleep`].
    pub fn begin_shutdown(&self) {
        let _guard = lock(&self.sleepers);
        self.shutdown.store(true, Ordering::SeqCst);
        self.wake.notify_all();
    }

    pub fn shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }

    /// Sleeps `d`, or less if the emulator is being dropped. Returns `false` in that case.
    pub fn sleep(&self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        let mut guard = lock(&self.sleepers);
        loop {
            if self.shutting_down() {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            guard = self
                .wake
                .wait_timeout(guard, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// Starts the thread that writes log lines to stderr. It ends when the emulator is dropped.
fn spawn_logger() -> SyncSender<String> {
    let (tx, rx) = sync_channel::<String>(4096);
    let spawned = std::thread::Builder::new()
        .name("gcdn-emulator-log".into())
        .spawn(move || {
            for line in rx {
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "{line}");
            }
        });
    if let Err(e) = spawned {
        eprintln!("gcdn-emulator: cannot spawn the log thread: {e}");
    }
    tx
}
