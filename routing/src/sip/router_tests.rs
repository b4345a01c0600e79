//! End-to-end tests of [`Router`]: configuration text in, transmits out.

use std::net::SocketAddr;
use std::path::Path;

use ferrosip_parser::Proto;

use super::ctx_tests::{test_sockets, INVITE, SRC};
use super::Router;
use crate::api::{Inbound, Transmit, WorkerEnv};
use crate::cfg::Config;

const MODULES: &str = "loadmodule \"sl.so\"\nloadmodule \"maxfwd.so\"\nloadmodule \"sanity.so\"\n\
loadmodule \"textops.so\"\nloadmodule \"xlog.so\"\nloadmodule \"pv.so\"\n";

fn router(body: &str) -> Router {
    let text = format!("{MODULES}{body}");
    let cfg = match Config::parse_str("test.cfg", &text, &[]) {
        Ok(c) => c,
        Err(e) => panic!("test cfg does not compile: {e}\n{text}"),
    };
    Router::new(
        &cfg,
        WorkerEnv {
            worker: 0,
            workers: 1,
            sockets: test_sockets(),
        },
    )
}

fn handle(r: &mut Router, data: &[u8]) -> Vec<Transmit> {
    handle_from(r, data, SRC.parse().unwrap(), Proto::Udp)
}

fn handle_from(r: &mut Router, data: &[u8], src: SocketAddr, proto: Proto) -> Vec<Transmit> {
    let mut out = Vec::new();
    let inb = Inbound {
        data,
        src,
        local: 0,
        proto,
        conn: None,
    };
    r.handle(&inb, &mut out);
    out
}

fn text(t: &Transmit) -> String {
    String::from_utf8_lossy(&t.data).into_owned()
}

const FORWARD_CFG: &str = "request_route {\n\
  if (!mf_process_maxfwd_header(\"10\")) { sl_send_reply(\"483\", \"Too Many Hops\"); exit; }\n\
  if (!sanity_check(\"1511\", \"7\")) { exit; }\n\
  $du = \"sip:127.0.0.1:5070\";\n\
  forward();\n\
  exit;\n}\n";

#[test]
fn stateless_forward_end_to_end() {
    let mut r = router(FORWARD_CFG);
    let out = handle(&mut r, INVITE.as_bytes());
    assert_eq!(out.len(), 1);
    let t = text(&out[0]);
    assert_eq!(out[0].dst, "127.0.0.1:5070".parse::<SocketAddr>().unwrap());
    assert!(t.starts_with(
        "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK"
    ));
    assert!(t.contains(";rport=40000;received=192.0.2.7\r\n"));
    assert!(t.contains("\r\nMax-Forwards: 9\r\n"));
    let s = r.stats();
    assert_eq!((s.rx_requests, s.fwd_requests, s.local_replies), (1, 1, 0));
    // The arena and buffers are reused: a second message works the same.
    let out2 = handle(&mut r, INVITE.as_bytes());
    assert_eq!(out2[0].data, out[0].data);
}

#[test]
fn zero_max_forwards_gets_483_from_the_script() {
    let mut r = router(FORWARD_CFG);
    let out = handle(
        &mut r,
        INVITE
            .replace("Max-Forwards: 10", "Max-Forwards: 0")
            .as_bytes(),
    );
    assert_eq!(out.len(), 1);
    assert!(text(&out[0]).starts_with("SIP/2.0 483 Too Many Hops\r\n"));
}

const RESPONSE: &str = "SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKabc.123\r\n\
Via: SIP/2.0/UDP client.example.com:5062;branch=z9hG4bK776asdhds;rport=40000;received=192.0.2.7\r\n\
To: Bob <sip:bob@example.com>;tag=a6c85cf\r\n\
From: Alice <sip:alice@example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Content-Length: 0\r\n\r\n";

