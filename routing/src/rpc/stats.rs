//! The statistics `stats.*` and the counters module's `cnt.*` report: one table of
//! Kamailio's `group:name` statistics, each computed from the workers' published figures or
//! from a shared table's counters.
//!
//! Counters can be reset (`stats.reset_statistics`, `cnt.reset`): the value at the reset is
//! kept as a baseline and later reads subtract it, so the workers' own counters never change
//! under them. Gauges (current transactions, registered users, memory) cannot be reset, as in
//! Kamailio. Only the statistics ferrosip has real figures for are listed; Kamailio's per-method
//! and per-code ones (`rcv_requests_invite`, `sl:404_replies`, ...) are not kept.

use std::sync::atomic::Ordering;

use super::{Fig, RpcEnv};

/// Whether a statistic counts events or measures a level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Counts events; can be reset.
    Counter,
    /// A current level; a reset leaves it alone.
    Gauge,
}

/// One statistic.
pub(crate) struct StatDef {
    pub(crate) group: &'static str,
    pub(crate) name: &'static str,
    pub(crate) kind: Kind,
    pub(crate) help: &'static str,
    get: fn(&RpcEnv) -> u64,
}

const fn c(
    group: &'static str,
    name: &'static str,
    help: &'static str,
    get: fn(&RpcEnv) -> u64,
) -> StatDef {
    StatDef {
        group,
        name,
        kind: Kind::Counter,
        help,
        get,
    }
}

const fn g(
    group: &'static str,
    name: &'static str,
    help: &'static str,
    get: fn(&RpcEnv) -> u64,
) -> StatDef {
    StatDef {
        group,
        name,
        kind: Kind::Gauge,
        help,
        get,
    }
}

fn ul(env: &RpcEnv) -> ferrosip_state::UlStats {
    env.process
        .registrar
        .as_ref()
        .map(|r| r.table.stats())
        .unwrap_or_default()
}

/// Bytes the bounded shared tables use (location bindings, htable items).
pub(crate) fn shm_used(env: &RpcEnv) -> u64 {
    let ht = env.process.htables.usage().0 as u64;
    ht + ul(env).bytes as u64
}

/// `dialog`'s confirmed dialogs still live (an estimate: dialogs are not counted by state).
pub(crate) fn dlg_ongoing(env: &RpcEnv) -> u64 {
    let b = &env.board;
    let done = b.sum(Fig::DlgEnded).saturating_add(b.sum(Fig::DlgExpired));
    b.sum(Fig::DlgConfirmed)
        .saturating_sub(done)
        .min(b.sum(Fig::DlgLive))
}

fn shm_max(env: &RpcEnv) -> u64 {
    let used = shm_used(env);
    env.max_used.fetch_max(used, Ordering::Relaxed).max(used)
}

