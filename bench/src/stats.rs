//! Counters and latency histograms. Each worker keeps its own and sends the interval's
//! share to the main thread once a second ([`Report`]); the main thread sums them
//! ([`Totals`]) and keeps the per-second series for the live display and the reports.

use hdrhistogram::Histogram;

/// Latency kinds: one request/response pair each (first send to final 2xx, µs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// INVITE → 200 (call setup time).
    Invite = 0,
    /// BYE → 200.
    Bye,
    /// REGISTER → 200, including the 401 challenge round.
    Register,
    /// Refresh or unregister REGISTER → 200.
    Refresh,
    /// OPTIONS → 200.
    Options,
    /// MESSAGE → 200.
    Message,
}

/// Number of [`Kind`]s.
pub const KINDS: usize = 6;

impl Kind {
    /// All kinds, in index order.
    pub const ALL: [Self; KINDS] = [
        Self::Invite,
        Self::Bye,
        Self::Register,
        Self::Refresh,
        Self::Options,
        Self::Message,
    ];

    /// The name used in tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Invite => "invite",
            Self::Bye => "bye",
            Self::Register => "register",
            Self::Refresh => "refresh",
            Self::Options => "options",
            Self::Message => "message",
        }
    }
}

/// Why a call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fail {
    /// No final response before Timer B/F (64·T1, or `--timeout-ms`).
    Timeout = 0,
    /// A final response other than the expected one (e.g. 486, 503, a second 401).
    UnexpectedStatus,
    /// A response lacking a header we need (To-tag on a 2xx to INVITE, challenge on a 401...).
    MissingHeader,
    /// The message could not be sent (socket buffer full, connection lost).
    Send,
    /// Still running when the run ended (stop signal or drain limit).
    Aborted,
}

/// Number of [`Fail`] reasons.
pub const FAILS: usize = 5;

impl Fail {
    /// All reasons, in index order.
    pub const ALL: [Self; FAILS] = [
        Self::Timeout,
        Self::UnexpectedStatus,
        Self::MissingHeader,
        Self::Send,
        Self::Aborted,
    ];

    /// The name used in tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::UnexpectedStatus => "unexpected_status",
            Self::MissingHeader => "missing_header",
            Self::Send => "send_error",
            Self::Aborted => "aborted",
        }
    }
}

/// Plain counters, summed across workers and seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Calls (or registrations, pings...) started.
    pub started: u64,
    /// Calls that reached their last expected response.
    pub completed: u64,
    /// Calls that failed, all reasons.
    pub failed: u64,
    /// Failures by [`Fail`] reason.
    pub fail: [u64; FAILS],
    /// Requests or 2xx responses we retransmitted (UDP timers).
    pub retransmissions: u64,
    /// Messages that did not fit the call's state (late 180, duplicate 200...), counted, not fatal.
    pub unexpected: u64,
    /// Messages for no call we know (old calls, another run).
    pub stray: u64,
    /// Datagrams or stream messages that did not parse.
    pub parse_errors: u64,
    /// Messages sent.
    pub sent: u64,
    /// Messages received.
    pub received: u64,
    /// UAS: requests answered.
    pub answered: u64,
    /// UAS: digest checks that failed (403 sent).
    pub auth_rejected: u64,
    /// Messages dropped because a bounded table was full.
    pub table_full: u64,
    /// Sends the kernel refused (socket buffer full, connection gone).
    pub send_failed: u64,
}

impl Counters {
    /// Adds `o` into `self`.
    pub fn add(&mut self, o: &Self) {
        self.started += o.started;
        self.completed += o.completed;
        self.failed += o.failed;
        for i in 0..FAILS {
            self.fail[i] += o.fail[i];
        }
        self.retransmissions += o.retransmissions;
        self.unexpected += o.unexpected;
        self.stray += o.stray;
        self.parse_errors += o.parse_errors;
        self.sent += o.sent;
        self.received += o.received;
        self.answered += o.answered;
        self.auth_rejected += o.auth_rejected;
        self.table_full += o.table_full;
        self.send_failed += o.send_failed;
    }

    /// Records a failure.
    pub fn fail(&mut self, why: Fail) {
        self.failed += 1;
        self.fail[why as usize] += 1;
    }
}

/// Highest latency a histogram records (µs): one hour; larger values are clamped.
pub const MAX_LATENCY_US: u64 = 3_600_000_000;

/// A new latency histogram (1 µs .. 1 h, 3 significant digits).
pub fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("constant bounds are valid")
}

/// One histogram per [`Kind`].
#[derive(Clone, Debug)]
pub struct Hists(pub [Histogram<u64>; KINDS]);

impl Default for Hists {
    fn default() -> Self {
        Self(std::array::from_fn(|_| new_hist()))
    }
}

impl Hists {
    /// Records one latency.
    pub fn record(&mut self, kind: Kind, us: u64) {
        let _ = self.0[kind as usize].record(us.clamp(1, MAX_LATENCY_US));
    }

