//! Access control lists, as Redis 7.0's `acl.c`: users, their rules, the
//! permission check the dispatcher runs before a command, and the ACL log.
//!
//! Data structures:
//! - [`AclCommands`] numbers every command and subcommand once at startup
//!   (an *ACL id*): top-level commands keep their command-table index,
//!   subcommands follow. Each id carries its category bits (`acl` field plus
//!   the categories Redis derives from the flags) and its key specs
//!   (Redis 7.0.15's, from `keyspecs.rs`).
//! - A [`Selector`] is one set of permissions: a bitmap of allowed command
//!   ids (one bit per id, plus the "future commands" bit that only
//!   `+@all`/`-@all` touch), first-arg exceptions (`+select|0`), key
//!   patterns with read/write flags, and channel patterns. A user's rules
//!   ([`Rules`]) are flags, SHA-256 password hashes (hex, as Redis stores
//!   them) and selectors, the first being the root selector.
//! - A [`User`] is shared by every connection authenticated as it (an
//!   `Arc`); ACL SETUSER replaces its rules under a lock, so the change
//!   applies to those connections at once, as in Redis. `open` caches
//!   "the root selector allows everything", so the dispatcher's check for
//!   an unrestricted user (the default user, normally) is one atomic load
//!   and a branch. Clients that are the default user hold `None`.
//!
//! Costs: a restricted user's check reads its rules (a read lock), tests a
//! bit, and for a key pattern list walks the command's key specs and
//! matches each key against each pattern (glob); nothing is allocated
//! unless the check fails. Describing a user (ACL LIST/GETUSER) replays
//! Redis's best-fit category algorithm: O(categories² × commands).

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use larder_engine::glob;
use larder_resp::Args;
use parking_lot::{Mutex, RwLock};
use sha2::{Digest, Sha256};

use crate::client::Client;
use crate::command::{flags, Command, CommandTable};
use crate::error::CmdError;
use crate::keyspecs::{Begin, Find};
use crate::shared::Shared;

/// Key permission bits (a key spec's needs, a pattern's grants).
pub const READ: u8 = 1;
pub const WRITE: u8 = 2;
const ALL_PERMS: u8 = READ | WRITE;

/// One key spec, as ACL checks it: where its keys are (Redis's key specs,
/// `keyspecs.rs`) and what access they need (`access` needs READ;
/// `insert`, `delete`, `update` need WRITE).
pub struct Spec {
    pub need: u8,
    pub begin: Begin,
    pub find: Find,
    pub incomplete: bool,
}

impl Spec {
    /// The ACL view of command `name`'s key specs (`not_key` ones skipped).
    fn of(name: &str) -> Vec<Spec> {
        let Some(keys) = crate::keyspecs::lookup(name) else {
            return Vec::new();
        };
        keys.specs
            .iter()
            .filter(|s| !s.has("not_key"))
            .map(|s| Spec {
                need: if s.has("access") { READ } else { 0 }
                    | if s.has("insert") || s.has("delete") || s.has("update") {
                        WRITE
                    } else {
                        0
                    },
                begin: s.begin,
                find: s.find,
                incomplete: s.has("incomplete"),
            })
            .collect()
    }
}

/// Redis's ACL categories, in ACL CAT order.
pub const CATEGORIES: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

fn cat_bit(name: &str) -> u32 {
    CATEGORIES
        .iter()
        .position(|c| *c == name)
        .map_or(0, |i| 1 << i)
}

/// The category flag named `name` (case-insensitive), or None.
pub fn category(name: &[u8]) -> Option<u32> {
    CATEGORIES
        .iter()
        .position(|c| c.as_bytes().eq_ignore_ascii_case(name))
        .map(|i| 1 << i)
}

/// Categories of a command: its declared ones plus those Redis derives
/// from its flags (setImplicitACLCategories).
fn categories_of(c: &Command) -> u32 {
    let mut cats = c.acl.split_whitespace().map(cat_bit).fold(0, |a, b| a | b);
    if c.has(flags::WRITE) {
        cats |= cat_bit("write");
    }
    if c.has(flags::READONLY) && cats & cat_bit("scripting") == 0 {
        cats |= cat_bit("read");
    }
    if c.has(flags::ADMIN) {
        cats |= cat_bit("admin") | cat_bit("dangerous");
    }
    if c.has(flags::PUBSUB) {
        cats |= cat_bit("pubsub");
    }
    if c.has(flags::FAST) {
        cats |= cat_bit("fast");
    }
    if c.has(flags::BLOCKING) {
        cats |= cat_bit("blocking");
    }
    if cats & cat_bit("fast") == 0 {
        cats |= cat_bit("slow");
    }
    cats
}

/// How a command's keys are found beyond its key specs (Redis's getkeys_proc).
#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyProc {
    None,
    /// SET: write-only unless GET is given.
    Set,
    /// BITFIELD: read-only when only GET/OVERFLOW subcommands are given.
    Bitfield,
    /// SORT: the key, and the STORE destination.
    Sort,
    /// SORT_RO: the key.
    SortRo,
    /// MIGRATE: its key, or its KEYS (`keyspecs::migrate_keys`).
    Migrate,
}

/// One command or subcommand, as ACL rules see it.
pub struct AclCmd {
    /// Full name: `get`, `config|get`.
    pub name: String,
    pub cmd: &'static Command,
    pub parent: Option<usize>,
    pub cats: u32,
    /// Ids of its subcommands.
    pub subs: std::ops::Range<usize>,
    specs: Vec<Spec>,
    proc_: KeyProc,
}

impl AclCmd {
    fn has_keys(&self) -> bool {
        !self.specs.is_empty() || self.proc_ != KeyProc::None
    }
}

/// Every command and subcommand, numbered (see the module comment).
pub struct AclCommands {
    pub list: Vec<AclCmd>,
    words: usize,
}

impl AclCommands {
    pub fn new(table: &CommandTable) -> AclCommands {
        let entry = |name: String, cmd: &'static Command, parent| {
            let proc_ = match name.as_str() {
                "set" => KeyProc::Set,
                "bitfield" => KeyProc::Bitfield,
                "sort" => KeyProc::Sort,
                "sort_ro" => KeyProc::SortRo,
                "migrate" => KeyProc::Migrate,
                _ => KeyProc::None,
            };
            AclCmd {
                specs: Spec::of(&name),
                name,
                cmd,
                parent,
                cats: categories_of(cmd),
                subs: 0..0,
                proc_,
            }
        };
        let mut list: Vec<AclCmd> = table
            .commands
            .iter()
            .map(|c| entry(c.name.to_string(), c, None))
            .collect();
        for i in 0..table.commands.len() {
            let start = list.len();
            for s in table.commands[i].subcommands {
                list.push(entry(s.name.to_string(), s, Some(i)));
            }
            list[i].subs = start..list.len();
        }
        let words = list.len().div_ceil(64);
        AclCommands { list, words }
    }

    /// A command by full name (`get`, `config|get`), as Redis's
    /// lookupCommandBySds: case-insensitive, one level of subcommands.
    pub fn lookup(&self, name: &[u8]) -> Option<usize> {
        let mut parts = name.split(|&b| b == b'|');
        let base = parts.next()?;
        let sub = parts.next();
        if parts.next().is_some() {
            return None;
        }
        let top = self
            .list
            .iter()
            .position(|c| c.parent.is_none() && c.name.as_bytes().eq_ignore_ascii_case(base))?;
        match sub {
            None => Some(top),
            Some(s) => self.sub_of(top, s),
        }
    }

    fn sub_of(&self, top: usize, sub: &[u8]) -> Option<usize> {
        self.list[top].subs.clone().find(|&i| {
            self.list[i]
                .name
                .split_once('|')
                .is_some_and(|(_, n)| n.as_bytes().eq_ignore_ascii_case(sub))
        })
    }

    /// The id a request runs as: the command, or for a container the
    /// subcommand named by argument 1 (None: unknown subcommand or wrong
    /// arity; the handler replies with the error, as Redis does first).
    pub fn resolve(&self, idx: usize, args: &dyn ArgSource) -> Option<usize> {
        let top = &self.list[idx];
        if top.subs.is_empty() || args.count() < 2 {
            return Some(idx);
        }
        let id = self.sub_of(idx, args.at(1))?;
        self.list[id].cmd.arity_ok(args.count()).then_some(id)
    }
}

