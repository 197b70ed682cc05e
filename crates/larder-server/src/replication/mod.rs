//! Replication, Redis 7.0's protocol: a Redis (or Larder) replica can sync
//! from Larder, and Larder can replicate from Redis or Larder.
//!
//! - **Master side** (`master.rs`): SYNC / PSYNC answer a full resync — the
//!   fork-less snapshot's RDB, preceded by `+FULLRESYNC <replid> <offset>`,
//!   the offset taken at the snapshot's start instant under every shard lock
//!   — or a partial one (`+CONTINUE`) from the backlog (`backlog.rs`), which
//!   the propagation feed (`propagate.rs`, the AOF's stream) fills. Each
//!   replica is then served by its connection's task: bytes from the backlog
//!   out, `REPLCONF ACK` in. WAIT counts replicas whose ACK reached the
//!   client's last write, after asking them with `REPLCONF GETACK *`.
//! - **Replica side** (`replica.rs`): REPLICAOF starts a link task that does
//!   the handshake (PING, AUTH, REPLCONF, PSYNC), loads the RDB with the
//!   engine's loader, applies the stream through the dispatcher as the
//!   master client, and ACKs every second; it reconnects when the link
//!   drops. Writes from other clients get `-READONLY` while
//!   `replica-read-only yes`, and commands not flagged `stale` get
//!   `-MASTERDOWN` while the link is down under `replica-serve-stale-data
//!   no`; on a master, writes get `-NOREPLICAS` while fewer than
//!   `min-replicas-to-write` replicas ACKed within `min-replicas-max-lag`
//!   seconds (all one relaxed load in dispatch, [`write_error`]).
//!
//! The state here: replication IDs, attached replicas, the link, and the
//! `repl-*` settings mirrored from the config as atomics.

pub mod backlog;
pub mod failover;
pub mod master;
pub mod pipe;
pub mod replica;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, OnceLock, Weak};

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::client::Client;
use crate::command::{flags::*, Command, Ctx};
use crate::commands::server::cmd;
use crate::config::Config;
use crate::error::{CmdError, CmdResult};
use crate::shared::{unix_secs, Shared};

pub use master::{serve, ReplClient};

pub const READONLY: CmdError =
    CmdError::new("READONLY You can't write against a read only replica.");
pub const NOREPLICAS: CmdError = CmdError::new("NOREPLICAS Not enough good replicas to write.");

pub const MASTERDOWN: CmdError = CmdError::new(
    "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
);

/// `Repl::deny` bits: what dispatch refuses.
const DENY_READONLY: u8 = 1;
const DENY_NOREPLICAS: u8 = 2;
const DENY_STALE: u8 = 4;

const NO_ID: &str = "0000000000000000000000000000000000000000";

/// Replication IDs (Redis's replid, replid2 and second_replid_offset).
struct Ids {
    replid: String,
    replid2: String,
    second_offset: i64,
}

/// A replica attached to this server (master side).
pub struct Attached {
    /// Its reader id in the backlog.
    pub id: u64,
    pub client_id: u64,
    pub ip: String,
    pub port: u16,
    pub state: AtomicU8,
    /// The offset it last acknowledged.
    pub ack: AtomicU64,
    /// Unix seconds of its last ACK (INFO's lag).
    pub ack_time: AtomicU64,
}

pub const WAIT_BGSAVE: u8 = 0;
pub const SEND_BULK: u8 = 1;
pub const ONLINE: u8 = 2;

impl Attached {
    fn state_name(&self) -> &'static str {
        match self.state.load(Relaxed) {
            WAIT_BGSAVE => "wait_bgsave",
            SEND_BULK => "send_bulk",
            _ => "online",
        }
    }
}

/// Settings read by the replication tasks, mirrored from the config.
#[derive(Default)]
pub struct Settings {
    pub backlog_size: AtomicU64,
    pub ping_period: AtomicU64,
    pub timeout: AtomicU64,
    pub read_only: AtomicBool,
    pub serve_stale: AtomicBool,
    pub out_hard: AtomicU64,
    pub out_soft: AtomicU64,
    pub out_soft_secs: AtomicU64,
    pub min_replicas: AtomicU64,
    pub min_replicas_max_lag: AtomicU64,
}

