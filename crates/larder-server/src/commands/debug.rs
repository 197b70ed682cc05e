//! DEBUG: the introspection and test hooks of Redis's DEBUG command that
//! make sense for Larder — SLEEP, AOF-FLUSH-SLEEP (kept in `AofState` for
//! the AOF writer), SET-ACTIVE-EXPIRE, OBJECT, RELOAD (with
//! MERGE/NOFLUSH/NOSAVE), LOADAOF, POPULATE, DIGEST and DIGEST-VALUE
//! (Redis's exact digests: `larder_engine::digest`), PROTOCOL (one reply of
//! each RESP3 type, for client tests), SET-DISABLE-DENY-SCRIPTS, LOG,
//! HTSTATS-KEY (sizes only), QUICKLIST-PACKED-THRESHOLD, REPLYBUFFER and
//! CHANGE-REPL-ID (accepted; nothing to change here),
//! CONFIG-REWRITE-FORCE-ALL (CONFIG REWRITE writing every setting). Gated by
//! `enable-debug-command` as in Redis 7.0.
//!
//! DEBUG DIGEST holds every shard while it walks the keyspace (two SHA1s
//! per element): a test and migration tool, not for busy servers.

use std::time::Duration;

use std::sync::atomic::Ordering::Relaxed;

use larder_engine::{access, digest, Lookup, StrRef, StrValue, Ttl};

use crate::command::{flags::*, Command, Ctx};
use crate::commands::server::{cmd, reply_help};
use crate::error::{CmdError, CmdResult, NO_SUCH_KEY};
use crate::shared::Loading;

pub const COMMANDS: &[Command] = &[cmd(
    "debug",
    -2,
    ADMIN | NOSCRIPT | LOADING | STALE,
    "admin slow dangerous",
    debug,
)];

const DEBUG_DENIED: CmdError = CmdError::new("ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.");

const DEBUG_HELP: &[&str] = &[
    "AOF-FLUSH-SLEEP <microsec>",
    "    Server will sleep before flushing the AOF, this is used for testing.",
    "CONFIG-REWRITE-FORCE-ALL",
    "    Like CONFIG REWRITE but writes all configuration options, including",
    "    keywords not listed in original configuration file or default values.",
    "DIGEST",
    "    Output a hex signature representing the current DB content.",
    "DIGEST-VALUE <key> [<key> ...]",
    "    Output a hex signature of the values of all the specified keys.",
    "ERROR <string>",
    "    Return a Redis protocol error with <string> as message. Useful for clients",
    "    unit tests to simulate Redis errors.",
    "HTSTATS-KEY <key> [full]",
    "    Like HTSTATS but for the hash table stored at <key>'s value.",
    "LOADAOF",
    "    Flush the AOF buffers on disk and reload the AOF in memory.",
    "LOG <message>",
    "    Write <message> to the server log.",
    "OBJECT <key>",
    "    Show low level info about `key` and associated value.",
    "PROTOCOL <type>",
    "    Reply with a test value of the specified type. <type> can be: string,",
    "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
    "    true, false.",
    "POPULATE <count> [<prefix>] [<size>]",
    "    Create <count> string keys named key:<num>. If <prefix> is specified then",
    "    it is used instead of the 'key' prefix. These are not propagated to",
    "    replicas. Cluster slots are not respected so keys not belonging to the",
    "    current node can be created in cluster mode.",
    "QUICKLIST-PACKED-THRESHOLD <size>",
    "    Sets the threshold for elements to be inserted as plain vs packed nodes",
    "    Default value is 1GB, allows values up to 4GB. Setting to 0 restores to default.",
    "RELOAD [option ...]",
    "    Save the RDB on disk and reload it back to memory. Available options:",
    "    * MERGE: Merge the content of the RDB with the current data.",
    "    * NOFLUSH: Do not empty the current database before loading.",
    "    * NOSAVE: the database will be loaded from an existing RDB file.",
    "    Examples:",
    "    * DEBUG RELOAD: verify that the server is able to persist, flush and reload",
    "      the database.",
    "    * DEBUG RELOAD NOSAVE: replace the current database with the contents of an",
    "      existing RDB file.",
    "    * DEBUG RELOAD NOSAVE NOFLUSH MERGE: add the contents of an existing RDB",
    "      file to the database.",
    "PAUSE-CRON <0|1>",
    "    Stop periodic cron job processing.",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Setting it to 0 disables expiring keys in background when they are not",
    "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
    "    default.",
    "SET-DISABLE-DENY-SCRIPTS <0|1>",
    "    Enable scripts to run commands that are flagged as not allowed from scripts.",
    "SLEEP <seconds>",
    "    Stop the server for <seconds>. Decimals allowed.",
    "REPLYBUFFER PEAK-RESET-TIME <NEVER||RESET|time>",
    "    Sets the time (in milliseconds) to wait between client reply buffer peak resets.",
    "    In case NEVER is provided the last observed peak will never be reset",
    "    In case RESET is provided the peak reset time will be restored to the default value",
    "REPLYBUFFER RESIZING <0|1>",
    "    Enable or disable the replay buffer resize cron job",
];

