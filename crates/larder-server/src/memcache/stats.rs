//! memcached's `stats` groups, under memcached's names.
//!
//! General stats come from the memcached counters ([`super::Counters`]),
//! the engine (items, bytes, evictions) and the config. Larder has no slab
//! allocator: `stats items` and `stats slabs` describe database 0 as one
//! class (`1`), so tools that sum over classes still add up.

use std::sync::atomic::Ordering::Relaxed;

use larder_memcache::reply::{line, stat};

use crate::shared::{unix_secs, Shared};

pub fn stats(shared: &Shared, group: &[u8], nargs: usize, out: &mut Vec<u8>) {
    match group {
        b"" if nargs == 0 => general(shared, out),
        b"reset" => {
            shared.memcache.counters.reset();
            line(out, b"RESET");
        }
        b"settings" => settings(shared, out),
        b"items" => items(shared, out),
        b"slabs" => slabs(shared, out),
        b"detail" => line(out, b"CLIENT_ERROR usage: stats detail on|off|dump"),
        _ => line(out, b"ERROR"),
    }
}

fn general(shared: &Shared, out: &mut Vec<u8>) {
    let c = &shared.memcache.counters;
    let g = |a: &std::sync::atomic::AtomicU64| a.load(Relaxed);
    let engine = shared.engine.stats();
    let (maxconns, maxmemory) = {
        let cfg = shared.config.read();
        (cfg.maxclients, cfg.maxmemory)
    };
    stat(out, "pid", std::process::id());
    stat(out, "uptime", shared.uptime_secs());
    stat(out, "time", unix_secs());
    stat(out, "version", larder_memcache::MEMCACHED_COMPAT_VERSION);
    stat(out, "pointer_size", 64);
    stat(out, "max_connections", maxconns);
    stat(
        out,
        "curr_connections",
        g(&shared.memcache.curr_connections),
    );
    stat(out, "total_connections", g(&c.total_connections));
    stat(out, "rejected_connections", g(&c.rejected_connections));
    stat(
        out,
        "connection_structures",
        g(&shared.memcache.curr_connections),
    );
    for (name, v) in [
        ("cmd_get", &c.cmd_get),
        ("cmd_set", &c.cmd_set),
        ("cmd_flush", &c.cmd_flush),
        ("cmd_touch", &c.cmd_touch),
        ("cmd_meta", &c.cmd_meta),
        ("get_hits", &c.get_hits),
        ("get_misses", &c.get_misses),
        ("get_expired", &c.get_expired),
        ("get_flushed", &c.get_flushed),
        ("delete_misses", &c.delete_misses),
        ("delete_hits", &c.delete_hits),
        ("incr_misses", &c.incr_misses),
        ("incr_hits", &c.incr_hits),
        ("decr_misses", &c.decr_misses),
        ("decr_hits", &c.decr_hits),
        ("cas_misses", &c.cas_misses),
        ("cas_hits", &c.cas_hits),
        ("cas_badval", &c.cas_badval),
        ("touch_hits", &c.touch_hits),
        ("touch_misses", &c.touch_misses),
        ("store_too_large", &c.store_too_large),
        ("store_no_memory", &c.store_no_memory),
    ] {
        stat(out, name, g(v));
    }
    stat(out, "auth_cmds", 0);
    stat(out, "auth_errors", 0);
    stat(out, "bytes_read", g(&c.bytes_read));
    stat(out, "bytes_written", g(&c.bytes_written));
    stat(out, "limit_maxbytes", maxmemory);
    stat(out, "accepting_conns", 1);
    stat(
        out,
        "threads",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    );
    stat(out, "bytes", engine.entry_bytes.max(0));
    stat(out, "curr_items", shared.engine.dbsize(0));
    stat(out, "total_items", g(&c.total_items));
    stat(out, "expired_unfetched", 0);
    stat(out, "evicted_unfetched", 0);
    stat(out, "evictions", engine.evicted_keys);
    stat(out, "reclaimed", engine.expired_keys);
    line(out, b"END");
}

fn settings(shared: &Shared, out: &mut Vec<u8>) {
    let cfg = shared.config.read();
    stat(out, "maxbytes", cfg.maxmemory);
    stat(out, "maxconns", cfg.maxclients);
    stat(
        out,
        "tcpport",
        cfg.memcache_port
            .unwrap_or(crate::config::DEFAULT_MEMCACHE_PORT),
    );
    stat(out, "udpport", 0);
    stat(out, "inter", cfg.bind.join(","));
    stat(out, "verbosity", 0);
    stat(
        out,
        "evictions",
        if cfg.policy() == larder_engine::Policy::NoEviction {
            "off"
        } else {
            "on"
        },
    );
    stat(
        out,
        "shutdown_command",
        if cfg.memcache_enable_shutdown {
            "yes"
        } else {
            "no"
        },
    );
    stat(out, "cas_enabled", "yes");
    stat(out, "item_size_max", cfg.memcache_max_item_size);
    stat(out, "flush_enabled", "yes");
    stat(out, "maxmemory_policy", cfg.policy().name());
    line(out, b"END");
}

fn items(shared: &Shared, out: &mut Vec<u8>) {
    let n = shared.engine.dbsize(0);
    if n > 0 {
        let e = shared.engine.stats();
        stat(out, "items:1:number", n);
        stat(out, "items:1:evicted", e.evicted_keys);
        stat(out, "items:1:reclaimed", e.expired_keys);
    }
    line(out, b"END");
}

fn slabs(shared: &Shared, out: &mut Vec<u8>) {
    let n = shared.engine.dbsize(0);
    let bytes = shared.engine.stats().entry_bytes.max(0);
    if n > 0 {
        stat(out, "1:used_chunks", n);
        stat(out, "1:mem_requested", bytes);
    }
    stat(out, "active_slabs", usize::from(n > 0));
    stat(out, "total_malloced", shared.engine.used_memory());
    line(out, b"END");
}
