//! The binary packing libraries Redis gives scripts: `cmsgpack` (Redis's
//! lua_cmsgpack.c: MessagePack) and `struct` (Roberto Ierusalimschy's
//! lstruct as bundled with Redis: C-struct-like packing).
//!
//! Encodings follow the C libraries byte for byte: cmsgpack picks the
//! smallest integer form, `float32` for numbers a float holds exactly, str8
//! for 32..255-byte strings, arrays for tables whose keys are exactly
//! 1..n, maps otherwise (in `next` order — the same Lua 5.1 tables iterate
//! the same way), and nil past 16 levels of nesting; `struct` knows
//! `< > ! x b B h H l L T i I f d s c` with alignment, sizes of a 64-bit
//! build. Errors are raised from Lua as the C libraries' `luaL_error` would,
//! positioned at the script line that called them
//! (`user_script:1: bad argument #2 to 'unpack' (data string too short)`):
//! each Rust function returns `ok, values...` or `false, message` and a
//! small C trampoline raises the message as `luaL_error` does.

use std::ffi::{c_int, CStr};

use mlua::{Lua, MultiValue, Table, Value};

pub(crate) type Outcome = Result<MultiValue, String>;
pub(crate) type Impl = fn(&Lua, MultiValue) -> Outcome;

/// Registry names of the library functions' Rust halves, by trampoline index.
const NAMES: [&CStr; 9] = [
    c"larder_mp_pack",
    c"larder_mp_unpack",
    c"larder_mp_unpack_one",
    c"larder_mp_unpack_limit",
    c"larder_st_pack",
    c"larder_st_unpack",
    c"larder_st_size",
    c"larder_cj_encode",
    c"larder_cj_decode",
];

/// The C function a script calls: runs its Rust half (registry entry
/// `NAMES[N]`, which returns `ok, values...` or `false, message`) and
/// raises the message as `luaL_error` would, prefixed with the calling
/// script line. Being a C function, `return struct.pack(...)` is no Lua
/// tail call and the script's frame stays visible. Nothing with a
/// destructor lives in this frame, so `lua_error`'s longjmp is sound.
pub(crate) unsafe extern "C-unwind" fn trampoline<const N: usize>(
    state: *mut mlua::lua_State,
) -> c_int {
    use mlua::ffi;
    let n = ffi::lua_gettop(state);
    ffi::lua_getfield(state, ffi::LUA_REGISTRYINDEX, NAMES[N].as_ptr());
    ffi::lua_insert(state, 1);
    ffi::lua_call(state, n, ffi::LUA_MULTRET);
    if ffi::lua_toboolean(state, 1) == 0 {
        ffi::luaL_where(state, 1);
        ffi::lua_pushvalue(state, 2);
        ffi::lua_concat(state, 2);
        ffi::lua_error(state);
    }
    ffi::lua_gettop(state) - 1
}

/// Builds a library table: `(name, trampoline, rust half)` per function.
pub(crate) fn library(
    lua: &Lua,
    funcs: &[(&str, mlua::ffi::lua_CFunction, usize, Impl)],
) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    for &(name, c, idx, f) in funcs {
        let rust = lua.create_function(move |lua, args: MultiValue| {
            let mut out = MultiValue::new();
            match f(lua, args) {
                Ok(vals) => {
                    out.push_back(Value::Boolean(true));
                    out.extend(vals);
                }
                Err(msg) => {
                    out.push_back(Value::Boolean(false));
                    out.push_back(Value::String(lua.create_string(msg)?));
                }
            }
            Ok(out)
        })?;
        let key = NAMES[idx].to_str().map_err(mlua::Error::external)?;
        lua.set_named_registry_value(key, rust)?;
        // SAFETY: `trampoline` follows the Lua C API protocol (see above).
        t.set(name, unsafe { lua.create_c_function(c)? })?;
    }
    Ok(t)
}

fn arg_error(n: usize, func: &str, msg: &str) -> String {
    format!("bad argument #{n} to '{func}' ({msg})")
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Nil => "nil",
        Value::Boolean(_) => "boolean",
        Value::Integer(_) | Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Table(_) => "table",
        Value::Function(_) => "function",
        Value::Thread(_) => "thread",
        _ => "userdata",
    }
}

