//! State behind the admin commands that the dispatcher and the commands
//! feed: error counts per prefix (INFO errorstats), latency events (LATENCY,
//! fed for commands slower than `latency-monitor-threshold` ms), the memory
//! peak (INFO memory), the dirty counter at the last save, and the lazyfree
//! counters of FLUSHALL/FLUSHDB ASYNC.
//!
//! Costs: nothing on a command that succeeds within the threshold but one
//! relaxed atomic load; an error reply takes a small mutex to count its
//! prefix (at most 128 distinct prefixes are kept, as Redis does).

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use parking_lot::Mutex;

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
    /// `Stats::dirty` when the dataset was last saved (or at start).
    pub dirty_at_save: AtomicU64,
    /// FLUSHALL/FLUSHDB ASYNC: shared with the threads that free entries.
    pub lazyfree: Arc<LazyFree>,
    /// `latency-monitor-threshold` in ms; 0 = off.
    pub latency_threshold_ms: AtomicU64,
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
