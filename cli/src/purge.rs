//! `gcdn purge`: the items become one job, the job runs through the library's engine (plan,
//! pacing, progress, report, confirmation), and the report decides the exit code.

use std::sync::Arc;
use std::time::Duration;

use gcdn::engine::job::plan::ResourceIndex;
use gcdn::engine::job::{
    parse_by_host, Flow, Given, Job, JobError, Report, RunOptions, Totals, MAX_ITEMS_PER_ADD,
};
use gcdn::engine::validate::{self, ItemKind};
use gcdn::engine::{CallSettings, CancelToken, Client};
use serde_json::Value;

use crate::args::{Cli, PurgeArgs};
use crate::files::Mapper;
use crate::input::{self, Item};
use crate::output::{human, plural, Out};
use crate::progress::Progress;
use crate::resume::Purged;
use crate::{exit, seconds, signals, ClientSetup};

pub fn run(cli: &Cli, a: &PurgeArgs, cancel: &Arc<CancelToken>) -> u8 {
    let out = Out::new(a.quiet, a.json);
    let wait = match a.wait.map(|w| seconds("wait", w)).transpose() {
        Ok(w) => w,
        Err(m) => return out.usage(&m),
    };
    let timeout = match a.timeout.map(|t| seconds("timeout", t)).transpose() {
        Ok(t) => t,
        Err(m) => return out.usage(&m),
    };
    let purge_intervals = match a.purge_intervals.as_deref().map(intervals).transpose() {
        Ok(i) => i,
        Err(m) => return out.usage(&m),
    };
    let purged = match Purged::read(&a.resume) {
        Ok(p) => p,
        Err(m) => return out.usage(&m),
    };
    let Prepared { job, unmapped } = match prepare(a) {
        Ok(p) => p,
        Err(m) => return out.usage(&m),
    };
    let setup = ClientSetup {
        quiet: a.quiet,
        rate_store: a.rate_store.as_deref(),
        purge_intervals,
        no_coalesce: a.no_coalesce,
    };
    let client = match crate::client(cli, &setup) {
        Ok(c) => c,
        Err(m) => return out.usage(&m),
    };
    let settings = CallSettings {
        timeout,
        cancel: Some(Arc::clone(cancel)),
        ..CallSettings::default()
    };
    let mut left_out = 0usize;
    let job = match job {
        Some(job) if !purged.is_empty() => match resume(a, &client, &settings, job, &purged) {
            Ok((job, n)) => {
                left_out = n;
                job
            }
            Err(Resumed::Usage(m)) => return out.usage(&m),
            Err(Resumed::Listing(e)) => return refused(&out, a, &e),
        },
        job => job,
    };
    if !a.resume.is_empty() {
        out.info(&format!(
            "--resume: left out {} that the earlier run purged",
            plural(left_out as u64, "item")
        ));
    }
    let extra = Extra {
        unmapped: &unmapped,
        resumed: (!a.resume.is_empty()).then_some(left_out),
    };
    let Some(job) = job else {
        return nothing_to_send(&out, a.dry_run, &extra);
    };
    let mut edges = Vec::with_capacity(a.edge.len());
    for url in &a.edge {
        match gcdn::engine::job::verify::parse_edge(url) {
            Ok(edge) => edges.push(edge),
            Err(e) => return refused(&out, a, &e),
        }
    }
    let verify = a.verify && !a.dry_run;
    let options = RunOptions {
        dry_run: a.dry_run,
        exact: a.exact,
        wait: if a.dry_run {
            None
        } else {
            wait.or(verify.then_some(gcdn::engine::job::verify::DEFAULT_VERIFY_WAIT))
        },
        settings,
        verify,
        verify_limit: a
            .verify_limit
            .map_or(gcdn::engine::job::verify::DEFAULT_VERIFY_LIMIT, |n| {
                n as usize
            }),
        edges,
        prefetch: a.prefetch,
        ..RunOptions::default()
    };
    let mut progress = Progress::new(out, options.wait.is_some(), a.dry_run);
    let result = client.run_job(
        &job,
        &options,
        Some(&mut |event: &gcdn::engine::job::Event| {
            progress.event(event);
            Flow::Continue
        }),
    );
    progress.finish_bar();
    let (report, error) = match result {
        Ok(report) => (report, None),
        Err(JobError {
            error,
            report: Some(report),
        }) => (*report, Some(error)),
        Err(JobError {
            error,
            report: None,
        }) => {
            // Refused before anything was planned (the listing of resources failed, the key
            // was refused, ...): nothing was sent.
            return refused(&out, a, &error);
        }
    };
    finish(
        &out,
        &mut progress,
        &report,
        error.as_ref().map(|e| &e.message),
        options.wait.is_some(),
        &extra,
    )
}

