//! Pub/sub: the channel registry, and the per-connection queue of pushes.
//!
//! **Pushes.** Everything a connection sends without being asked — MONITOR
//! lines, pub/sub messages, keyspace notifications — goes through its
//! [`Outbox`]: a queue other tasks append to under a short mutex, and the
//! connection task drains into its socket (a push raises the client's
//! `signal::PUSH`, which the connection waits on beside its socket read).
//! A publisher never waits for a subscriber: the queue is bounded by bytes,
//! under `client-output-buffer-limit pubsub` while the client has
//! subscriptions (`normal` otherwise, e.g. a monitor). Past `hard`, or past
//! `soft` for longer than `soft-seconds`, the queue is dropped and the client
//! disconnected, as Redis does. Messages are queued unencoded and shared
//! (`Arc`) between subscribers; each connection encodes them in its
//! own protocol (RESP2 array or RESP3 push) when it writes them.
//!
//! **Registry.** Three maps, channel → subscribers, pattern → subscribers and
//! shard channel → subscribers, under one mutex; a subscriber is a client id
//! with its outbox. PUBLISH looks the channel up, then tries every pattern
//! (Redis's cost too: O(subscribers + patterns)). Each client also keeps the
//! set of what it is subscribed to ([`Subscriptions`], owned by its
//! connection), for counts, UNSUBSCRIBE without arguments and cleanup on
//! RESET or close.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Weak};
use std::time::Instant;

use bytes::Bytes;
use larder_engine::glob;
use larder_resp::{Protocol, Reply};
use parking_lot::Mutex;

use crate::client::{Client, ClientHandle};
use crate::config::{Config, OutputLimit};
use crate::shared::Shared;

/// Queue cap for a client under the `normal` class when its limit is 0
/// (unlimited in Redis): a monitor that stops reading must not grow the
/// server without bound.
const NORMAL_BACKSTOP: u64 = 64 << 20;

/// Rough per-message overhead counted against the limit (RESP framing and
/// the queue node), so that floods of empty messages are bounded too.
const MSG_OVERHEAD: u64 = 48;

/// A published message, shared by all its receivers.
pub struct Message {
    /// `message`, `pmessage` or `smessage`.
    kind: &'static [u8],
    /// Pattern (pmessage only), then channel, then payload.
    data: Box<[u8]>,
    pat_len: usize,
    ch_len: usize,
}

impl Message {
    fn new(kind: &'static [u8], pattern: Option<&[u8]>, channel: &[u8], payload: &[u8]) -> Message {
        let pat = pattern.unwrap_or_default();
        let mut data = Vec::with_capacity(pat.len() + channel.len() + payload.len());
        data.extend_from_slice(pat);
        data.extend_from_slice(channel);
        data.extend_from_slice(payload);
        Message {
            kind,
            data: data.into_boxed_slice(),
            pat_len: if pattern.is_some() {
                pat.len()
            } else {
                usize::MAX
            },
            ch_len: channel.len(),
        }
    }

    fn encode(&self, out: &mut Vec<u8>, proto: Protocol) {
        let mut r = Reply::new(out, proto);
        let (pat, rest) = if self.pat_len == usize::MAX {
            (None, &self.data[..])
        } else {
            let (p, rest) = self.data.split_at(self.pat_len);
            (Some(p), rest)
        };
        let (ch, payload) = rest.split_at(self.ch_len);
        r.push(if pat.is_some() { 4 } else { 3 });
        r.bulk(self.kind);
        if let Some(p) = pat {
            r.bulk(p);
        }
        r.bulk(ch);
        r.bulk(payload);
    }
}

/// One queued push.
pub enum Push {
    /// Bytes to send as they are (MONITOR lines).
    Raw(Bytes),
    Msg(Arc<Message>),
    /// A client-side caching invalidation (`tracking`). It never goes before
    /// the reply of a command that is running: that command may have read
    /// the key before the change, and the client must drop what it caches
    /// from that reply.
    Invalidate(Arc<crate::tracking::Invalidation>),
}