/// Arguments of a command being checked.
pub trait ArgSource {
    fn count(&self) -> usize;
    fn at(&self, i: usize) -> &[u8];
}

impl ArgSource for Args<'_> {
    fn count(&self) -> usize {
        self.len()
    }
    fn at(&self, i: usize) -> &[u8] {
        self.get(i).unwrap_or(&[])
    }
}

/// Arguments `from..` of another list (ACL DRYRUN's command).
pub struct Skip<'a, A: ArgSource>(pub &'a A, pub usize);

impl<A: ArgSource> ArgSource for Skip<'_, A> {
    fn count(&self) -> usize {
        self.0.count().saturating_sub(self.1)
    }
    fn at(&self, i: usize) -> &[u8] {
        self.0.at(i + self.1)
    }
}

// ---------------------------------------------------------------------------
// Key extraction (Redis's getKeysFromCommandWithSpecs)
// ---------------------------------------------------------------------------

/// Calls `f(position, needed permissions)` for each key of the command;
/// stops at the first `false`.
fn for_each_key(c: &AclCmd, args: &dyn ArgSource, f: &mut dyn FnMut(usize, u8) -> bool) {
    match c.proc_ {
        KeyProc::Set => {
            let get = (3..args.count()).any(|i| args.at(i).eq_ignore_ascii_case(b"get"));
            f(1, if get { READ | WRITE } else { WRITE });
            return;
        }
        KeyProc::Bitfield => {
            f(
                1,
                if bitfield_readonly(args) {
                    READ
                } else {
                    READ | WRITE
                },
            );
            return;
        }
        _ => {}
    }
    let mut found: smallvec::SmallVec<[(usize, u8); 8]> = smallvec::SmallVec::new();
    if specs_keys(&c.specs, args, &mut found) {
        for (p, n) in found {
            if !f(p, n) {
                return;
            }
        }
        return;
    }
    match c.proc_ {
        KeyProc::Sort => {
            if !f(1, READ) {
                return;
            }
            if let Some(p) = sort_store(args) {
                f(p, WRITE);
            }
        }
        KeyProc::SortRo => {
            f(1, READ);
        }
        KeyProc::Migrate => {
            for p in crate::keyspecs::migrate_keys(args.count(), |i| args.at(i)) {
                if !f(p, READ | WRITE) {
                    return;
                }
            }
        }
        _ => {}
    }
}

/// Redis's getKeysUsingKeySpecs; false when a spec is invalid for these
/// arguments (the caller then falls back to the command's own rule).
fn specs_keys(
    specs: &[Spec],
    args: &dyn ArgSource,
    out: &mut smallvec::SmallVec<[(usize, u8); 8]>,
) -> bool {
    for spec in specs {
        match crate::keyspecs::search(spec.begin, spec.find, args.count(), |i| args.at(i)) {
            Err(crate::keyspecs::Undecidable) => return false,
            Ok(None) => continue,
            Ok(Some((first, last, step))) => {
                out.extend((first..=last).step_by(step).map(|i| (i, spec.need)));
            }
        }
        if spec.incomplete {
            return false;
        }
    }
    true
}

fn bitfield_readonly(args: &dyn ArgSource) -> bool {
    let argc = args.count();
    let mut i = 2;
    while i < argc {
        let rem = argc - i - 1;
        let a = args.at(i);
        if a.eq_ignore_ascii_case(b"get") && rem >= 2 {
            i += 3;
        } else if a.eq_ignore_ascii_case(b"overflow") && rem >= 1 {
            i += 2;
        } else {
            return false;
        }
    }
    true
}

/// SORT's STORE destination (the last one), as sortGetKeys finds it.
fn sort_store(args: &dyn ArgSource) -> Option<usize> {
    let argc = args.count();
    let mut store = None;
    let mut i = 2;
    while i < argc {
        let a = args.at(i);
        if a.eq_ignore_ascii_case(b"limit") {
            i += 2;
        } else if a.eq_ignore_ascii_case(b"get") || a.eq_ignore_ascii_case(b"by") {
            i += 1;
        } else if a.eq_ignore_ascii_case(b"store") && i + 1 < argc {
            store = Some(i + 1);
        }
        i += 1;
    }
    store
}

/// Channel arguments: (first index, all the rest?, pattern?) for the
/// commands that publish or subscribe.
fn channel_args(name: &str) -> Option<(bool, bool)> {
    match name {
        "publish" | "spublish" => Some((false, false)),
        "subscribe" | "ssubscribe" => Some((true, false)),
        "psubscribe" => Some((true, true)),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Selectors and users
// ---------------------------------------------------------------------------

const SEL_ALLKEYS: u8 = 1;
const SEL_ALLCHANNELS: u8 = 2;
const SEL_ALLCOMMANDS: u8 = 4;

/// One set of permissions (see the module comment).
#[derive(Clone, PartialEq, Eq)]
pub struct Selector {
    flags: u8,
    /// The reserved "future commands" bit: set by `+@all` only.
    future: bool,
    bits: Vec<u64>,
    /// Allowed first arguments of otherwise denied commands, by id.
    firstargs: Vec<(usize, Vec<Vec<u8>>)>,
    patterns: Vec<(u8, Vec<u8>)>,
    channels: Vec<Vec<u8>>,
}

/// Why a rule was refused (ACLSetUserStringError's texts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleError {
    UnknownCommand,
    Syntax,
    KeysAfterAll,
    ChannelsAfterAll,
    NoSuchPassword,
    BadHash,
    FirstArgOfSub,
}

impl RuleError {
    pub fn text(self) -> &'static str {
        match self {
            RuleError::UnknownCommand => "Unknown command or category name in ACL",
            RuleError::Syntax => "Syntax error",
            RuleError::KeysAfterAll => "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns",
            RuleError::ChannelsAfterAll => "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels",
            RuleError::NoSuchPassword => "The password you are trying to remove from the user does not exist",
            RuleError::BadHash => "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters",
            RuleError::FirstArgOfSub => "Allowing first-arg of a subcommand is not supported",
        }
    }
}

/// Redis's ACLStringHasSpaces: whitespace or NUL.
pub fn has_spaces(s: &[u8]) -> bool {
    s.iter()
        .any(|&c| c == 0 || matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c))
}

impl Selector {
    fn new(cmds: &AclCommands, all_channels: bool) -> Selector {
        Selector {
            flags: if all_channels { SEL_ALLCHANNELS } else { 0 },
            future: false,
            bits: vec![0; cmds.words],
            firstargs: Vec::new(),
            patterns: Vec::new(),
            channels: Vec::new(),
        }
    }

    fn bit(&self, id: usize) -> bool {
        self.bits[id / 64] & (1 << (id % 64)) != 0
    }

    fn set_bit(&mut self, id: usize, on: bool) {
        if on {
            self.bits[id / 64] |= 1 << (id % 64);
        } else {
            self.bits[id / 64] &= !(1 << (id % 64));
            self.flags &= !SEL_ALLCOMMANDS;
        }
    }

