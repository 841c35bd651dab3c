//! Faults: how the emulator misbehaves on purpose. A queued [`FaultAction`] replaces or
//! spoils a request's answer; a [`ListingFault`] makes a listing hostile (a huge or endless
//! one, bad entries, an oversized body).

use serde_json::{json, Value};

use crate::model::{Endpoint, ListingFault};
use crate::types::FaultAction;
use crate::wire::{Answer, Body, Reply, Stop};

/// Answers by `fault` instead of the usual way: `handle` makes the usual answer where the
/// fault still sends it (a delay sleeps on `stop` first), `sent` records the status sent
/// (0: none) and what happened.
pub(crate) fn misbehave(
    fault: FaultAction,
    stop: &Stop,
    handle: impl FnOnce() -> Reply,
    sent: &dyn Fn(u16, &str),
) -> Answer {
    let answered = |reply: Reply, what: &str| {
        sent(reply.status, &format!("{}{what}", reply.status));
        reply
    };
    let labelled =
        |status: u16, body: String| Reply::labelled(status, body.into_bytes(), Vec::new());
    match fault {
        FaultAction::Respond {
            status,
            body,
            headers,
        } => Answer::Reply(answered(
            Reply::labelled(status, body.into_bytes(), headers),
            "",
        )),
        FaultAction::Delay(d) if !stop.sleep(d) => Answer::Drop,
        FaultAction::Delay(_) => Answer::Reply(answered(handle(), "")),
        FaultAction::Drop => {
            sent(0, "dropped");
            Answer::Drop
        }
        FaultAction::Truncate {
            status,
            body,
            cut_after,
        } => Answer::Truncate(answered(labelled(status, body), " truncated"), cut_after),
        FaultAction::Trickle {
            status,
            body,
            interval,
        } => Answer::Trickle(answered(labelled(status, body), " trickled"), interval),
        FaultAction::Stall => {
            sent(0, "stalled");
            Answer::Stall
        }
        FaultAction::Chunked {
            status,
            body,
            chunk,
        } => {
            let pieces: Vec<Vec<u8>> = body
                .as_bytes()
                .chunks(chunk.max(1))
                .map(<[u8]>::to_vec)
                .collect();
            let mut reply = labelled(status, body);
            reply.body = Body::Stream {
                len: None,
                pieces: Box::new(pieces.into_iter()),
            };
            Answer::Reply(answered(reply, " chunked"))
        }
        FaultAction::Oversized { status, bytes } => {
            let mut reply = labelled(status, String::new())
                .with_header("Content-Type", "text/plain; charset=utf-8".into());
            reply.body = filler(b'x', bytes, Vec::new());
            Answer::Reply(answered(reply, " oversized"))
        }
        FaultAction::CloseAfter => Answer::ReplyThenClose(answered(handle(), " then closed")),
        FaultAction::Garbage(bytes) => {
            sent(0, "garbage");
            Answer::Raw(bytes)
        }
    }
}

/// `first`, then `byte` repeated up to `total` bytes in all, in 64 KiB pieces made as they are sent.
fn filler(byte: u8, total: u64, first: Vec<u8>) -> Body {
    const PIECE: u64 = 64 << 10;
    let mut left = total.saturating_sub(first.len() as u64);
    let rest = std::iter::from_fn(move || {
        let n = left.min(PIECE);
        left -= n;
        (n > 0).then(|| vec![byte; n as usize])
    });
    let len = total.max(first.len() as u64);
    Body::Stream {
        len: Some(len),
        pieces: Box::new(std::iter::once(first).chain(rest)),
    }
}

/// Entry `i` of a synthetic listing ([`ListingFault::Huge`], [`ListingFault::EndlessNext`]).
pub(crate) fn synthetic(endpoint: Endpoint, i: u64) -> Value {
    let id = i.saturating_add(1_000_000_000);
    let cname = format!("r{i}.synthetic.example.com");
    match endpoint {
        Endpoint::Resources => json!({"id": id, "cname": cname, "secondaryHostnames": [],
            "active": true, "status": "active", "deleted": false, "can_purge_by_urls": true}),
        Endpoint::PurgeStatuses => json!({"purge_id": id, "status": "Successful",
            "resource": {"id": id, "cname": cname}, "payload": {"urls": [format!("/synthetic/{i}")]},
            "created": "2026-01-01T00:00:00.000000Z", "purge_type": "purge_by_url"}),
    }
}

/// The entries that [`ListingFault::BadEntries`] mixes in: fields missing, fields of the
/// wrong type, and entries that are not objects.
pub(crate) fn bad_entries(endpoint: Endpoint) -> Vec<Value> {
    match endpoint {
        Endpoint::Resources => vec![
            json!({"cname": "no-id.example.com", "active": true, "status": "active"}),
            json!({"id": "seven", "cname": "string-id.example.com", "active": true}),
            json!({"id": 900_000_001, "cname": 42, "active": true}),
            json!({"id": 900_000_002, "cname": "bad-hosts.example.com", "secondaryHostnames": "x.example.com"}),
            json!({"id": 900_000_003, "cname": "bad-active.example.com", "active": "yes", "deleted": null}),
            json!(null),
            json!("resource"),
        ],
        Endpoint::PurgeStatuses => vec![
            json!({"status": "Successful", "purge_type": "purge_all", "created": "2026-01-01T00:00:00.000000Z"}),
            json!({"purge_id": 900_000_001, "status": 3, "resource": {"id": 1, "cname": "x"}}),
            json!({"purge_id": 900_000_002, "status": "Successful", "resource": null, "payload": {"urls": "/a"}}),
            json!({"purge_id": 900_000_003, "status": "Successful", "created": "yesterday", "purge_type": 5}),
            json!(17),
            json!([]),
        ],
    }
}

/// [`ListingFault::Oversized`]: the answer, then spaces up to the size.
pub(crate) fn pad(reply: Reply, fault: ListingFault) -> Reply {
    let ListingFault::Oversized(total) = fault else {
        return reply;
    };
    let Body::Bytes(first) = reply.body else {
        return reply;
    };
    Reply {
        body: filler(b' ', total, first),
        ..reply
    }
}

/// A plain list of `n` synthetic entries, streamed (chunked) 1000 at a time.
pub(crate) fn huge_list(endpoint: Endpoint, n: u64) -> Reply {
    const BATCH: u64 = 1000;
    let batches = (0..n.div_ceil(BATCH)).map(move |b| {
        let mut out = Vec::with_capacity(256 * BATCH as usize);
        for i in b * BATCH..((b + 1) * BATCH).min(n) {
            if i > 0 {
                out.push(b',');
            }
            let _ = serde_json::to_writer(&mut out, &synthetic(endpoint, i));
        }
        out
    });
    let pieces = std::iter::once(b"[".to_vec())
        .chain(batches)
        .chain(std::iter::once(b"]".to_vec()));
    let mut reply = Reply::json(200, &json!([]));
    reply.body = Body::Stream {
        len: None,
        pieces: Box::new(pieces),
    };
    reply
}