    /// Adds `o` into `self`.
    pub fn add(&mut self, o: &Self) {
        for (a, b) in self.0.iter_mut().zip(o.0.iter()) {
            let _ = a.add(b);
        }
    }

    /// Clears every histogram.
    pub fn reset(&mut self) {
        for h in &mut self.0 {
            h.reset();
        }
    }

    /// The histogram of `kind`.
    pub fn get(&self, kind: Kind) -> &Histogram<u64> {
        &self.0[kind as usize]
    }
}

/// What a worker sends to the main thread once a second and when it stops.
#[derive(Debug)]
pub struct Report {
    /// The worker.
    pub worker: usize,
    /// Seconds since the run started (index into the series).
    pub second: usize,
    /// Counter deltas since the previous report.
    pub counters: Counters,
    /// Latencies since the previous report.
    pub hists: Box<Hists>,
    /// Calls in progress now.
    pub active: u64,
    /// Offered rate now (calls per second, this worker).
    pub rate: f64,
    /// Calls offered since the previous report (the rate integrated over the interval).
    pub offered: f64,
    /// The worker has stopped; this is its last report.
    pub done: bool,
}

/// Longest series kept (one entry per second): a day.
pub const MAX_SERIES: usize = 86_400;

/// One second of the run, all workers together.
#[derive(Clone, Debug, Default)]
pub struct Second {
    /// Calls started in this second.
    pub started: u64,
    /// Calls completed in this second.
    pub completed: u64,
    /// Calls failed in this second.
    pub failed: u64,
    /// Retransmissions in this second.
    pub retransmissions: u64,
    /// p99 of the main latency kind in this second (µs; 0 if none).
    pub p99_us: u64,
    /// Calls offered in this second (the offered rate, summed over workers).
    pub offered: f64,
}

/// Everything the main thread knows about a run.
#[derive(Debug)]
pub struct Totals {
    /// Summed counters.
    pub counters: Counters,
    /// Summed latencies.
    pub hists: Hists,
    /// Per-second series.
    pub series: Vec<Second>,
    series_hists: Vec<Histogram<u64>>,
    /// Active calls per worker (last report).
    pub active: Vec<u64>,
    /// Offered rate per worker (last report).
    pub rate: Vec<f64>,
    /// The kind whose p99 the live display and the series show.
    pub main_kind: Kind,
}

impl Totals {
    /// Empty totals for `workers` workers.
    pub fn new(workers: usize, main_kind: Kind) -> Self {
        Self {
            counters: Counters::default(),
            hists: Hists::default(),
            series: Vec::new(),
            series_hists: Vec::new(),
            active: vec![0; workers],
            rate: vec![0.0; workers],
            main_kind,
        }
    }

    /// Adds a worker report.
    pub fn add(&mut self, r: &Report) {
        self.counters.add(&r.counters);
        self.hists.add(&r.hists);
        if let Some(a) = self.active.get_mut(r.worker) {
            *a = r.active;
        }
        if let Some(a) = self.rate.get_mut(r.worker) {
            *a = r.rate;
        }
        let s = r.second.min(MAX_SERIES - 1);
        while self.series.len() <= s {
            self.series.push(Second::default());
            self.series_hists.push(new_hist());
        }
        let e = &mut self.series[s];
        e.started += r.counters.started;
        e.completed += r.counters.completed;
        e.failed += r.counters.failed;
        e.retransmissions += r.counters.retransmissions;
        e.offered += r.offered;
        let h = &mut self.series_hists[s];
        let _ = h.add(r.hists.get(self.main_kind));
        e.p99_us = if h.is_empty() {
            0
        } else {
            h.value_at_quantile(0.99)
        };
    }

    /// Calls in progress, all workers.
    pub fn active_calls(&self) -> u64 {
        self.active.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_sum_reports_and_series() {
        let mut t = Totals::new(2, Kind::Invite);
        for w in 0..2 {
            let mut h = Hists::default();
            h.record(Kind::Invite, 100 * (w as u64 + 1));
            let mut c = Counters {
                started: 3,
                completed: 2,
                ..Default::default()
            };
            c.fail(Fail::Timeout);
            t.add(&Report {
                worker: w,
                second: 1,
                counters: c,
                hists: Box::new(h),
                active: 1,
                rate: 10.0,
                offered: 10.0,
                done: false,
            });
        }
        assert_eq!(t.counters.completed, 4);
        assert_eq!(t.counters.failed, 2);
        assert_eq!(t.counters.fail[Fail::Timeout as usize], 2);
        assert_eq!(t.series.len(), 2);
        assert_eq!(t.series[1].completed, 4);
        assert!(t.series[1].p99_us >= 199);
        assert_eq!(t.active_calls(), 2);
        assert_eq!(t.hists.get(Kind::Invite).len(), 2);
    }
}
