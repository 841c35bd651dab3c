//! Planning a purge job of 1,000,000 URLs over 50 resources: how long it takes and how much
//! memory it needs. Pure CPU and memory: nothing is sent.
//!
//! Run with `benches/plan/run.sh` (release build). Prints one JSON object per case:
//! `{"case", "urls", "resources", "build_ms", "plan_ms", "requests", "skipped",
//!   "rss_before_kib", "rss_job_kib", "peak_kib", "input_bytes"}` (`input_bytes`: the items'
//! bytes as given, counted for the `issue16` and `cachekey` cases, else 0), where `peak_kib` is the
//! process's peak resident set (VmHWM) after planning, and `rss_job_kib` the resident set once
//! the job is built (its own storage), before planning. The `cachekey` case (issue 24) also
//! prints `"rewritten"`: URL items planned in their cache-key form; `cachekey-exact` plans the
//! same job as given (`plan`), and `cachekey-unshared` in cache-key form with the job's
//! storage not shared (the job dropped first): what sharing the job's storage with its caller
//! adds to the peak.

use std::time::Instant;

use std::sync::Arc;

use gcdn::engine::job::cachekey::{CacheOptions, Opt, QueryOptions, Rule};
use gcdn::engine::job::listing::ResourceInfo;
use gcdn::engine::job::plan::{plan, plan_cache_keys, PlanLimits, ResourceIndex};
use gcdn::engine::job::Job;

/// The query options of resource `i` in the `cachekey` case: of 50, the even ones have one
/// (ignore all, whitelist, blacklist in turn), the odd ones none.
fn query_options(i: usize) -> QueryOptions {
    let on = |names: &[&str]| {
        Some(Opt {
            enabled: true,
            value: names.iter().map(|n| n.to_string()).collect(),
        })
    };
    match (i % 2, (i / 2) % 3) {
        (1, _) => QueryOptions::default(),
        (_, 0) => QueryOptions {
            ignore_query_string: Some(Opt {
                enabled: true,
                value: true,
            }),
            ..QueryOptions::default()
        },
        (_, 1) => QueryOptions {
            whitelist: on(&["v"]),
            ..QueryOptions::default()
        },
        _ => QueryOptions {
            blacklist: on(&["utm_source", "utm_medium"]),
            ..QueryOptions::default()
        },
    }
}

