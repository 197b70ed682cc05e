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

impl Manifest {
    /// aofLoadManifestFromFile's parser. Errors name the line, as Redis's.
    pub fn parse(text: &[u8]) -> Result<Manifest, String> {
        let mut m = Manifest::default();
        for (n, line) in text.split(|&b| b == b'\n').enumerate() {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() || line.starts_with(b"#") {
                continue;
            }
            let words = split_args(line)
                .ok_or_else(|| format!("Invalid AOF manifest file format (line {})", n + 1))?;
            if words.len() % 2 != 0 {
                return Err(format!("Invalid AOF manifest file format (line {})", n + 1));
            }
            let (mut name, mut seq, mut ty) = (None, None, None);
            for kv in words.chunks(2) {
                match kv[0].as_slice() {
                    b"file" => name = Some(String::from_utf8_lossy(&kv[1]).into_owned()),
                    b"seq" => {
                        seq = std::str::from_utf8(&kv[1])
                            .ok()
                            .and_then(|s| s.parse().ok())
                    }
                    b"type" => ty = kv[1].first().copied(),
                    _ => {} // unknown keys are ignored, as in Redis
                }
            }
            let (Some(name), Some(seq), Some(ty)) = (name, seq, ty) else {
                return Err(format!("Invalid AOF manifest file format (line {})", n + 1));
            };
            if name.contains('/') {
                return Err(format!(
                    "File can't be a path, just a filename (line {})",
                    n + 1
                ));
            }
            let f = AofFile { name, seq };
            match ty {
                b'b' => {
                    if m.base.is_some() {
                        return Err("Found duplicate base file information".into());
                    }
                    m.base = Some(f);
                }
                b'i' => {
                    if m.incrs.last().is_some_and(|l| l.seq >= f.seq) {
                        return Err("Found a non-monotonic sequence number".into());
                    }
                    m.incrs.push(f);
                }
                b'h' => m.history.push(f),
                _ => return Err(format!("Unknown AOF file type (line {})", n + 1)),
            }
        }
        if m.base.is_none() && m.incrs.is_empty() {
            return Err("Found an empty AOF manifest".into());
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

/// sdssplitargs: words separated by spaces; double quotes with `\` escapes
/// (`\xHH`, `\n`...) and single quotes. `None` on unbalanced quotes.
fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < line.len() {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == line.len() {
            break;
        }
        let mut w = Vec::new();
        match line[i] {
            b'"' => {
                i += 1;
                loop {
                    match *line.get(i)? {
                        b'"' => break,
                        b'\\' if line.get(i + 1) == Some(&b'x') => {
                            let hex = std::str::from_utf8(line.get(i + 2..i + 4)?).ok()?;
                            w.push(u8::from_str_radix(hex, 16).ok()?);
                            i += 3;
                        }
                        b'\\' => {
                            i += 1;
                            w.push(match *line.get(i)? {
                                b'n' => b'\n',
                                b'r' => b'\r',
                                b't' => b'\t',
                                b'b' => 8,
                                b'a' => 7,
                                c => c,
                            });
                        }
                        c => w.push(c),
                    }
                    i += 1;
                }
                i += 1;
            }
            b'\'' => {
                i += 1;
                loop {
                    match *line.get(i)? {
                        b'\'' => break,
                        b'\\' if line.get(i + 1) == Some(&b'\'') => {
                            w.push(b'\'');
                            i += 1;
                        }
                        c => w.push(c),
                    }
                    i += 1;
                }
                i += 1;
            }
            _ => {
                while i < line.len() && !line[i].is_ascii_whitespace() {
                    w.push(line[i]);
                    i += 1;
                }
            }
        }
        out.push(w);
    }
    Some(out)
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

    #[test]
    fn rejects_bad_manifests() {
        assert!(Manifest::parse(b"").is_err());
        assert!(Manifest::parse(b"file a seq 1\n").is_err());
        assert!(Manifest::parse(b"file a seq 2 type i\nfile b seq 1 type i\n").is_err());
        assert!(Manifest::parse(b"file \"a seq 1 type b\n").is_err());
        assert!(Manifest::parse(b"file x/a seq 1 type b\n").is_err());
    }
}
