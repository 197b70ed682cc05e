//! Lua scripting: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT, as Redis 7.0.
//!
//! Scripts are stored by SHA1 in [`ScriptCache`] (shared by all connections);
//! each worker thread has its own Lua 5.1 state (`mlua`, vendored), built
//! lazily and rebuilt after SCRIPT FLUSH (a generation counter), holding the
//! compiled functions of the scripts it has run. Every script runs with the
//! environment Redis 7.0 gives it: a read-only global table (writing any
//! global or library field fails with "Attempt to modify a readonly table",
//! reading an undefined global with "Script attempted to access nonexistent
//! global variable"), no `os`, `io`, `debug`, `print`, `loadfile`, `dofile`,
//! `require`; `math.random` driven by Redis's process-wide `rand48`
//! generator; `KEYS` and `ARGV`; the `redis` library; `cjson`, `bit`, and
//! `cmsgpack` and `struct` (`lua_pack.rs`), `cjson` (`lua_cjson.rs`).
//!
//! Atomicity: a script holds every shard ([`Engine::hold`]) for its whole run,
//! since it may touch keys it did not declare; that serialises scripts with
//! all other commands, as Redis does, at the cost of stalling the other cores
//! for the script's duration. `redis.call` runs commands through
//! [`dispatch::call`](crate::dispatch::call) with the caller's client (its
//! database and protocol swapped for the script's) and decodes the reply
//! bytes into Lua values; errors follow Redis's error tables (`{err=...}`)
//! and its message formats (`... script: <sha>, on @user_script:<line>.`).
//!
//! Long scripts: a script runs under `block_in_place`, so its worker's other
//! connections move to another thread. A Lua count hook marks the script
//! busy past `busy-reply-threshold`; from then on other clients' commands
//! are refused with BUSY in dispatch (one relaxed load per command
//! otherwise), and SCRIPT KILL stops a script that has not written yet.
//! Connections already waiting on a shard lock when the script turned busy
//! wait for it to end.
//!
//! [`Engine::hold`]: larder_engine::Engine::hold

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

use larder_resp::value::{decode_value, Value as Resp};
use larder_resp::{Args, Protocol, Reply};
use mlua::{Function, Lua, LuaOptions, MultiValue, StdLib, Table, Value};
use parking_lot::Mutex;
use sha1::{Digest, Sha1};