    /// ACLChangeSelectorPerm: the command and all its subcommands.
    fn change(&mut self, cmds: &AclCommands, id: usize, on: bool) {
        self.set_bit(id, on);
        self.firstargs.retain(|(i, _)| *i != id);
        for s in cmds.list[id].subs.clone() {
            self.set_bit(s, on);
        }
    }

    fn change_category(&mut self, cmds: &AclCommands, cat: u32, on: bool) {
        for id in 0..cmds.list.len() {
            if cmds.list[id].cats & cat != 0 {
                self.change(cmds, id, on);
            }
        }
    }

    fn all_bits(&mut self, cmds: &AclCommands, on: bool) {
        for w in self.bits.iter_mut() {
            *w = if on { u64::MAX } else { 0 };
        }
        if on {
            if let Some(last) = self.bits.last_mut() {
                let n = cmds.list.len() % 64;
                if n != 0 {
                    *last &= (1u64 << n) - 1;
                }
            }
        }
        self.future = on;
        self.firstargs.clear();
        if on {
            self.flags |= SEL_ALLCOMMANDS;
        } else {
            self.flags &= !SEL_ALLCOMMANDS;
        }
    }

    fn allows_all_commands(&self, cmds: &AclCommands) -> bool {
        self.flags & SEL_ALLCOMMANDS != 0 || (0..cmds.list.len()).all(|i| self.bit(i))
    }

    /// ACLSetSelector: one rule about commands, keys or channels.
    fn apply(&mut self, cmds: &AclCommands, op: &[u8]) -> Result<(), RuleError> {
        let is = |w: &str| op.eq_ignore_ascii_case(w.as_bytes());
        if is("allkeys") || is("~*") {
            self.flags |= SEL_ALLKEYS;
            self.patterns.clear();
        } else if is("resetkeys") {
            self.flags &= !SEL_ALLKEYS;
            self.patterns.clear();
        } else if is("allchannels") || is("&*") {
            self.flags |= SEL_ALLCHANNELS;
            self.channels.clear();
        } else if is("resetchannels") {
            self.flags &= !SEL_ALLCHANNELS;
            self.channels.clear();
        } else if is("allcommands") || is("+@all") {
            self.all_bits(cmds, true);
        } else if is("nocommands") || is("-@all") {
            self.all_bits(cmds, false);
        } else if op[0] == b'~' || op[0] == b'%' {
            self.add_pattern(op)?;
        } else if op[0] == b'&' {
            if self.flags & SEL_ALLCHANNELS != 0 {
                return Err(RuleError::ChannelsAfterAll);
            }
            if has_spaces(&op[1..]) {
                return Err(RuleError::Syntax);
            }
            if !self.channels.iter().any(|c| c[..] == op[1..]) {
                self.channels.push(op[1..].to_vec());
            }
        } else if op.len() > 1 && (op[0] == b'+' || op[0] == b'-') && op[1] == b'@' {
            let cat = category(&op[2..]).ok_or(RuleError::UnknownCommand)?;
            self.change_category(cmds, cat, op[0] == b'+');
        } else if op[0] == b'+' {
            self.allow_command(cmds, &op[1..])?;
        } else if op[0] == b'-' {
            let id = cmds.lookup(&op[1..]).ok_or(RuleError::UnknownCommand)?;
            self.change(cmds, id, false);
        } else {
            return Err(RuleError::Syntax);
        }
        Ok(())
    }

    fn allow_command(&mut self, cmds: &AclCommands, name: &[u8]) -> Result<(), RuleError> {
        let Some(bar) = name.iter().rposition(|&b| b == b'|') else {
            let id = cmds.lookup(name).ok_or(RuleError::UnknownCommand)?;
            self.change(cmds, id, true);
            return Ok(());
        };
        let (base, sub) = (&name[..bar], &name[bar + 1..]);
        let id = cmds.lookup(base).ok_or(RuleError::UnknownCommand)?;
        if cmds.list[id].parent.is_some() {
            return Err(RuleError::FirstArgOfSub);
        }
        if sub.is_empty() {
            return Err(RuleError::Syntax);
        }
        if !cmds.list[id].subs.is_empty() {
            let sid = cmds.lookup(name).ok_or(RuleError::UnknownCommand)?;
            self.change(cmds, sid, true);
        } else {
            match self.firstargs.iter_mut().find(|(i, _)| *i == id) {
                Some((_, list)) => {
                    if !list.iter().any(|a| a.eq_ignore_ascii_case(sub)) {
                        list.push(sub.to_vec());
                    }
                }
                None => self.firstargs.push((id, vec![sub.to_vec()])),
            }
        }
        Ok(())
    }

    fn add_pattern(&mut self, op: &[u8]) -> Result<(), RuleError> {
        if self.flags & SEL_ALLKEYS != 0 {
            return Err(RuleError::KeysAfterAll);
        }
        let mut perms = 0u8;
        let mut offset = 1;
        if op[0] == b'%' {
            while offset < op.len() {
                let c = op[offset];
                if c.eq_ignore_ascii_case(&b'r') && perms & READ == 0 {
                    perms |= READ;
                } else if c.eq_ignore_ascii_case(&b'w') && perms & WRITE == 0 {
                    perms |= WRITE;
                } else if c == b'~' {
                    offset += 1;
                    break;
                } else {
                    return Err(RuleError::Syntax);
                }
                offset += 1;
            }
            if perms == 0 {
                return Err(RuleError::Syntax);
            }
        } else {
            perms = ALL_PERMS;
        }
        let pat = &op[offset..];
        if has_spaces(pat) {
            return Err(RuleError::Syntax);
        }
        match self.patterns.iter_mut().find(|(_, p)| p[..] == *pat) {
            Some((f, _)) => *f |= perms,
            None => self.patterns.push((perms, pat.to_vec())),
        }
        Ok(())
    }

    /// ACLSelectorCheckCmd.
    fn check(&self, cmds: &AclCommands, id: usize, args: &dyn ArgSource) -> Result<(), Denied> {
        let c = &cmds.list[id];
        if self.flags & SEL_ALLCOMMANDS == 0 && !c.cmd.has(flags::NO_AUTH) && !self.bit(id) {
            let allowed = args.count() >= 2
                && self.firstargs.iter().any(|(i, list)| {
                    *i == id && {
                        let a = args.at(if c.parent.is_some() { 2 } else { 1 });
                        list.iter().any(|f| f.eq_ignore_ascii_case(a))
                    }
                });
            if !allowed {
                return Err(Denied::Command(id));
            }
        }
        if self.flags & SEL_ALLKEYS == 0 && c.has_keys() {
            let mut denied = None;
            for_each_key(c, args, &mut |pos, need| {
                let key = args.at(pos);
                let ok = self
                    .patterns
                    .iter()
                    .any(|(f, p)| f & need == need && glob::matches(p, key, false));
                if !ok {
                    denied = Some(pos);
                }
                ok
            });
            if let Some(pos) = denied {
                return Err(Denied::Key(pos));
            }
        }
        if self.flags & SEL_ALLCHANNELS == 0 {
            if let Some((many, pattern)) = channel_args(&c.name) {
                let end = if many {
                    args.count()
                } else {
                    2.min(args.count())
                };
                for pos in 1..end {
                    let ch = args.at(pos);
                    let ok = self.channels.iter().any(|p| {
                        if pattern {
                            p[..] == *ch
                        } else {
                            glob::matches(p, ch, false)
                        }
                    });
                    if !ok {
                        return Err(Denied::Channel(pos));
                    }
                }
            }
        }
        Ok(())
    }

    /// ACLSelectorHasUnrestrictedKeyAccess for reads: `allkeys`, or a
    /// `*` pattern that grants reading.
    fn reads_every_key(&self) -> bool {
        self.flags & SEL_ALLKEYS != 0
            || self
                .patterns
                .iter()
                .any(|(f, p)| f & READ != 0 && p[..] == *b"*")
    }

