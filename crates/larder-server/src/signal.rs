//! Wake-ups for one waiting task: event bits that any thread may raise and
//! the connection that owns them waits on.
//!
//! A connection waits on its socket and, beside it, on "something happened
//! to me" (killed, server stopping, pushes queued, buffer to shrink). Tokio's
//! `Notify` and `watch` enqueue and dequeue a waiter under a mutex on every
//! wait, and a connection waits once per request: at one request per
//! round trip that was several lock pairs per command. Here a wait swaps
//! the bits out and registers the task's waker in an `AtomicWaker` (a few
//! atomic operations, no lock, no allocation once registered); raising is
//! an atomic OR and a wake. Bits are consumed by the wait that sees them.

use std::future::poll_fn;
use std::sync::atomic::AtomicU8;
use std::sync::atomic::Ordering::{AcqRel, Release};
use std::task::Poll;

use futures_util::task::AtomicWaker;

/// The client was killed or the server is stopping: close.
pub const STOP: u8 = 1;
/// Pushes were queued in the client's outbox.
pub const PUSH: u8 = 2;
/// The cron asks the idle connection to shrink its input buffer.
pub const SHRINK: u8 = 4;

#[derive(Default)]
pub struct Signal {
    bits: AtomicU8,
    waker: AtomicWaker,
}

impl Signal {
    pub fn raise(&self, bits: u8) {
        self.bits.fetch_or(bits, Release);
        self.waker.wake();
    }

    /// Waits until some bits are raised and takes them. One task waits.
    pub async fn wait(&self) -> u8 {
        poll_fn(|cx| {
            let bits = self.bits.swap(0, AcqRel);
            if bits != 0 {
                return Poll::Ready(bits);
            }
            self.waker.register(cx.waker());
            // A raise between the swap and the registration woke nobody.
            match self.bits.swap(0, AcqRel) {
                0 => Poll::Pending,
                bits => Poll::Ready(bits),
            }
        })
        .await
    }
}
