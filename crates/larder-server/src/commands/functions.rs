//! Redis 7 functions: FUNCTION LOAD / LIST / DELETE / FLUSH / DUMP /
//! RESTORE / STATS / KILL / HELP, and FCALL / FCALL_RO.
//!
//! The registry ([`Functions`]) is shared by all connections: libraries by
//! name (case-sensitive, a `BTreeMap`) and an index from function name
//! (lowercase: Redis's function names are case-insensitive) to its library.
//! A [`Library`] keeps its whole code (shebang included: what FUNCTION LIST
//! WITHCODE, FUNCTION DUMP, RDB files and AOF rewrites carry) and the
//! metadata of the functions it registered. Both maps hold `Arc<Library>`,
//! so a change clones the registry (a few pointers per library), edits the
//! copy and swaps it in under the write lock: a failed RESTORE or LOAD
//! leaves the old one untouched. Changes are serialised by a mutex; FCALL
//! takes the read lock only for one hash lookup.
//!
//! Compiled code lives in the Lua states of the worker threads
//! (`scripting.rs`): FUNCTION LOAD runs the library there once (errors,
//! `redis.register_function`), and another thread compiles a library the
//! first time it calls one of its functions (each library has a unique id;
//! the registry's generation counter tells a thread to drop libraries that
//! are gone). The cost: a library's load-time code runs once per thread
//! that uses it, and Lua state a library keeps in upvalues is per thread.
//!
//! Persistence: RDB files and AOF rewrites carry each library's code (RDB:
//! FUNCTION2 records before the databases; AOF: `FUNCTION LOAD <code>`),
//! and FUNCTION LOAD / DELETE / FLUSH / RESTORE propagate as themselves.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::command::{flags::*, Command, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::shared::Shared;

use super::scripting::{self, SCRIPT_ALLOW_OOM as ALLOW_OOM, SCRIPT_NO_WRITES as NO_WRITES};

/// Script flags (Redis's `scripts_flags_def`), in FUNCTION LIST's order
/// (the order of the `scripting::SCRIPT_*` bits).
const FLAG_NAMES: [&str; 5] = [
    "no-writes",
    "allow-oom",
    "allow-stale",
    "no-cluster",
    "allow-cross-slot-keys",
];

const BAD_NAME: &str = "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";

/// A loaded library.
pub struct Library {
    id: u64,
    name: String,
    /// The code as loaded, shebang line included.
    code: Arc<[u8]>,
    /// Where the Lua chunk starts (the newline ending the shebang line, so
    /// Lua's line numbers count it, as Redis's do).
    body_at: usize,
    functions: Vec<FunctionInfo>,
}

struct FunctionInfo {
    name: String,
    desc: Option<Vec<u8>>,
    /// Bits in [`FLAG_NAMES`] order.
    flags: u8,
}

#[derive(Clone, Default)]
struct Registry {
    libs: BTreeMap<String, Arc<Library>>,
    /// Lowercase function name -> (library, index in its `functions`).
    funcs: HashMap<String, (Arc<Library>, usize)>,
}

impl Registry {
    fn unlink(&mut self, name: &str) {
        if let Some(old) = self.libs.remove(name) {
            for f in &old.functions {
                self.funcs.remove(&f.name.to_ascii_lowercase());
            }
        }
    }

    /// Adds `lib` unless one of its functions exists in another library.
    fn link(&mut self, lib: Arc<Library>) -> Result<(), String> {
        if let Some(f) = lib
            .functions
            .iter()
            .find(|f| self.funcs.contains_key(&f.name.to_ascii_lowercase()))
        {
            return Err(format!("Function {} already exists", f.name));
        }
        for (i, f) in lib.functions.iter().enumerate() {
            // Names differing only in case within one library: the first wins.
            self.funcs
                .entry(f.name.to_ascii_lowercase())
                .or_insert_with(|| (lib.clone(), i));
        }
        self.libs.insert(lib.name.clone(), lib);
        Ok(())
    }
}

/// The function libraries (see the module comment).
#[derive(Default)]
pub struct Functions {
    registry: RwLock<Registry>,
    /// Bumped on every change; worker threads then drop stale compiled code.
    generation: AtomicU64,
    next_id: AtomicU64,
    /// Serialises changes (a library's code runs while it is held).
    change: Mutex<()>,
}

impl Functions {
    pub fn generation(&self) -> u64 {
        self.generation.load(Relaxed)
    }

