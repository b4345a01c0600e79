//! End-to-end stateful proxying: SIPp UAC → ferrosip (`t_relay` with `record_route`,
//! `deploy/examples/stateful-proxy.cfg`, `-n 2`) → SIPp UAS, over UDP and TCP; failover to a
//! second UAS through `failure_route` when the first never answers or answers 503; calls
//! completing through retransmissions while SIPp drops 10% of its packets.

mod common;

use common::*;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

/// The tests share two cores: one load at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn example_cfg() -> PathBuf {
    repo_root().join("deploy/examples/stateful-proxy.cfg")
}

/// What one run needs: ports, the defines for the example config.
struct Setup {
    dir: PathBuf,
    proxy: u16,
    uas1: u16,
    uas2: u16,
    uac: u16,
}

impl Setup {
    fn new(name: &str) -> Self {
        Self {
            dir: scratch(name),
            proxy: free_port(),
            uas1: free_port(),
            uas2: free_port(),
            uac: free_port(),
        }
    }

    fn start_proxy(&self, tcp: bool, extra_defines: &[String]) -> Proc {
        self.start_proxy_with(tcp, extra_defines, &[])
    }

    fn start_proxy_with(&self, tcp: bool, extra_defines: &[String], extra: &[&str]) -> Proc {
        let t = if tcp { ";transport=tcp" } else { "" };
        let mut args: Vec<String> = vec![
            "-n".into(),
            "2".into(),
            "-m".into(),
            "256".into(),
            "-A".into(),
            format!("DST=\"sip:127.0.0.1:{}{t}\"", self.uas1),
            "-A".into(),
            format!("DST2=\"sip:127.0.0.1:{}{t}\"", self.uas2),
            "-l".into(),
            format!("udp:127.0.0.1:{}", self.proxy),
        ];
        if tcp {
            args.extend(["-l".into(), format!("tcp:127.0.0.1:{}", self.proxy)]);
        }
        for d in extra_defines {
            args.extend(["-A".into(), d.clone()]);
        }
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        start_ferrosip(&self.dir, &example_cfg(), &args, &[])
    }

    fn target(&self) -> SocketAddr {
        format!("127.0.0.1:{}", self.proxy).parse().unwrap()
    }

    /// A SIPp UAS running `scenario` on `port`, bounded for `calls` calls at `rate`.
    fn uas(&self, scenario: &str, port: u16, transport: &str, calls: u32, rate: u32) -> Proc {
        let limit = Duration::from_secs(u64::from(calls / rate) + 60);
        start_sipp_uas_with(&self.dir, &scen(scenario), port, transport, limit, &[])
    }

    /// The record-routing SIPp UAC: `calls` calls at `rate` through the proxy.
    fn uac(&self, transport: &str, calls: u32, rate: u32, extra: &[&str]) -> UacResult {
        run_sipp_uac_with(
            &self.dir,
            &scen("uac_rr.xml"),
            self.uac,
            transport,
            self.target(),
            rate,
            calls,
            extra,
        )
    }
}

fn stop(mut fs: Proc) -> String {
    let st = fs.terminate(Duration::from_secs(10));
    let log = fs.output();
    assert!(
        st.map(|s| s.success()).unwrap_or(false),
        "ferrosip did not exit 0 on SIGTERM:\n{log}"
    );
    log
}

fn assert_all_ok(res: &UacResult, calls: u32, log: &str) {
    assert!(
        res.success && res.successful_calls == u64::from(calls) && res.failed_calls == 0,
        "calls failed: ok={} failed={} exit_ok={}\nuac tail:\n{}\nferrosip log tail:\n{}",
        res.successful_calls,
        res.failed_calls,
        res.success,
        res.output
            .lines()
            .rev()
            .take(15)
            .collect::<Vec<_>>()
            .join("\n"),
        log.lines().rev().take(20).collect::<Vec<_>>().join("\n")
    );
}

/// `calls` record-routed calls at `rate` through the proxy to one UAS.
fn relay(name: &str, transport: &str, calls: u32, rate: u32) {
    relay_with(name, transport, calls, rate, &[]);
}

fn relay_with(name: &str, transport: &str, calls: u32, rate: u32, extra: &[&str]) {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !require("sipp") {
        return;
    }
    let s = Setup::new(name);
    let tcp = transport.starts_with('t');
    let fs = s.start_proxy_with(tcp, &[], extra);
    let _uas = s.uas("uas_rr.xml", s.uas1, transport, calls, rate);
    let res = s.uac(transport, calls, rate, &[]);
    let log = stop(fs);
    assert_all_ok(&res, calls, &log);
    // INVITE and BYE each made a server and a client transaction; nothing was refused.
    assert!(
        counter_sum(&log, "tx_server") >= u64::from(2 * calls),
        "{log}"
    );
    assert_eq!(counter_sum(&log, "tx_refused_full"), 0);
    assert_eq!(counter_sum(&log, "tx_failure_routes"), 0);
}

