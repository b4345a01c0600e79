use std::sync::Arc;
use std::time::Instant;

use super::*;
use crate::cfg::Config;
use crate::sip::ProcessState;

const CFG: &str = r#"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "kex.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "htable.so"
loadmodule "jsonrpcs.so"
loadmodule "ctl.so"
loadmodule "counters.so"
loadmodule "cfg_rpc.so"
modparam("htable", "htable", "a=>size=4;")
debug=2
request_route { exit; }
"#;

fn env_with(text: &str) -> RpcEnv {
    let cfg = Config::parse_str("t.cfg", text, &[]).expect("cfg");
    let process = ProcessState::new(&cfg, 2).expect("state");
    RpcEnv::new(
        Arc::new(cfg),
        process,
        Arc::new(WorkerBoard::new(2)),
        Vec::new(),
    )
}

fn env() -> RpcEnv {
    env_with(CFG)
}

fn strs(v: &RpcValue) -> Vec<String> {
    match v {
        RpcValue::Array(a) => a.iter().filter_map(RpcValue::as_param_str).collect(),
        _ => panic!("not an array: {v:?}"),
    }
}

fn member<'v>(v: &'v RpcValue, name: &str) -> &'v RpcValue {
    match v {
        RpcValue::Struct(m) => &m.iter().find(|(k, _)| k == name).expect(name).1,
        _ => panic!("not a struct: {v:?}"),
    }
}

#[test]
fn version_methods_and_unknown_commands() {
    let e = env();
    let v = e.call("core.version", &[]).unwrap();
    assert!(matches!(&v, RpcValue::Str(s) if s.starts_with("ferrosip ")));
    let m = strs(&e.call("system.listMethods", &[]).unwrap());
    for name in [
        "core.psx",
        "stats.get_statistics",
        "ul.dump",
        "cnt.get",
        "cfg.get",
    ] {
        assert!(m.iter().any(|x| x == name), "{name} missing");
    }
    // dialog is not loaded: its command is not there.
    assert!(!m.iter().any(|x| x == "dlg.stats_active"));
    let err = e.call("bogus.cmd", &[]).unwrap_err();
    assert_eq!(err.code, 500);
    assert_eq!(err.message, "command bogus.cmd not found");
    let help = e
        .call("system.methodHelp", &[RpcValue::str("core.version")])
        .unwrap();
    assert_eq!(
        help,
        RpcValue::str("Returns the version string of the server.")
    );
    // Missing parameters are errors, never panics.
    assert_eq!(e.call("system.methodHelp", &[]).unwrap_err().code, 400);
    assert_eq!(e.call("htable.get", &[]).unwrap_err().code, 400);
    assert_eq!(
        e.call("cnt.get", &[RpcValue::Array(vec![])])
            .unwrap_err()
            .code,
        400
    );
}

#[test]
fn statistics_sum_workers_and_reset() {
    let e = env();
    e.board.set(0, Fig::RxRequests, 3);
    e.board.set(1, Fig::RxRequests, 4);
    let one = strs(
        &e.call("stats.get_statistics", &[RpcValue::str("rcv_requests")])
            .unwrap(),
    );
    assert_eq!(one, vec!["core:rcv_requests = 7"]);
    let all = strs(
        &e.call("stats.get_statistics", &[RpcValue::str("all")])
            .unwrap(),
    );
    assert!(all.iter().any(|s| s == "usrloc:registered_users = 0"));
    assert!(all.iter().any(|s| s == "tm:2xx_transactions = 0"));
    assert!(!all.iter().any(|s| s.starts_with("dialog:")));
    let core = strs(
        &e.call("stats.get_statistics", &[RpcValue::str("core:")])
            .unwrap(),
    );
    assert!(core.iter().all(|s| s.starts_with("core:")) && core.len() > 5);
    let r = e
        .call("stats.reset_statistics", &[RpcValue::str("rcv_requests")])
        .unwrap();
    assert_eq!(r, RpcValue::Nothing);
    e.board.set(0, Fig::RxRequests, 5);
    let v = e
        .call(
            "cnt.get",
            &[RpcValue::str("core"), RpcValue::str("rcv_requests")],
        )
        .unwrap();
    assert_eq!(v, RpcValue::Int(2));
    let grp = e.call("cnt.grp_get_all", &[RpcValue::str("core")]).unwrap();
    assert_eq!(member(&grp, "rcv_requests"), &RpcValue::Int(2));
    let groups = strs(&e.call("cnt.list_groups", &[]).unwrap());
    assert!(groups.contains(&"registrar".to_string()) && groups.contains(&"tm".to_string()));
    assert_eq!(
        e.call("cnt.get", &[RpcValue::str("core"), RpcValue::str("nope")])
            .unwrap_err()
            .code,
        400
    );
}

