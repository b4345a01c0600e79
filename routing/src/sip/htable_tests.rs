//! Tests of the htable module (and the db_text read it loads from): configuration text in,
//! replies out.

use std::net::SocketAddr;
use std::path::PathBuf;

use ferrosip_parser::Proto;

use super::ctx_tests::{test_sockets, INVITE, SRC};
use super::{ProcessState, Router};
use crate::api::{Inbound, WorkerEnv};
use crate::cfg::Config;

const MODULES: &str = "loadmodule \"sl.so\"\nloadmodule \"textops.so\"\nloadmodule \"pv.so\"\n\
loadmodule \"xlog.so\"\nloadmodule \"db_text.so\"\nloadmodule \"htable.so\"\n";

fn cfg(body: &str) -> Config {
    let text = format!("{MODULES}{body}");
    match Config::parse_str("test.cfg", &text, &[]) {
        Ok(c) => c,
        Err(e) => panic!("test cfg does not compile: {e}\n{text}"),
    }
}

fn cfg_err(body: &str) -> String {
    let text = format!("{MODULES}{body}");
    match Config::parse_str("test.cfg", &text, &[]) {
        Ok(_) => panic!("test cfg compiles but should not:\n{text}"),
        Err(e) => e.to_string(),
    }
}

fn env() -> WorkerEnv {
    WorkerEnv {
        worker: 0,
        workers: 1,
        sockets: test_sockets(),
    }
}

fn router(body: &str) -> Router {
    Router::new(&cfg(body), env())
}

/// The reason phrase of the single reply to `msg`.
fn reply_reason(r: &mut Router, msg: &str) -> String {
    let mut out = Vec::new();
    let src: SocketAddr = SRC.parse().unwrap();
    let inb = Inbound {
        data: msg.as_bytes(),
        src,
        local: 0,
        proto: Proto::Udp,
        conn: None,
    };
    r.handle(&inb, &mut out);
    assert_eq!(out.len(), 1, "one reply expected");
    let t = String::from_utf8_lossy(&out[0].data).into_owned();
    let first = t.lines().next().unwrap_or("").to_string();
    first.splitn(3, ' ').nth(2).unwrap_or("").to_string()
}

/// A temporary db_text directory, removed on drop.
struct TempDb(PathBuf);

