//! CLIENT TRACKING / CACHING / GETREDIR / TRACKINGINFO: the commands of
//! server-assisted client-side caching (the machinery is in `tracking`).
//! Option checks, their order and their error texts are Redis 7.0's
//! (networking.c, clientCommand).

use std::sync::atomic::Ordering::Relaxed;

use crate::command::Ctx;
use crate::error::{CmdError, CmdResult, SYNTAX};
use crate::tracking::{BCAST, BROKEN_REDIR, NOLOOP, ON, OPTIN, OPTOUT};

/// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p]... [BCAST] [OPTIN] [OPTOUT] [NOLOOP]
pub fn tracking(ctx: &mut Ctx<'_>) -> CmdResult {
    let mut options = 0u32;
    let mut redirect: Option<u64> = None;
    let mut prefixes: Vec<Box<[u8]>> = Vec::new();
    let mut j = 3;
    while j < ctx.argc() {
        let more = j + 1 < ctx.argc();
        if ctx.arg_is(j, "redirect") && more {
            j += 1;
            if redirect.is_some() {
                return Err(CmdError::new(
                    "ERR A client can only redirect to a single other client",
                ));
            }
            let id = ctx.i64_arg(j)?;
            // Redis requires the target to exist now, though it may go later.
            if u64::try_from(id)
                .ok()
                .and_then(|id| ctx.shared.clients.get(id))
                .is_none()
            {
                return Err(CmdError::new(
                    "ERR The client ID you want redirect to does not exist",
                ));
            }
            redirect = Some(id as u64);
        } else if ctx.arg_is(j, "bcast") {
            options |= BCAST;
        } else if ctx.arg_is(j, "optin") {
            options |= OPTIN;
        } else if ctx.arg_is(j, "optout") {
            options |= OPTOUT;
        } else if ctx.arg_is(j, "noloop") {
            options |= NOLOOP;
        } else if ctx.arg_is(j, "prefix") && more {
            j += 1;
            prefixes.push(ctx.arg(j).into());
        } else {
            return Err(SYNTAX);
        }
        j += 1;
    }
    let h = ctx.client.handle.clone();
    if ctx.arg_is(2, "on") {
        if options & BCAST == 0 && !prefixes.is_empty() {
            return Err(CmdError::new(
                "ERR PREFIX option requires BCAST mode to be enabled",
            ));
        }
        let old = h.tracking.load(Relaxed);
        if old & ON != 0 && (old & BCAST) != (options & BCAST) {
            return Err(CmdError::new(
                "ERR You can't switch BCAST mode on/off before disabling tracking for this client, \
                 and then re-enabling it with a different mode.",
            ));
        }
        if options & BCAST != 0 && options & (OPTIN | OPTOUT) != 0 {
            return Err(CmdError::new(
                "ERR OPTIN and OPTOUT are not compatible with BCAST",
            ));
        }
        if options & OPTIN != 0 && options & OPTOUT != 0 {
            return Err(CmdError::new(
                "ERR You can't specify both OPTIN mode and OPTOUT mode",
            ));
        }
        if old & ON != 0
            && ((options & OPTIN != 0 && old & OPTOUT != 0)
                || (options & OPTOUT != 0 && old & OPTIN != 0))
        {
            return Err(CmdError::new(
                "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, \
                 and then re-enabling it with a different mode.",
            ));
        }
        check_prefixes(&h.tracking_settings.lock().prefixes, &prefixes)?;
        let target = redirect.and_then(|id| ctx.shared.clients.get(id));
        ctx.shared
            .tracking
            .enable(&ctx.shared.engine, &h, options, target, prefixes);
    } else if ctx.arg_is(2, "off") {
        ctx.shared.tracking.disable(&ctx.shared.engine, &h);
        // As Redis's disableTracking: a pending CLIENT CACHING goes too.
        ctx.client.caching = false;
    } else {
        return Err(SYNTAX);
    }
    ctx.out.ok();
    Ok(())
}

/// Redis's checkPrefixCollisionsOrReply: two prefixes overlap when one
/// starts with the other (both would report the same keys).
fn check_prefixes(existing: &[Box<[u8]>], new: &[Box<[u8]>]) -> Result<(), CmdError> {
    let overlap = |a: &[u8], b: &[u8]| {
        let n = a.len().min(b.len());
        a[..n] == b[..n]
    };
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    for (i, p) in new.iter().enumerate() {
        if let Some(e) = existing.iter().find(|e| overlap(e, p)) {
            return Err(CmdError::owned(format!(
                "ERR Prefix '{}' overlaps with an existing prefix '{}'. \
                 Prefixes for a single client must not overlap.",
                text(p),
                text(e)
            )));
        }
        if let Some(q) = new[i + 1..].iter().find(|q| overlap(p, q)) {
            return Err(CmdError::owned(format!(
                "ERR Prefix '{}' overlaps with another provided prefix '{}'. \
                 Prefixes for a single client must not overlap.",
                text(p),
                text(q)
            )));
        }
    }
    Ok(())
}

/// CLIENT CACHING YES|NO: track (OPTIN) or skip (OPTOUT) the next command's keys.
pub fn caching(ctx: &mut Ctx<'_>) -> CmdResult {
    let f = ctx.client.handle.tracking.load(Relaxed);
    if f & ON == 0 {
        return Err(CmdError::new(
            "ERR CLIENT CACHING can be called only when the client is in tracking mode \
             with OPTIN or OPTOUT mode enabled",
        ));
    }
    if ctx.arg_is(2, "yes") {
        if f & OPTIN == 0 {
            return Err(CmdError::new(
                "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            ));
        }
    } else if ctx.arg_is(2, "no") {
        if f & OPTOUT == 0 {
            return Err(CmdError::new(
                "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            ));
        }
    } else {
        return Err(SYNTAX);
    }
    ctx.client.caching = true;
    ctx.out.ok();
    Ok(())
}

/// The redirect id while tracking (0 = none), else -1 (also CLIENT LIST `redir=`).
pub fn redirect_of(h: &crate::client::ClientHandle) -> i64 {
    if h.tracking.load(Relaxed) & ON == 0 {
        -1
    } else {
        h.tracking_settings.lock().redirect as i64
    }
}

pub fn getredir(ctx: &mut Ctx<'_>) -> CmdResult {
    ctx.out.int(redirect_of(&ctx.client.handle));
    Ok(())
}

pub fn trackinginfo(ctx: &mut Ctx<'_>) -> CmdResult {
    let h = ctx.client.handle.clone();
    let f = h.tracking.load(Relaxed);
    let caching = ctx.client.caching;
    let mut names: Vec<&str> = vec![if f & ON != 0 { "on" } else { "off" }];
    if f & BCAST != 0 {
        names.push("bcast");
    }
    if f & OPTIN != 0 {
        names.push("optin");
        if caching {
            names.push("caching-yes");
        }
    }
    if f & OPTOUT != 0 {
        names.push("optout");
        if caching {
            names.push("caching-no");
        }
    }
    if f & NOLOOP != 0 {
        names.push("noloop");
    }
    if f & BROKEN_REDIR != 0 {
        names.push("broken_redirect");
    }
    let mut prefixes = h.tracking_settings.lock().prefixes.clone();
    prefixes.sort();
    let out = &mut ctx.out;
    out.map(3);
    out.bulk(b"flags");
    out.set(names.len());
    for n in names {
        out.bulk(n.as_bytes());
    }
    out.bulk(b"redirect");
    out.int(redirect_of(&h));
    out.bulk(b"prefixes");
    out.array(prefixes.len());
    for p in &prefixes {
        out.bulk(p);
    }
    Ok(())
}
