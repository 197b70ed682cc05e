//! Differential tests of ACL: ACL SETUSER rules and their errors, ACL
//! LIST/GETUSER (RESP2 and RESP3), USERS, WHOAMI, CAT, GENPASS, DRYRUN,
//! DELUSER, LOG, SAVE/LOAD, HELP; AUTH and HELLO AUTH with users; NOPERM
//! for commands, keys (read/write) and channels, inside MULTI, at EXEC and
//! from scripts; `requirepass` as the default user's password.
//!
//! Redis prints the single-command part of a rule list in its command
//! dict's order, which is random per process: [`rules_norm`] sorts each
//! run of single-command rules. ACL LOG's age and client info are masked
//! by [`log_norm`] (but `user=` is kept).

mod common;
use common::{start_larder, start_redis, Cmp, DiffSession, RawClient};

macro_rules! session {
    ($args:expr) => {
        match DiffSession::start($args) {
            Some(s) => s,
            None => return,
        }
    };
}

/// Sorts each run of single-command rules (`+get -set`) inside the reply.
fn rules_norm(raw: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(raw).replace(')', " )");
    let mut out: Vec<String> = Vec::new();
    for line in text.split("\r\n") {
        let mut toks: Vec<String> = Vec::new();
        let mut run: Vec<String> = Vec::new();
        for t in line.split(' ') {
            let single = (t.starts_with('+') || t.starts_with('-')) && !t[1..].starts_with('@');
            if single {
                run.push(t.to_string());
            } else {
                run.sort();
                toks.append(&mut run);
                toks.push(t.to_string());
            }
        }
        run.sort();
        toks.append(&mut run);
        out.push(toks.join(" "));
    }
    out.join("\n").into_bytes()
}

/// Masks ACL LOG's age-seconds values and keeps only `user=` of client-info.
fn log_norm(raw: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(raw);
    let lines: Vec<&str> = text.split("\r\n").collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        out.push(l.to_string());
        if l == "age-seconds" || l == "client-info" {
            // RESP2 bulk ($n + payload) or RESP3 double (,x).
            let next = lines.get(i + 1).copied().unwrap_or("");
            let (payload, skip) = if next.starts_with('$') {
                (lines.get(i + 2).copied().unwrap_or(""), 2)
            } else {
                (next, 1)
            };
            if l == "client-info" {
                let user = payload.split(' ').find(|w| w.starts_with("user="));
                out.push(user.unwrap_or("").to_string());
            } else {
                out.push("AGE".into());
            }
            i += skip;
        }
        i += 1;
    }
    out.join("\n").into_bytes()
}

const RULES: Cmp = Cmp::Normalize(rules_norm);
const LOG: Cmp = Cmp::Normalize(log_norm);

/// Users whose descriptions are compared (the category fit needs the
/// categories' members, which both servers share for these).
const USERS: &[&[&str]] = &[
    &["acl", "setuser", "u0"],
    &[
        "acl", "setuser", "u1", "on", ">p1", ">p2", "<p2", "~a*", "%R~r*", "%W~w*", "%RW~x",
        "&ch*", "+get", "+set",
    ],
    &["acl", "setuser", "u2", "+@all", "-@dangerous"],
    &["acl", "setuser", "u3", "+@all", "-get", "-set", "-del"],
    &[
        "acl", "setuser", "u4", "-@all", "+get", "+set", "+del", "+@hash",
    ],
    &[
        "acl",
        "setuser",
        "u5",
        "+@all",
        "-@admin",
        "allkeys",
        "allchannels",
    ],
    &["acl", "setuser", "u6", "-@all", "+@admin"],
    &["acl", "setuser", "u7", "-@all", "+@dangerous"],
    &[
        "acl",
        "setuser",
        "u8",
        "-@all",
        "+config|get",
        "+client",
        "-client|kill",
        "+select|0",
        "+select|1",
    ],
    &[
        "acl",
        "setuser",
        "u9",
        "nopass",
        "on",
        "resetchannels",
        "&a",
        "&b",
        "&a",
        "allkeys",
        "+@string",
        "-@string",
    ],
    &[
        "acl",
        "setuser",
        "u10",
        "reset",
        "#5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
    ],
    &[
        "acl",
        "setuser",
        "u11",
        "+@all",
        "-get",
        "+get",
        "~k",
        "(+set ~s* &x)",
        "(",
        "-@all",
        "+del",
        ")",
    ],
    &[
        "acl", "setuser", "u12", "-@all", "+@read", "-@read", "+@write", "-@write",
    ],
    &[
        "acl",
        "setuser",
        "u13",
        "allcommands",
        "nocommands",
        "+ping",
        "skip-sanitize-payload",
    ],
    &[
        "acl", "setuser", "u14", "+@all", "%R~a", "%W~a", "%R~b", "+get|x",
    ],
    &["acl", "setuser", "u11", "clearselectors"],
    &[
        "acl",
        "setuser",
        "u13",
        "sanitize-payload",
        "nopass",
        "resetpass",
        "off",
    ],
];

