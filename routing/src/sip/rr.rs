//! Kamailio's **rr** module (Record-Route and Route processing) and siputils' `has_totag()`.
//!
//! - `record_route()`, `record_route("params")`, `record_route_preset(addr[, addr2])` and
//!   `add_rr_param(";p=v")` only mark the message ([`RrState`]); the header lines are written
//!   by [`MsgCtx::rr_insert`] when a copy is sent, because the address they carry is the
//!   sending socket's (RFC 3261 §16.6 step 4), known only then. A proxy that record-routes
//!   puts its URI, with `lr` (RFC 3261 §19.1.1), above every Record-Route already present.
//! - `loose_route()` processes the Route header (RFC 3261 §16.4 and §16.12): it removes our own
//!   topmost value (both of a double Record-Route pair), then sends to the next value (`$du`)
//!   when that one is a loose router, or rewrites the Request-URI when it is a strict router;
//!   when the Request-URI is ours because the previous hop was a strict router, it restores
//!   the Request-URI from the last Route value (§16.4).
//! - `is_direction("downstream"|"upstream")` compares the `ftag` of our Route value with the
//!   From tag; `has_totag()` (siputils) tells in-dialog requests (RFC 3261 §12.2) apart.
//!
//! Removals of Route values are script edits (`ScriptEdits`), so every copy sent carries them.
//! Nothing here panics on any input: a Route that does not parse makes `loose_route()` return
//! -1 with the message untouched.
//!
//! Configuration (Kamailio names and defaults), `modparam("rr", ...)`:
//! - `enable_full_lr` (0): `;lr=on` instead of `;lr`;
//! - `append_fromtag` (1): `;ftag=<From tag>` in our Record-Route (the To tag for a request
//!   going upstream), which `is_direction` reads back;
//! - `enable_double_rr` (1): two Record-Route values, both with `;r2=on`, when the request
//!   leaves on another socket or transport than it came in on (2: always two); the
//!   outbound-facing one is on top, because the next hop (UAS side) reads the list from the top;
//! - `add_username` (0): the Request-URI user in our Record-Route URI;
//! - `ignore_sips` (0): always `sip:`, even for a `sips:` Request-URI.
//!
//! Accepted and without effect here: `enable_socket_mismatch_warning`, `custom_user_avp` (AVPs
//! live in the interpreter, not in the message context), `force_send_socket`, `sockname_mode`,
//! `loose_route_mode`, `ignore_user`. Known differences from Kamailio: the send socket is not
//! forced from the Route value that `loose_route()` removes (the usual socket choice by
//! transport and address family applies); the second value of a `r2=on` pair is removed
//! only when it is ours too; `add_rr_param` has no effect on `record_route_preset`
//! (as in Kamailio, whose preset lumps it does not find).
//!
//! `modparam("siputils", ...)`: `options_accept`, `options_accept_encoding`,
//! `options_accept_language`, `options_support`, `contact_flds_separator`, `rpid_prefix`,
//! `rpid_suffix`, `rpid_avp` and `e164_max_len` are accepted; only `has_totag()` exists.

use ferrosip_parser::{parse_name_addr, HeaderName, NameAddr, Proto, Scheme, Uri};

use super::ctx::{offset_in, val_str, MsgCtx, MAX_SCRIPT_TEXT};
use super::text::{first_element, push_ip, push_u64};
use crate::cfg::{Config, ParamValue};
use crate::names::{Builtin, Value};

/// Most Route values `loose_route()` looks at (RFC 3261 §20.34 sets no bound; real route sets
/// have a handful). A longer set is refused rather than scanned: the list is peer-controlled.
pub(crate) const MAX_ROUTES: usize = 64;

/// Longest parameter text (`record_route("...")` plus every `add_rr_param`) accepted: our
/// Record-Route must still fit a datagram, and every later request of the dialog carries it.
pub(crate) const MAX_RR_PARAMS: usize = 512;

/// Kamailio `loose_route()` result for a pre-loaded route set (no To tag) whose only value was
/// ours: the value is removed and routing goes on from the Request-URI (`RR_PRELOADED`).
pub(crate) const RR_PRELOADED: i32 = -3;

