//! Tests of the rr module and `has_totag()`: configuration text in, transmits out.

use std::net::SocketAddr;

use ferrosip_parser::Proto;

use crate::api::{Inbound, Transmit};
use crate::cfg::Config;
use crate::sip::ctx_tests::SRC;
use crate::sip::Router;

const MODULES: &str = "loadmodule \"sl.so\"\nloadmodule \"textops.so\"\n\
loadmodule \"rr.so\"\nloadmodule \"siputils.so\"\n";

fn compile(text: &str) -> Result<Config, String> {
    Config::parse_str("test.cfg", text, &[]).map_err(|e| e.to_string())
}

fn router(body: &str) -> Router {
    crate::sip::tm_tests::net_with(MODULES, "test.cfg", body).r
}

/// Handles `data` received from [`SRC`] on local socket `local` over `proto`.
fn handle_at(r: &mut Router, data: &str, local: usize, proto: Proto) -> Vec<Transmit> {
    let mut out = Vec::new();
    let inb = Inbound {
        data: data.as_bytes(),
        src: SRC.parse().unwrap(),
        local,
        proto,
        conn: None,
    };
    r.handle(&inb, &mut out);
    out
}

fn handle(r: &mut Router, data: &str) -> Vec<Transmit> {
    handle_at(r, data, 0, Proto::Udp)
}

fn text(t: &Transmit) -> String {
    String::from_utf8_lossy(&t.data).into_owned()
}

/// The header lines of `t` whose name is `name`, in order.
fn lines(t: &Transmit, name: &str) -> Vec<String> {
    let s = text(t);
    let head = s.split("\r\n\r\n").next().unwrap_or_default().to_owned();
    head.split("\r\n")
        .filter(|l| {
            l.split_once(':')
                .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        })
        .map(str::to_owned)
        .collect()
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// An initial INVITE (no To tag) with a Record-Route from a proxy before us.
const INVITE_RR: &str = "INVITE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP client.example.com:5062;branch=z9hG4bK776asdhds;rport\r\n\
Max-Forwards: 10\r\n\
Record-Route: <sip:upstream.example.com;lr>\r\n\
To: Bob <sip:bob@example.com>\r\n\
From: Alice <sip:alice@example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@client.example.com>\r\n\
Content-Length: 0\r\n\r\n";

/// The same without any Record-Route.
fn invite() -> String {
    INVITE_RR.replace("Record-Route: <sip:upstream.example.com;lr>\r\n", "")
}

/// An in-dialog BYE from the caller with `route` as its Route header line(s) (CRLF ended).
fn bye(ruri: &str, route: &str) -> String {
    format!(
        "BYE {ruri} SIP/2.0\r\n\
Via: SIP/2.0/UDP client.example.com:5062;branch=z9hG4bKbye1;rport\r\n\
Max-Forwards: 10\r\n\
{route}\
To: Bob <sip:bob@example.com>;tag=a6c85cf\r\n\
From: Alice <sip:alice@example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.example.com\r\n\
CSeq: 314160 BYE\r\n\
Content-Length: 0\r\n\r\n"
    )
}

const RR_TO_5070: &str = "request_route {\n\
  record_route();\n\
  $du = \"sip:127.0.0.1:5070\";\n\
  forward();\n\
  exit;\n}\n";

#[test]
fn record_route_goes_on_top_of_the_list_with_lr_and_ftag() {
    let mut r = router(RR_TO_5070);
    let out = handle(&mut r, INVITE_RR);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].dst, addr("127.0.0.1:5070"));
    assert_eq!(
        lines(&out[0], "Record-Route"),
        [
            "Record-Route: <sip:127.0.0.1;lr;ftag=1928301774>",
            "Record-Route: <sip:upstream.example.com;lr>"
        ]
    );
    assert!(text(&out[0])
        .contains("Max-Forwards: 9\r\nRecord-Route: <sip:127.0.0.1;lr;ftag=1928301774>\r\n"));

    // With no Record-Route yet, ours follows the Via lines.
    let out = handle(&mut r, &invite());
    let t = text(&out[0]);
    assert!(
        t.contains(";rport=40000;received=192.0.2.7\r\nRecord-Route: <sip:127.0.0.1;lr;ftag=1928301774>\r\nMax-Forwards: 9\r\n"),
        "{t}"
    );
    // One value: in and out on the same socket.
    assert_eq!(lines(&out[0], "Record-Route").len(), 1);
}

