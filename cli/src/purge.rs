//! `gcdn purge`: the items become one job, the job runs through the library's engine (plan,
//! pacing, progress, report, confirmation), and the report decides the exit code.

use std::sync::Arc;
use std::time::Duration;

use gcdn::engine::job::{
    parse_by_host, Flow, Given, Job, JobError, Report, RunOptions, MAX_ITEMS_PER_ADD,
};
use gcdn::engine::validate::{self, ItemKind};
use gcdn::engine::{CallSettings, CancelToken};
use serde_json::Value;

use crate::args::{Cli, PurgeArgs};
use crate::input::{self, Item};
use crate::output::{human, plural, Out};
use crate::progress::Progress;
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
    let job = match build_job(a) {
        Ok(job) => job,
        Err(m) => return out.usage(&m),
    };
    let setup = ClientSetup {
        quiet: a.quiet,
        rate_store: a.rate_store.as_deref(),
        purge_intervals,
    };
    let client = match crate::client(cli, &setup) {
        Ok(c) => c,
        Err(m) => return out.usage(&m),
    };
    let options = RunOptions {
        dry_run: a.dry_run,
        wait: if a.dry_run { None } else { wait },
        settings: CallSettings {
            timeout,
            cancel: Some(Arc::clone(cancel)),
            ..CallSettings::default()
        },
        ..RunOptions::default()
    };
    let mut progress = Progress::new(out, &job, options.wait.is_some(), a.dry_run);
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
            out.error(&error.message);
            let code = crate::failure_code(&error);
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
            return code;
        }
    };
    finish(
        &out,
        &mut progress,
        &report,
        error.as_ref().map(|e| &e.message),
        options.wait.is_some(),
    )
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

/// The job the arguments describe; a usage error (nothing sent) for anything wrong with them.
fn build_job(a: &PurgeArgs) -> Result<Job, String> {
    let gathered = input::gather(&a.items, a.from.as_deref())?;
    let items = &gathered.items;
    let mut job = Job::new();
    if a.all {
        if let Some(id) = a.resource {
            if !items.is_empty() {
                return Err(format!(
                    "--all --resource {id} purges everything of resource {id} and takes no \
                     item ({} given); nothing was sent",
                    items.len()
                ));
            }
            job.add_all(id).map_err(|e| e.message)?;
            return Ok(job);
        }
        if items.is_empty() {
            return Err(
                "--all needs --resource ID or hosts given as https://HOST/; nothing was sent"
                    .into(),
            );
        }
    } else if items.is_empty() {
        return Err(
            "no items given (arguments, --from FILE or --from -): nothing was sent. An empty \
             list is never a purge of everything; that is --all"
                .into(),
        );
    }
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
            let hint = if a.resource.is_none() && item.text.starts_with('/') && !a.all {
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
    progress: &mut Progress<'_>,
    report: &Report,
    error: Option<&String>,
    waited: bool,
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
    let skipped = json["skipped"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    // JSON: every request not printed yet (all of a dry run's), the skipped items, the summary.
    for (i, r) in requests.iter().enumerate() {
        progress.request_line(i, r);
    }
    for s in skipped {
        out.json_line("skipped", s.clone());
    }
    let mut summary = json["totals"].clone();
    if let Value::Object(m) = &mut summary {
        m.insert("status".into(), json["status"].clone());
        m.insert("message".into(), json["message"].clone());
        m.insert("dry_run".into(), report.dry_run.into());
        m.insert("interrupted".into(), interrupted.into());
        m.insert("exit_code".into(), code.into());
    }
    out.json_line("summary", summary);

    // Human lines.
    if report.dry_run {
        print_plan(out, requests);
    }
    print_skipped(out, skipped);
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
    print_totals(out, report, waited);
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
        if matches!(reason, "duplicate" | "covered") {
            out.info(&format!("skipped {item}: {why}"));
        } else {
            out.error(&format!("not sent {item}: {why}"));
        }
    }
}

fn print_totals(out: &Out, report: &Report, waited: bool) {
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
        t.skipped,
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
