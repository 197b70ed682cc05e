//! `oom-score-adj`: Redis's setOOMScoreAdj. While it is on, the process's
//! `/proc/self/oom_score_adj` is the `oom-score-adj-values` entry for its
//! role (master, replica) — added to the score the process had when it was
//! first turned on (`yes`/`relative`), or as is (`absolute`), within
//! -1000..1000. Turned off, that score is put back. The third value is for
//! Redis's forked children: Larder saves from a thread, so it has no
//! process to go to.
//!
//! Set at startup, by CONFIG SET of either directive (a failure refuses
//! the change) and when REPLICAOF changes the role.

use parking_lot::Mutex;

use crate::config::Config;

const PROC_FILE: &str = "/proc/self/oom_score_adj";

/// The score before Larder first changed it, while it is changed.
static BASE: Mutex<Option<i64>> = Mutex::new(None);

fn directive(c: &Config, name: &str) -> String {
    crate::directives::find(name).map_or_else(String::new, |d| (d.get)(c))
}

/// Sets the score `c` calls for, for a master or a `replica`.
pub fn apply(c: &Config, replica: bool) -> std::io::Result<()> {
    let mode = directive(c, "oom-score-adj");
    let mut base = BASE.lock();
    let score = if mode == "no" {
        match base.take() {
            Some(b) => b,
            None => return Ok(()),
        }
    } else {
        let b = match *base {
            Some(b) => b,
            None => {
                let text = std::fs::read_to_string(PROC_FILE)?;
                let b = text.trim().parse().map_err(std::io::Error::other)?;
                *base.insert(b)
            }
        };
        let values = directive(c, "oom-score-adj-values");
        let v: i64 = values
            .split_whitespace()
            .nth(usize::from(replica))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let v = if mode == "absolute" { v } else { v + b };
        v.clamp(-1000, 1000)
    };
    std::fs::write(PROC_FILE, format!("{score}\n")).inspect_err(|e| {
        tracing::warn!("Unable to write oom_score_adj: {e}");
    })
}

/// Checks `oom-score-adj-values` as Redis does (three integers in
/// -2000..2000, read by strtoll) and gives them back as Redis prints them.
pub fn check_values(v: &str) -> Result<String, String> {
    let words: Vec<&str> = v.split(' ').collect();
    if words.len() != 3 {
        return Err("wrong number of arguments".into());
    }
    let mut out = Vec::with_capacity(3);
    for w in words {
        let w = w.trim_start();
        let n = if w.is_empty() {
            Some(0)
        } else {
            w.parse::<i64>().ok()
        };
        match n.filter(|n| (-2000..=2000).contains(n)) {
            Some(n) => out.push(n.to_string()),
            None => {
                return Err(
                    "Invalid oom-score-adj-values, elements must be between -2000 and 2000.".into(),
                )
            }
        }
    }
    Ok(out.join(" "))
}