    // --- describing -------------------------------------------------------

    fn count_category(&self, cmds: &AclCommands, cat: u32) -> (usize, usize) {
        let (mut on, mut off) = (0, 0);
        for (id, c) in cmds.list.iter().enumerate() {
            if c.cats & cat != 0 {
                if self.bit(id) {
                    on += 1;
                } else {
                    off += 1;
                }
            }
        }
        (on, off)
    }

    /// ACLDescribeSelectorCommandRules: `+@all`/`-@all`, then the best-fit
    /// categories, then single commands (in command-table order, where
    /// Redis uses its dict's order) and first args.
    pub fn describe_commands(&self, cmds: &AclCommands) -> String {
        let additive = !self.future;
        let mut rules = String::from(if additive { "-@all " } else { "+@all " });
        let mut fake = Selector::new(cmds, false);
        fake.all_bits(cmds, !additive);
        let mut temp = self.clone();
        let mut applied = [false; 21];
        loop {
            let mut best = None;
            let (mut mindiff, mut maxsame) = (usize::MAX, 0);
            for (j, name) in CATEGORIES.iter().enumerate() {
                if applied[j] {
                    continue;
                }
                let (on, off) = temp.count_category(cmds, cat_bit(name));
                let (diff, same) = if additive { (off, on) } else { (on, off) };
                if same > diff && (diff < mindiff || (diff == mindiff && same > maxsame)) {
                    best = Some(j);
                    mindiff = diff;
                    maxsame = same;
                }
            }
            let Some(j) = best else { break };
            let cat = cat_bit(CATEGORIES[j]);
            fake.change_category(cmds, cat, additive);
            temp.change_category(cmds, cat, !additive);
            rules.push_str(if additive { "+@" } else { "-@" });
            rules.push_str(CATEGORIES[j]);
            rules.push(' ');
            applied[j] = true;
        }
        for id in 0..cmds.list.len() {
            if cmds.list[id].parent.is_none() {
                self.describe_single(cmds, &mut fake, id, &mut rules);
            }
        }
        rules.pop();
        rules
    }

    fn describe_single(
        &self,
        cmds: &AclCommands,
        fake: &mut Selector,
        id: usize,
        rules: &mut String,
    ) {
        let c = &cmds.list[id];
        let userbit = self.bit(id);
        if userbit != fake.bit(id) {
            rules.push(if userbit { '+' } else { '-' });
            rules.push_str(&c.name);
            rules.push(' ');
            fake.change(cmds, id, userbit);
        }
        for s in c.subs.clone() {
            self.describe_single(cmds, fake, s, rules);
        }
        if !userbit {
            if let Some((_, list)) = self.firstargs.iter().find(|(i, _)| *i == id) {
                for a in list {
                    rules.push('+');
                    rules.push_str(&c.name);
                    rules.push('|');
                    rules.push_str(&String::from_utf8_lossy(a));
                    rules.push(' ');
                }
            }
        }
    }

    fn keys_text(&self) -> String {
        if self.flags & SEL_ALLKEYS != 0 {
            return "~*".into();
        }
        let parts: Vec<String> = self.patterns.iter().map(pattern_text).collect();
        parts.join(" ")
    }

    fn channels_text(&self) -> String {
        if self.flags & SEL_ALLCHANNELS != 0 {
            return "&*".into();
        }
        let parts: Vec<String> = self
            .channels
            .iter()
            .map(|c| format!("&{}", String::from_utf8_lossy(c)))
            .collect();
        parts.join(" ")
    }

    /// ACLDescribeSelector: keys, channels, commands.
    fn describe(&self, cmds: &AclCommands) -> String {
        let mut s = String::new();
        if self.flags & SEL_ALLKEYS != 0 {
            s.push_str("~* ");
        } else {
            for p in &self.patterns {
                s.push_str(&pattern_text(p));
                s.push(' ');
            }
        }
        if self.flags & SEL_ALLCHANNELS != 0 {
            s.push_str("&* ");
        } else {
            s.push_str("resetchannels ");
            for c in &self.channels {
                s.push('&');
                s.push_str(&String::from_utf8_lossy(c));
                s.push(' ');
            }
        }
        s.push_str(&self.describe_commands(cmds));
        s
    }
}

fn pattern_text((flags, pat): &(u8, Vec<u8>)) -> String {
    let prefix = match *flags {
        READ => "%R~",
        WRITE => "%W~",
        _ => "~",
    };
    format!("{prefix}{}", String::from_utf8_lossy(pat))
}

/// User flags, in the order Redis prints them.
const U_ON: u8 = 1;
const U_OFF: u8 = 2;
const U_NOPASS: u8 = 4;
const U_SKIP_SANITIZE: u8 = 8;
const U_SANITIZE: u8 = 16;
const USER_FLAGS: &[(u8, &str)] = &[
    (U_ON, "on"),
    (U_OFF, "off"),
    (U_NOPASS, "nopass"),
    (U_SKIP_SANITIZE, "skip-sanitize-payload"),
    (U_SANITIZE, "sanitize-payload"),
];

/// A user's rules: flags, password hashes, selectors (root first).
#[derive(Clone, PartialEq, Eq)]
pub struct Rules {
    flags: u8,
    passwords: Vec<String>,
    selectors: Vec<Selector>,
}

