//! What the CLI prints. Human lines go to stderr (nothing but errors with --quiet); with
//! --json, standard output is JSON Lines made of the report's JSON form. Nothing printed here
//! can hold the API key: the library redacts it from every message it makes, and the CLI
//! prints only the library's messages and the report.

use std::io::Write;

use gcdn::engine::Status;
use serde_json::{json, Map, Value};

pub struct Out {
    pub quiet: bool,
    pub json: bool,
}

/// The gcdn status code of a status, as the C ABI and the report number it.
pub fn status_code(status: Status) -> i32 {
    gcdn::ffi::status_code(status)
}

impl Out {
    pub fn new(quiet: bool, json: bool) -> Out {
        Out { quiet, json }
    }

    /// A usage or input error: nothing was sent.
    pub fn usage(&self, message: &str) -> u8 {
        eprintln!("gcdn: {message}");
        crate::exit::USAGE
    }

    pub fn error(&self, message: &str) {
        eprintln!("gcdn: {message}");
    }

    /// A human line on stderr, unless --quiet.
    pub fn info(&self, line: &str) {
        if !self.quiet {
            eprintln!("{line}");
        }
    }

    /// One JSON object on a line of standard output, flushed so a reader sees it at once.
    pub fn json_line(&self, kind: &str, fields: &Value) {
        let mut object = Map::new();
        object.insert("type".into(), Value::from(kind));
        if let Value::Object(f) = fields {
            for (k, v) in f {
                object.insert(k.clone(), v.clone());
            }
        }
        let mut stdout = std::io::stdout().lock();
        // A closed pipe (`| head`) is not worth a panic: the exit code still tells.
        let _ = writeln!(stdout, "{}", Value::Object(object));
        let _ = stdout.flush();
    }

    pub fn delete_line(
        &self,
        id: i64,
        outcome: &str,
        status: i32,
        http_status: Option<u16>,
        message: Option<&str>,
    ) {
        if self.json {
            self.json_line(
                "delete",
                &json!({"resource_id": id, "outcome": outcome, "status": status,
                        "http_status": http_status, "message": message}),
            );
        }
        match (outcome, message) {
            ("failed", Some(m)) => self.error(m),
            (_, _) if !self.json => self.info(&format!("resource {id}: {outcome}")),
            _ => {}
        }
    }

    /// `gcdn resources`: one JSON line per resource with the API's field names, or a table.
    pub fn resources(&self, list: &[Value]) {
        if self.json {
            let mut stdout = std::io::stdout().lock();
            for r in list {
                let _ = writeln!(stdout, "{r}");
            }
            return;
        }
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(
            stdout,
            "{:>10}  {:<40}  {:<6}  {:<8}  SECONDARY HOSTNAMES",
            "ID", "CNAME", "ACTIVE", "URL PURGE"
        );
        for r in list {
            let hosts: Vec<&str> = r["secondaryHostnames"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let _ = writeln!(
                stdout,
                "{:>10}  {:<40}  {:<6}  {:<8}  {}",
                r["id"],
                r["cname"].as_str().unwrap_or("-"),
                yes_no(&r["active"]),
                yes_no(&r["can_purge_by_urls"]),
                hosts.join(" ")
            );
        }
    }

    /// `gcdn limits`: the API's object as read, plus the rates gcdn derived from it.
    pub fn limits(&self, limits: &Value) {
        let mut stdout = std::io::stdout().lock();
        if self.json {
            let _ = writeln!(stdout, "{limits}");
            return;
        }
        if let Value::Object(map) = limits {
            for (k, v) in map {
                let _ = writeln!(stdout, "{k}: {v}");
            }
        }
    }
}

fn yes_no(v: &Value) -> &'static str {
    match v.as_bool() {
        Some(true) => "yes",
        Some(false) => "no",
        None => "-",
    }
}
