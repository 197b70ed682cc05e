//! One connection to the server: TCP (with TCP_NODELAY) or a Unix socket,
//! and the RESP handshake (AUTH, HELLO 3, SELECT) before the load starts.
//!
//! The driver writes with `try_write` and reads with `read_buf`, and uses
//! the readiness API (`ready`) only when the socket is full, to wait for
//! "readable or writable" at once: no split halves, no locks, no extra
//! tasks per connection.

use std::io;

use anyhow::{anyhow, bail, Context, Result};
use larder_resp::{decode_value, Value};
use tokio::io::{AsyncReadExt, Interest, Ready};
use tokio::net::{TcpStream, UnixStream};

use crate::args::{Addr, Target};
use crate::proto::{resp, Protocol};

pub enum Conn {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Conn {
    pub async fn connect(t: &Target) -> Result<Conn> {
        let mut c = match &t.addr {
            Addr::Tcp(host, port) => {
                let s = TcpStream::connect((host.as_str(), *port))
                    .await
                    .with_context(|| format!("connecting to {t}"))?;
                s.set_nodelay(true)?;
                Conn::Tcp(s)
            }
            Addr::Unix(path) => Conn::Unix(
                UnixStream::connect(path)
                    .await
                    .with_context(|| format!("connecting to {t}"))?,
            ),
        };
        if t.protocol == Protocol::Resp {
            if let Some(pass) = &t.pass {
                match &t.user {
                    Some(u) => c.call(&[b"AUTH", u.as_bytes(), pass.as_bytes()]).await?,
                    None => c.call(&[b"AUTH", pass.as_bytes()]).await?,
                };
            }
            if t.resp3 {
                c.call(&[b"HELLO", b"3"]).await?;
            }
            if let Some(db) = t.db {
                c.call(&[b"SELECT", db.to_string().as_bytes()]).await?;
            }
        }
        Ok(c)
    }

    pub async fn ready(&self, interest: Interest) -> io::Result<Ready> {
        match self {
            Conn::Tcp(s) => s.ready(interest).await,
            Conn::Unix(s) => s.ready(interest).await,
        }
    }

    /// Waits until the socket is readable and reads into `buf`'s spare
    /// capacity. Unlike `try_read_buf`, a short read clears tokio's cached
    /// readiness, saving the `EAGAIN` read per batch. Cancel-safe.
    pub async fn read_buf(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.read_buf(buf).await,
            Conn::Unix(s) => s.read_buf(buf).await,
        }
    }

    /// Reads what is available into `buf`'s spare capacity.
    pub fn try_read_buf(&self, buf: &mut Vec<u8>) -> io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.try_read_buf(buf),
            Conn::Unix(s) => s.try_read_buf(buf),
        }
    }

    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.try_write(buf),
            Conn::Unix(s) => s.try_write(buf),
        }
    }

    /// Sends one command and waits for its reply; an error reply fails.
    async fn call(&mut self, args: &[&[u8]]) -> Result<Value> {
        let mut out = Vec::new();
        resp::write_array_header(&mut out, args.len());
        for a in args {
            resp::write_bulk(&mut out, a);
        }
        let mut sent = 0;
        while sent < out.len() {
            self.ready(Interest::WRITABLE).await?;
            match self.try_write(&out[sent..]) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e.into()),
            }
        }
        let mut buf = Vec::with_capacity(4096);
        let name = String::from_utf8_lossy(args[0]);
        loop {
            match decode_value(&buf) {
                Ok(Some((Value::Error(e), _))) => {
                    bail!("{name} failed: {}", String::from_utf8_lossy(&e))
                }
                Ok(Some((v, _))) => return Ok(v),
                Ok(None) => {}
                Err(e) => return Err(anyhow!("{name}: bad reply: {e}")),
            }
            self.ready(Interest::READABLE).await?;
            buf.reserve(4096);
            match self.try_read_buf(&mut buf) {
                Ok(0) => bail!("{name}: the server closed the connection"),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}
