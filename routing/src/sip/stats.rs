//! Per-worker counters of the message side.
//!
//! Besides the totals, the counters kept by Kamailio's kex (`core:rcv_requests_<method>`,
//! `core:rcv_replies_<class>`, `core:rcv_replies_<n>xx_<method>`) and sl (`sl:<code>_replies`)
//! modules, each an array indexed as the name lists here ([`RX_METHODS`], [`RX_CLASSES`],
//! [`RX_REPLY_METHODS`], [`SL_CODES`]). Counting is plain integer increments.

use ferrosip_parser::Method;

/// Methods with their own `core:rcv_requests_<method>` counter, in Kamailio's order.
pub const RX_METHODS: [&str; 14] = [
    "invite",
    "cancel",
    "ack",
    "bye",
    "info",
    "register",
    "subscribe",
    "notify",
    "message",
    "options",
    "prack",
    "update",
    "refer",
    "publish",
];

/// The classes of `core:rcv_replies_<class>`: a response counts in its class and, for 18x
/// and the listed 4xx codes, in that entry too.
pub const RX_CLASSES: [&str; 12] = [
    "1xx", "18x", "2xx", "3xx", "4xx", "401", "404", "407", "480", "486", "5xx", "6xx",
];

/// The CSeq methods of `core:rcv_replies_<n>xx_<method>` (Kamailio's names: `reg` for
/// REGISTER); each has one counter per class 1xx..6xx.
pub const RX_REPLY_METHODS: [&str; 8] = [
    "invite", "cancel", "bye", "reg", "message", "prack", "update", "refer",
];

/// The buckets of `sl:<code>_replies`, exclusive as in Kamailio's sl: `2xx` counts the 2xx
/// other than 200 and 202, `xxx` codes outside 100..=699.
pub const SL_CODES: [&str; 20] = [
    "1xx", "200", "202", "2xx", "300", "301", "302", "3xx", "400", "401", "403", "404", "407",
    "408", "483", "4xx", "500", "5xx", "6xx", "xxx",
];

/// Per-worker counters (summed across workers on demand, ARCHITECTURE decision 8).
#[derive(Default, Clone, Debug)]
pub struct Stats {
    /// Requests received (parsed or not).
    pub rx_requests: u64,
    /// Responses received (parsed or not).
    pub rx_replies: u64,
    /// Requests answered 4xx/505 before the script (parse error, SIP version, URI scheme).
    pub bad_requests: u64,
    /// Responses that did not parse (or had a SIP version other than 2.0), dropped.
    pub bad_replies: u64,
    /// Requests forwarded (one per destination).
    pub fwd_requests: u64,
    /// Responses forwarded to the next Via.
    pub fwd_replies: u64,
    /// Replies generated locally (sl replies, sanity, 400s to bad requests).
    pub local_replies: u64,
    /// Responses dropped: top Via not ours, or `drop` in `reply_route`.
    pub dropped_replies: u64,
    /// Messages dropped otherwise: unanswerable bad requests, script `drop`, responses with no
    /// Via left, `drop` in `onsend_route`.
    pub drops: u64,
    /// Sends that could not be prepared (unresolvable destination, no socket, bad edits).
    pub send_errors: u64,
    /// ACKs to our own stateless replies, absorbed (Kamailio sl's ACK filter).
    pub acks_absorbed: u64,
    /// Parsed requests by method, indexed as [`RX_METHODS`].
    pub rx_methods: [u64; RX_METHODS.len()],
    /// Parsed requests with a method not in [`RX_METHODS`] (`core:unsupported_methods`).
    pub rx_other_methods: u64,
    /// SIP/2.0 responses by class, indexed as [`RX_CLASSES`].
    pub rx_classes: [u64; RX_CLASSES.len()],
    /// SIP/2.0 responses by CSeq method ([`RX_REPLY_METHODS`]) and class (1xx..6xx).
    pub rx_reply_methods: [[u64; 6]; RX_REPLY_METHODS.len()],
    /// Stateless replies sent, by code bucket ([`SL_CODES`]).
    pub sl_codes: [u64; SL_CODES.len()],
    /// Stateless replies that could not be built (to an ACK or a response, a bad code).
    pub sl_failures: u64,
    /// Stateless replies sent by `sl_reply_error()`.
    pub sl_err_replies: u64,
}

