//! A snapshot streamed to a replica's socket while it is being taken:
//! Redis's diskless sync, without its fork.
//!
//! The snapshot's writers (`Write` on [`PipeWriter`]) append to one buffer;
//! the connection's task takes the whole buffer at a time ([`Pipe::next`])
//! and writes it to the socket. Appending never blocks, because a writer
//! can be a command thread dumping the shard it is about to change (see
//! `larder_engine::snapshot`), and a slow replica must not stall the
//! master's commands. The snapshot's own thread, which dumps every other
//! shard, waits between shards while more than [`HIGH_WATER`] bytes are
//! unsent ([`Pipe::throttle`]): so the buffer holds about that much, plus
//! whatever shards commands dumped first, and never the whole RDB unless
//! writes touch every shard before the transfer ends.
//!
//! Either side can end it: the snapshot's thread by [`Pipe::close`] once
//! the RDB is ended (or failed), the task by [`Pipe::abandon`] when the
//! replica is gone, which fails the snapshot's next write or throttle.

use std::io::{self, Write};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};
use tokio::sync::Notify;

/// Unsent bytes past which the snapshot's thread waits.
pub const HIGH_WATER: usize = 4 << 20;

#[derive(Default)]
pub struct Pipe {
    state: Mutex<State>,
    /// The snapshot's thread waits here for room.
    room: Condvar,
    /// The task waits here for data or the end.
    data: Notify,
}

#[derive(Default)]
struct State {
    buf: Vec<u8>,
    /// The writer is gone: nothing more will come.
    closed: bool,
    /// The reader is gone: writes fail.
    abandoned: bool,
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the replica is gone")
}

impl Pipe {
    pub fn new() -> Arc<Pipe> {
        Arc::default()
    }

    /// The snapshot's end of the pipe.
    pub fn writer(self: &Arc<Pipe>) -> PipeWriter {
        PipeWriter(self.clone())
    }

    /// Swaps the buffered bytes into `chunk` (emptied first), waiting for
    /// some; false once the writer is gone and everything was taken.
    pub async fn next(&self, chunk: &mut Vec<u8>) -> bool {
        chunk.clear();
        loop {
            let notified = self.data.notified();
            {
                let mut s = self.state.lock();
                if !s.buf.is_empty() {
                    std::mem::swap(&mut s.buf, chunk);
                    self.room.notify_all();
                    return true;
                }
                if s.closed {
                    return false;
                }
            }
            notified.await;
        }
    }

    /// Blocks while more than [`HIGH_WATER`] bytes wait; an error once the
    /// reader is gone.
    pub fn throttle(&self) -> io::Result<()> {
        let mut s = self.state.lock();
        while !s.abandoned && s.buf.len() > HIGH_WATER {
            self.room.wait(&mut s);
        }
        match s.abandoned {
            true => Err(gone()),
            false => Ok(()),
        }
    }

    /// Nothing more will come: [`Pipe::next`] ends once it has taken the
    /// rest. (Not on a writer's drop: a snapshot that could not open, as
    /// another one ran, drops its writer and is tried again.)
    pub fn close(&self) {
        self.state.lock().closed = true;
        self.data.notify_one();
    }

    /// The reader is gone: the snapshot fails at its next write.
    pub fn abandon(&self) {
        let mut s = self.state.lock();
        s.abandoned = true;
        s.buf = Vec::new();
        self.room.notify_all();
    }
}

/// The writing end.
pub struct PipeWriter(Arc<Pipe>);

impl Write for PipeWriter {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let mut s = self.0.state.lock();
        if s.abandoned {
            return Err(gone());
        }
        s.buf.extend_from_slice(b);
        self.0.data.notify_one();
        Ok(b.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bytes_arrive_in_order_then_the_end() {
        let pipe = Pipe::new();
        let mut w = pipe.writer();
        let p = pipe.clone();
        let t = std::thread::spawn(move || {
            for i in 0..1000u32 {
                w.write_all(&i.to_le_bytes()).unwrap();
            }
            p.close();
        });
        let mut got = Vec::new();
        let mut chunk = Vec::new();
        while pipe.next(&mut chunk).await {
            got.extend_from_slice(&chunk);
        }
        t.join().unwrap();
        let want: Vec<u8> = (0..1000u32).flat_map(u32::to_le_bytes).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn throttle_waits_for_room_and_fails_once_abandoned() {
        let pipe = Pipe::new();
        let mut w = pipe.writer();
        w.write_all(&vec![0; HIGH_WATER + 1]).unwrap();
        let p = pipe.clone();
        let t = std::thread::spawn(move || p.throttle());
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!t.is_finished(), "throttle returned with the buffer full");
        pipe.abandon();
        assert!(t.join().unwrap().is_err());
        assert!(w.write_all(b"x").is_err());
    }
}
