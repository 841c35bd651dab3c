//! What a run does after its purges: verification at the edge and prefetch.

use std::collections::HashMap;
use std::time::SystemTime;

use super::{RunOptions, Running};
use crate::engine::call::CallCtx;
use crate::engine::error::Status;
use crate::engine::job::plan::ResourceIndex;
use crate::engine::job::report::{Completion, Outcome, Prefetched};
use crate::engine::job::verify::{choose, Target, Verdict, Verified, PROBE_TIMEOUT};
use crate::engine::job::{Given, JobData, PurgeKind, Span};
use crate::engine::Client;

impl Running<'_> {
    /// Probe the URLs of the confirmed URL purges at the edge (see [`super::verify`]).
    pub(super) fn verify(
        &mut self,
        client: &Client,
        ctx: &CallCtx,
        options: &RunOptions,
        data: &JobData,
        index: &ResourceIndex,
    ) {
        // Where each sent item came from: its host, when given by host.
        let origin: HashMap<u32, usize> = data
            .entries()
            .iter()
            .enumerate()
            .filter(|(_, e)| matches!(e.given, Given::Url | Given::FullUrl))
            .map(|(i, e)| (data.sent_span(e).start, i))
            .collect();
        let mut order: Vec<i64> = Vec::new();
        let mut per_resource: HashMap<i64, Vec<(Span, SystemTime)>> = HashMap::new();
        for r in &self.report.requests {
            if r.kind != PurgeKind::Urls
                || r.outcome != Outcome::Purged
                || r.completion != Some(Completion::Successful)
            {
                continue;
            }
            let Some(purged_at) = r.created.or(r.sent_at) else {
                continue;
            };
            let list = per_resource.entry(r.resource_id).or_insert_with(|| {
                order.push(r.resource_id);
                Vec::new()
            });
            list.extend(r.items.iter().map(|s| (*s, purged_at)));
        }
        let mut targets: Vec<Target> = Vec::new();
        let mut unprobed: Vec<Verified> = Vec::new();
        for rid in order {
            let list = &per_resource[&rid];
            let cname = index
                .get(rid)
                .map(|r| r.cname.as_str())
                .filter(|c| !c.is_empty());
            for i in choose(list.len(), options.verify_limit) {
                let (span, purged_at) = list[i];
                let path = data.str(span);
                let given_host = origin
                    .get(&span.start)
                    .and_then(|&e| data.host(&data.entries()[e]));
                match given_host.or(cname) {
                    Some(host) => targets.push(Target {
                        resource_id: rid,
                        host: host.to_owned(),
                        path: path.to_owned(),
                        purged_at,
                    }),
                    None => unprobed.push(Verified {
                        url: path.to_owned(),
                        resource_id: rid,
                        result: Verdict::Error,
                        cache: None,
                        cached_since: None,
                        edge: None,
                        message: Some(format!(
                            "not probed: resource {rid} has no cname in the resources listing"
                        )),
                    }),
                }
            }
        }
        let mut verified = match client.prober(PROBE_TIMEOUT) {
            Ok(prober) => prober.probe_all(ctx, &targets, &options.edges),
            Err(e) => targets
                .iter()
                .map(|t| Verified {
                    url: format!("https://{}{}", t.host, t.path),
                    resource_id: t.resource_id,
                    result: Verdict::Error,
                    cache: None,
                    cached_since: None,
                    edge: None,
                    message: Some(format!("not probed: {}", e.message)),
                })
                .collect(),
        };
        verified.extend(unprobed);
        self.report.verified = verified;
        self.report.recount();
    }

    /// Send the paths purged by URL to `/prefetch`, 100 a request, the resources taken in
    /// turn so that one resource's wait for its slot overlaps the others' requests.
    pub(super) fn prefetch(&mut self, client: &Client, ctx: &CallCtx, data: &JobData) {
        let mut order: Vec<i64> = Vec::new();
        let mut paths: HashMap<i64, Vec<Span>> = HashMap::new();
        for r in &self.report.requests {
            if r.kind == PurgeKind::Urls
                && r.outcome == Outcome::Purged
                && r.completion != Some(Completion::Failed)
            {
                paths
                    .entry(r.resource_id)
                    .or_insert_with(|| {
                        order.push(r.resource_id);
                        Vec::new()
                    })
                    .extend(r.items.iter().copied());
            }
        }
        let per = crate::engine::account::DOCUMENTED_MAX_PREFETCH;
        let mut queues: Vec<(i64, std::vec::IntoIter<Vec<Span>>)> = order
            .iter()
            .map(|rid| {
                let chunks: Vec<Vec<Span>> = paths[rid].chunks(per).map(<[Span]>::to_vec).collect();
                (*rid, chunks.into_iter())
            })
            .collect();
        let mut out: Vec<Prefetched> = Vec::new();
        loop {
            let mut any = false;
            for (rid, chunks) in &mut queues {
                let Some(items) = chunks.next() else { continue };
                any = true;
                let texts: Vec<&str> = items.iter().map(|s| data.str(*s)).collect();
                let body = serde_json::json!({ "paths": texts }).to_string();
                let mut p = Prefetched {
                    resource_id: *rid,
                    items,
                    outcome: Outcome::NotSent,
                    status: None,
                    http_status: None,
                    message: None,
                };
                if ctx.cancelled() {
                    p.status = Some(Status::Cancelled);
                    p.message = Some("not sent: the run was cancelled".into());
                } else {
                    match client.send_prefetch(ctx, *rid, body.as_bytes()) {
                        Ok(info) => {
                            p.outcome = Outcome::Purged;
                            p.http_status = Some(info.http_status);
                        }
                        Err(f) => {
                            if f.attempts > 0 {
                                p.outcome = Outcome::Failed;
                            }
                            p.status = Some(f.error.status);
                            p.http_status = f.http_status;
                            p.message = Some(f.error.message);
                        }
                    }
                }
                out.push(p);
            }
            if !any {
                break;
            }
        }
        self.report.prefetched = out;
    }
}
