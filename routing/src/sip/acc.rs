//! Kamailio's `acc` module with its syslog backend: one log line per accounted transaction,
//! through `tracing` (target `ferrosip::acc`), in Kamailio's format so existing log parsers
//! keep working:
//!
//! ```text
//! ACC: transaction answered: timestamp=1700000000;method=INVITE;from_tag=a;to_tag=b;call_id=c;code=200;reason=OK;src_user=alice
//! ```
//!
//! - `log_flag`: a transaction whose request had the flag set at the end of `request_route`
//!   is logged as `transaction answered` when its final response goes upstream: a 2xx (or any
//!   final under 300), and a 3xx-6xx only when `failed_transaction_flag` is set too;
//! - `log_missed_flag`: an INVITE transaction ending with a 3xx-6xx is logged as
//!   `call missed` (once, with the final response sent upstream; Kamailio also logs it on
//!   each `failure_route`);
//! - `acc_log_request(comment)`: `request accounted` now, code and reason from the comment
//!   (`"200 OK"`; a comment without a code has code 0);
//! - `log_extra`: `name=$pv;...` appended as `;name=value` (`n/a` for `$null`), evaluated on
//!   the request as `request_route` left it; supported variables: `$rm $ru $rU $rd $rp $du
//!   $fu $fU $fd $ft $tu $tU $td $tt $ci $cs $si $sp $Ri $Rp $pr $proto $ua $Ts $au $ad $aU
//!   $ar $hdr(Name)`; another one stops the start;
//! - `log_level` (Kamailio levels, default 1 = notice: logged at info), `log_facility`
//!   (accepted; the engine's log sink decides), `report_cancels` (CANCEL transactions are
//!   not accounted unless 1), `time_mode` (only 0, `timestamp=<Unix seconds>`);
//!   `early_media`, `report_ack`, `detect_direction` are accepted and have no effect;
//! - database accounting (`db_flag`, `db_missed_flag`, `db_extra`) is accepted while no
//!   `db_url` is set; with a `db_url` the start fails (ferrosip has no SQL backend).

use std::borrow::Cow;

use super::ctx::{val_str, MsgCtx};
use super::text::{header_param, long_name, RawHeaders};
use crate::cfg::{Config, ParamValue};
use crate::names::{Pv, Value};

/// The prefix of a transaction that got its final response.
pub(crate) const ANSWERED: &str = "ACC: transaction answered: ";
/// The prefix of a missed call.
pub(crate) const MISSED: &str = "ACC: call missed: ";
/// The prefix of `acc_log_request`.
pub(crate) const REQUEST: &str = "ACC: request accounted: ";

/// acc module parameters.
#[derive(Debug, Default)]
pub struct AccCfg {
    /// The module is loaded.
    pub(crate) loaded: bool,
    log_flag: Option<u32>,
    missed_flag: Option<u32>,
    failed_flag: Option<u32>,
    report_cancels: bool,
    level: i64,
    extras: Vec<(String, Pv)>,
}

fn flag_param(cfg: &Config, name: &str) -> Result<Option<u32>, String> {
    match cfg.modparam("acc", name) {
        None => Ok(None),
        Some(v) => {
            let n = match v {
                ParamValue::Int(i) => *i,
                ParamValue::Str(s) => s
                    .trim()
                    .parse()
                    .map_err(|_| format!("acc: {name} {s:?} is not a number"))?,
            };
            match n {
                -1 => Ok(None),
                0..=63 => Ok(Some(n as u32)),
                _ => Err(format!("acc: {name} {n} is not a flag (0..63)")),
            }
        }
    }
}

/// The pseudo-variable a `log_extra` entry names (`$fU`, `$hdr(X)`).
fn extra_pv(text: &str) -> Option<Pv> {
    let t = text.trim().strip_prefix('$')?;
    if let Some(h) = t.strip_prefix("hdr(").and_then(|r| r.strip_suffix(')')) {
        return (!h.trim().is_empty()).then(|| Pv::Hdr(h.trim().to_string()));
    }
    Some(match t {
        "rm" => Pv::Rm,
        "ru" => Pv::Ru,
        "rU" => Pv::RUser,
        "rd" => Pv::Rd,
        "rp" => Pv::Rp,
        "du" => Pv::Du,
        "fu" => Pv::Fu,
        "fU" => Pv::FUser,
        "fd" => Pv::Fd,
        "ft" => Pv::Ft,
        "tu" => Pv::Tu,
        "tU" => Pv::TUser,
        "td" => Pv::Td,
        "tt" => Pv::Tt,
        "ci" => Pv::Ci,
        "cs" => Pv::Cs,
        "si" => Pv::Si,
        "sp" => Pv::Sp,
        "Ri" => Pv::Ri,
        "Rp" => Pv::RpLocal,
        "pr" | "proto" => Pv::Pr,
        "ua" => Pv::Ua,
        "Ts" => Pv::Ts,
        "au" => Pv::AuthUser,
        "ad" => Pv::AuthDomain,
        "aU" => Pv::AuthUsername,
        "ar" => Pv::AuthRealm,
        _ => return None,
    })
}

