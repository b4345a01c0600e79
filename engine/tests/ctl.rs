//! End-to-end control interface: ferrosip loads Kamailio's `jsonrpcs`, `ctl`, `counters` and
//! `cfg_rpc` with `-Y <dir>`; Debian's `kamcmd` (when installed) and hand-written BINRPC and
//! JSON-RPC clients (FIFO and datagram socket) read real figures: the requests this test
//! sent, the REGISTER it made, the location table.

mod common;

use common::*;
use std::io::Read;
use std::net::UdpSocket;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const CFG: &str = r#"#!KAMAILIO
listen=LISTEN
loadmodule "sl.so"
loadmodule "textops.so"
loadmodule "tm.so"
loadmodule "kex.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "jsonrpcs.so"
loadmodule "ctl.so"
loadmodule "cfg_rpc.so"
loadmodule "counters.so"
modparam("jsonrpcs", "pretty_format", 1)
modparam("jsonrpcs", "fifo_reply_dir", "REPLYDIR")
request_route {
	if (is_method("REGISTER")) {
		if (!save("location")) { sl_reply_error(); }
		exit;
	}
	if (is_method("OPTIONS")) { sl_send_reply("200", "OK"); exit; }
	sl_send_reply("404", "Not Found");
}
"#;

fn request(method: &str, proxy: u16, me: u16, n: u32) -> String {
    format!(
        "{method} sip:127.0.0.1:{proxy} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bKctl{n}\r\n\
         From: <sip:alice@127.0.0.1>;tag={n}\r\n\
         To: <sip:alice@127.0.0.1>\r\n\
         Call-ID: ctl-{n}@test\r\n\
         CSeq: 1 {method}\r\n\
         Contact: <sip:alice@127.0.0.1:{me}>;expires=600\r\n\
         User-Agent: ctl-test\r\n\
         Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// Polls `f` until it returns `Some` (the workers publish their counters after each batch).
fn eventually<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn kamcmd(sock: &Path, args: &[&str]) -> String {
    let out = Command::new("kamcmd")
        .arg("-s")
        .arg(format!("unix:{}", sock.display()))
        .args(args)
        .output()
        .expect("kamcmd runs");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// One JSON-RPC request over the jsonrpcs FIFO, as kamctl does it: a reply FIFO named in
/// `reply_name`, read until the server closes it.
fn fifo_rpc(run: &Path, reply_dir: &Path, n: u32, method: &str, params: &str) -> serde_json::Value {
    let name = format!("reply-{n}.fifo");
    let reply = reply_dir.join(&name);
    let _ = std::fs::remove_file(&reply);
    assert!(Command::new("mkfifo")
        .arg(&reply)
        .status()
        .unwrap()
        .success());
    let reader = std::thread::spawn({
        let reply = reply.clone();
        move || {
            let mut s = String::new();
            std::fs::File::open(&reply)
                .unwrap()
                .read_to_string(&mut s)
                .unwrap();
            s
        }
    });
    // A multi-line document, as kamctl's heredocs write it.
    let req = format!(
        "{{\n  \"jsonrpc\": \"2.0\",\n  \"method\": \"{method}\",\n  \"params\": [{params}],\n  \"reply_name\": \"{name}\",\n  \"id\": {n}\n}}\n"
    );
    std::fs::write(run.join("kamailio_rpc.fifo"), req).unwrap();
    let text = reader.join().unwrap();
    let _ = std::fs::remove_file(&reply);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad reply {text:?}: {e}"))
}

fn dgram_rpc(run: &Path, client: &UnixDatagram, doc: &str) -> serde_json::Value {
    client
        .send_to(doc.as_bytes(), run.join("kamailio_rpc.sock"))
        .unwrap();
    let mut buf = vec![0u8; 65536];
    let n = client.recv(&mut buf).unwrap();
    serde_json::from_slice(&buf[..n]).unwrap()
}

fn stat(v: &serde_json::Value) -> Option<String> {
    v["result"][0].as_str().map(str::to_string)
}

#[test]
fn kamcmd_and_jsonrpc_read_real_figures() {
    let dir = scratch("ctl");
    let run = dir.join("run");
    let (proxy, me) = (free_port(), free_port());
    let cfg = dir.join("ctl.cfg");
    std::fs::write(
        &cfg,
        CFG.replace("LISTEN", &format!("udp:127.0.0.1:{proxy}"))
            .replace("REPLYDIR", &format!("{}/", dir.display())),
    )
    .unwrap();
    let mut fs = start_ferrosip(&dir, &cfg, &["-n", "2", "-Y", run.to_str().unwrap()], &[]);
    let ctl = run.join("kamailio_ctl");
    assert!(
        eventually(Duration::from_secs(5), || ctl.exists().then_some(())).is_some(),
        "no ctl socket:\n{}",
        fs.output()
    );

    // Three OPTIONS and one REGISTER, each answered.
    let udp = UdpSocket::bind(("127.0.0.1", me)).unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    for n in 0..4u32 {
        let m = if n == 3 { "REGISTER" } else { "OPTIONS" };
        udp.send_to(request(m, proxy, me, n).as_bytes(), ("127.0.0.1", proxy))
            .unwrap();
        let mut buf = [0u8; 4096];
        let len = udp.recv(&mut buf).expect("a reply");
        assert!(
            buf[..len].starts_with(b"SIP/2.0 200"),
            "{}",
            String::from_utf8_lossy(&buf[..len])
        );
    }

    // BINRPC, hand-written: kamcmd's `core.version` packet (captured from kamcmd 5.6).
    let mut s = UnixStream::connect(&ctl).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    std::io::Write::write_all(
        &mut s,
        &[
            0xa1, 0x03, 0x0f, 0x5b, 0x96, 0xa5, 0xfe, 0x91, 0x0d, b'c', b'o', b'r', b'e', b'.',
            b'v', b'e', b'r', b's', b'i', b'o', b'n', 0,
        ],
    )
    .unwrap();
    let mut reply = [0u8; 256];
    let n = s.read(&mut reply).unwrap();
    assert_eq!(&reply[..2], &[0xa1, 0x13], "a reply, no error flag");
    assert_eq!(&reply[3..7], &[0x5b, 0x96, 0xa5, 0xfe], "cookie echoed");
    assert!(String::from_utf8_lossy(&reply[7..n]).contains("ferrosip "));
    drop(s);

    if have("kamcmd") {
        assert!(kamcmd(&ctl, &["core.version"]).starts_with("ferrosip "));
        let all = eventually(Duration::from_secs(3), || {
            let out = kamcmd(&ctl, &["stats.get_statistics", "all"]);
            out.contains("core:rcv_requests = 4").then_some(out)
        })
        .unwrap_or_else(|| kamcmd(&ctl, &["stats.get_statistics", "all"]));
        for line in [
            "core:rcv_requests = 4",
            "core:rcv_replies = 0",
            "registrar:accepted_regs = 1",
            "usrloc:registered_users = 1",
            "usrloc:location_contacts = 1",
            "tm:current = 0",
        ] {
            assert!(all.lines().any(|l| l == line), "{line} missing in:\n{all}");
        }
        let dump = kamcmd(&ctl, &["ul.dump"]);
        assert!(dump.contains("AoR: alice"), "{dump}");
        assert!(
            dump.contains(&format!("Address: sip:alice@127.0.0.1:{me}")),
            "{dump}"
        );
        assert!(dump.contains("User-Agent: ctl-test"), "{dump}");
        assert!(kamcmd(&ctl, &["cnt.get", "core", "rcv_requests"]).starts_with('4'));
        assert!(kamcmd(&ctl, &["bogus.cmd"]).contains("500 - command bogus.cmd not found"));
        let psx = kamcmd(&ctl, &["core.psx"]);
        assert_eq!(psx.matches("DSC: worker").count(), 2, "{psx}");
    } else {
        eprintln!("kamcmd is not installed: BINRPC checked with the hand-written client only");
    }

    // JSON-RPC over the FIFO.
    let v = eventually(Duration::from_secs(3), || {
        let v = fifo_rpc(&run, &dir, 1, "stats.get_statistics", "\"rcv_requests\"");
        (stat(&v).as_deref() == Some("core:rcv_requests = 4")).then_some(v)
    })
    .unwrap_or_else(|| fifo_rpc(&run, &dir, 2, "stats.get_statistics", "\"rcv_requests\""));
    assert_eq!(stat(&v).as_deref(), Some("core:rcv_requests = 4"), "{v}");
    assert_eq!(v["jsonrpc"], "2.0");
    // kex's per-method and sl's per-code statistics, published with the totals.
    let v = fifo_rpc(
        &run,
        &dir,
        5,
        "stats.get_statistics",
        "\"rcv_requests_options\", \"sl:200_replies\"",
    );
    assert_eq!(
        v["result"],
        serde_json::json!(["core:rcv_requests_options = 3", "sl:200_replies = 4"]),
        "{v}"
    );
    let v = fifo_rpc(&run, &dir, 3, "ul.lookup", "\"location\", \"alice\"");
    assert_eq!(
        v["result"]["Contacts"][0]["Contact"]["Address"],
        format!("sip:alice@127.0.0.1:{me}"),
        "{v}"
    );
    let v = fifo_rpc(&run, &dir, 4, "cfg.get", "\"core\", \"nope\"");
    assert_eq!(v["error"]["code"], 400, "{v}");

    // JSON-RPC over the datagram socket, and a malformed request.
    let client_path = dir.join("client.sock");
    let client = UnixDatagram::bind(&client_path).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let v = dgram_rpc(
        &run,
        &client,
        r#"{"jsonrpc":"2.0","method":"core.version","id":5}"#,
    );
    assert!(
        v["result"].as_str().unwrap().starts_with("ferrosip "),
        "{v}"
    );
    assert_eq!(v["id"], 5);
    let v = dgram_rpc(&run, &client, "{not json");
    assert_eq!(v["error"]["code"], -32700, "{v}");
    let v = dgram_rpc(
        &run,
        &client,
        r#"{"jsonrpc":"2.0","method":"cnt.grp_get_all","params":["registrar"],"id":6}"#,
    );
    assert_eq!(v["result"]["accepted_regs"], 1, "{v}");

    // A clean exit removes the sockets and the FIFO.
    let st = fs.terminate(Duration::from_secs(10)).expect("exits");
    assert!(st.success(), "{}", fs.output());
    for f in ["kamailio_ctl", "kamailio_rpc.sock", "kamailio_rpc.fifo"] {
        assert!(!run.join(f).exists(), "{f} left behind");
    }
}

#[test]
fn a_control_path_that_cannot_be_created_stops_the_start() {
    let dir = scratch("ctl-bad");
    let cfg = dir.join("ctl.cfg");
    let port = free_port();
    std::fs::write(
        &cfg,
        format!(
            "listen=udp:127.0.0.1:{port}\nloadmodule \"sl.so\"\nloadmodule \"ctl.so\"\n\
             request_route {{ sl_send_reply(\"404\", \"Not Found\"); }}\n"
        ),
    )
    .unwrap();
    // The runtime directory would have to be created under a regular file.
    let file = dir.join("plain-file");
    std::fs::write(&file, "x").unwrap();
    let mut cmd = Command::new(ferrosip_bin());
    cmd.arg("-f")
        .arg(&cfg)
        .args(["-n", "1", "-Y"])
        .arg(file.join("run"));
    let mut p = Proc::spawn("ferrosip", cmd, dir.join("ferrosip.log"));
    let st = p
        .wait_exit(Duration::from_secs(10))
        .expect("exits by itself");
    assert!(!st.success());
    let log = p.output();
    assert!(
        log.contains("control interface: cannot create the runtime directory"),
        "{log}"
    );
}
