//! `gcdn`: the command-line tool for deploy pipelines, on the Rust core directly.

mod args;
mod exit;
mod input;
mod output;
mod progress;
mod purge;
mod signals;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use gcdn::engine::{CancelToken, Client, DeleteOptions, Options, Status};

use args::{Cli, Command, DeleteArgs, ListArgs};
use output::Out;

fn main() -> ExitCode {
    let cancel = Arc::new(CancelToken::new());
    signals::install(Arc::clone(&cancel));
    let cli = Cli::parse();
    let code = match &cli.command {
        Command::Purge(a) => purge::run(&cli, a, &cancel),
        Command::Delete(a) => delete(&cli, a, &cancel),
        Command::Resources(a) => resources(&cli, a),
        Command::Limits(a) => limits(&cli, a),
    };
    ExitCode::from(code)
}

/// A client from the environment's key and the command line's settings; a message and the
/// exit code for a refusal.
pub fn client(cli: &Cli, rate_store: Option<&str>) -> Result<Client, String> {
    let mut options = Options::default();
    if let Some(url) = &cli.base_url {
        options.set_base_url(url).map_err(|e| e.message)?;
    }
    let _ = rate_store;
    options.set_user_agent_suffix(concat!("gcdn-cli/", env!("CARGO_PKG_VERSION")))
        .map_err(|e| e.message)?;
    Client::new(None, &options).map_err(|e| e.message)
}

/// Seconds from the command line as a duration; a usage error for a negative or absurd one.
pub fn seconds(flag: &str, value: f64) -> Result<Duration, String> {
    if !value.is_finite() || value < 0.0 || value > 365.0 * 86_400.0 {
        return Err(format!("--{flag} must be a number of seconds between 0 and a year"));
    }
    Ok(Duration::from_secs_f64(value))
}

fn delete(cli: &Cli, a: &DeleteArgs, cancel: &Arc<CancelToken>) -> u8 {
    let out = Out::new(false, a.json);
    let timeout = match a.timeout.map(|t| seconds("timeout", t)).transpose() {
        Ok(t) => t,
        Err(m) => return out.usage(&m),
    };
    if let Some(bad) = a.ids.iter().find(|&&id| id <= 0) {
        return out.usage(&format!("resource id {bad}: must be a positive integer"));
    }
    let client = match client(cli, None) {
        Ok(c) => c,
        Err(m) => return out.usage(&m),
    };
    let mut client = client.with_cancel(Arc::clone(cancel));
    if let Some(t) = timeout {
        client = client.with_call_timeout(t);
    }
    let options = DeleteOptions {
        deactivate_first: a.deactivate_first,
        // A 404 is told apart below, so that the output can say "missing".
        missing_ok: false,
    };
    let (mut done, mut failed) = (0usize, 0usize);
    for &id in &a.ids {
        if signals::interrupted() {
            break;
        }
        let result = client.delete_resource(id, options);
        let (outcome, status, message) = match &result {
            Ok(()) => ("deleted", 0, None),
            Err(e) if e.status == Status::NotFound && a.missing_ok => {
                ("missing", 0, Some(e.message.as_str()))
            }
            Err(e) => ("failed", output::status_code(e.status), Some(e.message.as_str())),
        };
        if outcome == "failed" {
            failed += 1;
        } else {
            done += 1;
        }
        let http_status = match &result {
            Ok(()) => Some(204),
            Err(e) => output::http_status_of(&e.message),
        };
        out.delete_line(id, outcome, status, http_status, message);
    }
    if signals::interrupted() {
        out.error(&format!(
            "interrupted: {done} of {} resources deleted",
            a.ids.len()
        ));
        return exit::INTERRUPTED;
    }
    match (done, failed) {
        (_, 0) => exit::OK,
        (0, _) => exit::FAILED,
        _ => exit::PARTIAL,
    }
}

fn resources(cli: &Cli, a: &ListArgs) -> u8 {
    let out = Out::new(false, a.json);
    let client = match client(cli, None) {
        Ok(c) => c,
        Err(m) => return out.usage(&m),
    };
    match purge::list_resources(&client) {
        Ok(list) => {
            out.resources(&list);
            exit::OK
        }
        Err(e) => {
            out.error(&e.message);
            exit::FAILED
        }
    }
}

fn limits(cli: &Cli, a: &ListArgs) -> u8 {
    let out = Out::new(false, a.json);
    let client = match client(cli, None) {
        Ok(c) => c,
        Err(m) => return out.usage(&m),
    };
    match purge::read_limits(&client) {
        Ok(v) => {
            out.limits(&v);
            exit::OK
        }
        Err(e) => {
            out.error(&e.message);
            exit::FAILED
        }
    }
}