/// Longest `maddr` value used as a next hop (Kamailio's bound).
const MAX_MADDR: usize = 117;

/// The `modparam("rr", ...)` settings that change what this module writes (Kamailio names and
/// defaults; see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RrParams {
    /// `enable_full_lr` (default 0): `;lr=on` instead of `;lr` (RFC 3261 §19.1.1 `lr-param`).
    pub(crate) full_lr: bool,
    /// `append_fromtag` (default 1): add `;ftag=` to our Record-Route URI.
    pub(crate) append_fromtag: bool,
    /// `enable_double_rr` (default 1): 0 never two values, 1 when the sockets differ, 2 always.
    pub(crate) double_rr: u8,
    /// `add_username` (default 0): the Request-URI user goes into our Record-Route URI.
    pub(crate) add_username: bool,
    /// `ignore_sips` (default 0): write `sip:` even when the Request-URI is `sips:`.
    pub(crate) ignore_sips: bool,
}

impl Default for RrParams {
    fn default() -> Self {
        Self {
            full_lr: false,
            append_fromtag: true,
            double_rr: 1,
            add_username: false,
            ignore_sips: false,
        }
    }
}

impl RrParams {
    /// Reads the `rr` module parameters from the configuration (defaults for those not set).
    pub(crate) fn from_config(cfg: &Config) -> Self {
        let int = |name: &str| match cfg.modparam("rr", name) {
            Some(ParamValue::Int(i)) => Some(*i),
            Some(ParamValue::Str(s)) => s.trim().parse::<i64>().ok(),
            None => None,
        };
        let d = Self::default();
        Self {
            full_lr: int("enable_full_lr").map_or(d.full_lr, |v| v != 0),
            append_fromtag: int("append_fromtag").map_or(d.append_fromtag, |v| v != 0),
            double_rr: int("enable_double_rr").map_or(d.double_rr, |v| v.clamp(0, 2) as u8),
            add_username: int("add_username").map_or(d.add_username, |v| v != 0),
            ignore_sips: int("ignore_sips").map_or(d.ignore_sips, |v| v != 0),
        }
    }
}

/// What `record_route*` asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum RrKind<'m> {
    /// No Record-Route.
    #[default]
    Off,
    /// `record_route([params])`: our socket address; `params` is empty or starts with `;`.
    Auto {
        /// The parameters given to `record_route` (`;a=b`), or empty.
        params: &'m str,
    },
    /// `record_route_preset(first[, second])`: the given `host[:port][;params]` texts, the
    /// first on top.
    Preset(&'m str, Option<&'m str>),
}

/// Per-message state of the rr module: what Record-Route to add and whether `loose_route()`
/// already ran.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RrState<'m> {
    kind: RrKind<'m>,
    /// `add_rr_param()` parameters, each starting with `;`, appended to `record_route`'s.
    extra: &'m str,
    /// The result of `loose_route()` once it ran (its edits are made once per message).
    loose: Option<i32>,
}

/// An owned copy of what `record_route*` asked for, kept by tm for the branches a
/// `failure_route` adds (they are record-routed like the first one).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RrSaved {
    /// 0 off, 1 `record_route`, 2 `record_route_preset`.
    kind: u8,
    /// `record_route` params, or the first preset address.
    a: Box<str>,
    /// The second preset address.
    b: Option<Box<str>>,
    /// `add_rr_param()` parameters.
    extra: Box<str>,
}

impl RrState<'_> {
    /// The owned copy of the record-route request (`loose_route`'s result is per message and
    /// not kept).
    pub(crate) fn save(&self) -> RrSaved {
        let (kind, a, b) = match self.kind {
            RrKind::Off => (0, "", None),
            RrKind::Auto { params } => (1, params, None),
            RrKind::Preset(a, b) => (2, a, b),
        };
        RrSaved {
            kind,
            a: a.into(),
            b: b.map(Into::into),
            extra: self.extra.into(),
        }
    }
}

impl RrSaved {
    /// The state to start a failure route with, its strings copied into `arena`.
    pub(crate) fn restore<'m>(&self, arena: &'m bumpalo::Bump) -> RrState<'m> {
        let a: &'m str = arena.alloc_str(&self.a);
        let kind = match self.kind {
            1 => RrKind::Auto { params: a },
            2 => RrKind::Preset(a, self.b.as_deref().map(|b| &*arena.alloc_str(b))),
            _ => RrKind::Off,
        };
        RrState {
            kind,
            extra: arena.alloc_str(&self.extra),
            loose: None,
        }
    }
}

