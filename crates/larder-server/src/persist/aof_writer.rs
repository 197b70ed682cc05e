//! Writing the AOF: who moves the feed's bytes into the INCR file, and when
//! a reply that acknowledges a write may go.
//!
//! The feed (`propagate.rs`) holds the commands not yet written, each at an
//! offset; a client's replies wait until the file holds everything up to
//! the offset its writes reached ([`settle`]). The open INCR file and its
//! bookkeeping are an [`Out`] under a mutex, and whoever holds it drains the
//! feed into the file:
//!
//! - Under `appendfsync everysec` and `no`, the connection whose replies
//!   wait does the write itself, as Redis writes its AOF buffer in its event
//!   loop before it replies. It yields once first, so that the connections
//!   its worker serves next append theirs too: one `write` then covers them
//!   all (group commit), and nobody waits for another thread's wake-up. A
//!   connection that finds the file taken waits for the synced offset to
//!   move, and drains again itself if that write did not reach its bytes.
//! - The writer thread wakes every [`POLL`] (a kick wakes it at once: a
//!   rewrite's file switch, stop). It writes what no reply waits for
//!   (expiry and eviction DELs, a replica's stream) and, under `everysec`,
//!   fsyncs once a second on its own handle of the file, outside the mutex,
//!   so writes go on meanwhile. It alone writes the old file's tail at a
//!   rewrite's switch, and fsyncs it.
//! - Under `always`, each append wakes the writer thread (it sleeps as the
//!   feed's idle consumer); it writes, fsyncs and only then publishes the
//!   synced offset, so every client whose writes landed in that batch is
//!   released by the same fsync (group commit). Connections only wait.
//!
//! A failed write keeps the unwritten bytes in `Out` (nothing is written
//! twice: what a short write took is cut off first); the writer thread
//! retries each second, as Redis keeps its buffer and retries, and the
//! replies that wait for those bytes wait meanwhile
//! (`aof_last_write_status:err`).
//!
//! Costs: under `everysec`, one `write` (a copy into the page cache) per
//! group of connections served in a row on a worker, on that worker, and a
//! yield per connection that wrote; the thread's poll is 100 wake-ups a
//! second whatever the load.

use std::fs::File;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::aof::{AofState, FSYNC_ALWAYS, FSYNC_EVERYSEC};
use crate::shared::Shared;

/// How often the writer thread looks for bytes nobody drained.
const POLL: Duration = Duration::from_millis(10);

/// The open INCR file and what its writer knows (see the module comment).
pub struct Out {
    /// Shared so that an fsync can run without the mutex.
    file: Arc<File>,
    /// Taken from the feed and not yet written (after a failed write).
    chunk: Vec<u8>,
    /// The feed offset at the end of `chunk`.
    end: u64,
    /// The second of the last `#TS:` annotation.
    last_ts: u64,
    /// Written since the last fsync.
    unsynced: bool,
    last_fsync: Instant,
}

impl Out {
    pub fn new(file: File) -> Out {
        Out {
            file: Arc::new(file),
            chunk: Vec::new(),
            end: 0,
            last_ts: 0,
            unsynced: false,
            last_fsync: Instant::now(),
        }
    }
}