/// The run stopped before anything was sent: the message, the summary line, the exit code.
fn refused(out: &Out, a: &PurgeArgs, error: &gcdn::engine::Error) -> u8 {
    out.error(&error.message);
    let code = crate::failure_code(error);
    out.json_line(
        "summary",
        serde_json::json!({
            "status": error.status.code(),
            "message": error.message,
            "dry_run": a.dry_run,
            "interrupted": signals::interrupted(),
            "exit_code": code,
        }),
    );
    code
}

/// What the CLI adds to the engine's report: files under no --map prefix, and how many
/// items --resume left out.
struct Extra<'a> {
    unmapped: &'a [String],
    resumed: Option<usize>,
}

impl Extra<'_> {
    /// The `skipped` lines of the unmapped files, in the form of the engine's.
    fn skipped(&self) -> Vec<Value> {
        self.unmapped
            .iter()
            .map(|path| {
                serde_json::json!({"item": path, "resource_id": null, "reason": "unmapped",
                                   "given": "file"})
            })
            .collect()
    }

    /// Into the summary line: the unmapped files among `skipped`, `already_purged`.
    fn add_to(&self, summary: &mut Value) {
        if let Value::Object(m) = summary {
            let skipped = m.get("skipped").and_then(Value::as_u64).unwrap_or(0);
            m.insert(
                "skipped".into(),
                (skipped + self.unmapped.len() as u64).into(),
            );
            if let Some(n) = self.resumed {
                m.insert("already_purged".into(), n.into());
            }
        }
    }
}

/// Every item was left out before the run (unmapped files, or purged by the earlier run):
/// nothing to send, which is success.
fn nothing_to_send(out: &Out, dry_run: bool, extra: &Extra<'_>) -> u8 {
    let skipped = extra.skipped();
    for s in &skipped {
        out.json_line("skipped", s.clone());
    }
    let mut summary = serde_json::to_value(Totals::default()).unwrap_or(Value::Null);
    extra.add_to(&mut summary);
    if let Value::Object(m) = &mut summary {
        m.insert("status".into(), 0.into());
        m.insert("message".into(), Value::Null);
        m.insert("dry_run".into(), dry_run.into());
        m.insert("interrupted".into(), false.into());
        m.insert("exit_code".into(), exit::OK.into());
    }
    out.json_line("summary", summary);
    print_skipped(out, &skipped);
    out.info("nothing to purge: every item was left out");
    exit::OK
}

enum Resumed {
    Usage(String),
    Listing(gcdn::engine::Error),
}

/// `job` without the items `purged` holds, and how many were left out; `None` when none is
/// left. Items given by host are matched to their resource through the account's listing
/// (read once here, as the run reads it).
fn resume(
    a: &PurgeArgs,
    client: &Client,
    settings: &CallSettings,
    job: Job,
    purged: &Purged,
) -> Result<(Option<Job>, usize), Resumed> {
    let data = Arc::clone(job.data());
    let index = if data.entries().iter().any(|e| e.given.by_host()) {
        let listed = client.list_resources(settings).map_err(Resumed::Listing)?;
        ResourceIndex::new(listed.resources)
    } else {
        ResourceIndex::default()
    };
    let keep: Vec<usize> = (0..data.entries().len())
        .filter(|&i| !purged.contains(&data, i, |h| index.resource_of_host(h)))
        .collect();
    let left_out = data.entries().len() - keep.len();
    if keep.is_empty() {
        return Ok((None, left_out));
    }
    if left_out == 0 {
        return Ok((Some(job), 0));
    }
    // Each entry holds one item of the list as given (after --map), in order.
    let texts: Vec<&str> = keep
        .iter()
        .map(|&i| data.given_text(&data.entries()[i]))
        .collect();
    let job = job_of(a, &texts).map_err(Resumed::Usage)?;
    Ok((Some(job), left_out))
}

