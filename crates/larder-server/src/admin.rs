//! State behind the admin commands that the dispatcher and the commands
//! feed: error counts per prefix (INFO errorstats), latency events (LATENCY,
//! fed for commands slower than `latency-monitor-threshold` ms), the memory
//! peak (INFO memory), the dirty counter at the last save, and the lazyfree
//! counters of FLUSHALL/FLUSHDB ASYNC; and the per-command latency
//! histograms (LATENCY HISTOGRAM, INFO latencystats: [`Histograms`]).
//!
//! Costs: nothing on a command that succeeds within the threshold but one
//! relaxed atomic load (and its histogram bucket increment); an error reply takes a small mutex to count its
//! prefix (at most 128 distinct prefixes are kept, as Redis does).

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use larder_resp::Args;
use parking_lot::Mutex;

use crate::command::{Command, CommandTable};

use crate::shared::unix_secs;

/// Distinct error prefixes kept for INFO errorstats.
const MAX_ERROR_KINDS: usize = 128;
/// Samples kept per latency event (Redis's LATENCY_TS_LEN).
const LATENCY_SAMPLES: usize = 160;

/// One latency event class (`command`, `fast-command`).
#[derive(Clone, Debug, Default)]
pub struct LatencyEvent {
    /// (unix seconds, milliseconds), oldest first; one sample per second,
    /// keeping the worst.
    pub history: VecDeque<(u64, u64)>,
    pub max_ms: u64,
}

impl LatencyEvent {
    pub fn latest(&self) -> (u64, u64) {
        self.history.back().copied().unwrap_or((0, 0))
    }
}

/// Entries handed to a background thread: still pending, and freed so far.
#[derive(Default)]
pub struct LazyFree {
    pub pending: AtomicU64,
    pub freed: AtomicU64,
}

#[derive(Default)]
pub struct AdminState {
    pub mem_peak: AtomicU64,
    /// Used memory once the server was set up, before loading data
    /// (INFO's `used_memory_startup`).
    pub mem_startup: AtomicU64,
    /// `Stats::dirty` when the dataset was last saved (or at start).
    pub dirty_at_save: AtomicU64,
    /// FLUSHALL/FLUSHDB ASYNC: shared with the threads that free entries.
    pub lazyfree: Arc<LazyFree>,
    /// `latency-monitor-threshold` in ms; 0 = off.
    pub latency_threshold_ms: AtomicU64,
    /// DEBUG SET-DISABLE-DENY-SCRIPTS: scripts may call `noscript` commands.
    pub script_disable_deny: AtomicBool,
    /// DEBUG SET-SKIP-CHECKSUM-VALIDATION: RESTORE does not check payload
    /// checksums (Redis's tests feed it hand-made payloads).
    pub skip_checksum: AtomicBool,
    errors: Mutex<BTreeMap<String, u64>>,
    latency: Mutex<BTreeMap<&'static str, LatencyEvent>>,
}

impl AdminState {
    /// Counts an error reply under its prefix (`ERR`, `WRONGTYPE`, ...).
    pub fn count_error(&self, text: &[u8]) {
        let end = text.iter().position(|&c| c == b' ').unwrap_or(text.len());
        let prefix = String::from_utf8_lossy(&text[..end]);
        let mut m = self.errors.lock();
        if let Some(n) = m.get_mut(&*prefix) {
            *n += 1;
        } else if m.len() < MAX_ERROR_KINDS {
            m.insert(prefix.into_owned(), 1);
        }
    }

    pub fn errors(&self) -> Vec<(String, u64)> {
        self.errors
            .lock()
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }

    pub fn reset_errors(&self) {
        self.errors.lock().clear();
    }

    /// Records a command's duration if it passes the latency threshold.
    #[inline]
    pub fn command_latency(&self, micros: u64, fast: bool) {
        let t = self.latency_threshold_ms.load(Relaxed);
        if t > 0 && micros / 1000 >= t {
            let event = if fast { "fast-command" } else { "command" };
            self.record_latency(event, micros / 1000);
        }
    }

