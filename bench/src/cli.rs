//! Command line: SIPp's common flags keep their meaning (`-sn`, `-r`, `-m`, `-l`, `-d`, `-s`,
//! `-p`, `-i`, `-t u1|t1`, `-inf`, `-rate_increase`, `-rate_max`, remote host positional);
//! the rest are ferrosip-bench's own long options.

use clap::{Parser, ValueEnum};
use std::path::PathBuf;

/// Which scenario to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// INVITE → (100) 180 200 → ACK → pause (-d) → BYE → 200.
    Uac,
    /// Answers calls (180, 200 with To-tag, absorbs ACK, BYE → 200), OPTIONS/MESSAGE → 200,
    /// and, with --users/--inf, acts as a digest-challenging registrar.
    Uas,
    /// REGISTER with digest auth (401 → REGISTER + Authorization → 200), then refresh or
    /// unregister (--reg-then).
    Register,
    /// OPTIONS keepalive ping → 200.
    Options,
    /// MESSAGE request → 200.
    Message,
}

/// Transport mode, as SIPp's `-t`: one UDP socket or one TCP connection per worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TransportMode {
    /// UDP, one socket per worker.
    U1,
    /// TCP, one connection per worker.
    T1,
}

/// What the register scenario does after the registration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RegThen {
    /// Nothing: the registration is the whole call.
    None,
    /// After -d ms, refresh the binding (same Call-ID, CSeq+1, same nonce with nc+1).
    Refresh,
    /// After -d ms, remove the binding (Expires: 0).
    Unregister,
}

/// Offered quality of protection in the uas registrar's challenges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Qop {
    /// `qop="auth"` (RFC 2617).
    Auth,
    /// No qop (RFC 2069 compatibility, as Kamailio's `www_challenge(..., "0")`).
    None,
}

/// ferrosip-bench: a SIP load generator (SIPp-compatible flags) with HDR latency histograms.
#[derive(Parser, Debug, Clone)]
#[command(name = "ferrosip-bench", version)]
pub struct Args {
    /// Remote `host[:port]` to send to (not needed for -sn uas).
    pub remote: Option<String>,
    /// Scenario.
    #[arg(long = "sn", value_enum, default_value = "uac")]
    pub scenario: Scenario,
    /// Call rate (calls per second, all workers together).
    #[arg(short = 'r', long = "rate", default_value_t = 10.0)]
    pub rate: f64,
    /// Add this many calls/s to the rate every --rate-interval seconds.
    #[arg(long = "rate-increase", default_value_t = 0.0)]
    pub rate_increase: f64,
    /// Upper bound of the ramp (calls/s).
    #[arg(long = "rate-max")]
    pub rate_max: Option<f64>,
    /// Seconds between rate increases.
    #[arg(long = "rate-interval", default_value_t = 1.0)]
    pub rate_interval: f64,
    /// Concurrent-call cap (all workers together).
    #[arg(short = 'l', long = "limit")]
    pub limit: Option<u64>,
    /// Total calls, then stop (all workers together).
    #[arg(short = 'm', long = "max-calls")]
    pub max_calls: Option<u64>,
    /// Stop starting calls after this many seconds (uas: stop answering).
    #[arg(long = "duration")]
    pub duration: Option<f64>,
    /// Call hold time in ms (pause between ACK and BYE, or registration and refresh).
    #[arg(short = 'd', long = "hold", default_value_t = 0)]
    pub hold_ms: u64,
    /// Transport: u1 (UDP) or t1 (TCP), one socket or connection per worker.
    #[arg(short = 't', long = "transport", value_enum, default_value = "u1")]
    pub transport: TransportMode,
    /// Workers (cores), each an independent glommio executor with its own socket and share
    /// of the rate.
    #[arg(short = 'n', long = "workers", default_value_t = 1)]
    pub workers: usize,
    /// Service: the user part of the Request-URI (uac, options, message).
    #[arg(short = 's', long = "service", default_value = "service")]
    pub service: String,
    /// Local port. Client scenarios bind port+worker (0: ephemeral ports); uas binds this one
    /// port on every worker with SO_REUSEPORT.
    #[arg(short = 'p', long = "port")]
    pub port: Option<u16>,
    /// Local IP to bind and to put in Via/Contact.
    #[arg(short = 'i', long = "ip")]
    pub ip: Option<String>,
    /// Users: template and range, e.g. `--users user%d@example.com 1-10000`.
    #[arg(long = "users", num_args = 2, value_names = ["TEMPLATE", "RANGE"])]
    pub users: Option<Vec<String>>,
    /// Password template for --users (`%d` is replaced by the user's number).
    #[arg(long = "password", default_value = "password")]
    pub password: String,
    /// Users from a SIPp injection CSV (`SEQUENTIAL`, then `user;domain;password`).
    #[arg(long = "inf")]
    pub inf: Option<PathBuf>,
    /// Register scenario: what to do after the registration.
    #[arg(long = "reg-then", value_enum, default_value = "none")]
    pub reg_then: RegThen,
    /// Expires of REGISTER requests (s).
    #[arg(long = "expires", default_value_t = 3600)]
    pub expires: u32,
    /// uas registrar: qop offered in challenges.
    #[arg(long = "qop", value_enum, default_value = "auth")]
    pub qop: Qop,
    /// uas: send 100 Trying before 180 (SIPp's uas does not).
    #[arg(long = "trying")]
    pub trying: bool,
    /// RFC 3261 T1 in ms (first retransmission interval).
    #[arg(long = "t1", default_value_t = 500)]
    pub t1_ms: u64,
    /// RFC 3261 T2 in ms (cap of non-INVITE and 2xx retransmission intervals).
    #[arg(long = "t2", default_value_t = 4000)]
    pub t2_ms: u64,
    /// Transaction timeout in ms (Timer B/F; default 64·T1).
    #[arg(long = "timeout-ms")]
    pub timeout_ms: Option<u64>,
    /// Write a JSON summary here.
    #[arg(long = "json")]
    pub json: Option<PathBuf>,
    /// Write a self-contained HTML report (inline SVG) here.
    #[arg(long = "report")]
    pub report: Option<PathBuf>,
    /// Show the one-line-per-second progress even when stdout is not a terminal.
    #[arg(long = "progress")]
    pub progress: bool,
    /// Find the highest sustainable rate: double from -r until a step fails, then bisect.
    #[arg(long = "find-max")]
    pub find_max: bool,
    /// --find-max: a step fails when p99 of the main latency exceeds this (ms).
    #[arg(long = "max-p99-ms", default_value_t = 100.0)]
    pub max_p99_ms: f64,
    /// --find-max: a step fails when more than this percentage of calls fail.
    #[arg(long = "max-fail-pct", default_value_t = 0.1)]
    pub max_fail_pct: f64,
    /// --find-max: seconds of traffic per step.
    #[arg(long = "step-secs", default_value_t = 3.0)]
    pub step_secs: f64,
    /// --find-max: bisection steps after the first failing rate.
    #[arg(long = "bisect", default_value_t = 3)]
    pub bisect: u32,
    /// --find-max: never offer more than this rate.
    #[arg(long = "find-max-limit", default_value_t = 1_000_000.0)]
    pub find_max_limit: f64,
    /// UDP socket buffer bytes to force beyond net.core.rmem_max/wmem_max (needs
    /// CAP_NET_ADMIN; 0 keeps the kernel's cap).
    #[arg(long = "buffer", default_value_t = 32 << 20)]
    pub buffer: usize,
    /// Do not pin workers to cores.
    #[arg(long = "no-pin")]
    pub no_pin: bool,
    /// UDP: send every datagram on its own instead of handing runs of equal-sized datagrams
    /// to one destination to the kernel as one segmentation-offload send (UDP_SEGMENT), and
    /// do not ask for generic receive offload (UDP_GRO). What peers receive is the same.
    #[arg(long = "no-gso")]
    pub no_gso: bool,
}