#[test]
fn reply_with_a_malformed_lower_via_is_dropped_and_counted() {
    // The parser reads a response's lower Vias on first use; the router still drops a reply
    // whose next hop cannot be parsed, as when parsing was eager.
    let mut r = router(FORWARD_CFG);
    let bad = RESPONSE.replace(
        "Via: SIP/2.0/UDP client.example.com:5062;",
        "Via: SIP/2.0/UDP client.example.com:port;",
    );
    let out = handle_from(
        &mut r,
        bad.as_bytes(),
        "127.0.0.1:5070".parse().unwrap(),
        Proto::Udp,
    );
    assert!(out.is_empty());
    assert_eq!(r.stats().bad_replies, 1);
    assert_eq!(r.stats().fwd_replies, 0);
    // A malformed From in a response is not read by a stateless relay: relayed as it is.
    let from = RESPONSE.replace(
        "From: Alice <sip:alice@example.com>",
        "From: Alice <sip:alice@example.com",
    );
    let out = handle_from(
        &mut r,
        from.as_bytes(),
        "127.0.0.1:5070".parse().unwrap(),
        Proto::Udp,
    );
    assert_eq!(out.len(), 1);
    assert_eq!(r.stats().fwd_replies, 1);
}

#[test]
fn reply_pops_our_via_and_goes_to_rport() {
    let mut r = router(FORWARD_CFG);
    let out = handle_from(
        &mut r,
        RESPONSE.as_bytes(),
        "127.0.0.1:5070".parse().unwrap(),
        Proto::Udp,
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].dst, "192.0.2.7:40000".parse::<SocketAddr>().unwrap());
    assert_eq!(out[0].proto, Proto::Udp);
    let t = text(&out[0]);
    assert!(
        t.starts_with("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP client.example.com:5062;"),
        "{t}"
    );
    assert_eq!(
        t.len(),
        RESPONSE.len() - "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKabc.123\r\n".len()
    );
    assert_eq!(r.stats().fwd_replies, 1);
    // Both values on one line: only ours and its comma go.
    let one_line = RESPONSE.replace(
        "z9hG4bKabc.123\r\nVia: SIP/2.0/UDP client",
        "z9hG4bKabc.123 , SIP/2.0/UDP client",
    );
    let out = handle(&mut r, one_line.as_bytes());
    let t = text(&out[0]);
    assert!(
        t.starts_with("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP client.example.com:5062;branch"),
        "{t}"
    );
    // Without rport/received: sent-by host and port.
    let plain = RESPONSE
        .replace(";rport=40000;received=192.0.2.7", "")
        .replace("client.example.com:5062", "192.0.2.8:5062");
    let out = handle(&mut r, plain.as_bytes());
    assert_eq!(out[0].dst, "192.0.2.8:5062".parse::<SocketAddr>().unwrap());
    // maddr on UDP wins (RFC 3261 §18.2.2).
    let maddr = RESPONSE.replace(";rport=40000", ";maddr=192.0.2.50;rport=40000");
    let out = handle(&mut r, maddr.as_bytes());
    assert_eq!(out[0].dst, "192.0.2.50:5062".parse::<SocketAddr>().unwrap());
    // Over TCP: to received and rport, on TCP.
    let tcp = RESPONSE.replace("SIP/2.0/UDP client", "SIP/2.0/TCP client");
    let out = handle(&mut r, tcp.as_bytes());
    assert_eq!((out[0].proto, out[0].local), (Proto::Tcp, Some(1)));
    assert_eq!(out[0].dst, "192.0.2.7:40000".parse::<SocketAddr>().unwrap());
}

#[test]
fn reply_to_advertised_via_is_ours() {
    let mut r = router(FORWARD_CFG);
    let adv = RESPONSE.replace("127.0.0.1:5060;branch", "Proxy.Example.NET:5090;branch");
    assert_eq!(handle(&mut r, adv.as_bytes()).len(), 1);
    let alias = RESPONSE.replace("127.0.0.1:5060;branch", "[::1];branch");
    assert_eq!(
        handle(&mut r, alias.as_bytes()).len(),
        1,
        "IPv6 socket, default port"
    );
}

#[test]
fn reply_not_ours_is_dropped() {
    let mut r = router(FORWARD_CFG);
    let other = RESPONSE.replace("127.0.0.1:5060;branch", "192.0.2.99:5060;branch");
    assert!(handle(&mut r, other.as_bytes()).is_empty());
    // Our address on another port is not ours either.
    let other_port = RESPONSE.replace("127.0.0.1:5060;branch", "127.0.0.1:5999;branch");
    assert!(handle(&mut r, other_port.as_bytes()).is_empty());
    assert_eq!(r.stats().dropped_replies, 2);
    // Only our Via: nowhere to send it.
    let only = RESPONSE.replace(
        "Via: SIP/2.0/UDP client.example.com:5062;branch=z9hG4bK776asdhds;rport=40000;received=192.0.2.7\r\n",
        "",
    );
    assert!(handle(&mut r, only.as_bytes()).is_empty());
    assert_eq!(r.stats().drops, 1);
}

