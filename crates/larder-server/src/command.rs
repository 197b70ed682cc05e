//! The command table and the context a command runs in.
//!
//! Each command family module (`commands/strings.rs`, ...) exports a
//! `COMMANDS: &[Command]` slice: name, arity (Redis's convention: N = exactly
//! N arguments including the name, -N = at least N), flags, key positions and
//! a plain `fn` handler. The table merges them once at startup into a map from
//! lowercase name to index; counters per command and subcommand (INFO
//! commandstats) live in an array of atomics: the commands' indexes, then
//! the subcommands' (`admin::Histograms`'s slots). A lookup lowercases the
//! name into a stack buffer, so dispatch allocates nothing.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use larder_engine::{Engine, Key, Txn};
use larder_resp::{Args, Reply};
use smallvec::SmallVec;

use crate::client::Client;
use crate::error::{unknown_subcommand, wrong_arity, CmdError, CmdResult, NOT_FLOAT, NOT_INTEGER};
use crate::shared::Shared;

pub type Handler = fn(&mut Ctx<'_>) -> CmdResult;

/// Command flags, as COMMAND INFO names them.
pub mod flags {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const PUBSUB: u32 = 1 << 4;
    pub const NOSCRIPT: u32 = 1 << 5;
    pub const BLOCKING: u32 = 1 << 6;
    pub const LOADING: u32 = 1 << 7;
    pub const STALE: u32 = 1 << 8;
    pub const SKIP_MONITOR: u32 = 1 << 9;
    pub const SKIP_SLOWLOG: u32 = 1 << 10;
    pub const FAST: u32 = 1 << 11;
    pub const NO_AUTH: u32 = 1 << 12;
    pub const MAY_REPLICATE: u32 = 1 << 13;
    pub const NO_MULTI: u32 = 1 << 14;
    pub const ALLOW_BUSY: u32 = 1 << 15;
    /// Cluster's ASKING redirection may run it (RESTORE-ASKING); shown only.
    pub const ASKING: u32 = 1 << 16;

    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (ASKING, "asking"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (MAY_REPLICATE, "may_replicate"),
        (NO_MULTI, "no_multi"),
        (ALLOW_BUSY, "allow_busy"),
    ];
}

pub struct Command {
    /// Lowercase name.
    pub name: &'static str,
    pub arity: i32,
    pub flags: u32,
    /// First key argument, last key argument (negative: from the end), step; 0,0,0 = no keys.
    pub keys: (i32, i32, i32),
    /// ACL categories without the `@`, e.g. "string fast read".
    pub acl: &'static str,
    pub handler: Handler,
    /// Subcommands (container commands such as CONFIG, CLIENT), for COMMAND output.
    pub subcommands: &'static [Command],
}

impl Command {
    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    /// The entry that runs `args`: for a container (CONFIG, CLIENT, ...) the
    /// subcommand named by argument 1, if there is one; else this command.
    pub fn resolve(&self, args: &Args<'_>) -> &Command {
        let Some(sub) = args.get(1).filter(|_| !self.subcommands.is_empty()) else {
            return self;
        };
        self.subcommands
            .iter()
            .find(|c| {
                c.name
                    .split_once('|')
                    .is_some_and(|(_, s)| s.as_bytes().eq_ignore_ascii_case(sub))
            })
            .unwrap_or(self)
    }

    pub fn arity_ok(&self, argc: usize) -> bool {
        let a = self.arity;
        if a >= 0 {
            argc == a as usize
        } else {
            argc >= (-a) as usize
        }
    }
}

#[derive(Default)]
pub struct CommandStats {
    pub calls: AtomicU64,
    pub usec: AtomicU64,
    pub rejected: AtomicU64,
    pub failed: AtomicU64,
}

impl CommandStats {
    pub fn reset(&self) {
        for c in [&self.calls, &self.usec, &self.rejected, &self.failed] {
            c.store(0, Relaxed);
        }
    }
}

pub struct CommandTable {
    pub commands: Vec<&'static Command>,
    /// By slot (see [`CommandTable::stats_of`]).
    pub stats: Vec<CommandStats>,
    /// Latency histograms per command and subcommand (`admin.rs`).
    pub hist: crate::admin::Histograms,
    index: std::collections::HashMap<&'static [u8], usize, foldhash::fast::RandomState>,
}

const MAX_NAME: usize = 32;

impl CommandTable {
    pub fn new(families: &[&'static [Command]]) -> CommandTable {
        let commands: Vec<&'static Command> = families.iter().flat_map(|f| f.iter()).collect();
        let index = commands
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.as_bytes(), i))
            .collect::<std::collections::HashMap<_, _, _>>();
        assert_eq!(index.len(), commands.len(), "duplicate command name");
        let hist = crate::admin::Histograms::new(&commands);
        let stats = (0..hist.slot_count())
            .map(|_| CommandStats::default())
            .collect();
        CommandTable {
            commands,
            stats,
            hist,
            index,
        }
    }

    /// Index of a command by name, case-insensitively.
    /// [`lookup`](Self::lookup), trying `hint` (the client's previous
    /// command) first: a pipeline usually repeats one command, and comparing
    /// a few bytes is cheaper than hashing them.
    pub fn lookup_hinted(&self, name: &[u8], hint: usize) -> Option<usize> {
        match self.commands.get(hint) {
            Some(c) if c.name.as_bytes().eq_ignore_ascii_case(name) => Some(hint),
            _ => self.lookup(name),
        }
    }

    pub fn lookup(&self, name: &[u8]) -> Option<usize> {
        if name.len() > MAX_NAME {
            return None;
        }
        let mut buf = [0u8; MAX_NAME];
        let lower = &mut buf[..name.len()];
        lower.copy_from_slice(name);
        lower.make_ascii_lowercase();
        self.index.get(&*lower).copied()
    }

    pub fn get(&self, i: usize) -> &'static Command {
        self.commands[i]
    }

    /// The counters of command `idx` as `args` call it: a container's
    /// subcommand has its own, as in Redis (`cmdstat_config|get`).
    pub fn stats_of(&self, idx: usize, args: &Args<'_>) -> &CommandStats {
        &self.stats[self.hist.slot(idx, self.commands[idx], args)]
    }
}

