//! Files mode (`gcdn purge --map PREFIX=URL`): a deploy's changed files become the URLs they
//! are served at. A path under `PREFIX` is `URL` followed by the rest of the path,
//! percent-encoded; the longest matching `PREFIX` wins; an index page (`index.html`, or the
//! `--index` names) is also served as its folder's URL, with and without the trailing slash.

use gcdn::engine::job::{parse_by_host, Given};
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

/// What a browser percent-encodes in a URL's path (the WHATWG URL standard's path
/// percent-encode set: C0 controls, space, `"`, `#`, `<`, `>`, `?`, `` ` ``, `{`, `}`), so
/// that the URL is the one the CDN caches, and `%` and `\` too: in a file's name they are
/// characters, not an escape or a separator. Non-ASCII is always encoded (as UTF-8).
const PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'%')
    .add(b'\\');

/// One `--map PREFIX=URL`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Map {
    /// Without leading `./`.
    prefix: String,
    url: String,
}

/// The `--map`s and index names of a run.
#[derive(Clone, Debug)]
pub struct Mapper {
    maps: Vec<Map>,
    /// Names of index pages; empty with `--no-index-aliases`.
    index: Vec<String>,
}

impl Mapper {
    /// The maps as given (`PREFIX=URL` each) and the index names (`--index`; none given:
    /// `index.html`; `aliases` false: none). A usage error names the bad one.
    pub fn new(maps: &[String], index: &[String], aliases: bool) -> Result<Mapper, String> {
        let maps = maps
            .iter()
            .map(|m| parse_map(m))
            .collect::<Result<_, _>>()?;
        if let Some(bad) = index
            .iter()
            .find(|n| n.is_empty() || n.contains('/') || n.chars().any(char::is_control))
        {
            return Err(format!(
                "--index {bad:?}: give a file name (index.html), not a path; nothing was sent"
            ));
        }
        let index = match (aliases, index.is_empty()) {
            (false, _) => Vec::new(),
            (true, true) => vec!["index.html".to_owned()],
            (true, false) => index.to_vec(),
        };
        Ok(Mapper { maps, index })
    }

    /// The URLs of file `path` (its own, then its folder's with and without the slash for an
    /// index page), or `None` when it is under no prefix.
    pub fn urls(&self, path: &str) -> Option<Vec<String>> {
        let unquoted = git_unquote(path);
        let path = strip_dot_slash(unquoted.as_deref().unwrap_or(path));
        let map = self
            .maps
            .iter()
            .filter(|m| under(path, &m.prefix))
            .max_by_key(|m| m.prefix.len())?;
        let rest = path[map.prefix.len()..].trim_start_matches('/');
        if rest.is_empty() {
            return Some(vec![map.url.clone()]);
        }
        let encoded = utf8_percent_encode(rest, PATH).to_string();
        let url = if map.url.ends_with('/') {
            format!("{}{encoded}", map.url)
        } else {
            format!("{}/{encoded}", map.url)
        };
        let mut urls = vec![url];
        let name = rest.rsplit('/').next().unwrap_or(rest);
        if self.index.iter().any(|n| n == name) {
            let encoded_name = utf8_percent_encode(name, PATH).to_string();
            let folder = &urls[0][..urls[0].len() - encoded_name.len()];
            let folder = folder.to_owned();
            // `https://host/docs/` and `https://host/docs`; the home page only with its slash
            // (a URL has no empty path).
            let path_at = 8 + folder[8..].find('/').unwrap_or(folder.len() - 8);
            let bare = folder.trim_end_matches('/');
            if bare.len() > path_at {
                let bare = bare.to_owned();
                urls.push(folder);
                urls.push(bare);
            } else {
                urls.push(folder);
            }
        }
        Some(urls)
    }
}

