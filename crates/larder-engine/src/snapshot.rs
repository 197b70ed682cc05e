//! Fork-less point-in-time snapshots of the whole keyspace, written as RDB.
//!
//! Redis forks and lets the kernel copy pages on write. Larder has threads
//! instead, and uses the shard as its unit of copy-on-write:
//!
//! 1. [`Engine::begin_snapshot`] locks every shard (the start instant), runs
//!    the caller's `at_start` closure there (the AOF switches its
//!    incremental file at exactly this instant; it may name the replication
//!    position the file stands at), writes the header, records the time, the dirty
//!    counter and each database's size, opens epoch E, and unlocks. Cost: one
//!    whole-keyspace lock, as long as a DBSIZE.
//! 2. Every shard carries "dumped in epoch E" (`Shard::snap_epoch`). Whoever
//!    locks a shard that is not yet dumped during the epoch serializes it
//!    first, under that lock: a writer therefore always finds its shard
//!    already written out as it was at the start instant, and changes it
//!    afterwards. No key is copied; the image is exact.
//! 3. [`Snapshot::finish`] (the BGSAVE thread) walks the shards in order and
//!    dumps those nobody has touched yet, then writes EOF and the checksum
//!    and closes the epoch.
//!
//! A shard's chunk is `SELECTDB db [RESIZEDB] pairs...` for each database it
//! holds; RDB lets SELECTDB repeat, so chunks go out in whatever order the
//! shards are dumped (RESIZEDB, a hint, goes with the first chunk of each
//! database, carrying the database's size at the start instant). Keys that
//! had expired but were not reclaimed yet are written too, as Redis writes
//! them: a master loading the file drops them (`rdb_last_load_keys_expired`)
//! and a replica keeps them until its master's `DEL`.
//!
//! Costs, measured in bench/persist-snapshot.sh: memory beyond the dataset
//! is one serialized shard per thread dumping at the same moment (about
//! 1/64 of the RDB size each) plus the output buffer — no copy of the data.
//! Time: the whole serialization is done once, split between the snapshot
//! thread and writers; a writer that is first to touch a shard during the
//! epoch waits for that shard's serialization (≈ RDB size / 64 of work,
//! a few ms at a million keys), which is Larder's version of fork latency,
//! spread over the first touches instead of paid at once. When no snapshot
//! runs, locking a shard costs one extra relaxed atomic load.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::access::now_ms;
use crate::keyspace::{Engine, Shard, ShardGuard};
use crate::rdb::write::{save_header, save_pair, save_resizedb, save_selectdb, ReplAux};
use crate::rdb::{RdbOptions, RdbSink};

/// The engine's snapshot slot: the open epoch (0 = none) and its output.
#[derive(Default)]
pub(crate) struct SnapState {
    /// A snapshot is open (set before its shards are locked).
    running: AtomicBool,
    epoch: AtomicU64,
    last_epoch: AtomicU64,
    active: Mutex<Option<Arc<dyn DumpShard>>>,
    /// The last closed snapshot's final progress (see `snapshot_progress`).
    last_progress: Mutex<(u64, u64)>,
}

/// An open snapshot's output, type-erased for the engine's slot.
trait DumpShard: Send + Sync {
    fn epoch(&self) -> u64;
    /// Serializes `shard`; returns the keys written.
    fn dump(&self, shard: &Shard, by_writer: bool) -> u64;
    /// (keys serialized so far, keys at the start instant).
    fn progress(&self) -> (u64, u64);
}

/// Serialized keys are added to the shared progress count in steps of this.
const PROGRESS_STEP: u64 = 4096;

/// Another snapshot is running (one at a time, as one fork at a time in Redis).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a snapshot is already in progress")]
pub struct SnapshotBusy;

/// What a finished snapshot did.
#[derive(Debug, Clone, Default)]
pub struct SnapshotStats {
    pub keys: u64,
    pub bytes: u64,
    /// Shards serialized by other threads on first touch (the rest by `finish`).
    pub shards_by_writers: usize,
    /// Largest serialized shard chunk: the peak extra buffer per dumping thread.
    pub max_chunk: usize,
    pub elapsed: Duration,
}

struct Out<W: Write> {
    sink: Option<RdbSink<W>>,
    resized: Vec<bool>,
    error: Option<io::Error>,
}