    /// INFO's `number_of_libraries`, `number_of_functions` and
    /// `used_memory_functions`: the libraries' code, names and
    /// descriptions, and their records.
    pub fn footprint(&self) -> (usize, usize, usize) {
        let reg = self.registry.read();
        let funcs = reg.funcs.len();
        let mut bytes = 0;
        for lib in reg.libs.values() {
            bytes += std::mem::size_of::<Library>() + lib.name.len() + lib.code.len() + 16;
            for f in &lib.functions {
                bytes += std::mem::size_of::<FunctionInfo>()
                    + 2 * f.name.len()
                    + f.desc.as_ref().map_or(0, Vec::len);
            }
        }
        (reg.libs.len(), funcs, bytes)
    }

    /// Whether the library with this id is still loaded.
    pub fn is_live(&self, id: u64) -> bool {
        self.registry.read().libs.values().any(|l| l.id == id)
    }

    /// Each library's code, for RDB files, FUNCTION DUMP and AOF rewrites.
    pub fn codes(&self) -> Vec<Arc<[u8]>> {
        self.registry
            .read()
            .libs
            .values()
            .map(|l| l.code.clone())
            .collect()
    }

    fn replace(&self, r: Registry) {
        *self.registry.write() = r;
        self.generation.fetch_add(1, Relaxed);
    }
}

/// functionExtractLibMetaData: `#!<engine> name=<name>` on the first line.
/// Returns the engine, the name and where the code after the line starts.
fn parse_shebang(code: &[u8]) -> Result<(String, String, usize), String> {
    if !code.starts_with(b"#!") {
        return Err("Missing library metadata".into());
    }
    let end = code
        .iter()
        .position(|&b| b == b'\n')
        .ok_or("Invalid library metadata")?;
    let parts = crate::directives::split_args(&String::from_utf8_lossy(&code[..end]))
        .filter(|p| !p.is_empty())
        .ok_or("Invalid library metadata")?;
    let engine = parts[0].get(2..).unwrap_or("").to_string();
    let mut name = None;
    for part in &parts[1..] {
        let lower = part.get(..5).map(str::to_ascii_lowercase);
        if lower.as_deref() == Some("name=") {
            if name.is_some() {
                return Err(
                    "Invalid metadata value, name argument was given multiple times".into(),
                );
            }
            name = Some(part[5..].to_string());
            continue;
        }
        return Err(format!("Invalid metadata value given: {part}"));
    }
    let name = name.ok_or("Library name was not given")?;
    Ok((engine, name, end))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// functionsCreateWithLibraryCtx up to the collision check: parses `code`,
/// refuses a library `exists` says is there, runs the code. Errors are
/// Redis's texts without the "ERR " code.
fn create(
    shared: &Shared,
    code: &[u8],
    exists: impl Fn(&str) -> bool,
) -> Result<Arc<Library>, String> {
    let (engine, name, body_at) = parse_shebang(code)?;
    if !valid_name(&name) {
        return Err(BAD_NAME.into());
    }
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(format!("Engine '{engine}' not found"));
    }
    if exists(&name) {
        return Err(format!("Library '{name}' already exists"));
    }
    let id = shared.functions.next_id.fetch_add(1, Relaxed);
    let registered = scripting::load_library(shared, id, &code[body_at..])?;
    if registered.is_empty() {
        return Err("No functions registered".into());
    }
    let functions = registered
        .into_iter()
        .map(|r| FunctionInfo {
            flags: r
                .flags
                .iter()
                .filter_map(|f| FLAG_NAMES.iter().position(|n| n == f))
                .fold(0, |acc, i| acc | 1 << i),
            name: r.name,
            desc: r.desc,
        })
        .collect();
    Ok(Arc::new(Library {
        id,
        name,
        code: Arc::from(code),
        body_at,
        functions,
    }))
}

/// How FUNCTION RESTORE (and loading a file) joins libraries to the
/// loaded ones.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Policy {
    Flush,
    Append,
    Replace,
}

/// Loads every library in `codes` at once under `policy` (all or nothing).
fn restore(shared: &Shared, codes: &[Vec<u8>], policy: Policy) -> Result<(), String> {
    let fns = &shared.functions;
    let _change = fns.change.lock();
    let mut incoming = Registry::default();
    for code in codes {
        let lib = create(shared, code, |n| incoming.libs.contains_key(n))?;
        incoming.link(lib)?;
    }
    let mut next = if policy == Policy::Flush {
        Registry::default()
    } else {
        fns.registry.read().clone()
    };
    for lib in incoming.libs.values() {
        if next.libs.contains_key(&lib.name) {
            if policy == Policy::Append {
                return Err(format!("Library {} already exists", lib.name));
            }
            next.unlink(&lib.name);
        }
    }
    for lib in incoming.libs.into_values() {
        next.link(lib)?;
    }
    fns.replace(next);
    Ok(())
}

