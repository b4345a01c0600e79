//! What Debian's stock `kamailio.cfg` needs beyond the base modules: `force_rport`,
//! `set_*_no_connect`, branch flags, `t_is_set`, acc (log backend), textopsx and counters,
//! through the whole router.

use ferrosip_parser::Proto;

use super::acc::{format_line, take_lines};
use super::ctx_tests::{INVITE, SRC};
use super::tm_tests::{net_with, response, status, text, Net};
use crate::api::{Inbound, Transmit};
use crate::cfg::Config;

const MODS: &str = "loadmodule \"sl.so\"\nloadmodule \"tm.so\"\nloadmodule \"tmx.so\"\n\
loadmodule \"textops.so\"\nloadmodule \"textopsx.so\"\nloadmodule \"pv.so\"\n\
loadmodule \"acc.so\"\nloadmodule \"counters.so\"\n\
modparam(\"acc\", \"log_flag\", 1)\nmodparam(\"acc\", \"log_missed_flag\", 2)\n\
modparam(\"acc\", \"failed_transaction_flag\", 3)\n\
modparam(\"acc\", \"log_extra\", \"src_user=$fU;src_domain=$fd;src_ip=$si;dst_ouser=$tU;dst_user=$rU;dst_domain=$rd\")\n\
modparam(\"counters\", \"script_counter\", \"calls number of INVITEs\")\n\
modparam(\"counters\", \"script_counter\", \"other\")\n";

fn recv_tcp(n: &mut Net, data: &str) -> Vec<Transmit> {
    let mut out = Vec::new();
    let inb = Inbound {
        data: data.as_bytes(),
        src: SRC.parse().unwrap(),
        local: 1,
        proto: Proto::Tcp,
        conn: Some(9),
    };
    n.r.handle_at(&inb, n.now, &mut out);
    out
}

fn no_rport() -> String {
    INVITE.replace(";rport\r\n", "\r\n")
}

#[test]
fn force_rport_replies_to_the_source_port_with_rport_in_the_via() {
    let mut n = net_with(
        MODS,
        "k.cfg",
        "request_route { force_rport(); sl_send_reply(\"404\", \"Nope\"); }\n",
    );
    let out = n.recv(&no_rport(), SRC);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].dst, SRC.parse().unwrap());
    let t = text(&out[0]);
    assert!(
        t.contains("Via: SIP/2.0/UDP client.example.com:5062;branch=z9hG4bK776asdhds;rport=40000;received=192.0.2.7\r\n"),
        "{t}"
    );
    // Without force_rport: the sent-by port.
    let mut n = net_with(
        MODS,
        "k.cfg",
        "request_route { sl_send_reply(\"404\", \"Nope\"); }\n",
    );
    let out = n.recv(&no_rport(), SRC);
    assert_eq!(out[0].dst, "192.0.2.7:5062".parse().unwrap());
}

#[test]
fn force_rport_applies_to_the_transaction_and_to_forwarded_copies() {
    let mut n = net_with(
        MODS,
        "k.cfg",
        "request_route { force_rport(); $du = \"sip:127.0.0.1:5070\"; t_relay(); }\n",
    );
    let out = n.recv(&no_rport(), SRC);
    assert_eq!(out.len(), 2, "{out:#?}");
    assert_eq!(status(&out[0]), 100);
    assert_eq!(out[0].dst, SRC.parse().unwrap());
    let fwd = text(&out[1]);
    assert!(
        fwd.contains(";branch=z9hG4bK776asdhds;rport=40000;received=192.0.2.7\r\n"),
        "{fwd}"
    );
    let resp = response(&out[1], 486, "Busy Here");
    let back = n.recv(&resp, "127.0.0.1:5070");
    let up: Vec<_> = back.iter().filter(|t| status(t) == 486).collect();
    assert_eq!(up.len(), 1);
    assert_eq!(up[0].dst, SRC.parse().unwrap());
}

