//! Kamailio's `auth` and `auth_db` modules: digest authentication of requests (RFC 3261
//! §22, RFC 2617 §3.2 / RFC 7616 §3.3-3.4 with MD5 and `qop=auth`), on top of the sans-IO
//! [`ferrosip_state::digest`].
//!
//! Functions (Kamailio names, arguments and return codes):
//! - `www_challenge(realm, flags)`, `proxy_challenge(realm, flags)`, `auth_challenge(realm,
//!   flags)`: answer 401 with `WWW-Authenticate` / 407 with `Proxy-Authenticate` (RFC 3261
//!   §22.1, §22.3); `auth_challenge` picks 401 for REGISTER, 407 otherwise. Flags: 1 offer
//!   `qop="auth"`, 2 `qop="auth-int"`, 16 `stale=true`; `stale=true` is also sent when the
//!   request carried one of our nonces that has expired (RFC 2617 §3.2.1).
//! - `pv_www_authenticate(realm, password, flags [, method])`, `pv_proxy_authenticate(realm,
//!   password, flags)`, `pv_auth_check(realm, password, flags, checks)`: check the
//!   credentials against a password (flags bit 1: the argument is the HA1); `checks` bit 1:
//!   the auth user must be the To user (REGISTER, PUBLISH) or the From user.
//! - `has_credentials(realm)`, `consume_credentials()` (removes the header that
//!   authenticated, RFC 3261 §22.3).
//! - auth_db `www_authorize(realm, table)`, `proxy_authorize(realm, table)`,
//!   `auth_check(realm, table, flags)`: the same with the password from a db_text subscriber
//!   table, read whole at start ([`AuthState::load`]), so a lookup is a hash-map lookup.
//!
//! Return codes: 1 authenticated; -1 error or a nonce that is not ours; -2 wrong password;
//! -3 unknown user; -4 nonce expired; -5 no credentials for the realm; -8 auth user
//! mismatch. Malformed credentials are answered with 400 (as Kamailio does) and return -1.
//! ACK and CANCEL always pass (they cannot be challenged, RFC 3261 §22.1).
//! An empty realm means the To host (REGISTER) or the From host; `realm_prefix` is
//! removed from the realm before the credentials are matched.
//!
//! Nonces are stateless ([`ferrosip_state::NonceKey`]): expiry and issue time under an
//! HMAC with `modparam("auth", "secret", ..)`, or a random secret made at start when none is
//! set (one per process: every worker accepts every worker's nonces). Not supported:
//! `nonce_count`, `one_time_nonce` (nonces are reusable until they expire, Kamailio's
//! default), challenge headers stored into AVPs (flags 2/4/8 of `pv_*_authenticate`), and
//! `load_credentials` columns.
//!
//! Configuration (Kamailio names and defaults): auth `secret` (random), `nonce_expire`
//! (300 s), `nonce_auth_max_drift` (3 s), `qop` ("": none unless the flags ask), `algorithm`
//! ("" or "MD5" only), `realm_prefix` (""); auth_db `db_url` (`text://dir`), `user_column`
//! (`username`), `domain_column` (`domain`), `password_column` (`ha1`),
//! `password_column_2` (`ha1b`, used for `user@domain` usernames), `calculate_ha1` (0: the
//! column holds the HA1; 1: the plain password), `use_domain` (0: match the user only).

use std::borrow::Cow;
use std::collections::HashMap;

use ferrosip_parser::{HeaderName, Method};
use ferrosip_state::digest::{
    compute_ha1, parse_credentials, verify_response, write_challenge, Challenge, CredError,
    Credentials, NonceCheck, NonceKey, Qop,
};

use super::ctx::{val_int, val_str, MsgCtx};
use crate::cfg::script::{Expr, Re, Script, Seg, Stmt};
use crate::cfg::{Config, ParamValue};
use crate::names::{Builtin, Pv, Value};

