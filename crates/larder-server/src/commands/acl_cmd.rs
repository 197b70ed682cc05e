//! The ACL command: CAT DELUSER DRYRUN GENPASS GETUSER HELP LIST LOAD LOG
//! SAVE SETUSER USERS WHOAMI, over the users and rules in `acl.rs`.
//!
//! SETUSER is all or nothing, as in Redis: the rules are applied to a copy
//! of the user's rules (or to a new user's), which replace the live ones
//! only if every rule parses. Replies and error texts are Redis 7.0.15's.

use std::sync::Arc;

use crate::acl::{self, ArgSource, Denied, Skip};
use crate::command::{flags::*, Command, Ctx};
use crate::commands::server::{cmd, container, reply_help};
use crate::error::{truncate_lossy, wrong_arity, CmdError, CmdResult};

const ADM: u32 = ADMIN | NOSCRIPT | LOADING | STALE;
const PLAIN: u32 = NOSCRIPT | LOADING | STALE;
const ADM_ACL: &str = "admin slow dangerous";

pub const COMMANDS: &[Command] = &[container("acl", "slow", acl, SUBCOMMANDS)];

const SUBCOMMANDS: &[Command] = &[
    cmd("acl|cat", -2, PLAIN, "slow", cat),
    cmd("acl|deluser", -3, ADM, ADM_ACL, deluser),
    cmd("acl|dryrun", -4, ADM, ADM_ACL, dryrun),
    cmd("acl|genpass", -2, PLAIN, "slow", genpass),
    cmd("acl|getuser", 3, ADM, ADM_ACL, getuser),
    cmd("acl|help", 2, LOADING | STALE, "slow", help),
    cmd("acl|list", 2, ADM, ADM_ACL, list),
    cmd("acl|load", 2, ADM, ADM_ACL, load),
    cmd("acl|log", -2, ADM, ADM_ACL, log),
    cmd("acl|save", 2, ADM, ADM_ACL, save),
    cmd("acl|setuser", -3, ADM, ADM_ACL, setuser),
    cmd("acl|users", 2, ADM, ADM_ACL, users),
    cmd("acl|whoami", 2, PLAIN, "slow", whoami),
];

fn acl(ctx: &mut Ctx<'_>) -> CmdResult {
    ctx.run_subcommand("acl", SUBCOMMANDS)
}

/// Redis's addReplySubcommandSyntaxError.
fn syntax_error(ctx: &Ctx<'_>) -> CmdError {
    CmdError::owned(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try ACL HELP.",
        truncate_lossy(ctx.arg(1), 128)
    ))
}

fn cat(ctx: &mut Ctx<'_>) -> CmdResult {
    match ctx.argc() {
        2 => {
            ctx.out.array(acl::CATEGORIES.len());
            for c in acl::CATEGORIES {
                ctx.out.bulk(c.as_bytes());
            }
        }
        3 => {
            let Some(flag) = acl::category(ctx.arg(2)) else {
                return Err(CmdError::owned(format!(
                    "ERR Unknown category '{}'",
                    truncate_lossy(ctx.arg(2), 128)
                )));
            };
            let names: Vec<&str> = ctx
                .shared
                .acl
                .cmds
                .list
                .iter()
                .filter(|c| c.cats & flag != 0)
                .map(|c| c.name.as_str())
                .collect();
            ctx.out.array(names.len());
            for n in names {
                ctx.out.bulk(n.as_bytes());
            }
        }
        _ => return Err(syntax_error(ctx)),
    }
    Ok(())
}

fn deluser(ctx: &mut Ctx<'_>) -> CmdResult {
    if (2..ctx.argc()).any(|i| ctx.arg(i) == b"default") {
        return Err(CmdError::new("ERR The 'default' user cannot be removed"));
    }
    let mut deleted = 0;
    for i in 2..ctx.argc() {
        if let Some(u) = ctx.shared.acl.remove(ctx.arg(i)) {
            acl::kill_clients(ctx.shared, ctx.client, &u);
            deleted += 1;
        }
    }
    ctx.out.int(deleted);
    Ok(())
}