    /// Records a background event (`expire-cycle`) past the threshold.
    pub fn event_latency(&self, event: &'static str, took: std::time::Duration) {
        let t = self.latency_threshold_ms.load(Relaxed);
        let ms = took.as_millis() as u64;
        if t > 0 && ms >= t {
            self.record_latency(event, ms);
        }
    }

    pub fn record_latency(&self, event: &'static str, ms: u64) {
        let now = unix_secs();
        let mut m = self.latency.lock();
        let e = m.entry(event).or_default();
        e.max_ms = e.max_ms.max(ms);
        match e.history.back_mut() {
            Some((t, worst)) if *t == now => *worst = (*worst).max(ms),
            _ => {
                if e.history.len() == LATENCY_SAMPLES {
                    e.history.pop_front();
                }
                e.history.push_back((now, ms));
            }
        }
    }

    pub fn latency_events(&self) -> Vec<(&'static str, LatencyEvent)> {
        self.latency
            .lock()
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect()
    }

    /// LATENCY RESET: all events, or those named. Returns how many were reset.
    pub fn reset_latency(&self, events: &[&[u8]]) -> usize {
        let mut m = self.latency.lock();
        if events.is_empty() {
            let n = m.len();
            m.clear();
            return n;
        }
        let before = m.len();
        m.retain(|k, _| !events.iter().any(|e| e.eq_ignore_ascii_case(k.as_bytes())));
        before - m.len()
    }

    /// Updates and returns the memory peak.
    pub fn note_memory(&self, used: u64) -> u64 {
        self.mem_peak.fetch_max(used, Relaxed).max(used)
    }
}

/// Latency histogram buckets: bucket `k` holds durations in
/// (1024·2^(k-1), 1024·2^k] nanoseconds (bucket 0: up to 1024 ns), the
/// power-of-two steps at which Redis reports its hdr_histogram in LATENCY
/// HISTOGRAM; a second or more lands in the last one, as Redis caps its
/// histogram at one second.
pub const HIST_BUCKETS: usize = 21;

/// One command's latency histogram (`latency-tracking`).
#[derive(Default)]
pub struct Histogram {
    buckets: [AtomicU64; HIST_BUCKETS],
}

impl Histogram {
    fn counts(&self) -> [u64; HIST_BUCKETS] {
        std::array::from_fn(|k| self.buckets[k].load(Relaxed))
    }
}

/// The bucket of a duration of `micros` µs: a shift and a count of leading
/// zeros.
#[inline]
fn bucket_of(micros: u64) -> usize {
    let ns = micros.saturating_mul(1000);
    if ns <= 1024 {
        return 0;
    }
    let k = 64 - ((ns - 1) >> 10).leading_zeros() as usize;
    k.min(HIST_BUCKETS - 1)
}

/// What Redis prints for bucket `k` in LATENCY HISTOGRAM: the highest value
/// (ns) its hdr_histogram (2 significant digits) maps to 1024·2^k, in µs.
fn bucket_micros(k: usize) -> u64 {
    ((1032u64 << k) - 1) / 1000
}

