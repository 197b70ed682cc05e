//! Streaming trace readers: one request at a time, whatever the file's size.
//!
//! Formats:
//! - text, one request per line: `key` or `key,size` (CSV; more columns are
//!   ignored, a header line is skipped). Lines of `*` (checkpoint markers in
//!   the LIRS traces) and empty lines are skipped; CRLF endings are fine.
//!   A key that is not a decimal u64 is hashed (FNV-1a), so any text works.
//! - libCacheSim's `oracleGeneral`: 24-byte little-endian records of u32 time,
//!   u64 id, u32 size, i64 next-access (the request index of the key's next
//!   request, -1 for none), which the OPT policy can use as is.
//! - the ARC paper's traces (`.lis`: `P1.lis`, `DS1.lis`, `OLTP.lis`, ...),
//!   as Caffeine's simulator reads them: `start count ignored request-no`
//!   per line, space-separated, standing for `count` requests of blocks
//!   `start`, `start + 1`, ... `start + count - 1`.
//!
//! Any may be gzip'd or zstd'd (libCacheSim ships `.oracleGeneral.zst`):
//! compression is detected from the magic bytes, not the name. Memory: one
//! line or record buffer, a 64 KiB read buffer, and a zstd frame's window.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{bail, Context};

/// One request from a trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    pub key: u64,
    /// Bytes, or 1 when the trace has no sizes.
    pub size: u32,
    /// Index of the key's next request, when the trace says (oracleGeneral).
    pub next: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TraceFormat {
    /// `oracleGeneral` for names ending in `.oracleGeneral` or `.bin`,
    /// `arc` for `.lis` (either optionally `.gz` or `.zst`), text (key or
    /// key,size per line) otherwise.
    Auto,
    Text,
    Csv,
    OracleGeneral,
    /// The ARC paper's traces: `start count ...` per line, a run of blocks.
    Arc,
}

impl TraceFormat {
    /// The format `Auto` means for this path.
    pub fn resolve(self, path: &Path) -> TraceFormat {
        if self != TraceFormat::Auto {
            return self;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let name = [".gz", ".zst"]
            .iter()
            .find_map(|z| name.strip_suffix(z))
            .unwrap_or(&name);
        if name.ends_with(".oraclegeneral") || name.ends_with(".bin") {
            TraceFormat::OracleGeneral
        } else if name.ends_with(".lis") {
            TraceFormat::Arc
        } else if name.ends_with(".csv") {
            TraceFormat::Csv
        } else {
            TraceFormat::Text
        }
    }
}

/// The trace's name for reports: the file name without its known suffixes.
pub fn trace_name(path: &Path) -> String {
    let mut name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    for suffix in [
        ".gz",
        ".zst",
        ".oracleGeneral",
        ".bin",
        ".lis",
        ".csv",
        ".txt",
        ".trace",
    ] {
        if let Some(s) = name.strip_suffix(suffix) {
            name = s.to_string();
        }
    }
    name
}

pub struct TraceReader {
    input: Box<dyn BufRead>,
    format: TraceFormat,
    line: Vec<u8>,
    line_no: u64,
    /// ARC: the blocks of the current line not yet returned.
    blocks: std::ops::Range<u64>,
}

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Opens a trace, transparently decompressing it.
pub fn open(path: &Path, format: TraceFormat) -> anyhow::Result<TraceReader> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut raw = BufReader::with_capacity(1 << 16, file);
    let head = raw.fill_buf()?;
    let input: Box<dyn BufRead> = if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(BufReader::with_capacity(
            1 << 16,
            flate2::read::MultiGzDecoder::new(raw),
        ))
    } else if head.starts_with(&ZSTD_MAGIC) {
        Box::new(BufReader::with_capacity(1 << 16, Zstd::new(raw)?))
    } else {
        Box::new(raw)
    };
    Ok(TraceReader {
        input,
        format: format.resolve(path),
        line: Vec::with_capacity(64),
        line_no: 0,
        blocks: 0..0,
    })
}

/// A zstd stream of one or more frames (concatenated files decode as one).
struct Zstd {
    frame:
        Option<ruzstd::decoding::StreamingDecoder<BufReader<File>, ruzstd::decoding::FrameDecoder>>,
}

impl Zstd {
    /// Windows up to 2 GiB (`zstd --long=31`); a frame's window is only
    /// allocated as large as the frame says.
    const MAX_WINDOW: u64 = 1 << 31;

