//! registrar/usrloc through the whole router: REGISTER handling per RFC 3261 §10.3 and
//! `lookup` routing to the registered contacts.

use std::time::Duration;

use crate::api::WorkerEnv;
use crate::cfg::Config;
use crate::sip::tm_tests::{net_with, status, text, Net};
use crate::sip::Router;

const MODULES: &str = "loadmodule \"sl.so\"\nloadmodule \"tm.so\"\nloadmodule \"textops.so\"\n\
loadmodule \"usrloc.so\"\nloadmodule \"registrar.so\"\n\
modparam(\"registrar\", \"max_contacts\", 3)\n";

const SCRIPT: &str = "request_route {\n\
  if (is_method(\"REGISTER\")) {\n\
    if (!save(\"location\")) { sl_reply_error(); }\n\
    exit;\n\
  }\n\
  if (!lookup(\"location\")) { sl_send_reply(\"404\", \"Not Found\"); exit; }\n\
  t_relay();\n\
}\n";

fn registrar() -> Net {
    net_with(MODULES, "registrar.cfg", SCRIPT)
}

/// A REGISTER for `user` from `src` with the given Contact and Expires lines.
fn register(user: &str, call_id: &str, cseq: u32, contact: &str, expires: Option<u32>) -> String {
    let expires = expires.map_or(String::new(), |e| format!("Expires: {e}\r\n"));
    let contact = if contact.is_empty() {
        String::new()
    } else {
        format!("Contact: {contact}\r\n")
    };
    format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.7:40000;branch=z9hG4bK-{call_id}-{cseq}\r\n\
Max-Forwards: 70\r\n\
From: <sip:{user}@127.0.0.1>;tag=f{cseq}\r\n\
To: <sip:{user}@127.0.0.1>\r\n\
Call-ID: {call_id}\r\n\
CSeq: {cseq} REGISTER\r\n\
{contact}{expires}Content-Length: 0\r\n\r\n"
    )
}

fn invite(user: &str) -> String {
    format!(
        "INVITE sip:{user}@127.0.0.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK-inv-{user}\r\n\
Max-Forwards: 70\r\n\
From: <sip:caller@192.0.2.9>;tag=c1\r\n\
To: <sip:{user}@127.0.0.1>\r\n\
Call-ID: inv-{user}\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:caller@192.0.2.9>\r\n\
Content-Length: 0\r\n\r\n"
    )
}

/// The single reply of a request that must be answered locally.
fn reply(n: &mut Net, msg: &str) -> String {
    let out = n.recv(msg, "192.0.2.7:40000");
    assert_eq!(out.len(), 1, "one reply expected, got {out:?}");
    text(&out[0])
}

fn contact_line(reply: &str) -> Option<&str> {
    reply.lines().find(|l| l.starts_with("Contact: "))
}

#[test]
fn register_binds_and_the_200_lists_every_binding() {
    let mut n = registrar();
    let r = reply(
        &mut n,
        &register("alice", "c1", 1, "<sip:alice@192.0.2.7:40000>", Some(600)),
    );
    assert!(r.starts_with("SIP/2.0 200 OK\r\n"), "{r}");
    assert_eq!(
        contact_line(&r),
        Some("Contact: <sip:alice@192.0.2.7:40000>;expires=600")
    );
    // A second device: both are listed, the contact's own expires and q win.
    let r = reply(
        &mut n,
        &register(
            "alice",
            "c2",
            1,
            "<sip:alice@192.0.2.8:5060>;expires=120;q=0.5",
            Some(600),
        ),
    );
    let c = contact_line(&r).unwrap();
    assert!(c.contains("<sip:alice@192.0.2.7:40000>;expires=600"), "{c}");
    assert!(
        c.contains("<sip:alice@192.0.2.8:5060>;expires=120;q=0.5"),
        "{c}"
    );
    // A REGISTER without Contact is a query (RFC 3261 §10.3 step 6).
    let r = reply(&mut n, &register("alice", "c3", 1, "", None));
    assert_eq!(contact_line(&r).unwrap().matches("expires=").count(), 2);
}

#[test]
fn expiry_limits_and_default_apply() {
    let mut n = registrar();
    // Below min_expires (60) is raised; no Expires at all takes default_expires (3600).
    let r = reply(
        &mut n,
        &register("bob", "c1", 1, "<sip:bob@192.0.2.7>;expires=10", None),
    );
    assert_eq!(
        contact_line(&r),
        Some("Contact: <sip:bob@192.0.2.7>;expires=60")
    );
    let r = reply(
        &mut n,
        &register("carol", "c1", 1, "<sip:carol@192.0.2.7>", None),
    );
    assert_eq!(
        contact_line(&r),
        Some("Contact: <sip:carol@192.0.2.7>;expires=3600")
    );
    // After the binding expires, the 200 to a query lists nothing.
    n.now += Duration::from_secs(61);
    let r = reply(&mut n, &register("bob", "c2", 1, "", None));
    assert!(r.starts_with("SIP/2.0 200 OK"), "{r}");
    assert_eq!(contact_line(&r), None);
}