pub struct Repl {
    me: OnceLock<Weak<Shared>>,
    ids: Mutex<Ids>,
    pub replicas: Mutex<Vec<Arc<Attached>>>,
    next_id: AtomicU64,
    /// Notified on every ACK (WAIT sleeps on it).
    pub acked: Notify,
    /// WAIT asked for acknowledgements: the cron sends one GETACK.
    pub want_ack: AtomicBool,
    /// The link to our master, when we are a replica.
    link: Mutex<Option<Arc<replica::Link>>>,
    /// dispatch's check (`DENY_*` bits), kept by [`refresh_deny`].
    deny: AtomicU8,
    /// Replicas online that ACKed within `min-replicas-max-lag`.
    good_replicas: AtomicU64,
    /// The client applying the master's stream (exempt from READONLY).
    pub master_client: AtomicU64,
    pub settings: Settings,
    /// The backlog exists and no command predating it is still running
    /// (`master::ensure_backlog`).
    stream_ready: tokio::sync::Mutex<bool>,
    pub net_in: AtomicU64,
    pub net_out: AtomicU64,
    /// Held by a replica's link while it applies a command of the master's
    /// stream and proxies its bytes, and by a full resync while it opens
    /// its snapshot: so a sub-replica's snapshot and offset agree.
    pub apply_gate: Mutex<()>,
    /// The replication position of the RDB loaded at start (its `repl-*`
    /// AUX fields): a replica configured with `replicaof` resumes from it.
    pub loaded: Mutex<Option<larder_engine::rdb::ReplAux>>,
    /// INFO's `sync_full`, `sync_partial_ok`, `sync_partial_err`.
    pub sync_full: AtomicU64,
    pub sync_partial_ok: AtomicU64,
    pub sync_partial_err: AtomicU64,
    /// FAILOVER's state, while one is under way (`failover.rs`).
    failover: Mutex<Option<failover::Failover>>,
}

impl Default for Repl {
    fn default() -> Self {
        Repl {
            me: OnceLock::new(),
            ids: Mutex::new(Ids {
                replid: random_id(),
                replid2: NO_ID.into(),
                second_offset: -1,
            }),
            replicas: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
            acked: Notify::new(),
            want_ack: AtomicBool::new(false),
            link: Mutex::new(None),
            deny: AtomicU8::new(0),
            good_replicas: AtomicU64::new(0),
            master_client: AtomicU64::new(0),
            settings: Settings::default(),
            stream_ready: tokio::sync::Mutex::new(false),
            net_in: AtomicU64::new(0),
            net_out: AtomicU64::new(0),
            apply_gate: Mutex::new(()),
            loaded: Mutex::new(None),
            sync_full: AtomicU64::new(0),
            sync_partial_ok: AtomicU64::new(0),
            sync_partial_err: AtomicU64::new(0),
            failover: Mutex::new(None),
        }
    }
}

impl Repl {
    pub fn replid(&self) -> String {
        self.ids.lock().replid.clone()
    }

    fn set_replid(&self, id: &str) {
        self.ids.lock().replid = id.to_string();
    }

    /// The link to our master, if we are a replica.
    pub fn link(&self) -> Option<Arc<replica::Link>> {
        self.link.lock().clone()
    }

    pub fn is_replica(&self) -> bool {
        self.link.lock().is_some()
    }

    fn shared(&self) -> Option<Arc<Shared>> {
        self.me.get().and_then(Weak::upgrade)
    }

    /// Whether a PSYNC from `replid` at `offset` continues our history:
    /// our current one, or the one we followed before a promotion, up to
    /// where we left it (Redis's replid2 and second_replid_offset).
    pub fn continues(&self, replid: &str, offset: i64) -> bool {
        let ids = self.ids.lock();
        replid == ids.replid || (replid == ids.replid2 && offset <= ids.second_offset)
    }

