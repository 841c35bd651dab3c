//! `gcdn-emulator`: the Gcore CDN API emulator as a process, for the C, Python and Go tests,
//! and the demo. Run with `--help` for the flags.

use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::Duration;

use gcdn_emulator::{Config, Emulator, RetryAfterMode, Tls};

const HELP: &str = "\
gcdn-emulator: local emulator of the Gcore CDN API (tests, demo)

Prints one line, GCDN_EMULATOR_URL=http://127.0.0.1:PORT (https://localhost:PORT with
--tls-cert), and with --edge-port a second, GCDN_EMULATOR_EDGE_URL=http://127.0.0.1:PORT,
then serves until SIGTERM/SIGINT.

Options:
  --port N                 TCP port on 127.0.0.1 (default 0: ephemeral)
  --api-key KEY            accepted API key (default $GCDN_EMULATOR_API_KEY, else test-key)
  --seed IDS               active resources to create: 5  or  1,2,7  or  1-100  (repeatable)
  --url-requests N         purge-by-URL requests per resource per window (default 2)
  --url-window-ms MS       purge-by-URL window (default 60000)
  --pattern-requests N     purge-by-pattern requests per resource per window (default 1)
  --pattern-window-ms MS   purge-by-pattern window (default 60000)
  --all-requests N         purge-all requests per resource per window (default 1)
  --all-window-ms MS       purge-all window (default 60000)
  --max-urls N             URLs per purge request (default 100)
  --max-patterns N         patterns per purge request (default 10)
  --prefetch-requests N    prefetch requests per resource per window (default 1)
  --prefetch-window-ms MS  prefetch window (default 60000)
  --edge-port N            also serve an edge (plain HTTP) on this port (0: ephemeral)
  --retry-after MODE       Retry-After on 429: none (default, as documented), seconds, date
  --tls-cert FILE          serve HTTPS with this PEM certificate chain (for localhost)...
  --tls-key FILE           ...and this PEM private key (both or neither)
  --purge-status-delay-ms MS  how long accepted purges stay In progress (default 0)
  --no-record              do not record requests (long soak runs)
  --quiet                  do not log requests to stderr (otherwise: METHOD PATH STATUS)
  --exit-on-stdin-eof      also exit when stdin reaches end of file
  --help                   this text

Control API (no auth, not recorded): POST /__emulator/resources, GET|DELETE
/__emulator/resources/ID, POST|DELETE /__emulator/faults, GET|DELETE /__emulator/requests,
POST /__emulator/config, POST /__emulator/purge_states, POST /__emulator/listing_faults,
POST /__emulator/reset, GET /__emulator/edge, POST|DELETE /__emulator/edge/ignore,
POST|DELETE /__emulator/edge/cache, GET|DELETE /__emulator/edge/requests.
See emulator/README.md.
";

struct Options {
    config: Config,
    quiet: bool,
    record: bool,
    exit_on_stdin_eof: bool,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut config = Config::default();
    if let Ok(key) = std::env::var("GCDN_EMULATOR_API_KEY") {
        if !key.is_empty() {
            config.api_key = key;
        }
    }
    let mut opts = Options {
        config,
        quiet: false,
        record: true,
        exit_on_stdin_eof: false,
    };
    let (mut tls_cert, mut tls_key) = (None, None);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg, None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        let limits = &mut opts.config.limits;
        match flag.as_str() {
            "--help" | "-h" => return Ok(None),
            "--quiet" | "-q" => opts.quiet = true,
            "--no-record" => opts.record = false,
            "--exit-on-stdin-eof" => opts.exit_on_stdin_eof = true,
            "--port" => opts.config.port = number(&flag, &value()?)?,
            "--api-key" => opts.config.api_key = value()?,
            "--seed" => opts.config.seed_resources.extend(parse_seed(&value()?)?),
            "--url-requests" => limits.url_requests = number(&flag, &value()?)?,
            "--url-window-ms" => limits.url_window = millis(&flag, &value()?)?,
            "--pattern-requests" => limits.pattern_requests = number(&flag, &value()?)?,
            "--pattern-window-ms" => limits.pattern_window = millis(&flag, &value()?)?,
            "--all-requests" => limits.all_requests = number(&flag, &value()?)?,
            "--all-window-ms" => limits.all_window = millis(&flag, &value()?)?,
            "--max-urls" => limits.max_urls = number(&flag, &value()?)?,
            "--max-patterns" => limits.max_patterns = number(&flag, &value()?)?,
            "--prefetch-requests" => limits.prefetch_requests = number(&flag, &value()?)?,
            "--prefetch-window-ms" => limits.prefetch_window = millis(&flag, &value()?)?,
            "--edge-port" => opts.config.edge_port = Some(number(&flag, &value()?)?),
            "--purge-status-delay-ms" => opts.config.purge_status_delay = millis(&flag, &value()?)?,
            "--retry-after" => opts.config.retry_after = value()?.parse::<RetryAfterMode>()?,
            "--tls-cert" => tls_cert = Some(value()?),
            "--tls-key" => tls_key = Some(value()?),
            other => return Err(format!("unknown option {other:?} (see --help)")),
        }
    }
    opts.config.tls = match (tls_cert, tls_key) {
        (None, None) => None,
        (Some(cert), Some(key)) => Some(Tls::from_files(cert, key).map_err(|e| e.to_string())?),
        _ => return Err("--tls-cert and --tls-key go together".into()),
    };
    Ok(Some(opts))
}

