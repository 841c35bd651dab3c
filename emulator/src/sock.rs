//! Closing a connection that tiny_http owns.
//!
//! tiny_http 0.12 gives no access to a request's socket: a request dropped unanswered is
//! answered `500`, [`tiny_http::Request::into_writer`] only hands out a buffered writer
//! (dropping it writes nothing but leaves the connection open, so the client would hang
//! instead of seeing it closed), and `upgrade` writes a response first. The server does not
//! close keep-alive connections when it is dropped either.
//!
//! So the emulator finds the socket itself: it walks the process's open file descriptors
//! and shuts down (`shutdown(2)`, both directions) the TCP socket whose local address is
//! the server's and whose peer is the client's. The client then sees a clean EOF without a
//! single byte, and tiny_http's connection thread sees EOF and ends, closing the socket.

use std::net::SocketAddr;

/// Shuts down the server-side sockets of `server` connected to `peer` (or every one of
/// them when `peer` is `None`). Returns how many were found.
#[cfg(unix)]
pub(crate) fn shutdown_server_side(server: SocketAddr, peer: Option<SocketAddr>) -> usize {
    use std::net::{Shutdown, TcpStream};
    use std::os::fd::{BorrowedFd, RawFd};

    // Linux has /proc/self/fd; macOS and the BSDs have /dev/fd.
    let Ok(dir) = std::fs::read_dir("/proc/self/fd").or_else(|_| std::fs::read_dir("/dev/fd"))
    else {
        return 0;
    };
    let fds: Vec<RawFd> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    let mut found = 0;
    for fd in fds {
        // SAFETY: `fd` was listed as open a moment ago and is only borrowed for the
        // `dup` below. If another thread closed it meanwhile, `dup` fails with EBADF, or
        // duplicates whatever reused the number, which the address checks then filter out.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        let Ok(owned) = borrowed.try_clone_to_owned() else {
            continue;
        };
        // A duplicate: dropping it closes only the duplicate. Non-sockets fail the checks.
        let sock = TcpStream::from(owned);
        if sock.local_addr().ok() != Some(server) {
            continue;
        }
        let Ok(p) = sock.peer_addr() else {
            continue; // the listening socket
        };
        if peer.is_none_or(|want| want == p) {
            // shutdown(2) acts on the socket, not on the descriptor: this closes the
            // connection for tiny_http's descriptor too.
            let _ = sock.shutdown(Shutdown::Both);
            found += 1;
        }
    }
    found
}

/// Without file-descriptor enumeration the connection cannot be closed: the caller's
/// dropped writer leaves it silent, and the client waits for its own timeout.
#[cfg(not(unix))]
pub(crate) fn shutdown_server_side(_server: SocketAddr, _peer: Option<SocketAddr>) -> usize {
    0
}
