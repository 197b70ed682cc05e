//! Differential tests: Lua scripting (EVAL, EVALSHA, EVAL_RO, EVALSHA_RO,
//! SCRIPT) against Redis 7.0: Lua ⇄ RESP conversions in RESP2 and RESP3,
//! `redis.*` helpers, the sandbox and every error text.

mod common;
use common::{Cmp, DiffSession};

macro_rules! session {
    () => {
        match DiffSession::start(&[]) {
            Some(s) => s,
            None => return,
        }
    };
}

/// Scripts run with `EVAL <script> 1 key1 arg1`.
const SCRIPTS: &[&str] = &[
    "return 1",
    "return 'hello'",
    "return 3.99",
    "return -3.5",
    "return -0.5",
    "return 1e20",
    "return 0/0",
    "return true",
    "return false",
    "return nil",
    "return {1, 2, {3, 'x'}, nil, 5}",
    "return {1, 'a', false, true}",
    "return {1, 2, 3.7, '4'}",
    "return {}",
    "return {ok = 'fine'}",
    "return {ok = 'a\\r\\nb'}",
    "return {err = 'bad'}",
    "return {err = 'ERR x'}",
    "return {1, {err = 'inner'}, 3}",
    "return {double = 3.5}",
    "return {big_number = '123456789012345678901234567890'}",
    "return {map = {a = 1}}",
    "return {set = {a = true}}",
    "return redis.error_reply('My Error')",
    "return redis.error_reply('x')",
    "return redis.error_reply('-x')",
    "return redis.error_reply('My Error\\r\\n')",
    "return redis.status_reply('STAT')",
    "return redis.status_reply('a\\r\\nb')",
    "return redis.sha1hex('abc')",
    "return redis.sha1hex('')",
    "return KEYS[1] .. ARGV[1]",
    "return {KEYS, ARGV}",
    "return #KEYS + #ARGV",
    "return redis.REDIS_VERSION",
    "return redis.REDIS_VERSION_NUM",
    "return redis.LOG_WARNING",
    "return redis.log(redis.LOG_WARNING, 'hi')",
    "return redis.replicate_commands()",
    "return redis.set_repl(redis.REPL_ALL)",
    "return redis.call('ping')",
    "return redis.call('PING', 'x')",
    "return redis.call('set', KEYS[1], ARGV[1])",
    "return redis.call('get', KEYS[1])",
    "return redis.call('get', 'nokey')",
    "return tostring(redis.call('get', 'nokey'))",
    "local t = redis.call('ping') return t.ok",
    "return redis.call('incr', 'counter')",
    "return type(redis.call('incr', 'counter'))",
    "return redis.call('mget', KEYS[1], 'nokey', 'counter')",
    "return redis.call('set', 'n', 0.1) and redis.call('get', 'n')",
    "return redis.call('set', 'n', 12) and redis.call('get', 'n')",
    "return redis.call('hset', 'h', 'f', 'v')",
    "return redis.call('hgetall', 'h')",
    "return redis.call('smembers', 'nokey')",
    "return redis.call('lrange', 'nokey', 0, -1)",
    // Errors.
    "x = 1",
    "return y",
    "return os",
    "return io",
    "return loadfile",
    "return require",
    "return print",
    "return debug",
    "error('boom')",
    "error({err = 'CUSTOM table error'})",
    "local a = nil; return a.b",
    "return 1 +",
    "return syntax error here",
    "string.foo = 1",
    "redis.call = 1",
    "math.pi = 3",
    "_G.x = 1",
    "return _G.x",
    "return redis.call('nosuch')",
    "return redis.call('get')",
    "return redis.call('incr', 'notint')",
    "return redis.call()",
    "return redis.call(1, 2)",
    "return redis.call('set', {}, 1)",
    "return redis.call('eval', 'return 1', '0')",
    "return redis.call('multi')",
    "return redis.pcall('get')",
    "return redis.pcall('incr', 'notint')",
    "local r = redis.pcall('incr', 'notint') return r.err",
    "return redis.pcall('nosuch')",
    "return pcall(redis.call, 'nosuch')",
    "return {pcall(error, 'x')}",
    "local ok, e = pcall(error, 'x') return e",
    "return redis.setresp(4)",
    // Libraries.
    "return type(cjson)",
    "return cjson.encode({1, 2, 3})",
    "return cjson.encode({a = 1})",
    "return cjson.encode('x')",
    "return cjson.decode('[1,2,3]')",
    "return cjson.decode('{\"a\":[1,2]}').a",
    "return string.rep('a', 3)",
    "return string.format('%d-%s', 5, 'x')",
    "return tonumber('0x10')",
    "return table.concat({1, 2, 3}, ',')",
    "return math.floor(3.7)",
    "return unpack({1, 2})",
    "return select('#', 1, 2, 3)",
    "return type(loadstring)",
    "local f = loadstring('return 5') return f()",
    "local f = loadstring('zz = 1') return f()",
    "return {math.random(100), math.random(100), math.random(), math.random(1, 6)}",
    "math.randomseed(7); return math.random(1000)",
    "return math.random(100)",
    "return {bit.band(0xff, 0x0f), bit.bor(1, 2, 4), bit.bxor(5, 3), bit.bnot(0)}",
    "return {bit.lshift(1, 31), bit.rshift(-1, 28), bit.arshift(-256, 4), bit.tobit(2^32 + 5)}",
    "return {bit.rol(1, 33), bit.ror(1, 1), bit.bswap(0x12345678)}",
    "return {bit.tohex(255), bit.tohex(-1, -4), bit.tohex(0x1234, 2)}",
    "return cjson.encode({a = cjson.null})",
    "return cjson.decode('[null]')[1] == cjson.null",
];

