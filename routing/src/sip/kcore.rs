//! Core functions of Debian's stock `kamailio.cfg` that act on how a message and its
//! transaction are sent, and Kamailio's branch flags:
//! - `force_rport()` (alias `add_rport()`): RFC 3581 §4 as if the top Via carried `rport`:
//!   local replies and forwarded copies get `;rport=<source port>` (and `received`) in that
//!   Via, and replies go to the source address and port. Over TCP/TLS replies go back on the
//!   connection anyway (RFC 3261 §18.2.2), so only the Via parameters change there.
//! - `set_reply_no_connect()` / `set_forward_no_connect()`: replies (stateless and of the
//!   transaction) / forwarded requests over a stream transport are sent only on a connection
//!   that is open; the engine drops them instead of connecting ([`crate::api::Transmit`]'s
//!   `no_connect`). Kamailio's flags are per message; here they are also kept with the
//!   transaction created for the message, so its later replies honour them.
//! - `setbflag(flag [, branch])`, `isbflagset`, `resetbflag`: 64 flags per branch. Branch 0
//!   is the R-URI branch, branch `i` the `i`-th entry of the destination set (`append_branch`,
//!   `lookup`). When `t_relay` creates the branches, each client transaction keeps the flags
//!   of the branch it came from: a `branch_route` sees (and changes) its own branch's flags
//!   as branch 0, an `onreply_route` the flags of the branch the reply belongs to, and a
//!   `failure_route` the flags of the branch whose reply won (RFC 3261 §16.7 step 6) as
//!   branch 0. Flags of destination-set entries are not carried when a module reorders the
//!   set (`t_load_contacts`).
//! - tm `t_is_set("branch_route"|"failure_route"|"onreply_route")`: whether such a route is
//!   armed for this message or its transaction.

use super::ctx::{val_int, val_str, MsgCtx};
use super::tm::{RouteMode, MAX_BRANCHES};
use crate::names::Builtin;

/// What the functions of this file remember about one message.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct XMsg {
    /// `force_rport()` ran.
    pub(crate) force_rport: bool,
    /// `set_reply_no_connect()` ran.
    pub(crate) reply_no_connect: bool,
    /// `set_forward_no_connect()` ran.
    pub(crate) forward_no_connect: bool,
    /// Branch flags: 0 the R-URI branch, `i` the destination-set entry `i - 1`.
    pub(crate) bflags: [u64; MAX_BRANCHES + 1],
    /// The entry of `bflags` of the branch being relayed (or routed by a `branch_route`).
    pub(crate) relay_pos: usize,
}

/// What a server transaction keeps of these functions (and of acc).
#[derive(Debug, Default)]
pub(crate) struct TxExt {
    /// `force_rport()` ran for the request.
    pub(crate) force_rport: bool,
    /// Replies only on an open connection.
    pub(crate) reply_no_connect: bool,
    /// Branches only on an open connection.
    pub(crate) forward_no_connect: bool,
    /// Branch flags of each client transaction, by branch index; allocated when a branch
    /// first has one (most transactions never do, and each keeps this for its lifetime).
    pub(crate) bflags: Option<Box<[u64; MAX_BRANCHES]>>,
    /// acc: the module is loaded (final replies are remembered for it).
    pub(crate) acc_on: bool,
    /// acc: what the request route asked to account.
    pub(crate) acc: Option<Box<super::acc::AccPending>>,
    /// acc: the final reply, when it went upstream before the request route ended.
    pub(crate) final_reply: Option<Box<super::acc::FinalReply>>,
}

impl TxExt {
    /// The flags of branch `i` (0 when none was set).
    pub(crate) fn bflag(&self, i: usize) -> Option<u64> {
        (i < MAX_BRANCHES).then(|| self.bflags.as_ref().map_or(0, |b| b[i]))
    }

    /// The flags of branch `i`, to change them (allocates the table on first use).
    pub(crate) fn bflag_mut(&mut self, i: usize) -> Option<&mut u64> {
        if i >= MAX_BRANCHES {
            return None;
        }
        self.bflags
            .get_or_insert_with(|| Box::new([0; MAX_BRANCHES]))
            .get_mut(i)
    }
}

impl XMsg {
    /// The state a `failure_route` starts from: the transaction's flags, and the flags of
    /// the winning branch as branch 0.
    pub(crate) fn for_failure(ext: &TxExt, best: Option<u16>) -> Self {
        let mut x = Self {
            force_rport: ext.force_rport,
            reply_no_connect: ext.reply_no_connect,
            forward_no_connect: ext.forward_no_connect,
            ..Self::default()
        };
        if let Some(b) = best.and_then(|b| ext.bflag(usize::from(b))) {
            x.bflags[0] = b;
        }
        x
    }
}

