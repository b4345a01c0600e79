//! Tests of the message context (functions, pseudo-variables) without a script.

use std::borrow::Cow;
use std::net::SocketAddr;

use bumpalo::Bump;
use ferrosip_parser::{parse, Edits, Proto};

use super::ctx::{MsgCtx, ScriptEdits, Shared};
use super::resolve::Resolver;
use super::sanity::SanityParams;
use super::stats::Stats;
use crate::api::{Inbound, LocalSocket, Transmit};
use crate::names::{Builtin, Host, Pv, Value};

pub(crate) fn test_sockets() -> Vec<LocalSocket> {
    vec![
        LocalSocket {
            proto: Proto::Udp,
            addr: "127.0.0.1:5060".parse().unwrap(),
            advertise: None,
        },
        LocalSocket {
            proto: Proto::Tcp,
            addr: "127.0.0.1:5060".parse().unwrap(),
            advertise: None,
        },
        LocalSocket {
            proto: Proto::Udp,
            addr: "[::1]:5060".parse().unwrap(),
            advertise: None,
        },
        LocalSocket {
            proto: Proto::Udp,
            addr: "127.0.0.2:5080".parse().unwrap(),
            advertise: Some(("proxy.example.net".into(), Some(5090))),
        },
    ]
}

fn shared() -> Shared {
    let mut sh = Shared {
        sockets: test_sockets(),
        aliases: vec![
            ("alias.example.org".into(), None),
            ("pinned.example.org".into(), Some(5070)),
        ],
        server: b"Server: ferrosip".to_vec(),
        tag_prefix: *b"0123456789abcdef",
        maxfwd_limit: 70,
        sanity: SanityParams::default(),
        sip_warning: false,
        sent_by: Vec::new(),
        rr: Default::default(),
        process: {
            let cfg = crate::cfg::Config::parse_str("t.cfg", "request_route {}\n", &[])
                .expect("empty cfg");
            super::ProcessState::empty(&cfg, 1, super::ProfileBoard::new(&cfg, 1))
        },
    };
    sh.precompute();
    sh
}

pub(crate) const SRC: &str = "192.0.2.7:40000";

/// Runs `f` on a context for `data` received over `proto` from [`SRC`] on socket 0/1.
fn with_ctx<R>(
    data: &[u8],
    proto: Proto,
    f: impl FnOnce(&mut MsgCtx<'_, '_>) -> R,
) -> (R, Vec<Transmit>, Stats) {
    let local = if proto == Proto::Tcp { 1 } else { 0 };
    with_ctx_at(data, proto, SRC.parse().unwrap(), local, f)
}

/// Like [`with_ctx`], from `src` on local socket `local`.
fn with_ctx_at<R>(
    data: &[u8],
    proto: Proto,
    src: SocketAddr,
    local: usize,
    f: impl FnOnce(&mut MsgCtx<'_, '_>) -> R,
) -> (R, Vec<Transmit>, Stats) {
    let arena = Bump::new();
    let msg = parse(data, &arena).expect("test message parses");
    let sh = shared();
    let mut resolver = Resolver::default();
    let mut edits = ScriptEdits::default();
    let mut fwd = Edits::new();
    let mut out = Vec::new();
    let mut stats = Stats::default();
    let mut scratch = Vec::new();
    let mut sent = Vec::new();
    let mut tm = super::tm::Tm::new(
        super::tm::TmParams::default(),
        *b"0123456789abcdef",
        Vec::new(),
    );
    let cfg = crate::cfg::Config::parse_str("t.cfg", "", &[]).unwrap();
    let mut dlg =
        super::dialog::DlgLayer::from_config(&cfg, 0, 1, super::dialog::ProfileBoard::new(&cfg, 1));
    let inb = Inbound {
        data,
        src,
        local,
        proto,
        conn: (proto == Proto::Tcp).then_some(7),
    };
    let mut ctx = MsgCtx {
        msg: &msg,
        inb,
        arena: &arena,
        sh: &sh,
        resolver: &mut resolver,
        edits: &mut edits,
        fwd: &mut fwd,
        out: &mut out,
        stats: &mut stats,
        scratch: &mut scratch,
        new_ruri: None,
        du: None,
        flags: 0,
        maxfwd_done: false,
        last_error: None,
        deleted: 0,
        sent: &mut sent,
        rr: Default::default(),
        tm: &mut tm,
        now: std::time::Instant::now(),
        t: Default::default(),
        dlg: &mut dlg,
        dm: Default::default(),
        auth: Default::default(),
        x: Default::default(),
    };
    let r = f(&mut ctx);
    (r, out, stats)
}