/// `PREFIX=URL`: a non-empty prefix; an `https://HOST[/PATH]` URL that gcdn can purge
/// under (no query, no fragment).
/// Messages quote the prefix only: the URL could hold a password (user info).
fn parse_map(text: &str) -> Result<Map, String> {
    let Some((prefix, url)) = text.split_once('=') else {
        return Err(
            "--map takes PREFIX=URL (--map public/=https://cdn.example.com/); nothing was sent"
                .to_owned(),
        );
    };
    let bad = |why: &str| format!("--map {prefix:?}=...: {why}; nothing was sent");
    if prefix.is_empty() {
        return Err(bad(
            "the PREFIX is empty (the folder the site's files are in, public/; ./ for all)",
        ));
    }
    if prefix.chars().any(char::is_control) {
        return Err(bad("the PREFIX contains a control character"));
    }
    if !url
        .get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
    {
        return Err(bad(
            "the URL must start with https:// (the CDN's cache is purged by its HTTPS URLs)",
        ));
    }
    if url.contains(['?', '#']) {
        return Err(bad(
            "the URL has a query or fragment: give the site's address, https://HOST/[PATH/]",
        ));
    }
    let probe = if url[8..].contains('/') {
        url.to_owned()
    } else {
        format!("{url}/")
    };
    // The engine's own check of a full URL (its messages never quote user info).
    parse_by_host(0, &probe, Given::FullUrl).map_err(|e| {
        let why = e.message.trim_start_matches("full URL 0 ").to_owned();
        bad(&format!("the URL {why}"))
    })?;
    Ok(Map {
        prefix: strip_dot_slash(prefix).to_owned(),
        url: url.to_owned(),
    })
}

/// Whether file `path` is under `prefix` (a folder, with or without its slash, or the file
/// itself; the empty prefix holds everything).
fn under(path: &str, prefix: &str) -> bool {
    prefix.is_empty()
        || path.starts_with(prefix)
            && (prefix.ends_with('/')
                || path.len() == prefix.len()
                || path.as_bytes()[prefix.len()] == b'/')
}

fn strip_dot_slash(mut path: &str) -> &str {
    while let Some(rest) = path.strip_prefix("./") {
        path = rest;
    }
    path
}

