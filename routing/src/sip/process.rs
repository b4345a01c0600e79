//! State one process shares between its workers (ARCHITECTURE.md: dialog profile sizes,
//! location, htables): built once at start from the configuration, handed to every worker's
//! [`super::Router`] as an `Arc`.
//!
//! Each table here bounds its own size and says what happens when it is full. Building it is
//! the only place where a module may read files (an htable loaded from db_text), so a bad
//! file stops the start with a message instead of failing later on a worker.

use std::sync::Arc;

use super::dialog::ProfileBoard;
use crate::cfg::Config;

/// The process-wide module state.
#[derive(Debug)]
pub struct ProcessState {
    /// Dialog profile sizes summed over the workers.
    pub(crate) board: Arc<ProfileBoard>,
    /// registrar/usrloc: the location table and the registrar's parameters, when loaded.
    pub(crate) registrar: Option<super::registrar::Registrar>,
    /// auth/auth_db: the nonce secret and parameters, and the subscriber tables.
    pub(crate) auth: super::auth::AuthState,
    /// htable tables (`modparam("htable", "htable", ..)`), loaded from db_text at start.
    pub(crate) htables: super::htable::Htables,
    /// acc module parameters (log backend).
    pub(crate) acc: super::acc::AccCfg,
    /// counters: the script counters (`modparam("counters", "script_counter", ..)`).
    pub(crate) counters: super::counters::ScriptCounters,
}

impl ProcessState {
    /// Builds the shared state for `workers` workers from the configuration, loading what
    /// the modules load at start. `Err` names what could not be loaded (the process should
    /// not start).
    pub fn new(cfg: &Config, workers: usize) -> Result<Arc<Self>, String> {
        Self::with_board(cfg, workers, ProfileBoard::new(cfg, workers))
    }

    /// [`ProcessState::new`] with a given dialog profile board (tests that run several
    /// routers share one).
    pub fn with_board(
        cfg: &Config,
        workers: usize,
        board: Arc<ProfileBoard>,
    ) -> Result<Arc<Self>, String> {
        let mut s = Self::tables(cfg, workers, board);
        s.load(cfg)?;
        Ok(Arc::new(s))
    }

    /// The tables, sized from the configuration and empty: what a router falls back to when
    /// loading failed.
    pub(crate) fn empty(cfg: &Config, workers: usize, board: Arc<ProfileBoard>) -> Arc<Self> {
        Arc::new(Self::tables(cfg, workers, board))
    }

    /// Every table, sized from the configuration, nothing loaded.
    fn tables(cfg: &Config, _workers: usize, board: Arc<ProfileBoard>) -> Self {
        let registrar = super::registrar::Registrar::from_config(cfg).unwrap_or_else(|e| {
            tracing::error!(target: "ferrosip::registrar", "{e}");
            None
        });
        let auth = super::auth::AuthState::from_config(cfg).unwrap_or_else(|e| {
            tracing::error!(target: "ferrosip::auth", "{e}");
            super::auth::AuthState::fallback()
        });
        Self {
            board,
            registrar,
            auth,
            htables: super::htable::Htables::new(cfg),
            acc: super::acc::AccCfg::from_config(cfg).unwrap_or_else(|e| {
                tracing::error!(target: "ferrosip::acc", "{e}");
                super::acc::AccCfg::default()
            }),
            counters: super::counters::ScriptCounters::from_config(cfg).unwrap_or_else(|e| {
                tracing::error!(target: "ferrosip::counters", "{e}");
                super::counters::ScriptCounters::default()
            }),
        }
    }

    /// Loads what the modules read at start (files, databases).
    fn load(&mut self, cfg: &Config) -> Result<(), String> {
        // A registrar setting ferrosip cannot honour stops the start (`tables` only logged
        // it).
        super::registrar::Registrar::from_config(cfg)?;
        // auth: a setting that cannot be honoured, or an auth_db table that cannot be read,
        // stops the start.
        let mut auth = super::auth::AuthState::from_config(cfg)?;
        auth.load(cfg)?;
        self.auth = auth;
        // htable: tables with a dbtable are filled from db_text.
        self.htables.load(cfg)?;
        // acc: a db_url or an unsupported log_extra stops the start; counters: a bad
        // script_counter declaration.
        super::acc::AccCfg::from_config(cfg)?;
        super::counters::ScriptCounters::from_config(cfg)?;
        Ok(())
    }

    /// The script counters of the `counters` module (for the `cnt.*` RPC commands).
    pub fn counters(&self) -> &super::counters::ScriptCounters {
        &self.counters
    }
}
