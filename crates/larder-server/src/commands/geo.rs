//! GEO commands, with Redis 7.0's `geo.c` semantics: GEOADD (NX XX CH)
//! GEODIST GEOHASH GEOPOS GEORADIUS GEORADIUS_RO GEORADIUSBYMEMBER
//! GEORADIUSBYMEMBER_RO (STORE STOREDIST) GEOSEARCH GEOSEARCHSTORE
//! (STOREDIST).
//!
//! A geo set is an ordinary sorted set whose scores are 52-bit interleaved
//! geohashes (`larder_engine::geohash` explains the encoding and the cell
//! search): GEOADD is ZADD with computed scores, ZRANGE/ZREM work on geo
//! sets, and any sorted set can be queried (every score decodes to some
//! point). Searches collect the matching members of at most nine cells,
//! sort them by distance if asked (stably, as glibc's `qsort`), and reply
//! or store. Replies use Redis's formats: distances `%.4f`, coordinates
//! `%.17Lf` with trailing zeros trimmed (RESP3 doubles), hashes integers.

use larder_engine::geohash::{self, Extent, Point, Shape};
use larder_engine::types::zset::{AddFlags, ZSet};
use larder_engine::{Key, Lookup};
use larder_resp::{Protocol, Reply};
use smallvec::SmallVec;

use crate::command::{flags::*, Command, Ctx};
use crate::commands::coll::{cmd, limits};
use crate::commands::zsets::{parse_score, store_result, zadd_apply};
use crate::error::{CmdError, CmdResult, NOT_FLOAT, SYNTAX};

const ONE: (i32, i32, i32) = (1, 1, 1);

pub const COMMANDS: &[Command] = &[
    cmd("geoadd", -5, WRITE | DENYOOM, ONE, "write geo slow", geoadd),
    cmd("geodist", -4, READONLY, ONE, "read geo slow", geodist),
    cmd("geohash", -2, READONLY, ONE, "read geo slow", geohash),
    cmd("geopos", -2, READONLY, ONE, "read geo slow", geopos),
    cmd(
        "georadius",
        -6,
        WRITE | DENYOOM,
        ONE,
        "write geo slow",
        georadius,
    ),
    cmd(
        "georadius_ro",
        -6,
        READONLY,
        ONE,
        "read geo slow",
        georadius_ro,
    ),
    cmd(
        "georadiusbymember",
        -5,
        WRITE | DENYOOM,
        ONE,
        "write geo slow",
        georadiusbymember,
    ),
    cmd(
        "georadiusbymember_ro",
        -5,
        READONLY,
        ONE,
        "read geo slow",
        georadiusbymember_ro,
    ),
    cmd("geosearch", -7, READONLY, ONE, "read geo slow", geosearch),
    cmd(
        "geosearchstore",
        -8,
        WRITE | DENYOOM,
        (1, 2, 1),
        "write geo slow",
        geosearchstore,
    ),
];

/// Redis's `extractLongLatOrReply`: two floats, then the range check.
fn lon_lat(ctx: &Ctx<'_>, i: usize) -> Result<[f64; 2], CmdError> {
    let lon = parse_score(ctx.arg(i)).ok_or(NOT_FLOAT)?;
    let lat = parse_score(ctx.arg(i + 1)).ok_or(NOT_FLOAT)?;
    if !(geohash::LONG_MIN..=geohash::LONG_MAX).contains(&lon)
        || !(geohash::LAT_MIN..=geohash::LAT_MAX).contains(&lat)
    {
        return Err(CmdError::owned(format!(
            "ERR invalid longitude,latitude pair {lon:.6},{lat:.6}"
        )));
    }
    Ok([lon, lat])
}

/// Meters per unit (`extractUnitOrReply`).
fn unit(ctx: &Ctx<'_>, i: usize) -> Result<f64, CmdError> {
    const UNITS: [(&str, f64); 4] = [("m", 1.0), ("km", 1000.0), ("ft", 0.3048), ("mi", 1609.34)];
    UNITS
        .iter()
        .find(|(name, _)| ctx.arg_is(i, name))
        .map(|&(_, m)| m)
        .ok_or(CmdError::new(
            "ERR unsupported unit provided. please use M, KM, FT, MI",
        ))
}

