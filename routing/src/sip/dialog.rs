//! The `dialog` module glue: Kamailio's dialog tracking on top of the sans-IO
//! [`ferrosip_state::Dialogs`] table (RFC 3261 §12).
//!
//! # What it does
//! - `dlg_manage()` on an initial INVITE creates the dialog (state 1, unconfirmed); with
//!   `modparam("dialog", "dlg_flag", n)`, an initial INVITE that leaves `request_route` with
//!   flag `n` set is managed the same way.
//! - Before `request_route` runs, every request is matched to a tracked dialog by Call-ID
//!   and tags (RFC 3261 §12.2.2, either direction): an ACK confirms (3 → 4), a BYE deletes
//!   (→ 5), any other in-dialog request restarts the lifetime (unless `timeout_noreset`).
//! - Before `reply_route` runs, every response to an INVITE whose top Via is ours moves its
//!   dialog: 1xx with a To-tag → early (2), 2xx → confirmed, waiting for the ACK (3). A
//!   300-699 deletes the dialog when it goes upstream: at once on the stateless path; on the
//!   stateful path when tm relays (or locally sends) the final negative response, so a
//!   `failure_route` that tries another branch keeps the dialog (tm reports it through
//!   [`Tm::dlg_ended`](super::tm::Tm)).
//! - Deadlines ([`Router::handle_timeouts`](super::Router::handle_timeouts)): `early_timeout`
//!   (300 s) for states 1-2, `noack_timeout` (60 s) for state 3, `default_timeout`
//!   (43200 s) for state 4; a timed-out dialog is deleted.
//! - Profiles: `profiles_with_value` / `profiles_no_value` declare them; `set_dlg_profile`,
//!   `unset_dlg_profile`, `is_in_profile`, `get_profile_size(profile, [value,] $var(n))`.
//!   An undeclared profile name is a configuration error (`file:line:col`), as Kamailio fails
//!   at start-up. The result variable of `get_profile_size` is written by an assignment the
//!   compiler adds after the call, so the 3-argument form must be a statement of its own
//!   (`if (get_profile_size(...))` is a compile error; call it, then test the variable).
//! - Pseudo-variables: `$dlg(state|h_id|h_entry|callid|from_tag|to_tag|start_ts|lifetime)`,
//!   `$dlg_var(name)` (read/write), all about the current dialog (`$null` without one).
//! - `dlg_set_timeout(seconds)` on the current dialog; `is_known_dlg()`.
//!
//! # Known limits
//! - The table is per worker (thread-per-core): every message of a call lands on the worker
//!   owning its Call-ID (ARCHITECTURE §3), so matching is exact. Profile sizes are
//!   process-wide: each worker publishes its counts on a shared [`ProfileBoard`] after every
//!   message and timer batch (and at once in `set_dlg_profile` / `get_profile_size`), and
//!   `get_profile_size` sums all workers. A call another worker set up in the same instant
//!   may be missed by one message (its count is published when that message is done).
//! - Matching is by Call-ID and tags only (Kamailio `dlg_match_mode` 2, DID_NONE): no `did`
//!   Record-Route cookie is added; `rr_param`, `dlg_match_mode`, `hash_size` are accepted and
//!   have no effect. Forked early dialogs share the INVITE's dialog (as in Kamailio).
//! - Accepted without effect: `db_*`, `table_name`, `send_bye`, `ka_*`, `dlg_extra_hdrs`,
//!   `lreq_*_headers`, `event_callback`, `bridge_controller`, `timeout_avp` (use
//!   `dlg_set_timeout`), `track_cseq_updates`, `keep_proxy_rr`, `dlg_filter_mode`,
//!   `enable_dmq`, `enable_stats` (counters always on), `wait_ack`, `initial_cbs_inscript`,
//!   `detect_spirals` (always on: a second INVITE with the same Call-ID and From-tag finds
//!   the existing dialog), `end_timeout`.
//! - No `dlg_bye`, `dlg_refer`, `dlg_bridge`, dialog flags, `$dlg_ctx`, event routes.
//! - A local 2xx to an INVITE (`t_reply("200", ..)`) does not confirm a dialog: a dialog
//!   whose transaction already answered when `request_route` ends is deleted.
//! - The capacity comes from `-m`/`shm_mem_size` (about 1 KiB per dialog, per worker,
//!   clamped to 1024..=262144); a full table makes `dlg_manage()` return -1 and moves
//!   [`DialogStats::refused_full`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use ferrosip_parser::Method;
use ferrosip_state::{
    DialogConfig, DialogError, DialogInput, DialogStats, Dialogs, DlgHandle, ProfileId,
};

