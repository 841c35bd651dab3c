//! The account's own limits, from `GET /cdn/clients/me/limits`: the purge rates the pacer
//! keeps to, and the batch limits the job planner chunks by. Read once per client when first
//! needed, sanity-checked, and replaced by the documented ones where they make no sense.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::error::quote;
use super::pacer::{PaceKey, PaceKind, Window};

/// The documented defaults as intervals: 2 URL purges a minute, 1 pattern purge or purge-all
/// a minute.
pub const DEFAULT_URL_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_PATTERN_INTERVAL: Duration = Duration::from_secs(60);

/// URLs per purge request: the API's documented limit.
pub const DOCUMENTED_MAX_URLS: usize = 100;
/// Patterns per purge request: the API's documented limit.
pub const DOCUMENTED_MAX_PATTERNS: usize = 10;
/// Paths per prefetch request: the API's documented limit.
pub const DOCUMENTED_MAX_PREFETCH: usize = 100;

/// At most this many (resource, kind) keys remember that a 429 made them fall back to the
/// documented rate; past that, every key of the kind falls back.
const DISTRUSTED_KEYS: usize = 65_536;

/// How many times one client tries to read the account's limits before it settles for the
/// documented ones.
pub const TRIES: u32 = 3;

/// A rate slower than one request per this long is not believed.
pub const SLOWEST_INTERVAL: Duration = Duration::from_secs(86_400);
/// A rate faster than this many requests a second is not believed.
pub const FASTEST_PER_SECOND: u32 = 100;
/// A window longer than this is not believed (it would allow huge bursts).
pub const LONGEST_WINDOW: Duration = Duration::from_secs(86_400);

/// The caller's own pacing (`Options::purge_intervals`): one request per interval. Prefetches
/// keep to the pattern interval (both are documented as 1 a minute).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Intervals {
    pub url: Duration,
    pub pattern: Duration,
}

impl Default for Intervals {
    fn default() -> Self {
        Intervals {
            url: DEFAULT_URL_INTERVAL,
            pattern: DEFAULT_PATTERN_INTERVAL,
        }
    }
}

impl Intervals {
    /// The window these intervals mean for `kind`: N = 1, W = the interval.
    pub fn window(&self, kind: PaceKind) -> Window {
        Window::one_per(match kind {
            PaceKind::Urls => self.url,
            PaceKind::Patterns | PaceKind::Prefetch => self.pattern,
        })
    }
}

/// What an account allows: rates and batch limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountLimits {
    /// `purge_by_urls_request_limit`.
    pub urls: Window,
    /// `purge_request_limit`: pattern purges and purge-all.
    pub patterns: Window,
    /// `prefetch_request_limit`.
    pub prefetch: Window,
    /// `purge_max_urls_limit`: URLs per request.
    pub max_urls: usize,
    /// `purge_pattern_limit`: patterns per request.
    pub max_patterns: usize,
    /// Read from the account (true), or the documented ones (false).
    pub from_account: bool,
}

impl Default for AccountLimits {
    fn default() -> Self {
        AccountLimits::documented()
    }
}

impl AccountLimits {
    /// The documented limits: 2/60 s URLs, 1/60 s patterns and purge-all, 100 URLs and 10
    /// patterns per request.
    pub fn documented() -> AccountLimits {
        AccountLimits {
            urls: Window::documented(PaceKind::Urls),
            patterns: Window::documented(PaceKind::Patterns),
            prefetch: Window::documented(PaceKind::Prefetch),
            max_urls: DOCUMENTED_MAX_URLS,
            max_patterns: DOCUMENTED_MAX_PATTERNS,
            from_account: false,
        }
    }

    pub fn window(&self, kind: PaceKind) -> Window {
        match kind {
            PaceKind::Urls => self.urls,
            PaceKind::Patterns => self.patterns,
            PaceKind::Prefetch => self.prefetch,
        }
    }

