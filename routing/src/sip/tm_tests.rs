//! Stateful proxying (tm) through the whole router on a simulated clock and network: every
//! timer path runs in milliseconds of test time.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ferrosip_parser::Proto;

use super::ctx_tests::{test_sockets, INVITE, SRC};
use super::Router;
use crate::api::{Inbound, Transmit, WorkerEnv};
use crate::cfg::Config;

const MODULES: &str = "loadmodule \"sl.so\"\nloadmodule \"tm.so\"\nloadmodule \"tmx.so\"\n\
loadmodule \"maxfwd.so\"\nloadmodule \"textops.so\"\nloadmodule \"pv.so\"\n\
modparam(\"tm\", \"fr_timer\", 2000)\nmodparam(\"tm\", \"fr_inv_timer\", 6000)\n";

/// The stock stateful pattern of `bench-anchor/cfg/stateful.cfg`, with a failure route that
/// fails over to a second destination on 503 or timeout.
const STATEFUL: &str = "request_route {\n\
  if (!mf_process_maxfwd_header(\"10\")) { sl_send_reply(\"483\", \"Too Many Hops\"); exit; }\n\
  if (is_method(\"CANCEL\")) { if (t_check_trans()) { t_relay(); } exit; }\n\
  if (is_method(\"ACK\")) { if (t_check_trans()) { t_relay(); } exit; }\n\
  if (t_precheck_trans()) { t_check_trans(); exit; }\n\
  t_check_trans();\n\
  $avp(first) = \"A\";\n\
  t_on_failure(\"RTF\");\n\
  $du = \"sip:127.0.0.1:5070\";\n\
  if (!t_relay()) { sl_reply_error(); }\n\
  exit;\n}\n\
failure_route[RTF] {\n\
  if (t_is_canceled()) { exit; }\n\
  $var(code) = $T_reply_code;\n\
  if ($avp(first) == \"A\" && t_check_status(\"503|408\")) {\n\
    $du = \"sip:127.0.0.1:5071\";\n\
    t_relay();\n\
  }\n\
}\n";

/// A router under test with its simulated clock (shared with the dialog tests).
pub(crate) struct Net {
    pub(crate) r: Router,
    pub(crate) now: Instant,
}

fn net(body: &str) -> Net {
    net_with(MODULES, "tm.cfg", body)
}

/// A router compiled from `modules` followed by `body`.
pub(crate) fn net_with(modules: &str, name: &str, body: &str) -> Net {
    let text = format!("{modules}{body}");
    let cfg = match Config::parse_str(name, &text, &[]) {
        Ok(c) => c,
        Err(e) => panic!("test cfg does not compile: {e}\n{text}"),
    };
    let r = Router::new(
        &cfg,
        WorkerEnv {
            worker: 0,
            workers: 1,
            sockets: test_sockets(),
        },
    );
    Net {
        r,
        now: Instant::now(),
    }
}

impl Net {
    /// Hands `data` from `src` to the router over UDP at the current time.
    pub(crate) fn recv(&mut self, data: &str, src: &str) -> Vec<Transmit> {
        self.recv_proto(data, src, Proto::Udp)
    }

    fn recv_proto(&mut self, data: &str, src: &str, proto: Proto) -> Vec<Transmit> {
        let mut out = Vec::new();
        let inb = Inbound {
            data: data.as_bytes(),
            src: src.parse().unwrap(),
            local: if proto == Proto::Tcp { 1 } else { 0 },
            proto,
            conn: (proto == Proto::Tcp).then_some(9),
        };
        self.r.handle_at(&inb, self.now, &mut out);
        out
    }

    /// Advances the clock by `ms`, firing every timer due on the way.
    pub(crate) fn advance(&mut self, ms: u64) -> Vec<Transmit> {
        let end = self.now + Duration::from_millis(ms);
        let mut out = Vec::new();
        while let Some(d) = self.r.next_timeout() {
            if d > end {
                break;
            }
            self.now = d.max(self.now);
            self.r.handle_timeouts(self.now, &mut out);
        }
        self.now = end;
        out
    }
}

/// The bytes of a transmit as text.
pub(crate) fn text(t: &Transmit) -> String {
    String::from_utf8_lossy(&t.data).into_owned()
}