use super::ctx::{val_int, val_str, MsgCtx};
use super::tm::RouteMode;
use crate::cfg::{Config, ParamValue};
use crate::names::{Builtin, DlgAttr, Pv, Value};

/// Process-wide dialog profile sizes, which Kamailio's `get_profile_size` reports: a caller's
/// calls have different Call-IDs, so they live on different workers (ARCHITECTURE §3), and
/// a per-caller limit must count them all.
///
/// Each worker publishes its own counts into its own slots after every change; a reader
/// sums the slots of all workers. Totals are atomics (lock-free). Per-value counts are one
/// map per profile and worker, written only by that worker and read by the others under a
/// read lock (uncontended in practice: writers are the owning worker alone, readers only
/// touch it in `get_profile_size` with a value). Bounded like the dialog tables behind it
/// (a value leaves the map when its count reaches 0).
#[derive(Debug)]
pub struct ProfileBoard {
    /// `[profile][worker]`.
    totals: Vec<Box<[AtomicI64]>>,
    /// `[profile][worker]`.
    values: Vec<Box<[RwLock<ValueCounts>]>>,
}

/// One worker's member count per profile value.
type ValueCounts = HashMap<Box<str>, i64>;

impl ProfileBoard {
    /// A board for the profiles `cfg` declares (`profiles_with_value`, `profiles_no_value`)
    /// and `workers` workers, shared by all of them.
    pub fn new(cfg: &Config, workers: usize) -> Arc<Self> {
        let n = ferrosip_state::parse_profiles(
            param_str(cfg, "profiles_with_value"),
            param_str(cfg, "profiles_no_value"),
        )
        .map_or(0, |p| p.len());
        let workers = workers.max(1);
        Arc::new(Self {
            totals: (0..n)
                .map(|_| (0..workers).map(|_| AtomicI64::new(0)).collect())
                .collect(),
            values: (0..n)
                .map(|_| (0..workers).map(|_| RwLock::default()).collect())
                .collect(),
        })
    }

    /// Worker `w`'s counts of profile `p` (and of `value`) changed.
    fn publish(&self, w: usize, p: ProfileId, value: Option<&str>, total: usize, count: usize) {
        let i = p.index();
        let as_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        if let Some(t) = self.totals.get(i).and_then(|t| t.get(w)) {
            t.store(as_i64(total), Ordering::Relaxed);
        }
        let (Some(v), Some(lock)) = (value, self.values.get(i).and_then(|m| m.get(w))) else {
            return;
        };
        let mut map = lock
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if count == 0 {
            map.remove(v);
        } else {
            map.insert(v.into(), as_i64(count));
        }
    }

    /// The size of profile `p` (of `value` when given) over all workers.
    fn size(&self, p: ProfileId, value: Option<&str>) -> i64 {
        let i = p.index();
        match value {
            None => self
                .totals
                .get(i)
                .map_or(0, |t| t.iter().map(|a| a.load(Ordering::Relaxed)).sum()),
            Some(v) => self.values.get(i).map_or(0, |ws| {
                ws.iter()
                    .map(|l| {
                        l.read()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .get(v)
                            .copied()
                            .unwrap_or(0)
                    })
                    .sum()
            }),
        }
    }
}

/// One worker's dialog module: the table and the parameters the message side needs.
#[derive(Debug)]
pub(crate) struct DlgLayer {
    /// The dialogs of this worker.
    pub(crate) table: Dialogs,
    /// `dlg_flag`: manage initial INVITEs that leave `request_route` with this flag set.
    pub(crate) dlg_flag: Option<u32>,
    /// This worker's index (its slots on the board).
    worker: usize,
    /// The process-wide profile sizes.
    board: Arc<ProfileBoard>,
}

/// The dialog side of one message context.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct DlgMsg {
    /// The dialog this message belongs to (matched before the script, or created by
    /// `dlg_manage`).
    pub(crate) cur: Option<DlgHandle>,
    /// `cur` was created while handling this message.
    pub(crate) created: bool,
    /// What the last `get_profile_size` found.
    pub(crate) size: i64,
}

