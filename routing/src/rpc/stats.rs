//! The statistics `stats.*` and the counters module's `cnt.*` report: one table of
//! Kamailio's `group:name` statistics, each computed from the workers' published figures or
//! from a shared table's counters.
//!
//! Counters can be reset (`stats.reset_statistics`, `cnt.reset`): the value at the reset is
//! kept as a baseline and later reads subtract it, so the workers' own counters never change
//! under them. Gauges (current transactions, registered users, memory) cannot be reset, as in
//! Kamailio. Only the statistics ferrosip has real figures for are listed, among them kex's
//! per-method and per-code ones (`core:rcv_requests_invite`, `core:rcv_replies_2xx_invite`,
//! ...) and sl's per-code ones (`sl:404_replies`, ...), in Kamailio's order within a group.
//!
//! Differences: the per-method counters count requests that parsed (`core:rcv_requests` also
//! counts those that did not); replies count by class once they are SIP/2.0. sl's counters
//! cover every stateless reply (script, sanity, registrar, auth, 400s to unparsable requests),
//! not `t_reply`; `sl:sent_replies` is their sum; `sl:failures` counts the replies that could not
//! be built (to an ACK, a bad code); `sl:sent_err_replies` counts `sl_reply_error()` replies
//! (Kamailio 5.6 leaves it at 0).

use std::sync::atomic::Ordering;

use super::{Detail, Fig, RpcEnv};
use crate::sip::SL_CODES;