#[test]
fn no_connect_flags_reach_the_transmits() {
    let mut n = net_with(
        MODS,
        "k.cfg",
        "request_route { set_reply_no_connect(); sl_send_reply(\"404\", \"x\"); }\n",
    );
    let out = recv_tcp(&mut n, INVITE);
    assert_eq!(out.len(), 1);
    assert!(out[0].no_connect);
    assert_eq!(out[0].conn, Some(9));
    let mut n = net_with(
        MODS,
        "k.cfg",
        "request_route { set_reply_no_connect(); set_forward_no_connect(); \
         $du = \"sip:127.0.0.1:5070;transport=tcp\"; t_relay(); }\n",
    );
    let out = recv_tcp(&mut n, INVITE);
    assert_eq!(out.len(), 2, "{out:#?}");
    assert!(out.iter().all(|t| t.no_connect), "{out:#?}");
    let mut n = net_with(
        MODS,
        "k.cfg",
        "request_route { sl_send_reply(\"404\", \"x\"); }\n",
    );
    assert!(!recv_tcp(&mut n, INVITE)[0].no_connect);
}

#[test]
fn branch_flags_per_branch_and_in_branch_and_reply_routes() {
    let mut n = net_with(
        MODS,
        "k.cfg",
        "request_route {\n\
           setbflag(6); append_branch(\"sip:carol@127.0.0.1:5071\");\n\
           setbflag(7, 1);\n\
           if (!isbflagset(6) || isbflagset(7) || !isbflagset(7, 1) || isbflagset(6, 1)) { sl_send_reply(\"500\", \"bad\"); exit; }\n\
           resetbflag(6); if (isbflagset(6)) { sl_send_reply(\"500\", \"bad2\"); exit; }\n\
           setbflag(6);\n\
           if (t_is_set(\"branch_route\") || t_is_set(\"onreply_route\")) { sl_send_reply(\"500\", \"bad3\"); exit; }\n\
           t_on_branch(\"B\"); t_on_reply(\"R\");\n\
           if (!t_is_set(\"branch_route\") || !t_is_set(\"onreply_route\") || t_is_set(\"failure_route\")) { sl_send_reply(\"500\", \"bad4\"); exit; }\n\
           $du = \"sip:127.0.0.1:5070\"; t_relay();\n\
         }\n\
         branch_route[B] { if (isbflagset(6)) { append_hf(\"X-B: six\\r\\n\"); } if (isbflagset(7)) { append_hf(\"X-B: seven\\r\\n\"); } }\n\
         onreply_route[R] { if (isbflagset(7)) { append_hf(\"X-R: seven\\r\\n\"); } if (isbflagset(6)) { append_hf(\"X-R: six\\r\\n\"); } }\n",
    );
    let out = n.recv(INVITE, SRC);
    let reqs: Vec<String> = out.iter().filter(|t| status(t) == 0).map(text).collect();
    assert_eq!(reqs.len(), 2, "{out:#?}");
    assert!(
        reqs[0].contains("X-B: six\r\n") && !reqs[0].contains("seven"),
        "{}",
        reqs[0]
    );
    assert!(
        reqs[1].contains("X-B: seven\r\n") && !reqs[1].contains("six"),
        "{}",
        reqs[1]
    );
    let fwd: Vec<&Transmit> = out.iter().filter(|t| status(t) == 0).collect();
    let back = n.recv(&response(fwd[1], 180, "Ringing"), "127.0.0.1:5071");
    let r = back
        .iter()
        .find(|t| status(t) == 180)
        .map(text)
        .unwrap_or_default();
    assert!(r.contains("X-R: seven\r\n") && !r.contains("six"), "{r}");
}

