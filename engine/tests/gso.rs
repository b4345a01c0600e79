//! A peer that sends a run of equal-sized datagrams as one segmentation-offload send
//! (`UDP_SEGMENT`, as ferrosip-bench does): the kernel chooses the receiving worker's socket
//! by the run's first datagram and cuts the run apart there. Every request must still be
//! forwarded, and routed by the worker that owns its Call-ID (ARCHITECTURE.md §3), in both
//! steering modes.

mod common;

use common::*;
use ferrosip_transports::sock::bind_udp;
use ferrosip_transports::steer::owner_of;
use ferrosip_transports::udp::{send_batch_gso, Gso, RecvBatch};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

/// Requests in the run: more than one `recvmmsg` batch.
const RUN: usize = 48;

fn gso_run_is_forwarded_by_each_calls_owner(steering: &str) {
    let dir = scratch(&format!("gso-{steering}"));
    let (proxy, dst_port) = (free_port(), free_port());
    let dst = bind_udp(format!("127.0.0.1:{dst_port}").parse().unwrap()).unwrap();
    let dst_arg = format!("DST=\"sip:127.0.0.1:{dst_port}\"");
    let listen = format!("udp:127.0.0.1:{proxy}");
    let args = [
        "-n",
        "2",
        "-A",
        &dst_arg,
        "-l",
        &listen,
        "--steering",
        steering,
    ];
    let env = [("FERROSIP_LOG", "warn,ferrosip::affinity=trace")];
    let mut fs = start_ferrosip(
        &dir,
        &repo_root().join("deploy/examples/stateless-proxy.cfg"),
        &args,
        &env,
    );

    let uac = bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
    let uac_addr = uac.local_addr().unwrap().as_socket().unwrap();
    let target: SocketAddr = format!("127.0.0.1:{proxy}").parse().unwrap();
    // Fixed-width Call-IDs and branches: every request has the same size, so the whole run
    // leaves in one send.
    let msgs: Vec<Vec<u8>> = (0..RUN)
        .map(|i| {
            format!(
                "MESSAGE sip:svc@127.0.0.1:{dst_port} SIP/2.0\r\n\
                 Via: SIP/2.0/UDP {uac_addr};branch=z9hG4bK-gso-{i:04}\r\n\
                 Max-Forwards: 70\r\n\
                 From: <sip:a@127.0.0.1>;tag=f{i:04}\r\n\
                 To: <sip:svc@127.0.0.1>\r\n\
                 Call-ID: gso-{i:04}@127.0.0.1\r\n\
                 CSeq: 1 MESSAGE\r\n\
                 Content-Length: 0\r\n\r\n"
            )
            .into_bytes()
        })
        .collect();
    assert!(msgs.windows(2).all(|w| w[0].len() == w[1].len()));
    let mut gso = Gso::default();
    let report = send_batch_gso(
        uac.as_fd(),
        msgs.iter().map(|m| (m.as_slice(), target)),
        &mut gso,
    );
    assert_eq!(report.sent, RUN, "{report:?}");
    assert!(
        gso.enabled,
        "the kernel refused UDP_SEGMENT (Linux >= 4.18 has it)"
    );

    // Every request arrives at DST, forwarded (a second Via on top).
    let mut batch = RecvBatch::new();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.len() < RUN && Instant::now() < deadline {
        let n = batch.recv(dst.as_fd()).unwrap();
        if n == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
        for i in 0..n {
            got.push(String::from_utf8_lossy(batch.get(i).unwrap().0).into_owned());
        }
    }
    let st = fs.terminate(Duration::from_secs(10));
    let log = fs.output();
    assert!(
        st.is_some_and(|s| s.success()),
        "ferrosip did not exit 0:\n{log}"
    );
    assert_eq!(got.len(), RUN, "forwarded requests; log:\n{log}");
    assert!(got.iter().all(|m| m.matches("\r\nVia: ").count() == 2));

    // Each request was routed by the worker that owns its Call-ID.
    let mut handled: HashMap<String, usize> = HashMap::new();
    for line in log.lines().filter(|l| l.contains("ferrosip::affinity")) {
        let field = |k: &str| {
            line.split_whitespace()
                .find_map(|kv| kv.strip_prefix(k))
                .map(|v| v.trim_matches('"').to_string())
        };
        if let (Some(w), Some(ci)) = (field("worker="), field("call_id=")) {
            handled.insert(ci, w.parse().unwrap());
        }
    }
    assert_eq!(handled.len(), RUN, "affinity lines; log:\n{log}");
    let mut per_worker = [0; 2];
    for (ci, w) in &handled {
        assert_eq!(*w, owner_of(ci.as_bytes(), 2), "{ci} routed by worker {w}");
        per_worker[*w] += 1;
    }
    // The run reached one socket, yet both workers routed their own calls.
    assert!(per_worker.iter().all(|&n| n > 0), "{per_worker:?}");
}

#[test]
fn gso_run_with_bpf_steering() {
    gso_run_is_forwarded_by_each_calls_owner("auto");
}

#[test]
fn gso_run_with_user_space_steering() {
    gso_run_is_forwarded_by_each_calls_owner("mesh");
}