use crate::client::Client;
use crate::command::{flags::*, Command, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::shared::Shared;

/// Scripts by lowercase hex SHA1.
#[derive(Default)]
pub struct ScriptCache {
    map: Mutex<HashMap<String, Arc<[u8]>>>,
    /// Bumped by SCRIPT FLUSH: threads then rebuild their Lua state.
    generation: AtomicU64,
    running: Arc<Running>,
}

/// The script running now (scripts run one at a time: each holds every
/// shard). Past `busy-reply-threshold`, other clients get BUSY and may
/// SCRIPT KILL (or FUNCTION KILL) it; a Lua count hook (every
/// [`HOOK_EVERY`] instructions) marks it busy and stops it when killed.
#[derive(Default)]
struct Running {
    /// Start of the running script (Unix ms), 0 when none runs.
    started_ms: AtomicU64,
    threshold_ms: AtomicU64,
    busy: AtomicBool,
    kill: AtomicBool,
    wrote: AtomicBool,
    /// The running script is a function (FCALL), not EVAL.
    function: AtomicBool,
    /// A running function's name and its caller's command (FUNCTION STATS).
    caller: Mutex<Option<(String, Vec<Vec<u8>>)>>,
}

const HOOK_EVERY: u32 = 100_000;

const BUSY: CmdError = CmdError::new(
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
);
const BUSY_FUNCTION: CmdError = CmdError::new(
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.",
);
const KILLED: &str = "ERR Script killed by user with SCRIPT KILL...";

/// The BUSY refusal for the kind of script running now.
fn busy_for(running: &Running) -> CmdError {
    if running.function.load(Relaxed) {
        BUSY_FUNCTION
    } else {
        BUSY
    }
}

/// The BUSY refusal for a command sent while a script runs past its
/// threshold (one relaxed load otherwise). Commands (or subcommands, such
/// as SCRIPT KILL and FUNCTION STATS) flagged `allow_busy` pass.
pub fn busy_error(shared: &Shared, cmd: &Command, args: &Args<'_>) -> Option<CmdError> {
    let running = &shared.scripts.running;
    if !running.busy.load(Relaxed) || cmd.has(ALLOW_BUSY) {
        return None;
    }
    let sub = args.get(1).unwrap_or(&[]);
    let allowed = cmd.subcommands.iter().any(|c| {
        c.has(ALLOW_BUSY)
            && c.name
                .split_once('|')
                .is_some_and(|(_, s)| s.as_bytes().eq_ignore_ascii_case(sub))
    });
    (!allowed).then(|| busy_for(running))
}

/// Shutdown: a running script stops at its next hook, whatever it wrote
/// (Redis's SHUTDOWN NOSAVE exits under a timed-out script); the server
/// could not stop while a worker ran it.
pub(crate) fn abort_for_shutdown(shared: &Shared) {
    let running = &shared.scripts.running;
    if running.started_ms.load(Relaxed) != 0 {
        running.kill.store(true, Relaxed);
    }
}

/// SCRIPT KILL (`eval`) and FUNCTION KILL: each kills only its own kind.
pub(crate) fn kill(shared: &Shared, eval: bool) -> CmdResult {
    let running = &shared.scripts.running;
    if running.started_ms.load(Relaxed) == 0 {
        return Err(CmdError::new("NOTBUSY No scripts in execution right now."));
    }
    if running.wrote.load(Relaxed) {
        return Err(CmdError::new(
            "UNKILLABLE Sorry the script already executed write commands against the dataset. \
             You can either wait the script termination or kill the server in a hard way \
             using the SHUTDOWN NOSAVE command.",
        ));
    }
    if eval == running.function.load(Relaxed) {
        return Err(busy_for(running));
    }
    running.kill.store(true, Relaxed);
    Ok(())
}

/// What FUNCTION STATS shows: `Err(BUSY)` while EVAL runs, else the
/// running function (name, its caller's command, milliseconds so far).
#[allow(clippy::type_complexity)]
pub(crate) fn running_function(
    shared: &Shared,
    now_ms: u64,
) -> Result<Option<(String, Vec<Vec<u8>>, u64)>, CmdError> {
    let running = &shared.scripts.running;
    let started = running.started_ms.load(Relaxed);
    if started == 0 {
        return Ok(None);
    }
    if !running.function.load(Relaxed) {
        return Err(BUSY);
    }
    Ok(running
        .caller
        .lock()
        .clone()
        .map(|(name, argv)| (name, argv, now_ms.saturating_sub(started))))
}

/// Redis's `rand48` state (rand.c), process-wide and never reseeded between
/// scripts, like Redis 7.0's; `math.randomseed` sets it.
static RAND48: Mutex<u64> = Mutex::new(0x1234_ABCD_330E);

fn lrand48() -> i64 {
    let mut x = RAND48.lock();
    *x = (x.wrapping_mul(0x5_DEEC_E66D).wrapping_add(0xB)) & ((1 << 48) - 1);
    (*x >> 17) as i64
}

pub fn sha1_hex(body: &[u8]) -> String {
    let digest = Sha1::digest(body);
    let mut s = String::with_capacity(40);
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Sets up a fresh state: libraries, the error handler, the sandbox.
const PRELUDE: &str = r#"
local deprecated_api = ...
local G, dbg, setfenv, rawget, error, tostring = _G, debug, setfenv, rawget, error, tostring
local type, ls, ld = type, loadstring, load
for _, k in ipairs({'print', 'dofile', 'loadfile', 'module', 'require', 'package', 'debug',
                    'os', 'io'}) do
  G[k] = nil
end
if not deprecated_api then
  G.getfenv, G.setfenv, G.newproxy = nil, nil, nil
end
G.__redis__err__handler = function(err)
  local lvl, i = 2, nil
  repeat
    i = dbg.getinfo(lvl, 'nSl')
    lvl = lvl + 1
  until not i or (i.what ~= 'C' and i.source ~= '=prelude')
  if type(err) ~= 'table' then
    err = {err = 'ERR ' .. tostring(err)}
  end
  if i then
    err['source'] = i.source
    err['line'] = i.currentline
  end
  return err
end
-- Read-only tables (proxies) by their metatable: setmetatable on one
-- fails as Redis's, getmetatable gives a read-only view of its metatable.
local smt, gmt = setmetatable, getmetatable
local locked = smt({}, {__mode = 'k'})
local function rofail() error('Attempt to modify a readonly table', 2) end
local function lock(mt)
  mt.__newindex, mt.__metatable = rofail, false
  local p = smt({}, mt)
  locked[p] = mt
  return p
end
local function readonly(t) return lock({__index = t}) end
local env = lock({
  __index = function(_, k)
    local v = rawget(G, k)
    if v == nil then
      error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
    end
    return v
  end,
})
G.setmetatable = function(t, mt)
  if locked[t] then error('Attempt to modify a readonly table', 0) end
  return smt(t, mt)
end
-- The metatables of strings (and of the other basic types) are shared by
-- every script: scripts see them read-only (Redis's CVE-2025-46818 fix).
-- Tables and userdata (newproxy's) have their own.
G.getmetatable = function(t)
  local mt = locked[t]
  if mt then return smt({}, {__index = mt, __newindex = rofail, __metatable = false}) end
  mt = gmt(t)
  local tt = type(t)
  if type(mt) == 'table' and tt ~= 'table' and tt ~= 'userdata' then return readonly(mt) end
  return mt
end
G.loadstring = function(s, name)
  if type(s) == 'string' and s:byte(1) == 27 then return nil end
  local f, e = ls(s, name)
  if f then setfenv(f, env) end
  return f, e
end
G.load = function(fn, name)
  local f, e = ld(fn, name)
  if f then setfenv(f, env) end
  return f, e
end
local r = G.redis
local select, next, tonumber, pcall, lower = select, next, tonumber, pcall, string.lower
local function fail(msg) error({err = 'ERR ' .. msg}) end
-- redis.log's checks (the C function redis.log raises what this returns).
local function logcheck(...)
  local n, level = select('#', ...), ...
  if n < 2 then return false, {err = 'ERR redis.log() requires two arguments or more.'} end
  level = tonumber(level)
  if not level then return false, {err = 'ERR First argument must be a number (log level).'} end
  if level < 0 or level > 3 then return false, {err = 'ERR Invalid debug level.'} end
  return true, nil
end
-- FUNCTION LOAD: the library's code runs with only `redis` (below) as
-- globals; redis.register_function collects into `reg`.
local loading, reg = false, nil
local FLAGS = {['no-writes'] = true, ['allow-oom'] = true, ['allow-stale'] = true,
               ['no-cluster'] = true, ['allow-cross-slot-keys'] = true}
local function isstr(v) local t = type(v) return t == 'string' or t == 'number' end
local function register(...)
  if not loading then fail('redis.register_function can only be called on FUNCTION LOAD command') end
  local n = select('#', ...)
  if n < 1 or n > 2 then fail('wrong number of arguments to redis.register_function') end
  local name, cb, desc, flags = nil, nil, nil, {}
  if n == 1 then
    local t = ...
    if type(t) ~= 'table' then
      fail('calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).')
    end
    for k, v in next, t do
      if not isstr(k) then fail('named argument key given to redis.register_function is not a string') end
      k = lower(tostring(k))
      if k == 'function_name' then
        if not isstr(v) then fail('function_name argument given to redis.register_function must be a string') end
        name = tostring(v)
      elseif k == 'description' then
        if not isstr(v) then fail('description argument given to redis.register_function must be a string') end
        desc = tostring(v)
      elseif k == 'callback' then
        if type(v) ~= 'function' then fail('callback argument given to redis.register_function must be a function') end
        cb = v
      elseif k == 'flags' then
        if type(v) ~= 'table' then fail('flags argument to redis.register_function must be a table representing function flags') end
        local j = 1
        while true do
          local f = v[j]
          if f == nil then break end
          f = isstr(f) and lower(tostring(f))
          if not f or not FLAGS[f] then fail('unknown flag given') end
          flags[#flags + 1] = f
          j = j + 1
        end
      else
        fail('unknown argument given to redis.register_function')
      end
    end
    if not name then fail('redis.register_function must get a function name argument') end
    if not cb then fail('redis.register_function must get a callback argument') end
  else
    local a, b = ...
    if not isstr(a) then fail('first argument to redis.register_function must be a string') end
    if type(b) ~= 'function' then fail('second argument to redis.register_function must be a function') end
    name, cb = tostring(a), b
  end
  if not name:find('^[A-Za-z0-9_]+$') then
    fail('Library names can only contain letters, numbers, or underscores(_) and must be at least one character long')
  end
  if reg.names[name] then fail('Function already exists in the library') end
  reg.names[name] = true
  reg.list[#reg.list + 1] = {name = name, desc = desc, flags = flags, callback = cb}
end
local function nonexistent(k)
  error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 3)
end
-- redis.register_function (a C function, raising what this returns).
local function register_check(...)
  local ok, e = pcall(register, ...)
  if ok then return true, nil end
  return false, e
end
local libredis = {register_function = r.register_function, log = r.log, REDIS_VERSION = r.REDIS_VERSION,
                  REDIS_VERSION_NUM = r.REDIS_VERSION_NUM, LOG_DEBUG = r.LOG_DEBUG,
                  LOG_VERBOSE = r.LOG_VERBOSE, LOG_NOTICE = r.LOG_NOTICE, LOG_WARNING = r.LOG_WARNING}
local libapi = {redis = setmetatable({}, {
  __index = function(_, k) local v = rawget(libredis, k) if v == nil then nonexistent(k) end return v end,
  __newindex = function() error('Attempt to modify a readonly table', 2) end,
  __metatable = false,
})}
-- Functions' globals: the load API while loading, else the scripts' globals.
local fenv = setmetatable({}, {
  __index = function(_, k)
    local v = rawget(loading and libapi or G, k)
    if v == nil then nonexistent(k) end
    return v
  end,
  __newindex = function() error('Attempt to modify a readonly table', 2) end,
  __metatable = false,
})
local function loadlib(f)
  loading, reg = true, {list = {}, names = {}}
  local ok, e = pcall(f)
  local list = reg.list
  loading, reg = false, nil
  return ok, e, list
end
r.register_function = nil
for _, k in ipairs({'string', 'math', 'table', 'coroutine', 'redis', 'cjson', 'bit', 'cmsgpack', 'struct'}) do
  if type(G[k]) == 'table' then G[k] = readonly(G[k]) end
end
gmt('').__index = G.string
G._G = env
local handler = G.__redis__err__handler
local function runner(f, keys, args)
  if keys == nil then return xpcall(f, handler) end
  return xpcall(function() return f(keys, args) end, handler)
end
return env, runner, fenv, loadlib, logcheck, register_check
"#;

pub(crate) struct Vm {
    lua: Lua,
    owner: usize,
    generation: u64,
    env: Table,
    runner: Function,
    funcs: HashMap<String, Function>,
    /// Functions' globals (the load API during FUNCTION LOAD).
    fenv: Table,
    /// Runs a library's code with `redis.register_function` enabled.
    loadlib: Function,
    /// Compiled function libraries by library id: function (lowercase) ->
    /// callback; dropped for libraries gone at `lib_generation`.
    libs: HashMap<u64, HashMap<String, Function>>,
    lib_generation: u64,
    /// This state's bytes as last added to [`LUA_BYTES`].
    reported: usize,
}

/// Bytes held by every thread's Lua state (INFO's `used_memory_lua`), as
/// each last reported after running code.
static LUA_BYTES: AtomicUsize = AtomicUsize::new(0);

impl Vm {
    fn report_memory(&mut self) {
        let now = self.lua.used_memory();
        if now >= self.reported {
            LUA_BYTES.fetch_add(now - self.reported, Relaxed);
        } else {
            LUA_BYTES.fetch_sub(self.reported - now, Relaxed);
        }
        self.reported = now;
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        LUA_BYTES.fetch_sub(self.reported, Relaxed);
    }
}

/// INFO's `used_memory_lua`: the Lua states of every thread.
pub(crate) fn lua_memory() -> usize {
    LUA_BYTES.load(Relaxed)
}

thread_local! {
    static VM: RefCell<Option<Vm>> = const { RefCell::new(None) };
    /// FUNCTION LOAD's deadline (Unix ms, 0 = none) and whether it passed.
    static LOAD_DEADLINE: Cell<u64> = const { Cell::new(0) };
    static LOAD_TIMED_OUT: Cell<bool> = const { Cell::new(false) };
    /// A command is running from `redis.call` on this thread.
    static IN_SCRIPT: Cell<bool> = const { Cell::new(false) };
    /// This thread's Lua hook fires on every line (a killed script).
    static LINE_HOOK: Cell<bool> = const { Cell::new(false) };
}

/// Whether the command running on this thread was called by a script
/// (Redis's CLIENT_SCRIPT), e.g. to refuse XREAD BLOCK there.
pub(crate) fn in_script() -> bool {
    IN_SCRIPT.get()
}

/// How long a library's code may run at FUNCTION LOAD (Redis's LOAD_TIMEOUT_MS).
const LOAD_TIMEOUT_MS: u64 = 500;

/// The state of a running script that its `redis.*` callbacks reach.
struct Run<'a> {
    shared: &'a Shared,
    client: &'a mut Client,
    /// `redis.setresp`: the protocol of the script's inner client.
    resp3: Cell<bool>,
    read_only: bool,
    /// Over `maxmemory` when the script started: its deny-oom commands
    /// fail until it has written (Redis's scriptVerifyOOM).
    oom: bool,
    /// The keys the script declared (tracked when it reads).
    keys: &'a [&'a [u8]],
}

/// `lua-enable-deprecated-api yes` (hidden, fixed at start): scripts keep
/// `setfenv`, `getfenv` and `newproxy`, which Redis removes by default.
fn deprecated_api(shared: &Shared) -> bool {
    shared
        .config
        .read()
        .compat
        .get("lua-enable-deprecated-api")
        .is_some_and(|v| v == "yes")
}

fn new_vm(
    owner: usize,
    generation: u64,
    running: Arc<Running>,
    deprecated_api: bool,
) -> mlua::Result<Vm> {
    let lua = Lua::new_with(
        StdLib::TABLE | StdLib::STRING | StdLib::MATH,
        LuaOptions::default(),
    )?;
    lua.set_hook(count_hook(), script_hook(running))?;
    let g = lua.globals();
    let redis = lua.create_table()?;
    redis.set("REDIS_VERSION", super::connection::REDIS_COMPAT_VERSION)?;
    redis.set("REDIS_VERSION_NUM", 0x0007_000f)?;
    for (i, name) in ["LOG_DEBUG", "LOG_VERBOSE", "LOG_NOTICE", "LOG_WARNING"]
        .iter()
        .enumerate()
    {
        redis.set(*name, i)?;
    }
    for (name, v) in [
        ("REPL_NONE", 0),
        ("REPL_AOF", 1),
        ("REPL_SLAVE", 2),
        ("REPL_REPLICA", 2),
        ("REPL_ALL", 3),
    ] {
        redis.set(name, v)?;
    }
    // redis.sha1hex: a non-string argument (nil, a table) hashes as "".
    let sha1hex = lua.create_function(|lua, args: MultiValue| {
        if args.len() != 1 {
            return Ok((false, Value::Table(error_table(lua, WRONG_ARGS)?)));
        }
        let hex = match args.front() {
            Some(Value::String(s)) => sha1_hex(&s.as_bytes()),
            Some(v @ (Value::Integer(_) | Value::Number(_))) => {
                sha1_hex(v.to_string().unwrap_or_default().as_bytes())
            }
            _ => sha1_hex(b""),
        };
        Ok((true, Value::String(lua.create_string(hex)?)))
    })?;
    // redis.set_repl: checked, then ignored (effects always replicate).
    let set_repl = lua.create_function(|lua, args: MultiValue| {
        let fail = |msg: &[u8]| Ok((false, Value::Table(error_table(lua, msg)?)));
        if args.len() != 1 {
            return fail(b"-ERR redis.set_repl() requires two arguments.");
        }
        match args.front().and_then(lua_number) {
            Some(f) if (f as i64) & !3 != 0 => fail(
                b"-ERR Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
            ),
            _ => Ok((true, Value::Nil)),
        }
    })?;
    lua.set_named_registry_value(reg_name(BACKENDS[5]), sha1hex)?;
    lua.set_named_registry_value(reg_name(BACKENDS[6]), set_repl)?;
    redis.set(
        "error_reply",
        lua.create_function(|lua, args| reply_table(lua, args, "err"))?,
    )?;
    redis.set(
        "status_reply",
        lua.create_function(|lua, args| reply_table(lua, args, "ok"))?,
    )?;
    redis.set(
        "replicate_commands",
        lua.create_function(|_, _: MultiValue| Ok(true))?,
    )?;
    // Not under the debugger: breakpoint() is false, debug() does nothing.
    redis.set(
        "breakpoint",
        lua.create_function(|_, _: MultiValue| Ok(false))?,
    )?;
    redis.set("debug", lua.create_function(|_, _: MultiValue| Ok(()))?)?;
    // SAFETY: `calling` and `raising` follow the Lua C API protocol (see below).
    redis.set("call", unsafe {
        lua.create_c_function(calling::<0, true>)?
    })?;
    redis.set("pcall", unsafe {
        lua.create_c_function(calling::<0, false>)?
    })?;
    redis.set("acl_check_cmd", unsafe {
        lua.create_c_function(calling::<4, true>)?
    })?;
    redis.set("setresp", unsafe { lua.create_c_function(raising::<1>)? })?;
    redis.set("log", unsafe { lua.create_c_function(raising::<2>)? })?;
    redis.set("sha1hex", unsafe { lua.create_c_function(raising::<5>)? })?;
    redis.set("set_repl", unsafe { lua.create_c_function(raising::<6>)? })?;
    // Only in the load-time `redis` table (the prelude moves it there).
    redis.set("register_function", unsafe {
        lua.create_c_function(raising::<3>)?
    })?;
    g.set("redis", redis)?;
    let math: Table = g.get("math")?;
    math.set(
        "random",
        lua.create_function(|_, args: MultiValue| {
            let r = (lrand48() % 2_147_483_647) as f64 / 2_147_483_647.0;
            let n: Vec<f64> = args.iter().filter_map(lua_number).collect();
            match (args.len(), n.as_slice()) {
                (0, _) => Ok(r),
                (1, [m]) if *m >= 1.0 => Ok((r * m.floor()).floor() + 1.0),
                (2, [l, u]) if l.floor() <= u.floor() => {
                    Ok((r * (u.floor() - l.floor() + 1.0)).floor() + l.floor())
                }
                (1 | 2, _) => Err(mlua::Error::RuntimeError("interval is empty".into())),
                _ => Err(mlua::Error::RuntimeError(
                    "wrong number of arguments".into(),
                )),
            }
        })?,
    )?;
    math.set(
        "randomseed",
        lua.create_function(|_, seed: f64| {
            let s = seed as i64 as i32 as u32 as u64;
            *RAND48.lock() = (s << 16) | 0x330E;
            Ok(())
        })?,
    )?;
    g.set("cjson", super::lua_cjson::cjson(&lua)?)?;
    g.set("bit", bit(&lua)?)?;
    g.set("cmsgpack", super::lua_pack::cmsgpack(&lua)?)?;
    g.set("struct", super::lua_pack::structlib(&lua)?)?;
    // The error handler's `debug.getinfo`; the prelude hides it from scripts.
    let dbg = debug_lib(&lua)?;
    g.set("debug", dbg)?;
    let (env, runner, fenv, loadlib, logcheck, register): (
        Table,
        Function,
        Table,
        Function,
        Function,
        Function,
    ) = lua
        .load(PRELUDE)
        .set_name("=prelude")
        .call(deprecated_api)?;
    for (backend, f) in [(BACKENDS[2], logcheck), (BACKENDS[3], register)] {
        lua.set_named_registry_value(reg_name(backend), f)?;
    }
    Ok(Vm {
        lua,
        owner,
        generation,
        env,
        runner,
        funcs: HashMap::new(),
        fenv,
        loadlib,
        libs: HashMap::new(),
        lib_generation: 0,
        reported: 0,
    })
}

/// The Lua hook's callback type.
type Hook = dyn Fn(&Lua, &mlua::Debug) -> mlua::Result<mlua::VmState>;

fn count_hook() -> mlua::HookTriggers {
    mlua::HookTriggers::new().every_nth_instruction(HOOK_EVERY)
}

/// The Lua hook: FUNCTION LOAD's timeout, the busy mark, SCRIPT KILL.
/// Once killed, it fires on every line (as Redis's luaMaskCountHook), so
/// that a script looping around `pcall` cannot catch the kill for good;
/// the next script starts with the count hook again ([`LINE_HOOK`]).
fn script_hook(running: Arc<Running>) -> Box<Hook> {
    Box::new(move |lua, _| {
        let deadline = LOAD_DEADLINE.get();
        if deadline != 0 && larder_engine::access::now_ms() > deadline {
            LOAD_TIMED_OUT.set(true);
            return Err(mlua::Error::RuntimeError("FUNCTION LOAD timeout".into()));
        }
        let start = running.started_ms.load(Relaxed);
        let limit = running.threshold_ms.load(Relaxed);
        let now = larder_engine::access::now_ms();
        if start != 0 && limit > 0 && now >= start + limit && !running.busy.swap(true, Relaxed) {
            let kill = if running.function.load(Relaxed) {
                "FUNCTION KILL"
            } else {
                "SCRIPT KILL"
            };
            tracing::warn!(
                "Slow script detected: still in execution after {} milliseconds. \
                 You can try killing the script using the {kill} command.",
                now - start
            );
        }
        if running.kill.load(Relaxed) {
            if !LINE_HOOK.replace(true) {
                lua.set_hook(mlua::HookTriggers::EVERY_LINE, script_hook(running.clone()))?;
            }
            return Err(mlua::Error::RuntimeError(KILLED.into()));
        }
        Ok(mlua::VmState::Continue)
    })
}

/// Registry keys of the backends of `redis.call`, `redis.setresp` and
/// `redis.acl_check_cmd` (scoped Rust functions stored for the script's
/// run), `redis.log` and `redis.register_function` (the prelude's),
/// `redis.sha1hex` and `redis.set_repl`.
const BACKENDS: [&std::ffi::CStr; 7] = [
    c"larder_raw_call",
    c"larder_setresp",
    c"larder_log",
    c"larder_register",
    c"larder_acl_check",
    c"larder_sha1hex",
    c"larder_set_repl",
];

fn reg_name(backend: &std::ffi::CStr) -> &str {
    backend.to_str().unwrap_or_default()
}

const WRONG_ARGS: &[u8] = b"-ERR wrong number of arguments";

/// `redis.error_reply` / `redis.status_reply`: `{err=...}` (with a `-`
/// code prefix added when missing) or `{ok=...}` of one string argument,
/// else Redis's (returned, not raised) error table.
fn reply_table(lua: &Lua, args: MultiValue, field: &str) -> mlua::Result<Table> {
    let s = match (args.len(), args.front()) {
        (1, Some(Value::String(s))) => s.as_bytes().to_vec(),
        _ => return error_table(lua, b"-ERR wrong number or type of arguments"),
    };
    if field == "ok" {
        let t = lua.create_table()?;
        t.set("ok", lua.create_string(&s)?)?;
        return Ok(t);
    }
    if s.starts_with(b"-") {
        error_table(lua, &s)
    } else {
        error_table(lua, &[b"-", &s[..]].concat())
    }
}

/// `redis.call`, `redis.setresp`, `redis.log` and
/// `redis.register_function`: C functions, like Redis's, so that a
/// script's `return redis.call(...)` is not a Lua tail call and the error
/// handler still sees the script's frame (for `on @user_script:<line>`).
/// Each calls its backend, which returns `(ok, value)`, and raises `value`
/// (an error table) when not ok (`redis.call` is [`calling`]). Nothing with a destructor lives in this
/// frame, so `lua_error`'s longjmp is sound here.
unsafe extern "C-unwind" fn raising<const B: usize>(
    state: *mut mlua::lua_State,
) -> std::ffi::c_int {
    use mlua::ffi;
    let n = ffi::lua_gettop(state);
    ffi::lua_getfield(state, ffi::LUA_REGISTRYINDEX, BACKENDS[B].as_ptr());
    ffi::lua_insert(state, 1);
    ffi::lua_call(state, n, 2);
    if ffi::lua_toboolean(state, -2) == 0 {
        ffi::lua_error(state);
    }
    1
}

/// `redis.call` (`RAISE`), `redis.pcall` and `redis.acl_check_cmd`: like
/// [`raising`], but the arguments go to the backend packed in one table,
/// with their count: a call may pass thousands (`unpack` of a big table),
/// and the backend's frame could not hold them (Lua 5.1 caps a C frame at
/// LUAI_MAXCSTACK slots; Redis's C function reads them in place).
/// `redis.pcall` returns the error table instead of raising it.
unsafe extern "C-unwind" fn calling<const B: usize, const RAISE: bool>(
    state: *mut mlua::lua_State,
) -> std::ffi::c_int {
    use mlua::ffi;
    let n = ffi::lua_gettop(state);
    ffi::lua_createtable(state, n, 0);
    ffi::lua_insert(state, 1);
    for i in (1..=n).rev() {
        ffi::lua_rawseti(state, 1, i.into());
    }
    ffi::lua_pushinteger(state, n as ffi::lua_Integer);
    ffi::lua_getfield(state, ffi::LUA_REGISTRYINDEX, BACKENDS[B].as_ptr());
    ffi::lua_insert(state, 1);
    ffi::lua_call(state, 2, 2);
    if RAISE && ffi::lua_toboolean(state, -2) == 0 {
        ffi::lua_error(state);
    }
    1
}

/// `debug.getinfo`, the only debug function the error handler needs, built
/// from mlua's stack inspection (the full debug library is not loaded).
fn debug_lib(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "getinfo",
        lua.create_function(|lua, (level, _what): (usize, Value)| {
            // Level 0 of inspect_stack is this function; the caller's level
            // n is inspect_stack(n).
            let info = lua.inspect_stack(level, |d| {
                let src = d.source();
                (
                    src.source.map(|s| s.to_string()),
                    d.current_line(),
                    src.what.to_string(),
                )
            });
            match info {
                None => Ok(Value::Nil),
                Some((source, line, what)) => {
                    let r = lua.create_table()?;
                    r.set("source", source)?;
                    r.set("currentline", line)?;
                    r.set("what", what)?;
                    Ok(Value::Table(r))
                }
            }
        })?,
    )?;
    Ok(t)
}

fn lua_number(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        Value::String(s) => std::str::from_utf8(&s.as_bytes()).ok()?.trim().parse().ok(),
        _ => None,
    }
}

/// Redis's luaPushErrorBuff: `-CODE msg` or `msg` becomes `{err="CODE msg"}`.
fn error_table(lua: &Lua, e: &[u8]) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("err", lua.create_string(error_text(e))?)?;
    Ok(t)
}

