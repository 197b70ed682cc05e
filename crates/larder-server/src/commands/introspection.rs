//! COMMAND, COMMAND COUNT / INFO / DOCS / LIST / GETKEYS /
//! GETKEYSANDFLAGS / HELP: the command table as Redis 7.0 describes it.
//!
//! Each COMMAND INFO entry has Redis 7.0's ten fields: name, arity, flags,
//! first key, last key, step, ACL categories, tips, key specs, subcommands.
//! Larder's table records key positions as (first, last, step) only, so the
//! key spec is derived from them (one `index` begin-search and one `range`
//! find-keys spec, flagged `RO access` or `RW update`) and is exact for
//! commands whose keys are a plain range, which is all Larder has. DOCS is
//! minimal: each command's group and its subcommands.

use larder_engine::glob;
use larder_resp::Reply;

use crate::command::{flags, Command, Ctx};
use crate::commands::server::{cmd, reply_help};
use crate::error::{CmdError, CmdResult, SYNTAX};

const SUB: u32 = flags::LOADING | flags::STALE;

pub const COMMANDS: &[Command] = &[Command {
    name: "command",
    arity: -1,
    flags: SUB,
    keys: (0, 0, 0),
    acl: "slow connection",
    handler: command,
    subcommands: SUBCOMMANDS,
}];

const SUBCOMMANDS: &[Command] = &[
    cmd("command|count", 2, SUB, "slow connection", count),
    cmd("command|list", -2, SUB, "slow connection", list),
    cmd("command|info", -2, SUB, "slow connection", info),
    cmd("command|docs", -2, SUB, "slow connection", docs),
    cmd("command|getkeys", -4, SUB, "slow connection", getkeys),
    cmd(
        "command|getkeysandflags",
        -4,
        SUB,
        "slow connection",
        getkeysandflags,
    ),
    cmd("command|help", 2, SUB, "slow connection", help),
];

fn command(ctx: &mut Ctx<'_>) -> CmdResult {
    if ctx.argc() == 1 {
        let all = &ctx.shared.commands.commands;
        ctx.out.array(all.len());
        for c in all {
            write_info(&mut ctx.out, c);
        }
        return Ok(());
    }
    ctx.run_subcommand("command", SUBCOMMANDS)
}

fn count(ctx: &mut Ctx<'_>) -> CmdResult {
    ctx.out.int(ctx.shared.commands.commands.len() as i64);
    Ok(())
}