/// One value of a Route header (RFC 3261 §20.34 `Route = "Route" HCOLON route-param
/// *(COMMA route-param)`).
#[derive(Clone, Copy, Debug)]
struct RouteVal<'m> {
    /// Index of its header line in `Message::headers`.
    line: usize,
    /// Where the value (name-addr and header parameters) starts in the message buffer.
    start: usize,
    /// Where it ends.
    end: usize,
    /// The parsed value.
    na: NameAddr<'m>,
}

/// RFC 3261 §25.1 characters of URI parameters, with the `;` and `=` that join them:
///
/// ```text
/// uri-parameters   = *( ";" uri-parameter )
/// other-param      = pname [ "=" pvalue ]
/// paramchar        = param-unreserved / unreserved / escaped
/// param-unreserved = "[" / "]" / "/" / ":" / "&" / "+" / "$"
/// unreserved       = alphanum / mark
/// mark             = "-" / "_" / "." / "!" / "~" / "*" / "'" / "(" / ")"
/// ```
static PARAM_CHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric();
        c += 1;
    }
    let extra = b"[]/:&+$-_.!~*'()%;=";
    let mut k = 0;
    while k < extra.len() {
        t[extra[k] as usize] = true;
        k += 1;
    }
    t
};

/// Whether `s` is made only of [`PARAM_CHAR`] bytes (plus `@` when `user` is allowed).
fn is_param_text(s: &str, user: bool) -> bool {
    s.bytes()
        .all(|b| PARAM_CHAR[usize::from(b)] || (user && b == b'@'))
}

/// A URI with the `sip`/`sips` scheme (the only ones a Route may name, RFC 3261 §16.4).
fn sip_uri<'m>(na: &NameAddr<'m>) -> Option<Uri<'m>> {
    matches!(na.uri.scheme, Scheme::Sip | Scheme::Sips).then_some(na.uri)
}

/// RFC 3261 §16.4, §19.1.1: a URI without `lr` names a strict router.
fn is_strict(u: &Uri<'_>) -> bool {
    u.param("lr").is_none()
}

