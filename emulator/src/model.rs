//! The emulated account, without any I/O: resources, rate windows, purge records, and the
//! switches that make listings and purge statuses misbehave.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::parsing::Parsed;
use time::OffsetDateTime;

/// The texts of the emulator's error answers. Those from the provider's specification are
/// verbatim; the others are the emulator's own wording.
pub mod messages {
    /// `400` on `DELETE` of an active resource (provider's example, verbatim).
    pub const ACTIVE_RESOURCE: &str = "Deletion of this instance is currently not possible as it is in an active state. Please deactivate it before attempting the deletion request again.";
    /// `400` on `DELETE` of a primary resource for common cache (provider's example, verbatim).
    pub const PRIMARY_RESOURCE: &str = "The CDN resource is used as primary for common cache feature and can not be deleted. Delete linked resources first [29]";
    /// `400` on `DELETE` of a resource integrated with Streaming (provider's example, verbatim).
    pub const STREAMING_RESOURCE: &str =
        "The CDN resource is integrated with the streaming and can not be deleted.";
    /// `400` on `DELETE` of a resource with a custom configuration (provider's example, verbatim).
    pub const CUSTOM_RESOURCE: &str = "You cannot delete this resource because it has a custom configuration. To delete the resource, contact technical support.";
    /// `400` when neither `urls` nor `paths` is given (provider's example, verbatim).
    pub const FIELD_REQUIRED: &str = "This field is required.";
    /// `400` for a blank item (provider's example, verbatim).
    pub const FIELD_BLANK: &str = "This field may not be blank.";
    /// `400` for a pattern not starting with `/` (provider's example, verbatim).
    pub const PATH_START: &str = "A path should start with /.";
    /// `400` for a URL not starting with `/` (emulator's wording).
    pub const URL_START: &str = "A URL should start with /.";
    /// `400` for a `*` elsewhere than at the end of a pattern (emulator's wording).
    pub const WILDCARD_NOT_AT_END: &str = "The * wildcard is allowed only at the end of a pattern.";
    /// `400` for `"urls": []` (Django REST framework's wording).
    pub const LIST_EMPTY: &str = "This list may not be empty.";
    /// `400` for a `null` list or item (Django REST framework's wording).
    pub const FIELD_NULL: &str = "This field may not be null.";
    /// `400` for an item that is not a string (Django REST framework's wording).
    pub const NOT_A_STRING: &str = "Not a valid string.";
    /// `401` (emulator's wording).
    pub const INVALID_API_KEY: &str = "Invalid API key";
    /// `404` (emulator's wording).
    pub const NOT_FOUND: &str = "Not found.";
    /// `400` for a purge by URL on a resource whose `can_purge_by_urls` is `false`. No source
    /// records the API's text: this is the emulator's wording (the documented cause is the
    /// resource's `ignore_vary_header` option).
    pub const URL_PURGE_DISABLED: &str = "Purge by URL is not available for this CDN resource: its can_purge_by_urls is false (enable ignore_vary_header, or purge by pattern).";
    /// `400` for a listing's `limit` or `offset` that is not a non-negative integer (`limit`: positive).
    pub const INVALID_INTEGER: &str = "A valid integer is required.";
    /// `400` for a bad `from_created` / `to_created` (Django REST framework's wording).
    pub const INVALID_DATETIME: &str = "Enter a valid date/time.";
    /// `400` for a boolean filter that is not `true`/`false` (emulator's wording).
    pub const INVALID_BOOLEAN: &str = "Must be a valid boolean.";
}

/// At most this many purge records are kept (oldest forgotten first): enough for any test,
/// bounded for long soak runs.
pub const MAX_PURGE_RECORDS: usize = 20_000;

