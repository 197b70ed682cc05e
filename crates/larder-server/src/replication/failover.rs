//! FAILOVER: a coordinated hand-over from this master to one of its
//! replicas, Redis 7.0's `failoverCommand`.
//!
//! `FAILOVER [TO host port [FORCE]] [TIMEOUT ms]` pauses writes (the
//! `Failover` purpose of `pause.rs`, so CLIENT UNPAUSE does not end it; the
//! pause also stops expiry, eviction and the replication PING, so the
//! stream's offset stands still) and goes *waiting-for-sync*. A task then
//! watches the replicas' ACKs: once the target (or, without TO, any
//! replica) has acknowledged the whole stream, the failover is *in
//! progress*: this server becomes a replica of the target, and its link
//! sends `PSYNC <replid> <offset> FAILOVER`. The target, whose replication
//! ID is ours, promotes itself on that request and answers it as a
//! promoted replica does, with `+CONTINUE` (its history continues ours, so
//! nothing is transferred). An answer ends the failover and the pause; a
//! refusal aborts it: this server is a master again, its replicas resume
//! from its previous history. With TIMEOUT, a target that never catches up
//! aborts it, or, with FORCE, gets it anyway. FAILOVER ABORT ends either
//! state. INFO shows the state as `master_failover_state`.
//!
//! Costs: nothing while no failover runs (INFO and PSYNC read a mutex-held
//! option); during one, a task that wakes on each ACK and every 100 ms.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use super::ONLINE;
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult, SYNTAX};
use crate::pause::{Kind, Purpose};
use crate::shared::Shared;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    WaitForSync,
    InProgress,
}

/// A failover under way (`Repl::failover`).
pub struct Failover {
    stage: Stage,
    /// The replica handed over to: chosen by TO, or the first one found
    /// caught up.
    target: Option<(String, u16)>,
    /// TIMEOUT's deadline, Unix ms.
    end: Option<u64>,
    force: bool,
}

/// INFO's `master_failover_state`.
pub fn state_name(sh: &Shared) -> &'static str {
    match sh.repl.failover.lock().as_ref().map(|f| f.stage) {
        None => "no-failover",
        Some(Stage::WaitForSync) => "waiting-for-sync",
        Some(Stage::InProgress) => "failover-in-progress",
    }
}

/// Whether a failover is under way (REPLICAOF and SYNC are refused).
pub fn active(sh: &Shared) -> bool {
    sh.repl.failover.lock().is_some()
}

/// Whether this server is handing over: its link's PSYNC says FAILOVER.
pub fn in_progress(sh: &Shared) -> bool {
    sh.repl
        .failover
        .lock()
        .as_ref()
        .is_some_and(|f| f.stage == Stage::InProgress)
}

/// FAILOVER [TO host port [FORCE]] [TIMEOUT ms] | FAILOVER ABORT.
pub(super) fn failover(ctx: &mut Ctx<'_>) -> CmdResult {
    let Some(sh) = ctx.shared.repl.shared() else {
        return Err(CmdError::new("ERR replication is not available"));
    };
    if ctx.argc() == 2 && ctx.arg_is(1, "abort") {
        if !active(&sh) {
            return Err(CmdError::new("ERR No failover in progress."));
        }
        abort(&sh, "Failover manually aborted");
        ctx.out.ok();
        return Ok(());
    }
    let (mut timeout, mut force, mut target) = (0i64, false, None);
    let mut j = 1;
    while j < ctx.argc() {
        if ctx.arg_is(j, "timeout") && j + 1 < ctx.argc() && timeout == 0 {
            timeout = ctx.i64_arg(j + 1)?;
            if timeout <= 0 {
                return Err(CmdError::new("ERR FAILOVER timeout must be greater than 0"));
            }
            j += 2;
        } else if ctx.arg_is(j, "to") && j + 2 < ctx.argc() && target.is_none() {
            let port = ctx.i64_arg(j + 2)?;
            target = Some((String::from_utf8_lossy(ctx.arg(j + 1)).into_owned(), port));
            j += 3;
        } else if ctx.arg_is(j, "force") && !force {
            force = true;
            j += 1;
        } else {
            return Err(SYNTAX);
        }
    }
    if active(&sh) {
        return Err(CmdError::new("ERR FAILOVER already in progress."));
    }
    if sh.repl.is_replica() {
        return Err(CmdError::new(
            "ERR FAILOVER is not valid when server is a replica.",
        ));
    }
    if sh.repl.replicas.lock().is_empty() {
        return Err(CmdError::new("ERR FAILOVER requires connected replicas."));
    }
    if force && (timeout == 0 || target.is_none()) {
        return Err(CmdError::new(
            "ERR FAILOVER with force option requires both a timeout and target HOST and IP.",
        ));
    }
    let target = match target {
        None => {
            tracing::info!("FAILOVER requested to any replica.");
            None
        }
        Some((host, port)) => {
            let state = u16::try_from(port).ok().and_then(|port| {
                sh.repl
                    .replicas
                    .lock()
                    .iter()
                    .find(|r| r.ip.eq_ignore_ascii_case(&host) && r.port == port)
                    .map(|r| r.state.load(Relaxed))
            });
            match state {
                None => {
                    return Err(CmdError::new(
                        "ERR FAILOVER target HOST and PORT is not a replica.",
                    ))
                }
                Some(s) if s != ONLINE => {
                    return Err(CmdError::new("ERR FAILOVER target replica is not online."))
                }
                Some(_) => {}
            }
            tracing::info!("FAILOVER requested to {host}:{port}.");
            Some((host, port as u16))
        }
    };
    *sh.repl.failover.lock() = Some(Failover {
        stage: Stage::WaitForSync,
        target,
        end: (timeout > 0).then(|| ctx.now_ms.saturating_add(timeout as u64)),
        force,
    });
    sh.pause
        .pause(&sh, Purpose::Failover, Kind::Write, i64::MAX as u64);
    tokio::spawn(watch(sh.clone()));
    ctx.out.ok();
    Ok(())
}

