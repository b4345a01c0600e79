//! The command line and configuration checks, as an operator meets them.

mod common;

use common::*;
use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

fn ferrosip(args: &[&str]) -> std::process::Output {
    Command::new(ferrosip_bin()).args(args).output().unwrap()
}

#[test]
fn unknown_flag_is_a_usage_error() {
    let out = ferrosip(&["--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Usage"));
}

#[test]
fn version_and_check() {
    let out = ferrosip(&["-V"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("ferrosip"));
    let cfg = repo_root().join("deploy/examples/stateless-proxy.cfg");
    let out = ferrosip(&["-c", "-f", cfg.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn pkg_memory_flag_is_checked_like_kamailio() {
    let cfg = repo_root().join("deploy/examples/stateless-proxy.cfg");
    let cfg = cfg.to_str().unwrap();
    // `-M 0` is Kamailio's default size (8 MB), not an error.
    for ok in ["0", "1", "64"] {
        let out = ferrosip(&["-c", "-M", ok, "-f", cfg]);
        assert!(
            out.status.success(),
            "-M {ok}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for bad in ["abc", "1.5", "-1"] {
        let out = ferrosip(&["-c", "-M", bad, "-f", cfg]);
        assert_eq!(out.status.code(), Some(2), "-M {bad}");
    }
}

#[test]
fn config_errors_name_file_line_and_column() {
    let dir = scratch("cfgerr");
    let cfg = dir.join("bad.cfg");
    std::fs::write(
        &cfg,
        "#!KAMAILIO\nloadmodule \"sl.so\"\nrequest_route {\n\tno_such_function(\"x\");\n}\n",
    )
    .unwrap();
    let out = ferrosip(&["-c", "-f", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let want = format!("{}:4:2:", cfg.display());
    assert!(
        err.contains(&want) && err.contains("no_such_function"),
        "got: {err}"
    );
}

#[test]
fn cfg_print_shows_the_preprocessed_config() {
    let cfg = repo_root().join("deploy/examples/stateless-proxy.cfg");
    let out = ferrosip(&[
        "--cfg-print",
        "-f",
        cfg.to_str().unwrap(),
        "-A",
        "DST=\"sip:10.0.0.9:5070\"",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("request_route"), "{text}");
}

#[test]
fn example_config_runs_on_kamailio_too() {
    if !require("kamailio") {
        return;
    }
    let cfg = repo_root().join("deploy/examples/stateless-proxy.cfg");
    let out = Command::new("kamailio")
        .args(["-c", "-f"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kamailio -c rejects the example: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let anchor = repo_root().join("../shared/bench-anchor/cfg/stateless.cfg");
    if anchor.exists() {
        let out = ferrosip(&["-c", "-f", anchor.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// RFC 4475 §3.1.2.x / §3.3.x over a real socket: malformed requests get the status the RFC
/// discussion asks for, and ferrosip keeps serving.
#[test]
fn torture_messages_over_udp() {
    let torture = repo_root().join("../shared/testdata/sip-torture/rfc4475");
    if !torture.exists() {
        eprintln!("skipping: {} is absent", torture.display());
        return;
    }
    let dir = scratch("torture");
    let port = free_port();
    let listen = format!("udp:127.0.0.1:{port}");
    let cfg = repo_root().join("deploy/examples/stateless-proxy.cfg");
    let mut fs = start_ferrosip(&dir, &cfg, &["-n", "1", "-l", &listen], &[]);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    let me = sock.local_addr().unwrap();
    for (file, want) in [
        ("badvers.dat", "SIP/2.0 505"),
        ("scalar02.dat", "SIP/2.0 400"),
        ("unkscm.dat", "SIP/2.0 416"),
    ] {
        let data = std::fs::read(torture.join(file)).unwrap();
        // The torture Vias name hosts of example.com: point the top Via at this socket so
        // the answer (RFC 3261 §18.2.2, RFC 3581) comes back here.
        let via = format!("SIP/2.0/UDP {me};rport;branch=z9hG4bKt{file}");
        let data = replace_top_via(&data, &via);
        sock.send_to(&data, ("127.0.0.1", port)).unwrap();
        let mut buf = [0u8; 65535];
        let n = sock
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("{file}: no answer: {e}"));
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(text.starts_with(want), "{file}: got {text}");
    }
    let st = fs.terminate(Duration::from_secs(10));
    assert!(st.map(|s| s.success()).unwrap_or(false), "{}", fs.output());
}

/// Replaces the value of the first Via header line.
fn replace_top_via(msg: &[u8], via: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(msg).into_owned();
    let mut out = String::new();
    let mut done = false;
    for line in text.split_inclusive('\n') {
        let lower = line.to_ascii_lowercase();
        if !done && (lower.starts_with("via:") || lower.starts_with("v:")) {
            out.push_str(&format!("Via: {via}\r\n"));
            done = true;
        } else {
            out.push_str(line);
        }
    }
    out.into_bytes()
}