fn error_text(e: &[u8]) -> Vec<u8> {
    let (code, msg): (&[u8], &[u8]) = match e.strip_prefix(b"-") {
        Some(rest) => match rest.iter().position(|&b| b == b' ') {
            Some(sp) => (&rest[..sp], &rest[sp + 1..]),
            None => (b"ERR", rest),
        },
        None => (b"ERR", e),
    };
    let trim = |b: &u8| *b == b'\r' || *b == b'\n';
    let start = msg.iter().position(|b| !trim(b)).unwrap_or(msg.len());
    let end = msg.iter().rposition(|b| !trim(b)).map_or(start, |p| p + 1);
    let mut out = code.to_vec();
    out.push(b' ');
    out.extend_from_slice(&msg[start..end.max(start)]);
    out
}

/// LuaBitOp's number to int32: round to nearest, keep the low 32 bits.
fn tobit(n: f64) -> i32 {
    n.round_ties_even().rem_euclid(4_294_967_296.0) as u32 as i32
}

/// The `bit` library (LuaBitOp 1.0, as bundled with Redis).
fn bit(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let fold = |f: fn(i32, i32) -> i32| {
        move |_: &Lua, (first, rest): (f64, mlua::Variadic<f64>)| {
            Ok(rest.iter().fold(tobit(first), |a, &b| f(a, tobit(b))) as f64)
        }
    };
    t.set("band", lua.create_function(fold(|a, b| a & b))?)?;
    t.set("bor", lua.create_function(fold(|a, b| a | b))?)?;
    t.set("bxor", lua.create_function(fold(|a, b| a ^ b))?)?;
    t.set(
        "tobit",
        lua.create_function(|_, x: f64| Ok(tobit(x) as f64))?,
    )?;
    t.set(
        "bnot",
        lua.create_function(|_, x: f64| Ok(!tobit(x) as f64))?,
    )?;
    t.set(
        "bswap",
        lua.create_function(|_, x: f64| Ok(tobit(x).swap_bytes() as f64))?,
    )?;
    let shift = |f: fn(i32, u32) -> i32| {
        move |_: &Lua, (x, n): (f64, f64)| Ok(f(tobit(x), (tobit(n) & 31) as u32) as f64)
    };
    t.set(
        "lshift",
        lua.create_function(shift(|x, n| ((x as u32) << n) as i32))?,
    )?;
    t.set(
        "rshift",
        lua.create_function(shift(|x, n| ((x as u32) >> n) as i32))?,
    )?;
    t.set("arshift", lua.create_function(shift(|x, n| x >> n))?)?;
    t.set(
        "rol",
        lua.create_function(shift(|x, n| (x as u32).rotate_left(n) as i32))?,
    )?;
    t.set(
        "ror",
        lua.create_function(shift(|x, n| (x as u32).rotate_right(n) as i32))?,
    )?;
    t.set(
        "tohex",
        lua.create_function(|_, (x, n): (f64, Option<f64>)| {
            let n = n.map_or(8, tobit);
            let digits = n.unsigned_abs().min(8) as usize;
            let v = tobit(x) as u32 as u64 & ((1u64 << (4 * digits)) - 1);
            Ok(if n < 0 {
                format!("{v:0digits$X}")
            } else {
                format!("{v:0digits$x}")
            })
        })?,
    )?;
    Ok(t)
}