/// A non-negative float argument, with Redis's per-argument error text.
fn size_arg(ctx: &Ctx<'_>, i: usize, what: &'static str) -> Result<f64, CmdError> {
    parse_score(ctx.arg(i)).ok_or(CmdError::new(what))
}

/// `radius unit` (`extractDistanceOrReply`): (radius, meters per unit).
fn radius_args(ctx: &Ctx<'_>, i: usize) -> Result<(f64, f64), CmdError> {
    let r = size_arg(ctx, i, "ERR need numeric radius")?;
    if r < 0.0 {
        return Err(CmdError::new("ERR radius cannot be negative"));
    }
    Ok((r, unit(ctx, i + 1)?))
}

/// `width height unit` (`extractBoxOrReply`).
fn box_args(ctx: &Ctx<'_>, i: usize) -> Result<(Extent, f64), CmdError> {
    let width = size_arg(ctx, i, "ERR need numeric width")?;
    let height = size_arg(ctx, i + 1, "ERR need numeric height")?;
    if height < 0.0 || width < 0.0 {
        return Err(CmdError::new("ERR height or width cannot be negative"));
    }
    Ok((Extent::Box { width, height }, unit(ctx, i + 2)?))
}

/// A distance as Redis prints it: `%.4f`, bulk.
fn reply_distance(out: &mut Reply<'_>, d: f64) {
    out.bulk(format!("{d:.4}").as_bytes());
}

/// A coordinate as `addReplyHumanLongDouble`: `%.17Lf` of the value (exact
/// in a long double) with trailing zeros trimmed; a RESP3 double.
fn reply_coord(out: &mut Reply<'_>, v: f64) {
    let mut s = format!("{v:.17}");
    while s.ends_with('0') {
        s.pop();
    }
    if s.ends_with('.') {
        s.pop();
    }
    if s == "-0" {
        s = "0".into();
    }
    if out.proto == Protocol::Resp3 {
        out.raw(b",");
        out.raw(s.as_bytes());
        out.raw(b"\r\n");
    } else {
        out.bulk(s.as_bytes());
    }
}

fn reply_point(out: &mut Reply<'_>, xy: [f64; 2]) {
    out.array(2);
    reply_coord(out, xy[0]);
    reply_coord(out, xy[1]);
}

/// GEOADD: options, then each `longitude latitude member` becomes a ZADD
/// pair with the point's geohash as score (Redis rewrites the command into
/// ZADD, so the keyspace event is `zadd`).
fn geoadd(ctx: &mut Ctx<'_>) -> CmdResult {
    let (mut nx, mut xx, mut ch) = (false, false, false);
    let mut at = 2;
    while at < ctx.argc() {
        if ctx.arg_is(at, "nx") {
            nx = true;
        } else if ctx.arg_is(at, "xx") {
            xx = true;
        } else if ctx.arg_is(at, "ch") {
            ch = true;
        } else {
            break;
        }
        at += 1;
    }
    let rest = ctx.argc() - at;
    if !rest.is_multiple_of(3) || (xx && nx) || rest == 0 {
        return Err(SYNTAX);
    }
    let scores: SmallVec<[f64; 8]> = (at..ctx.argc())
        .step_by(3)
        .map(|i| {
            let [lon, lat] = lon_lat(ctx, i)?;
            Ok(geohash::score_of(lon, lat).unwrap_or(0.0))
        })
        .collect::<Result<_, CmdError>>()?;
    let f = AddFlags {
        nx,
        xx,
        ..AddFlags::default()
    };
    zadd_apply(ctx, f, ch, &scores, (at + 2, 3))
}