impl Push {
    fn size(&self) -> u64 {
        match self {
            Push::Raw(b) => b.len() as u64,
            Push::Msg(m) => m.data.len() as u64 + MSG_OVERHEAD,
            Push::Invalidate(i) => i.size() as u64 + MSG_OVERHEAD,
        }
    }

    fn encode(&self, out: &mut Vec<u8>, proto: Protocol) {
        match self {
            Push::Raw(b) => out.extend_from_slice(b),
            Push::Msg(m) => m.encode(out, proto),
            Push::Invalidate(i) => i.encode(out, proto),
        }
    }
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Push>,
    bytes: u64,
    /// When the queue went past the soft limit (cleared when back under).
    soft_since: Option<Instant>,
    /// Over a limit: the client is being disconnected; nothing more is queued.
    dropped: bool,
}

impl Queue {
    /// Past `hard`, or past `soft` for more than `soft-seconds` (the soft
    /// clock starts here when first seen over, and stops when back under).
    fn over(&mut self, limit: &OutputLimit) -> bool {
        if limit.hard > 0 && self.bytes > limit.hard {
            true
        } else if limit.soft > 0 && self.bytes > limit.soft {
            let since = *self.soft_since.get_or_insert_with(Instant::now);
            since.elapsed().as_secs() > limit.soft_seconds
        } else {
            self.soft_since = None;
            false
        }
    }
}

/// A connection's queue of pushes (see the module notes). Every client has
/// one, in its `ClientHandle`, so any task can reach it by client id.
pub struct Outbox {
    queue: Mutex<Queue>,
    /// Weak: the handle owns the outbox.
    owner: Weak<ClientHandle>,
    /// The client has subscriptions: the `pubsub` limit class applies.
    pubsub: AtomicBool,
    /// Bytes queued (CLIENT LIST `omem`).
    omem: AtomicU64,
    /// Something is queued: lets the connection skip the lock after each command.
    nonempty: AtomicBool,
}

impl Outbox {
    pub fn new(owner: Weak<ClientHandle>) -> Outbox {
        Outbox {
            queue: Mutex::new(Queue::default()),
            owner,
            pubsub: AtomicBool::new(false),
            omem: AtomicU64::new(0),
            nonempty: AtomicBool::new(false),
        }
    }

    /// Bytes queued.
    pub fn omem(&self) -> u64 {
        self.omem.load(Relaxed)
    }

    /// The client has subscriptions (Redis's CLIENT_PUBSUB).
    pub fn in_pubsub(&self) -> bool {
        self.pubsub.load(Relaxed)
    }

    /// Queues a push; false when the client is over its output limit (it is
    /// then being disconnected and the push is discarded).
    pub fn push(&self, p: Push, limits: &PushLimits) -> bool {
        let size = p.size();
        let limit = limits.get(self.pubsub.load(Relaxed));
        let mut q = self.queue.lock();
        if q.dropped {
            return false;
        }
        q.items.push_back(p);
        q.bytes += size;
        self.nonempty.store(true, Relaxed);
        if q.over(&limit) {
            self.cut_off(q);
            return false;
        }
        self.omem.store(q.bytes, Relaxed);
        drop(q);
        if let Some(owner) = self.owner.upgrade() {
            owner.events.raise(crate::signal::PUSH);
        }
        true
    }

    /// The server cron's check (Redis's clientsCron): a queue left past the
    /// soft limit with nothing more pushed still runs out its
    /// `soft-seconds` and the client is disconnected.
    pub fn enforce_limit(&self, limits: &PushLimits) {
        let limit = limits.get(self.pubsub.load(Relaxed));
        if limit.soft == 0 || self.omem() <= limit.soft {
            return;
        }
        let mut q = self.queue.lock();
        if !q.dropped && q.over(&limit) {
            self.cut_off(q);
        }
    }

    /// Drops the queue of a client past its limit and disconnects it.
    fn cut_off(&self, mut q: parking_lot::MutexGuard<'_, Queue>) {
        q.dropped = true;
        q.items = VecDeque::new();
        q.bytes = 0;
        self.omem.store(0, Relaxed);
        drop(q);
        if let Some(owner) = self.owner.upgrade() {
            tracing::info!(
                client = owner.id,
                "client scheduled to be closed for overcoming of output buffer limits"
            );
            owner.kill();
        }
    }

