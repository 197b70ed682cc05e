//! Trace replay input (`--trace PATH`): a key per line, in request order.
//!
//! Files are plain text or gzip (told apart by the gzip magic bytes), such
//! as the LIRS traces (block numbers, one per line, `*` lines as
//! separators, which are skipped). CRLF and surrounding blanks are trimmed.
//! The keys are kept in one byte buffer with an end offset per line (a few
//! bytes per key, no allocation per line). Connections share one atomic
//! cursor, so the server sees the trace in order (interleaved only as the
//! connections' requests overlap); the cache-aside follow-up (SET after a
//! GET miss) is the workload's job.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use anyhow::{bail, Context};

/// A key trace for `--trace`: one key per line, in request order.
pub struct Trace {
    bytes: Vec<u8>,
    ends: Vec<usize>,
    cursor: AtomicUsize,
    looping: bool,
}

impl Trace {
    /// Reads a text trace, gzip'd or plain (told apart by the gzip magic),
    /// skipping empty lines and `*` lines, tolerating CRLF. `looping`
    /// replays it from the start when it runs out (for `--duration` and
    /// `--requests`).
    pub fn load(path: &Path, looping: bool) -> anyhow::Result<Trace> {
        let raw = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let text = if raw.starts_with(&[0x1f, 0x8b]) {
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&raw[..]), &mut v)
                .with_context(|| format!("decompressing {}", path.display()))?;
            v
        } else {
            raw
        };
        let t = Trace::parse(&text, looping);
        if t.ends.is_empty() {
            bail!("{} holds no keys", path.display());
        }
        if t.ends.len() >= u32::MAX as usize {
            bail!("{} has more than 2^32 lines", path.display());
        }
        Ok(t)
    }

    pub fn parse(text: &[u8], looping: bool) -> Trace {
        let mut bytes = Vec::with_capacity(text.len());
        let mut ends = Vec::new();
        for line in text.split(|&c| c == b'\n') {
            let line = line.trim_ascii();
            if line.is_empty() || line == b"*" {
                continue;
            }
            bytes.extend_from_slice(line);
            ends.push(bytes.len());
        }
        Trace {
            bytes,
            ends,
            cursor: AtomicUsize::new(0),
            looping,
        }
    }

    /// Starts over from the first line (each run replays the whole trace).
    pub fn rewind(&self) {
        self.cursor.store(0, Relaxed);
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn key(&self, line: u32) -> &[u8] {
        let i = line as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start..self.ends[i]]
    }

    /// The next line to replay, shared by all connections.
    pub fn claim(&self) -> Option<u32> {
        let i = self.cursor.fetch_add(1, Relaxed);
        match i < self.ends.len() {
            true => Some(i as u32),
            false if self.looping => Some((i % self.ends.len()) as u32),
            false => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_gzip_traces() {
        let text = b"*\r\n12\r\n\r\n  7 \n*\n12";
        let t = Trace::parse(text, false);
        assert_eq!(t.len(), 3);
        assert_eq!([t.key(0), t.key(1), t.key(2)], [&b"12"[..], b"7", b"12"]);
        assert_eq!(
            (t.claim(), t.claim(), t.claim(), t.claim()),
            (Some(0), Some(1), Some(2), None)
        );
        t.rewind();
        assert_eq!(t.claim(), Some(0));
        let looping = Trace::parse(text, true);
        let lines: Vec<_> = (0..5).map(|_| looping.claim()).collect();
        assert_eq!(lines, [Some(0), Some(1), Some(2), Some(0), Some(1)]);

        let dir = std::env::temp_dir().join(format!("larder-bench-trace-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let gz = dir.join("t.trace.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut enc, text).unwrap();
        std::fs::write(&gz, enc.finish().unwrap()).unwrap();
        assert_eq!(Trace::load(&gz, false).unwrap().len(), 3);
        let plain = dir.join("t.trace");
        std::fs::write(&plain, text).unwrap();
        assert_eq!(Trace::load(&plain, false).unwrap().len(), 3);
        std::fs::write(&plain, b"*\n\n").unwrap();
        assert!(Trace::load(&plain, false).is_err());
        assert!(Trace::load(&dir.join("missing"), false).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