fn geodist(ctx: &mut Ctx<'_>) -> CmdResult {
    let to_meter = match ctx.argc() {
        5 => unit(ctx, 4)?,
        n if n > 5 => return Err(SYNTAX),
        _ => 1.0,
    };
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let scores = txn
        .read_obj::<ZSet>(&key, Lookup::Read)?
        .map(|z| (z.score(ctx.arg(2)), z.score(ctx.arg(3))));
    drop(txn);
    match scores {
        Some((Some(a), Some(b))) => {
            let [x1, y1] = geohash::decode_score(a);
            let [x2, y2] = geohash::decode_score(b);
            reply_distance(&mut ctx.out, geohash::distance(x1, y1, x2, y2) / to_meter);
        }
        _ => ctx.out.null(),
    }
    Ok(())
}

/// GEOHASH and GEOPOS: one reply per member argument, from its score.
fn per_member(ctx: &mut Ctx<'_>, reply: fn(&mut Reply<'_>, Option<f64>)) -> CmdResult {
    let key = ctx.key(1);
    let mut txn = ctx.lock(&key);
    let z = txn.read_obj::<ZSet>(&key, Lookup::Read)?;
    ctx.out.array(ctx.argc() - 2);
    for i in 2..ctx.argc() {
        let m = ctx.arg(i);
        reply(&mut ctx.out, z.and_then(|z| z.score(m)));
    }
    Ok(())
}

fn geohash(ctx: &mut Ctx<'_>) -> CmdResult {
    per_member(ctx, |out, score| match score {
        Some(s) => out.bulk(&geohash::base32(s)),
        None => out.null(),
    })
}

fn geopos(ctx: &mut Ctx<'_>) -> CmdResult {
    per_member(ctx, |out, score| match score {
        Some(s) => reply_point(out, geohash::decode_score(s)),
        None => out.null_array(),
    })
}

/// Which command runs `search` (Redis's georadiusGeneric flags).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// GEORADIUS[_RO]: centre and radius at fixed positions.
    Coords { store: bool },
    /// GEORADIUSBYMEMBER[_RO].
    Member { store: bool },
    /// GEOSEARCH / GEOSEARCHSTORE: everything by keyword.
    Search { store: bool },
}

impl Variant {
    /// The index of the first optional argument.
    fn base(self) -> usize {
        match self {
            Variant::Coords { .. } => 6,
            Variant::Member { .. } => 5,
            Variant::Search { store } => 2 + usize::from(store),
        }
    }

    /// Whether `STORE key` / `STOREDIST key` are options.
    fn store_options(self) -> bool {
        matches!(
            self,
            Variant::Coords { store: true } | Variant::Member { store: true }
        )
    }

