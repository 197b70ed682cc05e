//! # larder-resp: the RESP codec of Larder
//!
//! Parses client requests (RESP multibulk and inline commands) out of a
//! connection's byte buffer, and encodes RESP2/RESP3 replies straight into an
//! output buffer. No I/O and no knowledge of commands. The oracle for every
//! behaviour is Redis 7.0 (networking.c, util.c): same accepted inputs, same
//! protocol error texts, same reply bytes.
//!
//! * [`request`]: [`RequestParser`], [`Parse`], [`Args`], [`Limits`],
//!   [`ProtocolError`]. Arguments are slices of the caller's buffer; the
//!   parser keeps its place between calls, so input arriving in pieces is
//!   scanned once.
//! * [`reply`]: [`Reply`] writes every RESP3 type with Redis's RESP2
//!   downgrades.
//! * [`number`]: Redis's `string2ll` and `%.17g` formatting.
//! * [`value`]: a small generic decoder of replies ([`decode_value`]) for
//!   tests, the load generator and clients.
//!
//! ## Typical connection loop
//!
//! ```
//! use larder_resp::{Limits, Parse, Protocol, Reply, RequestParser};
//!
//! let limits = Limits::default();
//! let mut parser = RequestParser::new();
//! let mut input: Vec<u8> = b"*1\r\n$4\r\nPING\r\nPING\r\n".to_vec();
//! let mut output = Vec::new();
//! loop {
//!     match parser.parse(&input, &limits) {
//!         Ok(Parse::Request { consumed }) => {
//!             let args = parser.args(&input);
//!             assert_eq!(&args[0], b"PING");
//!             Reply::new(&mut output, Protocol::Resp2).simple(b"PONG");
//!             input.drain(..consumed);
//!         }
//!         Ok(Parse::Skip { consumed }) => {
//!             input.drain(..consumed);
//!         }
//!         Ok(Parse::Incomplete { .. }) => break, // read more, append, retry
//!         Err(e) => {
//!             e.write_reply(&mut output); // "-ERR Protocol error: ...", then close
//!             break;
//!         }
//!     }
//! }
//! assert_eq!(output, b"+PONG\r\n+PONG\r\n");
//! ```
//!
//! ## Fuzzing
//!
//! `fuzz/` holds a cargo-fuzz target (`parse_request`) that feeds arbitrary
//! bytes through [`RequestParser`] in pieces, like a connection, with small
//! limits. It is its own workspace. Run it with a nightly toolchain:
//!
//! ```text
//! cargo install cargo-fuzz
//! cd crates/larder-resp && cargo +nightly fuzz run parse_request
//! ```
//!
//! On a stable toolchain `cargo check --manifest-path
//! crates/larder-resp/fuzz/Cargo.toml` still builds the target (libfuzzer-sys
//! compiles on stable; only running it needs nightly's sanitizer flags).

pub mod number;
pub mod reply;
pub mod request;
pub mod value;

pub use number::{fmt_double_g17, string2ll, write_int_to};
pub use reply::{Protocol, Reply};
pub use request::{Args, Limits, Parse, ProtocolError, RequestParser};
pub use value::{decode_value, DecodeError, Value};