fn s(v: &str) -> Value<'_> {
    Value::Str(Cow::Borrowed(v))
}

fn text(t: &Transmit) -> String {
    String::from_utf8_lossy(&t.data).into_owned()
}

pub(crate) const INVITE: &str = "INVITE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP client.example.com:5062;branch=z9hG4bK776asdhds;rport\r\n\
Max-Forwards: 10\r\n\
To: Bob <sip:bob@example.com>\r\n\
From: Alice <sip:alice@example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@client.example.com>\r\n\
Content-Length: 0\r\n\r\n";

#[test]
fn forward_to_du_adds_via_received_rport_and_decrements_max_forwards() {
    let (r, out, stats) = with_ctx(INVITE.as_bytes(), Proto::Udp, |c| {
        c.pv_set(&Pv::Du, s("sip:127.0.0.1:5070")).unwrap();
        c.call(Builtin::Forward, &[])
    });
    assert_eq!(r, 1);
    assert_eq!(out.len(), 1);
    assert_eq!(stats.fwd_requests, 1);
    let t = &out[0];
    assert_eq!(t.dst, "127.0.0.1:5070".parse::<SocketAddr>().unwrap());
    assert_eq!(t.proto, Proto::Udp);
    assert_eq!(t.local, Some(0));
    let m = text(t);
    let lines: Vec<&str> = m.split("\r\n").collect();
    assert_eq!(lines[0], "INVITE sip:bob@example.com SIP/2.0");
    assert!(
        lines[1].starts_with("Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK"),
        "{m}"
    );
    assert_eq!(
        lines[2],
        "Via: SIP/2.0/UDP client.example.com:5062;branch=z9hG4bK776asdhds;rport=40000;received=192.0.2.7"
    );
    assert_eq!(lines[3], "Max-Forwards: 9");
    assert!(m.ends_with("Content-Length: 0\r\n\r\n"));
    // Deterministic branch: the same request gives the same branch (retransmissions).
    let (_, out2, _) = with_ctx(INVITE.as_bytes(), Proto::Udp, |c| {
        c.pv_set(&Pv::Du, s("sip:127.0.0.1:5070")).unwrap();
        c.call(Builtin::Forward, &[])
    });
    assert_eq!(out2[0].data, t.data);
}

#[test]
fn cancel_gets_the_invite_branch() {
    let cancel = INVITE
        .replacen("INVITE sip", "CANCEL sip", 1)
        .replace("314159 INVITE", "314159 CANCEL");
    let branch = |m: &str| {
        let (_, out, _) = with_ctx(m.as_bytes(), Proto::Udp, |c| {
            c.call(Builtin::Forward, &[s("127.0.0.1"), Value::Int(5070)])
        });
        let t = text(&out[0]);
        t.split("\r\n").nth(1).unwrap().to_owned()
    };
    assert_eq!(branch(INVITE), branch(&cancel));
}

#[test]
fn forward_adds_max_forwards_when_absent_and_strips_trailing_bytes() {
    let m = INVITE.replace("Max-Forwards: 10\r\n", "") + "garbage after the message";
    let (r, out, _) = with_ctx(m.as_bytes(), Proto::Udp, |c| {
        c.call(Builtin::ForwardTcp, &[s("127.0.0.1:5070")])
    });
    assert_eq!(r, 1);
    let t = text(&out[0]);
    assert_eq!(out[0].proto, Proto::Tcp);
    assert_eq!(out[0].local, Some(1));
    assert!(t.starts_with(
        "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK"
    ));
    assert!(
        t.ends_with("Content-Length: 0\r\nMax-Forwards: 70\r\n\r\n"),
        "{t}"
    );
}

