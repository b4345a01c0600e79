//! Message-level tests: table-driven through a `msg!` macro (STYLE L10), framing and edits.

use ferrosip_parser::{
    frame, parse, EditError, Edits, Framing, HeaderName, Method, ParseError, StartLine, Version,
    MAX_HEADERS, MAX_MESSAGE, MAX_VIAS,
};

/// Builds a message from lines joined by CRLF, with the empty line and `body` appended.
macro_rules! msg {
    ($($line:expr),* ; $body:expr) => {{
        let mut s = String::new();
        $( s.push_str($line); s.push_str("\r\n"); )*
        s.push_str("\r\n");
        s.push_str($body);
        s.into_bytes()
    }};
    ($($line:expr),*) => { msg!($($line),* ; "") };
}

const VIA: &str = "Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds";
const FROM: &str = "From: Alice <sip:alice@atlanta.com>;tag=1928301774";
const TO: &str = "To: Bob <sip:bob@biloxi.com>";
const CALLID: &str = "Call-ID: a84b4c76e66710@pc33.atlanta.com";
const CSEQ: &str = "CSeq: 314159 INVITE";

fn ok(buf: &[u8], check: impl FnOnce(&ferrosip_parser::Message<'_>)) {
    let arena = bumpalo::Bump::new();
    let m =
        parse(buf, &arena).unwrap_or_else(|e| panic!("{e:?} for {}", String::from_utf8_lossy(buf)));
    check(&m);
}

fn err(buf: &[u8]) -> ParseError {
    let arena = bumpalo::Bump::new();
    let res = parse(buf, &arena).map(|_| ());
    match res {
        Ok(()) => panic!("parsed: {}", String::from_utf8_lossy(buf)),
        Err(e) => e,
    }
}

#[test]
fn request_accessors() {
    let buf = msg!("INVITE sip:bob@biloxi.com SIP/2.0", VIA, "Max-Forwards: 70", TO, FROM, CALLID, CSEQ,
        "Contact: <sip:alice@pc33.atlanta.com>", "Content-Type: application/sdp", "Content-Length: 4"; "v=0\r\n");
    ok(&buf, |m| {
        assert!(m.is_request());
        assert_eq!(m.method(), Some(Method::Invite));
        assert_eq!(m.version(), Version::SIP_2_0);
        let (raw, span) = m.ruri_raw().unwrap();
        assert_eq!(raw, "sip:bob@biloxi.com");
        assert_eq!(&m.buf()[span], b"sip:bob@biloxi.com");
        assert_eq!(m.ruri().unwrap().user, Some("bob"));
        assert_eq!(m.status(), None);
        assert_eq!(m.reason(), None);
        assert_eq!(m.headers().len(), 9);
        assert_eq!(m.max_forwards(), Some(70));
        assert_eq!(m.call_id(), Some("a84b4c76e66710@pc33.atlanta.com"));
        assert_eq!(m.cseq().unwrap().num, 314159);
        assert_eq!(m.from().unwrap().tag, Some("1928301774"));
        assert_eq!(m.to().unwrap().tag, None);
        assert_eq!(m.content_length(), Some(4));
        assert_eq!(m.body(), b"v=0\r");
        assert_eq!(m.top_via().unwrap().branch, Some("z9hG4bK776asdhds"));
        let h = m.header(HeaderName::ContentType).unwrap();
        assert_eq!(h.value, b"application/sdp");
        assert_eq!(
            &m.buf()[h.line.clone()],
            b"Content-Type: application/sdp\r\n"
        );
        assert_eq!(m.header_by_name("c").unwrap().value, b"application/sdp");
        assert_eq!(
            m.header_by_name("CONTENT-TYPE").unwrap().value,
            b"application/sdp"
        );
        assert!(matches!(m.start(), StartLine::Request { .. }));
        assert_eq!(m.headers_end() + 2, m.body_offset());
        assert_eq!(&m.buf()[m.headers_end()..m.body_offset()], b"\r\n");
        assert_eq!(m.len(), buf.len() - 1);
    });
}

#[test]
fn response_accessors() {
    let buf = msg!(
        "SIP/2.0 180 Ringing",
        VIA,
        TO,
        FROM,
        CALLID,
        CSEQ,
        "Content-Length: 0"
    );
    ok(&buf, |m| {
        assert!(!m.is_request());
        assert_eq!(m.status(), Some(180));
        assert_eq!(m.reason(), Some(&b"Ringing"[..]));
        assert_eq!(m.method(), None);
        assert_eq!(m.ruri(), None);
        assert_eq!(m.ruri_raw(), None);
    });
    // The CSeq method of a response is whatever the request was.
    let buf = msg!("SIP/2.0 200 OK", VIA, TO, FROM, CALLID, "CSeq: 2 BYE");
    ok(&buf, |m| assert_eq!(m.cseq().unwrap().method, Method::Bye));
    for bad in [
        "SIP/2.0 1000 OK",
        "SIP/2.0 99 OK",
        "SIP/2.0 700 OK",
        "SIP/2.0 2x0 OK",
    ] {
        assert_eq!(
            err(&msg!(bad, VIA, TO, FROM, CALLID, CSEQ)),
            ParseError::BadStatusCode,
            "{bad}"
        );
    }
}

#[test]
fn folded_and_multi_value_lines() {
    let buf = msg!(
        "OPTIONS sip:b@c SIP/2.0",
        "Via: SIP/2.0/UDP a;branch=z9hG4bK1,",
        "  SIP/2.0/TCP b:5061;branch=z9hG4bK2",
        "v: SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK3",
        "f: <sip:a@b>;tag=1",
        "t: sip:b@c",
        "i: x@y",
        "CSeq: 1\r\n OPTIONS",
        "Subject: a\r\n\tfolded\r\n subject",
        "l: 0"
    );
    ok(&buf, |m| {
        let hosts: Vec<_> = m.vias().iter().map(|v| (v.host, v.header_index)).collect();
        assert_eq!(hosts, [("a", 0), ("b", 0), ("[2001:db8::1]", 1)]);
        assert_eq!(m.cseq().unwrap().method, Method::Options);
        let subj = m.header(HeaderName::Subject).unwrap();
        assert_eq!(subj.value, b"a\r\n\tfolded\r\n subject");
        assert!(m.buf()[subj.line.clone()].ends_with(b"subject\r\n"));
        for v in m.vias() {
            assert_eq!(
                ferrosip_parser::parse_via(std::str::from_utf8(&m.buf()[v.span.clone()]).unwrap())
                    .unwrap()
                    .host,
                v.host
            );
        }
    });
}

#[test]
fn leniencies() {
    // Leading CRLFs (RFC 3261 §7.5), bare LF line ends, LWS before the colon.
    let buf = b"\r\n\r\nOPTIONS sip:b@c SIP/2.0\nVia : SIP/2.0/UDP a\nFrom: <sip:a@b>\nTo: <sip:b@c>\nCall-ID: 1\nCSeq: 1 OPTIONS\n\nbody";
    ok(buf, |m| {
        assert_eq!(m.ruri_raw().unwrap().1.start, 12);
        assert_eq!(m.body(), b"body");
        assert_eq!(m.content_length(), None);
    });
    // A version other than 2.0 parses; the caller answers 505.
    let buf = msg!(
        "OPTIONS sip:b@c SIP/7.0",
        VIA,
        FROM,
        TO,
        CALLID,
        "CSeq: 1 OPTIONS"
    );
    ok(&buf, |m| {
        assert_eq!(m.version(), Version { major: 7, minor: 0 })
    });
    // Same value twice is not a conflict.
    let buf = msg!(
        "BYE sip:b@c SIP/2.0",
        VIA,
        FROM,
        TO,
        CALLID,
        CALLID,
        "CSeq: 1 BYE",
        "Content-Length: 0",
        "l: 0"
    );
    ok(&buf, |m| assert_eq!(m.content_length(), Some(0)));
    // Non-UTF-8 bytes in a header we do not interpret are fine.
    let mut buf = msg!(
        "BYE sip:b@c SIP/2.0",
        VIA,
        FROM,
        TO,
        CALLID,
        "CSeq: 1 BYE",
        "X-Latin: caf\u{e9}"
    );
    let pos = buf.windows(3).position(|w| w == b"caf").unwrap() + 3;
    buf.splice(pos..pos + 2, [0xE9]);
    ok(&buf, |m| {
        assert_eq!(m.header_by_name("x-latin").unwrap().value, b"caf\xE9")
    });
    // Contact: * (RFC 3261 §10.2.2).
    let buf = msg!(
        "REGISTER sip:c SIP/2.0",
        VIA,
        FROM,
        TO,
        CALLID,
        "CSeq: 1 REGISTER",
        "Contact: *",
        "Expires: 0"
    );
    ok(&buf, |m| assert!(m.header(HeaderName::Contact).is_some()));
}

#[test]
fn missing_and_duplicate_headers() {
    let all = [VIA, FROM, TO, CALLID, CSEQ];
    let names = [
        HeaderName::Via,
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
        HeaderName::CSeq,
    ];
    for (skip, missing) in names.iter().enumerate() {
        let mut s = String::from("INVITE sip:b@c SIP/2.0\r\n");
        for (i, h) in all.iter().enumerate() {
            if i != skip {
                s.push_str(h);
                s.push_str("\r\n");
            }
        }
        s.push_str("\r\n");
        assert_eq!(err(s.as_bytes()), ParseError::MissingHeader(*missing));
    }
    let dups = [
        ("From: <sip:x@y>;tag=2", HeaderName::From),
        ("To: <sip:x@y>", HeaderName::To),
        ("Call-ID: other", HeaderName::CallId),
        ("CSeq: 2 INVITE", HeaderName::CSeq),
    ];
    for (extra, name) in dups {
        let buf = msg!("INVITE sip:b@c SIP/2.0", VIA, FROM, TO, CALLID, CSEQ, extra);
        assert_eq!(err(&buf), ParseError::DuplicateHeader(name), "{extra}");
    }
    let buf = msg!(
        "INVITE sip:b@c SIP/2.0",
        VIA,
        FROM,
        TO,
        CALLID,
        CSEQ,
        "Max-Forwards: 70",
        "Max-Forwards: 69"
    );
    assert_eq!(
        err(&buf),
        ParseError::DuplicateHeader(HeaderName::MaxForwards)
    );
    let buf = msg!("INVITE sip:b@c SIP/2.0", VIA, FROM, TO, CALLID, CSEQ, "Content-Length: 0", "l: 1"; "x");
    assert_eq!(
        err(&buf),
        ParseError::DuplicateHeader(HeaderName::ContentLength)
    );
}

#[test]
fn malformed_messages() {
    let cases: Vec<(Vec<u8>, ParseError)> = vec![
        (b"".to_vec(), ParseError::Empty),
        (b"\r\n\r\n".to_vec(), ParseError::Empty),
        (
            b"INVITE sip:b@c SIP/2.0".to_vec(),
            ParseError::HeadersUnterminated,
        ),
        (
            b"INVITE sip:b@c SIP/2.0\r\nVia: SIP/2.0/UDP a\r\n".to_vec(),
            ParseError::HeadersUnterminated,
        ),
        (msg!("INVITE  sip:b@c SIP/2.0", VIA), ParseError::StartLine),
        (msg!("INVITE sip:b@c SIP/2.0 ", VIA), ParseError::StartLine),
        (msg!("INVITE sip:b@c", VIA), ParseError::StartLine),
        (msg!("INV(ITE sip:b@c SIP/2.0", VIA), ParseError::BadMethod),
        (msg!("INVITE sip:b@c HTTP/1.1", VIA), ParseError::BadVersion),
        (msg!("INVITE <sip:b@c> SIP/2.0", VIA), ParseError::BadUri),
        (msg!("INVITE sip:b@c?x=y SIP/2.0", VIA), ParseError::BadUri),
        (
            msg!("INVITE sip:b@c SIP/2.0", " folded-first: x"),
            ParseError::HeaderName,
        ),
        (
            msg!("INVITE sip:b@c SIP/2.0", "No colon here"),
            ParseError::HeaderName,
        ),
        (
            msg!("INVITE sip:b@c SIP/2.0", "Bad Name: x"),
            ParseError::HeaderName,
        ),
        (
            msg!("INVITE sip:b@c SIP/2.0", "Via: SIP/2.0/UDP a;;"),
            ParseError::BadVia,
        ),
        (
            msg!("INVITE sip:b@c SIP/2.0", VIA, "Call-ID: a b"),
            ParseError::HeaderValue(HeaderName::CallId),
        ),
        (
            msg!("INVITE sip:b@c SIP/2.0", VIA, "Call-ID:"),
            ParseError::HeaderValue(HeaderName::CallId),
        ),
        (
            msg!("INVITE sip:b@c SIP/2.0", VIA, "Max-Forwards: -1"),
            ParseError::BadMaxForwards,
        ),
        (
            msg!("INVITE sip:b@c SIP/2.0", VIA, "Content-Length: 1x"),
            ParseError::BadContentLength,
        ),
        (
            msg!("INVITE sip:b@c SIP/2.0", VIA, "Contact: <sip:a@b>;;"),
            ParseError::HeaderValue(HeaderName::Contact),
        ),
        (
            msg!(
                "INVITE sip:b@c SIP/2.0",
                VIA,
                "Date: Fri, 01 Jan 2010 16:00:00 EST"
            ),
            ParseError::HeaderValue(HeaderName::Date),
        ),
        (
            msg!(
                "INVITE sip:b@c SIP/2.0",
                VIA,
                FROM,
                TO,
                CALLID,
                "CSeq: 1 BYE"
            ),
            ParseError::CSeqMethodMismatch,
        ),
        (
            msg!("INVITE sip:b@c SIP/2.0", VIA, FROM, TO, CALLID, CSEQ, "Content-Length: 10"; "short"),
            ParseError::BodyTruncated,
        ),
        (
            msg!(
                "INVITE sip:b@c SIP/2.0",
                VIA,
                FROM,
                TO,
                CALLID,
                CSEQ,
                "Content-Length: 99999999999999999999999"
            ),
            ParseError::BadContentLength,
        ),
    ];
    for (buf, want) in cases {
        assert_eq!(err(&buf), want, "{}", String::from_utf8_lossy(&buf));
    }
    // Non-UTF-8 in a From header is malformed (RFC 3261 §25.1 TEXT-UTF8).
    let mut buf = msg!(
        "BYE sip:b@c SIP/2.0",
        VIA,
        "From: \"caf\" <sip:a@b>",
        TO,
        CALLID,
        "CSeq: 1 BYE"
    );
    let pos = buf.windows(3).position(|w| w == b"caf").unwrap() + 3;
    buf.insert(pos, 0xE9);
    assert_eq!(err(&buf), ParseError::HeaderValue(HeaderName::From));
    // Big Max-Forwards saturates rather than failing (RFC 4475 §3.1.2.4).
    let buf = msg!(
        "BYE sip:b@c SIP/2.0",
        VIA,
        FROM,
        TO,
        CALLID,
        "CSeq: 1 BYE",
        "Max-Forwards: 300000000000000000000"
    );
    ok(&buf, |m| assert_eq!(m.max_forwards(), Some(u32::MAX)));
}

#[test]
fn limits() {
    let mut s = String::from("OPTIONS sip:b@c SIP/2.0\r\nVia: SIP/2.0/UDP a\r\nFrom: <sip:a@b>\r\nTo: <sip:b@c>\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\n");
    for i in 0..MAX_HEADERS {
        s.push_str(&format!("X-{i}: y\r\n"));
    }
    s.push_str("\r\n");
    assert_eq!(err(s.as_bytes()), ParseError::TooManyHeaders);

    let vias = vec!["SIP/2.0/UDP h"; MAX_VIAS + 1].join(",");
    let buf = msg!(
        "OPTIONS sip:b@c SIP/2.0",
        &format!("Via: {vias}"),
        FROM,
        TO,
        CALLID,
        "CSeq: 1 OPTIONS"
    );
    assert_eq!(err(&buf), ParseError::TooManyVias);
    let vias = vec!["SIP/2.0/UDP h"; MAX_VIAS].join(",");
    let buf = msg!(
        "OPTIONS sip:b@c SIP/2.0",
        &format!("Via: {vias}"),
        FROM,
        TO,
        CALLID,
        "CSeq: 1 OPTIONS"
    );
    ok(&buf, |m| assert_eq!(m.vias().len(), MAX_VIAS));

    let big = vec![b'x'; MAX_MESSAGE + 1];
    assert_eq!(err(&big), ParseError::TooLarge);
    assert_eq!(ParseError::TooLarge.status(), 513);
}

#[test]
fn framing() {
    let m = msg!("BYE sip:b@c SIP/2.0", VIA, FROM, TO, CALLID, "CSeq: 1 BYE", "l: 5"; "hello");
    assert_eq!(frame(&m, 4096), Ok(Framing::Complete(m.len())));
    let mut two = m.clone();
    two.extend_from_slice(&m);
    assert_eq!(frame(&two, 4096), Ok(Framing::Complete(m.len())));
    assert_eq!(frame(&m[..m.len() - 1], 4096), Ok(Framing::Partial));
    assert_eq!(frame(b"", 4096), Ok(Framing::Partial));
    // RFC 5626 §3.5.1 keep-alives.
    assert_eq!(frame(b"\r\n\r\n", 4096), Ok(Framing::KeepAlive(4)));
    assert_eq!(frame(b"\r\n", 4096), Ok(Framing::KeepAlive(2)));
    assert_eq!(frame(b"\r", 4096), Ok(Framing::Partial));
    assert_eq!(frame(b"\r\n\r", 4096), Ok(Framing::KeepAlive(2)));
    let mut ka = b"\r\n\r\n".to_vec();
    ka.extend_from_slice(&m);
    assert_eq!(frame(&ka, 4096), Ok(Framing::KeepAlive(4)));
    // Content-Length is mandatory on streams (RFC 3261 §18.3).
    let no_cl = msg!("BYE sip:b@c SIP/2.0", VIA, FROM, TO, CALLID, "CSeq: 1 BYE");
    assert_eq!(
        frame(&no_cl, 4096),
        Err(ParseError::MissingHeader(HeaderName::ContentLength))
    );
    let bad_cl = msg!("BYE sip:b@c SIP/2.0", "Content-Length: -999");
    assert_eq!(frame(&bad_cl, 4096), Err(ParseError::BadContentLength));
    let two_cl = msg!("BYE sip:b@c SIP/2.0", "Content-Length: 1", "l: 2");
    assert_eq!(
        frame(&two_cl, 4096),
        Err(ParseError::DuplicateHeader(HeaderName::ContentLength))
    );
    let folded = msg!("BYE sip:b@c SIP/2.0", "Content-Length:", "  3"; "abc");
    assert_eq!(frame(&folded, 4096), Ok(Framing::Complete(folded.len())));
    // Header section limits.
    assert_eq!(frame(&m, 40), Err(ParseError::TooLarge));
    assert_eq!(frame(&m[..30], 40), Ok(Framing::Partial));
    assert_eq!(frame(&[b'x'; 100], 40), Err(ParseError::TooLarge));
    let huge = msg!("BYE sip:b@c SIP/2.0", "Content-Length: 70000");
    assert_eq!(frame(&huge, 4096), Err(ParseError::TooLarge));
}

#[test]
fn edits_apply() {
    let buf = b"0123456789";
    let mut e = Edits::new();
    assert!(e.is_empty());
    e.insert(0, b"<");
    e.replace(2..4, b"ab");
    e.delete(6..8);
    e.insert(10, b">");
    e.insert(0, b"!");
    e.insert(4, b"+");
    let mut out = Vec::new();
    e.apply(buf, &mut out).unwrap();
    assert_eq!(out, b"<!01ab+4589>");
    assert_eq!(e.len_delta(), out.len() as isize - buf.len() as isize);
    // Insert at the start of a replaced range goes before it.
    e.clear();
    assert!(e.is_empty());
    e.replace(3..5, b"X");
    e.insert(3, b"i");
    e.apply(buf, &mut out).unwrap();
    assert_eq!(out, b"012iX56789");
    assert_eq!(e.len_delta(), 0);
    // Errors, never panics.
    e.clear();
    e.replace(2..5, b"");
    e.delete(4..6);
    assert_eq!(e.apply(buf, &mut out), Err(EditError::Overlap));
    e.clear();
    e.replace(2..6, b"x");
    e.insert(3, b"y");
    assert_eq!(e.apply(buf, &mut out), Err(EditError::Overlap));
    e.clear();
    e.delete(8..11);
    assert_eq!(e.apply(buf, &mut out), Err(EditError::OutOfBounds));
    e.clear();
    #[allow(clippy::reversed_empty_ranges)]
    e.delete(5..3);
    assert_eq!(e.apply(buf, &mut out), Err(EditError::OutOfBounds));
    e.clear();
    e.insert(11, b"x");
    assert_eq!(e.apply(buf, &mut out), Err(EditError::OutOfBounds));
}

#[test]
fn edits_forward_a_request() {
    // RFC 3261 §16.6: push a Via, decrement Max-Forwards, rewrite the Request-URI.
    let buf = msg!(
        "INVITE sip:bob@biloxi.com SIP/2.0",
        VIA,
        "Max-Forwards: 70",
        TO,
        FROM,
        CALLID,
        CSEQ,
        "Content-Length: 0"
    );
    let arena = bumpalo::Bump::new();
    let m = parse(&buf, &arena).unwrap();
    let mut e = Edits::new();
    let top = &m.headers()[m.top_via().unwrap().header_index];
    e.insert(
        top.line.start,
        b"Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp1\r\n",
    );
    let mf = m.header(HeaderName::MaxForwards).unwrap();
    e.replace(mf.line.clone(), b"Max-Forwards: 69\r\n");
    e.replace(m.ruri_raw().unwrap().1, b"sip:bob@192.0.2.4");
    let mut out = Vec::new();
    e.apply(m.buf(), &mut out).unwrap();
    let arena2 = bumpalo::Bump::new();
    let fwd = parse(&out, &arena2).unwrap();
    assert_eq!(fwd.vias().len(), 2);
    assert_eq!(fwd.top_via().unwrap().host, "proxy.example.com");
    assert_eq!(fwd.max_forwards(), Some(69));
    assert_eq!(fwd.ruri().unwrap().host, "192.0.2.4");
    assert_eq!(out.len() as isize, buf.len() as isize + e.len_delta());
}

#[test]
fn responses_relay_odd_contacts() {
    // A proxy relays a response whatever its Contact or Date looks like; requests get a 400.
    let resp = msg!(
        "SIP/2.0 200 OK",
        VIA,
        TO,
        FROM,
        CALLID,
        CSEQ,
        "Contact: sip:a@b?x=y",
        "Date: today"
    );
    ok(&resp, |m| assert_eq!(m.status(), Some(200)));
    let req = msg!(
        "INVITE sip:b@c SIP/2.0",
        VIA,
        TO,
        FROM,
        CALLID,
        CSEQ,
        "Contact: sip:a@b?x=y"
    );
    assert_eq!(err(&req), ParseError::HeaderValue(HeaderName::Contact));
}

/// The header lines of a response and of a request with the same headers and a start line
/// of the same length (so that spans agree).
fn response_and_request(lines: &[&str]) -> (Vec<u8>, Vec<u8>) {
    let build = |start: &str| {
        let mut s = format!("{start}\r\n");
        for l in lines {
            s.push_str(l);
            s.push_str("\r\n");
        }
        s.push_str("\r\n");
        s.into_bytes()
    };
    (build("SIP/2.0 200 Okay!"), build("BYE sip:b SIP/2.0"))
}

#[test]
fn response_from_to_and_vias_parse_on_access_like_request_ones() {
    let cases: [&[&str]; 4] = [
        &[VIA, FROM, TO, CALLID, "CSeq: 1 BYE"],
        &[
            "Via: SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/TCP b:5061;branch=z9hG4bK2",
            "v: SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK3;received=1.2.3.4",
            "Record-Route: <sip:p;lr>",
            "f: \"A b\" <sip:a@b;transport=tcp>;tag=x",
            "t: sip:b@c",
            CALLID,
            "CSeq: 1 BYE",
            "Via: SIP/2.0/SCTP d ;rport",
        ],
        &[
            "Via: SIP/2.0/UDP a;branch=z9hG4bK1 ,",
            "  SIP/2.0/UDP c;branch=z9hG4bK2",
            FROM,
            TO,
            CALLID,
            "CSeq: 1 BYE",
        ],
        &[
            "via : SIP/2.0/UDP a",
            "FROM:<sip:a@b>",
            "to:<sip:b@c>;tag=1",
            CALLID,
            "CSeq: 1 BYE",
        ],
    ];
    for lines in cases {
        let (resp, req) = response_and_request(lines);
        let (a1, a2) = (bumpalo::Bump::new(), bumpalo::Bump::new());
        let r = parse(&resp, &a1).unwrap();
        let q = parse(&req, &a2).unwrap();
        // The topmost Via is parsed by `parse`; the others and From/To on access.
        assert_eq!(r.top_via(), q.top_via(), "{lines:?}");
        assert_eq!(r.vias(), q.vias(), "{lines:?}");
        assert_eq!(r.via_error(), None);
        assert_eq!(r.from(), q.from(), "{lines:?}");
        assert_eq!(r.to(), q.to(), "{lines:?}");
        assert_eq!(r.headers(), q.headers(), "{lines:?}");
        // In either order of access.
        let a3 = bumpalo::Bump::new();
        let r2 = parse(&resp, &a3).unwrap();
        assert_eq!(r2.via_error(), None);
        assert_eq!(r2.to(), q.to());
        assert_eq!(r2.vias(), q.vias());
        assert_eq!(r2.top_via(), q.top_via());
    }
}

#[test]
fn malformed_lazy_parts_of_a_response() {
    // A second Via that does not parse: the response parses, the list ends before the bad
    // value and `via_error` says why; a request with the same Vias is a 400.
    let vias = [
        "Via: SIP/2.0/UDP a;branch=z9hG4bK1",
        "Via: SIP/2.0/UDP b;branch=z9hG4bK2, SIP/2.0/UDP c;;",
        "Via: SIP/2.0/UDP d",
    ];
    let lines = [vias[0], vias[1], vias[2], FROM, TO, CALLID, "CSeq: 1 BYE"];
    let (resp, req) = response_and_request(&lines);
    let arena = bumpalo::Bump::new();
    let r = parse(&resp, &arena).unwrap();
    assert_eq!(r.top_via().unwrap().host, "a");
    let hosts: Vec<_> = r.vias().iter().map(|v| v.host).collect();
    assert_eq!(hosts, ["a", "b"]);
    assert_eq!(r.via_error(), Some(ParseError::BadVia));
    assert_eq!(err(&req), ParseError::BadVia);

    // Junk after the topmost value on its own line: the topmost is fine, the rest is not.
    let lines = ["Via: SIP/2.0/UDP a, junk", FROM, TO, CALLID, "CSeq: 1 BYE"];
    let (resp, _) = response_and_request(&lines);
    let arena = bumpalo::Bump::new();
    let r = parse(&resp, &arena).unwrap();
    assert_eq!(r.top_via().unwrap().host, "a");
    assert_eq!(r.vias().len(), 1);
    assert_eq!(r.via_error(), Some(ParseError::BadVia));

    // A malformed topmost Via is still a parse error.
    let lines = ["Via: SIP/2.0/UDP a b", FROM, TO, CALLID, "CSeq: 1 BYE"];
    let (resp, _) = response_and_request(&lines);
    assert_eq!(err(&resp), ParseError::BadVia);

    // Too many Vias in a response: the first MAX_VIAS, and the error.
    let many = format!("Via: {}", vec!["SIP/2.0/UDP h"; MAX_VIAS + 1].join(","));
    let lines = [many.as_str(), FROM, TO, CALLID, "CSeq: 1 BYE"];
    let (resp, req) = response_and_request(&lines);
    let arena = bumpalo::Bump::new();
    let r = parse(&resp, &arena).unwrap();
    assert_eq!(r.vias().len(), MAX_VIAS);
    assert_eq!(r.via_error(), Some(ParseError::TooManyVias));
    assert_eq!(err(&req), ParseError::TooManyVias);

    // A malformed From reads as `None` in a response (To is unaffected); a request gets 400.
    let lines = [VIA, "From: <sip:a@b", TO, CALLID, "CSeq: 1 BYE"];
    let (resp, req) = response_and_request(&lines);
    let arena = bumpalo::Bump::new();
    let r = parse(&resp, &arena).unwrap();
    assert_eq!(r.from(), None);
    assert_eq!(r.to().unwrap().uri_raw, "sip:bob@biloxi.com");
    assert_eq!(err(&req), ParseError::HeaderValue(HeaderName::From));
    // Likewise a To that is not UTF-8.
    let (mut resp, _) =
        response_and_request(&[VIA, FROM, "To: <sip:b\u{e9}@c>", CALLID, "CSeq: 1 BYE"]);
    let pos = resp
        .windows(2)
        .position(|w| w == "\u{e9}".as_bytes())
        .unwrap();
    resp.splice(pos..pos + 2, [0xE9]);
    let arena = bumpalo::Bump::new();
    let r = parse(&resp, &arena).unwrap();
    assert_eq!(r.to(), None);
    assert!(r.from().is_some());
    // Still required to be present.
    let (resp, _) = response_and_request(&[VIA, TO, CALLID, "CSeq: 1 BYE"]);
    assert_eq!(err(&resp), ParseError::MissingHeader(HeaderName::From));
}

#[test]
fn errors_are_reported_in_line_order() {
    // Typed values are parsed after the lines are indexed; the error on the earliest line
    // still wins.
    let cases = [
        (
            msg!(
                "INVITE sip:b@c SIP/2.0",
                "Via: SIP/2.0/UDP a;;",
                "Bad Line",
                FROM,
                TO
            ),
            ParseError::BadVia,
        ),
        (
            msg!(
                "INVITE sip:b@c SIP/2.0",
                VIA,
                "Bad Line",
                "Call-ID: a b",
                FROM,
                TO
            ),
            ParseError::HeaderName,
        ),
        (
            msg!(
                "INVITE sip:b@c SIP/2.0",
                VIA,
                "Call-ID: a b",
                "Call-ID: c",
                FROM
            ),
            ParseError::HeaderValue(HeaderName::CallId),
        ),
        (
            msg!(
                "INVITE sip:b@c SIP/2.0",
                VIA,
                "Call-ID: a",
                "Call-ID: c",
                "CSeq: x"
            ),
            ParseError::DuplicateHeader(HeaderName::CallId),
        ),
        (
            msg!(
                "INVITE sip:b@c SIP/2.0",
                VIA,
                "CSeq: x",
                "Call-ID: a",
                "Call-ID: c"
            ),
            ParseError::BadCSeq,
        ),
        (
            msg!(
                "INVITE sip:b@c SIP/2.0",
                VIA,
                "Max-Forwards: x",
                FROM,
                "Via: SIP/2.0/UDP ;"
            ),
            ParseError::BadMaxForwards,
        ),
        (
            msg!(
                "INVITE sip:b@c SIP/2.0",
                VIA,
                "Content-Length: x",
                "From: <sip:a"
            ),
            ParseError::BadContentLength,
        ),
        (
            msg!(
                "INVITE sip:b@c SIP/2.0",
                VIA,
                "From: <sip:a",
                "Content-Length: x"
            ),
            ParseError::HeaderValue(HeaderName::From),
        ),
        (
            b"INVITE sip:b@c SIP/2.0\r\nVia: SIP/2.0/UDP a;;\r\nFrom: x".to_vec(),
            ParseError::BadVia,
        ),
        (
            b"INVITE sip:b@c SIP/2.0\r\nVia: SIP/2.0/UDP a\r\nFrom: x".to_vec(),
            ParseError::HeadersUnterminated,
        ),
    ];
    for (buf, want) in cases {
        assert_eq!(err(&buf), want, "{}", String::from_utf8_lossy(&buf));
    }
}

#[test]
fn raw_names_keep_their_spelling() {
    let buf = msg!(
        "OPTIONS sip:b@c SIP/2.0",
        "via : SIP/2.0/UDP a",
        "f: <sip:a@b>",
        "TO:<sip:b@c>",
        "Call-ID: x",
        "CSeq: 1 OPTIONS",
        "X-Custom-Header: 1",
        "Content-Type:application/sdp",
        "Session-Expires: 90",
        "Session-Expires : 90"
    );
    ok(&buf, |m| {
        let names: Vec<_> = m.headers().iter().map(|h| h.raw_name).collect();
        assert_eq!(
            names,
            [
                "via",
                "f",
                "TO",
                "Call-ID",
                "CSeq",
                "X-Custom-Header",
                "Content-Type",
                "Session-Expires",
                "Session-Expires"
            ]
        );
        for h in m.headers() {
            assert!(m.buf()[h.line.clone()].starts_with(h.raw_name.as_bytes()));
        }
    });
}
