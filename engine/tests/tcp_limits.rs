//! The bounds on a worker's TCP buffers, over real sockets: `-M` (Kamailio's private memory
//! per process) bounds the partial messages a worker holds, `tcp_conn_wq_max` the bytes
//! queued for a peer that does not read.

mod common;

use common::*;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The tests share two cores: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Bytes each connection of the `-M` test sends: a short header section and the start of a
/// body whose end never comes.
const PARTIAL: usize = 60_000;

/// Size of that whole message (under the 64 KiB message bound, so only `-M` can close it).
const WHOLE: usize = 65_000;

fn write_cfg(dir: &Path, text: &str) -> std::path::PathBuf {
    let cfg = dir.join("t.cfg");
    std::fs::write(&cfg, text).unwrap();
    cfg
}

/// The start line and headers of a MESSAGE with a body of `WHOLE` bytes in all.
fn message_head(port: u16, i: usize) -> Vec<u8> {
    let head = |cl: usize| {
        format!(
            "MESSAGE sip:x@127.0.0.1:{port} SIP/2.0\r\n\
             Via: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bK-m{i}\r\n\
             From: <sip:a@example.com>;tag=a{i}\r\n\
             To: <sip:x@example.com>\r\n\
             Call-ID: partial-{i}\r\n\
             CSeq: 1 MESSAGE\r\n\
             Max-Forwards: 70\r\n\
             Content-Type: text/plain\r\n\
             Content-Length: {cl:05}\r\n\r\n"
        )
    };
    let len = head(0).len();
    head(WHOLE - len).into_bytes()
}

/// Whether the proxy closed `s` (EOF or reset), without waiting.
fn closed(s: &mut TcpStream) -> bool {
    s.set_nonblocking(true).unwrap();
    let mut b = [0u8; 1024];
    let r = match s.read(&mut b) {
        Ok(0) => true,
        Ok(n) => panic!("unexpected {n} bytes from the proxy"),
        Err(e) if e.kind() == ErrorKind::WouldBlock => false,
        Err(_) => true,
    };
    s.set_nonblocking(false).unwrap();
    r
}

/// With `-M 1` and one worker, connections that each hold 60 KB of a message whose end has
/// not arrived fill the worker's 1 MiB of receive buffers: the first 17 fit (1,020,000
/// bytes), each later one is closed when it would pass the bound. Completing a message frees
/// its share, which a new connection can then use.
#[test]
fn pkg_memory_bounds_the_partial_messages_a_worker_holds() {
    let _g = serial();
    let dir = scratch("pkgmem");
    let port = free_port();
    let cfg = write_cfg(
        &dir,
        &format!(
            "#!KAMAILIO\ndebug=2\nlog_stderror=yes\nauto_aliases=no\n\
             listen=udp:127.0.0.1:{port}\nlisten=tcp:127.0.0.1:{port}\n\
             loadmodule \"sl.so\"\n\
             request_route {{\n\tsl_send_reply(\"200\", \"OK\");\n\texit;\n}}\n"
        ),
    );
    let mut fs = start_ferrosip(&dir, &cfg, &["-n", "1", "-M", "1"], &[]);
    let target: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let fits = (1024 * 1024) / PARTIAL;
    assert_eq!(fits, 17);
    let mut conns = Vec::new();
    for i in 0..20 {
        let mut s = TcpStream::connect(target).unwrap();
        let mut data = message_head(port, i);
        data.resize(PARTIAL, b'b');
        // A connection the proxy already closed may refuse the rest: it counts as closed.
        let _ = s.write_all(&data);
        conns.push(s);
        // One connection at a time, so that the proxy reads them in order.
        std::thread::sleep(Duration::from_millis(10));
    }
    let over = 20 - fits;
    let end = Instant::now() + Duration::from_secs(10);
    while fs.output().matches("(-M), closing").count() < over && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(50));
    let state: Vec<bool> = conns.iter_mut().map(closed).collect();
    let want: Vec<bool> = (0..20).map(|i| i >= fits).collect();
    assert_eq!(state, want, "closed per connection\n{}", fs.output());
    assert_eq!(
        fs.output().matches("(-M), closing").count(),
        over,
        "{}",
        fs.output()
    );

    // The first connection completes its message: it is answered, and its 60 KB leave the
    // worker's total.
    let head = message_head(port, 0).len();
    conns[0]
        .write_all(&vec![b'b'; WHOLE - head - (PARTIAL - head)])
        .unwrap();
    conns[0]
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = conns[0].read(&mut buf).unwrap();
    let reply = String::from_utf8_lossy(&buf[..n]);
    assert!(reply.starts_with("SIP/2.0 200"), "{reply}");
    // So a new connection holding 60 KB fits again.
    let mut late = TcpStream::connect(target).unwrap();
    let mut data = message_head(port, 99);
    data.resize(PARTIAL, b'b');
    late.write_all(&data).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(!closed(&mut late), "{}", fs.output());
    assert!(conns[1..fits].iter_mut().all(|s| !closed(s)));
    assert_eq!(
        fs.output().matches("(-M), closing").count(),
        over,
        "{}",
        fs.output()
    );
    drop(conns);
    drop(late);
    let st = fs.terminate(Duration::from_secs(10));
    assert!(st.map(|s| s.success()).unwrap_or(false), "{}", fs.output());
}