    /// After a partial resync answered with replication ID `id`: if it is
    /// not ours, our master has a new history (it was promoted) that
    /// continues ours past `offset`, which becomes our replid2. Returns
    /// whether it changed.
    pub fn follow_new_history(&self, id: &str, offset: i64) -> bool {
        let mut ids = self.ids.lock();
        if ids.replid == id {
            return false;
        }
        ids.replid2 = std::mem::replace(&mut ids.replid, id.to_string());
        ids.second_offset = offset + 1;
        true
    }

    /// Replicas online whose ACK reached `offset`.
    pub fn acked_by(&self, offset: u64) -> usize {
        self.replicas
            .lock()
            .iter()
            .filter(|r| r.state.load(Relaxed) == ONLINE && r.ack.load(Relaxed) >= offset)
            .count()
    }
}

/// Removes a sync's temp file when dropped: gone once sent (master), or
/// left by a transfer that did not complete (replica; a complete one was
/// renamed away first).
struct RemoveOnDrop<'a>(&'a std::path::Path);

impl Drop for RemoveOnDrop<'_> {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.0);
    }
}

/// 40 random hex digits (a replication ID).
fn random_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::with_capacity(48);
    for i in 0..3u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(i);
        h.write_u128(std::time::UNIX_EPOCH.elapsed().map_or(0, |d| d.as_nanos()));
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out.truncate(40);
    out
}

/// The value in force of directive `name`, as CONFIG GET shows it.
fn directive(c: &Config, name: &str) -> String {
    crate::directives::find(name).map_or_else(String::new, |d| (d.get)(c))
}

/// Mirrors the `repl-*` directives (called by `Shared::apply_config`).
pub fn apply_config(sh: &Shared, c: &Config) {
    let s = &sh.repl.settings;
    let num = |name: &str, default: u64| directive(c, name).parse().unwrap_or(default);
    s.backlog_size
        .store(num("repl-backlog-size", 1 << 20), Relaxed);
    s.ping_period
        .store(num("repl-ping-replica-period", 10), Relaxed);
    s.timeout.store(num("repl-timeout", 60), Relaxed);
    s.read_only
        .store(directive(c, "replica-read-only") != "no", Relaxed);
    s.serve_stale
        .store(directive(c, "replica-serve-stale-data") != "no", Relaxed);
    sh.engine
        .config
        .set_replica_ignores_maxmemory(directive(c, "replica-ignore-maxmemory") != "no");
    s.out_hard.store(c.output_limit_replica.hard, Relaxed);
    s.out_soft.store(c.output_limit_replica.soft, Relaxed);
    s.out_soft_secs
        .store(c.output_limit_replica.soft_seconds, Relaxed);
    s.min_replicas
        .store(num("min-replicas-to-write", 0), Relaxed);
    s.min_replicas_max_lag
        .store(num("min-replicas-max-lag", 10), Relaxed);
    refresh_deny(sh);
    let mut g = sh.propagate.feed.lock();
    if let Some(b) = &mut g.backlog {
        b.configure(s.backlog_size.load(Relaxed), c.output_limit_replica.hard);
    }
}

/// dispatch: `-NOREPLICAS` for a write on a master short of good replicas,
/// `-READONLY` for a write on a read-only replica and `-MASTERDOWN` for a
/// command not flagged `stale` on a replica whose link is down (but for the
/// master's own stream). EXEC counts as what it queued, as in Redis.
#[inline]
pub fn write_error(
    sh: &Shared,
    client: &Client,
    flags: impl FnOnce() -> (u32, u32),
) -> Option<CmdError> {
    let deny = sh.repl.deny.load(Relaxed);
    if deny == 0 {
        return None;
    }
    deny_error(sh, client, flags(), deny)
}

