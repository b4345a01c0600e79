//! RFC 4475 and RFC 5118 torture messages as a conformance suite (STYLE L10): every valid
//! message parses, every invalid one is an error (or, for `badvers`, a parse with the version
//! recorded so that the caller answers 505).

use std::path::PathBuf;

use ferrosip_parser::{parse, HeaderName, ParseError, Version};

/// The torture data directory, `None` (with a note) if it is not checked out.
fn data_dir() -> Option<PathBuf> {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/sip-torture");
    if dir.join("MANIFEST.tsv").is_file() {
        Some(dir)
    } else {
        eprintln!("note: {} absent, torture tests skipped", dir.display());
        None
    }
}

/// One MANIFEST.tsv row: file, category, and the expected outcome.
struct Row {
    file: String,
    category: String,
}

fn manifest(dir: &std::path::Path) -> Vec<Row> {
    let text = std::fs::read_to_string(dir.join("MANIFEST.tsv")).expect("read MANIFEST.tsv");
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            Row {
                file: cols[0].to_string(),
                category: cols[5].to_string(),
            }
        })
        .collect()
}

/// The error each invalid message must produce (the most specific reason we give).
fn expected_error(name: &str) -> Option<ParseError> {
    Some(match name {
        "badinv01" => ParseError::BadVia,
        "clerr" => ParseError::BodyTruncated,
        "ncl" => ParseError::BadContentLength,
        "scalar02" | "scalarlg" => ParseError::BadCSeq,
        "quotbal" => ParseError::UnterminatedQuote,
        "ltgtruri" | "escruri" | "ipv6-bad" => ParseError::BadUri,
        "lwsruri" | "lwsstart" | "trws" | "test" => ParseError::StartLine,
        "baddate" => ParseError::HeaderValue(HeaderName::Date),
        "regbadct" => ParseError::HeaderValue(HeaderName::Contact),
        "badaspec" => ParseError::HeaderValue(HeaderName::To),
        "baddn" => ParseError::HeaderValue(HeaderName::From),
        "mismatch01" | "mismatch02" => ParseError::CSeqMethodMismatch,
        "bigcode" => ParseError::BadStatusCode,
        "insuf" => ParseError::MissingHeader(HeaderName::From),
        "multi01" => ParseError::DuplicateHeader(HeaderName::CSeq),
        "mcl01" => ParseError::DuplicateHeader(HeaderName::ContentLength),
        _ => return None,
    })
}