#[test]
fn location_table_dump_and_lookup() {
    let e = env();
    let reg = e.process.registrar.as_ref().unwrap();
    let req = ferrosip_state::Register {
        call_id: "c1".into(),
        cseq: 1,
        remove_all: false,
        bindings: vec![ferrosip_state::NewBinding {
            uri: "sip:alice@10.0.0.1:5060".into(),
            expires: 600,
            q: None,
            instance: None,
            reg_id: None,
            received: None,
            path: None,
            user_agent: Some("ua".into()),
            socket: None,
        }],
        max_contacts: 0,
        replace: false,
    };
    reg.table.register("alice", &req, Instant::now()).unwrap();
    let d = e.call("ul.dump", &[]).unwrap();
    let dom = member(member(&d, "Domains"), "Domain");
    assert_eq!(member(dom, "Domain"), &RpcValue::str("location"));
    let RpcValue::Array(aors) = member(dom, "AoRs") else {
        panic!("AoRs")
    };
    assert_eq!(aors.len(), 1);
    let info = member(&aors[0], "Info");
    assert_eq!(member(info, "AoR"), &RpcValue::str("alice"));
    let l = e
        .call(
            "ul.lookup",
            &[RpcValue::str("location"), RpcValue::str("sip:alice@x")],
        )
        .unwrap();
    let RpcValue::Array(cs) = member(&l, "Contacts") else {
        panic!("Contacts")
    };
    let c = member(&cs[0], "Contact");
    assert_eq!(
        member(c, "Address"),
        &RpcValue::str("sip:alice@10.0.0.1:5060")
    );
    assert_eq!(member(c, "User-Agent"), &RpcValue::str("ua"));
    let err = e
        .call(
            "ul.lookup",
            &[RpcValue::str("location"), RpcValue::str("bob")],
        )
        .unwrap_err();
    assert_eq!(err.message, "AOR not found in location table");
    let s = strs(
        &e.call("stats.get_statistics", &[RpcValue::str("registrar:")])
            .unwrap(),
    );
    assert_eq!(
        s,
        vec!["registrar:accepted_regs = 1", "registrar:rejected_regs = 0"]
    );
}

#[test]
fn htable_cfg_and_core_commands() {
    let e = env();
    let t = e.process.htables.get("a").unwrap();
    t.set(
        "k",
        ferrosip_state::htable::HtValue::Int(5),
        crate::sip::unix_now(),
    )
    .unwrap();
    let g = e
        .call("htable.get", &[RpcValue::str("a"), RpcValue::str("k")])
        .unwrap();
    assert_eq!(member(member(&g, "item"), "value"), &RpcValue::Int(5));
    let miss = e
        .call("htable.get", &[RpcValue::str("a"), RpcValue::str("x")])
        .unwrap_err();
    assert_eq!(miss.message, "Key name doesn't exist in htable.");
    let RpcValue::Array(d) = e.call("htable.dump", &[RpcValue::str("a")]).unwrap() else {
        panic!("dump")
    };
    assert_eq!(d.len(), 1);
    let RpcValue::Array(l) = e.call("htable.listTables", &[]).unwrap() else {
        panic!("list")
    };
    assert_eq!(member(&l[0], "size"), &RpcValue::Int(16));
    assert_eq!(
        e.call("cfg.get", &[RpcValue::str("core"), RpcValue::str("debug")])
            .unwrap(),
        RpcValue::Int(2)
    );
    let get = |g: &str, n: &str| {
        e.call("cfg.get", &[RpcValue::str(g), RpcValue::str(n)])
            .unwrap()
    };
    assert_eq!(get("tcp", "conn_wq_max"), RpcValue::Int(32 * 1024));
    assert_eq!(get("tcp", "wq_max"), RpcValue::Int(10 * 1024 * 1024));
    assert_eq!(get("core", "pkg_mem_size"), RpcValue::Int(8));
    let m = e.call("core.shmmem", &[RpcValue::str("m")]).unwrap();
    assert_eq!(member(&m, "total"), &RpcValue::Int(64));
    assert_eq!(
        e.call("core.shmmem", &[RpcValue::str("z")])
            .unwrap_err()
            .code,
        400
    );
    e.add_proc(1, "main process");
    e.board.set_tid(0, 11);
    let RpcValue::Array(ps) = e.call("core.psx", &[]).unwrap() else {
        panic!("psx")
    };
    assert_eq!(ps.len(), 3);
    assert_eq!(member(&ps[1], "PID"), &RpcValue::Int(11));
    let up = e.call("core.uptime", &[]).unwrap();
    assert!(matches!(member(&up, "uptime"), RpcValue::Int(_)));
}

