//! Property tests (STYLE L10): generated valid messages parse back to the fields they were
//! built from, canonical messages re-serialize byte for byte from the parsed view, every
//! proper prefix of a stream message frames as `Partial`, and mutated torture messages never
//! panic the parser.

use ferrosip_parser::{frame, parse, Framing, Message, Method, Proto, StartLine};
use proptest::prelude::*;

/// A generated message and the field values it must parse back to.
#[derive(Clone, Debug)]
struct Spec {
    request: Option<(String, String)>, // method, R-URI
    status: u16,
    vias: Vec<ViaSpec>,
    from_display: Option<String>,
    from_uri: String,
    from_tag: String,
    to_uri: String,
    to_tag: Option<String>,
    call_id: String,
    cseq: u32,
    max_forwards: Option<u32>,
    extra: Vec<(String, String)>,
    body: Vec<u8>,
    compact: bool,
}

#[derive(Clone, Debug)]
struct ViaSpec {
    proto: Proto,
    host: String,
    port: Option<u16>,
    branch: String,
    rport: Option<Option<u16>>,
    received: Option<String>,
}

fn token() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9][a-zA-Z0-9.!%*_+`'~-]{0,15}"
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,10}(\\.[a-z][a-z0-9-]{0,10}){0,3}",
        (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>())
            .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
        (any::<u16>(), any::<u16>()).prop_map(|(a, b)| format!("[2001:db8::{a:x}:{b:x}]")),
    ]
}

fn sip_uri() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("sip"), Just("sips")],
        proptest::option::of("[a-zA-Z0-9_.!~*'()&=+$,;?/-]{1,12}|%[0-9A-F]{2}[a-z]{1,5}"),
        host(),
        proptest::option::of(any::<u16>()),
        // RFC 3261 §25.1 paramchar: unreserved / param-unreserved (no backtick, unlike token).
        proptest::collection::vec(
            (
                "[a-zA-Z0-9_.!~*'()-]{1,8}",
                proptest::option::of("[a-zA-Z0-9_.!~*'()\\[\\]/:&+$-]{1,8}"),
            ),
            0..3,
        ),
    )
        .prop_map(|(scheme, user, host, port, params)| {
            let mut s = format!("{scheme}:");
            if let Some(u) = user {
                s.push_str(&u);
                s.push('@');
            }
            s.push_str(&host);
            if let Some(p) = port {
                s.push_str(&format!(":{p}"));
            }
            for (n, v) in params {
                s.push(';');
                s.push_str(&n);
                if let Some(v) = v {
                    s.push('=');
                    s.push_str(&v);
                }
            }
            s
        })
}

fn via() -> impl Strategy<Value = ViaSpec> {
    (
        prop_oneof![
            Just(Proto::Udp),
            Just(Proto::Tcp),
            Just(Proto::Tls),
            Just(Proto::Sctp),
            Just(Proto::Ws),
            Just(Proto::Wss)
        ],
        host(),
        proptest::option::of(any::<u16>()),
        "z9hG4bK[a-zA-Z0-9.-]{1,20}",
        proptest::option::of(proptest::option::of(any::<u16>())),
        proptest::option::of(host()),
    )
        .prop_map(|(proto, host, port, branch, rport, received)| ViaSpec {
            proto,
            host,
            port,
            branch,
            rport,
            received,
        })
}

fn display() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z][a-zA-Z0-9]{0,8}( [a-zA-Z][a-zA-Z0-9]{0,8}){0,2}",
        // quoted-string with quoted-pairs
        "([a-zA-Z ,;<>@:]|\\\\\"|\\\\\\\\){0,12}".prop_map(|s| format!("\"{s}\"")),
    ]
}

fn spec() -> impl Strategy<Value = Spec> {
    let methods = prop_oneof![
        Just("INVITE".to_string()),
        Just("REGISTER".to_string()),
        Just("BYE".to_string()),
        Just("OPTIONS".to_string()),
        "[A-Z]{3,10}",
    ];
    (
        proptest::option::of((methods, sip_uri())),
        100u16..700,
        proptest::collection::vec(via(), 1..5),
        proptest::option::of(display()),
        (sip_uri(), token(), sip_uri(), proptest::option::of(token())),
        "[a-zA-Z0-9.!%*_+`'~()<>:\\\\\"/\\[\\]?{}-]{1,30}(@[a-z0-9.]{1,20})?",
        (0u32..(1 << 31), proptest::option::of(any::<u32>())),
        proptest::collection::vec(("X-[A-Za-z0-9-]{1,10}", "[ -~]{0,40}"), 0..5),
        proptest::collection::vec(any::<u8>(), 0..200),
        any::<bool>(),
    )
        .prop_map(
            |(
                request,
                status,
                vias,
                from_display,
                (from_uri, from_tag, to_uri, to_tag),
                call_id,
                (cseq, max_forwards),
                extra,
                body,
                compact,
            )| {
                // Header values are trimmed by the parser, so generated ones are too.
                let extra = extra
                    .into_iter()
                    .map(|(n, v)| (n, v.trim().to_string()))
                    .collect();
                Spec {
                    request,
                    status,
                    vias,
                    from_display,
                    from_uri,
                    from_tag,
                    to_uri,
                    to_tag,
                    call_id,
                    cseq,
                    max_forwards,
                    extra,
                    body,
                    compact,
                }
            },
        )
}