/// What a running command sees: its arguments, the reply buffer, its client
/// and the server.
pub struct Ctx<'a> {
    pub shared: &'a Shared,
    pub client: &'a mut Client,
    pub args: Args<'a>,
    pub out: Reply<'a>,
    /// The command's clock (Unix ms), read once: every key it touches sees
    /// the same time, as in Redis.
    pub now_ms: u64,
}

impl<'a> Ctx<'a> {
    pub fn engine(&self) -> &'a Engine {
        &self.shared.engine
    }

    pub fn argc(&self) -> usize {
        self.args.len()
    }

    pub fn arg(&self, i: usize) -> &'a [u8] {
        self.args.get(i).unwrap_or(&[])
    }

    /// The replies so far are past `client-output-buffer-limit normal
    /// <hard>`: the client will be closed without them, so a command whose
    /// reply can grow without bound (HRANDFIELD, SRANDMEMBER, ZRANDMEMBER
    /// with a negative count) stops building it, as Redis's do on
    /// CLIENT_CLOSE_ASAP. A client's own command only: inside EXEC or a
    /// script the reply is not the connection's.
    pub fn reply_over_limit(&self) -> bool {
        let waiting = self.client.handle.unsent.load(Relaxed) + self.out.out.len() as u64;
        self.client.nesting == 1 && crate::unsent::past_hard(self.shared, waiting)
    }

    /// Argument `i` with its hash, as the engine wants keys.
    pub fn key(&self, i: usize) -> Key<'a> {
        self.shared.engine.key(self.arg(i))
    }

    /// Locks the shard of `key` in the selected database.
    pub fn lock(&self, key: &Key<'_>) -> Txn<'a> {
        self.shared
            .engine
            .lock_key_at(self.client.db, key, self.now_ms)
    }

    /// Locks the shards of `keys` (ascending order) in the selected database.
    pub fn lock_keys(&self, keys: &[Key<'_>]) -> Txn<'a> {
        self.shared
            .engine
            .lock_keys_at(self.client.db, keys, self.now_ms)
    }

    /// Key arguments `from, from + step, ...` with their hashes (multi-key
    /// commands pass these to `Engine::lock_keys`). Up to 8 keys stay on the stack.
    pub fn keys_from(&self, from: usize, step: usize) -> SmallVec<[Key<'a>; 8]> {
        (from..self.argc())
            .step_by(step.max(1))
            .map(|i| self.key(i))
            .collect()
    }

    /// Runs the subcommand named by argument 1 from `subs` (entries named
    /// `container|sub`), checking its arity as Redis does for container
    /// commands such as OBJECT, CONFIG or CLIENT.
    pub fn run_subcommand(&mut self, container: &str, subs: &'static [Command]) -> CmdResult {
        let sub = self.arg(1);
        let found = subs.iter().find(|c| {
            c.name
                .split_once('|')
                .is_some_and(|(_, s)| s.as_bytes().eq_ignore_ascii_case(sub))
        });
        match found {
            None => Err(unknown_subcommand(sub, container)),
            Some(c) if !c.arity_ok(self.argc()) => Err(wrong_arity(c.name)),
            Some(c) => (c.handler)(self),
        }
    }

    /// Whether argument `i` is `word`, compared as Redis's `strcasecmp`
    /// does: case-insensitively and only up to a NUL byte.
    pub fn arg_is(&self, i: usize, word: &str) -> bool {
        let a = self.arg(i);
        let a = a.iter().position(|&b| b == 0).map_or(a, |n| &a[..n]);
        a.eq_ignore_ascii_case(word.as_bytes())
    }

    /// Argument `i` as Redis's `getLongLongFromObjectOrReply`.
    pub fn i64_arg(&self, i: usize) -> Result<i64, CmdError> {
        parse_i64(self.arg(i)).ok_or(NOT_INTEGER)
    }

    /// Argument `i` as Redis's `getIntFromObjectOrReply`: an integer, then a
    /// range check with its own error text.
    pub fn i32_arg(&self, i: usize) -> Result<i32, CmdError> {
        let v = self.i64_arg(i)?;
        i32::try_from(v).map_err(|_| {
            CmdError::new(
                "ERR value is out of range, value must between -2147483648 and 2147483647",
            )
        })
    }

    /// Argument `i` as Redis's `getLongDoubleFromObjectOrReply` (finite or inf).
    pub fn f64_arg(&self, i: usize) -> Result<f64, CmdError> {
        parse_f64(self.arg(i)).ok_or(NOT_FLOAT)
    }
}

/// Redis's string2ll.
pub fn parse_i64(b: &[u8]) -> Option<i64> {
    larder_resp::string2ll(b)
}

/// Redis's string2ld/strtold acceptance: no leading space, no trailing garbage,
/// not NaN; "inf"/"-inf"/"+inf" accepted.
pub fn parse_f64(b: &[u8]) -> Option<f64> {
    if b.is_empty() || b.len() > 5120 || b[0].is_ascii_whitespace() {
        return None;
    }
    let s = std::str::from_utf8(b).ok()?;
    let last = *b.last()?;
    if last.is_ascii_whitespace() {
        return None;
    }
    let v: f64 = match s.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => {
            // Rust accepts "1e5", "1.", ".5", "+1"; so does strtold. It also
            // accepts "nan"/"inf" spellings, handled above or rejected below.
            if s.bytes()
                .any(|c| c.is_ascii_alphabetic() && c != b'e' && c != b'E')
            {
                return None;
            }
            s.parse().ok()?
        }
    };
    if v.is_nan() {
        None
    } else {
        Some(v)
    }
}