#[test]
fn acc_logs_answered_missed_and_failed_in_kamailio_format() {
    take_lines();
    let body = "request_route {\n\
      if (is_method(\"INVITE\")) { setflag(1); setflag(2); }\n\
      if ($rU == \"fail\") { setflag(3); }\n\
      $du = \"sip:127.0.0.1:5070\"; t_relay();\n}\n";
    let mut n = net_with(MODS, "k.cfg", body);
    let out = n.recv(INVITE, SRC);
    let back = n.recv(&response(&out[1], 200, "OK"), "127.0.0.1:5070");
    assert!(back.iter().any(|t| status(t) == 200));
    let lines = take_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let l = &lines[0];
    assert!(
        l.starts_with("ACC: transaction answered: timestamp="),
        "{l}"
    );
    assert!(
        l.ends_with(";method=INVITE;from_tag=1928301774;to_tag=uas-1;call_id=a84b4c76e66710@pc33.example.com;code=200;reason=OK;src_user=alice;src_domain=example.com;src_ip=192.0.2.7;dst_ouser=bob;dst_user=bob;dst_domain=example.com"),
        "{l}"
    );
    // A 486: missed call (flag 2) only; failed_transaction_flag is not set.
    let inv2 = INVITE
        .replace("z9hG4bK776asdhds", "z9hG4bK2")
        .replace("a84b4c", "second");
    let out = n.recv(&inv2, SRC);
    n.recv(&response(&out[1], 486, "Busy Here"), "127.0.0.1:5070");
    let lines = take_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("ACC: call missed: timestamp="),
        "{lines:?}"
    );
    assert!(
        lines[0].contains(";code=486;reason=Busy Here;"),
        "{lines:?}"
    );
    // With failed_transaction_flag: both lines.
    let inv3 = INVITE
        .replace("z9hG4bK776asdhds", "z9hG4bK3")
        .replace("a84b4c", "third")
        .replace("INVITE sip:bob@", "INVITE sip:fail@");
    let out = n.recv(&inv3, SRC);
    n.recv(&response(&out[1], 503, "Unavailable"), "127.0.0.1:5070");
    let lines = take_lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("ACC: call missed: "));
    assert!(lines[1].starts_with("ACC: transaction answered: "));
    assert!(lines[1].contains(";dst_user=fail;"), "{lines:?}");
}

#[test]
fn acc_logs_a_local_reply_sent_inside_request_route_and_acc_log_request() {
    take_lines();
    let mut n = net_with(
        MODS,
        "k.cfg",
        "request_route { setflag(1); setflag(3); t_newtran(); t_reply(\"404\", \"Not Here\"); \
         acc_log_request(\"202 Noted\"); exit; }\n",
    );
    n.recv(INVITE, SRC);
    let lines = take_lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with("ACC: request accounted: timestamp="),
        "{lines:?}"
    );
    assert!(lines[0].contains(";method=INVITE;from_tag=1928301774;to_tag=;call_id=a84b4c76e66710@pc33.example.com;code=202;reason=Noted;src_user=alice;"), "{lines:?}");
    assert!(
        lines[1].starts_with("ACC: transaction answered: "),
        "{lines:?}"
    );
    assert!(lines[1].contains(";code=404;reason=Not Here;"), "{lines:?}");
}

#[test]
fn acc_format_and_start_errors() {
    assert_eq!(
        format_line("ACC: transaction answered: ", 7, "BYE", "f", "t", "c", 200, "OK", ";x=1"),
        "ACC: transaction answered: timestamp=7;method=BYE;from_tag=f;to_tag=t;call_id=c;code=200;reason=OK;x=1"
    );
    let bad = |extra: &str| {
        let text = format!("loadmodule \"acc.so\"\n{extra}\nrequest_route {{ exit; }}\n");
        let cfg = Config::parse_str("a.cfg", &text, &[]).unwrap();
        super::ProcessState::new(&cfg, 1).err()
    };
    assert!(bad("modparam(\"acc\", \"db_url\", \"mysql://x\")")
        .unwrap()
        .contains("db_url"));
    assert!(bad("modparam(\"acc\", \"log_extra\", \"a=$avp(x)\")").is_some());
    assert!(bad("modparam(\"acc\", \"db_flag\", 1)").is_none());
}

