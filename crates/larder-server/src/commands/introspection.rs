//! COMMAND, COMMAND COUNT / INFO / DOCS / LIST / GETKEYS /
//! GETKEYSANDFLAGS / HELP: the command table as Redis 7.0 describes it.
//!
//! Each COMMAND INFO entry has Redis 7.0's ten fields: name, arity, flags,
//! first key, last key, step, ACL categories, tips, key specs, subcommands.
//! Key specs (and the `movablekeys` flag) come from Redis's own table
//! (`keyspecs.rs`); a command Redis lacks gets one derived from its
//! (first, last, step). GETKEYS / GETKEYSANDFLAGS search the arguments
//! with those specs (Redis's `getKeysUsingKeySpecs`), falling back, as
//! Redis does, to the command's own rules where the specs cannot say:
//! SORT's STORE, SET's and BITFIELD's flags that depend on the arguments.
//! DOCS is minimal: each command's group and its subcommands.

use larder_engine::glob;
use larder_resp::Reply;

use crate::command::{flags, Command, Ctx};
use crate::commands::server::{cmd, reply_help};
use crate::error::{CmdError, CmdResult, SYNTAX};
use crate::keyspecs::{self, Begin, Find, KeySpec};

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

/// COMMAND INFO's flags: the table's, with Redis's `movablekeys` before
/// `allow_busy`.
fn flag_names(c: &Command) -> impl Iterator<Item = &'static str> + '_ {
    let movable = keyspecs::lookup(c.name).is_some_and(|k| k.movable);
    flags::NAMES
        .iter()
        .filter(|(f, _)| c.has(*f) && *f != flags::ALLOW_BUSY)
        .map(|(_, n)| *n)
        .chain(movable.then_some("movablekeys"))
        .chain(c.has(flags::ALLOW_BUSY).then_some("allow_busy"))
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
    // Tips, key specs and subcommands are sets in RESP3, as in Redis.
    out.set(0);
    if let Some(k) = keyspecs::lookup(c.name) {
        out.set(k.specs.len());
        for spec in k.specs {
            write_key_spec(out, spec);
        }
    } else if first == 0 {
        out.set(0);
    } else {
        out.set(1);
        write_key_spec(out, &derived_spec(c));
    }
    out.set(c.subcommands.len());
    for s in c.subcommands {
        write_info(out, s);
    }
}

/// The key spec of a command Redis does not have: its (first, last, step)
/// as one range, read-only or read-write by its flags.
fn derived_spec(c: &Command) -> KeySpec {
    let (first, last, step) = c.keys;
    KeySpec {
        notes: "",
        flags: if c.has(flags::WRITE) {
            &["RW", "update"]
        } else {
            &["RO", "access"]
        },
        begin: Begin::Index(first),
        find: Find::Range(if last < 0 { last } else { last - first }, step, 0),
    }
}

fn write_key_spec(out: &mut Reply<'_>, spec: &KeySpec) {
    out.map(if spec.notes.is_empty() { 3 } else { 4 });
    if !spec.notes.is_empty() {
        out.bulk(b"notes");
        out.bulk(spec.notes.as_bytes());
    }
    out.bulk(b"flags");
    write_spec_flags(out, spec.flags);
    out.bulk(b"begin_search");
    out.map(2);
    out.bulk(b"type");
    let fields: &[(&str, i64)] = match spec.begin {
        Begin::Index(i) => {
            out.bulk(b"index");
            &[("index", i64::from(i))]
        }
        Begin::Keyword(kw, from) => {
            out.bulk(b"keyword");
            out.bulk(b"spec");
            out.map(2);
            out.bulk(b"keyword");
            out.bulk(kw.as_bytes());
            out.bulk(b"startfrom");
            out.int(i64::from(from));
            &[]
        }
        Begin::Unknown => {
            out.bulk(b"unknown");
            &[]
        }
    };
    if !matches!(spec.begin, Begin::Keyword(..)) {
        write_spec_fields(out, fields);
    }
    out.bulk(b"find_keys");
    out.map(2);
    out.bulk(b"type");
    match spec.find {
        Find::Range(last, step, limit) => {
            out.bulk(b"range");
            write_spec_fields(
                out,
                &[
                    ("lastkey", i64::from(last)),
                    ("keystep", i64::from(step)),
                    ("limit", i64::from(limit)),
                ],
            );
        }
        Find::Keynum(idx, first, step) => {
            out.bulk(b"keynum");
            write_spec_fields(
                out,
                &[
                    ("keynumidx", i64::from(idx)),
                    ("firstkey", i64::from(first)),
                    ("keystep", i64::from(step)),
                ],
            );
        }
        Find::Unknown => {
            out.bulk(b"unknown");
            write_spec_fields(out, &[]);
        }
    }
}

/// `spec` and its map of integer fields.
fn write_spec_fields(out: &mut Reply<'_>, fields: &[(&str, i64)]) {
    out.bulk(b"spec");
    out.map(fields.len());
    for (name, v) in fields {
        out.bulk(name.as_bytes());
        out.int(*v);
    }
}

