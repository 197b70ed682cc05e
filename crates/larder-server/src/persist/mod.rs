//! Persistence: the append-only file (`aof`, `aof_manifest`) and RDB
//! snapshots (`snapshot`: SAVE, BGSAVE, the save schedule, loading).

pub mod aof;
pub mod aof_manifest;
pub mod aof_writer;
pub mod snapshot;
