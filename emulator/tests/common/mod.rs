//! A tiny HTTP/1.1 client over std's TcpStream, enough to talk to the emulator.

#![allow(dead_code)]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use gcdn_emulator::Emulator;

pub const KEY: &str = "test-key";

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body {:?} is not JSON: {e}", self.body))
    }
}

/// A connection's byte stream: TCP, or TLS over TCP.
pub trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// One keep-alive connection.
pub struct Conn {
    reader: BufReader<Box<dyn Stream>>,
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// A rustls client configuration trusting only `ca_pem`.
pub fn tls_client_config(ca_pem: &str) -> Arc<rustls::ClientConfig> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

impl Conn {
    pub fn open(addr: SocketAddr) -> Conn {
        Conn::over(connect(addr))
    }

    pub fn over(stream: impl Stream + 'static) -> Conn {
        Conn {
            reader: BufReader::new(Box::new(stream)),
        }
    }

    /// A TLS connection to `addr` for `localhost`, trusting only `ca_pem`; the handshake
    /// is done (or failed) before it returns.
    pub fn open_tls(addr: SocketAddr, ca_pem: &str) -> io::Result<Conn> {
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let conn = rustls::ClientConnection::new(tls_client_config(ca_pem), name).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, connect(addr));
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock)?;
        }
        Ok(Conn::over(tls))
    }

    pub fn send_raw(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) {
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n");
        for (n, v) in headers {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        self.reader.get_mut().write_all(req.as_bytes()).unwrap();
    }

    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Resp {
        self.send_raw(method, path, headers, body);
        self.read_response(method == "HEAD")
    }

    /// An authenticated JSON request.
    pub fn api(&mut self, method: &str, path: &str, body: &str) -> Resp {
        let auth = format!("apikey {KEY}");
        self.request(
            method,
            path,
            &[
                ("Authorization", auth.as_str()),
                ("Content-Type", "application/json"),
            ],
            body,
        )
    }

    pub fn read_response(&mut self, head: bool) -> Resp {
        self.try_read_response(head).unwrap()
    }

    /// Reads a response; an I/O error (EOF included) or a bad framing is an error.
    pub fn try_read_response(&mut self, head: bool) -> io::Result<Resp> {
        let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if !line.starts_with("HTTP/1.1 ") || line.len() < 12 {
            return Err(bad(&format!("bad status line {line:?}")));
        }
        let status = line[9..12].parse().map_err(|_| bad("bad status"))?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (n, v) = l.split_once(':').ok_or_else(|| bad("bad header"))?;
            headers.push((n.trim().to_owned(), v.trim().to_owned()));
        }
        let mut resp = Resp {
            status,
            headers,
            body: String::new(),
        };
        if head {
            return Ok(resp);
        }
        let mut body = Vec::new();
        if resp
            .header("transfer-encoding")
            .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
        {
            loop {
                line.clear();
                self.reader.read_line(&mut line)?;
                let size =
                    usize::from_str_radix(line.trim(), 16).map_err(|_| bad("bad chunk size"))?;
                let mut chunk = vec![0; size + 2];
                self.reader.read_exact(&mut chunk)?;
                if size == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..size]);
            }
        } else if let Some(len) = resp.header("content-length") {
            body.resize(len.parse().map_err(|_| bad("bad Content-Length"))?, 0);
            self.reader.read_exact(&mut body)?;
        }
        resp.body = String::from_utf8(body).map_err(|_| bad("body is not UTF-8"))?;
        Ok(resp)
    }

    /// The stream, to write raw bytes.
    pub fn stream(&mut self) -> &mut dyn Stream {
        self.reader.get_mut().as_mut()
    }

    /// Reads exactly `n` bytes.
    pub fn read_exact(&mut self, n: usize) -> io::Result<Vec<u8>> {
        let mut buf = vec![0; n];
        self.reader.read_exact(&mut buf)?;
        Ok(buf)
    }

    /// Reads what is left until EOF; panics on a timeout.
    pub fn read_to_eof(&mut self) -> Vec<u8> {
        self.try_read_to_eof().unwrap()
    }

    /// Reads what is left until EOF (for TLS: also an EOF without `close_notify`, returned
    /// as an error).
    pub fn try_read_to_eof(&mut self) -> io::Result<Vec<u8>> {
        let mut rest = Vec::new();
        self.reader.read_to_end(&mut rest).map(|_| rest)
    }
}

/// One authenticated request on a fresh connection.
pub fn api(emu: &Emulator, method: &str, path: &str, body: &str) -> Resp {
    Conn::open(emu.addr()).api(method, path, body)
}

/// A control request on a fresh connection.
pub fn control(addr: SocketAddr, method: &str, path: &str, body: &str) -> Resp {
    Conn::open(addr).request(method, path, &[("Content-Type", "application/json")], body)
}

/// The emulator binary with `args`, stdin and stdout piped (stderr as the caller set it on
/// `cmd`), and the URL it printed on its first line (what follows `GCDN_EMULATOR_URL=`).
pub fn spawn_binary(cmd: &mut Command) -> (Child, String) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim_end()
        .strip_prefix("GCDN_EMULATOR_URL=")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    (child, url)
}

/// The emulator binary's command.
pub fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gcdn-emulator"))
}
