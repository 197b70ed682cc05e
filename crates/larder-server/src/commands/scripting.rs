//! Lua scripting (in progress).
use crate::command::Command;
pub const COMMANDS: &[Command] = &[];