fn dryrun(ctx: &mut Ctx<'_>) -> CmdResult {
    let shared = ctx.shared;
    let Some(user) = shared.acl.get(ctx.arg(2)) else {
        return Err(CmdError::owned(format!(
            "ERR User '{}' not found",
            String::from_utf8_lossy(ctx.arg(2))
        )));
    };
    let not_found = || {
        CmdError::owned(format!(
            "ERR Command '{}' not found",
            String::from_utf8_lossy(ctx.arg(3))
        ))
    };
    let args = Skip(&ctx.args, 3);
    let top = shared.commands.lookup(ctx.arg(3)).ok_or_else(not_found)?;
    let cmds = &shared.acl.cmds;
    let id = if cmds.list[top].subs.is_empty() || args.count() < 2 {
        top
    } else {
        let name = [cmds.list[top].name.as_bytes(), b"|", args.at(1)].concat();
        cmds.lookup(&name).ok_or_else(not_found)?
    };
    let c = &cmds.list[id];
    if !c.cmd.arity_ok(args.count()) {
        return Err(wrong_arity(&c.name));
    }
    match shared.acl.check_id(&user, id, &args) {
        Ok(()) => ctx.out.ok(),
        Err(d) => {
            let text = match d {
                Denied::Command(id) => format!(
                    "This user has no permissions to run the '{}' command",
                    cmds.list[id].name
                ),
                Denied::Key(p) => format!(
                    "This user has no permissions to access the '{}' key",
                    String::from_utf8_lossy(args.at(p))
                ),
                Denied::Channel(p) => format!(
                    "This user has no permissions to access the '{}' channel",
                    String::from_utf8_lossy(args.at(p))
                ),
            };
            ctx.out.bulk(text.as_bytes());
        }
    }
    Ok(())
}

fn genpass(ctx: &mut Ctx<'_>) -> CmdResult {
    let bits = if ctx.argc() == 3 {
        ctx.i64_arg(2)?
    } else {
        256
    };
    if ctx.argc() > 3 {
        return Err(syntax_error(ctx));
    }
    if !(1..=4096).contains(&bits) {
        return Err(CmdError::new("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096"));
    }
    let chars = (bits as usize).div_ceil(4);
    let mut raw = vec![0u8; chars.div_ceil(2)];
    getrandom::getrandom(&mut raw)
        .map_err(|_| CmdError::new("ERR failed to generate random bytes"))?;
    let mut hex = String::with_capacity(chars + 1);
    for b in raw {
        hex.push_str(&format!("{b:02x}"));
    }
    hex.truncate(chars);
    ctx.out.bulk(hex.as_bytes());
    Ok(())
}

fn getuser(ctx: &mut Ctx<'_>) -> CmdResult {
    let Some(u) = ctx.shared.acl.get(ctx.arg(2)) else {
        ctx.out.null();
        return Ok(());
    };
    let d = u.rules().details(&ctx.shared.acl.cmds);
    let o = &mut ctx.out;
    o.map(6);
    o.bulk(b"flags");
    o.set(d.flags.len());
    for f in &d.flags {
        o.bulk(f.as_bytes());
    }
    o.bulk(b"passwords");
    o.array(d.passwords.len());
    for p in &d.passwords {
        o.bulk(p.as_bytes());
    }
    let selector = |o: &mut larder_resp::Reply<'_>, s: &acl::SelectorText| {
        o.bulk(b"commands");
        o.bulk(s.commands.as_bytes());
        o.bulk(b"keys");
        o.bulk(s.keys.as_bytes());
        o.bulk(b"channels");
        o.bulk(s.channels.as_bytes());
    };
    selector(o, &d.selectors[0]);
    o.bulk(b"selectors");
    o.array(d.selectors.len() - 1);
    for s in &d.selectors[1..] {
        o.map(3);
        selector(o, s);
    }
    Ok(())
}

const HELP: &[&str] = &[
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
];

fn help(ctx: &mut Ctx<'_>) -> CmdResult {
    reply_help(ctx, "ACL", HELP)
}

fn list(ctx: &mut Ctx<'_>) -> CmdResult {
    let lines = acl::list_lines(&ctx.shared.acl);
    ctx.out.array(lines.len());
    for l in lines {
        ctx.out.bulk(l.as_bytes());
    }
    Ok(())
}

