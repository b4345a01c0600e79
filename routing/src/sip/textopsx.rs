//! Kamailio's `textopsx` functions on ferrosip's edit model (the received bytes plus a list
//! of edits applied when a copy is sent):
//! - `msg_apply_changes()`: returns 1 and changes nothing. In ferrosip every edit is applied
//!   when the message is sent, and routing functions read the message as received: a header
//!   added by `append_hf` is not seen by `is_present_hf` or `$hdr` afterwards, with or
//!   without `msg_apply_changes()`. Scripts that rely on re-reading their own changes are
//!   not supported.
//! - `change_reply_status(code, reason)`: in a reply route, rewrites the status line of the
//!   relayed response. The class may not change between provisional, 2xx and 3xx-6xx (as
//!   Kamailio refuses); the transaction layer keeps choosing the best response by the
//!   received code.
//! - `remove_body()`: the body is removed and `Content-Length` set to 0 (Content-Type stays,
//!   as in Kamailio).
//! - `keep_hf(regexp)`: removes every header whose name does not match, except Via, From,
//!   To, Call-ID, CSeq, Contact, Content-Length, Content-Type, Route, Record-Route and
//!   Max-Forwards (Kamailio's list).
//! - `fnmatch(value, pattern [, flags])`: shell wildcards `*`, `?`, `[...]` (`[!...]`),
//!   `\` escapes; flag `i` ignores case.
//! - `hf_value_exists(hf, value)`, `append_hf_value(hf, value)`, `insert_hf_value(hf,
//!   value)`, `remove_hf_value(hf)`, `assign_hf_value(hf [, value])`: on the comma-separated
//!   values of a header (`hf` is `Name` or `Name[index]`, index counted over all lines of that
//!   name, negative from the end). Not supported: the `.param` form (parameters of a value)
//!   and `remove_hf_value2` / `assign_hf_value2`; a value edited twice in one message
//!   conflicts (the forward then fails with `Conflicting message edits`).

use std::ops::Range;

use super::ctx::{offset_in, val_int, val_str, MsgCtx, MAX_SCRIPT_TEXT};
use super::text::{same_header, trim_range};
use crate::names::{Builtin, Value};

/// Headers `keep_hf` never removes.
const KEEP_ALWAYS: &[&str] = &[
    "via",
    "from",
    "to",
    "call-id",
    "cseq",
    "contact",
    "content-length",
    "content-type",
    "route",
    "record-route",
    "max-forwards",
];