/// Accepts one connection on `l` within `limit`.
fn accept_within(l: &TcpListener, limit: Duration) -> TcpStream {
    l.set_nonblocking(true).unwrap();
    let end = Instant::now() + limit;
    loop {
        match l.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                return s;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                assert!(Instant::now() < end, "the proxy did not connect");
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// A MESSAGE over UDP from `me` for the sink, with a 1,000-byte body.
fn udp_message(port: u16, me: SocketAddr, i: u32) -> String {
    let body = "z".repeat(1000);
    format!(
        "MESSAGE sip:sink@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {me};branch=z9hG4bK-u{i}\r\n\
         From: <sip:a@example.com>;tag=u{i}\r\n\
         To: <sip:sink@example.com>\r\n\
         Call-ID: slow-{i}-{port}\r\n\
         CSeq: 1 MESSAGE\r\n\
         Max-Forwards: 70\r\n\
         Content-Type: text/plain\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// A stateless proxy forwards every MESSAGE over TCP to a sink that accepts and never
/// reads. Once the kernel's buffers are full the connection's write queue grows, and at
/// `tcp_conn_wq_max` (16 KiB here) the proxy closes it ("too slow") and counts the message
/// dropped. It keeps serving: an OPTIONS gets its 200, and the next MESSAGE reaches the sink
/// on a new connection.
#[test]
fn a_peer_that_does_not_read_is_closed_at_tcp_conn_wq_max() {
    let _g = serial();
    let dir = scratch("connwq");
    let port = free_port();
    // The sink: a small receive buffer, so that the kernel takes little before the queue
    // starts to grow.
    let sink = {
        use socket2::{Domain, Socket, Type};
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        s.set_recv_buffer_size(4096).unwrap();
        s.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
            .unwrap();
        s.listen(8).unwrap();
        TcpListener::from(s)
    };
    let sink_port = sink.local_addr().unwrap().port();
    let cfg = write_cfg(
        &dir,
        &format!(
            "#!KAMAILIO\ndebug=2\nlog_stderror=yes\nauto_aliases=no\n\
             listen=udp:127.0.0.1:{port}\nlisten=tcp:127.0.0.1:{port}\n\
             tcp_conn_wq_max=16384\n\
             loadmodule \"sl.so\"\n\
             request_route {{\n\
             \tif (method == \"OPTIONS\") {{\n\t\tsl_send_reply(\"200\", \"Keepalive\");\n\t\texit;\n\t}}\n\
             \t$du = \"sip:127.0.0.1:{sink_port};transport=tcp\";\n\
             \tforward();\n\texit;\n}}\n"
        ),
    );
    let mut fs = start_ferrosip(&dir, &cfg, &["-n", "1"], &[]);
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let me = udp.local_addr().unwrap();
    let target = ("127.0.0.1", port);
    udp.send_to(udp_message(port, me, 0).as_bytes(), target)
        .unwrap();
    let mut first = accept_within(&sink, Duration::from_secs(5));
    // Never read `first`; send until the proxy gives up on it (bounded: 100 MB).
    let needle = "(tcp_conn_wq_max), too slow, closing";
    let mut sent = 1u32;
    let end = Instant::now() + Duration::from_secs(60);
    while !fs.output().contains(needle) {
        assert!(
            Instant::now() < end && sent < 100_000,
            "no close after {sent} messages\n{}",
            fs.output()
        );
        for _ in 0..200 {
            udp.send_to(udp_message(port, me, sent).as_bytes(), target)
                .unwrap();
            sent += 1;
        }
        // Let the single worker keep up with the datagrams (their loss is harmless, but
        // a paced sender reaches the bound with fewer of them).
        std::thread::sleep(Duration::from_millis(2));
    }
    // The sink sees the end of the stream once it reads what the kernel held.
    first
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = vec![0u8; 256 * 1024];
    let mut got = 0usize;
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(Instant::now() < end, "no end of stream");
        match first.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => panic!("sink read after {got} bytes: {e}\n{}", fs.output()),
        }
    }
    assert!(got > 0);
    // Still serving: an OPTIONS is answered...
    udp.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let options = format!(
        "OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-opt\r\n\
         From: <sip:a@example.com>;tag=o\r\nTo: <sip:127.0.0.1>\r\nCall-ID: opt-{port}\r\n\
         CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    udp.send_to(options.as_bytes(), target).unwrap();
    let mut b = [0u8; 4096];
    loop {
        let n = udp.recv(&mut b).expect("no answer to OPTIONS");
        let text = String::from_utf8_lossy(&b[..n]);
        if text.contains("opt-") {
            assert!(text.starts_with("SIP/2.0 200"), "{text}");
            break;
        }
    }
    // ...and the next MESSAGE reaches the sink. The flood went on for a moment after the
    // close, over new connections (queued at the sink's listener, some of them closed as too
    // slow in turn): read every connection the sink has, and any new one, until it arrives.
    udp.send_to(udp_message(port, me, 1_000_000).as_bytes(), target)
        .unwrap();
    sink.set_nonblocking(true).unwrap();
    let mut streams: Vec<(TcpStream, Vec<u8>)> = Vec::new();
    let end = Instant::now() + Duration::from_secs(10);
    'found: loop {
        assert!(
            Instant::now() < end,
            "the MESSAGE after the close did not arrive\n{}",
            fs.output()
        );
        while let Ok((st, _)) = sink.accept() {
            st.set_nonblocking(true).unwrap();
            streams.push((st, Vec::new()));
        }
        for (st, text) in &mut streams {
            while let Ok(n) = st.read(&mut buf) {
                if n == 0 {
                    break;
                }
                text.extend_from_slice(&buf[..n]);
                // Keep the tail only: enough to find the Call-ID across reads.
                if text.len() > 8192 {
                    text.drain(..text.len() - 8192);
                }
            }
            if String::from_utf8_lossy(text).contains("slow-1000000-") {
                break 'found;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(streams);
    let st = fs.terminate(Duration::from_secs(10));
    assert!(st.map(|s| s.success()).unwrap_or(false), "{}", fs.output());
    assert!(
        counter_sum(&fs.output(), "tcp_dropped") >= 1,
        "{}",
        fs.output()
    );
}