#[test]
fn record_route_params_add_rr_param_and_modparams() {
    let mut r = router(
        "request_route {\n  add_rr_param(\";nat=yes\");\n  record_route(\";foo=bar\");\n\
  $du = \"sip:127.0.0.1:5070\";\n  forward();\n  exit;\n}\n",
    );
    let out = handle(&mut r, &invite());
    assert_eq!(
        lines(&out[0], "Record-Route"),
        ["Record-Route: <sip:127.0.0.1;lr;ftag=1928301774;foo=bar;nat=yes>"]
    );

    let mut r = router(
        "modparam(\"rr\", \"append_fromtag\", 0)\nmodparam(\"rr\", \"enable_full_lr\", 1)\n\
modparam(\"rr\", \"add_username\", 1)\n\
request_route {\n  record_route(\"x=1\");\n  $du = \"sip:127.0.0.1:5070\";\n  forward();\n  exit;\n}\n",
    );
    let out = handle(&mut r, &invite());
    assert_eq!(
        lines(&out[0], "Record-Route"),
        ["Record-Route: <sip:bob@127.0.0.1;lr=on;x=1>"]
    );
}

#[test]
fn record_route_twice_or_with_bad_params_fails() {
    let mut r = router(
        "request_route {\n  record_route();\n\
  if (!record_route()) { append_hf(\"X-Second: refused\\r\\n\"); }\n\
  if (!add_rr_param(\";a=<b>\")) { append_hf(\"X-Param: refused\\r\\n\"); }\n\
  $du = \"sip:127.0.0.1:5070\";\n  forward();\n  exit;\n}\n",
    );
    let out = handle(&mut r, &invite());
    let t = text(&out[0]);
    assert!(t.contains("X-Second: refused\r\n"), "{t}");
    assert!(t.contains("X-Param: refused\r\n"), "{t}");
    assert_eq!(lines(&out[0], "Record-Route").len(), 1);
}

#[test]
fn double_record_route_when_the_transport_changes() {
    let mut r = router(
        "request_route {\n  record_route();\n  $du = \"sip:127.0.0.1:5070;transport=tcp\";\n\
  forward();\n  exit;\n}\n",
    );
    let out = handle(&mut r, &invite());
    assert_eq!(out[0].proto, Proto::Tcp);
    assert_eq!(out[0].local, Some(1));
    // Outbound-facing (TCP) on top: the UAS uses the list top-down.
    assert_eq!(
        lines(&out[0], "Record-Route"),
        [
            "Record-Route: <sip:127.0.0.1;transport=tcp;r2=on;lr;ftag=1928301774>",
            "Record-Route: <sip:127.0.0.1;r2=on;lr;ftag=1928301774>",
        ]
    );
}

#[test]
fn double_record_route_across_address_families_and_advertised_socket() {
    let cfg = "request_route {\n  record_route();\n  $du = \"sip:[2001:db8::5]:5070\";\n\
  forward();\n  exit;\n}\n";
    let mut r = router(cfg);
    // Received on the advertised socket 3, sent from the IPv6 socket 2.
    let out = handle_at(&mut r, &invite(), 3, Proto::Udp);
    assert_eq!(out[0].local, Some(2));
    assert_eq!(out[0].dst, addr("[2001:db8::5]:5070"));
    assert_eq!(
        lines(&out[0], "Record-Route"),
        [
            "Record-Route: <sip:[::1];r2=on;lr;ftag=1928301774>",
            "Record-Route: <sip:proxy.example.net:5090;r2=on;lr;ftag=1928301774>",
        ]
    );

    // enable_double_rr=0: one value, the receiving socket's (Kamailio).
    let mut r = router(&format!("modparam(\"rr\", \"enable_double_rr\", 0)\n{cfg}"));
    let out = handle_at(&mut r, &invite(), 3, Proto::Udp);
    assert_eq!(
        lines(&out[0], "Record-Route"),
        ["Record-Route: <sip:proxy.example.net:5090;lr;ftag=1928301774>"]
    );

    // enable_double_rr=2: always two, even on the same socket.
    let mut r = router(&format!(
        "modparam(\"rr\", \"enable_double_rr\", 2)\n{RR_TO_5070}"
    ));
    let out = handle(&mut r, &invite());
    assert_eq!(
        lines(&out[0], "Record-Route"),
        [
            "Record-Route: <sip:127.0.0.1;r2=on;lr;ftag=1928301774>",
            "Record-Route: <sip:127.0.0.1;r2=on;lr;ftag=1928301774>",
        ]
    );
}

