//! Kamailio's BINRPC encoding (the `ctl` module's protocol, what `kamcmd` speaks).
//!
//! A packet is a header and a body of records:
//! - header: `0xA1` (magic 0xA, version 1), then one byte `flags<<4 | (LL-1)<<2 | (CL-1)`,
//!   the body length on LL bytes and a cookie on CL bytes (both big-endian, 1..=4 bytes).
//!   Flags: 1 reply, 2 error. A reply echoes the request's cookie.
//! - record: a tag byte `S<<7 | size<<4 | type`; with S=0 `size` is the value's length
//!   (0..=7 bytes), with S=1 the next `size` bytes hold the length; S=1 with size 0 ends a
//!   struct or array. Types: 0 int (big-endian, 0..=4 bytes, 32-bit), 1 string (with a
//!   trailing NUL), 2 double (an int of the value × 1000), 3 struct, 4 array, 5 struct
//!   member name (a string; the member's value record follows), 6 bytes.
//!
//! A request's body is the method name (a string) followed by the parameters. A reply's body
//! is the result's values; an error reply carries the code (int) and the message (string).
//!
//! Limits: a request body is at most [`MAX_BODY`] bytes and nests at most [`MAX_DEPTH`]
//! levels; anything else is an error value, never a panic. Integers outside 32 bits, which
//! `kamcmd` cannot read, are sent as strings.

use ferrosip_routing::rpc::{RpcError, RpcResult, RpcValue};

/// Largest request body accepted (bytes).
pub(crate) const MAX_BODY: usize = 64 * 1024;
/// Deepest nesting of structs and arrays accepted in a request.
pub(crate) const MAX_DEPTH: usize = 16;

const T_INT: u8 = 0;
const T_STR: u8 = 1;
const T_DOUBLE: u8 = 2;
const T_STRUCT: u8 = 3;
const T_ARRAY: u8 = 4;
const T_AVP: u8 = 5;
const T_BYTES: u8 = 6;

const F_REPLY: u8 = 1;
const F_ERROR: u8 = 2;

/// A decoded request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Request {
    /// The cookie to echo.
    pub(crate) cookie: Vec<u8>,
    /// The command name.
    pub(crate) method: String,
    /// The parameters.
    pub(crate) params: Vec<RpcValue>,
}

/// A request that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadRequest {
    /// The cookie, when the header was readable (then an error reply can be sent).
    pub(crate) cookie: Option<Vec<u8>>,
    /// Why.
    pub(crate) reason: String,
    /// Bytes of the stream the bad packet used (0: the stream cannot be resynchronised).
    pub(crate) used: usize,
}

fn be(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0, |a, b| (a << 8) | u64::from(*b))
}

/// Decodes the first packet of `buf`: `Ok(None)` when more bytes are needed, else the request
/// and the bytes it used.
pub(crate) fn parse_request(buf: &[u8]) -> Result<Option<(Request, usize)>, BadRequest> {
    let bad = |cookie: Option<Vec<u8>>, reason: &str, used: usize| BadRequest {
        cookie,
        reason: reason.to_string(),
        used,
    };
    if buf.len() < 2 {
        return Ok(None);
    }
    if buf[0] != 0xA1 {
        return Err(bad(None, "not a BINRPC packet", 0));
    }
    let ll = usize::from((buf[1] >> 2) & 3) + 1;
    let cl = usize::from(buf[1] & 3) + 1;
    let hdr = 2 + ll + cl;
    if buf.len() < hdr {
        return Ok(None);
    }
    let len = be(&buf[2..2 + ll]) as usize;
    let cookie = buf[2 + ll..hdr].to_vec();
    if len > MAX_BODY {
        return Err(bad(Some(cookie), "request too large", 0));
    }
    if buf.len() < hdr + len {
        return Ok(None);
    }
    let body = &buf[hdr..hdr + len];
    let used = hdr + len;
    let mut pos = 0;
    let method = match read(body, &mut pos, 0) {
        Ok(Some(RpcValue::Str(s))) => s,
        Ok(_) => return Err(bad(Some(cookie), "the method name is not a string", used)),
        Err(e) => return Err(bad(Some(cookie), &e, used)),
    };
    let mut params = Vec::new();
    while pos < body.len() {
        match read(body, &mut pos, 0) {
            Ok(Some(v)) => params.push(v),
            Ok(None) => return Err(bad(Some(cookie), "unexpected end marker", used)),
            Err(e) => return Err(bad(Some(cookie), &e, used)),
        }
    }
    Ok(Some((
        Request {
            cookie,
            method,
            params,
        },
        used,
    )))
}

