//! CLIENT PAUSE / UNPAUSE, as Redis 7.0 keeps them: one pause in force at
//! a time, of kind WRITE or ALL, until an end time (Unix ms). A new pause
//! only widens it: the kind goes from WRITE to ALL, never back, and the
//! end only moves later; UNPAUSE ends it. The end is checked lazily, by
//! whoever next asks.
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

pub struct Pause {
    /// Set while a pause may be in force (cleared lazily once it ends).
    on: AtomicBool,
    /// The pause: kind and end (Unix ms), or `None`.
    state: watch::Sender<Option<(Kind, u64)>>,
    /// Clients waiting for the pause to end now.
    waiting: AtomicUsize,
}

impl Default for Pause {
    fn default() -> Self {
        Pause {
            on: AtomicBool::new(false),
            state: watch::channel(None).0,
            waiting: AtomicUsize::new(0),
        }
    }
}

impl Pause {
    /// Whether a pause may be in force (the per-command fast check).
    pub fn on(&self) -> bool {
        self.on.load(Relaxed)
    }

    /// Clients held by the pause now (part of INFO `blocked_clients`).
    pub fn waiting(&self) -> usize {
        self.waiting.load(Relaxed)
    }

    /// CLIENT PAUSE: widens the pause to `kind` until at least `end`.
    pub fn pause(&self, shared: &Shared, kind: Kind, end: u64) {
        self.state.send_modify(|s| {
            let (k, e) = s.unwrap_or((kind, end));
            *s = Some((k.max(kind), e.max(end)));
        });
        if let Some((_, e)) = *self.state.borrow() {
            shared.engine.config.set_paused_until(e);
        }
        self.on.store(true, Relaxed);
    }

    /// CLIENT UNPAUSE (or the end time passing): releases every waiter.
    pub fn unpause(&self, shared: &Shared) {
        self.on.store(false, Relaxed);
        shared.engine.config.set_paused_until(0);
        self.state.send_replace(None);
    }

    /// The pause in force at `now`, ending it if its time has passed.
    fn current(&self, shared: &Shared, now: u64) -> Option<(Kind, u64)> {
        let s = *self.state.borrow();
        match s {
            Some((_, end)) if end < now => {
                self.unpause(shared);
                None
            }
            s => s,
        }
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
        let left = end.saturating_sub(larder_engine::access::now_ms()) + 1;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(left)) => {}
            r = changes.changed() => if r.is_err() { return false },
            _ = client.handle.kill.notified() => return false,
            _ = shutdown.changed() => return false,
        }
    }
}
