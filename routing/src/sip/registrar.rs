//! Kamailio's `registrar` module over the `usrloc` location table (RFC 3261 §10.3):
//! `save`, `lookup`, `registered`, `unregister`.
//!
//! The table itself ([`ferrosip_state::Location`]) is process-wide and lives in
//! [`super::ProcessState`]: a REGISTER is handled on the worker that owns its Call-ID and the
//! INVITE that looks the user up on whichever worker owns *its* Call-ID.
//!
//! Configuration read (Kamailio names and defaults):
//! - `modparam("usrloc", ...)`: `db_mode` (only 0, memory, is supported: any other value stops
//!   the start, as there is no database to write to), `hash_size` (10: 2^10 slots),
//!   `timer_interval` (60 s),
//!   `use_domain` (0: the AOR is the user part only); the memory bound is a quarter of `-m`;
//! - `modparam("registrar", ...)`: `default_expires` (3600), `min_expires` (60),
//!   `max_expires` (0: none), `max_contacts` (0: no limit), `default_q` (-1: unset, ranked as
//!   1.0), `append_branches` (1), `case_sensitive` (0: the AOR is lower-cased),
//!   `realm_prefix` (empty), `retry_after` (0: no Retry-After on 5xx), `use_path` (0),
//!   `path_mode` (2), `path_use_received` (0).
//!
//! Path (RFC 3327, with `use_path`): `save()` stores the REGISTER's Path headers with its
//! contacts. `path_mode` 2 accepts a Path only when the UA lists `path` in Supported (420
//! Bad Extension with `Unsupported: path` otherwise) and echoes it in the 200; 1 stores it
//! always and echoes it when supported; 0 stores it and never echoes it. `lookup()` sends each
//! branch with its contact's Path as the first Route headers and its first URI as `$du`.
//!
//! What `save()` answers (it replies itself, like Kamailio, unless flag 0x02 says not to):
//! - 200 OK with one Contact header listing every current binding with its remaining
//!   `expires` (RFC 3261 §10.3 step 8), or none when nothing is bound;
//! - 400 Bad Request for a malformed Contact or Expires, `*` with other contacts or a non-zero
//!   expiry (RFC 3261 §10.3 step 6), a To URI without a user, or a CSeq lower than the stored
//!   binding's with the same Call-ID (step 7);
//! - 503 Service Unavailable when `max_contacts` would be exceeded or the table is full.
//!
//! Errors carry Kamailio's `P-Registrar-Error` header saying which check failed. After an
//! error `save()` returns -1; a following `sl_reply_error()` sees that the registrar has
//! answered already and sends nothing more.
//!
//! Expired bindings disappear from lookups at once; their memory is reclaimed by a sweep
//! that visits every slot once per usrloc `timer_interval` (60 s), driven by `save()` calls,
//! and by a full sweep before the table would refuse an update.
//!
//! Not supported: GRUU, RFC 5626 outbound flow tokens, `received_avp` (nathelper), a
//! database (`db_mode` > 0).

use std::fmt::Write as _;
use std::time::Instant;

use ferrosip_parser::{parse_name_addr_list, HeaderName, Method, Uri};
use ferrosip_state::{Location, NewBinding, Register, UlError};

use super::ctx::{val_int, val_str, Failure, MsgCtx};
use crate::cfg::{Config, ParamValue};
use crate::names::{Builtin, Value};

/// The most bindings one REGISTER may carry (each Contact value is one); more gets 400.
const MAX_CONTACTS_PER_REQUEST: usize = 32;
/// The longest AOR accepted (Kamailio's `MAX_AOR_LEN`).
const MAX_AOR_LEN: usize = 256;
/// `save()` flag 0x02: do not send a reply.
const SAVE_NO_REPLY: i64 = 0x02;
/// `save()` flag 0x04: keep only this request's contacts.
const SAVE_REPLACE: i64 = 0x04;

