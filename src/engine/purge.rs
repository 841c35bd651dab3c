//! The one purge path. A caller's items (a job's planned request, or a request of a single
//! call's one-lane plan, [`send_call`]) are delivered by [`send`]: through the client's
//! coalescer (`coalesce`), which may carry them in a request shared with other callers, or,
//! with coalescing off, alone. Either way the request's body is assembled and sent, in its
//! slot of the client's pacer, here ([`send_alone`], [`send_in_slot`]).

use super::call::CallCtx;
use super::client::{Client, PATTERNS_PER_REQUEST, URLS_PER_REQUEST};
use super::coalesce::Delivered;
use super::error::{Error, Result, Status};
use super::pacer::{PaceKind, Window};
use super::request::{Failed, SentInfo};

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

/// Deliver one caller's `items` (already checked and unique; at most one request's worth to
/// be shared) of `kind` on `resource_id` (none for [`PurgeKind::All`]): through the client's
/// coalescer, else alone ([`send_alone`]). Errors are the request's own, unprefixed (a shared
/// request's say so).
pub(crate) fn send(
    client: &Client,
    ctx: &CallCtx,
    resource_id: i64,
    kind: PurgeKind,
    items: &[&str],
) -> std::result::Result<Delivered, Failed> {
    match client.coalescer() {
        Some(c) => c.deliver(client, ctx, resource_id, kind, items),
        None => send_alone(client, ctx, resource_id, kind, items)
            .map(|info| Delivered::alone(info, items.len())),
    }
}

/// One purge request of `items` alone: its body built here and sent in its slot of the
/// client's pacer under `kind`'s limit, retried as any purge is.
pub(crate) fn send_alone(
    client: &Client,
    ctx: &CallCtx,
    resource_id: i64,
    kind: PurgeKind,
    items: &[&str],
) -> std::result::Result<SentInfo, Failed> {
    send_body(client, ctx, resource_id, kind, items, None)
}

/// [`send_alone`] for a caller that waited for the request's slot already
/// (`Client::wait_purge_slot`), under `window`: the first attempt goes at once.
pub(crate) fn send_in_slot(
    client: &Client,
    ctx: &CallCtx,
    resource_id: i64,
    kind: PurgeKind,
    items: &[&str],
    window: Window,
) -> std::result::Result<SentInfo, Failed> {
    send_body(client, ctx, resource_id, kind, items, Some(window))
}

fn send_body(
    client: &Client,
    ctx: &CallCtx,
    resource_id: i64,
    kind: PurgeKind,
    items: &[&str],
    slotted: Option<Window>,
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
    client.send_purge_slotted(ctx, resource_id, pace_kind(kind), &body, slotted)
}

/// A single call's purge: its one-lane plan (the unique `items` in requests of the API's
/// size: 100 URLs, 10 patterns, or one purge-all) sent in order on the calling thread, each
/// through [`send`]. A failure stops the call; its message says which request failed and
/// how many items the requests before it purged.
pub(crate) fn send_call(
    client: &Client,
    ctx: &CallCtx,
    resource_id: i64,
    kind: PurgeKind,
    items: &[&str],
) -> Result<()> {
    let (per_request, noun) = match kind {
        PurgeKind::Urls => (URLS_PER_REQUEST, "URL"),
        PurgeKind::Patterns => (PATTERNS_PER_REQUEST, "pattern"),
        PurgeKind::All => {
            return send(client, ctx, resource_id, kind, &[])
                .map(drop)
                .map_err(|f| {
                    f.error
                        .context(format!("purge all of resource {resource_id}"))
                });
        }
    };
    let total = items.len().div_ceil(per_request);
    for (n, chunk) in items.chunks(per_request).enumerate() {
        // Every request waits for its slot in the client's pacer, which knows what this
        // and every other call of the client sent.
        if let Err(f) = send(client, ctx, resource_id, kind, chunk) {
            let first = n * per_request;
            let what = if total == 1 {
                format!("purge by {noun} of resource {resource_id}")
            } else {
                format!(
                    "purge by {noun} of resource {resource_id} stopped at request {} of {total} \
                     ({noun}s {}-{} of the {} unique); {first} {noun}s were purged by the {n} \
                     request(s) before it",
                    n + 1,
                    first + 1,
                    first + chunk.len(),
                    items.len(),
                )
            };
            return Err(f.error.context(what));
        }
    }
    Ok(())
}
