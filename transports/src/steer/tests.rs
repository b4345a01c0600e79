//! Tests of the steering hash and, where BPF can be loaded (root, clang at build time), of
//! the program on real sockets. Set `FERROSIP_REQUIRE_BPF=1` to make a load failure a test
//! failure instead of a skip.

use super::*;
use socket2::{Domain, Protocol, Socket, Type};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// A deterministic stream of random-looking Call-IDs (splitmix64).
fn call_ids(count: usize, seed: u64) -> Vec<String> {
    let mut x = seed;
    let mut next = move || {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    (0..count)
        .map(|i| match i % 3 {
            0 => format!("{:016x}{:08x}@192.0.2.{}", next(), i, i % 250),
            1 => format!("a84b4c76e66710-{}", next() % 1_000_000_007),
            _ => format!("{:x}-{i}", next()),
        })
        .collect()
}

fn assert_even(counts: &[usize], total: usize) {
    let even = total as f64 / counts.len() as f64;
    for (i, &c) in counts.iter().enumerate() {
        let dev = (c as f64 - even).abs() / even;
        assert!(
            dev <= 0.10,
            "worker {i}: {c} of {total} ({counts:?}), {dev:.3} off even"
        );
    }
}

/// murmur3's fmix32, written out independently of the code under test.
fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

#[test]
fn fnv1a_fmix_known_answers() {
    // 32-bit FNV-1a reference values (0x811c9dc5, 0xe40c292c, 0xbf9cf968), finished by fmix32.
    assert_eq!(call_id_hash(b""), 0xab3e_7c0b);
    assert_eq!(call_id_hash(b"a"), 0x1a80_b1b3);
    assert_eq!(call_id_hash(b"foobar"), 0x0c0d_a6dc);
    assert_eq!(call_id_hash(b"foobar"), fmix32(0xbf9c_f968));
    assert_eq!(call_id_hash(b"a84b4c76e66710@pc33.atlanta.com"), {
        let mut h: u32 = 2_166_136_261;
        for &b in b"a84b4c76e66710@pc33.atlanta.com" {
            h ^= u32::from(b);
            h = h.wrapping_mul(16_777_619);
        }
        fmix32(h)
    });
}

/// SIPp's Call-IDs (`N-pid@ip`, N counting up) spread evenly: plain FNV-1a did not.
#[test]
fn sipp_call_ids_spread_evenly() {
    for pid in [777u32, 13802, 31818] {
        let mut counts = [0u32; 2];
        for i in 1..=10_000u32 {
            counts[owner_of(format!("{i}-{pid}@127.0.0.1").as_bytes(), 2)] += 1;
        }
        let off = (f64::from(counts[0]) - 5000.0).abs() / 5000.0;
        assert!(off < 0.03, "pid {pid}: {counts:?}");
    }
}

#[test]
fn owner_is_multiply_shift_and_trims() {
    let h = u64::from(call_id_hash(b"foobar"));
    for n in 1..=8 {
        assert_eq!(owner_of(b"foobar", n) as u64, (h * n as u64) >> 32);
        assert_eq!(owner_of(b" \tfoobar\t ", n), owner_of(b"foobar", n));
        assert!(owner_of(b"foobar", n) < n);
    }
    assert_eq!(owner_of(b"foobar", 0), 0);
    assert_eq!(owner_of(b"x", 1), 0);
}

#[test]
fn owner_spreads_evenly() {
    let ids = call_ids(10_000, 7);
    for n in [2usize, 3, 4, 8] {
        let mut counts = vec![0usize; n];
        for id in &ids {
            counts[owner_of(id.as_bytes(), n)] += 1;
        }
        assert_even(&counts, ids.len());
    }
}

#[test]
fn object_parses() {
    let Some(data) = OBJECT else {
        eprintln!("skipped: steering program not built (no clang)");
        return;
    };
    let obj = elf::parse(data, "sk_reuseport").expect("parse");
    let names: Vec<&str> = obj.maps.iter().map(|m| m.name.as_str()).collect();
    for want in ["socks", "cfg", "scratch"] {
        assert!(names.contains(&want), "{names:?}");
    }
    assert_eq!(obj.license, b"GPL");
    assert!(!obj.relocs.is_empty());
    assert!(elf::parse(&data[..64], "sk_reuseport").is_err());
    assert!(elf::parse(data, "nope").is_err());
}

#[test]
fn bad_worker_counts_are_errors() {
    assert!(matches!(Steering::load(0), Err(SteerError::Workers(0))));
    assert!(matches!(
        Steering::load(MAX_WORKERS + 1),
        Err(SteerError::Workers(_))
    ));
}

/// Bound reuseport group of `n` sockets with steering attached, or why not.
struct Group {
    socks: Vec<UdpSocket>,
    addr: SocketAddr,
    steering: Steering,
}

fn reuseport_socket(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_port(true)?;
    s.bind(&addr.into())?;
    s.set_nonblocking(true)?;
    Ok(s.into())
}

fn group(n: usize) -> Option<Group> {
    let require = std::env::var_os("FERROSIP_REQUIRE_BPF").is_some_and(|v| v != "0");
    let first = reuseport_socket("127.0.0.1:0".parse().ok()?).expect("bind");
    let addr = first.local_addr().expect("local addr");
    let mut socks = vec![first];
    for _ in 1..n {
        socks.push(reuseport_socket(addr).expect("bind to the same port"));
    }
    let steering = match Steering::load(n) {
        Ok(s) => s,
        Err(e) => {
            assert!(!require, "steering required but not loadable: {e}");
            eprintln!("skipped: cannot load the steering program: {e}");
            return None;
        }
    };
    steering.attach(socks[0].as_fd()).expect("attach");
    for (i, s) in socks.iter().enumerate() {
        steering
            .set_worker_socket(i, s.as_fd())
            .expect("set worker socket");
    }
    Some(Group {
        socks,
        addr,
        steering,
    })
}

/// A SIP-like request whose Call-ID header takes one of several shapes and positions.
fn message(call_id: &str, i: usize) -> String {
    let name = match i % 8 {
        0 => "Call-ID: ",
        1 => "i: ",
        2 => "call-id:",
        3 => "CALL-ID :\t",
        4 => "I\t: ",
        5 => "cAlL-iD  :  ",
        6 => "i:",
        _ => "Call-Id:\t",
    };
    let trailing = if i % 4 == 1 { " \t" } else { "" };
    let call = format!("{name}{call_id}{trailing}\r\n");
    let mut headers = vec![
        format!("Via: SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bK{i}\r\n"),
        "Max-Forwards: 70\r\n".to_string(),
        "To: Bob <sip:bob@biloxi.example.com>\r\n".to_string(),
        format!("From: Alice <sip:alice@atlanta.example.com>;tag={i}\r\n"),
        "CSeq: 314159 INVITE\r\n".to_string(),
        // Decoys: names that start like Call-ID, and a Call-ID text inside a value.
        "Call-Info: <http://wwww.example.com/alice/photo.jpg> ;purpose=icon\r\n".to_string(),
        "In-Reply-To: 70710@saturn.bell-tel.com\r\n".to_string(),
        "Subject: about the Call-ID: decoy\r\n".to_string(),
        "Contact: <sip:alice@pc33.atlanta.example.com>\r\n".to_string(),
        "c: text/plain\r\n".to_string(),
    ];
    if i % 9 == 8 {
        // Push the Call-ID deep into the window.
        headers.insert(0, format!("X-Pad: {}\r\n", "p".repeat(1200)));
    }
    let at = i % (headers.len() + 1);
    headers.insert(at, call);
    let body = "v=0\r\no=- 0 0 IN IP4 192.0.2.4\r\ns=-\r\ni: not-this\r\n";
    let msg = format!(
        "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n{}Content-Length: {}\r\n\r\n{body}",
        headers.concat(),
        body.len()
    );
    if i % 5 == 2 {
        // Bare LF line ends (RFC 3261 §7: tolerated).
        msg.replace("\r\n", "\n")
    } else {
        msg
    }
}

/// Whether `text` carries `id` as a whole Call-ID value.
fn carries(text: &str, id: &str) -> bool {
    [" ", "\t", "\r", "\n"]
        .iter()
        .any(|t| text.contains(&format!("{id}{t}")))
}

/// Reads everything pending on every socket until `want` datagrams arrived or time is up;
/// returns (socket index, payload) pairs.
fn drain(socks: &[UdpSocket], want: usize) -> Vec<(usize, Vec<u8>)> {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    let deadline = Instant::now() + Duration::from_secs(5);
    while got.len() < want && Instant::now() < deadline {
        let mut any = false;
        for (i, s) in socks.iter().enumerate() {
            while let Ok(len) = s.recv(&mut buf) {
                got.push((i, buf[..len].to_vec()));
                any = true;
            }
        }
        if !any {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    got
}

fn steer_datagrams(n: usize) {
    let Some(g) = group(n) else { return };
    let client = UdpSocket::bind("127.0.0.1:0").expect("client");
    let ids = call_ids(2_000, 1000 + n as u64);
    let mut counts = vec![0usize; n];
    for (batch_no, batch) in ids.chunks(50).enumerate() {
        for (j, id) in batch.iter().enumerate() {
            let msg = message(id, batch_no * 50 + j);
            client.send_to(msg.as_bytes(), g.addr).expect("send");
        }
        let got = drain(&g.socks, batch.len());
        assert_eq!(got.len(), batch.len(), "datagrams lost");
        for (sock, payload) in got {
            let text = String::from_utf8(payload).expect("utf8");
            let id = batch
                .iter()
                .find(|id| carries(&text, id))
                .expect("known call id");
            let owner = owner_of(id.as_bytes(), n);
            assert_eq!(
                sock, owner,
                "Call-ID {id:?} landed on {sock}, owner is {owner}:\n{text}"
            );
            counts[sock] += 1;
        }
    }
    eprintln!("N={n}: split {counts:?}");
    assert_even(&counts, ids.len());

    // Without a Call-ID (a keep-alive, a header beyond the blank line) a datagram still
    // arrives somewhere.
    for msg in [
        "\r\n\r\n".to_string(),
        "OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\nCall-ID: in-body\r\n".to_string(),
        "x".to_string(),
    ] {
        client.send_to(msg.as_bytes(), g.addr).expect("send");
        let got = drain(&g.socks, 1);
        assert_eq!(got.len(), 1, "datagram without Call-ID lost");
        assert_eq!(got[0].1, msg.as_bytes());
    }
    // Not steered: a Call-ID only after the blank line, an empty value, a name that only
    // starts like Call-ID. The kernel's 4-tuple hash then puts every one of them, all from one
    // client socket, on the same socket.
    let mut seen = Vec::new();
    for (j, id) in call_ids(60, 5).iter().enumerate() {
        let msg = match j % 3 {
            0 => format!("OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\nCall-ID: {id}\r\n"),
            1 => format!("OPTIONS sip:x SIP/2.0\r\nCall-ID: \t\r\nX-Id: {id}\r\n\r\n"),
            _ => format!("OPTIONS sip:x SIP/2.0\r\nCall-IDs: {id}\r\nix: {id}\r\n\r\n"),
        };
        client.send_to(msg.as_bytes(), g.addr).expect("send");
        let got = drain(&g.socks, 1);
        assert_eq!(got.len(), 1, "datagram without Call-ID lost");
        seen.push(got[0].0);
    }
    assert!(
        seen.iter().all(|&s| s == seen[0]),
        "messages without a Call-ID header were steered: {seen:?}"
    );
    let stats = g.steering.run_stats().expect("stats");
    eprintln!(
        "N={n}: verifier processed {} instructions",
        stats.verified_insns
    );
    assert!(stats.verified_insns > 0);
}

#[test]
fn steers_two_workers() {
    steer_datagrams(2);
}

#[test]
fn steers_four_workers() {
    steer_datagrams(4);
}

#[test]
fn header_beyond_window_falls_back() {
    let Some(g) = group(2) else { return };
    let client = UdpSocket::bind("127.0.0.1:0").expect("client");
    let pad = "X".repeat(WINDOW);
    let msg = format!("INVITE sip:x SIP/2.0\r\nX-Pad: {pad}\r\nCall-ID: late\r\n\r\n");
    client.send_to(msg.as_bytes(), g.addr).expect("send");
    let got = drain(&g.socks, 1);
    assert_eq!(got.len(), 1);
}

/// A realistic INVITE as relayed by a proxy: two Vias and a Record-Route before the Call-ID.
fn realistic_invite(call_id: &str, i: usize) -> String {
    let body = "v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.101\r\ns=-\r\n\
                c=IN IP4 192.0.2.101\r\nt=0 0\r\nm=audio 49172 RTP/AVP 0 8 101\r\n\
                a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
                a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";
    format!(
        "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP proxy.atlanta.example.com:5060;branch=z9hG4bK74b43.{i}\r\n\
         Via: SIP/2.0/UDP 192.0.2.101:5060;rport=5060;branch=z9hG4bKnashds8.{i}\r\n\
         Record-Route: <sip:proxy.atlanta.example.com;lr>\r\n\
         Max-Forwards: 69\r\n\
         From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl.{i}\r\n\
         To: Bob <sip:bob@biloxi.example.com>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 314159 INVITE\r\n\
         Contact: <sip:alice@192.0.2.101:5060>\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Per-datagram cost of the program in the kernel (`bpf_stats`), printed, with steering
/// still exact. Not a benchmark: one small burst from one socket.
#[test]
fn reports_run_cost() {
    let Some(g) = group(2) else { return };
    let stats_on = match enable_run_stats() {
        Ok(fd) => fd,
        Err(e) => {
            eprintln!("skipped the cost report: {e}");
            return;
        }
    };
    let client = UdpSocket::bind("127.0.0.1:0").expect("client");
    let ids = call_ids(2_000, 99);
    let before = g.steering.run_stats().expect("stats");
    let mut at = 0;
    for batch in ids.chunks(100) {
        let msgs: Vec<String> = batch
            .iter()
            .enumerate()
            .map(|(j, id)| realistic_invite(id, at + j))
            .collect();
        at += batch.len();
        for m in &msgs {
            client.send_to(m.as_bytes(), g.addr).expect("send");
        }
        let got = drain(&g.socks, batch.len());
        assert_eq!(got.len(), batch.len());
        for (sock, payload) in got {
            let text = String::from_utf8(payload).expect("utf8");
            let id = batch
                .iter()
                .find(|id| text.contains(&format!("Call-ID: {id}\r\n")))
                .expect("known call id");
            assert_eq!(sock, owner_of(id.as_bytes(), 2));
        }
    }
    let after = g.steering.run_stats().expect("stats");
    // Baseline: keep-alives, where the program returns after copying 4 bytes.
    for batch in 0..20 {
        for _ in 0..100 {
            client.send_to(b"\r\n\r\n", g.addr).expect("send");
        }
        assert_eq!(
            drain(&g.socks, 100).len(),
            100,
            "keep-alives lost in batch {batch}"
        );
    }
    let base = g.steering.run_stats().expect("stats");
    drop(stats_on);
    let base_runs = base.run_cnt - after.run_cnt;
    if let Some(ns) = (base.run_time_ns - after.run_time_ns).checked_div(base_runs) {
        eprintln!("program cost for a keep-alive: {ns} ns");
    }
    let runs = after.run_cnt - before.run_cnt;
    let sample = realistic_invite(&ids[0], 0);
    let call_id_at = sample.find("Call-ID").unwrap_or(0);
    if let Some(ns) = (after.run_time_ns - before.run_time_ns).checked_div(runs) {
        eprintln!(
            "program cost for an INVITE: {runs} runs, {ns} ns per datagram \
             (Call-ID at byte {call_id_at} of {})",
            sample.len()
        );
    }
}