fn param_int(cfg: &Config, name: &str) -> Option<i64> {
    match cfg.modparam("dialog", name)? {
        ParamValue::Int(i) => Some(*i),
        ParamValue::Str(s) => s.trim().parse().ok(),
    }
}

fn param_str<'c>(cfg: &'c Config, name: &str) -> &'c str {
    match cfg.modparam("dialog", name) {
        Some(ParamValue::Str(s)) => s,
        _ => "",
    }
}

impl DlgLayer {
    /// The dialog module of worker `worker` of `workers` from the configuration (an empty,
    /// idle table when the module is not loaded).
    pub(crate) fn from_config(
        cfg: &Config,
        worker: usize,
        workers: usize,
        board: Arc<ProfileBoard>,
    ) -> Self {
        let secs = |name: &str, default: u64| {
            param_int(cfg, name)
                .filter(|v| *v > 0)
                .map_or(Duration::from_secs(default), |v| {
                    Duration::from_secs(v.unsigned_abs())
                })
        };
        let workers = workers.max(1);
        let step = param_int(cfg, "h_id_step")
            .and_then(|v| u32::try_from(v).ok())
            .filter(|v| *v > 0)
            .unwrap_or(1);
        let start = param_int(cfg, "h_id_start")
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(1);
        // h_id stays unique across the workers of this process: worker w hands out
        // start + w*step, then steps by step*workers.
        let w = u32::try_from(worker % workers).unwrap_or(0);
        let n = u32::try_from(workers).unwrap_or(1);
        let shm = u64::from(cfg.core.shm_mem.unwrap_or(64)) * 1024 * 1024;
        let per_worker = shm / workers as u64 / 1024;
        let capacity = usize::try_from(per_worker)
            .unwrap_or(usize::MAX)
            .clamp(1024, ferrosip_state::MAX_DIALOGS_PER_CORE * 4);
        let dcfg = DialogConfig {
            capacity,
            default_timeout: secs("default_timeout", 43_200),
            early_timeout: secs("early_timeout", 300),
            noack_timeout: secs("noack_timeout", 60),
            reset_on_request: param_int(cfg, "timeout_noreset").unwrap_or(0) == 0,
            h_id_start: start.wrapping_add(w.wrapping_mul(step)),
            h_id_step: step.wrapping_mul(n),
            ..DialogConfig::default()
        };
        // Names were checked when the configuration compiled.
        let profiles = ferrosip_state::parse_profiles(
            param_str(cfg, "profiles_with_value"),
            param_str(cfg, "profiles_no_value"),
        )
        .unwrap_or_default();
        let seeds = {
            let p = u64::from(std::process::id());
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            [
                p ^ 0x6a09_e667_f3bc_c908,
                t ^ worker as u64,
                t.rotate_left(29),
                !p,
            ]
        };
        let dlg_flag = param_int(cfg, "dlg_flag")
            .and_then(|v| u32::try_from(v).ok())
            .filter(|v| *v < 64);
        Self {
            table: Dialogs::new(dcfg, profiles, seeds),
            dlg_flag,
            worker: worker % workers,
            board,
        }
    }

    /// Publishes this worker's changed profile counts on the board.
    pub(crate) fn publish(&mut self) {
        let (board, w) = (&self.board, self.worker);
        self.table
            .take_profile_changes(|p, v, total, count| board.publish(w, p, v, total, count));
    }

    /// The counters.
    pub(crate) fn stats(&self) -> DialogStats {
        self.table.stats()
    }

    /// tm sent a final negative response upstream for the INVITE of dialog `h`.
    pub(crate) fn failed(&mut self, h: DlgHandle, now: Instant) {
        let _ = self.table.handle(h, now, DialogInput::Failure);
    }
}

