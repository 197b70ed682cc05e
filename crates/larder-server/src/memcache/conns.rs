//! The memcached connections and listeners, for `stats conns` and the
//! `cfd=` of `watch` events.
//!
//! As memcached, a connection is named by its socket's file descriptor and
//! listed in fd order: the listeners (`conn_listening`), then each client
//! with its address, the listener's address, its state and the seconds
//! since its last command; a UDP socket (one per connection thread, all
//! reading the same port) is listed as memcached lists an idle one. The
//! registry (a mutex over a map) is touched when a connection opens or
//! closes; while it runs, a connection updates its own [`ConnInfo`] (two
//! relaxed stores per batch of requests).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering::Relaxed};
use std::sync::Arc;

use larder_memcache::reply::stat;
use parking_lot::Mutex;

use crate::signal::{self, Signal};

/// A connection's state, named as memcached's `state_text`.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum State {
    NewCmd = 0,
    Read,
    ParseCmd,
    Nread,
    Watch,
}

impl State {
    fn name(s: u8) -> &'static str {
        match s {
            0 => "conn_new_cmd",
            1 => "conn_read",
            2 => "conn_parse_cmd",
            3 => "conn_nread",
            _ => "conn_watch",
        }
    }
}

/// A socket's address: an IP one, a unix socket's path (empty for a
/// client's unnamed end), or a UDP socket's own address.
#[derive(Clone, Debug)]
pub enum Addr {
    Ip(SocketAddr),
    Unix(String),
    Udp(SocketAddr),
}

/// What `stats conns` shows of a client connection.
pub struct ConnInfo {
    pub fd: i32,
    pub peer: Addr,
    pub local: Addr,
    /// Unix seconds of the last command.
    last_cmd: AtomicU32,
    state: AtomicU8,
    /// Wakes the connection when the server stops (`signal::STOP`).
    pub events: Signal,
}

impl ConnInfo {
    pub fn set_state(&self, s: State) {
        self.state.store(s as u8, Relaxed);
    }

    pub fn touch(&self, now_secs: u32) {
        self.last_cmd.store(now_secs, Relaxed);
    }
}

struct Listener {
    addr: Addr,
    since: u32,
}

#[derive(Default)]
pub struct Registry {
    listeners: Mutex<BTreeMap<i32, Listener>>,
    conns: Mutex<BTreeMap<i32, Arc<ConnInfo>>>,
}

/// memcached's `tcp:1.2.3.4:5` / `tcp6:[::1]:5` / `unix:/path`; a unix
/// client, whose address memcached keeps zeroed, is `?:<AF 0>` there too.
fn addr_text(a: &Addr) -> String {
    match a {
        Addr::Ip(SocketAddr::V4(v)) => format!("tcp:{}:{}", v.ip(), v.port()),
        Addr::Ip(SocketAddr::V6(v)) => format!("tcp6:[{}]:{}", v.ip(), v.port()),
        Addr::Unix(p) if p.len() >= 2 => format!("unix:{p}"),
        Addr::Unix(_) => "?:<AF 0>".to_string(),
        Addr::Udp(SocketAddr::V4(v)) => format!("udp:{}:{}", v.ip(), v.port()),
        Addr::Udp(SocketAddr::V6(v)) => format!("udp6:[{}]:{}", v.ip(), v.port()),
    }
}

impl Registry {
    pub fn add_listener(&self, fd: i32, addr: Addr, now_secs: u32) {
        self.listeners.lock().insert(
            fd,
            Listener {
                addr,
                since: now_secs,
            },
        );
    }

    pub fn open(&self, fd: i32, peer: Addr, local: Addr, now_secs: u32) -> Arc<ConnInfo> {
        let info = Arc::new(ConnInfo {
            fd,
            peer,
            local,
            last_cmd: AtomicU32::new(now_secs),
            state: AtomicU8::new(State::NewCmd as u8),
            events: Signal::default(),
        });
        self.conns.lock().insert(fd, info.clone());
        info
    }

    pub fn listeners(&self) -> usize {
        self.listeners.lock().len()
    }

    pub fn close(&self, fd: i32) {
        self.conns.lock().remove(&fd);
    }

    /// The server is stopping: every connection closes.
    pub fn stop_all(&self) {
        for c in self.conns.lock().values() {
            c.events.raise(signal::STOP);
        }
    }

    /// `stats conns` (without the END).
    pub fn stats(&self, now_secs: u32, out: &mut Vec<u8>) {
        enum Row<'a> {
            Listen(&'a Listener),
            Conn(&'a ConnInfo),
        }
        let listeners = self.listeners.lock();
        let conns: Vec<Arc<ConnInfo>> = self.conns.lock().values().cloned().collect();
        let mut rows: Vec<(i32, Row<'_>)> = listeners
            .iter()
            .map(|(&fd, l)| (fd, Row::Listen(l)))
            .chain(conns.iter().map(|c| (c.fd, Row::Conn(c))))
            .collect();
        rows.sort_by_key(|r| r.0);
        for (fd, row) in rows {
            match row {
                Row::Listen(l) => {
                    stat(out, &format!("{fd}:addr"), addr_text(&l.addr));
                    stat(out, &format!("{fd}:state"), "conn_listening");
                    stat(
                        out,
                        &format!("{fd}:secs_since_last_cmd"),
                        now_secs.saturating_sub(l.since),
                    );
                }
                Row::Conn(c) => {
                    // A UDP socket, between datagrams: its own address.
                    let udp = matches!(c.local, Addr::Udp(_));
                    if udp {
                        stat(out, &format!("{fd}:UDP"), "UDP");
                    }
                    stat(out, &format!("{fd}:addr"), addr_text(&c.peer));
                    if !udp {
                        stat(out, &format!("{fd}:listen_addr"), addr_text(&c.local));
                    }
                    stat(
                        out,
                        &format!("{fd}:state"),
                        State::name(c.state.load(Relaxed)),
                    );
                    stat(
                        out,
                        &format!("{fd}:secs_since_last_cmd"),
                        now_secs.saturating_sub(c.last_cmd.load(Relaxed)),
                    );
                }
            }
        }
    }
}
