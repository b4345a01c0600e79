//! End-to-end registrar: SIPp registers users through ferrosip's `save("location")` (RFC
//! 3261 §10.3) on two workers, then SIPp calls them by their AOR and ferrosip's
//! `lookup("location")` routes every call to the registered contact, whichever worker the
//! REGISTER and the INVITE landed on.

mod common;

use common::*;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

/// The tests share two cores: one load at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const CFG: &str = r#"#!KAMAILIO
listen=LISTEN
children=2
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "textops.so"
loadmodule "maxfwd.so"
loadmodule "siputils.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
modparam("usrloc", "hash_size", 12)
modparam("registrar", "max_contacts", 1)
request_route {
	if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
	if (is_method("REGISTER")) {
		if (!save("location")) { sl_reply_error(); }
		exit;
	}
	if (has_totag()) { t_relay(); exit; }
	if (!lookup("location")) { sl_send_reply("404", "Not Found"); exit; }
	if (!t_relay()) { sl_reply_error(); }
}
"#;

#[test]
fn sipp_registers_and_calls_reach_the_registered_contact() {
    if !require("sipp") {
        return;
    }
    let _one = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = scratch("registrar");
    let (proxy, uas, reg_port, uac_port) = (free_port(), free_port(), free_port(), free_port());
    let cfg = dir.join("registrar.cfg");
    std::fs::write(
        &cfg,
        CFG.replace("LISTEN", &format!("udp:127.0.0.1:{proxy}")),
    )
    .unwrap();
    // 500 users, each bound to the SIPp UAS's address.
    let users = 500u32;
    let mut csv = String::from("SEQUENTIAL\n");
    for i in 0..users {
        csv.push_str(&format!("u{i:04};127.0.0.1:{uas}\n"));
    }
    std::fs::write(dir.join("users.csv"), csv).unwrap();
    let mut fs = start_ferrosip(&dir, &cfg, &["-n", "2"], &[]);
    let target: SocketAddr = format!("127.0.0.1:{proxy}").parse().unwrap();
    let reg = run_sipp_uac_with(
        &dir,
        &scen("register.xml"),
        reg_port,
        "u1",
        target,
        500,
        users,
        &["-inf", "users.csv"],
    );
    assert_all_completed(&reg, users, "REGISTERs", &fs);
    // One call per user: the INVITE's R-URI is the AOR, lookup() finds the UAS.
    let callees = (0..users).fold(String::from("SEQUENTIAL\n"), |s, i| {
        s + &format!("u{i:04}\n")
    });
    std::fs::write(dir.join("callees.csv"), callees).unwrap();
    let calls = call_registered(&dir, uas, uac_port, target, users);
    let st = fs.terminate(Duration::from_secs(10));
    assert_all_completed(&calls, users, "calls", &fs);
    assert!(st.is_some_and(|s| s.success()), "{}", fs.output());
}

/// The example registrar (`deploy/examples/registrar.cfg`) on `server`: SIPp registers
/// `users` users with digest authentication (401, then credentials checked against a db_text
/// `subscriber` table), one with a wrong password is refused, then every user is called
/// through `lookup`. The same file and the same checks run on ferrosip and on Kamailio.
fn example_registrar(server: &str) {
    use md5::{Digest, Md5};
    let _one = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = scratch(&format!("example-registrar-{server}"));
    let (proxy, uas, reg_port, uac_port) = (free_port(), free_port(), free_port(), free_port());
    let db = dir.join("dbtext");
    std::fs::create_dir_all(&db).unwrap();
    let users = 200u32;
    let mut sub = String::from(
        "id(int,auto) username(string) domain(string) password(string) ha1(string) ha1b(string) \n",
    );
    let mut csv = String::from("SEQUENTIAL\n");
    let mut callees = String::from("SEQUENTIAL\n");
    for i in 1..=users {
        let (u, p) = (format!("u{i:04}"), format!("pw{i:04}"));
        let ha1 = format!("{:x}", Md5::digest(format!("{u}:127.0.0.1:{p}")));
        sub.push_str(&format!("{i}:{u}:127.0.0.1:{p}:{ha1}:x\n"));
        csv.push_str(&format!(
            "{u};[authentication username={u} password={p}];127.0.0.1:{uas}\n"
        ));
        callees.push_str(&format!("{u}\n"));
    }
    std::fs::write(db.join("subscriber"), sub).unwrap();
    std::fs::write(
        db.join("version"),
        "id(int,auto) table_name(string) table_version(int) \n1:version:1\n2:subscriber:7\n3:location:9\n",
    )
    .unwrap();
    std::fs::write(dir.join("users.csv"), csv).unwrap();
    std::fs::write(
        dir.join("wrong.csv"),
        format!(
            "SEQUENTIAL\nu0001;[authentication username=u0001 password=nope];127.0.0.1:{uas}\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("callees.csv"), callees).unwrap();
    let cfg = repo_root().join("deploy/examples/registrar.cfg");
    let listen = format!("LISTEN=udp:127.0.0.1:{proxy}");
    let dburl = format!("DBURL=\"text://{}\"", db.display());
    let mut server_p = match server {
        "kamailio" => start_kamailio(&dir, &cfg, proxy, &[listen, dburl]),
        _ => start_ferrosip(&dir, &cfg, &["-n", "2", "-A", &listen, "-A", &dburl], &[]),
    };
    let target: SocketAddr = format!("127.0.0.1:{proxy}").parse().unwrap();
    let reg = run_sipp_uac_with(
        &dir,
        &scen("register_auth.xml"),
        reg_port,
        "u1",
        target,
        200,
        users,
        &["-inf", "users.csv"],
    );
    assert_all_completed(&reg, users, &format!("{server} REGISTERs"), &server_p);
    // A wrong password: challenged again instead of a 200, so the call fails.
    let bad = run_sipp_uac_with(
        &dir,
        &scen("register_auth.xml"),
        reg_port,
        "u1",
        target,
        10,
        1,
        &["-inf", "wrong.csv", "-recv_timeout", "2000"],
    );
    assert_eq!(
        (bad.successful_calls, bad.failed_calls),
        (0, 1),
        "{server} wrong password: {}",
        bad.output
    );
    let calls = call_registered(&dir, uas, uac_port, target, users);
    server_p.terminate(Duration::from_secs(10));
    assert_all_completed(&calls, users, &format!("{server} calls"), &server_p);
}

#[test]
fn example_registrar_on_ferrosip() {
    if require("sipp") {
        example_registrar("ferrosip");
    }
}

#[test]
fn example_registrar_on_kamailio_too() {
    if require("sipp") && require("kamailio") {
        example_registrar("kamailio");
    }
}
