//! Streams: Redis 7.0's `t_stream.c` representation, minus the radix tree.
//!
//! Entries live in *nodes*: listpacks in exactly Redis's stream layout,
//! kept in a `BTreeMap` keyed by the node's master ID (the ID of the first
//! entry ever appended to it), where Redis uses a rax.
//!
//! ```text
//!   node     count | deleted | nfields | field_1 .. field_N | 0        (master entry)
//!            entry*
//!   entry    flags | ms-diff | seq-diff | value_1 .. value_N | lp-count      (SAMEFIELDS)
//!            flags | ms-diff | seq-diff | n | f_1 v_1 .. f_n v_n | lp-count
//! ```
//!
//! Flags: 1 = deleted, 2 = same fields as the master entry. IDs are stored
//! as deltas from the master ID. A node takes entries until it holds
//! `stream-node-max-entries` entries (live or deleted; default 100, 0 = no
//! limit) or its bytes plus the new entry's field and value bytes reach
//! `stream-node-max-bytes` (default 4096; 0, or more than 1 GB, = 1 GB), as
//! Redis's streamAppendItem (`Limits`). XDEL and exact trimming only flag an
//! entry deleted; a node goes when its last live entry does (XDEL) or when
//! trimming passes all of it. Because the layout is Redis's own, RDB and
//! DUMP write the nodes as they are and read Redis's back unchanged, and
//! XINFO's `radix-tree-keys` is the node count.
//!
//! Costs: an entry with the master's fields costs its values plus about 6
//! bytes (flags, deltas, lp-count, backlens); B-tree overhead is per node
//! (~50 bytes per node: per 100 entries by default). Lookups by ID find the
//! node in O(log nodes) and scan it (≤ 100 entries by default); XRANGE
//! walks nodes in order.
//! Consumer groups keep their pending entries (PEL) in a `BTreeMap` by ID
//! (about 60 bytes each), and each consumer a `BTreeSet` of its IDs.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::Limits;
use crate::rdb::packed::{lp_decode, lp_encode, lp_encode_int, Item};

/// The largest node, whatever `stream-node-max-bytes` says, and the most
/// field and value bytes one entry may have (STREAM_LISTPACK_MAX_SIZE).
pub const LISTPACK_MAX_SIZE: usize = 1 << 30;
/// A group's `entries_read` when unknown (SCG_INVALID_ENTRIES_READ).
pub const ENTRIES_READ_INVALID: i64 = -1;

const FLAG_DELETED: i64 = 1;
const FLAG_SAMEFIELDS: i64 = 2;
const LP_HEADER: usize = 6;

/// A stream entry ID: milliseconds and sequence.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    pub fn is_zero(&self) -> bool {
        *self == StreamId::MIN
    }

    /// streamIncrID: `None` past the last possible ID.
    pub fn next(self) -> Option<StreamId> {
        if self.seq < u64::MAX {
            Some(StreamId::new(self.ms, self.seq + 1))
        } else if self.ms < u64::MAX {
            Some(StreamId::new(self.ms + 1, 0))
        } else {
            None
        }
    }

    /// streamDecrID: `None` before 0-0.
    pub fn prev(self) -> Option<StreamId> {
        if self.seq > 0 {
            Some(StreamId::new(self.ms, self.seq - 1))
        } else if self.ms > 0 {
            Some(StreamId::new(self.ms - 1, u64::MAX))
        } else {
            None
        }
    }

    /// The 16-byte big-endian form (rax keys, RDB PEL entries).
    pub fn to_be(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.ms.to_be_bytes());
        b[8..].copy_from_slice(&self.seq.to_be_bytes());
        b
    }

    pub fn from_be(b: &[u8; 16]) -> StreamId {
        let mut ms = [0u8; 8];
        let mut seq = [0u8; 8];
        ms.copy_from_slice(&b[..8]);
        seq.copy_from_slice(&b[8..]);
        StreamId::new(u64::from_be_bytes(ms), u64::from_be_bytes(seq))
    }

    /// `<ms>-<seq>` into `out` (cleared first).
    pub fn format(self, out: &mut Vec<u8>) {
        out.clear();
        let mut b = itoa::Buffer::new();
        out.extend_from_slice(b.format(self.ms).as_bytes());
        out.push(b'-');
        out.extend_from_slice(b.format(self.seq).as_bytes());
    }

    pub fn to_bytes(self) -> Vec<u8> {
        let mut v = Vec::with_capacity(24);
        self.format(&mut v);
        v
    }
}