struct Active<W: Write> {
    epoch: u64,
    start_ms: u64,
    opts: RdbOptions,
    /// (keys, keys with a TTL) per database at the start instant.
    sizes: Vec<(usize, usize)>,
    out: Mutex<Out<W>>,
    keys: AtomicU64,
    by_writers: AtomicUsize,
    max_chunk: AtomicUsize,
}

impl<W: Write + Send> DumpShard for Active<W> {
    fn epoch(&self) -> u64 {
        self.epoch
    }

    fn progress(&self) -> (u64, u64) {
        let total = self.sizes.iter().map(|s| s.0 as u64).sum();
        (self.keys.load(Relaxed), total)
    }

    fn dump(&self, shard: &Shard, by_writer: bool) -> u64 {
        // Serialize outside the output lock, so two threads dumping two
        // shards work in parallel; only the copy to the sink is serialized.
        let mut buf = Vec::new();
        let mut parts: Vec<(usize, usize, usize)> = Vec::new();
        let mut keys = 0u64;
        let mut written = 0u64;
        for (d, db) in shard.dbs.iter().enumerate() {
            if db.is_empty() || !self.opts.keys {
                continue;
            }
            let from = buf.len();
            for e in db.iter() {
                save_pair(&mut buf, e, &self.opts, self.start_ms);
                keys += 1;
                written += 1;
                if keys == PROGRESS_STEP {
                    self.keys.fetch_add(keys, Relaxed);
                    keys = 0;
                }
            }
            if buf.len() > from {
                parts.push((d, from, buf.len()));
            }
        }
        self.keys.fetch_add(keys, Relaxed);
        self.max_chunk.fetch_max(buf.len(), Relaxed);
        if by_writer {
            self.by_writers.fetch_add(1, Relaxed);
        }
        if parts.is_empty() {
            return written;
        }
        let mut out = self.out.lock();
        let o = &mut *out;
        let (Some(sink), None) = (o.sink.as_mut(), o.error.as_ref()) else {
            return written;
        };
        let mut head = Vec::with_capacity(16);
        let res = parts.iter().try_for_each(|&(d, from, to)| {
            head.clear();
            save_selectdb(&mut head, d);
            if !o.resized[d] {
                o.resized[d] = true;
                save_resizedb(&mut head, self.sizes[d].0, self.sizes[d].1);
            }
            sink.write(&head)?;
            sink.write(&buf[from..to])
        });
        if let Err(e) = res {
            o.error = Some(e);
        }
        written
    }
}

/// How a snapshot's own thread paces itself: Redis's `rdb-key-save-delay`
/// (microseconds after each key; a negative `-n` sleeps 1 µs per `n` keys),
/// a flag that abandons the snapshot (Redis kills its child: CONFIG SET
/// appendonly no during a rewrite), and a throttle that blocks while the
/// output's reader is behind (a snapshot streamed to a replica's socket)
/// and fails when the reader is gone. Only `finish` is paced, between
/// shards and with no lock held; a writer dumping the shard it touches
/// never waits for it.
#[derive(Clone, Default)]
pub struct Pace {
    pub key_delay_us: i64,
    pub cancel: Option<Arc<AtomicBool>>,
    pub throttle: Option<Arc<dyn Fn() -> io::Result<()> + Send + Sync>>,
}

impl Pace {
    /// Waits for the throttle, then sleeps for `keys` keys' worth of
    /// delay, in slices that watch the cancel flag; an error once it is
    /// raised or the throttle fails.
    pub fn after_keys(&self, keys: u64) -> io::Result<()> {
        if let Some(throttle) = &self.throttle {
            throttle()?;
        }
        let d = self.key_delay_us;
        let mut us = match d {
            0 => 0,
            d if d > 0 => keys.saturating_mul(d as u64),
            d => keys / d.unsigned_abs(),
        };
        loop {
            if self.cancel.as_ref().is_some_and(|c| c.load(Relaxed)) {
                return Err(io::Error::new(io::ErrorKind::Interrupted, "killed"));
            }
            if us == 0 {
                return Ok(());
            }
            let step = us.min(10_000);
            std::thread::sleep(Duration::from_micros(step));
            us -= step;
        }
    }
}

/// An open snapshot (see the module comment). Dropping it without
/// [`Snapshot::finish`] abandons the image and closes the epoch.
pub struct Snapshot<W: Write + Send + 'static> {
    state: Arc<SnapState>,
    active: Arc<Active<W>>,
    dirty_at_start: u64,
    started: Instant,
    done: bool,
    pace: Pace,
}

