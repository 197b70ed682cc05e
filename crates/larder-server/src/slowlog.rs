//! SLOWLOG: the last `slowlog-max-len` commands slower than
//! `slowlog-log-slower-than` microseconds, with arguments trimmed as Redis
//! trims them (32 arguments at most, 128 bytes each).

use std::sync::atomic::Ordering::Relaxed;

use larder_resp::Args;

use crate::client::Client;
use crate::shared::{unix_secs, Shared, SlowEntry};

const MAX_ARGC: usize = 32;
const MAX_ARG_LEN: usize = 128;

pub fn record(shared: &Shared, client: &Client, args: &Args<'_>, micros: u64) {
    let threshold = shared.hot.slowlog_slower_than.load(Relaxed);
    if threshold < 0 || micros < threshold as u64 {
        return;
    }
    let mut kept: Vec<Vec<u8>> = Vec::with_capacity(args.len().min(MAX_ARGC));
    for (i, a) in args.iter().enumerate() {
        if i == MAX_ARGC - 1 && args.len() > MAX_ARGC {
            kept.push(format!("... ({} more arguments)", args.len() - MAX_ARGC + 1).into_bytes());
            break;
        }
        if a.len() > MAX_ARG_LEN {
            let mut v = a[..MAX_ARG_LEN].to_vec();
            v.extend_from_slice(format!("... ({} more bytes)", a.len() - MAX_ARG_LEN).as_bytes());
            kept.push(v);
        } else {
            kept.push(a.to_vec());
        }
    }
    let entry = SlowEntry {
        id: shared.slowlog_next_id.fetch_add(1, Relaxed),
        time: unix_secs(),
        micros,
        args: kept,
        peer: client.handle.addr.clone(),
        name: client.handle.name.lock().clone().unwrap_or_default(),
    };
    let max = shared.hot.slowlog_max_len.load(Relaxed) as usize;
    let mut log = shared.slowlog.lock();
    log.push_front(entry);
    log.truncate(max);
}