fn write_spec_flags(out: &mut Reply<'_>, f: &[&str]) {
    out.set(f.len());
    for x in f {
        out.simple(x.as_bytes());
    }
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

/// Redis's getKeysSubcommandImpl: the key positions (in `ctx.args`) of
/// the command in arguments 2..., each with its spec flags.
fn keys_of(ctx: &Ctx<'_>) -> Result<Vec<(usize, &'static [&'static str])>, CmdError> {
    const INVALID: CmdError = CmdError::new("ERR Invalid command specified");
    let top = ctx.shared.commands.lookup(ctx.arg(2)).ok_or(INVALID)?;
    let mut c = ctx.shared.commands.get(top);
    if !c.subcommands.is_empty() && ctx.argc() > 3 {
        c = find_sub(c, ctx.arg(3)).ok_or(INVALID)?;
    }
    let table = keyspecs::lookup(c.name);
    let derived;
    let specs: &[KeySpec] = match table {
        Some(k) => k.specs,
        // Shard channels are `not_key` arguments, which GETKEYS leaves out.
        None if c.keys.0 == 0 || c.has(flags::PUBSUB) => &[],
        None => {
            derived = [derived_spec(c)];
            &derived
        }
    };
    if specs.iter().all(|s| s.has("not_key")) {
        return Err(CmdError::new("ERR The command has no key arguments"));
    }
    let argc = ctx.argc() - 2;
    if !c.arity_ok(argc) {
        return Err(CmdError::new(
            "ERR Invalid number of arguments specified for command",
        ));
    }
    let args = |i: usize| ctx.arg(i + 2);
    let varflags = specs.iter().any(|s| s.has("variable_flags"));
    let found = match (varflags, search_specs(specs, argc, &args)) {
        (false, Some(keys)) => keys,
        _ => own_rules(c.name, argc, &args),
    };
    if found.is_empty() {
        if NO_MANDATORY_KEYS.contains(&c.name) {
            return Ok(found);
        }
        return Err(CmdError::new("ERR Invalid arguments specified for command"));
    }
    Ok(found.into_iter().map(|(p, f)| (p + 2, f)).collect())
}

type Found = Vec<(usize, &'static [&'static str])>;

/// Commands Redis flags `no_mandatory_keys`: no keys is an empty reply.
const NO_MANDATORY_KEYS: &[&str] = &[
    "eval",
    "evalsha",
    "eval_ro",
    "evalsha_ro",
    "fcall",
    "fcall_ro",
];

/// Redis's getKeysUsingKeySpecs; `None` where a spec cannot tell (unknown,
/// incomplete, or out of bounds: a syntax error for the command).
fn search_specs<'a>(
    specs: &[KeySpec],
    argc: usize,
    arg: &impl Fn(usize) -> &'a [u8],
) -> Option<Found> {
    let mut keys = Vec::new();
    for spec in specs {
        if spec.has("not_key") {
            continue;
        }
        let (first, last, step) = match keyspecs::search(spec.begin, spec.find, argc, arg) {
            Err(crate::keyspecs::Undecidable) => return None,
            Ok(None) => continue,
            Ok(Some(range)) => range,
        };
        keys.extend((first..=last).step_by(step).map(|i| (i, spec.flags)));
        if spec.has("incomplete") {
            return None;
        }
    }
    Some(keys)
}

/// The getkeys procedures Redis falls back to: SORT's STORE (the last one
/// wins; LIMIT, GET and BY skip their arguments), MIGRATE's KEYS form, and
/// SET's and BITFIELD's flags, which depend on GET / on a write operation. Others
/// find no keys where the specs found none.
fn own_rules<'a>(name: &str, argc: usize, arg: &impl Fn(usize) -> &'a [u8]) -> Found {
    const RO: &[&str] = &["RO", "access"];
    const RW: &[&str] = &["RW", "access", "update"];
    let is = |i: usize, w: &str| arg(i).eq_ignore_ascii_case(w.as_bytes());
    match name {
        "sort" | "sort_ro" => {
            let mut keys = vec![(1, RO)];
            let mut store = None;
            let mut i = 2;
            while name == "sort" && i < argc {
                if is(i, "limit") {
                    i += 2;
                } else if is(i, "get") || is(i, "by") {
                    i += 1;
                } else if is(i, "store") && i + 1 < argc {
                    store = Some(i + 1);
                }
                i += 1;
            }
            keys.extend(store.map(|p| (p, &["OW", "update"][..])));
            keys
        }
        "set" => {
            let get = (3..argc).any(|i| is(i, "get"));
            vec![(1, if get { RW } else { &["OW", "update"][..] })]
        }
        "bitfield" => {
            let writes = (2..argc).any(|i| is(i, "set") || is(i, "incrby"));
            vec![(1, if writes { RW } else { RO })]
        }
        "migrate" => crate::keyspecs::migrate_keys(argc, arg)
            .map(|i| (i, &["RW", "access", "delete"][..]))
            .collect(),
        _ => Vec::new(),
    }
}

fn getkeys(ctx: &mut Ctx<'_>) -> CmdResult {
    let keys = keys_of(ctx)?;
    ctx.out.array(keys.len());
    for (p, _) in keys {
        ctx.out.bulk(ctx.arg(p));
    }
    Ok(())
}

fn getkeysandflags(ctx: &mut Ctx<'_>) -> CmdResult {
    let keys = keys_of(ctx)?;
    ctx.out.array(keys.len());
    for (p, f) in keys {
        ctx.out.array(2);
        ctx.out.bulk(ctx.arg(p));
        write_spec_flags(&mut ctx.out, f);
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
