//! The user-space cost of relaying one message statelessly, with warm caches: the script of
//! `../shared/bench-anchor/cfg/stateless.cfg` (max-forwards, sanity, `$du`, `forward()`) run
//! by a [`Router`] on an INVITE as SIPp's `uac` sends it, and the way back for its 200 OK.
//! Compare it with the proxy's CPU per message under load (`bench/proxy-cpu.sh`): the
//! difference is what waking up for each datagram costs (kernel, and caches gone cold).
#![allow(missing_docs)]

use std::time::Instant;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use ferrosip_parser::Proto;
use ferrosip_routing::api::{Inbound, LocalSocket, Transmit, WorkerEnv};
use ferrosip_routing::cfg::Config;
use ferrosip_routing::sip::Router;

const CFG: &str = "loadmodule \"sl.so\"\nloadmodule \"maxfwd.so\"\nloadmodule \"sanity.so\"\n\
loadmodule \"pv.so\"\n\
request_route {\n\
  if (!mf_process_maxfwd_header(\"10\")) { sl_send_reply(\"483\", \"Too Many Hops\"); exit; }\n\
  if (!sanity_check(\"1511\", \"7\")) { exit; }\n\
  $du = \"sip:127.0.0.1:5070\";\n\
  forward();\n\
  exit;\n}\n";

/// What SIPp's built-in `uac` scenario sends first.
const INVITE: &[u8] = b"INVITE sip:service@127.0.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-4321-1-0\r\n\
From: sipp <sip:sipp@127.0.0.1:5061>;tag=4321SIPpTag001\r\n\
To: service <sip:service@127.0.0.1:5060>\r\n\
Call-ID: 1-4321@127.0.0.1\r\n\
CSeq: 1 INVITE\r\n\
Contact: sip:sipp@127.0.0.1:5061\r\n\
Max-Forwards: 70\r\n\
Subject: Performance Test\r\n\
Content-Type: application/sdp\r\n\
Content-Length:   129\r\n\
\r\n\
v=0\r\n\
o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n\
s=-\r\n\
c=IN IP4 127.0.0.1\r\n\
t=0 0\r\n\
m=audio 6000 RTP/AVP 0\r\n\
a=rtpmap:0 PCMU/8000\r\n";

fn router() -> Router {
    let cfg = Config::parse_str("stateless.cfg", CFG, &[]).expect("the bench cfg compiles");
    Router::new(
        &cfg,
        WorkerEnv {
            worker: 0,
            workers: 1,
            sockets: vec![LocalSocket {
                proto: Proto::Udp,
                addr: "127.0.0.1:5060".parse().unwrap(),
                advertise: None,
            }],
        },
    )
}

fn inbound<'a>(data: &'a [u8], src: &str) -> Inbound<'a> {
    Inbound {
        data,
        src: src.parse().unwrap(),
        local: 0,
        proto: Proto::Udp,
        conn: None,
    }
}

/// The UAS's 200 OK to the forwarded INVITE `fwd`: its Via set, To with a tag, a Contact.
fn ok_for(fwd: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(fwd).unwrap();
    let mut out = String::from("SIP/2.0 200 OK\r\n");
    for line in text.split("\r\n").skip(1) {
        if line.is_empty() {
            break;
        }
        if line.starts_with("Via:")
            || line.starts_with("From:")
            || line.starts_with("Call-ID:")
            || line.starts_with("CSeq:")
        {
            out.push_str(line);
            out.push_str("\r\n");
        } else if line.starts_with("To:") {
            out.push_str(line);
            out.push_str(";tag=8765SIPpTag011\r\n");
        }
    }
    out.push_str("Contact: <sip:127.0.0.1:5070;transport=UDP>\r\nContent-Length: 0\r\n\r\n");
    out.into_bytes()
}

fn bench(c: &mut Criterion) {
    let mut r = router();
    let mut out: Vec<Transmit> = Vec::with_capacity(8);
    let now = Instant::now();
    r.handle_at(&inbound(INVITE, "127.0.0.1:5061"), now, &mut out);
    assert_eq!(out.len(), 1, "the INVITE is forwarded");
    assert_eq!(out[0].dst, "127.0.0.1:5070".parse().unwrap());
    let ok = ok_for(&out[0].data);
    out.clear();
    r.handle_at(&inbound(&ok, "127.0.0.1:5070"), now, &mut out);
    assert_eq!(out.len(), 1, "the 200 OK is relayed");
    assert_eq!(out[0].dst, "127.0.0.1:5061".parse().unwrap());
    out.clear();

    let mut g = c.benchmark_group("stateless-relay");
    let invite = inbound(INVITE, "127.0.0.1:5061");
    g.bench_function("invite", |b| {
        b.iter(|| {
            r.handle_at(black_box(&invite), now, &mut out);
            black_box(out.pop())
        })
    });
    let reply = inbound(&ok, "127.0.0.1:5070");
    g.bench_function("200ok", |b| {
        b.iter(|| {
            r.handle_at(black_box(&reply), now, &mut out);
            black_box(out.pop())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
