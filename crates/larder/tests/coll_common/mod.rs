//! Helpers shared by the collection differential tests (`diff_hashes.rs`,
//! `diff_sets.rs`, `diff_zsets.rs`): comparing replies that involve
//! randomness or hash-table order by shape, and full HSCAN/SSCAN/ZSCAN
//! iterations by content.

#![allow(dead_code)]

use crate::common::{aggregate_elements, esc, scalar_payload, Cmp, DiffSession, RawClient};

/// A reply reduced to its type byte and element count (nested aggregates
/// included), for replies whose elements are random.
pub fn shape(raw: &[u8]) -> Vec<u8> {
    let mut out = vec![raw.first().copied().unwrap_or(b'?')];
    if let Some(elems) = aggregate_elements(raw) {
        out.extend_from_slice(elems.len().to_string().as_bytes());
        for e in elems {
            out.push(b'(');
            out.extend(shape(&e));
            out.push(b')');
        }
    } else if raw.first() == Some(&b'-') {
        out = raw.to_vec();
    }
    out
}

/// Compares a random reply by shape.
pub const SHAPE: Cmp = Cmp::Normalize(shape);

/// Elements of a reply, flattened one level of nesting (RESP3 pairs), as
/// payload bytes.
pub fn flat_payloads(raw: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for e in aggregate_elements(raw).unwrap_or_default() {
        match aggregate_elements(&e) {
            Some(inner) => out.extend(inner.iter().filter_map(|x| scalar_payload(x))),
            None => out.extend(scalar_payload(&e)),
        }
    }
    out
}

/// A full `cmd key cursor extra...` iteration: every item, grouped in
/// `group`s (2 for HSCAN/ZSCAN pairs), sorted and deduplicated.
pub fn full_scan(
    c: &mut RawClient,
    cmd: &str,
    key: &str,
    extra: &[&str],
    group: usize,
) -> Vec<Vec<Vec<u8>>> {
    let mut cursor = b"0".to_vec();
    let mut items: Vec<Vec<Vec<u8>>> = Vec::new();
    for _ in 0..1_000_000 {
        let mut args: Vec<&[u8]> = vec![cmd.as_bytes(), key.as_bytes(), &cursor];
        args.extend(extra.iter().map(|s| s.as_bytes()));
        let reply = c.cmd(&args);
        let parts =
            aggregate_elements(&reply).unwrap_or_else(|| panic!("bad {cmd} reply {}", esc(&reply)));
        cursor = scalar_payload(&parts[0]).expect("cursor");
        let flat: Vec<Vec<u8>> = aggregate_elements(&parts[1])
            .expect("scan items")
            .iter()
            .filter_map(|e| scalar_payload(e))
            .collect();
        items.extend(flat.chunks(group).map(|g| g.to_vec()));
        if cursor == b"0" {
            items.sort();
            items.dedup();
            return items;
        }
    }
    panic!("{cmd} did not terminate");
}

/// Runs a full scan on both servers and compares the item sets.
pub fn diff_full_scan(d: &mut DiffSession, cmd: &str, key: &str, extra: &[&str], group: usize) {
    let l = full_scan(&mut d.larder, cmd, key, extra, group);
    let r = full_scan(&mut d.redis, cmd, key, extra, group);
    assert_eq!(
        l.len(),
        r.len(),
        "{cmd} {key} {extra:?}: larder returned {} items, redis {}",
        l.len(),
        r.len()
    );
    assert!(l == r, "{cmd} {key} {extra:?}: item sets differ");
}

/// Checks that every payload of `raw` (flattened) is one of `members`.
pub fn assert_members(raw: &[u8], members: &[Vec<u8>], what: &str) {
    for p in flat_payloads(raw) {
        assert!(members.contains(&p), "{what}: {} is not a member", esc(&p));
    }
}
