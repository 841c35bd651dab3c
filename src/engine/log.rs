//! The log hook: every [`Note`] of every call, as a [`Record`] at a [`Level`], to the
//! client's log function (`Options::set_log`) or, when none is set, to stderr when the
//! `GCDN_LOG` environment variable asks for it (read once, when the client is made).
//!
//! Levels of the events:
//! - `request` (one per attempt: method, path, status, attempt, elapsed): [`Level::Debug`];
//! - `retry` (an attempt failed and is tried again): [`Level::Info`];
//! - `wait` (the call sleeps: pacer slot, 429 interval, `Retry-After`, backoff): [`Level::Info`];
//! - `rate_limited` (the API answered 429): [`Level::Warn`];
//! - `limits` (the account's limits were read, or could not be): [`Level::Info`]; a value of
//!   them not believed (out of bounds or unreadable, or a 429 came on a resource paced faster
//!   than the documented rate), the documented one used instead: [`Level::Warn`];
//! - `store_fallback` (the shared rate store failed; in-process pacing used): [`Level::Warn`]
//!   the first time, then [`Level::Debug`] until the store has worked again;
//! - `pacer` (a pacer slot taken at once, or refused as too far off): [`Level::Trace`]
//!   (a slot that makes the call wait is also a `wait` record).
//!
//! [`Level::Error`] is reserved: a call's final failure is its returned error, not a record.
//!
//! The API key (in any encoded form) and any URL password are taken out of every message
//! and path before a record is made. The log function is called on the thread running the
//! call, while no lock of gcdn is held; it may be called from several threads at once.

use std::borrow::Cow;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use zeroize::Zeroizing;

use super::error::{redact, redact_url_password, Error, Result};
use super::format::secs;
use super::note::{Note, Observer, WaitReason};
use super::pacer::PaceKind;

/// The environment variable that sends records to stderr when no log function is set.
pub const ENV_LOG: &str = "GCDN_LOG";

/// How much a record matters; a log function gets the records at or below its maximum.
/// The numbers are the C ABI's `GCDN_LOG_*` and never change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(i32)]
pub enum Level {
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
    Trace = 5,
}

impl Level {
    /// The level numbered `n` (1 error .. 5 trace).
    pub fn from_i32(n: i32) -> Option<Level> {
        Some(match n {
            1 => Level::Error,
            2 => Level::Warn,
            3 => Level::Info,
            4 => Level::Debug,
            5 => Level::Trace,
            _ => return None,
        })
    }

    /// `error`, `warn`, `info`, `debug`, `trace`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
        }
    }

    /// A level by name, as `GCDN_LOG` takes it (any case; `warning` too).
    pub fn parse(name: &str) -> Option<Level> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "error" => Level::Error,
            "warn" | "warning" => Level::Warn,
            "info" => Level::Info,
            "debug" => Level::Debug,
            "trace" => Level::Trace,
            _ => return None,
        })
    }
}

/// What a record is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Event {
    Request,
    Retry,
    Wait,
    RateLimited,
    Limits,
    StoreFallback,
    Pacer,
}

impl Event {
    /// `request`, `retry`, `wait`, `rate_limited`, `limits`, `store_fallback`, `pacer`.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Request => "request",
            Event::Retry => "retry",
            Event::Wait => "wait",
            Event::RateLimited => "rate_limited",
            Event::Limits => "limits",
            Event::StoreFallback => "store_fallback",
            Event::Pacer => "pacer",
        }
    }
}

/// One log record. Fields that do not apply to the event are `None` / zero.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub level: Level,
    pub event: Event,
    /// One line for people, e.g. `POST /cdn/resources/5/purge -> 201 (attempt 1, 3 ms)`.
    pub message: &'a str,
    /// `request`, `retry`.
    pub method: Option<&'a str>,
    /// Path and query below the base URL: `request`, `retry`.
    pub path: Option<&'a str>,
    /// The HTTP status of a `request` (`None`: no answer came).
    pub http_status: Option<u16>,
    /// The attempt's number, from 1: `request`, `retry`.
    pub attempt: u32,
    /// How long the attempt took: `request`.
    pub elapsed: Duration,
    /// `wait`, `rate_limited`, `pacer`, `limits`, when a purge's resource is concerned.
    pub resource_id: Option<i64>,
    /// `urls` or `patterns` (pattern purges and purge-all), with `resource_id`.
    pub kind: Option<PaceKind>,
    /// How long the call waits (`wait`), the slot is off (`pacer`), or `Retry-After` asks
    /// (`rate_limited`).
    pub wait: Duration,
    /// Why a `wait`: `pacer`, `429`, `retry-after`, `backoff`.
    pub why: Option<WaitReason>,
}

