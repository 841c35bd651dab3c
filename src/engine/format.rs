//! Small text helpers shared by messages and logs (no module of the engine below them).

use std::time::Duration;

/// `1.5 s`, `30 s`, `150 ms` for messages (whole seconds from a million seconds on).
pub fn secs(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else if d.subsec_millis() == 0 || d.as_secs() >= 1_000_000 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// `1 item`, `3 items`.
pub(crate) fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
