//! The names the configuration language resolves at compile time, and the [`Host`] seam
//! through which the interpreter acts on a SIP message.
//!
//! `cfg` (language) compiles function calls to [`Builtin`], keywords to [`Keyword`] and
//! pseudo-variables to [`Pv`]; `sip` (message side) implements [`Host`] for a message context.

use std::borrow::Cow;

/// A value in the routing script (Kamailio's pv value: null, integer or string).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    /// `$null`, an unset variable or a missing header.
    Null,
    /// An integer.
    Int(i64),
    /// A string (header contents that are not UTF-8 are converted lossily).
    Str(Cow<'a, str>),
}

/// Built-in functions callable from the script, with the module that provides each.
/// Arity (min, max) is checked at compile time by `cfg`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Builtin {
    /// registrar `save(domain [, flags [, uri]])`: apply a REGISTER (RFC 3261 §10.3).
    Save,
    /// registrar `lookup(domain [, uri])`: rewrite the R-URI to the registered contacts.
    Lookup,
    /// registrar `registered(domain [, uri])`: the AOR has a live binding.
    Registered,
    /// registrar `unregister(domain, uri)`: remove every binding of the AOR.
    Unregister,
    /// core `forward()`, `forward(host)`, `forward(host, port)`: stateless forward (RFC 3261 §16.11).
    Forward,
    /// core `forward_udp(...)`: like `forward` but over UDP.
    ForwardUdp,
    /// core `forward_tcp(...)`: like `forward` but over TCP.
    ForwardTcp,
    /// sl `sl_send_reply(code, reason)`.
    SlSendReply,
    /// sl `send_reply(code, reason)` (stateless here; stateful once tm exists).
    SendReply,
    /// sl `sl_reply_error()`: reply with the last internal error.
    SlReplyError,
    /// textops/core `is_method("INVITE|BYE")`.
    IsMethod,
    /// maxfwd `mf_process_maxfwd_header(limit)`.
    MfProcessMaxfwdHeader,
    /// xlog `xlog([level,] fmt)`.
    Xlog,
    /// xlog `xdbg(fmt)`.
    Xdbg,
    /// xlog `xinfo(fmt)`.
    Xinfo,
    /// xlog `xnotice(fmt)`.
    Xnotice,
    /// xlog `xwarn(fmt)`.
    Xwarn,
    /// xlog `xerr(fmt)`.
    Xerr,
    /// xlog `xalert(fmt)`.
    Xalert,
    /// xlog `xcrit(fmt)`.
    Xcrit,
    /// core `log([level,] text)`.
    Log,
    /// textops `append_hf(hdr [, before])`.
    AppendHf,
    /// textops `remove_hf(name)`.
    RemoveHf,
    /// textops `is_present_hf(name)`.
    IsPresentHf,
    /// core `setflag(n)`.
    SetFlag,
    /// core `isflag(n)`.
    IsFlag,
    /// core `resetflag(n)`.
    ResetFlag,
    /// sanity `sanity_check([checks [, uri_checks]])`.
    SanityCheck,
    /// rr `record_route([params])`: add our Record-Route to the copies sent (RFC 3261 §16.6
    /// step 4).
    RecordRoute,
    /// rr `record_route_preset(addr [, addr2])`: Record-Route with the given address(es).
    RecordRoutePreset,
    /// rr `add_rr_param(";name=value")`: a parameter for our Record-Route URI (RFC 3261
    /// §12.1.1).
    AddRrParam,
    /// rr `loose_route()`: process the Route header (RFC 3261 §16.4, §16.12).
    LooseRoute,
    /// siputils `has_totag()`: whether the To header has a tag (RFC 3261 §12.2).
    HasTotag,
    /// rr `is_direction("downstream"|"upstream")`: compare our Route's `ftag` with the From tag.
    IsDirection,
    /// tm `t_relay([host [, port]])`: stateful relay (RFC 3261 §16).
    TRelay,
    /// tm `t_relay_to_udp([host, port])`.
    TRelayToUdp,
    /// tm `t_relay_to_tcp([host, port])`.
    TRelayToTcp,
    /// tm `t_on_failure(route)`: arm a `failure_route`.
    TOnFailure,
    /// tm `t_on_reply(route)`: arm an `onreply_route`.
    TOnReply,
    /// tm `t_on_branch(route)`: arm a `branch_route`.
    TOnBranch,
    /// tm `t_check_status(re)`: match the reply status.
    TCheckStatus,
    /// tm `t_branch_timeout()`: the failed branch timed out.
    TBranchTimeout,
    /// tm `t_branch_replied()`: the failed branch received a reply.
    TBranchReplied,
    /// tm `t_is_canceled()`: a CANCEL matched the transaction.
    TIsCanceled,
    /// tm `t_check_trans()`: match the request to a transaction (absorbing retransmissions).
    TCheckTrans,
    /// tmx `t_precheck_trans()`: a transaction for this request exists already.
    TPrecheckTrans,
    /// tm `t_newtran()`: create the server transaction.
    TNewtran,
    /// tm `t_reply(code, reason)`: stateful reply.
    TReply,
    /// tm `t_set_fr(fr_inv [, fr])`: per-transaction timeouts in ms.
    TSetFr,
    /// tm `t_drop_replies()`: forget the replies received so far (failure route).
    TDropReplies,
    /// core `append_branch([uri [, q]])`: add a branch to the destination set.
    AppendBranch,
    /// tm `t_load_contacts()`: order the R-URI and the branches by q-value.
    TLoadContacts,
    /// tm `t_next_contacts()`: the next group of contacts by q-value.
    TNextContacts,
    /// dialog `dlg_manage()`: track the dialog of an initial INVITE (RFC 3261 §12.1); on an
    /// in-dialog request, true when it matched a tracked dialog.
    DlgManage,
    /// dialog `is_known_dlg()`: the message belongs to a tracked dialog (RFC 3261 §12.2).
    IsKnownDlg,
    /// dialog `dlg_set_timeout(seconds)`: the current dialog's lifetime.
    DlgSetTimeout,
    /// dialog `set_dlg_profile(profile [, value])`.
    SetDlgProfile,
    /// dialog `unset_dlg_profile(profile [, value])`.
    UnsetDlgProfile,
    /// dialog `is_in_profile(profile [, value])`.
    IsInProfile,
    /// dialog `get_profile_size(profile [, value], $var(size))`: the variable is written by
    /// an assignment the compiler adds after the call (it reads [`Pv::DlgProfileSize`]).
    GetProfileSize,
    /// auth `www_challenge(realm, flags)`: 401 with a `WWW-Authenticate` digest challenge
    /// (RFC 3261 §22.1, RFC 2617 §3.2.1).
    WwwChallenge,
    /// auth `proxy_challenge(realm, flags)`: 407 with a `Proxy-Authenticate` challenge
    /// (RFC 3261 §22.3).
    ProxyChallenge,
    /// auth `auth_challenge(realm, flags)`: 401 for REGISTER, 407 otherwise.
    AuthChallenge,
    /// auth `pv_www_authenticate(realm, password, flags [, method])`: check the
    /// `Authorization` credentials (RFC 2617 §3.2.2) against a password or HA1.
    PvWwwAuthenticate,
    /// auth `pv_proxy_authenticate(realm, password, flags)`: the same for
    /// `Proxy-Authorization` (RFC 3261 §22.3).
    PvProxyAuthenticate,
    /// auth `pv_auth_check(realm, password, flags, checks)`: www for REGISTER, proxy otherwise.
    PvAuthCheck,
    /// auth `has_credentials(realm)`: the request carries digest credentials for the realm.
    HasCredentials,
    /// auth `consume_credentials()`: remove the authorized credentials header before relaying
    /// (RFC 3261 §22.3: a proxy may remove credentials meant for it).
    ConsumeCredentials,
    /// auth_db `www_authorize(realm, table)`: `Authorization` credentials checked against a
    /// subscriber table.
    WwwAuthorize,
    /// auth_db `proxy_authorize(realm, table)`: `Proxy-Authorization` credentials checked
    /// against a subscriber table.
    ProxyAuthorize,
    /// auth_db `auth_check(realm, table, flags)`: www for REGISTER, proxy otherwise.
    AuthCheck,
    /// htable `sht_rm(htname, itname)`: delete one item.
    ShtRm,
    /// htable `sht_reset(htname)`: delete every item.
    ShtReset,
    /// htable `sht_rm_name_re("ht=>regexp")`: delete the items whose name matches.
    ShtRmNameRe,
    /// htable `sht_rm_value_re("ht=>regexp")`: delete the items whose string value matches.
    ShtRmValueRe,
    /// htable `sht_rm_name(ht, op, val)`: op `re` or `sw`.
    ShtRmName,
    /// htable `sht_rm_value(ht, op, val)`: op `re` or `sw`.
    ShtRmValue,
    /// htable `sht_has_name(ht, op, val)`: op `eq`, `ne`, `re` or `sw`.
    ShtHasName,
    /// htable `sht_has_str_value(ht, op, val)`: op `eq`, `ne`, `re` or `sw`.
    ShtHasStrValue,
    /// htable `sht_lock("ht=>key")` (see `sip::htable` for the semantics ferrosip gives it).
    ShtLock,
    /// htable `sht_unlock("ht=>key")`.
    ShtUnlock,
    /// htable `sht_print()`: log every table's items.
    ShtPrint,
    /// core `force_rport()`: answer to the source port as if the top Via had `rport`
    /// (RFC 3581 §4).
    ForceRport,
    /// core `set_reply_no_connect()`: replies over a stream transport are sent only on an
    /// open connection (never a new one).
    SetReplyNoConnect,
    /// core `set_forward_no_connect()`: the same for forwarded requests.
    SetForwardNoConnect,
    /// core `setbflag(flag [, branch])`: set a branch flag (branch 0: the R-URI branch).
    SetBflag,
    /// core `isbflagset(flag [, branch])`.
    IsBflagSet,
    /// core `resetbflag(flag [, branch])`.
    ResetBflag,
    /// tm `t_is_set("branch_route"|"failure_route"|"onreply_route")`.
    TIsSet,
    /// acc `acc_log_request(comment)`: one accounting log line for this request now.
    AccLogRequest,
    /// textopsx `msg_apply_changes()` (see `sip::textopsx` for what it means here).
    MsgApplyChanges,
    /// textopsx `change_reply_status(code, reason)` (reply routes).
    ChangeReplyStatus,
    /// textopsx `remove_body()`.
    RemoveBody,
    /// textopsx `keep_hf(regexp)`: remove every header not matching (mandatory ones stay).
    KeepHf,
    /// textopsx `fnmatch(value, pattern [, flags])`: shell wildcard match.
    Fnmatch,
    /// textopsx `append_hf_value(hf, value)`.
    AppendHfValue,
    /// textopsx `insert_hf_value(hf, value)`.
    InsertHfValue,
    /// textopsx `remove_hf_value(hf)`.
    RemoveHfValue,
    /// textopsx `assign_hf_value(hf, value)`.
    AssignHfValue,
    /// textopsx `hf_value_exists(hf, value)`.
    HfValueExists,
    /// counters `cnt_inc(name)`.
    CntInc,
    /// counters `cnt_add(name, n)`.
    CntAdd,
    /// counters `cnt_reset(name)`.
    CntReset,
}

