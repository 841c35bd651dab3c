//! Progress while a job runs, from the run's events (delivered one at a time on the thread
//! that runs it): a bar on a terminal, plain lines otherwise, nothing with --quiet but
//! failures. With --json, each request is a JSON line on stdout once it is finished (answered
//! or failed; with --wait, once its purge status is final or it failed), exactly once.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use gcdn::engine::job::{Completion, Event, EventKind};
use gcdn::engine::WaitReason;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

use crate::output::{self, human, plural, Out};

/// Waits shorter than this are not worth a line.
const WAIT_WORTH_A_LINE: Duration = Duration::from_secs(1);

pub struct Progress {
    out: Out,
    bar: Option<ProgressBar>,
    /// Requests already printed as JSON lines, by index.
    printed: Vec<bool>,
    waiting: bool,
    dry_run: bool,
    /// Requests waiting (a rate-limit slot, a retry): their index, resource, when the wait
    /// ends and why; the bar counts the first to end down, on every event (the run's tick
    /// events come every 50 ms when nothing else happens).
    waits: Vec<Wait>,
}

struct Wait {
    request: usize,
    resource_id: i64,
    until: Instant,
    why: Option<WaitReason>,
}

impl Progress {
    pub fn new(out: Out, waiting: bool, dry_run: bool) -> Progress {
        let bar = (!out.quiet && !dry_run && std::io::stderr().is_terminal()).then(|| {
            // A spinner while the resources are listed and the job planned; the bar once the
            // number of requests is known.
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}") {
                bar.set_style(style);
            }
            bar.set_message("planning");
            bar.enable_steady_tick(Duration::from_millis(200));
            output::set_bar(Some(bar.clone()));
            bar
        });
        Progress {
            out,
            bar,
            printed: Vec::new(),
            waiting,
            dry_run,
            waits: Vec::new(),
        }
    }

    /// With --json: request `i`'s line, unless it was printed already.
    pub fn request_line(&mut self, i: usize, fields: &Value) {
        if self.printed.len() <= i {
            self.printed.resize(i + 1, false);
        }
        if !std::mem::replace(&mut self.printed[i], true) {
            self.out.json_line("request", fields.clone());
        }
    }

    /// One event of the run.
    pub fn event(&mut self, e: &Event) {
        self.track_waits(e);
        // A request is finished when answered or failed; with --wait, when its purge status
        // is final (or it failed). Those still unconfirmed when the wait ends, and those
        // never sent, are printed from the report at the end.
        let finished = match e.kind {
            EventKind::Failed | EventKind::Confirmed => true,
            EventKind::Answered => !self.waiting,
            _ => false,
        };
        if finished && self.out.json && !self.dry_run {
            if let (Some(i), Some(r)) = (e.request, &e.finished) {
                self.request_line(i, r);
            }
        }
        let t = &e.totals;
        let n = e.request.map_or(0, |i| i + 1);
        let what = || {
            let items = if e.items > 0 {
                format!(", {}", plural(e.items as u64, "item"))
            } else {
                String::new()
            };
            format!(
                "request {n} of {} (resource {}, {}{items})",
                t.requests,
                e.resource_id.unwrap_or(0),
                e.purge_kind.map_or("?", |k| k.as_str()),
            )
        };
        let (line, failure) = match e.kind {
            EventKind::Sent => (None, false),
            EventKind::Answered => (
                Some(format!(
                    "{}: purged (HTTP {})",
                    what(),
                    e.http_status.unwrap_or(0)
                )),
                false,
            ),
            EventKind::Failed => (
                Some(format!(
                    "{} failed: {}",
                    what(),
                    e.message.as_deref().unwrap_or("no message")
                )),
                true,
            ),
            EventKind::Retry => (
                Some(format!(
                    "{}: retrying after: {}",
                    what(),
                    e.message.as_deref().unwrap_or("a failed attempt")
                )),
                false,
            ),
            EventKind::Wait if e.wait >= WAIT_WORTH_A_LINE => (
                Some(format!(
                    "waiting {} on resource {} ({})",
                    human(e.wait),
                    e.resource_id
                        .map_or_else(|| "-".to_owned(), |r| r.to_string()),
                    e.why.map_or("", |w| w.as_str())
                )),
                false,
            ),
            EventKind::Wait | EventKind::Tick => (None, false),
            EventKind::ConfirmPoll => (
                e.message.as_ref().map(|m| format!("confirming: {m}")),
                e.status.is_some(),
            ),
            EventKind::Confirmed => match e.completion {
                Some(Completion::Failed) => (
                    Some(format!("{}: the purge status says Failed", what())),
                    true,
                ),
                Some(c) => (Some(format!("{}: {}", what(), c.as_str())), false),
                None => (None, false),
            },
        };
        if let Some(bar) = &self.bar {
            if bar.length().is_none() {
                if let Ok(style) = ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} requests {msg}",
                ) {
                    bar.set_style(style);
                }
                bar.set_message(String::new());
            }
            bar.set_length(t.requests);
            bar.set_position((t.purged + t.failed).min(t.requests));
            bar.set_message(match self.waits.iter().min_by_key(|w| w.until) {
                Some(w) => wait_message(w, self.waits.len() - 1),
                None if self.waiting => format!("({} of {} confirmed)", t.confirmed, t.purged),
                None => String::new(),
            });
        }
        match line {
            Some(line) if failure => self.out.error(&line),
            // With a bar, only failures get a line: the bar tells the rest.
            Some(line) if self.bar.is_none() => self.out.info(&line),
            _ => {}
        }
    }

    /// Keep `waits` up to date: a wait worth a line begins; a request that went on (answered,
    /// failed, retried, confirmed) waits no more; a wait whose time is up is over.
    fn track_waits(&mut self, e: &Event) {
        let now = Instant::now();
        if let Some(i) = e.request {
            if !matches!(e.kind, EventKind::Sent | EventKind::Tick) {
                self.waits.retain(|w| w.request != i);
            }
            if e.kind == EventKind::Wait && e.wait >= WAIT_WORTH_A_LINE {
                self.waits.push(Wait {
                    request: i,
                    resource_id: e.resource_id.unwrap_or(0),
                    until: now + e.wait,
                    why: e.why,
                });
            }
        }
        self.waits.retain(|w| w.until > now);
    }

    pub fn finish_bar(&mut self) {
        if let Some(bar) = self.bar.take() {
            output::set_bar(None);
            bar.finish_and_clear();
        }
    }
}

