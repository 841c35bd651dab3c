//! The account's own purge limits, from `GET /cdn/clients/me/limits`: how long to wait after
//! a 429 that carries no `Retry-After`, when the caller did not say.

use std::time::Duration;

use serde::Deserialize;

/// The documented defaults: 2 URL purges a minute, 1 pattern purge or purge-all a minute.
pub const DEFAULT_URL_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_PATTERN_INTERVAL: Duration = Duration::from_secs(60);

/// The waits that let one request through per interval.
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

#[derive(Deserialize)]
struct AccountLimits {
    purge_by_urls_request_limit: Option<String>,
    purge_request_limit: Option<String>,
}

/// The intervals in a `/cdn/clients/me/limits` answer; a field missing or unreadable keeps
/// its documented default.
pub fn from_account_limits(body: &[u8]) -> Intervals {
    let defaults = Intervals::default();
    let Ok(limits) = serde_json::from_slice::<AccountLimits>(body) else {
        return defaults;
    };
    let interval = |rate: Option<String>| rate.as_deref().and_then(interval_of_rate);
    Intervals {
        url: interval(limits.purge_by_urls_request_limit).unwrap_or(defaults.url),
        pattern: interval(limits.purge_request_limit).unwrap_or(defaults.pattern),
    }
}

/// `"2/m"` → 30 s: the window divided by the requests it allows. Units `ms`, `s`, `m`, `h`,
/// `d` (also `sec`, `min`, `hour`, `day` and plurals), with an optional count: `"3/250ms"`,
/// `"2/90s"`. `None` for anything else, or a zero count.
pub fn interval_of_rate(rate: &str) -> Option<Duration> {
    let (count, window) = rate.trim().split_once('/')?;
    let count: u32 = count.trim().parse().ok().filter(|&n| n > 0)?;
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
        _ => return None,
    };
    let window_ms = amount.checked_mul(unit_ms).filter(|&ms| ms > 0)?;
    Some(Duration::from_millis(window_ms) / count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(interval_of_rate("2/m"), Some(Duration::from_secs(30)));
        assert_eq!(interval_of_rate("1/m"), Some(Duration::from_secs(60)));
        assert_eq!(interval_of_rate(" 10 / min "), Some(Duration::from_secs(6)));
        assert_eq!(interval_of_rate("2/90s"), Some(Duration::from_secs(45)));
        assert_eq!(
            interval_of_rate("3/250ms"),
            Some(Duration::from_nanos(83_333_333))
        );
        assert_eq!(interval_of_rate("100/h"), Some(Duration::from_secs(36)));
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
            assert_eq!(interval_of_rate(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn account_limits() {
        let body = br#"{"purge_max_urls_limit":100,"purge_pattern_limit":10,
                        "purge_request_limit":"1/m","purge_by_urls_request_limit":"4/m"}"#;
        assert_eq!(
            from_account_limits(body),
            Intervals {
                url: Duration::from_secs(15),
                pattern: Duration::from_secs(60)
            }
        );
        let partial = br#"{"purge_by_urls_request_limit":"6/m","purge_request_limit":"weird"}"#;
        assert_eq!(
            from_account_limits(partial),
            Intervals {
                url: Duration::from_secs(10),
                pattern: DEFAULT_PATTERN_INTERVAL
            }
        );
        assert_eq!(from_account_limits(b"<html>"), Intervals::default());
        assert_eq!(from_account_limits(b"[]"), Intervals::default());
    }
}
