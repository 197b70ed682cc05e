//! The append-only file, in Redis 7's multi-part layout.
//!
//! ```text
//!   <dir>/<appenddirname>/
//!       appendonly.aof.manifest         which files, in which order (aof_manifest.rs)
//!       appendonly.aof.<n>.base.rdb     the keyspace at the last rewrite (RDB preamble;
//!                                       .base.aof, as commands, with aof-use-rdb-preamble no)
//!       appendonly.aof.<m>.incr.aof     every write since, as RESP commands
//! ```
//!
//! **Writing.** Commands reach the shared feed (`propagate.rs`) in execution
//! order and are drained into the current INCR file before the replies that
//! acknowledge them go out (`aof_writer.rs`: by the waiting connections
//! themselves, or the writer thread under `always`), with `appendfsync`:
//! `always` fsyncs each drained batch before releasing its replies (group
//! commit); `everysec` fsyncs at most once a second (a kill -9 loses
//! nothing acknowledged; a power loss at most about a second of writes, two
//! in Redis's worst case); `no` leaves it to the OS.
//!
//! **Rewriting** (BGREWRITEAOF, the `auto-aof-rewrite-*` trigger, enabling
//! AOF at runtime, the first start): a new INCR file is created and listed in
//! the manifest; then, at one instant with every shard locked, the feed's
//! unwritten bytes are handed to the writer as the old file's tail and the
//! writer switches to the new file, so every write before the instant is in
//! the old INCR files and every write after in the new one — none lost, none
//! twice. The keyspace as of that instant becomes the new BASE (an RDB with
//! the `aof-base` AUX field, or RESTORE commands when the preamble is off),
//! written to a temp file, fsynced, renamed; then the manifest names the new
//! BASE and the new INCR only, and the old files are deleted. Until a
//! point-in-time snapshot that releases the locks is available, the keyspace
//! is serialized while the shards stay locked (writes wait for the base).
//!
//! **Loading** at startup (AOF wins over RDB when `appendonly yes`, as in
//! Redis's loadAppendOnlyFiles, whose log lines it writes): first an
//! `appendfilename` left in `dir` by a Redis before 7 is moved into the
//! directory as its base (the upgrade; an interrupted one is finished);
//! every file the manifest lists must exist; then the BASE and each INCR
//! file in manifest order — a file that starts with `REDIS` through the RDB
//! loader and the commands after it (an old-style AOF's tail), the rest as
//! commands, each run through the normal dispatcher by a fake client with
//! lazy expiry off and past deadlines kept (`LARDER.MCSET`, a memcached
//! item with its flags, is run by `memcache/aof.rs` instead). A torn last
//! command in the last file is cut off (the file truncated at the last
//! complete command, or before an unfinished MULTI) when
//! `aof-load-truncated yes`, and refused otherwise; anything malformed
//! elsewhere stops the server with the file and offset. History files the
//! manifest still lists are deleted once the AOF is open.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;

use larder_engine::rdb::{self, RdbOptions};
use larder_resp::Args;
use parking_lot::Mutex;

use super::aof_manifest::{sync_dir, AofFile, Manifest};
use super::aof_writer::{self, Out, Switch};
use crate::client::Client;
use crate::command::{flags, Command, Ctx};
use crate::config::Config;
use crate::error::{CmdError, CmdResult};
use crate::shared::Shared;

const FSYNC_NO: u8 = 0;
pub(super) const FSYNC_EVERYSEC: u8 = 1;
pub(super) const FSYNC_ALWAYS: u8 = 2;

/// The AOF's state in `Shared`: the running writer, if any, and the INFO
/// persistence counters.
pub struct AofState {
    run: Mutex<Option<Arc<Aof>>>,
    /// Held for the whole of a rewrite (one at a time).
    rewriting: Mutex<()>,
    /// Startup loading is over: CONFIG SET appendonly may start or stop it.
    ready: AtomicBool,
    /// `appendonly` as last applied: only a change of it starts or stops
    /// the AOF (a CONFIG SET of anything else while it starts must not
    /// schedule a second rewrite).
    want: AtomicBool,
    pub(super) fsync: AtomicU8,
    pub(super) no_fsync_on_rewrite: AtomicBool,
    pub(super) timestamps: AtomicBool,
    /// The open INCR file, for whoever writes it (`aof_writer.rs`).
    pub(super) out: Mutex<Option<Out>>,
    /// A file switch for the writer thread (see the module comment).
    pub(super) switch: Mutex<Option<Switch>>,
    pub rewrite_in_progress: AtomicBool,
    pub rewrite_scheduled: AtomicBool,
    rewrite_started: Mutex<Option<Instant>>,
    pub last_rewrite_time_sec: AtomicI64,
    pub last_bgrewrite_ok: AtomicBool,
    pub rewrites: AtomicU64,
    pub last_write_ok: AtomicBool,
    pub base_size: AtomicU64,
    pub current_size: AtomicU64,
    pub delayed_fsync: AtomicU64,
    /// DEBUG AOF-FLUSH-SLEEP: microseconds to sleep before each write of
    /// the feed to the INCR file (a test hook, as Redis's aof_flush_sleep;
    /// `aof_writer.rs`'s drain sleeps it).
    pub flush_sleep_us: AtomicU64,
    /// Abandons the running rewrite (CONFIG SET appendonly no: Redis kills
    /// its rewrite child).
    kill: Arc<AtomicBool>,
    /// The server, for the threads a command or the cron starts.
    me: std::sync::OnceLock<std::sync::Weak<Shared>>,
}

