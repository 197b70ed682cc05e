//! The connection driver and the worker threads.
//!
//! `--threads` OS threads each run a single-threaded tokio runtime with
//! their share of the `--clients` connections (connection `i` on thread
//! `i mod threads`), like memtier_benchmark's libevent threads: no work
//! stealing, no cross-thread wakeups, and per-thread [`Stats`] shared by the
//! thread's connections without locks.
//!
//! A connection keeps up to `--pipeline` requests in flight, in a FIFO of
//! [`Flight`]s (the start time and [`Req`] tag of each), matching replies in
//! order. It writes with `try_write` as soon as requests are produced, and
//! waits for readiness only when the socket is full or for replies; every
//! read is parsed with the protocol's reply skipper and timed with one clock
//! read for the whole batch (as redis-benchmark does).
//!
//! * Closed loop: a new request is produced as soon as a slot frees; its
//!   start time is when it is produced.
//! * Open loop (`--rate`): each connection has a fixed schedule
//!   (`first + i / rate_per_conn`, the first times of the connections
//!   staggered over one interval). A request is produced when its time has
//!   come and a slot is free; its latency counts from the *intended* time,
//!   so a server stall that delays later sends is charged to those requests
//!   (no coordinated omission). Arrivals are timed by a timerfd (`timer`),
//!   not tokio's 1 ms timer wheel. How late the generator itself sends
//!   (timer slack, a busy thread: the time from "due, with a free slot" to
//!   the send) is recorded separately (`generator lag` in the report) so
//!   it can be told apart from the server's share; waiting for a free slot
//!   behind slow replies is the server's share and is not in it.
//!
//! Warm-up: requests whose start time is before `measure_start` are sent
//! and answered but not recorded and not drawn from the `--requests`
//! budget. The budget is claimed from a shared atomic in chunks of
//! [`CHUNK`] requests; the deadline stops new requests and in-flight ones
//! are still awaited and recorded.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Barrier, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use tokio::io::Interest;
use tokio::sync::Notify;

use crate::args::Target;
use crate::conn::Conn;
use crate::proto::{first_line, Protocol};
use crate::stats::Stats;
use crate::timer::{self, Timer};
use crate::workload::{Acct, Gen, Req, Workload};

/// Requests claimed from the shared budget at a time.
const CHUNK: u64 = 16;

/// How often threads publish their stats (for the progress line).
const FLUSH_EVERY: Duration = Duration::from_millis(250);

/// The shape of the load.
#[derive(Clone, Debug)]
pub struct Load {
    pub clients: usize,
    pub threads: usize,
    pub pipeline: usize,
    pub requests: Option<u64>,
    pub duration: Option<Duration>,
    /// Requests per second per connection (open loop).
    pub rate_per_conn: Option<f64>,
    pub warmup: Duration,
}

/// Run-wide control, shared by all connections.
struct Control {
    start: Instant,
    measure_start: Instant,
    deadline: Option<Instant>,
    budget: Option<AtomicU64>,
    stop: AtomicBool,
}

impl Control {
    /// Up to `want` requests from the budget; 0 when it is spent.
    fn claim(&self, want: u64) -> u64 {
        let Some(b) = &self.budget else {
            return want;
        };
        let mut left = b.load(Relaxed);
        loop {
            let take = left.min(want);
            if take == 0 {
                return 0;
            }
            match b.compare_exchange_weak(left, left - take, Relaxed, Relaxed) {
                Ok(_) => return take,
                Err(now) => left = now,
            }
        }
    }
}

/// One request in flight.
struct Flight {
    start: Instant,
    req: Req,
    measured: bool,
}

/// An open-loop connection's arrival times, and its precise timer.
struct Schedule {
    first: Instant,
    interval_s: f64,
    i: u64,
    next: Instant,
    timer: Timer,
}

impl Schedule {
    fn new(first: Instant, interval_s: f64) -> io::Result<Schedule> {
        Ok(Schedule {
            first,
            interval_s,
            i: 0,
            next: first,
            timer: Timer::new()?,
        })
    }

    fn advance(&mut self) {
        self.i += 1;
        self.next = self.first + Duration::from_secs_f64(self.i as f64 * self.interval_s);
    }
}

/// The results of one run.
pub struct Outcome {
    pub stats: Stats,
    /// From the end of warm-up to the last reply.
    pub elapsed: Duration,
}

