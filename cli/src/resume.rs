//! `gcdn purge --resume FILE`: what an earlier run's `--json` output shows purged, so that a
//! run of the same list leaves it out.
//!
//! A `request` line names the resource, the kind and the items as sent (paths of the
//! resource: full URLs and --map files already mapped); it shows its items purged when its
//! `outcome` is `purged` and its purge status (with --wait) is not `failed`. The last line may
//! be cut short (the run was killed while writing it): it is left aside. Any other line that
//! is not one of gcdn's (`request`, `skipped`, `summary`) makes the file refused: it is not
//! what --resume takes.

use std::collections::HashSet;
use std::path::Path;

use gcdn::engine::job::{Given, JobData, PurgeKind};
use serde_json::Value;

/// (resource id, kind, item as sent; empty for a purge-all).
type Key = (i64, PurgeKind, String);

/// The items earlier runs purged.
#[derive(Debug, Default)]
pub struct Purged {
    keys: HashSet<Key>,
}

impl Purged {
    /// Read each file in turn; the message of the first that cannot be read or is not
    /// gcdn's JSON Lines.
    pub fn read(files: &[impl AsRef<Path>]) -> Result<Purged, String> {
        let mut purged = Purged::default();
        for f in files {
            let f = f.as_ref();
            let name = f.display();
            let bytes = std::fs::read(f)
                .map_err(|e| format!("--resume {name}: cannot read it: {e}; nothing was sent"))?;
            purged.add(&bytes).map_err(|(line, why)| {
                format!(
                    "--resume {name} line {line}: {why}: not the --json output of gcdn purge; \
                     nothing was sent"
                )
            })?;
        }
        Ok(purged)
    }