impl Engine {
    /// Shard `i`'s lock, after dumping the shard into the open snapshot if
    /// it is the first to be touched in the snapshot's epoch.
    pub(crate) fn lock_shard(&self, i: usize) -> ShardGuard<'_> {
        let mut g = self.lock_shard_plain(i);
        let epoch = self.snap.epoch.load(Relaxed);
        if epoch != 0 && g.snap_epoch != epoch {
            self.snap.dump_now(epoch, &mut g, true);
        }
        g
    }

    /// Opens a snapshot of the keyspace as it is now, streaming to `out`
    /// (the RDB header is written at once). `at_start` runs at the start
    /// instant, while every shard is locked: it must not touch the engine;
    /// what it returns goes in the header as the replication AUX fields.
    pub fn begin_snapshot<W: Write + Send + 'static>(
        &self,
        out: W,
        opts: RdbOptions,
        at_start: impl FnOnce() -> Option<ReplAux>,
    ) -> Result<Snapshot<W>, SnapshotBusy> {
        // The slot's mutex is never held while waiting for a shard: a
        // writer holding a shard may be waiting for it in `dump_now`.
        if self.snap.running.swap(true, Relaxed) {
            return Err(SnapshotBusy);
        }
        let mut sink = RdbSink::new(out, opts.checksum);
        let guards: Vec<ShardGuard<'_>> = (0..self.shard_count())
            .map(|i| self.lock_shard_plain(i))
            .collect();
        let repl = at_start();
        let start_ms = now_ms();
        // (Its replication position is the start instant's.)
        let mut head = Vec::new();
        save_header(&mut head, &opts, start_ms / 1000, repl.as_ref());
        let header_error = sink.write(&head).err();
        let mut sizes = vec![(0, 0); self.databases()];
        let mut dirty = 0;
        for g in &guards {
            dirty += g.stats.dirty;
            for (s, d) in sizes.iter_mut().zip(g.dbs.iter()) {
                s.0 += d.len();
                s.1 += d.volatile_len();
            }
        }
        let epoch = self.snap.last_epoch.fetch_add(1, Relaxed) + 1;
        let active = Arc::new(Active {
            epoch,
            start_ms,
            sizes,
            out: Mutex::new(Out {
                sink: Some(sink),
                resized: vec![false; self.databases()],
                error: header_error,
            }),
            opts,
            keys: AtomicU64::new(0),
            by_writers: AtomicUsize::new(0),
            max_chunk: AtomicUsize::new(0),
        });
        *self.snap.active.lock() = Some(active.clone());
        self.snap.epoch.store(epoch, Relaxed);
        drop(guards);
        Ok(Snapshot {
            state: self.snap.clone(),
            active,
            dirty_at_start: dirty,
            started: Instant::now(),
            done: false,
            pace: Pace::default(),
        })
    }

    /// Whether a snapshot is open.
    pub fn snapshot_in_progress(&self) -> bool {
        self.snap.running.load(Relaxed)
    }

    /// (keys serialized so far, keys at the start instant, expired ones
    /// included) of the open snapshot, else the last one's final count,
    /// for INFO's `current_save_keys_*` while a save runs (its file is
    /// still being synced and renamed after the snapshot closes).
    pub fn snapshot_progress(&self) -> (u64, u64) {
        match self.snap.active.lock().as_ref() {
            Some(a) => a.progress(),
            None => *self.snap.last_progress.lock(),
        }
    }
}

impl SnapState {
    /// Dumps `shard` into the open snapshot of `epoch` (if still open) and
    /// marks it dumped.
    fn dump_now(&self, epoch: u64, shard: &mut Shard, by_writer: bool) -> u64 {
        let active = self.active.lock().clone();
        let keys = active
            .filter(|a| a.epoch() == epoch)
            .map_or(0, |a| a.dump(shard, by_writer));
        shard.snap_epoch = epoch;
        keys
    }

    fn close(&self) {
        self.epoch.store(0, Relaxed);
        if let Some(a) = self.active.lock().take() {
            *self.last_progress.lock() = a.progress();
        }
        self.running.store(false, Relaxed);
    }
}