/// The registrar and usrloc parameters, and the table when the modules are loaded.
#[derive(Debug)]
pub(crate) struct Registrar {
    /// The location table.
    pub(crate) table: Location,
    default_expires: u32,
    min_expires: u32,
    max_expires: u32,
    max_contacts: usize,
    /// `default_q` in thousandths, `None` for unset (ranked as 1.0).
    default_q: Option<u16>,
    append_branches: bool,
    use_domain: bool,
    case_sensitive: bool,
    realm_prefix: String,
    retry_after: u32,
    /// `use_path`: store the Path of a REGISTER with its contacts (RFC 3327).
    use_path: bool,
    /// `path_mode`: 0 store, never echo; 1 store, echo when the UA supports `path`; 2 store
    /// and echo only when the UA supports `path`, else 420 (RFC 3327 §5.3).
    path_mode: u32,
    /// `path_use_received`: a `received` parameter of the first Path URI is the address to
    /// send to.
    path_use_received: bool,
    /// usrloc `timer_interval`: every slot of the table is swept for expired bindings once
    /// per this interval.
    timer_interval: std::time::Duration,
}

fn param_int(cfg: &Config, module: &str, name: &str) -> Option<i64> {
    match cfg.modparam(module, name)? {
        ParamValue::Int(i) => Some(*i),
        ParamValue::Str(s) => s.trim().parse().ok(),
    }
}

fn param_u32(cfg: &Config, module: &str, name: &str, default: u32) -> u32 {
    param_int(cfg, module, name)
        .and_then(|v| u32::try_from(v).ok())
        .unwrap_or(default)
}

impl Registrar {
    /// The registrar of a configuration that loads `registrar` or `usrloc`; `Ok(None)` when
    /// it loads neither, `Err` for a setting ferrosip cannot honour.
    pub(crate) fn from_config(cfg: &Config) -> Result<Option<Self>, String> {
        if !cfg
            .modules
            .iter()
            .any(|m| m == "registrar" || m == "usrloc")
        {
            return Ok(None);
        }
        if let Some(m) = param_int(cfg, "usrloc", "db_mode").filter(|m| *m != 0) {
            return Err(format!(
                "modparam(\"usrloc\", \"db_mode\", {m}): only db_mode 0 (memory only) is supported"
            ));
        }
        let shm = u64::from(cfg.core.shm_mem.unwrap_or(64)) * 1024 * 1024;
        let max_bytes = usize::try_from(shm / 4).unwrap_or(usize::MAX);
        let hash_size = param_u32(cfg, "usrloc", "hash_size", 10);
        let default_q = param_int(cfg, "registrar", "default_q")
            .filter(|q| (0..=1000).contains(q))
            .and_then(|q| u16::try_from(q).ok());
        Ok(Some(Self {
            table: Location::new(hash_size, max_bytes),
            default_expires: param_u32(cfg, "registrar", "default_expires", 3600),
            min_expires: param_u32(cfg, "registrar", "min_expires", 60),
            max_expires: param_u32(cfg, "registrar", "max_expires", 0),
            max_contacts: param_u32(cfg, "registrar", "max_contacts", 0) as usize,
            default_q,
            append_branches: !matches!(param_int(cfg, "registrar", "append_branches"), Some(0)),
            use_domain: param_int(cfg, "usrloc", "use_domain").is_some_and(|v| v != 0),
            case_sensitive: param_int(cfg, "registrar", "case_sensitive").is_some_and(|v| v != 0),
            realm_prefix: match cfg.modparam("registrar", "realm_prefix") {
                Some(ParamValue::Str(s)) => s.clone(),
                _ => String::new(),
            },
            retry_after: param_u32(cfg, "registrar", "retry_after", 0),
            use_path: param_int(cfg, "registrar", "use_path").is_some_and(|v| v != 0),
            path_mode: param_u32(cfg, "registrar", "path_mode", 2).min(2),
            path_use_received: param_int(cfg, "registrar", "path_use_received")
                .is_some_and(|v| v != 0),
            timer_interval: std::time::Duration::from_secs(u64::from(
                param_u32(cfg, "usrloc", "timer_interval", 60).max(1),
            )),
        }))
    }