/// A pending entry of a consumer group (streamNACK).
#[derive(Clone, Debug)]
pub struct Nack {
    pub delivery_time: u64,
    pub delivery_count: u64,
    pub consumer: Box<[u8]>,
}

#[derive(Clone, Debug, Default)]
pub struct Consumer {
    pub seen_time: u64,
    pub pel: BTreeSet<StreamId>,
}

/// A consumer group (streamCG).
#[derive(Clone, Debug, Default)]
pub struct Group {
    pub last_id: StreamId,
    pub entries_read: i64,
    pub pel: BTreeMap<StreamId, Nack>,
    pub consumers: BTreeMap<Box<[u8]>, Consumer>,
}

impl Group {
    pub fn new(last_id: StreamId, entries_read: i64) -> Group {
        Group {
            last_id,
            entries_read,
            ..Group::default()
        }
    }

    /// Creates consumer `name` seen at `now` unless it exists; true if created.
    pub fn create_consumer(&mut self, name: &[u8], now: u64) -> bool {
        if self.consumers.contains_key(name) {
            return false;
        }
        self.consumers.insert(
            name.into(),
            Consumer {
                seen_time: now,
                pel: BTreeSet::new(),
            },
        );
        true
    }

    /// Removes a consumer and its pending entries; the count it had, or
    /// `None` if absent.
    pub fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let c = self.consumers.remove(name)?;
        for id in &c.pel {
            self.pel.remove(id);
        }
        Some(c.pel.len())
    }

    /// Acknowledges `id`: true if it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        let Some(n) = self.pel.remove(&id) else {
            return false;
        };
        if let Some(c) = self.consumers.get_mut(&n.consumer) {
            c.pel.remove(&id);
        }
        true
    }

    /// Makes `id` pending for `consumer` (which must exist), delivered at
    /// `now` with `count` deliveries, moving it from another consumer.
    pub fn assign(&mut self, id: StreamId, consumer: &[u8], now: u64, count: u64) {
        if let Some(old) = self.pel.get(&id) {
            if *old.consumer != *consumer {
                let prev = old.consumer.clone();
                if let Some(c) = self.consumers.get_mut(&prev) {
                    c.pel.remove(&id);
                }
            }
        }
        self.pel.insert(
            id,
            Nack {
                delivery_time: now,
                delivery_count: count,
                consumer: consumer.into(),
            },
        );
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pel.insert(id);
        }
    }
}

/// How to trim (XADD / XTRIM options).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trim {
    MaxLen(u64),
    MinId(StreamId),
}

/// A stream (see the module comment).
#[derive(Clone, Debug, Default)]
pub struct Stream {
    nodes: BTreeMap<StreamId, Vec<u8>>,
    pub length: u64,
    pub last_id: StreamId,
    pub first_id: StreamId,
    pub max_deleted_id: StreamId,
    pub entries_added: u64,
    pub groups: BTreeMap<Box<[u8]>, Group>,
}

/// An entry found in a node: where its parts are.
#[derive(Clone, Copy, Debug)]
pub struct EntryPos {
    pub id: StreamId,
    flags: i64,
    flags_at: usize,
    /// Offset of the first field (or value, with same fields).
    at: usize,
    nfields: usize,
    same: bool,
    /// Offset of the master's first field.
    master_at: usize,
}

/// The element at `p` of a listpack; a malformed one (never in a checked
/// node) reads as the end.
fn get(lp: &[u8], p: usize) -> (Item<'_>, usize) {
    let end = lp.len().saturating_sub(1);
    if p >= end {
        return (Item::Int(0), end);
    }
    lp_decode(lp, p, end).unwrap_or((Item::Int(0), end))
}

fn get_int(lp: &[u8], p: usize) -> (i64, usize) {
    match get(lp, p) {
        (Item::Int(i), n) => (i, n),
        (Item::Str(s), n) => (
            std::str::from_utf8(s)
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
            n,
        ),
    }
}

fn skip(lp: &[u8], mut p: usize, n: usize) -> usize {
    for _ in 0..n {
        p = get(lp, p).1;
    }
    p
}

