//! Unit tests per header type, through the public entry points.

use ferrosip_parser::{
    parse_cseq, parse_name_addr, parse_name_addr_list, parse_uri, parse_via, HeaderName, Method,
    ParseError, Proto, Scheme, Version,
};

#[test]
fn via_all_params() {
    let s = "SIP/2.0/UDP pc33.example.com:5066;branch=z9hG4bK776asdhds;received=192.0.2.1;rport=5070;maddr=224.2.0.1;ttl=16;x-ext=\"a;b\";flag";
    let v = parse_via(s).unwrap();
    assert_eq!(v.proto, Some(Proto::Udp));
    assert_eq!(v.transport, "UDP");
    assert_eq!((v.host, v.port), ("pc33.example.com", Some(5066)));
    assert_eq!(v.branch, Some("z9hG4bK776asdhds"));
    assert_eq!(v.received, Some("192.0.2.1"));
    assert_eq!(v.rport, Some(Some(5070)));
    assert_eq!(v.maddr, Some("224.2.0.1"));
    assert_eq!(v.ttl, Some(16));
    assert!(v.params.starts_with(";branch=") && v.params.ends_with(";flag"));
    assert_eq!(v.span, 0..s.len());
    assert_eq!(v.header_index, 0);
}

#[test]
fn via_bare_rport_and_case() {
    let v = parse_via("sip/2.0/tls host;RPORT;Branch=z9hG4bKx").unwrap();
    assert_eq!(v.rport, Some(None));
    assert_eq!(v.proto, Some(Proto::Tls));
    assert_eq!(v.branch, Some("z9hG4bKx"));
    assert_eq!(v.port, None);
    assert_eq!(
        parse_via("SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKx")
            .unwrap()
            .proto,
        Some(Proto::Wss)
    );
}

#[test]
fn via_ipv6() {
    let v =
        parse_via("SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1;received=[2001:db8::2]").unwrap();
    assert_eq!((v.host, v.port), ("[2001:db8::1]", Some(5060)));
    assert_eq!(v.received, Some("[2001:db8::2]"));
    let v = parse_via("SIP/2.0/TCP [::ffff:192.0.2.2];received=2001:db8::9:255").unwrap();
    assert_eq!(
        (v.host, v.port, v.received),
        ("[::ffff:192.0.2.2]", None, Some("2001:db8::9:255"))
    );
}

#[test]
fn via_lws_everywhere() {
    let v = parse_via("SIP  /   2.0\r\n /UDP\r\n    192.0.2.2 : 5062 ;  branch =\r\n z9hG4bK1")
        .unwrap();
    assert_eq!(
        (v.host, v.port, v.branch),
        ("192.0.2.2", Some(5062), Some("z9hG4bK1"))
    );
}

#[test]
fn via_errors() {
    for bad in [
        "",
        "SIP/2.0/UDP",
        "SIP/2.0 UDP host",
        "SIP/2.0/UDP host;;",
        "SIP/2.0/UDP host;branch=",
        "SIP/2.0/UDP host:99999",
        "SIP/2.0/UDP host:",
        "SIP/2.0/UDP host;ttl=256",
        "SIP/2.0/UDP host;rport=x",
        "SIP/2.0/UDP [2001:db8::1",
        "SIP/2.0/UDP [zz]",
        "SIP/2.0/UDP host, SIP/2.0/UDP other",
        "SIP/2.0/UDP host junk",
    ] {
        assert!(parse_via(bad).is_err(), "{bad:?} parsed");
    }
    assert_eq!(
        parse_via("SIP/2.0/UDP h;x=\"open"),
        Err(ParseError::UnterminatedQuote)
    );
}

