//! Progress on stderr while a job runs: a bar on a terminal, plain lines otherwise, nothing
//! with --quiet. With --json, each finished request is also a JSON line on stdout.

use std::io::IsTerminal;
use std::time::Duration;

use gcdn::engine::job::Event;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::output::Out;
use crate::purge::human;

pub struct Progress<'a> {
    out: &'a Out,
    bar: Option<ProgressBar>,
}

impl<'a> Progress<'a> {
    pub fn new(out: &'a Out, _items: usize) -> Progress<'a> {
        let bar = (!out.quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} requests {msg}",
                )
                .expect("a valid template"),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress { out, bar }
    }

    /// One event of the run, on the thread that runs it.
    pub fn event(&mut self, event: &Event) {
        if self.out.json {
            if let Some(fields) = event.finished_request_json() {
                self.out.json_line("request", &fields);
            }
        }
        let line = event.describe();
        match &self.bar {
            Some(bar) => {
                let t = event.totals();
                bar.set_length(t.requests as u64);
                bar.set_position((t.purged + t.failed + t.not_sent) as u64);
                if let Some(wait) = event.wait() {
                    bar.set_message(format!("(waiting {} for a rate-limit slot)", human(wait)));
                } else {
                    bar.set_message(String::new());
                }
                if event.is_failure() {
                    bar.println(line);
                }
            }
            None if event.is_failure() => self.out.error(&line),
            None => self.out.info(&line),
        }
    }

    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
