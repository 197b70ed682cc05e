//! memcached's threading model, for memcached clients: one single-threaded
//! tokio runtime per core (`memcache-threads`), each on its own OS thread, with every new
//! connection dealt to the next thread round-robin, where it stays (as
//! memcached's `-t` worker threads are dealt connections by its listener).
//!
//! RESP clients run on the server's work-stealing runtime. For memcached
//! clients a connection that never moves is cheaper: an idle thread parks in
//! its own epoll and wakes only for its own sockets, with no cross-thread
//! wake-ups to steal work. Measured with memcaslap and `larder bench
//! --protocol memcache` in BENCHMARKS.md (session 7). Both runtimes use the
//! same engine, so the shard locks are what the threads share.
//!
//! Cost: one OS thread per core (by default), parked until memcached clients come; each
//! accepted socket moves from the acceptor's reactor to its thread's once.
//! A UDP port is read by every thread, each through its own descriptor.
//! [`Threads`] is owned by the server's run loop and the accept loops: when
//! the server stops they end, the last one drops it, and each thread's
//! runtime ends with the connections (and UDP sockets) it still held.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

use tokio::net::{TcpStream, UdpSocket, UnixStream};
use tokio::runtime::Handle;
use tokio::sync::oneshot;

use crate::shared::Shared;

/// Connection threads a server starts (`memcache-threads`, memcached's
/// `-t`; 0 = one per core), as `stats` reports them.
pub fn count(configured: usize) -> usize {
    match configured {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    }
}

pub struct Threads {
    handles: Vec<Handle>,
    next: AtomicUsize,
    /// Dropping these ends the threads' runtimes.
    _stop: Vec<oneshot::Sender<()>>,
}

impl Threads {
    /// Starts `n` (at least one) connection threads.
    pub async fn start(n: usize) -> std::io::Result<Threads> {
        let mut handles = Vec::new();
        let mut stops = Vec::new();
        for i in 0..n.max(1) {
            let (handle_tx, handle_rx) = oneshot::channel();
            let (stop_tx, stop_rx) = oneshot::channel::<()>();
            std::thread::Builder::new()
                .name(format!("larder-mc-{i}"))
                .spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build();
                    match rt {
                        Ok(rt) => {
                            let _ = handle_tx.send(Ok(rt.handle().clone()));
                            let _ = rt.block_on(stop_rx);
                        }
                        Err(e) => {
                            let _ = handle_tx.send(Err(e));
                        }
                    }
                })?;
            let handle = handle_rx
                .await
                .map_err(|_| std::io::Error::other("memcached thread died at start"))??;
            handles.push(handle);
            stops.push(stop_tx);
        }
        Ok(Threads {
            handles,
            next: AtomicUsize::new(0),
            _stop: stops,
        })
    }

    fn next(&self) -> &Handle {
        &self.handles[self.next.fetch_add(1, Relaxed) % self.handles.len()]
    }

    // Each socket moves out of the acceptor's reactor, into its thread's
    // (from_std must run there). A socket that cannot move is dropped: the
    // client sees the connection close, as on any accept-time failure.

    /// Serves a TCP client on the next thread.
    pub fn serve(&self, shared: Arc<Shared>, stream: TcpStream) {
        let Ok(std) = stream.into_std() else { return };
        self.next().spawn(async move {
            if let Ok(stream) = TcpStream::from_std(std) {
                super::conn::serve_tcp(shared, stream).await;
            }
        });
    }

    /// Serves a UDP socket on every thread, each through its own
    /// descriptor (memcached's `num_threads_per_udp`).
    pub fn serve_udp(
        &self,
        shared: &Arc<Shared>,
        sock: &std::net::UdpSocket,
    ) -> std::io::Result<()> {
        for handle in &self.handles {
            let std = sock.try_clone()?;
            let shared = shared.clone();
            handle.spawn(async move {
                if let Ok(sock) = UdpSocket::from_std(std) {
                    super::udp::serve(shared, sock).await;
                }
            });
        }
        Ok(())
    }

    /// Serves a client of the unix socket at `path` on the next thread.
    pub fn serve_unix(&self, shared: Arc<Shared>, stream: UnixStream, path: String) {
        let Ok(std) = stream.into_std() else { return };
        self.next().spawn(async move {
            if let Ok(stream) = UnixStream::from_std(std) {
                super::conn::serve_unix(shared, stream, path).await;
            }
        });
    }
}