/// Before `request_route`: match the request to a tracked dialog (RFC 3261 §12.2.2) and
/// feed it through the state machine (ACK confirms, BYE deletes, others refresh).
pub(crate) fn on_request(ctx: &mut MsgCtx<'_, '_>) {
    if ctx.dlg.table.is_empty() {
        return;
    }
    let msg = ctx.msg;
    let (Some(call_id), Some(from_tag)) = (msg.call_id(), msg.from().and_then(|f| f.tag)) else {
        return;
    };
    let to_tag = msg.to().and_then(|t| t.tag);
    let Some((h, _dir)) = ctx.dlg.table.find(call_id, from_tag, to_tag) else {
        return;
    };
    ctx.dm.cur = Some(h);
    if to_tag.is_none() {
        return; // the initial INVITE again (retransmission, spiral) or its CANCEL
    }
    let input = match msg.method() {
        Some(Method::Ack) => DialogInput::Ack,
        Some(Method::Bye) => DialogInput::Bye,
        _ => DialogInput::Request,
    };
    let _ = ctx.dlg.table.handle(h, ctx.now, input);
}

/// After `request_route`: tie a dialog created by this request to its server transaction
/// (so tm reports a final failure), manage it if `dlg_flag` asks, and drop it when nothing
/// will ever answer it (no transaction, nothing forwarded).
pub(crate) fn after_request(ctx: &mut MsgCtx<'_, '_>) {
    if let Some(flag) = ctx.dlg.dlg_flag {
        if ctx.dm.cur.is_none() && ctx.flags & (1u64 << flag) != 0 {
            manage(ctx);
        }
    }
    let Some(h) = ctx.dm.cur.filter(|_| ctx.dm.created) else {
        return;
    };
    let server = ctx.t.cur.and_then(|th| ctx.tm.server(th));
    match server {
        Some(s) if s.final_sent => {
            // Answered locally (t_reply) already: no dialog will come of it.
            ctx.dlg.table.remove(h);
        }
        Some(s) => s.dlg = Some(h),
        None if ctx.sent.is_empty() => {
            ctx.dlg.table.remove(h);
        }
        None => {} // forwarded statelessly: the replies move it
    }
}

/// Before `reply_route`: a response to an INVITE moves its dialog. `stateful`: it matched a
/// client transaction, whose final negative response tm reports when it goes upstream.
pub(crate) fn on_reply(ctx: &mut MsgCtx<'_, '_>, stateful: bool) {
    if ctx.dlg.table.is_empty() {
        return;
    }
    let msg = ctx.msg;
    if !msg.cseq().is_some_and(|c| c.method == Method::Invite) {
        return;
    }
    let (Some(call_id), Some(from_tag)) = (msg.call_id(), msg.from().and_then(|f| f.tag)) else {
        return;
    };
    let to_tag = msg.to().and_then(|t| t.tag);
    let Some((h, _)) = ctx.dlg.table.find(call_id, from_tag, to_tag) else {
        return;
    };
    ctx.dm.cur = Some(h);
    let input = match msg.status().unwrap_or(0) {
        101..=199 => DialogInput::Provisional { to_tag },
        200..=299 => DialogInput::Success { to_tag },
        300..=699 if !stateful => DialogInput::Failure,
        _ => return,
    };
    let _ = ctx.dlg.table.handle(h, ctx.now, input);
}

/// `dlg_manage()` / `dlg_flag`: the current dialog, created for an initial INVITE.
fn manage(ctx: &mut MsgCtx<'_, '_>) -> i32 {
    if ctx.dm.cur.is_some() {
        return 1;
    }
    let msg = ctx.msg;
    if ctx.t.mode != RouteMode::Request
        || msg.method() != Some(Method::Invite)
        || msg.to().and_then(|t| t.tag).is_some()
    {
        return -1;
    }
    let (Some(call_id), Some(from_tag)) = (msg.call_id(), msg.from().and_then(|f| f.tag)) else {
        return -1;
    };
    match ctx.dlg.table.create(ctx.now, call_id, from_tag) {
        Ok(h) => {
            ctx.dm.cur = Some(h);
            ctx.dm.created = true;
            1
        }
        Err(DialogError::Exists(h)) => {
            ctx.dm.cur = Some(h);
            1
        }
        Err(e) => {
            tracing::warn!(target: "ferrosip::dialog", "dlg_manage: {e}");
            -1
        }
    }
}