impl Default for AofState {
    fn default() -> Self {
        AofState {
            run: Mutex::new(None),
            rewriting: Mutex::new(()),
            ready: AtomicBool::new(false),
            want: AtomicBool::new(false),
            fsync: AtomicU8::new(FSYNC_EVERYSEC),
            no_fsync_on_rewrite: AtomicBool::new(false),
            timestamps: AtomicBool::new(false),
            out: Mutex::new(None),
            switch: Mutex::new(None),
            rewrite_in_progress: AtomicBool::new(false),
            rewrite_scheduled: AtomicBool::new(false),
            rewrite_started: Mutex::new(None),
            last_rewrite_time_sec: AtomicI64::new(-1),
            last_bgrewrite_ok: AtomicBool::new(true),
            rewrites: AtomicU64::new(0),
            last_write_ok: AtomicBool::new(true),
            base_size: AtomicU64::new(0),
            current_size: AtomicU64::new(0),
            delayed_fsync: AtomicU64::new(0),
            flush_sleep_us: AtomicU64::new(0),
            kill: Arc::default(),
            me: std::sync::OnceLock::new(),
        }
    }
}

impl AofState {
    pub fn enabled(&self) -> bool {
        self.run.lock().is_some()
    }

    /// Seconds the running rewrite has taken, or -1.
    pub fn current_rewrite_time_sec(&self) -> i64 {
        self.rewrite_started
            .lock()
            .map_or(-1, |t| t.elapsed().as_secs() as i64)
    }
}

/// A running AOF: its directory, manifest and writer thread.
struct Aof {
    dir: PathBuf,
    /// `appendfilename`: the prefix of every file and of the manifest.
    prefix: String,
    manifest: Mutex<Manifest>,
    stop: AtomicBool,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Aof {
    fn manifest_name(&self) -> String {
        format!("{}.manifest", self.prefix)
    }
}

/// INFO persistence's aof_* fields, in Redis's order.
pub fn info_fields(shared: &Shared, s: &mut String) {
    use std::fmt::Write as _;
    let st = &shared.aof;
    let on = shared.config.read().appendonly;
    let _ = write!(
        s,
        "aof_enabled:{}\r\naof_rewrite_in_progress:{}\r\naof_rewrite_scheduled:{}\r\n\
         aof_last_rewrite_time_sec:{}\r\naof_current_rewrite_time_sec:{}\r\n\
         aof_last_bgrewrite_status:{}\r\naof_rewrites:{}\r\naof_rewrites_consecutive_failures:0\r\n\
         aof_last_write_status:{}\r\naof_last_cow_size:0\r\nmodule_fork_in_progress:0\r\n\
         module_fork_last_cow_size:0\r\n",
        u8::from(on),
        u8::from(st.rewrite_in_progress.load(Relaxed)),
        u8::from(st.rewrite_scheduled.load(Relaxed)),
        st.last_rewrite_time_sec.load(Relaxed),
        st.current_rewrite_time_sec(),
        ok_err(st.last_bgrewrite_ok.load(Relaxed)),
        st.rewrites.load(Relaxed),
        ok_err(st.last_write_ok.load(Relaxed)),
    );
    if on {
        let feed = shared.propagate.feed.lock();
        let _ = write!(
            s,
            "aof_current_size:{}\r\naof_base_size:{}\r\naof_pending_rewrite:0\r\n\
             aof_buffer_length:{}\r\naof_pending_bio_fsync:0\r\naof_delayed_fsync:{}\r\n",
            st.current_size.load(Relaxed),
            st.base_size.load(Relaxed),
            feed.buf.len(),
            st.delayed_fsync.load(Relaxed),
        );
    }
}

fn ok_err(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "err"
    }
}

/// Mirrors the AOF directives (called by `Shared::apply_config`); after
/// startup, turns the AOF on or off when `appendonly` changed.
pub fn apply_config(shared: &Shared, c: &Config) {
    let st = &shared.aof;
    let fsync = match c.appendfsync.as_str() {
        "always" => FSYNC_ALWAYS,
        "no" => FSYNC_NO,
        _ => FSYNC_EVERYSEC,
    };
    st.fsync.store(fsync, Relaxed);
    st.no_fsync_on_rewrite
        .store(c.no_appendfsync_on_rewrite, Relaxed);
    st.timestamps.store(c.aof_timestamp_enabled, Relaxed);
    let changed = st.want.swap(c.appendonly, Relaxed) != c.appendonly;
    if st.ready.load(Relaxed) && changed && c.appendonly != st.enabled() {
        st.rewrite_scheduled.store(true, Relaxed);
        // As in Redis, turning it on starts the rewrite at once (INFO shows
        // it in progress when CONFIG SET returns); the cron does the rest.
        if c.appendonly {
            if let Some(arc) = st.me.get().and_then(std::sync::Weak::upgrade) {
                spawn_rewrite(&arc);
            }
        }
    }
    if st.ready.load(Relaxed) && !c.appendonly && st.rewrite_in_progress.load(Relaxed) {
        // The cron stops the AOF once the abandoned rewrite has returned.
        if !st.kill.swap(true, Relaxed) {
            tracing::info!("Killing running AOF rewrite child (the rewrite thread)");
        }
    }
}

/// Where the AOF lives, from the config.
fn paths(c: &Config) -> (PathBuf, String) {
    (c.dir.join(&c.appenddirname), c.appendfilename.clone())
}

fn io_err(msg: String) -> io::Error {
    io::Error::other(msg)
}