/// A counter of a per-method or per-code figure.
macro_rules! d {
    ($group:literal, $name:literal, $help:literal, $d:ident($($i:literal),+)) => {
        c($group, $name, $help, |e| e.board.sum_detail(Detail::$d($($i),+)))
    };
}

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
    d! {"core", "rcv_requests_invite", "Received INVITE requests", RxMethod(0)},
    d! {"core", "rcv_requests_cancel", "Received CANCEL requests", RxMethod(1)},
    d! {"core", "rcv_requests_ack", "Received ACK requests", RxMethod(2)},
    d! {"core", "rcv_requests_bye", "Received BYE requests", RxMethod(3)},
    d! {"core", "rcv_requests_info", "Received INFO requests", RxMethod(4)},
    d! {"core", "rcv_requests_register", "Received REGISTER requests", RxMethod(5)},
    d! {"core", "rcv_requests_subscribe", "Received SUBSCRIBE requests", RxMethod(6)},
    d! {"core", "rcv_requests_notify", "Received NOTIFY requests", RxMethod(7)},
    d! {"core", "rcv_requests_message", "Received MESSAGE requests", RxMethod(8)},
    d! {"core", "rcv_requests_options", "Received OPTIONS requests", RxMethod(9)},
    d! {"core", "rcv_requests_prack", "Received PRACK requests", RxMethod(10)},
    d! {"core", "rcv_requests_update", "Received UPDATE requests", RxMethod(11)},
    d! {"core", "rcv_requests_refer", "Received REFER requests", RxMethod(12)},
    d! {"core", "rcv_requests_publish", "Received PUBLISH requests", RxMethod(13)},
    c("core", "rcv_replies", "Received replies", |e| {
        e.board.sum(Fig::RxReplies)
    }),
    d! {"core", "rcv_replies_1xx", "Received 1xx replies", RxClass(0)},
    d! {"core", "rcv_replies_18x", "Received 180-189 replies", RxClass(1)},
    d! {"core", "rcv_replies_2xx", "Received 2xx replies", RxClass(2)},
    d! {"core", "rcv_replies_3xx", "Received 3xx replies", RxClass(3)},
    d! {"core", "rcv_replies_4xx", "Received 4xx replies", RxClass(4)},
    d! {"core", "rcv_replies_401", "Received 401 replies", RxClass(5)},
    d! {"core", "rcv_replies_404", "Received 404 replies", RxClass(6)},
    d! {"core", "rcv_replies_407", "Received 407 replies", RxClass(7)},
    d! {"core", "rcv_replies_480", "Received 480 replies", RxClass(8)},
    d! {"core", "rcv_replies_486", "Received 486 replies", RxClass(9)},
    d! {"core", "rcv_replies_5xx", "Received 5xx replies", RxClass(10)},
    d! {"core", "rcv_replies_6xx", "Received 6xx replies", RxClass(11)},
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
        "unsupported_methods",
        "Requests with another method",
        |e| e.board.sum(Fig::RxOtherMethods),
    ),
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
    d! {"core", "rcv_replies_1xx_invite", "Received 1xx replies to INVITE", RxReplyMethod(0, 0)},
    d! {"core", "rcv_replies_2xx_invite", "Received 2xx replies to INVITE", RxReplyMethod(0, 1)},
    d! {"core", "rcv_replies_3xx_invite", "Received 3xx replies to INVITE", RxReplyMethod(0, 2)},
    d! {"core", "rcv_replies_4xx_invite", "Received 4xx replies to INVITE", RxReplyMethod(0, 3)},
    d! {"core", "rcv_replies_5xx_invite", "Received 5xx replies to INVITE", RxReplyMethod(0, 4)},
    d! {"core", "rcv_replies_6xx_invite", "Received 6xx replies to INVITE", RxReplyMethod(0, 5)},
    d! {"core", "rcv_replies_1xx_cancel", "Received 1xx replies to CANCEL", RxReplyMethod(1, 0)},
    d! {"core", "rcv_replies_2xx_cancel", "Received 2xx replies to CANCEL", RxReplyMethod(1, 1)},
    d! {"core", "rcv_replies_3xx_cancel", "Received 3xx replies to CANCEL", RxReplyMethod(1, 2)},
    d! {"core", "rcv_replies_4xx_cancel", "Received 4xx replies to CANCEL", RxReplyMethod(1, 3)},
    d! {"core", "rcv_replies_5xx_cancel", "Received 5xx replies to CANCEL", RxReplyMethod(1, 4)},
    d! {"core", "rcv_replies_6xx_cancel", "Received 6xx replies to CANCEL", RxReplyMethod(1, 5)},
    d! {"core", "rcv_replies_1xx_bye", "Received 1xx replies to BYE", RxReplyMethod(2, 0)},
    d! {"core", "rcv_replies_2xx_bye", "Received 2xx replies to BYE", RxReplyMethod(2, 1)},
    d! {"core", "rcv_replies_3xx_bye", "Received 3xx replies to BYE", RxReplyMethod(2, 2)},
    d! {"core", "rcv_replies_4xx_bye", "Received 4xx replies to BYE", RxReplyMethod(2, 3)},
    d! {"core", "rcv_replies_5xx_bye", "Received 5xx replies to BYE", RxReplyMethod(2, 4)},
    d! {"core", "rcv_replies_6xx_bye", "Received 6xx replies to BYE", RxReplyMethod(2, 5)},
    d! {"core", "rcv_replies_1xx_reg", "Received 1xx replies to REGISTER", RxReplyMethod(3, 0)},
    d! {"core", "rcv_replies_2xx_reg", "Received 2xx replies to REGISTER", RxReplyMethod(3, 1)},
    d! {"core", "rcv_replies_3xx_reg", "Received 3xx replies to REGISTER", RxReplyMethod(3, 2)},
    d! {"core", "rcv_replies_4xx_reg", "Received 4xx replies to REGISTER", RxReplyMethod(3, 3)},
    d! {"core", "rcv_replies_5xx_reg", "Received 5xx replies to REGISTER", RxReplyMethod(3, 4)},
    d! {"core", "rcv_replies_6xx_reg", "Received 6xx replies to REGISTER", RxReplyMethod(3, 5)},
    d! {"core", "rcv_replies_1xx_message", "Received 1xx replies to MESSAGE", RxReplyMethod(4, 0)},
    d! {"core", "rcv_replies_2xx_message", "Received 2xx replies to MESSAGE", RxReplyMethod(4, 1)},
    d! {"core", "rcv_replies_3xx_message", "Received 3xx replies to MESSAGE", RxReplyMethod(4, 2)},
    d! {"core", "rcv_replies_4xx_message", "Received 4xx replies to MESSAGE", RxReplyMethod(4, 3)},
    d! {"core", "rcv_replies_5xx_message", "Received 5xx replies to MESSAGE", RxReplyMethod(4, 4)},
    d! {"core", "rcv_replies_6xx_message", "Received 6xx replies to MESSAGE", RxReplyMethod(4, 5)},
    d! {"core", "rcv_replies_1xx_prack", "Received 1xx replies to PRACK", RxReplyMethod(5, 0)},
    d! {"core", "rcv_replies_2xx_prack", "Received 2xx replies to PRACK", RxReplyMethod(5, 1)},
    d! {"core", "rcv_replies_3xx_prack", "Received 3xx replies to PRACK", RxReplyMethod(5, 2)},
    d! {"core", "rcv_replies_4xx_prack", "Received 4xx replies to PRACK", RxReplyMethod(5, 3)},
    d! {"core", "rcv_replies_5xx_prack", "Received 5xx replies to PRACK", RxReplyMethod(5, 4)},
    d! {"core", "rcv_replies_6xx_prack", "Received 6xx replies to PRACK", RxReplyMethod(5, 5)},
    d! {"core", "rcv_replies_1xx_update", "Received 1xx replies to UPDATE", RxReplyMethod(6, 0)},
    d! {"core", "rcv_replies_2xx_update", "Received 2xx replies to UPDATE", RxReplyMethod(6, 1)},
    d! {"core", "rcv_replies_3xx_update", "Received 3xx replies to UPDATE", RxReplyMethod(6, 2)},
    d! {"core", "rcv_replies_4xx_update", "Received 4xx replies to UPDATE", RxReplyMethod(6, 3)},
    d! {"core", "rcv_replies_5xx_update", "Received 5xx replies to UPDATE", RxReplyMethod(6, 4)},
    d! {"core", "rcv_replies_6xx_update", "Received 6xx replies to UPDATE", RxReplyMethod(6, 5)},
    d! {"core", "rcv_replies_1xx_refer", "Received 1xx replies to REFER", RxReplyMethod(7, 0)},
    d! {"core", "rcv_replies_2xx_refer", "Received 2xx replies to REFER", RxReplyMethod(7, 1)},
    d! {"core", "rcv_replies_3xx_refer", "Received 3xx replies to REFER", RxReplyMethod(7, 2)},
    d! {"core", "rcv_replies_4xx_refer", "Received 4xx replies to REFER", RxReplyMethod(7, 3)},
    d! {"core", "rcv_replies_5xx_refer", "Received 5xx replies to REFER", RxReplyMethod(7, 4)},
    d! {"core", "rcv_replies_6xx_refer", "Received 6xx replies to REFER", RxReplyMethod(7, 5)},
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
    d! {"sl", "1xx_replies", "Stateless 1xx replies sent", SlCode(0)},
    d! {"sl", "200_replies", "Stateless 200 replies sent", SlCode(1)},
    d! {"sl", "202_replies", "Stateless 202 replies sent", SlCode(2)},
    d! {"sl", "2xx_replies", "Stateless 2xx replies sent, but 200 and 202", SlCode(3)},
    d! {"sl", "300_replies", "Stateless 300 replies sent", SlCode(4)},
    d! {"sl", "301_replies", "Stateless 301 replies sent", SlCode(5)},
    d! {"sl", "302_replies", "Stateless 302 replies sent", SlCode(6)},
    d! {"sl", "3xx_replies", "Stateless 3xx replies sent, but 300-302", SlCode(7)},
    d! {"sl", "400_replies", "Stateless 400 replies sent", SlCode(8)},
    d! {"sl", "401_replies", "Stateless 401 replies sent", SlCode(9)},
    d! {"sl", "403_replies", "Stateless 403 replies sent", SlCode(10)},
    d! {"sl", "404_replies", "Stateless 404 replies sent", SlCode(11)},
    d! {"sl", "407_replies", "Stateless 407 replies sent", SlCode(12)},
    d! {"sl", "408_replies", "Stateless 408 replies sent", SlCode(13)},
    d! {"sl", "483_replies", "Stateless 483 replies sent", SlCode(14)},
    d! {"sl", "4xx_replies", "Stateless 4xx replies sent, but those listed", SlCode(15)},
    d! {"sl", "500_replies", "Stateless 500 replies sent", SlCode(16)},
    d! {"sl", "5xx_replies", "Stateless 5xx replies sent, but 500", SlCode(17)},
    d! {"sl", "6xx_replies", "Stateless 6xx replies sent", SlCode(18)},
    d! {"sl", "xxx_replies", "Stateless replies sent with a code outside 100-699", SlCode(19)},
    c("sl", "sent_replies", "Stateless replies sent", |e| {
        (0..SL_CODES.len()).fold(0, |n, i| {
            n.saturating_add(e.board.sum_detail(Detail::SlCode(i)))
        })
    }),
    c(
        "sl",
        "sent_err_replies",
        "Stateless replies sent by sl_reply_error",
        |e| e.board.sum(Fig::SlErrReplies),
    ),
    c("sl", "failures", "Stateless replies that failed", |e| {
        e.board.sum(Fig::SlFailures)
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
