//! Building stateless replies (RFC 3261 §8.2.6) and choosing where responses go (§18.2.2,
//! RFC 3581 §4).
//!
//! A local reply copies the request's Via lines (the top one with `received`/`rport` added per
//! §18.2.1 and RFC 3581 §4), From, To (with a local tag when it has none, §8.2.6.2),
//! Call-ID, CSeq and, for 18x/2xx, Record-Route (§12.1.1), then adds `Server` and
//! `Content-Length: 0`. The same code serves parsed requests and the lenient scan of requests
//! the parser rejected (the 400 of RFC 4475 §3.1.2), since it works on raw header fields.

use std::net::{IpAddr, SocketAddr};
use std::ops::Range;

use ferrosip_parser::Proto;

use super::text::{
    first_element, header_param, long_name, parse_ip, push_ip, push_u64, trim_range, ViaScan,
};
use crate::api::{ConnId, Inbound};

/// Where the `received` and `rport` additions go in a Via value (positions relative to the
/// scanned value), per RFC 3261 §18.2.1 and RFC 3581 §4.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ViaFix {
    /// Insert `=<src port>` here (a bare `;rport`).
    pub rport_at: Option<usize>,
    /// Replace this range with `;received=<src ip>`: an existing `received` parameter with
    /// another address, or the empty range at the end of the value.
    pub received: Option<Range<usize>>,
    /// `force_rport()`: the rport edit adds a whole `;rport=<src port>` parameter.
    pub add_rport: bool,
}

impl ViaFix {
    /// Decides the additions for the top Via of a request received from `src`: `received`
    /// when the sent-by host is not the source IP, or whenever `rport` is asked for (RFC 3581
    /// §4), replacing a `received` that names another address; the rport value when bare.
    pub(crate) fn for_request(via: &ViaScan<'_>, src: SocketAddr) -> Self {
        let mut fix = Self::default();
        let bare_rport = via.rport == Some(None);
        if bare_rport {
            fix.rport_at = Some(via.rport_name_end);
        }
        let host_is_src = via.host_ip().is_some_and(|ip| same_host_ip(ip, src.ip()));
        if !host_is_src || bare_rport {
            fix.received = match &via.received_param {
                None => Some(via.end..via.end),
                Some(r) => {
                    let same = via
                        .received
                        .and_then(parse_ip)
                        .is_some_and(|ip| same_host_ip(ip, src.ip()));
                    (!same).then(|| r.clone())
                }
            };
        }
        fix
    }

    /// [`ViaFix::for_request`], and with `force_rport` (Kamailio `force_rport()`) as if the
    /// Via carried a bare `rport` (RFC 3581 §4).
    pub(crate) fn for_request_forced(
        via: &ViaScan<'_>,
        src: SocketAddr,
        force_rport: bool,
    ) -> Self {
        if !force_rport || via.rport.is_some() {
            return Self::for_request(via, src);
        }
        let mut fix = Self::for_request(via, src);
        fix.rport_at = Some(via.end);
        fix.add_rport = true;
        if fix.received.is_none() && via.received_param.is_none() {
            fix.received = Some(via.end..via.end);
        }
        fix
    }

    /// The bytes of one edit of this fix ([`ViaFix::push_edit`], or `;rport=<port>` when
    /// the parameter is added).
    pub(crate) fn push(&self, out: &mut Vec<u8>, is_rport: bool, src: SocketAddr) {
        if is_rport && self.add_rport {
            out.extend_from_slice(b";rport");
        }
        Self::push_edit(out, is_rport, src);
    }

    /// The edits in buffer order: (range of the value to replace, whether it is the rport
    /// value rather than the received parameter). Write the bytes with [`ViaFix::push_edit`].
    pub(crate) fn edits(&self) -> [Option<(Range<usize>, bool)>; 2] {
        let mut items = [
            self.rport_at.map(|a| (a..a, true)),
            self.received.clone().map(|r| (r, false)),
        ];
        let swap = matches!(&items, [Some(a), Some(b)] if b.0.start < a.0.start);
        if swap {
            items.swap(0, 1);
        }
        items
    }

    /// The bytes of one edit: `=<src port>` or `;received=<src ip>`.
    pub(crate) fn push_edit(out: &mut Vec<u8>, is_rport: bool, src: SocketAddr) {
        if is_rport {
            out.push(b'=');
            push_u64(out, u64::from(src.port()));
        } else {
            out.extend_from_slice(b";received=");
            push_ip(out, src.ip(), false);
        }
    }

