//! Geohashes as Redis's `geohash.c` / `geohash_helper.c` / `geo.c` compute
//! them: the encoding behind GEOADD and the cell search behind GEORADIUS
//! and GEOSEARCH, over an ordinary sorted set.
//!
//! Encoding: a point's longitude (-180..180) and latitude
//! (-85.05112878..85.05112878, the Web-Mercator limits) are each scaled to a
//! 26-bit cell index; the two indexes are interleaved bit by bit (longitude
//! in the odd bits, latitude in the even ones) into a 52-bit integer, which
//! is the member's score — exact in an `f64`. Decoding returns the centre of
//! the cell, so a stored point moves by up to ~0.6 m. GEOHASH re-encodes
//! that centre against the standard -90..90 latitude range and prints 11
//! base-32 characters (the last one always `0`: 52 bits fill 10.4 of them).
//!
//! Search: the radius (or the box's half-diagonal) picks a precision `step`
//! (Redis's `geohashEstimateStepsByRadius`), the centre's cell at that step
//! plus its 8 neighbours cover the shape, neighbours that lie wholly
//! outside the bounding box are dropped, and each remaining cell is a
//! contiguous score range `[bits << (52 - 2·step), (bits + 1) << ...)` of
//! the sorted set. Every member in those ranges is decoded and kept if its
//! haversine distance (earth radius 6372797.560856 m) puts it inside the
//! shape. Cost: O(log n + m) per cell for m members in the cell; nine cells
//! at most; members in the cells but outside the shape are the waste.
//!
//! Floating-point steps follow the C code operation by operation (and
//! glibc's `sin`/`cos`/`asin`, which Rust's `f64` methods call), so
//! distances and coordinates match Redis to the last printed digit.

use crate::types::zset::ZSet;

pub const STEP_MAX: u8 = 26;
pub const LAT_MIN: f64 = -85.05112878;
pub const LAT_MAX: f64 = 85.05112878;
pub const LONG_MIN: f64 = -180.0;
pub const LONG_MAX: f64 = 180.0;

const D_R: f64 = std::f64::consts::PI / 180.0;
const EARTH_RADIUS_IN_METERS: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;

/// A geohash: `step` bits of each coordinate, interleaved. `step == 0`
/// with no bits is Redis's "zero" hash, an excluded neighbour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Hash {
    pub bits: u64,
    pub step: u8,
}

impl Hash {
    fn is_zero(self) -> bool {
        self.bits == 0 && self.step == 0
    }
}

#[derive(Clone, Copy, Debug)]
struct Range {
    min: f64,
    max: f64,
}

#[derive(Clone, Copy, Debug)]
struct Area {
    lon: Range,
    lat: Range,
}

const LONG_RANGE: Range = Range {
    min: LONG_MIN,
    max: LONG_MAX,
};
const LAT_RANGE: Range = Range {
    min: LAT_MIN,
    max: LAT_MAX,
};

/// Spreads the 32 bits of `x` to the even bits and those of `y` to the odd.
fn interleave64(x: u32, y: u32) -> u64 {
    const B: [u64; 5] = [
        0x5555555555555555,
        0x3333333333333333,
        0x0F0F0F0F0F0F0F0F,
        0x00FF00FF00FF00FF,
        0x0000FFFF0000FFFF,
    ];
    const S: [u32; 5] = [1, 2, 4, 8, 16];
    let (mut x, mut y) = (u64::from(x), u64::from(y));
    for i in (0..5).rev() {
        x = (x | (x << S[i])) & B[i];
        y = (y | (y << S[i])) & B[i];
    }
    x | (y << 1)
}

/// The inverse: even bits in the low half of the result, odd bits in the high.
fn deinterleave64(v: u64) -> u64 {
    const B: [u64; 6] = [
        0x5555555555555555,
        0x3333333333333333,
        0x0F0F0F0F0F0F0F0F,
        0x00FF00FF00FF00FF,
        0x0000FFFF0000FFFF,
        0x00000000FFFFFFFF,
    ];
    const S: [u32; 6] = [0, 1, 2, 4, 8, 16];
    let (mut x, mut y) = (v, v >> 1);
    for i in 0..6 {
        x = (x | (x >> S[i])) & B[i];
        y = (y | (y >> S[i])) & B[i];
    }
    x | (y << 32)
}