#[test]
fn record_route_preset_one_and_two_addresses() {
    let mut r = router(
        "request_route {\n  record_route_preset(\"192.0.2.1:5090\", \"10.0.0.1;transport=tcp\");\n\
  $du = \"sip:127.0.0.1:5070\";\n  forward();\n  exit;\n}\n",
    );
    let out = handle(&mut r, &invite());
    assert_eq!(
        lines(&out[0], "Record-Route"),
        [
            "Record-Route: <sip:192.0.2.1:5090;ftag=1928301774;lr>",
            "Record-Route: <sip:10.0.0.1;transport=tcp;ftag=1928301774;lr>",
        ]
    );

    let mut r = router(
        "request_route {\n  if (!record_route_preset(\"bad host>\")) { append_hf(\"X-Preset: refused\\r\\n\"); }\n\
  $du = \"sip:127.0.0.1:5070\";\n  forward();\n  exit;\n}\n",
    );
    let out = handle(&mut r, &invite());
    assert!(text(&out[0]).contains("X-Preset: refused\r\n"));
    assert!(lines(&out[0], "Record-Route").is_empty());
}

/// The usual in-dialog block of a Kamailio config.
const WITHIN_DLG: &str = "request_route {\n\
  if (has_totag()) {\n\
    if (loose_route()) { append_hf(\"X-LR: yes\\r\\n\"); forward(); exit; }\n\
    sl_send_reply(\"404\", \"Not here\");\n\
    exit;\n\
  }\n\
  if (loose_route()) { append_hf(\"X-LR: preloaded\\r\\n\"); forward(); exit; }\n\
  append_hf(\"X-LR: no\\r\\n\");\n\
  $du = \"sip:127.0.0.1:5070\";\n\
  forward();\n\
  exit;\n}\n";

#[test]
fn loose_route_removes_our_route_and_relays_to_the_next_one() {
    let mut r = router(WITHIN_DLG);
    // Two values on one line.
    let out = handle(
        &mut r,
        &bye(
            "sip:bob@192.0.2.99:5062",
            "Route: <sip:127.0.0.1;lr;ftag=1928301774>, <sip:192.0.2.50:5080;lr>\r\n",
        ),
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].dst, addr("192.0.2.50:5080"));
    let t = text(&out[0]);
    assert!(
        t.starts_with("BYE sip:bob@192.0.2.99:5062 SIP/2.0\r\n"),
        "{t}"
    );
    assert!(t.contains("X-LR: yes\r\n"));
    assert_eq!(lines(&out[0], "Route"), ["Route: <sip:192.0.2.50:5080;lr>"]);

    // One value per line.
    let out = handle(
        &mut r,
        &bye(
            "sip:bob@192.0.2.99:5062",
            "Route: <sip:127.0.0.1;lr>\r\nRoute: <sip:192.0.2.50:5080;lr>, <sip:192.0.2.60;lr>\r\n",
        ),
    );
    assert_eq!(out[0].dst, addr("192.0.2.50:5080"));
    assert_eq!(
        lines(&out[0], "Route"),
        ["Route: <sip:192.0.2.50:5080;lr>, <sip:192.0.2.60;lr>"]
    );
}

