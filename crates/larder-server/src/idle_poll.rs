//! Idle polling: a busy worker thread that runs out of work polls for a few
//! microseconds before it sleeps (`idle-poll-us`).
//!
//! Why: a worker with nothing to run sleeps in `epoll_wait` (or on its
//! condition variable), and the next request must wake it. That wake-up is
//! paid by whoever delivers the request: on loopback, the client's own
//! `write()` runs the server's TCP receive path and, when the server
//! sleeps, a cross-CPU wake-up (on a VM, an IPI into a halted vCPU). Under
//! redis-benchmark -P 1 that was 12 % of the load generator's CPU against
//! Redis. A worker that is still running when the next request lands is
//! told by a flag in the epoll ready list instead, and wakes up no one.
//!
//! What: tokio calls [`before_park`] when a worker has no task left. If
//! the worker was busy at least half of its recent time, it waits up to
//! `idle-poll-us` before it parks, giving its CPU to any other runnable
//! thread at each step (`sched_yield`) so that it never delays a client or
//! another server thread on the same core, and stopping early when a task
//! arrives from outside the runtime. A worker that is mostly idle parks at
//! once, so a lightly loaded server sleeps as before.
//!
//! The gate is an exponentially decayed sum of busy (unpark → park) and
//! idle (park → unpark) time per thread, 1/8 weight to the newest interval:
//! two `Instant::now()` reads per park. The cost is bounded: at most half
//! a core per worker, and only while that worker is already busy at least
//! half the time; measured in BENCHMARKS.md (session 14).
//!
//! Only the RESP workers poll: they are one per core but one, so a core
//! is left for the clients. memcached's threads are one per core, and
//! against memcaslap's two threads polling there cost more than it saved.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use tokio::runtime::Handle;

/// Spin only when busy time is at least this share of busy + idle time.
const BUSY_SHARE: f64 = 0.5;
/// Weight kept by the older intervals at each new one.
const DECAY: f64 = 0.875;

/// One thread's recent busy and idle time.
struct Gate {
    /// The runtime, to see tasks woken from other threads.
    handle: Option<Handle>,
    unparked: Instant,
    parked: Instant,
    busy: f64,
    idle: f64,
}

impl Gate {
    fn new(now: Instant) -> Gate {
        Gate {
            handle: Handle::try_current().ok(),
            unparked: now,
            parked: now,
            busy: 0.0,
            idle: 0.0,
        }
    }

    /// The thread parks at `now`: whether it has been busy enough to poll.
    fn park(&mut self, now: Instant) -> bool {
        self.busy = self.busy * DECAY + (now - self.unparked).as_nanos() as f64;
        self.parked = now;
        self.busy >= BUSY_SHARE * (self.busy + self.idle)
    }

    /// The thread runs again at `now` (time spent polling counts as idle).
    fn unpark(&mut self, now: Instant) {
        self.idle = self.idle * DECAY + (now - self.parked).as_nanos() as f64;
        self.unparked = now;
    }
}

thread_local! {
    static GATE: RefCell<Option<Gate>> = const { RefCell::new(None) };
}

/// Installs idle polling of `poll` on a runtime's threads; zero leaves the
/// runtime as it is.
pub fn install(rt: &mut tokio::runtime::Builder, poll: Duration) {
    if poll.is_zero() {
        return;
    }
    rt.on_thread_park(move || before_park(poll))
        .on_thread_unpark(after_unpark);
}

fn before_park(poll: Duration) {
    GATE.with_borrow_mut(|gate| {
        let now = Instant::now();
        let g = gate.get_or_insert_with(|| Gate::new(now));
        if !g.park(now) {
            return;
        }
        let metrics = g.handle.as_ref().map(Handle::metrics);
        while now.elapsed() < poll {
            if metrics.as_ref().is_some_and(|m| m.global_queue_depth() > 0) {
                break;
            }
            std::thread::yield_now();
        }
    });
}

fn after_unpark() {
    GATE.with_borrow_mut(|gate| {
        if let Some(g) = gate {
            g.unpark(Instant::now());
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `cycles` of `busy_us` busy then `idle_us` parked; returns
    /// whether the last park would poll.
    fn polls_after(busy_us: u64, idle_us: u64, cycles: usize) -> bool {
        let mut t = Instant::now();
        let mut g = Gate::new(t);
        let mut polls = false;
        for _ in 0..cycles {
            t += Duration::from_micros(busy_us);
            polls = g.park(t);
            t += Duration::from_micros(idle_us);
            g.unpark(t);
        }
        polls
    }

    #[test]
    fn busy_threads_poll_idle_ones_sleep() {
        assert!(polls_after(80, 20, 50));
        assert!(polls_after(60, 40, 50));
        assert!(!polls_after(40, 60, 50));
        assert!(!polls_after(10, 100_000, 50));
    }

    #[test]
    fn the_gate_follows_the_recent_load() {
        let mut t = Instant::now();
        let mut g = Gate::new(t);
        // Busy for a while: polls.
        for _ in 0..100 {
            t += Duration::from_micros(90);
            assert!(g.park(t));
            t += Duration::from_micros(10);
            g.unpark(t);
        }
        // Then a long sleep (a timer tick on an idle server): the next
        // short burst parks at once.
        t += Duration::from_micros(5);
        assert!(g.park(t));
        t += Duration::from_millis(100);
        g.unpark(t);
        t += Duration::from_micros(20);
        assert!(!g.park(t));
    }
}