#[test]
fn uri_sip_full() {
    let u = parse_uri("sips:alice:secret@atlanta.com:5061;transport=tcp;lr;maddr=239.255.255.1?subject=project%20x&priority=urgent").unwrap();
    assert_eq!(u.scheme, Scheme::Sips);
    assert_eq!((u.user, u.password), (Some("alice"), Some("secret")));
    assert_eq!((u.host, u.port), ("atlanta.com", Some(5061)));
    assert_eq!(u.params, ";transport=tcp;lr;maddr=239.255.255.1");
    assert_eq!(u.headers, "subject=project%20x&priority=urgent");
    assert_eq!(u.param("TRANSPORT"), Some(Some("tcp")));
    assert_eq!(u.param("lr"), Some(None));
    assert_eq!(u.param("ttl"), None);
}

#[test]
fn uri_escaped_user() {
    let arena = bumpalo::Bump::new();
    let u = parse_uri("sip:%61lice%40home@example.com").unwrap();
    assert_eq!(u.user, Some("%61lice%40home"));
    assert_eq!(u.user_unescaped(&arena), Some(&b"alice@home"[..]));
    // A '%' that is not an escape is kept (RFC 4475 §3.1.1.5).
    let u = parse_uri("sip:100%zz@example.com").unwrap();
    assert_eq!(u.user_unescaped(&arena), Some(&b"100%zz"[..]));
    let u = parse_uri("sip:example.com").unwrap();
    assert_eq!((u.user, u.user_unescaped(&arena)), (None, None));
}

#[test]
fn uri_tel_and_other() {
    let u = parse_uri("tel:+1-201-555-0123;phone-context=example.com").unwrap();
    assert_eq!(u.scheme, Scheme::Tel);
    assert_eq!(u.user, Some("+1-201-555-0123"));
    assert_eq!(u.param("phone-context"), Some(Some("example.com")));
    let u = parse_uri("urn:service:sos").unwrap();
    assert_eq!(
        (u.scheme, u.raw, u.host),
        (Scheme::Other, "urn:service:sos", "")
    );
    assert_eq!(
        parse_uri("SIP:Bob@Example.COM").unwrap().scheme,
        Scheme::Sip
    );
}

#[test]
fn uri_ipv6_hosts() {
    let u = parse_uri("sip:[2001:db8::1]:5060;transport=udp").unwrap();
    assert_eq!((u.host, u.port), ("[2001:db8::1]", Some(5060)));
    let u = parse_uri("sip:user@[2001:db8::10:5070]").unwrap();
    assert_eq!((u.host, u.port), ("[2001:db8::10:5070]", None));
    assert_eq!(parse_uri("sip:user@2001:db8::10"), Err(ParseError::BadUri));
}

#[test]
fn uri_errors() {
    for bad in [
        "",
        "sip",
        "sip:",
        "1sip:host",
        "<sip:host>",
        "sip:host name",
        "sip:@host",
        "sip:user@",
        "sip:host:",
        "sip:host:65536",
        "sip:host:5x",
        "sip:host;;lr",
        "sip:host;=x",
        "sip:ho\"st",
        "sip:[::1",
        "tel:",
    ] {
        assert!(parse_uri(bad).is_err(), "{bad:?} parsed");
    }
}