/// A log function: called with each record at or below the level it was set with.
pub type LogFn = Arc<dyn Fn(&Record<'_>) + Send + Sync>;

/// The log function of [`super::config::Options`] and its maximum level.
#[derive(Clone)]
pub struct LogSetting {
    pub sink: LogFn,
    pub max_level: Level,
}

impl std::fmt::Debug for LogSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogSetting")
            .field("max_level", &self.max_level)
            .finish_non_exhaustive()
    }
}

impl PartialEq for LogSetting {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.sink, &other.sink) && self.max_level == other.max_level
    }
}

impl Eq for LogSetting {}

enum Sink {
    Fn(LogFn),
    Stderr,
}

/// A client's logger: turns the notes of its calls into records.
pub struct Logger {
    sink: Sink,
    max_level: Level,
    /// To redact from every message and path. Wiped on drop.
    api_key: Zeroizing<String>,
    /// A store fallback was logged at warn; later ones go at debug until the store works.
    fallback_warned: AtomicBool,
}

impl std::fmt::Debug for Logger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sink = match self.sink {
            Sink::Fn(_) => "fn",
            Sink::Stderr => "stderr",
        };
        f.debug_struct("Logger")
            .field("sink", &sink)
            .field("max_level", &self.max_level)
            .finish_non_exhaustive()
    }
}

impl Logger {
    /// The logger of a client made with `setting` for `api_key`: the log function if one is
    /// set, else stderr at the level `GCDN_LOG` names, else none. A `GCDN_LOG` that names no
    /// level is an error; empty or `off` means none.
    pub fn for_client(setting: Option<&LogSetting>, api_key: &str) -> Result<Option<Logger>> {
        let (sink, max_level) = match setting {
            Some(s) => (Sink::Fn(Arc::clone(&s.sink)), s.max_level),
            None => match std::env::var(ENV_LOG) {
                Ok(value) => match env_level(&value)? {
                    Some(level) => (Sink::Stderr, level),
                    None => return Ok(None),
                },
                Err(_) => return Ok(None),
            },
        };
        Ok(Some(Logger {
            sink,
            max_level,
            api_key: Zeroizing::new(api_key.to_owned()),
            fallback_warned: AtomicBool::new(false),
        }))
    }

    pub fn max_level(&self) -> Level {
        self.max_level
    }