/// Startup: with `appendonly yes`, loads the AOF (creating it, with a first
/// base, when there is none) and starts the writer. Call before serving.
/// As Redis's aofLoadManifestFromDisk, a manifest that is there is read
/// (and a bad one stops the server) even with the AOF off.
pub fn start(shared: &Arc<Shared>) -> io::Result<()> {
    let _ = shared.aof.me.set(Arc::downgrade(shared));
    let (on, root, dir, prefix, truncated_ok) = {
        let c = shared.config.read();
        let (dir, prefix) = paths(&c);
        (
            c.appendonly,
            c.dir.clone(),
            dir,
            prefix,
            c.aof_load_truncated,
        )
    };
    let result = read_manifest(&dir, &prefix).and_then(|manifest| {
        if on {
            open_at_start(shared, &root, &dir, &prefix, manifest, truncated_ok)
        } else {
            Ok(())
        }
    });
    shared.aof.ready.store(true, Relaxed);
    result
}

/// The manifest in `dir`, if the directory and the manifest are there. A
/// bad one is logged as Redis does (the line, then the reason, which is
/// the error).
fn read_manifest(dir: &Path, prefix: &str) -> io::Result<Option<Manifest>> {
    let path = dir.join(format!("{prefix}.manifest"));
    if !dir.is_dir() || !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read(&path).map_err(|e| {
        io_err(format!(
            "Fatal error: can't open the AOF manifest file {} for reading: {e}",
            path.display()
        ))
    })?;
    match Manifest::parse(&text) {
        Ok(m) => Ok(Some(m)),
        Err(e) => {
            tracing::warn!("*** FATAL AOF MANIFEST FILE ERROR ***");
            if let Some((n, line)) = &e.line {
                tracing::warn!("Reading the manifest file, at line {n}");
                tracing::warn!(">>> '{line}'");
            }
            Err(io_err(format!("{e} in {}", path.display())))
        }
    }
}

/// aofUpgradePrepare: an `appendfilename` in `dir` itself is an AOF from
/// before Redis 7 (one file, maybe an RDB preamble and commands). It
/// becomes the base of the multi-part layout when there is no AOF
/// directory, no AOF listed in it, or only a base of that name which is not
/// in it yet (an upgrade that stopped between the manifest and the move):
/// the manifest naming it is written first, then the file moves in, so a
/// crash anywhere in between is finished at the next start.
fn upgrade_old_aof(root: &Path, dir: &Path, prefix: &str, m: &mut Manifest) -> io::Result<()> {
    let old = root.join(prefix);
    if !old.is_file() {
        return Ok(());
    }
    let empty = m.base.is_none() && m.incrs.is_empty();
    let interrupted = m.incrs.is_empty()
        && m.base.as_ref().is_some_and(|b| b.name == prefix)
        && !dir.join(prefix).exists();
    if dir.is_dir() && !empty && !interrupted {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| {
        io_err(format!(
            "Can't open or create append-only dir {}: {e}",
            dir.display()
        ))
    })?;
    m.base = Some(AofFile {
        name: prefix.to_string(),
        seq: 1,
    });
    m.persist(dir, &format!("{prefix}.manifest"))
        .map_err(|e| io_err(format!("Can't persist the AOF manifest: {e}")))?;
    std::fs::rename(&old, dir.join(prefix)).map_err(|e| {
        io_err(format!(
            "Error trying to move the old AOF file {prefix} into dir {}: {e}",
            dir.display()
        ))
    })?;
    let _ = sync_dir(dir);
    let _ = sync_dir(root);
    tracing::info!(
        "Successfully migrated an old-style AOF file ({prefix}) into the AOF directory ({}).",
        dir.file_name()
            .map_or(dir.as_os_str(), |n| n)
            .to_string_lossy()
    );
    Ok(())
}

/// loadAppendOnlyFiles then aofOpenIfNeededOnServerStart and
/// aofDelHistoryFiles.
fn open_at_start(
    shared: &Arc<Shared>,
    root: &Path,
    dir: &Path,
    prefix: &str,
    manifest: Option<Manifest>,
    truncated_ok: bool,
) -> io::Result<()> {
    let mut manifest = manifest.unwrap_or_default();
    upgrade_old_aof(root, dir, prefix, &mut manifest)?;
    if manifest.base.is_none() && manifest.incrs.is_empty() {
        // No AOF yet: a first base of the (empty) keyspace and INCR 1.
        std::fs::create_dir_all(dir).map_err(|e| {
            io_err(format!(
                "Can't open or create append-only dir {}: {e}",
                dir.display()
            ))
        })?;
        let aof = Arc::new(Aof {
            dir: dir.to_path_buf(),
            prefix: prefix.to_string(),
            manifest: Mutex::new(manifest),
            stop: AtomicBool::new(false),
            thread: Mutex::new(None),
        });
        rewrite_with(shared, &aof, Enable::Fresh).map_err(io_err)?;
        let m = aof.manifest.lock();
        if let Some(b) = &m.base {
            tracing::info!("Creating AOF base file {} on server start", b.name);
        }
        if let Some(i) = m.incrs.last() {
            tracing::info!("Creating AOF incr file {} on server start", i.name);
        }
        return Ok(());
    }
    // getBaseAndIncrAppendOnlyFilesSize: every file listed must be there.
    let mut total = 0;
    for f in manifest.base.iter().chain(&manifest.incrs) {
        match std::fs::metadata(dir.join(&f.name)) {
            Ok(m) => total += m.len(),
            Err(e) => {
                return Err(io_err(format!(
                    "Unable to obtain the AOF file {} length. stat: {e}",
                    f.name
                )))
            }
        }
    }
    if total > 0 {
        let started = Instant::now();
        let loaded = load(shared, dir, prefix, &manifest, truncated_ok).map_err(io_err)?;
        tracing::info!(
            "DB loaded from append only file: {:.3} seconds ({} commands)",
            started.elapsed().as_secs_f64(),
            loaded
        );
    }
    // Append to the last INCR file, or to a new one if there is none.
    let (name, mut dirty) = match manifest.incrs.last() {
        Some(last) => (last.name.clone(), false),
        None => {
            let seq = manifest.next_incr_seq();
            let name = incr_name(prefix, seq);
            manifest.incrs.push(AofFile {
                name: name.clone(),
                seq,
            });
            (name, true)
        }
    };
    let file = open_append(&dir.join(&name))
        .map_err(|e| io_err(format!("Can't open the append-only file {name}: {e}")))?;
    if dirty {
        tracing::info!("Creating AOF incr file {name} on server start");
    } else {
        tracing::info!("Opening AOF incr file {name} on server start");
    }
    // aofDelHistoryFiles: what a rewrite left listed as history goes now.
    for h in std::mem::take(&mut manifest.history) {
        tracing::info!("Removing the history file {} in the background", h.name);
        let _ = std::fs::remove_file(dir.join(&h.name));
        dirty = true;
    }
    if dirty {
        manifest
            .persist(dir, &format!("{prefix}.manifest"))
            .map_err(|e| io_err(format!("Can't persist the AOF manifest: {e}")))?;
    }
    let aof = Arc::new(Aof {
        dir: dir.to_path_buf(),
        prefix: prefix.to_string(),
        manifest: Mutex::new(manifest),
        stop: AtomicBool::new(false),
        thread: Mutex::new(None),
    });
    update_sizes(shared, &aof);
    launch(shared, aof, file);
    crate::propagate::attach_aof(shared, true);
    Ok(())
}