/// A file switch for the writer thread, set at a rewrite's instant.
pub struct Switch {
    /// Feed bytes from before the switch instant: the old file's tail.
    pub tail: Vec<u8>,
    pub file: File,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Who {
    /// A connection whose replies wait ([`settle`]).
    Connection,
    Thread,
}

/// Before a connection's replies go out: waits until the writes they
/// acknowledge are in the AOF (fsynced, under `appendfsync always`), writing
/// them itself unless `always`. `wait` is the feed offset its writes
/// reached (0 for none); it is cleared.
pub async fn settle(shared: &Shared, wait: &mut u64) {
    let offset = std::mem::take(wait);
    let feed = &shared.propagate.feed;
    if offset == 0 || feed.synced() >= offset {
        return;
    }
    let inline = shared.aof.fsync.load(Relaxed) != FSYNC_ALWAYS;
    if inline {
        // The connections served next append first: one write for all.
        tokio::task::yield_now().await;
    }
    let mut moved = feed.watch_synced();
    loop {
        if feed.synced() >= offset {
            return;
        }
        if inline && try_drain(shared) {
            continue;
        }
        if moved.changed().await.is_err() {
            return;
        }
    }
}

/// Drains the feed if the file is free. True if everything taken was written.
fn try_drain(shared: &Shared) -> bool {
    let Some(mut out) = shared.aof.out.try_lock() else {
        return false;
    };
    out.as_mut()
        .is_some_and(|out| drain(shared, out, Who::Connection))
}

/// Writes what the feed holds (after the old file's tail, at a switch, and
/// under `always` fsyncs), then publishes the synced offset. False if a
/// write failed, or a connection found work it leaves to the thread (a
/// switch; `always`).
fn drain(shared: &Shared, out: &mut Out, who: Who) -> bool {
    let st = &shared.aof;
    let feed = &shared.propagate.feed;
    let policy = st.fsync.load(Relaxed);
    if who == Who::Connection && policy == FSYNC_ALWAYS {
        return false;
    }
    let switch = {
        let _g = feed.lock();
        let mut sw = st.switch.lock();
        if sw.is_some() && who == Who::Connection {
            return false;
        }
        sw.take()
    };
    if let Some(sw) = switch {
        // The old file gets every byte from before the instant, durably.
        out.chunk.extend_from_slice(&sw.tail);
        if !write_chunk(st, out) {
            // What is left of the tail is in `chunk`, for the old file.
            *st.switch.lock() = Some(Switch {
                tail: Vec::new(),
                file: sw.file,
            });
            return false;
        }
        let _ = out.file.sync_data();
        *out = Out {
            end: out.end,
            last_ts: out.last_ts,
            ..Out::new(sw.file)
        };
    }
    {
        let mut g = feed.lock();
        if !g.buf.is_empty() {
            if st.timestamps.load(Relaxed) {
                let now = crate::shared::unix_secs();
                if now != out.last_ts {
                    out.last_ts = now;
                    out.chunk
                        .extend_from_slice(format!("#TS:{now}\r\n").as_bytes());
                }
            }
            if out.chunk.is_empty() {
                std::mem::swap(&mut g.buf, &mut out.chunk);
            } else {
                out.chunk.extend_from_slice(&g.buf);
                g.buf.clear();
            }
        }
        out.end = g.offset;
    }
    // DEBUG AOF-FLUSH-SLEEP: a test hook, as Redis's (which blocks its loop).
    let sleep_us = st.flush_sleep_us.load(Relaxed);
    if sleep_us > 0 && !out.chunk.is_empty() {
        std::thread::sleep(Duration::from_micros(sleep_us));
    }
    if !write_chunk(st, out) {
        return false;
    }
    let skip_fsync = st.no_fsync_on_rewrite.load(Relaxed) && st.rewrite_in_progress.load(Relaxed);
    if policy == FSYNC_ALWAYS && out.unsynced && !skip_fsync {
        fsync(st, out);
    }
    feed.set_synced(out.end);
    true
}

/// Writes `out.chunk`, keeping what a failed write left. True when all of
/// it is written.
fn write_chunk(st: &AofState, out: &mut Out) -> bool {
    let mut done = 0;
    let result = loop {
        if done == out.chunk.len() {
            break Ok(());
        }
        match (&*out.file).write(&out.chunk[done..]) {
            Ok(0) => break Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    st.current_size.fetch_add(done as u64, Relaxed);
    out.unsynced |= done > 0;
    if done == out.chunk.len() {
        out.chunk.clear();
    } else {
        out.chunk.drain(..done);
    }
    match result {
        Ok(()) => {
            st.last_write_ok.store(true, Relaxed);
            true
        }
        Err(e) => {
            if st.last_write_ok.swap(false, Relaxed) {
                tracing::warn!("Error writing to the AOF file: {e}");
            }
            false
        }
    }
}

fn fsync(st: &AofState, out: &mut Out) {
    if out.file.sync_data().is_err() {
        st.last_write_ok.store(false, Relaxed);
    }
    out.unsynced = false;
    out.last_fsync = Instant::now();
}

/// The writer thread (see the module comment). At `stop` it writes and
/// fsyncs what is left, releases every waiting reply and drops the file.
pub fn run(shared: &Shared, stop: &AtomicBool) {
    let feed = &shared.propagate.feed;
    let st = &shared.aof;
    loop {
        let stopping = stop.load(Relaxed);
        let policy = st.fsync.load(Relaxed);
        if !stopping && st.switch.lock().is_none() {
            let mut g = feed.lock();
            if policy == FSYNC_ALWAYS {
                feed.wait_for_data(&mut g, Duration::from_secs(1));
            } else {
                feed.wait_for_kick(&mut g, POLL);
            }
        }
        let mut guard = st.out.lock();
        let Some(out) = guard.as_mut() else { return };
        if !drain(shared, out, Who::Thread) && !stopping {
            drop(guard);
            std::thread::sleep(Duration::from_secs(1));
            continue;
        }
        if stopping {
            if out.unsynced {
                fsync(st, out);
            }
            *guard = None;
            feed.set_synced(u64::MAX);
            return;
        }
        let skip_fsync =
            st.no_fsync_on_rewrite.load(Relaxed) && st.rewrite_in_progress.load(Relaxed);
        if policy == FSYNC_EVERYSEC
            && out.unsynced
            && out.last_fsync.elapsed() >= Duration::from_secs(1)
            && !skip_fsync
        {
            let file = out.file.clone();
            out.unsynced = false;
            out.last_fsync = Instant::now();
            drop(guard);
            if file.sync_data().is_err() {
                st.last_write_ok.store(false, Relaxed);
            }
        }
    }
}