impl AccCfg {
    /// The parameters of `modparam("acc", ..)`. `Err`: a setting ferrosip cannot honour
    /// (a `db_url`, an unsupported `log_extra` variable, a bad flag).
    pub fn from_config(cfg: &Config) -> Result<Self, String> {
        if !cfg.modules.iter().any(|m| m == "acc") {
            return Ok(Self::default());
        }
        if let Some(ParamValue::Str(u)) = cfg.modparam("acc", "db_url") {
            if !u.trim().is_empty() {
                return Err(format!(
                    "acc: db_url {u:?}: database accounting is not supported by ferrosip \
                     (only the log backend: log_flag, log_missed_flag, log_extra)"
                ));
            }
        }
        let int = |n: &str, d: i64| match cfg.modparam("acc", n) {
            Some(ParamValue::Int(i)) => *i,
            Some(ParamValue::Str(s)) => s.trim().parse().unwrap_or(d),
            None => d,
        };
        if int("time_mode", 0) != 0 {
            tracing::warn!(target: "ferrosip::acc", "acc time_mode other than 0 is not supported: timestamp= is Unix seconds");
        }
        let mut extras = Vec::new();
        if let Some(ParamValue::Str(e)) = cfg.modparam("acc", "log_extra") {
            for item in e.split(';').map(str::trim).filter(|i| !i.is_empty()) {
                let Some((name, pv)) = item.split_once('=') else {
                    return Err(format!("acc: log_extra item {item:?} is not name=$pv"));
                };
                let Some(p) = extra_pv(pv) else {
                    return Err(format!(
                        "acc: log_extra variable {pv:?} is not supported by ferrosip"
                    ));
                };
                extras.push((name.trim().to_string(), p));
            }
        }
        Ok(Self {
            loaded: true,
            log_flag: flag_param(cfg, "log_flag")?,
            missed_flag: flag_param(cfg, "log_missed_flag")?,
            failed_flag: flag_param(cfg, "failed_transaction_flag")?,
            report_cancels: int("report_cancels", 0) != 0,
            level: int("log_level", 1),
            extras,
        })
    }

    fn has(flag: Option<u32>, flags: u64) -> bool {
        flag.is_some_and(|f| flags & (1u64 << f) != 0)
    }
}

/// What a transaction keeps for its accounting line until its final response.
#[derive(Debug)]
pub(crate) struct AccPending {
    flags: u64,
    invite: bool,
    log_flag: Option<u32>,
    missed_flag: Option<u32>,
    failed_flag: Option<u32>,
    level: i64,
    /// `method=..;from_tag=..` and `call_id`.
    method: Box<str>,
    from_tag: Box<str>,
    call_id: Box<str>,
    /// `;name=value...`.
    extras: Box<str>,
}

/// A final response that went upstream before the accounting data was complete.
#[derive(Debug)]
pub(crate) struct FinalReply {
    code: u16,
    reason: Box<str>,
    to_tag: Box<str>,
}

impl FinalReply {
    /// Code, reason phrase and To tag of a response (`bytes`: the whole response).
    pub(crate) fn of(code: u16, bytes: &[u8]) -> Self {
        let line_end = memchr::memchr(b'\n', bytes).unwrap_or(bytes.len());
        let line = &bytes[..line_end];
        let reason = line
            .splitn(3, |&c| c == b' ')
            .nth(2)
            .map(|r| String::from_utf8_lossy(r).trim().to_string())
            .unwrap_or_default();
        let to_tag = RawHeaders::new(bytes)
            .find(|h| long_name(h.name).eq_ignore_ascii_case(b"to"))
            .and_then(|h| header_param(h.value, b"tag"))
            .map(|t| String::from_utf8_lossy(t).trim().to_string())
            .unwrap_or_default();
        Self {
            code,
            reason: reason.into(),
            to_tag: to_tag.into(),
        }
    }
}