#[test]
fn setuser_list_getuser() {
    let mut s = session!(&[]);
    s.run(&[&["acl", "list"], &["acl", "users"], &["acl", "whoami"]]);
    for u in USERS {
        s.case(u);
    }
    s.case_with(&["acl", "list"], RULES);
    s.case(&["acl", "users"]);
    for proto in ["2", "3"] {
        s.case_with(&["hello", proto], Cmp::TypeOnly);
        for u in [
            "default", "u0", "u1", "u2", "u3", "u8", "u9", "u10", "u11", "u14", "nosuch",
        ] {
            s.case_with(&["acl", "getuser", u], RULES);
        }
    }
}

#[test]
fn setuser_errors() {
    let mut s = session!(&[]);
    let bad: &[&str] = &[
        "bogus",
        "+nosuch",
        "+@nosuch",
        "-@nosuch",
        "#abc",
        "!abc",
        "#5E884898DA28047151D0E56F8DC6292773603D0D6AABBDD62A11EF721D1542D8",
        "%X~a",
        "%",
        "%~a",
        "%RR~a",
        "~a b",
        "&a b",
        "+config|",
        "+config|get|x",
        "+select|",
        "+config|nosuch",
        "<nope",
        "(",
        ")",
        "(+get",
        "x(",
        "(bogus)",
        "-config|get|x",
        "-select|0",
        "+get|x|y",
        "(~a",
        "on)",
    ];
    for b in bad {
        s.case(&["acl", "setuser", "bad", b]);
    }
    s.run(&[
        &["acl", "setuser", "bad", "on", "bogus"],
        &["acl", "getuser", "bad"],
        &["acl", "setuser", "bad", "allkeys", "~x"],
        &["acl", "setuser", "bad", "allkeys", "%R~x"],
        &["acl", "setuser", "bad", "allchannels", "&x"],
        &["acl", "setuser", "bad", "(", "+get", "~x"],
        &["acl", "setuser", "a b"],
        &["acl", "setuser", "bad", "%R"],
        &["acl", "getuser", "bad"],
        &["acl", "setuser"],
        &["acl", "getuser"],
        &["acl", "getuser", "a", "b"],
        &["acl", "list", "x"],
        &["acl", "users", "x"],
        &["acl", "whoami", "x"],
        &["acl", "deluser"],
        &["acl", "nosuch"],
        &["acl"],
    ]);
}

#[test]
fn subcommands() {
    let mut s = session!(&[]);
    s.run(&[
        &["acl", "help"],
        &["acl", "cat"],
        &["acl", "cat", "nosuch"],
        &["acl", "cat", "a", "b"],
        &["acl", "genpass", "0"],
        &["acl", "genpass", "4097"],
        &["acl", "genpass", "abc"],
        &["acl", "genpass", "1", "2"],
        &["acl", "load"],
        &["acl", "save"],
        &["acl", "deluser", "default"],
        &["acl", "deluser", "a", "default"],
        &["acl", "deluser", "zz", "zz2"],
        &["acl", "log", "abc"],
        &["acl", "log", "-1"],
        &["acl", "log", "1", "2"],
        &["acl", "log", "reset"],
        &["acl", "setuser", "d1", "on", "nopass", "+get", "~k*", "&ch"],
        &["acl", "deluser", "d1", "d1", "nosuch"],
        &[
            "acl", "setuser", "d1", "on", "nopass", "+get", "~k*", "&ch", "%R~r*",
        ],
        &["acl", "dryrun", "d1", "get", "k1"],
        &["acl", "dryrun", "d1", "get", "x"],
        &["acl", "dryrun", "d1", "set", "k1", "v"],
        &["acl", "dryrun", "d1", "publish", "x", "m"],
        &["acl", "dryrun", "nouser", "get", "x"],
        &["acl", "dryrun", "d1", "nocmd", "x"],
        &["acl", "dryrun", "d1", "get"],
        &["acl", "dryrun", "d1", "config", "get", "x"],
        &["acl", "dryrun", "d1", "config", "nosuch"],
        &["acl", "dryrun", "d1"],
        &["acl", "dryrun", "default", "config", "get", "x"],
    ]);
    for cat in ["string", "hash", "hyperloglog", "bitmap", "transaction"] {
        s.case_with(&["acl", "cat", cat], Cmp::Sorted);
    }
    for bits in ["1", "4", "5", "256", "4096"] {
        let l = s.larder.cmd_str(&["acl", "genpass", bits]);
        let r = s.redis.cmd_str(&["acl", "genpass", bits]);
        assert_eq!(l.len(), r.len(), "genpass {bits}");
    }
    let l = s.larder.cmd_str(&["acl", "genpass"]);
    assert_eq!(l.len(), "$64\r\n".len() + 64 + 2);
}

