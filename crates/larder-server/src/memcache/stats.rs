//! memcached's `stats` groups, under memcached's names.
//!
//! General stats come from the memcached counters ([`super::Counters`]),
//! the engine (items, bytes, evictions) and the config. Larder has no slab
//! allocator: `stats items` and `stats slabs` describe database 0 as one
//! class (`1`), so tools that sum over classes still add up.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use larder_memcache::reply::{line, stat};
use larder_memcache::Tokens;

use crate::shared::{unix_secs, Shared};

/// `stats [group ...]`; `fd`/`now_secs` for `stats conns`.
pub fn stats(shared: &Shared, t: &Tokens<'_>, out: &mut Vec<u8>) {
    let mc = &shared.memcache;
    if t.len() == 1 {
        return general(shared, out);
    }
    match t.get(1) {
        b"reset" => {
            mc.counters.reset();
            mc.detail.clear();
            line(out, b"RESET");
        }
        b"detail" => match t.get(2) {
            b"on" | b"off" if t.len() > 2 => {
                mc.detail_on.store(t.get(2) == b"on", Relaxed);
                line(out, b"OK");
            }
            b"dump" if t.len() > 2 => mc.detail.dump(out),
            _ => line(out, b"CLIENT_ERROR usage: stats detail on|off|dump"),
        },
        b"settings" => settings(shared, out),
        b"cachedump" => super::admin::cachedump(shared, t, out),
        b"conns" => {
            mc.conns.stats(unix_secs() as u32, out);
            line(out, b"END");
        }
        b"items" => items(shared, out),
        b"slabs" => slabs(shared, out),
        b"sizes" => super::admin::sizes(shared, out),
        b"sizes_enable" => super::admin::sizes_switch(shared, true, out),
        b"sizes_disable" => super::admin::sizes_switch(shared, false, out),
        _ => line(out, b"ERROR"),
    }
}

fn general(shared: &Shared, out: &mut Vec<u8>) {
    let mc = &shared.memcache;
    let c = mc.counters.sum();
    let g = |a: &AtomicU64| a.load(Relaxed);
    let engine = shared.engine.stats();
    let (maxconns, maxmemory, threads) = {
        let cfg = shared.config.read();
        let threads = super::threads::count(cfg.memcache_threads);
        (cfg.maxclients, cfg.maxmemory, threads)
    };
    let (crawler, crawler_starts) = {
        let t = mc.tunables.lock();
        (t.crawler, t.crawler_starts)
    };
    let conns = g(&mc.curr_connections);
    stat(out, "pid", std::process::id());
    stat(out, "uptime", shared.uptime_secs());
    stat(out, "time", unix_secs());
    stat(out, "version", larder_memcache::MEMCACHED_COMPAT_VERSION);
    stat(out, "libevent", "none");
    stat(out, "pointer_size", 64);
    // (CPU time is INFO's `used_cpu_*`.)
    stat(out, "rusage_user", "0.000000");
    stat(out, "rusage_system", "0.000000");
    stat(out, "max_connections", maxconns);
    stat(out, "curr_connections", conns);
    stat(out, "total_connections", c.total_connections);
    stat(out, "rejected_connections", c.rejected_connections);
    stat(
        out,
        "connection_structures",
        conns + mc.conns.listeners() as u64,
    );
    for name in [
        "response_obj_oom",
        "response_obj_count",
        "response_obj_bytes",
        "read_buf_count",
        "read_buf_bytes",
        "read_buf_bytes_free",
        "read_buf_oom",
        "reserved_fds",
    ] {
        stat(out, name, 0);
    }
    for (name, v) in [
        ("cmd_get", c.cmd_get),
        ("cmd_set", c.cmd_set),
        ("cmd_flush", c.cmd_flush),
        ("cmd_touch", c.cmd_touch),
        ("cmd_meta", c.cmd_meta),
        ("get_hits", c.get_hits),
        ("get_misses", c.get_misses),
        ("get_expired", c.get_expired),
        ("get_flushed", c.get_flushed),
        ("delete_misses", c.delete_misses),
        ("delete_hits", c.delete_hits),
        ("incr_misses", c.incr_misses),
        ("incr_hits", c.incr_hits),
        ("decr_misses", c.decr_misses),
        ("decr_hits", c.decr_hits),
        ("cas_misses", c.cas_misses),
        ("cas_hits", c.cas_hits),
        ("cas_badval", c.cas_badval),
        ("touch_hits", c.touch_hits),
        ("touch_misses", c.touch_misses),
        ("store_too_large", c.store_too_large),
        ("store_no_memory", c.store_no_memory),
    ] {
        stat(out, name, v);
    }
    stat(out, "auth_cmds", c.auth_cmds);
    stat(out, "auth_errors", c.auth_errors);
    // As memcached, only when idle connections are closed (`timeout`).
    if shared.hot.timeout_secs.load(Relaxed) > 0 {
        stat(out, "idle_kicks", c.idle_kicks);
    }
    stat(out, "bytes_read", c.bytes_read);
    stat(out, "bytes_written", c.bytes_written);
    stat(out, "limit_maxbytes", maxmemory);
    stat(out, "accepting_conns", 1);
    stat(out, "listen_disabled_num", 0);
    stat(out, "time_in_listen_disabled_us", 0);
    stat(out, "threads", threads);
    stat(out, "conn_yields", c.conn_yields);
    let hp = hash_power(mc, shared.engine.dbsize(0) as u64);
    stat(out, "hash_power_level", hp);
    stat(out, "hash_bytes", 8u64 << hp);
    stat(out, "hash_is_expanding", 0);
    for name in [
        "slab_reassign_rescues",
        "slab_reassign_chunk_rescues",
        "slab_reassign_evictions_nomem",
        "slab_reassign_inline_reclaim",
        "slab_reassign_busy_items",
        "slab_reassign_busy_deletes",
        "slab_reassign_running",
        "slabs_moved",
    ] {
        stat(out, name, 0);
    }
    if crawler {
        stat(out, "lru_crawler_running", 0);
        stat(out, "lru_crawler_starts", crawler_starts);
    }
    stat(out, "lru_maintainer_juggles", 0);
    stat(out, "malloc_fails", 0);
    let log = &mc.logger;
    stat(out, "log_worker_dropped", 0);
    stat(out, "log_worker_written", g(&log.sent));
    stat(out, "log_watcher_skipped", g(&log.skipped));
    stat(out, "log_watcher_sent", g(&log.sent));
    stat(out, "log_watchers", g(&log.watchers));
    stat(out, "unexpected_napi_ids", 0);
    stat(out, "round_robin_fallback", 0);
    stat(out, "bytes", engine.entry_bytes.max(0));
    stat(out, "curr_items", shared.engine.dbsize(0));
    stat(out, "total_items", c.total_items);
    stat(out, "slab_global_page_pool", 0);
    stat(out, "expired_unfetched", 0);
    stat(out, "evicted_unfetched", 0);
    stat(out, "evicted_active", 0);
    stat(out, "evictions", engine.evicted_keys);
    stat(out, "reclaimed", engine.expired_keys);
    for name in [
        "crawler_reclaimed",
        "crawler_items_checked",
        "lrutail_reflocked",
        "moves_to_cold",
        "moves_to_warm",
        "moves_within_lru",
        "direct_reclaims",
        "lru_bumps_dropped",
    ] {
        stat(out, name, 0);
    }
    line(out, b"END");
}