#[test]
fn name_addr_forms() {
    let n = parse_name_addr("\"A. G. Bell\" <sip:agb@bell-telephone.com> ;tag=a48s").unwrap();
    assert_eq!(n.display, Some("\"A. G. Bell\""));
    assert_eq!(n.uri.user, Some("agb"));
    assert_eq!(n.uri_raw, "sip:agb@bell-telephone.com");
    assert_eq!(n.params, ";tag=a48s");
    assert_eq!(n.tag, Some("a48s"));

    // addr-spec: the ;params belong to the header, not the URI (RFC 3261 §20.10).
    let n = parse_name_addr("sip:+12125551212@server.phone2net.com;tag=887s").unwrap();
    assert_eq!((n.display, n.uri.params, n.tag), (None, "", Some("887s")));

    // Token display name, no LWS before '<'.
    let n = parse_name_addr("Anonymous<sip:c8oqz84zk7z@privacy.org>;tag=hyh8").unwrap();
    assert_eq!(n.display, Some("Anonymous"));

    // Quoted display name with escaped quotes and backslashes.
    let n = parse_name_addr(r#""Quoted \"name\" \\ here" <sip:x@y>"#).unwrap();
    assert_eq!(n.display, Some(r#""Quoted \"name\" \\ here""#));

    // URI params inside <> stay with the URI.
    let n = parse_name_addr("<sip:x@y;transport=tcp>;expires=60;q=0.5").unwrap();
    assert_eq!(n.uri.param("transport"), Some(Some("tcp")));
    assert_eq!(n.param("expires"), Some(Some("60")));
    assert_eq!(n.param("q"), Some(Some("0.5")));
    assert_eq!(n.tag, None);
}

#[test]
fn name_addr_errors() {
    assert_eq!(
        parse_name_addr("\"open <sip:x@y>"),
        Err(ParseError::UnterminatedQuote)
    );
    for bad in [
        "",
        "Bell, Alexander <sip:a@b>",
        "< sip:a@b >",
        "<sip:a@b",
        "sip:a@b?Route=x",
        "<sip:a@b>;;",
        "<sip:a@b>;tag=",
        "<sip:a@b> junk",
        "\"x\" sip:a@b",
    ] {
        assert!(parse_name_addr(bad).is_err(), "{bad:?} parsed");
    }
}

#[test]
fn name_addr_lists() {
    let mut seen = Vec::new();
    parse_name_addr_list("<sip:a@b;lr>, \"x,y\" <sip:c@d>;q=1 ,sip:e@f", |n| {
        seen.push(n.uri.host);
        Ok(())
    })
    .unwrap();
    assert_eq!(seen, ["b", "d", "f"]);
    assert!(parse_name_addr_list("<sip:a@b>,,<sip:c@d>", |_| Ok(())).is_err());
    assert!(parse_name_addr_list("<sip:a@b>,", |_| Ok(())).is_err());
}

#[test]
fn cseq_values() {
    let c = parse_cseq("4711 INVITE").unwrap();
    assert_eq!((c.num, c.method), (4711, Method::Invite));
    let c = parse_cseq("0009\r\n  INVITE").unwrap();
    assert_eq!(c.num, 9);
    assert_eq!(parse_cseq("2147483647 ACK").unwrap().num, 2_147_483_647);
    for bad in [
        "",
        "INVITE",
        "12",
        "12INVITE",
        "2147483648 INVITE",
        "36893488147419103232 REGISTER",
        "1 INV ITE",
        "-1 BYE",
    ] {
        assert_eq!(parse_cseq(bad), Err(ParseError::BadCSeq), "{bad:?}");
    }
    assert_eq!(parse_cseq("1 foo").unwrap().method, Method::Other("foo"));
}

#[test]
fn header_names_compact_and_case() {
    let cases = [
        ("i", HeaderName::CallId),
        ("F", HeaderName::From),
        ("t", HeaderName::To),
        ("v", HeaderName::Via),
        ("m", HeaderName::Contact),
        ("L", HeaderName::ContentLength),
        ("c", HeaderName::ContentType),
        ("k", HeaderName::Supported),
        ("s", HeaderName::Subject),
        ("e", HeaderName::ContentEncoding),
        ("o", HeaderName::Event),
        ("r", HeaderName::ReferTo),
        ("u", HeaderName::AllowEvents),
        ("x", HeaderName::SessionExpires),
        ("y", HeaderName::Identity),
        ("b", HeaderName::ReferredBy),
        ("a", HeaderName::AcceptContact),
        ("j", HeaderName::RejectContact),
        ("d", HeaderName::RequestDisposition),
        ("n", HeaderName::IdentityInfo),
        ("z", HeaderName::Other),
        ("call-id", HeaderName::CallId),
        ("CALL-ID", HeaderName::CallId),
        ("max-FORWARDS", HeaderName::MaxForwards),
        ("www-authenticate", HeaderName::WwwAuthenticate),
        ("Record-Route", HeaderName::RecordRoute),
        ("X-Foo", HeaderName::Other),
        ("", HeaderName::Other),
    ];
    for (name, want) in cases {
        assert_eq!(HeaderName::from_bytes(name.as_bytes()), want, "{name}");
    }
    assert_eq!(HeaderName::CallId.canonical(), Some("Call-ID"));
    assert_eq!(HeaderName::Other.canonical(), None);
    assert_eq!(
        HeaderName::from_bytes(HeaderName::WwwAuthenticate.canonical().unwrap().as_bytes()),
        HeaderName::WwwAuthenticate
    );
}

#[test]
fn methods_and_versions() {
    assert_eq!(Method::from_bytes(b"INVITE"), Some(Method::Invite));
    assert_eq!(Method::from_bytes(b"invite"), Some(Method::Other("invite")));
    assert_eq!(Method::from_bytes(b"IN VITE"), None);
    assert_eq!(Method::from_bytes(b""), None);
    for m in [
        "INVITE",
        "ACK",
        "BYE",
        "CANCEL",
        "REGISTER",
        "OPTIONS",
        "INFO",
        "UPDATE",
        "PRACK",
        "SUBSCRIBE",
        "NOTIFY",
        "REFER",
        "MESSAGE",
        "PUBLISH",
    ] {
        let parsed = Method::from_bytes(m.as_bytes()).unwrap();
        assert!(!matches!(parsed, Method::Other(_)));
        assert_eq!(parsed.as_str(), m);
    }
    assert_eq!(Version::from_bytes(b"SIP/2.0"), Some(Version::SIP_2_0));
    assert_eq!(
        Version::from_bytes(b"sip/7.0"),
        Some(Version { major: 7, minor: 0 })
    );
    assert_eq!(Version::from_bytes(b"SIP/2"), None);
    assert_eq!(Version::from_bytes(b"SIP/256.0"), None);
    assert_eq!(Version::SIP_2_0.to_string(), "SIP/2.0");
}

#[test]
fn errors_map_to_responses() {
    assert_eq!(ParseError::BadVia.status(), 400);
    assert_eq!(ParseError::BadVia.reason(), "Bad Via header");
    assert_eq!(ParseError::TooLarge.status(), 513);
    assert_eq!(
        ParseError::MissingHeader(HeaderName::CallId).to_string(),
        "Missing Call-ID header"
    );
    let e: Box<dyn std::error::Error> = Box::new(ParseError::BadCSeq);
    assert_eq!(e.to_string(), "Bad CSeq header");
}

/// The fast dispatch in `HeaderName::from_bytes` agrees with the canonical names, in any case.
#[test]
fn header_name_dispatch_covers_every_canonical_name() {
    let all = [
        HeaderName::Via,
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
        HeaderName::CSeq,
        HeaderName::MaxForwards,
        HeaderName::ContentLength,
        HeaderName::ContentType,
        HeaderName::Contact,
        HeaderName::Route,
        HeaderName::RecordRoute,
        HeaderName::Expires,
        HeaderName::UserAgent,
        HeaderName::Server,
        HeaderName::Allow,
        HeaderName::Supported,
        HeaderName::Require,
        HeaderName::ProxyRequire,
        HeaderName::Unsupported,
        HeaderName::Authorization,
        HeaderName::ProxyAuthorization,
        HeaderName::WwwAuthenticate,
        HeaderName::ProxyAuthenticate,
        HeaderName::Event,
        HeaderName::Subject,
        HeaderName::ReferTo,
        HeaderName::Accept,
        HeaderName::ContentEncoding,
        HeaderName::Date,
        HeaderName::AllowEvents,
        HeaderName::SessionExpires,
        HeaderName::Identity,
        HeaderName::ReferredBy,
        HeaderName::AcceptContact,
        HeaderName::RejectContact,
        HeaderName::RequestDisposition,
        HeaderName::IdentityInfo,
        HeaderName::Path,
    ];
    for h in all {
        let name = h.canonical().unwrap();
        assert_eq!(HeaderName::from_bytes(name.as_bytes()), h, "{name}");
        assert_eq!(
            HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()),
            h,
            "{name}"
        );
        assert_eq!(
            HeaderName::from_bytes(name.to_ascii_uppercase().as_bytes()),
            h,
            "{name}"
        );
    }
}
