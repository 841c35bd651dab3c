//! When to try a request again, and how long to wait first. Pure decisions, no I/O.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use std::sync::LazyLock;

use super::note::WaitReason;

/// Why an attempt failed, as far as retrying is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureClass {
    /// 408, 5xx, connection failures, timeouts: worth another try, within `max_retries`.
    Transient,
    /// 429: wait for the window to reopen, within the wait budget.
    RateLimited,
    /// Anything else: trying again would get the same answer.
    Final,
}

/// The limits one request's retries live within. The wait budget and the deadline are the
/// call context's business (`wait.rs`): this only decides what to wait, and why.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    pub max_retries: u32,
}

/// The shortest wait after a 429, whatever the server says: a server that answers
/// `Retry-After: 0` forever must still use up the wait budget.
pub const MIN_RATE_LIMIT_WAIT: Duration = Duration::from_millis(250);

/// The most 429s one request waits out, however short the waits.
pub const MAX_RATE_LIMITED_RETRIES: u32 = 32;

/// What to do after a failed attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Wait this long (for this reason), then try again.
    RetryAfter(Duration, WaitReason),
    /// Stop, and tell the caller why retrying stopped (empty when it never applied).
    GiveUp(String),
}

/// Retry bookkeeping for one request.
#[derive(Debug, Default)]
pub struct RetryState {
    pub attempts: u32,
    transient_retries: u32,
    rate_limited_retries: u32,
}

impl RetryState {
    pub fn new() -> Self {
        Self::default()
    }

    /// Decide after attempt number `self.attempts` failed. `retry_after` is the server's
    /// `Retry-After`, already turned into a duration from now.
    pub fn decide(
        &mut self,
        policy: &Policy,
        class: FailureClass,
        retry_after: Option<Duration>,
    ) -> Decision {
        match class {
            FailureClass::Final => Decision::GiveUp(String::new()),
            FailureClass::Transient => {
                if self.transient_retries >= policy.max_retries {
                    return Decision::GiveUp(self.attempts_note());
                }
                let wait = match retry_after {
                    Some(asked) => Decision::RetryAfter(asked, WaitReason::RetryAfter),
                    None => {
                        Decision::RetryAfter(backoff(self.transient_retries), WaitReason::Backoff)
                    }
                };
                self.transient_retries += 1;
                wait
            }
            // Only unpaced endpoints come here (a purge's 429 defers its pacer key instead,
            // request.rs): no documented limit, so the waits grow as the backoff does.
            FailureClass::RateLimited => {
                let interval = backoff(self.rate_limited_retries);
                match self.rate_limited(retry_after.unwrap_or(interval)) {
                    Ok(wait) => Decision::RetryAfter(
                        wait,
                        if retry_after.is_some() {
                            WaitReason::RetryAfter
                        } else {
                            WaitReason::RateLimited
                        },
                    ),
                    Err(note) => Decision::GiveUp(note),
                }
            }
        }
    }

    /// Count a 429 and turn the wait it asks for into the wait to make: at least
    /// [`MIN_RATE_LIMIT_WAIT`], plus a little jitter so that clients sharing a window do not
    /// come back together. An error once [`MAX_RATE_LIMITED_RETRIES`] were waited out.
    pub fn rate_limited(&mut self, asked: Duration) -> Result<Duration, String> {
        if self.rate_limited_retries >= MAX_RATE_LIMITED_RETRIES {
            return Err(format!(
                "still rate limited after waiting {} times",
                self.rate_limited_retries
            ));
        }
        self.rate_limited_retries += 1;
        let base = asked.max(MIN_RATE_LIMIT_WAIT);
        Ok(base.saturating_add(jitter(base.min(Duration::from_secs(10)) / 20)))
    }

    fn attempts_note(&self) -> String {
        match self.attempts {
            0 | 1 => String::new(),
            n => format!("after {n} attempts"),
        }
    }
}

/// `min(0.5 s · 2ⁿ, 8 s)`, less up to 25 % jitter.
pub fn backoff(n: u32) -> Duration {
    let full =
        Duration::from_millis(500u64.saturating_mul(1u64 << n.min(5))).min(Duration::from_secs(8));
    full - jitter(full / 4)
}

/// A uniformly random duration in `[0, max]`.
pub fn jitter(max: Duration) -> Duration {
    let nanos = max.as_nanos() as u64;
    if nanos == 0 {
        return Duration::ZERO;
    }
    Duration::from_nanos(next_random() % (nanos + 1))
}

/// splitmix64 over a shared counter: good enough to spread retries, no crate needed.
fn next_random() -> u64 {
    static STATE: LazyLock<AtomicU64> = LazyLock::new(|| {
        let seed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x853c_49e6_748f_ea9b)
            ^ (std::process::id() as u64).rotate_left(32);
        AtomicU64::new(seed)
    });
    let mut z = STATE
        .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
        .wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `Retry-After` as a wait from `now`: delay-seconds or an HTTP date (all three RFC 9110 forms).
