//! MONITOR: every command, as Redis prints it, sent to the monitoring clients.
//!
//! Lines are `+<unix.micros> [<db> <addr>] "arg" "arg"...` with arguments
//! quoted like Redis's sdscatrepr, secrets shown as `(redacted)` as in the
//! slow log (`slowlog::redacted`). Lines go to each monitor's push queue
//! (`pubsub::Outbox`), bounded by `client-output-buffer-limit normal`; a
//! monitor that falls behind past it is disconnected rather than allowed to
//! grow the server's memory.

use std::sync::atomic::Ordering::Relaxed;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use larder_resp::Args;

use crate::client::Client;
use crate::pubsub::Push;
use crate::shared::Shared;

/// sdscatrepr: printable bytes as-is, escapes for the rest.
pub fn repr(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &c in s {
        match c {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            7 => out.extend_from_slice(b"\\a"),
            8 => out.extend_from_slice(b"\\b"),
            c if c.is_ascii_graphic() || c == b' ' => out.push(c),
            c => out.extend_from_slice(format!("\\x{c:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

/// A command sent by `client`.
pub fn feed(shared: &Shared, client: &Client, args: &Args<'_>) {
    let source = if client.handle.unix {
        format!("unix:{}", client.handle.laddr)
    } else {
        client.handle.addr.clone()
    };
    feed_from(shared, client.db, &source, args);
}

/// A command run by a script (`redis.call`), shown as Redis shows it:
/// `[<db> lua]`.
pub fn feed_script(shared: &Shared, db: usize, args: &Args<'_>) {
    feed_from(shared, db, "lua", args);
}

fn feed_from(shared: &Shared, db: usize, source: &str, args: &Args<'_>) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut line = format!(
        "+{}.{:06} [{} {}]",
        now.as_secs(),
        now.subsec_micros(),
        db,
        source
    )
    .into_bytes();
    let secret = crate::slowlog::redacted(args);
    for (i, a) in args.iter().enumerate() {
        line.push(b' ');
        if secret.contains(&i) {
            repr(&mut line, b"(redacted)");
        } else {
            repr(&mut line, a);
        }
    }
    line.extend_from_slice(b"\r\n");
    let line = Bytes::from(line);
    let mut monitors = shared.monitors.lock();
    monitors.retain(|(_, o)| o.push(Push::Raw(line.clone()), &shared.pubsub.limits));
    shared.monitor_count.store(monitors.len(), Relaxed);
}
