//! The built-in modules: what `loadmodule` may name, each module's `modparam` parameters
//! (names and types from the Kamailio module docs) and the script functions each provides.

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