    /// The expiry granted for a requested one (Kamailio `calc_contact_expires`): the
    /// Contact's `expires`, else the Expires header, else `default_expires`; a non-zero
    /// value is raised to `min_expires` and lowered to `max_expires` when those are set.
    fn grant(&self, requested: Option<u32>) -> u32 {
        let e = requested.unwrap_or(self.default_expires);
        if e == 0 {
            return 0;
        }
        let e = if self.min_expires > 0 {
            e.max(self.min_expires)
        } else {
            e
        };
        if self.max_expires > 0 {
            e.min(self.max_expires)
        } else {
            e
        }
    }

    /// The AOR of a URI (Kamailio `extract_aor`): the unescaped user, `@host` when
    /// `use_domain` is set (without `realm_prefix`), lower-cased unless `case_sensitive`
    /// (then only the host is). `Err` names what is wrong.
    fn aor(&self, uri: &str, arena: &bumpalo::Bump) -> Result<String, &'static str> {
        let u = Uri::parse(uri).map_err(|_| "Error while parsing AOR")?;
        let user = u
            .user_unescaped(arena)
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        if user.is_empty() && !self.use_domain {
            return Err("No username in To URI");
        }
        let mut aor = if self.case_sensitive {
            user
        } else {
            user.to_ascii_lowercase()
        };
        if self.use_domain {
            let host = u
                .host
                .strip_prefix(self.realm_prefix.as_str())
                .unwrap_or(u.host);
            if !aor.is_empty() {
                aor.push('@');
            }
            aor.push_str(&host.to_ascii_lowercase());
        }
        if aor.len() > MAX_AOR_LEN {
            return Err("Address Of Record too long");
        }
        Ok(aor)
    }
}

impl Registrar {
    /// Where a binding's branch goes (Kamailio `lookup`): with a Path, `$du` is its first
    /// URI (or that URI's `received` parameter with `path_use_received`) and the Path becomes
    /// the branch's Route headers; else the `received` address, if any.
    fn next_hop(&self, b: &ferrosip_state::Binding) -> (Option<String>, Option<String>) {
        let Some(path) = b.path.as_deref() else {
            return (b.received.clone(), None);
        };
        let first = path.split(',').next().unwrap_or("").trim();
        let first = first
            .strip_prefix('<')
            .and_then(|f| f.split_once('>'))
            .map_or(first, |(u, _)| u);
        let du = if self.path_use_received {
            ferrosip_parser::parse_uri(first)
                .ok()
                .and_then(|u| u.param("received").flatten())
                .map(|r| r.trim_matches('"').to_owned())
                .or_else(|| Some(first.to_owned()))
        } else {
            Some(first.to_owned())
        };
        (du, Some(path.to_owned()))
    }
}

/// The table key of an AOR in a usrloc domain (`"location"` and others share one table).
fn key(domain: &str, aor: &str) -> String {
    if domain == "location" {
        aor.to_owned()
    } else {
        format!("{domain}\0{aor}")
    }
}

/// A `q` parameter (RFC 3261 §20.10: `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`)
/// in thousandths.
fn parse_q(s: &str) -> Option<u16> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 3 || !frac.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let whole: u16 = match int {
        "0" => 0,
        "1" => 1000,
        _ => return None,
    };
    let mut f = 0u16;
    for (i, c) in frac.bytes().enumerate() {
        f += u16::from(c - b'0') * [100, 10, 1][i];
    }
    let q = whole + f;
    (q <= 1000).then_some(q)
}

/// A parsed Contact value as `save()` needs it.
struct ContactReq {
    uri: String,
    expires: Option<u32>,
    q: Option<u16>,
    instance: Option<String>,
    reg_id: Option<u32>,
}

/// What is wrong with a REGISTER: the `P-Registrar-Error` text (the reply is 400).
type BadRequest = &'static str;

