//! Character classes of the RFC 3261 §25.1 grammar as const 256-entry tables.
//!
//! Each table is built once at compile time; a lookup is one indexed load with a `u8` index,
//! so it can never go out of bounds.

/// Builds a 256-entry membership table from a list of extra bytes plus ALPHA / DIGIT.
const fn table(alnum: bool, extra: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    if alnum {
        let mut c = b'a';
        while c <= b'z' {
            t[c as usize] = true;
            t[(c - 32) as usize] = true;
            c += 1;
        }
        let mut d = b'0';
        while d <= b'9' {
            t[d as usize] = true;
            d += 1;
        }
    }
    let mut i = 0;
    while i < extra.len() {
        t[extra[i] as usize] = true;
        i += 1;
    }
    t
}

/// RFC 3261 §25.1:
/// `token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~" )`
pub(crate) static TOKEN: [bool; 256] = table(true, b"-.!%*_+`'~");

/// Characters that may appear in a URI as we accept it: RFC 3261 §25.1 `unreserved`
/// (`alphanum / mark`, `mark = "-" / "_" / "." / "!" / "~" / "*" / "'" / "(" / ")"`),
/// `reserved` (`";" / "/" / "?" / ":" / "@" / "&" / "=" / "+" / "$" / ","`), the `%` of
/// `escaped`, and `[` `]` of `IPv6reference` / `param-unreserved`. Everything else (LWS, CTL,
/// `<`, `>`, `"`, `\`...) ends or invalidates a URI.
static URI: [bool; 256] = table(true, b"-_.!~*'();/?:@&=+$,%[]");

/// [`uri_class`]: a byte that may not appear in a URI.
pub(crate) const URI_INVALID: u8 = 0;
/// [`uri_class`]: a URI byte that is not one of the delimiters below.
pub(crate) const URI_PLAIN: u8 = 1;
/// [`uri_class`]: `@`.
pub(crate) const URI_AT: u8 = 2;
/// [`uri_class`]: `:`.
pub(crate) const URI_COLON: u8 = 3;
/// [`uri_class`]: `;`.
pub(crate) const URI_SEMI: u8 = 4;
/// [`uri_class`]: `?`.
pub(crate) const URI_QUERY: u8 = 5;
/// [`uri_class`]: a URI byte that may also appear in a host name ([`is_host`]).
pub(crate) const URI_HOST: u8 = 6;

/// Builds the [`uri_class`] table from [`URI`].
const fn uri_class_table() -> [u8; 256] {
    let uri = table(true, b"-_.!~*'();/?:@&=+$,%[]");
    let mut t = [URI_INVALID; 256];
    let mut i = 0;
    while i < 256 {
        if uri[i] {
            t[i] = URI_PLAIN;
        }
        i += 1;
    }
    let host = table(true, b"-._");
    let mut j = 0;
    while j < 256 {
        if host[j] {
            t[j] = URI_HOST;
        }
        j += 1;
    }
    t[b'@' as usize] = URI_AT;
    t[b':' as usize] = URI_COLON;
    t[b';' as usize] = URI_SEMI;
    t[b'?' as usize] = URI_QUERY;
    t
}

/// URI byte classes for the one-pass SIP-URI scan.
static URI_CLASS: [u8; 256] = uri_class_table();

/// The class of a URI byte: [`URI_INVALID`], [`URI_PLAIN`] or a delimiter.
#[inline]
pub(crate) fn uri_class(b: u8) -> u8 {
    URI_CLASS[b as usize]
}

/// RFC 3261 §25.1 `hostname` characters (`alphanum / "-" / "."`), plus `_` which deployed
/// software uses in host names (RFC 2181 §11 allows it in DNS labels).
pub(crate) static HOST: [bool; 256] = table(true, b"-._");

/// A generic-param value as we accept it (RFC 3261 §25.1 `gen-value = token / host /
/// quoted-string`): token characters plus the `:`, `[` and `]` of IPv6 hosts (RFC 5118 §4.5).
pub(crate) static PARAM_VALUE: [bool; 256] = table(true, b"-.!%*_+`'~:[]");

/// RFC 3261 §25.1 `token` membership.
#[inline]
pub(crate) fn is_token(b: u8) -> bool {
    TOKEN[b as usize]
}

/// Whether `b` may appear inside a URI (see [`URI`]).
#[inline]
pub(crate) fn is_uri(b: u8) -> bool {
    URI[b as usize]
}

/// RFC 3261 §25.1 `hostname` character (with `_`).
#[inline]
pub(crate) fn is_host(b: u8) -> bool {
    HOST[b as usize]
}

