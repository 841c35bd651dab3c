//! `gcdn purge`: the items become one job, the job runs through the library's engine (plan,
//! pacing, progress, report, confirmation), and the report decides the exit code.

use std::sync::Arc;
use std::time::Duration;

use gcdn::engine::job::{Event, Job, Report, RunOptions};
use gcdn::engine::{CancelToken, Client, Error, Status};
use serde_json::Value;

use crate::args::{Cli, PurgeArgs};
use crate::exit;
use crate::output::{status_code, Out};
use crate::progress::Progress;
use crate::{input, seconds, signals};

pub fn run(cli: &Cli, a: &PurgeArgs, cancel: &Arc<CancelToken>) -> u8 {
    let out = Out::new(a.quiet, a.json);
    let job = match build_job(a) {
        Ok(job) => job,
        Err(m) => return out.usage(&m),
    };
    let mut options = RunOptions {
        dry_run: a.dry_run,
        cancel: Some(Arc::clone(cancel)),
        ..RunOptions::default()
    };
    match a.wait.map(|w| seconds("wait", w)).transpose() {
        Ok(w) => options.wait = w,
        Err(m) => return out.usage(&m),
    }
    match a.timeout.map(|t| seconds("timeout", t)).transpose() {
        Ok(t) => options.timeout = t,
        Err(m) => return out.usage(&m),
    }
    let client = match crate::client(cli, a.rate_store.as_deref()) {
        Ok(c) => c,
        Err(m) => return out.usage(&m),
    };
    let mut progress = Progress::new(&out, job.len());
    let (report, result) = client.run_job(&job, &options, &mut |event: &Event| {
        progress.event(event);
        true
    });
    progress.finish();
    finish(&out, report.as_ref(), result, a.dry_run, a.wait.is_some())
}

/// The job the arguments describe; a usage error (nothing sent) for anything wrong with them.
fn build_job(a: &PurgeArgs) -> Result<Job, String> {
    let items = input::gather(&a.items, a.from.as_deref())?;
    let mut job = Job::new();
    if a.all {
        if let Some(id) = a.resource {
            if !items.is_empty() {
                return Err(format!(
                    "--all --resource {id} purges everything of resource {id} and takes no items \
                     ({} given)",
                    items.len()
                ));
            }
            job.add_all(id).map_err(|e| e.message)?;
            return Ok(job);
        }
        if items.is_empty() {
            return Err("--all needs --resource ID or hosts given as https://HOST/; nothing was \
                        sent"
                .into());
        }
        job.add_all_hosts(&items).map_err(|e| e.message)?;
        return Ok(job);
    }
    if items.is_empty() {
        return Err(
            "no items given (arguments, --from FILE or --from -): nothing was sent. An empty list \
             never becomes a purge of everything; that is --all"
                .into(),
        );
    }
    match (a.resource, a.patterns) {
        (Some(id), false) => job.add_urls(id, &items),
        (Some(id), true) => job.add_patterns(id, &items),
        (None, false) => job.add_full_urls(&items),
        (None, true) => job.add_full_patterns(&items),
    }
    .map_err(|e| e.message)?;
    Ok(job)
}

/// Print the report's remains and turn it into the exit code.
fn finish(
    out: &Out,
    report: Option<&Report>,
    result: Result<(), Error>,
    dry_run: bool,
    waited: bool,
) -> u8 {
    let Some(report) = report else {
        // Refused before anything was planned (a bad key, a bad base URL, a listing the API
        // refused): nothing was sent.
        let e = result.expect_err("a run without a report failed");
        out.error(&e.message);
        return match e.status {
            Status::InvalidArgument => exit::USAGE,
            _ if signals::interrupted() => exit::INTERRUPTED,
            _ => exit::FAILED,
        };
    };
    let json: Value = serde_json::from_str(&report.to_json()).expect("the report's JSON");
    if out.json {
        // Requests were printed as they finished; a dry run prints its plan here.
        if dry_run {
            for r in json["requests"].as_array().into_iter().flatten() {
                out.json_line("request", r);
            }
        }
        for s in json["skipped"].as_array().into_iter().flatten() {
            out.json_line("skipped", s);
        }
        out.json_line("summary", &summary_fields(&json, &result));
    }
    if dry_run {
        print_plan(out, &json);
    } else {
        print_skipped(out, &json);
    }
    print_totals(out, &json, dry_run);
    if let Err(e) = &result {
        out.error(&e.message);
    }
    exit_code(&json, &result, dry_run, waited)
}