fn eval_cases(s: &mut DiffSession) {
    s.case(&["SET", "notint", "abc"]);
    for script in SCRIPTS {
        s.case(&["EVAL", script, "1", "key1", "arg1"]);
    }
}

#[test]
fn eval_conversions_and_errors_resp2() {
    let mut s = session!();
    eval_cases(&mut s);
}

#[test]
fn eval_conversions_and_errors_resp3() {
    let mut s = session!();
    s.case_with(&["HELLO", "3"], Cmp::TypeOnly);
    eval_cases(&mut s);
}

const RESP3_SCRIPTS: &[&str] = &[
    "redis.setresp(3); return redis.call('hgetall', 'h')",
    "redis.setresp(3); return redis.call('hgetall', 'nokey')",
    "redis.setresp(3); return redis.call('get', 'nokey')",
    "redis.setresp(3); return type(redis.call('get', 'nokey'))",
    "redis.setresp(3); return redis.call('smembers', 's')",
    "redis.setresp(3); return true",
    "redis.setresp(3); return false",
    "redis.setresp(3); return {double = 1.5}",
    "redis.setresp(3); local t = redis.call('hgetall', 'h') return t.map.f",
    "redis.setresp(2); return redis.call('hgetall', 'h')",
];

#[test]
fn setresp_both_client_protocols() {
    let mut s = session!();
    s.case(&["HSET", "h", "f", "v"]);
    s.case(&["SADD", "s", "m"]);
    for script in RESP3_SCRIPTS {
        s.case(&["EVAL", script, "0"]);
    }
    s.case_with(&["HELLO", "3"], Cmp::TypeOnly);
    for script in RESP3_SCRIPTS {
        s.case(&["EVAL", script, "0"]);
    }
}

