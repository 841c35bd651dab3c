//! What the CLI prints. Human lines go to stderr (nothing but errors with --quiet), through
//! the progress bar when one is drawn so that lines and bar do not mix; with --json, standard
//! output is JSON Lines. Nothing printed here can hold the API key: the library redacts it
//! from every message and log record it makes, and the CLI prints only those, the report and
//! what the API listed.

use std::io::Write;
use std::sync::Mutex;

use indicatif::ProgressBar;
use serde_json::{Map, Value};

/// The progress bar being drawn, if any: every stderr line goes above it.
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Draw stderr lines above `bar` from now on (`None`: straight to stderr again).
pub fn set_bar(bar: Option<ProgressBar>) {
    *BAR.lock().unwrap_or_else(|p| p.into_inner()) = bar;
}

/// One line on stderr (above the bar, if one is drawn); one write, so that lines of several
/// threads (log records) do not mix.
pub fn eline(line: &str) {
    let bar = BAR.lock().unwrap_or_else(|p| p.into_inner()).clone();
    match bar {
        Some(bar) => bar.println(line),
        None => {
            let mut text = String::with_capacity(line.len() + 1);
            text.push_str(line);
            text.push('\n');
            let _ = std::io::stderr().lock().write_all(text.as_bytes());
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Out {
    pub quiet: bool,
    pub json: bool,
}

impl Out {
    pub fn new(quiet: bool, json: bool) -> Out {
        Out { quiet, json }
    }

    /// A usage or input error: nothing was sent.
    pub fn usage(&self, message: &str) -> u8 {
        self.error(message);
        crate::exit::USAGE
    }

    /// An error: always shown.
    pub fn error(&self, message: &str) {
        eline(&format!("gcdn: {message}"));
    }

    /// A human line on stderr, unless --quiet.
    pub fn info(&self, line: &str) {
        if !self.quiet {
            eline(line);
        }
    }

    /// With --json: `{"type": kind, ...fields}` on a line of standard output, flushed so that
    /// a reader sees it at once.
    pub fn json_line(&self, kind: &str, fields: Value) {
        if !self.json {
            return;
        }
        let mut object = Map::new();
        object.insert("type".into(), Value::from(kind));
        if let Value::Object(f) = fields {
            object.extend(f);
        }
        raw_line(&Value::Object(object).to_string());
    }
}

/// A line on standard output, flushed. A closed pipe (`| head`) is not worth a panic: the exit
/// code still tells.
pub fn raw_line(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

/// `1 min 30 s`, `12.5 s`, `250 ms`.
pub fn human(d: std::time::Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{} min {} s", s / 60, s % 60)
    } else if d >= std::time::Duration::from_secs(1) {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// `1 item`, `3 items`.
pub fn plural(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations_and_counts_read_well() {
        assert_eq!(human(Duration::from_millis(250)), "250 ms");
        assert_eq!(human(Duration::from_millis(12_500)), "12.5 s");
        assert_eq!(human(Duration::from_secs(90)), "1 min 30 s");
        assert_eq!(plural(1u64, "item"), "1 item");
        assert_eq!(plural(0u64, "item"), "0 items");
    }
}