/// Runs `f` with this thread's Lua state for `shared`, (re)building it as needed.
fn with_vm<R>(shared: &Shared, f: impl FnOnce(&mut Vm) -> R) -> Result<R, CmdError> {
    let owner = shared as *const Shared as usize;
    let generation = shared.scripts.generation.load(Relaxed);
    VM.with(|cell| {
        let mut slot = cell.borrow_mut();
        let stale = slot
            .as_ref()
            .is_none_or(|vm| vm.owner != owner || vm.generation != generation);
        if stale {
            *slot = None;
            *slot = Some(
                new_vm(
                    owner,
                    generation,
                    shared.scripts.running.clone(),
                    deprecated_api(shared),
                )
                .map_err(|e| CmdError::owned(format!("ERR Lua initialisation failed: {e}")))?,
            );
        }
        match slot.as_mut() {
            Some(vm) => {
                let r = f(vm);
                vm.report_memory();
                Ok(r)
            }
            None => Err(CmdError::new("ERR Lua state unavailable")),
        }
    })
}

/// The compiled function of a script (compiling it on first use).
fn function(vm: &mut Vm, sha: &str, body: &[u8]) -> Result<Function, CmdError> {
    if let Some(f) = vm.funcs.get(sha) {
        return Ok(f.clone());
    }
    let f = compile(vm, body)?;
    vm.funcs.insert(sha.to_string(), f.clone());
    Ok(f)
}

fn compile(vm: &Vm, body: &[u8]) -> Result<Function, CmdError> {
    compile_in(vm, body, "@user_script", &vm.env).map_err(|msg| {
        CmdError::owned(format!(
            "ERR Error compiling script (new function): {}",
            msg.replace(['\r', '\n'], " ")
        ))
    })
}

/// Compiles a chunk named `name` with globals `env`; Err is Lua's message.
fn compile_in(vm: &Vm, body: &[u8], name: &str, env: &Table) -> Result<Function, String> {
    vm.lua
        .load(body)
        .set_name(name)
        .set_environment(env.clone())
        .into_function()
        .map_err(|e| match e {
            mlua::Error::SyntaxError { message, .. } => message,
            other => other.to_string(),
        })
}

/// A function a library registered (`redis.register_function`).
pub(crate) struct Registered {
    pub name: String,
    pub desc: Option<Vec<u8>>,
    /// Flag names as given (lowercase, possibly repeated).
    pub flags: Vec<String>,
}

/// Runs a library's code (after its shebang line) in this thread's Lua
/// state as FUNCTION LOAD does, and keeps its compiled functions under
/// `id`. Errors are FUNCTION LOAD's texts (without "ERR ").
pub(crate) fn load_library(
    shared: &Shared,
    id: u64,
    body: &[u8],
) -> Result<Vec<Registered>, String> {
    with_vm(shared, |vm| {
        compile_library(vm, body).map(|(meta, funcs)| {
            vm.libs.insert(id, funcs);
            meta
        })
    })
    .map_err(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())?
}