    /// Something is queued.
    pub fn pending(&self) -> bool {
        self.nonempty.load(Relaxed)
    }

    /// Encodes queued pushes into `out`, up to about `max` bytes of output.
    pub fn drain(&self, out: &mut Vec<u8>, proto: Protocol, max: usize) {
        self.drain_until(out, proto, max, false);
    }

    /// Drains up to `max` bytes, stopping at an invalidation if `hold_invalidations`.
    fn drain_until(
        &self,
        out: &mut Vec<u8>,
        proto: Protocol,
        max: usize,
        hold_invalidations: bool,
    ) {
        let start = out.len();
        let mut q = self.queue.lock();
        while out.len() - start < max {
            if hold_invalidations && matches!(q.items.front(), Some(Push::Invalidate(_))) {
                break;
            }
            let Some(p) = q.items.pop_front() else { break };
            q.bytes -= p.size();
            p.encode(out, proto);
        }
        if q.items.is_empty() {
            q.soft_since = None;
            self.nonempty.store(false, Relaxed);
        }
        self.omem.store(q.bytes, Relaxed);
    }

    /// Moves every queued push into `out`, invalidations included: called
    /// before a command runs, what is queued by then happened before it.
    pub fn take_before_command(&self, out: &mut Vec<u8>, proto: Protocol) {
        if self.nonempty.load(Relaxed) {
            self.drain_until(out, proto, usize::MAX, false);
        }
    }

    /// Moves the queued pushes into `out` at `at`, before the reply of the
    /// command that just ran, where Redis would have put them — up to the
    /// first invalidation, which waits until after the reply (see [`Push`]).
    pub fn splice_before(&self, out: &mut Vec<u8>, at: usize, proto: Protocol) {
        if !self.nonempty.load(Relaxed) {
            return;
        }
        let mut pushes = Vec::new();
        self.drain_until(&mut pushes, proto, usize::MAX, true);
        out.splice(at..at, pushes);
    }
}

/// `client-output-buffer-limit` for the `normal` and `pubsub` classes, as atomics.
#[derive(Default)]
pub struct PushLimits {
    normal: [AtomicU64; 3],
    pubsub: [AtomicU64; 3],
}

impl PushLimits {
    fn get(&self, pubsub: bool) -> OutputLimit {
        let a = if pubsub { &self.pubsub } else { &self.normal };
        let mut l = OutputLimit {
            hard: a[0].load(Relaxed),
            soft: a[1].load(Relaxed),
            soft_seconds: a[2].load(Relaxed),
        };
        if !pubsub && l.hard == 0 {
            l.hard = NORMAL_BACKSTOP;
        }
        l
    }

    pub fn apply(&self, c: &Config) {
        for (a, l) in [
            (&self.normal, c.output_limit_normal),
            (&self.pubsub, c.output_limit_pubsub),
        ] {
            a[0].store(l.hard, Relaxed);
            a[1].store(l.soft, Relaxed);
            a[2].store(l.soft_seconds, Relaxed);
        }
    }
}

/// The three kinds of subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Channel,
    Pattern,
    Shard,
}

#[derive(Clone)]
struct Sub {
    id: u64,
    outbox: Arc<Outbox>,
}

type SubMap = HashMap<Box<[u8]>, Vec<Sub>>;

#[derive(Default)]
struct Maps {
    channels: SubMap,
    patterns: SubMap,
    shard: SubMap,
}

impl Maps {
    fn of(&mut self, kind: Kind) -> &mut SubMap {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }
}

/// The server's pub/sub registry.
#[derive(Default)]
pub struct PubSub {
    maps: Mutex<Maps>,
    pub limits: PushLimits,
}

impl PubSub {
    fn add(&self, kind: Kind, name: &[u8], id: u64, outbox: &Arc<Outbox>) {
        let sub = Sub {
            id,
            outbox: outbox.clone(),
        };
        self.maps
            .lock()
            .of(kind)
            .entry(name.into())
            .or_default()
            .push(sub);
    }