/// `URL_SECONDS,PATTERN_SECONDS` (or one number for both).
fn intervals(text: &str) -> Result<(Duration, Duration), String> {
    let parse = |s: &str| {
        s.trim()
            .parse::<f64>()
            .map_err(|_| {
                format!("--purge-intervals takes URL_SECONDS,PATTERN_SECONDS, got {text:?}")
            })
            .and_then(|v| seconds("purge-intervals", v))
            .and_then(|d| {
                if d.is_zero() {
                    Err("--purge-intervals must be greater than zero".to_owned())
                } else {
                    Ok(d)
                }
            })
    };
    match text.split_once(',') {
        Some((u, p)) => Ok((parse(u)?, parse(p)?)),
        None => {
            let d = parse(text)?;
            Ok((d, d))
        }
    }
}

/// The job the arguments describe (`None`: every item is an unmapped file) and the files
/// under no --map prefix; a usage error (nothing sent) for anything wrong with them.
struct Prepared {
    job: Option<Job>,
    unmapped: Vec<String>,
}

fn prepare(a: &PurgeArgs) -> Result<Prepared, String> {
    let mapper = if a.map.is_empty() {
        None
    } else {
        Some(Mapper::new(&a.map, &a.index, !a.no_index_aliases)?)
    };
    let mut gathered = input::gather(&a.items, a.from.as_deref())?;
    if a.all {
        if let Some(id) = a.resource {
            if !gathered.items.is_empty() {
                return Err(format!(
                    "--all --resource {id} purges everything of resource {id} and takes no \
                     item ({} given); nothing was sent",
                    gathered.items.len()
                ));
            }
            return Ok(Prepared {
                job: Some(job_of(a, &[])?),
                unmapped: Vec::new(),
            });
        }
        if gathered.items.is_empty() {
            return Err(
                "--all needs --resource ID or hosts given as https://HOST/; nothing was sent"
                    .into(),
            );
        }
    } else if gathered.items.is_empty() {
        return Err(
            "no items given (arguments, --from FILE or --from -): nothing was sent. An empty \
             list is never a purge of everything; that is --all"
                .into(),
        );
    }
    let mut unmapped = Vec::new();
    if let Some(mapper) = &mapper {
        // Each file becomes its URLs, each keeping the file's place for messages.
        let mut urls = Vec::with_capacity(gathered.items.len());
        for item in gathered.items.drain(..) {
            match mapper.urls(&item.text) {
                Some(mapped) => urls.extend(mapped.into_iter().map(|text| Item {
                    text,
                    ..item.clone()
                })),
                None => unmapped.push(item.text),
            }
        }
        gathered.items = urls;
        if gathered.items.is_empty() {
            return Ok(Prepared {
                job: None,
                unmapped,
            });
        }
    }
    let items = &gathered.items;
    // Each item is checked with its place (the argument or the line) before any is added.
    let check = |item: &Item| -> gcdn::engine::Result<()> {
        let n = item.number;
        match (a.resource, a.patterns, a.all) {
            (Some(_), false, _) => validate::item(ItemKind::Url, n, &item.text),
            (Some(_), true, _) => validate::item(ItemKind::Pattern, n, &item.text),
            (None, false, false) => parse_by_host(n, &item.text, Given::FullUrl).map(drop),
            (None, true, _) => parse_by_host(n, &item.text, Given::FullPattern).map(drop),
            (None, false, true) => parse_by_host(n, &item.text, Given::FullAll).map(drop),
        }
    };
    for item in items {
        if let Err(e) = check(item) {
            let hint =
                if a.resource.is_none() && item.text.starts_with('/') && !a.all && mapper.is_none()
                {
                    " (a path: give its resource with --resource ID, or the full https:// URL)"
                } else {
                    ""
                };
            return Err(format!(
                "{}: {}{hint}; nothing was sent",
                gathered.origin(item),
                e.message
            ));
        }
    }
    let texts: Vec<&str> = items.iter().map(|i| i.text.as_str()).collect();
    Ok(Prepared {
        job: Some(job_of(a, &texts)?),
        unmapped,
    })
}

