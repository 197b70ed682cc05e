//! memcached's UDP transport (`memcache-udp-port`, memcached's `-U`).
//!
//! Every datagram starts with an 8-byte frame header: request id, sequence
//! number, datagram count and a reserved word, big-endian 16-bit each. A
//! request must fit one datagram (count 1; any other is dropped, as
//! memcached drops multi-packet requests); every complete request in it
//! runs, text, meta or binary (the first byte decides under `auto`), and a
//! request cut off at the datagram's end is dropped with it.
//!
//! Replies go back as memcached 1.6 sends them: one *message* per request,
//! and for a text get one per key (the key's VALUE block, END with the last
//! key); an empty message (a miss, a quiet meta command) sends nothing.
//! Each message is split into datagrams of at most 1,392 bytes after the
//! header, numbered from 0 with the message's datagram count, and carries
//! the request's id. A client tells a request's messages apart only by the
//! id, as with memcached.
//!
//! Each connection thread reads the port through its own descriptor of the
//! same socket (as memcached's `num_threads_per_udp`), so datagrams are
//! served by whichever thread the kernel wakes first. Each descriptor is a
//! connection in `stats` (`curr_connections`, `stats conns`' `UDP` rows).
//! No UDP client is ever authenticated: with a password set, datagrams are
//! dropped; under protected mode, so are those from other hosts.
//!
//! Costs: a 64 KB receive buffer per thread; replies are built in memory
//! and sent a datagram at a time whenever they pass 1 MB (between two
//! requests) and at the datagram's end.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use larder_memcache::binary as bin;
use larder_memcache::Limits;
use tokio::net::UdpSocket;

use super::conn::{step, Step, OUT_FLUSH};
use super::conns::{Addr, State};
use super::exec::{Flow, Session};
use crate::shared::{unix_secs, Shared};

const HEADER: usize = 8;
/// memcached's UDP_DATA_SIZE: reply bytes per datagram.
const DATA: usize = 1392;
/// memcached's UDP_READ_BUFFER_SIZE.
const READ_BUF: usize = 64 * 1024;

