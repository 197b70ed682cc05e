//! CLIENT PAUSE / UNPAUSE, as Redis 7.0 keeps them: a pause per purpose
//! (CLIENT PAUSE's, FAILOVER's), each of kind WRITE or ALL until an end
//! time (Unix ms). A new pause of a purpose only widens it: the kind goes
//! from WRITE to ALL, never back, and the end only moves later; UNPAUSE
//! (or the end of a failover) ends that purpose's pause only. The pause in
//! force is the most restrictive kind among the purposes, until the latest
//! end of that kind. Ends are checked lazily, by whoever next asks.
//!
//! While paused, a normal client's next command waits before it runs (or
//! is queued, inside MULTI), after the checks that would refuse it
//! (unknown command, arity, NOAUTH): under ALL every command, under WRITE
//! the commands that may write or replicate — write commands, EVAL,
//! EVALSHA, FCALL, FCALL_RO, PUBLISH, SPUBLISH, PFCOUNT (Redis's
//! `may_replicate`, hidden in COMMAND INFO; a script that declares its
//! flags, by a shebang or as a function, only when it may write), and EXEC
//! of a transaction holding one. The client's later pipelined commands wait behind it. The
//! wait is in the connection task: it awaits the state's watch channel or
//! the end time, so no worker thread blocks and nothing polls; meanwhile it
//! counts in INFO's `blocked_clients`, as Redis 7.0 blocks paused clients
//! (BLOCKED_PAUSE). Expiry and
//! eviction stop too (`EngineConfig::paused`): an expired key reads as
//! missing but is not deleted until the pause is over.
//!
//! Cost when no pause is in force: one relaxed atomic load per command.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use larder_resp::Args;
use tokio::sync::watch;

use crate::client::Client;
use crate::command::{flags, Command};
use crate::shared::Shared;

/// Pause kinds, ordered by reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Write,
    All,
}

/// Commands Redis 7.0 flags `may_replicate` (paused under WRITE).
const MAY_REPLICATE: &[&str] = &[
    "eval", "evalsha", "fcall", "fcall_ro", "publish", "spublish", "pfcount",
];

/// Whether `cmd` may replicate (Redis's `may_replicate` flag): paused
/// under WRITE, refused in read-only scripts.
pub fn may_replicate(cmd: &Command) -> bool {
    cmd.has(flags::MAY_REPLICATE) || MAY_REPLICATE.contains(&cmd.name)
}

/// Why clients are paused (Redis's `pause_purpose`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// CLIENT PAUSE.
    Client = 0,
    /// FAILOVER, while it waits for its target and hands over.
    Failover = 1,
}

/// Each purpose's pause: kind and end (Unix ms).
pub type Pauses = [Option<(Kind, u64)>; 2];

pub struct Pause {
    /// Set while a pause may be in force (cleared lazily once it ends).
    on: AtomicBool,
    /// The pauses, per purpose.
    state: watch::Sender<Pauses>,
    /// Clients waiting for the pause to end now.
    waiting: AtomicUsize,
}

impl Default for Pause {
    fn default() -> Self {
        Pause {
            on: AtomicBool::new(false),
            state: watch::channel([None; 2]).0,
            waiting: AtomicUsize::new(0),
        }
    }
}

/// The pause in force: the most restrictive kind, until the latest end of
/// that kind.
fn in_force(p: &Pauses) -> Option<(Kind, u64)> {
    p.iter().flatten().fold(None, |acc, &(k, e)| match acc {
        Some((ak, ae)) if ak > k => Some((ak, ae)),
        Some((ak, ae)) if ak == k => Some((k, ae.max(e))),
        _ => Some((k, e)),
    })
}

impl Pause {
    /// Whether a pause may be in force (the per-command fast check).
    pub fn on(&self) -> bool {
        self.on.load(Relaxed)
    }

    /// Watches the pauses: changed on every pause and unpause.
    pub fn changes(&self) -> watch::Receiver<Pauses> {
        self.state.subscribe()
    }

    /// Clients held by the pause now (part of INFO `blocked_clients`).
    pub fn waiting(&self) -> usize {
        self.waiting.load(Relaxed)
    }

    /// Widens `purpose`'s pause to `kind` until at least `end`.
    pub fn pause(&self, shared: &Shared, purpose: Purpose, kind: Kind, end: u64) {
        self.state.send_modify(|s| {
            let (k, e) = s[purpose as usize].unwrap_or((kind, end));
            s[purpose as usize] = Some((k.max(kind), e.max(end)));
        });
        self.publish(shared);
    }