#[test]
fn ctime_matches_c_library_format() {
    assert_eq!(cmds::ctime(0), "Thu Jan  1 00:00:00 1970");
    assert_eq!(cmds::ctime(1_795_920_027), "Sun Nov 29 02:40:27 2026");
}

#[test]
fn script_counters_are_counters_and_statistics() {
    let text = CFG.replace(
        "debug=2",
        "modparam(\"counters\", \"script_counter\", \"hits Number of hits\")\ndebug=2",
    );
    let e = env_with(&text);
    e.process.counters().get("hits").expect("declared").add(3);
    let args = [RpcValue::str("script"), RpcValue::str("hits")];
    assert_eq!(e.call("cnt.get", &args).unwrap(), RpcValue::Int(3));
    assert_eq!(
        e.call("cnt.help", &args).unwrap(),
        RpcValue::str("Number of hits")
    );
    let groups = strs(&e.call("cnt.list_groups", &[]).unwrap());
    assert!(groups.contains(&"script".to_string()), "{groups:?}");
    let s = strs(
        &e.call("stats.get_statistics", &[RpcValue::str("script:")])
            .unwrap(),
    );
    assert_eq!(s, vec!["script:hits = 3"]);
    e.call("cnt.reset", &args).unwrap();
    let all = e
        .call("cnt.grp_get_all", &[RpcValue::str("script")])
        .unwrap();
    assert_eq!(member(&all, "hits"), &RpcValue::Int(0));
}

const COUNT_CFG: &str = r#"
loadmodule "sl.so"
loadmodule "kex.so"
loadmodule "textops.so"
loadmodule "counters.so"
request_route {
    if (is_method("OPTIONS")) { sl_send_reply("200", "OK"); exit; }
    if (is_method("ACK")) { sl_send_reply("200", "OK"); exit; }
    if (is_method("REGISTER")) { sl_send_reply("401", "Unauthorized"); exit; }
    if (is_method("MESSAGE")) { sl_send_reply("202", "Accepted"); exit; }
    if (is_method("INVITE")) {
        sl_send_reply("180", "Ringing");
        sl_send_reply("486", "Busy Here");
        exit;
    }
    sl_reply_error();
}
"#;