    /// Items per request of `kind`.
    pub fn per_request(&self, kind: PaceKind) -> usize {
        match kind {
            PaceKind::Urls => self.max_urls,
            PaceKind::Patterns => self.max_patterns,
            PaceKind::Prefetch => DOCUMENTED_MAX_PREFETCH,
        }
    }

    /// The limits in a `/cdn/clients/me/limits` answer, and a note for every value that was
    /// present but unreadable or not believable and so replaced by the documented one. A field
    /// that is missing keeps its documented value silently. `None`: not a JSON object.
    pub fn parse(body: &[u8]) -> Option<(AccountLimits, Vec<String>)> {
        let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
            return None;
        };
        let mut limits = AccountLimits::documented();
        limits.from_account = true;
        let mut notes = Vec::new();
        for (field, kind) in [
            ("purge_by_urls_request_limit", PaceKind::Urls),
            ("purge_request_limit", PaceKind::Patterns),
            ("prefetch_request_limit", PaceKind::Prefetch),
        ] {
            let Some(value) = map.get(field) else {
                continue;
            };
            let documented = Window::documented(kind);
            let checked = match value {
                Value::String(rate) => match window_of_rate(rate) {
                    Some(w) => sane_rate(w),
                    None => Err("is not a rate gcdn can read".to_owned()),
                },
                _ => Err("is not a string".to_owned()),
            };
            match checked {
                Ok(w) => match kind {
                    PaceKind::Urls => limits.urls = w,
                    PaceKind::Patterns => limits.patterns = w,
                    PaceKind::Prefetch => limits.prefetch = w,
                },
                Err(why) => notes.push(format!(
                    "the account's {field} {} {why}: using the documented {}",
                    shown(value),
                    documented.describe()
                )),
            }
        }
        for (field, slot, documented, most) in [
            (
                "purge_max_urls_limit",
                &mut limits.max_urls,
                DOCUMENTED_MAX_URLS,
                10_000u64,
            ),
            (
                "purge_pattern_limit",
                &mut limits.max_patterns,
                DOCUMENTED_MAX_PATTERNS,
                1_000,
            ),
        ] {
            let Some(value) = map.get(field) else {
                continue;
            };
            match value.as_u64().filter(|n| (1..=most).contains(n)) {
                Some(n) => *slot = n as usize,
                None => notes.push(format!(
                    "the account's {field} {} is not a whole number from 1 to {most}: using the \
                     documented {documented}",
                    shown(value)
                )),
            }
        }
        Some((limits, notes))
    }
}

fn shown(value: &Value) -> String {
    match value {
        Value::String(s) => quote(s, 40),
        // Numbers and the like as JSON, not quoted (a quoted 10 was a string).
        other => {
            let json = other.to_string();
            let shown: String = json.chars().take(40).collect();
            if shown.len() < json.len() {
                format!("{shown}…")
            } else {
                shown
            }
        }
    }
}

/// A rate believable for any kind: not slower than one request per [`SLOWEST_INTERVAL`] (a
/// day), not faster than [`FASTEST_PER_SECOND`] requests a second, no window over
/// [`LONGEST_WINDOW`]. The error says why not.
pub fn sane_rate(w: Window) -> Result<Window, String> {
    if w.interval() > SLOWEST_INTERVAL {
        return Err("is slower than 1 request a day".to_owned());
    }
    if w.per > LONGEST_WINDOW {
        return Err("has a window longer than a day".to_owned());
    }
    // requests / per > FASTEST_PER_SECOND / 1 s, in integers.
    let lhs = u128::from(w.requests) * Duration::from_secs(1).as_nanos();
    let rhs = u128::from(FASTEST_PER_SECOND) * w.per.as_nanos();
    if lhs > rhs {
        return Err(format!(
            "is faster than {FASTEST_PER_SECOND} requests a second"
        ));
    }
    Ok(w)
}