impl<W: Write + Send + 'static> Snapshot<W> {
    /// Paces [`Snapshot::finish`] (see [`Pace`]).
    pub fn set_pace(&mut self, pace: Pace) {
        self.pace = pace;
    }

    /// The start instant, Unix ms.
    pub fn start_ms(&self) -> u64 {
        self.active.start_ms
    }

    /// The engine's dirty counter at the start instant.
    pub fn dirty_at_start(&self) -> u64 {
        self.dirty_at_start
    }

    /// Dumps every shard not dumped yet, ends the file (EOF, checksum),
    /// closes the epoch and returns the writer. `engine` must be the one
    /// the snapshot was begun on.
    pub fn finish(mut self, engine: &Engine) -> io::Result<(W, SnapshotStats)> {
        assert!(
            Arc::ptr_eq(&self.state, &engine.snap),
            "snapshot finished on another engine"
        );
        let epoch = self.active.epoch;
        // Last shard first: whole-keyspace readers (INFO's counters, DBSIZE)
        // walk the shards upwards, so they wait for at most one shard's
        // dump instead of trailing this walk to its end.
        for i in (0..engine.shard_count()).rev() {
            let keys = {
                let mut g = engine.lock_shard_plain(i);
                if g.snap_epoch != epoch {
                    self.state.dump_now(epoch, &mut g, false)
                } else {
                    0
                }
            };
            self.pace.after_keys(keys)?;
        }
        self.state.close();
        self.done = true;
        let a = &self.active;
        let (sink, error) = {
            let mut o = a.out.lock();
            (o.sink.take(), o.error.take())
        };
        if let Some(e) = error {
            return Err(e);
        }
        let sink = sink.ok_or_else(|| io::Error::other("snapshot output already taken"))?;
        let bytes = sink.bytes() + 9;
        let w = sink.finish()?;
        Ok((
            w,
            SnapshotStats {
                keys: a.keys.load(Relaxed),
                bytes,
                shards_by_writers: a.by_writers.load(Relaxed),
                max_chunk: a.max_chunk.load(Relaxed),
                elapsed: self.started.elapsed(),
            },
        ))
    }
}

impl<W: Write + Send + 'static> Drop for Snapshot<W> {
    fn drop(&mut self) {
        if !self.done {
            self.state.close();
        }
    }
}