/// One accounting line (Kamailio's `acc_log_request` format).
#[allow(clippy::too_many_arguments)]
pub(crate) fn format_line(
    prefix: &str,
    ts: u64,
    method: &str,
    from_tag: &str,
    to_tag: &str,
    call_id: &str,
    code: u16,
    reason: &str,
    extras: &str,
) -> String {
    format!(
        "{prefix}timestamp={ts};method={method};from_tag={from_tag};to_tag={to_tag};\
         call_id={call_id};code={code};reason={reason}{extras}"
    )
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
thread_local! {
    /// The lines logged on this thread (tests read them with [`take_lines`]).
    static LINES: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The accounting lines logged on this thread since the last call (tests).
#[cfg(test)]
pub(crate) fn take_lines() -> Vec<String> {
    LINES.with(|l| std::mem::take(&mut *l.borrow_mut()))
}

/// Writes one line at a Kamailio log level.
fn emit(level: i64, line: &str) {
    #[cfg(test)]
    LINES.with(|l| l.borrow_mut().push(line.to_string()));
    match level {
        i64::MIN..=-1 => tracing::error!(target: "ferrosip::acc", "{line}"),
        0 => tracing::warn!(target: "ferrosip::acc", "{line}"),
        1 | 2 => tracing::info!(target: "ferrosip::acc", "{line}"),
        _ => tracing::debug!(target: "ferrosip::acc", "{line}"),
    }
}

impl AccPending {
    /// Logs what the final response `f` of the transaction calls for.
    pub(crate) fn finish(&self, f: &FinalReply) {
        if f.code < 200 {
            return;
        }
        let line = |prefix: &str| {
            format_line(
                prefix,
                now_secs(),
                &self.method,
                &self.from_tag,
                &f.to_tag,
                &self.call_id,
                f.code,
                &f.reason,
                &self.extras,
            )
        };
        if f.code >= 300 && self.invite && AccCfg::has(self.missed_flag, self.flags) {
            emit(self.level, &line(MISSED));
        }
        let log = AccCfg::has(self.log_flag, self.flags)
            && (f.code < 300 || AccCfg::has(self.failed_flag, self.flags));
        if log {
            emit(self.level, &line(ANSWERED));
        }
    }
}

/// A final response of a server transaction goes upstream: log it now if the request
/// route asked for it, or keep it until the request route ends.
pub(crate) fn on_final(ext: &mut super::kcore::TxExt, code: u16, bytes: &[u8]) {
    if !ext.acc_on || code < 200 {
        return;
    }
    let f = FinalReply::of(code, bytes);
    match ext.acc.take() {
        Some(p) => p.finish(&f),
        None => {
            if ext.final_reply.is_none() {
                ext.final_reply = Some(Box::new(f));
            }
        }
    }
}

impl MsgCtx<'_, '_> {
    /// `;name=value` for every `log_extra` entry, evaluated on this message.
    fn acc_extras(&mut self) -> String {
        let mut out = String::new();
        let extras: Vec<(String, Pv)> = self.sh.process.acc.extras.clone();
        for (name, pv) in &extras {
            let v = self.pv_get_host(pv);
            out.push(';');
            out.push_str(name);
            out.push('=');
            out.push_str(v.as_deref().unwrap_or("n/a"));
        }
        out
    }

    fn pv_get_host(&mut self, pv: &Pv) -> Option<String> {
        let v = crate::names::Host::pv_get(self, pv);
        val_str(&v).map(Cow::into_owned)
    }

    /// At the end of `request_route` for server transaction `h`: remember what to account
    /// when it ends (or log now if its final response has gone upstream already).
    pub(crate) fn acc_request_done(&mut self, h: ferrosip_state::TxHandle) {
        let acc = &self.sh.process.acc;
        if !acc.loaded {
            return;
        }
        let flags = self.flags;
        let wanted = [acc.log_flag, acc.missed_flag]
            .iter()
            .any(|f| AccCfg::has(*f, flags));
        let cancel = matches!(self.msg.method(), Some(ferrosip_parser::Method::Cancel));
        if !wanted || (cancel && !acc.report_cancels) {
            return;
        }
        let (log_flag, missed_flag, failed_flag, level) =
            (acc.log_flag, acc.missed_flag, acc.failed_flag, acc.level);
        let extras = self.acc_extras();
        let m = self.msg;
        let p = AccPending {
            flags,
            invite: matches!(m.method(), Some(ferrosip_parser::Method::Invite)),
            log_flag,
            missed_flag,
            failed_flag,
            level,
            method: self.method_str().into(),
            from_tag: m.from().and_then(|f| f.tag).unwrap_or("").into(),
            call_id: m.call_id().unwrap_or("").into(),
            extras: extras.into(),
        };
        let Some(s) = self.tm.server(h) else { return };
        match s.ext.final_reply.take() {
            Some(f) => p.finish(&f),
            None => s.ext.acc = Some(Box::new(p)),
        }
    }

    /// `acc_log_request(comment)`.
    pub(crate) fn acc_log_request(&mut self, args: &[Value<'_>]) -> i32 {
        if !self.sh.process.acc.loaded || !self.msg.is_request() {
            return -1;
        }
        let comment = args.first().and_then(val_str).unwrap_or_default();
        let c = comment.trim();
        let (code, reason) = match c.get(..3).and_then(|d| d.parse::<u16>().ok()) {
            Some(code) if c.as_bytes().get(3).is_none_or(|b| *b == b' ') => {
                (code, c.get(3..).unwrap_or("").trim())
            }
            _ => (0, c),
        };
        let extras = self.acc_extras();
        let m = self.msg;
        let line = format_line(
            REQUEST,
            now_secs(),
            self.method_str(),
            m.from().and_then(|f| f.tag).unwrap_or(""),
            m.to().and_then(|t| t.tag).unwrap_or(""),
            m.call_id().unwrap_or(""),
            code,
            reason,
            &extras,
        );
        emit(self.sh.process.acc.level, &line);
        1
    }
}