#[test]
fn loose_route_removes_both_values_of_a_double_record_route() {
    let mut r = router(WITHIN_DLG);
    let out = handle(
        &mut r,
        &bye(
            "sip:bob@192.0.2.99:5062",
            "Route: <sip:127.0.0.1;transport=tcp;r2=on;lr>, <sip:127.0.0.1;r2=on;lr>, <sip:192.0.2.50;lr>\r\n",
        ),
    );
    assert_eq!(out[0].dst, addr("192.0.2.50:5060"));
    assert_eq!(lines(&out[0], "Route"), ["Route: <sip:192.0.2.50;lr>"]);

    // The pair spread over two lines, nothing after it: on to the R-URI.
    let out = handle(
        &mut r,
        &bye(
            "sip:bob@192.0.2.99:5062",
            "Route: <sip:[::1];r2=on;lr>\r\nRoute: <sip:proxy.example.net:5090;r2=on;lr>\r\n",
        ),
    );
    assert_eq!(out[0].dst, addr("192.0.2.99:5062"));
    assert!(lines(&out[0], "Route").is_empty());
}

#[test]
fn loose_route_with_only_our_route_goes_to_the_request_uri() {
    let mut r = router(WITHIN_DLG);
    let out = handle(
        &mut r,
        &bye("sip:bob@192.0.2.99:5062", "Route: <sip:127.0.0.1;lr>\r\n"),
    );
    assert_eq!(out[0].dst, addr("192.0.2.99:5062"));
    assert!(text(&out[0]).contains("X-LR: yes\r\n"));
    assert!(lines(&out[0], "Route").is_empty());

    // A pre-loaded route set holding only us: removed, and loose_route() is false.
    let out = handle(
        &mut r,
        &invite().replace(
            "Max-Forwards: 10\r\n",
            "Max-Forwards: 10\r\nRoute: <sip:127.0.0.1;lr>\r\n",
        ),
    );
    assert_eq!(out[0].dst, addr("127.0.0.1:5070"));
    assert!(text(&out[0]).contains("X-LR: no\r\n"));
    assert!(lines(&out[0], "Route").is_empty());
}

#[test]
fn loose_route_relays_to_a_foreign_top_route() {
    let mut r = router(WITHIN_DLG);
    let out = handle(
        &mut r,
        &invite().replace(
            "Max-Forwards: 10\r\n",
            "Max-Forwards: 10\r\nRoute: <sip:192.0.2.50:5080;lr>\r\n",
        ),
    );
    assert_eq!(out[0].dst, addr("192.0.2.50:5080"));
    assert!(text(&out[0]).contains("X-LR: preloaded\r\n"));
    assert_eq!(lines(&out[0], "Route"), ["Route: <sip:192.0.2.50:5080;lr>"]);

    // No Route at all: false.
    let out = handle(&mut r, &bye("sip:bob@192.0.2.99:5062", ""));
    assert!(text(&out[0]).starts_with("SIP/2.0 404 Not here\r\n"));
}

#[test]
fn loose_route_after_a_strict_router_restores_the_request_uri() {
    let mut r = router(WITHIN_DLG);
    // The previous hop put our Record-Route URI into the R-URI (RFC 3261 §16.4).
    let out = handle(
        &mut r,
        &bye(
            "sip:127.0.0.1;lr",
            "Route: <sip:192.0.2.50:5080;lr>, <sip:bob@192.0.2.99:5062>\r\n",
        ),
    );
    assert_eq!(out[0].dst, addr("192.0.2.50:5080"));
    let t = text(&out[0]);
    assert!(
        t.starts_with("BYE sip:bob@192.0.2.99:5062 SIP/2.0\r\n"),
        "{t}"
    );
    assert_eq!(lines(&out[0], "Route"), ["Route: <sip:192.0.2.50:5080;lr>"]);

    // The next hop is a strict router too: it becomes the R-URI.
    let out = handle(
        &mut r,
        &bye(
            "sip:127.0.0.1;lr",
            "Route: <sip:192.0.2.50:5080>\r\nRoute: <sip:bob@192.0.2.99:5062>\r\n",
        ),
    );
    assert_eq!(out[0].dst, addr("192.0.2.50:5080"));
    let t = text(&out[0]);
    assert!(t.starts_with("BYE sip:192.0.2.50:5080 SIP/2.0\r\n"), "{t}");
    assert_eq!(
        lines(&out[0], "Route"),
        ["Route: <sip:bob@192.0.2.99:5062>"]
    );
}

