//! The `tm` and `tmx` script functions on a message context (Kamailio semantics, RFC 3261
//! §16 and §17): `t_relay`, `t_newtran`, `t_reply`, `t_check_trans`, `t_precheck_trans`,
//! `t_on_failure` / `t_on_reply` / `t_on_branch`, `t_check_status`, `t_branch_timeout`,
//! `t_branch_replied`, `t_is_canceled`, `t_set_fr`, `t_drop_replies`.

use std::time::Duration;

use ferrosip_parser::{Method, Proto};

use super::ctx::{val_int, val_str, Failure, MsgCtx};
use super::tm::{server_key, Dest, RouteMode};
use crate::cfg::RouteId;
use crate::names::Value;

/// A q-value argument (`"0.5"`, `0.5` as text, or an integer 0..=1000 in thousandths) in
/// thousandths (RFC 3261 §20.10: 0 to 1, three decimals).
fn q_value(v: &Value<'_>) -> Option<i32> {
    let q = match v {
        Value::Int(i) => i32::try_from(*i).ok()?,
        _ => {
            let t = val_str(v)?;
            let f: f64 = t.trim().parse().ok()?;
            if !(0.0..=1.0).contains(&f) {
                return None;
            }
            (f * 1000.0).round() as i32
        }
    };
    (0..=1000).contains(&q).then_some(q)
}

/// Most distinct `t_check_status` patterns kept compiled per worker.
const MAX_CACHED_PATTERNS: usize = 32;

impl MsgCtx<'_, '_> {
    /// The method that keys this request's server transaction (ACK → INVITE, §17.2.3).
    fn tx_method(&self) -> &str {
        match self.msg.method() {
            Some(Method::Ack) => "INVITE",
            Some(m) => m.as_str(),
            None => "",
        }
    }

    /// Creates the server transaction of this request (Kamailio `t_newtran`). `Err` holds the
    /// script code: 0 for a retransmission (absorbed: answered with the last response),
    /// negative when refused.
    fn ensure_server(&mut self) -> Result<ferrosip_state::TxHandle, i32> {
        if let Some(h) = self.t.cur {
            return Ok(h);
        }
        let method = self.tx_method();
        let Some(key) = server_key(self.msg, method) else {
            // RFC 2543 branch (no magic cookie): no transaction matching is possible.
            return Err(-1);
        };
        let key = key.to_owned_key();
        match self.tm.new_server(key, self.msg, &self.inb, self.now) {
            Ok(h) => {
                self.t.cur = Some(h);
                self.t.created = true;
                self.arm(h);
                Ok(h)
            }
            Err(Some(h)) => {
                self.tm.absorb(h, self.now, false, self.out);
                Err(0)
            }
            Err(None) => Err(self.fail(Failure::TableFull)),
        }
    }

    /// Answers server transaction `h`, whose request this message is, through its machine
    /// (built from the parsed message, not from the stored copy).
    fn reply_in_tx(&mut self, h: ferrosip_state::TxHandle, code: u16, reason: &[u8]) -> bool {
        match self.reply_bytes(code, reason, b"") {
            Some((data, _)) => self.tm.send_local(h, code, data, self.now, self.out),
            None => false,
        }
    }

    /// Copies the routes and timers armed in this message onto server transaction `h`.
    fn arm(&mut self, h: ferrosip_state::TxHandle) {
        let t = self.t;
        if let Some(s) = self.tm.server(h) {
            if t.on_failure.is_some() {
                s.on_failure = t.on_failure;
            }
            if t.on_reply.is_some() {
                s.on_reply = t.on_reply;
            }
            if t.fr.is_some() {
                s.fr = t.fr;
            }
        }
        self.x_arm(h);
    }

