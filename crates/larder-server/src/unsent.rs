//! A connection's replies the socket has not taken yet.
//!
//! The connection sends each batch's replies with one write. What the
//! socket does not take at once waits here, in order, while the connection
//! goes on reading and running the client's requests — as Redis keeps
//! reading a client whose replies wait in its output buffer. Most client
//! libraries write a whole pipeline before they read a reply: a server that
//! stopped reading until its replies went out would leave both sides
//! blocked writing once the replies outgrew the two sockets' buffers.
//!
//! The queue holds the batches' own buffers (no copy); the front one is sent
//! from an offset, and a drained buffer is handed back for the next batch,
//! so a connection whose socket keeps up allocates nothing here. Costs: one
//! `VecDeque` push and pop per batch with replies (every batch goes through
//! the queue; one the socket takes whole leaves it at once).
//!
//! Bounds: `client-output-buffer-limit normal` as in Redis — past `hard` the
//! client is closed, past `soft` for `soft-seconds` too (the connection
//! checks both). Redis's default sets neither and lets a client that never
//! reads grow the server without bound; Larder stops reading such a client
//! past [`READ_CAP`] (256 MB) held by unsent replies and lets TCP flow
//! control hold it.

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::{pin, Pin};
use std::sync::atomic::Ordering::Relaxed;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::time::Instant;

use crate::client::ClientHandle;
use crate::shared::Shared;

/// Past this much memory held by unsent replies the connection stops
/// reading the client.
pub const READ_CAP: usize = 256 << 20;
/// A drained buffer bigger than this is freed, not kept for the next batch.
const KEEP_CAPACITY: usize = 4 << 20;
/// Room a reply buffer has before it counts in `tot-mem`: Redis counts its
/// fixed 16 KB reply buffer in its base, so a buffer this size is the base.
pub const REPLY_ALLOWANCE: usize = 16 << 10;

/// What [`Unsent::send_or_read`] saw.
pub enum Io {
    /// The client sent this many bytes (now at the end of the input buffer).
    Read(usize),
    /// Every queued reply went out.
    Drained,
    /// The connection is closed or broken.
    Closed,
}

#[derive(Default)]
pub struct Unsent {
    queue: VecDeque<Vec<u8>>,
    /// Bytes of the front buffer already sent.
    head: usize,
    /// Unsent bytes in all.
    bytes: usize,
    /// The queued buffers' capacity: the memory they hold.
    held: usize,
    /// Since when `bytes` has been past the soft limit.
    over_soft: Option<Instant>,
    /// A drained buffer, for the next batch's replies.
    spare: Vec<u8>,
}

impl Unsent {
    pub fn is_empty(&self) -> bool {
        self.bytes == 0
    }

    /// Past [`READ_CAP`], counting `out` about to be queued: the client
    /// must take replies before the connection reads or runs more.
    pub fn full(&self, out: &[u8]) -> bool {
        self.held + out.len() >= READ_CAP
    }

    /// Queues `out` behind what is waiting and leaves it empty (with a
    /// drained buffer's room when there is one).
    pub fn push(&mut self, out: &mut Vec<u8>) {
        if out.is_empty() {
            return;
        }
        self.bytes += out.len();
        self.held += out.capacity();
        self.queue
            .push_back(std::mem::replace(out, std::mem::take(&mut self.spare)));
    }