/// Per-command latency histograms, fed by `dispatch::call` for every
/// command: one slot per command of the table, then one per subcommand of
/// each container (CONFIG GET, CLIENT ID, ...), as Redis keeps them.
///
/// Costs: per command one relaxed load (`latency-tracking`) and one relaxed
/// `fetch_add`; a container also finds its subcommand by name. 168 bytes
/// per slot, allocated once.
pub struct Histograms {
    /// `latency-tracking`.
    pub on: AtomicBool,
    /// `latency-tracking-info-percentiles`.
    pub percentiles: Mutex<Vec<f64>>,
    slots: Box<[Histogram]>,
    /// Per command: its slot's name (`config|get` for a subcommand).
    names: Box<[&'static str]>,
    /// Per command of the table: the slot of its first subcommand.
    first_sub: Box<[usize]>,
}

impl Histograms {
    pub fn new(commands: &[&'static Command]) -> Histograms {
        let mut names: Vec<&'static str> = commands.iter().map(|c| c.name).collect();
        let mut first_sub = Vec::with_capacity(commands.len());
        for c in commands {
            first_sub.push(names.len());
            names.extend(c.subcommands.iter().map(|s| s.name));
        }
        Histograms {
            on: AtomicBool::new(true),
            percentiles: Mutex::new(vec![50.0, 99.0, 99.9]),
            slots: names.iter().map(|_| Histogram::default()).collect(),
            names: names.into_boxed_slice(),
            first_sub: first_sub.into_boxed_slice(),
        }
    }

    /// How many commands and subcommands there are: the slots.
    pub fn slot_count(&self) -> usize {
        self.names.len()
    }

    /// The name of a slot (`config|get` for a subcommand).
    pub fn slot_name(&self, slot: usize) -> &'static str {
        self.names[slot]
    }

    /// The slot of command `idx` as `args` call it: a container's is its
    /// subcommand's when argument 1 names one.
    pub fn slot(&self, idx: usize, cmd: &Command, args: &Args<'_>) -> usize {
        if cmd.subcommands.is_empty() {
            return idx;
        }
        let Some(sub) = args.get(1) else { return idx };
        cmd.subcommands
            .iter()
            .position(|c| {
                c.name
                    .split_once('|')
                    .is_some_and(|(_, s)| s.as_bytes().eq_ignore_ascii_case(sub))
            })
            .map_or(idx, |j| self.first_sub[idx] + j)
    }

    /// Counts one run of command `idx` that took `micros` µs.
    #[inline]
    pub fn record(&self, idx: usize, cmd: &Command, args: &Args<'_>, micros: u64) {
        if self.on.load(Relaxed) {
            let slot = self.slot(idx, cmd, args);
            self.slots[slot].buckets[bucket_of(micros)].fetch_add(1, Relaxed);
        }
    }

    /// CONFIG RESETSTAT.
    pub fn reset(&self) {
        for h in self.slots.iter() {
            for b in &h.buckets {
                b.store(0, Relaxed);
            }
        }
    }

    /// Slots with samples, in table order: (name, counts, total).
    fn with_data(
        &self,
        slots: impl Iterator<Item = usize>,
    ) -> Vec<(&'static str, [u64; HIST_BUCKETS], u64)> {
        slots
            .filter_map(|i| {
                let counts = self.slots[i].counts();
                let total: u64 = counts.iter().sum();
                (total > 0).then_some((self.names[i], counts, total))
            })
            .collect()
    }

    /// The slots LATENCY HISTOGRAM shows for one argument: the command
    /// (`set`, `config|get`) and, for a container, its subcommands.
    fn slots_named(&self, table: &CommandTable, name: &[u8]) -> Vec<usize> {
        let (top, sub) = match name.iter().position(|&b| b == b'|') {
            Some(p) => (&name[..p], Some(&name[p + 1..])),
            None => (name, None),
        };
        let Some(idx) = table.lookup(top) else {
            return Vec::new();
        };
        let cmd = table.get(idx);
        let first = self.first_sub[idx];
        match sub {
            Some(sub) => cmd
                .subcommands
                .iter()
                .position(|c| {
                    c.name
                        .split_once('|')
                        .is_some_and(|(_, s)| s.as_bytes().eq_ignore_ascii_case(sub))
                })
                .map(|j| first + j)
                .into_iter()
                .collect(),
            None => std::iter::once(idx)
                .chain(first..first + cmd.subcommands.len())
                .collect(),
        }
    }