impl MsgCtx<'_, '_> {
    /// Runs one function of this file.
    pub(crate) fn kcore_call(&mut self, f: Builtin, args: &[crate::names::Value<'_>]) -> i32 {
        match f {
            Builtin::ForceRport | Builtin::SetReplyNoConnect | Builtin::SetForwardNoConnect => {
                if !self.msg.is_request() {
                    return -1;
                }
                match f {
                    Builtin::ForceRport => self.x.force_rport = true,
                    Builtin::SetReplyNoConnect => self.x.reply_no_connect = true,
                    _ => self.x.forward_no_connect = true,
                }
                if let Some(h) = self.t.cur {
                    self.x_arm(h);
                }
                1
            }
            Builtin::SetBflag | Builtin::IsBflagSet | Builtin::ResetBflag => self.bflag(f, args),
            Builtin::TIsSet => self.t_is_set(args),
            _ => -1,
        }
    }

    /// Copies this message's send options onto server transaction `h` (called when the
    /// transaction is created or armed).
    pub(crate) fn x_arm(&mut self, h: ferrosip_state::TxHandle) {
        let (x, src, stream) = (self.x, self.inb.src, self.inb.proto.is_stream());
        let acc_on = self.sh.process.acc.loaded;
        let Some(s) = self.tm.server(h) else { return };
        s.ext.acc_on = acc_on;
        if x.force_rport && !s.ext.force_rport {
            s.ext.force_rport = true;
            if !stream {
                s.reply_to.dst = src;
            }
        }
        if x.reply_no_connect {
            s.ext.reply_no_connect = true;
            s.reply_to.no_connect = true;
        }
        if x.forward_no_connect {
            s.ext.forward_no_connect = true;
        }
    }

    /// A branch of index `idx` was added to `hs` for the branch being relayed: it keeps
    /// that branch's flags.
    pub(crate) fn x_branch_added(&mut self, hs: ferrosip_state::TxHandle, idx: usize) {
        let flags = self.x.bflags.get(self.x.relay_pos).copied().unwrap_or(0);
        let Some(s) = self.tm.server(hs) else { return };
        if flags != 0 || s.ext.bflags.is_some() {
            if let Some(slot) = s.ext.bflag_mut(idx) {
                *slot = flags;
            }
        }
    }

    /// `setbflag` / `isbflagset` / `resetbflag`.
    fn bflag(&mut self, f: Builtin, args: &[crate::names::Value<'_>]) -> i32 {
        let Some(bit) = super::ctx::flag_bit(args.first()) else {
            return -1;
        };
        let given = match args.get(1) {
            None => None,
            Some(v) => match val_int(v).and_then(|i| usize::try_from(i).ok()) {
                Some(i) => Some(i),
                None => return -1,
            },
        };
        // In a reply route the flags are those of the client transaction's branches.
        let slot: &mut u64 = if self.t.mode == RouteMode::Reply {
            let Some(c) = self.t.client.and_then(|hc| self.tm.client(hc)) else {
                return -1;
            };
            let (parent, idx) = (c.parent, usize::from(c.idx));
            let i = given.unwrap_or(idx);
            match self.tm.server(parent).and_then(|s| s.ext.bflag_mut(i)) {
                Some(s) => s,
                None => return -1,
            }
        } else {
            let i = match (given, self.t.mode) {
                (Some(0), RouteMode::Branch) | (None, RouteMode::Branch) => self.x.relay_pos,
                (Some(i), _) => i,
                (None, _) => 0,
            };
            match self.x.bflags.get_mut(i) {
                Some(s) => s,
                None => return -1,
            }
        };
        match f {
            Builtin::SetBflag => *slot |= bit,
            Builtin::ResetBflag => *slot &= !bit,
            _ => return if *slot & bit != 0 { 1 } else { -1 },
        }
        1
    }

    /// tm `t_is_set(target)`.
    fn t_is_set(&mut self, args: &[crate::names::Value<'_>]) -> i32 {
        let Some(what) = args.first().and_then(val_str) else {
            return -1;
        };
        let t = self.t;
        let server = t.cur.and_then(|h| self.tm.server(h));
        let set = match what.trim() {
            "branch_route" => t.on_branch.is_some(),
            "failure_route" => {
                t.on_failure.is_some() || server.is_some_and(|s| s.on_failure.is_some())
            }
            "onreply_route" => t.on_reply.is_some() || server.is_some_and(|s| s.on_reply.is_some()),
            _ => return -1,
        };
        if set {
            1
        } else {
            -1
        }
    }
}
