//! Redis 7.0.15's key specs, as `COMMAND INFO` reports them, reduced to
//! what ACL key checks need: where each spec's keys are and whether they
//! need read (`access`) or write (`insert`/`delete`/`update`) permission.
//! Generated from a real redis-server; `not_key` specs are left out.
//! Sorted by command name (binary search at startup).

use crate::acl::{Begin, Find, Spec, READ, WRITE};

pub const KEY_SPECS: &[(&str, &[Spec])] = &[
    (
        "append",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "bitcount",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "bitfield",
        &[Spec {
            need: READ | WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "bitfield_ro",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "bitop",
        &[
            Spec {
                need: WRITE,
                begin: Begin::Index(2),
                find: Find::Range(0, 1, 0),
                incomplete: false,
            },
            Spec {
                need: READ,
                begin: Begin::Index(3),
                find: Find::Range(-1, 1, 0),
                incomplete: false,
            },
        ],
    ),
    (
        "bitpos",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "blmove",
        &[
            Spec {
                need: READ | WRITE,
                begin: Begin::Index(1),
                find: Find::Range(0, 1, 0),
                incomplete: false,
            },
            Spec {
                need: WRITE,
                begin: Begin::Index(2),
                find: Find::Range(0, 1, 0),
                incomplete: false,
            },
        ],
    ),
    (
        "blmpop",
        &[Spec {
            need: READ | WRITE,
            begin: Begin::Index(2),
            find: Find::Keynum(0, 1, 1),
            incomplete: false,
        }],
    ),
    (
        "blpop",
        &[Spec {
            need: READ | WRITE,
            begin: Begin::Index(1),
            find: Find::Range(-2, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "brpop",
        &[Spec {
            need: READ | WRITE,
            begin: Begin::Index(1),
            find: Find::Range(-2, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "brpoplpush",
        &[
            Spec {
                need: READ | WRITE,
                begin: Begin::Index(1),
                find: Find::Range(0, 1, 0),
                incomplete: false,
            },
            Spec {
                need: WRITE,
                begin: Begin::Index(2),
                find: Find::Range(0, 1, 0),
                incomplete: false,
            },
        ],
    ),
    (
        "bzmpop",
        &[Spec {
            need: READ | WRITE,
            begin: Begin::Index(2),
            find: Find::Keynum(0, 1, 1),
            incomplete: false,
        }],
    ),
    (
        "bzpopmax",
        &[Spec {
            need: READ | WRITE,
            begin: Begin::Index(1),
            find: Find::Range(-2, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "bzpopmin",
        &[Spec {
            need: READ | WRITE,
            begin: Begin::Index(1),
            find: Find::Range(-2, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "copy",
        &[
            Spec {
                need: READ,
                begin: Begin::Index(1),
                find: Find::Range(0, 1, 0),
                incomplete: false,
            },
            Spec {
                need: WRITE,
                begin: Begin::Index(2),
                find: Find::Range(0, 1, 0),
                incomplete: false,
            },
        ],
    ),
    (
        "decr",
        &[Spec {
            need: READ | WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "decrby",
        &[Spec {
            need: READ | WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "del",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(1),
            find: Find::Range(-1, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "dump",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "eval",
        &[Spec {
            need: READ | WRITE,
            begin: Begin::Index(2),
            find: Find::Keynum(0, 1, 1),
            incomplete: false,
        }],
    ),
    (
        "eval_ro",
        &[Spec {
            need: READ,
            begin: Begin::Index(2),
            find: Find::Keynum(0, 1, 1),
            incomplete: false,
        }],
    ),
    (
        "evalsha",
        &[Spec {
            need: READ | WRITE,
            begin: Begin::Index(2),
            find: Find::Keynum(0, 1, 1),
            incomplete: false,
        }],
    ),
    (
        "evalsha_ro",
        &[Spec {
            need: READ,
            begin: Begin::Index(2),
            find: Find::Keynum(0, 1, 1),
            incomplete: false,
        }],
    ),
    (
        "exists",
        &[Spec {
            need: 0,
            begin: Begin::Index(1),
            find: Find::Range(-1, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "expire",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "expireat",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "expiretime",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "fcall",
        &[Spec {
            need: READ | WRITE,
            begin: Begin::Index(2),
            find: Find::Keynum(0, 1, 1),
            incomplete: false,
        }],
    ),
    (
        "fcall_ro",
        &[Spec {
            need: READ,
            begin: Begin::Index(2),
            find: Find::Keynum(0, 1, 1),
            incomplete: false,
        }],
    ),
    (
        "geoadd",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "geodist",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "geohash",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "geopos",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "georadius",
        &[
            Spec {
                need: READ,
                begin: Begin::Index(1),
                find: Find::Range(0, 1, 0),
                incomplete: false,
            },
            Spec {
                need: WRITE,
                begin: Begin::Keyword("STORE", 6),
                find: Find::Range(0, 1, 0),
                incomplete: false,
            },
            Spec {
                need: WRITE,
                begin: Begin::Keyword("STOREDIST", 6),
                find: Find::Range(0, 1, 0),
                incomplete: false,
            },
        ],
    ),
    (
        "georadius_ro",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "georadiusbymember",
        &[
            Spec {
                need: READ,
                begin: Begin::Index(1),
                find: Find::Range(0, 1, 0),
                incomplete: false,
            },
            Spec {
                need: WRITE,
                begin: Begin::Keyword("STORE", 5),
                find: Find::Range(0, 1, 0),
                incomplete: false,
            },
            Spec {
                need: WRITE,
                begin: Begin::Keyword("STOREDIST", 5),
                find: Find::Range(0, 1, 0),
                incomplete: false,
            },
        ],
    ),
    (
        "georadiusbymember_ro",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "geosearch",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "geosearchstore",
        &[
            Spec {
                need: WRITE,
                begin: Begin::Index(1),
                find: Find::Range(0, 1, 0),
                incomplete: false,
            },
            Spec {
                need: READ,
                begin: Begin::Index(2),
                find: Find::Range(0, 1, 0),
                incomplete: false,
            },
        ],
    ),
    (
        "get",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "getbit",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "getdel",
        &[Spec {
            need: READ | WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "getex",
        &[Spec {
            need: READ | WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "getrange",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "getset",
        &[Spec {
            need: READ | WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "hdel",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "hexists",
        &[Spec {
            need: 0,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "hget",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "hgetall",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "hincrby",
        &[Spec {
            need: READ | WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "hincrbyfloat",
        &[Spec {
            need: READ | WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "hkeys",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "hlen",
        &[Spec {
            need: 0,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "hmget",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "hmset",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "hrandfield",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "hscan",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "hset",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "hsetnx",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "hstrlen",
        &[Spec {
            need: 0,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "hvals",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "incr",
        &[Spec {
            need: READ | WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "incrby",
        &[Spec {
            need: READ | WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "incrbyfloat",
        &[Spec {
            need: READ | WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "lcs",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(1, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "lindex",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "linsert",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "llen",
        &[Spec {
            need: 0,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "lmove",
        &[
            Spec {
                need: READ | WRITE,
                begin: Begin::Index(1),
                find: Find::Range(0, 1, 0),
                incomplete: false,
            },
            Spec {
                need: WRITE,
                begin: Begin::Index(2),
                find: Find::Range(0, 1, 0),
                incomplete: false,
            },
        ],
    ),
    (
        "lmpop",
        &[Spec {
            need: READ | WRITE,
            begin: Begin::Index(1),
            find: Find::Keynum(0, 1, 1),
            incomplete: false,
        }],
    ),
    (
        "lpop",
        &[Spec {
            need: READ | WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "lpos",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "lpush",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "lpushx",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "lrange",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "lrem",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "lset",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "ltrim",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "memory|usage",
        &[Spec {
            need: 0,
            begin: Begin::Index(2),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "mget",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(-1, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "migrate",
        &[
            Spec {
                need: READ | WRITE,
                begin: Begin::Index(3),
                find: Find::Range(0, 1, 0),
                incomplete: false,
            },
            Spec {
                need: READ | WRITE,
                begin: Begin::Keyword("KEYS", -2),
                find: Find::Range(-1, 1, 0),
                incomplete: true,
            },
        ],
    ),
    (
        "move",
        &[Spec {
            need: READ | WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "mset",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(1),
            find: Find::Range(-1, 2, 0),
            incomplete: false,
        }],
    ),
    (
        "msetnx",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(1),
            find: Find::Range(-1, 2, 0),
            incomplete: false,
        }],
    ),
    (
        "object|encoding",
        &[Spec {
            need: 0,
            begin: Begin::Index(2),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "object|freq",
        &[Spec {
            need: 0,
            begin: Begin::Index(2),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "object|idletime",
        &[Spec {
            need: 0,
            begin: Begin::Index(2),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "object|refcount",
        &[Spec {
            need: 0,
            begin: Begin::Index(2),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "persist",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "pexpire",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "pexpireat",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "pexpiretime",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "pfadd",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "pfcount",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(-1, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "pfdebug",
        &[Spec {
            need: READ,
            begin: Begin::Index(2),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "pfmerge",
        &[
            Spec {
                need: READ | WRITE,
                begin: Begin::Index(1),
                find: Find::Range(0, 1, 0),
                incomplete: false,
            },
            Spec {
                need: READ,
                begin: Begin::Index(2),
                find: Find::Range(-1, 1, 0),
                incomplete: false,
            },
        ],
    ),
    (
        "psetex",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "pttl",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "rename",
        &[
            Spec {
                need: READ | WRITE,
                begin: Begin::Index(1),
                find: Find::Range(0, 1, 0),
                incomplete: false,
            },
            Spec {
                need: WRITE,
                begin: Begin::Index(2),
                find: Find::Range(0, 1, 0),
                incomplete: false,
            },
        ],
    ),
    (
        "renamenx",
        &[
            Spec {
                need: READ | WRITE,
                begin: Begin::Index(1),
                find: Find::Range(0, 1, 0),
                incomplete: false,
            },
            Spec {
                need: WRITE,
                begin: Begin::Index(2),
                find: Find::Range(0, 1, 0),
                incomplete: false,
            },
        ],
    ),
    (
        "restore",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "restore-asking",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "rpop",
        &[Spec {
            need: READ | WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "rpoplpush",
        &[
            Spec {
                need: READ | WRITE,
                begin: Begin::Index(1),
                find: Find::Range(0, 1, 0),
                incomplete: false,
            },
            Spec {
                need: WRITE,
                begin: Begin::Index(2),
                find: Find::Range(0, 1, 0),
                incomplete: false,
            },
        ],
    ),
    (
        "rpush",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "rpushx",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "sadd",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "scard",
        &[Spec {
            need: 0,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "sdiff",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(-1, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "sdiffstore",
        &[
            Spec {
                need: WRITE,
                begin: Begin::Index(1),
                find: Find::Range(0, 1, 0),
                incomplete: false,
            },
            Spec {
                need: READ,
                begin: Begin::Index(2),
                find: Find::Range(-1, 1, 0),
                incomplete: false,
            },
        ],
    ),
    (
        "set",
        &[Spec {
            need: READ | WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "setbit",
        &[Spec {
            need: READ | WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "setex",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "setnx",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "setrange",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "sinter",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(-1, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "sintercard",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Keynum(0, 1, 1),
            incomplete: false,
        }],
    ),
    (
        "sinterstore",
        &[
            Spec {
                need: WRITE,
                begin: Begin::Index(1),
                find: Find::Range(0, 1, 0),
                incomplete: false,
            },
            Spec {
                need: READ,
                begin: Begin::Index(2),
                find: Find::Range(-1, 1, 0),
                incomplete: false,
            },
        ],
    ),
    (
        "sismember",
        &[Spec {
            need: 0,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "smembers",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "smismember",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "smove",
        &[
            Spec {
                need: READ | WRITE,
                begin: Begin::Index(1),
                find: Find::Range(0, 1, 0),
                incomplete: false,
            },
            Spec {
                need: WRITE,
                begin: Begin::Index(2),
                find: Find::Range(0, 1, 0),
                incomplete: false,
            },
        ],
    ),
    (
        "sort",
        &[
            Spec {
                need: READ,
                begin: Begin::Index(1),
                find: Find::Range(0, 1, 0),
                incomplete: false,
            },
            Spec {
                need: READ,
                begin: Begin::Unknown,
                find: Find::Unknown,
                incomplete: false,
            },
            Spec {
                need: WRITE,
                begin: Begin::Unknown,
                find: Find::Unknown,
                incomplete: false,
            },
        ],
    ),
    (
        "sort_ro",
        &[
            Spec {
                need: READ,
                begin: Begin::Index(1),
                find: Find::Range(0, 1, 0),
                incomplete: false,
            },
            Spec {
                need: READ,
                begin: Begin::Unknown,
                find: Find::Unknown,
                incomplete: false,
            },
        ],
    ),
    (
        "spop",
        &[Spec {
            need: READ | WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "srandmember",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "srem",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "sscan",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "strlen",
        &[Spec {
            need: 0,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "substr",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "sunion",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(-1, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "sunionstore",
        &[
            Spec {
                need: WRITE,
                begin: Begin::Index(1),
                find: Find::Range(0, 1, 0),
                incomplete: false,
            },
            Spec {
                need: READ,
                begin: Begin::Index(2),
                find: Find::Range(-1, 1, 0),
                incomplete: false,
            },
        ],
    ),
    (
        "touch",
        &[Spec {
            need: 0,
            begin: Begin::Index(1),
            find: Find::Range(-1, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "ttl",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "type",
        &[Spec {
            need: 0,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "unlink",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(1),
            find: Find::Range(-1, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "watch",
        &[Spec {
            need: 0,
            begin: Begin::Index(1),
            find: Find::Range(-1, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "xack",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "xadd",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "xautoclaim",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "xclaim",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "xdel",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "xgroup|create",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(2),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "xgroup|createconsumer",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(2),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "xgroup|delconsumer",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(2),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "xgroup|destroy",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(2),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "xgroup|setid",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(2),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "xinfo|consumers",
        &[Spec {
            need: READ,
            begin: Begin::Index(2),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "xinfo|groups",
        &[Spec {
            need: READ,
            begin: Begin::Index(2),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "xinfo|stream",
        &[Spec {
            need: READ,
            begin: Begin::Index(2),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "xlen",
        &[Spec {
            need: 0,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "xpending",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "xrange",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "xread",
        &[Spec {
            need: READ,
            begin: Begin::Keyword("STREAMS", 1),
            find: Find::Range(-1, 1, 2),
            incomplete: false,
        }],
    ),
    (
        "xreadgroup",
        &[Spec {
            need: READ,
            begin: Begin::Keyword("STREAMS", 4),
            find: Find::Range(-1, 1, 2),
            incomplete: false,
        }],
    ),
    (
        "xrevrange",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "xsetid",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "xtrim",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "zadd",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "zcard",
        &[Spec {
            need: 0,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "zcount",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "zdiff",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Keynum(0, 1, 1),
            incomplete: false,
        }],
    ),
    (
        "zdiffstore",
        &[
            Spec {
                need: WRITE,
                begin: Begin::Index(1),
                find: Find::Range(0, 1, 0),
                incomplete: false,
            },
            Spec {
                need: READ,
                begin: Begin::Index(2),
                find: Find::Keynum(0, 1, 1),
                incomplete: false,
            },
        ],
    ),
    (
        "zincrby",
        &[Spec {
            need: READ | WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "zinter",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Keynum(0, 1, 1),
            incomplete: false,
        }],
    ),
    (
        "zintercard",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Keynum(0, 1, 1),
            incomplete: false,
        }],
    ),
    (
        "zinterstore",
        &[
            Spec {
                need: WRITE,
                begin: Begin::Index(1),
                find: Find::Range(0, 1, 0),
                incomplete: false,
            },
            Spec {
                need: READ,
                begin: Begin::Index(2),
                find: Find::Keynum(0, 1, 1),
                incomplete: false,
            },
        ],
    ),
    (
        "zlexcount",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "zmpop",
        &[Spec {
            need: READ | WRITE,
            begin: Begin::Index(1),
            find: Find::Keynum(0, 1, 1),
            incomplete: false,
        }],
    ),
    (
        "zmscore",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "zpopmax",
        &[Spec {
            need: READ | WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "zpopmin",
        &[Spec {
            need: READ | WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "zrandmember",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "zrange",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "zrangebylex",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "zrangebyscore",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "zrangestore",
        &[
            Spec {
                need: WRITE,
                begin: Begin::Index(1),
                find: Find::Range(0, 1, 0),
                incomplete: false,
            },
            Spec {
                need: READ,
                begin: Begin::Index(2),
                find: Find::Range(0, 1, 0),
                incomplete: false,
            },
        ],
    ),
    (
        "zrank",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "zrem",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "zremrangebylex",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "zremrangebyrank",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "zremrangebyscore",
        &[Spec {
            need: WRITE,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "zrevrange",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "zrevrangebylex",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "zrevrangebyscore",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "zrevrank",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "zscan",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "zscore",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Range(0, 1, 0),
            incomplete: false,
        }],
    ),
    (
        "zunion",
        &[Spec {
            need: READ,
            begin: Begin::Index(1),
            find: Find::Keynum(0, 1, 1),
            incomplete: false,
        }],
    ),
    (
        "zunionstore",
        &[
            Spec {
                need: WRITE,
                begin: Begin::Index(1),
                find: Find::Range(0, 1, 0),
                incomplete: false,
            },
            Spec {
                need: READ,
                begin: Begin::Index(2),
                find: Find::Keynum(0, 1, 1),
                incomplete: false,
            },
        ],
    ),
];