    fn remove(&self, kind: Kind, name: &[u8], id: u64) {
        let mut maps = self.maps.lock();
        let map = maps.of(kind);
        if let Some(subs) = map.get_mut(name) {
            subs.retain(|s| s.id != id);
            if subs.is_empty() {
                map.remove(name);
            }
        }
    }

    fn deliver(&self, subs: &[Sub], msg: Message) -> usize {
        let msg = Arc::new(msg);
        for s in subs {
            s.outbox.push(Push::Msg(msg.clone()), &self.limits);
        }
        subs.len()
    }

    /// PUBLISH: delivers to the channel's and the matching patterns'
    /// subscribers; returns how many received it.
    pub fn publish(&self, channel: &[u8], payload: &[u8]) -> usize {
        let maps = self.maps.lock();
        let mut n = 0;
        if let Some(subs) = maps.channels.get(channel) {
            n += self.deliver(subs, Message::new(b"message", None, channel, payload));
        }
        for (pat, subs) in maps.patterns.iter() {
            if glob::matches(pat, channel, false) {
                let msg = Message::new(b"pmessage", Some(pat), channel, payload);
                n += self.deliver(subs, msg);
            }
        }
        n
    }

    /// SPUBLISH: shard channel subscribers only.
    pub fn spublish(&self, channel: &[u8], payload: &[u8]) -> usize {
        let maps = self.maps.lock();
        match maps.shard.get(channel) {
            Some(subs) => self.deliver(subs, Message::new(b"smessage", None, channel, payload)),
            None => 0,
        }
    }

    /// Channel (or shard channel) names matching `pattern` (all if `None`).
    pub fn names(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Box<[u8]>> {
        let mut maps = self.maps.lock();
        maps.of(kind)
            .keys()
            .filter(|c| pattern.is_none_or(|p| glob::matches(p, c, false)))
            .cloned()
            .collect()
    }

    /// Subscribers of a channel (or shard channel).
    pub fn count(&self, kind: Kind, name: &[u8]) -> usize {
        self.maps.lock().of(kind).get(name).map_or(0, Vec::len)
    }

    /// Channels, patterns or shard channels with subscribers (PUBSUB
    /// NUMPAT, INFO's `pubsub_*`).
    pub fn len(&self, kind: Kind) -> usize {
        self.maps.lock().of(kind).len()
    }
}

/// What one client is subscribed to, and its outbox.
pub struct Subscriptions {
    pub outbox: Arc<Outbox>,
    owner: Arc<ClientHandle>,
    channels: HashSet<Box<[u8]>>,
    patterns: HashSet<Box<[u8]>>,
    shard: HashSet<Box<[u8]>>,
    /// In MONITOR mode.
    pub monitor: bool,
}

impl Subscriptions {
    fn set(&mut self, kind: Kind) -> &mut HashSet<Box<[u8]>> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }

    /// The count Redis reports in (un)subscribe replies of this kind:
    /// channels + patterns, or shard channels.
    pub fn count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Shard => self.shard.len(),
            _ => self.channels.len() + self.patterns.len(),
        }
    }

    fn total(&self) -> usize {
        self.channels.len() + self.patterns.len() + self.shard.len()
    }

    /// Subscribes; false if already subscribed.
    pub fn subscribe(&mut self, ps: &PubSub, id: u64, kind: Kind, name: &[u8]) -> bool {
        if self.set(kind).contains(name) {
            return false;
        }
        self.set(kind).insert(name.into());
        ps.add(kind, name, id, &self.outbox);
        self.outbox.pubsub.store(true, Relaxed);
        self.publish_counts();
        true
    }

    /// Unsubscribes; false if not subscribed.
    pub fn unsubscribe(&mut self, ps: &PubSub, id: u64, kind: Kind, name: &[u8]) -> bool {
        if !self.set(kind).remove(name) {
            return false;
        }
        ps.remove(kind, name, id);
        if self.total() == 0 {
            self.outbox.pubsub.store(false, Relaxed);
        }
        self.publish_counts();
        true
    }

    /// The names subscribed to, of one kind.
    pub fn names(&self, kind: Kind) -> Vec<Box<[u8]>> {
        match kind {
            Kind::Channel => self.channels.iter().cloned().collect(),
            Kind::Pattern => self.patterns.iter().cloned().collect(),
            Kind::Shard => self.shard.iter().cloned().collect(),
        }
    }

    /// Drops every subscription (RESET, close) without replies.
    pub fn clear(&mut self, ps: &PubSub, id: u64) {
        for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
            for name in self.set(kind).drain() {
                ps.remove(kind, &name, id);
            }
        }
        self.outbox.pubsub.store(false, Relaxed);
        self.publish_counts();
    }

    /// Mirrors the counts into the client's shared handle (CLIENT LIST).
    fn publish_counts(&self) {
        let subs = &self.owner.subs;
        subs[0].store(self.channels.len(), Relaxed);
        subs[1].store(self.patterns.len(), Relaxed);
        subs[2].store(self.shard.len(), Relaxed);
    }
}