/// Redis's `geohashEncode`: `None` outside the Mercator limits or `r`.
fn encode(lon_r: Range, lat_r: Range, lon: f64, lat: f64, step: u8) -> Option<Hash> {
    if !(LONG_MIN..=LONG_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if lat < lat_r.min || lat > lat_r.max || lon < lon_r.min || lon > lon_r.max {
        return None;
    }
    let scale = (1u64 << step) as f64;
    let lat_offset = (lat - lat_r.min) / (lat_r.max - lat_r.min) * scale;
    let lon_offset = (lon - lon_r.min) / (lon_r.max - lon_r.min) * scale;
    Some(Hash {
        bits: interleave64(lat_offset as u32, lon_offset as u32),
        step,
    })
}

/// Redis's `geohashDecode`: the cell's bounds.
fn decode(h: Hash) -> Option<Area> {
    if h.is_zero() {
        return None;
    }
    let sep = deinterleave64(h.bits);
    let ilat = f64::from(sep as u32);
    let ilon = f64::from((sep >> 32) as u32);
    let div = (1u64 << h.step) as f64;
    let lat_scale = LAT_RANGE.max - LAT_RANGE.min;
    let lon_scale = LONG_RANGE.max - LONG_RANGE.min;
    Some(Area {
        lat: Range {
            min: LAT_RANGE.min + (ilat / div) * lat_scale,
            max: LAT_RANGE.min + ((ilat + 1.0) / div) * lat_scale,
        },
        lon: Range {
            min: LONG_RANGE.min + (ilon / div) * lon_scale,
            max: LONG_RANGE.min + ((ilon + 1.0) / div) * lon_scale,
        },
    })
}

/// The cell's centre, clamped to the valid ranges.
fn centre(a: &Area) -> [f64; 2] {
    let lon = ((a.lon.min + a.lon.max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((a.lat.min + a.lat.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    [lon, lat]
}

/// x86-64's `(uint64_t)` of a double as GCC compiles it (Redis applies it
/// to any score, including ones no GEOADD produced).
fn c_double_to_u64(d: f64) -> u64 {
    const TWO63: f64 = 9223372036854775808.0;
    let cvt = |v: f64| -> u64 {
        if v.is_nan() || !(-TWO63..TWO63).contains(&v) {
            1 << 63
        } else {
            v as i64 as u64
        }
    };
    if d.is_nan() || d < TWO63 {
        cvt(d)
    } else {
        cvt(d - TWO63) ^ (1 << 63)
    }
}

/// x86-64's `(long long)` of a double: out of range (or NaN) gives `i64::MIN`.
pub fn c_double_to_i64(d: f64) -> i64 {
    const TWO63: f64 = 9223372036854775808.0;
    if d.is_nan() || !(-TWO63..TWO63).contains(&d) {
        i64::MIN
    } else {
        d as i64
    }
}

/// The score GEOADD stores for a valid point (`None` outside the limits).
pub fn score_of(lon: f64, lat: f64) -> Option<f64> {
    let h = encode(LONG_RANGE, LAT_RANGE, lon, lat, STEP_MAX)?;
    Some(h.bits as f64)
}

/// The point a score stands for (Redis's `decodeGeohash`; any score decodes).
pub fn decode_score(score: f64) -> [f64; 2] {
    let h = Hash {
        bits: c_double_to_u64(score),
        step: STEP_MAX,
    };
    decode(h).map_or([0.0, 0.0], |a| centre(&a))
}

/// GEOHASH's 11-character standard geohash of a score.
pub fn base32(score: f64) -> [u8; 11] {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let [lon, lat] = decode_score(score);
    let std_lat = Range {
        min: -90.0,
        max: 90.0,
    };
    let bits = encode(LONG_RANGE, std_lat, lon, lat, STEP_MAX).map_or(0, |h| h.bits);
    let mut out = [b'0'; 11];
    for (i, c) in out.iter_mut().enumerate().take(10) {
        *c = ALPHABET[((bits >> (52 - (i + 1) * 5)) & 0x1f) as usize];
    }
    out
}

/// Haversine distance in meters (Redis 7.0's `geohashGetDistance`).
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let (lat1r, lon1r) = (lat1 * D_R, lon1 * D_R);
    let (lat2r, lon2r) = (lat2 * D_R, lon2 * D_R);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let v = ((lon2r - lon1r) / 2.0).sin();
    2.0 * EARTH_RADIUS_IN_METERS * (u * u + lat1r.cos() * lat2r.cos() * v * v).sqrt().asin()
}

/// The area a search covers, in its own unit (`conversion` meters each).
#[derive(Clone, Copy, Debug)]
pub enum Extent {
    Radius(f64),
    Box { width: f64, height: f64 },
}

/// A GEORADIUS / GEOSEARCH shape: a centre and an extent.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub centre: [f64; 2],
    pub conversion: f64,
    pub extent: Extent,
}

/// A member found inside a shape.
#[derive(Clone, Debug)]
pub struct Point {
    pub member: Vec<u8>,
    pub score: f64,
    pub xy: [f64; 2],
    /// Meters from the centre.
    pub dist: f64,
}

impl Shape {
    /// Half the height and half the width in meters.
    fn half_sizes(&self) -> (f64, f64) {
        match self.extent {
            Extent::Radius(r) => (r * self.conversion, r * self.conversion),
            Extent::Box { width, height } => (
                self.conversion * (height / 2.0),
                self.conversion * (width / 2.0),
            ),
        }
    }

    /// Redis's `geohashBoundingBox`: [min lon, min lat, max lon, max lat].
    fn bounding_box(&self) -> [f64; 4] {
        let [lon, lat] = self.centre;
        let (height, width) = self.half_sizes();
        let lat_delta = height / EARTH_RADIUS_IN_METERS / D_R;
        let lon_delta_top = width / EARTH_RADIUS_IN_METERS / ((lat + lat_delta) * D_R).cos() / D_R;
        let lon_delta_bottom =
            width / EARTH_RADIUS_IN_METERS / ((lat - lat_delta) * D_R).cos() / D_R;
        let delta = if lat < 0.0 {
            lon_delta_bottom
        } else {
            lon_delta_top
        };
        [lon - delta, lat - lat_delta, lon + delta, lat + lat_delta]
    }

    /// Redis's `geohashCalculateAreasByShapeWGS84`: the centre cell, then
    /// N, S, E, W, NE, NW, SE, SW (zero where excluded).
    fn cells(&self) -> [Hash; 9] {
        let [min_lon, min_lat, max_lon, max_lat] = self.bounding_box();
        let [lon, lat] = self.centre;
        let radius = match self.extent {
            Extent::Radius(r) => r,
            Extent::Box { width, height } => {
                ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
            }
        } * self.conversion;
        let mut step = estimate_steps(radius, lat);
        let at = |step| encode(LONG_RANGE, LAT_RANGE, lon, lat, step).unwrap_or_default();
        let mut hash = at(step);
        let mut n = neighbors(hash);
        let [north, south, east, west] = [n[0], n[1], n[2], n[3]].map(decode);
        let decrease = north.is_some_and(|a| a.lat.max < max_lat)
            || south.is_some_and(|a| a.lat.min > min_lat)
            || east.is_some_and(|a| a.lon.max < max_lon)
            || west.is_some_and(|a| a.lon.min > min_lon);
        if step > 1 && decrease {
            step -= 1;
            hash = at(step);
            n = neighbors(hash);
        }
        // [N, S, E, W, NE, NW, SE, SW]
        if step >= 2 {
            if let Some(area) = decode(hash) {
                let zero = |n: &mut [Hash; 8], idx: [usize; 3]| {
                    for i in idx {
                        n[i] = Hash::default();
                    }
                };
                if area.lat.min < min_lat {
                    zero(&mut n, [1, 7, 6]);
                }
                if area.lat.max > max_lat {
                    zero(&mut n, [0, 4, 5]);
                }
                if area.lon.min < min_lon {
                    zero(&mut n, [3, 7, 5]);
                }
                if area.lon.max > max_lon {
                    zero(&mut n, [2, 6, 4]);
                }
            }
        }
        [hash, n[0], n[1], n[2], n[3], n[4], n[5], n[6], n[7]]
    }

    /// Redis's `geoWithinShape`: the distance of `xy` from the centre in
    /// meters if it lies inside.
    fn contains(&self, xy: [f64; 2]) -> Option<f64> {
        let [x1, y1] = self.centre;
        let [x2, y2] = xy;
        match self.extent {
            Extent::Radius(r) => {
                let d = distance(x1, y1, x2, y2);
                (d <= r * self.conversion).then_some(d)
            }
            Extent::Box { width, height } => {
                let lon_d = distance(x2, y2, x1, y2);
                let lat_d = distance(x2, y2, x2, y1);
                if lon_d > width * self.conversion / 2.0 || lat_d > height * self.conversion / 2.0 {
                    return None;
                }
                Some(distance(x1, y1, x2, y2))
            }
        }
    }

    /// Redis's `membersOfAllNeighbors`: the members of `z` inside the
    /// shape, cell by cell, stopping once `limit` (0 = none) are found.
    pub fn members(&self, z: &ZSet, limit: usize) -> Vec<Point> {
        let cells = self.cells();
        let mut found = Vec::new();
        let mut last = 0;
        for (i, &cell) in cells.iter().enumerate() {
            if cell.is_zero() {
                continue;
            }
            // Huge radii make neighbours repeat: skip a cell equal to the
            // one processed just before (Redis's check, `last != 0` included).
            if last != 0 && cell == cells[last] {
                continue;
            }
            if limit != 0 && found.len() >= limit {
                break;
            }
            self.cell_members(z, cell, &mut found, limit);
            last = i;
        }
        found
    }

    /// Redis's `geoGetPointsInRange` over one cell's score range.
    fn cell_members(&self, z: &ZSet, cell: Hash, found: &mut Vec<Point>, limit: usize) {
        let shift = 52 - 2 * u32::from(cell.step);
        let min = (cell.bits << shift) as f64;
        let max = ((cell.bits + 1) << shift) as f64;
        let Some(first) = z.first_not(|s, _| s < min) else {
            return;
        };
        let Some(last) = z.last_where(|s, _| s < max) else {
            return;
        };
        if first > last {
            return;
        }
        let mut done = false;
        z.range(first, last, false, |m, score| {
            if done {
                return;
            }
            let xy = decode_score(score);
            if let Some(dist) = self.contains(xy) {
                found.push(Point {
                    member: m.to_vec(),
                    score,
                    xy,
                    dist,
                });
            }
            done = limit != 0 && found.len() >= limit;
        });
    }
}

/// Redis's `geohashEstimateStepsByRadius`.
fn estimate_steps(mut range: f64, lat: f64) -> u8 {
    if range == 0.0 {
        return STEP_MAX;
    }
    let mut step: i32 = 1;
    while range < MERCATOR_MAX {
        range *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, i32::from(STEP_MAX)) as u8
}

/// Redis's `geohash_move_x` / `geohash_move_y` for one axis: `mask` picks
/// the axis's bits (odd for longitude, even for latitude).
fn move_axis(h: Hash, d: i8, axis: u64) -> Hash {
    if d == 0 || h.step == 0 {
        return h;
    }
    let keep = h.bits & !axis;
    let mut v = h.bits & axis;
    let width = 64 - u32::from(h.step) * 2;
    let zz = !axis >> width;
    if d > 0 {
        v = v.wrapping_add(zz + 1);
    } else {
        v = (v | zz).wrapping_sub(zz + 1);
    }
    v &= axis >> width;
    Hash {
        bits: v | keep,
        step: h.step,
    }
}

/// The 8 neighbours: N, S, E, W, NE, NW, SE, SW.
fn neighbors(h: Hash) -> [Hash; 8] {
    const X: u64 = 0xaaaaaaaaaaaaaaaa;
    const Y: u64 = 0x5555555555555555;
    let mv = |dx: i8, dy: i8| move_axis(move_axis(h, dx, X), dy, Y);
    [
        mv(0, 1),
        mv(0, -1),
        mv(1, 0),
        mv(-1, 0),
        mv(1, 1),
        mv(-1, 1),
        mv(1, -1),
        mv(-1, -1),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_redis() {
        // GEOADD Sicily 13.361389 38.115556 Palermo -> 3479099956230698.
        assert_eq!(score_of(13.361389, 38.115556), Some(3479099956230698.0));
        assert_eq!(&base32(3479099956230698.0), b"sqc8b49rny0");
        let [lon, lat] = decode_score(3479099956230698.0);
        assert_eq!(format!("{lon:.17}"), "13.36138933897018433");
        assert_eq!(format!("{lat:.17}"), "38.11555639549629859");
        assert_eq!(score_of(181.0, 0.0), None);
    }

    #[test]
    fn interleave_round_trips() {
        let v = interleave64(0x0123_4567, 0x89ab_cdef);
        assert_eq!(deinterleave64(v), 0x89ab_cdef_0123_4567);
    }

    #[test]
    fn distance_palermo_catania() {
        let a = decode_score(3479099956230698.0);
        let b = decode_score(3479447370796909.0);
        assert_eq!(
            format!("{:.4}", distance(a[0], a[1], b[0], b[1])),
            "166274.1516"
        );
    }
}