/// Kamailio's `AUTH_OK`.
const AUTH_OK: i32 = 1;
/// `AUTH_ERROR`: error, malformed credentials, or a nonce that is not ours.
const AUTH_ERROR: i32 = -1;
/// `AUTH_INVALID_PASSWORD`.
const AUTH_INVALID_PASSWORD: i32 = -2;
/// `AUTH_USER_UNKNOWN`.
const AUTH_USER_UNKNOWN: i32 = -3;
/// `AUTH_STALE_NONCE`.
const AUTH_STALE_NONCE: i32 = -4;
/// `AUTH_NO_CREDENTIALS`.
const AUTH_NO_CREDENTIALS: i32 = -5;
/// `AUTH_USER_MISMATCH`.
const AUTH_USER_MISMATCH: i32 = -8;

/// One subscriber row: the domain and the two password columns.
#[derive(Clone, Debug)]
struct CredRow {
    domain: String,
    pass: String,
    pass2: String,
}

/// The process-wide auth/auth_db configuration and credential tables (RFC 2617 §3.2 server
/// state: the nonce secret; everything else is per request).
#[derive(Debug)]
pub(crate) struct AuthState {
    key: NonceKey,
    nonce_expire: u32,
    max_drift: u32,
    qop: Option<Qop>,
    realm_prefix: String,
    calculate_ha1: bool,
    use_domain: bool,
    /// auth_db tables by name: user → rows.
    tables: HashMap<String, HashMap<String, Vec<CredRow>>>,
}

/// Per-message auth state: which credentials header authenticated (for
/// `consume_credentials`).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct AuthMsg {
    authorized: Option<usize>,
}

fn param_int(cfg: &Config, m: &str, n: &str) -> Option<i64> {
    match cfg.modparam(m, n) {
        Some(ParamValue::Int(i)) => Some(*i),
        Some(ParamValue::Str(s)) => s.trim().parse().ok(),
        None => None,
    }
}

fn param_str<'c>(cfg: &'c Config, m: &str, n: &str) -> Option<&'c str> {
    match cfg.modparam(m, n) {
        Some(ParamValue::Str(s)) => Some(s.as_str()),
        _ => None,
    }
}

/// 32 random bytes from the operating system: the nonce secret when none is configured.
/// Should the OS source fail (it does not on Linux), the standard library's per-process
/// random hash keys mixed with the time and the process id stand in.
fn random_secret() -> Vec<u8> {
    let mut out = vec![0u8; 32];
    if getrandom::getrandom(&mut out).is_ok() {
        return out;
    }
    use std::hash::{BuildHasher, Hasher};
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    out.clear();
    for i in 0..4u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(i);
        h.write_u128(nanos);
        h.write_u32(std::process::id());
        out.extend_from_slice(&h.finish().to_le_bytes());
    }
    out
}

impl AuthState {
    /// Defaults with a random secret: what a router falls back to when the configuration
    /// could not be honoured (the process then does not start, see `ProcessState::load`).
    pub(crate) fn fallback() -> Self {
        Self {
            key: NonceKey::new(&random_secret()),
            nonce_expire: 300,
            max_drift: 3,
            qop: None,
            realm_prefix: String::new(),
            calculate_ha1: false,
            use_domain: false,
            tables: HashMap::new(),
        }
    }

    /// Reads the auth and auth_db module parameters; `Err` for a setting that cannot be
    /// honoured (an algorithm other than MD5, a bad `qop`).
    pub(crate) fn from_config(cfg: &Config) -> Result<Self, String> {
        let key = match param_str(cfg, "auth", "secret").filter(|s| !s.is_empty()) {
            Some(s) => NonceKey::new(s.as_bytes()),
            None => NonceKey::new(&random_secret()),
        };
        let qop = match param_str(cfg, "auth", "qop").map(str::trim) {
            None | Some("") => None,
            Some(q) if q.eq_ignore_ascii_case("auth") => Some(Qop::Auth),
            Some(q) if q.eq_ignore_ascii_case("auth-int") => Some(Qop::AuthInt),
            Some(q) => {
                return Err(format!(
                    "modparam(\"auth\", \"qop\", \"{q}\"): not auth or auth-int"
                ))
            }
        };
        match param_str(cfg, "auth", "algorithm").map(str::trim) {
            None | Some("") => {}
            Some(a) if a.eq_ignore_ascii_case("md5") => {}
            Some(a) => {
                return Err(format!(
                    "modparam(\"auth\", \"algorithm\", \"{a}\"): only MD5 is supported"
                ))
            }
        }
        if param_str(cfg, "auth_db", "load_credentials").is_some_and(|s| !s.trim().is_empty()) {
            tracing::warn!(target: "ferrosip::auth", "auth_db load_credentials: the columns are not loaded into AVPs");
        }
        let clamp = |v: i64| u32::try_from(v.max(0)).unwrap_or(u32::MAX);
        Ok(Self {
            key,
            nonce_expire: param_int(cfg, "auth", "nonce_expire").map_or(300, clamp),
            max_drift: param_int(cfg, "auth", "nonce_auth_max_drift").map_or(3, clamp),
            qop,
            realm_prefix: param_str(cfg, "auth", "realm_prefix")
                .unwrap_or("")
                .to_string(),
            calculate_ha1: param_int(cfg, "auth_db", "calculate_ha1").is_some_and(|v| v != 0),
            use_domain: param_int(cfg, "auth_db", "use_domain").is_some_and(|v| v != 0),
            tables: HashMap::new(),
        })
    }

