//! Design notes for the parser (doc-only, STYLE L15).
//!
//! # Shape
//! [`crate::parse`] makes one pass over the header section. Each header line becomes a
//! [`crate::Header`] (name, raw value, byte range) in an arena vector, and the lines whose
//! headers are typed are marked; then the marked lines are parsed, in line order, into
//! typed, borrowed views: every Via value ([`crate::Via`]), From and To
//! ([`crate::NameAddr`]), Call-ID, CSeq, Max-Forwards and Content-Length. Contact and Date
//! are validated in requests but not stored (a response is relayed whatever its Contact
//! looks like). Everything else stays raw until someone asks ([`crate::parse_name_addr`],
//! [`crate::parse_uri`], [`crate::parse_via`] work on any value). Of several errors the one
//! on the earliest line is reported, as when the typed headers were parsed inside the line
//! loop.
//!
//! # Why eager for requests, lazy for responses
//! RFC 4475 expects a 400 for malformed From, To and Contact values (§3.1.2.6, §3.1.2.13-15)
//! and for a bad Via (§3.1.2.1). Parsing them up front means `parse` either returns a request
//! every later stage can rely on, or the one error that becomes the 400 reason phrase.
//! Kamailio parses lazily and leaves the checks to the `sanity` module, which makes the
//! order in which headers are touched matter; for requests we avoid that trap.
//!
//! A response gets no 400: a proxy matches it to its transaction by the topmost Via's branch
//! and the CSeq and relays it. So `parse` checks that a response carries Via, From, To,
//! Call-ID and CSeq and parses only the topmost Via, CSeq, Call-ID, Max-Forwards and
//! Content-Length; From, To and the Via values below the topmost are parsed on first access
//! ([`crate::Message::from`], [`crate::Message::to`], [`crate::Message::vias`], into the
//! arena). A malformed From or To then reads as `None` (the stance already taken for Contact
//! in responses), and a malformed lower Via ends [`crate::Message::vias`] early with
//! [`crate::Message::via_error`] saying why, so the engine can drop and count the response.
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
//! Field views are `&str`. The valid UTF-8 prefix of the header section, up to the last line
//! a `&str` is cut from, is computed once per message and fields are cut from it (a field
//! beyond it is checked on its own); a structured header with non-UTF-8 bytes is malformed
//! (RFC 3261 §25.1 `TEXT-UTF8`), an unknown header's raw bytes are left alone. Raw names in
//! the canonical spelling (`Via`, `Call-ID`...) are the crate's own static strings, equal to
//! what the line holds.
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
//!
//! Fourth round (same measure, per parse; the benchmark and `tests/speed.rs` now read after the
//! parse what a transaction-stateful proxy reads from every message, the top Via's branch, CSeq,
//! Call-ID and method or status, and in a second, "full" variant also every Via, From and To;
//! counts are for the whole loop body, parse plus reads; rsip 45,966 / 18,521 for its
//! `SipMessage::try_from` and drop in the final test binary, 45,761 / 18,717 in the first: its
//! count moves a little with how the binary is built). Before, with the same reads: 10,663 / 8,508
//! (4.3× / 2.2×), the same for both variants since everything was parsed eagerly. After: 8,469 /
//! 3,626 (5.4× / 5.1×); full variant 8,580 / 7,070 (5.4× / 2.6×). Kept, in the order measured
//! (INVITE / 200 OK deltas at that point): From, To and the Vias below the topmost parsed on first
//! access in responses (+310 / −2,620: the large part; the INVITE loss was code layout and went
//! away with the next steps); a line head that tests the first byte against SP once and a colon/SWS
//! check without a jump table (−450 / −360); two phases, every line indexed first and the marked
//! typed lines parsed afterwards in line order, with the UTF-8 check only over the header section,
//! and the 16 common names recognised in their canonical spelling by one or two whole-word compares
//! after a first-byte dispatch, which also gives their raw name as a static string (−710 / −670,
//! most of it from loading the words with `try_into` rather than a 16-byte slice pattern, which
//! compiled to byte loads); From and To as arena references (+24 / −78); a one-pass CSeq path,
//! digits, SP, method (−110 / −110); the UTF-8 check stopping at the end of the last line a `&str`
//! is cut from, and the typed-line marks as two `u64` (−214 / −70); the topmost Via of a response
//! parsed in place in the arena instead of returned and moved three times, `UDP `/`TCP `/`TLS ` as
//! literal words, fused port digits (−165 / −180); one CRLF-and-no-fold window check after the LF
//! (−28 / −21); the line loop in its own function (`Scan::lines`, `#[inline(never)]`), which keeps
//! its state in registers (−152 / −167); a Status-Line path for `SIP/2.0 ddd ` (−12 / −117); the
//! AVX2 `memchr` searcher built once per process and held by reference (−23 / −26, and with
//! `SIP/2.0 ` as one word compare −100 / −65); `rport=` and the port by fused digit loops and the
//! Via parameter names by single word loads (+16 / −46); INVITE by one word compare in
//! `Method::from_bytes` (−32 / −16); `parse_u64` without checked arithmetic up to 19 digits (−9 /
//! −6); From and To allocated in the arena as they are parsed, which makes the typed-phase state
//! small (−90 / −5); the UTF-8 section extended to end on one of `from_utf8`'s 16-byte steps, whose
//! bytes after the last step go one at a time (−43 / −63); `Name: ` with its SP in the
//! canonical-name compare (−101 / −86); the Via parts written into a `Via::empty` instead of a
//! second full initialisation (−66 / −9); the CSeq parsed from bytes, so that it needs no UTF-8
//! check of its line (−27 / −62); digit runs shorter than 8 (ports, the CSeq number) read by one
//! word load, a SWAR digit test and three multiply steps (`chars::short_digits`, −112 / −81).
//! Measured and dropped: the streaming SWAR newline bitmap (the exact `has byte` formula, 8 bytes a
//! step, the mask carried across lines): +1,350 / +1,220 as first written and +1,430 / +1,280 with
//! a separate loop for whole words; about 51 words a 200 OK at 12 or more instructions each cannot
//! beat `memchr`'s ~40 per line, call included, because a value start usually lies past the word
//! that held the previous LF, so nothing is carried; `memchr`'s SSE2 searcher (+110 / +70) and its
//! portable one (+1,350 / +1,045); per-field UTF-8 checks in responses (−25 / +60), also with
//! 8-byte aligned, 16-byte-step windows around the field (+8 / +45): `from_utf8` on a short field
//! costs as much as the section it replaces; the typed phase or the topmost Via out of line (+54 /
//! +10, +12 / +60); the line loop taking the index by value (+86 / +76); 16-byte slices split with
//! `split_first_chunk` (+48 / +39); a SWAR LWS test for Call-ID (+20 / +25); 8-byte steps in
//! `run_in` (+63 / −38), also only for the Via values (−28 / +15, and +160 / +215 unrolled by
//! hand); ports limited to 5 digits (−6 / −1); the character tables as `const` (no change). Where
//! the rest goes (200 OK, main variant): the line loop ~1,960 for 13 lines, ~150 a line of which
//! ~45 is the `memchr` call; UTF-8 ~260 (to the end of the Call-ID line); the topmost Via ~450
//! (`run_in` over host and parameter values ~200, the `&str` cuts); CSeq, Call-ID, Content-Length
//! ~120; building the `Message` (392 bytes, a 152-byte `StartLine`) and the checks ~250. The full
//! variant adds the lazy second Via (~1,070 with its own UTF-8 check and list) and From and To
//! (~1,110 each, ~900 of it `parse_name_addr`).
