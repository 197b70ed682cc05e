//! The commands of Redis's cluster and module systems, which a standalone
//! Larder answers the way a standalone Redis without them does: CLUSTER
//! (every subcommand, with Redis's arities; "cluster support disabled"),
//! READONLY, READWRITE and ASKING (the same error), MODULE (LIST is empty;
//! loading is refused as under `enable-module-command no`). Replication's
//! commands (REPLICAOF, WAIT, ROLE, SYNC, ...) are in `replication/`.
//! They exist so that clients, proxies and tools that probe for these
//! features get Redis's own answers, and so that ACL rules can name them.

use crate::command::{flags::*, Command, Ctx};
use crate::commands::server::{cmd, container, reply_help};
use crate::error::{CmdError, CmdResult};

const CLUSTER_DISABLED: CmdError = CmdError::new("ERR This instance has cluster support disabled");

pub const COMMANDS: &[Command] = &[
    container("cluster", "slow", cluster, CLUSTER),
    container("module", "slow", module, MODULE),
    cmd(
        "readonly",
        1,
        LOADING | STALE | FAST,
        "fast connection",
        cluster_sub,
    ),
    cmd(
        "readwrite",
        1,
        LOADING | STALE | FAST,
        "fast connection",
        cluster_sub,
    ),
    cmd("asking", 1, FAST, "fast connection", cluster_sub),
];

const CLUSTER: &[Command] = &[
    cmd(
        "cluster|addslots",
        -3,
        ADMIN | STALE,
        "admin slow dangerous",
        cluster_sub,
    ),
    cmd(
        "cluster|addslotsrange",
        -4,
        ADMIN | STALE,
        "admin slow dangerous",
        cluster_sub,
    ),
    cmd(
        "cluster|bumpepoch",
        2,
        ADMIN | STALE,
        "admin slow dangerous",
        cluster_sub,
    ),
    cmd(
        "cluster|count-failure-reports",
        3,
        ADMIN | STALE,
        "admin slow dangerous",
        cluster_sub,
    ),
    cmd("cluster|countkeysinslot", 3, STALE, "slow", cluster_sub),
    cmd(
        "cluster|delslots",
        -3,
        ADMIN | STALE,
        "admin slow dangerous",
        cluster_sub,
    ),
    cmd(
        "cluster|delslotsrange",
        -4,
        ADMIN | STALE,
        "admin slow dangerous",
        cluster_sub,
    ),
    cmd(
        "cluster|failover",
        -2,
        ADMIN | STALE,
        "admin slow dangerous",
        cluster_sub,
    ),
    cmd(
        "cluster|flushslots",
        2,
        ADMIN | STALE,
        "admin slow dangerous",
        cluster_sub,
    ),
    cmd(
        "cluster|forget",
        3,
        ADMIN | STALE,
        "admin slow dangerous",
        cluster_sub,
    ),
    cmd("cluster|getkeysinslot", 4, STALE, "slow", cluster_sub),
    cmd("cluster|help", 2, LOADING | STALE, "slow", cluster_sub),
    cmd("cluster|info", 2, STALE, "slow", cluster_sub),
    cmd("cluster|keyslot", 3, STALE, "slow", cluster_sub),
    cmd("cluster|links", 2, STALE, "slow", cluster_sub),
    cmd(
        "cluster|meet",
        -4,
        ADMIN | STALE,
        "admin slow dangerous",
        cluster_sub,
    ),
    cmd("cluster|myid", 2, STALE, "slow", cluster_sub),
    cmd("cluster|nodes", 2, STALE, "slow", cluster_sub),
    cmd(
        "cluster|replicas",
        3,
        ADMIN | STALE,
        "admin slow dangerous",
        cluster_sub,
    ),
    cmd(
        "cluster|replicate",
        3,
        ADMIN | STALE,
        "admin slow dangerous",
        cluster_sub,
    ),
    cmd(
        "cluster|reset",
        -2,
        ADMIN | NOSCRIPT | STALE,
        "admin slow dangerous",
        cluster_sub,
    ),
    cmd(
        "cluster|saveconfig",
        2,
        ADMIN | STALE,
        "admin slow dangerous",
        cluster_sub,
    ),
    cmd(
        "cluster|set-config-epoch",
        3,
        ADMIN | STALE,
        "admin slow dangerous",
        cluster_sub,
    ),
    cmd(
        "cluster|setslot",
        -4,
        ADMIN | STALE,
        "admin slow dangerous",
        cluster_sub,
    ),
    cmd("cluster|shards", 2, STALE, "slow", cluster_sub),
    cmd(
        "cluster|slaves",
        3,
        ADMIN | STALE,
        "admin slow dangerous",
        cluster_sub,
    ),
    cmd("cluster|slots", 2, STALE, "slow", cluster_sub),
];
const MODULE: &[Command] = &[
    cmd("module|help", 2, LOADING | STALE, "slow", module_sub),
    cmd(
        "module|list",
        2,
        ADMIN | NOSCRIPT,
        "admin slow dangerous",
        module_sub,
    ),
    cmd(
        "module|load",
        -3,
        ADMIN | NOSCRIPT,
        "admin slow dangerous",
        module_sub,
    ),
    cmd(
        "module|loadex",
        -3,
        ADMIN | NOSCRIPT,
        "admin slow dangerous",
        module_sub,
    ),
    cmd(
        "module|unload",
        3,
        ADMIN | NOSCRIPT,
        "admin slow dangerous",
        module_sub,
    ),
];

fn cluster(ctx: &mut Ctx<'_>) -> CmdResult {
    ctx.run_subcommand("cluster", CLUSTER)
}

fn cluster_sub(_: &mut Ctx<'_>) -> CmdResult {
    Err(CLUSTER_DISABLED)
}

fn module(ctx: &mut Ctx<'_>) -> CmdResult {
    ctx.run_subcommand("module", MODULE)
}

fn module_sub(ctx: &mut Ctx<'_>) -> CmdResult {
    if ctx.arg_is(1, "help") {
        return reply_help(
            ctx,
            "MODULE",
            &[
                "LIST",
                "    Return a list of loaded modules.",
                "LOAD <path> [<arg> ...]",
                "    Load a module library from <path>, passing to it any optional arguments.",
                "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
                "    Load a module library from <path>, while passing it module configurations and optional arguments.",
                "UNLOAD <name>",
                "    Unload a module.",
            ],
        );
    }
    if ctx.arg_is(1, "list") {
        ctx.out.array(0);
        return Ok(());
    }
    let setting = ctx
        .shared
        .config
        .read()
        .compat
        .get("enable-module-command")
        .cloned()
        .unwrap_or_default();
    if crate::commands::debug::protected_action_allowed(ctx, &setting) {
        // Larder loads no modules: every path fails as a missing library does.
        return Err(CmdError::new(if ctx.arg_is(1, "unload") {
            "ERR Error unloading module: no such module with that name"
        } else {
            "ERR Error loading the extension. Please check the server logs."
        }));
    }
    Err(CmdError::new("ERR MODULE command not allowed. If the enable-module-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server."))
}