/// SHA-256 of a password, as lowercase hex.
pub fn hash_password(p: &[u8]) -> String {
    let d = Sha256::digest(p);
    let mut s = String::with_capacity(64);
    for b in d {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn valid_hash(h: &[u8]) -> bool {
    h.len() == 64 && h.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

impl Rules {
    /// A new user: off, no passwords, no permissions (ACLCreateUser).
    fn new(cmds: &AclCommands, all_channels: bool) -> Rules {
        Rules {
            flags: U_OFF,
            passwords: Vec::new(),
            selectors: vec![Selector::new(cmds, all_channels)],
        }
    }

    /// ACLSetUser: one rule. `all_channels` is `acl-pubsub-default`.
    pub fn apply(
        &mut self,
        cmds: &AclCommands,
        op: &[u8],
        all_channels: bool,
    ) -> Result<(), RuleError> {
        if op.is_empty() {
            return Ok(());
        }
        let is = |w: &str| op.eq_ignore_ascii_case(w.as_bytes());
        if is("on") {
            self.flags = (self.flags | U_ON) & !U_OFF;
        } else if is("off") {
            self.flags = (self.flags | U_OFF) & !U_ON;
        } else if is("skip-sanitize-payload") {
            self.flags = (self.flags | U_SKIP_SANITIZE) & !U_SANITIZE;
        } else if is("sanitize-payload") {
            self.flags = (self.flags | U_SANITIZE) & !U_SKIP_SANITIZE;
        } else if is("nopass") {
            self.flags |= U_NOPASS;
            self.passwords.clear();
        } else if is("resetpass") {
            self.flags &= !U_NOPASS;
            self.passwords.clear();
        } else if op[0] == b'>' || op[0] == b'#' {
            let h = if op[0] == b'>' {
                hash_password(&op[1..])
            } else if valid_hash(&op[1..]) {
                String::from_utf8_lossy(&op[1..]).into_owned()
            } else {
                return Err(RuleError::BadHash);
            };
            if !self.passwords.contains(&h) {
                self.passwords.push(h);
            }
            self.flags &= !U_NOPASS;
        } else if op[0] == b'<' || op[0] == b'!' {
            let h = if op[0] == b'<' {
                hash_password(&op[1..])
            } else if valid_hash(&op[1..]) {
                String::from_utf8_lossy(&op[1..]).into_owned()
            } else {
                return Err(RuleError::BadHash);
            };
            let at = self.passwords.iter().position(|p| *p == h);
            self.passwords.remove(at.ok_or(RuleError::NoSuchPassword)?);
        } else if op[0] == b'(' && op[op.len() - 1] == b')' {
            let mut s = Selector::new(cmds, all_channels);
            let inner = &op[1..op.len() - 1];
            for word in inner.split(|&b| b == b' ').filter(|w| !w.is_empty()) {
                s.apply(cmds, word)?;
            }
            self.selectors.push(s);
        } else if is("clearselectors") {
            self.selectors.truncate(1);
        } else if is("reset") {
            self.flags &= !U_NOPASS;
            self.passwords.clear();
            let root = &mut self.selectors[0];
            root.flags &= !(SEL_ALLKEYS | SEL_ALLCHANNELS);
            root.patterns.clear();
            root.channels.clear();
            if all_channels {
                root.flags |= SEL_ALLCHANNELS;
            }
            self.flags = (self.flags | U_OFF | U_SANITIZE) & !(U_ON | U_SKIP_SANITIZE);
            self.selectors.truncate(1);
            self.selectors[0].all_bits(cmds, false);
        } else {
            self.selectors[0].apply(cmds, op)?;
        }
        Ok(())
    }

    fn enabled(&self) -> bool {
        self.flags & U_OFF == 0 && self.flags & U_ON != 0
    }

    fn open(&self, cmds: &AclCommands) -> bool {
        let r = &self.selectors[0];
        r.flags & (SEL_ALLKEYS | SEL_ALLCHANNELS) == SEL_ALLKEYS | SEL_ALLCHANNELS
            && r.allows_all_commands(cmds)
    }

    /// ACL GETUSER's parts.
    pub fn details(&self, cmds: &AclCommands) -> UserDetails {
        UserDetails {
            flags: USER_FLAGS
                .iter()
                .filter(|(f, _)| self.flags & f != 0)
                .map(|(_, n)| *n)
                .collect(),
            passwords: self.passwords.clone(),
            selectors: self
                .selectors
                .iter()
                .map(|s| SelectorText {
                    commands: s.describe_commands(cmds),
                    keys: s.keys_text(),
                    channels: s.channels_text(),
                })
                .collect(),
        }
    }

    /// Whether every selector's channels are among `new`'s, or `new` allows
    /// all channels (ACLKillPubsubClientsIfNeeded's test). A selector that
    /// allowed all channels is kept only by one that still does.
    fn channels_kept_by(&self, new: &Rules) -> bool {
        if new.selectors.iter().any(|s| s.flags & SEL_ALLCHANNELS != 0) {
            return true;
        }
        if self
            .selectors
            .iter()
            .any(|s| s.flags & SEL_ALLCHANNELS != 0)
        {
            return false;
        }
        let upcoming: Vec<&Vec<u8>> = new.selectors.iter().flat_map(|s| &s.channels).collect();
        self.selectors
            .iter()
            .flat_map(|s| &s.channels)
            .all(|c| upcoming.contains(&c))
    }

    /// ACLDescribeUser (without the `user <name> ` prefix).
    pub fn describe(&self, cmds: &AclCommands) -> String {
        let mut s = String::new();
        for (f, name) in USER_FLAGS {
            if self.flags & f != 0 {
                s.push_str(name);
                s.push(' ');
            }
        }
        for p in &self.passwords {
            s.push('#');
            s.push_str(p);
            s.push(' ');
        }
        for (i, sel) in self.selectors.iter().enumerate() {
            if i == 0 {
                s.push_str(&sel.describe(cmds));
            } else {
                s.push_str(" (");
                s.push_str(&sel.describe(cmds));
                s.push(')');
            }
        }
        s
    }

    /// ACLCheckAllUserCommandPerm: any selector allowing it is enough; else
    /// the most relevant denial (command < key < channel, then the later argument).
    fn check(&self, cmds: &AclCommands, id: usize, args: &dyn ArgSource) -> Result<(), Denied> {
        let mut worst = Denied::Command(id);
        for s in &self.selectors {
            match s.check(cmds, id, args) {
                Ok(()) => return Ok(()),
                Err(d) => {
                    if (d.rank(), d.pos()) > (worst.rank(), worst.pos()) {
                        worst = d;
                    }
                }
            }
        }
        Err(worst)
    }
}

/// ACL GETUSER's view of a user.
pub struct UserDetails {
    pub flags: Vec<&'static str>,
    pub passwords: Vec<String>,
    /// Root first.
    pub selectors: Vec<SelectorText>,
}

pub struct SelectorText {
    pub commands: String,
    pub keys: String,
    pub channels: String,
}

/// Why a command was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denied {
    /// The ACL id of the command.
    Command(usize),
    /// Argument index of the key.
    Key(usize),
    /// Argument index of the channel.
    Channel(usize),
}

impl Denied {
    fn rank(self) -> u8 {
        match self {
            Denied::Command(_) => 1,
            Denied::Key(_) => 2,
            Denied::Channel(_) => 4,
        }
    }

    fn pos(self) -> usize {
        match self {
            Denied::Command(_) => 0,
            Denied::Key(p) | Denied::Channel(p) => p,
        }
    }
}

/// A user: its name and its current rules, shared by its connections.
pub struct User {
    pub name: Vec<u8>,
    rules: RwLock<Rules>,
    open: AtomicBool,
}

impl User {
    fn new(name: Vec<u8>, rules: Rules, cmds: &AclCommands) -> User {
        let open = rules.open(cmds);
        User {
            name,
            rules: RwLock::new(rules),
            open: AtomicBool::new(open),
        }
    }

    /// Whether the user may run anything (the dispatcher's fast path).
    #[inline]
    pub fn open(&self) -> bool {
        self.open.load(Relaxed)
    }

    pub fn rules(&self) -> Rules {
        self.rules.read().clone()
    }

    fn set_rules(&self, r: Rules, cmds: &AclCommands) {
        let open = r.open(cmds);
        *self.rules.write() = r;
        self.open.store(open, Relaxed);
    }
}

// ---------------------------------------------------------------------------
// The ACL log
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Command,
    Key,
    Channel,
    Auth,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum LogContext {
    TopLevel,
    Multi,
    Lua,
}

pub struct LogEntry {
    pub count: u64,
    pub reason: Reason,
    pub context: LogContext,
    pub object: Vec<u8>,
    pub username: Vec<u8>,
    /// Unix ms of the last occurrence.
    pub ctime: u64,
    pub cinfo: String,
}

impl LogEntry {
    pub fn reason_str(&self) -> &'static str {
        match self.reason {
            Reason::Command => "command",
            Reason::Key => "key",
            Reason::Channel => "channel",
            Reason::Auth => "auth",
        }
    }

    pub fn context_str(&self) -> &'static str {
        match self.context {
            LogContext::TopLevel => "toplevel",
            LogContext::Multi => "multi",
            LogContext::Lua => "lua",
        }
    }
}

// ---------------------------------------------------------------------------
// The server's ACL state
// ---------------------------------------------------------------------------

pub struct Acl {
    pub cmds: AclCommands,
    users: RwLock<BTreeMap<Vec<u8>, Arc<User>>>,
    default: Arc<User>,
    /// Newest first.
    pub log: Mutex<VecDeque<LogEntry>>,
    pub log_max: AtomicU64,
    /// `acl-pubsub-default allchannels`.
    all_channels: AtomicBool,
    /// The `requirepass` last applied to the default user.
    requirepass: Mutex<Option<Vec<u8>>>,
}