/// Core keywords usable as operands (`method == "INVITE"`, `uri == myself`, `src_ip == ...`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Keyword {
    /// `method`: the request method.
    Method,
    /// `uri`: the (possibly rewritten) request URI.
    Uri,
    /// `from_uri`.
    FromUri,
    /// `to_uri`.
    ToUri,
    /// `src_ip`.
    SrcIp,
    /// `src_port`.
    SrcPort,
    /// `dst_ip` (local address the message arrived on).
    DstIp,
    /// `dst_port`.
    DstPort,
    /// `proto`: `udp`, `tcp`, ... (compared with the constants `UDP`, `TCP`, ...).
    Proto,
    /// `af`: `INET` or `INET6`.
    Af,
    /// `status`: the reply code (reply routes).
    Status,
    /// `msg:len`.
    MsgLen,
    /// `myself`: the set of local addresses and aliases (used as `uri == myself`).
    Myself,
}

/// Pseudo-variables served by the message side ([`Host`]). `$var`, `$avp`, `$rc`/`$retcode`
/// live in the interpreter itself.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Pv {
    /// `$rm` request method.
    Rm,
    /// `$ru` request URI (writable).
    Ru,
    /// `$rU` R-URI user (writable).
    RUser,
    /// `$rd` R-URI domain (writable).
    Rd,
    /// `$rp` R-URI port (writable).
    Rp,
    /// `$du` destination URI (writable; `$null` resets).
    Du,
    /// `$fu` From URI.
    Fu,
    /// `$fU` From user.
    FUser,
    /// `$fd` From domain.
    Fd,
    /// `$ft` From tag.
    Ft,
    /// `$tu` To URI.
    Tu,
    /// `$tU` To user.
    TUser,
    /// `$td` To domain.
    Td,
    /// `$tt` To tag.
    Tt,
    /// `$ci` Call-ID.
    Ci,
    /// `$cs` CSeq number.
    Cs,
    /// `$si` source IP.
    Si,
    /// `$sp` source port.
    Sp,
    /// `$Ri` local IP the message arrived on.
    Ri,
    /// `$Rp` local port the message arrived on.
    RpLocal,
    /// `$pr` / `$proto` transport.
    Pr,
    /// `$ml` message length.
    Ml,
    /// `$mb` whole message buffer.
    Mb,
    /// `$ua` User-Agent.
    Ua,
    /// `$rs` reply status code.
    Rs,
    /// `$rr` reply reason phrase.
    Rr,
    /// `$hdr(Name)`: first header of that name (long or compact form).
    Hdr(String),
    /// `$Ts` current Unix time.
    Ts,
    /// `$T_reply_code` (tmx): the reply status in reply routes, the winning one in failure
    /// routes, 0 otherwise.
    TReplyCode,
    /// `$T_branch_idx` (tmx): the branch index.
    TBranchIdx,
    /// `$dlg(attr)` (dialog): an attribute of the current dialog.
    Dlg(DlgAttr),
    /// `$dlg_var(name)` (dialog): a variable stored with the current dialog (writable).
    DlgVar(String),
    /// The size the last `get_profile_size` of this message found (no script name: the
    /// compiler reads it into `get_profile_size`'s result variable).
    DlgProfileSize,
    /// `$au`: user part of the digest `username` (`Authorization` for REGISTER/PUBLISH,
    /// `Proxy-Authorization` otherwise; RFC 2617 §3.2.2).
    AuthUser,
    /// `$ad`: domain part of the digest `username` (`user@domain`).
    AuthDomain,
    /// `$aU`: the whole digest `username`.
    AuthUsername,
    /// `$ar`: the digest `realm`.
    AuthRealm,
    /// `$adu`: the digest `uri`.
    AuthUri,
    /// `$aa`: the digest `algorithm`.
    AuthAlg,
    /// htable `$sht(table=>key)` & co.: the table name, checked at compile time. The key is
    /// a run-time string: the interpreter evaluates it and calls [`Host::pv_get_keyed`] /
    /// [`Host::pv_set_keyed`] (plain `pv_get` reads such a variable as `$null`).
    Sht(HtAttr, String),
}