fn incr_name(prefix: &str, seq: u64) -> String {
    format!("{prefix}.{seq}.incr.aof")
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// Recomputes aof_base_size and aof_current_size from the files.
fn update_sizes(shared: &Shared, aof: &Aof) {
    let m = aof.manifest.lock();
    let size = |f: &AofFile| {
        std::fs::metadata(aof.dir.join(&f.name))
            .map(|m| m.len())
            .unwrap_or(0)
    };
    let base = m.base.as_ref().map_or(0, size);
    let incr: u64 = m.incrs.iter().map(size).sum();
    shared.aof.base_size.store(base, Relaxed);
    shared.aof.current_size.store(base + incr, Relaxed);
}

/// Starts the writer thread on `file` and registers the running AOF.
fn launch(shared: &Arc<Shared>, aof: Arc<Aof>, file: File) {
    *shared.aof.out.lock() = Some(Out::new(file));
    let (s, a) = (shared.clone(), aof.clone());
    let t = std::thread::Builder::new()
        .name("aof-writer".into())
        .spawn(move || aof_writer::run(&s, &a.stop))
        .expect("spawn the AOF writer thread");
    *aof.thread.lock() = Some(t);
    *shared.aof.run.lock() = Some(aof);
    let feed = &shared.propagate.feed;
    let offset = feed.lock().offset;
    feed.reset_synced(offset);
}

/// Stops the writer after it has written and fsynced everything queued
/// (SHUTDOWN, CONFIG SET appendonly no).
pub fn stop(shared: &Shared) {
    crate::propagate::attach_aof(shared, false);
    let Some(aof) = shared.aof.run.lock().take() else {
        return;
    };
    aof.stop.store(true, Relaxed);
    shared.propagate.feed.kick();
    let thread = aof.thread.lock().take();
    if let Some(t) = thread {
        let _ = t.join();
    }
}

/// Why a rewrite runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Enable {
    /// BGREWRITEAOF or the automatic trigger, on a running AOF.
    No,
    /// CONFIG SET appendonly yes: propagation starts at the switch instant.
    Runtime,
    /// First start without an AOF: base and INCR get sequence 1.
    Fresh,
    /// BGREWRITEAOF with the AOF off: a new base alone, which the manifest
    /// then names without any INCR (Redis writes no INCR while off).
    Offline,
}

/// Rewrites the running AOF, or creates one (`enable`).
fn rewrite_with(shared: &Arc<Shared>, aof: &Arc<Aof>, enable: Enable) -> Result<(), String> {
    let st = &shared.aof;
    let _one = st.rewriting.lock();
    st.kill.store(false, Relaxed);
    st.rewrite_in_progress.store(true, Relaxed);
    *st.rewrite_started.lock() = Some(Instant::now());
    let started = Instant::now();
    let r = rewrite_inner(shared, aof, enable);
    st.rewrite_in_progress.store(false, Relaxed);
    *st.rewrite_started.lock() = None;
    st.last_rewrite_time_sec
        .store(started.elapsed().as_secs() as i64, Relaxed);
    st.last_bgrewrite_ok.store(r.is_ok(), Relaxed);
    match &r {
        Ok(()) => {
            st.rewrites.fetch_add(1, Relaxed);
            tracing::info!("Background AOF rewrite finished successfully");
        }
        Err(e) => tracing::warn!("Background AOF rewrite failed: {e}"),
    }
    r
}