#[test]
fn maxfwd_module_return_codes() {
    let (r, out, _) = with_ctx(INVITE.as_bytes(), Proto::Udp, |c| {
        let a = c.call(Builtin::MfProcessMaxfwdHeader, &[s("10")]);
        let b = c.call(Builtin::Forward, &[s("127.0.0.1"), s("5070")]);
        (a, b)
    });
    assert_eq!(r, (1, 1));
    assert!(
        text(&out[0]).contains("\r\nMax-Forwards: 9\r\n"),
        "decremented once, not twice"
    );
    let absent = INVITE.replace("Max-Forwards: 10\r\n", "");
    let (r, out, _) = with_ctx(absent.as_bytes(), Proto::Udp, |c| {
        (
            c.call(Builtin::MfProcessMaxfwdHeader, &[Value::Int(5)]),
            c.call(Builtin::Forward, &[s("127.0.0.1:5070")]),
        )
    });
    assert_eq!(r, (2, 1));
    let t = text(&out[0]);
    assert!(
        t.contains("Max-Forwards: 5\r\n") && !t.contains("Max-Forwards: 70"),
        "{t}"
    );
    let big = INVITE.replace("Max-Forwards: 10", "Max-Forwards: 200");
    let (_, out, _) = with_ctx(big.as_bytes(), Proto::Udp, |c| {
        c.call(Builtin::MfProcessMaxfwdHeader, &[s("10")]);
        c.call(Builtin::Forward, &[s("127.0.0.1:5070")])
    });
    assert!(
        text(&out[0]).contains("Max-Forwards: 70\r\n"),
        "capped at max_limit"
    );
    let zero = INVITE.replace("Max-Forwards: 10", "Max-Forwards: 0");
    let (r, out, _) = with_ctx(zero.as_bytes(), Proto::Udp, |c| {
        c.call(Builtin::MfProcessMaxfwdHeader, &[s("10")])
    });
    assert_eq!(r, -1);
    assert!(out.is_empty());
}

#[test]
fn forward_with_max_forwards_zero_answers_483() {
    let zero = INVITE.replace("Max-Forwards: 10", "Max-Forwards: 0");
    let (r, out, stats) = with_ctx(zero.as_bytes(), Proto::Udp, |c| {
        c.call(Builtin::Forward, &[s("127.0.0.1:5070")])
    });
    assert_eq!(r, 0);
    assert_eq!(stats.fwd_requests, 0);
    assert!(text(&out[0]).starts_with("SIP/2.0 483 Too Many Hops\r\n"));
}

#[test]
fn loop_is_detected_with_482() {
    // Forward to ourselves, then feed the result back in.
    let (_, out, _) = with_ctx(INVITE.as_bytes(), Proto::Udp, |c| {
        c.call(Builtin::Forward, &[s("127.0.0.1:5060")])
    });
    let again = out[0].data.clone();
    let (r, out, _) = with_ctx(&again, Proto::Udp, |c| {
        c.call(Builtin::Forward, &[s("127.0.0.1:5060")])
    });
    assert_eq!(r, 0);
    let t = text(&out[0]);
    assert!(t.starts_with("SIP/2.0 482 Loop Detected\r\n"), "{t}");
    // A spiral (the R-URI changed) is not a loop.
    let (r, out, _) = with_ctx(&again, Proto::Udp, |c| {
        c.pv_set(&Pv::RUser, s("carol")).unwrap();
        c.call(Builtin::Forward, &[s("127.0.0.1:5060")])
    });
    assert_eq!(r, 1);
    assert!(text(&out[0]).starts_with("INVITE sip:carol@example.com SIP/2.0\r\n"));
}