/// A date in the past means "now"; delay-seconds too many for a `u64` mean `u64::MAX`
/// seconds (the server asks for a very long wait, which no budget affords); anything
/// unreadable is ignored.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(
            value.parse::<u64>().unwrap_or(u64::MAX),
        ));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::format::secs;

    fn policy() -> Policy {
        Policy { max_retries: 2 }
    }

    #[test]
    fn backoff_doubles_to_a_cap_with_jitter_below() {
        for _ in 0..200 {
            for (n, full) in [
                (0, 500),
                (1, 1000),
                (2, 2000),
                (3, 4000),
                (4, 8000),
                (9, 8000),
                (40, 8000),
            ] {
                let b = backoff(n).as_millis() as u64;
                assert!(b <= full && b >= full * 3 / 4, "n={n} b={b}");
            }
        }
    }

    #[test]
    fn transient_failures_get_max_retries_then_stop() {
        let p = policy();
        let mut s = RetryState::new();
        for _ in 0..2 {
            s.attempts += 1;
            assert!(matches!(
                s.decide(&p, FailureClass::Transient, None),
                Decision::RetryAfter(_, WaitReason::Backoff)
            ));
        }
        s.attempts += 1;
        assert_eq!(
            s.decide(&p, FailureClass::Transient, None),
            Decision::GiveUp("after 3 attempts".into())
        );
    }

    #[test]
    fn zero_retries_means_one_attempt() {
        let p = Policy { max_retries: 0 };
        let mut s = RetryState::new();
        s.attempts = 1;
        assert_eq!(
            s.decide(&p, FailureClass::Transient, None),
            Decision::GiveUp(String::new())
        );
    }

    #[test]
    fn final_failures_are_never_retried() {
        let mut s = RetryState::new();
        assert!(matches!(
            s.decide(&policy(), FailureClass::Final, None),
            Decision::GiveUp(_)
        ));
    }

    #[test]
    fn retry_after_is_honoured_for_transient_failures() {
        let mut s = RetryState::new();
        assert_eq!(
            s.decide(
                &policy(),
                FailureClass::Transient,
                Some(Duration::from_secs(7))
            ),
            Decision::RetryAfter(Duration::from_secs(7), WaitReason::RetryAfter)
        );
    }

    #[test]
    fn rate_limits_wait_within_the_backoff_then_stop() {
        let p = policy();
        let mut s = RetryState::new();
        let mut waits = 0;
        while let Decision::RetryAfter(w, why) = s.decide(&p, FailureClass::RateLimited, None) {
            assert_eq!(why, WaitReason::RateLimited);
            assert!(
                w >= MIN_RATE_LIMIT_WAIT && w <= Duration::from_millis(8_400),
                "{w:?}"
            );
            waits += 1;
        }
        assert_eq!(waits, MAX_RATE_LIMITED_RETRIES);
    }

    #[test]
    fn rate_limit_retry_after_replaces_the_interval() {
        let mut s = RetryState::new();
        let d = s.decide(
            &policy(),
            FailureClass::RateLimited,
            Some(Duration::from_secs(2)),
        );
        assert!(
            matches!(d, Decision::RetryAfter(w, WaitReason::RetryAfter) if w >= Duration::from_secs(2) && w <= Duration::from_millis(2100))
        );
    }

    #[test]
    fn a_429_with_no_known_interval_backs_off_exponentially() {
        let p = policy();
        let mut s = RetryState::new();
        let mut waits = Vec::new();
        while let Decision::RetryAfter(w, _) = s.decide(&p, FailureClass::RateLimited, None) {
            waits.push(w);
        }
        assert!(waits.windows(2).take(4).all(|w| w[1] > w[0]), "{waits:?}");
    }

    #[test]
    fn a_zero_retry_after_cannot_spin() {
        let mut s = RetryState::new();
        let mut waits = 0;
        while let Decision::RetryAfter(w, _) =
            s.decide(&policy(), FailureClass::RateLimited, Some(Duration::ZERO))
        {
            assert!(w >= MIN_RATE_LIMIT_WAIT);
            waits += 1;
        }
        assert_eq!(waits, MAX_RATE_LIMITED_RETRIES);
        let mut s = RetryState::new();
        assert!(s.rate_limited(Duration::ZERO).unwrap() >= MIN_RATE_LIMIT_WAIT);
    }

    #[test]
    fn retry_after_forms() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sunday, 06-Nov-94 08:50:07 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sun Nov  6 08:50:07 1994", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn retry_after_beyond_a_u64_is_the_longest_wait_not_a_panic() {
        let now = SystemTime::now();
        let max = Some(Duration::from_secs(u64::MAX));
        assert_eq!(parse_retry_after("18446744073709551615", now), max);
        assert_eq!(parse_retry_after("99999999999999999999999", now), max);
        assert_eq!(parse_retry_after("+5", now), None);
        assert_eq!(parse_retry_after("", now), None);
        let mut s = RetryState::new();
        let wait = s.rate_limited(Duration::from_secs(u64::MAX)).unwrap();
        assert!(wait >= Duration::from_secs(u64::MAX), "{wait:?}");
        assert!(s.rate_limited(Duration::MAX).unwrap() == Duration::MAX);
        assert!(matches!(
            s.decide(&policy(), FailureClass::RateLimited, Some(Duration::MAX)),
            Decision::RetryAfter(Duration::MAX, WaitReason::RetryAfter)
        ));
        assert_eq!(secs(Duration::MAX), "18446744073709551615 s");
        assert_eq!(secs(Duration::from_millis(1500)), "1.5 s");
    }

    #[test]
    fn jitter_stays_in_range() {
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
        for _ in 0..1000 {
            assert!(jitter(Duration::from_millis(10)) <= Duration::from_millis(10));
        }
    }
}