/// A path as git prints one with unusual bytes (`"caf\303\251 menu.html"`, when
/// core.quotePath is on, git's default): unquoted; `None` for any other.
fn git_unquote(path: &str) -> Option<String> {
    let inner = path.strip_prefix('"')?.strip_suffix('"')?;
    let mut bytes = Vec::with_capacity(inner.len());
    let mut it = inner.bytes().peekable();
    while let Some(b) = it.next() {
        if b != b'\\' {
            bytes.push(b);
            continue;
        }
        let c = it.next()?;
        bytes.push(match c {
            b'a' => 7,
            b'b' => 8,
            b't' => b'\t',
            b'n' => b'\n',
            b'v' => 11,
            b'f' => 12,
            b'r' => b'\r',
            b'"' | b'\\' => c,
            b'0'..=b'3' => {
                let mut v = u32::from(c - b'0');
                for _ in 0..2 {
                    let d = it.next().filter(u8::is_ascii_digit)?;
                    v = v * 8 + u32::from(d - b'0');
                }
                u8::try_from(v).ok()?
            }
            _ => return None,
        });
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapper(maps: &[&str]) -> Mapper {
        let maps: Vec<String> = maps.iter().map(|m| (*m).to_owned()).collect();
        Mapper::new(&maps, &[], true).unwrap()
    }

    #[test]
    fn a_path_under_a_prefix_becomes_the_url_and_the_rest() {
        let m = mapper(&["public/=https://cdn.example.com/"]);
        assert_eq!(
            m.urls("public/img/a.png").unwrap(),
            ["https://cdn.example.com/img/a.png"]
        );
        assert_eq!(
            m.urls("./public/img/a.png").unwrap(),
            ["https://cdn.example.com/img/a.png"]
        );
        assert_eq!(m.urls("src/main.rs"), None);
        assert_eq!(
            m.urls("publicity/a.png"),
            None,
            "a folder, not a string prefix"
        );
        // Without the slashes on either side: one slash between.
        let m = mapper(&["public=https://cdn.example.com"]);
        assert_eq!(
            m.urls("public/a.png").unwrap(),
            ["https://cdn.example.com/a.png"]
        );
        assert_eq!(m.urls("publicity/a.png"), None);
    }

    #[test]
    fn the_longest_prefix_wins() {
        let m = mapper(&[
            "public/=https://www.example.com/",
            "public/docs/=https://docs.example.com/v2/",
            "./=https://repo.example.com/",
        ]);
        assert_eq!(
            m.urls("public/docs/a.html").unwrap(),
            ["https://docs.example.com/v2/a.html"]
        );
        assert_eq!(
            m.urls("public/b.html").unwrap(),
            ["https://www.example.com/b.html"]
        );
        assert_eq!(
            m.urls("README.md").unwrap(),
            ["https://repo.example.com/README.md"]
        );
    }

    #[test]
    fn index_pages_also_purge_their_folder() {
        let m = mapper(&["public/=https://cdn.example.com/"]);
        assert_eq!(
            m.urls("public/docs/index.html").unwrap(),
            [
                "https://cdn.example.com/docs/index.html",
                "https://cdn.example.com/docs/",
                "https://cdn.example.com/docs"
            ]
        );
        assert_eq!(
            m.urls("public/index.html").unwrap(),
            [
                "https://cdn.example.com/index.html",
                "https://cdn.example.com/"
            ]
        );
        let m = mapper(&["site/=https://cdn.example.com/blog/"]);
        assert_eq!(
            m.urls("site/index.html").unwrap(),
            [
                "https://cdn.example.com/blog/index.html",
                "https://cdn.example.com/blog/",
                "https://cdn.example.com/blog"
            ]
        );
        let maps = ["public/=https://cdn.example.com/".to_owned()];
        let names = ["index.htm".to_owned(), "default.html".to_owned()];
        let m = Mapper::new(&maps, &names, true).unwrap();
        assert_eq!(m.urls("public/a/index.html").unwrap().len(), 1);
        assert_eq!(m.urls("public/a/default.html").unwrap().len(), 3);
        let m = Mapper::new(&maps, &[], false).unwrap();
        assert_eq!(m.urls("public/a/index.html").unwrap().len(), 1);
    }

    #[test]
    fn paths_are_percent_encoded() {
        let m = mapper(&["public/=https://cdn.example.com/"]);
        assert_eq!(
            m.urls("public/my docs/café #1?.html").unwrap(),
            ["https://cdn.example.com/my%20docs/caf%C3%A9%20%231%3F.html"]
        );
        assert_eq!(
            m.urls("public/100%.txt").unwrap(),
            ["https://cdn.example.com/100%25.txt"]
        );
        // git's quoting of unusual bytes, undone first.
        assert_eq!(
            m.urls(r#""public/caf\303\251 \"x\".html""#).unwrap(),
            ["https://cdn.example.com/caf%C3%A9%20%22x%22.html"]
        );
        let m = mapper(&["public/=https://cdn.example.com/"]);
        assert_eq!(
            m.urls("public/é/index.html").unwrap(),
            [
                "https://cdn.example.com/%C3%A9/index.html",
                "https://cdn.example.com/%C3%A9/",
                "https://cdn.example.com/%C3%A9"
            ]
        );
    }

    #[test]
    fn bad_maps_are_refused_with_a_reason() {
        let err = |m: &str| Mapper::new(&[m.to_owned()], &[], true).unwrap_err();
        assert!(err("public/").contains("takes PREFIX=URL"));
        assert!(err("=https://cdn.example.com/").contains("PREFIX is empty"));
        assert!(err("public/=http://cdn.example.com/").contains("https://"));
        assert!(err("public/=cdn.example.com").contains("https://"));
        assert!(
            err("public/=https:///x").contains("no host"),
            "{}",
            err("public/=https:///x")
        );
        assert!(err("public/=https://cdn.example.com/?v=1").contains("query"));
        assert!(err("public/=https://user:pw@cdn.example.com/").contains("user info"));
        assert!(!err("public/=https://user:pw@cdn.example.com/").contains("pw@"));
        assert!(err("p/=https://a b/").contains("invalid host"));
        let e = Mapper::new(
            &["p/=https://cdn.example.com/".to_owned()],
            &["a/index.html".to_owned()],
            true,
        )
        .unwrap_err();
        assert!(e.contains("--index"), "{e}");
    }

    #[test]
    fn git_quoting_is_undone_or_left_alone() {
        assert_eq!(git_unquote(r#""a\tb\\c\"""#).unwrap(), "a\tb\\c\"");
        assert_eq!(git_unquote("plain"), None);
        assert_eq!(git_unquote(r#""bad\q""#), None);
    }
}