    /// This logger as a call observer.
    pub fn observer(self: &Arc<Self>) -> Observer {
        let me = Arc::clone(self);
        Arc::new(move |note: &Note<'_>| me.note(note))
    }

    /// Log `note`, if its level passes.
    pub fn note(&self, note: &Note<'_>) {
        let Some(level) = self.level_of(note) else {
            return;
        };
        if level > self.max_level {
            return;
        }
        let mut record = Record {
            level,
            event: Event::Request,
            message: "",
            method: None,
            path: None,
            http_status: None,
            attempt: 0,
            elapsed: Duration::ZERO,
            resource_id: None,
            kind: None,
            wait: Duration::ZERO,
            why: None,
        };
        let path_clean;
        let message = match *note {
            Note::Attempt {
                method,
                path,
                attempt,
                status,
                elapsed,
            } => {
                path_clean = self.clean(path);
                record.event = Event::Request;
                record.method = Some(method);
                record.http_status = status;
                record.attempt = attempt;
                record.elapsed = elapsed;
                let answer = match status {
                    Some(s) => s.to_string(),
                    None => "no answer".to_owned(),
                };
                format!(
                    "{method} {path_clean} -> {answer} (attempt {attempt}, {} ms)",
                    elapsed.as_millis()
                )
            }
            Note::Retry {
                method,
                path,
                attempt,
                error,
            } => {
                path_clean = self.clean(path);
                record.event = Event::Retry;
                record.method = Some(method);
                record.attempt = attempt;
                format!("{method} {path_clean}: attempt {attempt} failed, trying again: {error}")
            }
            Note::Wait {
                resource_id,
                kind,
                wait,
                why,
            } => {
                path_clean = Cow::Borrowed("");
                record.event = Event::Wait;
                record.resource_id = resource_id;
                record.kind = kind;
                record.wait = wait;
                record.why = Some(why);
                let why_words = match why {
                    WaitReason::Pacer => "for the next purge slot",
                    WaitReason::RateLimited => "after a 429 for the rate window to reopen",
                    WaitReason::RetryAfter => "as Retry-After asks",
                    WaitReason::Backoff => "before trying again",
                    WaitReason::Confirm => "between polls of the purge statuses",
                };
                format!(
                    "waiting {} {why_words}{}",
                    secs(wait),
                    on(resource_id, kind)
                )
            }
            Note::RateLimited {
                resource_id,
                kind,
                retry_after,
            } => {
                path_clean = Cow::Borrowed("");
                record.event = Event::RateLimited;
                record.resource_id = resource_id;
                record.kind = kind;
                record.wait = retry_after.unwrap_or_default();
                let after = match retry_after {
                    Some(d) => format!(" (Retry-After {})", secs(d)),
                    None => " (no Retry-After)".to_owned(),
                };
                format!("rate limited (429){}{after}", on(resource_id, kind))
            }
            Note::LimitsRead { message, .. } => {
                path_clean = Cow::Borrowed("");
                record.event = Event::Limits;
                format!("account limits: {message}")
            }
            Note::LimitsReplaced {
                resource_id,
                kind,
                message,
            } => {
                path_clean = Cow::Borrowed("");
                record.event = Event::Limits;
                record.resource_id = resource_id;
                record.kind = kind;
                format!("account limits: {message}")
            }
            Note::StoreFallback { store, message } => {
                path_clean = Cow::Borrowed("");
                record.event = Event::StoreFallback;
                format!("rate store {store} failed, pacing in this process only: {message}")
            }
            Note::Slot {
                resource_id,
                kind,
                wait,
                reserved,
                ..
            } => {
                path_clean = Cow::Borrowed("");
                record.event = Event::Pacer;
                record.resource_id = Some(resource_id);
                record.kind = Some(kind);
                record.wait = wait;
                let what = if !reserved {
                    format!("no slot within the wait allowed (next in {})", secs(wait))
                } else if wait.is_zero() {
                    "slot taken, no wait".to_owned()
                } else {
                    format!("slot taken in {}", secs(wait))
                };
                format!("pacer: {what}{}", on(Some(resource_id), Some(kind)))
            }
            Note::Shared {
                resource_id,
                kind,
                items,
                callers,
            } => {
                path_clean = Cow::Borrowed("");
                record.event = Event::Pacer;
                record.resource_id = Some(resource_id);
                record.kind = Some(kind);
                format!(
                    "coalesced: one request carries {items} item(s) of {callers} caller(s){}",
                    on(Some(resource_id), Some(kind))
                )
            }
        };
        if matches!(record.event, Event::Request | Event::Retry) {
            record.path = Some(&path_clean);
        }
        let message = self.clean(&message);
        record.message = &message;
        self.emit(&record);
    }

    /// The level of `note`, or `None` for a note not logged.
    fn level_of(&self, note: &Note<'_>) -> Option<Level> {
        Some(match note {
            Note::Attempt { .. } => Level::Debug,
            Note::Retry { .. }
            | Note::Wait { .. }
            | Note::LimitsRead { .. }
            | Note::Shared { .. } => Level::Info,
            Note::RateLimited { .. } | Note::LimitsReplaced { .. } => Level::Warn,
            Note::StoreFallback { .. } => {
                if self.fallback_warned.swap(true, Ordering::Relaxed) {
                    Level::Debug
                } else {
                    Level::Warn
                }
            }
            Note::Slot { store_failed, .. } => {
                // The store answered: a later failure is news again.
                if !store_failed {
                    self.fallback_warned.store(false, Ordering::Relaxed);
                }
                Level::Trace
            }
            #[allow(unreachable_patterns)]
            _ => return None,
        })
    }

    /// `text` without the key (any form) or a URL password.
    fn clean<'t>(&self, text: &'t str) -> Cow<'t, str> {
        match redact(text, &self.api_key) {
            Cow::Borrowed(t) => redact_url_password(t),
            Cow::Owned(t) => Cow::Owned(redact_url_password(&t).into_owned()),
        }
    }

    fn emit(&self, record: &Record<'_>) {
        match &self.sink {
            Sink::Fn(f) => f(record),
            Sink::Stderr => write_stderr(record),
        }
    }
}

