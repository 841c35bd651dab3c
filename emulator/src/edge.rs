//! The edge: a second listener that serves the resources' paths as a Gcore edge does, from the
//! cache in [`edgecache`](crate::edgecache), keyed by [`cachekey`](crate::cachekey). `GET` and
//! `HEAD` only; the `Host` header (port aside, case-insensitive) names the resource by its
//! `cname` or one of its `secondaryHostnames` (a deleted one serves nothing). Every answer
//! carries `Cache`, `X-Cached-Since` and `X-ID`; an unknown host gets `404` without them. No
//! authentication, no faults; every request is recorded (while recording is on).

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::cachekey::cache_key;
use crate::edgecache::{CacheStatus, EdgeRequest};
use crate::model::rfc3339_seconds;
use crate::types::Shared;
use crate::wire::{Answer, Handler, Incoming, Reply, Stop};

/// The edge's `X-ID`.
pub const EDGE_ID: &str = "emu-edge-1";

/// The wire layer's handler for the edge listener.
pub(crate) struct EdgeRouter(pub Arc<Shared>);

impl Handler for EdgeRouter {
    fn handle(&self, rq: Incoming, _stop: &Stop) -> Answer {
        Answer::Reply(serve(&self.0, rq))
    }

    fn log(&self, line: String) {
        self.0.log_line(|| format!("edge: {line}"));
    }
}

fn serve(shared: &Shared, rq: Incoming) -> Reply {
    let received = Instant::now();
    let host = rq.header("host").unwrap_or("").to_owned();
    let (reply, cache) = answer(shared, &rq, &host);
    shared.log_line(|| {
        let cache = cache.map_or("-", CacheStatus::as_str);
        let status = reply.status;
        format!("edge {} {host}{} {status} {cache}", rq.method, rq.path)
    });
    if shared.recording() {
        shared.edge().record(EdgeRequest {
            method: rq.method,
            host,
            path: rq.path,
            headers: rq.headers,
            status: reply.status,
            cache,
            received,
        });
    }
    reply
}

/// `host[:port]` or `[v6]:port` without the port, lower-cased.
fn host_name(host: &str) -> String {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or(v6, |(h, _)| h),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn text(status: u16, body: &str) -> Reply {
    Reply::labelled(status, body.as_bytes().to_vec(), Vec::new())
}

fn answer(shared: &Shared, rq: &Incoming, host: &str) -> (Reply, Option<CacheStatus>) {
    if rq.method != "GET" && rq.method != "HEAD" {
        let reply = text(405, "the edge serves GET and HEAD only\n");
        return (reply.with_header("Allow", "GET, HEAD".into()), None);
    }
    if !rq.path.starts_with('/') {
        return (text(400, "the request target must be a path\n"), None);
    }
    let name = host_name(host);
    let found = shared
        .account()
        .resources
        .values()
        .find(|r| {
            !r.deleted
                && (r.cname.eq_ignore_ascii_case(&name)
                    || r.secondary_hostnames
                        .iter()
                        .any(|h| h.eq_ignore_ascii_case(&name)))
        })
        .map(|r| (r.id, r.options.clone(), r.rules.clone()));
    let Some((id, options, rules)) = found else {
        return (text(404, "no CDN resource serves this host\n"), None);
    };
    let key = cache_key(&options, &rules, &rq.path);
    let (cache, since) = shared.edge().fetch(id, key, SystemTime::now());
    let body = format!("emulated content of {}\n", rq.path);
    let reply = text(200, &body)
        .with_header("Cache", cache.as_str().into())
        .with_header("X-Cached-Since", rfc3339_seconds(since))
        .with_header("X-ID", EDGE_ID.into());
    (reply, Some(cache))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names() {
        assert_eq!(host_name("CDN5.example.com:8080"), "cdn5.example.com");
        assert_eq!(host_name("cdn5.example.com."), "cdn5.example.com");
        assert_eq!(host_name("[::1]:80"), "::1");
        assert_eq!(host_name(""), "");
    }
}