fn number<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
    v.trim()
        .parse()
        .map_err(|_| format!("{flag}: {v:?} is not a valid number"))
}

fn millis(flag: &str, v: &str) -> Result<Duration, String> {
    number(flag, v).map(Duration::from_millis)
}

/// `5`, `1,2,7`, `1-100`, or a mix: `1-3,9`.
fn parse_seed(spec: &str) -> Result<Vec<i64>, String> {
    let mut ids = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        // A leading '-' is a sign, not a range.
        match part
            .char_indices()
            .skip(1)
            .find(|&(_, c)| c == '-')
            .map(|(i, _)| i)
        {
            Some(i) => {
                let a: i64 = number("--seed", &part[..i])?;
                let b: i64 = number("--seed", &part[i + 1..])?;
                if b < a || b - a > 10_000_000 {
                    return Err(format!("--seed: bad range {part:?}"));
                }
                ids.extend(a..=b);
            }
            None => ids.push(number("--seed", part)?),
        }
    }
    Ok(ids)
}

fn main() -> ExitCode {
    let opts = match parse_args(std::env::args().skip(1)) {
        Ok(Some(opts)) => opts,
        Ok(None) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("gcdn-emulator: {e}");
            return ExitCode::from(2);
        }
    };
    let emulator = match Emulator::start(opts.config) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("gcdn-emulator: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    emulator.set_logging(!opts.quiet);
    emulator.set_recording(opts.record);
    {
        let mut out = std::io::stdout().lock();
        let mut printed = writeln!(out, "GCDN_EMULATOR_URL={}", emulator.base_url());
        if let Some(edge) = emulator.edge_url() {
            printed = printed.and_then(|()| writeln!(out, "GCDN_EMULATOR_EDGE_URL={edge}"));
        }
        let printed = printed.and_then(|()| out.flush());
        if let Err(e) = printed {
            eprintln!("gcdn-emulator: cannot write to stdout: {e}");
            return ExitCode::FAILURE;
        }
    }
    if opts.exit_on_stdin_eof {
        let mut stdin = std::io::stdin().lock();
        let mut buf = [0u8; 4096];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        // Dropping `emulator` closes its connections; exit right after.
        drop(emulator);
        return ExitCode::SUCCESS;
    }
    // SIGTERM and SIGINT keep their default action: the process ends.
    loop {
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds() {
        assert_eq!(parse_seed("5").unwrap(), vec![5]);
        assert_eq!(parse_seed("1,2, 7").unwrap(), vec![1, 2, 7]);
        assert_eq!(parse_seed("1-3,9").unwrap(), vec![1, 2, 3, 9]);
        assert_eq!(parse_seed("-4").unwrap(), vec![-4]);
        assert!(parse_seed("3-1").is_err());
        assert!(parse_seed("x").is_err());
    }

    #[test]
    fn flags() {
        let args =
            "--port 0 --api-key k --seed 1-2 --url-window-ms=250 --retry-after seconds --quiet \
             --purge-status-delay-ms 40 --edge-port 0 --prefetch-window-ms 300";
        let opts = parse_args(args.split(' ').map(String::from))
            .unwrap()
            .unwrap();
        assert_eq!(opts.config.api_key, "k");
        assert_eq!(opts.config.seed_resources, vec![1, 2]);
        assert_eq!(opts.config.limits.url_window, Duration::from_millis(250));
        assert_eq!(opts.config.retry_after, RetryAfterMode::Seconds);
        assert_eq!(opts.config.purge_status_delay, Duration::from_millis(40));
        assert_eq!(opts.config.edge_port, Some(0));
        assert_eq!(
            opts.config.limits.prefetch_window,
            Duration::from_millis(300)
        );
        assert!(opts.quiet);
        assert!(parse_args(["--bogus".to_owned()].into_iter()).is_err());
        let half = parse_args(["--tls-cert".to_owned(), "c.pem".to_owned()].into_iter());
        assert!(half.err().unwrap().contains("together"));
        let missing = parse_args(
            "--tls-cert /nonexistent/c --tls-key /nonexistent/k"
                .split(' ')
                .map(String::from),
        );
        assert!(missing.err().unwrap().contains("/nonexistent/c"));
        assert!(parse_args(["--help".to_owned()].into_iter())
            .unwrap()
            .is_none());
    }
}