/// Serializes a spec in canonical form (single SP, `Name: value` CRLF).
fn serialize(s: &Spec) -> Vec<u8> {
    let name = |long: &'static str, short: &'static str| if s.compact { short } else { long };
    let method = s.request.as_ref().map_or("INVITE", |(m, _)| m.as_str());
    let mut out = match &s.request {
        Some((m, uri)) => format!("{m} {uri} SIP/2.0\r\n"),
        None => format!("SIP/2.0 {} Some Reason\r\n", s.status),
    };
    for v in &s.vias {
        let mut line = format!(
            "{}: SIP/2.0/{} {}",
            name("Via", "v"),
            v.proto.via_token(),
            v.host
        );
        if let Some(p) = v.port {
            line.push_str(&format!(":{p}"));
        }
        line.push_str(&format!(";branch={}", v.branch));
        match v.rport {
            Some(None) => line.push_str(";rport"),
            Some(Some(p)) => line.push_str(&format!(";rport={p}")),
            None => {}
        }
        if let Some(r) = &v.received {
            line.push_str(&format!(";received={r}"));
        }
        out.push_str(&line);
        out.push_str("\r\n");
    }
    let disp = s
        .from_display
        .as_ref()
        .map_or(String::new(), |d| format!("{d} "));
    out.push_str(&format!(
        "{}: {disp}<{}>;tag={}\r\n",
        name("From", "f"),
        s.from_uri,
        s.from_tag
    ));
    match &s.to_tag {
        Some(t) => out.push_str(&format!("{}: <{}>;tag={t}\r\n", name("To", "t"), s.to_uri)),
        None => out.push_str(&format!("{}: <{}>\r\n", name("To", "t"), s.to_uri)),
    }
    out.push_str(&format!("{}: {}\r\n", name("Call-ID", "i"), s.call_id));
    out.push_str(&format!("CSeq: {} {method}\r\n", s.cseq));
    if let Some(mf) = s.max_forwards {
        out.push_str(&format!("Max-Forwards: {mf}\r\n"));
    }
    for (n, v) in &s.extra {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str(&format!(
        "{}: {}\r\n\r\n",
        name("Content-Length", "l"),
        s.body.len()
    ));
    let mut out = out.into_bytes();
    out.extend_from_slice(&s.body);
    out
}

/// Re-serializes a parsed message from its view: start line, raw header names and values, body.
fn reserialize(m: &Message<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    match m.start() {
        StartLine::Request {
            method,
            uri,
            version,
            ..
        } => {
            out.extend_from_slice(format!("{method} {} {version}\r\n", uri.raw).as_bytes());
        }
        StartLine::Response {
            version,
            code,
            reason,
        } => {
            out.extend_from_slice(format!("{version} {code} ").as_bytes());
            out.extend_from_slice(reason);
            out.extend_from_slice(b"\r\n");
        }
    }
    for h in m.headers() {
        out.extend_from_slice(h.raw_name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(h.value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(m.body());
    out
}

fn check_fields(s: &Spec, m: &Message<'_>) {
    match &s.request {
        Some((method, uri)) => {
            assert_eq!(m.method().unwrap().as_str(), method);
            assert_eq!(m.ruri().unwrap().raw, uri);
            assert_eq!(m.ruri_raw().unwrap().0, uri);
        }
        None => assert_eq!(m.status(), Some(s.status)),
    }
    assert_eq!(m.vias().len(), s.vias.len());
    for (got, want) in m.vias().iter().zip(&s.vias) {
        assert_eq!(got.proto, Some(want.proto));
        assert_eq!(got.host, want.host);
        assert_eq!(got.port, want.port);
        assert_eq!(got.branch, Some(want.branch.as_str()));
        assert_eq!(got.rport, want.rport);
        assert_eq!(got.received, want.received.as_deref());
    }
    let from = m.from().unwrap();
    assert_eq!(from.display, s.from_display.as_deref());
    assert_eq!(from.uri_raw, s.from_uri);
    assert_eq!(from.tag, Some(s.from_tag.as_str()));
    let to = m.to().unwrap();
    assert_eq!(to.uri_raw, s.to_uri);
    assert_eq!(to.tag, s.to_tag.as_deref());
    assert_eq!(m.call_id(), Some(s.call_id.as_str()));
    assert_eq!(m.cseq().unwrap().num, s.cseq);
    if s.request.is_none() {
        assert_eq!(m.cseq().unwrap().method, Method::Invite);
    }
    assert_eq!(m.max_forwards(), s.max_forwards);
    assert_eq!(m.content_length(), Some(s.body.len()));
    assert_eq!(m.body(), &s.body[..]);
    for (n, v) in &s.extra {
        let h = m.header_by_name(n).unwrap();
        // The first header of that name (generated names may repeat).
        let first = s
            .extra
            .iter()
            .find(|(n2, _)| n2.eq_ignore_ascii_case(n))
            .unwrap();
        assert_eq!(h.value, first.1.as_bytes(), "{n}: {v}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn roundtrip(s in spec()) {
        let buf = serialize(&s);
        let arena = bumpalo::Bump::new();
        let m = parse(&buf, &arena).unwrap_or_else(|e| panic!("{e:?}\n{}", String::from_utf8_lossy(&buf)));
        check_fields(&s, &m);
        // Canonical input re-serializes byte for byte, and re-parses to the same view.
        let again = reserialize(&m);
        prop_assert_eq!(&again, &buf);
        let arena2 = bumpalo::Bump::new();
        let m2 = parse(&again, &arena2).unwrap();
        prop_assert_eq!(m2.headers(), m.headers());
        prop_assert_eq!(m2.vias(), m.vias());
        prop_assert_eq!(m2.from(), m.from());
        prop_assert_eq!(m2.to(), m.to());
        prop_assert_eq!(m2.start(), m.start());
    }

    #[test]
    fn every_proper_prefix_is_partial(s in spec()) {
        let buf = serialize(&s);
        prop_assert_eq!(frame(&buf, 8192), Ok(Framing::Complete(buf.len())));
        for n in 0..buf.len() {
            prop_assert_eq!(frame(&buf[..n], 8192), Ok(Framing::Partial), "prefix {}", n);
        }
        // Two messages back to back frame as the first one.
        let mut two = buf.clone();
        two.extend_from_slice(&buf);
        prop_assert_eq!(frame(&two, 8192), Ok(Framing::Complete(buf.len())));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let arena = bumpalo::Bump::new();
        let _ = parse(&bytes, &arena);
        let _ = frame(&bytes, 300);
        if let Ok(s) = std::str::from_utf8(&bytes) {
            let _ = ferrosip_parser::parse_uri(s);
            let _ = ferrosip_parser::parse_via(s);
            let _ = ferrosip_parser::parse_name_addr(s);
            let _ = ferrosip_parser::parse_cseq(s);
        }
    }
}

/// The torture messages, or a built-in message if the data folder is absent.
fn corpus() -> Vec<Vec<u8>> {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/testdata/sip-torture");
    let mut out = Vec::new();
    for sub in ["rfc4475", "rfc5118"] {
        if let Ok(rd) = std::fs::read_dir(dir.join(sub)) {
            for e in rd.flatten() {
                if e.path().extension().is_some_and(|x| x == "dat") {
                    out.push(std::fs::read(e.path()).unwrap());
                }
            }
        }
    }
    if out.is_empty() {
        eprintln!("note: torture data absent, mutating a built-in message only");
        out.push(b"INVITE sip:b@c SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:b@c>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n".to_vec());
    }
    // A response too, whose From, To and lower Vias are parsed on access.
    out.push(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b\r\nv: SIP/2.0/TCP c;rport\r\nFrom: \"A\" <sip:a@b>;tag=1\r\nTo: <sip:b@c>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n".to_vec());
    out.sort();
    out
}

/// One mutation: overwrite, insert, delete, duplicate a range, or splice in SIP-ish bytes.
#[derive(Clone, Debug)]
enum Mutation {
    Set(usize, u8),
    Insert(usize, u8),
    Delete(usize, usize),
    Dup(usize, usize),
    Splice(usize, &'static [u8]),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    const PIECES: &[&[u8]] = &[
        b"\r\n",
        b"\r\n ",
        b";",
        b",",
        b"\"",
        b"<",
        b">",
        b":",
        b"[",
        b"]",
        b"%",
        b"\\",
        b"@",
        b"=",
        b"\0",
        b"\xff",
        b"SIP/2.0",
        b"Content-Length: 99999\r\n",
        b"v: SIP/2.0/UDP [::1]:5060;rport\r\n",
        b"\r\n\r\n",
    ];
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<usize>(), 0usize..20).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<usize>(), 0usize..40).prop_map(|(i, n)| Mutation::Dup(i, n)),
        (any::<usize>(), proptest::sample::select(PIECES))
            .prop_map(|(i, p)| Mutation::Splice(i, p)),
    ]
}

fn apply(buf: &mut Vec<u8>, m: &Mutation) {
    let len = buf.len().max(1);
    match *m {
        Mutation::Set(i, b) => {
            if !buf.is_empty() {
                buf[i % len] = b;
            }
        }
        Mutation::Insert(i, b) => buf.insert(i % (buf.len() + 1), b),
        Mutation::Delete(i, n) => {
            let s = i % (buf.len() + 1);
            let e = (s + n).min(buf.len());
            buf.drain(s..e);
        }
        Mutation::Dup(i, n) => {
            let s = i % (buf.len() + 1);
            let e = (s + n).min(buf.len());
            let piece = buf[s..e].to_vec();
            buf.splice(e..e, piece);
        }
        Mutation::Splice(i, p) => {
            let s = i % (buf.len() + 1);
            buf.splice(s..s, p.iter().copied());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("MUTATION_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000)))]

    /// The stable-toolchain stand-in for cargo-fuzz: mutated torture messages never panic,
    /// and whatever parses keeps its invariants.
    #[test]
    fn mutated_torture_never_panics(pick in any::<usize>(), muts in proptest::collection::vec(mutation(), 1..6)) {
        let corpus = corpus();
        let mut buf = corpus[pick % corpus.len()].clone();
        for m in &muts {
            apply(&mut buf, m);
        }
        let arena = bumpalo::Bump::new();
        if let Ok(m) = parse(&buf, &arena) {
            prop_assert!(m.body_offset() <= m.len() && m.len() <= buf.len());
            prop_assert!(m.headers_end() < m.body_offset());
            // A response's From, To and lower Vias are parsed here; a request's by `parse`.
            prop_assert_eq!(m.vias().first(), m.top_via());
            let (from, to, via_error) = (m.from(), m.to(), m.via_error());
            if m.is_request() {
                prop_assert!(from.is_some() && to.is_some() && via_error.is_none());
            }
            for v in m.vias() {
                prop_assert!(v.span.end <= buf.len());
                prop_assert!(v.header_index < m.headers().len());
            }
            for h in m.headers() {
                prop_assert!(h.line.end <= m.headers_end());
            }
        }
        match frame(&buf, 4096) {
            Ok(Framing::Complete(n)) | Ok(Framing::KeepAlive(n)) => prop_assert!(n > 0 && n <= buf.len()),
            _ => {}
        }
    }
}
