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