/// Rewrites SIPp's single-dash long flags to our `--` spelling and drops SIPp flags that
/// have no meaning here (`-bind_local`, `-nostdin`, `-trace_*`).
pub fn sipp_compat(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = args.into_iter();
    if let Some(a0) = it.next() {
        out.push(a0);
    }
    for a in it {
        match a.as_str() {
            "-sn" | "-inf" => out.push(format!("-{a}")),
            "-rate_increase" => out.push("--rate-increase".into()),
            "-rate_max" => out.push("--rate-max".into()),
            "-rate_interval" => out.push("--rate-interval".into()),
            "-bind_local" | "-nostdin" | "-trace_err" | "-trace_stat" | "-trace_screen" => {}
            _ => out.push(a),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sipp_flags_parse() {
        let argv = [
            "x",
            "-sn",
            "uas",
            "-r",
            "200",
            "-m",
            "500",
            "-l",
            "50",
            "-d",
            "10",
            "-bind_local",
            "-t",
            "t1",
            "-rate_increase",
            "5",
            "127.0.0.1:5070",
        ];
        let a = Args::try_parse_from(sipp_compat(argv.iter().map(|s| s.to_string()))).unwrap();
        assert_eq!(a.scenario, Scenario::Uas);
        assert_eq!(a.rate, 200.0);
        assert_eq!(a.max_calls, Some(500));
        assert_eq!(a.limit, Some(50));
        assert_eq!(a.hold_ms, 10);
        assert_eq!(a.transport, TransportMode::T1);
        assert_eq!(a.rate_increase, 5.0);
        assert_eq!(a.remote.as_deref(), Some("127.0.0.1:5070"));
        let a = Args::try_parse_from(["x", "--users", "u%d@d", "1-5", "h"]).unwrap();
        assert_eq!(a.users.unwrap(), vec!["u%d@d", "1-5"]);
    }
}
