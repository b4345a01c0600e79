//! The built-in modules: what `loadmodule` may name, each module's `modparam` parameters
//! (names and types from the Kamailio module docs) and the script functions each provides.

use super::script::RouteKind;
use crate::names::Builtin;

/// A `modparam` parameter type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PType {
    /// Integer (a numeric string is accepted, as Kamailio converts it).
    Int,
    /// String.
    Str,
}

/// A built-in module.
pub(crate) struct ModuleDef {
    pub(crate) name: &'static str,
    pub(crate) params: &'static [(&'static str, PType)],
}

/// Modules ferrosip has built in. `core` is always loaded.
pub(crate) const MODULES: &[ModuleDef] = &[
    ModuleDef {
        name: "core",
        params: &[],
    },
    ModuleDef {
        name: "sl",
        params: &[
            ("default_code", PType::Int),
            ("default_reason", PType::Str),
            ("bind_tm", PType::Int),
            ("rich_redirect", PType::Int),
            ("event_callback_fl_ack", PType::Str),
            ("event_callback_lres_sent", PType::Str),
        ],
    },
    ModuleDef {
        name: "maxfwd",
        params: &[("max_limit", PType::Int)],
    },
    ModuleDef {
        name: "sanity",
        params: &[
            ("default_checks", PType::Int),
            ("uri_checks", PType::Int),
            ("proxy_require", PType::Str),
            ("autodrop", PType::Int),
            ("noreply", PType::Int),
        ],
    },
    ModuleDef {
        name: "textops",
        params: &[],
    },
    ModuleDef {
        name: "xlog",
        params: &[
            ("buf_size", PType::Int),
            ("force_color", PType::Int),
            ("long_format", PType::Int),
            ("prefix", PType::Str),
            ("prefix_mode", PType::Str),
            ("log_facility", PType::Str),
            ("log_colors", PType::Str),
            ("methods_filter", PType::Int),
        ],
    },
    ModuleDef {
        name: "pv",
        params: &[
            ("shvset", PType::Str),
            ("varset", PType::Str),
            ("avp_aliases", PType::Str),
        ],
    },
    ModuleDef {
        name: "kex",
        params: &[],
    },
    ModuleDef {
        name: "tm",
        params: &[
            ("fr_timer", PType::Int),
            ("fr_inv_timer", PType::Int),
            ("max_inv_lifetime", PType::Int),
            ("max_noninv_lifetime", PType::Int),
            ("wt_timer", PType::Int),
            ("delete_timer", PType::Int),
            ("retr_timer1", PType::Int),
            ("retr_timer2", PType::Int),
            ("noisy_ctimer", PType::Int),
            ("auto_inv_100", PType::Int),
            ("auto_inv_100_reason", PType::Str),
            ("unix_tx_timeout", PType::Int),
            ("restart_fr_on_each_reply", PType::Int),
            ("fr_timer_avp", PType::Str),
            ("fr_inv_timer_avp", PType::Str),
            ("tw_append", PType::Str),
            ("pass_provisional_replies", PType::Int),
            ("aggregate_challenges", PType::Int),
            ("reparse_invite", PType::Int),
            ("ac_extra_hdrs", PType::Str),
            ("blst_503", PType::Int),
            ("blst_503_def_timeout", PType::Int),
            ("blst_503_min_timeout", PType::Int),
            ("blst_503_max_timeout", PType::Int),
            ("blst_methods_add", PType::Int),
            ("blst_methods_lookup", PType::Int),
            ("cancel_b_method", PType::Int),
            ("reparse_on_dns_failover", PType::Int),
            ("on_sl_reply", PType::Str),
            ("contacts_avp", PType::Str),
            ("contact_flds_avp", PType::Str),
            ("disable_6xx_block", PType::Int),
            ("local_ack_mode", PType::Int),
            ("failure_reply_mode", PType::Int),
            ("faked_reply_prio", PType::Int),
            ("local_cancel_reason", PType::Int),
            ("e2e_cancel_reason", PType::Int),
            ("remap_503_500", PType::Int),
            ("failure_exec_mode", PType::Int),
            ("dns_reuse_rcv_socket", PType::Int),
            ("xavp_contact", PType::Str),
            ("event_callback", PType::Str),
            ("relay_100", PType::Int),
            ("rich_redirect", PType::Int),
            ("exec_time_check", PType::Int),
            ("reply_relay_mode", PType::Int),
            ("enable_uac_fr", PType::Int),
            ("via1_matching", PType::Int),
            ("callid_matching", PType::Int),
            ("ruri_matching", PType::Int),
        ],
    },
    ModuleDef {
        name: "tmx",
        params: &[("precheck_trans", PType::Int)],
    },
    ModuleDef {
        name: "corex",
        params: &[
            ("alias_subdomains", PType::Str),
            ("dns_cache", PType::Str),
            ("evcb_reply_out", PType::Str),
            ("nio_intercept", PType::Int),
            ("nio_min_msg_len", PType::Int),
            ("nio_msg_avp", PType::Str),
        ],
    },
    ModuleDef {
        name: "rr",
        params: &[
            ("enable_full_lr", PType::Int),
            ("append_fromtag", PType::Int),
            ("enable_double_rr", PType::Int),
            ("add_username", PType::Int),
            ("enable_socket_mismatch_warning", PType::Int),
            ("custom_user_avp", PType::Str),
            ("force_send_socket", PType::Int),
            ("ignore_sips", PType::Int),
            ("sockname_mode", PType::Int),
            ("loose_route_mode", PType::Int),
            ("ignore_user", PType::Str),
        ],
    },
    ModuleDef {
        name: "dialog",
        params: &[
            ("enable_stats", PType::Int),
            ("hash_size", PType::Int),
            ("rr_param", PType::Str),
            ("dlg_flag", PType::Int),
            ("timeout_avp", PType::Str),
            ("default_timeout", PType::Int),
            ("early_timeout", PType::Int),
            ("noack_timeout", PType::Int),
            ("end_timeout", PType::Int),
            ("dlg_extra_hdrs", PType::Str),
            ("dlg_match_mode", PType::Int),
            ("detect_spirals", PType::Int),
            ("db_url", PType::Str),
            ("db_mode", PType::Int),
            ("db_update_period", PType::Int),
            ("table_name", PType::Str),
            ("profiles_with_value", PType::Str),
            ("profiles_no_value", PType::Str),
            ("bridge_controller", PType::Str),
            ("initial_cbs_inscript", PType::Int),
            ("send_bye", PType::Int),
            ("wait_ack", PType::Int),
            ("ka_timer", PType::Int),
            ("ka_interval", PType::Int),
            ("timeout_noreset", PType::Int),
            ("track_cseq_updates", PType::Int),
            ("lreq_callee_headers", PType::Str),
            ("lreq_caller_headers", PType::Str),
            ("event_callback", PType::Str),
            ("h_id_start", PType::Int),
            ("h_id_step", PType::Int),
            ("keep_proxy_rr", PType::Int),
            ("dlg_filter_mode", PType::Int),
            ("enable_dmq", PType::Int),
        ],
    },
    ModuleDef {
        name: "siputils",
        params: &[
            ("options_accept", PType::Str),
            ("options_accept_encoding", PType::Str),
            ("options_accept_language", PType::Str),
            ("options_support", PType::Str),
            ("contact_flds_separator", PType::Str),
            ("rpid_prefix", PType::Str),
            ("rpid_suffix", PType::Str),
            ("rpid_avp", PType::Str),
            ("e164_max_len", PType::Int),
        ],
    },
];