/// The job of `texts` (checked already) in the mode the arguments say; `--all --resource`
/// takes none.
fn job_of(a: &PurgeArgs, texts: &[&str]) -> Result<Job, String> {
    let mut job = Job::new();
    if let (true, Some(id)) = (a.all, a.resource) {
        job.add_all(id).map_err(|e| e.message)?;
        return Ok(job);
    }
    for chunk in texts.chunks(MAX_ITEMS_PER_ADD) {
        match (a.resource, a.patterns, a.all) {
            (Some(id), false, _) => job.add_urls(id, chunk),
            (Some(id), true, _) => job.add_patterns(id, chunk),
            (None, false, false) => job.add_full_urls(chunk),
            (None, true, _) => job.add_full_patterns(chunk),
            (None, false, true) => job.add_all_hosts(chunk),
        }
        .map_err(|e| format!("{}; nothing was sent", e.message))?;
    }
    Ok(job)
}

/// Print what the events did not (the plan of a dry run, requests never answered, the skipped
/// items, the totals) and turn the report into the exit code.
fn finish(
    out: &Out,
    progress: &mut Progress,
    report: &Report,
    error: Option<&String>,
    waited: bool,
    extra: &Extra<'_>,
) -> u8 {
    let json: Value = serde_json::from_str(&report.to_json()).unwrap_or(Value::Null);
    let interrupted = signals::interrupted();
    let code = if interrupted {
        signals::exit_code()
    } else {
        exit::of_report(report, waited)
    };
    let requests = json["requests"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let mut skipped = json["skipped"].as_array().cloned().unwrap_or_default();
    skipped.extend(extra.skipped());
    // JSON: every request not printed yet (all of a dry run's), the skipped items, the summary.
    for (i, r) in requests.iter().enumerate() {
        progress.request_line(i, r);
    }
    let rewritten = json["rewritten"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let warnings = json["warnings"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    for r in rewritten {
        out.json_line("rewritten", r.clone());
    }
    for w in warnings {
        out.json_line("warning", w.clone());
    }
    for s in &skipped {
        out.json_line("skipped", s.clone());
    }
    for v in json["verified"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        out.json_line("verify", v.clone());
    }
    for p in json["prefetched"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        out.json_line("prefetch", p.clone());
    }
    let mut summary = json["totals"].clone();
    extra.add_to(&mut summary);
    if let Value::Object(m) = &mut summary {
        m.insert("status".into(), json["status"].clone());
        m.insert("message".into(), json["message"].clone());
        m.insert("dry_run".into(), report.dry_run.into());
        m.insert("interrupted".into(), interrupted.into());
        m.insert("exit_code".into(), code.into());
        if !report.verified.is_empty() {
            let t = &report.totals;
            m.insert(
                "verified".into(),
                serde_json::json!({"fresh": t.verified_fresh, "stale": t.verified_stale,
                                   "error": t.verified_error}),
            );
        }
    }
    out.json_line("summary", summary);
    // Human lines: each URL not fresh, and each prefetch that was not accepted.
    for v in &report.verified {
        if v.result != gcdn::engine::job::verify::Verdict::Fresh {
            out.info(&format!(
                "{} at the edge: {}{}",
                v.result.as_str(),
                v.url,
                v.message
                    .as_deref()
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default()
            ));
        }
    }
    if !report.verified.is_empty() {
        let t = &report.totals;
        out.info(&format!(
            "verified at the edge: {} fresh, {} stale, {} error",
            t.verified_fresh, t.verified_stale, t.verified_error
        ));
    }
    for p in &report.prefetched {
        match &p.message {
            Some(m) => out.error(&format!(
                "prefetch of {} on resource {}: {m}",
                plural(p.items.len() as u64, "path"),
                p.resource_id
            )),
            None => out.info(&format!(
                "prefetch of {} on resource {}: accepted",
                plural(p.items.len() as u64, "path"),
                p.resource_id
            )),
        }
    }

    // Human lines.
    for w in warnings {
        out.error(&format!("warning: {}", w["message"].as_str().unwrap_or("")));
    }
    for r in rewritten {
        let by = match r["by"].as_str() {
            Some(by) => match r["rule_id"].as_i64() {
                Some(rule) => format!("{by} of rule {rule}"),
                None => by.to_owned(),
            },
            None => "parameter order".to_owned(),
        };
        out.info(&format!(
            "cache key {} -> {} (resource {}, {by})",
            r["item"].as_str().unwrap_or(""),
            r["as"].as_str().unwrap_or(""),
            r["resource_id"]
        ));
    }
    if report.dry_run {
        print_plan(out, requests);
    }
    print_skipped(out, &skipped);
    let unsent = requests
        .iter()
        .filter(|r| r["outcome"] == "not_sent")
        .count();
    if unsent > 0 && !report.dry_run {
        out.error(&format!(
            "{} not sent{}",
            plural(unsent as u64, "request"),
            if interrupted { ": interrupted" } else { "" }
        ));
    }
    print_totals(out, report, waited, extra.unmapped.len() as u64);
    if let Some(message) = error {
        if !interrupted {
            out.error(message);
        }
    }
    if interrupted {
        out.error("interrupted: nothing more was sent");
    }
    code
}

fn print_plan(out: &Out, requests: &[Value]) {
    let mut per_resource: Vec<(i64, usize, usize)> = Vec::new();
    for r in requests {
        let id = r["resource_id"].as_i64().unwrap_or(0);
        let n = r["items"].as_array().map_or(0, Vec::len);
        match per_resource.iter_mut().find(|(rid, _, _)| *rid == id) {
            Some(entry) => {
                entry.1 += 1;
                entry.2 += n;
            }
            None => per_resource.push((id, 1, n)),
        }
    }
    out.info(&format!(
        "plan (dry run, nothing sent): {} over {}",
        plural(requests.len() as u64, "request"),
        plural(per_resource.len() as u64, "resource")
    ));
    for (id, reqs, items) in per_resource {
        out.info(&format!(
            "  resource {id}: {}, {}",
            plural(reqs as u64, "request"),
            plural(items as u64, "item")
        ));
    }
}

fn print_skipped(out: &Out, skipped: &[Value]) {
    for s in skipped {
        let item = s["item"].as_str().unwrap_or("");
        let reason = s["reason"].as_str().unwrap_or("");
        let why = match reason {
            "duplicate" => "a duplicate".to_owned(),
            "unmapped" => "under no --map prefix (not CDN content)".to_owned(),
            "covered" => match s["by"].as_str() {
                Some("all") => "covered by the purge of everything".to_owned(),
                Some(p) => format!("covered by pattern {p}"),
                None => "covered by another item".to_owned(),
            },
            "no_resource" => "its host matches no CDN resource of the account".to_owned(),
            "inactive" => format!("resource {} is deleted or inactive", s["resource_id"]),
            "url_purge_disabled" => format!(
                "resource {} cannot purge by URL (can_purge_by_urls is false): purge a pattern \
                 instead",
                s["resource_id"]
            ),
            other => other.to_owned(),
        };
        if matches!(reason, "duplicate" | "covered" | "unmapped") {
            out.info(&format!("skipped {item}: {why}"));
        } else {
            out.error(&format!("not sent {item}: {why}"));
        }
    }
}

/// The totals line; `unmapped` files count among the skipped.
fn print_totals(out: &Out, report: &Report, waited: bool, unmapped: u64) {
    let t = &report.totals;
    if report.dry_run {
        out.info(&format!(
            "estimated time under the rate limits: {}",
            human(Duration::from_millis(t.estimated_ms))
        ));
        return;
    }
    let confirmed = if waited {
        format!(", {} confirmed", t.confirmed)
    } else {
        String::new()
    };
    out.info(&format!(
        "{} of {} purged ({}){confirmed}, {} failed, {} not sent, {} skipped; {} met; {}",
        t.purged,
        plural(t.requests, "request"),
        plural(t.items_purged, "item"),
        t.failed,
        t.not_sent,
        t.skipped + unmapped,
        plural(t.rate_limited, "rate-limit answer"),
        human(Duration::from_millis(t.elapsed_ms))
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_take_one_or_two_numbers() {
        let s = Duration::from_secs_f64;
        assert_eq!(intervals("0.2,0.5").unwrap(), (s(0.2), s(0.5)));
        assert_eq!(intervals("30").unwrap(), (s(30.0), s(30.0)));
        assert!(intervals("0,1").unwrap_err().contains("greater than zero"));
        assert!(intervals("a,b")
            .unwrap_err()
            .contains("URL_SECONDS,PATTERN_SECONDS"));
        assert!(intervals("-1").is_err());
    }
}