#[test]
fn evalsha_script_and_arguments() {
    let mut s = session!();
    s.run(&[
        &["EVAL"],
        &["EVAL", "return 1"],
        &["EVAL", "return 1", "x"],
        &["EVAL", "return 1", "-1"],
        &["EVAL", "return 1", "2", "a"],
        &["EVAL", "return KEYS[2]", "2", "a", "b"],
        &["EVAL", "return ARGV[2]", "0", "a", "b"],
        &["SCRIPT", "LOAD", "return 'loaded'"],
        &["EVALSHA", "a4b3ef0b7d9bd2b5e1a6d2e8b8c7d8e0c1d3f1a2", "0"],
        &["EVALSHA", "nosuch", "0"],
        &[
            "SCRIPT",
            "EXISTS",
            "0b3b2d3b5d0c8f1e2a5e0f3c3c4b0a1d2e3f4a5b",
        ],
        &["SCRIPT", "LOAD", "return 1 +"],
        &["SCRIPT", "LOAD"],
        &["SCRIPT", "NOSUCH"],
        &["SCRIPT", "KILL"],
        &["SCRIPT", "FLUSH", "BAD"],
        &["SCRIPT", "HELP"],
    ]);
    let sha = s.case(&["SCRIPT", "LOAD", "return {KEYS[1], ARGV[1]}"]);
    let sha = String::from_utf8_lossy(&sha[5..45]).into_owned();
    s.case(&["EVALSHA", &sha, "1", "k", "a"]);
    s.case(&["EVALSHA", &sha.to_uppercase(), "1", "k", "a"]);
    s.case(&["EVALSHA_RO", &sha, "1", "k", "a"]);
    s.case(&["SCRIPT", "EXISTS", &sha, "nope"]);
    s.case(&["EVAL", "return 7", "0"]);
    s.case(&[
        "SCRIPT",
        "EXISTS",
        "e43d2f3e4b3f9e0bc4a46c8c25e4d4abbbf3ad8b",
    ]);
    s.case(&["SCRIPT", "FLUSH"]);
    s.case(&["SCRIPT", "EXISTS", &sha]);
    s.case(&["EVALSHA", &sha, "1", "k", "a"]);
    s.case(&["SCRIPT", "FLUSH", "ASYNC"]);
    s.case(&["EVAL_RO", "return redis.call('get', 'x')", "0"]);
    s.case(&["EVAL_RO", "return redis.call('set', 'x', 1)", "0"]);
    s.case(&["EVAL_RO", "return redis.pcall('set', 'x', 1)", "0"]);
    // May-replicate commands count as writes in read-only scripts.
    s.case(&["EVAL_RO", "return redis.call('publish', 'ch', 'm')", "0"]);
    s.case(&["EVAL_RO", "return redis.pcall('pfcount', 'h')", "0"]);
    s.case(&["GET", "x"]);
    // Inside MULTI.
    s.case(&["MULTI"]);
    s.case(&["EVAL", "return redis.call('incr', 'm')", "0"]);
    s.case(&["EVAL", "return redis.call('incr', 'm')", "0"]);
    s.case(&["EXEC"]);
    // SELECT inside a script does not leak to the caller.
    s.case(&[
        "EVAL",
        "redis.call('select', 3); return redis.call('set', 'in3', 'v')",
        "0",
    ]);
    s.case(&["GET", "in3"]);
    s.case(&["SELECT", "3"]);
    s.case(&["GET", "in3"]);
}

/// A script past `busy-reply-threshold`: other clients get BUSY, SCRIPT KILL
/// stops it (unless it wrote: UNKILLABLE, then SHUTDOWN NOSAVE is the way out).
#[test]
fn busy_script_and_script_kill() {
    let Some(mut s) = DiffSession::start(&["--busy-reply-threshold", "100"]) else {
        return;
    };
    let (mut l2, mut r2) = s.new_clients();
    let both = |l: &mut common::RawClient, r: &mut common::RawClient, cmd: &[&str]| {
        let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
        let (a, b) = (l.cmd(&args), r.cmd(&args));
        assert_eq!(common::esc(&a), common::esc(&b), "{cmd:?}");
    };
    both(&mut l2, &mut r2, &["SCRIPT", "KILL"]);
    for c in [&mut s.larder, &mut s.redis] {
        c.send_str(&["EVAL", "while true do end", "0"]);
    }
    std::thread::sleep(std::time::Duration::from_millis(400));
    both(&mut l2, &mut r2, &["GET", "x"]);
    both(&mut l2, &mut r2, &["SCRIPT", "LOAD", "return 1"]);
    both(&mut l2, &mut r2, &["SCRIPT", "KILL"]);
    let (a, b) = (s.larder.read_reply(), s.redis.read_reply());
    assert_eq!(common::esc(&a), common::esc(&b));
    both(&mut l2, &mut r2, &["SCRIPT", "KILL"]);
    both(&mut l2, &mut r2, &["SET", "x", "1"]);
    for c in [&mut s.larder, &mut s.redis] {
        c.send_str(&["EVAL", "redis.call('set', 'y', 1) while true do end", "0"]);
    }
    std::thread::sleep(std::time::Duration::from_millis(400));
    both(&mut l2, &mut r2, &["SCRIPT", "KILL"]);
    both(&mut l2, &mut r2, &["PING"]);
}