fn rewrite_inner(shared: &Arc<Shared>, aof: &Arc<Aof>, enable: Enable) -> Result<(), String> {
    let rdb_base = shared.config.read().aof_use_rdb_preamble;
    let compress = true;
    let dir = &aof.dir;
    let e = |what: &str, err: io::Error| format!("{what}: {err}");
    // 1. A new INCR file, listed before anything is written to it.
    let (incr_seq, base_seq) = {
        let m = aof.manifest.lock();
        let incr = if enable == Enable::Fresh {
            1
        } else {
            m.next_incr_seq()
        };
        let base = if enable == Enable::Fresh {
            1
        } else {
            m.next_base_seq()
        };
        (incr, base)
    };
    let incr = (enable != Enable::Offline).then(|| AofFile {
        name: incr_name(&aof.prefix, incr_seq),
        seq: incr_seq,
    });
    let new_file = match &incr {
        Some(f) => Some(
            open_append(&dir.join(&f.name)).map_err(|x| e("Can't open the new INCR file", x))?,
        ),
        None => None,
    };
    if let (Some(f), false) = (&incr, enable == Enable::Fresh) {
        let mut m = aof.manifest.lock();
        m.incrs.push(f.clone());
        m.persist(dir, &aof.manifest_name())
            .map_err(|x| e("Can't persist the AOF manifest", x))?;
    }
    // 2. The switch instant, and the base as of it.
    let ext = if rdb_base { "rdb" } else { "aof" };
    let base = AofFile {
        name: format!("{}.{base_seq}.base.{ext}", aof.prefix),
        seq: base_seq,
    };
    let tmp = dir.join(format!("temp-rewriteaof-bg-{}.aof", std::process::id()));
    let mut out = std::io::BufWriter::with_capacity(
        1 << 20,
        File::create(&tmp).map_err(|x| e("Can't create the temp base", x))?,
    );
    let opts = RdbOptions {
        compress,
        aof_base: true,
        policy: shared.engine.config.policy(),
        lfu_decay_time: shared.engine.config.lfu_decay_time(),
        list_fill: shared.config.read().limits.list_max_listpack_size,
        used_mem: shared.engine.used_memory() as u64,
        functions: shared.functions.codes(),
        ..RdbOptions::default()
    };
    // Runs at the instant, with every shard locked.
    let switch = {
        let (shared, aof) = (shared.clone(), aof.clone());
        move || {
            // Offline: the stream is not the AOF's; nothing switches.
            let new_file = new_file?;
            let feed = &shared.propagate.feed;
            let mut g = feed.switch_point();
            let tail = std::mem::take(&mut g.buf);
            if enable == Enable::No {
                *shared.aof.switch.lock() = Some(Switch {
                    tail,
                    file: new_file,
                });
                feed.kick();
            } else {
                drop(g);
                launch(&shared, aof, new_file);
                crate::propagate::attach_aof(&shared, true);
            }
            // (An AOF base names no replication position.)
            None
        }
    };
    if enable == Enable::Runtime {
        // A command reads the propagation switch when it starts: one that
        // began while it was off and writes after the instant would be in
        // neither the base nor the new INCR. So the switch goes on first
        // (the feed drops what it gets until the AOF attaches at the
        // instant: the base has it) and the commands running now end.
        shared.engine.events.writes.set_on(true);
        crate::propagate::quiesce_blocking();
    }
    let engine = &shared.engine;
    let pace = crate::persist::snapshot::pace(shared, Some(shared.aof.kill.clone()));
    let file = if rdb_base {
        // The fork-less snapshot: writers go on while the base is written.
        engine
            .begin_snapshot(out, opts, switch)
            .map_err(io::Error::other)
            .and_then(|mut snap| {
                snap.set_pace(pace);
                snap.finish(engine)
            })
            .and_then(|(out, _)| out.into_inner().map_err(|e| e.into_error()))
    } else {
        // Commands: serialized with every shard locked.
        let mut txn = engine.lock_all(0);
        switch();
        let ts = shared.aof.timestamps.load(Relaxed);
        write_base(&mut txn, &mut out, &opts, &pace, ts)
            .and_then(|()| out.into_inner().map_err(|e| e.into_error()))
    };
    if let Err(x) = &file {
        let _ = std::fs::remove_file(&tmp);
        if x.kind() == io::ErrorKind::Interrupted {
            return Err("killed".into());
        }
    }
    let file = file.map_err(|x| e("Can't write the base", x))?;
    file.sync_all().map_err(|x| e("Can't fsync the base", x))?;
    drop(file);
    std::fs::rename(&tmp, dir.join(&base.name)).map_err(|x| e("Can't rename the base", x))?;
    // 3. The manifest names the new base and INCR only; the rest goes.
    let old = {
        let mut m = aof.manifest.lock();
        let mut old: Vec<AofFile> = m.history.drain(..).collect();
        old.extend(m.base.take());
        let kept = incr.as_ref().map(|f| f.seq);
        old.extend(m.incrs.drain(..).filter(|f| Some(f.seq) != kept));
        m.base = Some(base);
        m.incrs = incr.into_iter().collect();
        m.persist(dir, &aof.manifest_name())
            .map_err(|x| e("Can't persist the AOF manifest", x))?;
        old
    };
    for f in old {
        let _ = std::fs::remove_file(dir.join(&f.name));
    }
    let _ = sync_dir(dir);
    update_sizes(shared, aof);
    Ok(())
}