/// A script function.
pub(crate) struct FuncDef {
    pub(crate) name: &'static str,
    pub(crate) builtin: Builtin,
    pub(crate) module: &'static str,
    pub(crate) min: usize,
    pub(crate) max: usize,
    /// Argument positions that take an integer: a constant numeric string there is
    /// converted at compile time (and a non-numeric constant is an error).
    pub(crate) int_args: &'static [usize],
    /// The first argument names a route of this kind (`t_on_failure("RTF")`): resolved at
    /// compile time, an undefined route is an error.
    pub(crate) route_arg: Option<RouteKind>,
    /// The first argument names a dialog profile (`set_dlg_profile("caller", ..)`): it must
    /// be a constant declared with `modparam("dialog", "profiles_with_value"|
    /// "profiles_no_value", ..)`, checked at compile time like Kamailio's fixup.
    pub(crate) profile_arg: bool,
    /// With two or more arguments, the last one is a variable the function writes
    /// (`get_profile_size(profile, [value,] $var(size))`): compiled to an assignment after
    /// the call, so such a call must be a statement of its own.
    pub(crate) out_last: bool,
}

const fn f(
    name: &'static str,
    builtin: Builtin,
    module: &'static str,
    min: usize,
    max: usize,
    int_args: &'static [usize],
) -> FuncDef {
    FuncDef {
        name,
        builtin,
        module,
        min,
        max,
        int_args,
        route_arg: None,
        profile_arg: false,
        out_last: false,
    }
}