    fn new(raw: BufReader<File>) -> anyhow::Result<Zstd> {
        let frame =
            ruzstd::decoding::StreamingDecoder::new_with_max_window_size(raw, Self::MAX_WINDOW)
                .map_err(|e| anyhow::anyhow!("zstd: {e}"))?;
        Ok(Zstd { frame: Some(frame) })
    }
}

impl Read for Zstd {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(frame) = &mut self.frame else {
                return Ok(0);
            };
            let n = frame.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            // The frame ended: another may follow.
            let mut raw = self.frame.take().map(|f| f.into_inner()).expect("a frame");
            if raw.fill_buf()?.is_empty() {
                return Ok(0);
            }
            let next =
                ruzstd::decoding::StreamingDecoder::new_with_max_window_size(raw, Self::MAX_WINDOW)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            self.frame = Some(next);
        }
    }
}

impl TraceReader {
    /// The next request, or None at the end of the trace.
    pub fn next_request(&mut self) -> anyhow::Result<Option<Request>> {
        match self.format {
            TraceFormat::OracleGeneral => self.next_record(),
            TraceFormat::Arc => self.next_block(),
            _ => self.next_line(),
        }
    }

    /// ARC: the next block of the current line's run, reading lines as
    /// needed.
    fn next_block(&mut self) -> anyhow::Result<Option<Request>> {
        while self.blocks.is_empty() {
            self.line.clear();
            if self.input.read_until(b'\n', &mut self.line)? == 0 {
                return Ok(None);
            }
            self.line_no += 1;
            let mut fields = self
                .line
                .split(u8::is_ascii_whitespace)
                .filter(|f| !f.is_empty());
            let (Some(start), Some(count)) = (fields.next(), fields.next()) else {
                continue;
            };
            let (Some(start), Some(count)) = (parse_u64(start), parse_u64(count)) else {
                bail!(
                    "line {}: not an ARC trace line (start count ...): {:?}",
                    self.line_no,
                    String::from_utf8_lossy(self.line.trim_ascii())
                );
            };
            self.blocks = start..start.saturating_add(count);
        }
        let key = self.blocks.start;
        self.blocks.start += 1;
        Ok(Some(Request {
            key,
            size: 1,
            next: None,
        }))
    }

    fn next_record(&mut self) -> anyhow::Result<Option<Request>> {
        let mut rec = [0u8; 24];
        match self.input.read_exact(&mut rec) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        self.line_no += 1;
        let word = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&rec[at..at + 8]);
            b
        };
        let key = u64::from_le_bytes(word(4));
        let size = u32::from_le_bytes([rec[12], rec[13], rec[14], rec[15]]);
        let next = i64::from_le_bytes(word(16));
        Ok(Some(Request {
            key,
            size: size.max(1),
            next: Some(u64::try_from(next).unwrap_or(u64::MAX)),
        }))
    }

    fn next_line(&mut self) -> anyhow::Result<Option<Request>> {
        loop {
            self.line.clear();
            if self.input.read_until(b'\n', &mut self.line)? == 0 {
                return Ok(None);
            }
            self.line_no += 1;
            let text = self.line.trim_ascii();
            if text.is_empty() || text == b"*" {
                continue;
            }
            let (key, size) = match text.iter().position(|&b| b == b',') {
                Some(c) => (text[..c].trim_ascii(), Some(&text[c + 1..])),
                None => (text, None),
            };
            let size = match size {
                None => 1,
                Some(rest) => {
                    let field = rest
                        .split(|&b| b == b',')
                        .next()
                        .unwrap_or(b"")
                        .trim_ascii();
                    match parse_u64(field) {
                        Some(s) => u32::try_from(s).unwrap_or(u32::MAX).max(1),
                        // A header line.
                        None if self.line_no == 1 => continue,
                        None => bail!(
                            "line {}: size {:?} is not a number",
                            self.line_no,
                            String::from_utf8_lossy(field)
                        ),
                    }
                }
            };
            let key = parse_u64(key).unwrap_or_else(|| fnv1a(key));
            return Ok(Some(Request {
                key,
                size,
                next: None,
            }));
        }
    }
}

fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