    /// `t_relay([host[, port]])`, `t_relay_to_udp`, `t_relay_to_tcp` (RFC 3261 §16.6): relays
    /// the request statefully; ACK and a CANCEL without a transaction go statelessly.
    /// 1 on success, 0 for an absorbed retransmission, negative on failure.
    pub(crate) fn t_relay(&mut self, args: &[Value<'_>], force: Option<Proto>) -> i32 {
        if !self.msg.is_request() || matches!(self.t.mode, RouteMode::Reply | RouteMode::Branch) {
            return -1;
        }
        match self.msg.method() {
            Some(Method::Ack) => return self.t_relay_ack(args, force),
            Some(Method::Cancel) if self.t.mode == RouteMode::Request => {
                return self.t_relay_cancel(args, force)
            }
            _ => {}
        }
        if self.t.mode == RouteMode::Request
            && self.t.cur.is_none()
            && server_key(self.msg, self.tx_method()).is_none()
        {
            // Without an RFC 3261 branch there is no transaction to match retransmissions
            // against (§17.2.3): relay statelessly.
            return self.forward(args, force);
        }
        let hs = match self.ensure_server() {
            Ok(h) => h,
            Err(code) => return code,
        };
        self.arm(hs);
        let (invite, idx, final_sent) = match self.tm.server(hs) {
            Some(s) => (s.invite, s.branches.len(), s.final_sent),
            None => return -1,
        };
        if final_sent {
            return -1;
        }
        if idx >= super::tm::MAX_BRANCHES {
            return self.fail(Failure::TooManyBranches);
        }
        // Kamailio auto_inv_100: 100 Trying when the INVITE is first relayed (§16.2 / §17.2.1).
        if invite && idx == 0 && self.t.mode == RouteMode::Request && self.tm.params.auto_100 {
            self.reply_in_tx(hs, 100, b"trying -- your call is important to us");
        }
        // With a branch_route armed the branches go out once this route has finished.
        if let Some(route) = self.t.on_branch.take() {
            if self.tm.deferred.is_some() {
                return -1;
            }
            let main = super::tm::Branch {
                uri: self.ruri_str().unwrap_or_default().into(),
                du: self.du.map(Into::into),
                q: super::tm::Q_UNSET,
                path: self.tm.path.clone(),
            };
            self.tm.deferred = Some(Box::new(super::tm::Deferred {
                hs,
                route,
                force,
                host: args.first().and_then(val_str).map(|h| h.as_ref().into()),
                port: args.get(1).and_then(val_int),
                main,
                dset: std::mem::take(&mut self.tm.dset),
            }));
            return 1;
        }
        // Parallel forking (RFC 3261 §16.6): the R-URI branch, then every branch of the
        // destination set (`append_branch`, `t_next_contacts`).
        let dset = std::mem::take(&mut self.tm.dset);
        let mut r = self.relay_branch(hs, args, force);
        if r == 0 {
            return 0;
        }
        let (ruri, du) = (self.new_ruri, self.du);
        let path = self.tm.path.take();
        for (pos, b) in dset.iter().enumerate() {
            self.x.relay_pos = pos + 1;
            self.new_ruri = Some(self.alloc_str(&b.uri));
            self.du = b.du.as_deref().map(|d| self.alloc_str(d));
            self.tm.path.clone_from(&b.path);
            let rb = self.relay_branch(hs, args, force);
            if rb > 0 || r < 0 {
                r = rb;
            }
        }
        (self.new_ruri, self.du, self.tm.path) = (ruri, du, path);
        self.x.relay_pos = 0;
        if r > 0 {
            1
        } else if r == 0 {
            -1
        } else {
            r
        }
    }

    /// Sends one branch of server transaction `hs` to the current destination (`$du`, else
    /// the R-URI, or the `t_relay` arguments).
    pub(crate) fn relay_branch(
        &mut self,
        hs: ferrosip_state::TxHandle,
        args: &[Value<'_>],
        force: Option<Proto>,
    ) -> i32 {
        let idx = self.tm.server(hs).map_or(0, |s| s.branches.len());
        if idx >= super::tm::MAX_BRANCHES {
            return self.fail(Failure::TooManyBranches);
        }
        let p = match self.prepare_forward(args, force, Some(idx as u32 + 1)) {
            Ok(p) => p,
            Err(code) => return code,
        };
        let dest = Dest {
            proto: p.target.proto,
            dst: p.target.addr,
            local: Some(p.sock),
            conn: None,
            no_connect: self.x.forward_no_connect
                || self.tm.server(hs).is_some_and(|s| s.ext.forward_no_connect),
        };
        let Ok(branch) = std::str::from_utf8(&p.branch) else {
            return self.fail(Failure::ConflictingEdits);
        };
        let method = self.method_str();
        let before = self.out.len();
        match self
            .tm
            .add_branch(hs, branch, method, p.data, dest, self.now, self.out)
        {
            Some(_) => {
                self.x_branch_added(hs, idx);
                if self.out.len() > before {
                    self.sent.push(before);
                }
                self.stats.fwd_requests += 1;
                1
            }
            None => self.fail(Failure::TableFull),
        }
    }

    /// Core `append_branch([uri [, q]])`: adds a branch to the destination set, with the
    /// current R-URI and `$du` when no URI is given; `t_relay` forks to all of them. -1 when
    /// the URI does not parse or the set holds `max_branches` already.
    pub(crate) fn append_branch(&mut self, args: &[Value<'_>]) -> i32 {
        if !self.msg.is_request() || self.tm.dset.len() + 1 >= super::tm::MAX_BRANCHES {
            return -1;
        }
        let (uri, du) = match args.first().and_then(val_str) {
            Some(u) => (u.trim().to_owned(), None),
            None => match self.ruri_str() {
                Some(u) => (u.to_owned(), self.du.map(str::to_owned)),
                None => return -1,
            },
        };
        if uri.len() > super::ctx::MAX_SCRIPT_TEXT || ferrosip_parser::Uri::parse(&uri).is_err() {
            return -1;
        }
        let q = match args.get(1).and_then(q_value) {
            Some(q) => q,
            None if args.len() > 1 => return -1,
            None => super::tm::Q_UNSET,
        };
        self.tm.dset.push(super::tm::Branch {
            uri: uri.into(),
            du: du.map(Into::into),
            q,
            path: None,
        });
        1
    }

    /// `t_load_contacts()` (tm, RFC 3261 §16.6 with §20.10 q-values): moves the R-URI and the
    /// destination set, ordered by q (highest first, stable), into the transaction's contact
    /// list for `t_next_contacts`. With one contact or equal q-values there is nothing to
    /// order: it returns 1 and leaves them as they are (parallel forking).
    pub(crate) fn t_load_contacts(&mut self) -> i32 {
        if !self.msg.is_request() {
            return -1;
        }
        let Some(ruri) = self.ruri_str() else {
            return -1;
        };
        if self.tm.dset.is_empty() {
            return 1;
        }
        let first = self.tm.dset[0].q;
        if self.tm.dset.iter().all(|b| b.q == first) && first == super::tm::Q_UNSET {
            return 1;
        }
        let mut all = Vec::with_capacity(self.tm.dset.len() + 1);
        all.push(super::tm::Branch {
            uri: ruri.into(),
            du: self.du.map(Into::into),
            q: super::tm::Q_UNSET,
            path: self.tm.path.take(),
        });
        all.append(&mut self.tm.dset);
        if all.iter().all(|b| b.q == all[0].q) {
            self.tm.dset = all.split_off(1);
            return 1;
        }
        // Unset q counts as 1.0 (RFC 3261 §20.10 "q" defaults to the highest preference).
        all.sort_by_key(|b| std::cmp::Reverse(b.q_or_default()));
        self.tm.contacts = all;
        1
    }

    /// `t_next_contacts()`: the next group of contacts with the highest remaining q-value:
    /// the first becomes the R-URI, the others branches (serial forking between groups,
    /// parallel within one). -1 when none is left.
    pub(crate) fn t_next_contacts(&mut self) -> i32 {
        if !self.msg.is_request() || self.tm.contacts.is_empty() {
            return -1;
        }
        let q = self.tm.contacts[0].q_or_default();
        let n = self
            .tm
            .contacts
            .iter()
            .take_while(|b| b.q_or_default() == q)
            .count();
        let group: Vec<_> = self.tm.contacts.drain(..n).collect();
        let mut it = group.into_iter();
        let Some(first) = it.next() else { return -1 };
        self.new_ruri = Some(self.alloc_str(&first.uri));
        self.du = first.du.as_deref().map(|d| self.alloc_str(d));
        self.tm.path = first.path;
        self.tm.dset.clear();
        self.tm.dset.extend(it);
        1
    }

    /// `t_relay()` on an ACK: one for a non-2xx final response of ours is absorbed by the
    /// INVITE server transaction (RFC 3261 §17.2.1); the ACK of a 2xx is end to end and is
    /// forwarded statelessly (§16.7 step 10, RFC 6026 §8.7).
    fn t_relay_ack(&mut self, args: &[Value<'_>], force: Option<Proto>) -> i32 {
        if let Some(h) = server_key(self.msg, "INVITE").and_then(|k| self.tm.find_server(k)) {
            let accepted = self.tm.state_name(h) == "Accepted";
            self.tm.absorb(h, self.now, true, self.out);
            if !accepted {
                self.stats.acks_absorbed += 1;
                return 1;
            }
        }
        self.forward(args, force)
    }

    /// `t_relay()` on a CANCEL (RFC 3261 §9.2, §16.10): answered 200 by its own server
    /// transaction, then every branch of the INVITE is cancelled; the 487 upstream is the
    /// branches' response. Without a matching INVITE transaction it is forwarded statelessly.
    fn t_relay_cancel(&mut self, args: &[Value<'_>], force: Option<Proto>) -> i32 {
        let Some(hi) = server_key(self.msg, "INVITE").and_then(|k| self.tm.find_server(k)) else {
            return self.forward(args, force);
        };
        let Some(ckey) = server_key(self.msg, "CANCEL") else {
            return -1;
        };
        match self
            .tm
            .new_server(ckey.to_owned_key(), self.msg, &self.inb, self.now)
        {
            Ok(hc) => {
                if let Some(s) = self.tm.server(hc) {
                    s.is_cancel = true;
                }
                self.reply_in_tx(hc, 200, b"canceling");
            }
            Err(Some(h)) => {
                self.tm.absorb(h, self.now, false, self.out);
                return 0;
            }
            Err(None) => return self.fail(Failure::TableFull),
        }
        let (final_sent, no_branches) = match self.tm.server(hi) {
            Some(s) => {
                s.canceled = true;
                (s.final_sent, s.branches.is_empty())
            }
            None => return -1,
        };
        if final_sent {
            return 1;
        }
        if no_branches {
            self.tm
                .local_reply(hi, 487, b"Request Terminated", b"", self.now, self.out);
        } else {
            self.tm.cancel_all(hi, self.now, self.out);
        }
        1
    }

    /// `t_newtran()`: 1 when created, 0 for a retransmission (absorbed), negative when the
    /// table is full.
    pub(crate) fn t_newtran(&mut self) -> i32 {
        if !self.msg.is_request() || self.t.mode != RouteMode::Request {
            return -1;
        }
        if matches!(self.msg.method(), Some(Method::Ack)) {
            return -1;
        }
        match self.ensure_server() {
            Ok(_) => 1,
            Err(code) => code,
        }
    }

    /// `t_reply(code, reason)`: a stateful reply (RFC 3261 §17.2), creating the transaction
    /// when there is none yet. In a failure route it answers the transaction.
    pub(crate) fn t_reply(&mut self, code: u16, reason: &[u8]) -> i32 {
        if !self.msg.is_request() || !(100..=699).contains(&code) {
            return -1;
        }
        if matches!(self.msg.method(), Some(Method::Ack)) {
            return -1;
        }
        let h = match self.ensure_server() {
            Ok(h) => h,
            Err(code) => return code,
        };
        let reason = &reason[..reason.len().min(super::ctx::MAX_SCRIPT_TEXT)];
        if self.reply_in_tx(h, code, reason) {
            self.stats.local_replies += 1;
            1
        } else {
            -1
        }
    }

    /// `t_check_trans()`: CANCEL → 1 when the INVITE's transaction exists; ACK → 0 (absorbed,
    /// stop) when it acknowledges our non-2xx, 1 for a 2xx's ACK; other requests → 0 (a
    /// retransmission, absorbed) when their transaction exists; -1 when there is none. In
    /// reply and failure routes: 1 when a transaction is at hand.
    pub(crate) fn t_check_trans(&mut self) -> i32 {
        match self.t.mode {
            RouteMode::Reply => return if self.t.client.is_some() { 1 } else { -1 },
            RouteMode::Failure | RouteMode::Branch => return 1,
            RouteMode::Request => {}
        }
        if !self.msg.is_request() {
            return -1;
        }
        match self.msg.method() {
            Some(Method::Cancel) => {
                let found = server_key(self.msg, "INVITE").and_then(|k| self.tm.find_server(k));
                if found.is_some() {
                    1
                } else {
                    -1
                }
            }
            Some(Method::Ack) => {
                let Some(h) = server_key(self.msg, "INVITE").and_then(|k| self.tm.find_server(k))
                else {
                    return -1;
                };
                if self.tm.state_name(h) == "Accepted" {
                    return 1;
                }
                self.tm.absorb(h, self.now, true, self.out);
                self.stats.acks_absorbed += 1;
                0
            }
            _ => {
                if self.t.cur.is_some() {
                    return 1;
                }
                let method = self.tx_method();
                let Some(h) = server_key(self.msg, method).and_then(|k| self.tm.find_server(k))
                else {
                    return -1;
                };
                self.tm.absorb(h, self.now, false, self.out);
                0
            }
        }
    }

    /// `t_precheck_trans()` (tmx): 1 when a transaction for this request exists already
    /// (a retransmission arriving while the first copy is processed), else -1.
    pub(crate) fn t_precheck_trans(&mut self) -> i32 {
        if !self.msg.is_request() || matches!(self.msg.method(), Some(Method::Ack)) {
            return -1;
        }
        let method = self.tx_method();
        let found = server_key(self.msg, method).and_then(|k| self.tm.find_server(k));
        if found.is_some() && found != self.t.cur {
            1
        } else {
            -1
        }
    }

    /// `t_on_failure(route)`, `t_on_reply(route)`, `t_on_branch(route)`: arm a route for this
    /// transaction (the argument was resolved to a route at compile time).
    pub(crate) fn t_on(&mut self, kind: crate::names::Builtin, args: &[Value<'_>]) -> i32 {
        let Some(id) = args
            .first()
            .and_then(val_int)
            .and_then(|i| u32::try_from(i).ok())
        else {
            return -1;
        };
        let id = Some(RouteId(id));
        match kind {
            crate::names::Builtin::TOnFailure => self.t.on_failure = id,
            crate::names::Builtin::TOnReply => self.t.on_reply = id,
            _ => self.t.on_branch = id,
        }
        if let Some(h) = self.t.cur {
            self.arm(h);
        }
        1
    }

    /// The status `t_check_status` and `$T_reply_code` see: the reply's in a reply route, the
    /// winning one in a failure route.
    pub(crate) fn t_status(&self) -> Option<u16> {
        match self.t.mode {
            RouteMode::Reply => self.msg.status(),
            _ => self.t.reply_code,
        }
    }

    /// `t_check_status(re)`: whether the status matches the regular expression (unanchored,
    /// like Kamailio's regexec).
    pub(crate) fn t_check_status(&mut self, args: &[Value<'_>]) -> i32 {
        let Some(code) = self.t_status() else {
            return -1;
        };
        let Some(pat) = args.first().and_then(val_str) else {
            return -1;
        };
        let mut b = [0u8; 20];
        let code = super::text::fmt_u64(u64::from(code), &mut b);
        let code = std::str::from_utf8(code).unwrap_or("");
        let cache = &mut self.tm.patterns;
        let re = match cache.iter().position(|(p, _)| **p == *pat) {
            Some(i) => &cache[i].1,
            None => {
                let Ok(re) = regex::Regex::new(&pat) else {
                    tracing::warn!(target: "ferrosip::tm", pattern = %pat, "t_check_status: bad regular expression");
                    return -1;
                };
                if cache.len() >= MAX_CACHED_PATTERNS {
                    cache.remove(0);
                }
                cache.push((pat.as_ref().into(), re));
                &cache[cache.len() - 1].1
            }
        };
        if re.is_match(code) {
            1
        } else {
            -1
        }
    }

    /// `t_is_canceled()`: 1 when a CANCEL matched the transaction.
    pub(crate) fn t_is_canceled(&mut self) -> i32 {
        match self.t.cur.and_then(|h| self.tm.server(h)) {
            Some(s) if s.canceled => 1,
            _ => -1,
        }
    }

    /// `t_set_fr(fr_inv_timeout [, fr_timeout])` in milliseconds, for branches created after
    /// the call; 0 keeps the configured value.
    pub(crate) fn t_set_fr(&mut self, args: &[Value<'_>]) -> i32 {
        let ms = |v: Option<&Value<'_>>| {
            v.and_then(val_int)
                .filter(|&m| m > 0)
                .map(|m| Duration::from_millis(m.unsigned_abs()))
        };
        let inv = ms(args.first());
        let nin = ms(args.get(1));
        if inv.is_none() && nin.is_none() {
            return -1;
        }
        self.t.fr = Some((inv, nin));
        if let Some(h) = self.t.cur {
            self.arm(h);
        }
        1
    }

    /// `t_drop_replies()`: in a failure route, forget the responses received so far, so a new
    /// branch's answer (or a 408) is what goes upstream.
    pub(crate) fn t_drop_replies(&mut self) -> i32 {
        if self.t.mode != RouteMode::Failure {
            return -1;
        }
        self.t.drop_replies = true;
        if let Some(s) = self.t.cur.and_then(|h| self.tm.server(h)) {
            s.best = None;
        }
        1
    }
}