impl MsgCtx<'_, '_> {
    /// Dispatches the registrar functions.
    pub(crate) fn reg_call(&mut self, f: Builtin, args: &[Value<'_>]) -> i32 {
        let process = self.sh.process.clone();
        let Some(reg) = process.registrar.as_ref() else {
            return -1;
        };
        let domain = args.first().and_then(val_str).unwrap_or_default();
        let domain = domain.trim();
        if domain.is_empty() {
            return -1;
        }
        match f {
            Builtin::Save => {
                let flags = args.get(1).and_then(val_int).unwrap_or(0);
                let uri = args.get(2).and_then(val_str).map(|s| s.trim().to_owned());
                self.save(reg, domain, flags, uri.as_deref())
            }
            Builtin::Lookup => {
                let uri = args.get(1).and_then(val_str).map(|s| s.trim().to_owned());
                self.lookup(reg, domain, uri.as_deref())
            }
            Builtin::Registered => {
                let uri = args.get(1).and_then(val_str).map(|s| s.trim().to_owned());
                let Some(uri) = uri.or_else(|| self.ruri_str().map(str::to_owned)) else {
                    return -1;
                };
                match reg.aor(&uri, self.arena) {
                    Ok(aor) if reg.table.registered(&key(domain, &aor), self.now) => 1,
                    _ => -1,
                }
            }
            Builtin::Unregister => {
                let Some(uri) = args.get(1).and_then(val_str) else {
                    return -1;
                };
                match reg.aor(uri.trim(), self.arena) {
                    Ok(aor) if reg.table.remove(&key(domain, &aor)) > 0 => 1,
                    _ => -1,
                }
            }
            _ => -1,
        }
    }

    /// `save(domain [, flags [, uri]])`: RFC 3261 §10.3 steps 5-8 for this REGISTER.
    fn save(&mut self, reg: &Registrar, domain: &str, flags: i64, uri: Option<&str>) -> i32 {
        if !self.msg.is_request() || self.msg.method() == Some(Method::Ack) {
            return -1;
        }
        let now = self.now;
        reg.table.purge_due(now, reg.timer_interval, 4);
        let answer = flags & SAVE_NO_REPLY == 0;
        let request = match self.register_request(reg, uri, flags) {
            Ok(r) => r,
            Err(why) => return self.reg_error(answer, 400, "Bad Request", why, reg),
        };
        let (aor, mut req) = request;
        let mut echo_path = None;
        if reg.use_path {
            if let Some(path) = self.path_values() {
                let supported = self.supports_path();
                if reg.path_mode == 2 && !supported {
                    if answer {
                        self.send_reply(420, b"Bad Extension", b"Unsupported: path\r\n");
                        self.last_error = Some(Failure::Replied);
                    }
                    return -1;
                }
                for b in &mut req.bindings {
                    b.path = Some(path.clone());
                }
                if reg.path_mode > 0 && supported {
                    echo_path = Some(path);
                }
            }
        }
        let result = reg.table.register(&key(domain, &aor), &req, now);
        match result {
            Ok(bindings) => {
                if answer {
                    let mut extra = String::new();
                    contact_list(&mut extra, &bindings, now);
                    if let Some(p) = echo_path {
                        let _ = write!(extra, "Path: {p}\r\n");
                    }
                    self.send_reply(200, b"OK", extra.as_bytes());
                }
                1
            }
            Err(e) => {
                let why = match e {
                    UlError::InvalidCSeq => "Invalid CSeq number",
                    UlError::TooMany => "Too many registered contacts",
                    UlError::Full => "Location table full",
                };
                self.reg_error(answer, e.status(), e.reason(), why, reg)
            }
        }
    }

    /// Sends a registrar error reply (with `P-Registrar-Error`, and Retry-After on 5xx
    /// when configured) and returns -1.
    fn reg_error(
        &mut self,
        answer: bool,
        code: u16,
        reason: &str,
        why: &str,
        reg: &Registrar,
    ) -> i32 {
        tracing::debug!(target: "ferrosip::registrar", code, why, "REGISTER refused");
        if answer {
            let mut extra = format!("P-Registrar-Error: {why}\r\n");
            if code >= 500 && reg.retry_after > 0 {
                let _ = write!(extra, "Retry-After: {}\r\n", reg.retry_after);
            }
            self.send_reply(code, reason.as_bytes(), extra.as_bytes());
            self.last_error = Some(Failure::Replied);
        }
        -1
    }

    /// Every Path value of the request, in order, joined with commas (RFC 3327 §4); `None`
    /// without a Path header.
    fn path_values(&self) -> Option<String> {
        let mut out = String::new();
        for h in self.msg.headers_named(HeaderName::Path) {
            let v = h.value_str()?.trim();
            if v.is_empty() {
                continue;
            }
            if !out.is_empty() {
                out.push_str(", ");
            }
            out.push_str(v);
        }
        (!out.is_empty()).then_some(out)
    }

    /// Whether the request's Supported headers list the `path` option tag (RFC 3327 §4).
    fn supports_path(&self) -> bool {
        self.msg.headers_named(HeaderName::Supported).any(|h| {
            h.value_str()
                .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("path")))
        })
    }

    /// Reads the AOR, the Expires header and every Contact of the request.
    fn register_request(
        &self,
        reg: &Registrar,
        uri: Option<&str>,
        flags: i64,
    ) -> Result<(String, Register), BadRequest> {
        let m = self.msg;
        let to_uri = match uri {
            Some(u) => u,
            None => m.to().map(|t| t.uri_raw).ok_or("To header missing")?,
        };
        let aor = reg.aor(to_uri, self.arena)?;
        let call_id = m.call_id().ok_or("Call-ID header missing")?;
        let cseq = m.cseq().ok_or("CSeq header missing")?.num;
        // Expires = "Expires" HCOLON delta-seconds (RFC 3261 §20.19); larger values than
        // 2^32-1 are taken as that (§10.2.1.1 only asks for at least 2^32-1 support).
        let expires_hf = match m.header(HeaderName::Expires) {
            None => None,
            Some(h) => {
                let v = h.value_str().ok_or("Error while parsing Expires")?.trim();
                if v.is_empty() || !v.bytes().all(|c| c.is_ascii_digit()) {
                    return Err("Error while parsing Expires");
                }
                Some(
                    v.parse::<u64>()
                        .map_or(u32::MAX, |e| u32::try_from(e).unwrap_or(u32::MAX)),
                )
            }
        };
        let mut star = false;
        let mut contacts: Vec<ContactReq> = Vec::new();
        for h in m.headers_named(HeaderName::Contact) {
            let v = h.value_str().ok_or("Error while parsing Contact")?.trim();
            if v == "*" {
                star = true;
                continue;
            }
            let mut err = None;
            let parsed = parse_name_addr_list(v, |na| {
                if contacts.len() >= MAX_CONTACTS_PER_REQUEST {
                    err = Some("Too many contacts in the request");
                    return Err(ferrosip_parser::ParseError::BadNameAddr);
                }
                let expires = match na.param("expires") {
                    None | Some(None) => expires_hf,
                    // Kamailio takes a non-numeric expires parameter as default_expires.
                    Some(Some(e)) => {
                        Some(e.trim().parse::<u64>().map_or(reg.default_expires, |e| {
                            u32::try_from(e).unwrap_or(u32::MAX)
                        }))
                    }
                };
                let q = match na.param("q") {
                    None => None,
                    Some(q) => match q.map(str::trim).and_then(parse_q) {
                        Some(q) => Some(q),
                        None => {
                            err = Some("Invalid q parameter");
                            return Err(ferrosip_parser::ParseError::BadNameAddr);
                        }
                    },
                };
                let instance = na.param("+sip.instance").flatten().map(str::to_owned);
                let reg_id = na
                    .param("reg-id")
                    .flatten()
                    .and_then(|r| r.trim().parse::<u32>().ok());
                contacts.push(ContactReq {
                    uri: na.uri_raw.to_owned(),
                    expires,
                    q,
                    instance,
                    reg_id,
                });
                Ok(())
            });
            if let Some(e) = err {
                return Err(e);
            }
            parsed.map_err(|_| "Error while parsing Contact")?;
        }
        if star {
            // RFC 3261 §10.3 step 6: `*` only alone and with Expires: 0.
            if !contacts.is_empty() {
                return Err("* used with other contacts");
            }
            if expires_hf != Some(0) {
                return Err("Expires must be 0 with *");
            }
        }
        let ua = m
            .header(HeaderName::UserAgent)
            .and_then(|h| h.value_str())
            .map(|s| s.chars().take(255).collect::<String>());
        let bindings = contacts
            .into_iter()
            .map(|c| NewBinding {
                uri: c.uri,
                expires: reg.grant(c.expires),
                q: c.q.or(reg.default_q),
                instance: c.instance,
                reg_id: c.reg_id,
                received: None,
                path: None,
                user_agent: ua.clone(),
                socket: Some(self.inb.local),
            })
            .collect();
        Ok((
            aor,
            Register {
                call_id: call_id.to_owned(),
                cseq,
                remove_all: star,
                bindings,
                max_contacts: reg.max_contacts,
                replace: flags & SAVE_REPLACE != 0,
            },
        ))
    }

    /// `lookup(domain [, uri])`: rewrites the R-URI to the best binding of the AOR and, with
    /// `append_branches`, adds the others as branches (RFC 3261 §16.5 "the location
    /// service"). 1 when found, -1 when the AOR has no live binding, -3 on an internal error.
    fn lookup(&mut self, reg: &Registrar, domain: &str, uri: Option<&str>) -> i32 {
        if !self.msg.is_request() {
            return -1;
        }
        let Some(uri) = uri
            .map(str::to_owned)
            .or_else(|| self.ruri_str().map(str::to_owned))
        else {
            return -1;
        };
        let Ok(aor) = reg.aor(&uri, self.arena) else {
            return -1;
        };
        let default_q = reg.default_q.unwrap_or(1000);
        let bindings = reg.table.lookup(&key(domain, &aor), self.now, default_q);
        let Some((first, rest)) = bindings.split_first() else {
            return -1;
        };
        if Uri::parse(&first.uri).is_err() {
            return -3;
        }
        self.new_ruri = Some(self.alloc_str(&first.uri));
        let (du, path) = reg.next_hop(first);
        if let Some(d) = du {
            self.du = Some(self.alloc_str(&d));
        }
        self.tm.path = path.map(Into::into);
        if reg.append_branches {
            for b in rest {
                if self.tm.dset.len() + 1 >= super::tm::MAX_BRANCHES {
                    break;
                }
                let (du, path) = reg.next_hop(b);
                self.tm.dset.push(super::tm::Branch {
                    uri: b.uri.as_str().into(),
                    du: du.map(Into::into),
                    q: b.q.map_or(super::tm::Q_UNSET, i32::from),
                    path: path.map(Into::into),
                });
            }
        }
        1
    }
}