impl Acl {
    pub fn new(table: &CommandTable) -> Acl {
        let cmds = AclCommands::new(table);
        let mut rules = Rules::new(&cmds, true);
        rules.flags = U_ON | U_NOPASS;
        rules.selectors[0].flags |= SEL_ALLKEYS;
        rules.selectors[0].all_bits(&cmds, true);
        let default = Arc::new(User::new(b"default".to_vec(), rules, &cmds));
        let mut users = BTreeMap::new();
        users.insert(b"default".to_vec(), default.clone());
        Acl {
            cmds,
            users: RwLock::new(users),
            default,
            log: Mutex::new(VecDeque::new()),
            log_max: AtomicU64::new(128),
            all_channels: AtomicBool::new(false),
            requirepass: Mutex::new(None),
        }
    }

    pub fn default_user(&self) -> &Arc<User> {
        &self.default
    }

    pub fn all_channels(&self) -> bool {
        self.all_channels.load(Relaxed)
    }

    pub fn get(&self, name: &[u8]) -> Option<Arc<User>> {
        self.users.read().get(name).cloned()
    }

    pub fn users(&self) -> Vec<Arc<User>> {
        self.users.read().values().cloned().collect()
    }

    /// Fresh rules for a user that does not exist yet.
    pub fn new_rules(&self) -> Rules {
        Rules::new(&self.cmds, self.all_channels())
    }

    /// Creates or replaces a user's rules (the user keeps its connections).
    pub fn put(&self, name: &[u8], rules: Rules) {
        let mut users = self.users.write();
        match users.get(name) {
            Some(u) => u.set_rules(rules, &self.cmds),
            None => {
                let u = Arc::new(User::new(name.to_vec(), rules, &self.cmds));
                users.insert(name.to_vec(), u);
            }
        }
    }

    /// Removes a user; its connections must be killed by the caller. Its
    /// rules are cleared so an in-flight command of theirs is refused.
    pub fn remove(&self, name: &[u8]) -> Option<Arc<User>> {
        let u = self.users.write().remove(name)?;
        u.set_rules(self.new_rules(), &self.cmds);
        Some(u)
    }

    /// The config file's users (ACLLoadConfiguredUsers): added to the
    /// default user, which keeps its rules (and `requirepass`) unless a
    /// `user default` line resets them.
    pub fn add_configured(&self, new: Vec<(Vec<u8>, Rules)>) {
        let mut users = self.users.write();
        for (name, rules) in new {
            if name == b"default" {
                self.default.set_rules(rules, &self.cmds);
            } else {
                users.insert(name.clone(), Arc::new(User::new(name, rules, &self.cmds)));
            }
        }
    }

    /// Replaces every user (ACL LOAD); the default user object stays, with
    /// the file's rules or, if it has none, a new default's. Returns the
    /// users replaced.
    pub fn replace_all(&self, new: Vec<(Vec<u8>, Rules)>) -> Vec<Arc<User>> {
        let mut users = self.users.write();
        let old: Vec<Arc<User>> = users
            .values()
            .filter(|u| !Arc::ptr_eq(u, &self.default))
            .cloned()
            .collect();
        users.clear();
        let mut default_rules = None;
        for (name, rules) in new {
            if name == b"default" {
                default_rules = Some(rules);
            } else {
                users.insert(name.clone(), Arc::new(User::new(name, rules, &self.cmds)));
            }
        }
        let rules = default_rules.unwrap_or_else(|| {
            let mut r = Rules::new(&self.cmds, true);
            r.flags = U_ON | U_NOPASS;
            r.selectors[0].flags |= SEL_ALLKEYS;
            r.selectors[0].all_bits(&self.cmds, true);
            r
        });
        self.default.set_rules(rules, &self.cmds);
        users.insert(b"default".to_vec(), self.default.clone());
        for u in &old {
            u.set_rules(self.new_rules(), &self.cmds);
        }
        old
    }

    /// ACLCheckUserCredentials: the user if it exists, is on, and the
    /// password matches one of its hashes (or it is `nopass`).
    pub fn authenticate(&self, name: &[u8], pass: &[u8]) -> Option<Arc<User>> {
        let u = self.get(name)?;
        let ok = {
            let r = u.rules.read();
            r.enabled()
                && (r.flags & U_NOPASS != 0 || {
                    let h = hash_password(pass);
                    r.passwords
                        .iter()
                        .any(|p| constant_time_eq(p.as_bytes(), h.as_bytes()))
                })
        };
        ok.then_some(u)
    }

    /// Whether a new connection starts unauthenticated: the default user
    /// has passwords, or is off (authRequired).
    pub fn auth_required(&self) -> bool {
        let r = self.default.rules.read();
        r.flags & U_NOPASS == 0 || r.flags & U_OFF != 0
    }

    /// Whether `default` has `nopass` (AUTH with one argument refuses then).
    pub fn default_nopass(&self) -> bool {
        self.default.rules.read().flags & U_NOPASS != 0
    }

    /// Checks `args` (command table index `idx`) for `user`.
    pub fn check(&self, user: &User, idx: usize, args: &dyn ArgSource) -> Result<(), Denied> {
        match self.cmds.resolve(idx, args) {
            Some(id) => self.check_id(user, id, args),
            None => Ok(()),
        }
    }

    /// Checks `args` as ACL id `id` (a resolved command or subcommand).
    pub fn check_id(&self, user: &User, id: usize, args: &dyn ArgSource) -> Result<(), Denied> {
        user.rules.read().check(&self.cmds, id, args)
    }

