//! `gcdn`: the command-line tool for deploy pipelines, on the Rust core directly.

mod args;
mod exit;
mod files;
mod input;
mod output;
mod progress;
mod purge;
mod resume;
mod signals;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{CommandFactory, Parser};
use gcdn::engine::log::{Level, Record};
use gcdn::engine::{CallSettings, CancelToken, Client, DeleteOptions, Error, Options, Status};
use serde_json::json;

use args::{Cli, Command, DeleteArgs, ListArgs, ManArgs};
use output::Out;

fn main() -> ExitCode {
    let cancel = Arc::new(CancelToken::new());
    signals::install(Arc::clone(&cancel));
    let cli = Cli::parse();
    let code = match &cli.command {
        Command::Purge(a) => purge::run(&cli, a, &cancel),
        Command::Delete(a) => delete(&cli, a, &cancel),
        Command::Resources(a) => resources(&cli, a, &cancel),
        Command::Limits(a) => limits(&cli, a, &cancel),
        Command::Completions(a) => {
            // Into memory first: clap_complete panics when its writer fails (a closed pipe).
            let mut script = Vec::new();
            clap_complete::generate(a.shell, &mut Cli::command(), "gcdn", &mut script);
            output::raw_line(String::from_utf8_lossy(&script).trim_end());
            exit::OK
        }
        Command::Man(a) => man(a),
    };
    ExitCode::from(code)
}

/// `gcdn man`: the page of gcdn (its options and commands) on standard output, or with
/// --dir, it and a page per command (gcdn-purge.1, ...) written there.
fn man(a: &ManArgs) -> u8 {
    let written = match &a.dir {
        Some(dir) => std::fs::create_dir_all(dir)
            .and_then(|()| clap_mangen::generate_to(Cli::command(), dir))
            .map_err(|e| format!("cannot write the manual pages into {}: {e}", dir.display())),
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut page)
                .map_err(|e| format!("cannot render the manual page: {e}"))
                .map(|()| output::raw_line(String::from_utf8_lossy(&page).trim_end()))
        }
    };
    match written {
        Ok(()) => exit::OK,
        Err(m) => {
            Out::new(false, false).error(&m);
            exit::FAILED
        }
    }
}

/// What a client is made of besides the key (which comes from `GCORE_API_KEY` only).
#[derive(Default)]
pub struct ClientSetup<'a> {
    /// --quiet: no warnings either.
    pub quiet: bool,
    pub rate_store: Option<&'a str>,
    pub purge_intervals: Option<(Duration, Duration)>,
    /// --no-coalesce.
    pub no_coalesce: bool,
}

/// A client from the environment's key and the command line's settings; the message of a
/// refusal (nothing was sent).
pub fn client(cli: &Cli, setup: &ClientSetup<'_>) -> Result<Client, String> {
    let mut options = Options::default();
    if let Some(url) = &cli.base_url {
        options.set_base_url(url).map_err(|e| e.message)?;
    }
    if let Some((url, pattern)) = setup.purge_intervals {
        options
            .set_purge_intervals(url, pattern)
            .map_err(|e| e.message)?;
    }
    if let Some(url) = setup.rate_store {
        set_rate_store(&mut options, url)?;
    }
    options.coalesce = !setup.no_coalesce;
    options
        .set_user_agent_suffix(concat!("gcdn-cli/", env!("CARGO_PKG_VERSION")))
        .map_err(|e| e.message)?;
    // -v / -vv, else GCDN_LOG, else warnings (a 429 met, a rate store that failed) unless
    // --quiet: records go through the CLI's stderr (above the progress bar), never the
    // library's own stderr writer. A GCDN_LOG the library cannot read is left to it, so that
    // it refuses it with its message.
    let env = std::env::var(gcdn::engine::log::ENV_LOG).ok();
    let level = match cli.verbose {
        0 => match env.as_deref().map(Level::parse) {
            Some(Some(level)) => Some(level),
            Some(None) => None,
            None if setup.quiet => None,
            None => Some(Level::Warn),
        },
        1 => Some(Level::Debug),
        _ => Some(Level::Trace),
    };
    if let Some(level) = level {
        options.set_log(
            Arc::new(|r: &Record<'_>| {
                output::eline(&format!("gcdn: {}: {}", r.level.as_str(), r.message))
            }),
            level,
        );
    }
    Client::new(None, &options).map_err(|e| e.message)
}

/// `--rate-store URL` (else the library reads `GCDN_RATE_STORE`): checked at once, the
/// message without the password.
fn set_rate_store(options: &mut Options, url: &str) -> Result<(), String> {
    options
        .set_rate_store(url)
        .map_err(|e| format!("--rate-store: {}", e.message))
}

/// Seconds from the command line as a duration; a usage error for a negative or absurd one.
pub fn seconds(flag: &str, value: f64) -> Result<Duration, String> {
    if !value.is_finite() || !(0.0..=365.0 * 86_400.0).contains(&value) {
        return Err(format!(
            "--{flag} must be a number of seconds from 0 to a year, got {value}"
        ));
    }
    Ok(Duration::from_secs_f64(value))
}

/// The exit code of an operation that failed as a whole (no report of steps).
fn failure_code(e: &Error) -> u8 {
    match e.status {
        _ if signals::interrupted() => signals::exit_code(),
        Status::InvalidArgument => exit::USAGE,
        _ => exit::FAILED,
    }
}

