//! The test of the whole: Debian's stock `/etc/kamailio/kamailio.cfg` (package `kamailio`),
//! unchanged, on ferrosip `-n 2` and on Kamailio. SIPp registers users through its
//! `route[REGISTRAR]`, calls them through `route[LOCATION]` (record-routed, `t_relay` with
//! its branch, reply and failure routes, accounting flags), and the in-dialog ACK and BYE
//! come back through `route[WITHINDLG]`'s `loose_route`. A call to a user nobody registered
//! gets the cfg's 404, an OPTIONS to the server its 200 Keepalive.
//!
//! The listen address comes from `-l` and the runtime folder (the RPC FIFO and control
//! socket the cfg's jsonrpcs and ctl modules open) from `-Y`, both command-line flags both
//! servers take, so the file itself is used as installed.

mod common;

use common::*;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// The tests share two cores: one load at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const STOCK: &str = "/etc/kamailio/kamailio.cfg";

/// Starts `server` ("ferrosip" or "kamailio") on the stock cfg, listening on UDP `port`.
fn start(server: &str, dir: &Path, port: u16) -> Proc {
    let run = dir.join("run");
    std::fs::create_dir_all(&run).unwrap();
    let listen = format!("udp:127.0.0.1:{port}");
    if server == "ferrosip" {
        return start_ferrosip(
            dir,
            Path::new(STOCK),
            &["-n", "2", "-l", &listen, "-Y", run.to_str().unwrap()],
            &[],
        );
    }
    let args: Vec<String> = ["-n", "2", "-m", "64", "-f", STOCK, "-l", &listen, "-Y"]
        .map(String::from)
        .into_iter()
        .chain([run.display().to_string()])
        .collect();
    start_kamailio_args(dir, &args, port)
}

/// Sends `msg` from a fresh socket and returns the first final response (or the last
/// provisional one after 3 s).
fn ask(target: SocketAddr, msg: &str) -> String {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let port = s.local_addr().unwrap().port();
    s.send_to(msg.replace("LPORT", &port.to_string()).as_bytes(), target)
        .unwrap();
    let mut buf = [0u8; 4096];
    let mut last = String::new();
    while let Ok((n, _)) = s.recv_from(&mut buf) {
        last = String::from_utf8_lossy(&buf[..n]).into_owned();
        if !last.starts_with("SIP/2.0 1") {
            break;
        }
    }
    last
}

fn stock(server: &str) {
    let _one = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir: PathBuf = scratch(&format!("stock-{server}"));
    let (proxy, uas, reg_port, uac_port) = (free_port(), free_port(), free_port(), free_port());
    let users = 200u32;
    let mut csv = String::from("SEQUENTIAL\n");
    let mut callees = String::from("SEQUENTIAL\n");
    for i in 0..users {
        csv.push_str(&format!("u{i:04};127.0.0.1:{uas}\n"));
        callees.push_str(&format!("u{i:04}\n"));
    }
    std::fs::write(dir.join("users.csv"), csv).unwrap();
    std::fs::write(dir.join("callees.csv"), callees).unwrap();
    let mut srv = start(server, &dir, proxy);
    let target: SocketAddr = format!("127.0.0.1:{proxy}").parse().unwrap();

    let r = ask(
        target,
        &format!(
            "OPTIONS sip:127.0.0.1:{proxy} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:LPORT;branch=z9hG4bK-o1;rport\r\n\
Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=o1\r\nTo: <sip:127.0.0.1:{proxy}>\r\n\
Call-ID: options-1@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        ),
    );
    assert!(
        r.starts_with("SIP/2.0 200 Keepalive"),
        "{server} OPTIONS: {r}"
    );

    let reg = run_sipp_uac_with(
        &dir,
        &scen("register.xml"),
        reg_port,
        "u1",
        target,
        200,
        users,
        &["-inf", "users.csv"],
    );
    assert_all_completed(&reg, users, &format!("{server} REGISTERs"), &srv);

    let r = ask(
        target,
        &format!(
            "INVITE sip:nobody@127.0.0.1:{proxy} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:LPORT;branch=z9hG4bK-n1;rport\r\n\
Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=n1\r\nTo: <sip:nobody@127.0.0.1:{proxy}>\r\n\
Call-ID: nobody-1@test\r\nCSeq: 1 INVITE\r\nContact: <sip:probe@127.0.0.1:LPORT>\r\nContent-Length: 0\r\n\r\n"
        ),
    );
    assert!(
        r.starts_with("SIP/2.0 404 Not Found"),
        "{server} unknown user: {r}"
    );

    let calls = call_registered(&dir, uas, uac_port, target, users);
    let st = srv.terminate(Duration::from_secs(10));
    assert_all_completed(&calls, users, &format!("{server} calls"), &srv);
    if server == "ferrosip" {
        assert!(st.is_some_and(|s| s.success()), "{}", srv.output());
        // The accounting the cfg asks for (FLT_ACC on INVITE and BYE): one line each.
        let log = srv.output();
        let acc = log.matches("ACC: transaction answered").count();
        assert!(acc >= 2 * users as usize, "{acc} acc lines:\n{log}");
    }
}

#[test]
fn debian_stock_cfg_runs_unchanged_on_ferrosip() {
    // The file comes with the kamailio package (the README's test command installs it).
    if !require("sipp") || !require("kamailio") {
        return;
    }
    assert!(
        Path::new(STOCK).exists(),
        "{STOCK} missing: reinstall the kamailio package"
    );
    stock("ferrosip");
}

#[test]
fn debian_stock_cfg_same_checks_on_kamailio() {
    if !require("sipp") || !require("kamailio") {
        return;
    }
    assert!(
        Path::new(STOCK).exists(),
        "{STOCK} missing: reinstall the kamailio package"
    );
    stock("kamailio");
}
