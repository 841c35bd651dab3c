//! The command line, as clap declares it. Usage errors exit with 2, as the exit-code contract
//! says (clap's own code for them).
//!
//! The doc comments below are the `--help` text that clap prints verbatim, not rustdoc: bare
//! URLs and `[user:password@]` are meant as written there.
#![allow(rustdoc::bare_urls, rustdoc::broken_intra_doc_links)]

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Purge Gcore CDN caches and delete CDN resources, paced to the API's limits.
///
/// The API key comes from GCORE_API_KEY only (never a flag: it would sit in shell history and
/// process lists); the base URL from --base-url or GCORE_BASE_URL.
///
/// Exit codes: 0 everything done (and confirmed with --wait); 1 failed, nothing done;
/// 2 usage or invalid input, nothing sent; 3 partly done (the output says which);
/// 4 not confirmed within --wait; 5 purged and confirmed, but --verify found a URL still
/// stale at the edge; 130 interrupted (Ctrl-C).
#[derive(Debug, Parser)]
#[command(name = "gcdn", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// Log each request to stderr (method, path, status, time; never the key); twice: also
    /// the pacer's decisions. Without it, GCDN_LOG=error|warn|info|debug|trace does the same.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// The API's address (default: GCORE_BASE_URL, else https://api.gcore.com).
    #[arg(long, global = true, value_name = "URL")]
    pub base_url: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Purge cached copies: full URLs (mapped to their resource by host), or paths with
    /// --resource; patterns with --patterns; everything with --all.
    Purge(Box<PurgeArgs>),
    /// Delete CDN resources, one after another.
    Delete(DeleteArgs),
    /// List the account's CDN resources: id, cname, secondary hostnames, active, can purge
    /// by URL.
    Resources(ListArgs),
    /// Show the account's purge limits as gcdn reads them.
    Limits(ListArgs),
    /// Print the shell completion script for SHELL on standard output (make install puts
    /// bash's, zsh's and fish's where those shells look).
    Completions(CompletionsArgs),
    /// Print the manual page (roff) on standard output, or write one page per command into
    /// a folder with --dir.
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, powershell (or elvish).
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write gcdn.1 and a page per command (gcdn-purge.1, ...) into DIR instead.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PurgeArgs {
    /// Full URLs (https://cdn.example.com/a.png?v=2) or, with --resource, paths (/a.png?v=2);
    /// with --map, file paths (public/a.png).
    #[arg(value_name = "ITEM")]
    pub items: Vec<String>,

    /// Read items from FILE, one per line ("-": standard input); blank lines and lines
    /// starting with # are skipped. Standard input is read only with --from -.
    #[arg(long, value_name = "FILE|-")]
    pub from: Option<PathBuf>,

    /// The items are paths of this resource, not full URLs.
    #[arg(long, value_name = "ID")]
    pub resource: Option<i64>,

    /// The items are patterns (/images/*): recursive, query strings ignored.
    #[arg(long, conflicts_with = "all")]
    pub patterns: bool,

    /// Purge everything of --resource (then no item is taken), or of each host given as
    /// https://host/.
    #[arg(long)]
    pub all: bool,

    /// Files mode: the items are file paths (a deploy's changed files); a path under PREFIX
    /// is purged as URL followed by the rest of the path, percent-encoded
    /// (--map public/=https://cdn.example.com/ purges public/a b.png as
    /// https://cdn.example.com/a%20b.png). Repeatable, for several sites or hosts: the longest
    /// PREFIX wins. A path under no PREFIX is skipped (reason "unmapped"), which is no failure.
    #[arg(long, value_name = "PREFIX=URL", conflicts_with_all = ["resource", "patterns", "all"])]
    pub map: Vec<String>,

    /// With --map: a file of this name is an index page, also served as its folder's URL
    /// with and without the trailing slash, which are purged too. Repeatable; default
    /// index.html.
    #[arg(long, value_name = "NAME", requires = "map")]
    pub index: Vec<String>,

    /// With --map: purge index pages by their file's URL only.
    #[arg(long, requires = "map", conflicts_with = "index")]
    pub no_index_aliases: bool,

    /// Leave out every item that FILE, the --json output of an earlier run of the same list
    /// (complete, or cut short when that run was killed), shows purged; say how many.
    /// Repeatable: give the output of each earlier run.
    #[arg(long, value_name = "FILE")]
    pub resume: Vec<PathBuf>,

    /// Print the plan (requests per resource, items skipped and why, estimated time) and send
    /// no purge.
    #[arg(long)]
    pub dry_run: bool,

    /// Send every URL as given. By default a URL goes in its cache-key form: the query
    /// parameters its resource's options (or a rule for its path) leave out of the cache key
    /// are dropped and the rest sorted, or the purge would remove nothing.
    #[arg(long)]
    pub exact: bool,

    /// Confirm completion through the API's purge statuses, waiting at most SECONDS
    /// (default 300). Write --wait=SECONDS: items may follow.
    #[arg(long, value_name = "SECONDS", num_args = 0..=1, require_equals = true,
          default_missing_value = "300")]
    pub wait: Option<f64>,

    /// After confirmation (implies --wait), probe each URL purged by URL at the edge (HEAD,
    /// never with the API key) and report it fresh, stale or error; exit 5 if one is stale.
    #[arg(long)]
    pub verify: bool,

    /// Probe at most N URLs of each resource with --verify, evenly chosen (default 100).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub verify_limit: Option<u32>,

    /// Send --verify's probes to this edge instead of each URL's host, with the URL's host
    /// in Host and as the TLS name: https://host[:port], or http:// to loopback. Repeatable.
    #[arg(long, value_name = "URL")]
    pub edge: Vec<String>,

    /// After the purge (and its confirmation), send the purged paths to the API's prefetch,
    /// 100 a request, 1 request a minute per resource.
    #[arg(long)]
    pub prefetch: bool,

    /// Standard output is JSON Lines: a "request" line per request as it finishes, a
    /// "skipped" line per item not sent, "verify" and "prefetch" lines, and a last "summary"
    /// line.
    #[arg(long)]
    pub json: bool,

    /// Print nothing on stderr but errors.
    #[arg(short, long)]
    pub quiet: bool,

    /// Stop the whole run after SECONDS, confirmation included (what was done is reported).
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<f64>,

    /// Share pacing with other processes and hosts through this store
    /// (redis://[user:password@]host:port/db; default GCDN_RATE_STORE).
    #[arg(long, value_name = "URL")]
    pub rate_store: Option<String>,

    /// Pace to one URL purge per URL_SECONDS and one pattern purge or purge-all per
    /// PATTERN_SECONDS on each resource, instead of the account's limits.
    #[arg(long, value_name = "URL_SECONDS,PATTERN_SECONDS")]
    pub purge_intervals: Option<String>,

    /// Send this run's items in requests of their own, as gcdn 0.2 did, instead of sharing
    /// requests with other calls of the process that wait for the same resource's slot.
    #[arg(long)]
    pub no_coalesce: bool,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Resource ids.
    #[arg(value_name = "ID", required = true)]
    pub ids: Vec<i64>,

    /// Deactivate each resource first (the API refuses to delete an active one).
    #[arg(long)]
    pub deactivate_first: bool,

    /// A resource that does not exist counts as deleted ("missing").
    #[arg(long)]
    pub missing_ok: bool,

    /// One JSON line per id on standard output.
    #[arg(long)]
    pub json: bool,

    /// Give up on a resource after SECONDS.
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<f64>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// JSON Lines on standard output, with the API's field names.
    #[arg(long)]
    pub json: bool,
}
