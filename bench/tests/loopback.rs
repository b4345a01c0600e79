//! End-to-end runs on 127.0.0.1: ferrosip-bench against itself, against SIPp's `uas` and
//! against a SIPp registrar that checks our digest responses (`scen/registrar_auth_uas.xml`).
//! Every run is bounded (call count, `--duration`/`-timeout`, and a wall-clock limit after
//! which the child is killed), uses free ports, and kills only the processes it started.
//! SIPp missing is a failure unless FERROSIP_ALLOW_SKIP=1.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ferrosip-bench");

/// A background process killed (by its PID) when dropped.
struct Bg(Child);

impl Drop for Bg {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port free for UDP and TCP on 127.0.0.1 right now.
fn free_port() -> u16 {
    for _ in 0..100 {
        let u = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let p = u.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
    }
    panic!("no free port");
}

/// A scratch folder removed when dropped.
struct TmpDir(PathBuf);

impl std::ops::Deref for TmpDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TmpDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tmpdir(name: &str) -> TmpDir {
    let d = std::env::temp_dir().join(format!("ferrosip-bench-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    TmpDir(d)
}

/// Runs ferrosip-bench to its end (killed after `limit`), returns (exit code, stdout).
fn run(args: &[&str], limit: Duration) -> (i32, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            let mut out = String::new();
            use std::io::Read;
            child
                .stdout
                .take()
                .unwrap()
                .read_to_string(&mut out)
                .unwrap();
            print!("{out}");
            return (st.code().unwrap_or(-1), out);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ferrosip-bench {args:?} did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn bg_uas(port: u16, extra: &[&str]) -> Bg {
    let p = port.to_string();
    let mut args = vec![
        "-sn",
        "uas",
        "-i",
        "127.0.0.1",
        "-p",
        &p,
        "--duration",
        "60",
    ];
    args.extend_from_slice(extra);
    let c = Command::new(BIN)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    Bg(c)
}

fn sipp_available() -> bool {
    if Command::new("sipp")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
    {
        return true;
    }
    if std::env::var("FERROSIP_ALLOW_SKIP").as_deref() == Ok("1") {
        eprintln!("sipp not installed: skipped (FERROSIP_ALLOW_SKIP=1)");
        return false;
    }
    panic!("sipp is required (Debian package sip-tester); set FERROSIP_ALLOW_SKIP=1 to skip");
}

fn bg_sipp(dir: &Path, port: u16, scen: &[&str]) -> Bg {
    let p = port.to_string();
    let mut args: Vec<&str> = scen.to_vec();
    args.extend_from_slice(&[
        "-i",
        "127.0.0.1",
        "-p",
        &p,
        "-bind_local",
        "-nostdin",
        "-timeout",
        "60s",
    ]);
    let c = Command::new("sipp")
        .args(&args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    Bg(c)
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn assert_clean(v: &Value, calls: u64, kinds: &[&str]) {
    assert_eq!(v["completed"], calls, "{v:#}");
    assert_eq!(v["failed"], 0, "{v:#}");
    assert!(v["rate_achieved"].as_f64().unwrap() > 0.0);
    for k in kinds {
        assert_eq!(v["latency_us"][k]["count"], calls, "{k}: {v:#}");
        let p50 = v["latency_us"][k]["p50"].as_u64().unwrap();
        let p99 = v["latency_us"][k]["p99"].as_u64().unwrap();
        assert!(p50 > 0 && p50 <= p99, "{k}: {v:#}");
    }
}

#[test]
fn uac_against_own_uas_500_calls_at_200() {
    let port = free_port();
    let _uas = bg_uas(port, &[]);
    let dir = tmpdir("own");
    let json = dir.join("uac.json");
    let html = dir.join("uac.html");
    let remote = format!("127.0.0.1:{port}");
    let (code, out) = run(
        &[
            "-sn",
            "uac",
            "-r",
            "200",
            "-m",
            "500",
            "--json",
            json.to_str().unwrap(),
            "--report",
            html.to_str().unwrap(),
            &remote,
        ],
        Duration::from_secs(60),
    );
    assert_eq!(code, 0, "{out}");
    assert_clean(&read_json(&json), 500, &["invite", "bye"]);
    let h = std::fs::read_to_string(&html).unwrap();
    assert!(
        h.contains("<svg")
            && h.contains("Latency distribution")
            && !h.contains("http://www.w3.org/1999/xhtml\" src")
    );
}

/// The same calls with segmentation offload off on both sides (each datagram its own send,
/// no GRO), and with it off on one side only: what a peer receives does not depend on it.
#[test]
fn uac_against_own_uas_with_and_without_gso() {
    for (uas_flags, uac_gso) in [
        (&["--no-gso"][..], false),
        (&["--no-gso"][..], true),
        (&[][..], false),
    ] {
        let port = free_port();
        let _uas = bg_uas(port, uas_flags);
        let dir = tmpdir("gso");
        let json = dir.join("uac.json");
        let remote = format!("127.0.0.1:{port}");
        let mut args = vec![
            "-sn",
            "uac",
            "-r",
            "400",
            "-m",
            "400",
            "--json",
            json.to_str().unwrap(),
        ];
        if !uac_gso {
            args.push("--no-gso");
        }
        args.push(&remote);
        let (code, out) = run(&args, Duration::from_secs(60));
        assert_eq!(code, 0, "{uas_flags:?} uac gso {uac_gso}: {out}");
        assert_clean(&read_json(&json), 400, &["invite", "bye"]);
    }
}

#[test]
fn uac_over_tcp_two_workers_with_hold() {
    let port = free_port();
    let _uas = bg_uas(port, &["-t", "t1", "-n", "2"]);
    let dir = tmpdir("tcp");
    let json = dir.join("tcp.json");
    let remote = format!("127.0.0.1:{port}");
    let (code, out) = run(
        &[
            "-sn",
            "uac",
            "-t",
            "t1",
            "-n",
            "2",
            "-r",
            "1000",
            "-m",
            "1000",
            "-d",
            "50",
            "-l",
            "100",
            "--json",
            json.to_str().unwrap(),
            &remote,
        ],
        Duration::from_secs(60),
    );
    assert_eq!(code, 0, "{out}");
    let v = read_json(&json);
    assert_clean(&v, 1000, &["invite", "bye"]);
    assert_eq!(v["retransmissions"], 0, "no retransmissions on TCP");
}

#[test]
fn register_options_message_against_own_uas_registrar() {
    let port = free_port();
    let _uas = bg_uas(
        port,
        &[
            "--users",
            "user%d@example.com",
            "1-1000",
            "--password",
            "pw%d",
        ],
    );
    let dir = tmpdir("reg");
    let remote = format!("127.0.0.1:{port}");
    let json = dir.join("reg.json");
    let j = json.to_str().unwrap();
    let (code, out) = run(
        &[
            "-sn",
            "register",
            "-r",
            "300",
            "-m",
            "300",
            "--users",
            "user%d@example.com",
            "1-1000",
            "--password",
            "pw%d",
            "--reg-then",
            "unregister",
            "--json",
            j,
            &remote,
        ],
        Duration::from_secs(60),
    );
    assert_eq!(code, 0, "{out}");
    assert_clean(&read_json(&json), 300, &["register", "refresh"]);
    // Wrong password: every registration fails with the 403, counted by reason.
    let (code, _) = run(
        &[
            "-sn",
            "register",
            "-r",
            "100",
            "-m",
            "20",
            "--users",
            "user%d@example.com",
            "1-1000",
            "--password",
            "nope",
            "--json",
            j,
            &remote,
        ],
        Duration::from_secs(60),
    );
    assert_eq!(code, 1);
    let v = read_json(&json);
    assert_eq!(v["failed"], 20);
    assert_eq!(v["failed_by_reason"]["unexpected_status"], 20);
    for sn in ["options", "message"] {
        let (code, out) = run(
            &["-sn", sn, "-r", "200", "-m", "100", "--json", j, &remote],
            Duration::from_secs(60),
        );
        assert_eq!(code, 0, "{out}");
        assert_clean(&read_json(&json), 100, &[sn]);
    }
}

#[test]
fn register_without_qop_against_own_uas_from_csv() {
    let port = free_port();
    let dir = tmpdir("csv");
    let csv = dir.join("users.csv");
    std::fs::write(
        &csv,
        "SEQUENTIAL\nalice;example.com;s3cret\nbob;example.com;hunter2\n",
    )
    .unwrap();
    let c = csv.to_str().unwrap();
    let _uas = bg_uas(port, &["--inf", c, "--qop", "none"]);
    let json = dir.join("csv.json");
    let remote = format!("127.0.0.1:{port}");
    let (code, out) = run(
        &[
            "-sn",
            "register",
            "-r",
            "100",
            "-m",
            "50",
            "-inf",
            c,
            "--reg-then",
            "refresh",
            "--json",
            json.to_str().unwrap(),
            &remote,
        ],
        Duration::from_secs(60),
    );
    assert_eq!(code, 0, "{out}");
    assert_clean(&read_json(&json), 50, &["register", "refresh"]);
}

#[test]
fn uac_against_sipp_uas() {
    if !sipp_available() {
        return;
    }
    let port = free_port();
    let dir = tmpdir("sipp-uas");
    let _sipp = bg_sipp(&dir, port, &["-sn", "uas"]);
    let json = dir.join("uac.json");
    let remote = format!("127.0.0.1:{port}");
    let (code, out) = run(
        &[
            "-sn",
            "uac",
            "-r",
            "200",
            "-m",
            "500",
            "--json",
            json.to_str().unwrap(),
            &remote,
        ],
        Duration::from_secs(60),
    );
    assert_eq!(code, 0, "{out}");
    assert_clean(&read_json(&json), 500, &["invite", "bye"]);
}

#[test]
fn register_digest_against_sipp_registrar() {
    if !sipp_available() {
        return;
    }
    let port = free_port();
    let dir = tmpdir("sipp-reg");
    let scen = concat!(env!("CARGO_MANIFEST_DIR"), "/scen/registrar_auth_uas.xml");
    let _sipp = bg_sipp(&dir, port, &["-sf", scen]);
    let json = dir.join("reg.json");
    let j = json.to_str().unwrap();
    let remote = format!("127.0.0.1:{port}");
    let (code, out) = run(
        &[
            "-sn",
            "register",
            "-r",
            "200",
            "-m",
            "200",
            "--users",
            "user%d@example.com",
            "1-10000",
            "--password",
            "secret",
            "--json",
            j,
            &remote,
        ],
        Duration::from_secs(60),
    );
    assert_eq!(code, 0, "{out}");
    assert_clean(&read_json(&json), 200, &["register"]);
    // SIPp's verifyauth rejects a wrong password with 403.
    let (code, _) = run(
        &[
            "-sn",
            "register",
            "-r",
            "100",
            "-m",
            "10",
            "--users",
            "user%d@example.com",
            "1-10",
            "--password",
            "wrong",
            "--json",
            j,
            &remote,
        ],
        Duration::from_secs(60),
    );
    assert_eq!(code, 1);
    assert_eq!(
        read_json(&json)["failed_by_reason"]["unexpected_status"],
        10
    );
}

#[test]
fn timeouts_and_retransmissions_counted_without_a_peer() {
    // Nothing listens: every INVITE is retransmitted on Timer A and times out (Timer B,
    // shortened with --timeout-ms).
    let port = free_port();
    let dir = tmpdir("timeout");
    let json = dir.join("t.json");
    let remote = format!("127.0.0.1:{port}");
    let (code, _) = run(
        &[
            "-sn",
            "uac",
            "-r",
            "50",
            "-m",
            "10",
            "--t1",
            "50",
            "--timeout-ms",
            "400",
            "--json",
            json.to_str().unwrap(),
            &remote,
        ],
        Duration::from_secs(30),
    );
    assert_eq!(code, 1);
    let v = read_json(&json);
    assert_eq!(v["failed"], 10);
    assert_eq!(v["failed_by_reason"]["timeout"], 10);
    // A at 50, 150, 350 ms (then B at 400): 3 retransmissions per call.
    let r = v["retransmissions"].as_u64().unwrap();
    assert!((20..=30).contains(&r), "retransmissions {r}");
}

#[test]
fn find_max_steps_and_reports() {
    let port = free_port();
    let _uas = bg_uas(port, &[]);
    let dir = tmpdir("findmax");
    let json = dir.join("fm.json");
    let remote = format!("127.0.0.1:{port}");
    let (code, out) = run(
        &[
            "-sn",
            "options",
            "--find-max",
            "-r",
            "100",
            "--step-secs",
            "0.5",
            "--find-max-limit",
            "400",
            "--bisect",
            "0",
            "--max-p99-ms",
            "1000",
            "--json",
            json.to_str().unwrap(),
            &remote,
        ],
        Duration::from_secs(60),
    );
    // 100, 200, 400/s; on a loaded machine a later step may miss the 95 % bar, so only the
    // first (light) step must pass.
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("max sustainable rate: "), "{out}");
    let v = read_json(&json);
    let max = v["find_max"]["max_rate"].as_f64().unwrap();
    assert!([100.0, 200.0, 400.0].contains(&max), "{v:#}");
    let steps = v["find_max"]["steps"].as_array().unwrap();
    assert!(!steps.is_empty() && steps.len() <= 3, "{v:#}");
    assert_eq!(steps[0]["rate"], 100.0);
    assert_eq!(steps[0]["pass"], true);
    assert!(v["latency_us"]["options"]["count"].as_u64().unwrap() >= 50);
}

/// A proxy (Kamailio, ferrosip) stopped with SIGTERM (Kamailio stops its children), SIGKILL
/// after 5 s; by PID only.
struct Proxy(Child);

impl Drop for Proxy {
    fn drop(&mut self) {
        let pid = self.0.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The anchor's htable registrar (`bench-anchor/cfg/registrar_auth_ht.cfg`) with its
/// credentials written to a fresh db_text folder: (cfg path, work dir, db_text folder), or
/// `None` when `../shared/bench-anchor` is missing and `FERROSIP_ALLOW_SKIP=1`.
fn htable_registrar(name: &str) -> Option<(&'static str, TmpDir, PathBuf)> {
    let cfg = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/bench-anchor/cfg/registrar_auth_ht.cfg"
    );
    if !Path::new(cfg).exists() {
        if std::env::var("FERROSIP_ALLOW_SKIP").as_deref() == Ok("1") {
            eprintln!("shared/bench-anchor missing: skipped (FERROSIP_ALLOW_SKIP=1)");
            return None;
        }
        panic!("shared/bench-anchor/cfg is required; FERROSIP_ALLOW_SKIP=1 skips");
    }
    // The htable credentials the cfg loads (gen_users.py's format): u000001..u000200,
    // realm 127.0.0.1, password pw000001...
    let dir = tmpdir(name);
    let db = dir.join("dbtext");
    std::fs::create_dir_all(&db).unwrap();
    let mut ht = String::from("id(int,auto) key_name(string) key_type(int) value_type(int) key_value(string) expires(int) \n");
    for i in 1..=200 {
        let (u, p) = (format!("u{i:06}"), format!("pw{i:06}"));
        let ha1 = ferrosip_bench::digest::md5_hex(&[&u, ":127.0.0.1:", &p]);
        ht.push_str(&format!("{i}:{u}:0:0:{ha1}:0\n"));
    }
    std::fs::write(db.join("htable"), ht).unwrap();
    std::fs::write(
        db.join("version"),
        "id(int,auto) table_name(string) table_version(int) \n1:version:1\n2:htable:2\n",
    )
    .unwrap();
    Some((cfg, dir, db))
}

/// 200 users register with digest auth (401, then credentials), refresh and unregister;
/// then 10 with a wrong password all fail.
fn register_digest_against(dir: &Path, port: u16) {
    let json = dir.join("reg.json");
    let j = json.to_str().unwrap();
    let remote = format!("127.0.0.1:{port}");
    let users = ["--users", "u%06d@127.0.0.1", "1-200"];
    let mut args = vec![
        "-sn",
        "register",
        "-r",
        "200",
        "-m",
        "200",
        "--password",
        "pw%06d",
    ];
    args.extend_from_slice(&users);
    args.extend_from_slice(&["--reg-then", "unregister", "--json", j, &remote]);
    let (code, out) = run(&args, Duration::from_secs(60));
    assert_eq!(code, 0, "{out}");
    assert_clean(&read_json(&json), 200, &["register", "refresh"]);
    let mut bad = vec![
        "-sn",
        "register",
        "-r",
        "100",
        "-m",
        "10",
        "--password",
        "nope",
    ];
    bad.extend_from_slice(&users);
    bad.extend_from_slice(&["--json", j, &remote]);
    let (code, _) = run(&bad, Duration::from_secs(60));
    assert_eq!(code, 1);
    assert_eq!(read_json(&json)["failed"], 10);
}

#[test]
fn register_digest_against_kamailio_htable_registrar() {
    let have_kam = Command::new("kamailio")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !have_kam {
        if std::env::var("FERROSIP_ALLOW_SKIP").as_deref() == Ok("1") {
            eprintln!("kamailio missing: skipped (FERROSIP_ALLOW_SKIP=1)");
            return;
        }
        panic!("kamailio (Debian kamailio) is required; FERROSIP_ALLOW_SKIP=1 skips");
    }
    let Some((cfg, dir, db)) = htable_registrar("kam") else {
        return;
    };
    let port = free_port();
    let child = Command::new("timeout")
        .args([
            "-s", "TERM", "60", "kamailio", "-DD", "-E", "-f", cfg, "-n", "1", "-m", "64",
        ])
        .arg("-A")
        .arg(format!("LISTEN=udp:127.0.0.1:{port}"))
        .arg("-A")
        .arg(format!("DBURL=\"text://{}\"", db.display()))
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _kam = Proxy(child);
    std::thread::sleep(Duration::from_millis(1500));
    register_digest_against(&dir, port);
}

/// The same cfg file, unchanged, on ferrosip (`-n 2`: the REGISTERs of one user land on
/// different workers, the location table is shared).
#[test]
fn register_digest_against_ferrosip_htable_registrar() {
    let Some(bin) = ferrosip_proxy_bin() else {
        eprintln!(
            "SKIPPED register_digest_against_ferrosip_htable_registrar: no ferrosip binary next \
             to this test's profile folder; build it with `cargo build [--release] -p ferrosip` \
             or run `cargo test --workspace`"
        );
        return;
    };
    let Some((cfg, dir, db)) = htable_registrar("fs-reg") else {
        return;
    };
    let port = free_port();
    let log = dir.join("ferrosip.log");
    let f = std::fs::File::create(&log).unwrap();
    let child = Command::new(bin)
        .args(["-f", cfg, "-n", "2", "-m", "64"])
        .arg("-A")
        .arg(format!("LISTEN=udp:127.0.0.1:{port}"))
        .arg("-A")
        .arg(format!("DBURL=\"text://{}\"", db.display()))
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(f.try_clone().unwrap()))
        .stderr(Stdio::from(f))
        .spawn()
        .unwrap();
    let mut proxy = Proxy(child);
    wait_bound(&mut proxy, port, &log);
    register_digest_against(&dir, port);
}

/// Waits until `proxy` holds UDP `port` (a plain bind then fails), within 10 s.
fn wait_bound(proxy: &mut Proxy, port: u16, log: &Path) {
    let start = Instant::now();
    while std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
        if let Ok(Some(st)) = proxy.0.try_wait() {
            panic!(
                "ferrosip exited ({st}):\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "ferrosip did not bind 127.0.0.1:{port}:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
}

/// The ferrosip proxy binary of this build: `target/<profile>/ferrosip`, next to the folder
/// of this test binary (`target/<profile>/deps/`), so it follows `--release` and
/// CARGO_TARGET_DIR. `cargo test --workspace` builds it (the engine's tests need it); with
/// `-p ferrosip-bench` alone it may be missing or older than the sources.
fn ferrosip_proxy_bin() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let profile_dir = exe.parent()?.parent()?;
    let p = profile_dir.join("ferrosip");
    p.is_file().then_some(p)
}

/// A ferrosip proxy on `port` running `cfg` (a deploy/examples file) towards the uas on
/// `dst`, logging to `log`; stopped by PID when dropped (TERM, then KILL).
fn bg_ferrosip(bin: &Path, cfg: &str, port: u16, dst: u16, log: &Path) -> Proxy {
    let f = std::fs::File::create(log).unwrap();
    let child = Command::new(bin)
        .args(["-f", cfg, "-n", "1", "-m", "64"])
        .arg("-A")
        .arg(format!("LISTEN=udp:127.0.0.1:{port}"))
        .arg("-A")
        .arg(format!("DST=\"sip:127.0.0.1:{dst}\""))
        .stdin(Stdio::null())
        .stdout(Stdio::from(f.try_clone().unwrap()))
        .stderr(Stdio::from(f))
        .spawn()
        .unwrap();
    let mut proxy = Proxy(child);
    wait_bound(&mut proxy, port, log);
    proxy
}

/// 200 calls at 100/s: bench uac → ferrosip (`cfg`) → bench uas, all on 127.0.0.1.
fn uac_through_ferrosip(name: &str, cfg: &str) {
    let Some(bin) = ferrosip_proxy_bin() else {
        eprintln!(
            "SKIPPED {name}: no ferrosip binary next to this test's profile folder; \
             build it with `cargo build [--release] -p ferrosip` or run `cargo test --workspace`"
        );
        return;
    };
    let cfg = format!("{}/../deploy/examples/{cfg}", env!("CARGO_MANIFEST_DIR"));
    let dir = tmpdir(name);
    let (pport, uport) = (free_port(), free_port());
    let _uas = bg_uas(uport, &[]);
    let _proxy = bg_ferrosip(&bin, &cfg, pport, uport, &dir.join("ferrosip.log"));
    let json = dir.join("uac.json");
    let remote = format!("127.0.0.1:{pport}");
    let (code, out) = run(
        &[
            "-sn",
            "uac",
            "-i",
            "127.0.0.1",
            "-r",
            "100",
            "-m",
            "200",
            "--timeout-ms",
            "8000",
            "--json",
            json.to_str().unwrap(),
            &remote,
        ],
        Duration::from_secs(60),
    );
    let log = std::fs::read_to_string(dir.join("ferrosip.log")).unwrap_or_default();
    assert_eq!(code, 0, "{out}\nferrosip log:\n{log}");
    let v = read_json(&json);
    assert_clean(&v, 200, &["invite", "bye"]);
    assert_eq!(v["stray"], 0, "{v:#}");
    assert_eq!(v["parse_errors"], 0, "{v:#}");
}

#[test]
fn uac_through_ferrosip_stateless_proxy() {
    uac_through_ferrosip("ferrosip-stateless", "stateless-proxy.cfg");
}

/// The stateful example record-routes INVITEs and answers in-dialog requests that do not
/// loose-route through it with 404: clean BYEs mean the uac sent ACK and BYE with the Route
/// set from the 2xx's Record-Route (RFC 3261 §12.1.2, §12.2.1.1).
#[test]
fn uac_through_ferrosip_stateful_proxy_follows_record_route() {
    uac_through_ferrosip("ferrosip-stateful", "stateful-proxy.cfg");
}