/// The `hash_power_level` memcached's hash table would have: 2^16 buckets
/// at start, doubled whenever it holds more than 1.5 items per bucket, never
/// shrunk. (Larder's tables are its own; tools read this as a size gauge.)
/// Grown from the item count `stats` sees, so by `stats` time.
fn hash_power(mc: &super::McState, items: u64) -> u32 {
    let mut hp = 16u32;
    while hp < 32 && items > 3 * (1u64 << hp) / 2 {
        hp += 1;
    }
    mc.hash_power.fetch_max(hp, Relaxed).max(hp)
}

/// `stats settings`: memcached's full list, in its order. What Larder has
/// no counterpart for shows memcached's default.
fn settings(shared: &Shared, out: &mut Vec<u8>) {
    let mc = &shared.memcache;
    let t = mc.tunables.lock();
    let cfg = shared.config.read();
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    stat(out, "maxbytes", cfg.maxmemory);
    stat(out, "maxconns", cfg.maxclients);
    stat(
        out,
        "tcpport",
        cfg.memcache_port
            .unwrap_or(crate::config::DEFAULT_MEMCACHE_PORT),
    );
    stat(out, "udpport", cfg.memcache_udp_port);
    stat(out, "inter", cfg.bind.join(","));
    stat(out, "verbosity", t.verbosity);
    stat(out, "oldest", 0);
    stat(
        out,
        "evictions",
        if cfg.policy() == larder_engine::Policy::NoEviction {
            "off"
        } else {
            "on"
        },
    );
    let socket = cfg.memcache_unixsocket.as_ref();
    let socket = socket.map_or("NULL".into(), |p| p.display().to_string());
    stat(out, "domain_socket", socket);
    stat(out, "umask", format!("{:o}", cfg.memcache_unixsocketperm));
    stat(
        out,
        "shutdown_command",
        yes_no(cfg.memcache_enable_shutdown),
    );
    stat(out, "growth_factor", "1.25");
    stat(out, "chunk_size", 48);
    let threads = super::threads::count(cfg.memcache_threads);
    stat(out, "num_threads", threads);
    stat(out, "num_threads_per_udp", threads);
    stat(out, "stat_key_prefix", super::detail::DELIMITER as char);
    stat(out, "detail_enabled", yes_no(mc.detail_on.load(Relaxed)));
    stat(out, "reqs_per_event", cfg.memcache_reqs_per_event);
    stat(out, "cas_enabled", yes_no(!cfg.memcache_disable_cas));
    stat(out, "tcp_backlog", cfg.tcp_backlog);
    stat(
        out,
        "binding_protocol",
        match cfg.memcache_protocol.as_str() {
            "auto" => "auto-negotiate",
            p => p,
        },
    );
    let auth = if shared.acl.auth_required() {
        "yes"
    } else {
        "no"
    };
    stat(out, "auth_enabled_sasl", auth);
    stat(out, "auth_enabled_ascii", auth);
    stat(out, "item_size_max", cfg.memcache_max_item_size);
    stat(out, "maxconns_fast", "yes");
    stat(out, "hashpower_init", 0);
    stat(out, "slab_reassign", "yes");
    stat(out, "slab_automove", t.slab_automove);
    stat(
        out,
        "slab_automove_ratio",
        format!("{:.2}", t.automove_ratio),
    );
    stat(out, "slab_automove_window", 30);
    stat(out, "slab_chunk_max", cfg.memcache_max_item_size / 2);
    stat(out, "lru_crawler", yes_no(t.crawler));
    stat(out, "lru_crawler_sleep", t.crawler_sleep);
    stat(out, "lru_crawler_tocrawl", t.crawler_tocrawl);
    stat(out, "tail_repair_time", 0);
    stat(
        out,
        "flush_enabled",
        yes_no(!cfg.memcache_disable_flush_all),
    );
    stat(out, "dump_enabled", "yes");
    stat(out, "hash_algorithm", "murmur3");
    stat(out, "lru_maintainer_thread", "yes");
    stat(out, "lru_segmented", yes_no(t.lru_segmented));
    stat(out, "hot_lru_pct", t.hot_lru_pct);
    stat(out, "warm_lru_pct", t.warm_lru_pct);
    stat(out, "hot_max_factor", format!("{:.2}", t.hot_max_factor));
    stat(out, "warm_max_factor", format!("{:.2}", t.warm_max_factor));
    stat(out, "temp_lru", yes_no(t.temp_lru));
    stat(out, "temporary_ttl", t.temporary_ttl);
    stat(out, "idle_timeout", cfg.timeout);
    stat(out, "watcher_logbuf_size", 262_144);
    stat(out, "worker_logbuf_size", 65_536);
    stat(out, "read_buf_mem_limit", 0);
    stat(out, "track_sizes", yes_no(t.sizes_from_cas.is_some()));
    stat(out, "inline_ascii_response", "no");
    // Not memcached's: what Larder evicts by.
    stat(out, "maxmemory_policy", cfg.policy().name());
    line(out, b"END");
}

