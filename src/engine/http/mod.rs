//! The HTTP layer: one pooled, keep-alive `ureq` agent, requests with the key attached, and
//! every transport failure sorted into a status class.

use std::io::Read;
use std::time::Duration;

use ureq::http::{self, Method};
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};
use ureq::AsSendBody;
use zeroize::Zeroizing;

use super::error::{quote, Error, Result, Status};

#[cfg(feature = "tuned-transport")]
mod tuned;

/// Without the `tuned-transport` feature: ureq's own agent, nothing from `ureq::unversioned`.
#[cfg(not(feature = "tuned-transport"))]
mod tuned {
    pub(super) struct Tuning;

    pub(super) fn agent(config: ureq::config::Config) -> (ureq::Agent, Tuning) {
        (ureq::Agent::new_with_config(config), Tuning)
    }

    impl Tuning {
        pub(super) fn forget_names(&self) {}
    }
}

/// The most of a response body the client reads. Error bodies are a few hundred bytes; a
/// server that sends more is cut off here and memory stays bounded.
pub const BODY_CAP: usize = 64 * 1024;

/// A response, body read up to [`BODY_CAP`].
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// `Retry-After` of a response that is not a 2xx.
    pub retry_after: Option<String>,
    /// `Location` of a response that is not a 2xx.
    pub location: Option<String>,
    pub body: Vec<u8>,
}

/// A request that got no usable HTTP answer.
#[derive(Debug)]
pub struct Fault {
    pub status: Status,
    pub message: String,
    /// Whether another attempt could succeed (connection resets, refusals, timeouts).
    pub transient: bool,
    /// Whether the request may have reached the server before the failure (so it may have
    /// been carried out): false only when no connection was ever made.
    pub maybe_sent: bool,
}

pub struct Transport {
    agent: ureq::Agent,
    tuning: tuned::Tuning,
    /// `APIKey <key>`, wiped when the client is dropped.
    authorization: Zeroizing<String>,
    /// Made once: ureq would otherwise check and copy the agent's user agent every request.
    user_agent: http::HeaderValue,
    timeout: Duration,
}

impl Transport {
    /// `use_env_proxy`: honour `HTTPS_PROXY`/`ALL_PROXY`/`NO_PROXY`. Only for `https://`
    /// base URLs, where a proxy sees a TLS tunnel; a plain-HTTP (loopback) base URL never
    /// goes through a proxy, which would see the key in clear.
    pub fn new(
        api_key: &str,
        timeout: Duration,
        user_agent: &str,
        ca_file: Option<&std::path::Path>,
        use_env_proxy: bool,
    ) -> Result<Transport> {
        let mut tls = TlsConfig::builder();
        if let Some(path) = ca_file {
            tls = tls.root_certs(RootCerts::new_with_certs(&load_ca_file(path)?));
        }
        let mut config = ureq::Agent::config_builder();
        if !use_env_proxy {
            config = config.proxy(None);
        }
        let config = config
            // Status codes are answers to decode, not transport errors.
            .http_status_as_error(false)
            // A redirect is returned as it is, never followed: the key must not go elsewhere.
            .max_redirects(0)
            .timeout_global(Some(timeout))
            .user_agent(user_agent)
            .accept("application/json")
            .tls_config(tls.build())
            .max_idle_connections_per_host(32)
            .build();
        let mut authorization = Zeroizing::new(String::with_capacity(7 + api_key.len()));
        authorization.push_str("APIKey ");
        authorization.push_str(api_key);
        let (agent, tuning) = tuned::agent(config);
        Ok(Transport {
            agent,
            tuning,
            authorization,
            user_agent: http::HeaderValue::from_str(user_agent)
                .map_err(|e| Error::invalid(format!("bad user agent: {e}")))?,
            timeout,
        })
    }

    /// The agent's own per-attempt timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// One attempt: send, then read status, `Retry-After`, `Location` and up to [`BODY_CAP`]
    /// of the body. `timeout` covers the whole exchange.
    pub fn send(
        &self,
        method: Method,
        url: &str,
        json_body: Option<&[u8]>,
        timeout: Duration,
    ) -> std::result::Result<Reply, Fault> {
        self.send_capped(method, url, json_body, timeout, BODY_CAP)
    }

