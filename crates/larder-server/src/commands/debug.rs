//! DEBUG: the introspection and test hooks of Redis's DEBUG command that
//! make sense for Larder — SLEEP, SET-ACTIVE-EXPIRE, OBJECT, RELOAD,
//! DIGEST and DIGEST-VALUE (Redis's exact digests: `larder_engine::digest`),
//! PROTOCOL (one reply of each RESP3 type, for client tests),
//! QUICKLIST-PACKED-THRESHOLD and CHANGE-REPL-ID (accepted; nothing to
//! change here). Gated by `enable-debug-command` as in Redis 7.0.
//!
//! DEBUG DIGEST holds every shard while it walks the keyspace (two SHA1s
//! per element): a test and migration tool, not for busy servers.

use std::time::Duration;

use larder_engine::{access, digest, Lookup, StrRef};

use crate::command::{flags::*, Command, Ctx};
use crate::commands::server::{cmd, reply_help};
use crate::error::{CmdError, CmdResult, NO_SUCH_KEY};

pub const COMMANDS: &[Command] = &[cmd(
    "debug",
    -2,
    ADMIN | NOSCRIPT | LOADING | STALE,
    "admin slow dangerous",
    debug,
)];

const DEBUG_DENIED: CmdError = CmdError::new("ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.");

const DEBUG_HELP: &[&str] = &[
    "DIGEST",
    "    Output a hex signature representing the current DB content.",
    "DIGEST-VALUE <key> [<key> ...]",
    "    Output a hex signature of the values of all the specified keys.",
    "OBJECT <key>",
    "    Show low level info about `key` and associated value.",
    "PROTOCOL <type>",
    "    Reply with a test value of the specified type. <type> can be: string,",
    "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
    "    true, false.",
    "QUICKLIST-PACKED-THRESHOLD <size>",
    "    Sets the threshold for elements to be inserted as plain vs packed nodes",
    "    Default value is 1GB, allows values up to 4GB. Setting to 0 restores to default.",
    "RELOAD",
    "    Save the RDB on disk and reload it back to memory.",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Setting it to 0 disables expiring keys in background when they are not",
    "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
    "    default.",
    "SLEEP <seconds>",
    "    Stop the server for <seconds>. Decimals allowed.",
];

/// `enable-debug-command`: no, yes, or local (loopback and Unix clients).
fn debug_allowed(ctx: &Ctx<'_>) -> bool {
    match ctx.shared.config.read().enable_debug_command.as_str() {
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
    if !debug_allowed(ctx) {
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
    if ctx.arg_is(1, "change-repl-id") && argc == 2 {
        // No replication here: nothing to change.
        ctx.out.ok();
        return Ok(());
    }
    if ctx.arg_is(1, "reload") && argc == 2 {
        crate::persist::snapshot::debug_reload(ctx.shared)
            .map_err(|e| CmdError::owned(format!("ERR Error trying to load the RDB dump: {e}")))?;
        ctx.out.ok();
        return Ok(());
    }
    Err(CmdError::owned(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
        crate::error::truncate_lossy(ctx.arg(1), 128)
    )))
}

/// `Value at:0x.. refcount:1 encoding:embstr serializedlength:6 lru:.. lru_seconds_idle:..`.
/// `serializedlength` is the value's RDB encoding length (Larder's LZF
/// output differs from liblzf's, so compressed strings may differ by a few bytes).
fn debug_object(ctx: &mut Ctx<'_>) -> CmdResult {
    let key = ctx.key(2);
    let mut txn = ctx.lock(&key);
    let now = txn.now;
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
