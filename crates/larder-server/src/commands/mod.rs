//! Command families, one module each; `table()` merges their `COMMANDS`.

use crate::command::CommandTable;

pub mod acl_cmd;
pub mod bitmaps;
pub mod blocking;
pub mod client_cmd;
pub mod client_tracking;
pub mod coll;
pub mod config_cmd;
pub mod connection;
pub mod debug;
pub mod diagnostics;
pub mod functions;
pub mod geo;
pub mod hashes;
pub mod hyperloglog;
pub mod info;
pub mod introspection;
pub mod keys;
pub mod lists;
pub mod lua_cjson;
pub mod lua_pack;
pub mod migrate;
pub mod multi;
pub mod pubsub;
pub mod scripting;
pub mod server;
pub mod sets;
pub mod sort;
pub mod standalone;
pub mod streams;
pub mod strings;
pub mod zsets;

pub fn table() -> CommandTable {
    CommandTable::new(&[
        connection::COMMANDS,
        acl_cmd::COMMANDS,
        strings::COMMANDS,
        bitmaps::COMMANDS,
        hyperloglog::COMMANDS,
        sort::COMMANDS,
        keys::COMMANDS,
        migrate::COMMANDS,
        lists::COMMANDS,
        blocking::COMMANDS,
        hashes::COMMANDS,
        sets::COMMANDS,
        zsets::COMMANDS,
        streams::COMMANDS,
        geo::COMMANDS,
        server::COMMANDS,
        debug::COMMANDS,
        standalone::COMMANDS,
        info::COMMANDS,
        config_cmd::COMMANDS,
        introspection::COMMANDS,
        client_cmd::COMMANDS,
        diagnostics::COMMANDS,
        pubsub::COMMANDS,
        multi::COMMANDS,
        scripting::COMMANDS,
        functions::COMMANDS,
        crate::persist::snapshot::COMMANDS,
        crate::persist::aof::COMMANDS,
        crate::replication::COMMANDS,
    ])
}
