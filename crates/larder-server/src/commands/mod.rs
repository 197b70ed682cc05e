//! Command families, one module each; `table()` merges their `COMMANDS`.

use crate::command::CommandTable;

pub mod client_cmd;
pub mod config_cmd;
pub mod connection;
pub mod diagnostics;
pub mod info;
pub mod introspection;
pub mod keys;
pub mod server;
pub mod strings;

pub fn table() -> CommandTable {
    CommandTable::new(&[
        connection::COMMANDS,
        strings::COMMANDS,
        keys::COMMANDS,
        server::COMMANDS,
        info::COMMANDS,
        config_cmd::COMMANDS,
        introspection::COMMANDS,
        client_cmd::COMMANDS,
        diagnostics::COMMANDS,
    ])
}