    fn is_search(self) -> bool {
        matches!(self, Variant::Search { .. })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

fn georadius(ctx: &mut Ctx<'_>) -> CmdResult {
    search(ctx, 1, Variant::Coords { store: true })
}

fn georadius_ro(ctx: &mut Ctx<'_>) -> CmdResult {
    search(ctx, 1, Variant::Coords { store: false })
}

fn georadiusbymember(ctx: &mut Ctx<'_>) -> CmdResult {
    search(ctx, 1, Variant::Member { store: true })
}

fn georadiusbymember_ro(ctx: &mut Ctx<'_>) -> CmdResult {
    search(ctx, 1, Variant::Member { store: false })
}

fn geosearch(ctx: &mut Ctx<'_>) -> CmdResult {
    search(ctx, 1, Variant::Search { store: false })
}

fn geosearchstore(ctx: &mut Ctx<'_>) -> CmdResult {
    search(ctx, 2, Variant::Search { store: true })
}

/// What a search replies or stores.
struct Found {
    points: Vec<Point>,
    conversion: f64,
    count: usize,
    sort: Sort,
    with: With,
    store_dist: bool,
}

/// Redis's georadiusGeneric: argument errors in Redis's order (the source
/// key's type first, a FROMMEMBER/BYMEMBER lookup as it is parsed), then
/// the cell search, the sort, and the reply or the store.
fn search(ctx: &mut Ctx<'_>, src_at: usize, v: Variant) -> CmdResult {
    let src = ctx.key(src_at);
    // Every key this command might write, locked with the source up front.
    let mut keys: SmallVec<[Key<'_>; 4]> = SmallVec::new();
    keys.push(src);
    if v == (Variant::Search { store: true }) {
        keys.push(ctx.key(1));
    } else if v.store_options() {
        for i in v.base()..ctx.argc().saturating_sub(1) {
            if ctx.arg_is(i, "store") || ctx.arg_is(i, "storedist") {
                keys.push(ctx.key(i + 1));
            }
        }
    }
    let mut txn = ctx.lock_keys(&keys);
    let mut store: Option<usize> = matches!(v, Variant::Search { store: true }).then_some(1);
    let found = {
        let z = txn.read_obj::<ZSet>(&src, Lookup::Read)?;
        match parse_and_collect(ctx, v, z, &mut store)? {
            Some(f) => f,
            None => {
                // No source: an empty reply, or the destination deleted.
                match store {
                    Some(d) => {
                        let dst = ctx.key(d);
                        store_result(ctx, &mut txn, &dst, &[], &limits(ctx), "");
                    }
                    None => ctx.out.array(0),
                }
                return Ok(());
            }
        }
    };
    let Found {
        mut points,
        conversion,
        count,
        sort,
        with,
        store_dist,
    } = found;
    if points.is_empty() && store.is_none() {
        ctx.out.array(0);
        return Ok(());
    }
    match sort {
        Sort::None => {}
        Sort::Asc => points.sort_by(|a, b| a.dist.total_cmp(&b.dist)),
        Sort::Desc => points.sort_by(|a, b| b.dist.total_cmp(&a.dist)),
    }
    let returned = if count == 0 {
        points.len()
    } else {
        points.len().min(count)
    };
    points.truncate(returned);
    for p in &mut points {
        p.dist /= conversion;
    }
    let Some(d) = store else {
        reply_points(&mut ctx.out, &points, &with);
        return Ok(());
    };
    let mut items: Vec<(Vec<u8>, f64)> = points
        .into_iter()
        .map(|p| {
            let s = if store_dist { p.dist } else { p.score };
            (p.member, s)
        })
        .collect();
    items.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    let dst = ctx.key(d);
    let event = if v.is_search() {
        "geosearchstore"
    } else {
        "georadiusstore"
    };
    store_result(ctx, &mut txn, &dst, &items, &limits(ctx), event);
    Ok(())
}

/// The WITH* options of a reply.
struct With {
    dist: bool,
    hash: bool,
    coord: bool,
}

fn reply_points(out: &mut Reply<'_>, points: &[Point], w: &With) {
    let extra = usize::from(w.dist) + usize::from(w.hash) + usize::from(w.coord);
    out.array(points.len());
    for p in points {
        if extra > 0 {
            out.array(extra + 1);
        }
        out.bulk(&p.member);
        if w.dist {
            reply_distance(out, p.dist);
        }
        if w.hash {
            out.int(geohash::c_double_to_i64(p.score));
        }
        if w.coord {
            reply_point(out, p.xy);
        }
    }
}

/// Parses the search's arguments against the source set `z` and collects
/// the matching points; `Ok(None)` when the source does not exist (after
/// the checks Redis makes before noticing that). Sets `store` to the
/// destination argument's index.
fn parse_and_collect(
    ctx: &Ctx<'_>,
    v: Variant,
    z: Option<&ZSet>,
    store: &mut Option<usize>,
) -> Result<Option<Found>, CmdError> {
    const UNDECODABLE: CmdError = CmdError::new("ERR could not decode requested zset member");
    let member_xy = |i: usize| -> Result<[f64; 2], CmdError> {
        z.and_then(|z| z.score(ctx.arg(i)))
            .map(geohash::decode_score)
            .ok_or(UNDECODABLE)
    };
    let mut centre = [0.0; 2];
    let mut conversion = 1.0;
    let mut extent = Extent::Radius(0.0);
    match v {
        Variant::Coords { .. } => {
            centre = lon_lat(ctx, 2)?;
            let (r, c) = radius_args(ctx, 4)?;
            (extent, conversion) = (Extent::Radius(r), c);
        }
        Variant::Member { .. } if z.is_some() => {
            centre = member_xy(2)?;
            let (r, c) = radius_args(ctx, 3)?;
            (extent, conversion) = (Extent::Radius(r), c);
        }
        _ => {}
    }
    let (mut with_dist, mut with_hash, mut with_coord) = (false, false, false);
    let (mut from_member, mut from_loc, mut by_radius, mut by_box) = (false, false, false, false);
    let (mut sort, mut any, mut count, mut store_dist) = (Sort::None, false, 0usize, false);
    let base = v.base();
    let remaining = ctx.argc().saturating_sub(base);
    let mut i = 0;
    while i < remaining {
        let at = base + i;
        let is = |w: &str| ctx.arg_is(at, w);
        if is("withdist") {
            with_dist = true;
        } else if is("withhash") {
            with_hash = true;
        } else if is("withcoord") {
            with_coord = true;
        } else if is("any") {
            any = true;
        } else if is("asc") {
            sort = Sort::Asc;
        } else if is("desc") {
            sort = Sort::Desc;
        } else if is("count") && i + 1 < remaining {
            let n = ctx.i64_arg(at + 1)?;
            if n <= 0 {
                return Err(CmdError::new("ERR COUNT must be > 0"));
            }
            count = usize::try_from(n).unwrap_or(usize::MAX);
            i += 1;
        } else if (is("store") || is("storedist")) && i + 1 < remaining && v.store_options() {
            *store = Some(at + 1);
            store_dist = is("storedist");
            i += 1;
        } else if is("storedist") && v == (Variant::Search { store: true }) {
            store_dist = true;
        } else if is("frommember") && i + 1 < remaining && v.is_search() && !from_loc {
            if z.is_some() {
                centre = member_xy(at + 1)?;
            }
            from_member = true;
            i += 1;
        } else if is("fromlonlat") && i + 2 < remaining && v.is_search() && !from_member {
            centre = lon_lat(ctx, at + 1)?;
            from_loc = true;
            i += 2;
        } else if is("byradius") && i + 2 < remaining && v.is_search() && !by_box {
            let (r, c) = radius_args(ctx, at + 1)?;
            (extent, conversion) = (Extent::Radius(r), c);
            by_radius = true;
            i += 2;
        } else if is("bybox") && i + 3 < remaining && v.is_search() && !by_radius {
            (extent, conversion) = box_args(ctx, at + 1)?;
            by_box = true;
            i += 3;
        } else {
            return Err(SYNTAX);
        }
        i += 1;
    }
    if store.is_some() && (with_dist || with_hash || with_coord) {
        return Err(CmdError::new(if v.is_search() {
            "ERR GEOSEARCHSTORE is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        } else {
            "ERR STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        }));
    }
    let name = || String::from_utf8_lossy(ctx.arg(0)).into_owned();
    if v.is_search() && !(from_member || from_loc) {
        return Err(CmdError::owned(format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {}",
            name()
        )));
    }
    if v.is_search() && !(by_radius || by_box) {
        return Err(CmdError::owned(format!(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for {}",
            name()
        )));
    }
    if any && count == 0 {
        return Err(CmdError::new(
            "ERR the ANY argument requires COUNT argument",
        ));
    }
    let Some(z) = z else {
        return Ok(None);
    };
    // COUNT returns the closest N, so it implies ASC (but for ANY).
    if count != 0 && sort == Sort::None && !any {
        sort = Sort::Asc;
    }
    let shape = Shape {
        centre,
        conversion,
        extent,
    };
    Ok(Some(Found {
        points: shape.members(z, if any { count } else { 0 }),
        conversion,
        count,
        sort,
        with: With {
            dist: with_dist,
            hash: with_hash,
            coord: with_coord,
        },
        store_dist,
    }))
}