impl<'m> MsgCtx<'m, '_> {
    /// Carries out an rr / siputils function (`Host::call` dispatches these here).
    pub(crate) fn rr_call(&mut self, f: Builtin, args: &[Value<'_>]) -> i32 {
        match f {
            Builtin::RecordRoute => self.record_route(args.first()),
            Builtin::RecordRoutePreset => self.record_route_preset(args),
            Builtin::AddRrParam => self.add_rr_param(args.first()),
            Builtin::LooseRoute => self.loose_route(),
            Builtin::HasTotag => self.has_totag(),
            Builtin::IsDirection => self.is_direction(args.first()),
            _ => -1,
        }
    }

    /// `record_route([params])`: the copies sent get our Record-Route (RFC 3261 §16.6 step 4),
    /// with `params` (`;name=value`) appended. Returns 1, or -1 for a reply, a second
    /// record-route attempt (Kamailio: "Double attempt to record-route") or parameters that
    /// are not URI parameter text.
    fn record_route(&mut self, params: Option<&Value<'_>>) -> i32 {
        if !self.msg.is_request() || self.rr.kind != RrKind::Off {
            return -1;
        }
        let params = match params.and_then(val_str) {
            None => "",
            Some(p) => match self.rr_param_text(&p) {
                Some(p) => p,
                None => return -1,
            },
        };
        if params.len() + self.rr.extra.len() > MAX_RR_PARAMS {
            return -1;
        }
        self.rr.kind = RrKind::Auto { params };
        1
    }

    /// `record_route_preset(addr[, addr2])`: Record-Route values with the given
    /// `host[:port][;params]` instead of our socket's address; with two, the first is on top
    /// (outbound-facing) and the second below it (Kamailio). Returns 1 or -1.
    fn record_route_preset(&mut self, args: &[Value<'_>]) -> i32 {
        if !self.msg.is_request() || self.rr.kind != RrKind::Off {
            return -1;
        }
        let Some(first) = args.first().and_then(val_str) else {
            return -1;
        };
        let Some(first) = self.preset_text(&first) else {
            return -1;
        };
        let second = match args.get(1).and_then(val_str) {
            Some(s) if !s.trim().is_empty() => {
                if self.sh.rr.double_rr == 0 {
                    tracing::warn!(target: "ferrosip::rr", "record_route_preset with two addresses needs enable_double_rr");
                    return -1;
                }
                match self.preset_text(&s) {
                    Some(s) => Some(s),
                    None => return -1,
                }
            }
            _ => None,
        };
        self.rr.kind = RrKind::Preset(first, second);
        1
    }

    /// `add_rr_param(";name=value")`: a parameter for our Record-Route URI (RFC 3261 §12.1.1
    /// says the UAs copy it back into the Route of later requests). Callable before or after
    /// `record_route()`. Returns 1 or -1.
    fn add_rr_param(&mut self, p: Option<&Value<'_>>) -> i32 {
        if !self.msg.is_request() {
            return -1;
        }
        let Some(p) = p.and_then(val_str) else {
            return -1;
        };
        let Some(p) = self.rr_param_text(&p) else {
            return -1;
        };
        let params = match self.rr.kind {
            RrKind::Auto { params } => params.len(),
            _ => 0,
        };
        if params + self.rr.extra.len() + p.len() > MAX_RR_PARAMS {
            return -1;
        }
        if !p.is_empty() {
            let mut s = bumpalo::collections::String::with_capacity_in(
                self.rr.extra.len() + p.len(),
                self.arena,
            );
            s.push_str(self.rr.extra);
            s.push_str(p);
            self.rr.extra = s.into_bump_str();
        }
        1
    }

    /// Parameter text for our Record-Route: trimmed, `;` added in front when missing, only
    /// URI parameter characters (no header injection), in the arena. `None` when invalid.
    fn rr_param_text(&self, p: &str) -> Option<&'m str> {
        let p = p.trim();
        if p.is_empty() {
            return Some("");
        }
        if p.len() > MAX_RR_PARAMS || !is_param_text(p, false) {
            tracing::warn!(target: "ferrosip::rr", params = p, "invalid Record-Route parameters");
            return None;
        }
        let arena: &'m bumpalo::Bump = self.arena;
        if p.starts_with(';') {
            Some(arena.alloc_str(p))
        } else {
            Some(bumpalo::format!(in arena, ";{}", p).into_bump_str())
        }
    }

    /// A `record_route_preset` address: `host[:port][;params]` that makes a SIP URI.
    fn preset_text(&self, a: &str) -> Option<&'m str> {
        let a = a.trim();
        let a = a
            .strip_prefix("sip:")
            .or_else(|| a.strip_prefix("sips:"))
            .unwrap_or(a);
        let ok = !a.is_empty() && a.len() <= MAX_SCRIPT_TEXT && is_param_text(a, true) && {
            let mut u = String::with_capacity(a.len() + 4);
            u.push_str("sip:");
            u.push_str(a);
            Uri::parse(&u).is_ok()
        };
        if !ok {
            tracing::warn!(target: "ferrosip::rr", address = a, "invalid record_route_preset address");
            return None;
        }
        let arena: &'m bumpalo::Bump = self.arena;
        Some(arena.alloc_str(a))
    }

    /// siputils `has_totag()`: 1 when the To header has a non-empty tag (an in-dialog
    /// request, RFC 3261 §12.2), else -1.
    fn has_totag(&self) -> i32 {
        if self
            .msg
            .to()
            .and_then(|t| t.tag)
            .is_some_and(|t| !t.is_empty())
        {
            1
        } else {
            -1
        }
    }

    /// `is_direction("downstream"|"upstream")`: upstream when our topmost Route value carries
    /// an `ftag` that is not the From tag (the callee is sending, RFC 3261 §12.2.1.1 swaps
    /// From and To), downstream otherwise. Returns 1 when it matches, -1 otherwise.
    fn is_direction(&self, dir: Option<&Value<'_>>) -> i32 {
        let Some(dir) = dir.and_then(val_str) else {
            return -1;
        };
        let want_up = match dir.trim() {
            d if d.eq_ignore_ascii_case("upstream") => true,
            d if d.eq_ignore_ascii_case("downstream") => false,
            d => {
                tracing::warn!(target: "ferrosip::rr", direction = d, "unknown is_direction direction");
                return -1;
            }
        };
        if self.rr_upstream() == want_up {
            1
        } else {
            -1
        }
    }

    /// Whether the request goes upstream (Kamailio `is_direction`): our topmost Route value
    /// has an `ftag` and the From tag differs from it.
    fn rr_upstream(&self) -> bool {
        let Some(uri) = self.first_own_route() else {
            return false;
        };
        let Some(Some(ftag)) = uri.param("ftag") else {
            return false;
        };
        match self.msg.from().and_then(|f| f.tag) {
            Some(tag) if !tag.is_empty() && !ftag.is_empty() => tag != ftag,
            _ => false,
        }
    }

    /// The URI of the first value of the received Route header, when it is ours.
    fn first_own_route(&self) -> Option<Uri<'m>> {
        let h = self
            .msg
            .headers()
            .iter()
            .find(|h| h.name == HeaderName::Route)?;
        let v: &'m [u8] = h.value;
        let s = std::str::from_utf8(v.get(first_element(v))?).ok()?;
        let na = parse_name_addr(s).ok()?;
        self.is_myself_str(na.uri_raw).then_some(na.uri)
    }

    /// Every Route value of the request, in order, from the lines `remove_hf` left; `None`
    /// when one does not parse (an empty element included, RFC 4475 §3.1.2.1) or there are
    /// more than [`MAX_ROUTES`].
    fn route_values(&self) -> Option<bumpalo::collections::Vec<'m, RouteVal<'m>>> {
        let buf = self.msg.buf();
        let arena: &'m bumpalo::Bump = self.arena;
        let mut out = bumpalo::collections::Vec::new_in(arena);
        for (i, h) in self.msg.headers().iter().enumerate() {
            if h.name != HeaderName::Route || self.is_deleted(i) {
                continue;
            }
            let v: &'m [u8] = h.value;
            let base = offset_in(buf, v)?.start;
            let mut pos = 0;
            loop {
                if out.len() >= MAX_ROUTES {
                    return None;
                }
                let r = first_element(v.get(pos..)?);
                let (s, e) = (pos + r.start, pos + r.end);
                if s >= e {
                    return None;
                }
                let text = std::str::from_utf8(v.get(s..e)?).ok()?;
                let na = parse_name_addr(text).ok()?;
                out.push(RouteVal {
                    line: i,
                    start: base + s,
                    end: base + e,
                    na,
                });
                let mut k = e;
                while v
                    .get(k)
                    .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
                {
                    k += 1;
                }
                match v.get(k) {
                    None => break,
                    Some(b',') => pos = k + 1,
                    Some(_) => return None,
                }
            }
        }
        Some(out)
    }

    /// Removes the values marked in `gone` (script edits): a line that loses all its values
    /// goes whole; otherwise each run of removed values goes with the comma joining it to a
    /// value that stays.
    fn remove_routes(&mut self, vals: &[RouteVal<'m>], gone: &[bool]) {
        let mut a = 0;
        while a < vals.len() {
            let line = vals[a].line;
            let mut b = a;
            while b < vals.len() && vals[b].line == line {
                b += 1;
            }
            let marks = gone.get(a..b).unwrap_or_default();
            if marks.iter().all(|g| *g) {
                if let Some(h) = self.msg.headers().get(line) {
                    self.edits.replace(h.line.clone(), b"");
                    if line < 128 {
                        self.deleted |= 1u128 << line;
                    }
                }
            } else {
                let mut p = a;
                while p < b {
                    if !gone.get(p).copied().unwrap_or(false) {
                        p += 1;
                        continue;
                    }
                    let mut q = p;
                    while q < b && gone.get(q).copied().unwrap_or(false) {
                        q += 1;
                    }
                    let range = if q < b {
                        // "<gone>, <gone>, <kept>": up to the kept value.
                        vals[p].start..vals[q].start
                    } else {
                        // "<kept>, <gone>": from the end of the kept value (p > a here).
                        let prev = p.saturating_sub(1);
                        vals[prev].end..vals[q - 1].end
                    };
                    self.edits.replace(range, b"");
                    p = q;
                }
            }
            a = b;
        }
    }

    /// The URI to use for a Route value as next hop or Request-URI: `sip:<maddr>[:port]`
    /// when it has `maddr` (RFC 3261 §19.1.1, as Kamailio does), else the value's URI.
    /// `None` when that does not make a URI.
    fn route_target(&self, na: &NameAddr<'m>) -> Option<&'m str> {
        match na.uri.param("maddr") {
            Some(Some(m)) if !m.is_empty() => {
                if m.len() > MAX_MADDR {
                    return None;
                }
                let arena: &'m bumpalo::Bump = self.arena;
                let s = match na.uri.port {
                    Some(p) => bumpalo::format!(in arena, "sip:{}:{}", m, p),
                    None => bumpalo::format!(in arena, "sip:{}", m),
                }
                .into_bump_str();
                Uri::parse(s).is_ok().then_some(s)
            }
            _ => Some(na.uri_raw),
        }
    }

    /// `loose_route()` (Kamailio rr, RFC 3261 §16.4 and §16.12). Returns 1 when the route
    /// set decided the next hop (or restored it after a strict router), [`RR_PRELOADED`]
    /// when a pre-loaded set held only our value, -1 when there is no Route, it does not
    /// parse, or the message is a reply. Runs once per message; a second call returns the
    /// first result.
    fn loose_route(&mut self) -> i32 {
        if let Some(rc) = self.rr.loose {
            return rc;
        }
        let rc = self.loose_route_once();
        self.rr.loose = Some(rc);
        rc
    }

    fn loose_route_once(&mut self) -> i32 {
        if !self.msg.is_request() {
            return -1;
        }
        let Some(vals) = self.route_values() else {
            tracing::debug!(target: "ferrosip::rr", "Route header does not parse");
            return -1;
        };
        if vals.is_empty() {
            return -1;
        }
        let Some(to) = self.msg.to() else {
            return -1;
        };
        let preloaded = matches!(to.tag, None | Some(""));
        let ruri_mine = self.ruri_str().is_some_and(|u| self.is_myself_str(u));
        if !preloaded && ruri_mine {
            self.after_strict(&vals)
        } else {
            self.after_loose(&vals, preloaded)
        }
    }

    /// The previous hop was a loose router (RFC 3261 §16.4 second part, §16.12): our topmost
    /// value (and the second of a `r2=on` pair) is removed; the next value is the next hop
    /// (`$du`), or, when it is a strict router, becomes the Request-URI while the old
    /// Request-URI goes to the end of the Route set (§16.6 step 6, Kamailio `handle_sr`).
    fn after_loose(&mut self, vals: &[RouteVal<'m>], preloaded: bool) -> i32 {
        let mut gone = bumpalo::vec![in self.arena; false; vals.len()];
        let Some(top) = vals.first() else { return -1 };
        let Some(top_uri) = sip_uri(&top.na) else {
            return -1;
        };
        let mut next = 0;
        if self.is_myself_str(top.na.uri_raw) {
            gone[0] = true;
            next = 1;
            if self.sh.rr.double_rr != 0 && top_uri.param("r2").is_some() {
                if let Some(second) = vals.get(1) {
                    if sip_uri(&second.na).is_some() && self.is_myself_str(second.na.uri_raw) {
                        gone[1] = true;
                        next = 2;
                    }
                }
            }
            if next >= vals.len() {
                self.remove_routes(vals, &gone);
                return if preloaded { RR_PRELOADED } else { 1 };
            }
        }
        let hop = vals[next];
        let Some(hop_uri) = sip_uri(&hop.na) else {
            return -1;
        };
        let Some(target) = self.route_target(&hop.na) else {
            return -1;
        };
        if is_strict(&hop_uri) {
            let Some(ruri) = self.ruri_str() else {
                return -1;
            };
            gone[next] = true;
            self.remove_routes(vals, &gone);
            let s = &mut *self.scratch;
            s.clear();
            s.extend_from_slice(b"Route: <");
            s.extend_from_slice(ruri.as_bytes());
            s.extend_from_slice(b">\r\n");
            let at = self.msg.headers_end();
            self.edits.replace(at..at, s);
            self.new_ruri = Some(target);
        } else {
            self.remove_routes(vals, &gone);
            self.du = Some(target);
        }
        1
    }

    /// The previous hop was a strict router (RFC 3261 §16.4): the Request-URI is ours. The
    /// second value of our `r2=on` pair is dropped; then a strict next hop becomes the
    /// Request-URI, or a loose next hop becomes `$du` and the last Route value (the remote
    /// target) goes back into the Request-URI.
    fn after_strict(&mut self, vals: &[RouteVal<'m>]) -> i32 {
        let mut gone = bumpalo::vec![in self.arena; false; vals.len()];
        let Some(top) = vals.first() else { return -1 };
        let Some(top_uri) = sip_uri(&top.na) else {
            return -1;
        };
        let mut cur = 0;
        if self.sh.rr.double_rr != 0
            && top_uri.param("r2").is_some()
            && self.is_myself_str(top.na.uri_raw)
        {
            gone[0] = true;
            cur = 1;
            if vals.len() < 2 {
                self.remove_routes(vals, &gone);
                return -1;
            }
        }
        let hop = vals[cur];
        let Some(hop_uri) = sip_uri(&hop.na) else {
            return -1;
        };
        let Some(target) = self.route_target(&hop.na) else {
            return -1;
        };
        if is_strict(&hop_uri) {
            gone[cur] = true;
            self.remove_routes(vals, &gone);
            self.new_ruri = Some(target);
        } else {
            let last = vals.len() - 1;
            let Some(remote) = self.route_target(&vals[last].na) else {
                return -1;
            };
            gone[last] = true;
            self.remove_routes(vals, &gone);
            self.du = Some(target);
            self.new_ruri = Some(remote);
        }
        1
    }

    /// Writes the Record-Route lines that `record_route*` asked for into the outgoing copy
    /// (`self.fwd`), for a copy sent from socket `out_sock` over `out_proto` (RFC 3261 §16.6
    /// step 4). They go right above the first Record-Route already present, or after the Via
    /// lines when there is none, so ours are the topmost values of the list. Does nothing
    /// when the script did not record-route. Call once per copy, after the script edits were
    /// replayed into `self.fwd`.
    pub(crate) fn rr_insert(&mut self, out_sock: usize, out_proto: Proto) {
        let kind = self.rr.kind;
        if kind == RrKind::Off {
            return;
        }
        let at = self.rr_position();
        let mut s = std::mem::take(&mut *self.scratch);
        s.clear();
        match kind {
            RrKind::Off => {}
            RrKind::Auto { params } => {
                let (in_sock, in_proto) = (self.inb.local, self.inb.proto);
                let double = match self.sh.rr.double_rr {
                    0 => false,
                    1 => out_sock != in_sock || out_proto != in_proto,
                    _ => true,
                };
                if double {
                    self.push_rr(&mut s, out_sock, out_proto, true, params);
                    self.push_rr(&mut s, in_sock, in_proto, true, params);
                } else {
                    // Kamailio's single Record-Route names the receiving socket.
                    self.push_rr(&mut s, in_sock, in_proto, false, params);
                }
            }
            RrKind::Preset(first, second) => {
                self.push_preset(&mut s, first);
                if let Some(second) = second {
                    self.push_preset(&mut s, second);
                }
            }
        }
        self.fwd.insert(at, &s);
        *self.scratch = s;
    }

    /// Where our Record-Route lines go: the start of the first Record-Route line, else the end
    /// of the last Via line, else the end of the header section.
    fn rr_position(&self) -> usize {
        let hs = self.msg.headers();
        if let Some(h) = hs.iter().find(|h| h.name == HeaderName::RecordRoute) {
            return h.line.start;
        }
        hs.iter()
            .rev()
            .find(|h| h.name == HeaderName::Via)
            .map_or(self.msg.headers_end(), |h| h.line.end)
    }

    /// `Record-Route: <sip:` (or `sips:`), with the Request-URI user when `add_username`.
    fn push_rr_start(&self, s: &mut Vec<u8>) {
        let sips = !self.sh.rr.ignore_sips
            && self
                .ruri_str()
                .and_then(|u| Uri::parse(u).ok())
                .is_some_and(|u| u.scheme == Scheme::Sips);
        s.extend_from_slice(if sips {
            b"Record-Route: <sips:"
        } else {
            b"Record-Route: <sip:"
        });
        if self.sh.rr.add_username {
            // The received R-URI's user, else the rewritten one's (Kamailio `get_username`).
            let user = self
                .msg
                .ruri()
                .and_then(|u| u.user)
                .filter(|u| !u.is_empty())
                .or_else(|| {
                    self.new_ruri
                        .and_then(|n| Uri::parse(n).ok())
                        .and_then(|u| u.user)
                })
                .filter(|u| !u.is_empty());
            if let Some(user) = user {
                s.extend_from_slice(user.as_bytes());
                s.push(b'@');
            }
        }
    }

    /// `;ftag=<tag>` when `append_fromtag`: the From tag, or the To tag for a request going
    /// upstream (Kamailio), so the value matches the dialog's initial From tag.
    fn push_ftag(&self, s: &mut Vec<u8>, upstream_aware: bool) {
        if !self.sh.rr.append_fromtag {
            return;
        }
        let tag = if upstream_aware && self.rr_upstream() {
            self.msg.to().and_then(|t| t.tag)
        } else {
            self.msg.from().and_then(|f| f.tag)
        };
        if let Some(tag) = tag.filter(|t| !t.is_empty()) {
            s.extend_from_slice(b";ftag=");
            s.extend_from_slice(tag.as_bytes());
        }
    }

    /// One `record_route()` line for socket `sock`:
    /// `Record-Route: <sip:[user@]addr[;transport=x][;r2=on];lr[;ftag=t][params]>`.
    fn push_rr(&self, s: &mut Vec<u8>, sock: usize, proto: Proto, r2: bool, params: &str) {
        self.push_rr_start(s);
        self.push_rr_addr(s, sock, proto);
        if r2 {
            s.extend_from_slice(b";r2=on");
        }
        s.extend_from_slice(if self.sh.rr.full_lr {
            b";lr=on"
        } else {
            b";lr"
        });
        self.push_ftag(s, true);
        s.extend_from_slice(params.as_bytes());
        s.extend_from_slice(self.rr.extra.as_bytes());
        s.extend_from_slice(b">\r\n");
    }

    /// One `record_route_preset()` line: `Record-Route: <sip:[user@]addr[;ftag=t];lr>`.
    fn push_preset(&self, s: &mut Vec<u8>, addr: &str) {
        self.push_rr_start(s);
        s.extend_from_slice(addr.as_bytes());
        self.push_ftag(s, false);
        s.extend_from_slice(if self.sh.rr.full_lr {
            b";lr=on"
        } else {
            b";lr"
        });
        s.extend_from_slice(b">\r\n");
    }

    /// The address of socket `sock` as Kamailio writes it into a Record-Route: advertised
    /// host and port, or the bound address (IPv6 in brackets, RFC 5118 §4.1); the port is left
    /// out when it is 5060 and not advertised; `;transport=` for anything but UDP.
    fn push_rr_addr(&self, s: &mut Vec<u8>, sock: usize, proto: Proto) {
        let Some(so) = self.sh.sockets.get(sock) else {
            return;
        };
        let port = so.addr.port();
        match &so.advertise {
            Some((h, ap)) => {
                s.extend_from_slice(h.as_bytes());
                match ap {
                    Some(p) => {
                        s.push(b':');
                        push_u64(s, u64::from(*p));
                    }
                    None if port != 5060 => {
                        s.push(b':');
                        push_u64(s, u64::from(port));
                    }
                    None => {}
                }
            }
            None => {
                push_ip(s, so.addr.ip(), true);
                if port != 5060 {
                    s.push(b':');
                    push_u64(s, u64::from(port));
                }
            }
        }
        if proto != Proto::Udp {
            s.extend_from_slice(b";transport=");
            s.extend_from_slice(proto.name().as_bytes());
        }
    }
}

#[cfg(test)]
#[path = "rr_tests.rs"]
mod tests;
