//! Keeping near caches coherent across processes.
//!
//! * **Bus** (works on any RESP server): every write/delete publishes the key
//!   on `larder-cache:invalidate:<namespace>`; each process subscribes and
//!   drops its near copy. Pub/sub is fire-and-forget, so a message sent while
//!   a subscriber is disconnected is lost: on every (re)subscription the near
//!   cache is flushed, and it serves nothing while the subscription is down.
//!   On a Redis Cluster the subscription is a plain connection to one seed
//!   node (the first that answers): cluster `PUBLISH` is broadcast over the
//!   cluster bus to every node, so one subscription on any node hears every
//!   message; if that node goes away the next seed is tried (flushing, as
//!   after any reconnect).
//! * **Tracking** (Redis 6+, Larder): the reads whose results enter the near
//!   cache go through a connection with `CLIENT TRACKING ON`; the server
//!   remembers which keys that connection read and sends `invalidate` when
//!   any client modifies them, whoever the writer is — even a writer that
//!   does not use this toolkit. Two carriers:
//!   - RESP3 (`Invalidation::Tracking`): the invalidations are push
//!     messages on the tracking connection itself. If the server refuses
//!     RESP3 (`HELLO 3`), this falls back to the redirect carrier.
//!   - RESP2 (`Invalidation::TrackingRedirect`): a second connection
//!     subscribes to `__redis__:invalidate`, and the tracking connection
//!     turns tracking on with `REDIRECT <its client id>`; the server then
//!     publishes each invalidation (an array of keys, or nil) to that
//!     subscriber only. redis-rs's pub/sub connection cannot run
//!     `CLIENT ID`, so the subscriber's socket is opened here, asks
//!     `CLIENT ID` (after `AUTH` when the URL has a password), and is then
//!     handed to redis-rs as a pub/sub connection.
//!
//!   A `null` invalidation (FLUSHALL, or the server's tracking table
//!   overflowing) flushes the near cache. Losing either connection flushes
//!   it too, and it serves nothing until tracking is on again: the push
//!   carrier reports a disconnection; the subscriber's stream ends; a read
//!   over the tracking connection that fails wakes the task; and a `PING`
//!   every second on the tracking connection notices a RESP2 connection
//!   dropped while idle (RESP2 has no disconnection message).

use std::sync::Weak;
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{MultiplexedConnection, PubSub, PubSubStream};
use redis::{
    AsyncConnectionConfig, ConnectionAddr, ConnectionInfo, ErrorKind, ProtocolVersion, PushInfo,
    PushKind, RedisConnectionInfo, RedisError, RedisResult, Value,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::cache::Inner;
use crate::error::is_connectivity;
use crate::metrics::inc;
use crate::node::Node;

/// How near caches of several processes are kept coherent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Invalidation {
    /// No cross-process invalidation (no near cache allowed).
    #[default]
    None,
    /// Pub/sub bus (any RESP server, and Redis Cluster).
    Bus,
    /// Server-assisted CLIENT TRACKING, invalidations as RESP3 push
    /// messages (falls back to [`Invalidation::TrackingRedirect`] when the
    /// server does not speak RESP3).
    Tracking,
    /// CLIENT TRACKING over RESP2: `REDIRECT` to a second connection
    /// subscribed to `__redis__:invalidate`.
    TrackingRedirect,
}

impl Invalidation {
    /// Either CLIENT TRACKING carrier.
    pub fn is_tracking(self) -> bool {
        matches!(
            self,
            Invalidation::Tracking | Invalidation::TrackingRedirect
        )
    }
}

const RETRY: Duration = Duration::from_millis(200);
/// How often an idle tracking connection is checked.
const LIVENESS: Duration = Duration::from_secs(1);
/// Where the server publishes invalidations for a `REDIRECT` target.
const INVALIDATE_CHANNEL: &str = "__redis__:invalidate";