/// Looks a command up by name, or `container|sub` for a subcommand.
fn find(ctx: &Ctx<'_>, name: &[u8]) -> Option<&'static Command> {
    let (top, sub) = match name.iter().position(|&c| c == b'|') {
        Some(p) => (&name[..p], Some(&name[p + 1..])),
        None => (name, None),
    };
    let c = ctx.shared.commands.get(ctx.shared.commands.lookup(top)?);
    match sub {
        None => Some(c),
        Some(s) => find_sub(c, s),
    }
}

fn find_sub(c: &'static Command, sub: &[u8]) -> Option<&'static Command> {
    c.subcommands.iter().find(|s| {
        s.name
            .split_once('|')
            .is_some_and(|(_, n)| n.as_bytes().eq_ignore_ascii_case(sub))
    })
}

fn flag_names(c: &Command) -> impl Iterator<Item = &'static str> + '_ {
    flags::NAMES
        .iter()
        .filter(|(f, _)| c.has(*f))
        .map(|(_, n)| *n)
}

/// One COMMAND INFO entry.
fn write_info(out: &mut Reply<'_>, c: &Command) {
    out.array(10);
    out.bulk(c.name.as_bytes());
    out.int(i64::from(c.arity));
    out.set(flag_names(c).count());
    for n in flag_names(c) {
        out.simple(n.as_bytes());
    }
    let (first, last, step) = c.keys;
    out.int(i64::from(first));
    out.int(i64::from(last));
    out.int(i64::from(step));
    let cats: Vec<&str> = c.acl.split_whitespace().collect();
    out.set(cats.len());
    for cat in cats {
        out.simple(format!("@{cat}").as_bytes());
    }
    out.set(0); // tips
    if first == 0 {
        out.array(0);
    } else {
        out.array(1);
        write_key_spec(out, c);
    }
    out.array(c.subcommands.len());
    for s in c.subcommands {
        write_info(out, s);
    }
}

/// A key spec's flags: shard channels (SSUBSCRIBE, SPUBLISH) are `not_key`.
fn key_spec_flags(c: &Command) -> &'static [&'static str] {
    if c.has(flags::PUBSUB) {
        &["not_key"]
    } else if c.has(flags::WRITE) {
        &["RW", "update"]
    } else {
        &["RO", "access"]
    }
}

fn write_key_spec(out: &mut Reply<'_>, c: &Command) {
    let (first, last, step) = c.keys;
    out.map(3);
    out.bulk(b"flags");
    let f = key_spec_flags(c);
    out.set(f.len());
    for x in f {
        out.simple(x.as_bytes());
    }
    out.bulk(b"begin_search");
    out.map(2);
    out.bulk(b"type");
    out.bulk(b"index");
    out.bulk(b"spec");
    out.map(1);
    out.bulk(b"index");
    out.int(i64::from(first));
    out.bulk(b"find_keys");
    out.map(2);
    out.bulk(b"type");
    out.bulk(b"range");
    out.bulk(b"spec");
    out.map(3);
    out.bulk(b"lastkey");
    out.int(i64::from(if last < 0 { last } else { last - first }));
    out.bulk(b"keystep");
    out.int(i64::from(step));
    out.bulk(b"limit");
    out.int(0);
}

fn info(ctx: &mut Ctx<'_>) -> CmdResult {
    if ctx.argc() == 2 {
        let all = &ctx.shared.commands.commands;
        ctx.out.array(all.len());
        for c in all {
            write_info(&mut ctx.out, c);
        }
        return Ok(());
    }
    ctx.out.array(ctx.argc() - 2);
    for i in 2..ctx.argc() {
        match find(ctx, ctx.arg(i)) {
            Some(c) => write_info(&mut ctx.out, c),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

/// The documentation group Redis files a command under, from its ACL categories.
fn group(c: &Command) -> &'static str {
    let cats = c.acl;
    let has = |w: &str| cats.split_whitespace().any(|c| c == w);
    if has("string") {
        "string"
    } else if has("keyspace") {
        "generic"
    } else if has("connection") {
        "connection"
    } else {
        "server"
    }
}

fn write_doc(out: &mut Reply<'_>, c: &Command) {
    out.map(if c.subcommands.is_empty() { 1 } else { 2 });
    out.bulk(b"group");
    out.bulk(group(c).as_bytes());
    if !c.subcommands.is_empty() {
        out.bulk(b"subcommands");
        out.map(c.subcommands.len());
        for s in c.subcommands {
            out.bulk(s.name.as_bytes());
            write_doc(out, s);
        }
    }
}

fn docs(ctx: &mut Ctx<'_>) -> CmdResult {
    let found: Vec<&'static Command> = if ctx.argc() == 2 {
        ctx.shared.commands.commands.clone()
    } else {
        (2..ctx.argc())
            .filter_map(|i| find(ctx, ctx.arg(i)))
            .collect()
    };
    ctx.out.map(found.len());
    for c in found {
        ctx.out.bulk(c.name.as_bytes());
        write_doc(&mut ctx.out, c);
    }
    Ok(())
}

fn list(ctx: &mut Ctx<'_>) -> CmdResult {
    enum Filter<'a> {
        All,
        None,
        Acl(&'a [u8]),
        Pattern(&'a [u8]),
    }
    let filter = match ctx.argc() {
        2 => Filter::All,
        5 if ctx.arg_is(2, "filterby") => {
            let v = ctx.arg(4);
            if ctx.arg_is(3, "module") {
                Filter::None
            } else if ctx.arg_is(3, "aclcat") {
                Filter::Acl(v)
            } else if ctx.arg_is(3, "pattern") {
                Filter::Pattern(v)
            } else {
                return Err(SYNTAX);
            }
        }
        _ => return Err(SYNTAX),
    };
    let keep = |c: &Command| match &filter {
        Filter::All => true,
        Filter::None => false,
        Filter::Acl(cat) => c
            .acl
            .split_whitespace()
            .any(|a| a.as_bytes().eq_ignore_ascii_case(cat)),
        Filter::Pattern(p) => glob::matches(p, c.name.as_bytes(), true),
    };
    let mut names: Vec<&str> = Vec::new();
    for c in &ctx.shared.commands.commands {
        if keep(c) {
            names.push(c.name);
        }
        names.extend(c.subcommands.iter().filter(|s| keep(s)).map(|s| s.name));
    }
    ctx.out.array(names.len());
    for n in names {
        ctx.out.bulk(n.as_bytes());
    }
    Ok(())
}

/// The key positions (in `ctx.args`) of the command in arguments 2...
fn keys_of(ctx: &Ctx<'_>) -> Result<(&'static Command, Vec<usize>), CmdError> {
    let mut c = find(ctx, ctx.arg(2)).ok_or(CmdError::new("ERR Invalid command specified"))?;
    if !c.subcommands.is_empty() && ctx.argc() > 3 {
        if let Some(s) = find_sub(c, ctx.arg(3)) {
            c = s;
        }
    }
    let (first, last, step) = c.keys;
    // Shard channels are `not_key` arguments, which GETKEYS leaves out.
    if first == 0 || c.has(flags::PUBSUB) {
        return Err(CmdError::new("ERR The command has no key arguments"));
    }
    let argc = (ctx.argc() - 2) as i64;
    if !c.arity_ok(argc as usize) {
        return Err(CmdError::new(
            "ERR Invalid number of arguments specified for command",
        ));
    }
    let last = if last < 0 {
        argc + i64::from(last)
    } else {
        i64::from(last)
    };
    let mut pos = Vec::new();
    let mut i = i64::from(first);
    while i <= last && i < argc {
        pos.push(i as usize + 2);
        i += i64::from(step.max(1));
    }
    if pos.is_empty() {
        return Err(CmdError::new("ERR Invalid arguments specified for command"));
    }
    Ok((c, pos))
}

fn getkeys(ctx: &mut Ctx<'_>) -> CmdResult {
    let (_, pos) = keys_of(ctx)?;
    ctx.out.array(pos.len());
    for p in pos {
        ctx.out.bulk(ctx.arg(p));
    }
    Ok(())
}

fn getkeysandflags(ctx: &mut Ctx<'_>) -> CmdResult {
    let (c, pos) = keys_of(ctx)?;
    let f = key_spec_flags(c);
    ctx.out.array(pos.len());
    for p in pos {
        ctx.out.array(2);
        ctx.out.bulk(ctx.arg(p));
        ctx.out.set(f.len());
        for x in f {
            ctx.out.simple(x.as_bytes());
        }
    }
    Ok(())
}

const HELP: &[&str] = &[
    "(no subcommand)",
    "    Return details about all Redis commands.",
    "COUNT",
    "    Return the total number of commands in this Redis server.",
    "LIST",
    "    Return a list of all commands in this Redis server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "GETKEYS <full-command>",
    "    Return the keys from a full Redis command.",
    "GETKEYSANDFLAGS <full-command>",
    "    Return the keys and the access flags from a full Redis command.",
];

fn help(ctx: &mut Ctx<'_>) -> CmdResult {
    reply_help(ctx, "COMMAND", HELP)
}