    pub fn add_log(&self, mut e: LogEntry) {
        let mut log = self.log.lock();
        let found = log.iter().take(10).position(|x| {
            x.reason == e.reason
                && x.context == e.context
                && x.ctime.abs_diff(e.ctime) <= 60_000
                && x.object == e.object
                && x.username == e.username
        });
        if let Some(i) = found {
            if let Some(mut m) = log.remove(i) {
                m.cinfo = std::mem::take(&mut e.cinfo);
                m.ctime = e.ctime;
                m.count += 1;
                log.push_front(m);
            }
            return;
        }
        log.push_front(e);
        let max = self.log_max.load(Relaxed) as usize;
        log.truncate(max);
    }
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// An I/O error as C's strerror words it ("No such file or directory").
fn strerror(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

// ---------------------------------------------------------------------------
// Connection side
// ---------------------------------------------------------------------------

/// The user a client runs as.
pub fn user_of<'a>(shared: &'a Shared, client: &'a Client) -> &'a Arc<User> {
    client.user.as_ref().unwrap_or(&shared.acl.default)
}

/// Whether the client may skip ACL checks: one load and a branch.
#[inline]
pub fn unrestricted(shared: &Shared, client: &Client) -> bool {
    match &client.user {
        None => shared.acl.default.open(),
        Some(u) => u.open(),
    }
}

/// ACLUserCheckCmdWithUnrestrictedKeyAccess for reads: whether one of the
/// client's selectors both allows command `name` with `args` and may read
/// every key. SORT's BY and GET patterns name keys no key spec shows, so
/// Redis allows them only then.
pub fn reads_every_key(shared: &Shared, client: &Client, name: &str, args: &dyn ArgSource) -> bool {
    if unrestricted(shared, client) {
        return true;
    }
    let cmds = &shared.acl.cmds;
    let Some(id) = cmds.lookup(name.as_bytes()) else {
        return true;
    };
    let rules = user_of(shared, client).rules.read();
    rules
        .selectors
        .iter()
        .any(|s| s.check(cmds, id, args).is_ok() && s.reads_every_key())
}

/// Makes `user` the client's user (AUTH, HELLO AUTH, RESET).
pub fn set_user(shared: &Shared, client: &mut Client, user: Arc<User>) {
    let u = (!Arc::ptr_eq(&user, &shared.acl.default)).then_some(user);
    *client.handle.user.lock() = u.clone();
    client.user = u;
    client.authenticated = true;
}

/// Back to the default user (RESET): authenticated if it needs no password.
pub fn reset_user(shared: &Shared, client: &mut Client) {
    *client.handle.user.lock() = None;
    client.user = None;
    client.authenticated = !shared.acl.auth_required();
}

/// AUTH / HELLO AUTH: switches the client to the user, or logs the failure.
pub fn auth(shared: &Shared, client: &mut Client, name: &[u8], pass: &[u8], cmd: &[u8]) -> bool {
    match shared.acl.authenticate(name, pass) {
        Some(u) => {
            set_user(shared, client, u);
            true
        }
        None => {
            let context = if client.tx.in_multi() {
                LogContext::Multi
            } else {
                LogContext::TopLevel
            };
            let lower = String::from_utf8_lossy(cmd).to_ascii_lowercase();
            log_entry(
                shared,
                client,
                Reason::Auth,
                context,
                cmd.to_vec(),
                Some(name),
                &lower,
            );
            false
        }
    }
}

fn log_entry(
    shared: &Shared,
    client: &Client,
    reason: Reason,
    context: LogContext,
    object: Vec<u8>,
    username: Option<&[u8]>,
    cmd_name: &str,
) {
    let username = username.map_or_else(|| user_of(shared, client).name.clone(), <[u8]>::to_vec);
    let cinfo = crate::commands::client_cmd::client_line(
        shared,
        &client.handle,
        Some((client.db, cmd_name)),
    );
    let cinfo = cinfo.trim_end_matches('\n').to_string();
    shared.acl.add_log(LogEntry {
        count: 1,
        reason,
        context,
        object,
        username,
        ctime: unix_ms(),
        cinfo,
    });
}

/// Where a command is checked, which decides the log context and the
/// error text.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Site {
    /// Sent by the client (inside MULTI: being queued).
    TopLevel,
    /// Run by EXEC (rules may have changed since it was queued).
    Exec,
    /// `redis.call` from a script.
    Script,
}

/// Checks a command for a restricted client; on denial logs it and
/// returns the error text the site calls for.
pub fn enforce(
    shared: &Shared,
    client: &Client,
    idx: usize,
    args: &Args<'_>,
    site: Site,
) -> Result<(), CmdError> {
    let user = user_of(shared, client);
    let Err(d) = shared.acl.check(user, idx, args) else {
        return Ok(());
    };
    let (reason, object) = match d {
        Denied::Command(id) => (
            Reason::Command,
            shared.acl.cmds.list[id].name.as_bytes().to_vec(),
        ),
        Denied::Key(p) => (Reason::Key, args.at(p).to_vec()),
        Denied::Channel(p) => (Reason::Channel, args.at(p).to_vec()),
    };
    let context = match site {
        Site::TopLevel if client.tx.in_multi() => LogContext::Multi,
        Site::TopLevel => LogContext::TopLevel,
        Site::Exec => LogContext::Multi,
        Site::Script => LogContext::Lua,
    };
    let cmds = &shared.acl.cmds;
    let current = match site {
        Site::TopLevel => cmds.resolve(idx, args).unwrap_or(idx),
        // The client's command is still EXEC or the script's caller.
        Site::Exec | Site::Script => client.last_cmd,
    };
    let name = cmds.list.get(current).map_or("NULL", |c| c.name.as_str());
    log_entry(shared, client, reason, context, object, None, name);
    Err(match site {
        Site::TopLevel => match d {
            Denied::Command(id) => CmdError::owned(format!(
                "NOPERM this user has no permissions to run the '{}' command",
                shared.acl.cmds.list[id].name
            )),
            Denied::Key(_) => CmdError::new(
                "NOPERM this user has no permissions to access one of the keys used as arguments",
            ),
            Denied::Channel(_) => CmdError::new(
                "NOPERM this user has no permissions to access one of the channels used as arguments",
            ),
        },
        Site::Script => CmdError::new(match d {
            Denied::Command(_) => "ERR The user executing the script can't run this command or subcommand",
            Denied::Key(_) => "ERR The user executing the script can't access at least one of the keys mentioned in the command arguments",
            Denied::Channel(_) => "ERR The user executing the script can't publish to the channel mentioned in the command",
        }),
        Site::Exec => CmdError::owned(format!(
            "NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: {}",
            match d {
                Denied::Command(_) => "no permission to execute the command or subcommand",
                Denied::Key(_) => "no permission to touch the specified keys",
                Denied::Channel(_) => "no permission to access one of the channels used as arguments",
            }
        )),
    })
}

/// Kills the connections of `user` (ACL DELUSER, ACL LOAD); the calling
/// client closes after its reply.
pub fn kill_clients(shared: &Shared, client: &mut Client, user: &Arc<User>) {
    for h in shared.clients.all() {
        let is = h.user.lock().as_ref().is_some_and(|u| Arc::ptr_eq(u, user));
        if !is {
            continue;
        }
        if h.id == client.id {
            client.after = crate::client::After::Close;
            reset_user(shared, client);
        } else {
            h.kill();
        }
    }
}

/// ACL SETUSER of an existing user: when channel permissions were taken
/// away, its subscribed connections are closed (Redis closes only those
/// subscribed to a channel no longer allowed; Larder all of the user's
/// subscribers, their subscriptions being private to their connections).
pub fn kill_revoked_subscribers(
    shared: &Shared,
    client: &mut Client,
    user: &Arc<User>,
    new: &Rules,
) {
    if user.rules.read().channels_kept_by(new) {
        return;
    }
    for h in shared.clients.all() {
        let subscribed = h.subs.iter().any(|n| n.load(Relaxed) > 0);
        let theirs = h.user.lock().as_ref().is_some_and(|u| Arc::ptr_eq(u, user));
        if subscribed && theirs {
            if h.id == client.id {
                client.after = crate::client::After::Close;
            } else {
                h.kill();
            }
        }
    }
}

/// Syncs `requirepass`, `acl-pubsub-default` and `acllog-max-len` from the
/// config (Shared::apply_config), then the hot-path "auth required" flag.
pub fn apply_config(shared: &Shared, c: &crate::config::Config) {
    let acl = &shared.acl;
    acl.all_channels
        .store(c.acl_pubsub_default == "allchannels", Relaxed);
    acl.log_max.store(c.acllog_max_len, Relaxed);
    acl.log.lock().truncate(c.acllog_max_len as usize);
    let mut last = acl.requirepass.lock();
    if *last != c.requirepass {
        let mut r = acl.default.rules();
        let _ = r.apply(&acl.cmds, b"resetpass", false);
        let op = match &c.requirepass {
            Some(p) => [b">".as_slice(), p].concat(),
            None => b"nopass".to_vec(),
        };
        let _ = r.apply(&acl.cmds, &op, false);
        acl.default.set_rules(r, &acl.cmds);
        last.clone_from(&c.requirepass);
    }
    drop(last);
    sync_auth_required(shared);
}

/// Mirrors "the default user needs a password" into `hot.requirepass`.
pub fn sync_auth_required(shared: &Shared) {
    shared
        .hot
        .requirepass
        .store(shared.acl.auth_required(), Relaxed);
}

/// Parses `user <name> <rules...>` lines (an ACL file or the config file's
/// `user` directives) into rules, as ACLLoadFromFile: errors are collected
/// with `what` (the file name) and line numbers.
pub fn parse_users(
    acl: &Acl,
    what: &str,
    lines: &[(usize, String)],
) -> Result<Vec<(Vec<u8>, Rules)>, String> {
    let mut errors = String::new();
    let mut users: Vec<(Vec<u8>, Rules)> = Vec::new();
    for (n, line) in lines {
        let line = line.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'));
        if line.is_empty() {
            continue;
        }
        let argv: Vec<&str> = line.split(' ').collect();
        if argv[0] != "user" || argv.len() < 2 {
            errors.push_str(&format!(
                "{what}:{n} should start with user keyword followed by the username. "
            ));
            continue;
        }
        let name = argv[1].as_bytes();
        if has_spaces(name) {
            errors.push_str(&format!(
                "'{what}:{n}: username '{}' contains invalid characters. ",
                argv[1]
            ));
            continue;
        }
        if users.iter().any(|(u, _)| u == name) {
            errors.push_str(&format!(
                "WARNING: Duplicate user '{}' found on line {n}. ",
                argv[1]
            ));
            continue;
        }
        let mut rules = acl.new_rules();
        let words: Vec<&[u8]> = argv[2..].iter().map(|w| w.as_bytes()).collect();
        let Some(merged) = merge_selectors(&words) else {
            errors.push_str(&format!(
                "{what}:{n}: Unmatched parenthesis in selector definition."
            ));
            continue;
        };
        let mut syntax = false;
        for op in &merged {
            let op = trim_ws(op);
            if let Err(e) = rules.apply(&acl.cmds, op, acl.all_channels()) {
                if e == RuleError::UnknownCommand {
                    errors.push_str(&format!(
                        "{what}:{n}: Error in applying operation '{}': {}. ",
                        String::from_utf8_lossy(op),
                        e.text()
                    ));
                } else if !syntax {
                    errors.push_str(&format!("{what}:{n}: {}. ", e.text()));
                    syntax = true;
                }
            }
        }
        users.push((name.to_vec(), rules));
    }
    if errors.is_empty() {
        Ok(users)
    } else {
        Err(errors)
    }
}

fn trim_ws(s: &[u8]) -> &[u8] {
    let ws = |c: &u8| matches!(c, b'\t' | b'\r' | b'\n');
    let start = s.iter().position(|c| !ws(c)).unwrap_or(s.len());
    let end = s.iter().rposition(|c| !ws(c)).map_or(start, |e| e + 1);
    &s[start..end.max(start)]
}

/// ACLMergeSelectorArguments: joins `(` ... `)` words into one selector
/// rule; None when a parenthesis is left open (with where it opened).
pub fn merge_selectors(args: &[&[u8]]) -> Option<Vec<Vec<u8>>> {
    merge_selectors_at(args).ok()
}

/// As [`merge_selectors`], the error being the index of the unclosed word.
pub fn merge_selectors_at(args: &[&[u8]]) -> Result<Vec<Vec<u8>>, usize> {
    let mut out = Vec::with_capacity(args.len());
    let mut open: Option<(usize, Vec<u8>)> = None;
    for (j, op) in args.iter().enumerate() {
        if let Some((_, sel)) = open.as_mut() {
            sel.push(b' ');
            sel.extend_from_slice(op);
            if op.last() == Some(&b')') {
                if let Some((_, sel)) = open.take() {
                    out.push(sel);
                }
            }
            continue;
        }
        if op.first() == Some(&b'(') && op.last() != Some(&b')') {
            open = Some((j, op.to_vec()));
            continue;
        }
        out.push(op.to_vec());
    }
    match open {
        Some((j, _)) => Err(j),
        None => Ok(out),
    }
}

/// The ACL file's text: one `user` line per user (ACL SAVE, ACL LIST).
pub fn list_lines(acl: &Acl) -> Vec<String> {
    acl.users()
        .iter()
        .map(|u| {
            format!(
                "user {} {}",
                String::from_utf8_lossy(&u.name),
                u.rules.read().describe(&acl.cmds)
            )
        })
        .collect()
}

/// Loads the users of `path` (ACL LOAD, startup with `aclfile`); on error
/// nothing changes.
pub fn load_file(shared: &Shared, client: Option<&mut Client>, path: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(in_dir(shared, path)).map_err(|e| {
        format!(
            "Error loading ACLs, opening file '{path}': {}",
            strerror(&e)
        )
    })?;
    let lines: Vec<(usize, String)> = text
        .split('\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.to_string()))
        .collect();
    let users = parse_users(&shared.acl, path, &lines).map_err(|mut e| {
        e.push_str("WARNING: ACL errors detected, no change to the previously active ACL rules was performed");
        e
    })?;
    let old = shared.acl.replace_all(users);
    sync_auth_required(shared);
    match client {
        Some(c) => {
            for u in &old {
                kill_clients(shared, c, u);
            }
        }
        None => {
            for h in shared.clients.all() {
                if h.user.lock().is_some() {
                    h.kill();
                }
            }
        }
    }
    Ok(())
}

/// Startup: the config file's `user` lines, then `aclfile` (Redis refuses both).
pub fn load_at_startup(shared: &Shared) -> Result<(), String> {
    let (users, file) = {
        let c = shared.config.read();
        (c.users.clone(), c.aclfile.clone())
    };
    if !users.is_empty() && !file.is_empty() {
        return Err("Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is invalid. This setup is very likely to lead to configuration errors and security holes, please define either an ACL file or declare users directly in your redis.conf, but not both.".into());
    }
    if !users.is_empty() {
        let lines: Vec<(usize, String)> = users
            .iter()
            .enumerate()
            .map(|(i, u)| (i + 1, format!("user {u}")))
            .collect();
        let parsed = parse_users(&shared.acl, "config", &lines)?;
        shared.acl.add_configured(parsed);
        sync_auth_required(shared);
    } else if !file.is_empty() {
        load_file(shared, None, &file)?;
    }
    Ok(())
}

/// Writes every user to `path` (temporary file, then rename).
pub fn save_file(shared: &Shared, path: &str) -> std::io::Result<()> {
    let mut text = String::new();
    for l in list_lines(&shared.acl) {
        text.push_str(&l);
        text.push('\n');
    }
    let path = in_dir(shared, path);
    let mut tmp = path.clone().into_os_string();
    tmp.push(format!(".tmp-{}", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// Where the ACL file `name` is: Redis works in `dir` (it changes to it
/// as it reads the config, and on CONFIG SET dir), so a relative name is
/// under `dir`.
fn in_dir(shared: &Shared, name: &str) -> std::path::PathBuf {
    shared.config.read().dir.join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl() -> Acl {
        Acl::new(&crate::commands::table())
    }

    fn describe(ops: &[&str]) -> String {
        let a = acl();
        let mut r = a.new_rules();
        for op in ops {
            r.apply(&a.cmds, op.as_bytes(), false).unwrap();
        }
        r.describe(&a.cmds)
    }

    #[test]
    fn describes_common_rules() {
        assert_eq!(describe(&[]), "off resetchannels -@all");
        assert_eq!(
            describe(&["+@all", "-@dangerous"]),
            "off resetchannels +@all -@dangerous"
        );
        assert_eq!(
            describe(&["-@all", "+get", "+set"]),
            "off resetchannels -@all +get +set"
        );
        let pass = hash_password(b"p");
        assert_eq!(
            describe(&["on", ">p", "~a*", "%R~r*", "&c", "+@all", "-del"]),
            format!("on #{pass} ~a* %R~r* resetchannels &c +@all -del")
        );
        assert_eq!(
            describe(&["-@all", "+select|0", "+config|get"]),
            "off resetchannels -@all +select|0 +config|get"
        );
    }

    #[test]
    fn key_specs_find_keys() {
        let a = acl();
        let id = a.cmds.lookup(b"mset").unwrap();
        let args = ["mset", "a", "1", "b", "2"];
        let mut got = Vec::new();
        for_each_key(&a.cmds.list[id], &Strs(&args), &mut |p, n| {
            got.push((p, n));
            true
        });
        assert_eq!(got, vec![(1, WRITE), (3, WRITE)]);
    }

    struct Strs<'a>(&'a [&'a str]);
    impl ArgSource for Strs<'_> {
        fn count(&self) -> usize {
            self.0.len()
        }
        fn at(&self, i: usize) -> &[u8] {
            self.0.get(i).map_or(&[], |s| s.as_bytes())
        }
    }
}