    /// Loads every subscriber table the script names in `www_authorize`, `proxy_authorize`
    /// and `auth_check` from the auth_db `db_url` (db_text: one file per table in the
    /// directory of `text://dir`). `Err` says what could not be read.
    pub(crate) fn load(&mut self, cfg: &Config) -> Result<(), String> {
        if !cfg.modules.iter().any(|m| m == "auth_db") {
            return Ok(());
        }
        let mut names = Vec::new();
        script_tables(&cfg.script, &mut names);
        if names.is_empty() {
            return Ok(());
        }
        let url = param_str(cfg, "auth_db", "db_url").unwrap_or("");
        let dir = url.strip_prefix("text://").ok_or_else(|| {
            format!("auth_db db_url {url:?}: only text:// (db_text) is supported")
        })?;
        let col = |n: &str, d: &'static str| param_str(cfg, "auth_db", n).unwrap_or(d).to_string();
        let (user_c, dom_c) = (
            col("user_column", "username"),
            col("domain_column", "domain"),
        );
        let (pass_c, pass2_c) = (
            col("password_column", "ha1"),
            col("password_column_2", "ha1b"),
        );
        for name in names {
            if self.tables.contains_key(&name) || name.contains('/') || name.contains("..") {
                continue;
            }
            let path = std::path::Path::new(dir).join(&name);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("auth_db: cannot read table {}: {e}", path.display()))?;
            let t = ferrosip_state::dbtext::Table::parse(&text)
                .map_err(|e| format!("auth_db: table {}: {e:?}", path.display()))?;
            for c in [&user_c, &pass_c] {
                if t.column(c).is_none() {
                    return Err(format!(
                        "auth_db: table {} has no column {c:?}",
                        path.display()
                    ));
                }
            }
            let mut map: HashMap<String, Vec<CredRow>> = HashMap::with_capacity(t.len());
            for row in t.rows() {
                let Some(user) = row.str(&user_c) else {
                    continue;
                };
                let s = |c: &str| row.str(c).unwrap_or("").to_string();
                map.entry(user.to_string()).or_default().push(CredRow {
                    domain: s(&dom_c),
                    pass: s(&pass_c),
                    pass2: s(&pass2_c),
                });
            }
            tracing::info!(target: "ferrosip::auth", table = %name, users = map.len(), "auth_db table loaded");
            self.tables.insert(name, map);
        }
        Ok(())
    }

    /// The password column value for `user` (HA1, or the password with `calculate_ha1`),
    /// `None` when the table is not loaded (`Err`) or the user is unknown (`Ok(None)`).
    fn lookup(&self, table: &str, c: &Credentials<'_>, realm: &str) -> Result<Option<Vec<u8>>, ()> {
        let t = self.tables.get(table).ok_or(())?;
        let Some(rows) = t.get(c.user()) else {
            return Ok(None);
        };
        let Some(row) = rows
            .iter()
            .find(|r| !self.use_domain || r.domain.eq_ignore_ascii_case(realm))
        else {
            return Ok(None);
        };
        if self.calculate_ha1 {
            return Ok(Some(compute_ha1(&c.username, realm, &row.pass).to_vec()));
        }
        // Kamailio: the second column holds H(user@domain:realm:password).
        let v = if c.user_domain().is_some() {
            &row.pass2
        } else {
            &row.pass
        };
        Ok(Some(v.as_bytes().to_vec()))
    }
}