/// luaL_checklstring: a string, or a number converted as Lua does.
fn check_bytes(args: &[Value], i: usize, func: &str) -> Result<Vec<u8>, String> {
    match args.get(i) {
        Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
        Some(Value::Integer(n)) => Ok(n.to_string().into_bytes()),
        Some(Value::Number(n)) => Ok(lua_number_text(*n).into_bytes()),
        v => Err(arg_error(
            i + 1,
            func,
            &format!(
                "string expected, got {}",
                v.map_or("no value", |v| type_name(v))
            ),
        )),
    }
}

/// luaL_checknumber: a number, or a string Lua converts to one.
fn check_number(args: &[Value], i: usize, func: &str) -> Result<f64, String> {
    let v = args.get(i);
    let n = match v {
        Some(Value::Integer(n)) => Some(*n as f64),
        Some(Value::Number(n)) => Some(*n),
        Some(Value::String(s)) => std::str::from_utf8(&s.as_bytes())
            .ok()
            .and_then(|t| t.trim().parse::<f64>().ok()),
        _ => None,
    };
    n.ok_or_else(|| {
        arg_error(
            i + 1,
            func,
            &format!(
                "number expected, got {}",
                v.map_or("no value", |v| type_name(v))
            ),
        )
    })
}

/// Lua 5.1's `%.14g` number formatting.
fn lua_number_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        return format!("{}", n as i64);
    }
    let s = format!("{n:.13e}");
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-5..14).contains(&exp) {
        let digits = (13 - exp).max(0) as usize;
        let f = format!("{n:.digits$}");
        let f = f.trim_end_matches('0').trim_end_matches('.');
        f.to_string()
    } else {
        let m = mant.trim_end_matches('0').trim_end_matches('.');
        format!("{m}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
    }
}

// ---------------------------------------------------------------------------
// cmsgpack
// ---------------------------------------------------------------------------

const MAX_NESTING: usize = 16;

pub fn cmsgpack(lua: &Lua) -> mlua::Result<Table> {
    library(
        lua,
        &[
            ("pack", trampoline::<0>, 0, mp_pack),
            ("unpack", trampoline::<1>, 1, mp_unpack),
            ("unpack_one", trampoline::<2>, 2, mp_unpack_one),
            ("unpack_limit", trampoline::<3>, 3, mp_unpack_limit),
        ],
    )
}

fn lua_err(e: mlua::Error) -> String {
    e.to_string()
}

fn one(lua: &Lua, bytes: &[u8]) -> Outcome {
    let s = lua.create_string(bytes).map_err(lua_err)?;
    Ok(MultiValue::from_iter([Value::String(s)]))
}

fn mp_pack(lua: &Lua, args: MultiValue) -> Outcome {
    if args.is_empty() {
        return Err(arg_error(0, "pack", "MessagePack pack needs input."));
    }
    let mut buf = Vec::new();
    for v in args.iter() {
        encode(&mut buf, v, 0).map_err(lua_err)?;
    }
    one(lua, &buf)
}

fn mp_unpack(lua: &Lua, args: MultiValue) -> Outcome {
    let args: Vec<Value> = args.into_iter().collect();
    unpack_full(lua, &args, 0, 0, "unpack")
}

fn mp_unpack_one(lua: &Lua, args: MultiValue) -> Outcome {
    let args: Vec<Value> = args.into_iter().collect();
    let offset = opt_int(&args, 1, 0, "unpack_one")?;
    unpack_full(lua, &args, 1, offset, "unpack_one")
}

fn mp_unpack_limit(lua: &Lua, args: MultiValue) -> Outcome {
    let args: Vec<Value> = args.into_iter().collect();
    let limit = check_number(&args, 1, "unpack_limit")? as i64;
    let offset = opt_int(&args, 2, 0, "unpack_limit")?;
    unpack_full(lua, &args, limit, offset, "unpack_limit")
}

/// luaL_optinteger: absent or nil gives the default.
fn opt_int(args: &[Value], i: usize, default: i64, func: &str) -> Result<i64, String> {
    match args.get(i) {
        None | Some(Value::Nil) => Ok(default),
        _ => Ok(check_number(args, i, func)? as i64),
    }
}