impl TempDb {
    fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir =
            std::env::temp_dir().join(format!("ferrosip-ht-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn write(&self, table: &str, text: &str) {
        std::fs::write(self.0.join(table), text).unwrap();
    }

    fn url(&self) -> String {
        format!("text://{}", self.0.display())
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn set_read_delete_with_static_and_dynamic_keys() {
    let mut r = router(
        "modparam(\"htable\", \"htable\", \"t=>size=4;\")\n\
         request_route {\n\
           $var(k) = \"abc\";\n\
           $sht(t=>abc) = \"v1\";\n\
           $sht(t=>$ci) = 7;\n\
           $sht(t=>x$var(k)y) = \"v3\";\n\
           if ($sht(t=>nokey) != $null) { sl_send_reply(\"500\", \"missing key not null\"); exit; }\n\
           $var(n) = $sht(t=>$ci) + 1;\n\
           sl_send_reply(\"200\", \"$sht(t=>$var(k))|$var(n)|$sht(t=>xabcy)|$shtex(t=>abc)\");\n\
           exit;\n\
         }\n",
    );
    assert_eq!(reply_reason(&mut r, INVITE), "v1|8|v3|0");
    let mut r = router(
        "modparam(\"htable\", \"htable\", \"t=>size=4;\")\n\
         request_route {\n\
           $sht(t=>a) = \"1\";\n\
           $sht(t=>a) = $null;\n\
           $sht(t=>b) = \"2\";\n\
           sht_rm(\"t\", \"b\");\n\
           if ($sht(t=>a) == $null && $sht(t=>b) == $null) { sl_send_reply(\"200\", \"gone\"); exit; }\n\
           sl_send_reply(\"500\", \"still there\");\n\
         }\n",
    );
    assert_eq!(reply_reason(&mut r, INVITE), "gone");
}

#[test]
fn values_are_shared_between_routers_of_one_process() {
    let c = cfg("modparam(\"htable\", \"htable\", \"t=>size=4;\")\n\
         request_route {\n\
           if ($sht(t=>seen) == $null) { $sht(t=>seen) = \"first\"; sl_send_reply(\"200\", \"new\"); exit; }\n\
           sl_send_reply(\"200\", \"$sht(t=>seen)\");\n\
         }\n");
    let p = ProcessState::new(&c, 2).unwrap();
    let mut a = Router::with_process(&c, env(), p.clone());
    let mut b = Router::with_process(
        &c,
        WorkerEnv {
            worker: 1,
            workers: 2,
            sockets: test_sockets(),
        },
        p,
    );
    assert_eq!(reply_reason(&mut a, INVITE), "new");
    assert_eq!(reply_reason(&mut b, INVITE), "first");
}

#[test]
fn counters_expiry_and_functions() {
    let mut r = router(
        "modparam(\"htable\", \"htable\", \"t=>size=4;autoexpire=60;initval=5;\")\n\
         modparam(\"htable\", \"htable\", \"u=>size=2;\")\n\
         request_route {\n\
           $var(a) = $shtinc(t=>c);\n\
           $var(b) = $shtinc(t=>c);\n\
           $var(d) = $shtdec(t=>c);\n\
           $var(i) = $sht(t=>never);\n\
           $sht(u=>alice) = \"x1\";\n\
           $sht(u=>alfred) = \"y2\";\n\
           $sht(u=>bob) = \"x3\";\n\
           $var(cn) = $shtcn(u=>~~^al);\n\
           $var(cv) = $shtcv(u=>%~x);\n\
           $var(all) = $shtcn(u=>**);\n\
           if (!sht_has_name(\"u\", \"eq\", \"bob\")) { sl_send_reply(\"500\", \"has_name\"); exit; }\n\
           if (sht_has_str_value(\"u\", \"eq\", \"nope\")) { sl_send_reply(\"500\", \"has_value\"); exit; }\n\
           sht_lock(\"u=>bob\");\n\
           sht_rm_name_re(\"u=>^alf\");\n\
           sht_unlock(\"u=>bob\");\n\
           sht_rm_value_re(\"u=>^x3$\");\n\
           $var(left) = $shtcn(u=>**);\n\
           $shtex(t=>c) = 10;\n\
           $var(ex) = $shtex(t=>c);\n\
           $var(ex0) = $shtex(t=>missing);\n\
           sht_reset(\"u\");\n\
           $var(reset) = $shtcn(u=>**);\n\
           sl_send_reply(\"200\", \"$var(a) $var(b) $var(d) $var(i) $var(cn) $var(cv) $var(all) $var(left) $var(ex) $var(ex0) $var(reset)\");\n\
         }\n",
    );
    let got = reply_reason(&mut r, INVITE);
    // expiry may tick one second between the write and the read
    assert!(
        got == "6 7 6 5 2 2 3 1 10 0 0" || got == "6 7 6 5 2 2 3 1 9 0 0",
        "{got}"
    );
}

#[test]
fn loads_db_text_and_finds_ha1_by_dynamic_key() {
    let db = TempDb::new("load");
    db.write(
        "htable",
        "id(int,auto) key_name(string) key_type(int) value_type(int) key_value(string) expires(int) \n\
         1:u000001:0:0:8d2c1b0f6a1e4bd1c0a1f0e9d8c7b6a5:0\n\
         2:u000002:0:0:0f1e2d3c4b5a69788796a5b4c3d2e1f0:0\n\
         3:n:0:1:42:0\n\
         4:arr:1:0:first:0\n\
         5:arr:1:0:second:0\n\
         6:esc:0:0:a\\:b:0\n",
    );
    let c = cfg(&format!(
        "modparam(\"htable\", \"db_url\", \"{}\")\n\
         modparam(\"htable\", \"htable\", \"cred=>size=14;dbtable=htable;\")\n\
         request_route {{\n\
           $var(u) = \"u000002\";\n\
           $var(ha1) = $sht(cred=>$var(u));\n\
           if ($var(ha1) == $null) {{ sl_send_reply(\"403\", \"Unknown user\"); exit; }}\n\
           $var(n) = $sht(cred=>n) + 1;\n\
           sl_send_reply(\"200\", \"$var(ha1) $var(n) $sht(cred=>arr[0]) $sht(cred=>arr[1]) $sht(cred=>arr::size) $sht(cred=>esc)\");\n\
         }}\n",
        db.url()
    ));
    let p = ProcessState::new(&c, 1).expect("the table loads");
    let mut r = Router::with_process(&c, env(), p);
    assert_eq!(
        reply_reason(&mut r, INVITE),
        "0f1e2d3c4b5a69788796a5b4c3d2e1f0 43 second first 2 a:b"
    );
}

#[test]
fn bad_db_text_stops_the_start_with_a_position() {
    let db = TempDb::new("bad");
    db.write(
        "htable",
        "id(int,auto) key_name(string) key_type(int) value_type(int) key_value(string) expires(int)\n\
         1:u1:0:0:x:0\n\
         2:u2:zero:0:y:0\n",
    );
    let body = |url: &str, extra: &str| {
        format!(
            "modparam(\"htable\", \"db_url\", \"{url}\")\n\
             modparam(\"htable\", \"htable\", \"cred=>size=4;dbtable=htable;\")\n{extra}\
             request_route {{ exit; }}\n"
        )
    };
    let e = ProcessState::new(&cfg(&body(&db.url(), "")), 1).unwrap_err();
    assert!(
        e.contains("htable:3:6:") && e.contains("not an integer"),
        "{e}"
    );
    let e = ProcessState::new(&cfg(&body("text:///nonexistent/ferrosip-db", "")), 1).unwrap_err();
    assert!(
        e.contains("cannot read db_text table /nonexistent/ferrosip-db/htable"),
        "{e}"
    );
    let e = ProcessState::new(&cfg(&body("mysql://u:p@h/db", "")), 1).unwrap_err();
    assert!(
        e.contains("database 'mysql' is not built into ferrosip"),
        "{e}"
    );
    // no db_url at all
    let c = cfg(
        "modparam(\"htable\", \"htable\", \"cred=>dbtable=htable;\")\nrequest_route { exit; }\n",
    );
    let e = ProcessState::new(&c, 1).unwrap_err();
    assert!(e.contains("needs modparam(\"htable\", \"db_url\""), "{e}");
}

#[test]
fn compile_time_errors() {
    let e = cfg_err(
        "modparam(\"htable\", \"htable\", \"t=>size=4;\")\n\
         request_route { $var(x) = $sht(nope=>$ci); }\n",
    );
    assert!(
        e.starts_with("test.cfg:8:27: htable 'nope' is not defined"),
        "{e}"
    );
    let e = cfg_err("modparam(\"htable\", \"htable\", \"t=>size=x;\")\nrequest_route { exit; }\n");
    assert!(e.starts_with("test.cfg:7:30: htable definition"), "{e}");
    assert!(e.contains("size needs an integer"), "{e}");
    let e = cfg_err(
        "modparam(\"htable\", \"htable\", \"t=>size=4;\")\n\
         modparam(\"htable\", \"htable\", \"t=>size=5;\")\nrequest_route { exit; }\n",
    );
    assert!(e.contains("htable 't' is defined twice"), "{e}");
    let e = cfg_err(
        "modparam(\"htable\", \"htable\", \"t=>size=4;\")\n\
         request_route { sht_reset(\"other\"); }\n",
    );
    assert!(e.contains("htable 'other' is not defined"), "{e}");
    let e = cfg_err(
        "modparam(\"htable\", \"htable\", \"t=>size=4;\")\n\
         request_route { $shtcn(t=>**) = 1; }\n",
    );
    assert!(e.contains("read-only"), "{e}");
    let e = cfg_err(
        "modparam(\"htable\", \"htable\", \"t=>size=4;\")\n\
         request_route { $var(x) = $sht(t); }\n",
    );
    assert!(e.contains("expected table=>key"), "{e}");
}

#[test]
fn db_text_module_params_are_accepted() {
    cfg(
        "modparam(\"db_text\", \"db_mode\", 0)\nmodparam(\"db_text\", \"emptystring\", 1)\n\
         modparam(\"db_text\", \"file_buffer_size\", 16384)\n\
         modparam(\"htable\", \"db_expires\", 1)\nrequest_route { exit; }\n",
    );
}

#[test]
fn bench_anchor_cfg_htable_parts_compile() {
    let path = std::path::Path::new("/work/shared/bench-anchor/cfg/registrar_auth_ht.cfg");
    if !path.exists() {
        return;
    }
    match Config::load(path, &[]) {
        Ok(c) => {
            assert!(c.modules.iter().any(|m| m == "htable"));
        }
        // auth/registrar are added by others at the same time; only our parts must pass
        Err(e) => {
            eprintln!("registrar_auth_ht.cfg: {e}");
            assert!(
                !e.msg.contains("htable") && !e.msg.contains("db_text") && !e.msg.contains("$sht"),
                "{e}"
            )
        }
    }
}

#[test]
fn bench_anchor_users_load_into_cred() {
    let cfg_path = std::path::Path::new("/work/shared/bench-anchor/cfg/registrar_auth_ht.cfg");
    let gen = std::path::Path::new("/work/shared/bench-anchor/gen_users.py");
    if !cfg_path.exists() || !gen.exists() {
        return;
    }
    let db = TempDb::new("bench");
    let ok = std::process::Command::new("python3")
        .arg(gen)
        .arg("100")
        .arg(&db.0)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        return; // no python here
    }
    let url = format!("\"text://{}/dbtext\"", db.0.display());
    let c = match Config::load(cfg_path, &[("DBURL".into(), Some(url))]) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("registrar_auth_ht.cfg does not compile yet: {e}");
            return;
        }
    };
    let p = ProcessState::new(&c, 2).expect("cred loads from the generated db_text table");
    let cred = p.htables.get("cred").expect("table cred");
    assert_eq!(cred.len(), 100);
    assert_eq!(cred.def().slots(), 1 << 14);
    let now = super::htable::unix_now();
    match cred.get("u000042", now) {
        Some(ferrosip_state::htable::HtValue::Str(h)) => assert_eq!(h.len(), 32),
        other => panic!("u000042: {other:?}"),
    }
}