/// The UDP sockets on the `bind` addresses (none when the port is 0). An
/// address marked optional (`-`) that cannot be bound is skipped.
pub fn bind(config: &crate::Config) -> std::io::Result<Vec<std::net::UdpSocket>> {
    let port = config.memcache_udp_port;
    if port == 0 {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for (optional, addr) in super::bind_addrs(config, port)? {
        match bind_one(addr) {
            Ok(s) => out.push(s),
            Err(_) if optional => {}
            Err(e) => {
                return Err(std::io::Error::new(
                    e.kind(),
                    format!("could not bind memcache UDP port {addr}: {e}"),
                ))
            }
        }
    }
    Ok(out)
}

/// A non-blocking UDP socket at `addr` (IPv6 only for an IPv6 address, as
/// the TCP listeners).
fn bind_one(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, None)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Serves datagrams on one descriptor of a UDP socket until the server stops.
pub async fn serve(shared: Arc<Shared>, sock: UdpSocket) {
    let mc = &shared.memcache;
    let fd = sock.as_raw_fd();
    let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
    let addr = Addr::Udp(sock.local_addr().unwrap_or(unspecified));
    let info = mc.conns.open(fd, addr.clone(), addr, unix_secs() as u32);
    info.set_state(State::Read);
    mc.curr_connections.fetch_add(1, Relaxed);
    mc.counters.mine().total_connections.fetch_add(1, Relaxed);
    let mut buf = vec![0u8; READ_BUF];
    let mut out = Vec::new();
    let mut session = Session::new(&shared, fd);
    session.udp_marks = Some(Vec::new());
    loop {
        let (n, peer) = tokio::select! {
            biased;
            r = sock.recv_from(&mut buf) => match r {
                Ok(r) => r,
                // (An ICMP error for an earlier reply, say.)
                Err(_) => continue,
            },
            _ = info.events.wait() => break,
        };
        if shared.stopping() {
            break;
        }
        // memcached ignores a datagram of the header alone, and any that
        // says it is one of several.
        if n <= HEADER || buf[4] != 0 || buf[5] != 1 || !admitted(&shared, &peer) {
            continue;
        }
        session.begin_batch();
        session.local.bytes_read += n as u64;
        info.touch(session.secs());
        let id = [buf[0], buf[1]];
        let mut input = &buf[HEADER..n];
        loop {
            let more = run(&shared, &mut session, &mut input, &mut out);
            let mut marks = session.udp_marks.take().unwrap_or_default();
            session.local.bytes_written += send(&sock, peer, id, &out, &marks).await;
            marks.clear();
            session.udp_marks = Some(marks);
            out.clear();
            if !more {
                break;
            }
        }
        session.end_batch();
    }
    session.end_batch();
    mc.conns.close(fd);
    mc.curr_connections.fetch_sub(1, Relaxed);
}

/// Whether a datagram from `peer` may run: no password is required (a UDP
/// client cannot log in), and protected mode lets it in.
fn admitted(shared: &Shared, peer: &SocketAddr) -> bool {
    !shared.acl.auth_required() && (peer.ip().is_loopback() || !crate::server::protected(shared))
}

/// Runs the complete requests at the front of a datagram's `input`,
/// marking where each reply message starts, until the input is done (false)
/// or the replies pass `OUT_FLUSH` (true: send them, then run the rest), so
/// that a datagram of gets for large items cannot build its replies whole.
fn run(shared: &Shared, session: &mut Session<'_>, input: &mut &[u8], out: &mut Vec<u8>) -> bool {
    let limits = Limits {
        item_size_max: shared.memcache.item_max.load(Relaxed) as usize,
    };
    let binary = match shared.config.read().memcache_protocol.as_str() {
        "ascii" => false,
        "binary" => true,
        _ => input.first() == Some(&bin::REQ_MAGIC),
    };
    while !input.is_empty() {
        if out.len() >= OUT_FLUSH {
            return true;
        }
        if let Some(marks) = &mut session.udp_marks {
            marks.push(out.len());
        }
        match step(session, input, binary, &limits, out) {
            Step::Incomplete(_) => return false,
            Step::Close => {
                // memcached discards the datagram's replies.
                out.clear();
                if let Some(marks) = &mut session.udp_marks {
                    marks.clear();
                }
                return false;
            }
            Step::Ran(flow, consumed) => {
                *input = &input[consumed..];
                match flow {
                    Flow::Next | Flow::Sent => {}
                    Flow::Swallow(n) => *input = &input[n.min(input.len())..],
                    Flow::Close | Flow::Watch(_) => return false,
                }
            }
        }
    }
    false
}

/// Sends each non-empty message of `out` (split at `marks`) to `peer` in
/// numbered datagrams; returns the bytes sent.
async fn send(sock: &UdpSocket, peer: SocketAddr, id: [u8; 2], out: &[u8], marks: &[usize]) -> u64 {
    let mut sent = 0;
    let mut datagram = Vec::with_capacity(HEADER + DATA);
    let ends = marks.iter().skip(1).copied().chain([out.len()]);
    for (start, end) in marks.iter().copied().zip(ends) {
        let msg = &out[start..end];
        // memcached caps the count (not the sequence numbers) at 65535.
        let total = msg.len().div_ceil(DATA).min(u16::MAX as usize) as u16;
        for (seq, chunk) in msg.chunks(DATA).enumerate() {
            datagram.clear();
            datagram.extend_from_slice(&id);
            datagram.extend_from_slice(&(seq as u16).to_be_bytes());
            datagram.extend_from_slice(&total.to_be_bytes());
            datagram.extend_from_slice(&[0, 0]);
            datagram.extend_from_slice(chunk);
            if let Ok(n) = sock.send_to(&datagram, peer).await {
                sent += n as u64;
            }
        }
    }
    sent
}
