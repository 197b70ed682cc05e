//! RDB persistence: SAVE, BGSAVE, the `save` schedule, loading `dump.rdb` at
//! startup, saving on shutdown, INFO persistence's `rdb_*` fields and the
//! MISCONF write refusal.
//!
//! A save writes `<dir>/temp-<pid>-<n>.rdb` through the engine's fork-less
//! snapshot (`larder_engine::snapshot`), fsyncs it and renames it over
//! `<dir>/<dbfilename>`, so the file on disk is always a whole image. SAVE
//! runs the snapshot on the command's thread; BGSAVE opens it on the
//! command's thread (so the image is the keyspace at the reply) and
//! finishes it on a thread of its own, while clients keep writing. One
//! snapshot runs at a time (the AOF rewrite shares the slot).
//!
//! State lives in [`RdbState`] (atomics; INFO reads them without locks).
//! `deny_writes` is precomputed whenever the last status or the config
//! changes, so the MISCONF check in dispatch is one relaxed load.

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use larder_engine::rdb::{self, RdbOptions};
use larder_engine::snapshot::{Snapshot, SnapshotStats};
use parking_lot::Mutex;

use crate::command::{flags::*, Command, Ctx};
use crate::commands::server::cmd;
use crate::config::Config;
use crate::error::{CmdError, CmdResult, SYNTAX};
use crate::shared::{unix_secs, Shared};

/// Redis's CONFIG_BGSAVE_RETRY_DELAY: seconds before a failed scheduled save is retried.
const RETRY_DELAY_SECS: u64 = 5;

pub const MISCONF: CmdError = CmdError::new("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.");

/// Counters and flags behind INFO persistence and the save schedule.
pub struct RdbState {
    me: OnceLock<Weak<Shared>>,
    pub in_progress: AtomicBool,
    started: Mutex<Option<Instant>>,
    pub last_ok: AtomicBool,
    pub last_bgsave_secs: AtomicI64,
    pub saves: AtomicU64,
    pub scheduled: AtomicBool,
    /// Unix seconds of the last BGSAVE attempt.
    last_try: AtomicU64,
    /// Bytes a snapshot held beyond the dataset (its largest shard chunk).
    pub last_cow: AtomicU64,
    pub last_load_keys: AtomicU64,
    pub last_load_expired: AtomicU64,
    /// MISCONF: save points, stop-writes-on-bgsave-error and a failed last save.
    deny_writes: AtomicBool,
    seq: AtomicU64,
}

impl Default for RdbState {
    fn default() -> Self {
        RdbState {
            me: OnceLock::new(),
            in_progress: AtomicBool::new(false),
            started: Mutex::new(None),
            last_ok: AtomicBool::new(true),
            last_bgsave_secs: AtomicI64::new(-1),
            saves: AtomicU64::new(0),
            scheduled: AtomicBool::new(false),
            last_try: AtomicU64::new(0),
            last_cow: AtomicU64::new(0),
            last_load_keys: AtomicU64::new(0),
            last_load_expired: AtomicU64::new(0),
            deny_writes: AtomicBool::new(false),
            seq: AtomicU64::new(0),
        }
    }
}

/// The RDB file's path.
pub fn rdb_path(c: &Config) -> PathBuf {
    c.dir.join(&c.dbfilename)
}

/// The writer settings the config and engine call for.
pub fn rdb_options(sh: &Shared) -> RdbOptions {
    let c = sh.config.read();
    let e = &sh.engine.config;
    RdbOptions {
        compress: c.rdbcompression,
        checksum: c.rdbchecksum,
        aof_base: false,
        policy: e.policy(),
        lfu_decay_time: e.lfu_decay_time(),
        list_fill: e.limits().list_max_listpack_size,
        used_mem: sh.engine.used_memory() as u64,
        redis_ver: crate::commands::connection::REDIS_COMPAT_VERSION,
        functions: sh.functions.codes(),
        keys: true,
    }
}

/// Recomputes the MISCONF flag (after a save, or a config change).
pub fn apply_config(sh: &Shared, c: &Config) {
    let deny = c.stop_writes_on_bgsave_error && !c.save.is_empty() && !sh.rdb.last_ok.load(Relaxed);
    sh.rdb.deny_writes.store(deny, Relaxed);
}

