//! The purge job: purges across any number of resources (URLs, patterns, purge-all by resource
//! id, and full `https://host/path?query` URLs mapped to their resource by host), planned,
//! paced, reported item by item, and optionally confirmed.
//!
//! - [`Job`] holds the items, each checked when it is added.
//! - [`plan()`] maps, de-duplicates, drops what a bigger purge covers, and chunks.
//! - [`mod@listing`] reads `GET /cdn/resources` and `GET /cdn/purge_statuses`, bounded.
//! - [`Report`] (report.rs) is the outcome of a run, with its stable JSON form and [`Report::remaining`].
//!
//! Memory: a job keeps every item's text once, in one buffer (each item followed by a NUL, so
//! the C ABI hands out pointers into it without copying); planning and the report refer to
//! items by offset into that buffer, shared by `Arc`, never by copies.

pub mod cachekey;
mod confirm;
pub mod contain;
pub(crate) mod event;
pub mod listing;
mod msg;
pub mod plan;
pub(crate) mod report;
pub(crate) mod run;
pub mod verify;
mod worker;

use std::sync::Arc;

use super::error::{quote, Error, Result};
use super::validate::{self, ItemKind};

pub use crate::engine::purge::PurgeKind;
pub use event::{Event, EventKind, Flow};
pub use plan::{
    plan, plan_cache_keys, Plan, PlanLimits, PlannedRequest, Reason, Rewrite, Skip, Warning,
    WarningCode,
};
pub use report::{Completion, Outcome, Report, RequestReport, Skipped, Totals};
pub use run::{JobError, RunOptions, DEFAULT_WORKERS, MAX_WORKERS, TICK_EVENT};

/// Most items one `add_*` call takes (the C ABI's `GCDN_MAX_ITEMS`).
pub const MAX_ITEMS_PER_ADD: usize = validate::MAX_ITEMS;
/// Most bytes of item text one job holds (offsets are 32-bit): 4 GiB less one.
pub const MAX_JOB_TEXT: usize = u32::MAX as usize;
/// Longest stretch of a caller's item quoted back in a message.
const QUOTE_MAX: usize = 120;

/// How an item entered the job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Given {
    /// A path of resource `resource_id` (`add_urls`).
    Url,
    /// A pattern of resource `resource_id` (`add_patterns`).
    Pattern,
    /// Purge-all of resource `resource_id` (`add_all`); no text.
    All,
    /// `https://host/path?query` (`add_full_urls`); the resource is found by host.
    FullUrl,
    /// `https://host/pattern` (`add_full_patterns`): a pattern of the host's resource.
    FullPattern,
    /// `https://host/` (`add_all_hosts`): everything of the host's resource.
    FullAll,
}

impl Given {
    pub fn as_str(self) -> &'static str {
        match self {
            Given::Url => "url",
            Given::Pattern => "pattern",
            Given::All => "all",
            Given::FullUrl => "full_url",
            Given::FullPattern => "full_pattern",
            Given::FullAll => "full_all",
        }
    }

    /// Whether the item names its resource by host (so a run reads the resources listing).
    pub fn by_host(self) -> bool {
        matches!(self, Given::FullUrl | Given::FullPattern | Given::FullAll)
    }
}

/// A stretch of the job's text: `text[start..start + len]`, always followed by a NUL; from
/// `text.len()` on, of the text a plan added beside it (`JobData::extra`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub start: u32,
    pub len: u32,
}

impl Span {
    fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.start as usize + self.len as usize
    }

    /// The tail of this span from byte `from` on (still NUL-terminated).
    fn tail(self, from: u32) -> Span {
        Span {
            start: self.start + from,
            len: self.len - from,
        }
    }
}

/// One item as given. For a full URL, `host` is where the host sits inside the text and
/// `path_at` where the path (what is sent) begins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The resource id given with the item; 0 for a full URL.
    pub resource_id: i64,
    pub given: Given,
    pub text: Span,
    /// Full URLs: the host's offset inside `text` and its length (bytes).
    host_at: u16,
    host_len: u16,
    /// Full URLs: the path's offset inside `text`.
    path_at: u32,
}

impl Entry {
    /// A purge of everything of `resource_id`.
    fn all(resource_id: i64) -> Entry {
        Entry {
            resource_id,
            given: Given::All,
            text: Span::default(),
            host_at: 0,
            host_len: 0,
            path_at: 0,
        }
    }
}

