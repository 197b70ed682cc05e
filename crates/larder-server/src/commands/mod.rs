//! Command families, one module each; `table()` merges their `COMMANDS`.

use crate::command::CommandTable;

pub mod connection;
pub mod keys;
pub mod server;
pub mod strings;

pub fn table() -> CommandTable {
    CommandTable::new(&[
        connection::COMMANDS,
        strings::COMMANDS,
        keys::COMMANDS,
        server::COMMANDS,
    ])
}