/// Waits for a replica to catch up (or the timeout), then hands over.
async fn watch(sh: Arc<Shared>) {
    loop {
        let acked = sh.repl.acked.notified();
        tokio::pin!(acked);
        acked.as_mut().enable();
        if !step(&sh) {
            return;
        }
        tokio::select! {
            _ = acked => {}
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
}

/// Redis's `updateFailoverStatus`. False once this task has nothing more
/// to do (handed over, aborted, or ended by FAILOVER ABORT).
fn step(sh: &Arc<Shared>) -> bool {
    let mut g = sh.repl.failover.lock();
    let Some(f) = g.as_mut().filter(|f| f.stage == Stage::WaitForSync) else {
        return false;
    };
    if f.end
        .is_some_and(|end| end <= larder_engine::access::now_ms())
    {
        if f.force {
            let (host, port) = f.target.clone().expect("FORCE has a target");
            tracing::info!("FAILOVER to {host}:{port} time out exceeded, failing over.");
            f.stage = Stage::InProgress;
            drop(g);
            super::set_master(sh, Some((host, port)));
        } else {
            drop(g);
            abort(sh, "Replica never caught up before timeout");
        }
        return false;
    }
    let offset = super::master_repl_offset(sh).max(0) as u64;
    let caught_up = sh.repl.replicas.lock().iter().find_map(|r| {
        let wanted = f
            .target
            .as_ref()
            .is_none_or(|(h, p)| r.ip.eq_ignore_ascii_case(h) && r.port == *p);
        (wanted && r.ack.load(Relaxed) == offset).then(|| (r.ip.clone(), r.port))
    });
    let Some((host, port)) = caught_up else {
        return true;
    };
    tracing::info!("Failover target {host}:{port} is synced, failing over.");
    f.stage = Stage::InProgress;
    f.target = Some((host.clone(), port));
    drop(g);
    super::set_master(sh, Some((host, port)));
    false
}

/// The target answered our `PSYNC ... FAILOVER`: `accepted` (a resync
/// started) ends the failover and its pause, else it is aborted.
pub fn answered(sh: &Arc<Shared>, accepted: bool) {
    if accepted {
        clear(sh);
    } else {
        abort(sh, "Failover target rejected psync request");
    }
}

/// Ends a failover: in progress, this server becomes a master again.
pub fn abort(sh: &Arc<Shared>, why: &str) {
    let Some(f) = sh.repl.failover.lock().take() else {
        return;
    };
    match &f.target {
        Some((h, p)) => tracing::info!("FAILOVER to {h}:{p} aborted: {why}"),
        None => tracing::info!("FAILOVER to any replica aborted: {why}"),
    }
    if f.stage == Stage::InProgress {
        super::set_master(sh, None);
    }
    sh.pause.unpause(sh, Purpose::Failover);
}

fn clear(sh: &Shared) {
    *sh.repl.failover.lock() = None;
    sh.pause.unpause(sh, Purpose::Failover);
}