/// mp_unpack_full: decodes up to `limit` values from `offset` (both 0:
/// every value, and no offset in the results).
fn unpack_full(lua: &Lua, args: &[Value], limit: i64, offset: i64, func: &str) -> Outcome {
    let s = check_bytes(args, 0, func)?;
    let len = s.len() as i64;
    let decode_all = limit == 0 && offset == 0;
    if offset < 0 || limit < 0 {
        return Err(format!(
            "Invalid request to unpack with offset of {offset} and limit of {len}."
        ));
    }
    if offset > len {
        return Err(format!(
            "Start offset {offset} greater than input length {len}."
        ));
    }
    let limit = if decode_all { i64::MAX } else { limit };
    let mut cur = Cursor {
        b: &s[offset as usize..],
        pos: 0,
    };
    let mut out = MultiValue::new();
    let mut n = 0;
    while cur.pos < cur.b.len() && n < limit {
        match decode(lua, &mut cur) {
            Ok(v) => out.push_back(v),
            Err(Bad::Eof) => return Err("Missing bytes in input.".into()),
            Err(Bad::Format) => return Err("Bad data format in input.".into()),
            Err(Bad::Lua(e)) => return Err(lua_err(e)),
        }
        n += 1;
    }
    if !decode_all {
        let left = cur.b.len() - cur.pos;
        let next = if left == 0 { -1 } else { len - left as i64 };
        out.push_front(Value::Integer(next));
    }
    Ok(out)
}

enum Bad {
    Eof,
    Format,
    Lua(mlua::Error),
}

impl From<mlua::Error> for Bad {
    fn from(e: mlua::Error) -> Bad {
        Bad::Lua(e)
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], Bad> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or(Bad::Eof)?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn be(&mut self, n: usize) -> Result<u64, Bad> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |a, &b| (a << 8) | u64::from(b)))
    }
}