#[test]
fn reply_route_can_drop() {
    let mut r = router(&format!(
        "{FORWARD_CFG}reply_route {{\n  if ($rs == 200) {{ drop; }}\n}}\n"
    ));
    assert!(handle(&mut r, RESPONSE.as_bytes()).is_empty());
    assert_eq!(r.stats().dropped_replies, 1);
    let ringing = RESPONSE.replace("200 OK", "180 Ringing");
    assert_eq!(handle(&mut r, ringing.as_bytes()).len(), 1);
}

#[test]
fn onsend_route_drop_cancels_the_send() {
    let mut r = router(&format!(
        "{FORWARD_CFG}onsend_route {{\n  if (is_method(\"INVITE\")) {{ drop; }}\n}}\n"
    ));
    assert!(handle(&mut r, INVITE.as_bytes()).is_empty());
    assert_eq!(r.stats().fwd_requests, 0);
    let bye = INVITE.replace("INVITE", "BYE");
    assert_eq!(handle(&mut r, bye.as_bytes()).len(), 1);
}

#[test]
fn sl_reply_to_tag_and_ack_absorption() {
    let mut r = router("request_route {\n  if (is_method(\"ACK\")) { forward(\"127.0.0.1\", 5070); exit; }\n  sl_send_reply(\"404\", \"Not Found $rU\");\n}\n");
    let out = handle(&mut r, INVITE.as_bytes());
    assert_eq!(out.len(), 1);
    let t = text(&out[0]);
    assert!(t.starts_with("SIP/2.0 404 Not Found bob\r\n"), "{t}");
    let to = t
        .lines()
        .find(|l| l.starts_with("To: "))
        .unwrap()
        .to_owned();
    let tag = to.split(";tag=").nth(1).unwrap().to_owned();
    // Retransmission: same tag.
    assert!(text(&handle(&mut r, INVITE.as_bytes())[0]).contains(&tag));
    let ack = INVITE
        .replacen("INVITE sip", "ACK sip", 1)
        .replace("314159 INVITE", "314159 ACK")
        .replace("To: Bob <sip:bob@example.com>", &to);
    assert!(handle(&mut r, ack.as_bytes()).is_empty());
    assert_eq!(r.stats().acks_absorbed, 1);
    // An ACK with someone else's tag is routed.
    let other = ack.replace(&tag, "other");
    assert_eq!(handle(&mut r, other.as_bytes()).len(), 1);
}

#[test]
fn malformed_request_gets_400_with_the_parser_reason() {
    let mut r = router(FORWARD_CFG);
    let bad = INVITE.replace("CSeq: 314159 INVITE", "CSeq: 99999999999 INVITE");
    let err = ferrosip_parser::parse(bad.as_bytes(), &bumpalo::Bump::new()).unwrap_err();
    let out = handle(&mut r, bad.as_bytes());
    assert_eq!(out.len(), 1);
    let t = text(&out[0]);
    assert!(
        t.starts_with(&format!("SIP/2.0 {} {}\r\n", err.status(), err.reason())),
        "{t}"
    );
    assert!(t.contains("\r\nCSeq: 99999999999 INVITE\r\n"));
    assert!(t.contains("Call-ID: a84b4c76e66710@pc33.example.com\r\n"));
    assert_eq!(
        out[0].dst,
        SRC.parse::<SocketAddr>().unwrap(),
        "rport honoured"
    );
    assert_eq!(r.stats().bad_requests, 1);
    // Nothing to answer with: no Via.
    let novia = bad.replace(
        "Via: SIP/2.0/UDP client.example.com:5062;branch=z9hG4bK776asdhds;rport\r\n",
        "",
    );
    assert!(handle(&mut r, novia.as_bytes()).is_empty());
    assert_eq!(r.stats().drops, 1);
    // A malformed response is dropped and counted.
    assert!(handle(&mut r, b"SIP/2.0 99999 Huh\r\n\r\n").is_empty());
    assert_eq!(r.stats().bad_replies, 1);
    // Garbage never panics.
    for junk in [
        &b""[..],
        b"\r\n\r\n",
        b"INVITE",
        b"\x00\xff\xfe",
        b"ACK sip:x SIP/2.0\r\nVia: x\r\ni: y\r\n",
    ] {
        let _ = handle(&mut r, junk);
    }
}

