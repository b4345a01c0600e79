//! Design notes for the parser (doc-only, STYLE L15).
//!
//! # Shape
//! [`crate::parse`] makes one pass over the header section. Each header line becomes a
//! [`crate::Header`] (name, raw value, byte range) in an arena vector; the headers a proxy
//! routes on are parsed on the way into typed, borrowed views: every Via value
//! ([`crate::Via`]), From and To ([`crate::NameAddr`]), Call-ID, CSeq, Max-Forwards and
//! Content-Length. Contact and Date are validated in requests but not stored (a response is
//! relayed whatever its Contact looks like). Everything else stays raw
//! until someone asks ([`crate::parse_name_addr`], [`crate::parse_uri`],
//! [`crate::parse_via`] work on any value).
//!
//! # Why eager for these headers
//! RFC 4475 expects a 400 for malformed From, To and Contact values (§3.1.2.6, §3.1.2.13-15)
//! and for a bad Via (§3.1.2.1). Parsing them up front means `parse` either returns a message
//! every later stage can rely on, or the one error that becomes the 400 reason phrase.
//! Kamailio parses lazily and leaves the checks to the `sanity` module, which makes the
//! order in which headers are touched matter; we avoid that trap.
//!
//! # Leniency
//! Accepted although not strictly RFC 3261: bare LF line ends, LWS before the header colon,
//! leading CRLFs (RFC 3261 §7.5), a `_` in host names, IPv6 `received=` with or without
//! brackets (RFC 5118 §4.5), the three-colon IPv6 form (RFC 5118 §4.10), a token display
//! name directly followed by `<` (RFC 4475 §3.1.1.6), any well-formed SIP version (the caller
//! answers 505). Rejected although a liberal element may accept them: every other RFC 4475
//! §3.1.2 message, because a proxy must not forward them unchanged.
//!
//! # Text
//! Field views are `&str`. The buffer's valid UTF-8 prefix is computed once per message and
//! fields are cut from it; a structured header with non-UTF-8 bytes is malformed (RFC 3261
//! §25.1 `TEXT-UTF8`), an unknown header's raw bytes are left alone.
//!
//! # Limits
//! [`crate::MAX_MESSAGE`], [`crate::MAX_HEADERS`] and [`crate::MAX_VIAS`] bound the work one
//! datagram can cause; [`crate::frame`] takes the header-size limit from the transport.
//!
//! # Speed
//! Measured against `rsip` 0.4 on the same messages (`benches/parse.rs`, and
//! `tests/speed.rs` for load-independent instruction counts under callgrind). `rsip` stores
//! header values as strings without parsing Via, From, To or Contact, so the comparison
//! favours it on responses; the typed headers are where our time goes.
//!
//! What keeps the per-message work down: common header names are recognised at the line
//! start by fixed-length word compares ([`crate::HeaderName`] classification without a token
//! scan), Via parameter names, transports and `SIP/2.0` likewise; URIs are scanned once with
//! a byte-class table that also flags empty parameters; large values (`NameAddr` is ~190
//! bytes) are moved into the [`crate::Message`] once rather than copied out of `Option`s.
//! Tried and dropped because they cost instructions: a SWAR newline scan instead of
//! `memchr` (header lines are short, but `memchr` is no slower), and a four-bytes-per-step
//! `run_while` (most runs are a few bytes). The remaining cost is mostly byte-at-a-time table
//! scans (~5 instructions a byte) over names, hosts and parameter values, one `memchr` per
//! line, and one UTF-8 check over the buffer.
//!
//! Second round (instructions per parse under callgrind, INVITE / 200 OK; rsip 45.8k / 18.7k): from
//! 12,421 / 10,143 (3.7× / 1.85×) to 12,349 / 9,937 (3.7× / 1.88×). Kept: a compact Via path for
//! `SIP/2.0/<transport> SP host[:port]*(;name[=value])` with no other LWS, checked in place without
//! the `skip_lws` calls between parts, falling back to the general path on anything else (-100 on
//! two Vias); the Status-Line's version and code found by a position scan and a fixed offset
//! instead of two `memchr` calls (-60). Measured and dropped: a SWAR `\n` scan again, with an
//! overlapping last word (+300 each: on 20–90-byte lines `memchr` wins), a four-byte-step
//! `run_while` for Via hosts and values (+90 / +130), per-field UTF-8 checks instead of the
//! buffer-wide one (+1.7k / +1.3k: a `from_utf8` call per field costs more than 0.7 instructions a
//! byte over the whole buffer), a position scan for the method's SP (+30) and for a name-addr's `>`
//! (+500 / +370), forcing `apply_param` and `Proto::from_name` inline together (+100 / +185) and
//! `str_in` inline (no change). Where the rest goes: with the typed headers switched off the 200 OK
//! still costs 4.8k (13 lines at ~250 each, `memchr` ~1k, UTF-8 0.4k), From + To ~2k (a SIP URI
//! ~420 of it each), the two Vias ~2.2k. A UTF-8 check limited to the header section (typed parsing
//! after the line loop, with the loop's errors deferred to keep their order) would save ~90 / ~220
//! and is not done yet; the 5× target needs the per-line work itself cut (a fused
//! name/colon/value/line-end scan).
//!
//! Third round (same measure, INVITE / 200 OK): from 12,402 / 10,007 to 10,595 / 8,516. Kept:
//! a fast header-line path (`message::line_fast`) for `name *WSP ":" *WSP value CRLF` with a
//! non-empty, unfolded value, which finds the name, the colon and the value start in one
//! forward pass and searches the LF from the value start with `memchr`'s AVX2 searcher built
//! once per message (skipping the per-call CPU-feature dispatch); anything else (folds, empty
//! values, errors) takes the old general path, which also produces the error (-400 / -700
//! with `at_line_start` forced inline); a four-byte-step table scan (`chars::run_in`) that
//! walks a shrinking slice, so a step costs one length compare instead of an overflow-checked
//! range, used for the compact Via path's transport, host, parameter names and values (-200)
//! and for the host run of `Uri::parse_sip` (-200 / -420); `branch=`, `received=` and `rport`
//! recognised in the compact Via path by one word compare each instead of a token scan and
//! `apply_param`'s dispatch (-330 / -250); quoted strings scanned in runs of ordinary bytes
//! (-50). Each fast path has a unit test that it agrees with the general one. Measured and
//! dropped: `run_in` for name-addr parameter names and `tag` values (+9: tags are short), and
//! cutting the Request-URI from the buffer-wide UTF-8 check instead of its own `from_utf8`
//! (+150 / +100, through worse code layout of `parse`). Where the rest goes (200 OK): the
//! line loop in `parse` ~3.4k (13 lines at ~190 each plus the start line), `memchr` ~0.6k,
//! UTF-8 0.4k, two Vias ~1.6k, From + To ~1.7k (a SIP URI ~330 of it each), CSeq ~0.2k.