/// The master entry: (live count, deleted count, nfields, first field, first entry).
fn master(lp: &[u8]) -> (i64, i64, usize, usize, usize) {
    let (count, p) = get_int(lp, LP_HEADER);
    let (deleted, p) = get_int(lp, p);
    let (nf, p) = get_int(lp, p);
    let nf = nf.max(0) as usize;
    let after = skip(lp, p, nf);
    (count, deleted, nf, p, get(lp, after).1)
}

fn set_header(lp: &mut [u8]) {
    let total = lp.len() as u32;
    lp[..4].copy_from_slice(&total.to_le_bytes());
}

/// lpReplaceInteger: re-encodes the element at `p` as `v`.
fn replace_int(lp: &mut Vec<u8>, p: usize, v: i64) {
    let next = get(lp, p).1;
    let mut enc = Vec::with_capacity(12);
    lp_encode_int(&mut enc, v);
    lp.splice(p..next, enc);
    set_header(lp);
}

/// Appends elements built by `f` before the EOF byte, keeping the header.
fn append_elems(lp: &mut Vec<u8>, f: impl FnOnce(&mut Vec<u8>) -> usize) {
    lp.pop();
    let added = f(lp);
    lp.push(0xFF);
    set_header(lp);
    let n = u16::from_le_bytes([lp[4], lp[5]]);
    if n != u16::MAX {
        let total = (usize::from(n) + added).min(usize::from(u16::MAX)) as u16;
        lp[4..6].copy_from_slice(&total.to_le_bytes());
    }
}

/// Entries of one node, in order (deleted ones included).
fn node_entries(master_id: StreamId, lp: &[u8], mut visit: impl FnMut(EntryPos) -> bool) {
    let (_, _, mnf, master_at, mut p) = master(lp);
    let end = lp.len().saturating_sub(1);
    while p < end {
        let flags_at = p;
        let (flags, q) = get_int(lp, p);
        let (msd, q) = get_int(lp, q);
        let (seqd, mut q) = get_int(lp, q);
        let same = flags & FLAG_SAMEFIELDS != 0;
        let nfields = if same {
            mnf
        } else {
            let (n, q2) = get_int(lp, q);
            q = q2;
            n.max(0) as usize
        };
        let at = q;
        let after = skip(lp, q, if same { nfields } else { nfields * 2 });
        p = get(lp, after).1;
        let e = EntryPos {
            id: StreamId::new(
                master_id.ms.wrapping_add(msd as u64),
                master_id.seq.wrapping_add(seqd as u64),
            ),
            flags,
            flags_at,
            at,
            nfields,
            same,
            master_at,
        };
        if !visit(e) {
            return;
        }
    }
}

impl Stream {
    pub fn new() -> Stream {
        Stream::default()
    }

    pub fn len(&self) -> usize {
        self.length as usize
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Listpack nodes (XINFO `radix-tree-keys`).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The nodes as (master ID, listpack), for RDB.
    pub fn nodes(&self) -> impl Iterator<Item = (&StreamId, &Vec<u8>)> {
        self.nodes.iter()
    }

    /// Heap bytes of the entries (listpacks).
    pub fn entry_bytes(&self) -> usize {
        self.nodes.values().map(Vec::capacity).sum()
    }

    /// rax's node count for the node keys: the nodes of the compressed
    /// trie of the 16-byte master IDs (XINFO `radix-tree-nodes`).
    pub fn rax_nodes(&self) -> usize {
        let keys: Vec<[u8; 16]> = self.nodes.keys().map(|k| k.to_be()).collect();
        if keys.is_empty() {
            return 1;
        }
        fn count(keys: &[[u8; 16]], depth: usize) -> usize {
            if keys.len() == 1 {
                return if depth < 16 { 2 } else { 1 };
            }
            let (a, b) = (&keys[0], &keys[keys.len() - 1]);
            let mut p = depth;
            while a[p] == b[p] {
                p += 1;
            }
            let mut n = usize::from(p > depth) + 1;
            let mut i = 0;
            while i < keys.len() {
                let c = keys[i][p];
                let j = i + keys[i..].iter().take_while(|k| k[p] == c).count();
                n += count(&keys[i..j], p + 1);
                i = j;
            }
            n
        }
        count(&keys, 0)
    }

    /// Adds a node read from RDB as it is (its master ID).
    pub fn insert_node(&mut self, master: StreamId, lp: Vec<u8>) {
        self.nodes.insert(master, lp);
    }

    /// Writes the field/value pairs of an entry found by a visit.
    pub fn pairs<'a>(&'a self, lp: &'a [u8], e: &EntryPos, mut f: impl FnMut(Item<'a>, Item<'a>)) {
        let (mut fp, mut vp) = if e.same {
            (e.master_at, e.at)
        } else {
            (e.at, 0)
        };
        for _ in 0..e.nfields {
            if e.same {
                let (field, nf) = get(lp, fp);
                let (value, nv) = get(lp, vp);
                fp = nf;
                vp = nv;
                f(field, value);
            } else {
                let (field, nf) = get(lp, fp);
                let (value, nv) = get(lp, nf);
                fp = nv;
                f(field, value);
            }
        }
    }