/// `record` as `GCDN_LOG` writes it: `gcdn: debug: POST /cdn/resources/5/purge -> 201
/// (attempt 1, 3 ms)`, one line on stderr.
pub fn write_stderr(record: &Record<'_>) {
    let line = format!("gcdn: {}: {}\n", record.level.as_str(), record.message);
    // One write per line, so lines of several threads do not mix.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// A log function writing each record to stderr as `GCDN_LOG` does (for `gcdn -v`):
/// `options.set_log(log::to_stderr(), Level::Debug)`.
pub fn to_stderr() -> LogFn {
    Arc::new(write_stderr)
}

/// ` on resource 5 (URL purges)`, or nothing.
fn on(resource_id: Option<i64>, kind: Option<PaceKind>) -> String {
    match (resource_id, kind) {
        (Some(id), Some(k)) => format!(" on resource {id} ({} purges)", k.noun()),
        (Some(id), None) => format!(" on resource {id}"),
        _ => String::new(),
    }
}

/// The level `GCDN_LOG` names: `None` for empty or `off`.
fn env_level(value: &str) -> Result<Option<Level>> {
    let v = value.trim();
    if v.is_empty() || v.eq_ignore_ascii_case("off") || v.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    Level::parse(v).map(Some).ok_or_else(|| {
        Error::invalid(format!(
            "{ENV_LOG} must be one of error, warn, info, debug, trace or off, not {}",
            super::error::quote(v, 40)
        ))
    })
}

/// `observer` and the client's `logger` together: both are told every note.
pub fn with_logger(logger: Option<&Arc<Logger>>, observer: Option<Observer>) -> Option<Observer> {
    match (logger, observer) {
        (None, observer) => observer,
        (Some(logger), None) => Some(logger.observer()),
        (Some(logger), Some(observer)) => {
            let logger = Arc::clone(logger);
            Some(Arc::new(move |note: &Note<'_>| {
                logger.note(note);
                observer(note);
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    type Seen = Arc<Mutex<Vec<(Level, String)>>>;

    fn collecting(max: Level, key: &str) -> (Arc<Logger>, Seen) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = Arc::clone(&seen);
        let setting = LogSetting {
            sink: Arc::new(move |r: &Record<'_>| {
                s.lock().unwrap().push((r.level, r.message.to_owned()))
            }),
            max_level: max,
        };
        let logger = Logger::for_client(Some(&setting), key).unwrap().unwrap();
        (Arc::new(logger), seen)
    }

    #[test]
    fn levels_round_trip_and_parse() {
        for n in 1..=5 {
            let l = Level::from_i32(n).unwrap();
            assert_eq!(l as i32, n);
            assert_eq!(Level::parse(l.as_str()), Some(l));
        }
        assert_eq!(Level::from_i32(0), None);
        assert_eq!(Level::from_i32(6), None);
        assert_eq!(Level::parse("WARNING"), Some(Level::Warn));
        assert!(env_level("loud").unwrap_err().message.contains("GCDN_LOG"));
        assert_eq!(env_level(" off ").unwrap(), None);
    }

    #[test]
    fn fallback_warns_once_until_the_store_works() {
        let (logger, seen) = collecting(Level::Trace, "k3y-secret");
        let fb = Note::StoreFallback {
            store: "redis://u:***@h:6379/0",
            message: "refused",
        };
        let slot = Note::Slot {
            resource_id: 1,
            kind: PaceKind::Urls,
            wait: Duration::ZERO,
            reserved: true,
            store_failed: false,
        };
        let failed_slot = Note::Slot {
            resource_id: 1,
            kind: PaceKind::Urls,
            wait: Duration::ZERO,
            reserved: true,
            store_failed: true,
        };
        logger.note(&fb);
        logger.note(&failed_slot);
        logger.note(&fb);
        logger.note(&slot);
        logger.note(&fb);
        let levels: Vec<Level> = seen.lock().unwrap().iter().map(|(l, _)| *l).collect();
        assert_eq!(
            levels,
            [
                Level::Warn,
                Level::Trace,
                Level::Debug,
                Level::Trace,
                Level::Warn
            ]
        );
    }

    #[test]
    fn messages_lose_the_key_and_url_passwords() {
        let key = "k3y/with+odd&chars";
        let (logger, seen) = collecting(Level::Trace, key);
        logger.note(&Note::Retry {
            method: "POST",
            path: "/cdn/resources/1/purge",
            attempt: 1,
            error: "server said k3y/with+odd&chars and redis://me:pw@h:1/0",
        });
        let got = seen.lock().unwrap();
        assert!(!got[0].1.contains(key), "{}", got[0].1);
        assert!(!got[0].1.contains(":pw@"), "{}", got[0].1);
    }
}