    /// LATENCY HISTOGRAM [command ...]: a map of command name to
    /// `calls` and `histogram_usec` (bucket µs -> cumulative count).
    pub fn reply(&self, table: &CommandTable, names: &[&[u8]], out: &mut larder_resp::Reply<'_>) {
        let rows = if names.is_empty() {
            self.with_data(0..self.slots.len())
        } else {
            names
                .iter()
                .flat_map(|n| self.with_data(self.slots_named(table, n).into_iter()))
                .collect()
        };
        out.map(rows.len());
        for (name, counts, total) in rows {
            out.bulk(name.as_bytes());
            out.map(2);
            out.bulk(b"calls");
            out.int(total as i64);
            out.bulk(b"histogram_usec");
            out.map(counts.iter().filter(|&&n| n > 0).count());
            let mut cumulative = 0;
            for (k, &n) in counts.iter().enumerate() {
                if n > 0 {
                    cumulative += n;
                    out.int(bucket_micros(k) as i64);
                    out.int(cumulative as i64);
                }
            }
        }
    }

    /// INFO latencystats: `latency_percentiles_usec_<name>:p50=..,p99=..`
    /// for each command with samples (a percentile reads as its bucket's
    /// upper bound).
    pub fn info(&self, s: &mut String) {
        use std::fmt::Write as _;
        s.push_str("# Latencystats\r\n");
        let percentiles = self.percentiles.lock().clone();
        for (name, counts, total) in self.with_data(0..self.slots.len()) {
            let _ = write!(s, "latency_percentiles_usec_{name}:");
            for (j, p) in percentiles.iter().enumerate() {
                if j > 0 {
                    s.push(',');
                }
                // hdr_value_at_percentile: the first value whose cumulative
                // count reaches p% of the total (at least one sample).
                let want = ((p.min(100.0) / 100.0 * total as f64 + 0.5) as u64).max(1);
                let mut cumulative = 0;
                let k = counts
                    .iter()
                    .position(|&n| {
                        cumulative += n;
                        cumulative >= want
                    })
                    .unwrap_or(HIST_BUCKETS - 1);
                let ns = (1032u64 << k) - 1;
                let _ = write!(s, "p{}={:.3}", fmt_percentile(*p), ns as f64 / 1000.0);
            }
            s.push_str("\r\n");
        }
    }
}

/// A percentile as Redis prints it: `%f` without trailing zeros (`99.9`).
pub fn fmt_percentile(p: f64) -> String {
    let mut t = format!("{p:.6}");
    if t.contains('.') {
        while t.ends_with('0') {
            t.pop();
        }
        if t.ends_with('.') {
            t.pop();
        }
    }
    t
}

/// `latency-tracking-info-percentiles`: checked as Redis's config.c does
/// (each word a double within [0, 100]; "" for none) and stored in the
/// canonical form CONFIG GET shows.
pub fn check_percentiles(v: &str) -> Result<String, String> {
    parse_percentiles(v).map(|ps| {
        ps.iter()
            .map(|p| fmt_percentile(*p))
            .collect::<Vec<_>>()
            .join(" ")
    })
}

fn parse_percentiles(v: &str) -> Result<Vec<f64>, String> {
    if v.is_empty() {
        return Ok(Vec::new());
    }
    v.split(' ')
        .map(|w| {
            let p = crate::command::parse_f64(w.as_bytes())
                .ok_or("Invalid latency-tracking-info-percentiles parameters")?;
            if !(0.0..=100.0).contains(&p) {
                return Err(
                    "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]",
                );
            }
            Ok(p)
        })
        .collect::<Result<_, _>>()
        .map_err(str::to_string)
}

/// Applies `latency-tracking` and `latency-tracking-info-percentiles`.
pub fn apply_config(sh: &crate::shared::Shared, c: &crate::config::Config) {
    let h = &sh.commands.hist;
    let on = c.compat.get("latency-tracking").is_none_or(|v| v == "yes");
    h.on.store(on, Relaxed);
    if let Some(v) = c.compat.get("latency-tracking-info-percentiles") {
        if let Ok(ps) = parse_percentiles(v) {
            *h.percentiles.lock() = ps;
        }
    }
}
