//! Holding a set of shards across several commands: MULTI/EXEC, scripts, and
//! a connection's batch of pipelined commands.
//!
//! A transaction must run all its queued commands (a script, all its
//! `redis.call`s) without any other client seeing the keyspace in between.
//! [`Engine::hold`] locks the shards the transaction will touch, in ascending
//! order (the same order every command uses, so holders cannot deadlock), and
//! parks their guards in a thread-local *held set* until the returned
//! [`Hold`] is dropped. While a set is active on a thread, every shard lock
//! that thread asks for — `lock_key`, `lock_keys`, `lock_all`, and the
//! engine's own whole-keyspace helpers (`dbsize`, `stats`, `scan`, ...) — is
//! served by *lending* the parked guard instead of locking the mutex again
//! (which would deadlock, parking_lot's mutex not being reentrant). The lent
//! guard goes back to the held set when the command's [`Txn`] drops. So the
//! handlers of queued commands run unchanged, with an already-held lock set.
//!
//! A *batch* ([`Engine::batch`]) is an elastic held set: a connection opens
//! one around the pipelined commands it runs between two socket operations,
//! and the shards its commands lock stay held until the batch ends, instead
//! of being unlocked and relocked by the next command. Sixteen pipelined
//! ZADDs to one hot key then take its lock once, and the key's data stays in
//! one core's cache, instead of both cores passing lock and data back and
//! forth sixteen times. Rules that keep this deadlock-free and fair:
//!
//! - A single-shard command that needs a shard the batch does not hold first
//!   unlocks everything the batch holds, then locks its shard: a batch of
//!   GETs on random keys holds one shard at a time, as without batches.
//! - A multi-shard command (MSET, lock_all, a nested hold) keeps what the
//!   batch holds and adds to it. It waits for a shard only while every shard
//!   the batch holds idle is lower (the global ascending order); for a lower
//!   shard it only *tries* the lock, and if that fails it unlocks every idle
//!   guard first and then waits. Guards lent to the running command stay: that
//!   is the order the command would lock in without batches.
//! - [`Batch`] is not `Send`, so a connection task cannot hold one across an
//!   `.await` (where it could move threads or sleep with shards locked); the
//!   connection also ends a batch every few commands.
//!
//! The guards are `ArcMutexGuard`s (parking_lot's `arc_lock`), which own a
//! reference to their mutex: the held set can live in a thread-local without
//! borrowing the engine, and no `unsafe` is needed. The whole mechanism runs
//! on one thread without awaiting (a connection task runs EXEC synchronously).
//!
//! Cost: one thread-local borrow per shard lock; a batch costs nothing when
//! its commands lock nothing. A shard that a fixed hold did not lock is locked
//! normally when asked for; callers hold a superset of what they touch (EXEC
//! derives it from the command table and holds every shard when a command's
//! keys cannot be derived; scripts hold every shard).
//!
//! [`Txn`]: crate::txn::Txn

use std::cell::RefCell;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use parking_lot::{ArcMutexGuard, MutexGuard, RawMutex};

use crate::keyspace::{Engine, Shard};

type ArcGuard = ArcMutexGuard<RawMutex, Shard>;

/// A shard's lock as a command holds it: its own, or lent by the thread's held set.
pub(crate) enum ShardGuard<'e> {
    Locked(MutexGuard<'e, Shard>),
    Lent {
        engine: usize,
        shard: usize,
        guard: Option<ArcGuard>,
    },
}

impl Deref for ShardGuard<'_> {
    type Target = Shard;
    fn deref(&self) -> &Shard {
        match self {
            ShardGuard::Locked(g) => g,
            ShardGuard::Lent { guard, .. } => guard.as_ref().expect("lent guard present"),
        }
    }
}

impl DerefMut for ShardGuard<'_> {
    fn deref_mut(&mut self) -> &mut Shard {
        match self {
            ShardGuard::Locked(g) => g,
            ShardGuard::Lent { guard, .. } => guard.as_mut().expect("lent guard present"),
        }
    }
}

impl Drop for ShardGuard<'_> {
    fn drop(&mut self) {
        if let ShardGuard::Lent {
            engine,
            shard,
            guard,
        } = self
        {
            let g = guard.take();
            // Back to the held set; if it is gone the guard simply unlocks.
            let _ = HELD.try_with(|h| {
                if let Ok(mut set) = h.try_borrow_mut() {
                    if set.engine == *engine {
                        if let Some(slot @ Slot::Lent) = set.slots.get_mut(*shard) {
                            if let Some(g) = g {
                                *slot = Slot::Here(g);
                            }
                        }
                    }
                }
            });
        }
    }
}

enum Slot {
    Free,
    Here(ArcGuard),
    Lent,
}