/// Reads one record's tag: (end marker, type, value length).
fn tag(body: &[u8], pos: &mut usize) -> Result<(bool, u8, usize), String> {
    let t = *body.get(*pos).ok_or("truncated record")?;
    *pos += 1;
    let size = usize::from((t >> 4) & 7);
    let ty = t & 0xf;
    if t & 0x80 == 0 {
        return Ok((false, ty, size));
    }
    if size == 0 {
        return Ok((true, ty, 0));
    }
    let l = body.get(*pos..*pos + size).ok_or("truncated length")?;
    *pos += size;
    let len = usize::try_from(be(l)).map_err(|_| "bad length")?;
    Ok((false, ty, len))
}

fn take<'b>(body: &'b [u8], pos: &mut usize, len: usize) -> Result<&'b [u8], String> {
    let end = pos.checked_add(len).ok_or("bad length")?;
    let v = body.get(*pos..end).ok_or("truncated value")?;
    *pos = end;
    Ok(v)
}

fn int_of(b: &[u8]) -> Result<i64, String> {
    match b.len() {
        0..=3 => Ok(be(b) as i64),
        4 => Ok(i64::from(be(b) as u32 as i32)),
        5..=8 => Ok(be(b) as i64),
        _ => Err("integer too long".into()),
    }
}

fn text(b: &[u8]) -> String {
    let b = b.strip_suffix(&[0]).unwrap_or(b);
    String::from_utf8_lossy(b).into_owned()
}

/// Reads one value; `Ok(None)` is an end marker.
fn read(body: &[u8], pos: &mut usize, depth: usize) -> Result<Option<RpcValue>, String> {
    if depth > MAX_DEPTH {
        return Err("nested too deep".into());
    }
    let (end, ty, len) = tag(body, pos)?;
    if end {
        return Ok(None);
    }
    match ty {
        T_INT => Ok(Some(RpcValue::Int(int_of(take(body, pos, len)?)?))),
        T_STR | T_BYTES => Ok(Some(RpcValue::Str(text(take(body, pos, len)?)))),
        T_DOUBLE => Ok(Some(RpcValue::Double(
            int_of(take(body, pos, len)?)? as f64 / 1000.0,
        ))),
        T_STRUCT => {
            let mut members = Vec::new();
            loop {
                let (end, ty, len) = tag(body, pos)?;
                if end {
                    break;
                }
                if ty != T_AVP {
                    return Err("struct member without a name".into());
                }
                let name = text(take(body, pos, len)?);
                match read(body, pos, depth + 1)? {
                    Some(v) => members.push((name, v)),
                    None => return Err("struct member without a value".into()),
                }
            }
            Ok(Some(RpcValue::Struct(members)))
        }
        T_ARRAY => {
            let mut items = Vec::new();
            while let Some(v) = read(body, pos, depth + 1)? {
                items.push(v);
            }
            Ok(Some(RpcValue::Array(items)))
        }
        _ => Err(format!("unknown record type {ty}")),
    }
}

/// Bytes needed for `n` big-endian (at least 1).
fn len_of(n: u64) -> usize {
    (8 - (n.leading_zeros() as usize) / 8).max(1)
}

fn put_be(out: &mut Vec<u8>, n: u64, bytes: usize) {
    for i in (0..bytes).rev() {
        out.push((n >> (8 * i)) as u8);
    }
}

/// A tag with a value length.
fn put_tag(out: &mut Vec<u8>, ty: u8, len: usize) {
    if len <= 7 {
        out.push(((len as u8) << 4) | ty);
    } else {
        let ll = len_of(len as u64);
        out.push(0x80 | ((ll as u8) << 4) | ty);
        put_be(out, len as u64, ll);
    }
}

fn put_int(out: &mut Vec<u8>, ty: u8, v: i32) {
    let u = v as u32;
    let n = if u == 0 { 0 } else { len_of(u64::from(u)) };
    out.push(((n as u8) << 4) | ty);
    put_be(out, u64::from(u), n);
}

fn put_str(out: &mut Vec<u8>, ty: u8, s: &str) {
    put_tag(out, ty, s.len() + 1);
    out.extend_from_slice(s.as_bytes());
    out.push(0);
}