fn summary_fields(json: &Value, result: &Result<(), Error>) -> Value {
    let mut fields = json["totals"].clone();
    if let Value::Object(map) = &mut fields {
        let (status, message) = match result {
            Ok(()) => (0, None),
            Err(e) => (status_code(e.status), Some(e.message.clone())),
        };
        map.insert("status".into(), status.into());
        map.insert("message".into(), message.into());
        map.insert("dry_run".into(), json["dry_run"].clone());
        map.insert("interrupted".into(), signals::interrupted().into());
    }
    fields
}

/// The exit-code contract: 0 all purged (and confirmed), 1 nothing purged, 3 partly, 4 not
/// confirmed in time, 130 interrupted.
pub fn exit_code(json: &Value, result: &Result<(), Error>, dry_run: bool, waited: bool) -> u8 {
    if signals::interrupted() {
        return exit::INTERRUPTED;
    }
    let Err(error) = result else {
        return exit::OK;
    };
    let requests = json["requests"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let is = |r: &Value, outcome: &str| r["outcome"] == outcome;
    let done = |r: &Value| {
        (is(r, "purged") || (dry_run && is(r, "planned"))) && r["completion"] != "failed"
    };
    let good = requests.iter().filter(|r| done(r)).count();
    let unconfirmed = requests
        .iter()
        .filter(|r| r["completion"] == "in_progress")
        .count();
    let failed_skips = json["skipped"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| !matches!(s["reason"].as_str(), Some("duplicate" | "covered")))
        .count();
    let bad = requests.iter().filter(|r| !done(r)).count() + failed_skips;
    if waited && error.status == Status::Timeout && unconfirmed > 0 && bad == 0 {
        return exit::NOT_CONFIRMED;
    }
    if good == 0 || error.status == Status::InvalidArgument && bad == 0 {
        return exit::FAILED;
    }
    if bad == 0 && unconfirmed > 0 {
        return exit::NOT_CONFIRMED;
    }
    exit::PARTIAL
}

fn print_plan(out: &Out, json: &Value) {
    let requests = json["requests"].as_array().map(Vec::as_slice).unwrap_or(&[]);
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
        "plan (dry run, nothing sent): {} request(s) over {} resource(s)",
        requests.len(),
        per_resource.len()
    ));
    for (id, reqs, items) in per_resource {
        out.info(&format!(
            "  resource {id}: {reqs} request(s), {items} item(s)"
        ));
    }
    print_skipped(out, json);
}

fn print_skipped(out: &Out, json: &Value) {
    for s in json["skipped"].as_array().into_iter().flatten() {
        let item = s["item"].as_str().unwrap_or("");
        let reason = s["reason"].as_str().unwrap_or("");
        let why = match reason {
            "duplicate" => "a duplicate".to_owned(),
            "covered" => format!(
                "covered by {}",
                match s["by"].as_str() {
                    Some("all") => "the purge of everything".to_owned(),
                    Some(p) => format!("pattern {p}"),
                    None => "another item".to_owned(),
                }
            ),
            "no_resource" => "its host matches no CDN resource of the account".to_owned(),
            "inactive" => format!("resource {} is deleted or inactive", s["resource_id"]),
            "url_purge_disabled" => format!(
                "resource {} cannot purge by URL (can_purge_by_urls is false): purge a \
                 pattern instead",
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

fn print_totals(out: &Out, json: &Value, dry_run: bool) {
    let t = &json["totals"];
    let ms = |v: &Value| Duration::from_millis(v.as_u64().unwrap_or(0));
    if dry_run {
        out.info(&format!(
            "estimated time under the rate limits: {}",
            human(ms(&t["estimated_ms"]))
        ));
        return;
    }
    out.info(&format!(
        "{} of {} request(s) purged ({} item(s)), {} failed, {} not sent; {} rate-limit \
         answer(s) met; {}",
        t["purged"],
        t["requests"],
        t["items_purged"],
        t["failed"],
        t["not_sent"],
        t["rate_limited"],
        human(ms(&t["elapsed_ms"]))
    ));
}

/// `1 min 30 s`, `12.5 s`, `250 ms`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{} min {} s", s / 60, s % 60)
    } else if d >= Duration::from_secs(1) {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// `gcdn resources`: the account's resources with the API's field names.
pub fn list_resources(client: &Client) -> Result<Vec<Value>, Error> {
    let resources = client.list_resources()?;
    Ok(resources
        .iter()
        .map(|r| {
            serde_json::json!({
                "id": r.id,
                "cname": r.cname,
                "secondaryHostnames": r.secondary_hostnames,
                "active": r.active,
                "deleted": r.deleted,
                "can_purge_by_urls": r.can_purge_by_urls,
            })
        })
        .collect())
}

/// `gcdn limits`: the API's object as read, plus the rates gcdn derived from it.
pub fn read_limits(client: &Client) -> Result<Value, Error> {
    client.account_limits_json()
}
