//! Moments computed from spans, never an overflow: [`instant_after`] and its cap
//! [`FOREVER`].

use std::time::{Duration, Instant};

/// The farthest ahead any moment of the library lies: 100 years. A longer span (a hostile
/// `Retry-After: 18446744073709551615`, a timeout of `u64::MAX` ms) is taken as this long:
/// it is never reached, and every budget or deadline refuses a wait to it as it would the
/// longer one.
pub const FOREVER: Duration = Duration::from_secs(100 * 365 * 86_400);

/// `from + span`, with `span` capped at [`FOREVER`] (and shortened further on a platform
/// whose clock cannot hold that): never an overflow panic. Every moment the library computes
/// from a span (a deadline, the end of a wait, a pacer slot, a deferral) is made by this.
pub fn instant_after(from: Instant, span: Duration) -> Instant {
    let mut span = span.min(FOREVER);
    loop {
        if let Some(at) = from.checked_add(span) {
            return at;
        }
        span /= 2;
    }
}
