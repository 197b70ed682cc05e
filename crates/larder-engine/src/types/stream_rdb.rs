//! Streams in RDB: `RDB_TYPE_STREAM_LISTPACKS_2` (19) as Redis 7.0 writes
//! it, and reading 15 (5.0-6.2), 19 and 21 (7.2, consumers with an active
//! time).
//!
//! ```text
//!   nodes        len, then per node: master ID (16-byte big-endian string), listpack (string)
//!   length       len;  last ID  len len
//!   (19+)        first ID len len;  max deleted ID len len;  entries added len
//!   groups       len, then per group (in name order):
//!                  name string;  last ID len len;  (19+) entries read len
//!                  PEL     len, then per entry: ID (16 raw bytes), delivery time (ms, u64 LE), count len
//!                  consumers len, then per consumer: name string, seen time (ms, u64 LE),
//!                          (21) active time (ms, u64 LE), PEL: len, then IDs (16 raw bytes)
//! ```
//!
//! Nodes are Redis's own listpacks (see `stream.rs`), so they are written
//! and read as they are; every node is checked on load (structure, counts,
//! ascending IDs), as are the PELs (each consumer's entries must be in the
//! group's PEL, and every group entry must have a consumer).

use std::io::Read;

use super::stream::{Consumer, Group, Nack, Stream, StreamId, ENTRIES_READ_INVALID};
use crate::rdb::read::Input;
use crate::rdb::write::{save_len, save_string};
use crate::rdb::{types, RdbError};

type Result<T> = std::result::Result<T, RdbError>;

fn save_id(out: &mut Vec<u8>, id: StreamId) {
    save_len(out, id.ms);
    save_len(out, id.seq);
}

/// rdbSaveObject for a stream (type 19).
pub fn save(out: &mut Vec<u8>, s: &Stream, compress: bool) {
    save_len(out, s.node_count() as u64);
    for (m, lp) in s.nodes() {
        save_string(out, &m.to_be(), compress);
        save_string(out, lp, compress);
    }
    save_len(out, s.length);
    save_id(out, s.last_id);
    save_id(out, s.first_id);
    save_id(out, s.max_deleted_id);
    save_len(out, s.entries_added);
    save_len(out, s.groups.len() as u64);
    for (name, g) in &s.groups {
        save_string(out, name, compress);
        save_id(out, g.last_id);
        save_len(out, g.entries_read as u64);
        save_len(out, g.pel.len() as u64);
        for (id, n) in &g.pel {
            out.extend_from_slice(&id.to_be());
            out.extend_from_slice(&n.delivery_time.to_le_bytes());
            save_len(out, n.delivery_count);
        }
        save_len(out, g.consumers.len() as u64);
        for (cname, c) in &g.consumers {
            save_string(out, cname, compress);
            out.extend_from_slice(&c.seen_time.to_le_bytes());
            save_len(out, c.pel.len() as u64);
            for id in &c.pel {
                out.extend_from_slice(&id.to_be());
            }
        }
    }
}

fn raw_id<R: Read>(inp: &mut Input<R>) -> Result<StreamId> {
    let mut b = [0u8; 16];
    for x in &mut b {
        *x = inp.byte()?;
    }
    Ok(StreamId::from_be(&b))
}

fn millis<R: Read>(inp: &mut Input<R>) -> Result<u64> {
    let mut b = [0u8; 8];
    for x in &mut b {
        *x = inp.byte()?;
    }
    Ok(u64::from_le_bytes(b))
}

fn len_id<R: Read>(inp: &mut Input<R>) -> Result<StreamId> {
    let ms = inp.length()?;
    Ok(StreamId::new(ms, inp.length()?))
}

/// rdbLoadObject for the stream types 15, 19 and 21.
pub fn load<R: Read>(inp: &mut Input<R>, ty: u8) -> Result<Stream> {
    let at = inp.offset();
    let bad = |what: &str| RdbError::new(at, format!("stream: {what}"));
    let mut s = Stream::new();
    let nodes = inp.length()?;
    let mut prev: Option<StreamId> = None;
    let mut live = 0u64;
    for _ in 0..nodes {
        let key = inp.bytes()?;
        let key: [u8; 16] = key
            .as_slice()
            .try_into()
            .map_err(|_| bad("node key is not a 128 bit ID"))?;
        let master = StreamId::from_be(&key);
        let lp = inp.bytes()?;
        if prev.is_some_and(|p| master <= p) {
            return Err(bad("nodes out of order"));
        }
        let (n, last) = Stream::check_node(master, &lp, prev).ok_or_else(|| bad("bad listpack"))?;
        live += n;
        prev = Some(last);
        s.insert_node(master, lp);
    }
    s.length = inp.length()?;
    if s.length != live {
        return Err(bad("length does not match its entries"));
    }
    s.last_id = len_id(inp)?;
    if prev.is_some_and(|p| p > s.last_id) {
        return Err(bad("an entry is past the last ID"));
    }
    if ty >= types::STREAM_LISTPACKS_2 {
        s.first_id = len_id(inp)?;
        s.max_deleted_id = len_id(inp)?;
        s.entries_added = inp.length()?;
    } else {
        s.entries_added = s.length;
        s.first_id = s.edge_id(false).unwrap_or_default();
    }
    let ngroups = inp.length()?;
    for _ in 0..ngroups {
        let name = inp.bytes()?;
        let last_id = len_id(inp)?;
        let entries_read = if ty >= types::STREAM_LISTPACKS_2 {
            inp.length()? as i64
        } else {
            s.estimate_distance(last_id)
                .map_or(ENTRIES_READ_INVALID, |v| v as i64)
        };
        let mut g = Group::new(last_id, entries_read);
        let npel = inp.length()?;
        for _ in 0..npel {
            let id = raw_id(inp)?;
            let delivery_time = millis(inp)?;
            let delivery_count = inp.length()?;
            let nack = Nack {
                delivery_time,
                delivery_count,
                consumer: Box::default(),
            };
            if g.pel.insert(id, nack).is_some() {
                return Err(bad("duplicated global PEL entry"));
            }
        }
        let nconsumers = inp.length()?;
        for _ in 0..nconsumers {
            let cname = inp.bytes()?;
            let seen_time = millis(inp)?;
            if ty >= types::STREAM_LISTPACKS_3 {
                millis(inp)?;
            }
            let mut c = Consumer {
                seen_time,
                ..Consumer::default()
            };
            let n = inp.length()?;
            for _ in 0..n {
                let id = raw_id(inp)?;
                let nack = g
                    .pel
                    .get_mut(&id)
                    .ok_or_else(|| bad("consumer PEL entry not in the group PEL"))?;
                if !nack.consumer.is_empty() || !c.pel.insert(id) {
                    return Err(bad("PEL entry owned twice"));
                }
                nack.consumer = cname.clone().into_boxed_slice();
            }
            if g.consumers.insert(cname.into_boxed_slice(), c).is_some() {
                return Err(bad("duplicated consumer"));
            }
        }
        if g.pel
            .values()
            .any(|n| !g.consumers.contains_key(&n.consumer))
        {
            return Err(bad("PEL entry without a consumer"));
        }
        if s.groups.insert(name.into_boxed_slice(), g).is_some() {
            return Err(bad("duplicated consumer group"));
        }
    }
    Ok(s)
}