/// The status code of a response transmit (0 for a request).
pub(crate) fn status(t: &Transmit) -> u16 {
    let s = text(t);
    s.strip_prefix("SIP/2.0 ")
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn dst(t: &Transmit) -> SocketAddr {
    t.dst
}

fn method(t: &Transmit) -> String {
    text(t).split(' ').next().unwrap_or("").to_owned()
}

/// A response to `req` as a UAS would send it: every Via, From, To (tagged `uas-1` above
/// 100), Call-ID and CSeq copied.
pub(crate) fn response(req: &Transmit, code: u16, reason: &str) -> String {
    let t = text(req);
    let mut out = format!("SIP/2.0 {code} {reason}\r\n");
    for line in t.split("\r\n").skip(1) {
        if line.is_empty() {
            break;
        }
        let name = line
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match name.as_str() {
            "via" | "v" | "from" | "f" | "call-id" | "i" | "cseq" => {
                out.push_str(line);
                out.push_str("\r\n");
            }
            "to" | "t" => {
                out.push_str(line);
                if code > 100 && !line.contains("tag=") {
                    out.push_str(";tag=uas-1");
                }
                out.push_str("\r\n");
            }
            _ => {}
        }
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}

/// An in-dialog BYE of the test call (To-tag `b`).
fn bye() -> String {
    INVITE
        .replace("INVITE sip:bob@example.com", "BYE sip:bob@example.com")
        .replace("CSeq: 314159 INVITE", "CSeq: 314160 BYE")
        .replace(
            "To: Bob <sip:bob@example.com>",
            "To: Bob <sip:bob@example.com>;tag=b",
        )
}

const UAS1: &str = "127.0.0.1:5070";
const UAS2: &str = "127.0.0.1:5071";

/// Whether `t` goes to address `a`.
pub(crate) fn is_to(t: &Transmit, a: &str) -> bool {
    dst(t) == a.parse::<SocketAddr>().unwrap()
}

#[test]
fn invite_gets_100_and_is_relayed_with_a_transaction_branch() {
    let mut n = net(STATEFUL);
    let out = n.recv(INVITE, SRC);
    assert_eq!(out.len(), 2, "{out:#?}");
    assert_eq!(status(&out[0]), 100);
    assert_eq!(dst(&out[0]), SRC.parse::<SocketAddr>().unwrap());
    assert!(is_to(&out[1], UAS1));
    let inv = text(&out[1]);
    assert!(
        inv.starts_with(
            "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK"
        ),
        "{inv}"
    );
    assert!(inv.contains("Max-Forwards: 9\r\n"), "{inv}");
    // Server and client transaction.
    assert_eq!(n.r.transactions(), 2);
    // A retransmission of the INVITE is absorbed: the 100 again, nothing downstream.
    let again = n.recv(INVITE, SRC);
    assert_eq!(again.len(), 1, "{again:#?}");
    assert_eq!(status(&again[0]), 100);
    assert_eq!(n.r.tm_stats().absorbed, 1);
}

#[test]
fn provisional_and_2xx_are_relayed_upstream_and_state_is_retired() {
    let mut n = net(STATEFUL);
    let out = n.recv(INVITE, SRC);
    let inv = out[1].clone();
    let r180 = n.recv(&response(&inv, 180, "Ringing"), UAS1);
    assert_eq!(r180.len(), 1);
    assert_eq!(status(&r180[0]), 180);
    assert_eq!(dst(&r180[0]), SRC.parse::<SocketAddr>().unwrap());
    assert!(
        !text(&r180[0]).contains("127.0.0.1:5060;branch"),
        "our Via removed"
    );
    // 100 from downstream is not relayed (RFC 3261 §16.7 step 5).
    assert!(n.recv(&response(&inv, 100, "Trying"), UAS1).is_empty());
    let ok = n.recv(&response(&inv, 200, "OK"), UAS1);
    assert_eq!(ok.len(), 1);
    assert_eq!(status(&ok[0]), 200);
    // A retransmitted 2xx is relayed too (RFC 6026).
    let ok2 = n.recv(&response(&inv, 200, "OK"), UAS1);
    assert_eq!(ok2.len(), 1);
    // One transaction answered 2xx (the retransmission does not count again).
    assert_eq!(n.r.tm_stats().finals, [1, 0, 0, 0, 0]);
    assert_eq!(status(&ok2[0]), 200);
    // No retransmission of the INVITE after a response; after wt_timer (5 s) all is gone.
    let later = n.advance(10_000);
    assert!(later.is_empty(), "{later:#?}");
    assert_eq!(n.r.transactions(), 0);
}

#[test]
fn silent_uas_gets_retransmissions_then_fails_over_through_failure_route() {
    let mut n = net(STATEFUL);
    let out = n.recv(INVITE, SRC);
    let first = out[1].clone();
    // Timer A: 500 ms, 1 s, ... until fr_timer (2 s, Timer B) fires.
    let out = n.advance(1_999);
    let retrans: Vec<_> = out.iter().filter(|t| is_to(t, UAS1)).collect();
    assert_eq!(retrans.len(), 2, "at 0.5 s and 1.5 s: {out:#?}");
    assert!(retrans.iter().all(|t| t.data == first.data));
    let out = n.advance(2);
    // Timeout → failure_route → t_relay to the second UAS.
    assert_eq!(out.len(), 1, "{out:#?}");
    assert!(is_to(&out[0], UAS2));
    assert_eq!(method(&out[0]), "INVITE");
    assert_ne!(out[0].data, first.data, "a new branch");
    assert_eq!(n.r.tm_stats().failure_routes, 1);
    assert_eq!(n.r.tm_stats().timeouts, 1);
    let ok = n.recv(&response(&out[0], 200, "OK"), UAS2);
    assert_eq!(ok.len(), 1);
    assert_eq!(status(&ok[0]), 200);
}

#[test]
fn error_503_fails_over_and_the_second_answer_wins() {
    let mut n = net(STATEFUL);
    let out = n.recv(INVITE, SRC);
    let inv = out[1].clone();
    let r = n.recv(&response(&inv, 503, "Service Unavailable"), UAS1);
    // The hop-by-hop ACK to the 503 (RFC 3261 §17.1.1.3) and the new branch.
    assert_eq!(r.len(), 2, "{r:#?}");
    assert_eq!(method(&r[0]), "ACK");
    assert!(is_to(&r[0], UAS1));
    let ack = text(&r[0]);
    assert!(ack.contains("CSeq: 314159 ACK\r\n"), "{ack}");
    assert!(ack.contains("tag=uas-1"), "{ack}");
    assert_eq!(method(&r[1]), "INVITE");
    assert!(is_to(&r[1], UAS2));
    let busy = n.recv(&response(&r[1], 486, "Busy Here"), UAS2);
    // ACK downstream, and — the failure route is not armed again — the 486 upstream.
    assert_eq!(busy.len(), 2, "{busy:#?}");
    let up = busy.iter().find(|t| status(t) == 486).expect("486 relayed");
    assert_eq!(dst(up), SRC.parse::<SocketAddr>().unwrap());
    // The UAC's ACK for the 486 is absorbed by the server transaction.
    let ack_up = INVITE
        .replace("INVITE sip:bob@example.com", "ACK sip:bob@example.com")
        .replace("CSeq: 314159 INVITE", "CSeq: 314159 ACK")
        .replace(
            "To: Bob <sip:bob@example.com>",
            "To: Bob <sip:bob@example.com>;tag=uas-1",
        );
    assert!(n.recv(&ack_up, SRC).is_empty());
    assert!(n.r.stats().acks_absorbed >= 1);
    // The 486 is not retransmitted once ACKed (Timer G stopped).
    let later = n.advance(3_000);
    assert!(later.iter().all(|t| status(t) != 486), "{later:#?}");
}

#[test]
fn final_response_without_failure_route_goes_upstream_and_is_retransmitted_until_acked() {
    let mut n = net("request_route {\n $du = \"sip:127.0.0.1:5070\";\n t_relay();\n exit;\n}\n");
    let out = n.recv(INVITE, SRC);
    let inv = out[1].clone();
    let r = n.recv(&response(&inv, 404, "Not Found"), UAS1);
    assert_eq!(r.len(), 2);
    assert!(r
        .iter()
        .any(|t| status(t) == 404 && dst(t) == SRC.parse().unwrap()));
    // Timer G (UDP): the 404 again after 500 ms while no ACK comes.
    let again = n.advance(600);
    assert_eq!(
        again.iter().filter(|t| status(t) == 404).count(),
        1,
        "{again:#?}"
    );
}

#[test]
fn cancel_is_answered_and_relayed_and_487_goes_upstream() {
    let mut n = net(STATEFUL);
    let out = n.recv(INVITE, SRC);
    let inv = out[1].clone();
    n.recv(&response(&inv, 180, "Ringing"), UAS1);
    let cancel = INVITE
        .replace("INVITE sip:bob@example.com", "CANCEL sip:bob@example.com")
        .replace("CSeq: 314159 INVITE", "CSeq: 314159 CANCEL");
    let out = n.recv(&cancel, SRC);
    assert_eq!(out.len(), 2, "{out:#?}");
    assert_eq!(status(&out[0]), 200);
    assert!(text(&out[0]).contains("CSeq: 314159 CANCEL"));
    assert_eq!(method(&out[1]), "CANCEL");
    assert!(is_to(&out[1], UAS1));
    let c = text(&out[1]);
    // Same branch as the INVITE it cancels (RFC 3261 §9.1).
    let branch = |s: &str| {
        s.split("branch=")
            .nth(1)
            .and_then(|b| b.split([';', '\r']).next())
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(branch(&c), branch(&text(&inv)));
    // The 200 to our CANCEL stays here; the 487 goes upstream (the failure route sees
    // t_is_canceled() and exits).
    assert!(n.recv(&response(&out[1], 200, "OK"), UAS1).is_empty());
    let r = n.recv(&response(&inv, 487, "Request Terminated"), UAS1);
    assert!(
        r.iter()
            .any(|t| status(t) == 487 && dst(t) == SRC.parse().unwrap()),
        "{r:#?}"
    );
    assert!(r.iter().any(|t| method(t) == "ACK" && is_to(t, UAS1)));
}

#[test]
fn cancel_before_any_provisional_waits_for_one() {
    let mut n = net(STATEFUL);
    let out = n.recv(INVITE, SRC);
    let inv = out[1].clone();
    let cancel = INVITE
        .replace("INVITE sip:bob@example.com", "CANCEL sip:bob@example.com")
        .replace("CSeq: 314159 INVITE", "CSeq: 314159 CANCEL");
    let out = n.recv(&cancel, SRC);
    assert_eq!(out.len(), 1, "only the 200: {out:#?}");
    // RFC 3261 §9.1: the CANCEL goes once a provisional response arrived.
    let r = n.recv(&response(&inv, 100, "Trying"), UAS1);
    assert_eq!(r.len(), 1, "{r:#?}");
    assert_eq!(method(&r[0]), "CANCEL");
}

#[test]
fn cancel_without_transaction_is_not_relayed_by_the_stock_script() {
    let mut n = net(STATEFUL);
    let cancel = INVITE
        .replace("INVITE sip:bob@example.com", "CANCEL sip:bob@example.com")
        .replace("CSeq: 314159 INVITE", "CSeq: 314159 CANCEL");
    assert!(n.recv(&cancel, SRC).is_empty());
}

#[test]
fn non_invite_is_relayed_statefully_and_times_out_with_408() {
    let mut n = net(
        "request_route {\n $du = \"sip:127.0.0.1:5070\";\n if (!t_relay()) { sl_reply_error(); }\n exit;\n}\n",
    );
    let bye = bye();
    let out = n.recv(&bye, SRC);
    assert_eq!(out.len(), 1, "no 100 for a non-INVITE: {out:#?}");
    assert_eq!(method(&out[0]), "BYE");
    // Timer E retransmits, Timer F (fr_timer 2 s) ends it with a local 408.
    let later = n.advance(2_100);
    assert!(later.iter().filter(|t| method(t) == "BYE").count() >= 2);
    let r408: Vec<_> = later.iter().filter(|t| status(t) == 408).collect();
    assert_eq!(r408.len(), 1, "{later:#?}");
    assert!(text(r408[0]).contains("CSeq: 314160 BYE"));
}

#[test]
fn tcp_branches_are_not_retransmitted() {
    let mut n = net(
        "request_route {\n $du = \"sip:127.0.0.1:5070;transport=tcp\";\n t_relay();\n exit;\n}\n",
    );
    let inv = INVITE.replace("SIP/2.0/UDP client", "SIP/2.0/TCP client");
    let out = n.recv_proto(&inv, SRC, Proto::Tcp);
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].proto, Proto::Tcp);
    assert_eq!(out[0].conn, Some(9), "the 100 goes back on the connection");
    let later = n.advance(1_900);
    assert!(later.is_empty(), "no Timer A on TCP: {later:#?}");
    let later = n.advance(200);
    assert!(
        later.iter().any(|t| status(t) == 408 && t.conn == Some(9)),
        "{later:#?}"
    );
}

#[test]
fn a_full_table_answers_503_and_counts() {
    // shm 1 MiB, one worker: the floor of 1024 transactions, i.e. 512 relayed INVITEs.
    let mut n = net("shm_mem_size=1\nrequest_route {\n $du = \"sip:127.0.0.1:5070\";\n if (!t_relay()) { sl_reply_error(); }\n exit;\n}\n");
    let mut refused = Vec::new();
    for i in 0..520 {
        let inv = INVITE.replace("z9hG4bK776asdhds", &format!("z9hG4bKfill{i}"));
        let out = n.recv(&inv, SRC);
        if out.iter().any(|t| status(t) == 503) {
            refused.push(i);
        }
    }
    assert_eq!(n.r.transactions(), 1024);
    assert_eq!(refused, (512..520).collect::<Vec<_>>());
    assert_eq!(n.r.tm_stats().refused_full, 8);
    // Once the calls complete and their transactions retire, new calls are accepted again.
    n.advance(40_000);
    let out = n.recv(INVITE, SRC);
    assert!(out.iter().all(|t| status(t) != 503), "{out:#?}");
}

#[test]
fn t_reply_answers_statefully_and_absorbs_retransmissions() {
    let mut n = net("request_route {\n if (!t_newtran()) { exit; }\n t_reply(\"404\", \"Nobody Here\");\n exit;\n}\n");
    let out = n.recv(INVITE, SRC);
    assert_eq!(out.len(), 1);
    assert_eq!(status(&out[0]), 404);
    assert!(text(&out[0]).contains("404 Nobody Here"));
    let again = n.recv(INVITE, SRC);
    assert_eq!(again.len(), 1, "the stored 404 again");
    assert_eq!(again[0].data, out[0].data);
}

#[test]
fn t_on_failure_needs_a_defined_failure_route() {
    let text = format!("{MODULES}request_route {{\n t_on_failure(\"NOPE\");\n t_relay();\n}}\n");
    let e = Config::parse_str("tm.cfg", &text, &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("route 'NOPE' is not defined"), "{e}");
    let text = "loadmodule \"sl.so\"\nrequest_route {\n t_relay();\n}\n";
    let e = Config::parse_str("tm.cfg", text, &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("needs loadmodule \"tm.so\""), "{e}");
}

#[test]
fn request_without_rfc3261_branch_is_relayed_statelessly() {
    let mut n = net("request_route {\n $du = \"sip:127.0.0.1:5070\";\n t_relay();\n exit;\n}\n");
    let old = INVITE.replace("branch=z9hG4bK776asdhds", "branch=776asdhds");
    let out = n.recv(&old, SRC);
    assert_eq!(out.len(), 1);
    assert_eq!(method(&out[0]), "INVITE");
    assert_eq!(n.r.transactions(), 0);
}

#[test]
fn failure_route_branches_keep_record_route_and_script_edits() {
    let mut n = net("loadmodule \"rr.so\"\nrequest_route {\n\
         if (!mf_process_maxfwd_header(\"10\")) { exit; }\n\
         record_route();\n append_hf(\"X-First: yes\\r\\n\");\n\
         t_on_failure(\"NEXT\");\n $du = \"sip:127.0.0.1:5070\";\n t_relay();\n exit;\n}\n\
         failure_route[NEXT] {\n $du = \"sip:127.0.0.1:5071\";\n t_relay();\n}\n");
    let out = n.recv(INVITE, SRC);
    let first = text(&out[1]);
    assert!(first.contains("Record-Route: <sip:127.0.0.1;lr"), "{first}");
    let r = n.recv(&response(&out[1], 500, "Oops"), UAS1);
    let second = r.iter().find(|t| is_to(t, UAS2)).expect("failover branch");
    let second = text(second);
    assert!(
        second.contains("Record-Route: <sip:127.0.0.1;lr"),
        "{second}"
    );
    assert!(second.contains("X-First: yes\r\n"), "{second}");
    assert!(second.contains("Max-Forwards: 9\r\n"), "{second}");
    assert_eq!(second.matches("Max-Forwards").count(), 1, "{second}");
}

#[test]
fn retransmitted_non_invite_is_absorbed_until_timer_j() {
    let mut n = net(
        "request_route {\n $du = \"sip:127.0.0.1:5070\";\n if (!t_relay()) { sl_reply_error(); }\n exit;\n}\n",
    );
    let bye = bye();
    let out = n.recv(&bye, SRC);
    let ok = n.recv(&response(&out[0], 200, "OK"), UAS1);
    assert_eq!(ok.len(), 1);
    for step in [500, 1_000, 2_000] {
        n.advance(step);
        let again = n.recv(&bye, SRC);
        assert_eq!(again.len(), 1, "at +{step} ms: {again:#?}");
        assert_eq!(status(&again[0]), 200, "absorbed: the stored 200 again");
    }
    // Timer J (wt_timer, 5 s) retires it.
    n.advance(5_000);
    assert_eq!(n.r.transactions(), 0);
}

/// Heap held per transaction while calls sit in the wait state (Kamailio: ~15 KB of shm per
/// transaction, `bench-anchor/RESULTS.md`). Counted by allocator, not timed.
#[test]
fn memory_per_transaction() {
    let mut n = net("request_route {\n $du = \"sip:127.0.0.1:5070\";\n t_relay();\n exit;\n}\n");
    n.recv(INVITE, SRC); // warm the arena and the tables' first growth
    n.advance(40_000);
    let calls = 2_000;
    let info = allocation_counter::measure(|| {
        for i in 0..calls {
            let inv = INVITE
                .replace("z9hG4bK776asdhds", &format!("z9hG4bKm{i}"))
                .replace("a84b4c76e66710", &format!("call{i}"));
            let out = n.recv(&inv, SRC);
            let ok = response(&out[1], 200, "OK");
            n.recv(&ok, UAS1);
            let bye = inv
                .replace("INVITE sip:bob@example.com", "BYE sip:bob@example.com")
                .replace("CSeq: 314159 INVITE", "CSeq: 314160 BYE")
                .replace("z9hG4bKm", "z9hG4bKb")
                .replace(
                    "To: Bob <sip:bob@example.com>",
                    "To: Bob <sip:bob@example.com>;tag=uas-1",
                );
            let out = n.recv(&bye, SRC);
            n.recv(&response(&out[0], 200, "OK"), UAS1);
        }
    });
    let live = n.r.transactions();
    assert_eq!(live, calls * 4, "every transaction still in its wait state");
    let per = info.bytes_current as f64 / live as f64;
    eprintln!(
        "memory: {live} live transactions hold {} bytes: {per:.0} bytes per transaction",
        info.bytes_current
    );
    // The 1.5 KB target of the stateful issue, with the measured value in the closing note.
    assert!(per < 1536.0, "{per:.0} bytes per transaction");
}

#[test]
fn append_branch_forks_in_parallel_and_the_2xx_cancels_the_others() {
    let mut n = net("request_route {\n $du = \"sip:127.0.0.1:5070\";\n\
         if (!append_branch(\"sip:bob@127.0.0.1:5071\")) { exit; }\n t_relay();\n exit;\n}\n");
    let out = n.recv(INVITE, SRC);
    assert_eq!(out.len(), 3, "{out:#?}");
    let a = out
        .iter()
        .find(|t| is_to(t, UAS1))
        .expect("branch 1")
        .clone();
    let b = out
        .iter()
        .find(|t| is_to(t, UAS2))
        .expect("branch 2")
        .clone();
    assert!(text(&b).starts_with("INVITE sip:bob@127.0.0.1:5071 SIP/2.0\r\n"));
    assert_ne!(
        text(&a).split("branch=").nth(1).map(|x| &x[..32]),
        text(&b).split("branch=").nth(1).map(|x| &x[..32]),
        "each branch has its own transaction"
    );
    assert!(n.recv(&response(&a, 180, "Ringing"), UAS1).len() == 1);
    let r = n.recv(&response(&b, 200, "OK"), UAS2);
    // The 200 goes upstream and the ringing branch is cancelled (RFC 3261 §16.7 step 10).
    assert!(
        r.iter()
            .any(|t| status(t) == 200 && dst(t) == SRC.parse().unwrap()),
        "{r:#?}"
    );
    assert!(
        r.iter().any(|t| method(t) == "CANCEL" && is_to(t, UAS1)),
        "{r:#?}"
    );
    // Its 487 is absorbed here: the call was answered.
    let r = n.recv(&response(&a, 487, "Request Terminated"), UAS1);
    assert!(r.iter().all(|t| status(t) != 487), "{r:#?}");
}

#[test]
fn t_next_contacts_forks_serially_by_q_value() {
    let mut n = net(
        "request_route {\n $ru = \"sip:a@127.0.0.1:5070\";\n\
         append_branch(\"sip:b@127.0.0.1:5071\", \"0.5\");\n\
         append_branch(\"sip:c@127.0.0.1:5072\", \"0.5\");\n\
         t_load_contacts();\n t_next_contacts();\n t_on_failure(\"SERIAL\");\n t_relay();\n exit;\n}\n\
         failure_route[SERIAL] {\n if (!t_next_contacts()) { exit; }\n t_on_failure(\"SERIAL\");\n t_relay();\n}\n",
    );
    let out = n.recv(INVITE, SRC);
    // q 1.0 first, alone.
    let invites: Vec<_> = out.iter().filter(|t| method(t) == "INVITE").collect();
    assert_eq!(invites.len(), 1, "{out:#?}");
    assert!(text(invites[0]).starts_with("INVITE sip:a@127.0.0.1:5070 "));
    let first = invites[0].clone();
    // Busy: the q 0.5 group goes out in parallel.
    let r = n.recv(&response(&first, 486, "Busy Here"), UAS1);
    let next: Vec<_> = r
        .iter()
        .filter(|t| method(t) == "INVITE")
        .cloned()
        .collect();
    assert_eq!(next.len(), 2, "{r:#?}");
    assert!(next.iter().any(|t| is_to(t, UAS2)));
    assert!(next.iter().any(|t| is_to(t, "127.0.0.1:5072")));
    assert!(r.iter().all(|t| status(t) != 486), "nothing upstream yet");
    // Both fail; no contact is left, so the best response goes upstream.
    assert!(n
        .recv(&response(&next[0], 404, "Not Found"), "127.0.0.1:5071")
        .iter()
        .all(|t| status(t) < 400 || status(t) == 0));
    let r = n.recv(&response(&next[1], 480, "Unavailable"), "127.0.0.1:5072");
    let up: Vec<_> = r
        .iter()
        .filter(|t| dst(t) == SRC.parse().unwrap())
        .collect();
    assert_eq!(up.len(), 1, "{r:#?}");
    assert!((400..500).contains(&status(up[0])));
    assert_eq!(n.r.tm_stats().failure_routes, 2);
}

#[test]
fn append_branch_refuses_bad_uris_and_q_values() {
    let mut n = net(
        "request_route {\n $var(a) = append_branch(\"not a uri\");\n\
         $var(b) = append_branch(\"sip:x@127.0.0.1\", \"1.5\");\n\
         if ($var(a) < 0 && $var(b) < 0) { sl_send_reply(\"404\", \"refused\"); exit; }\n\
         sl_send_reply(\"500\", \"accepted\");\n exit;\n}\n",
    );
    let out = n.recv(INVITE, SRC);
    assert_eq!(status(&out[0]), 404, "{}", text(&out[0]));
}

#[test]
fn branch_route_runs_per_branch_and_can_drop_one() {
    let mut n = net(
        "request_route {\n $du = \"sip:127.0.0.1:5070\";\n\
         append_branch(\"sip:carol@127.0.0.1:5071\");\n\
         append_branch(\"sip:dave@127.0.0.1:5072\");\n\
         t_on_branch(\"PER\");\n\
         if (!t_relay()) { sl_reply_error(); }\n exit;\n}\n\
         branch_route[PER] {\n if ($ru =~ \"dave\") { drop; }\n append_hf(\"X-Branch: $ru\\r\\n\");\n}\n",
    );
    let out = n.recv(INVITE, SRC);
    let inv: Vec<_> = out.iter().filter(|t| method(t) == "INVITE").collect();
    assert_eq!(inv.len(), 2, "dave's branch dropped: {out:#?}");
    let a = inv.iter().find(|t| is_to(t, UAS1)).expect("main branch");
    let c = inv.iter().find(|t| is_to(t, UAS2)).expect("carol");
    assert!(
        text(a).contains("X-Branch: sip:bob@example.com\r\n"),
        "{}",
        text(a)
    );
    assert!(
        text(c).contains("X-Branch: sip:carol@127.0.0.1:5071\r\n"),
        "{}",
        text(c)
    );
    assert_eq!(
        text(c).matches("X-Branch").count(),
        1,
        "edits do not leak between branches"
    );
}

mod random_sequences {
    //! Any order of requests, responses, retransmissions, CANCELs, garbage and time: no
    //! panic, the table stays bounded, and once time runs out every transaction is gone.

    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Step {
        Invite(u8),
        Ack(u8, bool),
        Cancel(u8),
        Bye(u8),
        Respond(usize, u16),
        Advance(u64),
        Garbage(Vec<u8>),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0u8..3).prop_map(Step::Invite),
            (0u8..3, any::<bool>()).prop_map(|(c, t)| Step::Ack(c, t)),
            (0u8..3).prop_map(Step::Cancel),
            (0u8..3).prop_map(Step::Bye),
            (
                0usize..8,
                prop::sample::select(vec![100u16, 180, 183, 200, 404, 486, 487, 503, 603])
            )
                .prop_map(|(i, c)| Step::Respond(i, c)),
            (0u64..4_000).prop_map(Step::Advance),
            prop::collection::vec(any::<u8>(), 0..64).prop_map(Step::Garbage),
        ]
    }

    fn request(method: &str, call: u8, to_tag: bool) -> String {
        let cseq = if method == "BYE" { 2 } else { 1 };
        let branch = if method == "BYE" { "bye" } else { "inv" };
        let mut r = INVITE
            .replace("INVITE sip:bob", &format!("{method} sip:bob"))
            .replace("CSeq: 314159 INVITE", &format!("CSeq: {cseq} {method}"))
            .replace("z9hG4bK776asdhds", &format!("z9hG4bK{branch}{call}"))
            .replace("a84b4c76e66710", &format!("call{call}"));
        if to_tag {
            r = r.replace(
                "To: Bob <sip:bob@example.com>",
                "To: Bob <sip:bob@example.com>;tag=uas-1",
            );
        }
        r
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
        #[test]
        fn no_panic_bounded_and_drained(steps in prop::collection::vec(step(), 1..40)) {
            let mut n = net(STATEFUL);
            let mut sent: Vec<Transmit> = Vec::new();
            for s in steps {
                let out = match s {
                    Step::Invite(c) => n.recv(&request("INVITE", c, false), SRC),
                    Step::Ack(c, t) => n.recv(&request("ACK", c, t), SRC),
                    Step::Cancel(c) => n.recv(&request("CANCEL", c, false), SRC),
                    Step::Bye(c) => n.recv(&request("BYE", c, true), SRC),
                    Step::Respond(i, code) => match sent.get(i) {
                        Some(req) => {
                            let from = req.dst.to_string();
                            n.recv(&response(req, code, "X"), &from)
                        }
                        None => Vec::new(),
                    },
                    Step::Advance(ms) => n.advance(ms),
                    Step::Garbage(g) => {
                        let mut o = Vec::new();
                        let inb = Inbound {
                            data: &g,
                            src: SRC.parse().unwrap(),
                            local: 0,
                            proto: Proto::Udp,
                            conn: None,
                        };
                        n.r.handle_at(&inb, n.now, &mut o);
                        o
                    }
                };
                for t in out {
                    let m = method(&t);
                    if matches!(m.as_str(), "INVITE" | "BYE" | "CANCEL") && sent.len() < 64 {
                        sent.push(t);
                    }
                }
                prop_assert!(n.r.transactions() <= 2 * 16 + 64);
            }
            // Timer C (6 s here), Timer B/F (2 s), wait timers (5 s): all run out.
            n.advance(200_000);
            prop_assert_eq!(n.r.transactions(), 0);
            prop_assert!(n.r.next_timeout().is_none());
        }
    }
}