/// mp_decode_to_lua_type: one MessagePack value.
fn decode(lua: &Lua, c: &mut Cursor<'_>) -> Result<Value, Bad> {
    let t = c.take(1)?[0];
    let num = |n: f64| Ok(Value::Number(n));
    match t {
        0x00..=0x7f => num(f64::from(t)),
        0xe0..=0xff => num(f64::from(t as i8)),
        0xcc => num(c.be(1)? as f64),
        0xcd => num(c.be(2)? as f64),
        0xce => num(c.be(4)? as f64),
        0xcf => num(c.be(8)? as f64),
        0xd0 => num(f64::from(c.be(1)? as u8 as i8)),
        0xd1 => num(f64::from(c.be(2)? as u16 as i16)),
        0xd2 => num(f64::from(c.be(4)? as u32 as i32)),
        0xd3 => num(c.be(8)? as i64 as f64),
        0xc0 => Ok(Value::Nil),
        0xc2 => Ok(Value::Boolean(false)),
        0xc3 => Ok(Value::Boolean(true)),
        0xca => num(f64::from(f32::from_bits(c.be(4)? as u32))),
        0xcb => num(f64::from_bits(c.be(8)?)),
        _ => {
            // Strings (and bin), arrays and maps: a length, then the body.
            type Body = fn(&Lua, &mut Cursor<'_>, usize) -> Result<Value, Bad>;
            let (body, n): (Body, usize) = match t {
                0xa0..=0xbf => (string, usize::from(t & 0x1f)),
                0xc4 | 0xd9 => (string, c.be(1)? as usize),
                0xc5 | 0xda => (string, c.be(2)? as usize),
                0xc6 | 0xdb => (string, c.be(4)? as usize),
                0x90..=0x9f => (array, usize::from(t & 0x0f)),
                0xdc => (array, c.be(2)? as usize),
                0xdd => (array, c.be(4)? as usize),
                0x80..=0x8f => (map, usize::from(t & 0x0f)),
                0xde => (map, c.be(2)? as usize),
                0xdf => (map, c.be(4)? as usize),
                _ => return Err(Bad::Format),
            };
            body(lua, c, n)
        }
    }
}

fn string(lua: &Lua, c: &mut Cursor<'_>, n: usize) -> Result<Value, Bad> {
    let b = c.take(n)?;
    Ok(Value::String(lua.create_string(b)?))
}

fn array(lua: &Lua, c: &mut Cursor<'_>, n: usize) -> Result<Value, Bad> {
    let t = lua.create_table()?;
    for i in 1..=n {
        // Each element takes at least one byte: a bogus count fails fast.
        if c.pos >= c.b.len() {
            return Err(Bad::Eof);
        }
        t.raw_set(i, decode(lua, c)?)?;
    }
    Ok(Value::Table(t))
}

fn map(lua: &Lua, c: &mut Cursor<'_>, n: usize) -> Result<Value, Bad> {
    let t = lua.create_table()?;
    for _ in 0..n {
        if c.pos >= c.b.len() {
            return Err(Bad::Eof);
        }
        let k = decode(lua, c)?;
        let v = decode(lua, c)?;
        t.set(k, v)?;
    }
    Ok(Value::Table(t))
}

fn encode(buf: &mut Vec<u8>, v: &Value, level: usize) -> mlua::Result<()> {
    match v {
        Value::String(s) => encode_bytes(buf, &s.as_bytes()),
        Value::Boolean(b) => buf.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(n) => encode_number(buf, *n as f64),
        Value::Number(n) => encode_number(buf, *n),
        Value::Table(t) if level < MAX_NESTING => encode_table(buf, t, level)?,
        _ => buf.push(0xc0),
    }
    Ok(())
}

fn encode_bytes(buf: &mut Vec<u8>, s: &[u8]) {
    let n = s.len();
    if n < 32 {
        buf.push(0xa0 | n as u8);
    } else if n <= 0xff {
        buf.extend_from_slice(&[0xd9, n as u8]);
    } else if n <= 0xffff {
        buf.push(0xda);
        buf.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        buf.push(0xdb);
        buf.extend_from_slice(&(n as u32).to_be_bytes());
    }
    buf.extend_from_slice(s);
}

fn encode_number(buf: &mut Vec<u8>, n: f64) {
    let i = n as i64;
    if i as f64 == n {
        encode_int(buf, i);
    } else if n as f32 as f64 == n || n.is_nan() {
        buf.push(0xca);
        buf.extend_from_slice(&(n as f32).to_be_bytes());
    } else {
        buf.push(0xcb);
        buf.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_int(buf: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        let u = n as u64;
        if u <= 127 {
            buf.push(u as u8);
        } else if u <= 0xff {
            buf.extend_from_slice(&[0xcc, u as u8]);
        } else if u <= 0xffff {
            buf.push(0xcd);
            buf.extend_from_slice(&(u as u16).to_be_bytes());
        } else if u <= 0xffff_ffff {
            buf.push(0xce);
            buf.extend_from_slice(&(u as u32).to_be_bytes());
        } else {
            buf.push(0xcf);
            buf.extend_from_slice(&u.to_be_bytes());
        }
    } else if n >= -32 {
        buf.push(n as i8 as u8);
    } else if n >= -128 {
        buf.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        buf.push(0xd1);
        buf.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        buf.push(0xd2);
        buf.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        buf.push(0xd3);
        buf.extend_from_slice(&n.to_be_bytes());
    }
}

/// table_is_an_array: every key a positive integer, and as many keys as the largest.
fn is_array(t: &Table) -> mlua::Result<bool> {
    let (mut count, mut max) = (0.0f64, 0.0f64);
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair?;
        let n = match k {
            Value::Integer(i) => i as f64,
            Value::Number(n) => n,
            _ => return Ok(false),
        };
        if n.fract() != 0.0 || n <= 0.0 {
            return Ok(false);
        }
        count += 1.0;
        max = max.max(n);
    }
    Ok(max == count)
}

fn encode_table(buf: &mut Vec<u8>, t: &Table, level: usize) -> mlua::Result<()> {
    if is_array(t)? {
        let n = t.raw_len();
        header(buf, n, 0x90, 0xdc, 0xdd);
        for i in 1..=n {
            encode(buf, &t.raw_get::<Value>(i)?, level + 1)?;
        }
    } else {
        // Each pair is encoded as it is visited: collecting them first would
        // hold one Lua reference per key and value, and mlua's reference
        // stack (about 8,000 slots) cannot hold a big map.
        let mut body = Vec::new();
        let mut n = 0;
        for pair in t.pairs::<Value, Value>() {
            let (k, v) = pair?;
            encode(&mut body, &k, level + 1)?;
            encode(&mut body, &v, level + 1)?;
            n += 1;
        }
        header(buf, n, 0x80, 0xde, 0xdf);
        buf.extend_from_slice(&body);
    }
    Ok(())
}

/// An array or map header: fix form up to 15 elements, then 16 or 32 bits.
fn header(buf: &mut Vec<u8>, n: usize, fix: u8, b16: u8, b32: u8) {
    if n <= 15 {
        buf.push(fix | n as u8);
    } else if n <= 0xffff {
        buf.push(b16);
        buf.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        buf.push(b32);
        buf.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

// ---------------------------------------------------------------------------
// struct
// ---------------------------------------------------------------------------

/// Largest `i`/`I` size.
const MAX_INT_SIZE: usize = 32;
/// `!` without a number: the alignment of a double on this platform.
const MAX_ALIGN: usize = 8;

pub fn structlib(lua: &Lua) -> mlua::Result<Table> {
    library(
        lua,
        &[
            ("pack", trampoline::<4>, 4, st_pack),
            ("unpack", trampoline::<5>, 5, st_unpack),
            ("size", trampoline::<6>, 6, st_size),
        ],
    )
}

/// Format state: byte order and alignment.
struct Head {
    little: bool,
    align: usize,
}

impl Head {
    fn new() -> Head {
        Head {
            little: true,
            align: 1,
        }
    }

    /// gettoalign: padding before an item of `size` at offset `len`.
    fn pad(&self, len: usize, opt: u8, size: usize) -> usize {
        if size <= 1 || opt == b'c' {
            return 0;
        }
        let size = size.min(self.align);
        (size - (len & (size - 1))) & (size - 1)
    }

    /// controloptions: ` `, `>`, `<`, `!n`; anything else is an error.
    fn control(&mut self, opt: u8, fmt: &mut Fmt<'_>, func: &str) -> Result<(), String> {
        match opt {
            b' ' => {}
            b'>' => self.little = false,
            b'<' => self.little = true,
            b'!' => {
                let a = fmt.num(MAX_ALIGN)?;
                if !a.is_power_of_two() {
                    return Err(format!("alignment {a} is not a power of 2"));
                }
                self.align = a;
            }
            _ => {
                return Err(arg_error(
                    1,
                    func,
                    &format!("invalid format option '{}'", opt as char),
                ))
            }
        }
        Ok(())
    }
}

struct Fmt<'a> {
    s: &'a [u8],
    i: usize,
}

impl Fmt<'_> {
    fn next(&mut self) -> Option<u8> {
        let c = self.s.get(self.i).copied();
        self.i += usize::from(c.is_some());
        c
    }

    /// getnum: digits after an option, or `default`.
    fn num(&mut self, default: usize) -> Result<usize, String> {
        if !self.s.get(self.i).is_some_and(u8::is_ascii_digit) {
            return Ok(default);
        }
        let mut a: usize = 0;
        while let Some(d) = self.s.get(self.i).filter(|c| c.is_ascii_digit()) {
            let d = usize::from(d - b'0');
            if a > (i32::MAX as usize) / 10 || a * 10 > i32::MAX as usize - d {
                return Err("integral size overflow".into());
            }
            a = a * 10 + d;
            self.i += 1;
        }
        Ok(a)
    }

    /// optsize: the size of option `opt` (0 for options without one).
    fn size(&mut self, opt: u8) -> Result<usize, String> {
        Ok(match opt {
            b'B' | b'b' | b'x' => 1,
            b'H' | b'h' => 2,
            b'L' | b'l' | b'T' | b'd' => 8,
            b'f' => 4,
            b'c' => self.num(1)?,
            b'i' | b'I' => {
                let n = self.num(4)?;
                if n > MAX_INT_SIZE {
                    return Err(format!(
                        "integral size {n} is larger than limit of {MAX_INT_SIZE}"
                    ));
                }
                n
            }
            _ => 0,
        })
    }
}

fn is_int_opt(opt: u8) -> bool {
    matches!(
        opt,
        b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I'
    )
}

fn st_pack(lua: &Lua, args: MultiValue) -> Outcome {
    let args: Vec<Value> = args.into_iter().collect();
    let fmt = check_bytes(&args, 0, "pack")?;
    let mut f = Fmt { s: &fmt, i: 0 };
    let mut h = Head::new();
    let mut out: Vec<u8> = Vec::new();
    let mut arg = 1;
    while let Some(opt) = f.next() {
        let mut size = f.size(opt)?;
        let pad = h.pad(out.len(), opt, size);
        out.resize(out.len() + pad, 0);
        match opt {
            _ if is_int_opt(opt) => {
                let n = check_number(&args, arg, "pack")?;
                arg += 1;
                let mut v = if n < 0.0 { n as i64 as u64 } else { n as u64 };
                let mut bytes = vec![0u8; size];
                for i in 0..size {
                    let at = if h.little { i } else { size - 1 - i };
                    bytes[at] = v as u8;
                    v = v.checked_shr(8).unwrap_or(0);
                }
                out.extend_from_slice(&bytes);
            }
            b'x' => out.push(0),
            b'f' => {
                let n = check_number(&args, arg, "pack")? as f32;
                arg += 1;
                out.extend_from_slice(&if h.little {
                    n.to_le_bytes()
                } else {
                    n.to_be_bytes()
                });
            }
            b'd' => {
                let n = check_number(&args, arg, "pack")?;
                arg += 1;
                out.extend_from_slice(&if h.little {
                    n.to_le_bytes()
                } else {
                    n.to_be_bytes()
                });
            }
            b'c' | b's' => {
                let s = check_bytes(&args, arg, "pack")?;
                arg += 1;
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    return Err(arg_error(arg + 1, "pack", "string too short"));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                }
            }
            _ => h.control(opt, &mut f, "pack")?,
        }
    }
    one(lua, &out)
}