/// MISCONF for write commands (and PING) while the last background save failed.
#[inline]
pub fn misconf(sh: &Shared, cmd: &Command, flags: impl FnOnce() -> u32) -> Option<CmdError> {
    if !sh.rdb.deny_writes.load(Relaxed) {
        return None;
    }
    (flags() & WRITE != 0 || cmd.name == "ping").then_some(MISCONF)
}

fn set_status(sh: &Shared, ok: bool) {
    sh.rdb.last_ok.store(ok, Relaxed);
    apply_config(sh, &sh.config.read());
}

/// Called once the server's `Arc` exists: keeps a handle for background
/// saves, and loads `<dir>/<dbfilename>` unless the AOF is on (it loads
/// instead, as Redis's loadDataFromDisk). A corrupt file is an error.
pub fn start(shared: &Arc<Shared>) -> io::Result<()> {
    let _ = shared.rdb.me.set(Arc::downgrade(shared));
    let (aof, path) = {
        let c = shared.config.read();
        (c.appendonly, rdb_path(&c))
    };
    if aof {
        return Ok(());
    }
    let f = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(io::Error::new(
                e.kind(),
                format!("can't open the RDB file {}: {e}", path.display()),
            ))
        }
    };
    let t = Instant::now();
    let len = f.metadata()?.len();
    let checksum = shared.config.read().rdbchecksum;
    let engine = &shared.engine;
    engine.events.writes.set_loading(true);
    let opts = rdb::LoadOptions {
        checksum,
        now_ms: larder_engine::access::now_ms(),
        key_delay_us: key_load_delay(shared),
    };
    let r = rdb::load(engine, f, len, &opts);
    engine.events.writes.set_loading(false);
    let rep = r.map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("Short read or OOM loading DB. Unrecoverable error, aborting now. {} is corrupt: {e}", path.display()),
        )
    })?;
    crate::commands::functions::load_from_rdb(shared, &rep.functions).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("Failed loading the functions of {}: {e}", path.display()),
        )
    })?;
    if rep.empty_skipped > 0 {
        tracing::warn!(keys = rep.empty_skipped, "empty keys skipped while loading");
    }
    tracing::info!(
        keys = rep.keys,
        expired = rep.expired_skipped,
        secs = format!("{:.3}", t.elapsed().as_secs_f64()),
        "DB loaded from disk: {}",
        path.display()
    );
    record_load(shared, &rep);
    *shared.repl.loaded.lock() = rep.repl.clone();
    // Loading is not a change to save.
    shared
        .admin
        .dirty_at_save
        .store(engine.stats().dirty, Relaxed);
    Ok(())
}

/// INFO's `rdb_last_load_keys_loaded` / `_expired`, after any RDB load.
fn record_load(sh: &Shared, rep: &rdb::LoadReport) {
    sh.rdb.last_load_keys.store(rep.keys, Relaxed);
    sh.rdb.last_load_expired.store(rep.expired_skipped, Relaxed);
}

/// A fresh temp file name beside the RDB file, and the RDB file's path.
pub(crate) fn temp_path(sh: &Shared) -> (PathBuf, PathBuf) {
    let path = rdb_path(&sh.config.read());
    let dir = path
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let n = sh.rdb.seq.fetch_add(1, Relaxed);
    let tmp = dir.join(format!("temp-{}-{n}.rdb", std::process::id()));
    (tmp, path)
}

/// An open temp file for a save, renamed into place by [`commit`].
fn temp_file(sh: &Shared) -> io::Result<(PathBuf, PathBuf, BufWriter<File>)> {
    let (tmp, path) = temp_path(sh);
    let f = File::create(&tmp)?;
    Ok((tmp, path, BufWriter::with_capacity(1 << 20, f)))
}

