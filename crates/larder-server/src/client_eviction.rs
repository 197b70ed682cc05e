//! Client eviction (`maxmemory-clients`, Redis 7): when the memory the
//! normal and pub/sub connections hold together passes the limit, the ones
//! holding the most are closed, largest first, until the rest fit. As in
//! Redis: the limit is bytes or a percentage of `maxmemory`, and at least
//! 128 KB; a client with CLIENT NO-EVICT on is counted but never evicted;
//! replicas and the master link are neither.
//!
//! A connection's memory is [`ClientHandle::tot_mem`] (CLIENT LIST
//! `tot-mem`). Each connection reports it where it may have changed
//! ([`report`]: after a read, before its replies go, and whenever its loop
//! wakes, which a push queued for it does); reports keep one running
//! total, so a report is a few atomic operations, and only a total over
//! the limit costs a pass over every client ([`evict`]: recount, sort the
//! evictable ones by size, close from the largest). CONFIG SET, CLIENT
//! NO-EVICT off and the server cron run that pass too (the cron's also
//! corrects the total's drift: reports racing a pass). With no limit (the
//! default) a report is one relaxed load.
//!
//! An evicted client leaves the client list at once, so a CLIENT LIST run
//! after the eviction does not show it, and its connection closes without
//! another reply.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use parking_lot::Mutex;

use crate::client::ClientHandle;
use crate::config::Config;
use crate::shared::Shared;

/// Redis's floor, so a bad setting cannot cut every client off.
const MIN_LIMIT: u64 = 128 * 1024;

#[derive(Default)]
pub struct ClientEviction {
    /// Bytes; 0 = off.
    limit: AtomicU64,
    /// The reported memory of the counted clients.
    total: AtomicI64,
    /// Clients evicted since the start (INFO `evicted_clients`).
    pub evicted: AtomicU64,
    /// Evicted clients whose connections have not closed yet, with the
    /// memory they held: not counted for key eviction meanwhile (Redis
    /// frees an evicted client at once; here its task does, soon after).
    closing: Mutex<Vec<(u64, u64)>>,
    /// One pass at a time.
    pass: Mutex<()>,
}

/// Applies `maxmemory-clients` (and `maxmemory`, for a percentage); a
/// lower limit takes effect at once.
pub fn apply_config(shared: &Shared, c: &Config) {
    let v = c
        .compat
        .get("maxmemory-clients")
        .map_or("0", String::as_str);
    let limit = match v.strip_suffix('%') {
        Some(p) => (c.maxmemory as f64 * p.parse::<f64>().unwrap_or(0.0) / 100.0) as u64,
        None => v.parse().unwrap_or(0),
    };
    let limit = if limit == 0 { 0 } else { limit.max(MIN_LIMIT) };
    let was = shared.client_eviction.limit.swap(limit, Relaxed);
    if limit != 0 && (was == 0 || limit < was) {
        evict(shared);
    }
}

/// Counts `h`'s memory now, evicting clients if the total is over the
/// limit. False if `h` itself is gone (its connection should close).
pub fn report(shared: &Shared, h: &ClientHandle) -> bool {
    let st = &shared.client_eviction;
    let limit = st.limit.load(Relaxed);
    if limit == 0 {
        return true;
    }
    let mem = h.tot_mem();
    let delta = mem as i64 - h.mem_counted.swap(mem, Relaxed) as i64;
    let total = st.total.fetch_add(delta, Relaxed) + delta;
    if total > limit as i64 {
        evict(shared);
        return !h.killed.load(Relaxed);
    }
    true
}

/// After a command: counts the client with `out`, the buffer of the
/// replies its batch has built so far. False if it was evicted.
pub fn after_command(shared: &Shared, client: &crate::client::Client, out: &Vec<u8>) -> bool {
    if shared.client_eviction.limit.load(Relaxed) == 0 {
        return true;
    }
    let h = &client.handle;
    // Past its output limit it is closed for that, and not counted here
    // (which would evict another client in its stead), as in Redis.
    if crate::unsent::past_hard(shared, h.unsent.load(Relaxed) + out.len() as u64) {
        return true;
    }
    let room = out
        .capacity()
        .saturating_sub(crate::unsent::REPLY_ALLOWANCE);
    if room as u64 > h.reply_buf.load(Relaxed) {
        h.reply_buf.store(room as u64, Relaxed);
    }
    report(shared, h)
}

/// A closed connection's memory leaves the total (and, evicted, what key
/// eviction left out).
pub fn forget(shared: &Shared, h: &ClientHandle) {
    let st = &shared.client_eviction;
    let counted = h.mem_counted.swap(0, Relaxed);
    st.total.fetch_sub(counted as i64, Relaxed);
    let mut closing = st.closing.lock();
    if let Some(i) = closing.iter().position(|c| c.0 == h.id) {
        let (_, mem) = closing.swap_remove(i);
        shared.engine.config.add_not_counted(-(mem as isize));
    }
}

/// Clients that count, with their memory now: (memory, evictable, handle).
fn counted(shared: &Shared) -> Vec<(u64, bool, std::sync::Arc<ClientHandle>)> {
    let repl = &shared.repl;
    let replicas: Vec<u64> = repl.replicas.lock().iter().map(|r| r.client_id).collect();
    let master = repl.is_replica().then(|| repl.master_client.load(Relaxed));
    shared
        .clients
        .all()
        .into_iter()
        .filter(|h| !replicas.contains(&h.id) && Some(h.id) != master)
        .map(|h| (h.tot_mem(), !h.no_evict.load(Relaxed), h))
        .collect()
}

/// INFO `mem_clients_normal`: what the normal and pub/sub clients hold.
pub fn normal_memory(shared: &Shared) -> u64 {
    counted(shared).iter().map(|c| c.0).sum()
}

/// Recounts every client and, over the limit, evicts the largest
/// evictable ones until the rest fit.
pub fn evict(shared: &Shared) {
    let st = &shared.client_eviction;
    let limit = st.limit.load(Relaxed);
    if limit == 0 {
        return;
    }
    let _pass = st.pass.lock();
    let mut clients = counted(shared);
    let mut total = 0;
    for (mem, _, h) in &clients {
        h.mem_counted.store(*mem, Relaxed);
        total += mem;
    }
    if total > limit {
        clients.sort_by_key(|c| std::cmp::Reverse(c.0));
        for (mem, _, h) in clients.iter().filter(|c| c.1) {
            if total <= limit {
                break;
            }
            let line = crate::commands::client_cmd::client_line(shared, h, None);
            // Under the lock, so a connection closing meanwhile either finds
            // its entry here or was never evicted (it left on its own: its
            // memory goes all the same).
            let mut closing = st.closing.lock();
            if shared.clients.unregister(h.id) {
                tracing::info!("Evicting client: {}", line.trim_end());
                closing.push((h.id, *mem));
                shared.engine.config.add_not_counted(*mem as isize);
                st.evicted.fetch_add(1, Relaxed);
            }
            drop(closing);
            h.mem_counted.store(0, Relaxed);
            h.kill();
            total -= mem;
        }
        if total > limit {
            tracing::warn!("Over client maxmemory after evicting all evictable clients");
        }
    }
    st.total.store(total as i64, Relaxed);
}

/// The server cron's pass, while a limit is set.
pub fn cron(shared: &Shared) {
    if shared.client_eviction.limit.load(Relaxed) != 0 {
        evict(shared);
    }
}