/// Runs `workload` against `target` with `load`, calling `progress` with
/// the stats so far (about once a second) until it ends.
pub fn run_load(
    target: &Target,
    load: &Load,
    workload: &Arc<Workload>,
    mut progress: impl FnMut(&Stats, Duration, bool),
) -> Result<Outcome> {
    let commands = workload.command_names().len();
    let shared = Arc::new(Mutex::new(Stats::new(commands)));
    let ctl: Arc<OnceLock<Arc<Control>>> = Arc::new(OnceLock::new());
    let barrier = Arc::new(Barrier::new(load.threads + 1));
    let failed = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for tid in 0..load.threads {
        let (target, load, workload) = (target.clone(), load.clone(), workload.clone());
        let (shared, ctl, barrier) = (shared.clone(), ctl.clone(), barrier.clone());
        let failed = failed.clone();
        let h = std::thread::Builder::new()
            .name(format!("bench-{tid}"))
            .spawn(move || -> Result<Option<Instant>> {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                let conns = match &rt {
                    Ok(rt) => rt.block_on(async {
                        let mut v = Vec::new();
                        for id in (tid..load.clients).step_by(load.threads) {
                            v.push((id, Conn::connect(&target).await?));
                        }
                        anyhow::Ok(v)
                    }),
                    Err(e) => Err(anyhow!("tokio runtime: {e}")),
                };
                if rt.is_err() || conns.is_err() {
                    failed.store(true, Relaxed);
                }
                barrier.wait(); // everyone connected (or failed)
                barrier.wait(); // the control block is set
                let (rt, conns) = (rt?, conns?);
                let Some(ctl) = ctl.get().cloned() else {
                    return Ok(None); // another thread failed to connect
                };
                let local = tokio::task::LocalSet::new();
                local
                    .block_on(&rt, thread_main(conns, load, workload, ctl, shared))
                    .map(Some)
            })?;
        handles.push(h);
    }
    barrier.wait();
    let start = Instant::now();
    let measure_start = start + load.warmup;
    if !failed.load(Relaxed) {
        let _ = ctl.set(Arc::new(Control {
            start,
            measure_start,
            deadline: load.duration.map(|d| measure_start + d),
            budget: load.requests.map(AtomicU64::new),
            stop: AtomicBool::new(false),
        }));
    }
    barrier.wait();
    let mut last_tick = Instant::now();
    while !handles.iter().all(|h| h.is_finished()) {
        std::thread::sleep(Duration::from_millis(50));
        if last_tick.elapsed() >= Duration::from_secs(1) {
            last_tick = Instant::now();
            let now = Instant::now();
            let s = shared.lock().unwrap_or_else(|e| e.into_inner());
            progress(
                &s,
                now.saturating_duration_since(measure_start),
                now < measure_start,
            );
        }
    }
    let mut end = measure_start;
    let mut first_err = None;
    for h in handles {
        match h.join() {
            Ok(Ok(Some(t))) => end = end.max(t),
            Ok(Ok(None)) => {}
            Ok(Err(e)) => {
                first_err.get_or_insert(e);
            }
            Err(_) => {
                first_err.get_or_insert(anyhow!("a bench thread panicked"));
            }
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    let stats = Arc::try_unwrap(shared)
        .map_err(|_| anyhow!("stats still shared"))?
        .into_inner()
        .unwrap_or_else(|e| e.into_inner());
    Ok(Outcome {
        stats,
        elapsed: end.saturating_duration_since(measure_start),
    })
}

/// One worker thread: drives its connections, publishes stats every
/// [`FLUSH_EVERY`], returns when the last connection finished.
async fn thread_main(
    conns: Vec<(usize, Conn)>,
    load: Load,
    workload: Arc<Workload>,
    ctl: Arc<Control>,
    shared: Arc<Mutex<Stats>>,
) -> Result<Instant> {
    let local = Rc::new(RefCell::new(Stats::new(workload.command_names().len())));
    if load.rate_per_conn.is_some() {
        timer::tighten_slack();
    }
    let mut tasks = Vec::new();
    for (id, conn) in conns {
        let gen = Gen::new(workload.clone(), id, load.clients);
        let sched = match load.rate_per_conn {
            Some(rate) => {
                let interval = 1.0 / rate;
                let offset = interval * id as f64 / load.clients as f64;
                let first = ctl.start + Duration::from_secs_f64(offset);
                Some(Schedule::new(first, interval)?)
            }
            None => None,
        };
        let (ctl, local) = (ctl.clone(), local.clone());
        let (pipeline, proto) = (load.pipeline, workload.protocol);
        tasks.push(tokio::task::spawn_local(async move {
            let r = drive(conn, gen, &ctl, &local, pipeline, sched, proto).await;
            if r.is_err() {
                ctl.stop.store(true, Relaxed);
            }
            r
        }));
    }
    let done = Rc::new(Notify::new());
    let flusher = {
        let (local, shared, done) = (local.clone(), shared.clone(), done.clone());
        tokio::task::spawn_local(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(FLUSH_EVERY) => flush(&local, &shared),
                    _ = done.notified() => break,
                }
            }
        })
    };
    let mut result = Ok(());
    for t in tasks {
        let r = t
            .await
            .unwrap_or_else(|e| Err(anyhow!("connection task failed: {e}")));
        if let (Err(e), Ok(())) = (r, &result) {
            result = Err(e);
        }
    }
    let end = Instant::now();
    done.notify_one();
    let _ = flusher.await;
    flush(&local, &shared);
    result.map(|()| end)
}

