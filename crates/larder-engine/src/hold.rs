//! Holding a set of shards across several commands: MULTI/EXEC and scripts.
//!
//! A transaction must run all its queued commands (a script, all its
//! `redis.call`s) without any other client seeing the keyspace in between.
//! [`Engine::hold`] locks the shards the transaction will touch, in ascending
//! order (the same order every command uses, so holders cannot deadlock), and
//! parks their guards in a thread-local *held set* until the returned
//! [`Hold`] is dropped. While a hold is active on a thread, every shard lock
//! that thread asks for — `lock_key`, `lock_keys`, `lock_all`, and the
//! engine's own whole-keyspace helpers (`dbsize`, `stats`, `scan`, ...) — is
//! served by *lending* the parked guard instead of locking the mutex again
//! (which would deadlock, parking_lot's mutex not being reentrant). The lent
//! guard goes back to the held set when the command's [`Txn`] drops. So the
//! handlers of queued commands run unchanged, with an already-held lock set.
//!
//! The guards are `ArcMutexGuard`s (parking_lot's `arc_lock`), which own a
//! reference to their mutex: the held set can live in a thread-local without
//! borrowing the engine, and no `unsafe` is needed. The whole mechanism runs
//! on one thread without awaiting (a connection task runs EXEC synchronously).
//!
//! Cost when no hold exists anywhere: one relaxed load of `Engine::holds` per
//! shard lock. A shard that a holder did not lock is locked normally when
//! asked for; callers hold a superset of what they touch (EXEC derives it from
//! the command table and holds every shard when a command's keys cannot be
//! derived; scripts hold every shard).
//!
//! [`Txn`]: crate::txn::Txn

use std::cell::RefCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::Ordering::Relaxed;

use parking_lot::{ArcMutexGuard, MutexGuard, RawMutex};

use crate::keyspace::{Engine, Shard};

type ArcGuard = ArcMutexGuard<RawMutex, Shard>;

/// A shard's lock as a command holds it: its own, or lent by the thread's hold.
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
                if let Ok(mut h) = h.try_borrow_mut() {
                    if let Some(set) = h.as_mut().filter(|s| s.engine == *engine) {
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

struct HeldSet {
    /// Address of the engine the guards belong to.
    engine: usize,
    slots: Vec<Slot>,
}

thread_local! {
    static HELD: RefCell<Option<HeldSet>> = const { RefCell::new(None) };
}

/// Shards held by this thread until dropped (see the module comment).
pub struct Hold<'e> {
    engine: &'e Engine,
    /// False for a hold taken inside another one (it only extends the set).
    outer: bool,
}

impl Drop for Hold<'_> {
    fn drop(&mut self) {
        if self.outer {
            let set = HELD.with(|h| h.borrow_mut().take());
            drop(set);
            self.engine.holds.fetch_sub(1, Relaxed);
        }
    }
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
        let nested = HELD.with(|h| h.borrow().as_ref().is_some_and(|s| s.engine == me));
        let mut new_guards = Vec::with_capacity(want.len());
        for &i in &want {
            let free = nested
                && HELD.with(|h| {
                    h.borrow()
                        .as_ref()
                        .is_some_and(|s| matches!(s.slots[i], Slot::Free))
                });
            if !nested || free {
                new_guards.push((i, self.shard_arc(i).lock_arc()));
            }
        }
        HELD.with(|h| {
            let mut h = h.borrow_mut();
            let set = h.get_or_insert_with(|| HeldSet {
                engine: me,
                slots: (0..n).map(|_| Slot::Free).collect(),
            });
            for (i, g) in new_guards {
                set.slots[i] = Slot::Here(g);
            }
        });
        if !nested {
            self.holds.fetch_add(1, Relaxed);
        }
        Hold {
            engine: self,
            outer: !nested,
        }
    }

    /// The shard indexes of `hashes`' keys (for [`Engine::hold`]).
    pub fn shard_index(&self, hash: u64) -> usize {
        self.shard_of(hash)
    }

    /// Shard `i`'s lock: lent by this thread's hold if it has one, else
    /// locked (without the snapshot hook of `Engine::lock_shard`).
    pub(crate) fn lock_shard_plain(&self, i: usize) -> ShardGuard<'_> {
        if self.holds.load(Relaxed) > 0 {
            let me = self.addr();
            let lent = HELD.with(|h| {
                let mut h = h.borrow_mut();
                let set = h.as_mut().filter(|s| s.engine == me)?;
                match std::mem::replace(&mut set.slots[i], Slot::Lent) {
                    Slot::Here(g) => Some(g),
                    Slot::Free => {
                        set.slots[i] = Slot::Free;
                        None
                    }
                    Slot::Lent => panic!("shard {i} locked twice by one command"),
                }
            });
            if let Some(g) = lent {
                return ShardGuard::Lent {
                    engine: me,
                    shard: i,
                    guard: Some(g),
                };
            }
        }
        ShardGuard::Locked(self.shard_arc(i).lock())
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
}
