//! Tests for the configuration language, with a fake [`Host`] that records what the script
//! asks of it.

use std::borrow::Cow;
use std::collections::HashMap;

use super::*;
use crate::names::{Builtin, Host, Keyword, Pv, Value};

/// A fake message side: records calls and assignments, answers reads from maps.
#[derive(Default)]
struct Fake {
    calls: Vec<(Builtin, Vec<Value<'static>>)>,
    sets: Vec<(Pv, Value<'static>)>,
    pvs: HashMap<Pv, Value<'static>>,
    kws: HashMap<Keyword, Value<'static>>,
    myself: Vec<String>,
    /// Return code per function (default 1).
    rets: HashMap<Builtin, i32>,
}

fn owned(v: &Value<'_>) -> Value<'static> {
    match v {
        Value::Null => Value::Null,
        Value::Int(i) => Value::Int(*i),
        Value::Str(s) => Value::Str(Cow::Owned(s.to_string())),
    }
}

fn s(v: &str) -> Value<'static> {
    Value::Str(Cow::Owned(v.to_string()))
}

impl Host for Fake {
    fn call(&mut self, f: Builtin, args: &[Value<'_>]) -> i32 {
        self.calls.push((f, args.iter().map(owned).collect()));
        self.rets.get(&f).copied().unwrap_or(1)
    }
    fn keyword(&mut self, k: Keyword) -> Value<'_> {
        self.kws.get(&k).cloned().unwrap_or(Value::Null)
    }
    fn is_myself(&mut self, value: &str) -> bool {
        self.myself.iter().any(|m| value.contains(m.as_str()))
    }
    fn pv_get(&mut self, pv: &Pv) -> Value<'_> {
        self.pvs.get(pv).cloned().unwrap_or(Value::Null)
    }
    fn pv_set(&mut self, pv: &Pv, v: Value<'_>) -> Result<(), String> {
        self.sets.push((pv.clone(), owned(&v)));
        self.pvs.insert(pv.clone(), owned(&v));
        Ok(())
    }
}

const HEADER: &str = "loadmodule \"sl.so\"\nloadmodule \"xlog.so\"\nloadmodule \"textops.so\"\n\
loadmodule \"maxfwd.so\"\nloadmodule \"sanity.so\"\nloadmodule \"pv.so\"\n";

fn cfg(text: &str) -> Config {
    match Config::parse_str("t.cfg", text, &[]) {
        Ok(c) => c,
        Err(e) => panic!("unexpected error: {e}\n{text}"),
    }
}

fn err(text: &str) -> String {
    match Config::parse_str("t.cfg", text, &[]) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

/// Runs the request route of `body` (wrapped with the module header) on `host`.
fn run_with(body: &str, host: &mut Fake) -> (Outcome, Config, ScriptVars) {
    let c = cfg(&format!("{HEADER}request_route {{\n{body}\n}}\n"));
    let mut vars = ScriptVars::new(&c.script);
    let r = c.script.request_route().expect("request_route");
    let o = c.script.run(r, host, &mut vars);
    (o, c, vars)
}

fn run(body: &str) -> (Outcome, Fake, Config, ScriptVars) {
    let mut h = Fake::default();
    let (o, c, v) = run_with(body, &mut h);
    (o, h, c, v)
}

fn var(c: &Config, v: &ScriptVars, name: &str) -> Value<'static> {
    v.var(&c.script, name).cloned().unwrap_or(Value::Null)
}

// ------------------------------------------------------------------ preprocessor

#[test]
fn define_substitutes_identifier_tokens() {
    let c = cfg("#!define PORT 5070\n#!define WORKERS 4\nport=PORT\nchildren=WORKERS\n");
    assert_eq!(c.core.port, Some(5070));
    assert_eq!(c.core.children, Some(4));
}

#[test]
fn nested_ifdef_else() {
    let text = "#!define A\n#!ifdef A\n#!ifdef B\nchildren=1\n#!else\nchildren=2\n#!endif\n\
                #!else\nchildren=3\n#!endif\n";
    assert_eq!(cfg(text).core.children, Some(2));
    let c = Config::parse_str("t.cfg", text, &[("B".into(), None)]).unwrap();
    assert_eq!(c.core.children, Some(1));
    let text2 = "#!ifndef A\n#!ifdef B\nchildren=1\n#!else\nchildren=2\n#!endif\n#!else\nchildren=3\n#!endif\n";
    assert_eq!(cfg(text2).core.children, Some(2));
    assert_eq!(
        Config::parse_str("t.cfg", text2, &[("A".into(), None)])
            .unwrap()
            .core
            .children,
        Some(3)
    );
}

#[test]
fn skipped_region_may_hold_garbage() {
    let c = cfg("#!ifdef NOPE\nthis is $$$ not \"valid\n#!endif\nchildren=5\n");
    assert_eq!(c.core.children, Some(5));
}

#[test]
fn cmdline_define_overrides_ifndef_default() {
    let text = "#!ifndef LISTEN\n#!define LISTEN udp:127.0.0.1:5060\n#!endif\nlisten=LISTEN\n";
    let c = cfg(text);
    assert_eq!(c.core.listen[0].port, Some(5060));
    let c = Config::parse_str(
        "t.cfg",
        text,
        &[("LISTEN".into(), Some("udp:127.0.0.1:15060".into()))],
    )
    .unwrap();
    assert_eq!(c.core.listen[0].port, Some(15060));
    assert_eq!(c.core.listen[0].proto, Some(ferrosip_parser::Proto::Udp));
    assert_eq!(c.core.listen[0].host, "127.0.0.1");
}

#[test]
fn define_twice_is_error_trydef_redefine_undef() {
    assert_eq!(
        err("#!define X 1\n#!define X 2\n"),
        "t.cfg:2:10: 'X' is already defined"
    );
    let c = cfg("#!define X 1\n#!trydef X 2\nchildren=X\n");
    assert_eq!(c.core.children, Some(1));
    let c = cfg("#!trydef Y 7\nchildren=Y\n");
    assert_eq!(c.core.children, Some(7));
    let c = cfg("#!define X 1\n#!redefine X 2\nchildren=X\n");
    assert_eq!(c.core.children, Some(2));
    let c = cfg("#!define X\n#!undef X\n#!ifdef X\nchildren=1\n#!else\nchildren=9\n#!endif\n");
    assert_eq!(c.core.children, Some(9));
}

#[test]
fn define_value_continuation_and_bang_bang_prefix() {
    let c = cfg("!!define V 1 + \\\n 2\nrequest_route { $var(x) = V; }\n");
    let mut h = Fake::default();
    let mut vars = ScriptVars::new(&c.script);
    c.script
        .run(c.script.request_route().unwrap(), &mut h, &mut vars);
    assert_eq!(var(&c, &vars, "x"), Value::Int(3));
}

#[test]
fn define_not_substituted_in_strings_but_substdef_is() {
    let (_, h, _, _) = run("#!define X nope\nxlog(\"X\");");
    assert_eq!(h.calls[0].1, vec![s("X")]);
    let c = cfg(&format!(
        "#!substdef \"!MYIP!10.1.2.3!g\"\n{HEADER}listen=udp:MYIP:5060\n\
         request_route {{ xlog(\"ip MYIP\"); }}\n"
    ));
    assert_eq!(c.core.listen[0].host, "10.1.2.3");
    let mut h = Fake::default();
    let mut vars = ScriptVars::new(&c.script);
    c.script
        .run(c.script.request_route().unwrap(), &mut h, &mut vars);
    assert_eq!(h.calls[0].1, vec![s("ip 10.1.2.3")]);
}

#[test]
fn subst_only_rewrites_strings() {
    let (_, h, _, _) = run("#!subst \"/foo/bar/g\"\nxlog(\"foo foo\");");
    assert_eq!(h.calls[0].1, vec![s("bar bar")]);
}

#[test]
fn define_in_route_names_and_params() {
    let c = cfg(&format!(
        "#!define R RELAY\n#!define CODE \"404\"\n{HEADER}request_route {{ route(R); }}\n\
         route[R] {{ sl_send_reply(CODE, \"Nope\"); }}\n"
    ));
    assert!(c.script.route(RouteKind::Request, "RELAY").is_some());
    let mut h = Fake::default();
    let mut vars = ScriptVars::new(&c.script);
    c.script
        .run(c.script.request_route().unwrap(), &mut h, &mut vars);
    assert_eq!(
        h.calls,
        vec![(Builtin::SlSendReply, vec![Value::Int(404), s("Nope")])]
    );
}

#[test]
fn include_file_relative_to_including_file_and_import_missing() {
    let dir = std::env::temp_dir().join(format!("ferrosip-cfg-inc-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sub/inc.cfg"), "children=6\n#!define FROM_INC 1\n").unwrap();
    std::fs::write(dir.join("bad.cfg"), "children=1\nbogus_param=1\n").unwrap();
    std::fs::write(
        dir.join("main.cfg"),
        "include_file \"sub/inc.cfg\"\nimport_file \"missing.cfg\"\n#!ifdef FROM_INC\nport=5099\n#!endif\n",
    )
    .unwrap();
    let c = Config::load(&dir.join("main.cfg"), &[]).unwrap();
    assert_eq!(c.core.children, Some(6));
    assert_eq!(c.core.port, Some(5099));
    // errors in included files name that file and its line
    std::fs::write(dir.join("main2.cfg"), "\n#!include_file \"bad.cfg\"\n").unwrap();
    let e = Config::load(&dir.join("main2.cfg"), &[]).unwrap_err();
    assert!(e.file.ends_with("bad.cfg"), "{e}");
    assert_eq!((e.line, e.col), (2, 1), "{e}");
    assert!(
        e.msg.contains("unknown core parameter 'bogus_param'"),
        "{e}"
    );
    // a missing include_file is an error at the directive
    std::fs::write(
        dir.join("main3.cfg"),
        "children=1\n  include_file \"nope.cfg\"\n",
    )
    .unwrap();
    let e = Config::load(&dir.join("main3.cfg"), &[]).unwrap_err();
    assert_eq!((e.line, e.col), (2, 3), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn comments_of_all_kinds() {
    let c = cfg("# hash\n// slashes\n/* block\n /* nested */ still */ children=3 # tail\n");
    assert_eq!(c.core.children, Some(3));
    assert!(err("/* never closed\n").starts_with("t.cfg:1:1: unterminated"));
}

#[test]
fn unbalanced_ifdef_errors() {
    assert_eq!(
        err("#!ifdef X\nchildren=1\n"),
        "t.cfg:1:1: #!ifdef/#!ifndef without matching #!endif"
    );
    assert_eq!(
        err("children=1\n#!endif\n"),
        "t.cfg:2:1: #!endif without #!ifdef"
    );
    assert_eq!(err("#!else\n"), "t.cfg:1:1: #!else without #!ifdef");
}

#[test]
fn preprocessed_text_has_defines_applied() {
    let c = cfg("#!define N 7\n# comment\nchildren=N\n");
    assert!(
        c.preprocessed.contains("children=7") || c.preprocessed.contains("children = 7"),
        "{}",
        c.preprocessed
    );
    assert!(!c.preprocessed.contains("comment"));
}

// ------------------------------------------------------------------ core parameters

#[test]
fn core_params_typed_notice_other() {
    let c = cfg("debug=-1\nlog_stderror=yes\nfork=no\nmemdbg=5\nmemlog=5\nauto_aliases=off\n\
                 disable_tcp=true\ndns=no\nrev_dns=no\nuse_dns_cache=off\nalias=\"a.example\"\n\
                 alias=b.example\ntcp_connection_lifetime=3605\nmax_while_loops=7\n\
                 server_header=\"Server: x\"\nshm_mem_size=256\nuser_agent_header=\"User-Agent: y\"\n\
                 log_facility=LOG_LOCAL0\ntcp_max_connections=4096;\nmhomed=1\n");
    assert_eq!(c.core.debug, -1);
    assert!(c.core.log_stderror);
    assert!(!c.core.fork);
    assert!(!c.core.auto_aliases);
    assert!(c.core.disable_tcp);
    assert_eq!(
        c.core.aliases,
        vec!["a.example".to_string(), "b.example".to_string()]
    );
    assert_eq!(c.core.tcp_connection_lifetime, 3605);
    assert_eq!(c.core.max_while_loops, 7);
    assert_eq!(c.core.server_header.as_deref(), Some("Server: x"));
    assert_eq!(c.core.shm_mem, Some(256));
    assert_eq!(c.core.log_facility, "LOG_LOCAL0");
    assert_eq!(c.core.tcp_max_connections, 4096);
    assert!(c.core.mhomed);
    assert!(c
        .notices
        .contains(&"memdbg has no effect in ferrosip".to_string()));
    assert!(c
        .notices
        .contains(&"memlog has no effect in ferrosip".to_string()));
    assert_eq!(
        c.core.other,
        vec![("use_dns_cache".to_string(), ParamValue::Int(0))]
    );
}

#[test]
fn core_param_defaults() {
    let c = cfg("");
    assert_eq!(c.core.debug, 0);
    assert!(c.core.fork);
    assert!(c.core.auto_aliases);
    assert_eq!(c.core.tcp_connection_lifetime, 120);
    assert_eq!(c.core.max_while_loops, 100);
    assert!(c.script.request_route().is_none());
    // Kamailio's TCP write-queue bounds and -M default.
    assert_eq!(c.core.tcp_conn_wq_max, 32 * 1024);
    assert_eq!(c.core.tcp_wq_max, 10 * 1024 * 1024);
    assert_eq!(c.core.pkg_mem_bytes(), 8 * 1024 * 1024);
}

#[test]
fn tcp_write_queue_bounds_are_typed_core_params() {
    let c = cfg("tcp_conn_wq_max=4096\ntcp_wq_max = 1048576;\n");
    assert_eq!(c.core.tcp_conn_wq_max, 4096);
    assert_eq!(c.core.tcp_wq_max, 1_048_576);
    assert!(c.notices.is_empty(), "{:?}", c.notices);
    assert!(c.core.other.is_empty());
    assert_eq!(
        err("tcp_conn_wq_max=lots\n"),
        "t.cfg:1:17: tcp_conn_wq_max needs a number, not 'lots'"
    );
    assert_eq!(
        err("tcp_wq_max=-1\n"),
        "t.cfg:1:12: tcp_wq_max out of range: -1"
    );
}

#[test]
fn pkg_mem_zero_means_kamailios_default() {
    let mut c = cfg("");
    c.core.pkg_mem = Some(0);
    assert_eq!(c.core.pkg_mem_bytes(), 8 * 1024 * 1024);
    c.core.pkg_mem = Some(1);
    assert_eq!(c.core.pkg_mem_bytes(), 1024 * 1024);
}

#[test]
fn unknown_core_param_error() {
    assert_eq!(
        err("children=2\n  frobnicate = 1\n"),
        "t.cfg:2:3: unknown core parameter 'frobnicate'"
    );
    assert_eq!(err("port=99999\n"), "t.cfg:1:6: port: invalid port 99999");
    assert_eq!(
        err("children=lots\n"),
        "t.cfg:1:10: children needs a number, not 'lots'"
    );
}

#[test]
fn custom_cfg_vars_accepted() {
    let c = cfg("pstn.gw_ip = \"1.2.3.4\" desc \"My PSTN GW Address\"\npstn.gw_port = 5060\n");
    assert_eq!(
        c.core.other[0],
        ("pstn.gw_ip".into(), ParamValue::Str("1.2.3.4".into()))
    );
    assert_eq!(
        c.core.other[1],
        ("pstn.gw_port".into(), ParamValue::Int(5060))
    );
}

#[test]
fn listen_forms() {
    let l = ListenSpec::parse("udp:10.0.0.1:5060").unwrap();
    assert_eq!(
        (l.proto, l.host.as_str(), l.port),
        (Some(ferrosip_parser::Proto::Udp), "10.0.0.1", Some(5060))
    );
    let l = ListenSpec::parse("10.0.0.1").unwrap();
    assert_eq!((l.proto, l.host.as_str(), l.port), (None, "10.0.0.1", None));
    let l =
        ListenSpec::parse("tls:[2001:db8::1]:5061 advertise 1.2.3.4:5061 name \"pub\"").unwrap();
    assert_eq!(l.host, "2001:db8::1");
    assert_eq!(l.port, Some(5061));
    assert_eq!(l.advertise, Some(("1.2.3.4".into(), Some(5061))));
    assert_eq!(l.name.as_deref(), Some("pub"));
    let l = ListenSpec::parse("tcp:eth0:5060/[2001:db8::2]:7000").unwrap();
    assert_eq!(l.host, "eth0");
    assert_eq!(l.advertise, Some(("2001:db8::2".into(), Some(7000))));
    let l = ListenSpec::parse("*:5060").unwrap();
    assert_eq!(l.host, "*");
    let l = ListenSpec::parse("udp:[::1]").unwrap();
    assert_eq!((l.host.as_str(), l.port), ("::1", None));
    assert!(ListenSpec::parse("udp:1.2.3.4:notaport").is_err());
    assert!(ListenSpec::parse("").is_err());
    assert!(ListenSpec::parse("udp:[::1").is_err());
    // in a file, with advertise and IPv6
    let c = cfg("listen=udp:[::1]:5060 advertise 192.0.2.1:5060\nlisten = tcp:127.0.0.1:5060\n");
    assert_eq!(c.core.listen.len(), 2);
    assert_eq!(c.core.listen[0].host, "::1");
    assert_eq!(
        c.core.listen[0].advertise,
        Some(("192.0.2.1".into(), Some(5060)))
    );
    assert_eq!(c.core.listen[1].proto, Some(ferrosip_parser::Proto::Tcp));
}

// ------------------------------------------------------------------ modules

#[test]
fn loadmodule_forms_and_unknown_module() {
    let c = cfg(
        "loadpath \"/usr/lib/kamailio/modules/\"\nmpath=\"/x\"\nloadmodule \"sl.so\"\n\
                 loadmodule \"xlog\"\nloadmodule \"/usr/lib/kamailio/modules/maxfwd.so\"\n",
    );
    assert_eq!(c.modules, vec!["sl", "xlog", "maxfwd"]);
    assert_eq!(
        err("loadmodule \"sl.so\"\nloadmodule \"app_lua.so\"\n"),
        "t.cfg:2:12: module app_lua is not built into ferrosip"
    );
}

#[test]
fn modparam_checks() {
    let c = cfg("loadmodule \"sl.so\"\nloadmodule \"maxfwd.so\"\nmodparam(\"sl\", \"default_code\", 404)\n\
                 modparam(\"sl\", \"default_reason\", \"Gone\")\nmodparam(\"maxfwd\", \"max_limit\", \"32\")\n");
    assert_eq!(
        c.modparam("sl", "default_code"),
        Some(&ParamValue::Int(404))
    );
    assert_eq!(
        c.modparam("sl", "default_reason"),
        Some(&ParamValue::Str("Gone".into()))
    );
    assert_eq!(
        c.modparam("maxfwd", "max_limit"),
        Some(&ParamValue::Int(32))
    );
    assert_eq!(c.modparam("sl", "bind_tm"), None);
    assert_eq!(
        err("loadmodule \"sl.so\"\nmodparam(\"sl\", \"nope\", 1)\n"),
        "t.cfg:2:16: module sl has no parameter 'nope'"
    );
    assert_eq!(
        err("modparam(\"sl\", \"default_code\", 1)\n"),
        "t.cfg:1:10: modparam for module sl, which is not loaded (loadmodule \"sl.so\" first)"
    );
    assert_eq!(
        err("loadmodule \"sl.so\"\nmodparam(\"sl\", \"default_reason\", 5)\n"),
        "t.cfg:2:34: modparam sl.default_reason needs a string"
    );
    assert_eq!(
        err("loadmodule \"sl.so\"\nmodparam(\"sl\", \"default_code\", \"abc\")\n"),
        "t.cfg:2:32: modparam sl.default_code needs an integer, not \"abc\""
    );
}

// ------------------------------------------------------------------ checks

#[test]
fn unknown_function_error_position() {
    assert_eq!(
        err(&format!(
            "{HEADER}request_route {{\n\tif (no_such_fn()) {{ exit; }}\n}}\n"
        )),
        "t.cfg:8:6: unknown function 'no_such_fn'"
    );
}

#[test]
fn function_needs_module() {
    assert_eq!(
        err("request_route {\n  sl_send_reply(\"404\", \"x\");\n}\n"),
        "t.cfg:2:3: function sl_send_reply needs loadmodule \"sl.so\""
    );
    // core functions need no module
    cfg("request_route { forward(); setflag(1); if (isflagset(1)) resetflag(1); }");
}

#[test]
fn wrong_arity() {
    assert_eq!(
        err(&format!(
            "{HEADER}request_route {{\n  sl_send_reply(\"404\");\n}}\n"
        )),
        "t.cfg:8:3: function sl_send_reply takes 2 arguments, got 1"
    );
    assert_eq!(
        err(&format!(
            "{HEADER}request_route {{\n  sanity_check(1, 2, 3);\n}}\n"
        )),
        "t.cfg:8:3: function sanity_check takes 0 to 2 arguments, got 3"
    );
    assert_eq!(
        err(&format!(
            "{HEADER}request_route {{\n  sl_send_reply(\"abc\", \"x\");\n}}\n"
        )),
        "t.cfg:8:17: argument 1 of sl_send_reply must be a number, not \"abc\""
    );
}

#[test]
fn unknown_pv_and_readonly_and_transformations() {
    assert_eq!(
        err(&format!(
            "{HEADER}request_route {{\n  $var(a) = $foo;\n}}\n"
        )),
        "t.cfg:8:13: unknown pseudo-variable $foo"
    );
    assert_eq!(
        err(&format!(
            "{HEADER}request_route {{\n  xlog(\"x $bar y\");\n}}\n"
        )),
        "t.cfg:8:11: unknown pseudo-variable $bar"
    );
    assert_eq!(
        err(&format!(
            "{HEADER}request_route {{\n  $si = \"1.2.3.4\";\n}}\n"
        )),
        "t.cfg:8:3: $si is read-only"
    );
    assert_eq!(
        err(&format!(
            "{HEADER}request_route {{\n  $var(u) = $(ru{{uri.user}});\n}}\n"
        )),
        "t.cfg:8:13: transformations are not supported yet: $(ru{uri.user})"
    );
    assert!(err(&format!(
        "{HEADER}request_route {{ $var(u) = $(hdr(Via)[1]); }}"
    ))
    .contains("indexed pseudo-variables are not supported yet"));
}

#[test]
fn undefined_and_duplicate_routes() {
    assert_eq!(
        err("request_route {\n  route(NOPE);\n}\n"),
        "t.cfg:2:9: route 'NOPE' is not defined"
    );
    assert_eq!(
        err("route[A] { }\nroute[A] { }\n"),
        "t.cfg:2:7: route 'A' (Request) is defined twice"
    );
    assert!(err("request_route { }\nroute { }\n").contains("is defined twice"));
    assert!(err("reply_route { }\nonreply_route { }\n").contains("is defined twice"));
}

#[test]
fn syntax_errors_have_positions() {
    assert_eq!(
        err("request_route {\n  exit\n}\n"),
        "t.cfg:3:1: expected ';', found '}'"
    );
    assert_eq!(err("request_route {\n"), "t.cfg:1:15: '{' is never closed");
    assert_eq!(
        err("request_route { $var(x) = \"abc; }"),
        "t.cfg:1:27: unterminated string"
    );
    assert!(err("request_route { if ($rm =~ \"(\") exit; }").contains("bad regular expression"));
}

// ------------------------------------------------------------------ route kinds

#[test]
fn all_route_kinds() {
    let c = cfg(
        "request_route { }\nroute[RELAY] { }\nroute[\"quoted\"] { }\nroute[2] { }\n\
                 reply_route { }\nonreply_route[MANAGE] { }\nfailure_route[F] { }\n\
                 branch_route[B] { }\nonsend_route { }\nevent_route[core:worker-one-init] { }\n\
                 event_route[htable:mod-init] { }\n",
    );
    let s = &c.script;
    assert!(s.request_route().is_some());
    assert!(s.reply_route().is_some());
    assert!(s.onsend_route().is_some());
    for (k, n) in [
        (RouteKind::Request, "RELAY"),
        (RouteKind::Request, "quoted"),
        (RouteKind::Request, "2"),
        (RouteKind::OnReply, "MANAGE"),
        (RouteKind::Failure, "F"),
        (RouteKind::Branch, "B"),
        (RouteKind::Event, "core:worker-one-init"),
        (RouteKind::Event, "htable:mod-init"),
    ] {
        assert!(s.route(k, n).is_some(), "{k:?} {n}");
    }
    assert!(s.route(RouteKind::Failure, "RELAY").is_none());
    let c = cfg("route { }\nonreply_route { }\n");
    assert!(c.script.request_route().is_some());
    assert!(c.script.reply_route().is_some());
    let c = cfg("route[0] { }\n");
    assert!(c.script.request_route().is_some());
}

// ------------------------------------------------------------------ statements

#[test]
fn if_else_chain() {
    let body =
        "if ($var(n) == 1) { $var(r) = \"one\"; } else if ($var(n) == 2) $var(r) = \"two\"; \
                else { $var(r) = \"many\"; }";
    let (_, _, c, v) = run(&format!("$var(n) = 2; {body}"));
    assert_eq!(var(&c, &v, "r"), s("two"));
    let (_, _, c, v) = run(&format!("$var(n) = 1; {body}"));
    assert_eq!(var(&c, &v, "r"), s("one"));
    let (_, _, c, v) = run(&format!("$var(n) = 9; {body}"));
    assert_eq!(var(&c, &v, "r"), s("many"));
}

#[test]
fn switch_fallthrough_break_default() {
    let body = |x: &str| {
        format!(
            "$var(x) = {x}; $var(out) = \"\";\nswitch ($var(x)) {{\n case 1: $var(out) = $var(out) + \"a\";\n \
             case 2: $var(out) = $var(out) + \"b\"; break;\n case \"s\": $var(out) = \"str\"; break;\n \
             default: $var(out) = \"def\";\n}}"
        )
    };
    let (_, _, c, v) = run(&body("1"));
    assert_eq!(var(&c, &v, "out"), s("ab"));
    let (_, _, c, v) = run(&body("2"));
    assert_eq!(var(&c, &v, "out"), s("b"));
    let (_, _, c, v) = run(&body("\"s\""));
    assert_eq!(var(&c, &v, "out"), s("str"));
    let (_, _, c, v) = run(&body("7"));
    assert_eq!(var(&c, &v, "out"), s("def"));
    assert!(
        err("request_route { switch ($var(x)) { case 1: ; case 1: ; } }")
            .contains("duplicate case label")
    );
}

#[test]
fn while_loop_and_bound() {
    let (_, _, c, v) = run("$var(i) = 0; $var(sum) = 0; while ($var(i) < 5) { $var(i) = $var(i) + 1; $var(sum) += $var(i); }");
    assert_eq!(var(&c, &v, "sum"), Value::Int(15));
    // bounded by max_while_loops
    let c = cfg("max_while_loops=10\nrequest_route { $var(i) = 0; while (1) { $var(i) += 1; } }");
    let mut h = Fake::default();
    let mut vars = ScriptVars::new(&c.script);
    let o = c
        .script
        .run(c.script.request_route().unwrap(), &mut h, &mut vars);
    assert_eq!(var(&c, &vars, "i"), Value::Int(10));
    assert!(!o.exited);
    // break leaves the loop
    let (_, _, c, v) = run("$var(i) = 0; while (true) { $var(i) += 1; if ($var(i) >= 3) break; }");
    assert_eq!(var(&c, &v, "i"), Value::Int(3));
}

#[test]
fn exit_drop_return() {
    let (o, h, _, _) = run("xlog(\"a\"); exit; xlog(\"b\");");
    assert_eq!(h.calls.len(), 1);
    assert_eq!(
        o,
        Outcome {
            dropped: false,
            exited: true,
            ret: 0
        }
    );
    let (o, _, _, _) = run("drop;");
    assert_eq!(
        o,
        Outcome {
            dropped: true,
            exited: true,
            ret: 0
        }
    );
    let (o, _, _, _) = run("return(5);");
    assert_eq!(
        o,
        Outcome {
            dropped: false,
            exited: false,
            ret: 5
        }
    );
    let (o, _, _, _) = run("return(0); xlog(\"never\");");
    assert_eq!(
        o,
        Outcome {
            dropped: false,
            exited: true,
            ret: 0
        }
    );
    let (o, _, _, _) = run("return -2;");
    assert_eq!(o.ret, -2);
    let (o, _, _, _) = run("return;");
    assert_eq!(o.ret, 1);
    let (o, _, _, _) = run(";;");
    assert_eq!(
        o,
        Outcome {
            dropped: false,
            exited: false,
            ret: 1
        }
    );
}

#[test]
fn sub_routes_return_values_and_rc() {
    let c = cfg(&format!(
        "{HEADER}request_route {{\n if (route(CHECK)) {{ $var(a) = 1; }}\n route(NEG);\n $var(rc) = $rc;\n \
         if (!route(NEG)) {{ $var(b) = $retcode; }}\n route(STOP);\n $var(after) = 1;\n}}\n\
         route[CHECK] {{ return 1; }}\nroute[NEG] {{ return(-3); }}\nroute[STOP] {{ return 0; }}\n"
    ));
    let mut h = Fake::default();
    let mut vars = ScriptVars::new(&c.script);
    let o = c
        .script
        .run(c.script.request_route().unwrap(), &mut h, &mut vars);
    assert_eq!(var(&c, &vars, "a"), Value::Int(1));
    assert_eq!(var(&c, &vars, "rc"), Value::Int(-3));
    assert_eq!(var(&c, &vars, "b"), Value::Int(-3));
    assert_eq!(
        var(&c, &vars, "after"),
        Value::Int(0),
        "return 0 from a route exits"
    );
    assert!(o.exited);
}

#[test]
fn function_return_codes() {
    let mut h = Fake::default();
    h.rets.insert(Builtin::IsMethod, -1);
    let (o, _, _) = run_with(
        "if (!is_method(\"ACK\")) { xlog(\"not ack\"); } $var(r) = $rc;",
        &mut h,
    );
    assert_eq!(h.calls.len(), 2);
    assert!(!o.exited);
    // a function returning 0 stops the script, in a condition too
    let mut h = Fake::default();
    h.rets.insert(Builtin::SanityCheck, 0);
    let (o, _, _) = run_with(
        "if (sanity_check(\"1511\", \"7\")) { xlog(\"x\"); } xlog(\"y\");",
        &mut h,
    );
    assert_eq!(h.calls.len(), 1);
    assert_eq!(h.calls[0].1, vec![Value::Int(1511), Value::Int(7)]);
    assert!(o.exited);
    let mut h = Fake::default();
    h.rets.insert(Builtin::Xlog, 0);
    let (o, _, _) = run_with("xlog(\"a\"); xlog(\"b\");", &mut h);
    assert_eq!(h.calls.len(), 1);
    assert!(o.exited);
}

#[test]
fn assignments_to_host_pvs() {
    let (_, h, _, _) =
        run("$du = \"sip:1.2.3.4:5070\"; $ru = \"sip:a@b\"; $rU = \"bob\"; $du = $null;");
    assert_eq!(
        h.sets,
        vec![
            (Pv::Du, s("sip:1.2.3.4:5070")),
            (Pv::Ru, s("sip:a@b")),
            (Pv::RUser, s("bob")),
            (Pv::Du, Value::Null)
        ]
    );
}

#[test]
fn avps_are_per_message_vars_persist() {
    let c = cfg(
        "request_route { $avp(x) = 1; $avp(s:x) = 2; $var(count) = $var(count) + 1; \
                 $var(seen) = $avp(i:9); }",
    );
    let mut h = Fake::default();
    let mut vars = ScriptVars::new(&c.script);
    let r = c.script.request_route().unwrap();
    c.script.run(r, &mut h, &mut vars);
    assert_eq!(vars.avp(&c.script, "x"), Some(&Value::Int(2)));
    vars.begin_message();
    assert_eq!(vars.avp(&c.script, "x"), None);
    c.script.run(r, &mut h, &mut vars);
    assert_eq!(var(&c, &vars, "count"), Value::Int(2));
    assert_eq!(
        var(&c, &vars, "seen"),
        Value::Int(0),
        "$null assigned to a $var is 0"
    );
}

// ------------------------------------------------------------------ expressions

#[test]
fn arithmetic_precedence() {
    let (_, _, c, v) = run(
        "$var(a) = 1 + 2 * 3; $var(b) = (1 + 2) * 3; $var(c) = 10 - 4 - 3; \
                            $var(d) = 7 % 4 + 8 / 2; $var(e) = 6 | 1 & 3; $var(f) = 1 << 4 >> 2; \
                            $var(g) = -3 + 5; $var(h) = ~0; $var(i) = 5 ^ 1; $var(j) = 0x10 + 010;",
    );
    for (n, x) in [
        ("a", 7),
        ("b", 9),
        ("c", 3),
        ("d", 7),
        ("e", 7),
        ("f", 4),
        ("g", 2),
        ("h", -1),
        ("i", 4),
        ("j", 24),
    ] {
        assert_eq!(var(&c, &v, n), Value::Int(x), "{n}");
    }
}

#[test]
fn logical_precedence_and_short_circuit() {
    let mut h = Fake::default();
    let (_, c, v) = run_with(
        "if (1 == 1 || xlog(\"never\")) $var(a) = 1;\n\
         if (1 == 2 && xlog(\"never\")) $var(b) = 1;\n\
         if (1 == 2 || 2 == 2 && 3 == 3) $var(c) = 1;\n\
         if (!(1 == 1) || 1 == 1) $var(d) = 1;\n\
         if (not (1 == 2) and 2 == 2) $var(e) = 1;",
        &mut h,
    );
    assert!(h.calls.is_empty());
    for n in ["a", "c", "d", "e"] {
        assert_eq!(var(&c, &v, n), Value::Int(1), "{n}");
    }
    assert_eq!(var(&c, &v, "b"), Value::Int(0));
}

#[test]
fn string_ops_and_comparisons() {
    let (_, _, c, v) = run(
        "$var(s) = \"ab\" + \"cd\"; $var(t) = \"n\" + 5; $var(l) = strlen($var(s)); \
        if (strempty(\"\")) $var(e) = 1; if ($var(s) == \"abcd\") $var(eq) = 1; \
        if (\"10\" == 10) $var(ni) = 1; if (\"abc\" < \"abd\") $var(lt) = 1; \
        if ($var(s) eq \"abcd\") $var(seq) = 1; if (\"010\" ieq 10) $var(ieq) = 1; \
        if (defined $var(s)) $var(def) = 1; if (defined $avp(none)) $var(undef) = 1; \
        $var(cast) = (int)\"42\" + 1; $var(cs) = (str)42 + \"x\";",
    );
    assert_eq!(var(&c, &v, "s"), s("abcd"));
    assert_eq!(var(&c, &v, "t"), s("n5"));
    assert_eq!(var(&c, &v, "l"), Value::Int(4));
    for n in ["e", "eq", "ni", "lt", "seq", "ieq", "def"] {
        assert_eq!(var(&c, &v, n), Value::Int(1), "{n}");
    }
    assert_eq!(var(&c, &v, "undef"), Value::Int(0));
    assert_eq!(var(&c, &v, "cast"), Value::Int(43));
    assert_eq!(var(&c, &v, "cs"), s("42x"));
}

#[test]
fn regex_match_case_insensitive() {
    let mut h = Fake::default();
    h.pvs.insert(Pv::Ru, s("sip:Alice@Example.com"));
    h.pvs
        .insert(Pv::Hdr("User-Agent".into()), s("friendly-scanner"));
    let (_, c, v) = run_with(
        "if ($ru =~ \"^sip:alice@\") $var(a) = 1;\n\
         if ($ru !~ \"bob\") $var(b) = 1;\n\
         if ($hdr(User-Agent) =~ \"scanner|sipvicious\") $var(c) = 1;\n\
         $var(p) = \"EXAMPLE\"; if ($ru =~ $var(p)) $var(d) = 1;",
        &mut h,
    );
    for n in ["a", "b", "c", "d"] {
        assert_eq!(var(&c, &v, n), Value::Int(1), "{n}");
    }
}

#[test]
fn keywords_myself_nets_proto_af_method() {
    let mut h = Fake::default();
    h.kws.insert(Keyword::Method, s("invite"));
    h.kws.insert(Keyword::Uri, s("sip:bob@10.0.0.1"));
    h.kws.insert(Keyword::SrcIp, s("10.1.2.3"));
    h.kws.insert(Keyword::Proto, s("udp"));
    h.kws.insert(Keyword::Af, s("INET"));
    h.kws.insert(Keyword::MsgLen, Value::Int(500));
    h.kws.insert(Keyword::SrcPort, Value::Int(5060));
    h.pvs.insert(Pv::Rd, s("10.0.0.1"));
    h.myself.push("10.0.0.1".into());
    let (_, c, v) = run_with(
        "if (method == \"INVITE\") $var(m) = 1;\n\
         if (uri == myself) $var(u) = 1;\n\
         if ($rd == myself) $var(rd) = 1;\n\
         if (src_ip == myself) $var(notme) = 1;\n\
         if (src_ip != myself) $var(sm) = 1;\n\
         if (src_ip == 10.0.0.0/8) $var(n8) = 1;\n\
         if (src_ip == 192.168.0.0/16) $var(n16) = 1;\n\
         if (src_ip == 10.1.2.3) $var(host) = 1;\n\
         if (src_ip == 10.0.0.0/255.0.0.0) $var(nm) = 1;\n\
         if (proto == UDP) $var(p) = 1;\n\
         if (proto == TCP) $var(ptcp) = 1;\n\
         if (af == INET) $var(af) = 1;\n\
         if (af == INET6) $var(af6) = 1;\n\
         if (msg:len > 100 && src_port == 5060) $var(len) = 1;",
        &mut h,
    );
    for n in ["m", "u", "rd", "sm", "n8", "host", "nm", "p", "af", "len"] {
        assert_eq!(var(&c, &v, n), Value::Int(1), "{n}");
    }
    for n in ["notme", "n16", "ptcp", "af6"] {
        assert_eq!(var(&c, &v, n), Value::Int(0), "{n}");
    }
}

#[test]
fn format_strings_are_split_at_compile_time() {
    let mut h = Fake::default();
    h.pvs.insert(Pv::Rm, s("INVITE"));
    h.pvs.insert(Pv::Si, s("1.2.3.4"));
    h.pvs.insert(Pv::Sp, Value::Int(5060));
    let (_, _, _) = run_with(
        "$var(n) = 3; xlog(\"L_INFO\", \"$rm from $si:$sp n=$var(n) cost $5 $null\\n\");\n\
         append_hf(\"X-Src: $si\\r\\n\"); xlog(\"$avp(nope)|$(rm)\");\n\
         xlog(\"LOG_LOCAL0\", \"L_WARN\", \"three\");",
        &mut h,
    );
    assert_eq!(
        h.calls[0].1,
        vec![
            s("L_INFO"),
            s("INVITE from 1.2.3.4:5060 n=3 cost $5 <null>\n")
        ]
    );
    assert_eq!(
        h.calls[1],
        (Builtin::AppendHf, vec![s("X-Src: 1.2.3.4\r\n")])
    );
    assert_eq!(h.calls[2].1, vec![s("<null>|INVITE")]);
    assert_eq!(
        h.calls[3].1,
        vec![s("L_WARN"), s("three")],
        "facility dropped"
    );
}

#[test]
fn adjacent_strings_join_and_escapes() {
    let (_, h, _, _) =
        run("xlog(\"a\\tb\"\n  \"c\\\"d\\\\\"); xlog('e\\n'); xlog(\"\\.\\x41\\101\");");
    assert_eq!(h.calls[0].1, vec![s("a\tbc\"d\\")]);
    assert_eq!(h.calls[1].1, vec![s("e\\n")]);
    assert_eq!(h.calls[2].1, vec![s("\\.AA")]);
}

// ------------------------------------------------------------------ real configs

const BENCH: &str = "/work/shared/bench-anchor/cfg";

#[test]
fn stateless_bench_config_parses_and_runs() {
    let path = std::path::Path::new(BENCH).join("stateless.cfg");
    let Ok(c) = Config::load(&path, &[]) else {
        if !path.exists() {
            return;
        }
        panic!("{}", Config::load(&path, &[]).unwrap_err());
    };
    assert_eq!(c.core.debug, -1);
    assert!(c.core.disable_tcp);
    assert_eq!(c.core.listen[0].port, Some(5060));
    assert_eq!(
        c.modules,
        vec!["kex", "corex", "sl", "maxfwd", "sanity", "pv"]
    );
    assert!(c
        .notices
        .iter()
        .any(|n| n == "memdbg has no effect in ferrosip"));
    let mut h = Fake::default();
    let mut vars = ScriptVars::new(&c.script);
    let o = c
        .script
        .run(c.script.request_route().unwrap(), &mut h, &mut vars);
    assert!(o.exited);
    assert_eq!(
        h.calls,
        vec![
            (Builtin::MfProcessMaxfwdHeader, vec![Value::Int(10)]),
            (Builtin::SanityCheck, vec![Value::Int(1511), Value::Int(7)]),
            (Builtin::Forward, vec![]),
        ]
    );
    assert_eq!(h.sets, vec![(Pv::Du, s("sip:127.0.0.1:5070"))]);
    // -A overrides
    let c = Config::load(
        &path,
        &[
            parse_define("LISTEN=udp:127.0.0.1:15060"),
            parse_define("UAS=\"sip:127.0.0.1:15070\""),
        ],
    )
    .unwrap();
    assert_eq!(c.core.listen[0].port, Some(15060));
    let mut h = Fake::default();
    c.script
        .run(c.script.request_route().unwrap(), &mut h, &mut vars);
    assert_eq!(h.sets, vec![(Pv::Du, s("sip:127.0.0.1:15070"))]);
}

#[test]
fn stateful_bench_config_loads() {
    let path = std::path::Path::new(BENCH).join("stateful.cfg");
    if !path.exists() {
        return;
    }
    let c = Config::load(&path, &[]).unwrap();
    for m in ["tm", "tmx", "rr", "siputils"] {
        assert!(c.modules.iter().any(|x| x == m), "{m}");
    }
}

#[test]
fn debian_stock_config_gives_precise_error() {
    let path = std::path::Path::new("/etc/kamailio/kamailio.cfg");
    if !path.exists() {
        return;
    }
    // With its default defines the stock file loads (acc, textopsx, counters, jsonrpcs,
    // ctl, cfg_rpc are built in); a module still missing is named with its position.
    match Config::load(path, &[]) {
        Ok(c) => {
            for m in ["acc", "textopsx", "tm"] {
                assert!(c.modules.iter().any(|x| x == m), "{m}");
            }
        }
        Err(e) => {
            assert!(e.msg.contains("is not built into ferrosip"), "{e}");
            assert!(e.line > 0 && e.col > 0, "{e}");
        }
    }
}

#[test]
fn other_bench_configs_do_not_panic() {
    for f in [
        "registrar.cfg",
        "registrar_auth.cfg",
        "registrar_auth_ht.cfg",
    ] {
        let path = std::path::Path::new(BENCH).join(f);
        if let Err(e) = Config::load(&path, &[]) {
            assert!(e.line > 0, "{e}");
        }
    }
}

// ------------------------------------------------------------------ robustness

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let text = String::from_utf8_lossy(&bytes);
            let _ = Config::parse_str("fuzz.cfg", &text, &[]);
        }

        #[test]
        fn cfg_like_text_never_panics(parts in proptest::collection::vec(prop_oneof![
            Just("request_route"), Just("route"), Just("["), Just("]"), Just("{"), Just("}"),
            Just("("), Just(")"), Just("if"), Just("else"), Just("while"), Just("switch"),
            Just("case"), Just("default"), Just(":"), Just(";"), Just("$var(x)"), Just("$ru"),
            Just("="), Just("=="), Just("=~"), Just("\"s\""), Just("1"), Just("+"), Just("!"),
            Just("&&"), Just("||"), Just("xlog"), Just("exit"), Just("return"), Just("break"),
            Just("\n#!ifdef A\n"), Just("\n#!endif\n"), Just("\n#!define A 1\n"), Just("A"),
            Just("loadmodule \"xlog.so\"\n"), Just("route(R)"), Just("10.0.0.0/8"), Just("myself"),
            Just("/*"), Just("*/"), Just("$("), Just("-"), Just(","), Just("\n"),
        ], 0..60)) {
            let text = parts.join(" ");
            if let Ok(c) = Config::parse_str("fuzz.cfg", &text, &[]) {
                if let Some(r) = c.script.request_route() {
                    let mut h = Fake::default();
                    let mut v = ScriptVars::new(&c.script);
                    let _ = c.script.run(r, &mut h, &mut v);
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn mutated_real_configs_never_panic(
            which in 0usize..2,
            edits in proptest::collection::vec((any::<u16>(), 0u8..3, any::<u8>()), 1..8),
        ) {
            let path = ["/etc/kamailio/kamailio.cfg", "/work/shared/bench-anchor/cfg/stateless.cfg"][which];
            let Ok(text) = std::fs::read(path) else { return Ok(()) };
            let mut b = text;
            for (pos, kind, byte) in edits {
                if b.is_empty() { break; }
                let i = pos as usize % b.len();
                const CHARS: &[u8] = b"{}()[];$\"=!#/*\n :.,&|<>~+-0aZ_";
                let c = CHARS[byte as usize % CHARS.len()];
                match kind {
                    0 => { b.remove(i); }
                    1 => b.insert(i, c),
                    _ => b[i] = c,
                }
            }
            let text = String::from_utf8_lossy(&b);
            for defs in [vec![], vec![("WITH_MYSQL".to_string(), None), ("WITH_AUTH".to_string(), None), ("WITH_NAT".to_string(), None)]] {
                if let Ok(c) = Config::parse_inner("fuzz.cfg", &text, &defs, true) {
                    if let Some(r) = c.script.request_route() {
                        let mut h = Fake::default();
                        let mut v = ScriptVars::new(&c.script);
                        let _ = c.script.run(r, &mut h, &mut v);
                    }
                }
            }
        }

    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let deep = format!(
        "request_route {{ $var(x) = {}1{}; }}",
        "(".repeat(5000),
        ")".repeat(5000)
    );
    assert!(err(&deep).contains("nested too deeply"));
    let deep = format!("request_route {{ {} }}", "{".repeat(5000));
    assert!(err(&deep).contains("nested too deeply"));
    let deep = format!("request_route {{ $var(x) = {}1; }}", "!".repeat(5000));
    assert!(err(&deep).contains("nested too deeply"));
    let defs = "#!define A B\n#!define B A\nchildren=A\n";
    assert!(err(defs).contains("expands recursively"));
}

#[test]
fn route_recursion_is_bounded() {
    let c = cfg(
        "max_recursive_level=20\nrequest_route { route(L); }\nroute[L] { $var(d) += 1; route(L); }",
    );
    let mut h = Fake::default();
    let mut vars = ScriptVars::new(&c.script);
    c.script
        .run(c.script.request_route().unwrap(), &mut h, &mut vars);
    assert_eq!(var(&c, &vars, "d"), Value::Int(20));
}

/// The grammar on real-world configs: Debian's stock config and the shipped examples, with
/// unknown modules, functions and pseudo-variables accepted as no-ops.
#[test]
fn real_world_configs_parse_permissively() {
    let mut files = vec![std::path::PathBuf::from("/etc/kamailio/kamailio.cfg")];
    if let Ok(rd) = std::fs::read_dir("/usr/share/doc/kamailio/examples") {
        let mut dirs = vec![];
        for e in rd.flatten() {
            dirs.push(e.path());
        }
        while let Some(d) = dirs.pop() {
            if d.is_dir() {
                if let Ok(rd) = std::fs::read_dir(&d) {
                    dirs.extend(rd.flatten().map(|e| e.path()));
                }
            } else if d.extension().is_some_and(|e| e == "cfg") {
                files.push(d);
            }
        }
    }
    let feature_sets: [&[&str]; 2] = [
        &[],
        &[
            "WITH_MYSQL",
            "WITH_AUTH",
            "WITH_USRLOCDB",
            "WITH_NAT",
            "WITH_TLS",
            "WITH_PRESENCE",
            "WITH_IPAUTH",
            "WITH_PSTN",
            "WITH_ANTIFLOOD",
            "WITH_ACCDB",
            "WITH_DEBUG",
            "WITH_JSONRPC",
            "WITH_ALIASDB",
            "WITH_SPEEDDIAL",
            "WITH_MULTIDOMAIN",
            "WITH_VOICEMAIL",
            "WITH_XHTTP",
        ],
    ];
    let mut failures = Vec::new();
    for f in &files {
        let Ok(bytes) = std::fs::read(f) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        for set in feature_sets {
            let defs: Vec<(String, Option<String>)> =
                set.iter().map(|d| (d.to_string(), None)).collect();
            if let Err(e) = Config::parse_inner(&f.to_string_lossy(), &text, &defs, true) {
                failures.push(format!("{e} (defines {set:?})"));
            }
        }
    }
    eprintln!("checked {} files", files.len());
    for f in &failures {
        eprintln!("PERMISSIVE: {f}");
    }
    // the stock config must go through the grammar with and without its features
    assert!(
        !failures
            .iter()
            .any(|f| f.starts_with("/etc/kamailio/kamailio.cfg:")),
        "{failures:#?}"
    );
}

#[test]
fn default_recursion_limit_does_not_overflow_the_stack() {
    let c = cfg(
        "request_route { route(L); }\nroute[L] { $var(d) += 1; if ($var(d) > 0) { route(L); } }",
    );
    let mut h = Fake::default();
    let mut vars = ScriptVars::new(&c.script);
    c.script
        .run(c.script.request_route().unwrap(), &mut h, &mut vars);
    assert_eq!(var(&c, &vars, "d"), Value::Int(256));
}

#[test]
fn script_is_clone_send_sync() {
    fn check<T: Clone + Send + Sync + 'static>() {}
    check::<Script>();
    check::<Config>();
    check::<ScriptVars>();
}

#[test]
fn bit_operators_bind_looser_than_comparisons() {
    // Kamailio cfg.y: `|`, `&`, `^` have lower precedence than `==`
    let (_, _, c, v) = run("$var(a) = 2 & 3 == 3; $var(b) = (2 & 3) == 2; $var(c) = 1 + 2 == 3;");
    assert_eq!(var(&c, &v, "a"), Value::Int(0));
    assert_eq!(var(&c, &v, "b"), Value::Int(1));
    assert_eq!(var(&c, &v, "c"), Value::Int(1));
}

#[test]
fn avp_stack_assign_forms() {
    let c = cfg(
        "request_route { $avp(a) = 1; $avp(a) = 2; $var(top) = $avp(a); $avp(a) := 3; \
                 $avp(b) = \"x\"; $avp(b) = $null; }",
    );
    let mut h = Fake::default();
    let mut vars = ScriptVars::new(&c.script);
    c.script
        .run(c.script.request_route().unwrap(), &mut h, &mut vars);
    assert_eq!(var(&c, &vars, "top"), Value::Int(2));
    assert_eq!(vars.avp(&c.script, "a"), Some(&Value::Int(3)));
    assert_eq!(vars.avp(&c.script, "b"), None);
}

#[test]
fn bare_function_names_and_exit_parens() {
    let (o, h, _, _) = run("sl_reply_error; exit();");
    assert_eq!(h.calls, vec![(Builtin::SlReplyError, vec![])]);
    assert!(o.exited);
}

#[test]
fn pv_names_resolve() {
    let all = "$rm $ru $rU $rd $rp $du $fu $fU $fd $ft $tu $tU $td $tt $ci $cs $si $sp $Ri $Rp \
               $pr $proto $ml $mb $ua $rs $rr $Ts $hdr(Via) $var(v) $avp(a) $rc $retcode $? $null $(ru)";
    let (_, h, _, _) = run(&format!("xlog(\"{all}\");"));
    assert_eq!(h.calls.len(), 1);
    // $rU and $ru are different variables
    let mut h = Fake::default();
    h.pvs.insert(Pv::RUser, s("alice"));
    h.pvs.insert(Pv::Ru, s("sip:alice@x"));
    let (_, c, v) = run_with("$var(a) = $rU; $var(b) = $ru; $var(c) = $(rU);", &mut h);
    assert_eq!(var(&c, &v, "a"), s("alice"));
    assert_eq!(var(&c, &v, "b"), s("sip:alice@x"));
    assert_eq!(var(&c, &v, "c"), s("alice"));
}

#[test]
fn ipv6_networks_in_conditions() {
    let mut h = Fake::default();
    h.kws.insert(Keyword::SrcIp, s("2001:db8::7"));
    let (_, c, v) = run_with(
        "if (src_ip == [2001:db8::]/32) $var(a) = 1; if (src_ip == [2001:db8::7]) $var(b) = 1;\n\
         if (src_ip == [::1]) $var(c) = 1; if (src_ip == 10.0.0.0/8) $var(d) = 1;",
        &mut h,
    );
    assert_eq!(var(&c, &v, "a"), Value::Int(1));
    assert_eq!(var(&c, &v, "b"), Value::Int(1));
    assert_eq!(var(&c, &v, "c"), Value::Int(0));
    assert_eq!(var(&c, &v, "d"), Value::Int(0));
}

#[test]
fn several_assignments_on_one_line() {
    let c = cfg("children=4 port=5070\nlisten=udp:1.2.3.4:5060 loadmodule \"sl.so\"\n");
    assert_eq!(c.core.children, Some(4));
    assert_eq!(c.core.port, Some(5070));
    assert_eq!(c.core.listen[0].host, "1.2.3.4");
    assert_eq!(c.modules, vec!["sl"]);
}

#[test]
fn substdef_applies_inside_pv_names() {
    let c = cfg("#!substdef \"/VNAME/counter/\"\nrequest_route { $var(VNAME) = 5; }");
    let mut h = Fake::default();
    let mut vars = ScriptVars::new(&c.script);
    c.script
        .run(c.script.request_route().unwrap(), &mut h, &mut vars);
    assert_eq!(var(&c, &vars, "counter"), Value::Int(5));
}

#[test]
fn crlf_and_bom() {
    let c = cfg("\u{feff}#!KAMAILIO\r\n#!define X 3\r\n#!ifdef X\r\nchildren=X\r\n#!endif\r\nrequest_route {\r\n exit;\r\n}\r\n");
    assert_eq!(c.core.children, Some(3));
    assert_eq!(
        err("\u{feff}children=1\r\nnope=2\r\n"),
        "t.cfg:2:1: unknown core parameter 'nope'"
    );
}

#[test]
fn long_flat_chains_are_fine_and_constants_fold() {
    let n = 20_000;
    let sum = vec!["1"; n].join(" + ");
    let ors = vec!["$var(z) == 1"; n].join(" || ");
    let c = cfg(&format!("request_route {{ $var(s) = {sum}; $var(m) = $var(s) - 1 - 2 - 3; if ({ors}) $var(o) = 1; }}"));
    let mut h = Fake::default();
    let mut vars = ScriptVars::new(&c.script);
    c.script
        .run(c.script.request_route().unwrap(), &mut h, &mut vars);
    assert_eq!(var(&c, &vars, "s"), Value::Int(n as i64));
    assert_eq!(var(&c, &vars, "m"), Value::Int(n as i64 - 6));
    assert_eq!(var(&c, &vars, "o"), Value::Int(0));
    assert!(err("request_route { $var(x) = 1 / 0; }").contains("division by zero"));
}

#[test]
fn routes_are_listed() {
    let c = cfg("request_route { }\nroute[A] { }\nfailure_route[F] { }\n");
    let all: Vec<(RouteKind, String)> = c
        .script
        .routes()
        .map(|(_, k, n)| (k, n.to_string()))
        .collect();
    assert_eq!(
        all,
        vec![
            (RouteKind::Request, "0".to_string()),
            (RouteKind::Request, "A".to_string()),
            (RouteKind::Failure, "F".to_string())
        ]
    );
    let id = c.script.route(RouteKind::Failure, "F").unwrap();
    assert_eq!(c.script.route_info(id), Some((RouteKind::Failure, "F")));
}

#[test]
fn variable_and_expression_arguments() {
    let (_, h, _, _) = run(
        "$var(r) = \"Gone\"; $avp(c) = 410; sl_send_reply($avp(c), $var(r));\n\
                            xlog($var(r) + \"!\"); xlog(\"$var(r)$var(r)\"); xlog($var(none));\n\
                            if (uri == myself || uri == myself) xlog(\"x\");",
    );
    assert_eq!(
        h.calls[0],
        (Builtin::SlSendReply, vec![Value::Int(410), s("Gone")])
    );
    assert_eq!(h.calls[1].1, vec![s("Gone!")]);
    assert_eq!(h.calls[2].1, vec![s("GoneGone")]);
    assert_eq!(h.calls[3].1, vec![Value::Int(0)]);
    assert_eq!(h.calls.len(), 4, "uri is null: never myself");
}

/// A host that answers without allocating, to measure the interpreter alone.
struct QuietHost;

impl Host for QuietHost {
    fn call(&mut self, _f: Builtin, args: &[Value<'_>]) -> i32 {
        std::hint::black_box(args);
        1
    }
    fn keyword(&mut self, k: Keyword) -> Value<'_> {
        match k {
            Keyword::Method => Value::Str(Cow::Borrowed("INVITE")),
            Keyword::SrcIp => Value::Str(Cow::Borrowed("192.0.2.1")),
            _ => Value::Str(Cow::Borrowed("sip:alice@127.0.0.1")),
        }
    }
    fn is_myself(&mut self, value: &str) -> bool {
        value.ends_with("127.0.0.1")
    }
    fn pv_get(&mut self, _pv: &Pv) -> Value<'_> {
        Value::Str(Cow::Borrowed("sip:alice@127.0.0.1"))
    }
    fn pv_set(&mut self, _pv: &Pv, v: Value<'_>) -> Result<(), String> {
        std::hint::black_box(v);
        Ok(())
    }
}

#[test]
fn running_the_bench_scripts_does_not_allocate() {
    let stateless = std::path::Path::new(BENCH).join("stateless.cfg");
    let mut scripts = vec![cfg(&format!(
        "{HEADER}request_route {{\n if (!mf_process_maxfwd_header(\"10\")) {{ sl_send_reply(\"483\", \"Too Many Hops\"); exit; }}\n\
         if (method == \"INVITE\" && uri == myself && $ru =~ \"^sip:alice@\") {{ $var(n) = $var(n) + 1; }}\n\
         switch ($var(n)) {{ case 1: break; default: $du = \"sip:127.0.0.1:5070\"; }}\n\
         xlog(\"L_INFO\", \"$rm from $si n=$var(n)\\n\"); sl_send_reply(\"404\", $var(reason));\n\
         route(R); forward(); exit;\n}}\nroute[R] {{ if (src_ip == 10.0.0.0/8) return -1; return 1; }}\n"
    ))];
    if let Ok(c) = Config::load(&stateless, &[]) {
        scripts.push(c);
    }
    for c in &scripts {
        let r = c.script.request_route().unwrap();
        let mut vars = ScriptVars::new(&c.script);
        let mut host = QuietHost;
        // warm up: $var(n) turns from 0 into an integer, pooled buffers get their capacity
        for _ in 0..3 {
            vars.begin_message();
            c.script.run(r, &mut host, &mut vars);
        }
        let info = allocation_counter::measure(|| {
            for _ in 0..100 {
                vars.begin_message();
                let o = c.script.run(r, &mut host, &mut vars);
                std::hint::black_box(o);
            }
        });
        assert_eq!(info.count_total, 0, "{info:?}");
    }
}

#[test]
fn several_listens_and_aliases_per_line() {
    let c = cfg(
        "listen=udp:10.0.0.1:5060 tcp:10.0.0.1:5060 advertise 192.0.2.1:5060 udp:[::1]\n\
                 alias=a.example b.example:5070\nalias=\"c.example\"\n",
    );
    assert_eq!(c.core.listen.len(), 3);
    assert_eq!(
        c.core.listen[1].advertise,
        Some(("192.0.2.1".into(), Some(5060)))
    );
    assert_eq!(c.core.listen[2].host, "::1");
    assert_eq!(
        c.core.aliases,
        vec!["a.example", "b.example:5070", "c.example"]
    );
}

#[test]
fn env_defines() {
    let Ok(path) = std::env::var("PATH") else {
        return;
    };
    let c = cfg("#!defenvs P=PATH\n#!trydefenv NOPE=FERROSIP_SURELY_UNSET_VAR_42\n\
                 #!ifdef NOPE\nchildren=1\n#!else\nchildren=2\n#!endif\nrequest_route { $var(p) = P; }");
    assert_eq!(c.core.children, Some(2));
    let mut h = Fake::default();
    let mut vars = ScriptVars::new(&c.script);
    c.script
        .run(c.script.request_route().unwrap(), &mut h, &mut vars);
    assert_eq!(var(&c, &vars, "p"), s(&path));
    assert_eq!(
        err("children=1\n#!defenv X=FERROSIP_SURELY_UNSET_VAR_42\n"),
        "t.cfg:2:10: environment variable FERROSIP_SURELY_UNSET_VAR_42 is not set"
    );
}

#[test]
fn ifexp_and_defexp() {
    let c = cfg("#!define N 5\n#!define IP 127.0.0.1\n#!ifexp N > 3 && 1 + 1 == 2\nchildren=1\n#!else\nchildren=2\n#!endif\n\
                 #!ifexp N < 3\nport=1\n#!else\nport=2\n#!endif\n\
                 #!defexps URI \"sip:\" + IP + \":5060\"\n#!defexp SUM N * 2 + 1\n\
                 request_route { $du = URI; $var(s) = SUM; }");
    assert_eq!(c.core.children, Some(1));
    assert_eq!(c.core.port, Some(2));
    let mut h = Fake::default();
    let mut vars = ScriptVars::new(&c.script);
    c.script
        .run(c.script.request_route().unwrap(), &mut h, &mut vars);
    assert_eq!(h.sets, vec![(Pv::Du, s("sip:127.0.0.1:5060"))]);
    assert_eq!(var(&c, &vars, "s"), Value::Int(11));
    // nested in a skipped region, ifexp is not evaluated but still nests
    let c = cfg("#!ifdef NOPE\n#!ifexp (((\n#!endif\nchildren=1\n#!endif\nchildren=3\n");
    assert_eq!(c.core.children, Some(3));
    assert!(err("#!ifexp 1 +\n#!endif\n").starts_with("t.cfg:1:9: "));
}

#[test]
fn predefined_and_module_defines() {
    let c = cfg("loadmodule \"sl.so\"\n#!ifdef MOD_sl\nchildren=1\n#!endif\n#!ifdef MOD_tm\nport=1\n#!endif\n\
                 #!ifdef KAMAILIO_5\nmax_while_loops=7\n#!endif\n");
    assert_eq!(c.core.children, Some(1));
    assert_eq!(c.core.port, None);
    assert_eq!(c.core.max_while_loops, 7);
}

#[test]
fn double_dollar_is_a_literal_dollar() {
    let (_, h, _, _) = run("xlog(\"cost: $$5 for $$var(x)\");");
    assert_eq!(h.calls[0].1, vec![s("cost: $5 for $var(x)")]);
}