/// `has` and `lacks`: the command's flags as `dispatch::checked_flags`
/// gives them (EXEC's include the commands it queued).
#[cold]
fn deny_error(
    sh: &Shared,
    client: &Client,
    (has, lacks): (u32, u32),
    deny: u8,
) -> Option<CmdError> {
    if client.id == sh.repl.master_client.load(Relaxed) && sh.repl.is_replica() {
        return None;
    }
    let write = has & WRITE != 0;
    if deny & DENY_NOREPLICAS != 0 && write {
        return Some(NOREPLICAS);
    }
    if deny & DENY_READONLY != 0 && write {
        return Some(READONLY);
    }
    if deny & DENY_STALE != 0 && lacks & STALE != 0 {
        return Some(MASTERDOWN);
    }
    None
}

/// Whether this is a replica whose link is down under
/// `replica-serve-stale-data no`: a script's command not flagged `stale`
/// is refused there (Redis's scriptVerifyAllowStale).
pub fn is_stale(sh: &Shared) -> bool {
    sh.repl.deny.load(Relaxed) & DENY_STALE != 0
}

/// Recounts the good replicas and recomputes what writes get (Redis's
/// refreshGoodSlavesCount + checkGoodReplicasStatus), after a change of
/// role or settings and once a second.
pub(crate) fn refresh_deny(sh: &Shared) {
    let s = &sh.repl.settings;
    let (min, lag) = (
        s.min_replicas.load(Relaxed),
        s.min_replicas_max_lag.load(Relaxed),
    );
    let now = unix_secs();
    let good = sh
        .repl
        .replicas
        .lock()
        .iter()
        .filter(|r| {
            r.state.load(Relaxed) == ONLINE && now.saturating_sub(r.ack_time.load(Relaxed)) <= lag
        })
        .count() as u64;
    sh.repl.good_replicas.store(good, Relaxed);
    let mut deny = 0;
    match sh.repl.link() {
        Some(l) => {
            if s.read_only.load(Relaxed) {
                deny |= DENY_READONLY;
            }
            if !s.serve_stale.load(Relaxed) && l.state() != replica::CONNECTED {
                deny |= DENY_STALE;
            }
        }
        None if min > 0 && lag > 0 && good < min => deny |= DENY_NOREPLICAS,
        None => {}
    }
    sh.repl.deny.store(deny, Relaxed);
}

/// Startup: remembers the server and, with `replicaof` set, starts the link.
pub fn start(sh: &Arc<Shared>) {
    let _ = sh.repl.me.set(Arc::downgrade(sh));
    let target = directive(&sh.config.read(), "replicaof");
    let resume = sh.repl.loaded.lock().take();
    let mut words = target.split_whitespace();
    if let (Some(host), Some(port)) = (words.next(), words.next()) {
        if let Ok(port) = port.parse::<u16>() {
            set_master_from(sh, Some((host.to_string(), port)), resume);
        }
    }
}

/// Becomes a replica of `target`, or a master (`None`).
fn set_master(sh: &Arc<Shared>, target: Option<(String, u16)>) {
    set_master_from(sh, target, None)
}