/// The job's storage: all item text in one buffer, entries in the order given; both shared
/// by the copies (a run plans a job its caller still holds) until one of them adds items.
/// `extra` holds text a plan adds (the items' cache-key forms), NUL-terminated like the rest:
/// a span from `text.len()` on points into it, so adding it copies nothing of the job's.
#[derive(Clone, Debug, Default)]
pub struct JobData {
    text: Arc<String>,
    entries: Arc<Vec<Entry>>,
    extra: String,
}

impl JobData {
    /// The buffer `span` points into, and its range there.
    fn place(&self, span: Span) -> (&str, std::ops::Range<usize>) {
        let r = span.range();
        let base = self.text.len();
        if r.start < base || (r.start == base && self.extra.is_empty()) {
            (&self.text, r)
        } else {
            (&self.extra, r.start - base..r.end - base)
        }
    }

    /// The text of `span` (without its NUL).
    pub fn str(&self, span: Span) -> &str {
        let (buf, r) = self.place(span);
        &buf[r]
    }

    /// The text of `span` and its terminating NUL, for the C ABI.
    pub fn c_ptr(&self, span: Span) -> *const u8 {
        let (buf, r) = self.place(span);
        debug_assert_eq!(buf.as_bytes()[r.end], 0);
        buf[r.start..].as_ptr()
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The item as given: a path, a pattern, a full URL, or `"all"` for a purge-all.
    pub fn given_text(&self, e: &Entry) -> &str {
        match e.given {
            Given::All => "all",
            _ => self.str(e.text),
        }
    }

    /// What would be sent for this item: the path and query of a full URL (the pattern of a
    /// full pattern; nothing for a purge-all by host), else the item.
    pub fn sent_span(&self, e: &Entry) -> Span {
        match e.given {
            Given::FullUrl | Given::FullPattern => e.text.tail(e.path_at),
            Given::FullAll => Span::default(),
            _ => e.text,
        }
    }

    /// The host of an item given by host, as given (not lower-cased).
    pub fn host(&self, e: &Entry) -> Option<&str> {
        e.given.by_host().then(|| {
            let s = self.str(e.text);
            &s[e.host_at as usize..e.host_at as usize + e.host_len as usize]
        })
    }

    /// Where text appended next begins (spans' numbering: the job's text, then `extra`).
    fn text_end(&self) -> u32 {
        (self.text.len() + self.extra.len()) as u32
    }

    /// Append `texts` (NUL-terminated texts) to the plan's own text (`extra`), at
    /// [`JobData::text_end`], leaving the job's shared text as it is.
    fn append_extra(&mut self, texts: String) {
        debug_assert!(texts.is_empty() || texts.ends_with('\0'));
        if self.extra.is_empty() {
            self.extra = texts;
        } else {
            self.extra.push_str(&texts);
        }
    }

    /// The job's text and entries, to add items to (copied when shared).
    fn items_mut(&mut self) -> (&mut String, &mut Vec<Entry>) {
        debug_assert!(
            self.extra.is_empty(),
            "items are added to a job, never to a plan's copy"
        );
        (
            Arc::make_mut(&mut self.text),
            Arc::make_mut(&mut self.entries),
        )
    }
}

/// Append `s` and a NUL to a job's `text`.
fn push_text(text: &mut String, s: &str) -> Span {
    let start = text.len() as u32;
    text.push_str(s);
    text.push('\0');
    Span {
        start,
        len: s.len() as u32,
    }
}

/// Purges across any number of resources, built with the `add_*` methods (each checks its
/// items at once and leaves the job unchanged when one is bad) and run by
/// [`crate::engine::Client::run_job`]. Cloning is cheap: the items are shared until one of the
/// copies is changed.
#[derive(Clone, Debug, Default)]
pub struct Job {
    data: Arc<JobData>,
}

impl Job {
    pub fn new() -> Job {
        Job::default()
    }

    /// The shared storage, for planning and reports.
    pub fn data(&self) -> &Arc<JobData> {
        &self.data
    }

    /// How many items were added (repeats included).
    pub fn len(&self) -> usize {
        self.data.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.entries.is_empty()
    }

    /// Add paths (with query) of resource `resource_id`: the rules of
    /// [`crate::engine::Client::purge_urls`]. Repeats are kept here and reported as
    /// `duplicate` by the plan.
    pub fn add_urls<S: AsRef<str>>(&mut self, resource_id: i64, urls: &[S]) -> Result<()> {
        self.add_items(resource_id, ItemKind::Url, urls)
    }