#[test]
fn textopsx_functions() {
    let body = "request_route {\n\
      if (!fnmatch(\"$rU\", \"b*\") || fnmatch(\"$rU\", \"B?B\") || !fnmatch(\"$rU\", \"B?B\", \"i\") || !fnmatch(\"x.y\", \"[a-z].[!0-9]\")) { sl_send_reply(\"500\", \"fn\"); exit; }\n\
      if (!hf_value_exists(\"Supported\", \"timer\") || hf_value_exists(\"Supported\", \"nope\")) { sl_send_reply(\"500\", \"ex\"); exit; }\n\
      append_hf_value(\"Supported\", \"path\");\n\
      insert_hf_value(\"Allow\", \"INFO\");\n\
      remove_hf_value(\"Require[1]\");\n\
      assign_hf_value(\"X-A\", \"new\");\n\
      append_hf_value(\"X-New\", \"v\");\n\
      keep_hf(\"^(Supported|Allow|Require|X-.*)$\");\n\
      remove_body();\n\
      msg_apply_changes();\n\
      $du = \"sip:127.0.0.1:5070\"; forward();\n}\n";
    let mut n = net_with(MODS, "k.cfg", body);
    let inv = INVITE
        .replace(
            "Content-Length: 0\r\n\r\n",
            "Supported: 100rel, timer\r\nAllow: INVITE, ACK\r\nRequire: a, b, c\r\nX-A: old\r\nUser-Agent: ua\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
        );
    let out = n.recv(&inv, SRC);
    assert_eq!(out.len(), 1, "{out:#?}");
    let t = text(&out[0]);
    assert!(t.contains("Supported: 100rel, timer, path\r\n"), "{t}");
    assert!(t.contains("Allow: INFO, INVITE, ACK\r\n"), "{t}");
    assert!(t.contains("Require: a, c\r\n"), "{t}");
    assert!(t.contains("X-A: new\r\n"), "{t}");
    assert!(t.contains("X-New: v\r\n"), "{t}");
    assert!(!t.contains("User-Agent"), "{t}");
    assert!(t.contains("Content-Type: text/plain\r\n"), "{t}");
    assert!(t.contains("Content-Length: 0\r\n"), "{t}");
    assert!(t.ends_with("\r\n\r\n"), "{t}");
    assert!(t.contains("From: Alice"), "{t}");
}

#[test]
fn change_reply_status_in_reply_route() {
    let mut n = net_with(
        MODS,
        "k.cfg",
        "request_route { $du = \"sip:127.0.0.1:5070\"; t_on_reply(\"R\"); t_relay(); }\n\
         onreply_route[R] { if (status == \"486\") { change_reply_status(\"600\", \"Busy Everywhere\"); } \
         if (status == \"180\") { if (change_reply_status(\"200\", \"OK\")) { drop; } } }\n",
    );
    let out = n.recv(INVITE, SRC);
    let back = n.recv(&response(&out[1], 180, "Ringing"), "127.0.0.1:5070");
    assert!(back.iter().any(|t| status(t) == 180), "{back:#?}");
    let back = n.recv(&response(&out[1], 486, "Busy Here"), "127.0.0.1:5070");
    let up = back
        .iter()
        .find(|t| t.dst == SRC.parse().unwrap())
        .map(text)
        .unwrap_or_default();
    assert!(up.starts_with("SIP/2.0 600 Busy Everywhere\r\n"), "{up}");
}

#[test]
fn script_counters_are_process_wide() {
    let mut n = net_with(
        MODS,
        "k.cfg",
        "request_route { cnt_inc(\"calls\"); cnt_add(\"script.other\", 5); \
         if (cnt_inc(\"undeclared\")) { exit; } if ($ci == \"reset\") { cnt_reset(\"calls\"); } exit; }\n",
    );
    n.recv(INVITE, SRC);
    n.recv(INVITE, SRC);
    let p = n.r.process().clone();
    let c = p.counters();
    assert_eq!(c.len(), 2);
    assert_eq!(c.get("calls").map(|x| x.get()), Some(2));
    assert_eq!(
        c.get("script.calls").map(|x| x.description.as_str()),
        Some("number of INVITEs")
    );
    assert_eq!(c.get("other").map(|x| x.get()), Some(10));
    n.recv(
        &INVITE.replace("Call-ID: a84b4c76e66710@pc33.example.com", "Call-ID: reset"),
        SRC,
    );
    assert_eq!(c.get("calls").map(|x| x.get()), Some(0));
    c.reset_all();
    assert_eq!(c.iter().map(|x| x.get()).sum::<i64>(), 0);
}

#[test]
fn stock_debian_functions_compile() {
    let text = format!(
        "{MODS}request_route {{ force_rport(); set_reply_no_connect(); \
         if (isflagset(5)) {{ setbflag(6); }} if (!isbflagset(6) && t_is_set(\"failure_route\")) {{ exit; }} \
         set_forward_no_connect(); msg_apply_changes(); exit; }}\n"
    );
    Config::parse_str("d.cfg", &text, &[]).unwrap();
}