/// Writes every database of the locked keyspace as an AOF base of
/// commands: RESTORE ... ABSTTL, which any Redis loads (the payload is
/// DUMP's, so one encoder covers every type). With `aof-timestamp-enabled`
/// it starts with a `#TS:` annotation, as Redis's rewriteAppendOnlyFileRio.
fn write_base(
    txn: &mut larder_engine::Txn<'_>,
    out: &mut impl Write,
    opts: &RdbOptions,
    pace: &larder_engine::snapshot::Pace,
    timestamp: bool,
) -> io::Result<()> {
    let engine = txn.engine();
    let mut buf = Vec::with_capacity(128 * 1024);
    if timestamp {
        let now = crate::shared::unix_secs();
        buf.extend_from_slice(format!("#TS:{now}\r\n").as_bytes());
    }
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let mut itoa = itoa::Buffer::new();
    let mut payload = Vec::new();
    // rewriteFunctions: each library as FUNCTION LOAD, before the keys.
    for code in &opts.functions {
        crate::propagate::encode(&mut buf, [&b"FUNCTION"[..], b"LOAD", code]);
    }
    for db in 0..engine.databases() {
        txn.db = db;
        keys.clear();
        txn.keys(|k| keys.push(k.to_vec()));
        if keys.is_empty() {
            continue;
        }
        crate::propagate::encode(&mut buf, [&b"SELECT"[..], itoa.format(db).as_bytes()]);
        for k in &keys {
            let key = engine.key(k);
            let Some(e) = txn.get_ref(&key) else { continue };
            if e.mc().is_some_and(|m| m.is_durable()) {
                // A memcached item's flags and bits: LARDER.MCSET.
                crate::memcache::aof::with_item_command(&e, |args| {
                    crate::propagate::encode(&mut buf, args.iter().copied())
                });
            } else {
                payload.clear();
                rdb::write::dump_payload(&mut payload, e, opts.compress, opts.list_fill);
                let ttl = itoa.format(e.expire_at()).as_bytes().to_vec();
                crate::propagate::encode(&mut buf, [&b"RESTORE"[..], k, &ttl, &payload, b"ABSTTL"]);
            }
            if buf.len() >= 64 * 1024 {
                out.write_all(&buf)?;
                buf.clear();
            }
            pace.after_keys(1)?;
        }
    }
    out.write_all(&buf)?;
    out.flush()
}

/// Loads the files of `m` into the keyspace (loadAppendOnlyFiles, past its
/// checks). `prefix` is `appendfilename`: a base of that very name is an
/// old-style AOF (upgraded from Redis 6), an RDB preamble and a tail of
/// commands. Returns the commands run.
fn load(
    shared: &Shared,
    dir: &Path,
    prefix: &str,
    m: &Manifest,
    truncated_ok: bool,
) -> Result<u64, String> {
    let engine = &shared.engine;
    engine.events.writes.set_loading(true);
    let handle = shared
        .clients
        .register("aof-loader".into(), String::new(), false);
    let mut client = Client::new(handle, true);
    client.replay = true;
    let r = (|| {
        let mut cmds = 0;
        let files = m.base.iter().map(|f| (f, "base"));
        let files = files.chain(m.incrs.iter().map(|f| (f, "incr")));
        let total = usize::from(m.base.is_some()) + m.incrs.len();
        for (i, (f, kind)) in files.enumerate() {
            let started = Instant::now();
            let last = i + 1 == total;
            let old_style = f.name == prefix;
            cmds += load_file(
                shared,
                &mut client,
                dir,
                &f.name,
                old_style,
                last,
                truncated_ok,
            )?;
            tracing::info!(
                "DB loaded from {kind} file {}: {:.3} seconds",
                f.name,
                started.elapsed().as_secs_f64()
            );
        }
        Ok(cmds)
    })();
    crate::commands::multi::discard_all(shared, &mut client);
    shared.clients.unregister(client.id);
    engine.events.writes.set_loading(false);
    // Loading is not traffic: clear what the fake client's commands counted.
    for s in &shared.commands.stats {
        s.reset();
    }
    shared.stats.total_commands_processed.store(0, Relaxed);
    r
}

/// Loads one file of the AOF (loadSingleAppendOnlyFile): whatever its name,
/// one that starts with `REDIS` is an RDB (a base, or an old-style AOF's
/// preamble), and the commands after the RDB's checksum are run too; an
/// empty file is nothing to load.
fn load_file(
    shared: &Shared,
    client: &mut Client,
    dir: &Path,
    name: &str,
    old_style: bool,
    last: bool,
    truncated_ok: bool,
) -> Result<u64, String> {
    use std::io::{Read, Seek, SeekFrom};
    let path = dir.join(name);
    let mut f = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(format!("The append log file {name} doesn't exist: {e}"))
        }
        Err(e) => {
            return Err(format!(
                "Fatal error: can't open the append log file {name} for reading: {e}"
            ))
        }
    };
    let read_err =
        |e: io::Error| format!("Unrecoverable error reading the append only file {name}: {e}");
    let len = f.metadata().map_err(read_err)?.len();
    if len == 0 {
        return Ok(0);
    }
    let mut sig = [0u8; 5];
    let rdb = f.read_exact(&mut sig).is_ok() && &sig == b"REDIS";
    let mut start = 0;
    if rdb {
        f.seek(SeekFrom::Start(0)).map_err(read_err)?;
        if old_style {
            tracing::info!("Reading RDB preamble from AOF file...");
        } else {
            tracing::info!("Reading RDB base file on AOF loading...");
        }
        start = load_rdb(shared, &f, len).map_err(|e| {
            if old_style {
                tracing::warn!(
                    "Error reading the RDB preamble of the AOF file {name}, AOF loading aborted"
                );
            } else {
                tracing::warn!("Error reading the RDB base file {name}, AOF loading aborted");
            }
            format!("Bad file format reading the append only file {name}: {e}")
        })?;
        if old_style {
            tracing::info!("Reading the remaining AOF tail...");
        }
    }
    f.seek(SeekFrom::Start(start)).map_err(read_err)?;
    let mut data = Vec::with_capacity(len.saturating_sub(start) as usize);
    f.read_to_end(&mut data).map_err(read_err)?;
    load_commands(
        shared,
        client,
        &path,
        name,
        &data,
        start,
        last,
        truncated_ok,
    )
}

/// Loads the RDB at the start of `f`; returns its length.
fn load_rdb(shared: &Shared, f: &File, len: u64) -> Result<u64, String> {
    let opts = rdb::LoadOptions {
        checksum: true,
        now_ms: 0,
        key_delay_us: 0,
    };
    let rep = rdb::load(
        &shared.engine,
        std::io::BufReader::with_capacity(1 << 20, f),
        len,
        &opts,
    )
    .map_err(|e| e.to_string())?;
    crate::commands::functions::load_from_rdb(shared, &rep.functions)?;
    Ok(rep.bytes)
}

