//! The AOF manifest: Redis 7's list of the files that make up the
//! append-only file, in its exact text syntax, so `redis-check-aof` and a
//! real redis-server read Larder's `appendonlydir` and Larder reads theirs.
//!
//! ```text
//! file appendonly.aof.2.base.rdb seq 2 type b
//! file appendonly.aof.2.incr.aof seq 2 type i
//! file appendonly.aof.3.incr.aof seq 3 type i
//! ```
//!
//! One BASE (`b`: an RDB, or commands when `aof-use-rdb-preamble no`), the
//! INCR files (`i`) in the order they are replayed, and HISTORY files (`h`:
//! left by a rewrite, deleted once the new manifest is durable). A name that
//! contains spaces or special bytes is quoted as Redis's `sdscatrepr`. The
//! manifest is replaced atomically: temp file, fsync, rename, fsync of the
//! directory.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AofFile {
    pub name: String,
    pub seq: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    pub base: Option<AofFile>,
    pub incrs: Vec<AofFile>,
    pub history: Vec<AofFile>,
}

/// Why a manifest was refused: Redis's words, and the line they are about
/// (its number and text), for the log's `>>>` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestError {
    pub msg: &'static str,
    pub line: Option<(usize, String)>,
}

impl std::fmt::Display for ManifestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.line {
            Some((n, _)) => write!(f, "{} (line {n})", self.msg),
            None => f.write_str(self.msg),
        }
    }
}

/// `MANIFEST_MAX_LINE`: a line, with its newline, fits in this many bytes.
const MAX_LINE: usize = 1024;

impl Manifest {
    /// aofLoadManifestFromFile's parser, check for check: every line but a
    /// `#` comment ends with a newline within 1024 bytes, is not blank, and
    /// has at least three key/value pairs (keys case-insensitive, unknown
    /// ones ignored) with a file name that is no path, a non-zero seq and a
    /// type; no lines at all is an empty manifest.
    pub fn parse(text: &[u8]) -> Result<Manifest, ManifestError> {
        let mut m = Manifest::default();
        let mut linenum = 0;
        let mut rest = text;
        if rest.is_empty() {
            return Err(ManifestError {
                msg: "Found an empty AOF manifest",
                line: None,
            });
        }
        while !rest.is_empty() {
            linenum += 1;
            // fgets with a 1024-byte buffer: a longer line is read in pieces.
            let take = match rest.iter().take(MAX_LINE).position(|&b| b == b'\n') {
                Some(nl) => nl + 1,
                None => rest.len().min(MAX_LINE),
            };
            let (chunk, after) = rest.split_at(take);
            rest = after;
            if chunk.first() == Some(&b'#') {
                continue;
            }
            let text = String::from_utf8_lossy(chunk)
                .trim_matches([' ', '\t', '\r', '\n'])
                .to_string();
            let err = |msg| ManifestError {
                msg,
                line: Some((linenum, text.clone())),
            };
            if chunk.last() != Some(&b'\n') {
                return Err(err("The AOF manifest file contains too long line"));
            }
            let line = trim(chunk);
            if line.is_empty() {
                return Err(err("Invalid AOF manifest file format"));
            }
            let words = match larder_resp::request::split_line(line) {
                Some(w) if w.len() >= 6 && w.len() % 2 == 0 => w,
                _ => return Err(err("Invalid AOF manifest file format")),
            };
            let (mut name, mut seq, mut ty) = (None, 0, 0);
            for kv in words.chunks(2) {
                let key = kv[0].as_slice();
                if key.eq_ignore_ascii_case(b"file") {
                    if kv[1].contains(&b'/') || kv[1].contains(&b'\\') {
                        return Err(err("File can't be a path, just a filename"));
                    }
                    name = Some(String::from_utf8_lossy(&kv[1]).into_owned());
                } else if key.eq_ignore_ascii_case(b"seq") {
                    seq = atoll(&kv[1]);
                } else if key.eq_ignore_ascii_case(b"type") {
                    ty = kv[1].first().copied().unwrap_or(0);
                }
            }
            // A negative seq (atoll takes one) is refused here too.
            let (Some(name), true, true) = (name, seq > 0, ty != 0) else {
                return Err(err("Invalid AOF manifest file format"));
            };
            let f = AofFile {
                name,
                seq: seq as u64,
            };
            match ty {
                b'b' => {
                    if m.base.is_some() {
                        return Err(err("Found duplicate base file information"));
                    }
                    m.base = Some(f);
                }
                b'i' => {
                    if m.incrs.last().is_some_and(|l| l.seq >= f.seq) {
                        return Err(err("Found a non-monotonic sequence number"));
                    }
                    m.incrs.push(f);
                }
                b'h' => m.history.push(f),
                _ => return Err(err("Unknown AOF file type")),
            }
        }
        Ok(m)
    }

    /// The manifest text, as getAofManifestAsString writes it.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let mut line = |f: &AofFile, ty: char| {
            let _ = writeln!(s, "file {} seq {} type {}", repr(&f.name), f.seq, ty);
        };
        if let Some(b) = &self.base {
            line(b, 'b');
        }
        for h in &self.history {
            line(h, 'h');
        }
        for i in &self.incrs {
            line(i, 'i');
        }
        s
    }

    /// Writes the manifest to `dir/name` atomically.
    pub fn persist(&self, dir: &Path, name: &str) -> std::io::Result<()> {
        let tmp = dir.join(format!("temp-{name}"));
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(self.render().as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, dir.join(name))?;
        sync_dir(dir)
    }

    pub fn next_base_seq(&self) -> u64 {
        self.base.as_ref().map_or(0, |b| b.seq) + 1
    }

    pub fn next_incr_seq(&self) -> u64 {
        self.incrs.last().map_or(0, |i| i.seq) + 1
    }
}