const NO_ACLFILE: CmdError = CmdError::new("ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.");

fn aclfile(ctx: &Ctx<'_>) -> Result<String, CmdError> {
    let f = ctx.shared.config.read().aclfile.clone();
    if f.is_empty() {
        Err(NO_ACLFILE)
    } else {
        Ok(f)
    }
}

fn load(ctx: &mut Ctx<'_>) -> CmdResult {
    let path = aclfile(ctx)?;
    acl::load_file(ctx.shared, Some(&mut *ctx.client), &path)
        .map_err(|e| CmdError::owned(format!("ERR {e}")))?;
    ctx.out.ok();
    Ok(())
}

fn save(ctx: &mut Ctx<'_>) -> CmdResult {
    let path = aclfile(ctx)?;
    acl::save_file(ctx.shared, &path).map_err(|e| {
        tracing::warn!("saving the ACL file {path}: {e}");
        CmdError::new("ERR There was an error trying to save the ACLs. Please check the server logs for more information")
    })?;
    ctx.out.ok();
    Ok(())
}

fn log(ctx: &mut Ctx<'_>) -> CmdResult {
    let mut count: i64 = 10;
    match ctx.argc() {
        2 => {}
        3 if ctx.arg_is(2, "reset") => {
            ctx.shared.acl.log.lock().clear();
            ctx.out.ok();
            return Ok(());
        }
        3 => count = ctx.i64_arg(2)?.max(0),
        _ => return Err(syntax_error(ctx)),
    }
    let now = ctx.now_ms;
    let log = ctx.shared.acl.log.lock();
    let n = (count as usize).min(log.len());
    let o = &mut ctx.out;
    o.array(n);
    for e in log.iter().take(n) {
        o.map(7);
        o.bulk(b"count");
        o.int(e.count as i64);
        o.bulk(b"reason");
        o.bulk(e.reason_str().as_bytes());
        o.bulk(b"context");
        o.bulk(e.context_str().as_bytes());
        o.bulk(b"object");
        o.bulk(&e.object);
        o.bulk(b"username");
        o.bulk(&e.username);
        o.bulk(b"age-seconds");
        o.double(now.saturating_sub(e.ctime) as f64 / 1000.0);
        o.bulk(b"client-info");
        o.bulk(e.cinfo.as_bytes());
    }
    Ok(())
}

fn setuser(ctx: &mut Ctx<'_>) -> CmdResult {
    let shared = ctx.shared;
    let name = ctx.arg(2);
    if acl::has_spaces(name) {
        return Err(CmdError::new(
            "ERR Usernames can't contain spaces or null characters",
        ));
    }
    let existing = shared.acl.get(name);
    let mut rules = match &existing {
        Some(u) => u.rules(),
        None => shared.acl.new_rules(),
    };
    let words: Vec<&[u8]> = (3..ctx.argc()).map(|i| ctx.arg(i)).collect();
    let ops = acl::merge_selectors_at(&words).map_err(|j| {
        CmdError::owned(format!(
            "ERR Unmatched parenthesis in acl selector starting at '{}'.",
            String::from_utf8_lossy(words[j])
        ))
    })?;
    for op in &ops {
        rules
            .apply(&shared.acl.cmds, op, shared.acl.all_channels())
            .map_err(|e| {
                CmdError::owned(format!(
                    "ERR Error in ACL SETUSER modifier '{}': {}",
                    String::from_utf8_lossy(op),
                    e.text()
                ))
            })?;
    }
    if let Some(u) = &existing {
        acl::kill_revoked_subscribers(shared, ctx.client, u, &rules);
    }
    shared.acl.put(name, rules);
    if name == b"default" {
        acl::sync_auth_required(shared);
    }
    ctx.out.ok();
    Ok(())
}

fn users(ctx: &mut Ctx<'_>) -> CmdResult {
    let all = ctx.shared.acl.users();
    ctx.out.array(all.len());
    for u in all {
        ctx.out.bulk(&u.name);
    }
    Ok(())
}

fn whoami(ctx: &mut Ctx<'_>) -> CmdResult {
    let u: Arc<acl::User> = acl::user_of(ctx.shared, ctx.client).clone();
    ctx.out.bulk(&u.name);
    Ok(())
}