/// What a keyed htable pseudo-variable (`$sht*(table=>key)`) reads or writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HtAttr {
    /// `$sht(t=>key)`: the item's value (writable; `$null` deletes).
    Value,
    /// `$shtex(t=>key)`: seconds until the item expires, 0 never (writable).
    Expires,
    /// `$shtcn(t=>expr)`: how many item names match `expr` (`~~re`, `%~prefix`,
    /// `~%suffix`, `==str`, `**`, or a regexp).
    CountNames,
    /// `$shtcv(t=>expr)`: how many item values match `expr` (also `eqINT`).
    CountValues,
    /// `$shtinc(t=>key)`: adds 1 to the integer item and reads the result.
    Inc,
    /// `$shtdec(t=>key)`: subtracts 1 and reads the result.
    Dec,
}

/// The attributes `$dlg(...)` exposes (Kamailio dialog module names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DlgAttr {
    /// `$dlg(state)`: 1 unconfirmed, 2 early, 3 confirmed (no ACK), 4 confirmed, 5 deleted.
    State,
    /// `$dlg(h_id)`.
    HId,
    /// `$dlg(h_entry)`.
    HEntry,
    /// `$dlg(callid)`.
    CallId,
    /// `$dlg(from_tag)`.
    FromTag,
    /// `$dlg(to_tag)`.
    ToTag,
    /// `$dlg(start_ts)`: Unix time of the 2xx, 0 before.
    StartTs,
    /// `$dlg(lifetime)`: the dialog's timeout in seconds.
    Lifetime,
}