/// fsyncs a directory so a rename or create in it is durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// sdscatrepr when the name needs it, else the name itself.
fn repr(name: &str) -> String {
    let plain = name
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\' && b != b'\'');
    if plain {
        return name.to_string();
    }
    let mut s = String::from("\"");
    for b in name.bytes() {
        match b {
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            b if b.is_ascii_graphic() || b == b' ' => s.push(b as char),
            b => {
                let _ = write!(s, "\\x{b:02x}");
            }
        }
    }
    s.push('"');
    s
}

/// sdstrim(line, " \t\r\n").
fn trim(line: &[u8]) -> &[u8] {
    let blank = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let start = line.iter().position(|b| !blank(b)).unwrap_or(line.len());
    let end = line
        .iter()
        .rposition(|b| !blank(b))
        .map_or(start, |i| i + 1);
    &line[start..end]
}

/// atoll: leading blanks, a sign, digits; anything else ends the number
/// (none is 0).
fn atoll(s: &[u8]) -> i64 {
    let mut i = s.iter().take_while(|b| b.is_ascii_whitespace()).count();
    let neg = s.get(i) == Some(&b'-');
    if matches!(s.get(i), Some(b'-' | b'+')) {
        i += 1;
    }
    let mut n: i64 = 0;
    for &b in s[i..].iter().take_while(|b| b.is_ascii_digit()) {
        n = n.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    if neg {
        -n
    } else {
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_redis_syntax() {
        let text = "file appendonly.aof.2.base.rdb seq 2 type b\n\
                    file appendonly.aof.1.incr.aof seq 1 type h\n\
                    file appendonly.aof.2.incr.aof seq 2 type i\n\
                    file appendonly.aof.3.incr.aof seq 3 type i\n";
        let m = Manifest::parse(text.as_bytes()).unwrap();
        assert_eq!(m.base.as_ref().unwrap().seq, 2);
        assert_eq!(m.incrs.len(), 2);
        assert_eq!(m.history.len(), 1);
        assert_eq!(m.render(), text);
        assert_eq!(m.next_incr_seq(), 4);
    }

    #[test]
    fn quoted_names() {
        let m = Manifest {
            base: Some(AofFile {
                name: "my file.aof.1.base.rdb".into(),
                seq: 1,
            }),
            ..Manifest::default()
        };
        let text = m.render();
        assert_eq!(text, "file \"my file.aof.1.base.rdb\" seq 1 type b\n");
        assert_eq!(Manifest::parse(text.as_bytes()).unwrap(), m);
    }

    fn refusal(text: &[u8]) -> &'static str {
        Manifest::parse(text).unwrap_err().msg
    }

    #[test]
    fn rejects_bad_manifests() {
        const INVALID: &str = "Invalid AOF manifest file format";
        assert_eq!(refusal(b""), "Found an empty AOF manifest");
        assert_eq!(refusal(b"file a seq 1\n"), INVALID);
        assert_eq!(
            refusal(b"file a seq 2 type i\nfile b seq 1 type i\n"),
            "Found a non-monotonic sequence number"
        );
        assert_eq!(refusal(b"file \"a seq 1 type b\n"), INVALID);
        assert_eq!(
            refusal(b"file x/a seq 1 type b\n"),
            "File can't be a path, just a filename"
        );
        // Blank lines, missing keys, odd pairs, seq 0, a quote glued to text.
        assert_eq!(
            refusal(b"file a seq 1 type i\n\nfile b seq 3 type i\n"),
            INVALID
        );
        assert_eq!(refusal(b"filx a seq 1 type b\n"), INVALID);
        assert_eq!(refusal(b"file a seq 1 type i newkey\n"), INVALID);
        assert_eq!(refusal(b"file a seq 0 type i\n"), INVALID);
        assert_eq!(refusal(b"file \"a\"b seq 1 type i\n"), INVALID);
        assert_eq!(
            refusal(b"file a seq 1 type b\nfile b seq 2 type b\n"),
            "Found duplicate base file information"
        );
        assert_eq!(refusal(b"file a seq 1 type x\n"), "Unknown AOF file type");
        // A line of 1024 bytes or more, or a last line without its newline.
        let long = format!("{}\n", "file a seq 1 type b ".repeat(60));
        assert_eq!(
            refusal(long.as_bytes()),
            "The AOF manifest file contains too long line"
        );
        assert_eq!(
            refusal(b"file a seq 1 type b"),
            "The AOF manifest file contains too long line"
        );
        let e = Manifest::parse(b"file a seq 1 type b\nfile b seq 1 type i x\n").unwrap_err();
        assert_eq!(e.line, Some((2, "file b seq 1 type i x".to_string())));
    }

    #[test]
    fn accepts_what_redis_accepts() {
        // Comments, extra key/value pairs, keys in any case, CRLF.
        let m = Manifest::parse(
            b"# made by hand\nFILE a.1.base.rdb SEQ 1 TYPE b newkey newvalue\r\n\
              file a.1.incr.aof seq 1 type i\n",
        )
        .unwrap();
        assert_eq!(m.base.unwrap().name, "a.1.base.rdb");
        assert_eq!(m.incrs.len(), 1);
        assert_eq!(
            larder_resp::request::split_line(br#"a "b\x41\n" 'c\'d' e"f g""#).unwrap(),
            vec![
                b"a".to_vec(),
                b"bA\n".to_vec(),
                b"c'd".to_vec(),
                b"ef g".to_vec()
            ]
        );
    }
}