#[test]
fn sl_send_reply_copies_headers_and_tags() {
    let (r, out, stats) = with_ctx(INVITE.as_bytes(), Proto::Udp, |c| {
        c.call(Builtin::SlSendReply, &[s("404"), s("Not Here")])
    });
    assert_eq!(r, 1);
    assert_eq!(stats.local_replies, 1);
    let t = text(&out[0]);
    let lines: Vec<&str> = t.split("\r\n").collect();
    assert_eq!(lines[0], "SIP/2.0 404 Not Here");
    assert_eq!(
        lines[1],
        "Via: SIP/2.0/UDP client.example.com:5062;branch=z9hG4bK776asdhds;rport=40000;received=192.0.2.7"
    );
    assert!(
        lines[2].starts_with("To: Bob <sip:bob@example.com>;tag=0123456789abcdef-"),
        "{t}"
    );
    assert_eq!(
        lines[3],
        "From: Alice <sip:alice@example.com>;tag=1928301774"
    );
    assert_eq!(lines[4], "Call-ID: a84b4c76e66710@pc33.example.com");
    assert_eq!(lines[5], "CSeq: 314159 INVITE");
    assert_eq!(lines[6], "Server: ferrosip");
    assert_eq!(lines[7], "Content-Length: 0");
    assert_eq!(lines.len(), 10);
    // rport: back to the source address and port (RFC 3581 §4).
    assert_eq!(out[0].dst, SRC.parse::<SocketAddr>().unwrap());
    assert_eq!(out[0].local, Some(0));
    // Without rport: the source IP and the sent-by port (RFC 3261 §18.2.2).
    let norport = INVITE.replace(";rport", "");
    let (_, out, _) = with_ctx(norport.as_bytes(), Proto::Udp, |c| {
        c.call(Builtin::SlSendReply, &[Value::Int(100), s("Trying")])
    });
    assert_eq!(out[0].dst, "192.0.2.7:5062".parse::<SocketAddr>().unwrap());
    assert!(!text(&out[0]).contains(";tag=0123"), "no To-tag on 100");
    // TCP: back on the connection.
    let (_, out, _) = with_ctx(INVITE.as_bytes(), Proto::Tcp, |c| {
        c.call(Builtin::SlSendReply, &[s("500"), s("x")])
    });
    assert_eq!(
        (out[0].conn, out[0].proto, out[0].dst),
        (Some(7), Proto::Tcp, SRC.parse().unwrap())
    );
    // Never to an ACK.
    let ack = INVITE.replace("INVITE", "ACK");
    let (r, out, _) = with_ctx(ack.as_bytes(), Proto::Udp, |c| {
        c.call(Builtin::SlSendReply, &[s("500"), s("x")])
    });
    assert_eq!((r, out.len()), (-1, 0));
}

#[test]
fn sl_reply_error_uses_the_last_error() {
    let (r, out, stats) = with_ctx(INVITE.as_bytes(), Proto::Udp, |c| {
        let f = c.call(Builtin::Forward, &[s("no-such-host.invalid")]);
        (f, c.call(Builtin::SlReplyError, &[]))
    });
    assert!(r.0 < 0);
    assert_eq!(r.1, 1);
    assert_eq!(stats.send_errors, 1);
    assert!(text(&out[0]).starts_with("SIP/2.0 478 Unresolvable destination\r\n"));
}

#[test]
fn ruri_rewrites_replace_the_request_line() {
    let (r, out, _) = with_ctx(INVITE.as_bytes(), Proto::Udp, |c| {
        c.pv_set(&Pv::Rd, s("127.0.0.1")).unwrap();
        c.pv_set(&Pv::Rp, Value::Int(5070)).unwrap();
        assert_eq!(c.pv_get(&Pv::Ru), s("sip:bob@127.0.0.1:5070"));
        assert!(c.pv_set(&Pv::Ru, s("not a uri")).is_err());
        c.call(Builtin::Forward, &[])
    });
    assert_eq!(r, 1);
    assert_eq!(out[0].dst, "127.0.0.1:5070".parse::<SocketAddr>().unwrap());
    assert!(text(&out[0]).starts_with("INVITE sip:bob@127.0.0.1:5070 SIP/2.0\r\n"));
    let (_, out, _) = with_ctx(INVITE.as_bytes(), Proto::Udp, |c| {
        c.pv_set(&Pv::Ru, s("sip:x@127.0.0.1;transport=tcp"))
            .unwrap();
        c.call(Builtin::Forward, &[])
    });
    assert_eq!(
        (out[0].proto, out[0].dst),
        (Proto::Tcp, "127.0.0.1:5060".parse().unwrap())
    );
}