/// Loads the libraries of an RDB file (at startup, or an AOF's RDB base).
pub fn load_from_rdb(shared: &Shared, codes: &[Vec<u8>]) -> Result<(), String> {
    if codes.is_empty() {
        return Ok(());
    }
    restore(shared, codes, Policy::Replace)
}

/// DEBUG RELOAD: the libraries of the reloaded file. `flush` drops the
/// loaded ones first (even when the file has none); else `merge` lets the
/// file's replace them and, without it, a name already loaded is an error.
pub fn reload_from_rdb(
    shared: &Shared,
    codes: &[Vec<u8>],
    flush: bool,
    merge: bool,
) -> Result<(), String> {
    let policy = match (flush, merge) {
        (true, _) => Policy::Flush,
        (false, true) => Policy::Replace,
        (false, false) => Policy::Append,
    };
    restore(shared, codes, policy)
}

fn err(text: String) -> CmdError {
    CmdError::owned(format!("ERR {text}"))
}

/// The function a FUNCTION LOAD/DELETE/FLUSH/RESTORE propagates as itself
/// (the `function` container has no `write` flag of its own).
fn propagate_self(ctx: &Ctx<'_>) {
    if ctx.propagating() {
        ctx.propagate_as(ctx.args.iter());
        ctx.force_propagation();
    }
}

fn function(ctx: &mut Ctx<'_>) -> CmdResult {
    ctx.run_subcommand("function", SUBS)
}

fn load(ctx: &mut Ctx<'_>) -> CmdResult {
    let mut replace = false;
    for i in 2..ctx.argc() - 1 {
        if !ctx.arg_is(i, "replace") {
            return Err(err(format!(
                "Unknown option given: {}",
                String::from_utf8_lossy(ctx.arg(i))
            )));
        }
        replace = true;
    }
    let code = ctx.arg(ctx.argc() - 1);
    let fns = &ctx.shared.functions;
    let name = {
        let _change = fns.change.lock();
        let lib = create(ctx.shared, code, |n| {
            !replace && fns.registry.read().libs.contains_key(n)
        })
        .map_err(err)?;
        let mut next = fns.registry.read().clone();
        next.unlink(&lib.name);
        let name = lib.name.clone();
        next.link(lib).map_err(err)?;
        fns.replace(next);
        name
    };
    propagate_self(ctx);
    ctx.out.bulk(name.as_bytes());
    Ok(())
}

fn delete(ctx: &mut Ctx<'_>) -> CmdResult {
    let fns = &ctx.shared.functions;
    {
        let _change = fns.change.lock();
        let name = String::from_utf8_lossy(ctx.arg(2));
        let mut next = fns.registry.read().clone();
        if !next.libs.contains_key(name.as_ref()) {
            return Err(CmdError::new("ERR Library not found"));
        }
        next.unlink(&name);
        fns.replace(next);
    }
    propagate_self(ctx);
    ctx.out.ok();
    Ok(())
}

fn flush(ctx: &mut Ctx<'_>) -> CmdResult {
    if ctx.argc() > 3 {
        return Err(syntax_error(ctx));
    }
    if ctx.argc() == 3 && !ctx.arg_is(2, "sync") && !ctx.arg_is(2, "async") {
        return Err(CmdError::new(
            "ERR FUNCTION FLUSH only supports SYNC|ASYNC option",
        ));
    }
    {
        let fns = &ctx.shared.functions;
        let _change = fns.change.lock();
        fns.replace(Registry::default());
    }
    propagate_self(ctx);
    ctx.out.ok();
    Ok(())
}

/// addReplySubcommandSyntaxError.
fn syntax_error(ctx: &Ctx<'_>) -> CmdError {
    CmdError::owned(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try FUNCTION HELP.",
        String::from_utf8_lossy(ctx.arg(1))
    ))
}