/// Collects the constant table names of the auth_db functions in the script.
fn script_tables(s: &Script, out: &mut Vec<String>) {
    for r in &s.routes {
        for st in r.body.iter() {
            walk_stmt(st, out);
        }
    }
}

fn walk_stmt(s: &Stmt, out: &mut Vec<String>) {
    match s {
        Stmt::Eval(e) | Stmt::Assign(_, _, e) | Stmt::Return(Some(e)) => walk_expr(e, out),
        Stmt::Block(b) => b.iter().for_each(|s| walk_stmt(s, out)),
        Stmt::If(c, a, b) => {
            walk_expr(c, out);
            a.iter().chain(b.iter()).for_each(|s| walk_stmt(s, out));
        }
        Stmt::Switch { value, body, .. } => {
            walk_expr(value, out);
            body.iter().for_each(|s| walk_stmt(s, out));
        }
        Stmt::While(c, b) => {
            walk_expr(c, out);
            b.iter().for_each(|s| walk_stmt(s, out));
        }
        #[allow(unreachable_patterns)]
        _ => {}
    }
}

fn walk_expr(e: &Expr, out: &mut Vec<String>) {
    match e {
        Expr::Call(f, args) => {
            if matches!(
                f,
                Builtin::WwwAuthorize | Builtin::ProxyAuthorize | Builtin::AuthCheck
            ) {
                match args.get(1) {
                    Some(Expr::Const(Value::Str(t))) => {
                        if !out.iter().any(|x| x == t.as_ref()) {
                            out.push(t.to_string());
                        }
                    }
                    _ => {
                        tracing::warn!(target: "ferrosip::auth", "auth_db table names must be constants to be loaded at start")
                    }
                }
            }
            args.iter().for_each(|a| walk_expr(a, out));
        }
        Expr::Format(segs) => {
            for s in segs.iter() {
                if let Seg::Val(e) = s {
                    walk_expr(e, out);
                }
            }
        }
        Expr::Not(x)
        | Expr::Neg(x)
        | Expr::BitNot(x)
        | Expr::Myself(_, x)
        | Expr::InNet(_, x, _)
        | Expr::Defined(x)
        | Expr::StrLen(x)
        | Expr::StrEmpty(x)
        | Expr::CastInt(x)
        | Expr::CastStr(x) => walk_expr(x, out),
        Expr::And(l) | Expr::Or(l) => l.iter().for_each(|x| walk_expr(x, out)),
        Expr::Arith(a, rest) => {
            walk_expr(a, out);
            rest.iter().for_each(|(_, x)| walk_expr(x, out));
        }
        Expr::Cmp(_, _, a, b) => {
            walk_expr(a, out);
            walk_expr(b, out);
        }
        Expr::Match(_, a, re) => {
            walk_expr(a, out);
            if let Re::Dyn(x) = re {
                walk_expr(x, out);
            }
        }
        #[allow(unreachable_patterns)]
        _ => {}
    }
}

/// Which header pair a function works on (RFC 3261 §22.1 / §22.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// 401, `WWW-Authenticate` / `Authorization`.
    Www,
    /// 407, `Proxy-Authenticate` / `Proxy-Authorization`.
    Proxy,
}

impl Kind {
    fn credentials(self) -> HeaderName {
        match self {
            Self::Www => HeaderName::Authorization,
            Self::Proxy => HeaderName::ProxyAuthorization,
        }
    }
}

