//! Configuration directives under Redis's names: the one table behind
//! `larder.conf`, `--name value` flags, CONFIG GET, CONFIG SET and CONFIG
//! REWRITE. Each entry names a directive, says whether CONFIG SET may change
//! it at runtime, and how to read and write its `Config` field as text.

use std::path::PathBuf;

use larder_engine::Policy;

use crate::config::Config;

pub struct Directive {
    pub name: &'static str,
    pub alias: Option<&'static str>,
    /// CONFIG SET allowed.
    pub mutable: bool,
    pub get: fn(&Config) -> String,
    pub set: fn(&mut Config, &[&str]) -> Result<(), String>,
}

fn one<'a>(args: &[&'a str]) -> Result<&'a str, String> {
    match args {
        [v] => Ok(v),
        _ => Err("wrong number of arguments".into()),
    }
}

/// Redis's memtoull: `1gb` = 1024³, `1g` = 10⁹, plain bytes otherwise.
pub fn parse_memory(s: &str) -> Result<u64, String> {
    let lower = s.to_ascii_lowercase();
    let (num, mul) = [
        ("gb", 1u64 << 30),
        ("mb", 1 << 20),
        ("kb", 1 << 10),
        ("g", 1_000_000_000),
        ("m", 1_000_000),
        ("k", 1000),
        ("b", 1),
    ]
    .iter()
    .find_map(|(suf, m)| lower.strip_suffix(suf).map(|n| (n.to_string(), *m)))
    .unwrap_or((lower.clone(), 1));
    let n: u64 = num
        .parse()
        .map_err(|_| "argument must be a memory value".to_string())?;
    n.checked_mul(mul)
        .ok_or_else(|| "argument must be a memory value".to_string())
}

fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err("argument must be 'yes' or 'no'".into()),
    }
}

fn yes_no(b: bool) -> String {
    if b {
        "yes".into()
    } else {
        "no".into()
    }
}

fn num<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.parse()
        .map_err(|_| "argument couldn't be parsed into an integer".to_string())
}

macro_rules! d {
    ($name:expr, $mutable:expr, |$c:ident| $get:expr, |$cs:ident, $a:ident| $set:expr) => {
        Directive {
            name: $name,
            alias: None,
            mutable: $mutable,
            get: |$c: &Config| $get,
            set: |$cs: &mut Config, $a: &[&str]| $set,
        }
    };
}

pub const DIRECTIVES: &[Directive] = &[
    d!("port", false, |c| c.port.to_string(), |c, a| {
        c.port = num(one(a)?)?;
        Ok(())
    }),
    d!("bind", false, |c| c.bind.join(" "), |c, a| {
        c.bind = a.iter().map(|s| s.to_string()).collect();
        Ok(())
    }),
    d!(
        "unixsocket",
        false,
        |c| c
            .unixsocket
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        |c, a| {
            let v = one(a)?;
            c.unixsocket = (!v.is_empty()).then(|| PathBuf::from(v));
            Ok(())
        }
    ),
    d!(
        "protected-mode",
        true,
        |c| yes_no(c.protected_mode),
        |c, a| {
            c.protected_mode = parse_bool(one(a)?)?;
            Ok(())
        }
    ),
    d!(
        "requirepass",
        true,
        |c| c
            .requirepass
            .as_ref()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .unwrap_or_default(),
        |c, a| {
            let v = one(a)?;
            c.requirepass = (!v.is_empty()).then(|| v.as_bytes().to_vec());
            Ok(())
        }
    ),
    d!("databases", false, |c| c.databases.to_string(), |c, a| {
        let n: usize = num(one(a)?)?;
        if n == 0 {
            return Err("argument must be between 1 and 2147483647 inclusive".into());
        }
        c.databases = n;
        Ok(())
    }),
    d!("timeout", true, |c| c.timeout.to_string(), |c, a| {
        c.timeout = num(one(a)?)?;
        Ok(())
    }),
    d!("maxclients", true, |c| c.maxclients.to_string(), |c, a| {
        c.maxclients = num(one(a)?)?;
        Ok(())
    }),
    d!("maxmemory", true, |c| c.maxmemory.to_string(), |c, a| {
        c.maxmemory = parse_memory(one(a)?)?;
        Ok(())
    }),
    d!(
        "maxmemory-policy",
        true,
        |c| c.maxmemory_policy.name().to_string(),
        |c, a| {
            c.maxmemory_policy = Policy::parse(one(a)?.as_bytes()).ok_or("argument(s) must be one of the following: volatile-lru, allkeys-lru, volatile-lfu, allkeys-lfu, volatile-random, allkeys-random, volatile-ttl, noeviction, volatile-fifo, allkeys-fifo")?;
            Ok(())
        }
    ),
    d!("save", true, |c| c.save.clone(), |c, a| {
        c.save = a.join(" ");
        Ok(())
    }),
    d!("appendonly", true, |c| yes_no(c.appendonly), |c, a| {
        c.appendonly = parse_bool(one(a)?)?;
        Ok(())
    }),
    d!("shards", false, |c| c.shards.to_string(), |c, a| {
        c.shards = num(one(a)?)?;
        Ok(())
    }),
];

pub fn find(name: &str) -> Option<&'static Directive> {
    DIRECTIVES.iter().find(|d| {
        d.name.eq_ignore_ascii_case(name) || d.alias.is_some_and(|a| a.eq_ignore_ascii_case(name))
    })
}

/// Applies one `name arg...` setting.
pub fn apply(config: &mut Config, name: &str, args: &[&str]) -> Result<(), String> {
    let d = find(name).ok_or_else(|| {
        format!("Bad directive or wrong number of arguments: unknown directive '{name}'")
    })?;
    (d.set)(config, args)
}

/// Parses a config file's text (Redis syntax: one directive a line, `#`
/// comments, quoted arguments). Errors name the line.
pub fn parse_file(text: &str, config: &mut Config) -> Result<(), String> {
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words = split_args(line)
            .ok_or_else(|| format!("line {}: unbalanced quotes in '{line}'", n + 1))?;
        let refs: Vec<&str> = words.iter().map(String::as_str).collect();
        apply(config, refs[0], &refs[1..]).map_err(|e| format!("line {}: '{line}': {e}", n + 1))?;
    }
    Ok(())
}

/// Redis-server style flags: `--port 7000 --save "" --bind a b`: each `--name`
/// takes the words up to the next `--name`.
pub fn parse_flags(args: &[String], config: &mut Config) -> Result<(), String> {
    let mut i = 0;
    while i < args.len() {
        let Some(name) = args[i].strip_prefix("--") else {
            return Err(format!("unexpected argument '{}'", args[i]));
        };
        let mut vals = Vec::new();
        i += 1;
        while i < args.len()
            && !(args[i].starts_with("--") && args[i].len() > 2 && !vals.is_empty()
                || args[i].starts_with("--") && args[i].len() > 2 && find(&args[i][2..]).is_some())
        {
            vals.push(args[i].as_str());
            i += 1;
        }
        if vals.is_empty() {
            vals.push("");
        }
        apply(config, name, &vals).map_err(|e| format!("--{name}: {e}"))?;
    }
    Ok(())
}

/// Splits a config line like Redis's sdssplitargs (quotes, escapes).
pub fn split_args(line: &str) -> Option<Vec<String>> {
    let mut p = larder_resp::RequestParser::new();
    let buf = format!("{line}\r\n");
    match p.parse(buf.as_bytes(), &larder_resp::Limits::default()) {
        Ok(larder_resp::Parse::Request { .. }) => Some(
            p.args(buf.as_bytes())
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect(),
        ),
        _ => None,
    }
}