fn list(ctx: &mut Ctx<'_>) -> CmdResult {
    let (mut with_code, mut pattern) = (false, None);
    let mut i = 2;
    while i < ctx.argc() {
        if !with_code && ctx.arg_is(i, "withcode") {
            with_code = true;
        } else if pattern.is_none() && ctx.arg_is(i, "libraryname") {
            if i + 1 >= ctx.argc() {
                return Err(CmdError::new("ERR library name argument was not given"));
            }
            i += 1;
            pattern = Some(ctx.arg(i));
        } else {
            return Err(err(format!(
                "Unknown argument {}",
                String::from_utf8_lossy(ctx.arg(i))
            )));
        }
        i += 1;
    }
    let reg = ctx.shared.functions.registry.read().clone();
    let libs: Vec<&Arc<Library>> = reg
        .libs
        .values()
        .filter(|l| {
            pattern.is_none_or(|p| larder_engine::glob::matches(p, l.name.as_bytes(), true))
        })
        .collect();
    let out = &mut ctx.out;
    out.array(libs.len());
    for lib in libs {
        out.map(if with_code { 4 } else { 3 });
        out.bulk(b"library_name");
        out.bulk(lib.name.as_bytes());
        out.bulk(b"engine");
        out.bulk(b"LUA");
        out.bulk(b"functions");
        out.array(lib.functions.len());
        for f in &lib.functions {
            out.map(3);
            out.bulk(b"name");
            out.bulk(f.name.as_bytes());
            out.bulk(b"description");
            match &f.desc {
                Some(d) => out.bulk(d),
                None => out.null(),
            }
            out.bulk(b"flags");
            let names: Vec<&str> = FLAG_NAMES
                .iter()
                .enumerate()
                .filter(|(i, _)| f.flags & (1 << i) != 0)
                .map(|(_, n)| *n)
                .collect();
            out.set(names.len());
            for n in names {
                out.simple(n.as_bytes());
            }
        }
        if with_code {
            out.bulk(b"library_code");
            out.bulk(&lib.code);
        }
    }
    Ok(())
}

fn dump(ctx: &mut Ctx<'_>) -> CmdResult {
    let compress = ctx.shared.config.read().rdbcompression;
    let payload = larder_engine::dump::serialize_functions(&ctx.shared.functions.codes(), compress);
    ctx.out.bulk(&payload);
    Ok(())
}

fn restore_cmd(ctx: &mut Ctx<'_>) -> CmdResult {
    if ctx.argc() > 4 {
        return Err(syntax_error(ctx));
    }
    let policy = if ctx.argc() == 4 {
        if ctx.arg_is(3, "append") {
            Policy::Append
        } else if ctx.arg_is(3, "replace") {
            Policy::Replace
        } else if ctx.arg_is(3, "flush") {
            Policy::Flush
        } else {
            return Err(CmdError::new(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            ));
        }
    } else {
        Policy::Append
    };
    let codes =
        larder_engine::dump::deserialize_functions(ctx.arg(2)).map_err(|e| err(e.to_string()))?;
    restore(ctx.shared, &codes, policy).map_err(err)?;
    propagate_self(ctx);
    ctx.out.ok();
    Ok(())
}

fn stats(ctx: &mut Ctx<'_>) -> CmdResult {
    let running = scripting::running_function(ctx.shared, ctx.now_ms)?;
    let (libs, funcs) = {
        let reg = ctx.shared.functions.registry.read();
        (reg.libs.len(), reg.funcs.len())
    };
    let out = &mut ctx.out;
    out.map(2);
    out.bulk(b"running_script");
    match running {
        None => out.null(),
        Some((name, argv, ms)) => {
            out.map(3);
            out.bulk(b"name");
            out.bulk(name.as_bytes());
            out.bulk(b"command");
            out.array(argv.len());
            for a in &argv {
                out.bulk(a);
            }
            out.bulk(b"duration_ms");
            out.int(ms as i64);
        }
    }
    out.bulk(b"engines");
    out.map(1);
    out.bulk(b"LUA");
    out.map(2);
    out.bulk(b"libraries_count");
    out.int(libs as i64);
    out.bulk(b"functions_count");
    out.int(funcs as i64);
    Ok(())
}

fn kill(ctx: &mut Ctx<'_>) -> CmdResult {
    scripting::kill(ctx.shared, false)?;
    ctx.out.ok();
    Ok(())
}