/// Writes a whole snapshot of `engine` to `out` at once (SAVE, DEBUG
/// RELOAD, tests): `begin_snapshot` + `finish` on the calling thread.
pub fn save<W: Write + Send + 'static>(
    engine: &Engine,
    out: W,
    opts: RdbOptions,
) -> io::Result<(W, SnapshotStats)> {
    engine
        .begin_snapshot(out, opts, || None)
        .map_err(io::Error::other)?
        .finish(engine)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::EngineOptions;
    use crate::rdb::{load, LoadOptions};
    use crate::{StrValue, Ttl};

    fn engine() -> Engine {
        Engine::new(EngineOptions {
            databases: 4,
            shards: 8,
        })
    }

    fn get(e: &Engine, db: usize, k: &[u8]) -> Option<Vec<u8>> {
        let key = e.key(k);
        let mut t = e.lock_key(db, &key);
        let v = t.get(&key)?.value();
        Some(v.as_bytes(&mut itoa::Buffer::new()).to_vec())
    }

    fn set(e: &Engine, db: usize, k: &[u8], v: &[u8]) {
        let key = e.key(k);
        e.lock_key(db, &key)
            .set(&key, StrValue::Auto(v), Ttl::Clear);
    }

    fn reload(bytes: &[u8]) -> Engine {
        let e = engine();
        let opts = LoadOptions {
            checksum: true,
            now_ms: now_ms(),
            key_delay_us: 0,
        };
        load(&e, bytes, bytes.len() as u64, &opts).unwrap();
        e
    }

    #[test]
    fn image_is_the_start_instant() {
        let e = engine();
        for i in 0..200 {
            set(&e, i % 3, format!("k{i}").as_bytes(), b"before");
        }
        let mut ran = false;
        let snap = e
            .begin_snapshot(Vec::new(), RdbOptions::default(), || {
                ran = true;
                None
            })
            .unwrap();
        assert!(ran);
        assert_eq!(e.snapshot_progress(), (0, 200));
        assert_eq!(
            e.begin_snapshot(Vec::new(), RdbOptions::default(), || None)
                .err(),
            Some(SnapshotBusy)
        );
        // Writes after the start instant do not reach the image.
        for i in 0..200 {
            set(&e, i % 3, format!("k{i}").as_bytes(), b"after");
        }
        set(&e, 3, b"new", b"x");
        // The shards the writers dumped count as processed.
        let (done, total) = e.snapshot_progress();
        assert!(done > 0 && done <= 200 && total == 200, "{done}/{total}");
        let (bytes, stats) = snap.finish(&e).unwrap();
        assert_eq!(e.snapshot_progress(), (200, 200));
        assert_eq!(stats.keys, 200);
        assert!(stats.shards_by_writers > 0);
        assert!(!e.snapshot_in_progress());
        let back = reload(&bytes);
        for i in 0..200 {
            assert_eq!(
                get(&back, i % 3, format!("k{i}").as_bytes()).as_deref(),
                Some(&b"before"[..])
            );
        }
        assert_eq!(get(&back, 3, b"new"), None);
        assert_eq!(back.dbsize(0) + back.dbsize(1) + back.dbsize(2), 200);
        // A later snapshot sees the new state.
        let (bytes, _) = save(&e, Vec::new(), RdbOptions::default()).unwrap();
        let back = reload(&bytes);
        assert_eq!(get(&back, 1, b"k1").as_deref(), Some(&b"after"[..]));
        assert_eq!(get(&back, 3, b"new").as_deref(), Some(&b"x"[..]));
    }

    #[test]
    fn memcached_trailers_keep_flags_and_durable_bits() {
        use crate::McMeta;
        let e = engine();
        let mc = |flags, bits| McMeta {
            cas: 99,
            flags,
            atime: 1,
            bits,
        };
        let put = |k: &[u8], v: StrValue<'_>, m: McMeta| {
            let key = e.key(k);
            e.lock_key(0, &key).set_mc(&key, v, 0, m);
        };
        put(b"flags", StrValue::Auto(b"v"), mc(7, McMeta::FETCHED));
        put(b"stale", StrValue::Auto(b"12"), mc(0, McMeta::STALE));
        put(b"plain", StrValue::Auto(b"v"), mc(0, McMeta::FETCHED));
        let (bytes, _) = save(&e, Vec::new(), RdbOptions::default()).unwrap();
        let back = reload(&bytes);
        let trailer = |k: &[u8]| {
            let key = back.key(k);
            let mut t = back.lock_key(0, &key);
            t.get(&key).and_then(|r| r.mc())
        };
        let m = trailer(b"flags").unwrap();
        assert_eq!((m.flags, m.bits), (7, 0));
        assert_ne!(m.cas, 99, "CAS uniques are fresh after a load");
        let m = trailer(b"stale").unwrap();
        assert_eq!((m.flags, m.bits), (0, McMeta::STALE));
        assert_eq!(get(&back, 0, b"stale").as_deref(), Some(&b"12"[..]));
        // Nothing a plain string cannot say: no trailer, no AUX field.
        assert_eq!(trailer(b"plain"), None);
        let aux = bytes.windows(9).filter(|w| *w == b"larder-mc").count();
        assert_eq!(aux, 2);
    }

    #[test]
    fn dropped_snapshot_closes_its_epoch() {
        let e = engine();
        set(&e, 0, b"a", b"1");
        drop(e.begin_snapshot(Vec::new(), RdbOptions::default(), || None));
        assert!(!e.snapshot_in_progress());
        set(&e, 0, b"a", b"2");
        assert!(save(&e, Vec::new(), RdbOptions::default()).is_ok());
    }

    #[test]
    fn corrupt_files_name_the_offset() {
        let e = engine();
        for i in 0..50 {
            set(&e, 0, format!("key{i}").as_bytes(), b"some value here");
        }
        let (bytes, _) = save(&e, Vec::new(), RdbOptions::default()).unwrap();
        for cut in [5, 9, 40, bytes.len() / 2, bytes.len() - 1] {
            let back = engine();
            let opts = LoadOptions {
                checksum: true,
                now_ms: now_ms(),
                key_delay_us: 0,
            };
            let err = load(&back, &bytes[..cut], cut as u64, &opts).unwrap_err();
            assert!(err.offset <= cut as u64, "{err}");
        }
        let mut bad = bytes.clone();
        let n = bad.len();
        bad[n / 2] ^= 0x55;
        let opts = LoadOptions {
            checksum: true,
            now_ms: now_ms(),
            key_delay_us: 0,
        };
        assert!(load(&engine(), &bad[..], n as u64, &opts).is_err());
    }
}
