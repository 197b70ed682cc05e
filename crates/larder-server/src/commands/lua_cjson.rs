//! The `cjson` library Redis gives scripts: lua-cjson 2.1.0 as bundled with
//! Redis, output byte for byte. The encoder walks tables in Lua's `next`
//! order (the same Lua 5.1 tables iterate the same way, so objects come out
//! with Redis's key order); a table whose keys are all positive integers is
//! an array (holes as `null`) unless it is "excessively sparse" (max index
//! above twice the item count and above 10: an error, or an object with
//! `encode_sparse_array(true)`); an empty table is `{}`; numbers are
//! `%.14g` (`encode_number_precision`), NaN/Inf refused unless
//! `encode_invalid_numbers`; strings escape `"` `\` `/`, control characters
//! and DEL. The decoder is serde_json's, with lua-cjson's nesting limit
//! (`decode_max_depth`) checked first. The configuration functions keep
//! their settings per Lua state (Redis has one state; Larder one per worker
//! thread).
//!
//! Costs: encoding is one pass over the value into one buffer.

use std::cell::Cell;

use mlua::{Lua, MultiValue, Table, Value};

struct Config {
    encode_max_depth: Cell<i64>,
    decode_max_depth: Cell<i64>,
    /// 0: refuse NaN/Inf; 1: print them (`inf`, `-inf`, `nan`); 2: `null`.
    encode_invalid_numbers: Cell<u8>,
    decode_invalid_numbers: Cell<bool>,
    encode_number_precision: Cell<i64>,
    encode_keep_buffer: Cell<bool>,
    sparse_convert: Cell<bool>,
    sparse_ratio: Cell<i64>,
    sparse_safe: Cell<i64>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            encode_max_depth: Cell::new(1000),
            decode_max_depth: Cell::new(1000),
            encode_invalid_numbers: Cell::new(0),
            decode_invalid_numbers: Cell::new(true),
            encode_number_precision: Cell::new(14),
            encode_keep_buffer: Cell::new(true),
            sparse_convert: Cell::new(false),
            sparse_ratio: Cell::new(2),
            sparse_safe: Cell::new(10),
        }
    }
}

fn err(msg: String) -> mlua::Error {
    mlua::Error::RuntimeError(msg)
}

/// `cjson.null`: a NULL light userdata, as lua-cjson.
pub fn null() -> Value {
    Value::LightUserData(mlua::LightUserData(std::ptr::null_mut()))
}

/// The `cjson` table. `encode` and `decode` raise their errors through
/// `lua_pack`'s trampolines, positioned at the calling script line as
/// lua-cjson's `luaL_error` is; the settings live in the Lua state's app
/// data.
pub fn cjson(lua: &Lua) -> mlua::Result<Table> {
    use super::lua_pack::{library, trampoline};
    lua.set_app_data(Config::default());
    let t = library(
        lua,
        &[
            ("encode", trampoline::<7>, 7, encode_fn),
            ("decode", trampoline::<8>, 8, decode_fn),
        ],
    )?;
    t.set("null", null())?;
    // Settings: each takes an optional new value and returns the current one.
    let int_setting = |get: fn(&Config) -> &Cell<i64>, lo: i64, hi: i64, name: &'static str| {
        lua.create_function(move |lua, v: Option<i64>| {
            let c = config(lua)?;
            if let Some(v) = v {
                if !(lo..=hi).contains(&v) {
                    return Err(err(format!(
                        "bad argument #1 to '{name}' (expected integer between {lo} and {hi})"
                    )));
                }
                get(&c).set(v);
            }
            Ok(get(&c).get())
        })
    };
    t.set(
        "encode_max_depth",
        int_setting(
            |c| &c.encode_max_depth,
            1,
            i32::MAX as i64,
            "encode_max_depth",
        )?,
    )?;
    t.set(
        "decode_max_depth",
        int_setting(
            |c| &c.decode_max_depth,
            1,
            i32::MAX as i64,
            "decode_max_depth",
        )?,
    )?;
    t.set(
        "encode_number_precision",
        int_setting(
            |c| &c.encode_number_precision,
            1,
            14,
            "encode_number_precision",
        )?,
    )?;
    let bool_setting = |get: fn(&Config) -> &Cell<bool>| {
        lua.create_function(move |lua, v: Option<bool>| {
            let c = config(lua)?;
            if let Some(v) = v {
                get(&c).set(v);
            }
            Ok(get(&c).get())
        })
    };
    t.set(
        "encode_keep_buffer",
        bool_setting(|c| &c.encode_keep_buffer)?,
    )?;
    t.set(
        "decode_invalid_numbers",
        bool_setting(|c| &c.decode_invalid_numbers)?,
    )?;
    t.set(
        "encode_invalid_numbers",
        lua.create_function(move |lua, v: Option<Value>| {
            let c = config(lua)?;
            match v {
                None | Some(Value::Nil) => {}
                Some(Value::Boolean(b)) => c.encode_invalid_numbers.set(u8::from(b)),
                Some(Value::String(s)) if &*s.as_bytes() == b"null" => {
                    c.encode_invalid_numbers.set(2)
                }
                Some(_) => {
                    return Err(err(
                        "bad argument #1 to 'encode_invalid_numbers' (invalid option)".into(),
                    ))
                }
            }
            Ok(match c.encode_invalid_numbers.get() {
                0 => Value::Boolean(false),
                1 => Value::Boolean(true),
                _ => Value::String(lua.create_string("null")?),
            })
        })?,
    )?;
    t.set(
        "encode_sparse_array",
        lua.create_function(
            move |lua, (convert, ratio, safe): (Option<bool>, Option<i64>, Option<i64>)| {
                let c = config(lua)?;
                if let Some(v) = convert {
                    c.sparse_convert.set(v);
                }
                if let Some(v) = ratio {
                    c.sparse_ratio.set(v.max(0));
                }
                if let Some(v) = safe {
                    c.sparse_safe.set(v.max(0));
                }
                Ok(MultiValue::from_vec(vec![
                    Value::Boolean(c.sparse_convert.get()),
                    Value::Integer(c.sparse_ratio.get()),
                    Value::Integer(c.sparse_safe.get()),
                ]))
            },
        )?,
    )?;
    Ok(t)
}

