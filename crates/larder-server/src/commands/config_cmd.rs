//! CONFIG GET / SET / RESETSTAT / REWRITE / HELP over the directive table
//! in `directives.rs`.
//!
//! - GET takes several names or glob patterns and answers a map (RESP2: a
//!   flat array); an exact name is echoed as the client spelled it, as Redis
//!   does, and each directive appears once.
//! - SET takes several `name value` pairs and is all or nothing: every name
//!   is checked first (unknown, immutable, protected, duplicate), then the
//!   values are applied to a copy of the config, which replaces the live one
//!   only if all of them parse. Error texts are Redis 7.0's.
//! - REWRITE rewrites the file the server was started with: each directive
//!   line is replaced in place by the current value (later repeats dropped),
//!   comments, blank lines and order are kept, and settings not in the file
//!   that differ from the defaults are appended. It writes a temporary file
//!   beside the original and renames it over, so a crash never leaves half a
//!   file.

use std::collections::HashSet;
use std::sync::atomic::Ordering::Relaxed;

use larder_engine::glob;

use crate::command::{flags::*, Command, Ctx};
use crate::commands::server::{cmd, container, reply_help};
use crate::config::Config;
use crate::directives::{self, flags as dflags, Directive};
use crate::error::{CmdError, CmdResult, SYNTAX};

const SUB: u32 = ADMIN | NOSCRIPT | LOADING | STALE;
const ACL: &str = "admin slow dangerous";

pub const COMMANDS: &[Command] = &[container("config", "slow", config, SUBCOMMANDS)];

const SUBCOMMANDS: &[Command] = &[
    cmd("config|get", -3, SUB, ACL, get),
    cmd("config|set", -4, SUB, ACL, set),
    cmd("config|resetstat", 2, SUB, ACL, resetstat),
    cmd("config|rewrite", 2, SUB, ACL, rewrite),
    cmd("config|help", 2, LOADING | STALE, "slow", help),
];

fn config(ctx: &mut Ctx<'_>) -> CmdResult {
    ctx.run_subcommand("config", SUBCOMMANDS)
}