    /// [`Transport::send`], reading at most `cap` bytes of the body (listings need more
    /// than [`BODY_CAP`]).
    pub fn send_capped(
        &self,
        method: Method,
        url: &str,
        json_body: Option<&[u8]>,
        timeout: Duration,
        cap: usize,
    ) -> std::result::Result<Reply, Fault> {
        let bad_request = |e: &dyn std::fmt::Display| Fault {
            status: Status::InvalidArgument,
            message: format!("could not build the request: {e}"),
            transient: false,
            maybe_sent: false,
        };
        // Built in place, not with http's request builder: no parsing of constant headers.
        let mut request = http::Request::new(());
        *request.method_mut() = method;
        *request.uri_mut() = url.parse().map_err(|e| bad_request(&e))?;
        let mut authorization =
            http::HeaderValue::from_str(&self.authorization).map_err(|e| bad_request(&e))?;
        authorization.set_sensitive(true);
        let headers = request.headers_mut();
        headers.insert(http::header::AUTHORIZATION, authorization);
        headers.insert(http::header::USER_AGENT, self.user_agent.clone());
        headers.insert(
            http::header::ACCEPT,
            http::HeaderValue::from_static("application/json"),
        );
        if json_body.is_some() {
            headers.insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
        }
        // No body, no `Content-Length: 0` (nor ureq's bookkeeping of an empty body).
        let result = match json_body {
            Some(body) => self.run(request.map(|()| body), timeout),
            None => self.run(request, timeout),
        };
        let mut response = result.map_err(|e| {
            let fault = fault_of(e);
            if !fault.maybe_sent {
                self.tuning.forget_names();
            }
            fault
        })?;
        let status = response.status().as_u16();
        let header = |name: http::header::HeaderName| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        // Only a failure is described from its headers.
        let (retry_after, location) = if (200..300).contains(&status) {
            (None, None)
        } else {
            (
                header(http::header::RETRY_AFTER),
                header(http::header::LOCATION),
            )
        };
        let mut body = Vec::new();
        // Read at most the cap. A body cut short, or one that goes on past the cap, still
        // leaves the status in hand: a 2xx is a success whatever its body does, and an
        // error is described from what arrived.
        let mut reader = response
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .reader()
            .take(cap as u64);
        let _ = reader.read_to_end(&mut body);
        Ok(Reply {
            status,
            retry_after,
            location,
            body,
        })
    }
}

impl Transport {
    fn run(
        &self,
        request: http::Request<impl AsSendBody>,
        timeout: Duration,
    ) -> std::result::Result<http::Response<ureq::Body>, ureq::Error> {
        if timeout == self.timeout {
            self.agent.run(request)
        } else {
            let request = self
                .agent
                .configure_request(request)
                .timeout_global(Some(timeout))
                .build();
            self.agent.run(request)
        }
    }
}

pub(crate) fn load_ca_file(path: &std::path::Path) -> Result<Vec<Certificate<'static>>> {
    let shown = quote(&path.display().to_string(), 300);
    let pem = std::fs::read(path)
        .map_err(|e| Error::invalid(format!("cannot read the CA file {shown}: {e}")))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(e) => {
                return Err(Error::invalid(format!(
                    "the CA file {shown} is not valid PEM: {e}"
                )))
            }
        }
    }
    if certs.is_empty() {
        return Err(Error::invalid(format!(
            "the CA file {shown} holds no PEM certificate"
        )));
    }
    Ok(certs)
}