/// The thread's held set. Inactive when `engine` is 0; its vectors are kept
/// for the next one, so a batch allocates nothing.
struct HeldSet {
    /// Address of the engine the guards belong to (0: inactive).
    engine: usize,
    slots: Vec<Slot>,
    /// Indexes of the slots that are `Here` or `Lent`.
    held: Vec<usize>,
    /// A batch (see the module comment), rather than a fixed hold.
    elastic: bool,
}

impl HeldSet {
    fn activate(&mut self, engine: usize, shards: usize, elastic: bool) {
        self.engine = engine;
        self.elastic = elastic;
        if self.slots.len() != shards {
            self.slots.clear();
            self.slots.resize_with(shards, || Slot::Free);
        }
    }

    /// Unlocks every guard parked here (not the lent ones).
    fn release_idle(&mut self) {
        let slots = &mut self.slots;
        self.held
            .retain(|&i| match std::mem::replace(&mut slots[i], Slot::Free) {
                Slot::Here(g) => {
                    drop(g);
                    false
                }
                Slot::Lent => {
                    slots[i] = Slot::Lent;
                    true
                }
                Slot::Free => false,
            });
    }

    /// Unlocks everything and deactivates; lent guards unlock when returned.
    fn release_all(&mut self) {
        for i in self.held.drain(..) {
            self.slots[i] = Slot::Free;
        }
        self.engine = 0;
        self.elastic = false;
    }
}

thread_local! {
    static HELD: RefCell<HeldSet> = const {
        RefCell::new(HeldSet {
            engine: 0,
            slots: Vec::new(),
            held: Vec::new(),
            elastic: false,
        })
    };
}

/// Shards held by this thread until dropped (see the module comment).
pub struct Hold<'e> {
    engine: &'e Engine,
    /// False for a hold taken inside another one or inside a batch (it only
    /// extends the set, which its owner releases).
    outer: bool,
}

impl Drop for Hold<'_> {
    fn drop(&mut self) {
        if self.outer {
            release_held(self.engine);
        }
    }
}

/// Ends this thread's held set if it belongs to `engine`.
fn release_held(engine: &Engine) {
    let me = engine.addr();
    HELD.with(|h| {
        let mut set = h.borrow_mut();
        if set.engine == me {
            set.release_all();
        }
    });
}

/// A connection's batch of commands (see the module comment). Not `Send`.
pub struct Batch<'e> {
    engine: &'e Engine,
    outer: bool,
    _not_send: PhantomData<*const ()>,
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        if self.outer {
            release_held(self.engine);
        }
    }
}

/// Shard critical sections are short (one command, or one batch of them): a
/// thread that finds a shard locked first spins on it for `SPINS` reads, then
/// retries between `sched_yield`s for up to `YIELD_FOR`, and only then sleeps
/// in the mutex. Yielding rather than spinning on gives the core to whatever
/// else is runnable — on a busy machine, the clients, or the thread holding
/// the lock if it was preempted — while the waiter stays runnable, so the
/// holder's unlock needs no futex wake-up (sleeping in the mutex costs the
/// waker a system call and the sleeper a context switch, more than most
/// sections last). With redis-benchmark -P 16 on 2 cores this cut the
/// server's CPU per request by 8–21 % on LPUSH, LPOP, INCR and MSET against
/// spinning for 4,000 reads first (BENCHMARKS.md, session 7).
const SPINS: u32 = 32;
const YIELD_FOR: std::time::Duration = std::time::Duration::from_micros(500);

/// Tries `attempt` until it succeeds or the wait passes its budget (`None`:
/// the caller then sleeps in the mutex).
fn spin<G>(mut attempt: impl FnMut() -> Option<G>) -> Option<G> {
    for _ in 0..SPINS {
        if let Some(g) = attempt() {
            return Some(g);
        }
        std::hint::spin_loop();
    }
    let start = std::time::Instant::now();
    loop {
        for _ in 0..8 {
            std::thread::yield_now();
            if let Some(g) = attempt() {
                return Some(g);
            }
        }
        if start.elapsed() >= YIELD_FOR {
            return None;
        }
    }
}

fn spin_lock_arc(m: &std::sync::Arc<parking_lot::Mutex<Shard>>) -> ArcGuard {
    spin(|| m.try_lock_arc()).unwrap_or_else(|| m.lock_arc())
}

impl Engine {
    fn addr(&self) -> usize {
        self as *const Engine as usize
    }