#[test]
fn loose_route_towards_a_strict_router_moves_the_request_uri_into_route() {
    let mut r = router(WITHIN_DLG);
    let out = handle(
        &mut r,
        &bye(
            "sip:bob@192.0.2.99:5062",
            "Route: <sip:127.0.0.1;lr>, <sip:192.0.2.50:5080>\r\n",
        ),
    );
    assert_eq!(out[0].dst, addr("192.0.2.50:5080"));
    let t = text(&out[0]);
    assert!(t.starts_with("BYE sip:192.0.2.50:5080 SIP/2.0\r\n"), "{t}");
    assert_eq!(
        lines(&out[0], "Route"),
        ["Route: <sip:bob@192.0.2.99:5062>"]
    );
}

#[test]
fn has_totag_true_and_false() {
    let cfg = "request_route {\n  if (has_totag()) { sl_send_reply(\"200\", \"Tag\"); }\n\
  else { sl_send_reply(\"200\", \"No tag\"); }\n  exit;\n}\n";
    let mut r = router(cfg);
    let out = handle(&mut r, &invite());
    assert!(text(&out[0]).starts_with("SIP/2.0 200 No tag\r\n"));
    let out = handle(&mut r, &bye("sip:bob@192.0.2.99:5062", ""));
    assert!(text(&out[0]).starts_with("SIP/2.0 200 Tag\r\n"));
    // (An empty `tag=` never gets here: the parser answers 400 Bad To header.)
}

#[test]
fn is_direction_reads_the_ftag_of_our_route() {
    let cfg = "request_route {\n\
  if (is_direction(\"downstream\")) { sl_send_reply(\"200\", \"down\"); exit; }\n\
  if (is_direction(\"upstream\")) { sl_send_reply(\"200\", \"up\"); exit; }\n\
  sl_send_reply(\"500\", \"neither\");\n  exit;\n}\n";
    let mut r = router(cfg);
    let route = "Route: <sip:127.0.0.1;lr;ftag=1928301774>\r\n";
    // From the caller: From tag = ftag.
    let out = handle(&mut r, &bye("sip:bob@192.0.2.99:5062", route));
    assert!(text(&out[0]).starts_with("SIP/2.0 200 down\r\n"));
    // From the callee: From and To swapped.
    let callee = bye("sip:alice@client.example.com", route)
        .replace(
            "To: Bob <sip:bob@example.com>;tag=a6c85cf",
            "To: Alice <sip:alice@example.com>;tag=1928301774",
        )
        .replace(
            "From: Alice <sip:alice@example.com>;tag=1928301774",
            "From: Bob <sip:bob@example.com>;tag=a6c85cf",
        );
    let out = handle(&mut r, &callee);
    assert!(text(&out[0]).starts_with("SIP/2.0 200 up\r\n"));

    // Record-routing an upstream request keeps the dialog's initial From tag as ftag.
    let mut r = router(
        "request_route {\n  record_route();\n  $du = \"sip:127.0.0.1:5070\";\n  forward();\n  exit;\n}\n",
    );
    let out = handle(&mut r, &callee);
    assert_eq!(
        lines(&out[0], "Record-Route"),
        ["Record-Route: <sip:127.0.0.1;lr;ftag=1928301774>"]
    );
}