/// The Contact header of a REGISTER's 200 OK (RFC 3261 §10.3 step 8): every binding with
/// its remaining `expires`, in one header line, nothing when there are none.
fn contact_list(out: &mut String, bindings: &[ferrosip_state::Binding], now: Instant) {
    for (i, b) in bindings.iter().enumerate() {
        out.push_str(if i == 0 { "Contact: " } else { ", " });
        let _ = write!(out, "<{}>;expires={}", b.uri, b.remaining(now));
        if let Some(q) = b.q {
            let _ = write!(out, ";q={}", format_q(q));
        }
        if let (Some(inst), Some(id)) = (&b.instance, b.reg_id) {
            let _ = write!(out, ";+sip.instance={inst};reg-id={id}");
        }
    }
    if !bindings.is_empty() {
        out.push_str("\r\n");
    }
}

/// A q-value in thousandths as RFC 3261 writes it (`1`, `0.5`, `0.25`, `0.001`).
fn format_q(q: u16) -> String {
    if q >= 1000 {
        return "1".into();
    }
    let s = format!("0.{q:03}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
#[path = "registrar_tests.rs"]
mod flow_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q_values_parse_and_print_per_rfc3261() {
        for (s, q) in [
            ("0", 0),
            ("1", 1000),
            ("0.5", 500),
            ("0.25", 250),
            ("1.000", 1000),
            ("0.001", 1),
        ] {
            assert_eq!(parse_q(s), Some(q), "{s}");
        }
        for s in ["", "2", "1.5", "0.1234", "x", "-0.5", "0.a"] {
            assert_eq!(parse_q(s), None, "{s}");
        }
        assert_eq!(format_q(500), "0.5");
        assert_eq!(format_q(0), "0");
        assert_eq!(format_q(1000), "1");
        assert_eq!(format_q(125), "0.125");
    }
}