fn help(ctx: &mut Ctx<'_>) -> CmdResult {
    const LINES: &[&str] = &[
        "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "LOAD [REPLACE] <FUNCTION CODE>",
        "    Create a new library with the given library name and code.",
        "DELETE <LIBRARY NAME>",
        "    Delete the given library.",
        "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
        "    Return general information on all the libraries:",
        "    * Library name",
        "    * The engine used to run the Library",
        "    * Library description",
        "    * Functions list",
        "    * Library code (if WITHCODE is given)",
        "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
        "STATS",
        "    Return information about the current function running:",
        "    * Function name",
        "    * Command used to run the function",
        "    * Duration in MS that the function is running",
        "    If no function is running, return nil",
        "    In addition, returns a list of available engines.",
        "KILL",
        "    Kill the current running function.",
        "FLUSH [ASYNC|SYNC]",
        "    Delete all the libraries.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the libraries.",
        "    * SYNC: Synchronously flush the libraries.",
        "DUMP",
        "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
        "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
        "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
        "    control how to handle existing libraries (default APPEND):",
        "    * FLUSH: delete all existing libraries.",
        "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
        "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
        "      libraries with the new libraries (notice that even on this option there is a chance of failure",
        "      in case of functions name collision with another library).",
        "HELP",
        "    Prints this help.",
    ];
    ctx.out.array(LINES.len());
    for l in LINES {
        ctx.out.simple(l.as_bytes());
    }
    Ok(())
}

fn fcall(ctx: &mut Ctx<'_>) -> CmdResult {
    fcall_generic(ctx, false)
}

fn fcall_ro(ctx: &mut Ctx<'_>) -> CmdResult {
    fcall_generic(ctx, true)
}

/// Function `name`'s flags (`scripting::SCRIPT_*` bits); `None` if there
/// is no such function.
pub(crate) fn function_flags(shared: &crate::shared::Shared, name: &[u8]) -> Option<u8> {
    let key = String::from_utf8_lossy(name).to_ascii_lowercase();
    let reg = shared.functions.registry.read();
    let (lib, i) = reg.funcs.get(&key)?;
    Some(lib.functions[*i].flags)
}

fn fcall_generic(ctx: &mut Ctx<'_>, ro: bool) -> CmdResult {
    crate::commands::scripting::feed_monitors(ctx);
    let found = {
        let key = String::from_utf8_lossy(ctx.arg(1)).to_ascii_lowercase();
        let reg = ctx.shared.functions.registry.read();
        reg.funcs
            .get_key_value(&key)
            .map(|(k, (lib, i))| (k.clone(), lib.clone(), lib.functions[*i].flags))
    };
    let Some((name, lib, flags)) = found else {
        return Err(CmdError::new("ERR Function not found"));
    };
    let nkeys = scripting::numkeys(ctx, CmdError::new("ERR Bad number of keys provided"))?;
    scripting::prepare(ctx.shared, flags, ro)?;
    let read_only = flags & NO_WRITES != 0;
    scripting::fcall(
        ctx,
        lib.id,
        &lib.code[lib.body_at..],
        &name,
        nkeys,
        read_only,
        flags & ALLOW_OOM != 0,
    )
}

const fn sub(
    name: &'static str,
    arity: i32,
    flags: u32,
    acl: &'static str,
    handler: crate::command::Handler,
) -> Command {
    Command {
        name,
        arity,
        flags,
        keys: (0, 0, 0),
        acl,
        handler,
        subcommands: &[],
    }
}

const SUBS: &[Command] = &[
    sub(
        "function|delete",
        3,
        WRITE | NOSCRIPT,
        "write slow scripting",
        delete,
    ),
    sub("function|dump", 2, NOSCRIPT, "slow scripting", dump),
    sub(
        "function|flush",
        -2,
        WRITE | NOSCRIPT,
        "write slow scripting",
        flush,
    ),
    sub("function|help", 2, LOADING | STALE, "slow scripting", help),
    sub(
        "function|kill",
        2,
        NOSCRIPT | ALLOW_BUSY,
        "slow scripting",
        kill,
    ),
    sub("function|list", -2, NOSCRIPT, "slow scripting", list),
    sub(
        "function|load",
        -3,
        WRITE | DENYOOM | NOSCRIPT,
        "write slow scripting",
        load,
    ),
    sub(
        "function|restore",
        -3,
        WRITE | DENYOOM | NOSCRIPT,
        "write slow scripting",
        restore_cmd,
    ),
    sub(
        "function|stats",
        2,
        NOSCRIPT | ALLOW_BUSY,
        "slow scripting",
        stats,
    ),
];

const FCALL_FLAGS: u32 = NOSCRIPT | SKIP_MONITOR | STALE;

pub const COMMANDS: &[Command] = &[
    sub("fcall", -3, FCALL_FLAGS, "slow scripting", fcall),
    sub(
        "fcall_ro",
        -3,
        FCALL_FLAGS | READONLY,
        "slow scripting",
        fcall_ro,
    ),
    Command {
        name: "function",
        arity: -2,
        flags: 0,
        keys: (0, 0, 0),
        acl: "slow",
        handler: function,
        subcommands: SUBS,
    },
];