    /// Visits live entries with IDs in `start..=end`, ascending (or
    /// descending when `rev`), until `visit` returns false. `visit` gets
    /// the entry and its node's listpack.
    pub fn range<'s>(
        &'s self,
        start: StreamId,
        end: StreamId,
        rev: bool,
        mut visit: impl FnMut(&EntryPos, &'s [u8]) -> bool,
    ) {
        if start > end {
            return;
        }
        let from = self
            .nodes
            .range(..=start)
            .next_back()
            .map_or(start, |(k, _)| *k);
        let nodes = self.nodes.range(from..=end);
        let mut go = true;
        let mut each = |(m, lp): (&StreamId, &'s Vec<u8>), buf: &mut Vec<EntryPos>| {
            if rev {
                buf.clear();
                node_entries(*m, lp, |e| {
                    buf.push(e);
                    true
                });
                for e in buf.iter().rev() {
                    if e.flags & FLAG_DELETED == 0 && e.id >= start && e.id <= end && !visit(e, lp)
                    {
                        return false;
                    }
                }
                true
            } else {
                let mut cont = true;
                node_entries(*m, lp, |e| {
                    if e.id > end {
                        return false;
                    }
                    if e.flags & FLAG_DELETED == 0 && e.id >= start && !visit(&e, lp) {
                        cont = false;
                        return false;
                    }
                    true
                });
                cont
            }
        };
        let mut buf = Vec::new();
        if rev {
            for n in nodes.rev() {
                go = go && each(n, &mut buf);
            }
        } else {
            for n in nodes {
                go = go && each(n, &mut buf);
            }
        }
    }

    /// Whether a live entry `id` exists.
    pub fn contains(&self, id: StreamId) -> bool {
        let mut found = false;
        self.range(id, id, false, |_, _| {
            found = true;
            false
        });
        found
    }

    /// The first (or last) live entry ID (streamGetEdgeID).
    pub fn edge_id(&self, last: bool) -> Option<StreamId> {
        let mut out = None;
        self.range(StreamId::MIN, StreamId::MAX, last, |e, _| {
            out = Some(e.id);
            false
        });
        out
    }

