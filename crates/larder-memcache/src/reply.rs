//! Reply encoding: the few line shapes memcached answers with, written
//! straight into the connection's output buffer.

use crate::base64;

/// `VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\n`.
pub fn value(out: &mut Vec<u8>, key: &[u8], flags: u32, data: &[u8], cas: Option<u64>) {
    out.extend_from_slice(b"VALUE ");
    out.extend_from_slice(key);
    out.push(b' ');
    uint(out, u64::from(flags));
    out.push(b' ');
    uint(out, data.len() as u64);
    if let Some(c) = cas {
        out.push(b' ');
        uint(out, c);
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// A line and its `\r\n`.
pub fn line(out: &mut Vec<u8>, text: &[u8]) {
    out.extend_from_slice(text);
    out.extend_from_slice(b"\r\n");
}

/// A decimal number.
pub fn uint(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// A signed decimal number.
pub fn int(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// `STAT <name> <value>\r\n`.
pub fn stat(out: &mut Vec<u8>, name: &str, value: impl std::fmt::Display) {
    use std::io::Write;
    let _ = write!(out, "STAT {name} {value}\r\n");
}

/// A meta return flag ` <c><number>`.
pub fn flag_num(out: &mut Vec<u8>, flag: u8, v: u64) {
    out.push(b' ');
    out.push(flag);
    uint(out, v);
}

/// A meta `k` return flag: the key, base64 with a ` b` when binary.
pub fn flag_key(out: &mut Vec<u8>, key: &[u8], binary: bool) {
    out.extend_from_slice(b" k");
    if binary {
        base64::encode(key, out);
        out.extend_from_slice(b" b");
    } else {
        out.extend_from_slice(key);
    }
}