impl MsgCtx<'_, '_> {
    /// Carries out a dialog function (`Host::call` dispatches these here).
    pub(crate) fn dlg_call(&mut self, f: Builtin, args: &[Value<'_>]) -> i32 {
        if f == Builtin::DlgManage {
            return manage(self);
        }
        if f == Builtin::IsKnownDlg {
            let known = self.dm.cur.is_some_and(|h| self.dlg.table.get(h).is_some());
            return if known { 1 } else { -1 };
        }
        if f == Builtin::DlgSetTimeout {
            let (Some(h), Some(s)) = (self.dm.cur, args.first().and_then(val_int)) else {
                return -1;
            };
            let Ok(secs) = u64::try_from(s) else {
                return -1;
            };
            let d = Duration::from_secs(secs);
            return if self.dlg.table.set_timeout(h, self.now, d).is_ok() {
                1
            } else {
                -1
            };
        }
        let name = args.first().and_then(val_str);
        let Some(p) = name.as_deref().and_then(|n| self.dlg.table.profile_id(n)) else {
            return -1;
        };
        let value = args.get(1).and_then(val_str);
        let value = value.as_deref();
        let table = &mut self.dlg.table;
        let ok = match (f, self.dm.cur) {
            (Builtin::GetProfileSize, _) => {
                let with_value = table
                    .profiles()
                    .get(p.index())
                    .is_some_and(|d| d.with_value);
                self.dlg.publish();
                self.dm.size = self.dlg.board.size(p, value.filter(|_| with_value));
                true
            }
            (Builtin::SetDlgProfile, Some(h)) => match table.set_profile(h, p, value) {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(target: "ferrosip::dialog", "set_dlg_profile: {e}");
                    false
                }
            },
            (Builtin::UnsetDlgProfile, Some(h)) => table.unset_profile(h, p, value) == Ok(true),
            (Builtin::IsInProfile, Some(h)) => table.in_profile(h, p, value),
            _ => false,
        };
        if ok {
            1
        } else {
            -1
        }
    }

    /// `$dlg(...)`, `$dlg_var(...)` and the hidden `get_profile_size` result.
    pub(crate) fn dlg_pv(&self, pv: &Pv) -> Value<'static> {
        if matches!(pv, Pv::DlgProfileSize) {
            return Value::Int(self.dm.size);
        }
        let Some(d) = self.dm.cur.and_then(|h| self.dlg.table.get(h)) else {
            return Value::Null;
        };
        let text = |s: &str| Value::Str(s.to_owned().into());
        match pv {
            Pv::Dlg(DlgAttr::State) => Value::Int(i64::from(d.state().code())),
            Pv::Dlg(DlgAttr::HId) => Value::Int(i64::from(d.h_id())),
            Pv::Dlg(DlgAttr::HEntry) => {
                Value::Int(i64::from(self.dm.cur.map_or(0, DlgHandle::index)))
            }
            Pv::Dlg(DlgAttr::CallId) => text(d.call_id()),
            Pv::Dlg(DlgAttr::FromTag) => text(d.from_tag()),
            Pv::Dlg(DlgAttr::ToTag) => d.to_tag().map_or(Value::Null, text),
            Pv::Dlg(DlgAttr::StartTs) => Value::Int(d.confirmed_at().map_or(0, |at| {
                let ago = self.now.saturating_duration_since(at);
                std::time::SystemTime::now()
                    .checked_sub(ago)
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |t| t.as_secs() as i64)
            })),
            Pv::Dlg(DlgAttr::Lifetime) => Value::Int(d.timeout().as_secs() as i64),
            Pv::DlgVar(name) => d.var(name).map_or(Value::Null, text),
            _ => Value::Null,
        }
    }

    /// `$dlg_var(name) = value` (`$null` removes it).
    pub(crate) fn dlg_var_set(&mut self, name: &str, v: &Value<'_>) -> Result<(), String> {
        let h = self.dm.cur.ok_or("$dlg_var: no current dialog")?;
        let v = val_str(v);
        self.dlg
            .table
            .set_var(h, name, v.as_deref())
            .map_err(|e| format!("$dlg_var({name}): {e}"))
    }
}

/// The state of the current dialog, for tests and logs.
#[cfg(test)]
pub(crate) fn state_of(
    layer: &DlgLayer,
    call_id: &str,
    from_tag: &str,
) -> Option<ferrosip_state::DlgState> {
    layer
        .table
        .find(call_id, from_tag, None)
        .and_then(|(h, _)| layer.table.get(h))
        .map(ferrosip_state::Dialog::state)
}

#[cfg(test)]
#[path = "dialog_tests.rs"]
mod tests;