/// `(resource 7 waits 42 s for a rate-limit slot)`, counted down in whole seconds (rounded
/// up: 0 s is never shown while it still waits), and how many others wait too.
fn wait_message(w: &Wait, others: usize) -> String {
    let left = w.until.saturating_duration_since(Instant::now());
    let why = match w.why {
        Some(WaitReason::RateLimited | WaitReason::RetryAfter) => "after a 429 answer",
        Some(WaitReason::Backoff) => "before a retry",
        _ => "for a rate-limit slot",
    };
    let more = if others > 0 {
        format!("; {others} more waiting")
    } else {
        String::new()
    };
    format!(
        "(resource {} waits {} {why}{more})",
        w.resource_id,
        countdown(left)
    )
}

/// `1 min 1 s`, `42 s`: whole seconds, rounded up.
fn countdown(d: Duration) -> String {
    let s = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    if s >= 60 {
        format!("{} min {} s", s / 60, s % 60)
    } else {
        format!("{s} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countdowns_round_up_to_whole_seconds() {
        assert_eq!(countdown(Duration::from_millis(61_000)), "1 min 1 s");
        assert_eq!(countdown(Duration::from_millis(60_001)), "1 min 1 s");
        assert_eq!(countdown(Duration::from_millis(41_200)), "42 s");
        assert_eq!(countdown(Duration::from_millis(1)), "1 s");
        let w = Wait {
            request: 0,
            resource_id: 7,
            until: Instant::now() + Duration::from_millis(41_500),
            why: Some(WaitReason::Pacer),
        };
        assert_eq!(
            wait_message(&w, 0),
            "(resource 7 waits 42 s for a rate-limit slot)"
        );
        assert!(wait_message(&w, 2).ends_with("; 2 more waiting)"));
    }
}