/// How a command failed to parse.
enum Parse {
    /// The file ends inside it.
    Truncated,
    /// Not the AOF's format.
    Bad,
}

/// Parses one `*N\r\n$len\r\n...` command at `pos` into `ranges`; returns
/// the position after it.
fn parse_command(
    data: &[u8],
    pos: usize,
    ranges: &mut Vec<(usize, usize)>,
) -> Result<usize, Parse> {
    fn line(data: &[u8], pos: usize, tag: u8) -> Result<(i64, usize), Parse> {
        match data.get(pos) {
            None => return Err(Parse::Truncated),
            Some(&c) if c != tag => return Err(Parse::Bad),
            _ => {}
        }
        let rest = &data[pos + 1..];
        let Some(nl) = rest.iter().take(32).position(|&b| b == b'\n') else {
            return Err(if rest.len() < 32 {
                Parse::Truncated
            } else {
                Parse::Bad
            });
        };
        let digits = rest[..nl].strip_suffix(b"\r").ok_or(Parse::Bad)?;
        let n = larder_resp::string2ll(digits).ok_or(Parse::Bad)?;
        Ok((n, pos + 1 + nl + 1))
    }
    ranges.clear();
    let (argc, mut at) = line(data, pos, b'*')?;
    if argc < 1 {
        return Err(Parse::Bad);
    }
    for _ in 0..argc {
        let (len, next) = line(data, at, b'$')?;
        let len = usize::try_from(len).map_err(|_| Parse::Bad)?;
        let end = next.checked_add(len).ok_or(Parse::Bad)?;
        if data.len() < end + 2 {
            return Err(Parse::Truncated);
        }
        if &data[end..end + 2] != b"\r\n" {
            return Err(Parse::Bad);
        }
        ranges.push((next, end));
        at = end + 2;
    }
    Ok(at)
}

/// Runs the commands of one AOF file, `data` being its bytes from offset
/// `start` on (after an RDB preamble, if any).
#[allow(clippy::too_many_arguments)]
fn load_commands(
    shared: &Shared,
    client: &mut Client,
    path: &Path,
    name: &str,
    data: &[u8],
    start: u64,
    last: bool,
    truncated_ok: bool,
) -> Result<u64, String> {
    let mut ranges = Vec::new();
    let mut out = Vec::new();
    let mut pos = 0;
    let mut cmds = 0;
    // Where a MULTI began that has not seen its EXEC yet.
    let mut multi_at: Option<usize> = None;
    let torn = loop {
        if pos == data.len() {
            if multi_at.is_some() {
                tracing::warn!("Revert incomplete MULTI/EXEC transaction in AOF file {name}");
            }
            break multi_at;
        }
        if data[pos] == b'#' {
            // An annotation (#TS:...): skipped to the end of its line.
            match data[pos..].iter().position(|&b| b == b'\n') {
                Some(nl) => {
                    pos += nl + 1;
                    continue;
                }
                None => break Some(pos),
            }
        }
        // The offset in the file, for the messages.
        let at = start + pos as u64;
        let next = match parse_command(data, pos, &mut ranges) {
            Ok(n) => n,
            Err(Parse::Truncated) => break Some(multi_at.unwrap_or(pos)),
            Err(Parse::Bad) => {
                return Err(format!(
                    "Bad file format reading the append only file {name} at offset {at}: \
                     make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>"
                ))
            }
        };
        let args = Args::from_parts(data, &ranges);
        if args[0].eq_ignore_ascii_case(crate::memcache::aof::MCSET) {
            // A memcached item (not a client command: run here).
            crate::memcache::aof::load_item(shared, client.db, &args).map_err(|e| {
                format!("Bad file format reading the append only file {name} at offset {at}: {e}")
            })?;
            cmds += 1;
            pos = next;
            continue;
        }
        let Some(idx) = shared.commands.lookup(&args[0]) else {
            return Err(format!(
                "Unknown command '{}' reading the append only file {name} at offset {at}",
                String::from_utf8_lossy(&args[0])
            ));
        };
        let cmd_name = shared.commands.get(idx).name;
        if cmd_name == "multi" {
            multi_at = Some(pos);
        } else if cmd_name == "exec" {
            multi_at = None;
        }
        out.clear();
        crate::dispatch::dispatch(shared, client, args, &mut out);
        cmds += 1;
        pos = next;
    };
    let Some(valid) = torn else {
        return Ok(cmds);
    };
    let valid = start + valid as u64;
    if truncated_ok && !last {
        // Redis truncates the file first, then stops; Larder leaves it.
        return Err(format!(
            "Fatal error: the truncated file is not the last file \
             ({name}, unexpected end of file at offset {valid})"
        ));
    }
    if !truncated_ok {
        return Err(format!(
            "Unexpected end of file reading the append only file {name} at offset {valid}. \
             You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix \
             <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' \
             configuration option to yes and restart the server."
        ));
    }
    crate::commands::multi::discard_all(shared, client);
    tracing::warn!("!!! Warning: short read while loading the AOF file {name}!!!");
    tracing::warn!("!!! Truncating the AOF {name} at offset {valid} !!!");
    OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| f.set_len(valid).and_then(|()| f.sync_all()))
        .map_err(|e| format!("Error truncating the AOF file {name}: {e}"))?;
    tracing::warn!("AOF {name} loaded anyway because aof-load-truncated is enabled");
    Ok(cmds)
}