/// A connection authenticated as `user` on each server.
fn login(s: &DiffSession, user: &str, pass: &str) -> (RawClient, RawClient) {
    let (mut l, mut r) = s.new_clients();
    for c in [&mut l, &mut r] {
        assert_eq!(c.cmd_str(&["auth", user, pass]), b"+OK\r\n");
    }
    (l, r)
}

#[test]
fn auth_and_permissions() {
    let mut s = session!(&[]);
    s.run(&[
        &[
            "acl",
            "setuser",
            "u1",
            "on",
            ">pw",
            "~k*",
            "%R~r*",
            "%W~w*",
            "&ch",
            "+get",
            "+set",
            "+publish",
            "+subscribe",
            "+psubscribe",
            "+multi",
            "+exec",
            "+eval",
            "+select|0",
            "+acl",
            "+config|get",
            "+mget",
            "+mset",
            "+getset",
            "+bitfield",
            "+sort",
            "+lmove",
            "+ping",
        ],
        &["acl", "setuser", "off1", "off", ">pw", "+@all"],
        &["auth", "nouser", "x"],
        &["auth", "u1", "wrong"],
        &["auth", "off1", "pw"],
        &["auth", "x"],
        &["auth", "a", "b", "c"],
        &["hello", "2", "auth", "u1", "wrong"],
    ]);
    s.case_with(&["acl", "log"], LOG);
    let (mut l, mut r) = login(&s, "u1", "pw");
    let cases: &[&[&str]] = &[
        &["acl", "whoami"],
        &["get", "x"],
        &["get", "k1"],
        &["set", "k1", "v"],
        &["set", "r1", "v"],
        &["get", "r1"],
        &["set", "w1", "v"],
        &["get", "w1"],
        &["set", "w1", "v", "get"],
        &["getset", "w1", "v"],
        &["mget", "k1", "r1", "w1"],
        &["mset", "k1", "v", "w1", "v"],
        &["mset", "k1", "v", "r1", "v"],
        &["bitfield", "r1", "get", "u8", "0"],
        &["bitfield", "r1", "set", "u8", "0", "1"],
        &["sort", "k1", "store", "r1"],
        &["sort", "k1", "store", "w1"],
        &["lmove", "k1", "w1", "left", "right"],
        &["del", "k1"],
        &["config", "get", "maxmemory"],
        &["config", "set", "maxmemory", "0"],
        &["config", "nosuch"],
        &["config"],
        &["select", "1"],
        &["select", "0"],
        &["publish", "other", "m"],
        &["publish", "ch", "m"],
        &["ping"],
        &["multi"],
        &["get", "x"],
        &["del", "k"],
        &["exec"],
        &["multi"],
        &["get", "k1"],
        &["exec"],
        &["eval", "return redis.call('get','x')", "0"],
        &["eval", "return redis.call('del','k')", "0"],
        &["eval", "return redis.call('get','k1')", "0"],
        &["eval", "return redis.pcall('get','x')", "0"],
        &["psubscribe", "c*"],
        &["subscribe", "other"],
    ];
    for c in cases {
        let args: Vec<&[u8]> = c.iter().map(|a| a.as_bytes()).collect();
        common::diff_case_with(&mut l, &mut r, &args, Cmp::Exact);
    }
    s.case_with(&["acl", "log"], LOG);
    s.case_with(&["acl", "log", "3"], LOG);
    s.case_with(&["hello", "3"], Cmp::TypeOnly);
    s.case_with(&["acl", "log", "2"], LOG);
    // Rules changed between MULTI and EXEC.
    for c in [&mut l, &mut r] {
        assert_eq!(c.cmd_str(&["multi"]), b"+OK\r\n");
        assert_eq!(c.cmd_str(&["get", "k1"]), b"+QUEUED\r\n");
        assert_eq!(c.cmd_str(&["set", "k2", "v"]), b"+QUEUED\r\n");
    }
    s.case(&["acl", "setuser", "u1", "-get", "resetkeys", "~k1"]);
    common::diff_case_with(&mut l, &mut r, &[b"exec"], Cmp::Exact);
    common::diff_case_with(&mut l, &mut r, &[b"acl", b"whoami"], Cmp::Exact);
    // A subscriber loses its channel: disconnected.
    let (mut sl, mut sr) = login(&s, "u1", "pw");
    common::diff_case_with(&mut sl, &mut sr, &[b"subscribe", b"ch"], Cmp::Exact);
    s.case(&["acl", "setuser", "u1", "resetchannels"]);
    assert!(sl.is_closed_within(std::time::Duration::from_secs(2)));
    assert!(sr.is_closed_within(std::time::Duration::from_secs(2)));
    // HELLO AUTH, RESET, CLIENT KILL USER, DELUSER.
    let (mut l2, mut r2) = s.new_clients();
    for c in [
        "hello 2 auth u1 wrong",
        "hello 3 auth nosuch x",
        "acl whoami",
        "reset",
        "acl whoami",
    ] {
        let args: Vec<&[u8]> = c.split(' ').map(str::as_bytes).collect();
        common::diff_case_with(&mut l2, &mut r2, &args, Cmp::Exact);
    }
    for c in [&mut l2, &mut r2] {
        assert_eq!(
            c.cmd_str(&["hello", "2", "auth", "u1", "pw"]).first(),
            Some(&b'*')
        );
    }
    for c in [&mut s.larder, &mut s.redis] {
        let list = String::from_utf8_lossy(&c.cmd_str(&["client", "list"])).into_owned();
        assert!(list.contains("user=u1"), "{list}");
    }
    s.run(&[
        &["client", "kill", "user", "nosuch"],
        &["acl", "setuser", "k2", "on", "nopass", "+@all"],
    ]);
    s.case_with(&["client", "kill", "user", "k2"], Cmp::Exact);
    s.case(&["acl", "deluser", "u1"]);
    assert!(l.is_closed_within(std::time::Duration::from_secs(2)));
    assert!(r.is_closed_within(std::time::Duration::from_secs(2)));
    assert!(l2.is_closed_within(std::time::Duration::from_secs(2)));
    assert!(r2.is_closed_within(std::time::Duration::from_secs(2)));
    // Deleting one's own user: the reply, then the connection closes.
    s.run(&[&["acl", "setuser", "me", "on", "nopass", "+@all"]]);
    let (mut ml, mut mr) = login(&s, "me", "x");
    common::diff_case_with(&mut ml, &mut mr, &[b"acl", b"deluser", b"me"], Cmp::Exact);
    assert!(ml.is_closed_within(std::time::Duration::from_secs(2)));
    assert!(mr.is_closed_within(std::time::Duration::from_secs(2)));
}