fn st_unpack(lua: &Lua, args: MultiValue) -> Outcome {
    let args: Vec<Value> = args.into_iter().collect();
    let fmt = check_bytes(&args, 0, "unpack")?;
    let data = check_bytes(&args, 1, "unpack")?;
    let ld = data.len();
    let init = opt_int(&args, 2, 1, "unpack")?;
    if init <= 0 {
        return Err(arg_error(3, "unpack", "offset must be 1 or greater"));
    }
    let mut pos = (init - 1) as usize;
    let mut f = Fmt { s: &fmt, i: 0 };
    let mut h = Head::new();
    let mut out = MultiValue::new();
    while let Some(opt) = f.next() {
        let mut size = f.size(opt)?;
        pos += h.pad(pos, opt, size);
        if size > ld || pos > ld - size {
            return Err(arg_error(2, "unpack", "data string too short"));
        }
        match opt {
            _ if is_int_opt(opt) => {
                let b = &data[pos..pos + size];
                let mut l: u64 = 0;
                for i in 0..size {
                    let byte = if h.little { b[size - 1 - i] } else { b[i] };
                    l = (l << 8).wrapping_add(u64::from(byte));
                }
                let n = if opt.is_ascii_lowercase() && size > 0 && size <= 8 {
                    let mask = u64::MAX << (size * 8 - 1);
                    if l & mask != 0 {
                        (l | mask) as i64 as f64
                    } else {
                        l as f64
                    }
                } else {
                    l as f64
                };
                out.push_back(Value::Number(n));
            }
            b'x' => {}
            b'f' => {
                let b: [u8; 4] = data[pos..pos + 4].try_into().map_err(|_| "short")?;
                let v = if h.little {
                    f32::from_le_bytes(b)
                } else {
                    f32::from_be_bytes(b)
                };
                out.push_back(Value::Number(f64::from(v)));
            }
            b'd' => {
                let b: [u8; 8] = data[pos..pos + 8].try_into().map_err(|_| "short")?;
                let v = if h.little {
                    f64::from_le_bytes(b)
                } else {
                    f64::from_be_bytes(b)
                };
                out.push_back(Value::Number(v));
            }
            b'c' => {
                if size == 0 {
                    let prev = match out.pop_back() {
                        Some(Value::Number(n)) => n,
                        Some(Value::Integer(n)) => n as f64,
                        _ => return Err("format 'c0' needs a previous size".into()),
                    };
                    size = prev as usize;
                    if size > ld || pos > ld - size {
                        return Err(arg_error(2, "unpack", "data string too short"));
                    }
                }
                let s = lua.create_string(&data[pos..pos + size]).map_err(lua_err)?;
                out.push_back(Value::String(s));
            }
            b's' => {
                let len = data[pos..].iter().position(|&c| c == 0).unwrap_or(ld - pos);
                if pos + len >= ld {
                    return Err("unfinished string in data".into());
                }
                let s = lua.create_string(&data[pos..pos + len]).map_err(lua_err)?;
                out.push_back(Value::String(s));
                size = len + 1;
            }
            _ => h.control(opt, &mut f, "unpack")?,
        }
        pos += size;
    }
    out.push_back(Value::Integer(pos as i64 + 1));
    Ok(out)
}

fn st_size(_: &Lua, args: MultiValue) -> Outcome {
    let args: Vec<Value> = args.into_iter().collect();
    let fmt = check_bytes(&args, 0, "size")?;
    let mut f = Fmt { s: &fmt, i: 0 };
    let mut h = Head::new();
    let mut pos = 0usize;
    while let Some(opt) = f.next() {
        let size = f.size(opt)?;
        pos += h.pad(pos, opt, size);
        if opt == b's' {
            return Err(arg_error(1, "size", "option 's' has no fixed size"));
        } else if opt == b'c' && size == 0 {
            return Err(arg_error(1, "size", "option 'c0' has no fixed size"));
        }
        if !opt.is_ascii_alphanumeric() {
            h.control(opt, &mut f, "size")?;
        }
        pos += size;
    }
    Ok(MultiValue::from_iter([Value::Integer(pos as i64)]))
}