/// Encodes one value as records.
fn put_value(out: &mut Vec<u8>, v: &RpcValue) {
    match v {
        RpcValue::Int(i) => match i32::try_from(*i) {
            Ok(i) => put_int(out, T_INT, i),
            Err(_) => put_str(out, T_STR, &i.to_string()),
        },
        RpcValue::Double(d) => {
            let scaled = (d * 1000.0).round();
            if scaled.is_finite() && scaled.abs() <= f64::from(i32::MAX) {
                put_int(out, T_DOUBLE, scaled as i32);
            } else {
                put_str(out, T_STR, &d.to_string());
            }
        }
        RpcValue::Str(s) => put_str(out, T_STR, s),
        RpcValue::Struct(members) => {
            out.push(T_STRUCT);
            put_members(out, members);
            out.push(0x80 | T_STRUCT);
        }
        RpcValue::Array(items) => {
            out.push(T_ARRAY);
            for i in items {
                put_value(out, i);
            }
            out.push(0x80 | T_ARRAY);
        }
        RpcValue::Nothing => {}
    }
}

/// A struct's members. A member that is an array is written as Kamailio's `ctl` writes one
/// (`kamcmd` prints it as a struct): its struct elements' members flattened into one struct,
/// other elements as members of the array's name.
fn put_members(out: &mut Vec<u8>, members: &[(String, RpcValue)]) {
    for (name, v) in members {
        put_str(out, T_AVP, name);
        match v {
            RpcValue::Array(items) => {
                out.push(T_STRUCT);
                for it in items {
                    match it {
                        RpcValue::Struct(m) => put_members(out, m),
                        other => {
                            put_str(out, T_AVP, name);
                            put_value(out, other);
                        }
                    }
                }
                out.push(0x80 | T_STRUCT);
            }
            other => put_value(out, other),
        }
    }
}

fn packet(flags: u8, cookie: &[u8], body: &[u8]) -> Vec<u8> {
    let cookie = if cookie.is_empty() || cookie.len() > 4 {
        &[0u8][..]
    } else {
        cookie
    };
    let ll = len_of(body.len() as u64).min(4);
    let mut out = Vec::with_capacity(2 + ll + cookie.len() + body.len());
    out.push(0xA1);
    out.push((flags << 4) | (((ll - 1) as u8) << 2) | ((cookie.len() - 1) as u8));
    put_be(&mut out, body.len() as u64, ll);
    out.extend_from_slice(cookie);
    out.extend_from_slice(body);
    out
}

/// The reply packet to a request with `cookie`. A top-level array is sent as consecutive
/// values (Kamailio's repeated `rpc->add`).
pub(crate) fn encode_reply(cookie: &[u8], result: &RpcResult) -> Vec<u8> {
    let mut body = Vec::new();
    match result {
        Ok(RpcValue::Array(items)) => {
            for i in items {
                put_value(&mut body, i);
            }
        }
        Ok(v) => put_value(&mut body, v),
        Err(e) => return encode_error(cookie, e),
    }
    packet(F_REPLY, cookie, &body)
}

/// An error reply.
pub(crate) fn encode_error(cookie: &[u8], e: &RpcError) -> Vec<u8> {
    let mut body = Vec::new();
    put_int(&mut body, T_INT, e.code);
    put_str(&mut body, T_STR, &e.message);
    packet(F_REPLY | F_ERROR, cookie, &body)
}