/// The bus subscriber: (re)subscribes forever until the cache is dropped.
pub(crate) async fn run_bus(weak: Weak<Inner>) {
    loop {
        let Some(inner) = weak.upgrade() else { return };
        set_coherent(&inner, false);
        let Some(ps) = subscribe_any(&inner.nodes[0], &inner.channel).await else {
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

/// A subscription to `channel` on the first of the node's servers (a
/// cluster's seeds, in turn) that accepts it.
async fn subscribe_any(node: &Node, channel: &str) -> Option<PubSub> {
    for client in node.direct() {
        let sub = async {
            let mut ps = client.get_async_pubsub().await?;
            ps.subscribe(channel).await?;
            RedisResult::Ok(ps)
        };
        match tokio::time::timeout(node.timeouts().connect, sub).await {
            Ok(Ok(ps)) => return Some(ps),
            Ok(Err(e)) => tracing::debug!(error = %e, "bus subscribe failed"),
            Err(_) => tracing::debug!("bus subscribe timed out"),
        }
    }
    None
}

/// Where a tracking connection's invalidations arrive.
enum Feed {
    /// RESP3 push messages of the tracking connection itself.
    Push(UnboundedReceiver<PushInfo>),
    /// Messages on `__redis__:invalidate` of the `REDIRECT` target.
    Redirect(PubSubStream),
}

impl Feed {
    /// The next invalidation (an array of keys, or nil for "everything");
    /// None once the carrier is gone.
    async fn next(&mut self) -> Option<Value> {
        loop {
            match self {
                Feed::Push(rx) => {
                    let push = rx.recv().await?;
                    match push.kind {
                        PushKind::Invalidate => {
                            return Some(push.data.into_iter().next().unwrap_or(Value::Nil))
                        }
                        PushKind::Disconnection => return None,
                        _ => {}
                    }
                }
                Feed::Redirect(stream) => {
                    let msg = stream.next().await?;
                    if msg.get_channel_name() == INVALIDATE_CHANNEL {
                        return Some(msg.get_payload().unwrap_or(Value::Nil));
                    }
                }
            }
        }
    }
}

/// Why a tracking session could not start.
enum Refused {
    /// The server does not speak RESP3: use the redirect carrier.
    NoResp3(RedisError),
    Other(RedisError),
}

/// The CLIENT TRACKING task: turns tracking on, installs the connection as
/// the read path of the near cache, applies the invalidations, and starts
/// over (flushing) whenever the connection or its carrier breaks.
pub(crate) async fn run_tracking(weak: Weak<Inner>) {
    let mut redirect = match weak.upgrade() {
        Some(inner) => inner.invalidation == Invalidation::TrackingRedirect,
        None => return,
    };
    loop {
        let Some(inner) = weak.upgrade() else { return };
        set_coherent(&inner, false);
        *inner.tracking.lock() = None;
        let node = &inner.nodes[0];
        let session = tokio::time::timeout(node.timeouts().connect, async {
            if redirect {
                start_redirect(node).await.map_err(Refused::Other)
            } else {
                start_resp3(node).await
            }
        })
        .await;
        let (mut conn, mut feed) = match session {
            Ok(Ok(s)) => s,
            Ok(Err(Refused::NoResp3(e))) => {
                tracing::info!(error = %e, "no RESP3: CLIENT TRACKING with REDIRECT over RESP2");
                redirect = true;
                continue;
            }
            Ok(Err(Refused::Other(e))) => {
                if !is_connectivity(&e) {
                    tracing::warn!(error = %e, "CLIENT TRACKING refused; near cache stays off");
                }
                drop(inner);
                tokio::time::sleep(RETRY).await;
                continue;
            }
            Err(_) => {
                drop(inner);
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        let lost = inner.tracking_lost.clone();
        let response = node.timeouts().response;
        *inner.tracking.lock() = Some(conn.clone());
        set_coherent(&inner, true);
        drop(inner);
        let mut liveness = tokio::time::interval(LIVENESS);
        liveness.tick().await;
        loop {
            tokio::select! {
                inv = feed.next() => {
                    let Some(inv) = inv else { break };
                    let Some(inner) = weak.upgrade() else { return };
                    apply_invalidate(&inner, &inv);
                }
                _ = liveness.tick() => {
                    let ping = redis::cmd("PING");
                    let pong = tokio::time::timeout(response, ping.query_async::<()>(&mut conn));
                    if !matches!(pong.await, Ok(Ok(()))) {
                        break;
                    }
                }
                _ = lost.notified() => break,
            }
        }
        tracing::debug!("tracking connection lost; near cache flushed");
        tokio::time::sleep(RETRY).await;
    }
}

fn connection_config(node: &Node) -> AsyncConnectionConfig {
    AsyncConnectionConfig::new()
        .set_connection_timeout(node.timeouts().connect)
        .set_response_timeout(node.timeouts().response)
}

fn with_protocol(info: &ConnectionInfo, protocol: ProtocolVersion) -> ConnectionInfo {
    let mut info = info.clone();
    info.redis.protocol = protocol;
    info
}

async fn tracking_on(conn: &mut MultiplexedConnection, redirect: Option<u64>) -> RedisResult<()> {
    let mut on = redis::cmd("CLIENT");
    on.arg("TRACKING").arg("ON");
    if let Some(id) = redirect {
        on.arg("REDIRECT").arg(id);
    }
    on.query_async(conn).await
}

/// A RESP3 connection with tracking on, its pushes as the feed.
async fn start_resp3(node: &Node) -> Result<(MultiplexedConnection, Feed), Refused> {
    let info = with_protocol(
        node.direct()[0].get_connection_info(),
        ProtocolVersion::RESP3,
    );
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let cfg = connection_config(node).set_push_sender(tx);
    let client = redis::Client::open(info).map_err(Refused::Other)?;
    let mut conn = match client
        .get_multiplexed_async_connection_with_config(&cfg)
        .await
    {
        Ok(c) => c,
        Err(e) if !is_connectivity(&e) => return Err(Refused::NoResp3(e)),
        Err(e) => return Err(Refused::Other(e)),
    };
    tracking_on(&mut conn, None).await.map_err(Refused::Other)?;
    Ok((conn, Feed::Push(rx)))
}

/// A RESP2 subscriber on `__redis__:invalidate`, then a RESP2 connection
/// with tracking redirected to it (subscribed first, so nothing is missed).
async fn start_redirect(node: &Node) -> RedisResult<(MultiplexedConnection, Feed)> {
    let info = with_protocol(
        node.direct()[0].get_connection_info(),
        ProtocolVersion::RESP2,
    );
    let (subscriber, id) = redirect_target(&info).await?;
    let client = redis::Client::open(info)?;
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&connection_config(node))
        .await?;
    tracking_on(&mut conn, Some(id)).await?;
    Ok((conn, Feed::Redirect(subscriber.into_on_message())))
}

/// Opens the subscriber's socket and learns its client id.
async fn redirect_target(info: &ConnectionInfo) -> RedisResult<(PubSub, u64)> {
    match &info.addr {
        ConnectionAddr::Tcp(host, port) => {
            let s = tokio::net::TcpStream::connect((host.as_str(), *port)).await?;
            s.set_nodelay(true)?;
            subscriber(s, &info.redis).await
        }
        ConnectionAddr::Unix(path) => {
            subscriber(tokio::net::UnixStream::connect(path).await?, &info.redis).await
        }
        _ => Err(RedisError::from((
            ErrorKind::InvalidClientConfig,
            "CLIENT TRACKING over RESP2 needs a plain TCP or Unix connection",
        ))),
    }
}

/// `AUTH` (if any) and `CLIENT ID` by hand, then the socket becomes a
/// redis-rs pub/sub connection subscribed to `__redis__:invalidate`.
async fn subscriber<S>(mut s: S, info: &RedisConnectionInfo) -> RedisResult<(PubSub, u64)>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let refused = |what: &'static str, line: &[u8]| {
        RedisError::from((
            ErrorKind::ResponseError,
            what,
            String::from_utf8_lossy(line).into_owned(),
        ))
    };
    if let Some(password) = &info.password {
        let mut auth = redis::cmd("AUTH");
        if let Some(user) = &info.username {
            auth.arg(user);
        }
        auth.arg(password);
        s.write_all(&auth.get_packed_command()).await?;
        let line = read_line(&mut s).await?;
        if !line.starts_with(b"+") {
            return Err(refused("AUTH refused", &line));
        }
    }
    s.write_all(&redis::cmd("CLIENT").arg("ID").get_packed_command())
        .await?;
    let line = read_line(&mut s).await?;
    let id = line
        .strip_prefix(b":")
        .and_then(|n| std::str::from_utf8(n).ok()?.parse::<u64>().ok())
        .ok_or_else(|| refused("CLIENT ID failed", &line))?;
    let authed = RedisConnectionInfo {
        username: None,
        password: None,
        protocol: ProtocolVersion::RESP2,
        ..info.clone()
    };
    let mut ps = PubSub::new(&authed, s).await?;
    ps.subscribe(INVALIDATE_CHANNEL).await?;
    Ok((ps, id))
}

/// One reply line (a simple string, error or integer) without its CRLF,
/// read a byte at a time so that nothing after it is consumed.
async fn read_line<S: AsyncRead + Unpin>(s: &mut S) -> RedisResult<Vec<u8>> {
    let mut line = Vec::new();
    while !line.ends_with(b"\r\n") {
        if line.len() > 1024 {
            return Err(RedisError::from((
                ErrorKind::ParseError,
                "reply line too long",
            )));
        }
        line.push(s.read_u8().await?);
    }
    line.truncate(line.len() - 2);
    Ok(line)
}

fn set_coherent(inner: &Inner, up: bool) {
    if let Some(n) = &inner.near {
        n.set_coherent(up);
    }
}

/// `invalidate` carries an array of keys, or null for "everything".
fn apply_invalidate(inner: &Inner, data: &Value) {
    let Some(n) = &inner.near else { return };
    let prefix = format!("{}:", inner.ns);
    match data {
        Value::Array(keys) => {
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