fn config(lua: &Lua) -> mlua::Result<mlua::AppDataRef<'_, Config>> {
    lua.app_data_ref::<Config>()
        .ok_or_else(|| err("cjson: no configuration".into()))
}

fn encode_fn(lua: &Lua, args: MultiValue) -> super::lua_pack::Outcome {
    let v = args.into_iter().next().unwrap_or(Value::Nil);
    let c = config(lua).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    encode(&c, &v, 0, &mut out).map_err(message)?;
    let s = lua.create_string(&out).map_err(|e| e.to_string())?;
    Ok(MultiValue::from_vec(vec![Value::String(s)]))
}

fn decode_fn(lua: &Lua, args: MultiValue) -> super::lua_pack::Outcome {
    let Some(Value::String(s)) = args.into_iter().next() else {
        return Err("bad argument #1 to 'decode' (string expected)".into());
    };
    let bytes = s.as_bytes();
    let max = config(lua)
        .map_err(|e| e.to_string())?
        .decode_max_depth
        .get();
    check_decode_depth(&bytes, max).map_err(message)?;
    let j: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    let v = from_json(lua, &j).map_err(|e| e.to_string())?;
    Ok(MultiValue::from_vec(vec![v]))
}

/// The bare text of an error this module raised.
fn message(e: mlua::Error) -> String {
    match e {
        mlua::Error::RuntimeError(m) => m,
        other => other.to_string(),
    }
}

fn cannot(what: &Value, reason: &str) -> mlua::Error {
    err(format!("Cannot serialise {}: {reason}", what.type_name()))
}

fn encode(cfg: &Config, v: &Value, depth: i64, out: &mut Vec<u8>) -> mlua::Result<()> {
    match v {
        Value::String(s) => string(&s.as_bytes(), out),
        Value::Integer(i) => number(cfg, v, *i as f64, out)?,
        Value::Number(n) => number(cfg, v, *n, out)?,
        Value::Boolean(true) => out.extend_from_slice(b"true"),
        Value::Boolean(false) => out.extend_from_slice(b"false"),
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(u) if u.0.is_null() => out.extend_from_slice(b"null"),
        Value::Table(t) => {
            let depth = depth + 1;
            if depth > cfg.encode_max_depth.get() {
                return Err(err(format!(
                    "Cannot serialise, excessive nesting ({depth})"
                )));
            }
            match array_length(cfg, v, t)? {
                Some(len) if len > 0 => {
                    out.push(b'[');
                    for i in 1..=len {
                        if i > 1 {
                            out.push(b',');
                        }
                        encode(cfg, &t.raw_get::<Value>(i)?, depth, out)?;
                    }
                    out.push(b']');
                }
                _ => {
                    out.push(b'{');
                    let mut first = true;
                    for pair in t.clone().pairs::<Value, Value>() {
                        let (k, val) = pair?;
                        if !first {
                            out.push(b',');
                        }
                        first = false;
                        match &k {
                            Value::Integer(i) => {
                                out.push(b'"');
                                number(cfg, &k, *i as f64, out)?;
                                out.extend_from_slice(b"\":");
                            }
                            Value::Number(n) => {
                                out.push(b'"');
                                number(cfg, &k, *n, out)?;
                                out.extend_from_slice(b"\":");
                            }
                            Value::String(s) => {
                                string(&s.as_bytes(), out);
                                out.push(b':');
                            }
                            _ => return Err(cannot(&k, "table key must be a number or string")),
                        }
                        encode(cfg, &val, depth, out)?;
                    }
                    out.push(b'}');
                }
            }
        }
        other => return Err(cannot(other, "type not supported")),
    }
    Ok(())
}