fn torture_dir() -> Option<&'static Path> {
    let p = Path::new("/work/shared/testdata/sip-torture");
    p.join("MANIFEST.tsv").exists().then_some(p)
}

#[test]
fn version_and_scheme_checks() {
    let Some(dir) = torture_dir() else {
        eprintln!("skipped: /work/shared/testdata/sip-torture is absent");
        return;
    };
    let mut r = router(FORWARD_CFG);
    let out = handle(
        &mut r,
        &std::fs::read(dir.join("rfc4475/badvers.dat")).unwrap(),
    );
    assert_eq!(out.len(), 1);
    assert!(text(&out[0]).starts_with("SIP/2.0 505 Version Not Supported\r\n"));
    let out = handle(
        &mut r,
        &std::fs::read(dir.join("rfc4475/unkscm.dat")).unwrap(),
    );
    assert_eq!(out.len(), 1);
    assert!(text(&out[0]).starts_with("SIP/2.0 416 Unsupported URI Scheme\r\n"));
    assert_eq!(r.stats().bad_requests, 2);
}

/// Does the outcome match a MANIFEST expression like `4xx|none|505` or `final!400|none`?
fn matches_expectation(expr: &str, status: Option<u16>) -> bool {
    expr.split('|').any(|alt| {
        let (base, not) = match alt.split_once('!') {
            Some((b, n)) => (b, n.parse::<u16>().ok()),
            None => (alt, None),
        };
        if not.is_some() && status == not {
            return false;
        }
        match (base, status) {
            ("any", _) => true,
            ("none", None) => true,
            ("final", Some(c)) => c >= 200,
            ("2xx", Some(c)) => (200..300).contains(&c),
            ("4xx", Some(c)) => (400..500).contains(&c),
            ("5xx", Some(c)) => (500..600).contains(&c),
            (code, Some(c)) => code.parse::<u16>().ok() == Some(c),
            _ => false,
        }
    })
}