    /// streamAppendItem after the ID and size checks: appends `pairs`
    /// (field, value, ...) as entry `id`, which must be above `last_id`, in
    /// a new node if the last one is full by `lim`'s stream node limits.
    pub fn append(&mut self, id: StreamId, pairs: &[&[u8]], lim: &Limits) {
        let nf = pairs.len() / 2;
        let totelelen: usize = pairs.iter().map(|p| p.len()).sum();
        let max_bytes = match lim.stream_node_max_bytes {
            0 => LISTPACK_MAX_SIZE,
            n => n.min(LISTPACK_MAX_SIZE),
        };
        let max_entries = lim.stream_node_max_entries;
        let tail = self.nodes.iter_mut().next_back().and_then(|(m, lp)| {
            let (count, deleted, ..) = master(lp);
            let full = lp.len() + totelelen >= max_bytes
                || (max_entries > 0 && count + deleted >= max_entries);
            (!full).then_some((*m, lp))
        });
        let (master_id, lp, same) = match tail {
            Some((m, lp)) => {
                let (count, _, mnf, ..) = master(lp);
                replace_int(lp, LP_HEADER, count + 1);
                // The count may have changed size: find the fields after it.
                let mut fp = master(lp).3;
                let mut same = mnf == nf;
                if same {
                    let mut buf = itoa::Buffer::new();
                    for i in 0..nf {
                        let (f, next) = get(lp, fp);
                        if f.bytes(&mut buf) != pairs[2 * i] {
                            same = false;
                            break;
                        }
                        fp = next;
                    }
                }
                (m, lp, same)
            }
            None => {
                let mut lp = vec![0u8; LP_HEADER];
                lp.push(0xFF);
                append_elems(&mut lp, |b| {
                    lp_encode_int(b, 1);
                    lp_encode_int(b, 0);
                    lp_encode_int(b, nf as i64);
                    for i in 0..nf {
                        lp_encode(b, pairs[2 * i]);
                    }
                    lp_encode_int(b, 0);
                    nf + 4
                });
                self.nodes.insert(id, lp);
                let lp = self.nodes.get_mut(&id).expect("just inserted");
                (id, lp, true)
            }
        };
        append_elems(lp, |b| {
            let flags = if same { FLAG_SAMEFIELDS } else { 0 };
            lp_encode_int(b, flags);
            lp_encode_int(b, id.ms.wrapping_sub(master_id.ms) as i64);
            lp_encode_int(b, id.seq.wrapping_sub(master_id.seq) as i64);
            let mut n = 3;
            if !same {
                lp_encode_int(b, nf as i64);
                n += 1;
            }
            for i in 0..nf {
                if !same {
                    lp_encode(b, pairs[2 * i]);
                    n += 1;
                }
                lp_encode(b, pairs[2 * i + 1]);
                n += 1;
            }
            lp_encode_int(b, n as i64);
            n + 1
        });
        if self.length == 0 {
            self.first_id = id;
        }
        self.length += 1;
        self.entries_added += 1;
        self.last_id = id;
    }

    /// Marks a found entry deleted in its node (streamIteratorRemoveEntry),
    /// dropping the node with its last live entry.
    fn remove_at(&mut self, master_id: StreamId, e: &EntryPos) {
        let Some(lp) = self.nodes.get_mut(&master_id) else {
            return;
        };
        lp[e.flags_at] = (e.flags | FLAG_DELETED) as u8;
        let (count, deleted, ..) = master(lp);
        if count <= 1 {
            self.nodes.remove(&master_id);
        } else {
            replace_int(lp, LP_HEADER, count - 1);
            let p = get(lp, LP_HEADER).1;
            replace_int(lp, p, deleted + 1);
        }
        self.length -= 1;
    }

    /// Deletes entry `id` (streamDeleteItem): true if it was there.
    pub fn delete(&mut self, id: StreamId) -> bool {
        let Some((m, found)) = self.nodes.range(..=id).next_back().and_then(|(m, lp)| {
            let mut found = None;
            node_entries(*m, lp, |e| {
                if e.id == id && e.flags & FLAG_DELETED == 0 {
                    found = Some(e);
                }
                e.id < id
            });
            found.map(|f| (*m, f))
        }) else {
            return false;
        };
        self.remove_at(m, &found);
        true
    }

    /// XDEL of several IDs: the count deleted, with first / max-deleted
    /// bookkeeping as Redis 7.0 does it.
    pub fn delete_ids(&mut self, ids: &[StreamId]) -> usize {
        let mut deleted = 0;
        let mut first = false;
        for &id in ids {
            if self.delete(id) {
                first |= id == self.first_id;
                if id > self.max_deleted_id {
                    self.max_deleted_id = id;
                }
                deleted += 1;
            }
        }
        if deleted > 0 {
            if self.length == 0 {
                self.first_id = StreamId::MIN;
            } else if first {
                self.first_id = self.edge_id(false).unwrap_or_default();
            }
        }
        deleted
    }