/// [`set_master`]; `resume`: where the data loaded at start stand (a
/// replica restarted from its RDB continues from there, as Redis's does).
fn set_master_from(
    sh: &Arc<Shared>,
    target: Option<(String, u16)>,
    resume: Option<larder_engine::rdb::ReplAux>,
) {
    // The role is the `replicaof` directive's value (CONFIG REWRITE writes
    // it, as Redis does, so a restart keeps it).
    if let Some(d) = crate::directives::find("replicaof") {
        let port = target.as_ref().map(|t| t.1.to_string());
        let args: Vec<&str> = match (&target, &port) {
            (Some((host, _)), Some(port)) => vec![host, port],
            _ => vec!["no", "one"],
        };
        let _ = (d.set)(&mut sh.config.write(), &args);
    }
    let old = sh.repl.link.lock().take();
    let offset = old.as_ref().map(|l| l.offset());
    if let Some(l) = &old {
        l.stop();
    }
    match target {
        Some((host, port)) => {
            // Our replicas must resync with the new history.
            master::disconnect_replicas(sh);
            // Where our data stand in our history, for a partial resync
            // with a master that continues it (Redis's
            // replicationCacheMasterUsingMyself): a replica's offset, or
            // a master's backlog end.
            // (The new master's stream SELECTs first: database 0 will do.)
            let cached = {
                let mut g = sh.propagate.feed.lock();
                g.proxy = true;
                offset
                    .filter(|&o| o >= 0)
                    .or_else(|| g.backlog.as_ref().map(|b| b.end() as i64))
                    .map(|offset| larder_engine::rdb::ReplAux {
                        stream_db: 0,
                        id: sh.repl.replid(),
                        offset,
                    })
                    .or(resume)
            };
            let link = replica::Link::new(host, port, cached);
            sh.engine.config.set_replica(true);
            *sh.repl.link.lock() = Some(link.clone());
            replica::spawn(sh.clone(), link);
        }
        None => {
            {
                // The stream we send our replicas is ours from now on, and
                // its next command SELECTs.
                let mut g = sh.propagate.feed.lock();
                g.proxy = false;
                g.db = None;
            }
            // Expired keys are ours to delete (and propagate) again.
            sh.engine.config.set_replica(false);
            if let Some(off) = offset {
                // Promotion: a new history that continues the old one.
                {
                    let mut ids = sh.repl.ids.lock();
                    ids.replid2 = std::mem::replace(&mut ids.replid, random_id());
                    ids.second_offset = off + 1;
                }
                // Our replicas learn the new ID by resyncing (partially).
                master::disconnect_replicas(sh);
            }
        }
    }
    // The role's oom_score_adj (a failure is logged, as in Redis).
    let _ = crate::oom::apply(&sh.config.read(), sh.repl.is_replica());
    refresh_deny(sh);
}

/// Where a snapshot taken now stands in the replication history, for its
/// `repl-*` AUX fields (Redis's rdbPopulateSaveInfo); called at the
/// snapshot's start instant, every shard locked. A replica: its link's
/// position, unless the apply loop is between applying a command and
/// counting it (it holds the gate meanwhile; waiting for it here could
/// deadlock, so that snapshot names no position). A master: its backlog's
/// end, once it has one, and the database its stream last selected (0
/// when the next write SELECTs anyway).
pub fn save_position(sh: &Shared) -> Option<larder_engine::rdb::ReplAux> {
    if let Some(link) = sh.repl.link() {
        let _gate = sh.repl.apply_gate.try_lock()?;
        return link.position();
    }
    let g = sh.propagate.feed.lock();
    let b = g.backlog.as_ref()?;
    Some(larder_engine::rdb::ReplAux {
        stream_db: g.db.unwrap_or(0),
        id: sh.repl.replid(),
        offset: b.end() as i64,
    })
}

/// The replication offset INFO and ROLE show: the master's stream applied,
/// for a replica; the backlog's end, for a master.
pub fn master_repl_offset(sh: &Shared) -> i64 {
    match sh.repl.link() {
        Some(l) => l.offset().max(0),
        None => sh.propagate.feed.lock().repl_offset() as i64,
    }
}