#[test]
fn lookup_routes_to_the_registered_contacts_and_forks_by_q() {
    let mut n = registrar();
    reply(
        &mut n,
        &register(
            "dave",
            "c1",
            1,
            "<sip:dave@192.0.2.20:5062>;q=0.9",
            Some(600),
        ),
    );
    reply(
        &mut n,
        &register(
            "dave",
            "c2",
            1,
            "<sip:dave@192.0.2.21:5064>;q=0.1",
            Some(600),
        ),
    );
    let out = n.recv(&invite("dave"), "192.0.2.9:5060");
    let invites: Vec<_> = out
        .iter()
        .filter(|t| text(t).starts_with("INVITE "))
        .collect();
    assert_eq!(invites.len(), 2, "{out:?}");
    assert!(text(invites[0]).starts_with("INVITE sip:dave@192.0.2.20:5062 SIP/2.0"));
    assert_eq!(invites[0].dst, "192.0.2.20:5062".parse().unwrap());
    assert!(invites
        .iter()
        .any(|t| t.dst == "192.0.2.21:5064".parse().unwrap()
            && text(t).starts_with("INVITE sip:dave@192.0.2.21:5064 ")));
    // Nobody registered: the script answers 404.
    let out = n.recv(&invite("erin"), "192.0.2.9:5060");
    assert_eq!(out.iter().map(status).collect::<Vec<_>>(), [404]);
}

#[test]
fn star_removes_every_binding_and_must_come_with_expires_zero() {
    let mut n = registrar();
    reply(
        &mut n,
        &register(
            "frank",
            "c1",
            1,
            "<sip:frank@192.0.2.7>, <sip:frank@192.0.2.8>",
            Some(600),
        ),
    );
    let r = reply(&mut n, &register("frank", "c1", 2, "*", Some(300)));
    assert!(r.starts_with("SIP/2.0 400 Bad Request"), "{r}");
    assert!(
        r.contains("P-Registrar-Error: Expires must be 0 with *\r\n"),
        "{r}"
    );
    let r = reply(&mut n, &register("frank", "c1", 3, "*", Some(0)));
    assert!(r.starts_with("SIP/2.0 200 OK"), "{r}");
    assert_eq!(contact_line(&r), None);
    let out = n.recv(&invite("frank"), "192.0.2.9:5060");
    assert_eq!(out.iter().map(status).collect::<Vec<_>>(), [404]);
}

#[test]
fn errors_reply_once_with_the_reason() {
    let mut n = registrar();
    reply(
        &mut n,
        &register("gina", "c1", 5, "<sip:gina@192.0.2.7>", Some(600)),
    );
    // A lower CSeq on the same Call-ID (RFC 3261 §10.3 step 7). sl_reply_error() after the
    // failed save() sends nothing more: exactly one reply.
    let r = reply(
        &mut n,
        &register("gina", "c1", 4, "<sip:gina@192.0.2.7>", Some(600)),
    );
    assert!(r.starts_with("SIP/2.0 400 Bad Request"), "{r}");
    assert!(
        r.contains("P-Registrar-Error: Invalid CSeq number\r\n"),
        "{r}"
    );
    // max_contacts is 3.
    let r = reply(
        &mut n,
        &register(
            "gina",
            "c2",
            1,
            "<sip:gina@h1>, <sip:gina@h2>, <sip:gina@h3>",
            Some(600),
        ),
    );
    assert!(r.starts_with("SIP/2.0 503 Service Unavailable"), "{r}");
    assert!(
        r.contains("P-Registrar-Error: Too many registered contacts\r\n"),
        "{r}"
    );
    // Malformed input: a bad q, a bad Expires, a To without user. (A Contact that does not
    // parse is answered by the parser's 400 before the script runs.)
    for (msg, why) in [
        (
            register("gina", "c3", 1, "<sip:gina@h1>;q=2", Some(60)),
            "Invalid q parameter",
        ),
        (
            register("gina", "c3", 2, "<sip:gina@h1>", None)
                .replace("Content-Length", "Expires: soon\r\nContent-Length"),
            "Error while parsing Expires",
        ),
        (
            register("", "c3", 3, "<sip:x@h1>", Some(60)).replace("sip:@", "sip:"),
            "No username in To URI",
        ),
    ] {
        let out = n.recv(&msg, "192.0.2.7:40000");
        assert_eq!(out.len(), 1, "{msg}");
        let r = text(&out[0]);
        assert!(r.starts_with("SIP/2.0 400 "), "{r}");
        assert!(
            r.contains(&format!("P-Registrar-Error: {why}\r\n")),
            "{why}: {r}"
        );
    }
    // Nothing of the refused requests was stored.
    let r = reply(&mut n, &register("gina", "c9", 1, "", None));
    assert_eq!(
        contact_line(&r).unwrap().matches("expires=").count(),
        1,
        "{r}"
    );
}