/// Purge limits. The defaults are the provider's documented ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Accepted purge-by-URL requests per resource per `url_window` (default 2).
    pub url_requests: u32,
    /// Window of the purge-by-URL limit (default 60 s).
    pub url_window: Duration,
    /// Accepted purge-by-pattern requests per resource per `pattern_window` (default 1).
    pub pattern_requests: u32,
    /// Window of the purge-by-pattern limit (default 60 s).
    pub pattern_window: Duration,
    /// Accepted purge-all requests per resource per `all_window` (default 1).
    pub all_requests: u32,
    /// Window of the purge-all limit (default 60 s).
    pub all_window: Duration,
    /// Most URLs in one purge-by-URL request (default 100; `purge_max_urls_limit`).
    pub max_urls: usize,
    /// Most patterns in one purge-by-pattern request (default 10; `purge_pattern_limit`).
    pub max_patterns: usize,
    /// Accepted prefetch requests per resource per `prefetch_window` (default 1;
    /// `prefetch_request_limit`).
    pub prefetch_requests: u32,
    /// Window of the prefetch limit (default 60 s).
    pub prefetch_window: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        let minute = Duration::from_secs(60);
        Limits {
            url_requests: 2,
            url_window: minute,
            pattern_requests: 1,
            pattern_window: minute,
            all_requests: 1,
            all_window: minute,
            max_urls: 100,
            max_patterns: 10,
            prefetch_requests: 1,
            prefetch_window: minute,
        }
    }
}

impl Limits {
    /// Limits that never reject a purge (or prefetch) for its rate (benchmarks): `u32::MAX`
    /// requests per window.
    pub fn unlimited_rate() -> Self {
        Limits {
            url_requests: u32::MAX,
            pattern_requests: u32::MAX,
            all_requests: u32::MAX,
            prefetch_requests: u32::MAX,
            ..Limits::default()
        }
    }

    /// The rate `purge_request_limit` reports: the API has one field for pattern purges and
    /// purge-all, so the stricter (fewer requests per time) of the two windows enforced.
    pub fn pattern_rate(&self) -> (u32, Duration) {
        let pattern = (self.pattern_requests, self.pattern_window);
        let all = (self.all_requests, self.all_window);
        // a.n / a.w <= b.n / b.w, in integers.
        let slower = |a: (u32, Duration), b: (u32, Duration)| {
            u128::from(a.0) * b.1.as_nanos() <= u128::from(b.0) * a.1.as_nanos()
        };
        if slower(all, pattern) {
            all
        } else {
            pattern
        }
    }

    fn window(&self, kind: Counted) -> (u32, Duration) {
        match kind {
            Counted::Purge(PurgeType::Urls) => (self.url_requests, self.url_window),
            Counted::Purge(PurgeType::Patterns) => (self.pattern_requests, self.pattern_window),
            Counted::Purge(PurgeType::All) => (self.all_requests, self.all_window),
            Counted::Prefetch => (self.prefetch_requests, self.prefetch_window),
        }
    }
}

/// Whether and how a `429` answer carries a `Retry-After` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RetryAfterMode {
    /// No `Retry-After`: what the provider documents (the default).
    #[default]
    None,
    /// `Retry-After: <seconds>`: seconds until the window admits a request, rounded up, at least 1.
    Seconds,
    /// `Retry-After: <HTTP-date>`: the moment the window admits a request, rounded up to a second.
    HttpDate,
}

impl std::str::FromStr for RetryAfterMode {
    type Err = String;

    /// `none`, `seconds` or `date` (also `http-date`), case-insensitive.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Ok(RetryAfterMode::None),
            "seconds" => Ok(RetryAfterMode::Seconds),
            "date" | "http-date" | "httpdate" => Ok(RetryAfterMode::HttpDate),
            _ => Err(format!(
                "unknown Retry-After mode {s:?}: expected none, seconds or date"
            )),
        }
    }
}

/// Why a `DELETE` of an inactive resource is refused. Each maps to the provider's example
/// text (see [`messages`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Primary resource of the common cache feature.
    Primary,
    /// Integrated with the Streaming service.
    Streaming,
    /// Has a custom configuration.
    Custom,
}