#[test]
fn header_functions() {
    let (_, out, _) = with_ctx(INVITE.as_bytes(), Proto::Udp, |c| {
        assert_eq!(c.call(Builtin::IsPresentHf, &[s("contact")]), 1);
        assert_eq!(c.call(Builtin::IsPresentHf, &[s("m")]), 1);
        assert_eq!(c.call(Builtin::IsPresentHf, &[s("X-Nope")]), -1);
        assert_eq!(c.call(Builtin::RemoveHf, &[s("m")]), 1);
        assert_eq!(c.call(Builtin::RemoveHf, &[s("X-Nope")]), -1);
        assert_eq!(c.call(Builtin::AppendHf, &[s("X-A: 1\r\n")]), 1);
        assert_eq!(c.call(Builtin::AppendHf, &[s("X-B: 2"), s("call-id")]), 1);
        assert_eq!(c.call(Builtin::IsMethod, &[s("bye|invite")]), 1);
        assert_eq!(c.call(Builtin::IsMethod, &[s("BYE|ACK")]), -1);
        c.call(Builtin::Forward, &[s("127.0.0.1:5070")])
    });
    let t = text(&out[0]);
    assert!(!t.contains("Contact:"));
    assert!(t.contains("X-B: 2\r\nCall-ID:"));
    assert!(t.ends_with("Content-Length: 0\r\nX-A: 1\r\n\r\n"), "{t}");
}

#[test]
fn flags_and_pvs() {
    with_ctx(INVITE.as_bytes(), Proto::Udp, |c| {
        assert_eq!(c.call(Builtin::IsFlag, &[Value::Int(3)]), -1);
        assert_eq!(c.call(Builtin::SetFlag, &[Value::Int(3)]), 1);
        assert_eq!(c.call(Builtin::IsFlag, &[s("3")]), 1);
        assert_eq!(c.call(Builtin::ResetFlag, &[Value::Int(3)]), 1);
        assert_eq!(c.call(Builtin::IsFlag, &[Value::Int(3)]), -1);
        assert_eq!(c.call(Builtin::SetFlag, &[Value::Int(64)]), -1);
        assert_eq!(c.pv_get(&Pv::Rm), s("INVITE"));
        assert_eq!(c.pv_get(&Pv::RUser), s("bob"));
        assert_eq!(c.pv_get(&Pv::Rd), s("example.com"));
        assert_eq!(c.pv_get(&Pv::Fu), s("sip:alice@example.com"));
        assert_eq!(c.pv_get(&Pv::Ft), s("1928301774"));
        assert_eq!(c.pv_get(&Pv::Tt), Value::Null);
        assert_eq!(c.pv_get(&Pv::Ci), s("a84b4c76e66710@pc33.example.com"));
        assert_eq!(c.pv_get(&Pv::Cs), Value::Int(314159));
        assert_eq!(c.pv_get(&Pv::Si), s("192.0.2.7"));
        assert_eq!(c.pv_get(&Pv::Sp), Value::Int(40000));
        assert_eq!(c.pv_get(&Pv::Ri), s("127.0.0.1"));
        assert_eq!(c.pv_get(&Pv::Pr), s("udp"));
        assert_eq!(c.pv_get(&Pv::Hdr("max-forwards".into())), s("10"));
        assert_eq!(c.pv_get(&Pv::Du), Value::Null);
        c.pv_set(&Pv::Du, s("sip:127.0.0.1:5070")).unwrap();
        assert_eq!(c.pv_get(&Pv::Du), s("sip:127.0.0.1:5070"));
        c.pv_set(&Pv::Du, Value::Null).unwrap();
        assert_eq!(c.pv_get(&Pv::Du), Value::Null);
        assert!(c.pv_set(&Pv::Ci, s("x")).is_err());
        assert!(matches!(c.pv_get(&Pv::Ts), Value::Int(t) if t > 1_600_000_000));
        assert_eq!(c.call(Builtin::Xlog, &[s("L_INFO"), s("hello $ru\n")]), 1);
    });
}