/// INFO's `# Replication` section, in Redis 7.0's order.
pub fn info(sh: &Shared, s: &mut String) {
    use std::fmt::Write as _;
    let link = sh.repl.link();
    let now = unix_secs();
    s.push_str("# Replication\r\n");
    match &link {
        None => s.push_str("role:master\r\n"),
        Some(l) => {
            let up = l.state() == replica::CONNECTED;
            let _ = write!(
                s,
                "role:slave\r\nmaster_host:{}\r\nmaster_port:{}\r\nmaster_link_status:{}\r\n\
                 master_last_io_seconds_ago:{}\r\nmaster_sync_in_progress:{}\r\n\
                 slave_read_repl_offset:{}\r\nslave_repl_offset:{}\r\n",
                l.host,
                l.port,
                if up { "up" } else { "down" },
                if up {
                    now.saturating_sub(l.last_io()) as i64
                } else {
                    -1
                },
                u8::from(l.state() == replica::TRANSFER),
                l.read_offset(),
                l.offset().max(0),
            );
            if l.state() == replica::TRANSFER {
                let (size, read) = l.transfer();
                let _ = write!(
                    s,
                    "master_sync_total_bytes:{size}\r\nmaster_sync_read_bytes:{read}\r\n\
                     master_sync_left_bytes:{}\r\nmaster_sync_perc:{:.2}\r\n\
                     master_sync_last_io_seconds_ago:{}\r\n",
                    size - read as i64,
                    if size > 0 {
                        read as f64 * 100.0 / size as f64
                    } else {
                        0.0
                    },
                    now.saturating_sub(l.last_io()),
                );
            }
            if !up {
                let _ = write!(
                    s,
                    "master_link_down_since_seconds:{}\r\n",
                    now.saturating_sub(l.down_since())
                );
            }
            let _ = write!(
                s,
                "slave_priority:100\r\nslave_read_only:{}\r\nreplica_announced:1\r\n",
                u8::from(sh.repl.settings.read_only.load(Relaxed))
            );
        }
    }
    let replicas = sh.repl.replicas.lock().clone();
    let _ = write!(s, "connected_slaves:{}\r\n", replicas.len());
    let st = &sh.repl.settings;
    if link.is_none()
        && st.min_replicas.load(Relaxed) > 0
        && st.min_replicas_max_lag.load(Relaxed) > 0
    {
        let _ = write!(
            s,
            "min_slaves_good_slaves:{}\r\n",
            sh.repl.good_replicas.load(Relaxed)
        );
    }
    for (i, r) in replicas.iter().enumerate() {
        let _ = write!(
            s,
            "slave{i}:ip={},port={},state={},offset={},lag={}\r\n",
            r.ip,
            r.port,
            r.state_name(),
            r.ack.load(Relaxed),
            now.saturating_sub(r.ack_time.load(Relaxed)),
        );
    }
    let (active, size, first, histlen) = {
        let g = sh.propagate.feed.lock();
        match &g.backlog {
            Some(b) => (1, b.size(), b.first_byte(), b.histlen()),
            None => (0, sh.repl.settings.backlog_size.load(Relaxed), 0, 0),
        }
    };
    let ids = sh.repl.ids.lock();
    let _ = write!(
        s,
        "master_failover_state:{}\r\nmaster_replid:{}\r\nmaster_replid2:{}\r\n\
         master_repl_offset:{}\r\nsecond_repl_offset:{}\r\nrepl_backlog_active:{active}\r\n\
         repl_backlog_size:{size}\r\nrepl_backlog_first_byte_offset:{first}\r\n\
         repl_backlog_histlen:{histlen}\r\n",
        failover::state_name(sh),
        ids.replid,
        ids.replid2,
        master_repl_offset(sh),
        ids.second_offset,
    );
}

/// The replication cron, once a second: PING to replicas every
/// `repl-ping-replica-period`, the replica link's ACK and timeout checks.
pub async fn cron(sh: Arc<Shared>) {
    let mut ticks: u64 = 0;
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        ticks += 1;
        refresh_deny(&sh);
        let period = sh.repl.settings.ping_period.load(Relaxed).max(1);
        // Not during a failover: the stream must stand still for the
        // target to catch up.
        if ticks.is_multiple_of(period)
            && !sh.repl.replicas.lock().is_empty()
            && !sh.repl.is_replica()
            && !failover::active(&sh)
        {
            sh.propagate.feed.append_replicas_only([&b"PING"[..]]);
        }
    }
}

// ---------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------