/// A rewrite in the background (BGREWRITEAOF, the automatic trigger,
/// CONFIG SET appendonly yes). False if one is already running.
fn spawn_rewrite(shared: &Arc<Shared>) -> bool {
    if shared.aof.rewrite_in_progress.swap(true, Relaxed) {
        return false;
    }
    shared.aof.rewrite_scheduled.store(false, Relaxed);
    let s = shared.clone();
    std::thread::spawn(move || {
        let running = s.aof.run.lock().clone();
        let r = match running {
            Some(aof) => rewrite_with(&s, &aof, Enable::No),
            None if s.config.read().appendonly => enable_at_runtime(&s),
            None => rewrite_offline(&s),
        };
        if r.is_err() {
            s.aof.rewrite_in_progress.store(false, Relaxed);
        }
    });
    true
}

/// The AOF the directory holds (an empty manifest if none), not running.
fn on_disk(shared: &Shared) -> Result<Arc<Aof>, String> {
    let (dir, prefix) = paths(&shared.config.read());
    std::fs::create_dir_all(&dir).map_err(|e| format!("Can't create {}: {e}", dir.display()))?;
    let manifest = std::fs::read(dir.join(format!("{prefix}.manifest")))
        .ok()
        .and_then(|t| Manifest::parse(&t).ok())
        .unwrap_or_default();
    Ok(Arc::new(Aof {
        dir,
        prefix,
        manifest: Mutex::new(manifest),
        stop: AtomicBool::new(false),
        thread: Mutex::new(None),
    }))
}

/// BGREWRITEAOF with the AOF off (see [`Enable::Offline`]).
fn rewrite_offline(shared: &Arc<Shared>) -> Result<(), String> {
    rewrite_with(shared, &on_disk(shared)?, Enable::Offline)
}

/// DEBUG LOADAOF with the AOF off: loads what the directory's manifest
/// names, as Redis does (into an emptied keyspace).
pub fn load_from_disk(shared: &Shared) -> Result<(), String> {
    let aof = on_disk(shared)?;
    let m = aof.manifest.lock();
    if m.base.is_none() && m.incrs.is_empty() {
        return Err("no AOF in the directory".into());
    }
    let truncated_ok = shared.config.read().aof_load_truncated;
    load(shared, &aof.dir, &aof.prefix, &m, truncated_ok).map(|_| ())
}

/// CONFIG SET appendonly yes: a rewrite that starts propagation at its
/// switch instant, over a new INCR next to what the directory holds.
fn enable_at_runtime(shared: &Arc<Shared>) -> Result<(), String> {
    let aof = on_disk(shared)?;
    let r = rewrite_with(shared, &aof, Enable::Runtime);
    if r.is_err() && !shared.aof.enabled() {
        crate::propagate::attach_aof(shared, false);
    }
    r
}

/// Server cron: starts or stops the AOF after CONFIG SET appendonly, and
/// the automatic rewrite past `auto-aof-rewrite-percentage`.
pub fn cron(shared: &Arc<Shared>) {
    let st = &shared.aof;
    if !st.ready.load(Relaxed) {
        return;
    }
    let (want, perc, min) = {
        let c = shared.config.read();
        (
            c.appendonly,
            c.auto_aof_rewrite_percentage,
            c.auto_aof_rewrite_min_size,
        )
    };
    let on = st.enabled();
    if st.rewrite_in_progress.load(Relaxed) {
        return;
    }
    if !want && on {
        stop(shared);
        st.rewrite_scheduled.store(false, Relaxed);
        return;
    }
    if want && !on {
        spawn_rewrite(shared);
        return;
    }
    if st.rewrite_scheduled.load(Relaxed) {
        // BGREWRITEAOF during a BGSAVE: once the snapshot slot is free.
        if !shared.engine.snapshot_in_progress() && !shared.rdb.in_progress.load(Relaxed) {
            spawn_rewrite(shared);
        }
        return;
    }
    if on && perc > 0 {
        let size = st.current_size.load(Relaxed);
        let base = st.base_size.load(Relaxed).max(1);
        if size > min && (size - base.min(size)) * 100 / base >= perc {
            tracing::info!(
                "Starting automatic rewriting of AOF on {}% growth",
                (size - base.min(size)) * 100 / base
            );
            spawn_rewrite(shared);
        }
    }
}

fn bgrewriteaof(ctx: &mut Ctx<'_>) -> CmdResult {
    let shared = ctx.shared;
    let st = &shared.aof;
    if st.rewrite_in_progress.load(Relaxed) {
        return Err(CmdError::new(
            "ERR Background append only file rewriting already in progress",
        ));
    }
    let Some(arc) = st.me.get().and_then(std::sync::Weak::upgrade) else {
        return Err(CmdError::new(
            "ERR Background append only file rewriting failed",
        ));
    };
    if shared.rdb.in_progress.load(Relaxed) || shared.engine.snapshot_in_progress() {
        // A BGSAVE (or a replica's full sync) holds the snapshot: as Redis
        // with another child active, the rewrite waits for it (cron).
        st.rewrite_scheduled.store(true, Relaxed);
        ctx.out
            .simple(b"Background append only file rewriting scheduled");
        return Ok(());
    }
    if !spawn_rewrite(&arc) {
        return Err(CmdError::new(
            "ERR Background append only file rewriting already in progress",
        ));
    }
    ctx.out
        .simple(b"Background append only file rewriting started");
    Ok(())
}

pub const COMMANDS: &[Command] = &[Command {
    name: "bgrewriteaof",
    arity: 1,
    flags: flags::ADMIN | flags::NOSCRIPT,
    keys: (0, 0, 0),
    acl: "admin slow dangerous",
    handler: bgrewriteaof,
    subcommands: &[],
}];