    /// Writes what the socket takes; `Ready(Ok)` once nothing is left.
    fn poll_send<S: AsyncWrite + Unpin>(
        &mut self,
        stream: &mut S,
        cx: &mut Context<'_>,
        shared: &Shared,
    ) -> Poll<io::Result<()>> {
        while let Some(front) = self.queue.front_mut() {
            let n = match Pin::new(&mut *stream).poll_write(cx, &front[self.head..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            let st = &shared.stats;
            st.total_net_output_bytes.fetch_add(n as u64, Relaxed);
            st.total_writes_processed.fetch_add(1, Relaxed);
            self.head += n;
            self.bytes -= n;
            if self.head == front.len() {
                let mut done = self.queue.pop_front().expect("front");
                self.head = 0;
                self.held -= done.capacity();
                if done.capacity() <= KEEP_CAPACITY && self.spare.capacity() == 0 {
                    done.clear();
                    self.spare = done;
                }
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Writes what the socket takes now, without waiting.
    pub fn send_now<S: AsyncWrite + Unpin>(
        &mut self,
        stream: &mut S,
        shared: &Shared,
    ) -> io::Result<()> {
        let waker = futures_util::task::noop_waker();
        match self.poll_send(stream, &mut Context::from_waker(&waker), shared) {
            Poll::Ready(r) => r,
            Poll::Pending => Ok(()),
        }
    }

    /// Writes everything queued, waiting as long as it takes.
    pub async fn flush<S: AsyncWrite + Unpin>(
        &mut self,
        stream: &mut S,
        shared: &Shared,
    ) -> io::Result<()> {
        poll_fn(|cx| self.poll_send(stream, cx, shared)).await
    }

    /// Waits until the client sends more (read into `input`, unless
    /// [`Unsent::full`]) or everything queued went out, writing
    /// meanwhile.
    pub async fn send_or_read<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        stream: &mut S,
        input: &mut BytesMut,
        shared: &Shared,
    ) -> Io {
        poll_fn(|cx| {
            match self.poll_send(stream, cx, shared) {
                Poll::Ready(Ok(())) => return Poll::Ready(Io::Drained),
                Poll::Ready(Err(_)) => return Poll::Ready(Io::Closed),
                Poll::Pending => {}
            }
            if self.full(&[]) {
                return Poll::Pending;
            }
            // `read_buf` keeps no state between polls: a fresh one each time.
            match pin!(stream.read_buf(&mut *input)).poll(cx) {
                Poll::Ready(Ok(0) | Err(_)) => Poll::Ready(Io::Closed),
                Poll::Ready(Ok(n)) => Poll::Ready(Io::Read(n)),
                Poll::Pending => Poll::Pending,
            }
        })
        .await
    }

    /// `client-output-buffer-limit normal`: whether replies `out` about to
    /// be queued behind these would pass the hard limit, or the queue has
    /// been past the soft one for its seconds. Starts the soft clock.
    pub fn over_limit(&mut self, shared: &Shared, out: &[u8]) -> bool {
        let total = (self.bytes + out.len()) as u64;
        if past_hard(shared, total) {
            return true;
        }
        let soft = shared.hot.output_soft_limit.load(Relaxed);
        if soft == 0 || total <= soft {
            self.over_soft = None;
            return false;
        }
        let since = *self.over_soft.get_or_insert_with(Instant::now);
        let secs = shared.hot.output_soft_seconds.load(Relaxed);
        since.elapsed() >= Duration::from_secs(secs)
    }

    /// Frees the drained buffer kept for the next batch (an idle client's).
    pub fn release_spare(&mut self) {
        self.spare = Vec::new();
    }

    /// When the soft limit's time runs out, if the queue is past it.
    pub fn soft_deadline(&self, shared: &Shared) -> Option<Instant> {
        let secs = shared.hot.output_soft_seconds.load(Relaxed);
        self.over_soft.map(|t| t + Duration::from_secs(secs))
    }

    /// Shows the queue's size in CLIENT LIST's `omem`, and the memory its
    /// buffers hold in `tot-mem` (stores only on change).
    pub fn publish(&self, handle: &ClientHandle) {
        let bytes = self.bytes as u64;
        if handle.unsent.load(Relaxed) != bytes {
            handle.unsent.store(bytes, Relaxed);
        }
        let spare = self.spare.capacity().saturating_sub(REPLY_ALLOWANCE);
        let held = (self.held + spare) as u64;
        if handle.unsent_held.load(Relaxed) != held {
            handle.unsent_held.store(held, Relaxed);
        }
    }
}

/// `client-output-buffer-limit normal <hard>`: whether `bytes` of replies
/// waiting to be sent are past it.
pub fn past_hard(shared: &Shared, bytes: u64) -> bool {
    let hard = shared.hot.output_hard_limit.load(Relaxed);
    hard > 0 && bytes > hard
}