/// Many arguments and big replies: EVAL with 10,000 ARGV, `redis.call`
/// with thousands of arguments (`unpack`), commands and scripts returning
/// arrays of 100,000 elements (Lua stack and reference limits).
#[test]
fn many_arguments_and_big_replies() {
    let mut s = session!();
    let run = |s: &mut DiffSession, script: &str, nkeys: usize, args: &[String]| {
        let nk = nkeys.to_string();
        let mut cmd: Vec<&str> = vec!["EVAL", script, &nk];
        cmd.extend(args.iter().map(String::as_str));
        s.case(&cmd);
    };
    let many: Vec<String> = (0..10_000).map(|i| format!("a{i}")).collect();
    run(&mut s, "return #ARGV", 0, &many);
    run(&mut s, "return ARGV", 0, &many);
    run(&mut s, "return {#KEYS, KEYS[5000]}", 5_000, &many);
    // MSET with 6,000 arguments, MGET of 3,000 keys.
    run(
        &mut s,
        "return redis.call('mset', unpack(ARGV))",
        0,
        &many[..6_000],
    );
    run(
        &mut s,
        "return redis.call('mget', unpack(KEYS))",
        3_000,
        &many[..3_000],
    );
    run(
        &mut s,
        "return redis.pcall('mget', unpack(KEYS))",
        3_000,
        &many[..3_000],
    );
    for script in [
        "local a = {} for i = 1, 7999 do a[i] = i end return redis.call('rpush', 'l', unpack(a))",
        "local a = {} for i = 1, 7999 do a[i] = 'x' end return redis.pcall('rpush', 'l', unpack(a))",
        "return redis.call('lrange', 'l', 0, -1)",
        "return #redis.call('lrange', 'l', 0, -1)",
        "local t = {} for i = 1, 100000 do t[i] = tostring(i) end return t",
        "local t = {} for i = 1, 100000 do t[i] = i end return t",
        "local t = {} for i = 1, 100000 do t[i] = {i} end return #t",
        "local a = {} for i = 1, 8100 do a[i] = 1 end return redis.call('rpush', 'l', unpack(a))",
    ] {
        s.case(&["EVAL", script, "0"]);
    }
}

/// The `redis.*` helpers' argument checks, subcommand lookup in
/// `redis.call`, the protected globals and binary chunks, replies with CR
/// or LF in big numbers, verbatim strings, the frozen clock, and OOM.
const LIB_CHECKS: &[&str] = &[
    "return redis.sha1hex()",
    "return redis.sha1hex(1, 2)",
    "return redis.sha1hex(nil)",
    "return redis.sha1hex(12)",
    "return redis.sha1hex({})",
    "return redis.error_reply(1)",
    "return redis.error_reply('x', 'y')",
    "return redis.error_reply()",
    "return redis.status_reply(1)",
    "return redis.status_reply()",
    "return redis.setresp()",
    "return redis.setresp(2, 3)",
    "return redis.set_repl()",
    "return redis.set_repl(99)",
    "return redis.set_repl('a')",
    "return redis.set_repl(redis.REPL_AOF)",
    "return redis.breakpoint()",
    "return redis.debug('x')",
    "return redis.acl_check_cmd('set', 'x', 'y')",
    "return redis.acl_check_cmd('config', 'get', 'x')",
    "return redis.acl_check_cmd('nosuch')",
    "return redis.acl_check_cmd('config', 'nosuch')",
    "return redis.acl_check_cmd()",
    "return redis.call('cluster', 'reset', 'hard')",
    "return redis.call('config', 'foo')",
    "return redis.call('config')",
    "return redis.call('config', 'get')",
    "return redis.call('object', 'freq')",
    "return redis.pcall('client', 'kill', 'x')",
    "setmetatable(_G, {})",
    "setmetatable(redis, {})",
    "local g = getmetatable(_G); g.__index = {}",
    "return type(getmetatable(_G).__index)",
    "return setmetatable({}, {__index = {a = 1}}).a",
    "return {loadstring(string.dump(function() return 1 end))}",
    "return loadstring(string.dump(function() return 1 end))()",
    "return {big_number = '123\\r\\n123'}",
    "return redis.call('debug', 'protocol', 'verbatim')",
    "redis.setresp(3); return redis.call('debug', 'protocol', 'verbatim')",
    "redis.setresp(3); return redis.call('debug', 'protocol', 'bignum')",
    "return {verbatim_string = {format = 'txt', string = 'plain'}}",
    "return redis.call('debug', 'sleep', 0)",
    // Redis's Lua security fixes: unpack's element count cannot overflow
    // (CVE-2025-46817: this crashed the server), the metatables shared by
    // strings and other values are read-only (CVE-2025-46818), long
    // brackets (CVE-2025-46819), CRLF in error replies (CVE-2025-67733).
    "return {unpack({1,2,3}, -2, 2147483647)}",
    "return {unpack({1,2,3}, 0, 2147483647)}",
    "return {unpack({1,2,3}, -2147483648, -2)}",
    "return {unpack({1,2,3}, -1, -2)}",
    "local t = {unpack({1,2,3}, -2147483648, -2147483646)} return #t",
    "local n = select('#', unpack({1,2,3}, -1, 5)) return n",
    "getmetatable('').__index = function() return 1 end",
    "getmetatable('').__index.upper = function() return 1 end",
    "return ('abc'):upper()",
    "getmetatable(nil).__index = 1",
    "getmetatable(1).__index = 1",
    "return loadstring('return [==[x]==]')()",
    "return loadstring('return [==x')",
    "return {loadstring('[=')}",
    "error(redis.error_reply('X\\r\\n+INJECTED'))",
    "return redis.status_reply('X\\r\\n+INJECTED')",
    // The script's clock stands still: a key that expires 1 ms into a
    // script still exists at its end (the loop takes several ms); after
    // it, it is gone.
    "redis.call('set', 'frozen', 'v', 'px', 1) for i = 1, 3000000 do end return redis.call('exists', 'frozen')",
];

