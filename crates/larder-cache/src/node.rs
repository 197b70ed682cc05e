//! One cache server — or one Redis Cluster — behind a lazily (re)connected
//! multiplexed RESP connection with connect and response timeouts and a
//! circuit breaker.
//!
//! A single server's connection is a redis-rs `MultiplexedConnection`: one
//! socket shared by every task (requests are pipelined, replies matched in
//! order), cloned per call (an `Arc` bump). A cluster's is redis-rs's async
//! `ClusterConnection`: one multiplexed connection per node, each command
//! routed by the slot of its first key (`EVAL` by its first declared key,
//! `MGET` split by slot), following `MOVED`/`ASK` redirections. Both sit
//! behind [`Conn`], so every caller is written once. A connectivity failure
//! or a timeout drops the connection; the next call reconnects, unless the
//! breaker is open, in which case the call fails at once with
//! `Error::CircuitOpen` — a dead cache costs one atomic load per request,
//! not a connect timeout.
//!
//! Pub/sub and CLIENT TRACKING need a connection to one server of their
//! own: [`Node::direct`] lists the servers they may use (the server itself,
//! or a cluster's seed nodes).

use std::future::Future;
use std::time::Duration;

use parking_lot::Mutex;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::{
    AsyncConnectionConfig, Client, Cmd, FromRedisValue, Pipeline, RedisFuture, RedisResult, Value,
};

use crate::breaker::{Breaker, BreakerConfig};
use crate::error::{is_connectivity, Error, Result};

/// Connection settings for the cache servers.
#[derive(Clone, Debug)]
pub struct Timeouts {
    pub connect: Duration,
    pub response: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_millis(500),
            response: Duration::from_millis(500),
        }
    }
}

/// A connection to a single server or to a cluster.
#[derive(Clone)]
pub enum Conn {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

pub struct Node {
    pub name: String,
    /// The server (one), or a cluster's seed nodes.
    direct: Vec<Client>,
    cluster: Option<ClusterClient>,
    timeouts: Timeouts,
    pub(crate) breaker: Breaker,
    /// Current connection and its generation.
    current: Mutex<Option<(Conn, u64)>>,
    generation: Mutex<u64>,
    connecting: tokio::sync::Mutex<()>,
}

impl Node {
    pub fn new(url: &str, timeouts: Timeouts, breaker: BreakerConfig) -> Result<Node> {
        let client = Client::open(url)?;
        let name = client.get_connection_info().addr.to_string();
        Ok(Node::with(name, vec![client], None, timeouts, breaker))
    }

    /// A Redis Cluster reached through `seeds` (any of its nodes; the
    /// client discovers the rest with `CLUSTER SLOTS`).
    pub fn cluster(seeds: &[String], timeouts: Timeouts, breaker: BreakerConfig) -> Result<Node> {
        let direct = seeds
            .iter()
            .map(|u| Client::open(u.as_str()))
            .collect::<RedisResult<Vec<_>>>()?;
        let client = ClusterClientBuilder::new(seeds.to_vec())
            .connection_timeout(timeouts.connect)
            .response_timeout(timeouts.response)
            .build()?;
        let addrs: Vec<String> = direct
            .iter()
            .map(|c| c.get_connection_info().addr.to_string())
            .collect();
        let name = format!("cluster({})", addrs.join(","));
        Ok(Node::with(name, direct, Some(client), timeouts, breaker))
    }

    fn with(
        name: String,
        direct: Vec<Client>,
        cluster: Option<ClusterClient>,
        timeouts: Timeouts,
        breaker: BreakerConfig,
    ) -> Node {
        Node {
            name,
            direct,
            cluster,
            timeouts,
            breaker: Breaker::new(breaker),
            current: Mutex::new(None),
            generation: Mutex::new(0),
            connecting: tokio::sync::Mutex::new(()),
        }
    }

    /// The servers a dedicated connection (pub/sub, tracking) may go to:
    /// the server itself, or the cluster's seeds (try them in turn).
    pub fn direct(&self) -> &[Client] {
        &self.direct
    }

    /// Whether this node is a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        self.cluster.is_some()
    }

    pub fn timeouts(&self) -> &Timeouts {
        &self.timeouts
    }

    async fn connect(&self) -> RedisResult<Conn> {
        if let Some(c) = &self.cluster {
            return c.get_async_connection().await.map(Conn::Cluster);
        }
        let cfg = AsyncConnectionConfig::new()
            .set_connection_timeout(self.timeouts.connect)
            .set_response_timeout(self.timeouts.response);
        self.direct[0]
            .get_multiplexed_async_connection_with_config(&cfg)
            .await
            .map(Conn::Single)
    }

    async fn conn(&self) -> Result<(Conn, u64)> {
        if let Some(c) = self.current.lock().clone() {
            return Ok(c);
        }
        let _g = self.connecting.lock().await;
        if let Some(c) = self.current.lock().clone() {
            return Ok(c);
        }
        match tokio::time::timeout(self.timeouts.connect, self.connect()).await {
            Ok(Ok(c)) => {
                let gen = {
                    let mut g = self.generation.lock();
                    *g += 1;
                    *g
                };
                *self.current.lock() = Some((c.clone(), gen));
                Ok((c, gen))
            }
            Ok(Err(e)) => {
                self.breaker.failure();
                Err(e.into())
            }
            Err(_) => {
                self.breaker.failure();
                Err(Error::Timeout)
            }
        }
    }

    fn drop_conn(&self, gen: u64) {
        let mut cur = self.current.lock();
        if cur.as_ref().is_some_and(|c| c.1 == gen) {
            *cur = None;
        }
    }

    /// Runs `f` on the connection with the response timeout, feeding the
    /// breaker. Server error replies pass through without counting as failures.
    pub async fn call<T, F, Fut>(&self, f: F) -> Result<T>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        if !self.breaker.allow() {
            return Err(Error::CircuitOpen);
        }
        let (c, gen) = self.conn().await?;
        match tokio::time::timeout(self.timeouts.response, f(c)).await {
            Ok(Ok(v)) => {
                self.breaker.success();
                Ok(v)
            }
            Ok(Err(e)) if is_connectivity(&e) => {
                self.breaker.failure();
                self.drop_conn(gen);
                Err(e.into())
            }
            Ok(Err(e)) => {
                self.breaker.success();
                Err(e.into())
            }
            Err(_) => {
                self.breaker.failure();
                self.drop_conn(gen);
                Err(Error::Timeout)
            }
        }
    }

    /// One command.
    pub async fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T> {
        self.call(|mut c| async move { cmd.query_async(&mut c).await })
            .await
    }
}
