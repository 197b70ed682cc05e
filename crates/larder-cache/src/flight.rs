//! In-process single-flight: at most one load per key at a time in this
//! process; concurrent callers for the same key wait for that load and share
//! its result (value or error).
//!
//! A map from key to a `tokio::sync::OnceCell` holding the result. The first
//! caller's future initializes the cell; the others await it. If the leader
//! is cancelled (its task dropped), the next waiter runs its own future: no
//! caller is left waiting on a load nobody runs. The entry is removed once
//! the result is set, so a later miss loads again.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::OnceCell;

use crate::error::Result;

type Cell = Arc<OnceCell<Result<Bytes>>>;

#[derive(Default)]
pub struct SingleFlight {
    map: Mutex<HashMap<String, Cell>>,
}

impl SingleFlight {
    /// Runs `fut` unless a load of `key` is in flight, in which case its
    /// result is awaited instead. Returns the result and whether this caller
    /// ran the load.
    pub async fn run<F>(&self, key: &str, fut: F) -> (Result<Bytes>, bool)
    where
        F: Future<Output = Result<Bytes>>,
    {
        let cell = self
            .map
            .lock()
            .entry(key.to_string())
            .or_insert_with(|| Arc::new(OnceCell::new()))
            .clone();
        let mut led = false;
        let r = cell
            .get_or_init(|| {
                led = true;
                fut
            })
            .await
            .clone();
        let mut m = self.map.lock();
        if m.get(key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
            m.remove(key);
        }
        (r, led)
    }

    pub fn in_flight(&self, key: &str) -> bool {
        self.map.lock().contains_key(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_load_for_many_callers() {
        let sf = Arc::new(SingleFlight::default());
        let loads = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..100 {
            let (sf, loads) = (sf.clone(), loads.clone());
            tasks.push(tokio::spawn(async move {
                sf.run("k", async {
                    loads.fetch_add(1, SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Ok(Bytes::from_static(b"v"))
                })
                .await
            }));
        }
        let mut leaders = 0;
        for t in tasks {
            let (r, led) = t.await.unwrap();
            assert_eq!(r.unwrap(), Bytes::from_static(b"v"));
            leaders += led as usize;
        }
        assert_eq!(loads.load(SeqCst), 1);
        assert_eq!(leaders, 1);
        assert!(!sf.in_flight("k"));
    }
}