/// The rules of resource `i` in the `cachekey` case: every fifth resource has two, one that
/// ignores the query under /assets/1xx/ and one (lower priority) that keeps only `v` under
/// /assets/.
fn rules(i: usize) -> Vec<Rule> {
    if !i.is_multiple_of(5) {
        return Vec::new();
    }
    vec![
        Rule {
            id: 1,
            active: true,
            weight: 1,
            pattern: "^/assets/1[0-9]{2}/".into(),
            query: QueryOptions {
                ignore_query_string: Some(Opt {
                    enabled: true,
                    value: true,
                }),
                ..QueryOptions::default()
            },
        },
        Rule {
            id: 2,
            active: true,
            weight: 2,
            pattern: "^/assets/".into(),
            query: QueryOptions {
                whitelist: Some(Opt {
                    enabled: true,
                    value: vec!["v".into()],
                }),
                ..QueryOptions::default()
            },
        },
    ]
}

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let urls: usize = std::env::args()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let case = std::env::args()
        .nth(2)
        .unwrap_or_else(|| "full_urls".into());
    let resources = 50usize;
    let rss_before = status_kib("VmRSS:");
    let t = Instant::now();
    let mut job = Job::new();
    let mut input_bytes = 0usize;
    let index = if case.starts_with("cachekey") {
        // Issue 24's job: full URLs over 50 hosts, 1 in 10 a repeat, each with a query of
        // three parameters in varying order (a third of them sorted); half the resources ignore, whitelist or
        // blacklist query parameters, and every fifth has rules (above).
        for start in (0..urls).step_by(10_000) {
            let list: Vec<String> = (start..(start + 10_000).min(urls))
                .map(|i| {
                    let n = if i % 10 == 9 { i - 5 } else { i };
                    let query = match n % 3 {
                        0 => format!("b={}&utm_source=mail&v={}", n % 5, n % 7),
                        1 => format!("b={}&v={}&utm_medium=cpc", n % 5, n % 7),
                        _ => format!("utm_source=ads&b={}&v={}", n % 5, n % 7),
                    };
                    format!(
                        "https://cdn{}.example.com/assets/{}/file-{n}.js?{query}",
                        n % resources,
                        n % 997
                    )
                })
                .collect();
            input_bytes += list.iter().map(String::len).sum::<usize>();
            job.add_full_urls(&list).expect("valid URLs");
        }
        let mut index = ResourceIndex::new(
            (0..resources)
                .map(|i| ResourceInfo {
                    id: i as i64 + 1,
                    cname: format!("cdn{i}.example.com"),
                    secondary_hostnames: vec![],
                    active: true,
                    deleted: false,
                    can_purge_by_urls: true,
                    options: CacheOptions {
                        query: query_options(i),
                        ..CacheOptions::default()
                    },
                    ..Default::default()
                })
                .collect(),
        );
        for i in 0..resources {
            let r = rules(i);
            if !r.is_empty() {
                index.set_rules(i as i64 + 1, r);
            }
        }
        index
    } else if case == "issue16" {
        // Issue 16's job: full URLs over 50 hosts, 1 in 10 a repeat, and 20 covering
        // patterns (pattern k on resource k+1 covers its /assets/k/ files). `input_bytes`
        // counts every URL and pattern as given.
        for start in (0..urls).step_by(10_000) {
            let list: Vec<String> = (start..(start + 10_000).min(urls))
                .map(|i| {
                    let n = if i % 10 == 9 { i - 5 } else { i };
                    format!(
                        "https://cdn{}.example.com/assets/{}/file-{n}.js?v=3",
                        n % resources,
                        n % 997
                    )
                })
                .collect();
            input_bytes += list.iter().map(String::len).sum::<usize>();
            job.add_full_urls(&list).expect("valid URLs");
        }
        for k in 0..20usize {
            let pattern = format!("/assets/{k}/*");
            input_bytes += pattern.len();
            job.add_patterns(k as i64 + 1, &[pattern])
                .expect("valid pattern");
        }
        ResourceIndex::new(
            (0..resources as i64)
                .map(|i| ResourceInfo {
                    id: i + 1,
                    cname: format!("cdn{i}.example.com"),
                    secondary_hostnames: vec![],
                    active: true,
                    deleted: false,
                    can_purge_by_urls: true,
                    ..Default::default()
                })
                .collect(),
        )
    } else if case == "full_urls" {
        // Full URLs over 50 hosts, 1 in 20 a repeat; resources listed with their cnames.
        // Added 10,000 at a time, so that the bench's own list does not count.
        for start in (0..urls).step_by(10_000) {
            let list: Vec<String> = (start..(start + 10_000).min(urls))
                .map(|i| {
                    let n = if i % 20 == 19 { i - 7 } else { i };
                    format!(
                        "https://cdn{}.example.com/assets/{}/file-{n}.js?v=3",
                        n % resources,
                        n % 997
                    )
                })
                .collect();
            job.add_full_urls(&list).expect("valid URLs");
        }
        ResourceIndex::new(
            (0..resources as i64)
                .map(|i| ResourceInfo {
                    id: i + 1,
                    cname: format!("cdn{i}.example.com"),
                    secondary_hostnames: vec![],
                    active: true,
                    deleted: false,
                    can_purge_by_urls: true,
                    ..Default::default()
                })
                .collect(),
        )
    } else {
        // Paths by resource id, with a pattern per resource covering a tenth of them.
        for r in 0..resources {
            let list: Vec<String> = (0..urls / resources)
                .map(|i| format!("/assets/{}/file-{i}.js?v=3", i % 10))
                .collect();
            job.add_urls(r as i64 + 1, &list).expect("valid paths");
            drop(list);
            job.add_patterns(r as i64 + 1, &["/assets/7/*"]).unwrap();
        }
        ResourceIndex::default()
    };
    let build_ms = t.elapsed().as_millis();
    let rss_job = status_kib("VmRSS:");
    let t = Instant::now();
    let p = if case == "cachekey" {
        // As a run plans it: the job's storage shared with its caller, the cache-key forms
        // added beside it when some item changes (`plan_cache_keys`).
        let mut data = Arc::clone(job.data());
        plan_cache_keys(&mut data, &index, PlanLimits::default())
    } else if case == "cachekey-unshared" {
        let mut data = Arc::clone(job.data());
        drop(job);
        plan_cache_keys(&mut data, &index, PlanLimits::default())
    } else {
        plan(job.data(), &index, PlanLimits::default())
    };
    let plan_ms = t.elapsed().as_millis();
    let peak = status_kib("VmHWM:");
    println!(
        "{{\"case\":\"{case}\",\"urls\":{urls},\"resources\":{resources},\"build_ms\":{build_ms},\
         \"plan_ms\":{plan_ms},\"requests\":{},\"skipped\":{},\"rewritten\":{},\"rss_before_kib\":{rss_before},\
         \"rss_job_kib\":{rss_job},\"peak_kib\":{peak},\"input_bytes\":{input_bytes}}}",
        p.requests.len(),
        p.skipped.len(),
        p.rewritten.len()
    );
}