impl Refusal {
    /// The `errors` text of the `400` answer.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::Primary => messages::PRIMARY_RESOURCE,
            Refusal::Streaming => messages::STREAMING_RESOURCE,
            Refusal::Custom => messages::CUSTOM_RESOURCE,
        }
    }

    /// Lower-case name used by the control API: `primary`, `streaming`, `custom`.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Primary => "primary",
            Refusal::Streaming => "streaming",
            Refusal::Custom => "custom",
        }
    }

    /// Parses [`Refusal::as_str`]'s names (case-insensitively).
    pub fn parse(s: &str) -> Option<Refusal> {
        [Refusal::Primary, Refusal::Streaming, Refusal::Custom]
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s))
    }
}

/// A CDN resource of the emulated account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// Resource id.
    pub id: i64,
    /// Its main host name (default `cdn{id}.example.com`).
    pub cname: String,
    /// Its other host names, `secondaryHostnames` in the API (default none).
    pub secondary_hostnames: Vec<String>,
    /// `active` attribute; a `DELETE` is refused while it is `true`.
    pub active: bool,
    /// `deleted` attribute: listed with `status: "deleted"`; its single-resource endpoints
    /// and purges answer `404`.
    pub deleted: bool,
    /// `can_purge_by_urls` (default `true`); when `false`, a purge by URL is refused with
    /// `400` ([`messages::URL_PURGE_DISABLED`]).
    pub can_purge_by_urls: bool,
    /// Makes a `DELETE` of the (inactive) resource fail with this reason.
    pub refusal: Option<Refusal>,
    /// `options`, listed as given (default `{}`): e.g. `{"ignoreQueryString": {"enabled":
    /// true, "value": true}, "slice": null}`.
    pub options: serde_json::Value,
    /// Its rules, served as given by `GET /cdn/resources/{id}/rules` (default none).
    pub rules: Vec<serde_json::Value>,
}

impl Resource {
    /// An active resource `cdn{id}.example.com` that can be purged by URL and deleted once
    /// deactivated.
    pub fn new(id: i64) -> Self {
        Resource {
            id,
            cname: format!("cdn{id}.example.com"),
            secondary_hostnames: Vec::new(),
            active: true,
            deleted: false,
            can_purge_by_urls: true,
            refusal: None,
            options: serde_json::Value::Object(serde_json::Map::new()),
            rules: Vec::new(),
        }
    }

    /// An inactive resource: a `DELETE` succeeds right away (unless refused).
    pub fn inactive(id: i64) -> Self {
        Resource::new(id).active(false)
    }

    /// Sets the `active` attribute.
    pub fn active(mut self, active: bool) -> Self {
        self.active = active;
        self
    }

    /// Makes a `DELETE` fail with `refusal`.
    pub fn refusing(mut self, refusal: Refusal) -> Self {
        self.refusal = Some(refusal);
        self
    }

    /// Sets the `cname`.
    pub fn cname(mut self, cname: &str) -> Self {
        self.cname = cname.to_owned();
        self
    }

    /// Sets the `secondaryHostnames`.
    pub fn secondary_hostnames(mut self, hosts: &[&str]) -> Self {
        self.secondary_hostnames = hosts.iter().map(|h| (*h).to_owned()).collect();
        self
    }

    /// Sets the `deleted` attribute.
    pub fn deleted(mut self, deleted: bool) -> Self {
        self.deleted = deleted;
        self
    }

    /// Sets `options` (listed by `GET /cdn/resources` as given).
    pub fn options(mut self, options: serde_json::Value) -> Self {
        self.options = options;
        self
    }

    /// Sets the rules (`GET /cdn/resources/{id}/rules` lists them as given).
    pub fn rules(mut self, rules: Vec<serde_json::Value>) -> Self {
        self.rules = rules;
        self
    }

    /// Sets `can_purge_by_urls`.
    pub fn can_purge_by_urls(mut self, can: bool) -> Self {
        self.can_purge_by_urls = can;
        self
    }