#[test]
fn bindings_are_visible_to_every_worker_of_the_process() {
    let text_cfg = format!("{MODULES}{SCRIPT}");
    let cfg = Config::parse_str("registrar.cfg", &text_cfg, &[]).unwrap();
    let process = crate::sip::ProcessState::new(&cfg, 2).unwrap();
    let env = |worker| WorkerEnv {
        worker,
        workers: 2,
        sockets: crate::sip::ctx_tests::test_sockets(),
    };
    let mut a = Net {
        r: Router::with_process(&cfg, env(0), process.clone()),
        now: std::time::Instant::now(),
    };
    let mut b = Net {
        r: Router::with_process(&cfg, env(1), process),
        now: a.now,
    };
    reply(
        &mut a,
        &register("hank", "c1", 1, "<sip:hank@192.0.2.30:5060>", Some(600)),
    );
    let out = b.recv(&invite("hank"), "192.0.2.9:5060");
    assert!(
        out.iter()
            .any(|t| t.dst == "192.0.2.30:5060".parse().unwrap()),
        "{out:?}"
    );
}

#[test]
fn db_mode_other_than_memory_stops_the_start() {
    let text_cfg = format!("{MODULES}modparam(\"usrloc\", \"db_mode\", 2)\n{SCRIPT}");
    let cfg = Config::parse_str("registrar.cfg", &text_cfg, &[]).unwrap();
    let e = crate::sip::ProcessState::new(&cfg, 1).unwrap_err();
    assert!(e.contains("db_mode"), "{e}");
}

#[test]
fn path_needs_support_in_strict_mode_and_is_echoed() {
    let modules = format!("{MODULES}modparam(\"registrar\", \"use_path\", 1)\n");
    let mut n = net_with(&modules, "registrar.cfg", SCRIPT);
    let with_path = |supported: bool| {
        let extra = if supported {
            "Path: <sip:edge.example.net:5070;lr>\r\nSupported: path\r\n"
        } else {
            "Path: <sip:edge.example.net:5070;lr>\r\n"
        };
        register(
            "ivan",
            "c1",
            if supported { 2 } else { 1 },
            "<sip:ivan@10.0.0.9:5060>",
            Some(600),
        )
        .replace("Content-Length", &format!("{extra}Content-Length"))
    };
    // path_mode 2 (the default): a Path without `Supported: path` is refused (RFC 3327 §5.3).
    let r = reply(&mut n, &with_path(false));
    assert!(r.starts_with("SIP/2.0 420 Bad Extension"), "{r}");
    assert!(r.contains("Unsupported: path\r\n"), "{r}");
    let r = reply(&mut n, &with_path(true));
    assert!(r.starts_with("SIP/2.0 200 OK"), "{r}");
    assert!(
        r.contains("Path: <sip:edge.example.net:5070;lr>\r\n"),
        "{r}"
    );
}

#[test]
fn path_route_goes_to_the_edge_address() {
    let modules = format!(
        "{MODULES}modparam(\"registrar\", \"use_path\", 1)\nmodparam(\"registrar\", \"path_mode\", 0)\n"
    );
    let mut n = net_with(&modules, "registrar.cfg", SCRIPT);
    let msg = register("judy", "c1", 1, "<sip:judy@10.0.0.9:5060>", Some(600)).replace(
        "Content-Length",
        "Path: <sip:192.0.2.50:5070;lr>\r\nContent-Length",
    );
    let r = reply(&mut n, &msg);
    assert!(r.starts_with("SIP/2.0 200 OK"), "{r}");
    // path_mode 0: stored, never echoed.
    assert!(!r.contains("Path:"), "{r}");
    reply(
        &mut n,
        &register(
            "judy",
            "c2",
            1,
            "<sip:judy@10.0.0.10:5060>;q=0.1",
            Some(600),
        ),
    );
    let out = n.recv(&invite("judy"), "192.0.2.9:5060");
    let inv: Vec<_> = out
        .iter()
        .filter(|t| text(t).starts_with("INVITE "))
        .collect();
    assert_eq!(inv.len(), 2, "{out:?}");
    let via_edge = inv
        .iter()
        .find(|t| t.dst == "192.0.2.50:5070".parse().unwrap())
        .expect("a branch to the edge proxy");
    let t = text(via_edge);
    assert!(
        t.starts_with("INVITE sip:judy@10.0.0.9:5060 SIP/2.0"),
        "{t}"
    );
    assert_eq!(
        t.matches("Route: <sip:192.0.2.50:5070;lr>\r\n").count(),
        1,
        "{t}"
    );
    // The other binding has no Path: straight to its contact, no Route.
    let direct = inv
        .iter()
        .find(|t| t.dst == "10.0.0.10:5060".parse().unwrap())
        .expect("a direct branch");
    assert!(!text(direct).contains("Route:"), "{}", text(direct));
}
