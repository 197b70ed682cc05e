//! The replication backlog: the tail of the replication stream, shared by
//! every attached replica (Redis 7.0's shared replication buffer).
//!
//! One `VecDeque<u8>` holds the stream's bytes from offset `start` (the
//! byte after `start` is `data[0]`; Redis calls `start + 1` the backlog's
//! first byte offset) to `end`. It lives inside the propagation feed's
//! mutex (`propagate::FeedInner::backlog`), so bytes enter it in exactly the
//! order they enter the AOF. Each streaming replica is a *reader* with a
//! position in it; a replica task copies the bytes after its position out in
//! bounded chunks and writes them to its socket. The buffer keeps the last
//! `repl-backlog-size` bytes (for partial resyncs) and, beyond that, what
//! the slowest reader has not taken yet — up to the replica class's
//! `client-output-buffer-limit` hard limit: a reader that falls further
//! behind is dropped (its task then disconnects the replica, as Redis
//! does), so a slow replica never grows memory without bound nor blocks a
//! writer.
//!
//! Costs: a memcpy per appended command; trimming is a head move. Waking
//! readers costs nothing unless one is asleep (`waiting`).

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::Notify;

/// A reader was dropped for falling past the output limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dropped;

struct Reader {
    id: u64,
    pos: u64,
}

pub struct Backlog {
    data: VecDeque<u8>,
    start: u64,
    /// `repl-backlog-size`.
    size: u64,
    /// The replica output hard limit in bytes (0: none).
    hard_limit: u64,
    readers: Vec<Reader>,
    /// Wakes sleeping readers when bytes arrive.
    pub wake: Arc<Notify>,
    waiting: bool,
}

impl Backlog {
    /// An empty backlog whose next byte follows offset `start`.
    pub fn new(start: u64, size: u64, hard_limit: u64) -> Backlog {
        Backlog {
            data: VecDeque::new(),
            start,
            size: size.max(1),
            hard_limit,
            readers: Vec::new(),
            wake: Arc::new(Notify::new()),
            waiting: false,
        }
    }

    /// The offset of the last byte (Redis's `master_repl_offset`).
    pub fn end(&self) -> u64 {
        self.start + self.data.len() as u64
    }

    /// `repl_backlog_first_byte_offset`.
    pub fn first_byte(&self) -> u64 {
        self.start + 1
    }

    /// `repl_backlog_histlen`: bytes held.
    pub fn histlen(&self) -> u64 {
        self.data.len() as u64
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Applies `repl-backlog-size` and the replica output hard limit.
    pub fn configure(&mut self, size: u64, hard_limit: u64) {
        self.size = size.max(1);
        self.hard_limit = hard_limit;
        self.trim();
    }

    /// Whether the bytes after offset `pos` are all here (a partial resync
    /// from `pos` is possible).
    pub fn has(&self, pos: u64) -> bool {
        pos >= self.start && pos <= self.end()
    }

    pub fn push(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.data.extend(bytes);
        if self.hard_limit > 0 {
            let (end, limit) = (self.end(), self.hard_limit);
            self.readers.retain(|r| end - r.pos <= limit);
        }
        self.trim();
        if self.waiting {
            self.waiting = false;
            self.wake.notify_waiters();
        }
    }

    fn trim(&mut self) {
        let mut keep = self.end().saturating_sub(self.size);
        for r in &self.readers {
            keep = keep.min(r.pos);
        }
        if keep > self.start {
            self.data.drain(..(keep - self.start) as usize);
            self.start = keep;
        }
        // Give back the room a burst (a big command, a slow reader) grew
        // once it is consumed, as Redis frees its replication buffer's
        // blocks: otherwise one large write would hold its size here for
        // good. Growth only doubles, so this never shrinks what the next
        // push needs back.
        let need = (self.data.len() as u64).max(self.size) as usize;
        if self.data.capacity() > 2 * need {
            self.data.shrink_to(need);
        }
    }

    /// Registers reader `id` at offset `pos` (which must be held: [`has`]).
    ///
    /// [`has`]: Backlog::has
    pub fn add_reader(&mut self, id: u64, pos: u64) {
        debug_assert!(self.has(pos));
        self.readers.retain(|r| r.id != id);
        self.readers.push(Reader { id, pos });
    }

    pub fn remove_reader(&mut self, id: u64) {
        self.readers.retain(|r| r.id != id);
        self.trim();
    }

    /// Copies up to `max` bytes after reader `id`'s position into `out` and
    /// advances it; returns how many, with the reader's remaining lag.
    /// With nothing to copy, marks the backlog so the next push wakes
    /// `wake`'s waiters (enable the `Notified` before calling).
    pub fn read(
        &mut self,
        id: u64,
        out: &mut Vec<u8>,
        max: usize,
    ) -> Result<(usize, u64), Dropped> {
        let end = self.end();
        let start = self.start;
        let r = self
            .readers
            .iter_mut()
            .find(|r| r.id == id)
            .ok_or(Dropped)?;
        let from = (r.pos - start) as usize;
        let n = ((end - r.pos) as usize).min(max);
        if n == 0 {
            self.waiting = true;
            return Ok((0, 0));
        }
        let (a, b) = self.data.as_slices();
        let to = from + n;
        if from < a.len() {
            out.extend_from_slice(&a[from..to.min(a.len())]);
        }
        if to > a.len() {
            out.extend_from_slice(&b[from.saturating_sub(a.len())..to - a.len()]);
        }
        r.pos += n as u64;
        let lag = end - r.pos;
        self.trim();
        Ok((n, lag))
    }

    /// Bytes reader `id` has yet to take (0 if it is gone).
    pub fn lag(&self, id: u64) -> u64 {
        let end = self.end();
        self.readers
            .iter()
            .find(|r| r.id == id)
            .map_or(0, |r| end - r.pos)
    }

    /// Bytes held, for INFO memory's `mem_replication_backlog`.
    pub fn bytes(&self) -> u64 {
        self.data.capacity() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_size_and_what_readers_need() {
        let mut b = Backlog::new(0, 4, 0);
        b.push(b"abcdef");
        assert_eq!((b.first_byte(), b.histlen(), b.end()), (3, 4, 6));
        assert!(b.has(2) && b.has(6) && !b.has(1));
        b.add_reader(1, 3);
        b.push(b"ghij");
        // The reader at 3 holds bytes the size alone would have dropped.
        assert_eq!((b.first_byte(), b.end()), (4, 10));
        let mut out = Vec::new();
        assert_eq!(b.read(1, &mut out, 3), Ok((3, 4)));
        assert_eq!(out, b"def");
        assert_eq!(b.first_byte(), 7);
        out.clear();
        assert_eq!(b.read(1, &mut out, 100), Ok((4, 0)));
        assert_eq!(out, b"ghij");
        assert_eq!(b.read(1, &mut out, 100), Ok((0, 0)));
    }

    #[test]
    fn drops_readers_past_the_hard_limit() {
        let mut b = Backlog::new(10, 4, 8);
        b.add_reader(7, 10);
        b.push(b"12345678");
        assert_eq!(b.lag(7), 8);
        b.push(b"9");
        let mut out = Vec::new();
        assert_eq!(b.read(7, &mut out, 100), Err(Dropped));
        assert_eq!(b.histlen(), 4);
    }
}