/// A function whose first argument names a route of `kind`.
const fn r(name: &'static str, builtin: Builtin, kind: RouteKind) -> FuncDef {
    FuncDef {
        name,
        builtin,
        module: "tm",
        min: 1,
        max: 1,
        int_args: &[],
        route_arg: Some(kind),
        profile_arg: false,
        out_last: false,
    }
}

/// A dialog function whose first argument names a profile; `out_last`: the last argument
/// (when there are two or more) is written.
const fn dp(
    name: &'static str,
    builtin: Builtin,
    min: usize,
    max: usize,
    out_last: bool,
) -> FuncDef {
    FuncDef {
        name,
        builtin,
        module: "dialog",
        min,
        max,
        int_args: &[],
        route_arg: None,
        profile_arg: true,
        out_last,
    }
}

/// Every function the script can call.
pub(crate) const FUNCS: &[FuncDef] = &[
    f("forward", Builtin::Forward, "core", 0, 2, &[1]),
    f("forward_udp", Builtin::ForwardUdp, "core", 0, 2, &[1]),
    f("forward_tcp", Builtin::ForwardTcp, "core", 0, 2, &[1]),
    f("log", Builtin::Log, "core", 1, 2, &[]),
    f("setflag", Builtin::SetFlag, "core", 1, 1, &[0]),
    f("isflagset", Builtin::IsFlag, "core", 1, 1, &[0]),
    f("isflag", Builtin::IsFlag, "core", 1, 1, &[0]),
    f("resetflag", Builtin::ResetFlag, "core", 1, 1, &[0]),
    f("sl_send_reply", Builtin::SlSendReply, "sl", 2, 2, &[0]),
    f("send_reply", Builtin::SendReply, "sl", 2, 2, &[0]),
    f("sl_reply_error", Builtin::SlReplyError, "sl", 0, 0, &[]),
    f(
        "mf_process_maxfwd_header",
        Builtin::MfProcessMaxfwdHeader,
        "maxfwd",
        1,
        1,
        &[0],
    ),
    f(
        "sanity_check",
        Builtin::SanityCheck,
        "sanity",
        0,
        2,
        &[0, 1],
    ),
    f("record_route", Builtin::RecordRoute, "rr", 0, 1, &[]),
    f(
        "record_route_preset",
        Builtin::RecordRoutePreset,
        "rr",
        1,
        2,
        &[],
    ),
    f("add_rr_param", Builtin::AddRrParam, "rr", 1, 1, &[]),
    f("loose_route", Builtin::LooseRoute, "rr", 0, 0, &[]),
    f("is_direction", Builtin::IsDirection, "rr", 1, 1, &[]),
    f("has_totag", Builtin::HasTotag, "siputils", 0, 0, &[]),
    f("append_hf", Builtin::AppendHf, "textops", 1, 2, &[]),
    f("remove_hf", Builtin::RemoveHf, "textops", 1, 1, &[]),
    f("is_present_hf", Builtin::IsPresentHf, "textops", 1, 1, &[]),
    f("is_method", Builtin::IsMethod, "textops", 1, 1, &[]),
    f("xlog", Builtin::Xlog, "xlog", 1, 3, &[]),
    f("xdbg", Builtin::Xdbg, "xlog", 1, 1, &[]),
    f("xinfo", Builtin::Xinfo, "xlog", 1, 1, &[]),
    f("xnotice", Builtin::Xnotice, "xlog", 1, 1, &[]),
    f("xwarn", Builtin::Xwarn, "xlog", 1, 1, &[]),
    f("xerr", Builtin::Xerr, "xlog", 1, 1, &[]),
    f("xalert", Builtin::Xalert, "xlog", 1, 1, &[]),
    f("xcrit", Builtin::Xcrit, "xlog", 1, 1, &[]),
    f("t_relay", Builtin::TRelay, "tm", 0, 2, &[1]),
    f("t_relay_to_udp", Builtin::TRelayToUdp, "tm", 0, 2, &[1]),
    f("t_relay_to_tcp", Builtin::TRelayToTcp, "tm", 0, 2, &[1]),
    r("t_on_failure", Builtin::TOnFailure, RouteKind::Failure),
    r("t_on_reply", Builtin::TOnReply, RouteKind::OnReply),
    r("t_on_branch", Builtin::TOnBranch, RouteKind::Branch),
    f("t_check_status", Builtin::TCheckStatus, "tm", 1, 1, &[]),
    f("t_branch_timeout", Builtin::TBranchTimeout, "tm", 0, 0, &[]),
    f("t_branch_replied", Builtin::TBranchReplied, "tm", 0, 0, &[]),
    f("t_is_canceled", Builtin::TIsCanceled, "tm", 0, 0, &[]),
    f("t_check_trans", Builtin::TCheckTrans, "tm", 0, 0, &[]),
    f(
        "t_precheck_trans",
        Builtin::TPrecheckTrans,
        "tmx",
        0,
        0,
        &[],
    ),
    f("t_newtran", Builtin::TNewtran, "tm", 0, 0, &[]),
    f("t_reply", Builtin::TReply, "tm", 2, 2, &[0]),
    f("t_set_fr", Builtin::TSetFr, "tm", 1, 2, &[0, 1]),
    f("t_drop_replies", Builtin::TDropReplies, "tm", 0, 1, &[]),
    f("append_branch", Builtin::AppendBranch, "core", 0, 2, &[]),
    f("t_load_contacts", Builtin::TLoadContacts, "tm", 0, 1, &[0]),
    f("t_next_contacts", Builtin::TNextContacts, "tm", 0, 0, &[]),
    f("dlg_manage", Builtin::DlgManage, "dialog", 0, 0, &[]),
    f("is_known_dlg", Builtin::IsKnownDlg, "dialog", 0, 0, &[]),
    f(
        "dlg_set_timeout",
        Builtin::DlgSetTimeout,
        "dialog",
        1,
        1,
        &[0],
    ),
    dp("set_dlg_profile", Builtin::SetDlgProfile, 1, 2, false),
    dp("unset_dlg_profile", Builtin::UnsetDlgProfile, 1, 2, false),
    dp("is_in_profile", Builtin::IsInProfile, 1, 2, false),
    dp("get_profile_size", Builtin::GetProfileSize, 2, 3, true),
];

/// Finds a built-in module by name.
pub(crate) fn module(name: &str) -> Option<&'static ModuleDef> {
    MODULES.iter().find(|m| m.name == name)
}

/// Finds a function by name.
pub(crate) fn func(name: &str) -> Option<&'static FuncDef> {
    FUNCS.iter().find(|f| f.name == name)
}

/// The module name from a `loadmodule` argument: `"tm.so"`, `"tm"`, `"/path/to/tm.so"`.
pub(crate) fn module_name(arg: &str) -> &str {
    let base = arg.rsplit('/').next().unwrap_or(arg);
    base.strip_suffix(".so").unwrap_or(base)
}