#[test]
fn torture_manifest() {
    let Some(dir) = data_dir() else { return };
    let rows = manifest(&dir);
    assert!(rows.len() >= 60, "MANIFEST has {} rows", rows.len());
    let mut failures = Vec::new();
    for row in &rows {
        let buf = std::fs::read(dir.join(&row.file)).expect("read .dat");
        let arena = bumpalo::Bump::new();
        let stem = row
            .file
            .rsplit('/')
            .next()
            .unwrap()
            .trim_end_matches(".dat")
            .to_string();
        let res = parse(&buf, &arena);
        match (row.category.as_str(), &res) {
            ("valid", Ok(_)) => {}
            ("invalid", Ok(m)) if stem == "badvers" => {
                assert_eq!(m.version(), Version { major: 7, minor: 0 });
            }
            ("invalid", Err(e)) if expected_error(&stem) == Some(*e) => {}
            _ => failures.push(format!(
                "{} ({}): {:?}",
                row.file,
                row.category,
                res.map(|_| ())
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "unexpected results:\n{}",
        failures.join("\n")
    );
}

/// Prints every message's outcome (run with `--nocapture` to review).
#[test]
fn torture_outcomes_listed() {
    let Some(dir) = data_dir() else { return };
    for row in manifest(&dir) {
        let buf = std::fs::read(dir.join(&row.file)).expect("read .dat");
        let arena = bumpalo::Bump::new();
        let res = parse(&buf, &arena);
        println!(
            "{:45} {:8} {:?}",
            row.file,
            row.category,
            res.as_ref().map(|m| m.vias().len())
        );
    }
}

/// Parses one torture file and hands the message to `check`.
fn with_msg(file: &str, check: impl FnOnce(&ferrosip_parser::Message<'_>)) {
    let Some(dir) = data_dir() else { return };
    let buf = std::fs::read(dir.join(file)).expect("read .dat");
    let arena = bumpalo::Bump::new();
    let m = parse(&buf, &arena).unwrap_or_else(|e| panic!("{file}: {e:?}"));
    check(&m);
}

#[test]
fn wsinv_fields() {
    use ferrosip_parser::{Method, Proto};
    with_msg("rfc4475/wsinv.dat", |m| {
        assert_eq!(m.method(), Some(Method::Invite));
        assert_eq!(m.ruri().unwrap().param("unknownparam"), Some(None));
        assert_eq!(m.to().unwrap().tag, Some("1918181833n"));
        let from = m.from().unwrap();
        assert_eq!(from.display, Some(r#""J Rosenberg \\\"""#));
        assert_eq!(from.tag, Some("98asjd8"));
        assert_eq!(m.max_forwards(), Some(68));
        assert_eq!(m.cseq().unwrap().num, 9);
        assert_eq!(m.content_length(), Some(150));
        assert_eq!(m.body().len(), 150);
        let v = m.vias();
        assert_eq!(v.len(), 3);
        assert_eq!(
            (v[0].proto, v[0].host, v[0].branch),
            (Some(Proto::Udp), "192.0.2.2", Some("390skdjuw"))
        );
        assert_eq!(
            (v[1].proto, v[1].host, v[1].branch),
            (
                Some(Proto::Tcp),
                "spindle.example.com",
                Some("z9hG4bK9ikj8")
            )
        );
        assert_eq!(
            (v[2].host, v[2].branch),
            ("192.168.255.111", Some("z9hG4bK30239"))
        );
        assert_eq!(v[1].header_index, v[2].header_index);
        // The span of each Via value points at its own text in the buffer.
        assert!(m.buf()[v[2].span.clone()].starts_with(b"SIP  /    2.0"));
        assert!(m.buf()[v[2].span.clone()].ends_with(b"z9hG4bK30239"));
        let sub = m.header(HeaderName::Subject).unwrap();
        assert_eq!((sub.raw_name, sub.value), ("s", &b""[..]));
        assert!(m
            .header_by_name("newfangledheader")
            .unwrap()
            .value
            .ends_with(b"continued newfangled value"));
    });
}

#[test]
fn intmeth_fields() {
    with_msg("rfc4475/intmeth.dat", |m| {
        assert_eq!(
            m.method().unwrap().as_str(),
            "!interesting-Method0123456789_*+`.%indeed'~"
        );
        let ruri = m.ruri().unwrap();
        assert_eq!(
            ruri.user,
            Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
        );
        assert_eq!(
            ruri.password,
            Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
        );
        assert_eq!(ruri.host, "example.com");
        assert_eq!(
            m.to().unwrap().display,
            Some("\"BEL:\\\x07 NUL:\\\0 DEL:\\\x7f\"")
        );
        assert_eq!(
            m.from().unwrap().display,
            Some("token1~` token2'+_ token3*%!.-")
        );
        assert_eq!(m.from().unwrap().tag, Some("_token~1'+`*%!-."));
        assert_eq!(
            m.call_id(),
            Some("intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{")
        );
        assert_eq!(m.max_forwards(), Some(255));
    });
}

#[test]
fn escapes_and_semicolons() {
    with_msg("rfc4475/esc01.dat", |m| {
        let arena = bumpalo::Bump::new();
        let ruri = m.ruri().unwrap();
        assert_eq!(ruri.user, Some("sips%3Auser%40example.com"));
        assert_eq!(
            ruri.user_unescaped(&arena),
            Some(&b"sips:user@example.com"[..])
        );
        assert_eq!(m.call_id(), Some("esc01.239409asdfakjkn23onasd0-3234"));
        assert_eq!(m.header(HeaderName::ContentType).unwrap().raw_name, "C");
    });
    with_msg("rfc4475/escnull.dat", |m| {
        let arena = bumpalo::Bump::new();
        assert_eq!(
            m.to().unwrap().uri.user_unescaped(&arena),
            Some(&b"null-\0-null"[..])
        );
    });
    with_msg("rfc4475/esc02.dat", |m| {
        assert_eq!(
            m.method(),
            Some(ferrosip_parser::Method::Other("RE%47IST%45R"))
        );
        assert_eq!(
            m.header_by_name("C%6Fntact").unwrap().name,
            HeaderName::Other
        );
    });
    with_msg("rfc4475/semiuri.dat", |m| {
        let ruri = m.ruri().unwrap();
        assert_eq!(
            (ruri.user, ruri.host, ruri.params),
            (Some("user;par=u%40example.net"), "example.com", "")
        );
    });
    with_msg("rfc4475/lwsdisp.dat", |m| {
        assert_eq!(m.from().unwrap().display, Some("caller"))
    });
}

#[test]
fn dblreq_ignores_trailing_octets() {
    with_msg("rfc4475/dblreq.dat", |m| {
        assert_eq!(m.body(), b"");
        assert!(m.len() < m.buf().len());
        assert_eq!(m.len(), m.body_offset());
        assert_eq!(&m.buf()[m.headers_end()..m.body_offset()], b"\r\n");
    });
}

#[test]
fn schemes_and_versions() {
    use ferrosip_parser::Scheme;
    with_msg("rfc4475/unkscm.dat", |m| {
        assert_eq!(m.ruri().unwrap().scheme, Scheme::Other)
    });
    with_msg("rfc4475/novelsc.dat", |m| {
        assert_eq!(m.ruri().unwrap().raw, "soap.beep://192.0.2.103:3002")
    });
    with_msg("rfc4475/unksm2.dat", |m| {
        assert_eq!(m.to().unwrap().uri_raw, "isbn:2983792873");
        assert_eq!(m.from().unwrap().uri.scheme, Scheme::Other);
    });
    with_msg("rfc4475/noreason.dat", |m| {
        assert_eq!((m.status(), m.reason()), (Some(100), Some(&b""[..])))
    });
    with_msg("rfc4475/unreason.dat", |m| {
        assert_eq!(m.status(), Some(200));
        assert!(std::str::from_utf8(m.reason().unwrap()).is_ok());
    });
    with_msg("rfc4475/zeromf.dat", |m| {
        assert_eq!(m.max_forwards(), Some(0))
    });
    with_msg("rfc4475/transports.dat", |m| {
        let t: Vec<_> = m
            .vias()
            .iter()
            .map(|v| (v.transport, v.proto.is_some()))
            .collect();
        assert_eq!(
            t,
            [
                ("UDP", true),
                ("SCTP", true),
                ("TLS", true),
                ("UNKNOWN", false),
                ("TCP", true)
            ]
        );
    });
    with_msg("rfc4475/inv2543.dat", |m| {
        assert_eq!(m.content_length(), None);
        assert!(!m.body().is_empty());
        assert_eq!(m.from().unwrap().tag, None);
        assert_eq!(m.top_via().unwrap().branch, None);
    });
}

#[test]
fn ipv6_references() {
    with_msg("rfc5118/ipv6-good.dat", |m| {
        assert_eq!(m.ruri().unwrap().host, "[2001:db8::10]");
        assert_eq!(m.top_via().unwrap().host, "[2001:db8::9:1]");
    });
    with_msg("rfc5118/port-ambiguous.dat", |m| {
        let u = m.ruri().unwrap();
        assert_eq!((u.host, u.port), ("[2001:db8::10:5070]", None));
    });
    with_msg("rfc5118/port-unambiguous.dat", |m| {
        let u = m.ruri().unwrap();
        assert_eq!((u.host, u.port), ("[2001:db8::10]", Some(5070)));
    });
    with_msg("rfc5118/via-received-param-with-delim.dat", |m| {
        assert_eq!(m.top_via().unwrap().received, Some("[2001:db8::9:255]"));
    });
    with_msg("rfc5118/via-received-param-no-delim.dat", |m| {
        assert_eq!(m.top_via().unwrap().received, Some("2001:db8::9:255"));
    });
    with_msg("rfc5118/mult-ip-in-header.dat", |m| {
        let v = m.vias();
        assert_eq!((v[0].host, v[0].port), ("[2001:db8::9:1]", Some(6050)));
        assert_eq!(v[2].received, Some("192.0.2.200"));
    });
    with_msg("rfc5118/ipv4-mapped-ipv6.dat", |m| {
        assert_eq!(m.top_via().unwrap().host, "[::ffff:192.0.2.10]");
        assert_eq!(m.top_via().unwrap().port, Some(19823));
    });
    with_msg("rfc5118/ipv6-bug-abnf-3-colons.dat", |m| {
        assert!(m.ruri().is_some())
    });
}

/// Every torture message, sliced at every length, never panics the parser or the framer.
#[test]
fn torture_prefixes_never_panic() {
    let Some(dir) = data_dir() else { return };
    for row in manifest(&dir) {
        let buf = std::fs::read(dir.join(&row.file)).expect("read .dat");
        for n in 0..=buf.len() {
            let arena = bumpalo::Bump::new();
            let _ = parse(&buf[..n], &arena);
            let _ = ferrosip_parser::frame(&buf[..n], 4096);
        }
    }
}