/// A character of an unquoted generic-param value (token or IPv6 host).
#[inline]
pub(crate) fn is_param_value(b: u8) -> bool {
    PARAM_VALUE[b as usize]
}

/// RFC 3261 §25.1 `LWS = [*WSP CRLF] 1*WSP`: inside a header value (which only ever spans
/// folded lines) CR and LF can only be part of a fold, so all four bytes count as LWS.
#[inline]
pub(crate) fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Up to 8 bytes of `s` from `at` as a little-endian word, zero-padded.
#[inline(always)]
fn word(s: &[u8], at: usize, len: usize) -> u64 {
    let mut w = [0u8; 8];
    if let (Some(dst), Some(src)) = (w.get_mut(..len), s.get(at..at + len)) {
        dst.copy_from_slice(src);
    }
    u64::from_le_bytes(w)
}

/// Whether `name` equals `lower` ignoring ASCII case, where `lower` holds lowercase letters
/// and bytes below 0x40 only (digits, `-`, `.`, `/`...).
///
/// The length is a compile-time constant, so this is a few word loads and compares rather
/// than a byte loop: a letter position compares `x | 0x20` (which equals a lowercase letter
/// exactly when `x` is that letter in either case), any other position compares exactly.
#[inline(always)]
pub(crate) fn eq_lower<const N: usize>(name: &[u8], lower: &[u8; N]) -> bool {
    if name.len() != N {
        return false;
    }
    let mut i = 0;
    while i < N {
        let len = if N - i < 8 { N - i } else { 8 };
        let l = word(lower, i, len);
        // 0x20 in each byte whose canonical form is a letter (bit 0x40 set), else 0.
        let mask = (l & 0x4040_4040_4040_4040) >> 1;
        if word(name, i, len) | mask != l {
            return false;
        }
        i += 8;
    }
    true
}

/// Whether `s[at..at + N]` equals `lower` ignoring ASCII case (as [`eq_lower`], `N` at most
/// 8). With 8 bytes available that is one word load and compare.
#[inline(always)]
pub(crate) fn lower_at<const N: usize>(s: &[u8], at: usize, lower: &[u8; N]) -> bool {
    match s.get(at..at + 8) {
        Some(w) if N <= 8 => {
            let w = u64::from_le_bytes(w.try_into().unwrap_or([0; 8]));
            let l = word(lower, 0, N);
            let mask = (l & 0x4040_4040_4040_4040) >> 1;
            let keep = if N >= 8 { u64::MAX } else { (1 << (8 * N)) - 1 };
            (w | mask) & keep == l
        }
        _ => s.get(at..at + N).is_some_and(|p| eq_lower(p, lower)),
    }
}

/// The run of ASCII digits at `i` when it is shorter than 8 and 8 bytes can be read there:
/// its value and length (0 for no digit). `None` when fewer than 8 bytes are left or all 8
/// are digits (the caller then reads the run byte by byte).
///
/// SWAR: `x - 0x30` per byte is at most 9 exactly for the digits; the first byte where it is
/// not gets the high bit in `d | (d + 0x76)`, and a borrow or carry only moves upwards, past
/// that byte. The digits, moved to the top of the word behind zero bytes, are combined in
/// three multiply steps (pairs, quads, the whole).
#[inline(always)]
pub(crate) fn short_digits(s: &[u8], i: usize) -> Option<(u32, usize)> {
    let w = s.get(i..)?.first_chunk::<8>()?;
    let d = u64::from_le_bytes(*w).wrapping_sub(0x3030_3030_3030_3030);
    let bad = (d | d.wrapping_add(0x7676_7676_7676_7676)) & 0x8080_8080_8080_8080;
    if bad == 0 {
        return None;
    }
    let n = (bad.trailing_zeros() / 8) as usize;
    if n == 0 {
        return Some((0, 0));
    }
    let mut v = d << (64 - 8 * n);
    v = (v.wrapping_mul(10 * 256 + 1) >> 8) & 0x00ff_00ff_00ff_00ff;
    v = (v.wrapping_mul(100 * 65536 + 1) >> 16) & 0x0000_ffff_0000_ffff;
    v = v.wrapping_mul(10000 * (1 << 32) + 1) >> 32;
    u32::try_from(v).ok().map(|v| (v, n))
}

/// `1*DIGIT` at `i` as a port (RFC 3261 §25.1): the value and the index after the digits,
/// `None` without a digit or above 65535.
#[inline(always)]
pub(crate) fn port_at(s: &[u8], i: usize) -> Option<(u16, usize)> {
    if let Some((p, n)) = short_digits(s, i) {
        if n == 0 {
            return None;
        }
        return u16::try_from(p).ok().map(|p| (p, i + n));
    }
    let mut p: u32 = 0;
    let mut j = i;
    while let Some(&c) = s.get(j) {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        p = p * 10 + u32::from(d);
        if p > 0xffff {
            return None;
        }
        j += 1;
    }
    if j == i {
        return None;
    }
    u16::try_from(p).ok().map(|p| (p, j))
}