#[test]
fn malformed_route_never_panics_and_loose_route_is_false() {
    let mut r = router(WITHIN_DLG);
    let bad = [
        "Route: garbage<<\r\n",
        "Route: <sip:127.0.0.1;lr>,\r\n",
        "Route: ,\r\n",
        "Route: <>\r\n",
        "Route: <sip:>;lr\r\n",
        "Route: <sip:127.0.0.1;lr> junk, <sip:192.0.2.50;lr>\r\n",
        "Route: \"unterminated <sip:127.0.0.1;lr>\r\n",
        "Route: <sip:127.0.0.1;r2=on;lr>, <mailto:x@y>\r\n",
        "Route: <sip:127.0.0.1;lr>, <tel:+1234>\r\n",
        "Route: <sip:127.0.0.1;lr>, <sip:192.0.2.50;maddr=%%%;lr>\r\n",
    ];
    for route in bad {
        let msg = bye("sip:bob@192.0.2.99:5062", route);
        let out = handle(&mut r, &msg);
        assert_eq!(out.len(), 1, "{route}");
        let t = text(&out[0]);
        // Either the parser refused the message (400) or loose_route() was false (404).
        assert!(
            t.starts_with("SIP/2.0 404 Not here\r\n") || t.starts_with("SIP/2.0 400 "),
            "{route}: {t}"
        );
    }
    // Every prefix of a Route value, and every byte replaced, never panics.
    let route = "Route: \"Proxy\" <sip:127.0.0.1;r2=on;lr;ftag=1928301774>, <sip:[::1];maddr=192.0.2.9;lr>\r\n";
    for cut in 7..route.len() - 2 {
        let msg = bye("sip:bob@192.0.2.99:5062", &format!("{}\r\n", &route[..cut]));
        let _ = handle(&mut r, &msg);
    }
    for i in 7..route.len() - 2 {
        for c in [b',', b'<', b'>', b'"', b';', b' ', b'='] {
            let mut b = route.as_bytes().to_vec();
            b[i] = c;
            let msg = bye("sip:bob@192.0.2.99:5062", &String::from_utf8_lossy(&b));
            let _ = handle(&mut r, &msg);
        }
    }
}

#[test]
fn maddr_in_the_next_route_is_the_destination() {
    let mut r = router(WITHIN_DLG);
    let out = handle(
        &mut r,
        &bye(
            "sip:bob@192.0.2.99:5062",
            "Route: <sip:127.0.0.1;lr>, <sip:proxy2.example.com:5070;maddr=192.0.2.70;lr>\r\n",
        ),
    );
    assert_eq!(out[0].dst, addr("192.0.2.70:5070"));
}

#[test]
fn rr_functions_need_their_modules_loaded() {
    let body = "request_route {\n  record_route();\n  forward();\n}\n";
    let err = compile(&format!("loadmodule \"sl.so\"\n{body}")).unwrap_err();
    assert!(err.contains("record_route"), "{err}");
    assert!(compile(&format!("loadmodule \"rr.so\"\n{body}")).is_ok());

    let body = "request_route {\n  if (has_totag()) { loose_route(); }\n  forward();\n}\n";
    assert!(compile(&format!("loadmodule \"rr.so\"\n{body}")).is_err());
    assert!(compile(&format!("loadmodule \"siputils.so\"\n{body}")).is_err());
    assert!(compile(&format!(
        "loadmodule \"rr.so\"\nloadmodule \"siputils.so\"\n{body}"
    ))
    .is_ok());

    // Module parameters with Kamailio's types.
    let params = "loadmodule \"rr.so\"\nloadmodule \"siputils.so\"\n\
modparam(\"rr\", \"enable_full_lr\", 1)\nmodparam(\"rr\", \"append_fromtag\", 0)\n\
modparam(\"rr\", \"enable_double_rr\", 2)\nmodparam(\"rr\", \"add_username\", 0)\n\
modparam(\"rr\", \"custom_user_avp\", \"$avp(RR_USER)\")\nmodparam(\"rr\", \"force_send_socket\", 1)\n\
modparam(\"siputils\", \"options_accept\", \"application/sdp\")\n\
modparam(\"siputils\", \"e164_max_len\", 15)\n\
modparam(\"siputils\", \"contact_flds_separator\", \"*\")\n\
request_route {\n  forward();\n}\n";
    let cfg = compile(params).unwrap();
    let p = super::RrParams::from_config(&cfg);
    assert_eq!(
        p,
        super::RrParams {
            full_lr: true,
            append_fromtag: false,
            double_rr: 2,
            add_username: false,
            ignore_sips: false,
        }
    );
    assert_eq!(
        super::RrParams::from_config(&compile("request_route { forward(); }\n").unwrap()),
        super::RrParams::default()
    );
    assert!(compile(
        "loadmodule \"rr.so\"\nmodparam(\"rr\", \"no_such\", 1)\nrequest_route { forward(); }\n"
    )
    .is_err());
}