    /// Ends `purpose`'s pause (CLIENT UNPAUSE, the end of a failover, or
    /// its end time passing): the clients it held go on unless another
    /// purpose holds them.
    pub fn unpause(&self, shared: &Shared, purpose: Purpose) {
        self.state.send_modify(|s| s[purpose as usize] = None);
        self.publish(shared);
    }

    /// Mirrors the pauses into the fast flag and the engine (which stops
    /// expiry and eviction until the last one ends).
    fn publish(&self, shared: &Shared) {
        let s = *self.state.borrow();
        let last = s.iter().flatten().map(|&(_, e)| e).max();
        self.on.store(last.is_some(), Relaxed);
        shared.engine.config.set_paused_until(last.unwrap_or(0));
    }

    /// The pause in force at `now`, ending the purposes whose time has passed.
    fn current(&self, shared: &Shared, now: u64) -> Option<(Kind, u64)> {
        let s = *self.state.borrow();
        if s.iter().flatten().any(|&(_, end)| end < now) {
            self.state.send_modify(|s| {
                for p in s.iter_mut() {
                    if p.is_some_and(|(_, end)| end < now) {
                        *p = None;
                    }
                }
            });
            self.publish(shared);
        }
        in_force(&self.state.borrow())
    }
}

/// Whether `cmd` (with `args`) from `client` waits under a pause of `kind`.
fn waits(shared: &Shared, client: &Client, kind: Kind, cmd: &Command, args: &Args<'_>) -> bool {
    if kind == Kind::All {
        return true;
    }
    let (has, _) = crate::dispatch::checked_flags(shared, client, cmd, args);
    has & (flags::WRITE | flags::MAY_REPLICATE) != 0
}

/// The pause `args` must wait for now, if any: `None` for a command that
/// will be refused anyway (unknown, wrong arity, not authenticated).
fn blocking_end(shared: &Shared, client: &Client, args: &Args<'_>) -> Option<u64> {
    let (kind, end) = shared
        .pause
        .current(shared, larder_engine::access::now_ms())?;
    let cmd = shared.commands.get(shared.commands.lookup(&args[0])?);
    if !cmd.arity_ok(args.len())
        || (!client.authenticated
            && !cmd.has(flags::NO_AUTH)
            && shared.hot.requirepass.load(Relaxed))
    {
        return None;
    }
    waits(shared, client, kind, cmd, args).then_some(end)
}

/// The end (Unix ms) of the pause holding `args` back now, if one does.
/// Subscribe ([`Pause::changes`]) first, to miss no change after it.
pub fn holds(shared: &Shared, client: &Client, args: &Args<'_>) -> Option<u64> {
    if !shared.pause.on() {
        return None;
    }
    blocking_end(shared, client, args)
}

/// Resolves when `end` (Unix ms) passes or a pause changes before.
pub async fn until(end: u64, changes: &mut watch::Receiver<Pauses>) {
    let left = end.saturating_sub(larder_engine::access::now_ms()) + 1;
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_millis(left)) => {}
        _ = changes.changed() => {}
    }
}

/// Waits while a pause holds `args` back. Returns false if the client was
/// killed or the server is stopping meanwhile.
pub async fn wait(
    shared: &Shared,
    client: &Client,
    args: &Args<'_>,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    /// Counts a client in `Pause::waiting` and marks it paused while it lives.
    struct Held<'a>(&'a AtomicUsize, &'a AtomicBool);
    impl Drop for Held<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Relaxed);
            self.1.store(false, Relaxed);
        }
    }
    let mut changes = shared.pause.state.subscribe();
    let mut held = None;
    loop {
        changes.mark_unchanged();
        let Some(end) = blocking_end(shared, client, args) else {
            return true;
        };
        if held.is_none() {
            shared.pause.waiting.fetch_add(1, Relaxed);
            client.handle.paused.store(true, Relaxed);
            held = Some(Held(&shared.pause.waiting, &client.handle.paused));
        }
        tokio::select! {
            _ = until(end, &mut changes) => {}
            _ = client.handle.kill.notified() => return false,
            _ = shutdown.changed() => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_restrictive_purpose_is_in_force() {
        assert_eq!(in_force(&[None, None]), None);
        let w = Some((Kind::Write, 500));
        assert_eq!(in_force(&[w, None]), w);
        // ALL wins over WRITE, whatever the ends.
        assert_eq!(
            in_force(&[w, Some((Kind::All, 100))]),
            Some((Kind::All, 100))
        );
        assert_eq!(
            in_force(&[Some((Kind::All, 100)), w]),
            Some((Kind::All, 100))
        );
        // Same kind: the later end.
        assert_eq!(
            in_force(&[w, Some((Kind::Write, 900))]),
            Some((Kind::Write, 900))
        );
    }
}