/// A request packet (what `kamcmd` sends; for tests).
#[cfg(test)]
pub(crate) fn encode_request(cookie: &[u8], method: &str, params: &[RpcValue]) -> Vec<u8> {
    let mut body = Vec::new();
    put_str(&mut body, T_STR, method);
    for p in params {
        put_value(&mut body, p);
    }
    packet(0, cookie, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn decodes_kamcmd_requests() {
        // `kamcmd core.version`, as captured from kamcmd 5.6.
        let b = hex("a1030f5b96a5fe910d636f72652e76657273696f6e00");
        let (r, used) = parse_request(&b).unwrap().unwrap();
        assert_eq!(used, b.len());
        assert_eq!(r.cookie, hex("5b96a5fe"));
        assert_eq!(r.method, "core.version");
        assert!(r.params.is_empty());
        // `kamcmd htable.get a x` (short strings), `cfg.get core debug`.
        let b = hex("a1031358674a88910b687461626c652e67657400216100217800");
        let (r, _) = parse_request(&b).unwrap().unwrap();
        assert_eq!(r.params, vec![RpcValue::str("a"), RpcValue::str("x")]);
        // Incomplete input asks for more.
        assert_eq!(parse_request(&b[..10]).unwrap(), None);
        assert_eq!(parse_request(&b[..1]).unwrap(), None);
    }

    #[test]
    fn encodes_replies_like_ctl() {
        // core.version's reply shape: one string record, reply flag, cookie echoed.
        let r = encode_reply(
            &hex("5b96a5fe"),
            &Ok(RpcValue::str("kamailio 5.6.3 (x86_64/linux) ")),
        );
        assert_eq!(
            r,
            hex("a113215b96a5fe911f6b616d61696c696f20352e362e3320287838365f36342f6c696e7578292000")
        );
        // cfg.get core debug → int 2.
        assert_eq!(
            encode_reply(&hex("22abb2a4"), &Ok(RpcValue::Int(2))),
            hex("a1130222abb2a41002")
        );
        // Error reply: 500 and the text.
        let e = RpcError::new(500, "command bogus.cmd not found");
        assert_eq!(
            encode_reply(&hex("08cce020"), &Err(e)),
            hex("a1332108cce0202001f4911c636f6d6d616e6420626f6775732e636d64206e6f7420666f756e6400")
        );
        // Nothing: an empty body.
        assert_eq!(
            encode_reply(&hex("1e01b7"), &Ok(RpcValue::Nothing)),
            hex("a112001e01b7")
        );
    }

    #[test]
    fn round_trips_nested_values_and_ints() {
        let params = vec![
            RpcValue::Int(0),
            RpcValue::Int(-1),
            RpcValue::Int(1024),
            RpcValue::Double(1.5),
            RpcValue::str("a string longer than seven bytes"),
            RpcValue::Struct(vec![
                ("n".into(), RpcValue::Int(70_000)),
                (
                    "s".into(),
                    RpcValue::Struct(vec![("x".into(), RpcValue::str(""))]),
                ),
            ]),
            RpcValue::Array(vec![RpcValue::Int(1), RpcValue::str("b")]),
        ];
        let pkt = encode_request(&[1, 2, 3, 4], "m.x", &params);
        let (r, used) = parse_request(&pkt).unwrap().unwrap();
        assert_eq!(used, pkt.len());
        assert_eq!(r.method, "m.x");
        assert_eq!(r.params, params);
        // A long body uses a two-byte length.
        let big = RpcValue::str("y".repeat(300));
        let pkt = encode_request(&[9], "m", std::slice::from_ref(&big));
        assert_eq!(pkt[1], 0x04);
        assert_eq!(parse_request(&pkt).unwrap().unwrap().0.params, vec![big]);
        // Out of 32 bits: a string.
        let r = encode_reply(&[1], &Ok(RpcValue::Int(1 << 40)));
        assert_eq!(&r[4..6], &[0x91, 14]);
        assert_eq!(&r[6..], b"1099511627776\0");
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(parse_request(b"GET / HTTP/1.0").is_err());
        // Method not a string.
        let e = parse_request(&hex("a10001011005")).unwrap_err();
        assert_eq!(e.cookie, Some(vec![1]));
        // Truncated records, unknown types, stray end markers, deep nesting.
        for body in [
            &[0x91u8][..],
            &[0x91, 0x05, b'a'],
            &[0x21, b'm', 0, 0x0f],
            &[0x21, b'm', 0, 0x83],
            &[0x21, b'm', 0, 0x03, 0x10, 1],
        ] {
            let mut p = vec![0xA1, 0x00, body.len() as u8, 7];
            p.extend_from_slice(body);
            assert!(parse_request(&p).is_err(), "{body:?}");
        }
        let mut deep = vec![0x21, b'm', 0];
        deep.extend([0x04; 40]);
        let mut p = vec![0xA1, 0x00, deep.len() as u8, 7];
        p.extend_from_slice(&deep);
        assert!(parse_request(&p).is_err());
        // Too large: refused from the header, with the cookie for the error reply.
        let e = parse_request(&[0xA1, 0x0c, 0x7f, 0xff, 0xff, 0xff, 5]).unwrap_err();
        assert_eq!((e.cookie, e.used), (Some(vec![5]), 0));
        // Arbitrary bytes never panic.
        let mut x: u32 = 1;
        for _ in 0..2000 {
            let mut p = vec![0xA1];
            for _ in 0..24 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                p.push(x as u8);
            }
            let _ = parse_request(&p);
        }
    }
}