/// What the interpreter needs from the SIP side while running a route.
pub trait Host {
    /// Calls a built-in function with evaluated arguments. Kamailio return-code convention:
    /// positive is true, negative is false, `0` stops the script (like `exit`).
    fn call(&mut self, f: Builtin, args: &[Value<'_>]) -> i32;
    /// Reads a keyword operand.
    fn keyword(&mut self, k: Keyword) -> Value<'_>;
    /// Whether `value` is one of our own addresses/aliases (`== myself`).
    fn is_myself(&mut self, value: &str) -> bool;
    /// Reads a pseudo-variable.
    fn pv_get(&mut self, pv: &Pv) -> Value<'_>;
    /// Writes a pseudo-variable; `Err` carries a message for the log when the variable is
    /// read-only or the value does not fit.
    fn pv_set(&mut self, pv: &Pv, v: Value<'_>) -> Result<(), String>;
    /// Reads a pseudo-variable whose key is computed at run time (`$sht(t=>$au)`): `key` is
    /// the evaluated key. Hosts without such variables read `$null`.
    fn pv_get_keyed(&mut self, pv: &Pv, key: &str) -> Value<'_> {
        let _ = (pv, key);
        Value::Null
    }
    /// Writes a pseudo-variable whose key is computed at run time.
    fn pv_set_keyed(&mut self, pv: &Pv, key: &str, v: Value<'_>) -> Result<(), String> {
        let _ = (key, v);
        Err(format!("{pv:?} is read-only"))
    }
}