/// Whether `w` lets more requests through than the documented rate of `kind` does.
pub fn faster_than_documented(kind: PaceKind, w: Window) -> bool {
    let documented = Window::documented(kind);
    u128::from(w.requests) * documented.per.as_nanos()
        > u128::from(documented.requests) * w.per.as_nanos()
}

/// `"2/m"` → 2 per 60 s. Units `ms`, `s`, `m`, `h`, `d`, `w` (also `sec`, `min`, `hour`,
/// `day`, `week` and plurals), with an optional count: `"3/250ms"`, `"2/90s"`. `None` for anything else, or a
/// zero count or window.
pub fn window_of_rate(rate: &str) -> Option<Window> {
    let (count, window) = rate.trim().split_once('/')?;
    let requests: u32 = count.trim().parse().ok().filter(|&n| n > 0)?;
    let window = window.trim();
    let digits = window
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(window.len());
    let amount: u64 = if digits == 0 {
        1
    } else {
        window[..digits].parse().ok()?
    };
    let unit_ms: u64 = match window[digits..].trim().to_ascii_lowercase().as_str() {
        "ms" => 1,
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000,
        "h" | "hour" | "hours" => 3_600_000,
        "d" | "day" | "days" => 86_400_000,
        "w" | "week" | "weeks" => 604_800_000,
        _ => return None,
    };
    let window_ms = amount.checked_mul(unit_ms).filter(|&ms| ms > 0)?;
    Some(Window {
        requests,
        per: Duration::from_millis(window_ms),
    })
}

fn kind_index(kind: PaceKind) -> usize {
    match kind {
        PaceKind::Urls => 0,
        PaceKind::Patterns => 1,
        PaceKind::Prefetch => 2,
    }
}

/// What became of an attempt to read the limits.
#[derive(Debug)]
pub enum ReadOutcome<'a> {
    /// Known (now or before).
    Known(&'a AccountLimits),
    /// Not known, for now: another thread is reading them, the call has no time for it, or
    /// this read failed (and why, for the observer). Use the documented ones.
    NotNow(Option<String>),
}

/// One client's knowledge of its account's limits: read at most once successfully, tried at
/// most [`TRIES`] times, by one thread at a time while the others go on with the documented
/// ones; and the keys on which the API refused the account's rate (a 429 while paced faster
/// than documented), paced by the documented rate from then on.
#[derive(Debug, Default)]
pub struct Account {
    known: OnceLock<AccountLimits>,
    fetching: AtomicBool,
    /// Told when a read ends (callers that found another thread reading wait for it).
    read_ended: (Mutex<()>, Condvar),
    tries: AtomicU32,
    distrusted: Mutex<HashSet<PaceKey>>,
    /// [`DISTRUSTED_KEYS`] was reached: every key of the kind (URLs, patterns) falls back.
    distrusted_kind: [AtomicBool; 3],
}

impl Account {
    pub fn new() -> Account {
        Account::default()
    }

    /// The limits, if read already.
    pub fn known(&self) -> Option<&AccountLimits> {
        self.known.get()
    }