/// Every statistic, by group.
pub(crate) const STATS: &[StatDef] = &[
    c("core", "rcv_requests", "Received requests", |e| {
        e.board.sum(Fig::RxRequests)
    }),
    c("core", "rcv_replies", "Received replies", |e| {
        e.board.sum(Fig::RxReplies)
    }),
    c("core", "fwd_requests", "Forwarded requests", |e| {
        e.board.sum(Fig::FwdRequests)
    }),
    c("core", "fwd_replies", "Forwarded replies", |e| {
        e.board.sum(Fig::FwdReplies)
    }),
    c(
        "core",
        "drop_requests",
        "Dropped requests (and replies with no Via left)",
        |e| e.board.sum(Fig::Drops),
    ),
    c("core", "drop_replies", "Dropped replies", |e| {
        e.board.sum(Fig::DropReplies)
    }),
    c("core", "err_requests", "Requests that did not parse", |e| {
        e.board.sum(Fig::BadRequests)
    }),
    c("core", "err_replies", "Replies that did not parse", |e| {
        e.board.sum(Fig::BadReplies)
    }),
    c(
        "core",
        "bad_msg_hdr",
        "Messages with a malformed header",
        |e| {
            e.board
                .sum(Fig::BadRequests)
                .saturating_add(e.board.sum(Fig::BadReplies))
        },
    ),
    c(
        "core",
        "send_errors",
        "Messages that could not be sent",
        |e| e.board.sum(Fig::SendErrors),
    ),
    g("shmem", "total_size", "Shared memory bound (-m)", |e| {
        e.shm_bytes
    }),
    g(
        "shmem",
        "used_size",
        "Bytes used by the bounded tables",
        shm_used,
    ),
    g(
        "shmem",
        "real_used_size",
        "Bytes used by the bounded tables",
        shm_used,
    ),
    g("shmem", "max_used_size", "Highest used_size seen", shm_max),
    g("shmem", "free_size", "Bytes left under the bound", |e| {
        e.shm_bytes.saturating_sub(shm_used(e))
    }),
    g("shmem", "fragments", "Always 0", |_| 0),
    c("sl", "sent_replies", "Stateless replies sent", |e| {
        e.board.sum(Fig::SlReplies)
    }),
    c(
        "sl",
        "received_ACKs",
        "ACKs to stateless replies absorbed",
        |e| e.board.sum(Fig::AcksAbsorbed),
    ),
    g("tm", "current", "Live transactions", |e| {
        e.board.sum(Fig::TmLive)
    }),
    c("tm", "total", "Server transactions created", |e| {
        e.board.sum(Fig::TmServer)
    }),
    c(
        "tm",
        "total_local",
        "Locally originated transactions",
        |_| 0,
    ),
    c(
        "tm",
        "rpl_received",
        "Replies matched to a transaction",
        |e| e.board.sum(Fig::TmMatched),
    ),
    c("tm", "rpl_generated", "Replies generated by tm", |e| {
        e.board.sum(Fig::TmLocal)
    }),
    c("tm", "rpl_sent", "Replies sent by tm", |e| {
        e.board
            .sum(Fig::TmLocal)
            .saturating_add(e.board.sum(Fig::TmRelayed))
    }),
    c("tm", "2xx_transactions", "Transactions answered 2xx", |e| {
        e.board.sum(Fig::Tm2xx)
    }),
    c("tm", "3xx_transactions", "Transactions answered 3xx", |e| {
        e.board.sum(Fig::Tm3xx)
    }),
    c("tm", "4xx_transactions", "Transactions answered 4xx", |e| {
        e.board.sum(Fig::Tm4xx)
    }),
    c("tm", "5xx_transactions", "Transactions answered 5xx", |e| {
        e.board.sum(Fig::Tm5xx)
    }),
    c("tm", "6xx_transactions", "Transactions answered 6xx", |e| {
        e.board.sum(Fig::Tm6xx)
    }),
    c(
        "tm",
        "UAC_transactions",
        "Client transactions created",
        |e| e.board.sum(Fig::TmClient),
    ),
    c("tm", "timeouts", "Branches that timed out", |e| {
        e.board.sum(Fig::TmTimeouts)
    }),
    c("tm", "refused_full", "Requests refused, table full", |e| {
        e.board.sum(Fig::TmRefused)
    }),
    g("usrloc", "registered_users", "AORs with bindings", |e| {
        ul(e).records as u64
    }),
    g(
        "usrloc",
        "location_users",
        "AORs in the location table",
        |e| ul(e).records as u64,
    ),
    g(
        "usrloc",
        "location_contacts",
        "Bindings in the location table",
        |e| ul(e).contacts as u64,
    ),
    c("usrloc", "location_expires", "Bindings that expired", |e| {
        ul(e).expired
    }),
    c("registrar", "accepted_regs", "REGISTERs accepted", |e| {
        ul(e).accepted
    }),
    c("registrar", "rejected_regs", "REGISTERs rejected", |e| {
        ul(e).rejected
    }),
    g(
        "dialog",
        "active_dialogs",
        "Confirmed dialogs (estimate)",
        dlg_ongoing,
    ),
    g(
        "dialog",
        "early_dialogs",
        "Dialogs not confirmed yet",
        |e| e.board.sum(Fig::DlgLive).saturating_sub(dlg_ongoing(e)),
    ),
    c("dialog", "processed_dialogs", "Dialogs created", |e| {
        e.board.sum(Fig::DlgCreated)
    }),
    c(
        "dialog",
        "expired_dialogs",
        "Dialogs ended by timeout",
        |e| e.board.sum(Fig::DlgExpired),
    ),
    c(
        "dialog",
        "failed_dialogs",
        "Dialogs ended by a failure",
        |e| e.board.sum(Fig::DlgFailed),
    ),
];

impl StatDef {
    /// The full name, `group:name`.
    pub(crate) fn key(&self) -> String {
        format!("{}:{}", self.group, self.name)
    }
}

/// The module a statistics group belongs to.
fn group_module(group: &str) -> &str {
    match group {
        "shmem" => "core",
        "registrar" => "registrar",
        "usrloc" => "usrloc",
        g => g,
    }
}

impl RpcEnv {
    /// Whether statistics group `group` exists here (its module is loaded).
    pub(crate) fn has_group(&self, group: &str) -> bool {
        match group {
            // usrloc's statistics come with either module (registrar loads usrloc).
            "usrloc" | "registrar" => self.process.registrar.is_some(),
            g => self.has_module(group_module(g)),
        }
    }

    /// The statistics of the loaded modules, in table order.
    pub(crate) fn stats(&self) -> impl Iterator<Item = &'static StatDef> + '_ {
        STATS.iter().filter(|s| self.has_group(s.group))
    }

    /// The groups of [`RpcEnv::stats`], in order, each once.
    pub(crate) fn stat_groups(&self) -> Vec<&'static str> {
        let mut v: Vec<&'static str> = Vec::new();
        for s in self.stats() {
            if !v.contains(&s.group) {
                v.push(s.group);
            }
        }
        v
    }

    /// The statistic `group:name`, or `name` in any group.
    pub(crate) fn stat(&self, group: Option<&str>, name: &str) -> Option<&'static StatDef> {
        self.stats()
            .find(|s| s.name == name && group.unwrap_or(s.group) == s.group)
    }

    /// A statistic's value since its last reset.
    pub(crate) fn stat_value(&self, s: &StatDef) -> u64 {
        let v = (s.get)(self);
        if s.kind == Kind::Gauge {
            return v;
        }
        let base = self
            .baselines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&s.key())
            .copied()
            .unwrap_or(0);
        v.saturating_sub(base)
    }

    /// Resets a counter (a gauge is left alone).
    pub(crate) fn stat_reset(&self, s: &StatDef) {
        if s.kind == Kind::Gauge {
            return;
        }
        let v = (s.get)(self);
        self.baselines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(s.key(), v);
    }
}
