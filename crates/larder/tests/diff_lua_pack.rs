//! The `cmsgpack` and `struct` Lua libraries, compared byte for byte with
//! Redis: every integer and float width, strings around the str8/16/32
//! boundaries, arrays vs maps, the nesting limit, partial unpacking with
//! offsets and limits, every `struct` option with byte order and alignment,
//! and the error messages (positioned at the calling script line).

mod common;
use common::DiffSession;

const SCRIPTS: &[&str] = &[
    "return cmsgpack.pack(1, -1, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296, -32, -33, -128, -129, -32768, -32769, -2147483648, -2147483649)",
    "return cmsgpack.pack(1.5, 0.1, 3.0e40, -0.0, 1/0)",
    "return cmsgpack.pack('', 'abc', string.rep('x', 31), string.rep('y', 32), string.rep('z', 300), string.rep('w', 70000))",
    "return cmsgpack.pack({}, {1,2,3}, {a=1}, {1, nil, 3}, {[1]=1, [3]=3}, true, false, nil)",
    "return cmsgpack.pack({1,{2,{3,{4,{5,{6,{7,{8,{9,{10,{11,{12,{13,{14,{15,{16,{17,{18}}}}}}}}}}}}}}}}}})",
    "return cmsgpack.pack({x={y={z=1}}, list={1,2,3}, s='str', n=1.25})",
    "return {cmsgpack.unpack(cmsgpack.pack(1, 'two', {3, 4}, {five=5}, true, 0.5))}",
    "return cmsgpack.unpack(cmsgpack.pack({1,2,{3,'x'}}))",
    "return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3))}",
    "return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 1)}",
    "return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 2)}",
    "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2)}",
    "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2, 1)}",
    "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 0)}",
    "return {cmsgpack.unpack('\\205')}",
    "return {cmsgpack.unpack('\\193')}",
    "return {cmsgpack.unpack('\\146\\1')}",
    "return {cmsgpack.unpack_one('abc', 10)}",
    "return {cmsgpack.unpack_one('abc', -1)}",
    "return cmsgpack.pack()",
    "return {cmsgpack.unpack(cmsgpack.pack(18446744073709551615, -9223372036854775807))}",
    "return struct.pack('>I2', 258)",
    "return struct.pack('<i', -2)",
    "return struct.pack('bBhHlLTiI3', -1, 255, -2, 65535, -3, 4, 5, 6, 7)",
    "return struct.pack('>d<f', 1.5, 2.5)",
    "return struct.pack('s', 'hello')",
    "return struct.pack('c3', 'abcdef')",
    "return struct.pack('c0', 'abcdef')",
    "return struct.pack('c5', 'ab')",
    "return struct.pack('!4 b i b d', 1, 2, 3, 4.5)",
    "return struct.pack('!3i', 1)",
    "return struct.pack('z', 1)",
    "return struct.pack('i33', 1)",
    "return struct.pack('i99999999999', 1)",
    "return {struct.unpack('>I2', '\\1\\2')}",
    "return {struct.unpack('<i', struct.pack('<i', -2))}",
    "return {struct.unpack('bBhH', struct.pack('bBhH', -1, 255, -2, 65535))}",
    "return {struct.unpack('s', 'abc\\0def')}",
    "return {struct.unpack('s', 'abc')}",
    "return {struct.unpack('b c0', '\\3abcd')}",
    "return {struct.unpack('c0', 'abcd')}",
    "return {struct.unpack('i', 'ab')}",
    "return {struct.unpack('i', 'abcdabcd', 5)}",
    "return {struct.unpack('i', 'abcdabcd', 0)}",
    "return {struct.unpack('>d', struct.pack('>d', 3.25))}",
    "return {struct.unpack('!8 b d', struct.pack('!8 b d', 7, 1.5))}",
    "return struct.size('bhi!4d')",
    "return struct.size('>i4')",
    "return struct.size('s')",
    "return struct.size('c0')",
    "return cmsgpack.pack(struct.unpack('i', struct.pack('i', 7)))",
];

#[test]
fn cmsgpack_and_struct_match_redis() {
    let Some(mut s) = DiffSession::start(&[]) else {
        return;
    };
    for script in SCRIPTS {
        s.case(&["EVAL", script, "0"]);
    }
    s.case(&["EVAL", "cmsgpack.pack = nil", "0"]);
    s.case(&["EVAL", "struct.x = 1", "0"]);
}

/// `cjson` as Redis's bundled lua-cjson: key order, `\/`, `%.14g`, sparse
/// arrays, empty tables, invalid numbers, nesting limits, settings.
const CJSON_SCRIPTS: &[&str] = &[
    "return cjson.encode({a='x/y', b=1.5, c=100000000000000, d=0.1, e={1,2,3}, f='\"q\"\\n\\1\\127\\200', g={}, h=true, i=false})",
    "return cjson.encode({1,2,nil,4})",
    "return cjson.encode({[1]=1,[3]=3})",
    "return cjson.encode({[1]=1,[30]=3})",
    "return cjson.encode({one='one',[1]='one',[2.5]='x',[-1]='m'})",
    "return cjson.encode(3.14159265358979)",
    "return cjson.encode(-0.0)",
    "return cjson.encode(1e300)",
    "return cjson.encode(123456789012345678)",
    "return cjson.encode('')",
    "return cjson.encode(cjson.null)",
    "return cjson.encode(0/0)",
    "return cjson.encode(function() end)",
    "return cjson.encode({[true]=1})",
    "return {pcall(cjson.encode, {a=function() end})}",
    "cjson.encode_invalid_numbers(true); local r = cjson.encode({1/0, -1/0, 0/0}); cjson.encode_invalid_numbers(false); return r",
    "cjson.encode_invalid_numbers('null'); local r = cjson.encode({1/0}); cjson.encode_invalid_numbers(false); return r",
    "cjson.encode_max_depth(1); local ok, e = pcall(cjson.encode, {{1}}); cjson.encode_max_depth(1000); return e",
    "cjson.decode_max_depth(1); local ok, e = pcall(cjson.decode, '{\"obj\": {\"a\": 1}}'); cjson.decode_max_depth(1000); return e",
    "cjson.encode_sparse_array(true); local r = cjson.encode({[1]=1,[30]=3}); cjson.encode_sparse_array(false); return r",
    "return {cjson.encode_sparse_array()}",
    "return cjson.encode_keep_buffer(false)",
    "return cjson.encode_number_precision()",
    "cjson.encode_number_precision(3); local r = cjson.encode(3.14159); cjson.encode_number_precision(14); return r",
    "return cjson.decode('[1,{\"a\":null}]')[2].a == cjson.null",
    "local t = cjson.decode('{\"a\":[1,2,{\"b\":\"c\\\\/d\"}],\"n\":-1.5e3}'); return {t.a[3].b, tostring(t.n), #t.a}",
    "return cjson.encode(cjson.decode('[\"\\\\u00e9\",1,true,null]'))",
];

#[test]
fn cjson_matches_redis() {
    let Some(mut s) = DiffSession::start(&[]) else {
        return;
    };
    for script in CJSON_SCRIPTS {
        s.case(&["EVAL", script, "0"]);
    }
}
