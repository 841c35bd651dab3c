//! Cancelling calls from another thread: a token that wakes any wait at once.

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// Fired once, from any thread; every call made through a client holding it then stops at
/// its next wait or before its next attempt. An attempt already in flight is not cut: it
/// ends with its answer or its timeout.
#[derive(Debug, Default)]
pub struct CancelToken {
    fired: Mutex<bool>,
    wake: Condvar,
}

impl CancelToken {
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// Cancel, waking every call waiting on this token. Idempotent.
    pub fn cancel(&self) {
        *self.fired.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.wake.notify_all();
    }

    pub fn is_cancelled(&self) -> bool {
        *self.fired.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sleep for `wait` unless cancelled first; true when cancelled.
    pub fn sleep(&self, wait: Duration) -> bool {
        let end = super::clock::instant_after(Instant::now(), wait);
        let mut fired = self.fired.lock().unwrap_or_else(|e| e.into_inner());
        while !*fired {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            fired = self
                .wake
                .wait_timeout(fired, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn sleeps_the_whole_wait_when_not_cancelled() {
        let t = Instant::now();
        assert!(!CancelToken::new().sleep(Duration::from_millis(30)));
        assert!(t.elapsed() >= Duration::from_millis(30));
    }

    #[test]
    fn cancel_wakes_a_sleeper_at_once() {
        let token = Arc::new(CancelToken::new());
        let sleeper = {
            let token = Arc::clone(&token);
            std::thread::spawn(move || {
                let t = Instant::now();
                (token.sleep(Duration::from_secs(30)), t.elapsed())
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        token.cancel();
        let (cancelled, slept) = sleeper.join().unwrap();
        assert!(cancelled);
        assert!(slept < Duration::from_secs(5), "{slept:?}");
        assert!(token.is_cancelled());
        assert!(
            token.sleep(Duration::from_secs(30)),
            "a fired token never sleeps"
        );
    }
}
