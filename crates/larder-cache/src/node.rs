//! One cache server: a lazily (re)connected multiplexed RESP connection with
//! connect and response timeouts and a circuit breaker.
//!
//! The connection is a redis-rs `MultiplexedConnection`: one socket shared
//! by every task (requests are pipelined, replies matched in order), cloned
//! per call (an `Arc` bump). A connectivity failure or a timeout drops it;
//! the next call reconnects, unless the breaker is open, in which case the
//! call fails at once with `Error::CircuitOpen` — a dead cache costs one
//! atomic load per request, not a connect timeout.

use std::future::Future;
use std::time::Duration;

use parking_lot::Mutex;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, FromRedisValue, RedisResult};

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

pub struct Node {
    pub name: String,
    client: Client,
    timeouts: Timeouts,
    pub(crate) breaker: Breaker,
    /// Current connection and its generation.
    current: Mutex<Option<(MultiplexedConnection, u64)>>,
    generation: Mutex<u64>,
    connecting: tokio::sync::Mutex<()>,
}

impl Node {
    pub fn new(url: &str, timeouts: Timeouts, breaker: BreakerConfig) -> Result<Node> {
        let client = Client::open(url)?;
        let info = client.get_connection_info();
        Ok(Node {
            name: info.addr.to_string(),
            client,
            timeouts,
            breaker: Breaker::new(breaker),
            current: Mutex::new(None),
            generation: Mutex::new(0),
            connecting: tokio::sync::Mutex::new(()),
        })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn timeouts(&self) -> &Timeouts {
        &self.timeouts
    }

    async fn conn(&self) -> Result<(MultiplexedConnection, u64)> {
        if let Some(c) = self.current.lock().clone() {
            return Ok(c);
        }
        let _g = self.connecting.lock().await;
        if let Some(c) = self.current.lock().clone() {
            return Ok(c);
        }
        let cfg = AsyncConnectionConfig::new()
            .set_connection_timeout(self.timeouts.connect)
            .set_response_timeout(self.timeouts.response);
        let fut = self
            .client
            .get_multiplexed_async_connection_with_config(&cfg);
        match tokio::time::timeout(self.timeouts.connect, fut).await {
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
        F: FnOnce(MultiplexedConnection) -> Fut,
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