/// Whether every byte of a non-empty slice is a `token` character.
#[inline]
pub(crate) fn all_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_token(b))
}

/// Index of the first byte at or after `i` that fails `pred` (or `s.len()`). Scans a
/// subslice with an iterator, so the loop carries no per-byte bounds check.
#[inline]
pub(crate) fn run_while(s: &[u8], i: usize, pred: impl Fn(u8) -> bool) -> usize {
    match s.get(i..) {
        Some(rest) => i + rest.iter().position(|&c| !pred(c)).unwrap_or(rest.len()),
        None => i,
    }
}

/// [`run_while`] for a membership table, four bytes per step with one bounds check per step
/// and an exit at the first byte outside the class: for the longer runs of the hot path
/// (hosts, branch values, addresses) about half the instructions of a byte-at-a-time scan.
#[inline(always)]
pub(crate) fn run_in(s: &[u8], i: usize, t: &[bool; 256]) -> usize {
    let Some(mut rest) = s.get(i..) else {
        return i;
    };
    // Walking a shrinking slice needs one length compare per step (an index range would
    // also need an overflow check).
    while let [a, b, c, d, tail @ ..] = rest {
        let at = s.len() - rest.len();
        if !t[usize::from(*a)] {
            return at;
        }
        if !t[usize::from(*b)] {
            return at + 1;
        }
        if !t[usize::from(*c)] {
            return at + 2;
        }
        if !t[usize::from(*d)] {
            return at + 3;
        }
        rest = tail;
    }
    s.len() - rest.len()
        + rest
            .iter()
            .position(|&c| !t[usize::from(c)])
            .unwrap_or(rest.len())
}

/// Index of the first non-LWS byte at or after `i` (or `s.len()`).
#[inline]
pub(crate) fn skip_lws(s: &[u8], i: usize) -> usize {
    match s.get(i) {
        Some(&c) if is_lws(c) => run_while(s, i + 1, is_lws),
        _ => i,
    }
}

/// `s` without leading and trailing LWS.
#[inline]
pub(crate) fn trim_lws(s: &[u8]) -> &[u8] {
    let start = skip_lws(s, 0);
    let mut end = s.len();
    while end > start && s.get(end - 1).is_some_and(|&b| is_lws(b)) {
        end -= 1;
    }
    s.get(start..end).unwrap_or_default()
}

/// `s` (a `str`) without leading and trailing LWS.
#[inline]
pub(crate) fn trim_lws_str(s: &str) -> &str {
    let b = s.as_bytes();
    let start = skip_lws(b, 0);
    let mut end = b.len();
    while end > start && b.get(end - 1).is_some_and(|&c| is_lws(c)) {
        end -= 1;
    }
    // Both ends are next to ASCII bytes (or the string ends), so they are char boundaries.
    s.get(start..end).unwrap_or(s)
}

/// Bytes of a quoted string that need no attention: all but `"` and `\\`.
static QUOTED_PLAIN: [bool; 256] = {
    let mut t = [true; 256];
    t[b'"' as usize] = false;
    t[b'\\' as usize] = false;
    t
};

/// Parses `1*DIGIT` as a `u64`, `None` on an empty string, a non-digit or overflow.
#[inline]
pub(crate) fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    // Up to 19 digits cannot overflow: no checked arithmetic.
    if s.len() <= 19 {
        let mut v: u64 = 0;
        for &b in s {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                return None;
            }
            v = v * 10 + u64::from(d);
        }
        return Some(v);
    }
    let mut v: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
}

/// Parses `1*DIGIT` as a `u16` port (RFC 3261 §25.1 `port = 1*DIGIT`), `None` if invalid.
#[inline]
pub(crate) fn parse_port(s: &[u8]) -> Option<u16> {
    parse_u64(s).and_then(|v| u16::try_from(v).ok())
}

