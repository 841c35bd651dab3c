//! The purge request. A caller's items (a job's planned request, or a request of a single
//! call's one-lane plan, `Client::send_call`) are delivered by `Client::deliver`: through the
//! client's coalescer (`coalesce`), which may carry them in a request shared with other
//! callers, or, with coalescing off, alone. Either way the request's body is assembled and
//! sent, in its slot of the client's pacer, here ([`send_alone`], [`send_in_slot`]), over the
//! request layer's [`Api`] (what every call of a client shares): nothing here knows the
//! client, so the client and its coalescers depend on this module and not the other way.

use super::call::CallCtx;
use super::error::{Error, Status};
use super::pacer::PaceKind;
use super::request::{Api, Failed, SentInfo, Slotted};

/// URLs per purge request: the API's documented limit.
pub const URLS_PER_REQUEST: usize = super::account::DOCUMENTED_MAX_URLS;
/// Patterns per purge request: the API's documented limit.
pub const PATTERNS_PER_REQUEST: usize = super::account::DOCUMENTED_MAX_PATTERNS;

/// What a purge request does: the `kind` of the report's JSON form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PurgeKind {
    /// `{"urls": [...]}`: purge by URL (path and query).
    Urls,
    /// `{"paths": [...]}`: purge by pattern.
    Patterns,
    /// `{"paths": []}`: purge everything of the resource.
    All,
}

impl PurgeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PurgeKind::Urls => "urls",
            PurgeKind::Patterns => "patterns",
            PurgeKind::All => "all",
        }
    }

    /// The `purge_type` of `GET /cdn/purge_statuses`.
    pub fn purge_type(self) -> &'static str {
        match self {
            PurgeKind::Urls => "purge_by_url",
            PurgeKind::Patterns => "purge_by_pattern",
            PurgeKind::All => "purge_all",
        }
    }
}

/// The rate window a request is sent in.
pub(crate) fn pace_kind(kind: PurgeKind) -> PaceKind {
    match kind {
        PurgeKind::Urls => PaceKind::Urls,
        PurgeKind::Patterns | PurgeKind::All => PaceKind::Patterns,
    }
}

/// One purge request of `items` alone: its body built here and sent in its slot of the
/// client's pacer under `kind`'s limit, retried as any purge is.
pub(crate) fn send_alone(
    api: &Api,
    ctx: &CallCtx,
    resource_id: i64,
    kind: PurgeKind,
    items: &[&str],
) -> std::result::Result<SentInfo, Failed> {
    send_body(api, ctx, resource_id, kind, items, None)
}

/// [`send_alone`] for a caller that waited for the request's slot already
/// ([`Api::wait_slot`]), under `window`: the first attempt goes at once.
pub(crate) fn send_in_slot(
    api: &Api,
    ctx: &CallCtx,
    resource_id: i64,
    kind: PurgeKind,
    items: &[&str],
    window: Slotted,
) -> std::result::Result<SentInfo, Failed> {
    send_body(api, ctx, resource_id, kind, items, Some(window))
}

fn send_body(
    api: &Api,
    ctx: &CallCtx,
    resource_id: i64,
    kind: PurgeKind,
    items: &[&str],
    slotted: Option<Slotted>,
) -> std::result::Result<SentInfo, Failed> {
    #[derive(serde::Serialize)]
    struct Urls<'a> {
        urls: &'a [&'a str],
    }
    #[derive(serde::Serialize)]
    struct Paths<'a> {
        paths: &'a [&'a str],
    }
    // One allocation sized up front: `{"urls":["...",...]}`.
    let mut body = Vec::with_capacity(12 + items.iter().map(|i| i.len() + 3).sum::<usize>());
    let encoded = match kind {
        PurgeKind::Urls => serde_json::to_writer(&mut body, &Urls { urls: items }),
        PurgeKind::Patterns => serde_json::to_writer(&mut body, &Paths { paths: items }),
        PurgeKind::All => serde_json::to_writer(&mut body, &Paths { paths: &[] }),
    };
    if let Err(e) = encoded {
        return Err(Failed {
            error: Error::new(Status::Protocol, format!("could not encode JSON: {e}")),
            earlier_attempt_uncertain: false,
            attempts: 0,
            http_status: None,
            rate_limited: 0,
        });
    }
    send_request(api, ctx, resource_id, pace_kind(kind), &body, slotted)
}

/// Send the purge request `body` (`{"urls": [...]}`, `{"paths": [...]}` or `{"paths": []}`)
/// on `resource_id`, in its slot of the client's pacer under `kind`'s limit (`slotted`: the
/// caller waited for the first attempt's slot already, under this limit), retried as any
/// purge is. Nothing is validated here.
pub(crate) fn send_request(
    api: &Api,
    ctx: &CallCtx,
    resource_id: i64,
    kind: PaceKind,
    body: &[u8],
    slotted: Option<Slotted>,
) -> std::result::Result<SentInfo, Failed> {
    let url = api.base.resource_url(resource_id, "/purge");
    api.purge(ctx, &url, resource_id, kind, body, slotted)
}

/// The most items one request of `kind` may carry: the account's limit when it is known,
/// else the documented one.
pub(crate) fn per_request(api: &Api, kind: PurgeKind) -> usize {
    let limits = api.account.known();
    match kind {
        PurgeKind::Urls => limits.map_or(URLS_PER_REQUEST, |l| l.max_urls),
        PurgeKind::Patterns => limits.map_or(PATTERNS_PER_REQUEST, |l| l.max_patterns),
        PurgeKind::All => 0,
    }
    .max(1)
}