/// lua-cjson's `lua_array_length`: Some(max index) when every key is a
/// positive integer (0 for an empty table), None for an object.
fn array_length(cfg: &Config, v: &Value, t: &Table) -> mlua::Result<Option<usize>> {
    let (mut max, mut items) = (0f64, 0f64);
    for pair in t.clone().pairs::<Value, Value>() {
        let (k, _) = pair?;
        let k = match k {
            Value::Integer(i) => i as f64,
            Value::Number(n) => n,
            _ => return Ok(None),
        };
        if k.floor() != k || k < 1.0 {
            return Ok(None);
        }
        max = f64::max(max, k);
        items += 1.0;
    }
    let ratio = cfg.sparse_ratio.get() as f64;
    if ratio > 0.0 && max > items * ratio && max > cfg.sparse_safe.get() as f64 {
        if !cfg.sparse_convert.get() {
            return Err(cannot(v, "excessively sparse array"));
        }
        return Ok(None);
    }
    Ok(Some(max as usize))
}

fn number(cfg: &Config, v: &Value, n: f64, out: &mut Vec<u8>) -> mlua::Result<()> {
    if !n.is_finite() {
        match cfg.encode_invalid_numbers.get() {
            0 => return Err(cannot(v, "must not be NaN or Inf")),
            // Redis's bundled lua-cjson prints them with %g: inf, -inf, nan.
            1 => {}
            _ => {
                out.extend_from_slice(b"null");
                return Ok(());
            }
        }
    }
    if n.is_nan() {
        // fpconv prints NaN without a sign.
        out.extend_from_slice(b"nan");
    } else {
        larder_resp::number::fmt_g(n, cfg.encode_number_precision.get() as usize, out);
    }
    Ok(())
}

/// lua-cjson's `char2escape` table.
fn string(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            8 => out.extend_from_slice(b"\\b"),
            12 => out.extend_from_slice(b"\\f"),
            0..=31 | 127 => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
            c => out.push(c),
        }
    }
    out.push(b'"');
}

/// lua-cjson refuses input nested deeper than `decode_max_depth`.
fn check_decode_depth(s: &[u8], max: i64) -> mlua::Result<()> {
    let (mut depth, mut in_str, mut esc) = (0i64, false, false);
    for (i, &c) in s.iter().enumerate() {
        if in_str {
            match (esc, c) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            b'"' => in_str = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Err(err(format!(
                        "Found too many nested data structures ({depth}) at character {}",
                        i + 1
                    )));
                }
            }
            b']' | b'}' => depth -= 1,
            _ => {}
        }
    }
    Ok(())
}

fn from_json(lua: &Lua, j: &serde_json::Value) -> mlua::Result<Value> {
    use serde_json::Value as J;
    Ok(match j {
        J::Null => null(),
        J::Bool(b) => Value::Boolean(*b),
        J::Number(n) => Value::Number(n.as_f64().unwrap_or(0.0)),
        J::String(s) => Value::String(lua.create_string(s)?),
        J::Array(a) => {
            let t = lua.create_table()?;
            for (i, v) in a.iter().enumerate() {
                t.raw_set(i + 1, from_json(lua, v)?)?;
            }
            Value::Table(t)
        }
        J::Object(m) => {
            let t = lua.create_table()?;
            for (k, v) in m {
                t.raw_set(k.as_str(), from_json(lua, v)?)?;
            }
            Value::Table(t)
        }
    })
}