#[test]
fn torture_messages_through_stateless_cfg() {
    let Some(dir) = torture_dir() else {
        eprintln!("skipped: /work/shared/testdata/sip-torture is absent");
        return;
    };
    let cfg_path = Path::new("/work/shared/bench-anchor/cfg/stateless.cfg");
    let Ok(cfg) = Config::load(cfg_path, &[]) else {
        panic!("stateless.cfg does not load");
    };
    let mut r = Router::new(
        &cfg,
        WorkerEnv {
            worker: 0,
            workers: 1,
            sockets: test_sockets(),
        },
    );
    let manifest = std::fs::read_to_string(dir.join("MANIFEST.tsv")).unwrap();
    let mut checked = 0;
    let mut failures = Vec::new();
    for line in manifest.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (Some(file), Some(expect)) = (cols.first(), cols.get(8)) else {
            continue;
        };
        let data = std::fs::read(dir.join(file)).unwrap();
        for proto in [Proto::Udp, Proto::Tcp] {
            let out = handle_from(&mut r, &data, SRC.parse().unwrap(), proto);
            if proto == Proto::Tcp {
                continue; // no panic is all that is asked over TCP here
            }
            let local: Vec<u16> = out
                .iter()
                .filter(|t| t.data.starts_with(b"SIP/2.0 "))
                .filter_map(|t| std::str::from_utf8(&t.data[8..11]).ok()?.parse().ok())
                .collect();
            assert!(local.len() <= 1, "{file}: more than one reply");
            let status = local.first().copied();
            eprintln!(
                "torture {file}: {status:?} fwd={} expect {expect}",
                out.len() - local.len()
            );
            if !matches_expectation(expect, status) {
                failures.push(format!("{file}: expected {expect}, got {status:?}"));
            }
            // Forwarded requests go to the UAS only, never trailing junk.
            for t in out.iter().filter(|t| !t.data.starts_with(b"SIP/2.0 ")) {
                assert_eq!(
                    t.dst,
                    "127.0.0.1:5070".parse::<SocketAddr>().unwrap(),
                    "{file}"
                );
            }
            checked += 1;
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(checked >= 60, "only {checked} messages checked");
}

#[test]
fn expectation_matcher() {
    assert!(matches_expectation("final!400|none", None));
    assert!(matches_expectation("final!400|none", Some(404)));
    assert!(!matches_expectation("final!400|none", Some(400)));
    assert!(matches_expectation("4xx|none|505", Some(505)));
    assert!(!matches_expectation("4xx|none", Some(200)));
    assert!(matches_expectation("any", Some(200)));
    assert!(matches_expectation("483|2xx", Some(483)));
}

/// Every torture message, truncated and with bytes flipped (a fixed pseudo-random sequence),
/// through a script that exercises most functions: no panic, and every transmit is either a
/// response or a request to a sane destination.
#[test]
fn mutated_torture_messages_never_panic() {
    let Some(dir) = torture_dir() else {
        eprintln!("skipped: /work/shared/testdata/sip-torture is absent");
        return;
    };
    let mut r = router(
        "request_route {\n\
           if (!mf_process_maxfwd_header(\"10\")) { sl_send_reply(\"483\", \"Too Many Hops\"); exit; }\n\
           if (!sanity_check(\"17895\", \"15\")) { exit; }\n\
           append_hf(\"X-Test: $rm $ru $fu $tu $ci\\r\\n\");\n\
           remove_hf(\"Contact\");\n\
           if ($hdr(Subject) != $null) { $rU = \"x\"; }\n\
           if (uri == myself) { sl_send_reply(\"404\", \"Not here\"); exit; }\n\
           if (is_method(\"OPTIONS\")) { sl_reply_error(); exit; }\n\
           forward(\"127.0.0.1\", 5070);\n\
         }\n\
         reply_route { xlog(\"L_DBG\", \"$rs $rr\\n\"); }\n",
    );
    let manifest = std::fs::read_to_string(dir.join("MANIFEST.tsv")).unwrap();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut runs = 0;
    for line in manifest.lines().skip(1) {
        let Some(file) = line.split('\t').next() else {
            continue;
        };
        let orig = std::fs::read(dir.join(file)).unwrap();
        for round in 0..60 {
            let mut data = orig.clone();
            if data.is_empty() {
                break;
            }
            match round % 3 {
                0 => data.truncate((next() as usize) % data.len()),
                1 => {
                    for _ in 0..1 + next() % 4 {
                        let i = (next() as usize) % data.len();
                        data[i] = next() as u8;
                    }
                }
                _ => {
                    let i = (next() as usize) % data.len();
                    let c = *b";,:<>\"\r\n @=/[]"
                        .get((next() % 15) as usize)
                        .unwrap_or(&b' ');
                    data.insert(i, c);
                }
            }
            for proto in [Proto::Udp, Proto::Tcp] {
                for t in handle_from(&mut r, &data, SRC.parse().unwrap(), proto) {
                    assert!(
                        t.data.starts_with(b"SIP/2.0 ") || t.dst.port() == 5070,
                        "{file} round {round}: odd transmit to {}",
                        t.dst
                    );
                }
                runs += 1;
            }
        }
    }
    assert!(runs > 5000, "{runs}");
}

#[test]
fn server_signature_and_sip_warning() {
    let mut r = router(
        "server_signature=no\nsip_warning=yes\nrequest_route { sl_send_reply(\"403\", \"No\"); }\n",
    );
    let t = text(&handle(&mut r, INVITE.as_bytes())[0]);
    assert!(!t.contains("Server:"), "{t}");
    assert!(
        t.contains("\r\nWarning: 392 127.0.0.1:5060 \"Noisy feedback tells: "),
        "{t}"
    );
    let mut r = router(
        "server_header=\"Server: Example\"\nrequest_route { sl_send_reply(\"403\", \"No\"); }\n",
    );
    let t = text(&handle(&mut r, INVITE.as_bytes())[0]);
    assert!(
        t.contains("\r\nServer: Example\r\n") && !t.contains("Warning"),
        "{t}"
    );
}

#[test]
#[ignore = "prints forwarded torture messages for eyeballing"]
fn show_forwarded() {
    let Some(dir) = torture_dir() else { return };
    let mut r = router(FORWARD_CFG);
    for f in [
        "rfc4475/wsinv.dat",
        "rfc5118/via-received-param-with-delim.dat",
        "rfc4475/dblreq.dat",
    ] {
        let out = handle(&mut r, &std::fs::read(dir.join(f)).unwrap());
        for t in &out {
            eprintln!("==== {f} -> {} {:?}\n{}", t.dst, t.proto, text(t));
        }
    }
}

#[test]
#[ignore = "timing, run with --ignored --nocapture (meaningful in release builds)"]
fn time_stateless_path() {
    let cfg_path = Path::new("/work/shared/bench-anchor/cfg/stateless.cfg");
    let Ok(cfg) = Config::load(cfg_path, &[]) else {
        return;
    };
    let mut r = Router::new(
        &cfg,
        WorkerEnv {
            worker: 0,
            workers: 1,
            sockets: test_sockets(),
        },
    );
    let mut out = Vec::new();
    let src: SocketAddr = SRC.parse().unwrap();
    let reply = RESPONSE.as_bytes();
    let n = 20_000u32;
    let t0 = std::time::Instant::now();
    for _ in 0..n {
        out.clear();
        r.handle(
            &Inbound {
                data: INVITE.as_bytes(),
                src,
                local: 0,
                proto: Proto::Udp,
                conn: None,
            },
            &mut out,
        );
        r.handle(
            &Inbound {
                data: reply,
                src,
                local: 0,
                proto: Proto::Udp,
                conn: None,
            },
            &mut out,
        );
    }
    let per = t0.elapsed() / (2 * n);
    eprintln!("stateless.cfg: {per:?} per message (request + reply averaged)");
    assert_eq!(r.stats().fwd_requests, u64::from(n));
}

#[test]
#[ignore = "timing breakdown"]
fn time_breakdown() {
    let n = 20_000u32;
    let mut arena = bumpalo::Bump::new();
    let t0 = std::time::Instant::now();
    for _ in 0..n {
        arena.reset();
        let m = ferrosip_parser::parse(INVITE.as_bytes(), &arena).unwrap();
        std::hint::black_box(&m);
    }
    eprintln!("parse: {:?}", t0.elapsed() / n);
    let mut r = router("request_route { exit; }\n");
    let src: SocketAddr = SRC.parse().unwrap();
    let mut out = Vec::new();
    let t0 = std::time::Instant::now();
    for _ in 0..n {
        r.handle(
            &Inbound {
                data: INVITE.as_bytes(),
                src,
                local: 0,
                proto: Proto::Udp,
                conn: None,
            },
            &mut out,
        );
    }
    eprintln!("handle with empty route: {:?}", t0.elapsed() / n);
    let mut r = router("request_route { forward(\"127.0.0.1\", 5070); exit; }\n");
    let t0 = std::time::Instant::now();
    for _ in 0..n {
        out.clear();
        r.handle(
            &Inbound {
                data: INVITE.as_bytes(),
                src,
                local: 0,
                proto: Proto::Udp,
                conn: None,
            },
            &mut out,
        );
    }
    eprintln!("handle with forward only: {:?}", t0.elapsed() / n);
    let mut r =
        router("request_route { if (!mf_process_maxfwd_header(\"10\")) { exit; } exit; }\n");
    let t0 = std::time::Instant::now();
    for _ in 0..n {
        r.handle(
            &Inbound {
                data: INVITE.as_bytes(),
                src,
                local: 0,
                proto: Proto::Udp,
                conn: None,
            },
            &mut out,
        );
    }
    eprintln!("handle with maxfwd: {:?}", t0.elapsed() / n);
    let mut r = router("request_route { if (!sanity_check(\"1511\", \"7\")) { exit; } exit; }\n");
    let t0 = std::time::Instant::now();
    for _ in 0..n {
        r.handle(
            &Inbound {
                data: INVITE.as_bytes(),
                src,
                local: 0,
                proto: Proto::Udp,
                conn: None,
            },
            &mut out,
        );
    }
    eprintln!("handle with sanity: {:?}", t0.elapsed() / n);
}

/// A SIPp uac/uas call as the stateless proxy sees it: INVITE, 180, 200, ACK, BYE, 200.
/// The replies carry the proxy's Via on top, as the UAS returns them.
pub(crate) fn sipp_dialog() -> [(&'static str, Vec<u8>, SocketAddr); 6] {
    let uac: SocketAddr = "127.0.0.1:5061".parse().unwrap();
    let uas: SocketAddr = "127.0.0.1:5070".parse().unwrap();
    let req = |method: &str, cseq: u32, branch: &str, to_tag: &str, sdp: bool| {
        let body = if sdp {
            "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n\
t=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
        } else {
            ""
        };
        let ct = if sdp {
            "Content-Type: application/sdp\r\n"
        } else {
            ""
        };
        format!(
            "{method} sip:service@127.0.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5061;branch={branch}\r\n\
From: sipp <sip:sipp@127.0.0.1:5061>;tag=1SIPpTag001\r\n\
To: service <sip:service@127.0.0.1:5060>{to_tag}\r\n\
Call-ID: 1-12345@127.0.0.1\r\n\
CSeq: {cseq} {method}\r\n\
Contact: sip:sipp@127.0.0.1:5061\r\n\
Max-Forwards: 70\r\n\
Subject: Performance Test\r\n\
{ct}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    };
    let rsp = |code: &str, cseq: u32, method: &str, branch: &str| {
        format!(
            "SIP/2.0 {code}\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK0a1b2c3d.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5061;branch={branch};rport=5061;received=127.0.0.1\r\n\
From: sipp <sip:sipp@127.0.0.1:5061>;tag=1SIPpTag001\r\n\
To: service <sip:service@127.0.0.1:5060>;tag=2SIPpTag012\r\n\
Call-ID: 1-12345@127.0.0.1\r\n\
CSeq: {cseq} {method}\r\n\
Contact: <sip:127.0.0.1:5070;transport=UDP>\r\n\
Content-Length: 0\r\n\r\n"
        )
        .into_bytes()
    };
    let tag = ";tag=2SIPpTag012";
    [
        ("INVITE", req("INVITE", 1, "z9hG4bK-1-1-0", "", true), uac),
        ("180", rsp("180 Ringing", 1, "INVITE", "z9hG4bK-1-1-0"), uas),
        (
            "200/INVITE",
            rsp("200 OK", 1, "INVITE", "z9hG4bK-1-1-0"),
            uas,
        ),
        ("ACK", req("ACK", 1, "z9hG4bK-1-1-5", tag, false), uac),
        ("BYE", req("BYE", 2, "z9hG4bK-1-1-7", tag, false), uac),
        ("200/BYE", rsp("200 OK", 2, "BYE", "z9hG4bK-1-1-7"), uas),
    ]
}

/// The bench configuration (stateless.cfg with its defaults), from the anchor tree when it
/// is there, else the same script inline.
fn stateless_router() -> Router {
    let cfg_path = Path::new("/work/shared/bench-anchor/cfg/stateless.cfg");
    match Config::load(cfg_path, &[]) {
        Ok(cfg) => Router::new(
            &cfg,
            WorkerEnv {
                worker: 0,
                workers: 1,
                sockets: test_sockets(),
            },
        ),
        Err(_) => router(FORWARD_CFG),
    }
}

#[test]
fn sipp_dialog_is_relayed_by_stateless_cfg() {
    let mut r = stateless_router();
    for (name, data, src) in sipp_dialog() {
        let out = handle_from(&mut r, &data, src, Proto::Udp);
        assert_eq!(out.len(), 1, "{name}");
    }
    let s = r.stats();
    assert_eq!((s.fwd_requests, s.fwd_replies), (3, 3));
}

/// `ROUTING_BENCH_N` rounds of [`sipp_dialog`] through `Router::handle` with stateless.cfg;
/// prints ns per message, per message type and overall. Under callgrind use a small N
/// (`ROUTING_BENCH_N=1000`) and divide `Ir` by 6 N.
#[test]
#[ignore = "timing"]
fn time_sipp_dialog() {
    let n: u32 = std::env::var("ROUTING_BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200_000);
    let only = std::env::var("ROUTING_BENCH_ONLY").ok();
    let msgs = sipp_dialog();
    let mut r = stateless_router();
    let mut out = Vec::with_capacity(4);
    let mut per = [std::time::Duration::ZERO; 6];
    for (k, (name, data, src)) in msgs.iter().enumerate() {
        if only.as_deref().is_some_and(|o| o != *name) {
            continue;
        }
        let inb = Inbound {
            data,
            src: *src,
            local: 0,
            proto: Proto::Udp,
            conn: None,
        };
        let t0 = std::time::Instant::now();
        for _ in 0..n {
            out.clear();
            r.handle(&inb, &mut out);
            std::hint::black_box(&out);
        }
        per[k] = t0.elapsed() / n;
        assert_eq!(out.len(), 1, "{name}");
    }
    let mut total = std::time::Duration::ZERO;
    for (k, (name, _, _)) in msgs.iter().enumerate() {
        eprintln!("{name:>11}: {:>5} ns", per[k].as_nanos());
        total += per[k];
    }
    eprintln!("    average: {:>5} ns per message", (total / 6).as_nanos());
}
