//! Keeping near caches coherent across processes.
//!
//! * **Bus** (works on any RESP server): every write/delete publishes the key
//!   on `larder-cache:invalidate:<namespace>`; each process subscribes and
//!   drops its near copy. Pub/sub is fire-and-forget, so a message sent while
//!   a subscriber is disconnected is lost: on every (re)subscription the near
//!   cache is flushed, and it serves nothing while the subscription is down.
//! * **Tracking** (Redis 6+, and Larder when it answers `CLIENT TRACKING`):
//!   a RESP3 connection with `CLIENT TRACKING ON` carries the reads whose
//!   results enter the near cache; the server remembers which keys this
//!   connection read and pushes `invalidate` messages when any client
//!   modifies them, whoever the writer is — even a writer that does not use
//!   this toolkit. A `null` invalidation (FLUSHALL, or the server's tracking
//!   table overflowing) flushes the near cache. The connection breaking
//!   flushes it too, and it serves nothing until tracking is on again.

use std::sync::Weak;
use std::time::Duration;

use futures_util::StreamExt;
use redis::{PushKind, Value};

use crate::cache::Inner;
use crate::metrics::inc;

/// How near caches of several processes are kept coherent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Invalidation {
    /// No cross-process invalidation (no near cache allowed).
    #[default]
    None,
    /// Pub/sub bus (any RESP server).
    Bus,
    /// Server-assisted CLIENT TRACKING over RESP3 push messages.
    Tracking,
}

const RETRY: Duration = Duration::from_millis(200);

/// The bus subscriber: (re)subscribes forever until the cache is dropped.
pub(crate) async fn run_bus(weak: Weak<Inner>) {
    loop {
        let Some(inner) = weak.upgrade() else { return };
        set_coherent(&inner, false);
        let node = &inner.nodes[0];
        let t = node.timeouts().connect;
        let ps = match tokio::time::timeout(t, node.client().get_async_pubsub()).await {
            Ok(Ok(mut ps)) => match ps.subscribe(&inner.channel).await {
                Ok(()) => Some(ps),
                Err(e) => {
                    tracing::debug!(error = %e, "bus subscribe failed");
                    None
                }
            },
            _ => None,
        };
        let Some(ps) = ps else {
            drop(inner);
            tokio::time::sleep(RETRY).await;
            continue;
        };
        // Flush what may have been missed while unsubscribed, then serve.
        set_coherent(&inner, true);
        drop(inner);
        let mut stream = ps.into_on_message();
        while let Some(msg) = stream.next().await {
            let Some(inner) = weak.upgrade() else { return };
            let key = String::from_utf8_lossy(msg.get_payload_bytes());
            if let Some(n) = &inner.near {
                n.invalidate(&key);
            }
        }
        tracing::debug!("invalidation bus disconnected; near cache flushed");
        tokio::time::sleep(RETRY).await;
    }
}

/// The CLIENT TRACKING connection: enables tracking, installs itself as the
/// read path of the near cache, and applies pushed invalidations.
pub(crate) async fn run_tracking(weak: Weak<Inner>) {
    loop {
        let Some(inner) = weak.upgrade() else { return };
        set_coherent(&inner, false);
        *inner.tracking.lock() = None;
        let node = &inner.nodes[0];
        let mut info = node.client().get_connection_info().clone();
        info.redis.protocol = redis::ProtocolVersion::RESP3;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let cfg = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(node.timeouts().connect)
            .set_response_timeout(node.timeouts().response)
            .set_push_sender(tx);
        let conn = match redis::Client::open(info) {
            Ok(c) => {
                let fut = c.get_multiplexed_async_connection_with_config(&cfg);
                match tokio::time::timeout(node.timeouts().connect, fut).await {
                    Ok(Ok(mut conn)) => {
                        let on: redis::RedisResult<()> = redis::cmd("CLIENT")
                            .arg("TRACKING")
                            .arg("ON")
                            .query_async(&mut conn)
                            .await;
                        match on {
                            Ok(()) => Some(conn),
                            Err(e) => {
                                tracing::warn!(error = %e, "CLIENT TRACKING refused; near cache stays off");
                                None
                            }
                        }
                    }
                    _ => None,
                }
            }
            Err(_) => None,
        };
        let Some(conn) = conn else {
            drop(inner);
            tokio::time::sleep(RETRY).await;
            continue;
        };
        *inner.tracking.lock() = Some(conn);
        set_coherent(&inner, true);
        drop(inner);
        while let Some(push) = rx.recv().await {
            let Some(inner) = weak.upgrade() else { return };
            match push.kind {
                PushKind::Invalidate => apply_invalidate(&inner, &push.data),
                PushKind::Disconnection => break,
                _ => {}
            }
        }
        tracing::debug!("tracking connection lost; near cache flushed");
        tokio::time::sleep(RETRY).await;
    }
}

fn set_coherent(inner: &Inner, up: bool) {
    if let Some(n) = &inner.near {
        n.set_coherent(up);
    }
}

/// `invalidate` carries an array of keys, or null for "everything".
fn apply_invalidate(inner: &Inner, data: &[Value]) {
    let Some(n) = &inner.near else { return };
    let prefix = format!("{}:", inner.ns);
    match data.first() {
        Some(Value::Array(keys)) => {
            for k in keys {
                if let Value::BulkString(b) = k {
                    let key = String::from_utf8_lossy(b);
                    if let Some(k) = key.strip_prefix(&prefix) {
                        if !k.starts_with('~') {
                            inc(&inner.metrics.invalidations);
                            n.invalidate(k);
                        }
                    }
                }
            }
        }
        _ => n.clear(),
    }
}
