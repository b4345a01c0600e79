//! Kamailio's RPC commands (the control interface): a process-wide table of commands with
//! Kamailio's names and result shapes, answered from process state.
//!
//! Commands never run on a worker: the engine's control transports (`jsonrpcs`' FIFO and
//! datagram socket, `ctl`'s BINRPC socket) run on their own threads and call
//! [`RpcEnv::call`]. What the workers own is read from the figures they publish on a
//! [`WorkerBoard`] after each batch; shared tables (location, htable) are read under their
//! own slot locks, one slot at a time.
//!
//! A command returns one [`RpcValue`]. A top-level [`RpcValue::Array`] stands for several
//! values added in turn (Kamailio's `rpc->add` called repeatedly): JSON-RPC sends it as an
//! array, BINRPC as consecutive records. [`RpcValue::Nothing`] is a command that added
//! nothing (JSON `{}`, an empty BINRPC body).
//!
//! Commands (each present only when its module is loaded, as in Kamailio): `system.*`,
//! `core.*` (core), `stats.*` (kex), `tm.stats` (tm), `ul.dump`/`ul.lookup` (usrloc),
//! `htable.*` (htable), `dlg.stats_active` (dialog), `cnt.*` (counters), `cfg.list`/`cfg.get`
//! (cfg_rpc, read-only: the core parameters). See `cmds.rs` for each one's shape and limits.

mod board;
mod cmds;
mod stats;

pub use board::{Detail, Fig, WorkerBoard, WorkerSlot, FIGS};

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::api::LocalSocket;
use crate::cfg::Config;
use crate::sip::ProcessState;

/// A value in an RPC request or reply.
#[derive(Clone, Debug, PartialEq)]
pub enum RpcValue {
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Double(f64),
    /// A string.
    Str(String),
    /// Named members, in order (BINRPC allows a name twice; JSON objects do not, so the
    /// commands here never repeat one).
    Struct(Vec<(String, Self)>),
    /// A list (at top level: several values).
    Array(Vec<Self>),
    /// No value at all (a command that added nothing).
    Nothing,
}

impl RpcValue {
    /// A string value.
    pub fn str(s: impl Into<String>) -> Self {
        Self::Str(s.into())
    }

    /// An integer value from an unsigned count (saturating at `i64::MAX`).
    pub fn uint(n: u64) -> Self {
        Self::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }

    /// The value as a string parameter: strings as they are, numbers written out.
    pub fn as_param_str(&self) -> Option<String> {
        match self {
            Self::Str(s) => Some(s.clone()),
            Self::Int(i) => Some(i.to_string()),
            Self::Double(d) => Some(d.to_string()),
            _ => None,
        }
    }

    /// The value as an integer parameter: integers, or strings holding one.
    pub fn as_param_int(&self) -> Option<i64> {
        match self {
            Self::Int(i) => Some(*i),
            Self::Str(s) => s.trim().parse().ok(),
            Self::Double(d) if d.is_finite() => Some(*d as i64),
            _ => None,
        }
    }
}

/// An RPC error: Kamailio's code (500 for most failures, 400 for bad parameters) and text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpcError {
    /// The error code.
    pub code: i32,
    /// What went wrong.
    pub message: String,
}

impl RpcError {
    /// An error with code `code`.
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// The error for a missing or malformed parameter.
    pub fn params(what: &str) -> Self {
        Self::new(400, format!("Invalid Parameters ({what})"))
    }
}

/// The result of a command.
pub type RpcResult = Result<RpcValue, RpcError>;

/// A command's handler.
type Handler = fn(&RpcEnv, &Params<'_>) -> RpcResult;

/// One RPC command.
pub(crate) struct Command {
    /// Kamailio's name, e.g. `core.version`.
    pub(crate) name: &'static str,
    /// The module that provides it (`core` is always loaded).
    pub(crate) module: &'static str,
    /// `system.methodHelp`'s text.
    pub(crate) help: &'static str,
    pub(crate) run: Handler,
}

/// A command's positional parameters.
#[derive(Clone, Copy, Debug)]
pub struct Params<'a>(pub &'a [RpcValue]);