fn compile_library(
    vm: &Vm,
    body: &[u8],
) -> Result<(Vec<Registered>, HashMap<String, Function>), String> {
    let chunk = compile_in(vm, body, "@user_function", &vm.fenv)
        .map_err(|m| format!("Error compiling function: {m}"))?;
    LOAD_TIMED_OUT.set(false);
    LOAD_DEADLINE.set(larder_engine::access::now_ms() + LOAD_TIMEOUT_MS);
    let r: mlua::Result<(bool, Value, Table)> = vm.loadlib.call(chunk);
    LOAD_DEADLINE.set(0);
    let (ok, err, list) = r.map_err(|e| format!("Error registering functions: ERR {e}"))?;
    if !ok {
        let msg = match err {
            _ if LOAD_TIMED_OUT.get() => "ERR FUNCTION LOAD timeout".to_string(),
            Value::String(s) => format!("ERR {}", s.to_string_lossy()),
            Value::Table(t) => t
                .raw_get::<mlua::String>("err")
                .map(|s| s.to_string_lossy())
                .unwrap_or_default(),
            other => format!("ERR {}", other.to_string().unwrap_or_default()),
        };
        return Err(format!("Error registering functions: {msg}"));
    }
    let bad = |e: mlua::Error| e.to_string();
    let mut meta = Vec::new();
    let mut funcs = HashMap::new();
    for entry in list.sequence_values::<Table>() {
        let entry = entry.map_err(bad)?;
        let name: String = entry.raw_get("name").map_err(bad)?;
        let desc: Option<mlua::String> = entry.raw_get("desc").map_err(bad)?;
        let flags: Vec<String> = entry.raw_get("flags").map_err(bad)?;
        funcs.insert(
            name.to_ascii_lowercase(),
            entry.raw_get("callback").map_err(bad)?,
        );
        meta.push(Registered {
            name,
            desc: desc.map(|d| d.as_bytes().to_vec()),
            flags,
        });
    }
    Ok((meta, funcs))
}

/// Stores a script in the cache after checking it compiles; returns its SHA1.
fn load_script(shared: &Shared, body: &[u8]) -> Result<String, CmdError> {
    let sha = sha1_hex(body);
    if shared.scripts.map.lock().contains_key(&sha) {
        return Ok(sha);
    }
    let code = &body[shebang(body)?.map_or(0, |s| s.len)..];
    with_vm(shared, |vm| function(vm, &sha, code).map(|_| ()))??;
    shared
        .scripts
        .map
        .lock()
        .insert(sha.clone(), Arc::from(body));
    Ok(sha)
}

/// INFO's `number_of_cached_scripts` and `used_memory_scripts_eval`:
/// the scripts and the bytes their bodies and table entries take.
pub(crate) fn cached_scripts(shared: &Shared) -> (usize, usize) {
    let map = shared.scripts.map.lock();
    // Per entry: the 40-byte SHA1 string, the body's shared allocation
    // (two counters before it), and the table slot.
    let bytes = map
        .values()
        .map(|body| 40 + body.len() + 16 + std::mem::size_of::<(String, Arc<[u8]>)>())
        .sum();
    (map.len(), bytes)
}

