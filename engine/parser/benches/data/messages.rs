//! The messages the benchmark and the speed test parse, and what they read from them.

use ferrosip_parser::Message;

/// What a transaction-stateful proxy reads from every message once it is parsed: the
/// method or status, the top Via's branch, the CSeq and the Call-ID (the transaction key).
/// Returned as a number so that nothing can be optimised away.
#[allow(dead_code)]
pub(crate) fn read_main(m: &Message<'_>) -> usize {
    let start = match m.status() {
        Some(code) => usize::from(code),
        None => m.method().map_or(0, |x| x.as_str().len()),
    };
    let branch = m.top_via().and_then(|v| v.branch).map_or(0, str::len);
    let cseq = m
        .cseq()
        .map_or(0, |c| c.num as usize + c.method.as_str().len());
    start + branch + cseq + m.call_id().map_or(0, str::len)
}

/// [`read_main`] plus every Via value (and whether they all parsed), From and To: a parse of
/// everything the parser types.
#[allow(dead_code)]
pub(crate) fn read_full(m: &Message<'_>) -> usize {
    let vias: usize = m
        .vias()
        .iter()
        .map(|v| v.host.len() + v.branch.map_or(0, str::len))
        .sum();
    let addr = |a: Option<&ferrosip_parser::NameAddr<'_>>| {
        a.map_or(0, |a| a.uri.host.len() + a.tag.map_or(0, str::len))
    };
    read_main(m) + vias + usize::from(m.via_error().is_none()) + addr(m.from()) + addr(m.to())
}

/// A typical INVITE from a PBX through one proxy, with an SDP offer (~900 bytes).
pub(crate) const INVITE: &[u8] = b"INVITE sip:+4930123456@sip.example.net;user=phone SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport\r\n\
Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK4b43c2ff8.1;received=198.51.100.7\r\n\
Max-Forwards: 69\r\n\
To: <sip:+4930123456@sip.example.net;user=phone>\r\n\
From: \"Alice Example\" <sip:alice@pbx.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.pbx.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@198.51.100.7:5060;transport=udp>\r\n\
Record-Route: <sip:192.0.2.10;lr>\r\n\
Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, INFO, UPDATE\r\n\
Supported: replaces, timer, 100rel\r\n\
User-Agent: ExamplePBX 4.2.1\r\n\
Session-Expires: 1800\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 315\r\n\
\r\n\
v=0\r\n\
o=alice 2890844526 2890844526 IN IP4 198.51.100.7\r\n\
s=-\r\n\
c=IN IP4 198.51.100.7\r\n\
t=0 0\r\n\
m=audio 49170 RTP/AVP 0 8 9 18 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:9 G722/8000\r\n\
a=rtpmap:18 G729/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n\
a=xg:1234567890123456\r\n";

/// The 200 OK answering it, with an SDP answer.
pub(crate) const OK200: &[u8] = b"SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport=5060;received=192.0.2.10\r\n\
Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK4b43c2ff8.1;received=198.51.100.7\r\n\
Record-Route: <sip:192.0.2.10;lr>\r\n\
To: <sip:+4930123456@sip.example.net;user=phone>;tag=a6c85cf\r\n\
From: \"Alice Example\" <sip:alice@pbx.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.pbx.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:+4930123456@203.0.113.5:5060>\r\n\
Allow: INVITE, ACK, CANCEL, OPTIONS, BYE\r\n\
Server: ExampleGW 1.0\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 132\r\n\
\r\n\
v=0\r\n\
o=gw 2890844527 2890844527 IN IP4 203.0.113.5\r\n\
s=-\r\n\
c=IN IP4 203.0.113.5\r\n\
t=0 0\r\n\
m=audio 3456 RTP/AVP 8\r\n\
a=rtpmap:8 PCMA/8000\r\n";
