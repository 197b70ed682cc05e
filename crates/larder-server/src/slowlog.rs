//! SLOWLOG: the last `slowlog-max-len` commands slower than
//! `slowlog-log-slower-than` microseconds, with arguments trimmed as Redis
//! trims them (32 arguments at most, 128 bytes each), and with secrets
//! replaced by `(redacted)` where Redis redacts them ([`redacted`], which
//! MONITOR uses too): passwords of AUTH, HELLO AUTH and MIGRATE AUTH/AUTH2,
//! every argument of ACL SETUSER, the values of CONFIG SET
//! requirepass/masterauth/masteruser.

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
    let secret = redacted(args);
    let mut kept: Vec<Vec<u8>> = Vec::with_capacity(args.len().min(MAX_ARGC));
    for (i, a) in args.iter().enumerate() {
        if secret.contains(&i) {
            kept.push(b"(redacted)".to_vec());
            continue;
        }
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

/// Which arguments Redis replaces by `(redacted)` (its
/// `redactClientCommandArgument` call sites).
pub(crate) fn redacted(args: &Args<'_>) -> Vec<usize> {
    let is = |i: usize, w: &str| {
        args.get(i)
            .is_some_and(|a| a.eq_ignore_ascii_case(w.as_bytes()))
    };
    let n = args.len();
    if is(0, "auth") {
        return if n == 3 { vec![1, 2] } else { vec![1] };
    }
    if is(0, "acl") && is(1, "setuser") && n >= 3 {
        return (2..n).collect();
    }
    if is(0, "config") && is(1, "set") {
        return (2..n)
            .step_by(2)
            .filter(|&i| {
                ["requirepass", "masterauth", "masteruser"]
                    .iter()
                    .any(|w| is(i, w))
            })
            .map(|i| i + 1)
            .filter(|&i| i < n)
            .collect();
    }
    if is(0, "migrate") {
        // Options follow the five fixed arguments; KEYS ends them.
        let mut out = Vec::new();
        let mut j = 6;
        while j < n && !is(j, "keys") {
            if is(j, "auth") && j + 1 < n {
                out.push(j + 1);
                j += 1;
            } else if is(j, "auth2") && j + 2 < n {
                out.extend([j + 1, j + 2]);
                j += 2;
            }
            j += 1;
        }
        return out;
    }
    if is(0, "hello") {
        let mut out = Vec::new();
        let mut j = 2;
        while j < n {
            if is(j, "auth") && j + 2 < n {
                out.extend([j + 1, j + 2]);
                j += 3;
            } else {
                j += 1;
            }
        }
        return out;
    }
    Vec::new()
}
