//! What a run reads before it plans: the resources listing and the resources' rules.

use std::collections::HashSet;

use crate::engine::call::CallCtx;
use crate::engine::error::Error;
use crate::engine::job::cachekey;
use crate::engine::job::listing::{self, ReadLimits, ResourceInfo};
use crate::engine::job::plan::ResourceIndex;
use crate::engine::job::{Given, JobData};
use crate::engine::Client;

/// The most of one page of `GET /cdn/resources` read (a resource's JSON is a few KB).
pub const RESOURCES_PAGE_CAP: usize = 8 * 1024 * 1024;

/// `GET /cdn/resources`, every page, keeping only the resources the job names (by host or
/// id) and of them only what the plan needs.
pub(super) fn read_resources(
    client: &Client,
    ctx: &CallCtx,
    data: &JobData,
) -> Result<(ResourceIndex, usize), Error> {
    let mut hosts: HashSet<String> = HashSet::new();
    let mut ids: HashSet<i64> = HashSet::new();
    for e in data.entries() {
        match data.host(e) {
            Some(h) if !hosts.contains(h) => {
                hosts.insert(h.to_ascii_lowercase());
            }
            Some(_) => {}
            None => {
                ids.insert(e.resource_id);
            }
        }
    }
    let keep = |r: &ResourceInfo| ids.contains(&r.id) || r.hosts().any(|h| hosts.contains(h));
    let paged = listing::read_paged(
        "listing resources (GET /cdn/resources)",
        "/cdn/resources",
        ReadLimits::RESOURCES,
        |path| {
            client
                .get(ctx, path, RESOURCES_PAGE_CAP)
                .map_err(|e| e.context("listing resources"))
        },
        listing::resource_entry,
        keep,
    )?;
    Ok((ResourceIndex::new(paged.kept), paged.malformed))
}

/// The most of `GET /cdn/resources/{id}/rules` read (a rule's JSON is a few KB).
pub const RULES_PAGE_CAP: usize = 4 * 1024 * 1024;

/// `GET /cdn/resources/{id}/rules` for each resource of `index` that has URL items with a
/// query (the only ones whose cache-key form a rule can change), bounded like the other
/// listings; returns how many rules (or their options) were ignored for a wrong shape.
pub(super) fn read_rules(
    client: &Client,
    ctx: &CallCtx,
    data: &JobData,
    index: &mut ResourceIndex,
) -> Result<usize, Error> {
    let mut ids: Vec<i64> = Vec::new();
    for e in data.entries() {
        if !matches!(e.given, Given::Url | Given::FullUrl)
            || !data.str(data.sent_span(e)).contains('?')
        {
            continue;
        }
        let rid = match data.host(e) {
            Some(h) => match index.resource_of_host(&h.to_ascii_lowercase()) {
                Some(rid) => rid,
                None => continue,
            },
            None => e.resource_id,
        };
        if index
            .get(rid)
            .is_some_and(|r| r.active && !r.deleted && r.can_purge_by_urls)
        {
            ids.push(rid);
        }
    }
    ids.sort_unstable();
    ids.dedup();
    let mut malformed = 0;
    for rid in ids {
        let what = format!("listing the rules of resource {rid} (GET /cdn/resources/{rid}/rules)");
        let paged = listing::read_paged(
            &what,
            &format!("/cdn/resources/{rid}/rules"),
            ReadLimits::RULES,
            |path| {
                client
                    .get(ctx, path, RULES_PAGE_CAP)
                    .map_err(|e| e.context(format!("listing the rules of resource {rid}")))
            },
            |v| cachekey::rule_entry(&v),
            |_| true,
        )?;
        malformed += paged.malformed;
        let mut rules = Vec::with_capacity(paged.kept.len());
        for (rule, bad) in paged.kept {
            malformed += bad;
            rules.push(rule);
        }
        index.set_rules(rid, rules);
    }
    Ok(malformed)
}