fn get(ctx: &mut Ctx<'_>) -> CmdResult {
    // As Redis: every matching name once, an alias as its own name.
    let mut found: Vec<(String, &'static Directive)> = Vec::new();
    let seen = |found: &Vec<(String, &'static Directive)>, n: &str| {
        found.iter().any(|(f, _)| f.eq_ignore_ascii_case(n))
    };
    for i in 2..ctx.argc() {
        let pat = ctx.arg(i);
        if pat.iter().any(|c| matches!(c, b'*' | b'?' | b'[')) {
            for d in directives::all().filter(|d| !d.has(dflags::HIDDEN)) {
                for n in std::iter::once(d.name).chain(d.alias) {
                    if glob::matches(pat, n.as_bytes(), true) && !seen(&found, n) {
                        found.push((n.to_string(), d));
                    }
                }
            }
        } else if let Some(d) = std::str::from_utf8(pat).ok().and_then(directives::find) {
            let name = String::from_utf8_lossy(pat).into_owned();
            if !seen(&found, &name) {
                found.push((name, d));
            }
        }
    }
    let config = ctx.shared.config.read();
    let values: Vec<String> = found.iter().map(|(_, d)| (d.get)(&config)).collect();
    drop(config);
    ctx.out.map(found.len());
    for ((name, _), v) in found.iter().zip(values) {
        ctx.out.bulk(name.as_bytes());
        ctx.out.bulk(v.as_bytes());
    }
    Ok(())
}

fn set_failed(arg: &str, why: &str) -> CmdError {
    CmdError::owned(format!(
        "ERR CONFIG SET failed (possibly related to argument '{arg}') - {why}"
    ))
}

/// The words a CONFIG SET value stands for: several directives split on
/// spaces (as Redis's sdssplitlen: an empty value is no words).
fn value_words(d: &Directive, v: &str) -> Vec<String> {
    if !d.has(dflags::MULTI_ARG) {
        vec![v.to_string()]
    } else if v.is_empty() {
        Vec::new()
    } else {
        v.split(' ').map(String::from).collect()
    }
}

/// `enable-protected-configs` (no, yes, or local) lets this client set the
/// protected directives (`dir`, `dbfilename`).
fn protected_allowed(ctx: &Ctx<'_>) -> bool {
    let setting = ctx
        .shared
        .config
        .read()
        .compat
        .get("enable-protected-configs")
        .cloned()
        .unwrap_or_default();
    crate::commands::debug::protected_action_allowed(ctx, &setting)
}

fn set(ctx: &mut Ctx<'_>) -> CmdResult {
    if !ctx.argc().is_multiple_of(2) {
        return Err(SYNTAX);
    }
    let mut unknown: Option<String> = None;
    let mut refused: Option<CmdError> = None;
    let mut chosen: Vec<(&'static Directive, String)> = Vec::new();
    // Redis's DENY_LOADING_CONFIG: not while the dataset loads.
    let loading = ctx.shared.hot.loading.load(Relaxed);
    let mut deny_loading = false;
    for i in (2..ctx.argc()).step_by(2) {
        let given = String::from_utf8_lossy(ctx.arg(i)).into_owned();
        let Some(d) = directives::find(&given) else {
            if unknown.is_none() && refused.is_none() {
                unknown = Some(given);
            }
            continue;
        };
        if unknown.is_some() || refused.is_some() {
            continue;
        }
        let same = || (d.get)(&ctx.shared.config.read()).as_bytes() == ctx.arg(i + 1);
        let why = if d.has(dflags::IMMUTABLE) && !(d.has(dflags::SAME_OK) && same()) {
            Some("can't set immutable config")
        } else if d.has(dflags::PROTECTED) && !protected_allowed(ctx) {
            Some("can't set protected config")
        } else if chosen.iter().any(|(c, _)| std::ptr::eq(*c, d)) {
            Some("duplicate parameter")
        } else {
            None
        };
        if let Some(why) = why {
            refused = Some(set_failed(&given, why));
            continue;
        }
        if loading && ["appendonly", "dir", "repl-diskless-load"].contains(&d.name) {
            deny_loading = true;
        }
        chosen.push((d, String::from_utf8_lossy(ctx.arg(i + 1)).into_owned()));
    }
    if deny_loading {
        // (Before the other errors, as Redis: clients treat it apart.)
        return Err(crate::error::LOADING);
    }
    if let Some(name) = unknown {
        return Err(CmdError::owned(format!(
            "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
        )));
    }
    if let Some(e) = refused {
        return Err(e);
    }
    let mut next: Config = ctx.shared.config.read().clone();
    for (d, v) in &chosen {
        if d.has(dflags::IMMUTABLE) {
            // Given as the value in force (SAME_OK): nothing changes, and
            // a default stays a default (`memcache-port`).
            continue;
        }
        let words = value_words(d, v);
        let refs: Vec<&str> = words.iter().map(String::as_str).collect();
        (d.set)(&mut next, &refs).map_err(|why| set_failed(d.name, &why))?;
    }
    // The settings whose apply can fail: listening on a new port or new
    // addresses. On failure nothing is changed.
    let (port, bind) = {
        let c = ctx.shared.config.read();
        (c.port, c.bind.clone())
    };
    if next.port != port || next.bind != bind {
        crate::server::rebind(ctx.shared, &next.bind, next.port).map_err(|e| {
            if next.port != port {
                set_failed("port", &format!("Unable to listen on this port: {e}"))
            } else {
                set_failed("bind", "Failed to bind to specified addresses.")
            }
        })?;
    }
    // oom-score-adj: Redis's updateOOMScoreAdj, refused if it fails.
    if let Some((d, _)) = chosen
        .iter()
        .find(|(d, _)| d.name.starts_with("oom-score-adj"))
    {
        crate::oom::apply(&next, ctx.shared.repl.is_replica()).map_err(|_| {
            set_failed(
                d.name,
                "Failed to set current oom_score_adj. Check server logs.",
            )
        })?;
    }
    *ctx.shared.config.write() = next;
    ctx.shared.apply_config();
    // A new maxmemory evicts at once, as Redis's updateMaxmemory (not from
    // inside EXEC or a script: their hold on the shards is in the way).
    if ctx.client.nesting == 1 && chosen.iter().any(|(d, _)| d.name == "maxmemory") {
        let _ = ctx.shared.engine.evict_until_fits();
    }
    ctx.out.ok();
    Ok(())
}

fn resetstat(ctx: &mut Ctx<'_>) -> CmdResult {
    let sh = ctx.shared;
    let st = &sh.stats;
    for c in [
        &st.total_connections_received,
        &st.rejected_connections,
        &st.total_commands_processed,
        &st.total_net_input_bytes,
        &st.total_net_output_bytes,
        &st.total_error_replies,
        &st.unexpected_error_replies,
        &st.total_reads_processed,
        &st.total_writes_processed,
        &st.reply_buffer_shrinks,
        &st.reply_buffer_expands,
        &st.expire_cycle_us,
        &sh.repl.net_in,
        &sh.repl.net_out,
        &sh.repl.sync_full,
        &sh.repl.sync_partial_ok,
        &sh.repl.sync_partial_err,
    ] {
        c.store(0, Relaxed);
    }
    *st.rates.lock() = Default::default();
    sh.engine.reset_stats();
    sh.engine.over_limit.reset();
    for s in &sh.commands.stats {
        s.reset();
    }
    sh.commands.hist.reset();
    sh.admin.reset_errors();
    sh.admin
        .mem_peak
        .store(sh.engine.used_memory() as u64, Relaxed);
    sh.admin.lazyfree.freed.store(0, Relaxed);
    ctx.out.ok();
    Ok(())
}

/// The new text of a config file: `old` with every directive line set to
/// `config`'s value, then the settings it did not mention: those that
/// differ from the defaults, or with `force_all` every one.
pub fn rewrite_text(old: &str, config: &Config, force_all: bool) -> String {
    let defaults = Config::default();
    let mut done: HashSet<&'static str> = HashSet::new();
    let mut out: Vec<String> = Vec::new();
    for line in old.lines() {
        let t = line.trim();
        let d = (!t.is_empty() && !t.starts_with('#'))
            .then(|| directives::split_args(t))
            .flatten()
            .and_then(|w| w.first().and_then(|n| directives::find(n)));
        match d {
            None => out.push(line.to_string()),
            Some(d) => {
                if done.insert(d.name) {
                    out.extend(directives::config_lines(d, config));
                }
            }
        }
    }
    let mut header = false;
    for d in directives::all() {
        // A setting never chosen stays unchosen: a policy follows
        // `maxmemory`; the default memcache port is skipped when busy.
        let unchosen = match d.name {
            "maxmemory-policy" => config.maxmemory_policy.is_none(),
            "memcache-port" => config.memcache_port.is_none(),
            _ => false,
        };
        let default = !force_all && (d.get)(config) == (d.get)(&defaults);
        if done.contains(d.name) || unchosen || default {
            continue;
        }
        if !header {
            out.push("# Generated by CONFIG REWRITE".into());
            header = true;
        }
        out.extend(directives::config_lines(d, config));
    }
    let mut text = out.join("\n");
    text.push('\n');
    text
}

fn rewrite(ctx: &mut Ctx<'_>) -> CmdResult {
    if ctx.shared.config.read().config_file.is_none() {
        return Err(CmdError::new(
            "ERR The server is running without a config file",
        ));
    }
    rewrite_file(ctx.shared, false)
        .map_err(|e| CmdError::owned(format!("ERR Rewriting config file: {e}")))?;
    tracing::info!("CONFIG REWRITE executed with success");
    ctx.out.ok();
    Ok(())
}

/// Rewrites the config file the server was started with (see
/// [`rewrite_text`]; DEBUG CONFIG-REWRITE-FORCE-ALL passes `force_all`).
pub fn rewrite_file(sh: &crate::shared::Shared, force_all: bool) -> std::io::Result<()> {
    let config = sh.config.read().clone();
    let path = config.config_file.clone().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "The server is running without a config file",
        )
    })?;
    let old = std::fs::read_to_string(&path)?;
    let text = rewrite_text(&old, &config, force_all);
    let tmp = path.with_extension(format!("rewrite.{}.tmp", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, &path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

const HELP: &[&str] = &[
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Rewrite the configuration file.",
];

fn help(ctx: &mut Ctx<'_>) -> CmdResult {
    reply_help(ctx, "CONFIG", HELP)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrite_keeps_comments_and_order() {
        let old = "# my cache\nport 7000\n\n# memory\nmaxmemory 10mb\nsave 60 1\nsave 300 10\n";
        let mut c = Config::default();
        directives::parse_file(old, &mut c).unwrap();
        c.maxmemory = 1 << 30;
        c.save = vec![(3600, 1)];
        c.hz = 20;
        let new = rewrite_text(old, &c, false);
        assert_eq!(
            new,
            "# my cache\nport 7000\n\n# memory\nmaxmemory 1073741824\nsave 3600 1\n\
             # Generated by CONFIG REWRITE\nhz 20\n"
        );
        let mut back = Config::default();
        directives::parse_file(&new, &mut back).unwrap();
        assert_eq!(back.maxmemory, 1 << 30);
        assert_eq!(back.save, vec![(3600, 1)]);
    }
}