fn flush(local: &RefCell<Stats>, shared: &Mutex<Stats>) {
    let mut l = local.borrow_mut();
    shared.lock().unwrap_or_else(|e| e.into_inner()).merge(&l);
    l.reset();
}

/// One connection's request/reply loop; see the module comment.
async fn drive(
    mut conn: Conn,
    mut gen: Gen,
    ctl: &Control,
    stats: &RefCell<Stats>,
    pipeline: usize,
    mut sched: Option<Schedule>,
    proto: Protocol,
) -> Result<()> {
    let mut out: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut written = 0usize;
    let mut inbuf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut inflight: VecDeque<Flight> = VecDeque::with_capacity(pipeline);
    let mut credits = 0u64;
    let mut stopped = false;
    let mut now = Instant::now();
    // When replies last freed pipeline slots (for the generator's lag).
    let mut freed = now;
    loop {
        // Produce what may go out now.
        let mut exhausted = false;
        while !stopped && inflight.len() < pipeline {
            let start = match &sched {
                Some(s) if s.next > now => break,
                Some(s) => s.next,
                None => now,
            };
            if ctl.deadline.is_some_and(|d| start >= d) || ctl.stop.load(Relaxed) {
                stopped = true;
                break;
            }
            let measured = start >= ctl.measure_start;
            if measured && credits == 0 {
                credits = ctl.claim(CHUNK);
                if credits == 0 {
                    stopped = true;
                    break;
                }
            }
            let Some(req) = gen.next(&mut out) else {
                exhausted = true;
                break;
            };
            if measured {
                credits -= 1;
            }
            if let Some(s) = &mut sched {
                if measured {
                    // Late by the generator's own doing: since the request
                    // was due *and* had a free slot.
                    let lag = now.saturating_duration_since(start.max(freed));
                    stats.borrow_mut().record_lag(lag.as_nanos() as u64);
                }
                s.advance();
            }
            inflight.push_back(Flight {
                start,
                req,
                measured,
            });
        }
        if inflight.is_empty() {
            if stopped || exhausted {
                return Ok(());
            }
            // Open loop, idle until the next arrival.
            if let Some(s) = &sched {
                s.timer.sleep_until(s.next).await?;
            }
            now = Instant::now();
            continue;
        }
        if written < out.len() {
            match conn.try_write(&out[written..]) {
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e.into()),
            }
            if written == out.len() {
                out.clear();
                written = 0;
            }
        }
        if inbuf.capacity() - inbuf.len() < 16 * 1024 {
            inbuf.reserve(64 * 1024);
        }
        let n = if written < out.len() {
            // The socket is full: wait for room or for replies.
            let r = conn.ready(Interest::READABLE | Interest::WRITABLE).await?;
            if !r.is_readable() {
                now = Instant::now();
                continue;
            }
            match conn.try_read_buf(&mut inbuf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e.into()),
            }
        } else {
            match &sched {
                Some(s) if !stopped && inflight.len() < pipeline => {
                    tokio::select! {
                        biased;
                        r = conn.read_buf(&mut inbuf) => r?,
                        r = s.timer.sleep_until(s.next) => {
                            r?;
                            now = Instant::now();
                            continue;
                        }
                    }
                }
                _ => conn.read_buf(&mut inbuf).await?,
            }
        };
        if n == 0 {
            bail!("the server closed the connection");
        }
        now = Instant::now();
        let mut pos = 0;
        let mut st = stats.borrow_mut();
        while pos < inbuf.len() {
            let (n, o) = match proto.skip_reply(&inbuf[pos..]) {
                Ok(Some(x)) => x,
                Ok(None) => break,
                Err(e) => bail!("{e}: {:?}", first_line(&inbuf[pos..])),
            };
            let Some(f) = inflight.pop_front() else {
                bail!("a reply to no request: {:?}", first_line(&inbuf[pos..]));
            };
            let (hits, misses) = match f.req.acct {
                Acct::None => (0, 0),
                Acct::Keys(w) => {
                    let hits = o.hits.min(u32::from(w));
                    (hits, u32::from(w) - hits)
                }
                Acct::Reply => (o.hits, o.nulls),
            };
            if misses > 0 && !o.error {
                gen.on_miss(f.req.trace);
            }
            if f.measured {
                let ns = now.saturating_duration_since(f.start).as_nanos() as u64;
                if o.error {
                    st.record_error(f.req.cmd, ns, || first_line(&inbuf[pos..pos + n]));
                } else {
                    st.record(f.req.cmd, ns, u64::from(hits), u64::from(misses));
                }
            }
            pos += n;
        }
        drop(st);
        if pos > 0 {
            freed = now;
        }
        inbuf.drain(..pos);
    }
}