/// Runs a script where it may take long: on a multi-threaded runtime the
/// worker first hands its other tasks and the I/O driver to another thread
/// (`block_in_place`), so other connections are served meanwhile (BUSY,
/// SCRIPT KILL).
pub(crate) fn off_worker<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// EVAL's and FCALL's argument 2; `not_int` is the command's error for a
/// non-integer.
pub(crate) fn numkeys(ctx: &Ctx<'_>, not_int: CmdError) -> Result<usize, CmdError> {
    let n = crate::command::parse_i64(ctx.arg(2)).ok_or(not_int)?;
    if n < 0 {
        return Err(CmdError::new("ERR Number of keys can't be negative"));
    }
    if n as usize > ctx.argc() - 3 {
        return Err(CmdError::new(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    Ok(n as usize)
}

fn eval(ctx: &mut Ctx<'_>) -> CmdResult {
    eval_generic(ctx, false, false)
}
fn evalsha(ctx: &mut Ctx<'_>) -> CmdResult {
    eval_generic(ctx, true, false)
}
fn eval_ro(ctx: &mut Ctx<'_>) -> CmdResult {
    eval_generic(ctx, false, true)
}
fn evalsha_ro(ctx: &mut Ctx<'_>) -> CmdResult {
    eval_generic(ctx, true, true)
}

const NOSCRIPT_ERR: CmdError = CmdError::new("NOSCRIPT No matching script. Please use EVAL.");

/// A script's `#!lua` first line (Redis 7): its length (the code after it
/// is compiled) and flags, as a function's.
#[derive(Clone, Copy, Default)]
struct Shebang {
    len: usize,
    /// `SCRIPT_*` bits.
    flags: u8,
}

/// Script flags as bits, in FUNCTION LIST's order (Redis's
/// `scripts_flags_def`): a function's, or those a shebang declares.
pub(crate) const SCRIPT_NO_WRITES: u8 = 1;
pub(crate) const SCRIPT_ALLOW_OOM: u8 = 2;
pub(crate) const SCRIPT_ALLOW_STALE: u8 = 4;

/// Redis's getCommandFlags for EVAL / EVALSHA (and their _RO forms) and
/// FCALL / FCALL_RO with `args`: when the script declares its flags (a
/// shebang, or a function's flags) they replace the command's `write`,
/// `denyoom`, `stale` and `may_replicate` flags in `flags`
/// (scriptFlagsToCmdFlags); a script without a shebang, or not found,
/// keeps `flags`.
pub(crate) fn declared_command_flags(
    shared: &Shared,
    name: &str,
    args: &Args<'_>,
    flags: u32,
) -> u32 {
    let declared = || -> Option<u8> {
        let body = match name {
            "eval" | "eval_ro" => Arc::from(args.get(1)?),
            "evalsha" | "evalsha_ro" => {
                let sha = String::from_utf8_lossy(args.get(1)?).to_ascii_lowercase();
                shared.scripts.map.lock().get(&sha).cloned()?
            }
            "fcall" | "fcall_ro" => return super::functions::function_flags(shared, args.get(1)?),
            _ => return None,
        };
        shebang(&body).ok().flatten().map(|sb| sb.flags)
    };
    let Some(script) = declared() else {
        return flags;
    };
    let mut f = flags & !(STALE | DENYOOM | WRITE | MAY_REPLICATE);
    if script & (SCRIPT_ALLOW_OOM | SCRIPT_NO_WRITES) == 0 {
        f |= DENYOOM;
    }
    if script & SCRIPT_NO_WRITES == 0 {
        f |= WRITE;
    }
    if script & SCRIPT_ALLOW_STALE != 0 {
        f |= STALE;
    }
    f
}

/// Parses a script's shebang line, if it has one (Redis's
/// evalExtractShebangFlags).
fn shebang(body: &[u8]) -> Result<Option<Shebang>, CmdError> {
    if !body.starts_with(b"#!") {
        return Ok(None);
    }
    let Some(len) = body.iter().position(|&b| b == b'\n') else {
        return Err(CmdError::new("ERR Invalid script shebang"));
    };
    let mut parts = body[..len]
        .split(u8::is_ascii_whitespace)
        .filter(|p| !p.is_empty());
    let fail = |what: &str, part: &[u8]| {
        CmdError::owned(format!("ERR {what}: {}", String::from_utf8_lossy(part)))
    };
    match parts.next() {
        Some(b"#!lua") => {}
        engine => {
            return Err(fail(
                "Unexpected engine in script shebang",
                engine.unwrap_or(b""),
            ))
        }
    }
    let mut sb = Shebang {
        len,
        ..Shebang::default()
    };
    for part in parts {
        let Some(list) = part.strip_prefix(b"flags=") else {
            return Err(fail("Unknown lua shebang option", part));
        };
        for flag in list.split(|&b| b == b',').filter(|_| !list.is_empty()) {
            match flag {
                b"no-writes" => sb.flags |= SCRIPT_NO_WRITES,
                b"allow-oom" => sb.flags |= SCRIPT_ALLOW_OOM,
                b"allow-stale" => sb.flags |= SCRIPT_ALLOW_STALE,
                b"no-cluster" | b"allow-cross-slot-keys" => {}
                _ => return Err(fail("Unexpected flag in script shebang", flag)),
            }
        }
    }
    Ok(Some(sb))
}

fn eval_generic(ctx: &mut Ctx<'_>, by_sha: bool, read_only: bool) -> CmdResult {
    feed_monitors(ctx);
    let nkeys = numkeys(ctx, crate::error::NOT_INTEGER)?;
    let shared = ctx.shared;
    let (sha, body) = if by_sha {
        let sha = String::from_utf8_lossy(ctx.arg(1)).to_ascii_lowercase();
        let body = shared.scripts.map.lock().get(&sha).cloned();
        match body {
            Some(b) if sha.len() == 40 => (sha, b),
            _ => return Err(NOSCRIPT_ERR),
        }
    } else {
        let body: Arc<[u8]> = Arc::from(ctx.arg(1));
        let sha = load_script(shared, &body)?;
        (sha, body)
    };
    // Without a shebang a script runs in compatibility mode: writes and
    // deny-oom commands are checked as it calls them.
    let sb = shebang(&body)?;
    if let Some(sb) = sb {
        prepare(shared, sb.flags, read_only)?;
    }
    let sb_or_compat = sb.unwrap_or_default();
    let inv = Invocation {
        name: &sha,
        function: false,
        nkeys,
        read_only: read_only || sb_or_compat.flags & SCRIPT_NO_WRITES != 0,
        allow_oom: sb_or_compat.flags & SCRIPT_ALLOW_OOM != 0,
    };
    let code = &body[sb_or_compat.len..];
    run_script(ctx, &inv, |vm| function(vm, &sha, code))
}

/// The checks Redis's scriptPrepareForRun makes of a script that declares
/// its `flags` (dispatch has refused most cases already, by the command
/// flags the script declares): a script that may write cannot run from a
/// _RO command, nor one without `allow-oom` over `maxmemory`.
pub(crate) fn prepare(shared: &Shared, flags: u8, read_only: bool) -> CmdResult {
    if read_only && flags & SCRIPT_NO_WRITES == 0 {
        return Err(CmdError::new(
            "ERR Can not execute a script with write flag using *_ro command.",
        ));
    }
    let engine = &shared.engine;
    if flags & (SCRIPT_NO_WRITES | SCRIPT_ALLOW_OOM) == 0
        && engine.config.maxmemory() > 0
        && engine.evict_until_fits().is_err()
    {
        return Err(CmdError::new(
            "OOM allow-oom flag is not set on the script, can not run it when used memory > 'maxmemory'",
        ));
    }
    Ok(())
}

/// Scripts are SKIP_MONITOR in dispatch and show themselves here, so that
/// MONITOR lists EVAL (or FCALL) before the commands it runs, as Redis.
pub(crate) fn feed_monitors(ctx: &Ctx<'_>) {
    if ctx.shared.monitor_count.load(Relaxed) > 0 {
        crate::monitor::feed(ctx.shared, ctx.client, &ctx.args);
    }
}

/// FCALL / FCALL_RO of function `name` (lowercase) of library `id`, whose
/// code is `body`: compiled in this thread's Lua state on first use.
pub(crate) fn fcall(
    ctx: &mut Ctx<'_>,
    id: u64,
    body: &[u8],
    name: &str,
    nkeys: usize,
    read_only: bool,
    allow_oom: bool,
) -> CmdResult {
    let shared = ctx.shared;
    let generation = shared.functions.generation();
    let inv = Invocation {
        name,
        function: true,
        nkeys,
        read_only,
        allow_oom,
    };
    *shared.scripts.running.caller.lock() = Some((
        name.to_string(),
        ctx.args.iter().map(<[u8]>::to_vec).collect(),
    ));
    let r = run_script(ctx, &inv, |vm| {
        if vm.lib_generation != generation {
            vm.libs.retain(|id, _| shared.functions.is_live(*id));
            vm.lib_generation = generation;
        }
        if !vm.libs.contains_key(&id) {
            let (_, funcs) = compile_library(vm, body).map_err(CmdError::owned)?;
            vm.libs.insert(id, funcs);
        }
        vm.libs
            .get(&id)
            .and_then(|l| l.get(name))
            .cloned()
            .ok_or(CmdError::new("ERR Function not found"))
    });
    *shared.scripts.running.caller.lock() = None;
    r
}

/// A script run: EVAL's (keys and arguments in `KEYS` / `ARGV`) or a
/// function's (passed as its two parameters).
struct Invocation<'a> {
    /// The script's SHA1 or the function's name, for error texts.
    name: &'a str,
    function: bool,
    /// Arguments 3.. are `nkeys` keys, then the arguments.
    nkeys: usize,
    /// EVAL_RO, or a function flagged `no-writes`.
    read_only: bool,
    /// Flagged `allow-oom`: deny-oom commands run over `maxmemory`.
    allow_oom: bool,
}

/// Runs the function `get` returns from this thread's Lua state, holding
/// every shard, with busy/kill handling, and writes its reply.
fn run_script(
    ctx: &mut Ctx<'_>,
    inv: &Invocation<'_>,
    get: impl FnOnce(&mut Vm) -> Result<Function, CmdError>,
) -> CmdResult {
    let shared = ctx.shared;
    let keys: Vec<&[u8]> = (3..3 + inv.nkeys).map(|i| ctx.arg(i)).collect();
    let argv: Vec<&[u8]> = (3 + inv.nkeys..ctx.argc()).map(|i| ctx.arg(i)).collect();
    let oom = !inv.allow_oom
        && shared.engine.config.maxmemory() > 0
        && shared.engine.evict_until_fits().is_err();
    let _hold = shared.engine.hold(None);
    // Dropped first: the script's effects reach the AOF feed while the hold lasts.
    let _flush = crate::propagate::flush_on_drop(shared);
    let running = &shared.scripts.running;
    let threshold = shared.config.read().busy_reply_threshold;
    running.threshold_ms.store(threshold, Relaxed);
    running.wrote.store(false, Relaxed);
    running.kill.store(false, Relaxed);
    running.function.store(inv.function, Relaxed);
    running.started_ms.store(ctx.now_ms.max(1), Relaxed);
    let (saved_db, saved_proto) = (ctx.client.db, ctx.client.proto);
    let out_proto = ctx.out.proto;
    let name = inv.name;
    let result = off_worker(|| {
        with_vm(shared, |vm| -> Result<(), CmdError> {
            let f = get(vm)?;
            let lua = &vm.lua;
            if LINE_HOOK.replace(false) {
                let hook = script_hook(shared.scripts.running.clone());
                lua.set_hook(count_hook(), hook)
                    .map_err(|e| CmdError::owned(format!("ERR {e}")))?;
            }
            let lerr = |e: mlua::Error| CmdError::owned(format!("ERR {e}"));
            let g = lua.globals();
            let mk = |items: &[&[u8]]| -> mlua::Result<Table> {
                let t = lua.create_table()?;
                for (i, a) in items.iter().enumerate() {
                    t.raw_set(i + 1, lua.create_string(a)?)?;
                }
                Ok(t)
            };
            let (lua_keys, lua_argv) = (mk(&keys).map_err(lerr)?, mk(&argv).map_err(lerr)?);
            let params = if inv.function {
                Some((lua_keys, lua_argv))
            } else {
                g.raw_set("KEYS", lua_keys).map_err(lerr)?;
                g.raw_set("ARGV", lua_argv).map_err(lerr)?;
                None
            };
            let run = Run {
                shared,
                client: &mut *ctx.client,
                resp3: Cell::new(false),
                read_only: inv.read_only,
                oom,
                keys: &keys,
            };
            let run = RefCell::new(run);
            let mut reply = Vec::new();
            let outcome = lua.scope(|scope| {
                let raw = scope.create_function(|lua, (args, n): (Table, i64)| {
                    redis_call(lua, &mut run.borrow_mut(), &args, n)
                })?;
                let setresp = scope.create_function(|lua, args: MultiValue| {
                    if args.len() != 1 {
                        return fail_with(lua, "ERR redis.setresp() requires one argument.");
                    }
                    match args.front().and_then(lua_number) {
                        Some(n) if n == 2.0 || n == 3.0 => {
                            run.borrow().resp3.set(n == 3.0);
                            Ok((true, Value::Nil))
                        }
                        _ => fail_with(lua, "ERR RESP version must be 2 or 3."),
                    }
                })?;
                let acl = scope.create_function(|lua, (args, n): (Table, i64)| {
                    acl_check(lua, &run.borrow(), &args, n)
                })?;
                lua.set_named_registry_value(reg_name(BACKENDS[0]), raw)?;
                lua.set_named_registry_value(reg_name(BACKENDS[1]), setresp)?;
                lua.set_named_registry_value(reg_name(BACKENDS[4]), acl)?;
                let (ok, v): (bool, Value) = match params {
                    Some((k, a)) => vm.runner.call((f.clone(), k, a))?,
                    None => vm.runner.call(f.clone())?,
                };
                let resp3 = run.borrow().resp3.get();
                let mut out = Reply::new(&mut reply, out_proto);
                if ok {
                    Ok(lua_to_reply(&v, &mut out, resp3, 0))
                } else {
                    Ok(Err(script_error(&v, name)))
                }
            });
            for b in [BACKENDS[0], BACKENDS[1], BACKENDS[4]] {
                lua.set_named_registry_value(reg_name(b), Value::Nil).ok();
            }
            g.raw_set("KEYS", Value::Nil).ok();
            g.raw_set("ARGV", Value::Nil).ok();
            let top = outcome.map_err(|e| {
                CmdError::owned(format!("ERR Error running script (call to f_{name}): {e}"))
            })?;
            ctx.out.out.extend_from_slice(&reply);
            top
        })
    });
    running.started_ms.store(0, Relaxed);
    running.busy.store(false, Relaxed);
    running.kill.store(false, Relaxed);
    ctx.client.db = saved_db;
    ctx.client.proto = saved_proto;
    result?
}

/// The error of a failed script: Redis's `-<err> script: <sha>, on <source>:<line>.`
fn script_error(v: &Value, sha: &str) -> CmdError {
    let Value::Table(t) = v else {
        return CmdError::owned(format!("ERR Error running script (call to f_{sha})"));
    };
    let err: Option<mlua::String> = t.raw_get("err").ok();
    let msg = err.map_or_else(String::new, |s| {
        String::from_utf8_lossy(&s.as_bytes()).into_owned()
    });
    let source: Option<mlua::String> = t.raw_get("source").ok();
    let line: Option<i64> = t.raw_get("line").ok();
    // Errors raised by Rust callbacks (the kill hook) arrive as mlua's text.
    let msg = match msg.strip_prefix("ERR runtime error: ") {
        Some(rest) => {
            let rest = rest.split("\nstack traceback").next().unwrap_or(rest);
            if rest.starts_with("ERR ") {
                rest.to_string()
            } else {
                format!("ERR {rest}")
            }
        }
        None => msg,
    };
    let mut text = msg.replace(['\r', '\n'], " ");
    if let (Some(s), Some(l)) = (source, line) {
        text.push_str(&format!(
            " script: {sha}, on {}:{l}.",
            String::from_utf8_lossy(&s.as_bytes())
        ));
    }
    if was_counted(t) {
        CmdError::relayed(text)
    } else {
        CmdError::owned(text)
    }
}

/// Writes a script's return value as Redis's luaReplyToRedisReply. At the
/// top level an error table becomes the command's error (counted).
/// Nesting past which a table reply is cut with Redis's stack-limit error
/// (a script may return a table that contains itself).
const MAX_REPLY_DEPTH: usize = 500;

fn lua_to_reply(v: &Value, out: &mut Reply<'_>, resp3: bool, depth: usize) -> CmdResult {
    match v {
        Value::Nil => out.null(),
        Value::Boolean(b) if !resp3 => {
            if *b {
                out.int(1)
            } else {
                out.null()
            }
        }
        Value::Boolean(b) => out.boolean(*b),
        Value::Integer(i) => out.int(*i),
        Value::Number(n) => out.int(truncate(*n)),
        Value::String(s) => out.bulk(&s.as_bytes()),
        Value::Table(_) if depth >= MAX_REPLY_DEPTH => out.error(b"ERR reached lua stack limit"),
        Value::Table(t) => {
            if let Ok(Value::String(e)) = t.raw_get::<Value>("err") {
                let text = String::from_utf8_lossy(&e.as_bytes()).replace(['\r', '\n'], " ");
                if depth == 0 {
                    return Err(if was_counted(t) {
                        CmdError::relayed(text)
                    } else {
                        CmdError::owned(text)
                    });
                }
                out.error(text.as_bytes());
                return Ok(());
            }
            // Status and big number texts: Redis turns CR and LF into spaces.
            let one_line = |s: mlua::String| -> Vec<u8> {
                s.as_bytes()
                    .iter()
                    .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
                    .collect()
            };
            if let Ok(Value::String(s)) = t.raw_get::<Value>("ok") {
                out.simple(&one_line(s));
                return Ok(());
            }
            if let Ok(d) = t.raw_get::<Value>("double") {
                if let Some(n) = match d {
                    Value::Number(n) => Some(n),
                    Value::Integer(i) => Some(i as f64),
                    _ => None,
                } {
                    out.double(n);
                    return Ok(());
                }
            }
            if let Ok(Value::Table(v)) = t.raw_get::<Value>("verbatim_string") {
                let format: Option<mlua::String> = v.raw_get("format").ok();
                let text: Option<mlua::String> = v.raw_get("string").ok();
                if let (Some(f), Some(text)) = (format, text) {
                    let f = f.as_bytes();
                    let mut fmt = *b"txt";
                    if f.len() == 3 {
                        fmt.copy_from_slice(&f);
                    }
                    out.verbatim(&fmt, &text.as_bytes());
                    return Ok(());
                }
            }
            if let Ok(Value::String(s)) = t.raw_get::<Value>("big_number") {
                out.big_number(&one_line(s));
                return Ok(());
            }
            // Tables are walked twice (count, then write) rather than
            // collected: each Lua value held from Rust takes a slot of
            // mlua's reference stack, which a big reply would exhaust.
            if let Ok(Value::Table(m)) = t.raw_get::<Value>("map") {
                out.map(m.pairs::<Value, Value>().flatten().count());
                for (k, v) in m.pairs::<Value, Value>().flatten() {
                    lua_to_reply(&k, out, resp3, depth + 1)?;
                    lua_to_reply(&v, out, resp3, depth + 1)?;
                }
                return Ok(());
            }
            if let Ok(Value::Table(m)) = t.raw_get::<Value>("set") {
                out.set(m.pairs::<Value, Value>().flatten().count());
                for (k, _) in m.pairs::<Value, Value>().flatten() {
                    lua_to_reply(&k, out, resp3, depth + 1)?;
                }
                return Ok(());
            }
            let len = (1..)
                .take_while(|&j| !matches!(t.raw_get::<Value>(j), Ok(Value::Nil) | Err(_)))
                .count();
            out.array(len);
            for j in 1..=len {
                let v = t.raw_get::<Value>(j).unwrap_or(Value::Nil);
                lua_to_reply(&v, out, resp3, depth + 1)?;
            }
        }
        _ => out.null(),
    }
    Ok(())
}

/// C's `(long long)` of a double as x86 does it: out of range or NaN gives
/// the minimum.
fn truncate(n: f64) -> i64 {
    const LIMIT: f64 = 9.223_372_036_854_776e18;
    if (-LIMIT..LIMIT).contains(&n) {
        n as i64
    } else {
        i64::MIN
    }
}

/// `redis.call` / `redis.pcall` of the `n` arguments in `args`:
/// `(true, reply)` or `(false, error table)`.
fn redis_call(lua: &Lua, run: &mut Run<'_>, args: &Table, n: i64) -> mlua::Result<(bool, Value)> {
    let fail = |text: &str| fail_with(lua, text);
    let (buf, ranges) = match command_args(args, n)? {
        Ok(parts) => parts,
        Err(e) => return fail(e),
    };
    let args = Args::from_parts(&buf, &ranges);
    let shared = run.shared;
    // Refused here: the error counts now, as its command's rejection
    // (Redis's scriptCall), and not again if it ends the script.
    let refused = |text: &str| {
        crate::dispatch::count_error(shared, text.as_bytes());
        let t = lua.create_table()?;
        t.set("err", text)?;
        counted(&t)?;
        Ok((false, Value::Table(t)))
    };
    let Some((idx, cmd)) = script_command(shared, &args) else {
        return refused("ERR Unknown Redis command called from script");
    };
    let refuse = |text: &str| {
        shared
            .commands
            .stats_of(idx, &args)
            .rejected
            .fetch_add(1, Relaxed);
        refused(text)
    };
    if !cmd.arity_ok(args.len()) {
        return refuse("ERR Wrong number of args calling Redis command from script");
    }
    if cmd.has(NOSCRIPT) && !shared.admin.script_disable_deny.load(Relaxed) {
        return refuse("ERR This Redis command is not allowed from script");
    }
    // Redis's scriptVerifyAllowStale: an `allow-stale` script on a stale
    // replica runs, but only the commands flagged `stale`.
    if !cmd.has(STALE) && crate::replication::is_stale(shared) {
        return refuse("ERR Can not execute the command on a stale replica");
    }
    if !crate::acl::unrestricted(shared, run.client) {
        let site = crate::acl::Site::Script;
        if let Err(e) = crate::acl::enforce(shared, run.client, idx, &args, site) {
            return refuse(&String::from_utf8_lossy(e.as_bytes()));
        }
    }
    if run.read_only && (cmd.has(WRITE) || crate::pause::may_replicate(cmd)) {
        return refuse("ERR Write commands are not allowed from read-only scripts.");
    }
    // Redis's scriptVerifyWriteCommandAllow: a script's first write is
    // refused with persistence failing, short of good replicas or on a
    // read-only replica; once it has written it runs to the end.
    if cmd.has(WRITE) && !shared.scripts.running.wrote.load(Relaxed) {
        let denied = crate::persist::snapshot::misconf(shared, cmd, || WRITE)
            .or_else(|| crate::replication::write_error(shared, run.client, || (WRITE, 0)));
        if let Some(e) = denied {
            return refuse(&String::from_utf8_lossy(e.as_bytes()));
        }
    }
    if run.oom && cmd.has(DENYOOM) && !shared.scripts.running.wrote.load(Relaxed) {
        return refuse("OOM command not allowed when used memory > 'maxmemory'.");
    }
    if cmd.has(WRITE) {
        shared.scripts.running.wrote.store(true, Relaxed);
    }
    let resp3 = run.resp3.get();
    run.client.proto = if resp3 {
        Protocol::Resp3
    } else {
        Protocol::Resp2
    };
    let mut out = Vec::new();
    // The caller's client still runs EVAL (CLIENT LIST `cmd=`, the ACL log).
    let outer = run.client.last_cmd;
    if cmd.has(READONLY) && !cmd.has(PUBSUB) && shared.tracking.active() {
        shared.tracking.script_reads(shared, run.client, run.keys);
    }
    IN_SCRIPT.set(true);
    crate::dispatch::call(shared, run.client, idx, args, &mut out);
    IN_SCRIPT.set(false);
    run.client.last_cmd = outer;
    match decode_value(&out) {
        Ok(Some((Resp::Error(e), _))) => {
            let mut full = b"-".to_vec();
            full.extend_from_slice(&e);
            let t = error_table(lua, &full)?;
            counted(&t)?;
            Ok((false, Value::Table(t)))
        }
        Ok(Some((v, _))) => Ok((true, resp_to_lua(lua, &v, resp3)?)),
        _ => fail("ERR reply from command could not be decoded"),
    }
}

/// Marks an error table as an error reply counted already (a command's),
/// with Redis's field: ending the script with it counts nothing more.
fn counted(t: &Table) -> mlua::Result<()> {
    t.set("ignore_error_stats_update", true)
}

/// Whether an error table was [`counted`] already.
fn was_counted(t: &Table) -> bool {
    matches!(
        t.raw_get("ignore_error_stats_update"),
        Ok(Value::Boolean(true))
    )
}

/// `(false, {err = text})`: a failed `redis.*` call.
fn fail_with(lua: &Lua, text: &str) -> mlua::Result<(bool, Value)> {
    let t = lua.create_table()?;
    t.set("err", text)?;
    Ok((false, Value::Table(t)))
}

/// The `n` arguments of a `redis.call` as a command's arguments (bytes and
/// ranges), or Redis's error for a call without any or with an argument
/// that is not a string or a number.
#[allow(clippy::type_complexity)]
fn command_args(
    args: &Table,
    n: i64,
) -> mlua::Result<Result<(Vec<u8>, Vec<(usize, usize)>), &'static str>> {
    if n < 1 {
        return Ok(Err(
            "ERR Please specify at least one argument for this redis lib call",
        ));
    }
    let mut buf: Vec<u8> = Vec::new();
    let mut ranges: Vec<(usize, usize)> = Vec::with_capacity(n as usize);
    for i in 1..=n {
        let start = buf.len();
        match args.raw_get::<Value>(i)? {
            Value::String(s) => buf.extend_from_slice(&s.as_bytes()),
            Value::Integer(i) => buf.extend_from_slice(i.to_string().as_bytes()),
            Value::Number(x) => buf.extend_from_slice(fmt_number(x).as_bytes()),
            _ => {
                return Ok(Err(
                    "ERR Lua redis lib command arguments must be strings or integers",
                ))
            }
        }
        ranges.push((start, buf.len()));
    }
    Ok(Ok((buf, ranges)))
}

/// The command a script's call names, as Redis's lookupCommand: a
/// container's subcommand when one is given (`None` if it is unknown).
/// Returns the table index (of the container) and the entry whose flags
/// and arity apply.
fn script_command(shared: &Shared, args: &Args<'_>) -> Option<(usize, &'static Command)> {
    let idx = shared.commands.lookup(&args[0])?;
    let base = shared.commands.get(idx);
    if base.subcommands.is_empty() || args.len() < 2 {
        return Some((idx, base));
    }
    let sub = base.resolve(args);
    (!std::ptr::eq(sub, base)).then_some((idx, sub))
}

/// `redis.acl_check_cmd`: whether the script's user may run the command
/// (nothing is logged); an unknown command raises.
fn acl_check(lua: &Lua, run: &Run<'_>, args: &Table, n: i64) -> mlua::Result<(bool, Value)> {
    let (buf, ranges) = match command_args(args, n)? {
        Ok(parts) => parts,
        Err(e) => return fail_with(lua, e),
    };
    let args = Args::from_parts(&buf, &ranges);
    let shared = run.shared;
    let Some((idx, _)) = script_command(shared, &args) else {
        return fail_with(lua, "ERR Invalid command passed to redis.acl_check_cmd()");
    };
    let user = crate::acl::user_of(shared, run.client);
    let allowed = shared.acl.check(user, idx, &args).is_ok();
    Ok((true, Value::Boolean(allowed)))
}

/// Lua's number formatting as Redis passes numeric arguments (`%.17g`).
fn fmt_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e17 {
        format!("{}", n as i64)
    } else {
        let mut out = Vec::new();
        larder_resp::number::fmt_double_g17(n, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// A command's reply as Lua sees it (Redis's redisProtocolToLuaType).
fn resp_to_lua(lua: &Lua, v: &Resp, resp3: bool) -> mlua::Result<Value> {
    let table1 = |k: &str, v: Value| -> mlua::Result<Value> {
        let t = lua.create_table()?;
        t.raw_set(k, v)?;
        Ok(Value::Table(t))
    };
    Ok(match v {
        Resp::Simple(s) => table1("ok", Value::String(lua.create_string(s)?))?,
        Resp::Error(e) => {
            let mut full = b"-".to_vec();
            full.extend_from_slice(e);
            let t = error_table(lua, &full)?;
            counted(&t)?;
            Value::Table(t)
        }
        Resp::Int(i) => Value::Number(*i as f64),
        Resp::Bulk(b) => Value::String(lua.create_string(b)?),
        Resp::Null if resp3 => Value::Nil,
        Resp::Null | Resp::NullArray => Value::Boolean(false),
        Resp::Array(items) | Resp::Push(items) => {
            let t = lua.create_table()?;
            for (i, it) in items.iter().enumerate() {
                t.raw_set(i + 1, resp_to_lua(lua, it, resp3)?)?;
            }
            Value::Table(t)
        }
        Resp::Map(pairs) => {
            let m = lua.create_table()?;
            for (k, v) in pairs {
                m.raw_set(resp_to_lua(lua, k, resp3)?, resp_to_lua(lua, v, resp3)?)?;
            }
            table1("map", Value::Table(m))?
        }
        Resp::Set(items) => {
            let m = lua.create_table()?;
            for k in items {
                m.raw_set(resp_to_lua(lua, k, resp3)?, true)?;
            }
            table1("set", Value::Table(m))?
        }
        Resp::Double(d) => table1("double", Value::Number(*d))?,
        Resp::Boolean(b) => Value::Boolean(*b),
        Resp::BigNumber(b) => table1("big_number", Value::String(lua.create_string(b)?))?,
        Resp::Verbatim { format, text } => {
            let t = lua.create_table()?;
            t.raw_set("format", lua.create_string(format)?)?;
            t.raw_set("string", lua.create_string(text)?)?;
            table1("verbatim_string", Value::Table(t))?
        }
        Resp::Attribute { value, .. } => resp_to_lua(lua, value, resp3)?,
    })
}

fn script(ctx: &mut Ctx<'_>) -> CmdResult {
    ctx.run_subcommand("script", SCRIPT_SUBS)
}

fn script_load(ctx: &mut Ctx<'_>) -> CmdResult {
    let sha = load_script(ctx.shared, ctx.arg(2))?;
    ctx.out.bulk(sha.as_bytes());
    Ok(())
}

fn script_exists(ctx: &mut Ctx<'_>) -> CmdResult {
    let n = ctx.argc() - 2;
    ctx.out.array(n);
    for i in 2..ctx.argc() {
        let sha = String::from_utf8_lossy(ctx.arg(i)).to_ascii_lowercase();
        let found = ctx.shared.scripts.map.lock().contains_key(&sha);
        ctx.out.int(found as i64);
    }
    Ok(())
}

fn script_flush(ctx: &mut Ctx<'_>) -> CmdResult {
    if ctx.argc() > 3 || (ctx.argc() == 3 && !ctx.arg_is(2, "sync") && !ctx.arg_is(2, "async")) {
        return Err(CmdError::new(
            "ERR SCRIPT FLUSH only support SYNC|ASYNC option",
        ));
    }
    ctx.shared.scripts.map.lock().clear();
    ctx.shared.scripts.generation.fetch_add(1, Relaxed);
    ctx.out.ok();
    Ok(())
}

fn script_kill(ctx: &mut Ctx<'_>) -> CmdResult {
    kill(ctx.shared, true)?;
    ctx.out.ok();
    Ok(())
}

fn script_help(ctx: &mut Ctx<'_>) -> CmdResult {
    const LINES: &[&str] = &[
        "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "DEBUG (YES|SYNC|NO)",
        "    Set the debug mode for subsequent scripts executed.",
        "EXISTS <sha1> [<sha1> ...]",
        "    Return information about the existence of the scripts in the script cache.",
        "FLUSH [ASYNC|SYNC]",
        "    Flush the Lua scripts cache. Very dangerous on replicas.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the scripts cache.",
        "    * SYNC: Synchronously flush the scripts cache.",
        "KILL",
        "    Kill the currently executing Lua script.",
        "LOAD <script>",
        "    Load a script into the scripts cache without executing it.",
        "HELP",
        "    Prints this help.",
    ];
    ctx.out.array(LINES.len());
    for l in LINES {
        ctx.out.simple(l.as_bytes());
    }
    Ok(())
}

const fn sub(
    name: &'static str,
    arity: i32,
    flags: u32,
    handler: crate::command::Handler,
) -> Command {
    Command {
        name,
        arity,
        flags,
        keys: (0, 0, 0),
        acl: "slow scripting",
        handler,
        subcommands: &[],
    }
}

const SCRIPT_SUBS: &[Command] = &[
    sub("script|exists", -3, NOSCRIPT, script_exists),
    sub("script|flush", -2, NOSCRIPT, script_flush),
    sub("script|help", 2, LOADING | STALE, script_help),
    sub("script|kill", 2, NOSCRIPT | ALLOW_BUSY, script_kill),
    sub("script|load", 3, NOSCRIPT | STALE, script_load),
];

const EVAL_FLAGS: u32 = NOSCRIPT | SKIP_MONITOR | STALE;

pub const COMMANDS: &[Command] = &[
    sub("eval", -3, EVAL_FLAGS, eval),
    sub("evalsha", -3, EVAL_FLAGS, evalsha),
    sub("eval_ro", -3, EVAL_FLAGS | READONLY, eval_ro),
    sub("evalsha_ro", -3, EVAL_FLAGS | READONLY, evalsha_ro),
    Command {
        name: "script",
        arity: -2,
        flags: 0,
        keys: (0, 0, 0),
        acl: "slow",
        handler: script,
        subcommands: SCRIPT_SUBS,
    },
];