fn commit(w: BufWriter<File>, tmp: &Path, path: &Path) -> io::Result<()> {
    let f = w.into_inner().map_err(|e| e.into_error())?;
    f.sync_all()?;
    std::fs::rename(tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Bookkeeping after a save that succeeded (rdbSave / backgroundSaveDoneHandler).
fn saved(sh: &Shared, dirty_at_start: u64, st: &SnapshotStats) {
    sh.admin.dirty_at_save.store(dirty_at_start, Relaxed);
    sh.lastsave.store(unix_secs(), Relaxed);
    sh.rdb.saves.fetch_add(1, Relaxed);
    sh.rdb.last_cow.store(st.max_chunk as u64, Relaxed);
    set_status(sh, true);
}

fn finish_to_file(
    sh: &Shared,
    snap: Snapshot<BufWriter<File>>,
    tmp: &Path,
    path: &Path,
) -> io::Result<SnapshotStats> {
    let dirty = snap.dirty_at_start();
    let r = snap
        .finish(&sh.engine)
        .and_then(|(w, st)| commit(w, tmp, path).map(|_| st));
    match r {
        Ok(st) => {
            saved(sh, dirty, &st);
            Ok(st)
        }
        Err(e) => {
            let _ = std::fs::remove_file(tmp);
            Err(e)
        }
    }
}

fn busy_error() -> io::Error {
    io::Error::other("Background save already in progress")
}

/// Opens a snapshot writing to a temp file beside the dump (removed again
/// if another snapshot is running).
fn begin_to_temp(sh: &Shared) -> io::Result<(Snapshot<BufWriter<File>>, PathBuf, PathBuf)> {
    let (tmp, path, w) = temp_file(sh)?;
    let at_start = || crate::replication::save_position(sh);
    match sh.engine.begin_snapshot(w, rdb_options(sh), at_start) {
        Ok(mut s) => {
            s.set_pace(pace(sh, None));
            Ok((s, tmp, path))
        }
        Err(_) => {
            let _ = std::fs::remove_file(&tmp);
            Err(busy_error())
        }
    }
}

/// Redis's `key-load-delay` (a test hook): how an RDB load is slowed down
/// (`LoadOptions::key_delay_us`).
pub fn key_load_delay(sh: &Shared) -> i64 {
    let c = sh.config.read();
    c.compat
        .get("key-load-delay")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The pace of a save (`rdb-key-save-delay`, a hidden directive Redis's
/// tests slow saves with), abandoned when `cancel` is raised.
pub fn pace(sh: &Shared, cancel: Option<Arc<AtomicBool>>) -> larder_engine::snapshot::Pace {
    let key_delay_us = sh
        .config
        .read()
        .compat
        .get("rdb-key-save-delay")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    larder_engine::snapshot::Pace {
        key_delay_us,
        cancel,
        throttle: None,
    }
}

/// rdbSave: a whole snapshot on this thread.
pub fn save_sync(sh: &Shared) -> io::Result<SnapshotStats> {
    let (snap, tmp, path) = begin_to_temp(sh)?;
    let r = finish_to_file(sh, snap, &tmp, &path);
    match &r {
        Ok(st) => tracing::info!(keys = st.keys, bytes = st.bytes, "DB saved on disk"),
        Err(e) => {
            tracing::warn!("Failed saving the DB: {e}");
            set_status(sh, false);
        }
    }
    r
}

/// rdbSaveBackground: opens the snapshot here, finishes it on a thread.
pub fn bgsave(sh: &Shared) -> io::Result<()> {
    let me = sh
        .rdb
        .me
        .get()
        .and_then(Weak::upgrade)
        .ok_or_else(|| io::Error::other("server not started"))?;
    sh.rdb.last_try.store(unix_secs(), Relaxed);
    let (snap, tmp, path) = begin_to_temp(sh)?;
    sh.rdb.in_progress.store(true, Relaxed);
    *sh.rdb.started.lock() = Some(Instant::now());
    tracing::info!("Background saving started");
    let spawned = std::thread::Builder::new()
        .name("larder-bgsave".into())
        .spawn(move || {
            let t = Instant::now();
            let r = finish_to_file(&me, snap, &tmp, &path);
            let rdb = &me.rdb;
            rdb.last_bgsave_secs
                .store(t.elapsed().as_secs() as i64, Relaxed);
            *rdb.started.lock() = None;
            rdb.in_progress.store(false, Relaxed);
            match r {
                Ok(st) => tracing::info!(
                    keys = st.keys,
                    bytes = st.bytes,
                    shards_by_writers = st.shards_by_writers,
                    "Background saving terminated with success"
                ),
                Err(e) => {
                    tracing::warn!("Background saving error: {e}");
                    set_status(&me, false);
                }
            }
        });
    spawned.map(|_| ())
}

/// The `save` schedule and BGSAVE SCHEDULE, from the server cron.
pub fn cron(sh: &Shared) {
    let rdb = &sh.rdb;
    if rdb.in_progress.load(Relaxed) || sh.engine.snapshot_in_progress() {
        return;
    }
    if rdb.scheduled.swap(false, Relaxed) {
        if let Err(e) = bgsave(sh) {
            tracing::warn!("scheduled BGSAVE failed to start: {e}");
        }
        return;
    }
    let points = sh.config.read().save.clone();
    if points.is_empty() {
        return;
    }
    let now = unix_secs();
    let changes = sh
        .engine
        .stats()
        .dirty
        .saturating_sub(sh.admin.dirty_at_save.load(Relaxed));
    let since = now.saturating_sub(sh.lastsave.load(Relaxed));
    let may_retry = now.saturating_sub(rdb.last_try.load(Relaxed)) > RETRY_DELAY_SECS
        || rdb.last_ok.load(Relaxed);
    if let Some((secs, n)) = points
        .iter()
        .find(|(secs, n)| changes >= *n && since > *secs && may_retry)
    {
        tracing::info!("{n} changes in {secs} seconds. Saving...");
        if let Err(e) = bgsave(sh) {
            tracing::warn!("BGSAVE failed to start: {e}");
        }
    }
}

/// Waits for a running background save to end (bounded), before a save
/// that must happen now (SHUTDOWN, FLUSHALL).
fn wait_idle(sh: &Shared) {
    let t = Instant::now();
    while sh.engine.snapshot_in_progress() && t.elapsed() < Duration::from_secs(600) {
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Before exiting: save when `force` says so, or (None) when save points
/// are configured, as Redis's prepareForShutdown. False if the save failed.
pub fn save_before_shutdown(sh: &Shared, force: Option<bool>) -> bool {
    let want = force.unwrap_or_else(|| !sh.config.read().save.is_empty());
    if !want {
        return true;
    }
    if sh.hot.loading.load(Relaxed) {
        // A dataset half loaded must not replace the file (Redis's
        // SHUTDOWN_NOSAVE while loading).
        tracing::warn!("Not saving the DB before exiting: it is still loading.");
        return true;
    }
    tracing::info!("Saving the final RDB snapshot before exiting.");
    wait_idle(sh);
    match save_sync(sh) {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!("Error trying to save the DB, can't exit: {e}");
            false
        }
    }
}

/// FLUSHALL with save points configured writes the (now empty) dataset
/// at once, as Redis 7.0 does, which counts as a save: no change is left
/// to save (FLUSHALL is propagated all the same).
pub fn after_flushall(sh: &Shared) {
    if sh.config.read().save.is_empty() {
        return;
    }
    wait_idle(sh);
    // A failed save is logged and reported by INFO, as after any save.
    let _ = save_sync(sh);
}

/// DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]: save (unless NOSAVE), empty
/// the keyspace and the functions (unless NOFLUSH), load the file back (with
/// MERGE, its keys and libraries replace those present), all while holding
/// every shard.
pub fn debug_reload(sh: &Shared, save: bool, flush: bool, merge: bool) -> io::Result<()> {
    let engine = &sh.engine;
    let _hold = engine.hold(None);
    if save {
        save_sync(sh)?;
    }
    if flush {
        let mut txn = engine.lock_all(0);
        for db in 0..engine.databases() {
            drop(txn.take_db(db));
        }
    }
    let path = rdb_path(&sh.config.read());
    let f = File::open(&path)?;
    let len = f.metadata()?.len();
    let opts = rdb::LoadOptions {
        checksum: true,
        now_ms: larder_engine::access::now_ms(),
        key_delay_us: 0,
    };
    engine.events.writes.set_loading(true);
    let r = rdb::load_with(engine, f, len, &opts, merge);
    engine.events.writes.set_loading(false);
    let rep = r.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    record_load(sh, &rep);
    crate::commands::functions::reload_from_rdb(sh, &rep.functions, flush, merge)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// The server's `Arc`, for a command that must restart a component taking
/// one (DEBUG LOADAOF restarts the AOF).
pub fn server_arc(sh: &Shared) -> Option<Arc<Shared>> {
    sh.rdb.me.get().and_then(Weak::upgrade)
}

/// INFO persistence, up to the `aof_*` fields (Redis 7.0's names and order).
pub fn info(sh: &Shared, s: &mut String) {
    use std::fmt::Write as _;
    let rdb = &sh.rdb;
    let dirty = sh.engine.stats().dirty;
    let changes = dirty.saturating_sub(sh.admin.dirty_at_save.load(Relaxed));
    let running = rdb.in_progress.load(Relaxed);
    let current = rdb
        .started
        .lock()
        .map_or(-1, |t| t.elapsed().as_secs() as i64);
    // While a BGSAVE or an AOF rewrite runs (Redis reports its rewrite
    // child's progress here too).
    let (done, total) = if running || sh.aof.rewrite_in_progress.load(Relaxed) {
        sh.engine.snapshot_progress()
    } else {
        (0, 0)
    };
    let fields: [(&str, String); 18] = [
        (
            "loading",
            u8::from(sh.hot.loading.load(Relaxed)).to_string(),
        ),
        ("async_loading", "0".into()),
        ("current_cow_peak", "0".into()),
        ("current_cow_size", "0".into()),
        ("current_cow_size_age", "0".into()),
        ("current_fork_perc", "0.00".into()),
        ("current_save_keys_processed", done.to_string()),
        ("current_save_keys_total", total.to_string()),
        ("rdb_changes_since_last_save", changes.to_string()),
        ("rdb_bgsave_in_progress", u8::from(running).to_string()),
        ("rdb_last_save_time", sh.lastsave.load(Relaxed).to_string()),
        (
            "rdb_last_bgsave_status",
            if rdb.last_ok.load(Relaxed) {
                "ok"
            } else {
                "err"
            }
            .into(),
        ),
        (
            "rdb_last_bgsave_time_sec",
            rdb.last_bgsave_secs.load(Relaxed).to_string(),
        ),
        ("rdb_current_bgsave_time_sec", current.to_string()),
        ("rdb_saves", rdb.saves.load(Relaxed).to_string()),
        ("rdb_last_cow_size", rdb.last_cow.load(Relaxed).to_string()),
        (
            "rdb_last_load_keys_expired",
            rdb.last_load_expired.load(Relaxed).to_string(),
        ),
        (
            "rdb_last_load_keys_loaded",
            rdb.last_load_keys.load(Relaxed).to_string(),
        ),
    ];
    for (k, v) in fields {
        let _ = write!(s, "{k}:{v}\r\n");
    }
}

pub const COMMANDS: &[Command] = &[
    cmd(
        "save",
        1,
        ADMIN | NOSCRIPT | NO_MULTI,
        "admin slow dangerous",
        save_cmd,
    ),
    cmd(
        "bgsave",
        -1,
        ADMIN | NOSCRIPT,
        "admin slow dangerous",
        bgsave_cmd,
    ),
];

fn save_cmd(ctx: &mut Ctx<'_>) -> CmdResult {
    if ctx.shared.rdb.in_progress.load(Relaxed) {
        return Err(CmdError::new("ERR Background save already in progress"));
    }
    save_sync(ctx.shared).map_err(|_| CmdError::new("ERR"))?;
    ctx.out.ok();
    Ok(())
}

fn bgsave_cmd(ctx: &mut Ctx<'_>) -> CmdResult {
    let schedule = match ctx.argc() {
        1 => false,
        2 if ctx.arg_is(1, "schedule") => true,
        _ => return Err(SYNTAX),
    };
    let sh = ctx.shared;
    if sh.rdb.in_progress.load(Relaxed) {
        if schedule {
            sh.rdb.scheduled.store(true, Relaxed);
            ctx.out.simple(b"Background saving scheduled");
            return Ok(());
        }
        return Err(CmdError::new("ERR Background save already in progress"));
    }
    if sh.engine.snapshot_in_progress() {
        if schedule {
            sh.rdb.scheduled.store(true, Relaxed);
            ctx.out.simple(b"Background saving scheduled");
            return Ok(());
        }
        return Err(CmdError::new("ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible."));
    }
    match bgsave(sh) {
        Ok(()) => {
            ctx.out.simple(b"Background saving started");
            Ok(())
        }
        Err(e) => {
            tracing::warn!("Can't save in background: {e}");
            set_status(sh, false);
            Err(CmdError::new("ERR"))
        }
    }
}