    /// streamTrim: the count of entries removed. `limit` 0 = no limit.
    pub fn trim(&mut self, how: Trim, approx: bool, limit: u64) -> u64 {
        let mut deleted: u64 = 0;
        let keys: Vec<StreamId> = self.nodes.keys().copied().collect();
        for m in keys {
            if let Trim::MaxLen(max) = how {
                if self.length <= max {
                    break;
                }
            }
            let Some(lp) = self.nodes.get_mut(&m) else {
                continue;
            };
            let (entries, marked, ..) = master(lp);
            let entries = entries.max(0) as u64;
            if limit > 0 && deleted + entries > limit {
                break;
            }
            let remove_node = match how {
                Trim::MaxLen(max) => self.length - entries >= max,
                Trim::MinId(min) => {
                    let mut last = m;
                    node_entries(m, lp, |e| {
                        last = e.id;
                        true
                    });
                    last < min
                }
            };
            if remove_node {
                self.nodes.remove(&m);
                self.length -= entries;
                deleted += entries;
                continue;
            }
            if approx {
                break;
            }
            let mut marks = Vec::new();
            let mut length = self.length;
            node_entries(m, lp, |e| {
                let stop = match how {
                    Trim::MaxLen(max) => length <= max,
                    Trim::MinId(min) => e.id >= min,
                };
                if stop {
                    return false;
                }
                if e.flags & FLAG_DELETED == 0 {
                    marks.push(e.flags_at);
                    length -= 1;
                }
                true
            });
            for &at in &marks {
                lp[at] |= FLAG_DELETED as u8;
            }
            let n = marks.len() as i64;
            replace_int(lp, LP_HEADER, entries as i64 - n);
            let p = get(lp, LP_HEADER).1;
            replace_int(lp, p, marked + n);
            self.length = length;
            deleted += n as u64;
            break;
        }
        if self.length == 0 {
            self.first_id = StreamId::MIN;
        } else {
            self.first_id = self.edge_id(false).unwrap_or_default();
        }
        deleted
    }

    /// streamRangeHasTombstones from `start` to the end.
    pub fn has_tombstones_from(&self, start: StreamId) -> bool {
        if self.length == 0 || self.max_deleted_id.is_zero() {
            return false;
        }
        if self.first_id > self.max_deleted_id {
            return false;
        }
        start <= self.max_deleted_id
    }

