//! DEBUG DIGEST and DEBUG DIGEST-VALUE: Redis's dataset and value digests,
//! bit for bit (debug.c `computeDatasetDigest`, `xorObjectDigest`), so a
//! digest taken from Larder can be compared with one taken from Redis
//! holding the same data — across a restart, a migration, a replay.
//!
//! Two 20-byte SHA1 combinators: `xor` (order-free: the digest of a set is
//! the xor of its members' SHA1s) and `mix` (`d = SHA1(d xor SHA1(data))`,
//! order-sensitive: lists, and the parts of one element). A key's digest
//! mixes its name, its type (big-endian u32, Redis's numbering), its value
//! and, if it has a TTL, the words `!!expire!!`; the dataset digest mixes
//! each non-empty database's number and xors in the SHA1 of each key's digest.
//! Encodings do not matter: an intset member digests as its decimal text,
//! a score as `%.17g`.
//!
//! Cost: two SHA1 computations per element; DEBUG DIGEST holds every shard
//! for the whole walk, like Redis's single thread.

use sha1::{Digest as _, Sha1};

use crate::entry::{EntryRef, StrRef};
use crate::object::Object;
use crate::txn::Txn;

pub type Digest = [u8; 20];

fn xor(d: &mut Digest, data: &[u8]) {
    let h = Sha1::digest(data);
    for (a, b) in d.iter_mut().zip(h.iter()) {
        *a ^= b;
    }
}

fn mix(d: &mut Digest, data: &[u8]) {
    xor(d, data);
    *d = Sha1::digest(&d[..]).into();
}

/// `%.17g` of a score, as Redis prints it into the digest.
fn score_text(score: f64) -> Vec<u8> {
    let mut out = Vec::with_capacity(24);
    larder_resp::number::fmt_double_g17(score, &mut out);
    out
}

/// Redis's `xorObjectDigest`: the value (and TTL marker) of one entry,
/// mixed into `d`.
fn mix_value(d: &mut Digest, e: EntryRef<'_>) {
    // OBJ_STRING 0, OBJ_LIST 1, OBJ_SET 2, OBJ_ZSET 3, OBJ_HASH 4, OBJ_STREAM 6.
    let type_code: u32 = match e.object() {
        None => 0,
        Some(Object::List(_)) => 1,
        Some(Object::Set(_)) => 2,
        Some(Object::ZSet(_)) => 3,
        Some(Object::Hash(_)) => 4,
        Some(Object::Stream(_)) => 6,
    };
    mix(d, &type_code.to_be_bytes());
    let pair = |d: &mut Digest, a: &[u8], b: &[u8]| {
        let mut ele = [0u8; 20];
        mix(&mut ele, a);
        mix(&mut ele, b);
        xor(d, &ele);
    };
    match e.object() {
        None => match e.value() {
            StrRef::Int(i) => mix(d, itoa::Buffer::new().format(i).as_bytes()),
            StrRef::Bytes(b) => mix(d, b),
        },
        Some(Object::List(l)) => l.iter().for_each(|v| mix(d, v)),
        Some(Object::Set(s)) => s.for_each(|m| xor(d, m)),
        Some(Object::ZSet(z)) => {
            for (m, score) in z.iter() {
                pair(d, m, &score_text(score));
            }
        }
        Some(Object::Hash(h)) => h.pairs().for_each(|(f, v)| pair(d, f, v)),
        Some(Object::Stream(s)) => {
            use crate::types::stream::StreamId;
            s.range(StreamId::MIN, StreamId::MAX, false, |e, lp| {
                mix(d, format!("{}.{}", e.id.ms, e.id.seq).as_bytes());
                s.pairs(lp, e, |f, v| {
                    let (mut fb, mut vb) = (itoa::Buffer::new(), itoa::Buffer::new());
                    mix(d, f.bytes(&mut fb));
                    mix(d, v.bytes(&mut vb));
                });
                true
            });
        }
    }
    if e.expire_at() != 0 {
        xor(d, b"!!expire!!");
    }
}

/// DEBUG DIGEST-VALUE of one entry; all zeros for a missing key.
pub fn value_digest(e: Option<EntryRef<'_>>) -> Digest {
    let mut d = [0u8; 20];
    if let Some(e) = e {
        mix_value(&mut d, e);
    }
    d
}

/// DEBUG DIGEST: every database of a fully locked keyspace.
pub fn dataset_digest(txn: &Txn<'_>, databases: usize) -> Digest {
    let mut fin = [0u8; 20];
    for db in 0..databases {
        let mut any = false;
        let mut keys = [0u8; 20];
        txn.entries(db, |e| {
            any = true;
            let mut d = [0u8; 20];
            mix(&mut d, e.key());
            mix_value(&mut d, e);
            xor(&mut keys, &d);
        });
        if any {
            mix(&mut fin, &(db as u32).to_be_bytes());
            for (a, b) in fin.iter_mut().zip(keys.iter()) {
                *a ^= b;
            }
        }
    }
    fin
}

/// Lowercase hex, as DEBUG replies.
pub fn hex(d: &Digest) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}