fn delete(cli: &Cli, a: &DeleteArgs, cancel: &Arc<CancelToken>) -> u8 {
    let out = Out::new(false, a.json);
    let timeout = match a.timeout.map(|t| seconds("timeout", t)).transpose() {
        Ok(t) => t,
        Err(m) => return out.usage(&m),
    };
    if let Some(bad) = a.ids.iter().find(|&&id| id <= 0) {
        return out.usage(&format!(
            "resource id {bad}: must be a positive integer; nothing was deleted"
        ));
    }
    let client = match client(cli, &ClientSetup::default()) {
        Ok(c) => c,
        Err(m) => return out.usage(&m),
    };
    let settings = CallSettings {
        timeout,
        cancel: Some(Arc::clone(cancel)),
        ..CallSettings::default()
    };
    let options = DeleteOptions {
        deactivate_first: a.deactivate_first,
        missing_ok: a.missing_ok,
    };
    let (mut done, mut failed) = (0usize, 0usize);
    for &id in &a.ids {
        if signals::interrupted() {
            break;
        }
        let (outcome, status, http_status, message) =
            match client.delete_resource_detailed(id, options, &settings) {
                Ok(d) if d.missing => ("missing", 0, d.http_status, None),
                Ok(d) => ("deleted", 0, d.http_status, None),
                Err(f) => (
                    "failed",
                    f.error.status.code(),
                    f.http_status,
                    Some(f.error.message),
                ),
            };
        if outcome == "failed" {
            failed += 1;
        } else {
            done += 1;
        }
        out.json_line(
            "delete",
            json!({"resource_id": id, "outcome": outcome, "status": status,
                   "http_status": http_status, "message": message}),
        );
        match &message {
            Some(m) => out.error(m),
            None if outcome == "missing" => {
                out.info(&format!("resource {id}: missing (nothing to delete)"))
            }
            None => out.info(&format!("resource {id}: deleted")),
        }
    }
    if signals::interrupted() {
        out.error(&format!(
            "interrupted: {done} of {} resources deleted or missing, {failed} failed",
            a.ids.len()
        ));
        return signals::exit_code();
    }
    match (done, failed) {
        (_, 0) => exit::OK,
        (0, _) => exit::FAILED,
        _ => exit::PARTIAL,
    }
}

/// What `resources` and `limits` start with: the output, a client, and settings that the
/// Ctrl-C token cancels; the exit code of a refused client.
fn reader(
    cli: &Cli,
    a: &ListArgs,
    cancel: &Arc<CancelToken>,
) -> Result<(Out, Client, CallSettings), u8> {
    let out = Out::new(false, a.json);
    let client = client(cli, &ClientSetup::default()).map_err(|m| out.usage(&m))?;
    let settings = CallSettings {
        timeout: None,
        cancel: Some(Arc::clone(cancel)),
        ..CallSettings::default()
    };
    Ok((out, client, settings))
}

fn resources(cli: &Cli, a: &ListArgs, cancel: &Arc<CancelToken>) -> u8 {
    let (out, client, settings) = match reader(cli, a, cancel) {
        Ok(parts) => parts,
        Err(code) => return code,
    };
    let listed = match client.list_resources(&settings) {
        Ok(l) => l,
        Err(e) => {
            out.error(&e.message);
            return failure_code(&e);
        }
    };
    if a.json {
        for r in &listed.resources {
            output::raw_line(
                &json!({
                    "id": r.id,
                    "cname": r.cname,
                    "secondaryHostnames": r.secondary_hostnames,
                    "active": r.active,
                    "deleted": r.deleted,
                    "can_purge_by_urls": r.can_purge_by_urls,
                })
                .to_string(),
            );
        }
    } else {
        let yes = |b: bool| if b { "yes" } else { "no" };
        output::raw_line(&format!(
            "{:>10}  {:<40}  {:<6}  {:<7}  {:<9}  SECONDARY HOSTNAMES",
            "ID", "CNAME", "ACTIVE", "DELETED", "URL PURGE"
        ));
        for r in &listed.resources {
            output::raw_line(&format!(
                "{:>10}  {:<40}  {:<6}  {:<7}  {:<9}  {}",
                r.id,
                r.cname,
                yes(r.active),
                yes(r.deleted),
                yes(r.can_purge_by_urls),
                r.secondary_hostnames.join(" ")
            ));
        }
    }
    if listed.malformed > 0 {
        out.error(&format!(
            "{} of the listing could not be read and are not shown",
            output::plural(listed.malformed as u64, "entry")
        ));
    }
    exit::OK
}

fn limits(cli: &Cli, a: &ListArgs, cancel: &Arc<CancelToken>) -> u8 {
    let (out, client, settings) = match reader(cli, a, cancel) {
        Ok(parts) => parts,
        Err(code) => return code,
    };
    let read = match client.read_limits(&settings) {
        Ok(l) => l,
        Err(e) => {
            out.error(&e.message);
            return failure_code(&e);
        }
    };
    if a.json {
        output::raw_line(&read.to_json().to_string());
    } else {
        let l = &read.limits;
        let raw = |field: &str| {
            read.raw
                .get(field)
                .map_or_else(|| "not given".to_owned(), |v| format!("{field} {v}"))
        };
        let lines = [
            format!(
                "URL purges:      {} per resource ({})",
                rate(l.urls),
                raw("purge_by_urls_request_limit")
            ),
            format!(
                "pattern purges:  {} per resource, purge-all included ({})",
                rate(l.patterns),
                raw("purge_request_limit")
            ),
            format!(
                "URLs per request:     {} ({})",
                l.max_urls,
                raw("purge_max_urls_limit")
            ),
            format!(
                "patterns per request: {} ({})",
                l.max_patterns,
                raw("purge_pattern_limit")
            ),
        ];
        for line in lines {
            output::raw_line(&line);
        }
    }
    for note in &read.notes {
        out.error(note);
    }
    exit::OK
}

/// `2 per 60.0 s`.
fn rate(w: gcdn::engine::Window) -> String {
    format!("{} per {}", w.requests, output::human(w.per))
}