#[test]
fn lib_argument_checks_and_protection() {
    let Some(mut s) = DiffSession::start(&["--enable-debug-command", "yes"]) else {
        return;
    };
    for proto in ["2", "3"] {
        s.case_with(&["HELLO", proto], Cmp::TypeOnly);
        for script in LIB_CHECKS {
            s.case(&["EVAL", script, "0"]);
        }
        s.case(&["EXISTS", "frozen"]);
    }
    // Over maxmemory at the start: deny-oom commands fail, reads run.
    s.case(&["SET", "x", "1"]);
    s.case(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
    s.case(&["CONFIG", "SET", "maxmemory", "1"]);
    s.case(&["EVAL", "redis.call('set', 'x', 2)", "0"]);
    s.case(&["EVAL", "return redis.pcall('incr', 'x')", "0"]);
    s.case(&["EVAL", "return redis.call('get', 'x')", "0"]);
    for script in SHEBANG_UNDER_OOM {
        s.case(&["EVAL", script, "1", "x"]);
        s.case(&["EVAL_RO", script, "1", "x"]);
    }
    s.case(&["CONFIG", "SET", "maxmemory", "0"]);
    s.case(&["EVAL", "return redis.call('incr', 'x')", "0"]);
    for script in SHEBANGS {
        s.case(&["EVAL", script, "1", "x"]);
        s.case(&["EVAL_RO", script, "1", "x"]);
        s.case(&["SCRIPT", "LOAD", script]);
    }
}

/// `#!lua` shebang lines: parse errors, flags, and the code after them.
const SHEBANGS: &[&str] = &[
    "#!lua\nreturn 1",
    "#!lua\nreturn nosuch",
    "#!lua\n\nerror('on line 3')",
    "#!not-lua\nreturn 1",
    "#!lua badger=data\nreturn 1",
    "#!lua flags=allow-oom,what?\nreturn 1",
    "#!lua flags=\nreturn 1",
    "#!lua flags=no-writes\nreturn redis.call('set', KEYS[1], 1)",
    "#!lua flags=no-writes,allow-stale\nreturn redis.call('get', KEYS[1])",
    "#!lua\nreturn redis.call('incr', KEYS[1])",
    "#!lua",
    "#!",
];

/// Shebang flags over `maxmemory`.
const SHEBANG_UNDER_OOM: &[&str] = &[
    "#!lua flags=\nreturn 1",
    "#!lua flags=allow-oom\nreturn redis.call('set', KEYS[1], 5)",
    "#!lua flags=no-writes\nreturn redis.call('get', KEYS[1])",
    "return redis.call('get', KEYS[1])",
];

/// SCRIPT KILL stops a script that catches errors with `pcall` in a loop.
#[test]
fn script_kill_through_pcall() {
    let Some(mut s) = DiffSession::start(&["--busy-reply-threshold", "50"]) else {
        return;
    };
    let (mut l2, mut r2) = s.new_clients();
    let script =
        "local f = function() while 1 do redis.call('ping') end end while 1 do pcall(f) end";
    for c in [&mut s.larder, &mut s.redis] {
        c.send_str(&["EVAL", script, "0"]);
    }
    for c in [&mut l2, &mut r2] {
        let start = std::time::Instant::now();
        while !c.cmd_str(&["PING"]).starts_with(b"-BUSY") {
            assert!(start.elapsed().as_secs() < 10, "the script never got busy");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    let (a, b) = (
        l2.cmd_str(&["SCRIPT", "KILL"]),
        r2.cmd_str(&["SCRIPT", "KILL"]),
    );
    assert_eq!(common::esc(&a), common::esc(&b));
    let (a, b) = (s.larder.read_reply(), s.redis.read_reply());
    assert_eq!(common::esc(&a), common::esc(&b));
    s.case(&["PING"]);
}

/// INFO commandstats of the commands the scripts run, without timings, in
/// name order (the servers list them in different orders).
fn calls_only(r: &[u8]) -> Vec<u8> {
    const SHOWN: &[&str] = &["set", "eval", "eval_ro", "select", "lpush"];
    let mut lines: Vec<String> = String::from_utf8_lossy(r)
        .split("\r\n")
        .filter_map(|l| l.strip_prefix("cmdstat_"))
        .filter_map(|l| l.split_once(':'))
        .filter(|(name, _)| SHOWN.contains(name))
        .map(|(name, fields)| {
            let kept: Vec<&str> = fields
                .split(',')
                .filter(|f| !f.starts_with("usec"))
                .collect();
            format!("{name}:{}\n", kept.join(","))
        })
        .collect();
    lines.sort();
    lines.concat().into_bytes()
}

/// A command's error inside a script counts once in errorstats and
/// total_error_replies — where it arose (rejected by the script's checks,
/// or replied by the command) — and not again when it ends the script,
/// though EVAL counts as failed (Redis's `ignore_error_stats_update`, its
/// "Consistent eval error reporting" test).
#[test]
fn script_errors_count_once() {
    let mut s = session!();
    let pcall_oom = "local t = redis.pcall('set','x','y') \
        if t['err'] == \"OOM command not allowed when used memory > 'maxmemory'.\" \
        then return 1 else return 0 end";
    let pcall_ro = "local t = redis.pcall('set','x','y') \
        if t['err'] == 'ERR Write commands are not allowed from read-only scripts.' \
        then return 1 else return 0 end";
    let cases: &[(&[&str], bool)] = &[
        (
            &["EVAL", "return redis.call('set','x','y')", "1", "x"],
            true,
        ),
        (&["EVAL", pcall_oom, "1", "x"], true),
        (
            &["EVAL", "return redis.pcall('set','x','y')", "1", "x"],
            true,
        ),
        (&["EVAL", "return redis.call('select',99)", "0"], false),
        (&["EVAL", "return redis.pcall('select',99)", "0"], false),
        (
            &["EVAL_RO", "return redis.call('set','x','y')", "1", "x"],
            false,
        ),
        (&["EVAL_RO", pcall_ro, "1", "x"], false),
        (&["EVAL", "return redis.call('nosuch')", "0"], false),
        (&["EVAL", "return redis.call()", "0"], false),
        (&["EVAL", "error('boom')", "0"], false),
        (
            &["EVAL", "return redis.error_reply('MY_ERR custom')", "0"],
            false,
        ),
        (
            &[
                "EVAL",
                "redis.call('set','k','v') return redis.call('lpush','k','x')",
                "1",
                "k",
            ],
            false,
        ),
    ];
    s.case(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
    for (cmd, oom) in cases {
        s.case(&["CONFIG", "RESETSTAT"]);
        if *oom {
            s.case(&["CONFIG", "SET", "maxmemory", "1"]);
        }
        s.case(cmd);
        s.case(&["CONFIG", "SET", "maxmemory", "0"]);
        s.case_with(&["INFO", "errorstats"], Cmp::Exact);
        s.case_with(&["INFO", "commandstats"], Cmp::Normalize(calls_only));
    }
}

/// `lua-enable-deprecated-api` (hidden, fixed at start): without it scripts
/// have no setfenv, getfenv or newproxy; with it they do, and a proxy's
/// metatable is its own (writable).
#[test]
fn deprecated_lua_api_follows_its_directive() {
    const SCRIPTS: &[&str] = &[
        "local f = function() return 1 end setfenv(f, {}) return 0",
        "local f = function() return 1 end getfenv(f) return 0",
        "getmetatable(newproxy(true)).__gc = function() return 1 end return 0",
        "getmetatable('').__index = 1",
    ];
    for enabled in ["no", "yes"] {
        let Some(mut s) = DiffSession::start(&["--lua-enable-deprecated-api", enabled]) else {
            return;
        };
        for script in SCRIPTS {
            s.case(&["EVAL", script, "0"]);
        }
        s.case(&["CONFIG", "GET", "lua-enable-deprecated-api"]);
        s.case(&["CONFIG", "SET", "lua-enable-deprecated-api", "no"]);
    }
}
