//! A real `redis-server` for the tests: on a free loopback port, in a temporary directory,
//! with nothing saved to disk, stopped (killed and reaped) when dropped.
//!
//! Included with `#[path = "common/redis_server.rs"] mod redis_server;` by the suites that
//! need it (`tests/ratestore.rs`, `tests/shared_pacing.rs`).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    pub password: Option<String>,
    dir: PathBuf,
    /// TLS only (`start_tls`): the CA file clients trust.
    pub ca_file: Option<PathBuf>,
}

/// A port nothing listens on right now: bind port 0, read the port, close.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl RedisServer {
    /// A server without a password.
    pub fn start() -> RedisServer {
        RedisServer::start_on(free_port(), None)
    }

    /// A server that requires `password` (`requirepass`).
    pub fn with_password(password: &str) -> RedisServer {
        RedisServer::start_on(free_port(), Some(password))
    }

    /// A server on `port` (e.g. to bring one back on the port of a killed one).
    pub fn start_on(port: u16, password: Option<&str>) -> RedisServer {
        RedisServer::start_with(port, password, None)
    }

    /// A TLS-only server (`rediss://`) with the certificate and key given (PEM), clients not
    /// asked for certificates; `ca_pem` is written next to them for clients to trust.
    pub fn start_tls(cert_pem: &str, key_pem: &str, ca_pem: &str) -> RedisServer {
        RedisServer::start_with(free_port(), None, Some((cert_pem, key_pem, ca_pem)))
    }

    fn start_with(
        port: u16,
        password: Option<&str>,
        tls: Option<(&str, &str, &str)>,
    ) -> RedisServer {
        static SERIAL: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "gcdn-redis-{}-{port}-{}",
            std::process::id(),
            SERIAL.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut cmd = Command::new("redis-server");
        let mut ca_file = None;
        if let Some((cert, key, ca)) = tls {
            let path = |name: &str, pem: &str| {
                let p = dir.join(name);
                std::fs::write(&p, pem).unwrap();
                p
            };
            let (c, k, a) = (
                path("cert.pem", cert),
                path("key.pem", key),
                path("ca.pem", ca),
            );
            cmd.args(["--port", "0", "--tls-port", &port.to_string()])
                .arg("--tls-cert-file")
                .arg(&c)
                .arg("--tls-key-file")
                .arg(&k)
                .arg("--tls-ca-cert-file")
                .arg(&a)
                .args(["--tls-auth-clients", "no"]);
            ca_file = Some(a);
        } else {
            cmd.args(["--port", &port.to_string()]);
        }
        cmd.args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .args(["--daemonize", "no", "--loglevel", "warning"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(pw) = password {
            cmd.args(["--requirepass", pw]);
        }
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!("cannot start redis-server (apt-get install redis-server; .ci/run does): {e}")
        });
        let mut server = RedisServer {
            child: Some(child),
            port,
            password: password.map(str::to_owned),
            dir,
            ca_file,
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("redis-server exited at start: {status}");
            }
            if self.ping() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer PING in 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// PING over a raw connection (AUTH first when a password is set): true on `+PONG`.
    /// For TLS, through `redis-cli --tls`.
    pub fn ping(&self) -> bool {
        if let Some(ca) = &self.ca_file {
            return Command::new("redis-cli")
                .args([
                    "--tls",
                    "-h",
                    "localhost",
                    "-p",
                    &self.port.to_string(),
                    "--cacert",
                ])
                .arg(ca)
                .arg("PING")
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "PONG");
        }
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut req = String::new();
        if let Some(pw) = &self.password {
            req.push_str(&format!("AUTH {pw}\r\n"));
        }
        req.push_str("PING\r\n");
        if s.write_all(req.as_bytes()).is_err() {
            return false;
        }
        let mut r = BufReader::new(s);
        let mut line = String::new();
        if self.password.is_some() && (r.read_line(&mut line).is_err() || line != "+OK\r\n") {
            return false;
        }
        line.clear();
        r.read_line(&mut line).is_ok() && line == "+PONG\r\n"
    }

    /// `redis://127.0.0.1:<port>/<db>`, with the password when one is set
    /// (`rediss://localhost:<port>/<db>` for TLS).
    pub fn url(&self, db: u32) -> String {
        if self.ca_file.is_some() {
            return format!("rediss://localhost:{}/{db}", self.port);
        }
        match &self.password {
            Some(pw) => format!("redis://:{pw}@127.0.0.1:{}/{db}", self.port),
            None => format!("redis://127.0.0.1:{}/{db}", self.port),
        }
    }

    /// Kill the server now (SIGKILL) and reap it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Run one command over a raw connection and return the raw reply (for checks).
    pub fn raw(&self, command: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut req = String::new();
        if let Some(pw) = &self.password {
            req.push_str(&format!("AUTH {pw}\r\n"));
        }
        req.push_str(command);
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let mut buf = vec![0u8; 65536];
        let n = s.read(&mut buf).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