#[test]
fn myself() {
    with_ctx(INVITE.as_bytes(), Proto::Udp, |c| {
        assert!(c.is_myself("sip:127.0.0.1"));
        assert!(c.is_myself("sip:bob@127.0.0.1:5060;transport=udp"));
        assert!(!c.is_myself("sip:127.0.0.1:5070"));
        assert!(c.is_myself("[::1]:5060"));
        assert!(c.is_myself("127.0.0.1"));
        assert!(c.is_myself("proxy.example.net:5090"));
        assert!(c.is_myself("alias.example.org:1234"));
        assert!(c.is_myself("sip:ALIAS.example.org"));
        assert!(c.is_myself("pinned.example.org:5070"));
        assert!(!c.is_myself("pinned.example.org"));
        assert!(!c.is_myself("example.com"));
        assert!(!c.is_myself(""));
    });
}

#[test]
fn sanity_checks() {
    let pr = INVITE.replace("Contact:", "Proxy-Require: foo, bar\r\nContact:");
    let (r, out, _) = with_ctx(pr.as_bytes(), Proto::Udp, |c| {
        c.call(Builtin::SanityCheck, &[])
    });
    assert_eq!(r, 0, "autodrop stops the script");
    let t = text(&out[0]);
    assert!(t.starts_with("SIP/2.0 420 Bad Extension\r\n"), "{t}");
    assert!(t.contains("\r\nUnsupported: foo, bar\r\n"), "{t}");
    let (r, out, _) = with_ctx(pr.as_bytes(), Proto::Udp, |c| {
        c.call(Builtin::SanityCheck, &[s("1511"), s("7")])
    });
    assert_eq!((r, out.len()), (1, 0), "512 is not in 1511");
    let exp = INVITE.replace("Contact:", "Expires: soon\r\nContact:");
    let (r, out, _) = with_ctx(exp.as_bytes(), Proto::Udp, |c| {
        c.call(Builtin::SanityCheck, &[s("1511"), s("7")])
    });
    assert_eq!(r, 0);
    assert!(text(&out[0]).starts_with("SIP/2.0 400 Expires value is illegal\r\n"));
    let auth = INVITE.replace(
        "Contact:",
        "Authorization: Digest username=\"a\", nonce=\"\", response=\"x\"\r\nContact:",
    );
    let (r, out, _) = with_ctx(auth.as_bytes(), Proto::Udp, |c| {
        c.call(Builtin::SanityCheck, &[Value::Int(2048)])
    });
    assert_eq!((r, out.len()), (0, 0), "digest failures send no reply");
    let (r, _, _) = with_ctx(INVITE.as_bytes(), Proto::Udp, |c| {
        c.call(Builtin::SanityCheck, &[s("17895"), s("15")])
    });
    assert_eq!(r, 1);
}

#[test]
fn removed_headers_do_not_conflict_with_forward_edits() {
    let (r, out, _) = with_ctx(INVITE.as_bytes(), Proto::Udp, |c| {
        assert_eq!(c.call(Builtin::RemoveHf, &[s("Max-Forwards")]), 1);
        assert_eq!(c.call(Builtin::RemoveHf, &[s("Max-Forwards")]), 1);
        c.call(Builtin::Forward, &[s("sip:127.0.0.1:5070")])
    });
    assert_eq!(r, 1);
    let t = text(&out[0]);
    assert!(
        !t.contains("Max-Forwards: 10") && t.contains("Max-Forwards: 70\r\n"),
        "{t}"
    );
    let (r, out, _) = with_ctx(INVITE.as_bytes(), Proto::Udp, |c| {
        assert_eq!(c.call(Builtin::RemoveHf, &[s("v")]), 1);
        c.call(Builtin::Forward, &[s("127.0.0.1:5070")])
    });
    assert_eq!(r, 1);
    let t = text(&out[0]);
    assert_eq!(t.matches("Via: ").count(), 1, "{t}");
    // Non-ASCII destination text never panics.
    let (r, _, _) = with_ctx(INVITE.as_bytes(), Proto::Udp, |c| {
        c.call(Builtin::Forward, &[s("sí:é")])
    });
    assert!(r < 0);
}