    /// Writes `v` (a Via value) into `out` with the additions.
    pub(crate) fn write(&self, out: &mut Vec<u8>, v: &[u8], src: SocketAddr) {
        let mut pos = 0;
        for (r, is_rport) in self.edits().into_iter().flatten() {
            if r.start < pos || r.end > v.len() || r.start > r.end {
                continue;
            }
            out.extend_from_slice(&v[pos..r.start]);
            self.push(out, is_rport, src);
            pos = r.end;
        }
        out.extend_from_slice(&v[pos..]);
    }
}

fn same_host_ip(a: IpAddr, b: IpAddr) -> bool {
    super::text::canonical_ip(a) == super::text::canonical_ip(b)
}

/// What a local reply says.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReplySpec<'r> {
    /// Status code (100..=699).
    pub code: u16,
    /// Reason phrase.
    pub reason: &'r [u8],
    /// The To-tag to add when the To header has none and `code > 100` (§8.2.6.2).
    pub to_tag: &'r [u8],
    /// A whole header line without CRLF (`Server: ferrosip`), or empty.
    pub server: &'r [u8],
    /// Extra header lines, each ending in CRLF (e.g. `Unsupported: foo\r\n`), or empty.
    pub extra: &'r [u8],
}

/// Writes a reply to the request in `buf` whose header fields are `fields` (name as written,
/// range of the whole field in `buf` without its final CRLF), in message order. Returns the
/// scan of the top Via value, used to choose the destination ([`reply_destination`]).
pub(crate) fn write_reply<'b, I>(
    out: &mut Vec<u8>,
    spec: &ReplySpec<'_>,
    buf: &'b [u8],
    fields: I,
    src: SocketAddr,
) -> Option<ViaScan<'b>>
where
    I: Iterator<Item = (&'b [u8], Range<usize>)>,
{
    write_reply_rport(out, spec, buf, fields, src, false)
}

/// [`write_reply`]; with `force_rport` the top Via gets `rport` as if the request had asked
/// for it (Kamailio `force_rport()`, RFC 3581 §4).
pub(crate) fn write_reply_rport<'b, I>(
    out: &mut Vec<u8>,
    spec: &ReplySpec<'_>,
    buf: &'b [u8],
    fields: I,
    src: SocketAddr,
    force_rport: bool,
) -> Option<ViaScan<'b>>
where
    I: Iterator<Item = (&'b [u8], Range<usize>)>,
{
    out.extend_from_slice(b"SIP/2.0 ");
    push_u64(out, u64::from(spec.code));
    out.push(b' ');
    // A reason phrase must not break the start line (RFC 3261 §25.1 Reason-Phrase).
    out.extend(
        spec.reason
            .iter()
            .map(|&c| if matches!(c, b'\r' | b'\n') { b' ' } else { c }),
    );
    out.extend_from_slice(b"\r\n");
    let mut top_via: Option<ViaScan<'b>> = None;
    let mut seen_via = false;
    for (name, range) in fields {
        let Some(field) = buf.get(range) else {
            continue;
        };
        let lname = long_name(name);
        let is = |n: &[u8]| lname.eq_ignore_ascii_case(n);
        let Some(colon) = memchr::memchr(b':', field) else {
            continue;
        };
        if is(b"via") {
            if !seen_via {
                seen_via = true;
                let vstart = colon + 1;
                let value = &field[vstart..];
                let el = first_element(value);
                let el_abs = vstart + el.start..vstart + el.end;
                if let Some(scan) = ViaScan::scan(&field[el_abs.clone()]) {
                    let fix = ViaFix::for_request_forced(&scan, src, force_rport);
                    out.extend_from_slice(&field[..el_abs.start]);
                    fix.write(out, &field[el_abs.clone()], src);
                    out.extend_from_slice(&field[el_abs.end..]);
                    out.extend_from_slice(b"\r\n");
                    top_via = Some(scan);
                    continue;
                }
            }
            out.extend_from_slice(field);
            out.extend_from_slice(b"\r\n");
        } else if is(b"to") {
            let value = &field[colon + 1..];
            if spec.code > 100 && !spec.to_tag.is_empty() && header_param(value, b"tag").is_none() {
                let r = trim_range(value);
                out.extend_from_slice(&field[..colon + 1 + r.end]);
                out.extend_from_slice(b";tag=");
                out.extend_from_slice(spec.to_tag);
                out.extend_from_slice(&field[colon + 1 + r.end..]);
            } else {
                out.extend_from_slice(field);
            }
            out.extend_from_slice(b"\r\n");
        } else if is(b"from")
            || is(b"call-id")
            || is(b"cseq")
            || (is(b"record-route") && (180..300).contains(&spec.code))
        {
            out.extend_from_slice(field);
            out.extend_from_slice(b"\r\n");
        }
    }
    if !spec.server.is_empty() {
        out.extend_from_slice(spec.server);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(spec.extra);
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    top_via
}

/// Where a response to a request received as `inb` goes (RFC 3261 §18.2.2, RFC 3581 §4):
/// streams reuse the connection; UDP goes to `maddr` if present, else to the source address
/// when `rport` was asked for, else to the source IP (the `received` address) and the
/// sent-by port (default 5060, 5061 for TLS).
pub(crate) fn reply_destination(
    via: Option<&ViaScan<'_>>,
    inb: &Inbound<'_>,
) -> (Proto, SocketAddr, Option<ConnId>) {
    if inb.proto.is_stream() {
        return (inb.proto, inb.src, inb.conn);
    }
    let Some(via) = via else {
        return (inb.proto, inb.src, None);
    };
    let default_port = if via.transport.eq_ignore_ascii_case(b"TLS") {
        5061
    } else {
        5060
    };
    let port = via.port.filter(|&p| p != 0).unwrap_or(default_port);
    if let Some(maddr) = via.maddr.and_then(super::text::parse_ip) {
        return (inb.proto, SocketAddr::new(maddr, port), None);
    }
    if via.rport.is_some() {
        return (inb.proto, inb.src, None);
    }
    (inb.proto, SocketAddr::new(inb.src.ip(), port), None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::text::RawHeaders;

    fn src() -> SocketAddr {
        "192.0.2.9:5999".parse().unwrap()
    }

    #[test]
    fn via_fix_rport_and_received() {
        let v = b"SIP/2.0/UDP host.example;rport;branch=z9hG4bK1";
        let s = ViaScan::scan(v).unwrap();
        let f = ViaFix::for_request(&s, src());
        let mut o = Vec::new();
        f.write(&mut o, v, src());
        assert_eq!(
            o,
            b"SIP/2.0/UDP host.example;rport=5999;branch=z9hG4bK1;received=192.0.2.9".to_vec()
        );
        let v = b"SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK1";
        let s = ViaScan::scan(v).unwrap();
        assert_eq!(ViaFix::for_request(&s, src()), ViaFix::default());
        // A stale received is replaced, a right one kept.
        let v = b"SIP/2.0/UDP [2001:db8::9:1];received=[2001:db8::9:255];branch=z9hG4bKas3-111";
        let s = ViaScan::scan(v).unwrap();
        let mut o = Vec::new();
        ViaFix::for_request(&s, src()).write(&mut o, v, src());
        assert_eq!(
            o,
            b"SIP/2.0/UDP [2001:db8::9:1];received=192.0.2.9;branch=z9hG4bKas3-111".to_vec()
        );
        let v = b"SIP/2.0/UDP h;received=192.0.2.9;rport";
        let s = ViaScan::scan(v).unwrap();
        let mut o = Vec::new();
        ViaFix::for_request(&s, src()).write(&mut o, v, src());
        assert_eq!(o, b"SIP/2.0/UDP h;received=192.0.2.9;rport=5999".to_vec());
    }

    #[test]
    fn lenient_reply_copies_lines() {
        let m = b"INVITE sip:x@y SIP/2.0\r\nv: SIP/2.0/UDP a.b;branch=z9hG4bKx, SIP/2.0/TCP c\r\nVia: SIP/2.0/UDP d\r\nf: <sip:f@x>;tag=1\r\nt: <sip:t@x>\r\ni: cid\r\nCSeq: 1 INVITE\r\nContact: <sip:c>\r\n\r\n";
        let fields = RawHeaders::new(m).map(|h| (h.name, h.field));
        let spec = ReplySpec {
            code: 400,
            reason: b"Bad\r\nX",
            to_tag: b"tt",
            server: b"Server: ferrosip",
            extra: b"",
        };
        let mut o = Vec::new();
        let top = write_reply(&mut o, &spec, m, fields, src()).unwrap();
        let text = String::from_utf8(o).unwrap();
        assert_eq!(
            text,
            "SIP/2.0 400 Bad  X\r\nv: SIP/2.0/UDP a.b;branch=z9hG4bKx;received=192.0.2.9, SIP/2.0/TCP c\r\nVia: SIP/2.0/UDP d\r\nf: <sip:f@x>;tag=1\r\nt: <sip:t@x>;tag=tt\r\ni: cid\r\nCSeq: 1 INVITE\r\nServer: ferrosip\r\nContent-Length: 0\r\n\r\n"
        );
        let inb = Inbound {
            data: m,
            src: src(),
            local: 0,
            proto: Proto::Udp,
            conn: None,
        };
        assert_eq!(
            reply_destination(Some(&top), &inb).1,
            "192.0.2.9:5060".parse().unwrap()
        );
    }
}