fn sip_request(method: &str, n: u32) -> String {
    format!(
        "{method} sip:bob@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.7:5062;branch=z9hG4bKcnt{n}\r\n\
         From: <sip:alice@example.com>;tag=f{n}\r\n\
         To: <sip:bob@example.com>\r\n\
         Call-ID: cnt-{n}@test\r\n\
         CSeq: 1 {method}\r\n\
         Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

fn sip_response(code: u16, method: &str, n: u32) -> String {
    format!(
        "SIP/2.0 {code} Whatever\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKours{n}\r\n\
         Via: SIP/2.0/UDP 192.0.2.7:5062;branch=z9hG4bKcnt{n}\r\n\
         From: <sip:alice@example.com>;tag=f{n}\r\n\
         To: <sip:bob@example.com>;tag=t{n}\r\n\
         Call-ID: cnt-{n}@test\r\n\
         CSeq: 1 {method}\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// Sends `msgs` through a router of `e`'s process and publishes its counters as worker 0.
fn route_and_publish(e: &RpcEnv, cfg_text: &str, msgs: &[String]) {
    let cfg = Config::parse_str("t.cfg", cfg_text, &[]).expect("cfg");
    let sockets = vec![LocalSocket {
        proto: ferrosip_parser::Proto::Udp,
        addr: "127.0.0.1:5060".parse().unwrap(),
        advertise: None,
    }];
    let env = crate::api::WorkerEnv {
        worker: 0,
        workers: 1,
        sockets,
    };
    let mut r = crate::sip::Router::with_process(&cfg, env, e.process.clone());
    let mut out = Vec::new();
    for m in msgs {
        let inb = crate::api::Inbound {
            data: m.as_bytes(),
            src: "192.0.2.7:5062".parse().unwrap(),
            local: 0,
            proto: ferrosip_parser::Proto::Udp,
            conn: None,
        };
        r.handle(&inb, &mut out);
    }
    e.board.publish(0, &r, msgs.len() as u64);
}

fn get_stats(e: &RpcEnv, names: &[&str]) -> Vec<String> {
    let args: Vec<RpcValue> = names.iter().map(|n| RpcValue::str(*n)).collect();
    strs(&e.call("stats.get_statistics", &args).unwrap())
}

#[test]
fn per_method_and_per_code_statistics_count_routed_messages() {
    let e = env_with(COUNT_CFG);
    let msgs = vec![
        sip_request("OPTIONS", 1),
        sip_request("OPTIONS", 2),
        sip_request("INVITE", 3),
        sip_request("ACK", 3),
        sip_request("REGISTER", 4),
        sip_request("MESSAGE", 5),
        sip_request("FOO", 6),
        sip_response(180, "INVITE", 3),
        sip_response(183, "INVITE", 3),
        sip_response(486, "INVITE", 3),
        sip_response(200, "BYE", 7),
        sip_response(401, "REGISTER", 4),
        sip_response(603, "OPTIONS", 1),
    ];
    route_and_publish(&e, COUNT_CFG, &msgs);
    let core = [
        "rcv_requests = 7",
        "rcv_requests_options = 2",
        "rcv_requests_invite = 1",
        "rcv_requests_ack = 1",
        "rcv_requests_register = 1",
        "rcv_requests_message = 1",
        "rcv_requests_bye = 0",
        "unsupported_methods = 1",
        "rcv_replies = 6",
        "rcv_replies_1xx = 2",
        "rcv_replies_18x = 2",
        "rcv_replies_2xx = 1",
        "rcv_replies_4xx = 2",
        "rcv_replies_401 = 1",
        "rcv_replies_486 = 1",
        "rcv_replies_404 = 0",
        "rcv_replies_6xx = 1",
        "rcv_replies_1xx_invite = 2",
        "rcv_replies_4xx_invite = 1",
        "rcv_replies_2xx_bye = 1",
        "rcv_replies_4xx_reg = 1",
        "rcv_replies_6xx_refer = 0",
    ];
    let sl = [
        "1xx_replies = 1",
        "200_replies = 2",
        "202_replies = 1",
        "2xx_replies = 0",
        "401_replies = 1",
        "4xx_replies = 1",
        "500_replies = 1",
        "sent_replies = 7",
        "sent_err_replies = 1",
        "failures = 1",
        "received_ACKs = 0",
    ];
    let expected: Vec<String> = core
        .iter()
        .map(|l| format!("core:{l}"))
        .chain(sl.iter().map(|l| format!("sl:{l}")))
        .collect();
    let names: Vec<&str> = expected
        .iter()
        .map(|l| l.split_once(':').unwrap().1.split(' ').next().unwrap())
        .collect();
    assert_eq!(get_stats(&e, &names), expected);
    // Listed by group, in Kamailio's order, and reset like the totals.
    let g = get_stats(&e, &["sl:"]);
    assert_eq!(g[0], "sl:1xx_replies = 1");
    assert!(g.iter().any(|l| l == "sl:483_replies = 0"));
    let all = get_stats(&e, &["all"]);
    assert!(all.iter().any(|l| l == "core:rcv_replies_2xx_update = 0"));
    e.call(
        "stats.reset_statistics",
        &[RpcValue::str("rcv_requests_options")],
    )
    .unwrap();
    assert_eq!(
        get_stats(&e, &["core:rcv_requests_options"]),
        vec!["core:rcv_requests_options = 0"]
    );
    let v = e
        .call(
            "cnt.get",
            &[RpcValue::str("sl"), RpcValue::str("200_replies")],
        )
        .unwrap();
    assert_eq!(v, RpcValue::Int(2));
}

#[test]
fn per_method_and_per_code_names_match_their_figures() {
    use crate::sip::{RX_CLASSES, RX_METHODS, RX_REPLY_METHODS, SL_CODES};
    let e = env_with(COUNT_CFG);
    let mut want = Vec::new();
    let mut n = 1u64;
    let mut put = |d: Detail, name: String| {
        e.board.set_detail(1, d, n);
        want.push(format!("{name} = {n}"));
        n += 1;
    };
    for (i, m) in RX_METHODS.iter().enumerate() {
        put(Detail::RxMethod(i), format!("core:rcv_requests_{m}"));
    }
    for (i, c) in RX_CLASSES.iter().enumerate() {
        put(Detail::RxClass(i), format!("core:rcv_replies_{c}"));
    }
    for (i, m) in RX_REPLY_METHODS.iter().enumerate() {
        for k in 0..6 {
            let name = format!("core:rcv_replies_{}xx_{m}", k + 1);
            put(Detail::RxReplyMethod(i, k), name);
        }
    }
    for (i, c) in SL_CODES.iter().enumerate() {
        put(Detail::SlCode(i), format!("sl:{c}_replies"));
    }
    let names: Vec<String> = want
        .iter()
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(get_stats(&e, &names), want);
}