#[test]
fn router_is_send() {
    fn send<T: Send>() {}
    send::<super::Router>();
}

#[test]
fn ipv6_and_advertised_addresses() {
    let src: SocketAddr = "[2001:db8::7]:5062".parse().unwrap();
    let (r, out, _) = with_ctx_at(INVITE.as_bytes(), Proto::Udp, src, 2, |c| {
        c.call(Builtin::Forward, &[s("[::1]:5070")])
    });
    assert_eq!(r, 1);
    assert_eq!(
        (out[0].local, out[0].dst),
        (Some(2), "[::1]:5070".parse().unwrap())
    );
    let t = text(&out[0]);
    assert!(
        t.contains("\r\nVia: SIP/2.0/UDP [::1]:5060;branch=z9hG4bK"),
        "{t}"
    );
    assert!(t.contains(";rport=5062;received=2001:db8::7\r\n"), "{t}");
    // Arriving on the advertised socket: our Via carries the advertised name and port.
    let (_, out, _) = with_ctx_at(
        INVITE.as_bytes(),
        Proto::Udp,
        SRC.parse().unwrap(),
        3,
        |c| c.call(Builtin::Forward, &[s("127.0.0.1:5070")]),
    );
    assert_eq!(out[0].local, Some(3));
    assert!(text(&out[0]).contains("\r\nVia: SIP/2.0/UDP proxy.example.net:5090;branch="));
    // No socket for the transport: a failure, not a panic.
    let (r, out, stats) = with_ctx(INVITE.as_bytes(), Proto::Udp, |c| {
        c.call(Builtin::Forward, &[s("sip:127.0.0.1;transport=tls")])
    });
    assert!(r < 0 && out.is_empty() && stats.send_errors == 1);
}

#[test]
fn keywords_and_maddr_replies() {
    use crate::names::Keyword;
    let maddr = INVITE.replace(";rport", ";maddr=192.0.2.77");
    let (_, out, _) = with_ctx(maddr.as_bytes(), Proto::Udp, |c| {
        assert_eq!(c.keyword(Keyword::Method), s("INVITE"));
        assert_eq!(c.keyword(Keyword::Uri), s("sip:bob@example.com"));
        assert_eq!(c.keyword(Keyword::FromUri), s("sip:alice@example.com"));
        assert_eq!(c.keyword(Keyword::ToUri), s("sip:bob@example.com"));
        assert_eq!(c.keyword(Keyword::SrcIp), s("192.0.2.7"));
        assert_eq!(c.keyword(Keyword::SrcPort), Value::Int(40000));
        assert_eq!(c.keyword(Keyword::DstIp), s("127.0.0.1"));
        assert_eq!(c.keyword(Keyword::DstPort), Value::Int(5060));
        assert_eq!(c.keyword(Keyword::Proto), s("udp"));
        assert_eq!(c.keyword(Keyword::Af), s("INET"));
        assert_eq!(c.keyword(Keyword::Status), Value::Null);
        assert!(matches!(c.keyword(Keyword::MsgLen), Value::Int(n) if n > 100));
        c.call(Builtin::SlSendReply, &[s("486"), s("Busy Here")])
    });
    // maddr on UDP: there, on the sent-by port (RFC 3261 §18.2.2).
    assert_eq!(out[0].dst, "192.0.2.77:5062".parse::<SocketAddr>().unwrap());
}
