//! The per-worker pipeline: parse, pre-script checks, `request_route` / the reply path,
//! `onsend_route`, and the transmits that result.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bumpalo::Bump;
use ferrosip_parser::{parse, Edits, Method, ParseError, Proto, Scheme};

use super::ctx::{without_crlf, MsgCtx, ScriptEdits, Shared};
use super::dialog::{DlgLayer, DlgMsg};
use super::hash::hash_parts;
use super::reply::{reply_destination, write_reply, ReplySpec};
use super::resolve::Resolver;
use super::sanity::SanityParams;
use super::stats::Stats;
use super::text::{first_element, header_param, hex8, push_hex, same_header, RawHeaders, ViaScan};
use super::tm::{RouteMode, Saved, Tm, TmMsg, TmParams, TmStats};
use crate::api::{Inbound, Transmit, WorkerEnv};
use crate::cfg::{Config, ParamValue, Script, ScriptVars};

/// The routing pipeline of one worker: owns a copy of the compiled script, its variables, a
/// per-message arena and reusable edit buffers.
///
/// Not `Sync` and not shared: each worker builds its own with [`Router::new`].
pub struct Router {
    script: Script,
    vars: ScriptVars,
    arena: Bump,
    edits: ScriptEdits,
    fwd: Edits,
    shared: Shared,
    resolver: Resolver,
    stats: Stats,
    scratch: Vec<u8>,
    sent: Vec<usize>,
    tm: Tm,
    dlg: DlgLayer,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn param_int(cfg: &Config, module: &str, name: &str) -> Option<i64> {
    match cfg.modparam(module, name)? {
        ParamValue::Int(i) => Some(*i),
        ParamValue::Str(s) => s.trim().parse().ok(),
    }
}

fn param_str<'c>(cfg: &'c Config, module: &str, name: &str) -> Option<&'c str> {
    match cfg.modparam(module, name)? {
        ParamValue::Str(s) => Some(s),
        ParamValue::Int(_) => None,
    }
}

impl Router {
    /// Builds the router of one worker from the compiled configuration, alone in its
    /// process (its dialog profile sizes are its own).
    ///
    /// A shared table that cannot be built (an htable file that does not load) is logged
    /// and left empty; the engine builds [`ProcessState`](super::ProcessState) itself and
    /// stops on that error instead ([`Router::with_process`]).
    pub fn new(cfg: &Config, env: WorkerEnv) -> Self {
        let process = super::ProcessState::new(cfg, env.workers).unwrap_or_else(|e| {
            tracing::error!(target: "ferrosip::sip", "{e}");
            super::ProcessState::empty(cfg, env.workers, super::ProfileBoard::new(cfg, env.workers))
        });
        Self::with_process(cfg, env, process)
    }

    /// Builds the router of one of several workers: `board` (one per process, from
    /// [`ProfileBoard::new`](super::ProfileBoard::new)) sums their dialog profile sizes.
    pub fn with_board(cfg: &Config, env: WorkerEnv, board: Arc<super::ProfileBoard>) -> Self {
        let process = super::ProcessState::with_board(cfg, env.workers, board.clone())
            .unwrap_or_else(|e| {
                tracing::error!(target: "ferrosip::sip", "{e}");
                super::ProcessState::empty(cfg, env.workers, board)
            });
        Self::with_process(cfg, env, process)
    }