#[test]
fn requirepass_is_default_password() {
    let mut s = session!(&["--requirepass", "secret"]);
    s.run(&[
        &["get", "x"],
        &["auth", "wrong"],
        &["auth", "secret"],
        &["acl", "list"],
        &["acl", "getuser", "default"],
        &["config", "set", "requirepass", "other"],
        &["acl", "list"],
        &["config", "get", "requirepass"],
        &["acl", "setuser", "default", "resetpass", "nopass"],
        &["config", "get", "requirepass"],
        &["config", "set", "requirepass", ""],
        &["acl", "list"],
        &["auth", "x"],
        &["acl", "setuser", "default", "off"],
    ]);
    let (mut l, mut r) = s.new_clients();
    for c in ["get x", "auth default x", "hello 3", "acl whoami"] {
        let args: Vec<&[u8]> = c.split(' ').map(str::as_bytes).collect();
        common::diff_case_with(&mut l, &mut r, &args, Cmp::Exact);
    }
    s.case(&["acl", "setuser", "default", "on"]);
    s.case_with(&["acl", "log"], LOG);
}

/// The config's `user` lines add to the default user, which keeps
/// `requirepass` unless a `user default` line resets it (Redis's
/// ACLLoadConfiguredUsers; Larder's default user had become `nopass`).
#[test]
fn config_users_keep_requirepass() {
    let user = ["--user", "f1", "on", ">pw", "~*", "&*", "+@all"];
    let mut s = session!(&[&["--requirepass", "secret"][..], &user].concat());
    s.run(&[&["get", "x"], &["auth", "f1", "pw"], &["acl", "list"]]);
    let (mut l, mut r) = s.new_clients();
    for c in ["get x", "auth secret", "get x"] {
        let args: Vec<&[u8]> = c.split(' ').map(str::as_bytes).collect();
        common::diff_case_with(&mut l, &mut r, &args, Cmp::Exact);
    }
    let reset = ["--user", "default", "on", "nopass", "~*", "+get"];
    let mut s = session!(&[&["--requirepass", "secret"][..], &user, &reset].concat());
    s.run(&[&["get", "x"], &["set", "x", "1"], &["acl", "list"]]);
}

