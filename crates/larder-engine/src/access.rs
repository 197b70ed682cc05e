//! Access metadata kept in each entry's 32-bit `access` word, and the clocks
//! behind it.
//!
//! Low 24 bits: a clock. For LRU it is the time of the last access in seconds
//! (Redis's LRU clock, same resolution, wrapping every 194 days); for FIFO it
//! is the insertion time in units of 16 ms (wrapping every 3 days), set once.
//! High 8 bits: Redis's logarithmic LFU counter. Its decay uses the same clock
//! field (the last access), at `lfu-decay-time` minutes per step, so an entry
//! costs four bytes of metadata whatever the policy.

use std::time::{SystemTime, UNIX_EPOCH};

pub const CLOCK_MAX: u32 = (1 << 24) - 1;
/// The counter a new key starts with, as Redis's LFU_INIT_VAL.
pub const LFU_INIT: u8 = 5;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub fn lru_clock(now_ms: u64) -> u32 {
    ((now_ms / 1000) as u32) & CLOCK_MAX
}

pub fn fifo_clock(now_ms: u64) -> u32 {
    ((now_ms / 16) as u32) & CLOCK_MAX
}

pub fn clock_of(access: u32) -> u32 {
    access & CLOCK_MAX
}

pub fn counter_of(access: u32) -> u8 {
    (access >> 24) as u8
}

pub fn pack(clock: u32, counter: u8) -> u32 {
    (clock & CLOCK_MAX) | (u32::from(counter) << 24)
}

/// Elapsed clock ticks from `then` to `now`, allowing one wrap.
pub fn elapsed(now: u32, then: u32) -> u32 {
    now.wrapping_sub(then) & CLOCK_MAX
}

/// Redis's LFULogIncr: the counter grows with probability 1/((c-5)*factor+1).
pub fn lfu_log_incr(counter: u8, log_factor: u32, rand01: f64) -> u8 {
    if counter == 255 {
        return 255;
    }
    let base = f64::from(counter.saturating_sub(LFU_INIT));
    let p = 1.0 / (base * f64::from(log_factor) + 1.0);
    if rand01 < p {
        counter + 1
    } else {
        counter
    }
}

/// Redis's LFUDecrAndReturn: one step down per `decay_minutes` since the last access.
pub fn lfu_decayed(access: u32, now_lru: u32, decay_minutes: u32) -> u8 {
    let counter = counter_of(access);
    if decay_minutes == 0 {
        return counter;
    }
    let minutes = elapsed(now_lru, clock_of(access)) / 60;
    let periods = minutes / decay_minutes;
    counter.saturating_sub(periods.min(255) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lfu_counter_behaves_like_redis() {
        assert_eq!(lfu_log_incr(5, 10, 0.99), 6); // at or below LFU_INIT p = 1
        assert_eq!(lfu_log_incr(255, 10, 0.0), 255);
        assert_eq!(lfu_log_incr(105, 10, 0.01), 105); // p = 1/1001
        let a = pack(1000, 20);
        assert_eq!(lfu_decayed(a, 1000 + 60 * 3, 1), 17);
        assert_eq!(lfu_decayed(a, 1000 + 60 * 3, 0), 20);
        assert_eq!(lfu_decayed(a, 1000 + 60 * 100, 1), 0);
        assert_eq!(elapsed(5, CLOCK_MAX - 4), 10);
    }
}