#[test]
fn stateful_udp_10k_calls_at_1000_cps() {
    relay("sf-udp10k", "u1", 10_000, 1_000);
}

#[test]
fn stateful_tcp_10k_calls_at_1000_cps() {
    relay("sf-tcp10k", "t1", 10_000, 1_000);
}

/// Without the eBPF program the receiving worker hands each message to the worker owning its
/// Call-ID (ARCHITECTURE.md §3): replies, ACKs and BYEs still find their transactions.
#[test]
fn stateful_in_mesh_steering_mode() {
    relay_with("sf-mesh", "u1", 2_000, 500, &["--steering", "mesh"]);
}

#[test]
fn failover_when_the_first_uas_never_answers() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !require("sipp") {
        return;
    }
    let s = Setup::new("sf-failover-silent");
    // Nothing listens on uas1: every INVITE times out after fr_timer (1 s) and
    // failure_route relays it to uas2.
    let fs = s.start_proxy(false, &["FR_TIMER=1000".into()]);
    let (calls, rate) = (100, 20);
    let _uas2 = s.uas("uas_rr.xml", s.uas2, "u1", calls, rate);
    let res = s.uac("u1", calls, rate, &[]);
    let log = stop(fs);
    assert_all_ok(&res, calls, &log);
    assert_eq!(
        counter_sum(&log, "tx_failure_routes"),
        u64::from(calls),
        "{log}"
    );
    assert!(counter_sum(&log, "tx_timeouts") >= u64::from(calls));
    // Timer A retransmitted the INVITEs to the silent UAS before Timer B (fr_timer) fired.
    assert!(counter_sum(&log, "tx_retransmissions") >= u64::from(calls));
}

#[test]
fn failover_when_the_first_uas_answers_503() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !require("sipp") {
        return;
    }
    let s = Setup::new("sf-failover-503");
    let fs = s.start_proxy(false, &[]);
    let (calls, rate) = (500, 100);
    let _uas1 = s.uas("uas_503.xml", s.uas1, "u1", calls, rate);
    let _uas2 = s.uas("uas_rr.xml", s.uas2, "u1", calls, rate);
    let res = s.uac("u1", calls, rate, &[]);
    let log = stop(fs);
    assert_all_ok(&res, calls, &log);
    assert_eq!(
        counter_sum(&log, "tx_failure_routes"),
        u64::from(calls),
        "{log}"
    );
    assert_eq!(counter_sum(&log, "tx_timeouts"), 0);
}

#[test]
fn calls_complete_through_retransmissions_with_10_percent_loss() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !require("sipp") {
        return;
    }
    let s = Setup::new("sf-lost10");
    // The UAC drops 10% of what it sends and receives (SIPp -lost 10): its retransmitted
    // INVITEs and BYEs must be absorbed by their transactions (answered with the last
    // response), the UAS's retransmitted 2xx relayed. RFC 3261's 32 s Timer J keeps a BYE's
    // transaction for late retransmissions (Kamailio's 5 s wt_timer can be outlived by a
    // BYE whose copies are lost several times in a row).
    let fs = s.start_proxy(false, &["WT_TIMER=32000".into()]);
    let (calls, rate) = (500, 100);
    let _uas = s.uas("uas_rr.xml", s.uas1, "u1", calls, rate);
    let res = s.uac(
        "u1",
        calls,
        rate,
        &["-lost", "10", "-recv_timeout", "30000"],
    );
    let log = stop(fs);
    assert_all_ok(&res, calls, &log);
    assert!(
        counter_sum(&log, "tx_absorbed") > 0,
        "no retransmission reached a transaction: {log}"
    );
    assert!(counter_sum(&log, "tx_retransmissions") > 0);
}

/// The same example file on Kamailio 5.6: record-routed calls fail over from a UAS answering
/// 503 to the second one through the same failure_route.
#[test]
fn stateful_example_fails_over_on_kamailio_too() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !require("sipp") || !require("kamailio") {
        return;
    }
    let s = Setup::new("sf-kamailio");
    let kam = start_kamailio(
        &s.dir,
        &example_cfg(),
        s.proxy,
        &[
            format!("LISTEN=udp:127.0.0.1:{}", s.proxy),
            format!("DST=\"sip:127.0.0.1:{}\"", s.uas1),
            format!("DST2=\"sip:127.0.0.1:{}\"", s.uas2),
        ],
    );
    let (calls, rate) = (200, 100);
    let _uas1 = s.uas("uas_503.xml", s.uas1, "u1", calls, rate);
    let _uas2 = s.uas("uas_rr.xml", s.uas2, "u1", calls, rate);
    let res = s.uac("u1", calls, rate, &[]);
    let log = kam.output();
    assert_all_ok(&res, calls, &log);
}