pub const COMMANDS: &[Command] = &[
    cmd(
        "replicaof",
        3,
        ADMIN | NOSCRIPT | STALE,
        "admin slow dangerous",
        replicaof,
    ),
    cmd(
        "slaveof",
        3,
        ADMIN | NOSCRIPT | STALE,
        "admin slow dangerous",
        replicaof,
    ),
    cmd("wait", 3, NOSCRIPT, "slow connection", master::wait),
    cmd(
        "failover",
        -1,
        ADMIN | NOSCRIPT | STALE,
        "admin slow dangerous",
        failover::failover,
    ),
    cmd(
        "role",
        1,
        NOSCRIPT | LOADING | STALE | FAST,
        "admin fast dangerous",
        role,
    ),
    cmd(
        "sync",
        1,
        ADMIN | NOSCRIPT | NO_MULTI,
        "admin slow dangerous",
        master::sync,
    ),
    cmd(
        "psync",
        -3,
        ADMIN | NOSCRIPT | NO_MULTI,
        "admin slow dangerous",
        master::sync,
    ),
    cmd(
        "replconf",
        -1,
        ADMIN | NOSCRIPT | LOADING | STALE | ALLOW_BUSY,
        "admin slow dangerous",
        master::replconf,
    ),
];

fn replicaof(ctx: &mut Ctx<'_>) -> CmdResult {
    let Some(sh) = ctx.shared.repl.shared() else {
        return Err(CmdError::new("ERR replication is not available"));
    };
    if failover::active(&sh) {
        return Err(CmdError::new(
            "ERR REPLICAOF not allowed while failing over.",
        ));
    }
    if ctx.arg_is(1, "no") && ctx.arg_is(2, "one") {
        if sh.repl.is_replica() {
            set_master(&sh, None);
            tracing::info!(
                "MASTER MODE enabled (user request from 'id={}')",
                ctx.client.id
            );
        }
        ctx.out.ok();
        return Ok(());
    }
    if ctx.client.repl.as_ref().is_some_and(|r| r.is_replica()) {
        return Err(CmdError::new(
            "ERR Command is not valid when client is a replica.",
        ));
    }
    let port = crate::command::parse_i64(ctx.arg(2))
        .filter(|p| (0..=65535).contains(p))
        .ok_or(CmdError::new("ERR Invalid master port"))? as u16;
    let host = String::from_utf8_lossy(ctx.arg(1)).into_owned();
    if let Some(l) = sh.repl.link() {
        if l.host.eq_ignore_ascii_case(&host) && l.port == port {
            ctx.out.simple(b"OK Already connected to specified master");
            return Ok(());
        }
    }
    tracing::info!(
        "REPLICAOF {host}:{port} enabled (user request from 'id={}')",
        ctx.client.id
    );
    set_master(&sh, Some((host, port)));
    ctx.out.ok();
    Ok(())
}

/// ROLE: master with its replicas, or replica with its link's state.
fn role(ctx: &mut Ctx<'_>) -> CmdResult {
    let sh = ctx.shared;
    match sh.repl.link() {
        None => {
            let replicas = sh.repl.replicas.lock().clone();
            ctx.out.array(3);
            ctx.out.bulk(b"master");
            ctx.out.int(master_repl_offset(sh));
            let online: Vec<_> = replicas
                .iter()
                .filter(|r| r.state.load(Relaxed) == ONLINE)
                .collect();
            ctx.out.array(online.len());
            let mut itoa = itoa::Buffer::new();
            for r in online {
                ctx.out.array(3);
                ctx.out.bulk(r.ip.as_bytes());
                ctx.out.bulk(itoa.format(r.port).as_bytes());
                ctx.out.bulk(itoa.format(r.ack.load(Relaxed)).as_bytes());
            }
        }
        Some(l) => {
            ctx.out.array(5);
            ctx.out.bulk(b"slave");
            ctx.out.bulk(l.host.as_bytes());
            ctx.out.int(i64::from(l.port));
            ctx.out.bulk(l.state_name().as_bytes());
            ctx.out.int(if l.state() == replica::CONNECTED {
                l.offset()
            } else {
                -1
            });
        }
    }
    Ok(())
}