fn fnv1a(s: &[u8]) -> u64 {
    s.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn read_all(path: &Path, format: TraceFormat) -> Vec<Request> {
        let mut r = open(path, format).unwrap();
        let mut out = Vec::new();
        while let Some(q) = r.next_request().unwrap() {
            out.push(q);
        }
        out
    }

    fn req(key: u64, size: u32) -> Request {
        Request {
            key,
            size,
            next: None,
        }
    }

    #[test]
    fn reads_every_format() {
        let dir = std::env::temp_dir().join(format!("larder-sim-trace-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();

        let text = dir.join("t.trace");
        std::fs::write(&text, b"1\r\n*\r\n2\r\n\r\n1\r\n").unwrap();
        assert_eq!(
            read_all(&text, TraceFormat::Auto),
            vec![req(1, 1), req(2, 1), req(1, 1)]
        );

        let gz = dir.join("t.trace.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(b"7\n*\n8").unwrap();
        std::fs::write(&gz, enc.finish().unwrap()).unwrap();
        assert_eq!(read_all(&gz, TraceFormat::Auto), vec![req(7, 1), req(8, 1)]);

        let csv = dir.join("t.csv");
        std::fs::write(&csv, b"key,size\n5,100\nabc, 7 ,x\n").unwrap();
        let got = read_all(&csv, TraceFormat::Auto);
        assert_eq!(got, vec![req(5, 100), req(fnv1a(b"abc"), 7)]);
        std::fs::write(&csv, b"5,100\n6,big\n").unwrap();
        let mut r = open(&csv, TraceFormat::Csv).unwrap();
        assert!(r.next_request().is_ok());
        assert!(r.next_request().is_err());

        let bin = dir.join("t.oracleGeneral");
        let mut bytes = Vec::new();
        for (t, id, size, next) in [(1u32, 42u64, 300u32, 2i64), (2, 43, 0, -1)] {
            bytes.extend_from_slice(&t.to_le_bytes());
            bytes.extend_from_slice(&id.to_le_bytes());
            bytes.extend_from_slice(&size.to_le_bytes());
            bytes.extend_from_slice(&next.to_le_bytes());
        }
        std::fs::write(&bin, &bytes).unwrap();
        let got = read_all(&bin, TraceFormat::Auto);
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].key, got[0].size, got[0].next), (42, 300, Some(2)));
        assert_eq!(
            (got[1].key, got[1].size, got[1].next),
            (43, 1, Some(u64::MAX))
        );

        // zstd, two concatenated frames, oracleGeneral by its name.
        let zst = dir.join("t.oracleGeneral.zst");
        let level = ruzstd::encoding::CompressionLevel::Fastest;
        let mut z = ruzstd::encoding::compress_to_vec(&bytes[..24], level);
        z.extend(ruzstd::encoding::compress_to_vec(&bytes[24..], level));
        std::fs::write(&zst, &z).unwrap();
        let got = read_all(&zst, TraceFormat::Auto);
        assert_eq!(got.iter().map(|r| r.key).collect::<Vec<_>>(), [42, 43]);

        // ARC: each line a run of blocks; gzip'd too.
        let lis = dir.join("P1.lis");
        std::fs::write(&lis, b"100 3 0 0\n7 1 0 1\n\n100 2 0 2\n").unwrap();
        let keys = |p: &Path| {
            read_all(p, TraceFormat::Auto)
                .iter()
                .map(|r| r.key)
                .collect::<Vec<_>>()
        };
        assert_eq!(keys(&lis), [100, 101, 102, 7, 100, 101]);
        let lis_gz = dir.join("P1.lis.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(b"5 2 0 0\n").unwrap();
        std::fs::write(&lis_gz, enc.finish().unwrap()).unwrap();
        assert_eq!(keys(&lis_gz), [5, 6]);
        std::fs::write(&lis, b"100 3 0 0\nx y\n").unwrap();
        let mut r = open(&lis, TraceFormat::Auto).unwrap();
        for _ in 0..3 {
            assert!(r.next_request().unwrap().is_some());
        }
        assert!(r.next_request().is_err());

        assert_eq!(trace_name(&gz), "t");
        assert_eq!(trace_name(Path::new("/a/w.oracleGeneral.gz")), "w");
        assert_eq!(trace_name(&zst), "t");
        assert_eq!(trace_name(&lis_gz), "P1");
        std::fs::remove_dir_all(&dir).ok();
    }
}