    /// The API's `status`: `deleted`, else `active` or `suspended` by [`Resource::active`].
    pub fn status(&self) -> &'static str {
        match (self.deleted, self.active) {
            (true, _) => "deleted",
            (false, true) => "active",
            (false, false) => "suspended",
        }
    }
}

/// At most this many paths in one prefetch request (the provider's documented limit).
pub const MAX_PREFETCH_PATHS: usize = 100;

/// What a rate window counts: a purge type, or prefetch requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Counted {
    Purge(PurgeType),
    Prefetch,
}

/// The three purge types, each with its own rate window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PurgeType {
    /// `{"urls": [...]}`: `purge_by_url`.
    Urls,
    /// `{"paths": [...]}`: `purge_by_pattern`.
    Patterns,
    /// `{"paths": []}`: `purge_all`.
    All,
}

impl PurgeType {
    /// The API's `purge_type`: `purge_by_url`, `purge_by_pattern`, `purge_all`.
    pub fn as_str(self) -> &'static str {
        match self {
            PurgeType::Urls => "purge_by_url",
            PurgeType::Patterns => "purge_by_pattern",
            PurgeType::All => "purge_all",
        }
    }
}

/// The `status` of a purge in `GET /cdn/purge_statuses`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PurgeState {
    /// `"In progress"`.
    InProgress,
    /// `"Successful"`.
    Successful,
    /// `"Failed"`.
    Failed,
}

impl PurgeState {
    /// The API's wording: `In progress`, `Successful`, `Failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            PurgeState::InProgress => "In progress",
            PurgeState::Successful => "Successful",
            PurgeState::Failed => "Failed",
        }
    }

    /// Parses the API's wording, or the control API's `in_progress`, `successful`, `failed`.
    pub fn parse(s: &str) -> Option<PurgeState> {
        let s = s.replace('_', " ");
        [
            PurgeState::InProgress,
            PurgeState::Successful,
            PurgeState::Failed,
        ]
        .into_iter()
        .find(|p| p.as_str().eq_ignore_ascii_case(&s))
    }
}

/// An accepted purge as `GET /cdn/purge_statuses` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeStatus {
    /// `purge_id`: 1, 2, 3… in the order purges were accepted.
    pub purge_id: u64,
    /// `resource.id`.
    pub resource_id: i64,
    /// `resource.cname`, as it was when the purge was accepted.
    pub cname: String,
    /// `purge_type`.
    pub purge_type: PurgeType,
    /// `payload.urls` or `payload.paths`, as sent (trimmed); empty for purge-all.
    pub items: Vec<String>,
    /// `created`: when it was accepted.
    pub created: SystemTime,
    /// `status` now.
    pub status: PurgeState,
}

/// The listings that a [`ListingFault`] can make hostile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `GET /cdn/resources`.
    Resources,
    /// `GET /cdn/purge_statuses`.
    PurgeStatuses,
}

/// A hostile way to answer a listing (see the crate docs for each exact shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ListingFault {
    /// The real listing (the default).
    #[default]
    None,
    /// With `limit`: every page is full (synthetic entries after the real ones) and `next`
    /// always points to the following page: the listing never ends.
    EndlessNext,
    /// With `limit`: `next` points back to the page's own offset (never `null`).
    NextLoops,
    /// This many synthetic entries instead of the real ones, generated per page and never
    /// stored; without `limit`, a plain list of all of them, streamed (chunked).
    Huge(u64),
    /// Entries with missing or wrong-typed fields (and non-objects) interleaved with the real ones.
    BadEntries,
    /// The real answer followed by JSON whitespace up to this many bytes in total (correct
    /// `Content-Length`, generated as it is sent): still valid JSON, but over any sane cap.
    Oversized(u64),
}

struct PurgeRecord {
    status: PurgeStatus,
    /// When the status becomes the final one; `None`: never (stays `In progress`).
    done_at: Option<Instant>,
    end: PurgeState,
}