/// Sort a transport error into a status, a message, and whether to try again.
fn fault_of(error: ureq::Error) -> Fault {
    use std::io::ErrorKind;
    let (status, transient, message) = match &error {
        ureq::Error::Timeout(what) => (Status::Timeout, true, format!("timed out ({what})")),
        ureq::Error::HostNotFound => (Status::Network, true, "host not found (DNS)".into()),
        ureq::Error::ConnectionFailed => (Status::Network, true, "connection failed".into()),
        ureq::Error::Tls(what) => (Status::Network, false, format!("TLS error: {what}")),
        ureq::Error::Rustls(what) => (Status::Network, false, format!("TLS error: {what}")),
        ureq::Error::Io(io) => {
            let text = io.to_string();
            if is_tls_failure(io) {
                (Status::Network, false, format!("TLS error: {text}"))
            } else {
                match io.kind() {
                    ErrorKind::TimedOut | ErrorKind::WouldBlock => {
                        (Status::Timeout, true, format!("timed out: {text}"))
                    }
                    ErrorKind::ConnectionRefused => {
                        (Status::Network, true, format!("connection refused: {text}"))
                    }
                    ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
                    | ErrorKind::BrokenPipe
                    | ErrorKind::UnexpectedEof
                    | ErrorKind::NotConnected => (
                        Status::Network,
                        true,
                        format!("the connection was closed before a response arrived: {text}"),
                    ),
                    _ => (Status::Network, true, format!("network error: {text}")),
                }
            }
        }
        ureq::Error::Protocol(p) => (
            Status::Protocol,
            false,
            format!("the server's response is not valid HTTP: {p}"),
        ),
        ureq::Error::BadUri(u) => (Status::InvalidArgument, false, format!("bad URL: {u}")),
        other => (Status::Protocol, false, other.to_string()),
    };
    // Failures before any connection existed: the request cannot have been sent.
    let never_connected = matches!(
        &error,
        ureq::Error::HostNotFound
            | ureq::Error::ConnectionFailed
            | ureq::Error::Timeout(ureq::Timeout::Resolve | ureq::Timeout::Connect)
    ) || matches!(&error, ureq::Error::Io(io) if io.kind() == ErrorKind::ConnectionRefused);
    Fault {
        status,
        message,
        transient,
        maybe_sent: !never_connected,
    }
}

/// rustls reports certificate and handshake failures as I/O errors wrapping its own error:
/// found by type, anywhere in the chain of sources.
fn is_tls_failure(io: &std::io::Error) -> bool {
    let mut next = io
        .get_ref()
        .map(|inner| inner as &(dyn std::error::Error + 'static));
    while let Some(error) = next {
        if error.is::<rustls::Error>() {
            return true;
        }
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            // An I/O error's Display is its inner error's, and `source` skips it.
            next = io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static));
            continue;
        }
        next = error.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Error as IoError, ErrorKind};

    #[test]
    fn tls_failures_are_found_by_type() {
        let alert = rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure);
        let bad_cert = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        for tls in [alert, bad_cert, rustls::Error::General("x".into())] {
            let wrapped = IoError::new(ErrorKind::InvalidData, tls);
            assert!(is_tls_failure(&wrapped), "{wrapped:?}");
            let fault = fault_of(ureq::Error::Io(wrapped));
            assert_eq!(fault.status, Status::Network);
            assert!(!fault.transient);
            assert!(
                fault.message.starts_with("TLS error: "),
                "{}",
                fault.message
            );
            // Twice wrapped, as a transport adapter does.
            let twice = IoError::other(IoError::new(
                ErrorKind::InvalidData,
                rustls::Error::DecryptError,
            ));
            assert!(is_tls_failure(&twice));
        }
        // Text that merely looks like TLS is not TLS.
        for text in ["Certificate", "AlertReceived", "HandshakeNotComplete"] {
            let plain = IoError::new(ErrorKind::InvalidData, text);
            assert!(!is_tls_failure(&plain), "{text}");
            assert!(fault_of(ureq::Error::Io(plain)).transient);
        }
        assert!(!is_tls_failure(&IoError::from(ErrorKind::ConnectionReset)));
        // ureq's own rustls variant.
        let fault = fault_of(ureq::Error::Rustls(rustls::Error::DecryptError));
        assert_eq!((fault.status, fault.transient), (Status::Network, false));
        assert!(
            fault.message.starts_with("TLS error: "),
            "{}",
            fault.message
        );
    }
}