/// `stats items`: memcached's per-class fields for class 1 (database 0),
/// all items counted as in the cold LRU; LRU-internal counters are 0.
fn items(shared: &Shared, out: &mut Vec<u8>) {
    let n = shared.engine.dbsize(0);
    if n > 0 {
        let e = shared.engine.stats();
        let oom = shared.memcache.counters.sum().store_no_memory;
        for (name, v) in [
            ("number", n as u64),
            ("number_hot", 0),
            ("number_warm", 0),
            ("number_cold", n as u64),
            ("age_hot", 0),
            ("age_warm", 0),
            ("age", 0),
            ("mem_requested", e.entry_bytes.max(0) as u64),
            ("evicted", e.evicted_keys),
            ("evicted_nonzero", 0),
            ("evicted_time", 0),
            ("outofmemory", oom),
            ("tailrepairs", 0),
            ("reclaimed", e.expired_keys),
            ("expired_unfetched", 0),
            ("evicted_unfetched", 0),
            ("evicted_active", 0),
            ("crawler_reclaimed", 0),
            ("crawler_items_checked", 0),
            ("lrutail_reflocked", 0),
            ("moves_to_cold", 0),
            ("moves_to_warm", 0),
            ("moves_within_lru", 0),
            ("direct_reclaims", 0),
            ("hits_to_hot", 0),
            ("hits_to_warm", 0),
            ("hits_to_cold", 0),
            ("hits_to_temp", 0),
        ] {
            stat(out, &format!("items:1:{name}"), v);
        }
    }
    line(out, b"END");
}

/// `stats slabs`: class 1 holds every item, one "chunk" (of up to the
/// item size limit) and one "page" each.
fn slabs(shared: &Shared, out: &mut Vec<u8>) {
    let n = shared.engine.dbsize(0) as u64;
    if n > 0 {
        let c = shared.memcache.counters.sum();
        for (name, v) in [
            ("chunk_size", shared.memcache.item_max.load(Relaxed)),
            ("chunks_per_page", 1),
            ("total_pages", n),
            ("total_chunks", n),
            ("used_chunks", n),
            ("free_chunks", 0),
            ("free_chunks_end", 0),
            ("get_hits", c.get_hits),
            ("cmd_set", c.cmd_set),
            ("delete_hits", c.delete_hits),
            ("incr_hits", c.incr_hits),
            ("decr_hits", c.decr_hits),
            ("cas_hits", c.cas_hits),
            ("cas_badval", c.cas_badval),
            ("touch_hits", c.touch_hits),
        ] {
            stat(out, &format!("1:{name}"), v);
        }
    }
    stat(out, "active_slabs", u64::from(n > 0));
    stat(out, "total_malloced", shared.engine.used_memory());
    line(out, b"END");
}