/// The mutable state of the emulated account.
pub(crate) struct Account {
    pub resources: BTreeMap<i64, Resource>,
    pub limits: Limits,
    pub retry_after: RetryAfterMode,
    /// How long an accepted purge stays `In progress` before its final status.
    pub purge_delay: Duration,
    /// Final states forced on the next purges: (state, how many more).
    pub next_ends: VecDeque<(PurgeState, u32)>,
    /// Final states forced on every purge of a resource.
    pub resource_ends: HashMap<i64, PurgeState>,
    pub listing_faults: HashMap<Endpoint, ListingFault>,
    /// Acceptance times of the purges in the current window, oldest first.
    windows: HashMap<(i64, Counted), VecDeque<Instant>>,
    purges: VecDeque<PurgeRecord>,
    next_purge_id: u64,
}

impl Account {
    pub fn new(seed: &[i64], limits: Limits, retry_after: RetryAfterMode) -> Account {
        Account {
            resources: seed.iter().map(|&id| (id, Resource::new(id))).collect(),
            limits,
            retry_after,
            purge_delay: Duration::ZERO,
            next_ends: VecDeque::new(),
            resource_ends: HashMap::new(),
            listing_faults: HashMap::new(),
            windows: HashMap::new(),
            purges: VecDeque::new(),
            next_purge_id: 1,
        }
    }

    /// A resource the API can see (not deleted).
    pub fn live(&self, id: i64) -> Option<&Resource> {
        self.resources.get(&id).filter(|r| !r.deleted)
    }

    pub fn remove(&mut self, id: i64) -> Option<Resource> {
        self.windows.retain(|(rid, _), _| *rid != id);
        self.resources.remove(&id)
    }

    pub fn clear_windows(&mut self) {
        self.windows.clear();
    }

    pub fn listing_fault(&self, e: Endpoint) -> ListingFault {
        self.listing_faults.get(&e).copied().unwrap_or_default()
    }

    /// Counts a request in its rate window; `Err` is the wait until the window would admit
    /// it (limit and window returned for the message).
    fn count(&mut self, id: i64, kind: Counted) -> Result<(), (Duration, u32, Duration)> {
        let (max, window) = self.limits.window(kind);
        let now = Instant::now();
        let times = self.windows.entry((id, kind)).or_default();
        while times
            .front()
            .is_some_and(|&t| now.duration_since(t) >= window)
        {
            times.pop_front();
        }
        if times.len() >= max as usize {
            // The window admits a request once all but max-1 of the counted ones have expired.
            let wait = times
                .get(times.len() - max as usize)
                .map_or(window, |&t| (t + window).saturating_duration_since(now));
            return Err((wait, max, window));
        }
        times.push_back(now);
        Ok(())
    }

    /// Counts a valid prefetch request in its rate window (`Err` as for [`Account::purge`]).
    pub fn prefetch(&mut self, id: i64) -> Result<(), (Duration, u32, Duration)> {
        self.count(id, Counted::Prefetch)
    }

    /// Counts a valid purge in its rate window and records it; returns the state it will
    /// end in. `Err` is the wait until the window would admit it (limit and window returned
    /// for the message).
    pub fn purge(
        &mut self,
        id: i64,
        kind: PurgeType,
        items: Vec<String>,
    ) -> Result<PurgeState, (Duration, u32, Duration)> {
        self.count(id, Counted::Purge(kind))?;
        let now = Instant::now();
        let end = self.take_end(id);
        let cname = self.resources.get(&id).map(|r| r.cname.clone());
        if self.purges.len() >= MAX_PURGE_RECORDS {
            self.purges.pop_front();
        }
        self.purges.push_back(PurgeRecord {
            status: PurgeStatus {
                purge_id: self.next_purge_id,
                resource_id: id,
                cname: cname.unwrap_or_default(),
                purge_type: kind,
                items,
                created: SystemTime::now(),
                status: PurgeState::InProgress,
            },
            done_at: (end != PurgeState::InProgress).then(|| now + self.purge_delay),
            end,
        });
        self.next_purge_id += 1;
        Ok(end)
    }