    /// The rate `key` is paced by when its kind's rate is `window`: `window`, or the documented
    /// rate once [`Account::distrust`] made the key fall back.
    pub fn rate_for(&self, key: PaceKey, window: Window) -> Window {
        if self.distrusted_kind[kind_index(key.kind)].load(Ordering::Relaxed)
            || self
                .distrusted
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&key)
        {
            Window::documented(key.kind)
        } else {
            window
        }
    }

    /// The API answered 429 on `key` while it was paced by `window`: when that is faster than
    /// documented, the key falls back to the documented rate for the rest of the client's life.
    /// True the first time the key falls back (to be told once).
    pub fn distrust(&self, key: PaceKey, window: Window) -> bool {
        if !faster_than_documented(key.kind, window) {
            return false;
        }
        let whole_kind = &self.distrusted_kind[kind_index(key.kind)];
        if whole_kind.load(Ordering::Relaxed) {
            return false;
        }
        let mut keys = self.distrusted.lock().unwrap_or_else(|e| e.into_inner());
        if keys.contains(&key) {
            return false;
        }
        if keys.len() >= DISTRUSTED_KEYS {
            return !whole_kind.swap(true, Ordering::Relaxed);
        }
        keys.insert(key)
    }

    /// Whether asking again could help: not known yet, and tries left.
    pub fn worth_asking(&self) -> bool {
        self.known.get().is_none() && self.tries.load(Ordering::Relaxed) < TRIES
    }

    /// Read the limits with `fetch` (one GET, given its timeout, answering the body of a
    /// 200 or why not), unless known or out of tries. While another thread is at it, wait for
    /// its answer (at most `timeout`) instead: a caller that went on with the documented
    /// limits could exceed an account's stricter ones. `timeout` below 100 ms: no try (the
    /// call has no time), and it does not count as one.
    /// Returns the limits and the notes of what was replaced (the first time only).
    pub fn read(
        &self,
        timeout: Duration,
        fetch: impl FnOnce(Duration) -> Result<Vec<u8>, String>,
    ) -> (ReadOutcome<'_>, Vec<String>) {
        if let Some(known) = self.known.get() {
            return (ReadOutcome::Known(known), Vec::new());
        }
        if timeout < Duration::from_millis(100) || self.tries.load(Ordering::Relaxed) >= TRIES {
            return (ReadOutcome::NotNow(None), Vec::new());
        }
        if self.fetching.swap(true, Ordering::Acquire) {
            return (self.await_read(timeout), Vec::new());
        }
        // However the read ends (a panic too), the next caller may read and the waiting
        // ones are told.
        struct Ended<'a>(&'a Account);
        impl Drop for Ended<'_> {
            fn drop(&mut self) {
                let (lock, ended) = &self.0.read_ended;
                let _held = lock.lock().unwrap_or_else(|e| e.into_inner());
                self.0.fetching.store(false, Ordering::Release);
                ended.notify_all();
            }
        }
        let _ended = Ended(self);
        let tries = self.tries.fetch_add(1, Ordering::Relaxed) + 1;
        let result = fetch(timeout).and_then(|body| {
            AccountLimits::parse(&body).ok_or_else(|| "the answer is not a JSON object".to_owned())
        });
        let outcome = match result {
            Ok((limits, notes)) => (ReadOutcome::Known(self.known.get_or_init(|| limits)), notes),
            Err(why) => {
                let left = TRIES.saturating_sub(tries);
                let why = format!(
                    "could not read the account's limits ({why}); using the documented ones{}",
                    if left == 0 {
                        " from now on".to_owned()
                    } else {
                        format!(" for now ({left} more tries later)")
                    }
                );
                (ReadOutcome::NotNow(Some(why)), Vec::new())
            }
        };
        outcome
    }

    /// Another thread reads the limits: wait for it to end, at most `timeout`.
    fn await_read(&self, timeout: Duration) -> ReadOutcome<'_> {
        let until = super::clock::instant_after(Instant::now(), timeout);
        let (lock, ended) = &self.read_ended;
        let mut held = lock.lock().unwrap_or_else(|e| e.into_inner());
        while self.fetching.load(Ordering::Acquire) {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            held = ended
                .wait_timeout(held, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        drop(held);
        match self.known.get() {
            Some(known) => ReadOutcome::Known(known),
            None => ReadOutcome::NotNow(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(n: u32, ms: u64) -> Window {
        Window {
            requests: n,
            per: Duration::from_millis(ms),
        }
    }

    #[test]
    fn rates() {
        assert_eq!(window_of_rate("2/m"), Some(w(2, 60_000)));
        assert_eq!(window_of_rate("1/m"), Some(w(1, 60_000)));
        assert_eq!(window_of_rate(" 10 / min "), Some(w(10, 60_000)));
        assert_eq!(window_of_rate("2/90s"), Some(w(2, 90_000)));
        assert_eq!(window_of_rate("3/250ms"), Some(w(3, 250)));
        assert_eq!(window_of_rate("100/h"), Some(w(100, 3_600_000)));
        assert_eq!(window_of_rate("1/d"), Some(w(1, 86_400_000)));
        assert_eq!(window_of_rate("1/week"), Some(w(1, 604_800_000)));
        assert_eq!(window_of_rate("30/m"), Some(w(30, 60_000)));
        for bad in [
            "",
            "2",
            "0/m",
            "-1/m",
            "2/",
            "2/0s",
            "2/fortnight",
            "x/m",
            "2/m/s",
        ] {
            assert_eq!(window_of_rate(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn rates_are_sanity_checked() {
        assert!(sane_rate(w(2, 60_000)).is_ok());
        assert!(
            sane_rate(w(30, 60_000)).is_ok(),
            "15 times the documented rate"
        );
        assert!(sane_rate(w(100, 1_000)).is_ok(), "100 a second");
        assert!(sane_rate(w(1, 10)).is_ok(), "100 a second");
        assert_eq!(
            sane_rate(w(101, 1_000)),
            Err("is faster than 100 requests a second".to_owned())
        );
        assert!(sane_rate(w(1, 9)).is_err());
        assert!(sane_rate(w(1000, 1_000)).is_err());
        assert!(sane_rate(w(u32::MAX, 60_000)).is_err());
        assert!(sane_rate(w(1, 86_400_000)).is_ok(), "1 a day");
        assert!(sane_rate(w(2, 172_800_000)).is_err(), "2-day window");
        assert_eq!(
            sane_rate(w(1, 604_800_000)),
            Err("is slower than 1 request a day".to_owned())
        );
        assert_eq!(
            sane_rate(w(7, 604_800_000)),
            Err("has a window longer than a day".to_owned())
        );
        assert!(faster_than_documented(PaceKind::Urls, w(3, 60_000)));
        assert!(!faster_than_documented(PaceKind::Urls, w(2, 60_000)));
        assert!(!faster_than_documented(PaceKind::Urls, w(1, 60_000)));
        assert!(faster_than_documented(PaceKind::Patterns, w(2, 60_000)));
        assert!(!faster_than_documented(PaceKind::Patterns, w(1, 60_000)));
    }

    #[test]
    fn a_429_while_faster_than_documented_falls_back_on_that_key_once() {
        let a = Account::new();
        let r1 = PaceKey {
            resource_id: 1,
            kind: PaceKind::Urls,
        };
        let r1p = PaceKey {
            kind: PaceKind::Patterns,
            ..r1
        };
        let r2 = PaceKey {
            resource_id: 2,
            ..r1
        };
        let fast = w(30, 60_000);
        assert_eq!(a.rate_for(r1, fast), fast);
        // Not faster than documented: nothing to fall back from.
        assert!(!a.distrust(r1, Window::documented(PaceKind::Urls)));
        assert_eq!(a.rate_for(r1, fast), fast);
        assert!(a.distrust(r1, fast), "falls back, told");
        assert!(!a.distrust(r1, fast), "told once");
        assert_eq!(a.rate_for(r1, fast), Window::documented(PaceKind::Urls));
        assert_eq!(
            a.rate_for(r2, fast),
            fast,
            "another resource keeps its rate"
        );
        assert_eq!(a.rate_for(r1p, fast), fast, "another kind keeps its rate");
    }

    #[test]
    fn account_limits() {
        let body = br#"{"purge_max_urls_limit":200,"purge_pattern_limit":5,
                        "purge_request_limit":"1/m","purge_by_urls_request_limit":"4/m"}"#;
        let (l, notes) = AccountLimits::parse(body).unwrap();
        assert_eq!(
            l,
            AccountLimits {
                urls: w(4, 60_000),
                patterns: w(1, 60_000),
                prefetch: w(1, 60_000),
                max_urls: 200,
                max_patterns: 5,
                from_account: true,
            }
        );
        assert!(notes.is_empty(), "{notes:?}");

        let odd = br#"{"purge_by_urls_request_limit":"1/w","purge_request_limit":"weird",
                       "purge_max_urls_limit":0,"purge_pattern_limit":"10"}"#;
        let (l, notes) = AccountLimits::parse(odd).unwrap();
        assert_eq!(
            l,
            AccountLimits {
                from_account: true,
                ..AccountLimits::documented()
            }
        );
        assert_eq!(
            notes,
            [
                "the account's purge_by_urls_request_limit \"1/w\" is slower than 1 request a \
                 day: using the documented 2/60 s",
                "the account's purge_request_limit \"weird\" is not a rate gcdn can read: using \
                 the documented 1/60 s",
                "the account's purge_max_urls_limit 0 is not a whole number from 1 to 10000: \
                 using the documented 100",
                "the account's purge_pattern_limit \"10\" is not a whole number from 1 \
                 to 1000: using the documented 10",
            ]
        );
        let (l, notes) = AccountLimits::parse(br#"{"purge_by_urls_request_limit":7}"#).unwrap();
        assert_eq!(l.urls, Window::documented(PaceKind::Urls));
        assert_eq!(notes.len(), 1);
        assert_eq!(AccountLimits::parse(b"<html>"), None);
        assert_eq!(AccountLimits::parse(b"[]"), None);
    }

    #[test]
    fn read_once_at_most_three_tries() {
        let a = Account::new();
        let second = Duration::from_secs(1);
        for n in 1..=TRIES {
            let (o, _) = a.read(second, |_| Err("HTTP 503".into()));
            match o {
                ReadOutcome::NotNow(Some(why)) => {
                    assert!(why.contains("HTTP 503"), "{why}");
                    assert_eq!(why.ends_with("from now on"), n == TRIES, "{why}");
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(!a.worth_asking());
        let (o, _) = a.read(second, |_| panic!("no fourth try"));
        assert!(matches!(o, ReadOutcome::NotNow(None)));

        let a = Account::new();
        let (o, _) = a.read(Duration::from_millis(50), |_| panic!("no time: no try"));
        assert!(matches!(o, ReadOutcome::NotNow(None)));
        let (o, notes) = a.read(second, |t| {
            assert_eq!(t, second);
            Ok(br#"{"purge_by_urls_request_limit":"1000/s"}"#.to_vec())
        });
        assert!(matches!(o, ReadOutcome::Known(l) if l.from_account));
        assert_eq!(notes.len(), 1);
        let (o, _) = a.read(second, |_| panic!("read once"));
        assert!(matches!(o, ReadOutcome::Known(_)));
        assert!(!a.worth_asking());
    }

    #[test]
    fn another_thread_reading_does_not_block() {
        let a = Account::new();
        std::thread::scope(|s| {
            let (started_tx, started_rx) = std::sync::mpsc::channel();
            let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
            let reader = s.spawn(|| {
                a.read(Duration::from_secs(1), move |_| {
                    started_tx.send(()).unwrap();
                    go_rx.recv().unwrap();
                    Ok(b"{}".to_vec())
                })
                .0
                .is_known()
            });
            started_rx.recv().unwrap();
            let (o, _) = a.read(Duration::from_secs(1), |_| panic!("only one reader"));
            assert!(matches!(o, ReadOutcome::NotNow(None)));
            go_tx.send(()).unwrap();
            assert!(reader.join().unwrap());
        });
        assert!(a.known().is_some());
    }

    impl ReadOutcome<'_> {
        fn is_known(&self) -> bool {
            matches!(self, ReadOutcome::Known(_))
        }
    }
}