#[test]
fn pubsub_default_and_log_len() {
    let mut s = session!(&[]);
    s.run(&[
        &["config", "get", "acl-pubsub-default"],
        &["config", "set", "acl-pubsub-default", "foo"],
        &["config", "set", "acl-pubsub-default", "allchannels"],
        &["acl", "setuser", "p1"],
        &["acl", "setuser", "p2", "reset"],
        &["config", "set", "acllog-max-len", "-1"],
        &["config", "set", "acllog-max-len", "2"],
        &["config", "get", "acl*"],
        &["config", "set", "aclfile", "x"],
    ]);
    s.case_with(&["acl", "list"], RULES);
    for u in ["a", "b", "c"] {
        s.case(&["auth", u, "x"]);
    }
    s.case_with(&["acl", "log"], LOG);
}

#[test]
fn aclfile_save_and_load() {
    let dir = std::env::temp_dir().join(format!("larder-acl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let lf = dir.join("larder.acl");
    let rf = dir.join("redis.acl");
    let initial = "user default on nopass ~* &* +@all\nuser f1 on #5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8 ~k* resetchannels -@all +get\n";
    std::fs::write(&lf, initial).unwrap();
    std::fs::write(&rf, initial).unwrap();
    let Some(redis_proc) = start_redis(&["--aclfile", rf.to_str().unwrap()]) else {
        return;
    };
    let larder_proc = start_larder(&["--aclfile", lf.to_str().unwrap()]);
    let mut s = DiffSession {
        larder: larder_proc.client(),
        redis: redis_proc.client(),
        larder_proc,
        redis_proc,
        history: Vec::new(),
        context: String::new(),
    };
    s.run(&[
        &["acl", "list"],
        &["auth", "f1", "password"],
        &["acl", "whoami"],
        &["auth", "default", "x"],
        &[
            "acl",
            "setuser",
            "f2",
            "on",
            ">x",
            "+@all",
            "-@dangerous",
            "~*",
        ],
        &["acl", "save"],
        &["acl", "deluser", "f1"],
        &["acl", "load"],
        &["acl", "list"],
    ]);
    assert_eq!(
        std::fs::read_to_string(&lf).unwrap(),
        std::fs::read_to_string(&rf).unwrap()
    );
    let bad = "user default on nopass ~* &* +@all\nuser f3 +nosuch bogus\nnotuser x\nuser f3\n";
    std::fs::write(&lf, bad.replace("redis.acl", "larder.acl")).unwrap();
    std::fs::write(&rf, bad).unwrap();
    let l = s.larder.cmd_str(&["acl", "load"]);
    let r = s.redis.cmd_str(&["acl", "load"]);
    let norm = |b: &[u8]| {
        String::from_utf8_lossy(b)
            .replace(lf.to_str().unwrap(), "F")
            .replace(rf.to_str().unwrap(), "F")
    };
    assert_eq!(norm(&l), norm(&r));
    s.case_with(&["acl", "list"], RULES);
    let _ = std::fs::remove_dir_all(&dir);
}