    fn take_end(&mut self, id: i64) -> PurgeState {
        if let Some((state, left)) = self.next_ends.front_mut() {
            let state = *state;
            *left -= 1;
            if *left == 0 {
                self.next_ends.pop_front();
            }
            return state;
        }
        let end = self.resource_ends.get(&id).copied();
        end.unwrap_or(PurgeState::Successful)
    }

    /// Every recorded purge with its status now, oldest first.
    pub fn purge_statuses(&self) -> Vec<PurgeStatus> {
        let now = Instant::now();
        self.purges
            .iter()
            .map(|p| {
                let mut s = p.status.clone();
                if p.done_at.is_some_and(|t| now >= t) {
                    s.status = p.end;
                }
                s
            })
            .collect()
    }
}

/// `2026-12-01T20:01:02.123456Z`: ISO 8601 in UTC with microseconds, the API's `created` form.
pub fn iso8601(t: SystemTime) -> String {
    const CREATED: &[BorrowedFormatItem<'_>] =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    OffsetDateTime::from_unix_timestamp_nanos(d.as_nanos() as i128)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .format(CREATED)
        .unwrap_or_default()
}

/// `2017-06-09T12:51:43+00:00`: RFC 3339 in UTC to the second, the edge's `X-Cached-Since`.
pub fn rfc3339_seconds(t: SystemTime) -> String {
    const SINCE: &[BorrowedFormatItem<'_>] =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]+00:00");
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    OffsetDateTime::from_unix_timestamp(i64::try_from(secs).unwrap_or(0))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .format(SINCE)
        .unwrap_or_default()
}

/// Parses `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM[:SS[.ffffff]]`, with an optional `Z` or `+00:00`
/// (UTC only; a space works for the `T`) into microseconds since the epoch.
pub fn parse_iso8601(s: &str) -> Option<i64> {
    const BOUND: &[BorrowedFormatItem<'_>] = format_description!(
        version = 2,
        "[year]-[month]-[day]\
         [optional [[first [T][ ]][hour]:[minute][optional [:[second][optional [.[subsecond]]]]]]]\
         [optional [[first [Z][+00:00]]]]"
    );
    let mut parsed = Parsed::new();
    let rest = parsed.parse_items(s.trim().as_bytes(), BOUND).ok()?;
    if !rest.is_empty() {
        return None;
    }
    if parsed.hour_24().is_none() {
        parsed = parsed.with_hour_24(0)?.with_minute(0)?;
    }
    if parsed.second().is_none() {
        parsed = parsed.with_second(0)?;
    }
    let at = parsed.with_offset_hour(0)?.with_offset_minute_signed(0)?;
    let at = OffsetDateTime::try_from(at).ok()?;
    i64::try_from(at.unix_timestamp_nanos() / 1000).ok()
}

/// Microseconds since the epoch.
pub fn micros(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        let t = UNIX_EPOCH + Duration::from_micros(1_796_155_262_123_456);
        assert_eq!(iso8601(t), "2026-12-01T20:01:02.123456Z");
        assert_eq!(
            parse_iso8601("2026-12-01T20:01:02.123456Z"),
            Some(micros(t))
        );
        assert_eq!(iso8601(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
        assert_eq!(rfc3339_seconds(t), "2026-12-01T20:01:02+00:00");
        assert_eq!(parse_iso8601("1970-01-02"), Some(86_400_000_000));
        assert_eq!(
            parse_iso8601("2000-03-01 00:00:01.5"),
            Some(951_868_801_500_000)
        );
        for bad in [
            "",
            "2026-13-01",
            "yesterday",
            "2026-12-01T25:00",
            "2026-12-01T10:00+02:00",
        ] {
            assert_eq!(parse_iso8601(bad), None, "{bad}");
        }
    }
}
