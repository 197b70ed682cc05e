//! Hit-ratio curves as a hand-written SVG: one panel per trace, one line per
//! policy over the cache sizes (log-scaled x axis when the sizes span more
//! than a factor of 8), y from 0 to the next 10% above the best ratio.

use std::fmt::Write;

use crate::Row;

const W: f64 = 720.0;
const H: f64 = 360.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 170.0;
const TOP: f64 = 34.0;
const BOTTOM: f64 = 46.0;
const COLORS: [&str; 14] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#000000", "#aec7e8", "#ffbb78", "#98df8a",
];

fn unique<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The SVG document for `rows`; `unit` labels the x axis.
pub fn svg(rows: &[Row], unit: &str) -> String {
    let traces = unique(rows.iter().map(|r| r.trace.as_str()));
    let mut s = String::new();
    let total_h = H * traces.len().max(1) as f64;
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{total_h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    for (t, trace) in traces.iter().enumerate() {
        let mine: Vec<&Row> = rows.iter().filter(|r| r.trace == *trace).collect();
        panel(&mut s, &mine, trace, unit, H * t as f64);
    }
    s.push_str("</svg>\n");
    s
}

fn panel(s: &mut String, rows: &[&Row], trace: &str, unit: &str, y0: f64) {
    let mut sizes: Vec<u64> = rows.iter().map(|r| r.size).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let (lo, hi) = (
        *sizes.first().unwrap_or(&1) as f64,
        *sizes.last().unwrap_or(&1) as f64,
    );
    let log = hi / lo.max(1.0) > 8.0;
    let (plot_w, plot_h) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let xf = |size: u64| {
        let v = size as f64;
        let f = if hi <= lo {
            0.5
        } else if log {
            (v.ln() - lo.ln()) / (hi.ln() - lo.ln())
        } else {
            (v - lo) / (hi - lo)
        };
        LEFT + f * plot_w
    };
    let best = rows.iter().map(|r| r.hit_ratio()).fold(0.0, f64::max);
    let ymax = ((best * 10.0).floor() + 1.0).min(10.0) / 10.0;
    let yf = |ratio: f64| y0 + TOP + plot_h * (1.0 - ratio / ymax);

    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" font-size="14" font-weight="bold">{}</text>"#,
        LEFT,
        y0 + 20.0,
        escape(trace)
    );
    // Grid and y labels, every 10%.
    let steps = (ymax * 10.0).round() as usize;
    for i in 0..=steps {
        let r = i as f64 / 10.0;
        let y = yf(r);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}%</text>"##,
            LEFT + plot_w,
            LEFT - 6.0,
            y + 4.0,
            i * 10
        );
    }
    for &size in &sizes {
        let x = xf(size);
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="#999"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{size}</text>"##,
            yf(0.0),
            yf(0.0) + 4.0,
            yf(0.0) + 17.0
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">cache size ({unit}{})</text>"#,
        LEFT + plot_w / 2.0,
        y0 + H - 10.0,
        if log { ", log scale" } else { "" }
    );
    let policies = unique(rows.iter().map(|r| r.policy.as_str()));
    for (i, p) in policies.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let mut pts: Vec<(f64, f64)> = rows
            .iter()
            .filter(|r| r.policy == *p)
            .map(|r| (xf(r.size), yf(r.hit_ratio())))
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let path: Vec<String> = pts.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
            path.join(" ")
        );
        for (x, y) in &pts {
            let _ = writeln!(
                s,
                r#"<circle cx="{x:.1}" cy="{y:.1}" r="3" fill="{color}"/>"#
            );
        }
        let ly = y0 + TOP + 16.0 * i as f64 + 6.0;
        let lx = LEFT + plot_w + 14.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{color}" stroke-width="3"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            lx + 18.0,
            lx + 24.0,
            ly + 4.0,
            escape(p)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_a_line_per_policy() {
        let row = |size, policy: &str, hits| Row {
            trace: "t<1>".into(),
            size,
            policy: policy.into(),
            requests: 100,
            hits,
        };
        let rows = vec![
            row(10, "lru", 10),
            row(100, "lru", 40),
            row(10, "arc", 20),
            row(100, "arc", 55),
        ];
        let out = svg(&rows, "entries");
        assert!(out.starts_with("<svg"));
        assert_eq!(out.matches("<polyline").count(), 2);
        assert!(out.contains("t&lt;1&gt;"));
        assert!(out.contains("log scale"));
        assert!(out.contains(">60%<"));
        assert!(!out.contains(">70%<"));
    }
}