impl Params<'_> {
    /// Parameter `i` as a string, or a 400 error naming `what`.
    pub fn str(&self, i: usize, what: &str) -> Result<String, RpcError> {
        self.opt_str(i).ok_or_else(|| RpcError::params(what))
    }

    /// Parameter `i` as a string, if present and scalar.
    pub fn opt_str(&self, i: usize) -> Option<String> {
        self.0.get(i).and_then(RpcValue::as_param_str)
    }

    /// Parameter `i` as an integer, if present and numeric.
    pub fn opt_int(&self, i: usize) -> Option<i64> {
        self.0.get(i).and_then(RpcValue::as_param_int)
    }

    /// Every parameter as a string (non-scalars skipped).
    pub fn strs(&self) -> Vec<String> {
        self.0.iter().filter_map(RpcValue::as_param_str).collect()
    }
}

/// A thread of the process, for `core.psx`.
#[derive(Clone, Debug)]
pub struct ProcInfo {
    /// The thread id (Linux TID; the main thread's equals the process id).
    pub tid: u64,
    /// What it does.
    pub desc: String,
}

/// Everything a command may read: built once by the engine, shared by the control threads.
#[derive(Debug)]
pub struct RpcEnv {
    cfg: Arc<Config>,
    process: Arc<ProcessState>,
    board: Arc<WorkerBoard>,
    sockets: Vec<LocalSocket>,
    started: SystemTime,
    /// `-m` in bytes: the bound the shared tables are sized from.
    shm_bytes: u64,
    /// Threads other than the workers (main, control transports).
    procs: Mutex<Vec<ProcInfo>>,
    /// Statistic values at their last reset, by `group:name`.
    baselines: Mutex<HashMap<String, u64>>,
    /// The highest `used` figure `core.shmmem` has seen.
    max_used: AtomicU64,
}

/// Shared memory assumed when neither `-m` nor `shm_mem_size` is given (Kamailio's default,
/// MiB).
pub const DEFAULT_SHM_MB: u32 = 64;

impl RpcEnv {
    /// The control interface's view of a running process.
    pub fn new(
        cfg: Arc<Config>,
        process: Arc<ProcessState>,
        board: Arc<WorkerBoard>,
        sockets: Vec<LocalSocket>,
    ) -> Self {
        let shm_bytes = u64::from(cfg.core.shm_mem.unwrap_or(DEFAULT_SHM_MB)) * 1024 * 1024;
        Self {
            cfg,
            process,
            board,
            sockets,
            started: SystemTime::now(),
            shm_bytes,
            procs: Mutex::new(Vec::new()),
            baselines: Mutex::new(HashMap::new()),
            max_used: AtomicU64::new(0),
        }
    }

    /// Adds a non-worker thread to `core.psx`.
    pub fn add_proc(&self, tid: u64, desc: impl Into<String>) {
        let mut p = self
            .procs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        p.push(ProcInfo {
            tid,
            desc: desc.into(),
        });
    }

    /// Whether the configuration loads `module` (`core` always).
    pub fn has_module(&self, module: &str) -> bool {
        module == "core" || self.cfg.modules.iter().any(|m| m == module)
    }

    /// Runs command `method` with `params`. An unknown command is a 500 error, as in
    /// Kamailio (`command X not found`); nothing here panics on any input.
    pub fn call(&self, method: &str, params: &[RpcValue]) -> RpcResult {
        match self.command(method) {
            Some(c) => (c.run)(self, &Params(params)),
            None => Err(RpcError::new(500, format!("command {method} not found"))),
        }
    }

    /// The command called `method`, when its module is loaded.
    fn command(&self, method: &str) -> Option<&'static Command> {
        cmds::COMMANDS
            .iter()
            .find(|c| c.name == method && self.has_module(c.module))
    }

    /// The names of the available commands, in table order.
    pub fn methods(&self) -> Vec<&'static str> {
        cmds::COMMANDS
            .iter()
            .filter(|c| self.has_module(c.module))
            .map(|c| c.name)
            .collect()
    }
}

#[cfg(test)]
mod tests;