    /// Take in one file's text; the line (from 1) and why, for one that is not gcdn's.
    fn add(&mut self, text: &[u8]) -> Result<(), (usize, &'static str)> {
        let ends_cut = !text.is_empty() && !text.ends_with(b"\n");
        let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
        let last = lines.len() - 1;
        for (i, line) in lines.iter().enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let value: Value = match serde_json::from_slice(line) {
                Ok(v) => v,
                // The run was killed mid-line.
                Err(_) if i == last && ends_cut => continue,
                Err(_) => return Err((i + 1, "not JSON")),
            };
            match value["type"].as_str() {
                Some("request") => self.request(&value).ok_or((
                    i + 1,
                    "a request line without its resource, kind, items or outcome",
                ))?,
                Some("skipped" | "summary") => {}
                _ => return Err((i + 1, "no \"type\" of gcdn's (request, skipped, summary)")),
            }
        }
        Ok(())
    }

    fn request(&mut self, v: &Value) -> Option<()> {
        let id = v["resource_id"].as_i64()?;
        let kind = match v["kind"].as_str()? {
            "urls" => PurgeKind::Urls,
            "patterns" => PurgeKind::Patterns,
            "all" => PurgeKind::All,
            _ => return None,
        };
        let items = v["items"].as_array()?;
        let outcome = v["outcome"].as_str()?;
        if outcome != "purged" || v["completion"] == "failed" {
            return Some(());
        }
        if kind == PurgeKind::All {
            self.keys.insert((id, kind, String::new()));
        }
        for item in items {
            self.keys.insert((id, kind, item.as_str()?.to_owned()));
        }
        Some(())
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether entry `i` of `data` was purged: its resource (`resource_of_host` for one
    /// given by host; `None`: no resource has the host, so it was not), kind and item as sent.
    pub fn contains(
        &self,
        data: &JobData,
        i: usize,
        resource_of_host: impl Fn(&str) -> Option<i64>,
    ) -> bool {
        let e = &data.entries()[i];
        let id = match data.host(e) {
            Some(host) => match resource_of_host(&host.to_ascii_lowercase()) {
                Some(id) => id,
                None => return false,
            },
            None => e.resource_id,
        };
        let kind = match e.given {
            Given::Url | Given::FullUrl => PurgeKind::Urls,
            Given::Pattern | Given::FullPattern => PurgeKind::Patterns,
            Given::All | Given::FullAll => PurgeKind::All,
        };
        let sent = data.str(data.sent_span(e));
        // Borrowed lookups would need a second map; a key per entry is cheap next to a
        // request.
        self.keys.contains(&(id, kind, sent.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gcdn::engine::job::Job;

    const LINES: &str = concat!(
        r#"{"type":"request","resource_id":1,"kind":"urls","items":["/a","/b c"],"outcome":"purged","status":0,"http_status":201,"message":null,"attempts":1,"purge_id":null,"completion":null}"#,
        "\n",
        r#"{"type":"request","resource_id":2,"kind":"urls","items":["/x"],"outcome":"failed","status":9,"http_status":503,"message":"down","attempts":3,"purge_id":null,"completion":null}"#,
        "\n",
        r#"{"type":"request","resource_id":2,"kind":"patterns","items":["/img/*"],"outcome":"purged","status":0,"http_status":201,"message":null,"attempts":1,"purge_id":7,"completion":"failed"}"#,
        "\n",
        r#"{"type":"request","resource_id":3,"kind":"all","items":[],"outcome":"purged","status":0,"http_status":201,"message":null,"attempts":1,"purge_id":null,"completion":"successful"}"#,
        "\n",
        r#"{"type":"skipped","item":"https://nowhere.example.org/b","resource_id":null,"reason":"no_resource","given":"full_url"}"#,
        "\n",
    );

    fn purged(text: &str) -> Purged {
        let mut p = Purged::default();
        p.add(text.as_bytes()).unwrap();
        p
    }

    fn keys(p: &Purged) -> Vec<Key> {
        let mut k: Vec<Key> = p.keys.iter().cloned().collect();
        k.sort();
        k
    }

    #[test]
    fn purged_requests_count_and_others_do_not() {
        let p = purged(LINES);
        assert_eq!(
            keys(&p),
            [
                (1, PurgeKind::Urls, "/a".to_owned()),
                (1, PurgeKind::Urls, "/b c".to_owned()),
                (3, PurgeKind::All, String::new()),
            ]
        );
    }

    #[test]
    fn a_cut_last_line_is_left_aside_and_other_garbage_refused() {
        let cut = &LINES[..LINES.len() - 40];
        let p = purged(cut);
        assert_eq!(keys(&p).len(), 3, "the cut line was a skipped line");
        let cut_request = &LINES[..LINES.find('\n').unwrap() / 2];
        assert_eq!(keys(&purged(cut_request)).len(), 0);
        // Cut right after the first line's closing brace, before its newline: a whole line.
        let whole = &LINES[..LINES.find('\n').unwrap()];
        assert_eq!(keys(&purged(whole)).len(), 2);
        let mut p = Purged::default();
        assert_eq!(
            p.add(b"hello\n{\"type\":\"summary\"}\n"),
            Err((1, "not JSON"))
        );
        let mut p = Purged::default();
        let e = p
            .add(b"{\"id\":1,\"cname\":\"cdn1.example.com\"}\n")
            .unwrap_err();
        assert_eq!(e.0, 1);
        let mut p = Purged::default();
        let e = p
            .add(b"{\"type\":\"request\",\"resource_id\":1}\n")
            .unwrap_err();
        assert!(e.1.contains("request line"), "{e:?}");
        // Empty: an earlier run killed before it printed anything.
        assert!(purged("").is_empty());
    }

    #[test]
    fn files_that_cannot_be_read_are_refused() {
        let e = Purged::read(&["/nonexistent/run.jsonl"]).unwrap_err();
        assert!(
            e.starts_with("--resume /nonexistent/run.jsonl: cannot read it"),
            "{e}"
        );
    }

    #[test]
    fn entries_match_by_resource_kind_and_item_as_sent() {
        let p = purged(LINES);
        let mut job = Job::new();
        job.add_urls(1, &["/a", "/x"]).unwrap();
        job.add_full_urls(&["https://CDN1.example.com/b c", "https://cdn2.example.com/a"])
            .unwrap();
        job.add_patterns(1, &["/a"]).unwrap();
        job.add_all(3).unwrap();
        let host = |h: &str| match h {
            "cdn1.example.com" => Some(1),
            "cdn2.example.com" => Some(2),
            _ => None,
        };
        let d = job.data();
        let got: Vec<bool> = (0..d.entries().len())
            .map(|i| p.contains(d, i, host))
            .collect();
        assert_eq!(got, [true, false, true, false, false, true]);
    }
}