impl Client {
    /// Redis's CLIENT_PUBSUB: the client has at least one subscription.
    pub fn in_pubsub(&self) -> bool {
        self.pushes.as_ref().is_some_and(|s| s.total() > 0)
    }

    /// The client's pushes state, created on first use.
    pub fn pushes_mut(&mut self) -> &mut Subscriptions {
        let handle = &self.handle;
        self.pushes.get_or_insert_with(|| {
            Box::new(Subscriptions {
                outbox: handle.outbox.clone(),
                owner: handle.clone(),
                channels: HashSet::new(),
                patterns: HashSet::new(),
                shard: HashSet::new(),
                monitor: false,
            })
        })
    }
}

/// Leaves MONITOR mode.
pub fn stop_monitor(shared: &Shared, client: &mut Client) {
    let Some(s) = client.pushes.as_mut().filter(|s| s.monitor) else {
        return;
    };
    s.monitor = false;
    let mut m = shared.monitors.lock();
    m.retain(|(id, _)| *id != client.id);
    shared.monitor_count.store(m.len(), Relaxed);
    client.handle.monitor.store(false, Relaxed);
}

/// Drops the client's subscriptions and MONITOR mode (RESET, close).
pub fn leave_all(shared: &Shared, client: &mut Client) {
    stop_monitor(shared, client);
    let id = client.id;
    if let Some(s) = client.pushes.as_mut() {
        s.clear(&shared.pubsub, id);
    }
}

/// Whether command `name` answers with subscription confirmations, which
/// Redis pushes whatever CLIENT REPLY says (its CLIENT_PUSHING).
pub fn confirms_subscriptions(name: &str) -> bool {
    ALLOWED_SUBSCRIBED[1..7].contains(&name)
}

/// Commands a RESP2 client may run while subscribed (after PING, the
/// six that confirm subscriptions).
const ALLOWED_SUBSCRIBED: &[&str] = &[
    "ping",
    "subscribe",
    "ssubscribe",
    "unsubscribe",
    "sunsubscribe",
    "psubscribe",
    "punsubscribe",
    "quit",
    "reset",
];

/// Redis's subscribed-context rule: a RESP2 client with subscriptions may
/// only run (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PING, QUIT and RESET.
pub fn subscribed_mode_error(
    client: &Client,
    cmd: &crate::command::Command,
    args: &larder_resp::Args<'_>,
) -> Option<crate::error::CmdError> {
    if client.proto != Protocol::Resp2
        || ALLOWED_SUBSCRIBED.contains(&cmd.name)
        || !client.in_pubsub()
    {
        return None;
    }
    let sub = args.get(1).unwrap_or_default();
    let name = cmd
        .subcommands
        .iter()
        .find(|c| {
            c.name
                .split_once('|')
                .is_some_and(|(_, s)| s.as_bytes().eq_ignore_ascii_case(sub))
        })
        .map_or(cmd.name, |c| c.name);
    Some(crate::error::CmdError::owned(format!(
        "ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
    )))
}
