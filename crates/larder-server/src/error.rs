//! Command errors: the exact texts Redis replies with.
//!
//! A handler returns `Err(CmdError)`; the dispatcher writes it as a RESP
//! error and counts it (but for a relayed one, counted where it arose).
//! Static texts cost nothing; formatted ones allocate only on the error
//! path.

use std::borrow::Cow;

/// An error reply's text, and whether it relays an error already counted
/// in INFO errorstats: a script's error that a command it called replied
/// (Redis's `ERR_REPLY_FLAG_NO_STATS_UPDATE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdError(pub Cow<'static, str>, bool);

pub type CmdResult = Result<(), CmdError>;

impl CmdError {
    pub const fn new(text: &'static str) -> CmdError {
        CmdError(Cow::Borrowed(text), false)
    }

    pub fn owned(text: String) -> CmdError {
        CmdError(Cow::Owned(text), false)
    }

    /// An error counted already (see the type).
    pub fn relayed(text: String) -> CmdError {
        CmdError(Cow::Owned(text), true)
    }

    pub fn is_relayed(&self) -> bool {
        self.1
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

pub const SYNTAX: CmdError = CmdError::new("ERR syntax error");
pub const WRONGTYPE: CmdError =
    CmdError::new("WRONGTYPE Operation against a key holding the wrong kind of value");
pub const NOT_INTEGER: CmdError = CmdError::new("ERR value is not an integer or out of range");
pub const NOT_FLOAT: CmdError = CmdError::new("ERR value is not a valid float");
pub const NO_SUCH_KEY: CmdError = CmdError::new("ERR no such key");
pub const DB_RANGE: CmdError = CmdError::new("ERR DB index is out of range");
pub const OVERFLOW: CmdError = CmdError::new("ERR increment or decrement would overflow");
pub const OOM: CmdError = CmdError::new("OOM command not allowed when used memory > 'maxmemory'.");
pub const NOAUTH: CmdError = CmdError::new("NOAUTH Authentication required.");
pub const LOADING: CmdError = CmdError::new("LOADING Redis is loading the dataset in memory");
pub const STRING_TOO_LONG: CmdError =
    CmdError::new("ERR string exceeds maximum allowed size (proto-max-bulk-len)");

impl From<larder_engine::WrongType> for CmdError {
    fn from(_: larder_engine::WrongType) -> CmdError {
        WRONGTYPE
    }
}

/// `ERR wrong number of arguments for 'get' command` (name as given in the table,
/// `container|sub` for subcommands).
pub fn wrong_arity(name: &str) -> CmdError {
    CmdError::owned(format!(
        "ERR wrong number of arguments for '{name}' command"
    ))
}

/// `ERR unknown subcommand 'foo'. Try CONFIG HELP.`
pub fn unknown_subcommand(sub: &[u8], container: &str) -> CmdError {
    CmdError::owned(format!(
        "ERR unknown subcommand '{}'. Try {} HELP.",
        truncate_lossy(sub, 128),
        container.to_ascii_uppercase()
    ))
}

/// Redis's addReplySubcommandSyntaxError: `ERR unknown subcommand or wrong
/// number of arguments for 'foo'. Try CLIENT HELP.`
pub fn subcommand_syntax(sub: &[u8], container: &str) -> CmdError {
    CmdError::owned(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        truncate_lossy(sub, 128),
        container.to_ascii_uppercase()
    ))
}

/// Redis prints arguments into error texts with `%.128s`: at most `max`
/// bytes, and, being a C string, only up to a NUL byte.
pub fn truncate_lossy(b: &[u8], max: usize) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len()).min(max);
    String::from_utf8_lossy(&b[..end]).into_owned()
}