/// Where the password of a check comes from.
enum Secret<'a> {
    /// `pv_*_authenticate`: a password, or the HA1 when `ha1`.
    Given { pass: &'a str, ha1: bool },
    /// auth_db: a table.
    Table(&'a str),
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl<'m> MsgCtx<'m, '_> {
    /// Runs an auth / auth_db function (see the module documentation).
    pub(crate) fn auth_call(&mut self, f: Builtin, args: &[Value<'_>]) -> i32 {
        let s = |i: usize| args.get(i).and_then(val_str);
        let n = |i: usize| args.get(i).and_then(val_int).unwrap_or(0);
        let is_reg = self.is_register_like(false);
        match f {
            Builtin::WwwChallenge => self.challenge(s(0).as_deref(), n(1), Kind::Www),
            Builtin::ProxyChallenge => self.challenge(s(0).as_deref(), n(1), Kind::Proxy),
            Builtin::AuthChallenge => {
                let k = if is_reg { Kind::Www } else { Kind::Proxy };
                self.challenge(s(0).as_deref(), n(1), k)
            }
            Builtin::PvWwwAuthenticate | Builtin::PvProxyAuthenticate | Builtin::PvAuthCheck => {
                let kind = match f {
                    Builtin::PvWwwAuthenticate => Kind::Www,
                    Builtin::PvProxyAuthenticate => Kind::Proxy,
                    _ if is_reg => Kind::Www,
                    _ => Kind::Proxy,
                };
                let Some(pass) = s(1) else {
                    return AUTH_ERROR;
                };
                let method = if f == Builtin::PvWwwAuthenticate {
                    s(3)
                } else {
                    None
                };
                let secret = Secret::Given {
                    pass: &pass,
                    ha1: n(2) & 1 != 0,
                };
                let r = self.authenticate(s(0).as_deref(), secret, kind, method.as_deref());
                if f == Builtin::PvAuthCheck && r == AUTH_OK && n(3) & 1 != 0 {
                    return self.check_ids(kind);
                }
                r
            }
            Builtin::WwwAuthorize | Builtin::ProxyAuthorize | Builtin::AuthCheck => {
                let kind = match f {
                    Builtin::WwwAuthorize => Kind::Www,
                    Builtin::ProxyAuthorize => Kind::Proxy,
                    _ if is_reg => Kind::Www,
                    _ => Kind::Proxy,
                };
                let Some(table) = s(1) else {
                    return AUTH_ERROR;
                };
                let r = self.authenticate(s(0).as_deref(), Secret::Table(&table), kind, None);
                if f == Builtin::AuthCheck && r == AUTH_OK && n(2) & 1 != 0 {
                    return self.check_ids(kind);
                }
                r
            }
            Builtin::HasCredentials => {
                let realm = self.realm(s(0).as_deref());
                let found = [Kind::Www, Kind::Proxy]
                    .into_iter()
                    .any(|k| matches!(self.find_credentials(k, &realm), Found::Creds(..)));
                if found {
                    1
                } else {
                    -1
                }
            }
            Builtin::ConsumeCredentials => self.consume_credentials(),
            _ => AUTH_ERROR,
        }
    }

    /// Reads `$au`, `$ad`, `$aU`, `$ar`, `$adu`, `$aa` from the credentials that
    /// authenticated, else the first digest `Authorization` (REGISTER, PUBLISH) or
    /// `Proxy-Authorization` header (other requests).
    pub(crate) fn auth_pv(&self, pv: &Pv) -> Value<'m> {
        let kind = if self.is_register_like(true) {
            Kind::Www
        } else {
            Kind::Proxy
        };
        let headers = self.msg.headers();
        // Each header is parsed once: the first digest one decides.
        let creds = match self.auth.authorized.and_then(|i| headers.get(i)) {
            Some(h) => Some(parse_credentials(h.value)),
            None => headers
                .iter()
                .filter(|h| h.name == kind.credentials())
                .map(|h| parse_credentials(h.value))
                .find(|r| !matches!(r, Err(CredError::NotDigest))),
        };
        let Some(Ok(c)) = creds else {
            return Value::Null;
        };
        let cow = |c: Cow<'m, str>| Value::Str(c);
        match pv {
            Pv::AuthUser => match c.username {
                Cow::Borrowed(u) => cow(Cow::Borrowed(u.split_once('@').map_or(u, |(a, _)| a))),
                Cow::Owned(ref u) => cow(Cow::Owned(
                    u.split_once('@').map_or(u.as_str(), |(a, _)| a).to_string(),
                )),
            },
            Pv::AuthDomain => match c.username {
                Cow::Borrowed(u) => u
                    .split_once('@')
                    .map_or(Value::Null, |(_, d)| cow(Cow::Borrowed(d))),
                Cow::Owned(ref u) => u
                    .split_once('@')
                    .map_or(Value::Null, |(_, d)| cow(Cow::Owned(d.to_string()))),
            },
            Pv::AuthUsername => cow(c.username),
            Pv::AuthRealm => cow(c.realm),
            Pv::AuthUri => cow(c.uri),
            Pv::AuthAlg => c
                .algorithm
                .map_or(Value::Null, |a| cow(Cow::Borrowed(a.as_str()))),
            _ => Value::Null,
        }
    }

    /// REGISTER (and, for the pseudo-variables and the id check, PUBLISH): the requests
    /// authenticated with `Authorization` rather than `Proxy-Authorization`.
    fn is_register_like(&self, publish: bool) -> bool {
        match self.msg.method() {
            Some(Method::Register) => true,
            Some(m) => publish && m.as_str().eq_ignore_ascii_case("PUBLISH"),
            None => false,
        }
    }

    /// The realm argument, or the To host (REGISTER) / From host when it is empty, with
    /// `realm_prefix` removed.
    fn realm(&self, arg: Option<&str>) -> String {
        let r = match arg.map(str::trim).filter(|r| !r.is_empty()) {
            Some(r) => r.to_string(),
            None => {
                let na = if self.is_register_like(false) {
                    self.msg.to()
                } else {
                    self.msg.from()
                };
                na.map_or(String::new(), |n| n.uri.host.to_string())
            }
        };
        let p = &self.sh.process.auth.realm_prefix;
        match r.strip_prefix(p.as_str()) {
            Some(rest) if !p.is_empty() && !rest.is_empty() => rest.to_string(),
            _ => r,
        }
    }

    /// The first digest credentials of `kind` for `realm` (RFC 3261 §22.4: a request may
    /// carry credentials for several realms).
    fn find_credentials(&self, kind: Kind, realm: &str) -> Found<'m> {
        let msg = self.msg;
        for (i, h) in msg.headers().iter().enumerate() {
            if h.name != kind.credentials() || self.is_deleted(i) {
                continue;
            }
            match parse_credentials(h.value) {
                Ok(c) if c.realm.eq_ignore_ascii_case(realm) => return Found::Creds(i, c),
                Ok(_) | Err(CredError::NotDigest) => {}
                Err(e) => return Found::Bad(e),
            }
        }
        Found::None
    }

    /// `www_challenge` / `proxy_challenge` / `auth_challenge`: 401 or 407 with a fresh
    /// nonce (RFC 3261 §22.1, §22.3; RFC 2617 §3.2.1).
    fn challenge(&mut self, realm: Option<&str>, flags: i64, kind: Kind) -> i32 {
        let realm = match realm.map(str::trim).filter(|r| !r.is_empty()) {
            Some(r) => r.to_string(),
            None => self.realm(None),
        };
        let st = &self.sh.process.auth;
        let now = now_secs();
        let nonce = st.key.make(now, st.nonce_expire);
        let nonce = std::str::from_utf8(&nonce).unwrap_or("");
        let qop = if flags & 1 != 0 {
            Some(Qop::Auth)
        } else if flags & 2 != 0 {
            Some(Qop::AuthInt)
        } else {
            st.qop
        };
        let stale = flags & 16 != 0
            || match self.find_credentials(kind, &self.realm(Some(&realm))) {
                Found::Creds(_, c) => {
                    st.key.check(&c.nonce, now, st.max_drift) == NonceCheck::Stale
                }
                _ => false,
            };
        let (code, reason, name) = match kind {
            Kind::Www => (401, "Unauthorized", "WWW-Authenticate"),
            Kind::Proxy => (407, "Proxy Authentication Required", "Proxy-Authenticate"),
        };
        let mut hdr = Vec::with_capacity(160 + realm.len());
        write_challenge(
            &mut hdr,
            name,
            &Challenge {
                realm: &realm,
                nonce,
                qop,
                stale,
                opaque: None,
            },
        );
        if self.send_reply(code, reason.as_bytes(), &hdr) > 0 {
            1
        } else {
            -1
        }
    }

    /// Checks the credentials of `kind` for the realm against `secret` (Kamailio's
    /// `pre_auth` then the response check, RFC 2617 §3.2.2.1).
    fn authenticate(
        &mut self,
        realm: Option<&str>,
        secret: Secret<'_>,
        kind: Kind,
        method: Option<&str>,
    ) -> i32 {
        if matches!(self.msg.method(), Some(Method::Ack | Method::Cancel)) {
            return AUTH_OK;
        }
        if !self.msg.is_request() {
            return AUTH_ERROR;
        }
        let realm = self.realm(realm);
        if realm.is_empty() {
            return AUTH_ERROR;
        }
        let (idx, c) = match self.find_credentials(kind, &realm) {
            Found::None => return AUTH_NO_CREDENTIALS,
            Found::Bad(e) => {
                tracing::debug!(target: "ferrosip::auth", ?e, "malformed credentials");
                self.send_reply(400, b"Bad Request", b"");
                return AUTH_ERROR;
            }
            Found::Creds(i, c) => (i, c),
        };
        let st = &self.sh.process.auth;
        match st.key.check(&c.nonce, now_secs(), st.max_drift) {
            NonceCheck::Valid => {}
            NonceCheck::Stale => return AUTH_STALE_NONCE,
            NonceCheck::Invalid => return AUTH_ERROR,
        }
        let ha1 = match secret {
            Secret::Given { pass, ha1: true } => pass.trim().as_bytes().to_vec(),
            Secret::Given { pass, ha1: false } => compute_ha1(&c.username, &realm, pass).to_vec(),
            Secret::Table(t) => match st.lookup(t, &c, &realm) {
                Ok(Some(h)) => h,
                Ok(None) => return AUTH_USER_UNKNOWN,
                Err(()) => {
                    tracing::error!(target: "ferrosip::auth", table = t, "auth_db table not loaded");
                    return AUTH_ERROR;
                }
            },
        };
        let method = method.unwrap_or_else(|| self.method_str());
        if verify_response(&ha1, &c, method, self.msg.body()) {
            self.auth.authorized = Some(idx);
            AUTH_OK
        } else {
            AUTH_INVALID_PASSWORD
        }
    }

    /// `auth_check`/`pv_auth_check` flag 1: the authenticated user must be the To user
    /// (REGISTER, PUBLISH; and From = To there) or the From user.
    fn check_ids(&self, kind: Kind) -> i32 {
        let Some(c) = self
            .auth
            .authorized
            .and_then(|i| self.msg.headers().get(i))
            .and_then(|h| parse_credentials(h.value).ok())
        else {
            // ACK/CANCEL pass without credentials.
            return AUTH_OK;
        };
        let _ = kind;
        let from = self.msg.from().map(|f| &f.uri);
        let to = self.msg.to().map(|t| &t.uri);
        fn user_of<'a>(u: Option<&ferrosip_parser::Uri<'a>>) -> &'a str {
            u.and_then(|u| u.user).unwrap_or("")
        }
        if self.is_register_like(true) {
            if user_of(to) != c.user() {
                return AUTH_USER_MISMATCH;
            }
            let same_host = match (from, to) {
                (Some(f), Some(t)) => f.host.eq_ignore_ascii_case(t.host),
                _ => false,
            };
            if user_of(from) != user_of(to) || !same_host {
                return AUTH_USER_MISMATCH;
            }
        } else if user_of(from) != c.user() {
            return AUTH_USER_MISMATCH;
        }
        AUTH_OK
    }

    /// `consume_credentials()`: removes the header that authenticated from what is relayed
    /// (RFC 3261 §22.3); -1 when nothing authenticated.
    fn consume_credentials(&mut self) -> i32 {
        let Some(i) = self.auth.authorized else {
            return -1;
        };
        let Some(h) = self.msg.headers().get(i) else {
            return -1;
        };
        if i >= 128 {
            return -1;
        }
        if !self.is_deleted(i) {
            self.deleted |= 1u128 << i;
            self.edits.replace(h.line.clone(), b"");
        }
        1
    }
}

/// What [`MsgCtx::find_credentials`] found.
enum Found<'m> {
    /// No digest credentials for the realm.
    None,
    /// Credentials for us that do not parse (answered with 400).
    Bad(CredError),
    /// The header index and its credentials.
    Creds(usize, Credentials<'m>),
}