/// Length of an RFC 3261 §25.1 `quoted-string` starting at `s[0] == '"'`, including both
/// quotes, or `None` when the closing quote is missing.
///
/// `quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)`: a backslash escapes the next byte.
pub(crate) fn quoted_len(s: &[u8]) -> Option<usize> {
    let mut i = 1;
    loop {
        // Ordinary characters in runs (display names are mostly letters and spaces).
        i = run_in(s, i, &QUOTED_PLAIN);
        match *s.get(i)? {
            b'"' => return Some(i + 1),
            b'\\' => {
                let next = *s.get(i + 1)?;
                if next == b'\r' || next == b'\n' {
                    return None;
                }
                i += 2;
            }
            _ => i += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Uri::parse_sip` skips host characters with [`run_in`] over [`HOST`], relying on it
    /// being exactly the `URI_HOST` class.
    #[test]
    fn host_table_is_the_uri_host_class() {
        for b in 0..=255u8 {
            assert_eq!(HOST[usize::from(b)], uri_class(b) == URI_HOST, "{b:#04x}");
        }
    }

    /// The four-byte-step scans stop where the byte-at-a-time ones do, at every start offset
    /// and for every length remainder.
    #[test]
    fn run_in_agrees_with_run_while() {
        let inputs: [&[u8]; 6] = [
            b"",
            b"a",
            b"abc;",
            b"z9hG4bK776asdhds;rport=5060;received=192.0.2.10",
            b"host.example.com:5060",
            b"\"J Rosenberg \\\"x\" <sip:a@b>",
        ];
        for s in inputs {
            for i in 0..=s.len() + 1 {
                assert_eq!(run_in(s, i, &TOKEN), run_while(s, i, is_token), "{s:?} {i}");
                assert_eq!(run_in(s, i, &HOST), run_while(s, i, is_host), "{s:?} {i}");
                assert_eq!(
                    run_in(s, i, &PARAM_VALUE),
                    run_while(s, i, is_param_value),
                    "{s:?} {i}"
                );
            }
        }
        for s in [&b"\"ab\\\"c\" x"[..], b"\"a\\\r\"", b"\"abcdefgh", b"\"\""] {
            let slow = {
                // The byte-at-a-time definition of `quoted_len`.
                let mut i = 1;
                loop {
                    match s.get(i) {
                        None => break None,
                        Some(b'"') => break Some(i + 1),
                        Some(b'\\') => match s.get(i + 1) {
                            None | Some(b'\r' | b'\n') => break None,
                            Some(_) => i += 2,
                        },
                        Some(_) => i += 1,
                    }
                }
            };
            assert_eq!(quoted_len(s), slow, "{s:?}");
        }
    }

    proptest::proptest! {
        /// The word-compare prefix test is `eq_lower` on the same bytes.
        #[test]
        fn lower_at_agrees_with_eq_lower(s in "[a-zA-Z=;0-9]{0,12}", at in 0usize..6) {
            let b = s.as_bytes();
            let slow = |lower: &[u8]| {
                b.get(at..at + lower.len()).is_some_and(|p| p.eq_ignore_ascii_case(lower))
            };
            proptest::prop_assert_eq!(lower_at(b, at, b"branch="), slow(b"branch="));
            proptest::prop_assert_eq!(lower_at(b, at, b"received"), slow(b"received"));
            proptest::prop_assert_eq!(lower_at(b, at, b"rport"), slow(b"rport"));
        }

        /// `port_at` reads the digit run as `parse_port` does.
        #[test]
        fn port_at_agrees_with_parse_port(s in "[0-9]{0,8}[;a,]?", at in 0usize..3) {
            let b = s.as_bytes();
            let end = run_while(b, at.min(b.len()), |c| c.is_ascii_digit());
            let slow = b.get(at..end).and_then(parse_port).map(|p| (p, end));
            proptest::prop_assert_eq!(port_at(b, at), slow);
        }

        /// `short_digits` reads a short digit run as `parse_u64` does.
        #[test]
        fn short_digits_agree_with_parse_u64(s in "[0-9]{0,9}[^0-9]{0,9}", at in 0usize..3) {
            let b = s.as_bytes();
            if let Some((v, n)) = short_digits(b, at) {
                let end = run_while(b, at, |c| c.is_ascii_digit());
                proptest::prop_assert!(b.len() >= at + 8 && end - at < 8);
                proptest::prop_assert_eq!(n, end - at);
                proptest::prop_assert_eq!(u64::from(v), parse_u64(&b[at..end]).unwrap_or(0));
            } else {
                proptest::prop_assert!(
                    b.len() < at + 8 || b[at..at + 8].iter().all(u8::is_ascii_digit)
                );
            }
        }

        /// The unchecked short path of `parse_u64` agrees with checked arithmetic.
        #[test]
        fn parse_u64_agrees_with_checked(s in "[0-9]{0,22}x?") {
            let slow = (!s.is_empty())
                .then(|| {
                    s.bytes().try_fold(0u64, |v, c| {
                        c.is_ascii_digit()
                            .then(|| v.checked_mul(10)?.checked_add(u64::from(c - b'0')))
                            .flatten()
                    })
                })
                .flatten();
            proptest::prop_assert_eq!(parse_u64(s.as_bytes()), slow);
        }
    }
}