    /// streamEstimateDistanceFromFirstEverEntry: `None` when unknowable.
    pub fn estimate_distance(&self, id: StreamId) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if self.length == 0 && id <= self.last_id {
            return Some(self.entries_added);
        }
        if id == self.last_id {
            return Some(self.entries_added);
        } else if id > self.last_id {
            return None;
        }
        if self.max_deleted_id.is_zero() || self.max_deleted_id < self.first_id {
            if id < self.first_id {
                return Some(self.entries_added - self.length);
            } else if id == self.first_id {
                return Some(self.entries_added - self.length + 1);
            }
        }
        None
    }

    /// A group's lag (streamReplyWithCGLag): `None` replies null.
    pub fn lag(&self, g: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if g.entries_read != ENTRIES_READ_INVALID && !self.has_tombstones_from(g.last_id) {
            return Some(self.entries_added as i64 - g.entries_read);
        }
        self.estimate_distance(g.last_id)
            .map(|r| self.entries_added as i64 - r as i64)
    }

    /// A group's read counter after delivering `id` (streamReplyWithRange).
    pub fn advance_group(&self, g: &mut Group, id: StreamId) {
        if id <= g.last_id {
            return;
        }
        if g.entries_read != ENTRIES_READ_INVALID && !self.has_tombstones_from(id) {
            g.entries_read += 1;
        } else if self.entries_added > 0 {
            g.entries_read = self
                .estimate_distance(id)
                .map_or(ENTRIES_READ_INVALID, |v| v as i64);
        }
        g.last_id = id;
    }

    /// Checks a node read from RDB: well-formed, master fields, entries in
    /// ascending order after `prev`, counts that match. Returns the node's
    /// live entries and its last ID.
    pub fn check_node(
        master_id: StreamId,
        lp: &[u8],
        prev: Option<StreamId>,
    ) -> Option<(u64, StreamId)> {
        let mut n = 0usize;
        crate::rdb::packed::listpack_for_each(lp, |_| n += 1)?;
        let (count, deleted, nf, _, first) = master(lp);
        if count < 0 || deleted < 0 || n < 4 + nf {
            return None;
        }
        let end = lp.len() - 1;
        let mut p = first;
        let (mut live, mut dead) = (0i64, 0i64);
        let mut last = prev;
        let mut ok = true;
        while p < end {
            let (flags, q) = lp_decode(lp, p, end)?;
            let Item::Int(flags) = flags else { return None };
            let (msd, q) = lp_decode(lp, q, end)?;
            let (seqd, mut q) = lp_decode(lp, q, end)?;
            let (Item::Int(msd), Item::Int(seqd)) = (msd, seqd) else {
                return None;
            };
            let elems = if flags & FLAG_SAMEFIELDS != 0 {
                nf
            } else {
                let (k, q2) = lp_decode(lp, q, end)?;
                q = q2;
                let Item::Int(k) = k else { return None };
                usize::try_from(k).ok()?.checked_mul(2)?
            };
            for _ in 0..elems {
                q = lp_decode(lp, q, end)?.1;
            }
            let (lpc, q) = lp_decode(lp, q, end)?;
            if !matches!(lpc, Item::Int(_)) {
                return None;
            }
            p = q;
            let id = StreamId::new(
                master_id.ms.wrapping_add(msd as u64),
                master_id.seq.wrapping_add(seqd as u64),
            );
            if last.is_some_and(|l| id <= l) {
                ok = false;
            }
            last = Some(id);
            if flags & FLAG_DELETED != 0 {
                dead += 1;
            } else {
                live += 1;
            }
        }
        (ok && live == count && dead == deleted && live + dead > 0).then_some((live as u64, last?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(s: &Stream) -> Vec<StreamId> {
        let mut v = Vec::new();
        s.range(StreamId::MIN, StreamId::MAX, false, |e, _| {
            v.push(e.id);
            true
        });
        v
    }

    #[test]
    fn append_range_delete_trim() {
        let mut s = Stream::new();
        for i in 1..=250u64 {
            let v = i.to_string();
            let pairs: [&[u8]; 4] = [b"a", v.as_bytes(), b"b", b"x"];
            s.append(StreamId::new(i, 0), &pairs, &Limits::default());
        }
        assert_eq!(s.node_count(), 3);
        assert_eq!(ids(&s).len(), 250);
        assert!(s.delete(StreamId::new(5, 0)));
        assert!(!s.delete(StreamId::new(5, 0)));
        assert_eq!(s.len(), 249);
        let mut rev = Vec::new();
        s.range(StreamId::new(3, 0), StreamId::new(7, 0), true, |e, lp| {
            s.pairs(lp, e, |f, v| {
                let mut b = itoa::Buffer::new();
                let mut c = itoa::Buffer::new();
                rev.push((f.bytes(&mut b).to_vec(), v.bytes(&mut c).to_vec()));
            });
            true
        });
        assert_eq!(rev.len(), 8);
        assert_eq!(rev[0], (b"a".to_vec(), b"7".to_vec()));
        assert_eq!(s.trim(Trim::MaxLen(100), false, 0), 149);
        assert_eq!(s.len(), 100);
        assert_eq!(s.first_id, StreamId::new(151, 0));
        assert_eq!(s.trim(Trim::MinId(StreamId::new(200, 0)), true, 0), 0);
        assert_eq!(s.trim(Trim::MinId(StreamId::new(201, 0)), true, 0), 50);
        for (m, lp) in s.nodes() {
            assert!(Stream::check_node(*m, lp, None).is_some());
        }
    }

    /// Nodes for 100 entries `f value` under the two limits (0 = none).
    fn nodes_for(max_bytes: usize, max_entries: i64) -> usize {
        let lim = Limits {
            stream_node_max_bytes: max_bytes,
            stream_node_max_entries: max_entries,
            ..Limits::default()
        };
        let mut s = Stream::new();
        for i in 1..=100 {
            s.append(StreamId::new(i, 0), &[b"f", b"value"], &lim);
        }
        s.node_count()
    }

    #[test]
    fn node_limits() {
        assert_eq!(nodes_for(4096, 100), 1);
        assert_eq!(nodes_for(4096, 10), 10);
        assert_eq!(nodes_for(4096, 1), 100);
        assert_eq!(nodes_for(0, 10), 10);
        assert_eq!(nodes_for(0, 0), 1);
        // A node of 33 bytes grows by 15 a entry and takes one while its
        // bytes plus the entry's 6 stay under 100: 6 entries a node.
        assert_eq!(nodes_for(100, 0), 17);
        assert_eq!(nodes_for(100, 4), 25);
    }
}