    /// Builds the router of one of several workers of a process: `process` (one per
    /// process, from [`ProcessState::new`](super::ProcessState::new)) holds what they share.
    pub fn with_process(cfg: &Config, env: WorkerEnv, process: Arc<super::ProcessState>) -> Self {
        let core = &cfg.core;
        let aliases = core
            .aliases
            .iter()
            .map(|a| {
                let (h, p, _) = super::text::split_host_port(a.trim().as_bytes());
                (String::from_utf8_lossy(h).into_owned(), p)
            })
            .collect();
        let server = if core.server_signature {
            match &core.server_header {
                Some(h) if h.contains(':') => h.trim_end().as_bytes().to_vec(),
                Some(h) => format!("Server: {}", h.trim()).into_bytes(),
                None => b"Server: ferrosip".to_vec(),
            }
        } else {
            Vec::new()
        };
        // Same in every worker of this process (the sl ACK filter works on any worker),
        // different across restarts.
        let mut seed = Vec::with_capacity(64);
        seed.extend_from_slice(&std::process::id().to_le_bytes());
        for s in &env.sockets {
            seed.extend_from_slice(s.addr.to_string().as_bytes());
        }
        let mut hex = Vec::with_capacity(16);
        push_hex(&mut hex, hash_parts(&[b"ferrosip-sl", &seed]), 16);
        let mut tag_prefix = [0u8; 16];
        tag_prefix.copy_from_slice(&hex);
        let mut sanity = SanityParams::default();
        if let Some(v) = param_int(cfg, "sanity", "default_checks") {
            sanity.default_checks = v;
        }
        if let Some(v) = param_int(cfg, "sanity", "uri_checks") {
            sanity.uri_checks = v;
        }
        if let Some(v) = param_int(cfg, "sanity", "autodrop") {
            sanity.autodrop = v != 0;
        }
        if let Some(v) = param_int(cfg, "sanity", "noreply") {
            sanity.noreply = v != 0;
        }
        if let Some(v) = param_str(cfg, "sanity", "proxy_require") {
            sanity.proxy_require = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
        }
        let maxfwd_limit = param_int(cfg, "maxfwd", "max_limit")
            .and_then(|v| u32::try_from(v).ok())
            .filter(|v| (1..=256).contains(v))
            .unwrap_or(super::ctx::DEFAULT_MAX_FORWARDS);
        let tm_params = tm_params(cfg, env.workers);
        let tm = Tm::new(tm_params, tag_prefix, server.clone());
        let mut shared = Shared {
            sockets: env.sockets,
            aliases,
            server,
            tag_prefix,
            maxfwd_limit,
            sanity,
            sip_warning: core.sip_warning,
            sent_by: Vec::new(),
            rr: super::rr::RrParams::from_config(cfg),
            process: process.clone(),
        };
        shared.precompute();
        let dlg = DlgLayer::from_config(cfg, env.worker, env.workers, process.board.clone());
        let script = cfg.script.clone();
        let vars = ScriptVars::new(&script);
        Self {
            script,
            vars,
            arena: Bump::with_capacity(16 * 1024),
            edits: ScriptEdits::default(),
            fwd: Edits::new(),
            shared,
            resolver: Resolver::default(),
            stats: Stats::default(),
            scratch: Vec::with_capacity(256),
            sent: Vec::with_capacity(4),
            tm,
            dlg,
        }
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The state this router shares with the other workers of its process (script
    /// counters, location, htables).
    pub fn process(&self) -> &Arc<super::ProcessState> {
        &self.shared.process
    }

    /// The transaction layer's counters.
    pub fn tm_stats(&self) -> TmStats {
        self.tm.stats
    }

    /// The dialog module's counters.
    pub fn dialog_stats(&self) -> ferrosip_state::DialogStats {
        self.dlg.stats()
    }

    /// This worker's dialog module.
    #[cfg(test)]
    pub(crate) fn dialogs(&mut self) -> &mut DlgLayer {
        &mut self.dlg
    }

    /// Dialogs of this worker not deleted (Kamailio `active_dialogs` + `early_dialogs`).
    pub fn live_dialogs(&self) -> usize {
        self.dlg.table.live()
    }

    /// Live transactions (server and client) in this worker's table.
    pub fn transactions(&self) -> usize {
        self.tm.table.len()
    }

    /// Handles one received message; whatever must be sent is appended to `out`.
    pub fn handle(&mut self, inb: &Inbound<'_>, out: &mut Vec<Transmit>) {
        self.handle_at(inb, Instant::now(), out);
    }

    /// [`Router::handle`] at a given time (the transaction machines' clock; tests simulate it).
    pub fn handle_at(&mut self, inb: &Inbound<'_>, now: Instant, out: &mut Vec<Transmit>) {
        self.handle_msg(inb, now, out);
        if !self.tm.completed.is_empty() {
            self.finish_completed(now, out);
        }
        self.end_dialogs(now);
        self.dlg.publish();
    }

    /// Deletes the dialogs whose INVITE tm answered with a final negative response.
    fn end_dialogs(&mut self, now: Instant) {
        for h in self.tm.dlg_ended.drain(..) {
            self.dlg.failed(h, now);
        }
    }

    /// When [`Router::handle_timeouts`] is next due, if any transaction has a timer armed
    /// or any dialog a deadline.
    pub fn next_timeout(&mut self) -> Option<Instant> {
        match (self.tm.next_deadline(), self.dlg.table.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Fires the transaction timers due at `now` (retransmissions, timeouts, clean-up) and
    /// runs the failure routes they lead to.
    pub fn handle_timeouts(&mut self, now: Instant, out: &mut Vec<Transmit>) {
        self.arena.reset();
        self.tm.on_timers(now, out);
        if !self.tm.completed.is_empty() {
            self.finish_completed(now, out);
        }
        self.end_dialogs(now);
        self.dlg.table.handle_timeout(now);
        self.dlg.publish();
    }

    /// Server transactions whose branches all ended: run the armed `failure_route` (which
    /// may add branches), then relay the best response if nothing is pending (RFC 3261
    /// §16.7 step 6).
    fn finish_completed(&mut self, now: Instant, out: &mut Vec<Transmit>) {
        let mut guard = 0;
        while let Some(hs) = self.tm.completed.pop() {
            guard += 1;
            if guard > 4 * super::tm::MAX_BRANCHES + 64 {
                self.tm.completed.clear();
                break;
            }
            let Some(s) = self.tm.server(hs) else {
                continue;
            };
            if s.final_sent {
                continue;
            }
            if s.on_failure.is_some() && s.branches.len() < super::tm::MAX_BRANCHES {
                self.run_failure(hs, now, out);
            }
            if !self.tm.has_pending(hs) {
                self.tm.send_best(hs, now, out);
            }
        }
    }

    /// Runs `failure_route` for server transaction `hs` on its request as `request_route`
    /// left it (edits, R-URI, flags, `$avp`s).
    fn run_failure(&mut self, hs: ferrosip_state::TxHandle, now: Instant, out: &mut Vec<Transmit>) {
        self.sent.clear();
        let Self {
            script,
            vars,
            arena,
            edits,
            fwd,
            shared,
            resolver,
            stats,
            scratch,
            sent,
            tm,
            dlg,
        } = self;
        let arena: &Bump = arena;
        let Some(s) = tm.server(hs) else { return };
        let Some(route) = s.on_failure.take() else {
            return;
        };
        let saved = s.saved.take().unwrap_or_default();
        let t = TmMsg {
            mode: RouteMode::Failure,
            cur: Some(hs),
            reply_code: Some(s.best.as_ref().map_or(408, |b| b.code)),
            branch_idx: s.best.as_ref().map(|b| b.branch),
            branch_timeout: s.timed_out,
            branch_replied: s.replied,
            ..TmMsg::default()
        };
        let (src, local, proto, conn, dlg_cur) = (s.src, s.local, s.proto, s.conn, s.dlg);
        let x_failure = super::kcore::XMsg::for_failure(&s.ext, s.best.as_ref().map(|b| b.branch));
        let request: &[u8] = arena.alloc_slice_copy(&s.request);
        let contacts = std::mem::take(&mut s.contacts);
        tm.dset.clear();
        tm.path = None;
        tm.contacts = contacts;
        tm.stats.failure_routes += 1;
        vars.begin_message();
        vars.restore_avps(&saved.avps);
        let Ok(msg) = parse(request, arena) else {
            return;
        };
        edits.clone_from(&saved.edits);
        let new_ruri = saved.new_ruri.as_deref().map(|r| &*arena.alloc_str(r));
        let mut ctx = MsgCtx {
            msg: &msg,
            inb: Inbound {
                data: request,
                src,
                local,
                proto,
                conn,
            },
            arena,
            sh: shared,
            resolver,
            edits,
            fwd,
            out,
            stats,
            scratch,
            new_ruri,
            du: None,
            flags: saved.flags,
            maxfwd_done: saved.maxfwd_done,
            last_error: None,
            deleted: saved.deleted,
            sent,
            tm,
            now,
            t,
            rr: saved.rr.restore(arena),
            dlg,
            dm: DlgMsg {
                cur: dlg_cur,
                ..DlgMsg::default()
            },
            auth: Default::default(),
            x: x_failure,
        };
        script.run(route, &mut ctx, vars);
        if let Some(d) = ctx.tm.deferred.take() {
            run_branch_routes(&mut ctx, script, vars, *d);
        }
        let contacts = std::mem::take(&mut ctx.tm.contacts);
        ctx.tm.dset.clear();
        ctx.tm.path = None;
        if let Some(s) = ctx.tm.server(hs) {
            s.saved = Some(saved);
            s.contacts = contacts;
        }
    }

    fn handle_msg(&mut self, inb: &Inbound<'_>, now: Instant, out: &mut Vec<Transmit>) {
        self.arena.reset();
        self.vars.begin_message();
        self.edits.clear();
        self.sent.clear();
        self.tm.dset.clear();
        self.tm.path = None;
        self.tm.contacts.clear();
        let Self {
            script,
            vars,
            arena,
            edits,
            fwd,
            shared,
            resolver,
            stats,
            scratch,
            sent,
            tm,
            dlg,
        } = self;
        let msg = match parse(inb.data, arena) {
            Ok(m) => m,
            Err(e) => {
                reject_unparsed(shared, stats, inb, e, out);
                return;
            }
        };
        let is_request = msg.is_request();
        if is_request {
            stats.rx_requests += 1;
            stats.count_request(msg.method());
        } else {
            stats.rx_replies += 1;
            // A malformed Via below the topmost (parsed on first use in responses, see
            // the parser's `Message::via_error`) makes the reply unparsable, as before the
            // parse became lazy: dropped and counted. Relaying reads every Via anyway.
            if !msg.version().is_sip_2_0() || msg.via_error().is_some() {
                stats.bad_replies += 1;
                return;
            }
            stats.count_reply(msg.status().unwrap_or(0), msg.cseq().map(|c| c.method));
        }
        let inb = *inb;
        let mut ctx = MsgCtx {
            msg: &msg,
            inb,
            arena,
            sh: shared,
            resolver,
            edits,
            fwd,
            out,
            stats,
            scratch,
            new_ruri: None,
            du: None,
            flags: 0,
            maxfwd_done: false,
            last_error: None,
            deleted: 0,
            sent,
            tm,
            now,
            t: TmMsg::default(),
            rr: Default::default(),
            dlg,
            dm: DlgMsg::default(),
            auth: Default::default(),
            x: Default::default(),
        };
        if is_request {
            request(&mut ctx, script, vars);
        } else {
            reply(&mut ctx, script, vars);
        }
    }
}

/// The tm parameters from `modparam("tm", ...)` (Kamailio names, milliseconds) and the table
/// bound from `-m` / `shm_mem_size` (MiB, default 64): each worker gets its share at about
/// 2 KiB per transaction (measured: a relayed INVITE holds a server and a client
/// transaction of about 1 KiB each).
fn tm_params(cfg: &Config, workers: usize) -> TmParams {
    let mut p = TmParams::default();
    let ms = |name: &str| {
        param_int(cfg, "tm", name)
            .filter(|v| *v > 0)
            .map(|v| Duration::from_millis(v.unsigned_abs()))
    };
    let t = &mut p.timers;
    if let Some(d) = ms("fr_timer") {
        t.fr_timer = Some(d);
    }
    if let Some(d) = ms("fr_inv_timer") {
        t.timer_c = Some(d);
    }
    if let Some(d) = ms("wt_timer") {
        t.wait_timer = Some(d);
        t.timer_d = d;
    }
    if let Some(d) = ms("retr_timer1") {
        t.t1 = d;
    }
    if let Some(d) = ms("retr_timer2") {
        t.t2 = d;
    }
    if let Err(e) = t.validate(false) {
        tracing::warn!(target: "ferrosip::tm", "tm timers: {e}; using the defaults for T1 and T2");
        let d = super::tm::kamailio_timers();
        t.t1 = d.t1;
        t.t2 = d.t2;
    }
    if let Some(v) = param_int(cfg, "tm", "auto_inv_100") {
        p.auto_100 = v != 0;
    }
    let shm = u64::from(cfg.core.shm_mem.unwrap_or(64)) * 1024 * 1024;
    let per_worker = shm / workers.max(1) as u64 / 2048;
    p.capacity = usize::try_from(per_worker)
        .unwrap_or(usize::MAX)
        .clamp(1024, ferrosip_state::MAX_PENDING_TX_PER_CORE * 4);
    p
}

/// The request path: pre-script checks, `request_route`, then `onsend_route` per forward.
fn request(ctx: &mut MsgCtx<'_, '_>, script: &Script, vars: &mut ScriptVars) {
    let msg = ctx.msg;
    let is_ack = matches!(msg.method(), Some(Method::Ack));
    // RFC 3261 §8.2.2 / §16.3: version and URI scheme are checked before routing.
    if !msg.version().is_sip_2_0() {
        if is_ack || ctx.send_reply(505, b"Version Not Supported", b"") < 0 {
            ctx.stats.drops += 1;
        } else {
            ctx.stats.bad_requests += 1;
        }
        return;
    }
    if msg.ruri().is_some_and(|u| u.scheme == Scheme::Other) {
        if is_ack || ctx.send_reply(416, b"Unsupported URI Scheme", b"") < 0 {
            ctx.stats.drops += 1;
        } else {
            ctx.stats.bad_requests += 1;
        }
        return;
    }
    // Kamailio sl: an ACK to one of our own stateless replies ends here.
    if is_ack {
        let ours = msg.to().and_then(|t| t.tag).is_some_and(|tag| {
            let t = tag.as_bytes();
            t.len() > 17 && t[..16] == ctx.sh.tag_prefix && t[16] == b'-'
        });
        if ours {
            // Also the ACK of a local non-2xx of a transaction (RFC 3261 §17.2.1).
            if let Some(h) =
                super::tm::server_key(msg, "INVITE").and_then(|k| ctx.tm.find_server(k))
            {
                ctx.tm.absorb(h, ctx.now, true, ctx.out);
            }
            ctx.stats.acks_absorbed += 1;
            return;
        }
    }
    // dialog: in-dialog requests move their dialog before the script sees them.
    super::dialog::on_request(ctx);
    let Some(route) = script.request_route() else {
        ctx.stats.drops += 1;
        return;
    };
    let outcome = script.run(route, ctx, vars);
    if outcome.dropped {
        ctx.stats.drops += 1;
    }
    if let Some(d) = ctx.tm.deferred.take() {
        run_branch_routes(ctx, script, vars, *d);
    }
    if let Some(h) = ctx.t.cur.filter(|_| ctx.t.created) {
        keep_or_drop_transaction(ctx, vars, h);
    }
    super::dialog::after_request(ctx);
    if ctx.sent.is_empty() {
        return;
    }
    let Some(onsend) = script.onsend_route() else {
        return;
    };
    // Walk backwards so removals keep the earlier indexes valid.
    let mut k = ctx.sent.len();
    while k > 0 {
        k -= 1;
        let i = ctx.sent[k];
        let o = script.run(onsend, ctx, vars);
        if o.dropped && i < ctx.out.len() {
            ctx.out.remove(i);
            ctx.stats.fwd_requests = ctx.stats.fwd_requests.saturating_sub(1);
            ctx.stats.drops += 1;
        }
    }
}

/// Sends the branches of a deferred `t_relay`, each after its `branch_route` (Kamailio:
/// per-branch changes of R-URI, `$du` and headers; `drop` cancels that branch). Each branch
/// starts from the request as the calling route left it.
fn run_branch_routes(
    ctx: &mut MsgCtx<'_, '_>,
    script: &Script,
    vars: &mut ScriptVars,
    d: super::tm::Deferred,
) {
    let base = ctx.edits.clone();
    let (deleted, maxfwd_done, mode) = (ctx.deleted, ctx.maxfwd_done, ctx.t.mode);
    let (ruri, du, path) = (ctx.new_ruri, ctx.du, ctx.tm.path.take());
    let mut args: Vec<crate::names::Value<'_>> = Vec::new();
    if let Some(h) = &d.host {
        args.push(crate::names::Value::Str(std::borrow::Cow::Borrowed(h)));
        if let Some(p) = d.port {
            args.push(crate::names::Value::Int(p));
        }
    }
    for (pos, b) in std::iter::once(&d.main).chain(d.dset.iter()).enumerate() {
        ctx.x.relay_pos = pos;
        ctx.edits.clone_from(&base);
        ctx.deleted = deleted;
        ctx.maxfwd_done = maxfwd_done;
        ctx.new_ruri = Some(ctx.alloc_str(&b.uri));
        ctx.du = b.du.as_deref().map(|x| ctx.alloc_str(x));
        ctx.tm.path.clone_from(&b.path);
        ctx.t.mode = RouteMode::Branch;
        let o = script.run(d.route, ctx, vars);
        ctx.t.mode = mode;
        if o.dropped {
            continue;
        }
        ctx.relay_branch(d.hs, &args, d.force);
    }
    ctx.edits.clone_from(&base);
    ctx.x.relay_pos = 0;
    (ctx.deleted, ctx.maxfwd_done, ctx.new_ruri, ctx.du) = (deleted, maxfwd_done, ruri, du);
    ctx.tm.path = path;
}

/// After `request_route` created a server transaction: drop it if nothing will ever answer
/// it (no branch, no reply), else keep what an armed `failure_route` needs.
fn keep_or_drop_transaction(
    ctx: &mut MsgCtx<'_, '_>,
    vars: &ScriptVars,
    h: ferrosip_state::TxHandle,
) {
    let contacts = std::mem::take(&mut ctx.tm.contacts);
    ctx.acc_request_done(h);
    let Some(s) = ctx.tm.server(h) else { return };
    if s.branches.is_empty() && !s.final_sent {
        ctx.tm.remove(h);
        return;
    }
    if !s.final_sent {
        // What t_next_contacts has not used yet, for the failure routes (serial forking).
        s.contacts = contacts;
    }
    if s.on_failure.is_some() && s.saved.is_none() {
        s.saved = Some(Box::new(Saved {
            edits: ctx.edits.clone(),
            new_ruri: ctx.new_ruri.map(Into::into),
            flags: ctx.flags,
            avps: vars.avps_snapshot(),
            rr: ctx.rr.save(),
            maxfwd_done: ctx.maxfwd_done,
            deleted: ctx.deleted,
        }));
    }
}

/// The reply path (RFC 3261 §16.11 stateless response forwarding, §18.2.2): our Via must be
/// on top; `reply_route` may drop; our Via is removed and the response goes to the next Via.
fn reply(ctx: &mut MsgCtx<'_, '_>, script: &Script, vars: &mut ScriptVars) {
    let msg = ctx.msg;
    let Some(top) = msg.top_via() else {
        ctx.stats.dropped_replies += 1;
        return;
    };
    if !ctx.sh.is_local(top.host.as_bytes(), top.port) {
        ctx.stats.dropped_replies += 1;
        return;
    }
    // tm: the client transaction by our branch and the CSeq method (RFC 3261 §17.1.3).
    let hc = match (top.branch, msg.cseq()) {
        // A stateless proxy has no transactions: no key to hash.
        _ if ctx.tm.table.is_empty() => None,
        (Some(b), Some(cs)) => ctx
            .tm
            .table
            .find(ferrosip_state::TxKeyRef::client(b, cs.method.as_str())),
        _ => None,
    };
    ctx.t.mode = RouteMode::Reply;
    ctx.t.client = hc;
    // dialog: responses to an INVITE move its dialog, on both the stateless and the
    // stateful path (before reply_route, so the routes see the new state).
    super::dialog::on_reply(ctx, hc.is_some());
    if let Some(route) = script.reply_route() {
        let o = script.run(route, ctx, vars);
        if o.dropped {
            ctx.stats.dropped_replies += 1;
            return;
        }
    }
    if let Some(hc) = hc {
        stateful_reply(ctx, script, vars, hc);
        return;
    }
    let vias = msg.vias();
    let Some(next) = vias.get(1) else {
        ctx.stats.drops += 1;
        return;
    };
    let buf = msg.buf();
    if !without_our_via(ctx) {
        return;
    }
    // Next hop from the next Via: received / rport when present (RFC 3581 §4).
    let Some(proto) = next.proto else {
        ctx.stats.send_errors += 1;
        return;
    };
    let default_port = if proto == Proto::Tls { 5061 } else { 5060 };
    let sent_by_port = next.port.filter(|&p| p != 0).unwrap_or(default_port);
    let (host, port) = match (next.maddr, next.rport) {
        // Unreliable transport with maddr: there, on the sent-by port (RFC 3261 §18.2.2).
        (Some(maddr), _) if proto == Proto::Udp => (maddr, sent_by_port),
        (_, Some(Some(p))) if p != 0 => (next.received.unwrap_or(next.host), p),
        _ => (next.received.unwrap_or(next.host), sent_by_port),
    };
    let Some(ip) = ctx.resolver.resolve(host) else {
        ctx.stats.send_errors += 1;
        return;
    };
    let bad = match ip {
        std::net::IpAddr::V4(v4) => v4.is_broadcast() || v4.is_unspecified() || v4.is_multicast(),
        std::net::IpAddr::V6(v6) => v6.is_unspecified() || v6.is_multicast(),
    };
    if bad {
        ctx.stats.send_errors += 1;
        return;
    }
    let local = ctx.pick_socket(proto, ip);
    if local.is_none() {
        ctx.stats.send_errors += 1;
        return;
    }
    let mut data = Vec::with_capacity(buf.len());
    if ctx.fwd.apply(buf, &mut data).is_err() {
        ctx.stats.send_errors += 1;
        return;
    }
    ctx.out.push(Transmit {
        proto,
        dst: SocketAddr::new(ip, port),
        local,
        conn: None,
        no_connect: false,
        data,
    });
    ctx.stats.fwd_replies += 1;
}

/// A response that matched client transaction `hc`: its `onreply_route` (armed with
/// `t_on_reply`) runs, then the transaction layer relays or keeps it (RFC 3261 §16.7). A
/// provisional response dropped in `onreply_route` is not relayed.
fn stateful_reply(
    ctx: &mut MsgCtx<'_, '_>,
    script: &Script,
    vars: &mut ScriptVars,
    hc: ferrosip_state::TxHandle,
) {
    let msg = ctx.msg;
    let code = msg.status().unwrap_or(0);
    let on_reply = ctx
        .tm
        .client(hc)
        .map(|c| c.parent)
        .and_then(|p| ctx.tm.server(p))
        .and_then(|s| s.on_reply);
    if let Some(c) = ctx.tm.client(hc) {
        ctx.t.branch_idx = Some(c.idx);
    }
    let mut dropped = false;
    if let Some(route) = on_reply {
        dropped = script.run(route, ctx, vars).dropped;
    }
    let bytes = if (dropped && code < 200) || msg.vias().len() < 2 || !without_our_via(ctx) {
        None
    } else {
        let buf = msg.buf();
        let mut data = Vec::with_capacity(buf.len());
        ctx.fwd.apply(buf, &mut data).is_ok().then_some(data)
    };
    let buf = msg.buf();
    let to = msg
        .header(ferrosip_parser::HeaderName::To)
        .and_then(|h| buf.get(without_crlf(buf, h.line.clone())))
        .unwrap_or_default();
    ctx.tm.on_response(hc, code, bytes, to, ctx.now, ctx.out);
}

/// Loads the edits that remove our (top) Via from a response into `ctx.fwd`, with the
/// script's edits and without trailing octets; `false` when there is no Via to remove.
fn without_our_via(ctx: &mut MsgCtx<'_, '_>) -> bool {
    let msg = ctx.msg;
    let vias = msg.vias();
    let (Some(top), Some(next)) = (vias.first(), vias.get(1)) else {
        ctx.stats.drops += 1;
        return false;
    };
    let buf = msg.buf();
    ctx.edits.replay(ctx.fwd);
    // Remove our Via: the whole line when it holds only our value, else our value and the
    // comma after it.
    let same_line = vias
        .iter()
        .filter(|v| v.header_index == top.header_index)
        .count();
    if same_line <= 1 {
        if let Some(h) = msg.headers().get(top.header_index) {
            if !ctx.is_deleted(top.header_index) {
                ctx.fwd.delete(h.line.clone());
            }
        }
    } else {
        ctx.fwd.delete(top.span.start..next.span.start);
    }
    if msg.len() < buf.len() {
        ctx.fwd.delete(msg.len()..buf.len());
    }
    true
}

/// A message the parser rejected. A request is answered `400 <reason>` (513 for size, per
/// [`ParseError::status`]) built from whatever Via/From/To/Call-ID/CSeq lines a lenient scan
/// finds (RFC 4475 §3.1.2); with no Via or Call-ID, or for an ACK, it is dropped. A response is
/// dropped.
fn reject_unparsed(
    sh: &Shared,
    stats: &mut Stats,
    inb: &Inbound<'_>,
    e: ParseError,
    out: &mut Vec<Transmit>,
) {
    let start = RawHeaders::start_line(inb.data);
    if start.starts_with(b"SIP/") {
        stats.rx_replies += 1;
        stats.bad_replies += 1;
        return;
    }
    stats.rx_requests += 1;
    let method = start.split(|&c| c == b' ').next().unwrap_or_default();
    let mut via = None;
    let mut call_id: &[u8] = b"";
    let mut from: &[u8] = b"";
    for h in RawHeaders::new(inb.data) {
        if via.is_none() && same_header(h.name, b"via") {
            via = Some(h.value);
        } else if call_id.is_empty() && same_header(h.name, b"call-id") {
            call_id = h.value;
        } else if from.is_empty() && same_header(h.name, b"from") {
            from = h.value;
        }
    }
    let Some(via) = via else {
        stats.drops += 1;
        return;
    };
    if call_id.is_empty() || method == b"ACK" || e == ParseError::Empty {
        stats.drops += 1;
        return;
    }
    let branch = {
        let el = first_element(via);
        ViaScan::scan(via.get(el).unwrap_or_default())
            .and_then(|s| s.branch)
            .unwrap_or_default()
    };
    let h = hash_parts(&[
        call_id,
        header_param(from, b"tag").unwrap_or_default(),
        branch,
    ]);
    let mut tag = [0u8; 25];
    tag[..16].copy_from_slice(&sh.tag_prefix);
    tag[16] = b'-';
    tag[17..].copy_from_slice(&hex8(h));
    let spec = ReplySpec {
        code: e.status(),
        reason: e.reason().as_bytes(),
        to_tag: &tag,
        server: &sh.server,
        extra: b"",
    };
    let mut data = Vec::with_capacity(512);
    let buf = inb.data;
    let fields = RawHeaders::new(buf).map(|h| (h.name, without_crlf(buf, h.field)));
    let top = write_reply(&mut data, &spec, buf, fields, inb.src);
    let (proto, dst, conn) = reply_destination(top.as_ref(), inb);
    out.push(Transmit {
        proto,
        dst,
        local: Some(inb.local),
        conn,
        no_connect: false,
        data,
    });
    stats.bad_requests += 1;
    stats.local_replies += 1;
    stats.count_sl_reply(spec.code);
}