impl Stats {
    /// Counts a received request by method (Kamailio kex's pre-script request callback).
    pub fn count_request(&mut self, m: Option<Method<'_>>) {
        let i = match m {
            Some(Method::Invite) => 0,
            Some(Method::Cancel) => 1,
            Some(Method::Ack) => 2,
            Some(Method::Bye) => 3,
            Some(Method::Info) => 4,
            Some(Method::Register) => 5,
            Some(Method::Subscribe) => 6,
            Some(Method::Notify) => 7,
            Some(Method::Message) => 8,
            Some(Method::Options) => 9,
            Some(Method::Prack) => 10,
            Some(Method::Update) => 11,
            Some(Method::Refer) => 12,
            Some(Method::Publish) => 13,
            Some(Method::Other(_)) | None => {
                self.rx_other_methods += 1;
                return;
            }
        };
        self.rx_methods[i] += 1;
    }

    /// Counts a received response by status and CSeq method (kex's reply callbacks).
    pub fn count_reply(&mut self, code: u16, cseq: Option<Method<'_>>) {
        let class = match code {
            100..=199 => 0,
            200..=299 => 2,
            300..=399 => 3,
            400..=499 => 4,
            500..=599 => 10,
            600..=699 => 11,
            _ => return,
        };
        self.rx_classes[class] += 1;
        let detail = match code {
            180..=189 => Some(1),
            401 => Some(5),
            404 => Some(6),
            407 => Some(7),
            480 => Some(8),
            486 => Some(9),
            _ => None,
        };
        if let Some(d) = detail {
            self.rx_classes[d] += 1;
        }
        let m = match cseq {
            Some(Method::Invite) => 0,
            Some(Method::Cancel) => 1,
            Some(Method::Bye) => 2,
            Some(Method::Register) => 3,
            Some(Method::Message) => 4,
            Some(Method::Prack) => 5,
            Some(Method::Update) => 6,
            Some(Method::Refer) => 7,
            _ => return,
        };
        self.rx_reply_methods[m][usize::from(code / 100 - 1)] += 1;
    }

    /// Counts a stateless reply sent with `code` (Kamailio sl's `update_sl_stats`).
    pub fn count_sl_reply(&mut self, code: u16) {
        let i = match code {
            100..=199 => 0,
            200 => 1,
            202 => 2,
            201..=299 => 3,
            300 => 4,
            301 => 5,
            302 => 6,
            303..=399 => 7,
            400 => 8,
            401 => 9,
            403 => 10,
            404 => 11,
            407 => 12,
            408 => 13,
            483 => 14,
            402..=499 => 15,
            500 => 16,
            501..=599 => 17,
            600..=699 => 18,
            _ => 19,
        };
        self.sl_codes[i] += 1;
    }
}

impl std::ops::AddAssign<&Self> for Stats {
    /// Adds another worker's counters (for process-wide totals).
    fn add_assign(&mut self, o: &Self) {
        self.rx_requests += o.rx_requests;
        self.rx_replies += o.rx_replies;
        self.bad_requests += o.bad_requests;
        self.bad_replies += o.bad_replies;
        self.fwd_requests += o.fwd_requests;
        self.fwd_replies += o.fwd_replies;
        self.local_replies += o.local_replies;
        self.dropped_replies += o.dropped_replies;
        self.drops += o.drops;
        self.send_errors += o.send_errors;
        self.acks_absorbed += o.acks_absorbed;
        add(&mut self.rx_methods, &o.rx_methods);
        self.rx_other_methods += o.rx_other_methods;
        add(&mut self.rx_classes, &o.rx_classes);
        for (a, b) in self.rx_reply_methods.iter_mut().zip(&o.rx_reply_methods) {
            add(a, b);
        }
        add(&mut self.sl_codes, &o.sl_codes);
        self.sl_failures += o.sl_failures;
        self.sl_err_replies += o.sl_err_replies;
    }
}

fn add(a: &mut [u64], b: &[u64]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x += y;
    }
}