    /// Locks `shards` (any order, duplicates allowed; `None` = every shard)
    /// for this thread until the returned [`Hold`] drops.
    pub fn hold(&self, shards: Option<&[usize]>) -> Hold<'_> {
        let n = self.shard_count();
        let mut want: Vec<usize> = match shards {
            None => (0..n).collect(),
            Some(s) => s.iter().copied().filter(|&i| i < n).collect(),
        };
        want.sort_unstable();
        want.dedup();
        let me = self.addr();
        HELD.with(|h| {
            let mut set = h.borrow_mut();
            let nested = set.engine == me;
            if !nested {
                // A batch of another engine holds nothing a command needs.
                set.release_all();
                set.activate(me, n, false);
            } else if set.elastic {
                // Lock in ascending order from nothing held (see the module comment).
                set.release_idle();
            }
            for &i in &want {
                if matches!(set.slots[i], Slot::Free) {
                    set.slots[i] = Slot::Here(spin_lock_arc(self.shard_arc(i)));
                    set.held.push(i);
                }
            }
            Hold {
                engine: self,
                outer: !nested,
            }
        })
    }

    /// Opens a batch on this thread (see the module comment); inside a hold
    /// or another batch it changes nothing.
    pub fn batch(&self) -> Batch<'_> {
        let me = self.addr();
        let n = self.shard_count();
        let outer = HELD.with(|h| {
            let mut set = h.borrow_mut();
            if set.engine == me {
                return false;
            }
            set.release_all();
            set.activate(me, n, true);
            true
        });
        Batch {
            engine: self,
            outer,
            _not_send: PhantomData,
        }
    }

    /// Before a single-shard command locks shard `i`: a batch that does not
    /// hold it lets go of what it holds.
    pub(crate) fn narrow_batch(&self, i: usize) {
        self.release_batch_unless(Some(i));
    }

    /// Before a command waits on something outside the engine (MIGRATE's
    /// round trip to another server): a batch lets go of the shards it holds
    /// idle, so other threads do not wait meanwhile. A hold keeps its shards.
    pub fn release_batch(&self) {
        self.release_batch_unless(None);
    }

    fn release_batch_unless(&self, held: Option<usize>) {
        let me = self.addr();
        HELD.with(|h| {
            let mut set = h.borrow_mut();
            if set.engine != me || !set.elastic {
                return;
            }
            if !held.is_some_and(|i| matches!(set.slots[i], Slot::Here(_))) {
                set.release_idle();
            }
        });
    }

    /// The shard indexes of `hashes`' keys (for [`Engine::hold`]).
    pub fn shard_index(&self, hash: u64) -> usize {
        self.shard_of(hash)
    }

    /// Shard `i`'s lock: lent by this thread's held set if it has one, else
    /// locked (without the snapshot hook of `Engine::lock_shard`).
    pub(crate) fn lock_shard_plain(&self, i: usize) -> ShardGuard<'_> {
        let me = self.addr();
        let lent = HELD.with(|h| {
            let mut set = h.borrow_mut();
            if set.engine != me {
                return None;
            }
            match std::mem::replace(&mut set.slots[i], Slot::Lent) {
                Slot::Here(g) => Some(g),
                Slot::Free if set.elastic => {
                    let arc = self.shard_arc(i);
                    let g = if set.held.iter().all(|&j| j < i) {
                        spin_lock_arc(arc)
                    } else if let Some(g) = arc.try_lock_arc() {
                        g
                    } else {
                        set.release_idle();
                        spin_lock_arc(arc)
                    };
                    set.held.push(i);
                    Some(g)
                }
                Slot::Free => {
                    set.slots[i] = Slot::Free;
                    None
                }
                Slot::Lent => panic!("shard {i} locked twice by one command"),
            }
        });
        match lent {
            Some(g) => ShardGuard::Lent {
                engine: me,
                shard: i,
                guard: Some(g),
            },
            None => {
                let m = self.shard_arc(i);
                ShardGuard::Locked(spin(|| m.try_lock()).unwrap_or_else(|| m.lock()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::keyspace::{Engine, EngineOptions};
    use crate::{StrValue, Ttl};

    #[test]
    fn held_shards_are_lent_and_others_wait() {
        let e = std::sync::Arc::new(Engine::new(EngineOptions {
            databases: 2,
            shards: 4,
        }));
        let k = e.key(b"k");
        {
            let _hold = e.hold(None);
            e.lock_key(0, &k).set(&k, StrValue::Auto(b"1"), Ttl::Clear);
            assert_eq!(e.dbsize(0), 1);
            let mut all = e.lock_all(0);
            assert_eq!(all.len(), 1);
            drop(all.take_db(0));
            drop(all);
            // Another thread must wait for the hold.
            let e2 = e.clone();
            let t = std::thread::spawn(move || e2.dbsize(0));
            std::thread::sleep(std::time::Duration::from_millis(50));
            assert!(!t.is_finished());
            e.lock_key(0, &k).set(&k, StrValue::Auto(b"2"), Ttl::Clear);
            drop(_hold);
            assert_eq!(t.join().ok(), Some(1));
        }
        assert_eq!(e.dbsize(0), 1);
    }

    fn engine(shards: usize) -> std::sync::Arc<Engine> {
        std::sync::Arc::new(Engine::new(EngineOptions {
            databases: 1,
            shards,
        }))
    }

    /// Whether another thread can lock shard `i` right now.
    fn free_elsewhere(e: &std::sync::Arc<Engine>, i: usize) -> bool {
        let e2 = e.clone();
        std::thread::spawn(move || e2.shard_arc(i).try_lock().is_some())
            .join()
            .unwrap_or(false)
    }

    #[test]
    fn a_batch_keeps_a_shard_between_commands_and_lets_go_at_the_end() {
        let e = engine(8);
        let k = e.key(b"hot");
        let i = e.shard_index(k.hash);
        {
            let _batch = e.batch();
            e.lock_key(0, &k).set(&k, StrValue::Auto(b"1"), Ttl::Clear);
            assert!(!free_elsewhere(&e, i), "held between commands");
            e.lock_key(0, &k).set(&k, StrValue::Auto(b"2"), Ttl::Clear);
            // A single-key command elsewhere lets the first shard go.
            let other = (0..1000u32)
                .map(|n| n.to_string().into_bytes())
                .find(|b| e.shard_index(e.hash(b)) != i)
                .expect("a key of another shard");
            let ko = e.key(&other);
            drop(e.lock_key(0, &ko));
            assert!(free_elsewhere(&e, i), "narrowed to the new shard");
            assert!(!free_elsewhere(&e, e.shard_index(ko.hash)));
        }
        assert!(
            (0..8).all(|j| free_elsewhere(&e, j)),
            "all free after the batch"
        );
        assert_eq!(e.dbsize(0), 1);
    }

    #[test]
    fn a_batch_grows_for_multi_shard_commands_and_nests_holds() {
        let e = engine(8);
        let keys: Vec<Vec<u8>> = (0..64u32).map(|n| format!("k{n}").into_bytes()).collect();
        let ks: Vec<_> = keys.iter().map(|b| e.key(b)).collect();
        {
            let _batch = e.batch();
            drop(e.lock_keys(0, &ks[..20]));
            let held: Vec<usize> = (0..8).filter(|&j| !free_elsewhere(&e, j)).collect();
            let want: std::collections::BTreeSet<usize> =
                ks[..20].iter().map(|k| e.shard_index(k.hash)).collect();
            assert_eq!(held, want.into_iter().collect::<Vec<_>>());
            // A nested hold (EXEC inside a batch) and lock_all are served.
            {
                let _hold = e.hold(None);
                e.lock_key(0, &ks[0])
                    .set(&ks[0], StrValue::Auto(b"x"), Ttl::Clear);
                assert_eq!(e.dbsize(0), 1);
            }
            assert_eq!(e.lock_all(0).len(), 1);
        }
        assert!((0..8).all(|j| free_elsewhere(&e, j)));
    }

    /// Two threads run random multi-key and single-key commands in batches;
    /// a lock-order mistake would hang them (the test has a deadline).
    #[test]
    fn batches_on_two_threads_do_not_deadlock() {
        let e = engine(16);
        let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let threads: Vec<_> = (0..3u64)
            .map(|t| {
                let e = e.clone();
                let done = done.clone();
                std::thread::spawn(move || {
                    let mut r = 0x9e37_79b9_7f4a_7c15u64.wrapping_mul(t + 1);
                    let mut next = move || {
                        r ^= r << 13;
                        r ^= r >> 7;
                        r ^= r << 17;
                        r
                    };
                    for _ in 0..2000 {
                        let _batch = e.batch();
                        for _ in 0..(next() % 8 + 1) {
                            let n = (next() % 6 + 1) as usize;
                            let names: Vec<Vec<u8>> = (0..n)
                                .map(|_| (next() % 500).to_string().into_bytes())
                                .collect();
                            let ks: Vec<_> = names.iter().map(|b| e.key(b)).collect();
                            match next() % 4 {
                                0 => drop(e.lock_key(0, &ks[0])),
                                1 => drop(e.lock_all(0)),
                                2 => {
                                    let shards: Vec<usize> =
                                        ks.iter().map(|k| e.shard_index(k.hash)).collect();
                                    let _h = e.hold(Some(&shards));
                                    drop(e.lock_keys(0, &ks));
                                }
                                _ => {
                                    let mut t = e.lock_keys(0, &ks);
                                    for k in &ks {
                                        t.set(k, StrValue::Auto(b"v"), Ttl::Clear);
                                    }
                                }
                            }
                        }
                    }
                    done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                })
            })
            .collect();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while done.load(std::sync::atomic::Ordering::Relaxed) < 3 {
            assert!(std::time::Instant::now() < deadline, "batches deadlocked");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        for t in threads {
            t.join().expect("thread");
        }
    }
}
