//! Per-worker counters of the message side.

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
    }
}