    /// Add patterns of resource `resource_id` (`*` only at the end).
    pub fn add_patterns<S: AsRef<str>>(&mut self, resource_id: i64, patterns: &[S]) -> Result<()> {
        self.add_items(resource_id, ItemKind::Pattern, patterns)
    }

    /// Add a purge of everything of resource `resource_id`.
    pub fn add_all(&mut self, resource_id: i64) -> Result<()> {
        validate::resource_id(resource_id)?;
        let (_, entries) = Arc::make_mut(&mut self.data).items_mut();
        entries.push(Entry::all(resource_id));
        Ok(())
    }

    /// Add full URLs `https://host/path?query`; each host is matched (exactly, ignoring case)
    /// to the resource whose `cname` or one of whose `secondaryHostnames` it is when the job
    /// runs, and the path with its query is what is sent.
    pub fn add_full_urls<S: AsRef<str>>(&mut self, urls: &[S]) -> Result<()> {
        self.add_by_host(Given::FullUrl, urls)
    }

    /// Add full patterns `https://host/pattern` (`*` only at the end): the pattern is sent to
    /// the resource the host belongs to, matched as for [`Job::add_full_urls`].
    pub fn add_full_patterns<S: AsRef<str>>(&mut self, patterns: &[S]) -> Result<()> {
        self.add_by_host(Given::FullPattern, patterns)
    }

    /// Add a purge of everything of the resource of each host, given as `https://host/` (or
    /// `https://host`), matched as for [`Job::add_full_urls`].
    pub fn add_all_hosts<S: AsRef<str>>(&mut self, hosts: &[S]) -> Result<()> {
        self.add_by_host(Given::FullAll, hosts)
    }

    fn add_by_host<S: AsRef<str>>(&mut self, given: Given, urls: &[S]) -> Result<()> {
        let noun = match given {
            Given::FullPattern => "full pattern",
            Given::FullAll => "host",
            _ => "full URL",
        };
        check_count(urls.len(), noun)?;
        let mut parsed = Vec::with_capacity(urls.len());
        let mut bytes = 0usize;
        for (index, url) in urls.iter().enumerate() {
            let url = url.as_ref();
            parsed.push(parse_by_host(index, url, given)?);
            bytes += url.len() + 1;
        }
        self.check_room(bytes)?;
        let (data_text, entries) = Arc::make_mut(&mut self.data).items_mut();
        entries.reserve(urls.len());
        data_text.reserve(bytes);
        for (url, p) in urls.iter().zip(parsed) {
            let text = push_text(data_text, url.as_ref());
            entries.push(Entry {
                resource_id: 0,
                given,
                text,
                host_at: p.host_at as u16,
                host_len: p.host_len as u16,
                path_at: p.path_at as u32,
            });
        }
        Ok(())
    }

    /// Append an entry of another job's text (for [`Report::remaining`]).
    pub(crate) fn push_sent(&mut self, resource_id: i64, kind: PurgeKind, items: &[&str]) {
        let (data_text, entries) = Arc::make_mut(&mut self.data).items_mut();
        if kind == PurgeKind::All {
            entries.push(Entry::all(resource_id));
            return;
        }
        let given = if kind == PurgeKind::Urls {
            Given::Url
        } else {
            Given::Pattern
        };
        for item in items {
            let text = push_text(data_text, item);
            entries.push(Entry {
                resource_id,
                given,
                text,
                host_at: 0,
                host_len: 0,
                path_at: 0,
            });
        }
    }

    fn add_items<S: AsRef<str>>(
        &mut self,
        resource_id: i64,
        kind: ItemKind,
        items: &[S],
    ) -> Result<()> {
        validate::resource_id(resource_id)?;
        check_count(items.len(), kind.noun())?;
        let mut bytes = 0usize;
        for (index, item) in items.iter().enumerate() {
            let item = item.as_ref();
            validate::item(kind, index, item)?;
            bytes += item.len() + 1;
        }
        self.check_room(bytes)?;
        let given = match kind {
            ItemKind::Url => Given::Url,
            ItemKind::Pattern => Given::Pattern,
        };
        let (data_text, entries) = Arc::make_mut(&mut self.data).items_mut();
        entries.reserve(items.len());
        data_text.reserve(bytes);
        for item in items {
            let text = push_text(data_text, item.as_ref());
            entries.push(Entry {
                resource_id,
                given,
                text,
                host_at: 0,
                host_len: 0,
                path_at: 0,
            });
        }
        Ok(())
    }