/// Redis's `allowProtectedAction`: a protected setting (`enable-debug-command`,
/// `enable-module-command`, `enable-protected-configs`) is no, yes, or local
/// (loopback and Unix clients).
pub(crate) fn protected_action_allowed(ctx: &Ctx<'_>, setting: &str) -> bool {
    match setting {
        "yes" => true,
        "local" => {
            let h = &ctx.client.handle;
            h.unix
                || h.addr
                    .rsplit_once(':')
                    .and_then(|(ip, _)| {
                        ip.trim_matches(|c| c == '[' || c == ']')
                            .parse::<std::net::IpAddr>()
                            .ok()
                    })
                    .is_some_and(|ip| ip.is_loopback())
        }
        _ => false,
    }
}

fn debug(ctx: &mut Ctx<'_>) -> CmdResult {
    let setting = ctx.shared.config.read().enable_debug_command.clone();
    if !protected_action_allowed(ctx, &setting) {
        return Err(DEBUG_DENIED);
    }
    let argc = ctx.argc();
    if ctx.arg_is(1, "help") && argc == 2 {
        return reply_help(ctx, "DEBUG", DEBUG_HELP);
    }
    if ctx.arg_is(1, "sleep") && argc == 3 {
        // strtod: a bad number sleeps 0 seconds, as in Redis. Like Redis,
        // this blocks the thread running the command.
        let secs = std::str::from_utf8(ctx.arg(2))
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
            .unwrap_or(0.0);
        std::thread::sleep(Duration::from_secs_f64(secs.min(86_400.0)));
        ctx.out.ok();
        return Ok(());
    }
    if ctx.arg_is(1, "aof-flush-sleep") && argc == 3 {
        // atoi, as Redis: garbage or a negative number is 0 (no sleep).
        let us = std::str::from_utf8(ctx.arg(2))
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .unwrap_or(0)
            .max(0);
        ctx.shared.aof.flush_sleep_us.store(us as u64, Relaxed);
        ctx.out.ok();
        return Ok(());
    }
    if ctx.arg_is(1, "error") && argc == 3 {
        // Redis's addReplySds: "-" and the text as given, line breaks as
        // spaces, not counted in the error stats.
        let text = [b"-", ctx.arg(2)].concat();
        ctx.out.error(&text);
        return Ok(());
    }
    if ctx.arg_is(1, "pause-cron") && argc == 3 {
        let on = crate::command::parse_i64(ctx.arg(2)).unwrap_or(0) != 0;
        ctx.shared.hot.cron_paused.store(on, Relaxed);
        ctx.out.ok();
        return Ok(());
    }
    if ctx.arg_is(1, "set-active-expire") && argc == 3 {
        let on = crate::command::parse_i64(ctx.arg(2)).unwrap_or(0) != 0;
        ctx.engine().config.set_active_expire(on);
        ctx.out.ok();
        return Ok(());
    }
    if ctx.arg_is(1, "object") && argc == 3 {
        return debug_object(ctx);
    }
    if ctx.arg_is(1, "digest") && argc == 2 {
        let databases = ctx.shared.config.read().databases;
        let txn = ctx.engine().lock_all(0);
        let d = digest::dataset_digest(&txn, databases);
        drop(txn);
        ctx.out.simple(digest::hex(&d).as_bytes());
        return Ok(());
    }
    if ctx.arg_is(1, "digest-value") {
        ctx.out.array(argc - 2);
        for i in 2..argc {
            // A debug command: logically expired keys count too, as in Redis.
            let key = ctx.key(i);
            let mut txn = ctx.lock(&key);
            let d = digest::value_digest(txn.lookup(&key, Lookup::Peek).map(|e| e.into_ref()));
            drop(txn);
            ctx.out.simple(digest::hex(&d).as_bytes());
        }
        return Ok(());
    }
    if ctx.arg_is(1, "protocol") && argc == 3 {
        return debug_protocol(ctx);
    }
    if ctx.arg_is(1, "quicklist-packed-threshold") && argc == 3 {
        // Accepted for compatibility: Larder's lists have no plain nodes.
        return match crate::directives::parse_memory(&String::from_utf8_lossy(ctx.arg(2))) {
            Ok(n) if n <= u32::MAX as u64 => {
                ctx.out.ok();
                Ok(())
            }
            _ => Err(CmdError::new(
                "ERR argument must be a memory value bigger than 1 and smaller than 4gb",
            )),
        };
    }
    if ctx.arg_is(1, "config-rewrite-force-all") && argc == 2 {
        crate::commands::config_cmd::rewrite_file(ctx.shared, true)
            .map_err(|e| CmdError::owned(format!("ERR CONFIG-REWRITE-FORCE-ALL failed: {e}")))?;
        ctx.out.ok();
        return Ok(());
    }
    if ctx.arg_is(1, "change-repl-id") && argc == 2 {
        // No replication here: nothing to change.
        ctx.out.ok();
        return Ok(());
    }
    if ctx.arg_is(1, "reload") {
        return debug_reload(ctx);
    }
    if ctx.arg_is(1, "loadaof") && argc == 2 {
        return debug_loadaof(ctx);
    }
    if ctx.arg_is(1, "populate") && (3..=5).contains(&argc) {
        return debug_populate(ctx);
    }
    if ctx.arg_is(1, "htstats-key") && (3..=4).contains(&argc) {
        return debug_htstats_key(ctx);
    }
    if ctx.arg_is(1, "set-disable-deny-scripts") && argc == 3 {
        let on = crate::command::parse_i64(ctx.arg(2)).unwrap_or(0) != 0;
        ctx.shared.admin.script_disable_deny.store(on, Relaxed);
        ctx.out.ok();
        return Ok(());
    }
    if ctx.arg_is(1, "set-skip-checksum-validation") && argc == 3 {
        let on = crate::command::parse_i64(ctx.arg(2)).unwrap_or(0) != 0;
        ctx.shared.admin.skip_checksum.store(on, Relaxed);
        ctx.out.ok();
        return Ok(());
    }
    if ctx.arg_is(1, "replybuffer") && argc == 4 {
        return debug_replybuffer(ctx);
    }
    if ctx.arg_is(1, "replicate") && argc >= 3 {
        // To the replicas alone, in the stream's current database.
        let args: Vec<Vec<u8>> = (2..argc).map(|i| ctx.arg(i).to_vec()).collect();
        (ctx.shared.propagate.feed).append_replicas_only(args.iter().map(Vec::as_slice));
        ctx.out.ok();
        return Ok(());
    }
    if ctx.arg_is(1, "log") && argc == 3 {
        tracing::warn!("DEBUG LOG: {}", String::from_utf8_lossy(ctx.arg(2)));
        ctx.out.ok();
        return Ok(());
    }
    Err(CmdError::owned(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
        crate::error::truncate_lossy(ctx.arg(1), 128)
    )))
}

/// DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE] (debug.c's texts). Other
/// clients get LOADING meanwhile, as while Redis loads.
fn debug_reload(ctx: &mut Ctx<'_>) -> CmdResult {
    let (mut save, mut flush, mut merge) = (true, true, false);
    for i in 2..ctx.argc() {
        if ctx.arg_is(i, "merge") {
            merge = true;
        } else if ctx.arg_is(i, "noflush") {
            flush = false;
        } else if ctx.arg_is(i, "nosave") {
            save = false;
        } else {
            return Err(CmdError::new(
                "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.",
            ));
        }
    }
    let loading = Loading::start(ctx.shared);
    let reloaded = crate::persist::snapshot::debug_reload(ctx.shared, save, flush, merge);
    drop(loading);
    if let Err(e) = reloaded {
        tracing::warn!("DEBUG RELOAD failed: {e}");
        return Err(CmdError::new("ERR Error trying to load the RDB dump"));
    }
    tracing::warn!("DB reloaded by DEBUG RELOAD");
    ctx.out.ok();
    Ok(())
}

/// DEBUG LOADAOF: writes out and stops the AOF, empties the dataset and the
/// functions, then restarts the AOF, which loads its files back (Redis
/// flushes, empties and loads the same way); with the AOF off, loads what
/// the AOF directory holds (a BGREWRITEAOF's base). An AOF that CONFIG SET
/// is turning on is waited for until its first rewrite is over (up to
/// 10 s), driving the server cron's AOF step from here: the cron's tick may
/// be queued behind this very worker. No AOF to load is an error (Redis
/// would exit).
fn debug_loadaof(ctx: &mut Ctx<'_>) -> CmdResult {
    let sh = ctx.shared;
    let Some(arc) = crate::persist::snapshot::server_arc(sh) else {
        return Err(CmdError::new("ERR AOF is not enabled"));
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    crate::propagate::outside_command(|| {
        while sh.config.read().appendonly
            && (!sh.aof.enabled() || sh.aof.rewrite_in_progress.load(Relaxed))
            && std::time::Instant::now() < deadline
        {
            crate::persist::aof::cron(&arc);
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    let running = sh.aof.enabled();
    if running {
        crate::persist::aof::stop(sh);
    }
    {
        let _loading = Loading::start(sh);
        let engine = &sh.engine;
        let _hold = engine.hold(None);
        {
            let mut txn = engine.lock_all(0);
            for db in 0..engine.databases() {
                drop(txn.take_db(db));
            }
        }
        crate::commands::functions::reload_from_rdb(sh, &[], true, false)
            .map_err(|e| CmdError::owned(format!("ERR {e}")))?;
        let loaded = if running {
            crate::persist::aof::start(&arc).map_err(|e| e.to_string())
        } else {
            crate::persist::aof::load_from_disk(sh)
        };
        if let Err(e) = loaded {
            tracing::error!("DEBUG LOADAOF failed: {e}");
            return Err(CmdError::new(
                "ERR Error trying to load the AOF, check server logs.",
            ));
        }
    }
    tracing::warn!("Append Only File loaded by DEBUG LOADAOF");
    ctx.out.ok();
    Ok(())
}

/// DEBUG POPULATE <count> [<prefix>] [<size>]: keys `prefix:N` (default
/// `key`) set to `value:N`, or to `size` bytes of it, zero padded; keys
/// that exist are left alone.
fn debug_populate(ctx: &mut Ctx<'_>) -> CmdResult {
    const OUT_OF_RANGE: CmdError = CmdError::new("ERR value is out of range, must be positive");
    let positive = |b: &[u8]| {
        crate::command::parse_i64(b)
            .filter(|n| *n >= 0)
            .ok_or(OUT_OF_RANGE)
    };
    let count = positive(ctx.arg(2))?;
    let size = if ctx.argc() == 5 {
        positive(ctx.arg(4))? as usize
    } else {
        0
    };
    let prefix = if ctx.argc() >= 4 {
        ctx.arg(3).to_vec()
    } else {
        b"key".to_vec()
    };
    let mut name = Vec::new();
    let mut value = Vec::new();
    for j in 0..count {
        name.clear();
        name.extend_from_slice(&prefix);
        name.extend_from_slice(format!(":{j}").as_bytes());
        value.clear();
        value.extend_from_slice(format!("value:{j}").as_bytes());
        if size > 0 {
            value.resize(size, 0);
        }
        let key = ctx.engine().key(&name);
        let mut txn = ctx.lock(&key);
        if !txn.exists(&key) {
            txn.set(&key, StrValue::Plain(&value), Ttl::Clear);
        }
    }
    ctx.out.ok();
    Ok(())
}

/// DEBUG HTSTATS-KEY <key> [full]: Larder's collections are not Redis's
/// chained hash tables, so only the size and element count lines are shown
/// (the table size as Redis's power of two would be).
fn debug_htstats_key(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(2);
    let mut txn = ctx.lock(&key);
    let e = txn
        .lookup(&key, Lookup::ReadNoTouch)
        .ok_or(NO_SUCH_KEY)?
        .into_ref();
    if !matches!(e.encoding_name(), "hashtable" | "skiplist") {
        return Err(CmdError::new(
            "ERR The value stored at the specified key is not represented using an hash table",
        ));
    }
    let n = e.object().map_or(0, |o| o.len());
    drop(txn);
    let text = format!(
        "Hash table 0 stats (main hash table):\n table size: {}\n number of elements: {n}\n",
        n.next_power_of_two().max(4)
    );
    ctx.out.verbatim(b"txt", text.as_bytes());
    Ok(())
}

/// DEBUG REPLYBUFFER PEAK-RESET-TIME <never|reset|ms> / RESIZING <0|1>:
/// checked and accepted; Larder's reply buffers are per-connection `Vec`s
/// with their own growth policy, which these do not tune.
fn debug_replybuffer(ctx: &mut Ctx<'_>) -> CmdResult {
    let ok = if ctx.arg_is(2, "peak-reset-time") {
        ctx.arg_is(3, "never")
            || ctx.arg_is(3, "reset")
            || crate::command::parse_i64(ctx.arg(3)).is_some()
    } else {
        ctx.arg_is(2, "resizing")
    };
    if !ok {
        return Err(CmdError::new("ERR Syntax error, try DEBUG HELP"));
    }
    ctx.out.ok();
    Ok(())
}

/// `Value at:0x.. refcount:1 encoding:embstr serializedlength:6 lru:.. lru_seconds_idle:..`.
/// `serializedlength` is the value's RDB encoding length (Larder's LZF
/// output differs from liblzf's, so compressed strings may differ by a few bytes).
fn debug_object(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(2);
    let mut txn = ctx.lock(&key);
    let now = txn.now;
    // Redis reads the dict as it is (dictFind): an expired key not yet
    // deleted is still shown, not lazily expired.
    txn.now = 0;
    let shared_ints = ctx.engine().config.maxmemory() == 0;
    let compress = ctx.shared.config.read().rdbcompression;
    let fill = ctx.engine().config.limits().list_max_listpack_size;
    let line = {
        let e = txn
            .lookup(&key, Lookup::ReadNoTouch)
            .ok_or(NO_SUCH_KEY)?
            .into_ref();
        let mut payload = Vec::new();
        larder_engine::rdb::write::save_value(&mut payload, e, compress, fill);
        let shared = shared_ints && matches!(e.value(), StrRef::Int(i) if (0..10_000).contains(&i));
        let clock = access::clock_of(e.access());
        format!(
            "Value at:{:p} refcount:{} encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{}",
            e.key().as_ptr(),
            if shared { i32::MAX } else { 1 },
            e.encoding_name(),
            payload.len(),
            clock,
            access::elapsed(access::lru_clock(now), clock)
        )
    };
    drop(txn);
    ctx.out.simple(line.as_bytes());
    Ok(())
}

/// DEBUG PROTOCOL <type>: Redis's fixed test replies (3.141 is one of
/// them, not an approximation of pi).
#[allow(clippy::approx_constant)]
fn debug_protocol(ctx: &mut Ctx<'_>) -> CmdResult {
    let name = String::from_utf8_lossy(ctx.arg(2)).to_ascii_lowercase();
    let out = &mut ctx.out;
    match name.as_str() {
        "string" => out.bulk(b"Hello World"),
        "integer" => out.int(12345),
        "double" => out.double(3.141),
        "bignum" => out.big_number(b"1234567999999999999999999999999999999"),
        "null" => out.null(),
        "array" | "set" => {
            if name == "set" {
                out.set(3)
            } else {
                out.array(3)
            }
            (0..3).for_each(|j| out.int(j));
        }
        "map" => {
            out.map(3);
            for j in 0..3 {
                out.int(j);
                out.boolean(j == 1);
            }
        }
        "attrib" => {
            if out.attribute(1) {
                out.bulk(b"key-popularity");
                out.array(2);
                out.bulk(b"key:123");
                out.int(90);
            }
            out.bulk(b"Some real reply following the attribute");
        }
        "push" => {
            if ctx.client.proto == larder_resp::Protocol::Resp2 {
                return Err(CmdError::new("ERR RESP2 is not supported by this command"));
            }
            out.push(2);
            out.bulk(b"server-cpu-usage");
            out.int(42);
            out.bulk(b"Some real reply following the push reply");
        }
        "true" => out.boolean(true),
        "false" => out.boolean(false),
        "verbatim" => out.verbatim(b"txt", b"This is a verbatim\nstring"),
        _ => return Err(CmdError::new("ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false")),
    }
    Ok(())
}