/// Shell wildcard match (`fnmatch(3)` without `FNM_PATHNAME`).
pub(crate) fn fnmatch(value: &[u8], pat: &[u8], icase: bool) -> bool {
    let eq = |a: u8, b: u8| {
        if icase {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    // Iterative matcher with one backtrack point for the last `*`.
    let (mut v, mut p) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    let mut steps = 0usize;
    while v < value.len() {
        steps += 1;
        if steps > 1_000_000 {
            return false;
        }
        let c = value[v];
        let step = match pat.get(p) {
            Some(b'*') => {
                star = Some((p, v));
                p += 1;
                continue;
            }
            Some(b'?') => Some(p + 1),
            Some(b'[') => class(pat, p, c, icase),
            Some(b'\\') if p + 1 < pat.len() => eq(pat[p + 1], c).then_some(p + 2),
            Some(&x) => eq(x, c).then_some(p + 1),
            None => None,
        };
        match step {
            Some(np) => {
                p = np;
                v += 1;
            }
            None => match star {
                Some((sp, sv)) => {
                    p = sp + 1;
                    v = sv + 1;
                    star = Some((sp, sv + 1));
                }
                None => return false,
            },
        }
    }
    pat[p.min(pat.len())..].iter().all(|&c| c == b'*')
}

/// Matches `c` against the bracket expression at `pat[p]`; the position after it.
fn class(pat: &[u8], p: usize, c: u8, icase: bool) -> Option<usize> {
    let mut i = p + 1;
    let neg = matches!(pat.get(i), Some(b'!' | b'^'));
    if neg {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    loop {
        let x = *pat.get(i)?;
        if x == b']' && !first {
            break;
        }
        first = false;
        let (lo, hi, next) =
            if pat.get(i + 1) == Some(&b'-') && pat.get(i + 2).is_some_and(|&e| e != b']') {
                (x, pat[i + 2], i + 3)
            } else {
                (x, x, i + 1)
            };
        let cc = if icase { c.to_ascii_lowercase() } else { c };
        let (l, h) = if icase {
            (lo.to_ascii_lowercase(), hi.to_ascii_lowercase())
        } else {
            (lo, hi)
        };
        if (l..=h).contains(&cc) {
            hit = true;
        }
        i = next;
    }
    (hit != neg).then_some(i + 1)
}

/// The comma-separated elements of a header value: ranges relative to the value (trimmed),
/// quotes and `<...>` respected.
fn elements(v: &[u8]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let (mut q, mut a) = (false, false);
    let mut start = 0;
    let mut i = 0;
    while i < v.len() {
        match v[i] {
            b'\\' if q => i += 1,
            b'"' => q = !q,
            b'<' if !q => a = true,
            b'>' if !q => a = false,
            b',' if !q && !a => {
                let r = trim_range(&v[start..i]);
                out.push(start + r.start..start + r.end);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    let r = trim_range(&v[start.min(v.len())..]);
    if r.start < r.end {
        out.push(start + r.start..start + r.end);
    }
    out.retain(|r| r.start < r.end);
    out
}

/// `Name` or `Name[idx]`.
fn hf_spec(s: &str) -> Option<(&str, Option<i64>)> {
    let s = s.trim();
    if s.contains('.') {
        return None; // the `.param` form is not supported
    }
    match s.split_once('[') {
        None => (!s.is_empty()).then_some((s, None)),
        Some((n, rest)) => {
            let idx = rest.strip_suffix(']')?.trim();
            if idx == "*" {
                return Some((n.trim(), None));
            }
            Some((n.trim(), Some(idx.parse().ok()?)))
        }
    }
}

impl MsgCtx<'_, '_> {
    /// Runs one textopsx function.
    pub(crate) fn textopsx_call(&mut self, f: Builtin, args: &[Value<'_>]) -> i32 {
        match f {
            Builtin::MsgApplyChanges => 1,
            Builtin::ChangeReplyStatus => self.change_reply_status(args),
            Builtin::RemoveBody => self.remove_body(),
            Builtin::KeepHf => self.keep_hf(args),
            Builtin::Fnmatch => {
                let (Some(v), Some(p)) = (
                    args.first().and_then(val_str),
                    args.get(1).and_then(val_str),
                ) else {
                    return -1;
                };
                let icase = args
                    .get(2)
                    .and_then(val_str)
                    .is_some_and(|f| f.contains('i'));
                if fnmatch(v.as_bytes(), p.as_bytes(), icase) {
                    1
                } else {
                    -1
                }
            }
            Builtin::HfValueExists
            | Builtin::AppendHfValue
            | Builtin::InsertHfValue
            | Builtin::RemoveHfValue
            | Builtin::AssignHfValue => self.hf_value(f, args),
            _ => -1,
        }
    }

    fn change_reply_status(&mut self, args: &[Value<'_>]) -> i32 {
        let m = self.msg;
        let (Some(old), Some(code)) = (m.status(), args.first().and_then(val_int)) else {
            return -1;
        };
        let Ok(code) = u16::try_from(code) else {
            return -1;
        };
        let class = |c: u16| match c {
            100..=199 => 1,
            200..=299 => 2,
            300..=699 => 3,
            _ => 0,
        };
        if class(code) == 0 || class(code) != class(old) {
            return -1;
        }
        let reason = args.get(1).and_then(val_str).unwrap_or_default();
        if reason.len() > MAX_SCRIPT_TEXT || reason.contains(['\r', '\n']) {
            return -1;
        }
        let buf = m.buf();
        // "SIP/2.0 " code SP reason CRLF
        let Some(eol) = memchr::memchr(b'\r', buf).or_else(|| memchr::memchr(b'\n', buf)) else {
            return -1;
        };
        let Some(sp) = memchr::memchr(b' ', &buf[..eol]) else {
            return -1;
        };
        let s = format!("{code} {}", reason.trim());
        self.edits.replace(sp + 1..eol, s.as_bytes());
        1
    }

    fn remove_body(&mut self) -> i32 {
        let m = self.msg;
        let body = m.body();
        if body.is_empty() {
            return -1;
        }
        let start = m.body_offset();
        self.edits.replace(start..start + body.len(), b"");
        for (i, h) in m.headers().iter().enumerate() {
            if h.name == ferrosip_parser::HeaderName::ContentLength && !self.is_deleted(i) {
                if let Some(r) = offset_in(m.buf(), h.value) {
                    self.edits.replace(r, b"0");
                }
            }
        }
        1
    }

    fn keep_hf(&mut self, args: &[Value<'_>]) -> i32 {
        let Some(re) = args.first().and_then(val_str) else {
            return -1;
        };
        let Ok(re) = regex::Regex::new(&re) else {
            tracing::warn!(target: "ferrosip::textopsx", "keep_hf: bad regexp {re:?}");
            return -1;
        };
        for (i, h) in self.msg.headers().iter().enumerate() {
            let long = super::text::long_name(h.raw_name.as_bytes());
            let keep = KEEP_ALWAYS
                .iter()
                .any(|k| long.eq_ignore_ascii_case(k.as_bytes()))
                || re.is_match(h.raw_name);
            if !keep && i < 128 && self.deleted & (1u128 << i) == 0 {
                self.deleted |= 1u128 << i;
                self.edits.replace(h.line.clone(), b"");
            }
        }
        1
    }

    fn hf_value(&mut self, f: Builtin, args: &[Value<'_>]) -> i32 {
        let Some(spec) = args.first().and_then(val_str) else {
            return -1;
        };
        let Some((name, idx)) = hf_spec(&spec) else {
            return -1;
        };
        let value = args.get(1).and_then(val_str);
        if value
            .as_ref()
            .is_some_and(|v| v.len() > MAX_SCRIPT_TEXT || v.contains(['\r', '\n']))
        {
            return -1;
        }
        let m = self.msg;
        let buf = m.buf();
        // (header index, absolute range of the value, absolute element ranges)
        let mut items: Vec<(usize, Range<usize>)> = Vec::new();
        let mut lines: Vec<(usize, Range<usize>)> = Vec::new();
        for (i, h) in m.headers().iter().enumerate() {
            if !same_header(h.raw_name.as_bytes(), name.as_bytes()) || self.is_deleted(i) {
                continue;
            }
            let Some(vr) = offset_in(buf, h.value) else {
                continue;
            };
            lines.push((i, vr.clone()));
            for e in elements(h.value) {
                items.push((i, vr.start + e.start..vr.start + e.end));
            }
        }
        let pick = |idx: i64, n: usize| -> Option<usize> {
            if idx >= 0 {
                usize::try_from(idx).ok().filter(|&i| i < n)
            } else {
                n.checked_sub(usize::try_from(idx.unsigned_abs()).ok()?)
            }
        };
        match f {
            Builtin::HfValueExists => {
                let Some(v) = value else { return -1 };
                let v = v.trim();
                let hit = items.iter().any(|(_, r)| {
                    buf.get(r.clone())
                        .is_some_and(|e| e.eq_ignore_ascii_case(v.as_bytes()))
                });
                if hit {
                    1
                } else {
                    -1
                }
            }
            Builtin::AppendHfValue | Builtin::InsertHfValue => {
                let Some(v) = value else { return -1 };
                let v = v.trim();
                let append = f == Builtin::AppendHfValue;
                let target = match idx {
                    Some(i) => pick(i, items.len())
                        .and_then(|k| items.get(k))
                        .map(|(_, r)| r.clone()),
                    None if append => items.last().map(|(_, r)| r.clone()),
                    None => items.first().map(|(_, r)| r.clone()),
                };
                match target {
                    Some(r) if append => self
                        .edits
                        .replace(r.end..r.end, format!(", {v}").as_bytes()),
                    Some(r) => self
                        .edits
                        .replace(r.start..r.start, format!("{v}, ").as_bytes()),
                    None => {
                        if idx.is_some() && !items.is_empty() {
                            return -1;
                        }
                        let at = m.headers_end();
                        self.edits
                            .replace(at..at, format!("{name}: {v}\r\n").as_bytes());
                    }
                }
                1
            }
            Builtin::RemoveHfValue => match idx {
                None => {
                    if lines.is_empty() {
                        return -1;
                    }
                    for (i, _) in &lines {
                        if let Some(h) = m.headers().get(*i) {
                            if *i < 128 {
                                self.deleted |= 1u128 << i;
                            }
                            self.edits.replace(h.line.clone(), b"");
                        }
                    }
                    1
                }
                Some(i) => {
                    let Some(k) = pick(i, items.len()) else {
                        return -1;
                    };
                    let (hi, r) = items[k].clone();
                    let same_line: Vec<&Range<usize>> = items
                        .iter()
                        .filter(|(h, _)| *h == hi)
                        .map(|(_, r)| r)
                        .collect();
                    if same_line.len() <= 1 {
                        if let Some(h) = m.headers().get(hi) {
                            if hi < 128 {
                                self.deleted |= 1u128 << hi;
                            }
                            self.edits.replace(h.line.clone(), b"");
                        }
                        return 1;
                    }
                    // Remove the element with the comma after it (or before it, for the last).
                    let pos = same_line.iter().position(|x| **x == r).unwrap_or(0);
                    let range = match same_line.get(pos + 1) {
                        Some(next) => r.start..next.start,
                        None => same_line
                            .get(pos.wrapping_sub(1))
                            .map_or(r.clone(), |p| p.end..r.end),
                    };
                    self.edits.replace(range, b"");
                    1
                }
            },
            Builtin::AssignHfValue => {
                let v = value.as_deref().map(str::trim).unwrap_or("");
                match idx {
                    None => {
                        if lines.is_empty() {
                            return -1;
                        }
                        for (_, vr) in &lines {
                            let t = trim_range(buf.get(vr.clone()).unwrap_or_default());
                            self.edits
                                .replace(vr.start + t.start..vr.start + t.end, v.as_bytes());
                        }
                        1
                    }
                    Some(i) => {
                        let Some(k) = pick(i, items.len()) else {
                            return -1;
                        };
                        self.edits.replace(items[k].1.clone(), v.as_bytes());
                        1
                    }
                }
            }
            _ => -1,
        }
    }
}