    fn check_room(&self, bytes: usize) -> Result<()> {
        if self.data.text.len() + bytes > MAX_JOB_TEXT {
            return Err(Error::invalid(format!(
                "the job would hold more than {MAX_JOB_TEXT} bytes of items; split it in two jobs"
            )));
        }
        Ok(())
    }
}

fn check_count(n: usize, noun: &str) -> Result<()> {
    if n == 0 {
        return Err(Error::invalid(format!(
            "no {noun}s given: an empty list purges nothing (to purge a whole cache, use add_all)"
        )));
    }
    if n > MAX_ITEMS_PER_ADD {
        return Err(Error::invalid(format!(
            "{n} {noun}s given; one call takes at most {MAX_ITEMS_PER_ADD}"
        )));
    }
    Ok(())
}

/// Where the parts of a full URL are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FullUrl {
    pub host_at: usize,
    pub host_len: usize,
    pub path_at: usize,
}

/// The longest host name DNS allows.
const HOST_MAX: usize = 253;

/// Check a full URL: `https://` (any case), a host of letters, digits, `-` and `.` (optionally
/// `:443`), then a path starting with `/` that follows the URL rules (no control character);
/// no user info, no fragment. `index` is its place in the caller's list.
pub fn parse_full_url(index: usize, url: &str) -> Result<FullUrl> {
    parse_by_host(index, url, Given::FullUrl)
}

/// [`parse_full_url`] for any item given by host: `FullPattern` checks the path as a pattern;
/// `FullAll` takes `https://host/` or `https://host` and nothing more.
pub fn parse_by_host(index: usize, url: &str, given: Given) -> Result<FullUrl> {
    let noun = match given {
        Given::FullPattern => "full pattern",
        Given::FullAll => "host",
        _ => "full URL",
    };
    let bad = |why: &str| Error::invalid(format!("{noun} {index} {why}"));
    if url.is_empty() {
        return Err(bad("is empty"));
    }
    if let Some(c) = url.chars().find(|c| c.is_control()) {
        // Quote only what comes before the host's end could hold a password: nothing here.
        return Err(bad(&format!("contains the control character {c:?}")));
    }
    let scheme = url.get(..8).unwrap_or("");
    if !scheme.eq_ignore_ascii_case("https://") {
        let plain = url
            .get(..7)
            .is_some_and(|s| s.eq_ignore_ascii_case("http://"));
        return Err(if plain {
            bad("must start with https:// (the CDN's cache is purged by its HTTPS URLs; the path and query are what counts)")
        } else if url.starts_with('/') {
            bad("is a path, not a full URL: add it with add_urls and its resource id")
        } else {
            bad("must be https://host/path")
        });
    }
    let rest = &url[8..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    if authority.contains('@') {
        // Never quoted: what precedes '@' may be a password.
        return Err(bad(
            "has user info (name:password@) before its host; a CDN URL has none",
        ));
    }
    let host = match authority.rsplit_once(':') {
        Some((host, "443")) => host,
        Some((_, _)) => {
            return Err(bad(&format!(
                "{} names a port other than 443; CDN URLs are served on 443",
                quote(url, QUOTE_MAX)
            )))
        }
        None => authority,
    };
    if host.is_empty() {
        return Err(bad(&format!("{} has no host", quote(url, QUOTE_MAX))));
    }
    if host.len() > HOST_MAX
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        || host.starts_with('.')
        || host.contains("..")
    {
        return Err(bad(&format!(
            "{} has an invalid host (letters, digits, '-' and '.'; international names in their xn-- form)",
            quote(url, QUOTE_MAX)
        )));
    }
    let path_at = 8 + authority_len;
    let path = &url[path_at..];
    if given == Given::FullAll {
        if !path.is_empty() && path != "/" {
            return Err(bad(&format!(
                "{} is more than a host: a purge of everything takes https://{host}/ alone",
                quote(url, QUOTE_MAX)
            )));
        }
        return Ok(FullUrl {
            host_at: 8,
            host_len: host.len(),
            path_at,
        });
    }
    if !path.starts_with('/') {
        return Err(bad(&format!(
            "{} has no path; to purge the home page use {}",
            quote(url, QUOTE_MAX),
            quote(&format!("https://{host}/"), QUOTE_MAX)
        )));
    }
    if path.contains('#') {
        return Err(bad(&format!(
            "{} has a fragment (#...), which is never part of a cached URL: leave it out",
            quote(url, QUOTE_MAX)
        )));
    }
    let kind = if given == Given::FullPattern {
        ItemKind::Pattern
    } else {
        ItemKind::Url
    };
    validate::item(kind, index, path).map_err(|e| e.context(format!("{noun} {index}")))?;
    Ok(FullUrl {
        host_at: 8,
        host_len: host.len(),
        path_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_urls_split_into_host_and_path() {
        let p = parse_full_url(0, "https://CDN.Example.com/a.png?v=2").unwrap();
        let u = "https://CDN.Example.com/a.png?v=2";
        assert_eq!(&u[p.host_at..p.host_at + p.host_len], "CDN.Example.com");
        assert_eq!(&u[p.path_at..], "/a.png?v=2");
        let u = "HTTPS://cdn.example.com:443/";
        let p = parse_full_url(0, u).unwrap();
        assert_eq!(&u[p.host_at..p.host_at + p.host_len], "cdn.example.com");
        assert_eq!(&u[p.path_at..], "/");
    }

    #[test]
    fn bad_full_urls_are_refused_with_index_and_reason() {
        for (url, why) in [
            ("", "is empty"),
            ("http://cdn.example.com/a", "https://"),
            ("/a.png", "add_urls"),
            ("ftp://x/a", "https://host/path"),
            ("https://cdn.example.com", "no path"),
            ("https://cdn.example.com?x=1", "no path"),
            ("https:///a", "no host"),
            ("https://cdn.example.com:8443/a", "port"),
            ("https://bad_host.com/a", "invalid host"),
            ("https://a..b/a", "invalid host"),
            ("https://cdn.example.com/a#top", "fragment"),
            ("https://cdn.example.com/a\nb", "control character"),
        ] {
            let e = parse_full_url(7, url).unwrap_err();
            assert!(e.message.starts_with("full URL 7 "), "{url}: {}", e.message);
            assert!(e.message.contains(why), "{url}: {}", e.message);
        }
    }

    #[test]
    fn user_info_is_refused_without_quoting_it() {
        let e = parse_full_url(0, "https://user:hunter2secret@cdn.example.com/a").unwrap_err();
        assert!(e.message.contains("user info"), "{}", e.message);
        assert!(!e.message.contains("hunter2"), "{}", e.message);
    }

    #[test]
    fn a_bad_item_leaves_the_job_unchanged() {
        let mut job = Job::new();
        job.add_urls(5, &["/a", "/b"]).unwrap();
        let before = job.data().text.clone();
        let e = job.add_urls(5, &["/c", "d"]).unwrap_err();
        assert!(e.message.starts_with("URL 1 "), "{}", e.message);
        let e = job.add_patterns(5, &["/x/*/y"]).unwrap_err();
        assert!(e.message.starts_with("pattern 0 "), "{}", e.message);
        let e = job
            .add_full_urls(&["https://a.com/x", "https://b.com"])
            .unwrap_err();
        assert!(e.message.starts_with("full URL 1 "), "{}", e.message);
        assert!(job.add_all(0).is_err());
        assert!(job.add_urls(-1, &["/a"]).is_err());
        let empty: [&str; 0] = [];
        assert!(job.add_urls(1, &empty).is_err());
        assert_eq!(job.len(), 2);
        assert_eq!(job.data().text, before);
    }

    #[test]
    fn items_keep_their_text_and_sent_part() {
        let mut job = Job::new();
        job.add_urls(5, &["/a?x=1"]).unwrap();
        job.add_full_urls(&["https://Cdn.Example.com/img/b.png?v=2"])
            .unwrap();
        job.add_all(9).unwrap();
        let d = job.data();
        let e = d.entries();
        assert_eq!(d.given_text(&e[0]), "/a?x=1");
        assert_eq!(d.str(d.sent_span(&e[1])), "/img/b.png?v=2");
        assert_eq!(d.host(&e[1]), Some("Cdn.Example.com"));
        assert_eq!(d.given_text(&e[2]), "all");
        // Every span is NUL-terminated in place.
        let sent = d.sent_span(&e[1]);
        let c = unsafe { std::ffi::CStr::from_ptr(d.c_ptr(sent).cast()) };
        assert_eq!(c.to_str().unwrap(), "/img/b.png?v=2");
    }

    #[test]
    fn clones_share_until_changed() {
        let mut a = Job::new();
        a.add_urls(1, &["/a"]).unwrap();
        let b = a.clone();
        assert!(Arc::ptr_eq(a.data(), b.data()));
        a.add_urls(1, &["/b"]).unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(b.len(), 1);
    }
}
