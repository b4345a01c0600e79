//! Core parameters (`name = value` at the top of the file) and `listen=` specs.
//!
//! Every core parameter Kamailio 5.x accepts (its `cfg.lex`) is known here. The ones ferrosip
//! acts on land in typed [`CoreParams`] fields; the ones that only tune Kamailio's own memory
//! managers and process model are accepted with a notice; the rest land in
//! [`CoreParams::other`] so that a module or a later version can pick them up.

use ferrosip_parser::Proto;

use super::ParamValue;

/// One `listen=` entry or `-l` argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenSpec {
    /// Transport; `None` means every enabled transport (udp and tcp, plus tls/sctp if enabled).
    pub proto: Option<Proto>,
    /// IP literal (IPv6 without brackets), hostname, interface name, or `*` (all addresses).
    pub host: String,
    /// Port; `None` means the `port=` core parameter (default 5060, 5061 for TLS).
    pub port: Option<u16>,
    /// `advertise host[:port]`: what goes into Via/Record-Route instead of the bound address.
    pub advertise: Option<(String, Option<u16>)>,
    /// `name "x"`: a name for the socket (used by `$fs`-style socket selection).
    pub name: Option<String>,
    /// `virtual`: the address may float between hosts (Kamailio only uses it for `myself`).
    pub is_virtual: bool,
}

fn parse_port(s: &str) -> Result<u16, String> {
    s.parse::<u16>().map_err(|_| format!("invalid port '{s}'"))
}

/// Splits `host[:port]`, where host may be `[ipv6]` (brackets removed) or a bare IPv6 literal.
fn split_host_port(s: &str) -> Result<(String, Option<u16>), String> {
    if s.is_empty() {
        return Err("missing address".into());
    }
    if let Some(rest) = s.strip_prefix('[') {
        let Some(end) = rest.find(']') else {
            return Err(format!("missing ']' in '{s}'"));
        };
        let host = &rest[..end];
        let after = &rest[end + 1..];
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("invalid IPv6 address '{host}'"));
        }
        return match after {
            "" => Ok((host.to_string(), None)),
            a => match a.strip_prefix(':') {
                Some(p) => Ok((host.to_string(), Some(parse_port(p)?))),
                None => Err(format!("unexpected '{a}' after ']'")),
            },
        };
    }
    if s.matches(':').count() > 1 {
        // bare IPv6 literal, no port
        if s.parse::<std::net::Ipv6Addr>().is_ok() {
            return Ok((s.to_string(), None));
        }
        return Err(format!(
            "invalid address '{s}' (write IPv6 addresses in brackets)"
        ));
    }
    match s.split_once(':') {
        Some((h, p)) => {
            if h.is_empty() {
                return Err("missing address".into());
            }
            Ok((h.to_string(), Some(parse_port(p)?)))
        }
        None => Ok((s.to_string(), None)),
    }
}

impl ListenSpec {
    /// Parses Kamailio's `listen=` syntax `[proto:]addr[:port][ advertise host[:port]][ name
    /// "x"][ virtual]`, or the `-l` form `[proto:]addr[:port][/advaddr[:port]]`.
    /// IPv6 addresses go in brackets (`udp:[::1]:5060`).
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let mut words = s.split_whitespace();
        let Some(first) = words.next() else {
            return Err("empty listen address".into());
        };
        if first.starts_with('(') {
            return Err("multi-homed SCTP address lists are not supported".into());
        }
        let (main, slash_adv) = match first.split_once('/') {
            Some((m, a)) => (m, Some(a)),
            None => (first, None),
        };
        // proto prefix
        let (proto, addr) = match main.split_once(':') {
            Some((p, rest)) if !p.is_empty() && !p.starts_with('[') => {
                match Proto::from_name(p.as_bytes()) {
                    Some(pr) => (Some(pr), rest),
                    None => (None, main),
                }
            }
            _ => (None, main),
        };
        let (host, port) = split_host_port(addr)?;
        let mut spec = Self {
            proto,
            host,
            port,
            advertise: None,
            name: None,
            is_virtual: false,
        };
        if let Some(adv) = slash_adv {
            spec.advertise = Some(split_host_port(adv)?);
        }
        let rest: Vec<&str> = words.collect();
        let mut i = 0;
        while i < rest.len() {
            match rest[i].to_ascii_lowercase().as_str() {
                "advertise" => {
                    let Some(a) = rest.get(i + 1) else {
                        return Err("advertise needs host[:port]".into());
                    };
                    spec.advertise = Some(split_host_port(a)?);
                    i += 2;
                }
                "name" => {
                    let Some(n) = rest.get(i + 1) else {
                        return Err("name needs a quoted string".into());
                    };
                    spec.name = Some(n.trim_matches('"').to_string());
                    i += 2;
                }
                "virtual" => {
                    spec.is_virtual = true;
                    i += 1;
                }
                w => return Err(format!("unexpected '{w}' in listen address")),
            }
        }
        Ok(spec)
    }
}

/// Splits `listen=` text holding several addresses into one string per address (a word that
/// follows `advertise` or `name`, or is a keyword itself, stays with the address before it).
fn split_listen_list(s: &str) -> Vec<String> {
    let mut groups: Vec<String> = Vec::new();
    let mut attach = false;
    for w in s.split_whitespace() {
        let kw = matches!(
            w.to_ascii_lowercase().as_str(),
            "advertise" | "name" | "virtual"
        );
        match groups.last_mut() {
            Some(g) if attach || kw => {
                g.push(' ');
                g.push_str(w);
            }
            _ => groups.push(w.to_string()),
        }
        attach = matches!(w.to_ascii_lowercase().as_str(), "advertise" | "name");
    }
    groups
}

/// Private memory per process in MiB when `-M` is not given or is 0 (Kamailio's
/// `PKG_MEM_POOL_SIZE`, `kamailio -V`: "DEFAULT PKG_SIZE 8MB").
pub const DEFAULT_PKG_MB: u32 = 8;

/// Kamailio's default `tcp_conn_wq_max` (bytes).
pub const DEFAULT_TCP_CONN_WQ_MAX: u32 = 32 * 1024;

/// Kamailio's default `tcp_wq_max` (bytes).
pub const DEFAULT_TCP_WQ_MAX: u32 = 10 * 1024 * 1024;

/// The core parameters. Defaults are Kamailio 5.x's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoreParams {
    /// `listen=` (repeatable). Default: empty, meaning every local address on `port`.
    pub listen: Vec<ListenSpec>,
    /// `port=`: default port for `listen` entries without one. Kamailio default 5060.
    pub port: Option<u16>,
    /// `children=`: UDP workers per listen socket. Kamailio default 8; `-n` overrides.
    pub children: Option<usize>,
    /// `alias=` (repeatable): extra host names that count as `myself`. Default none.
    pub aliases: Vec<String>,
    /// `debug=`: log level, -5 (L_ALERT) .. 3 (L_DBG). Kamailio default 0 (L_WARN).
    pub debug: i32,
    /// `log_stderror=`: log to stderr instead of syslog. Default no.
    pub log_stderror: bool,
    /// `fork=`: run in the background with worker processes. Default yes.
    pub fork: bool,
    /// `auto_aliases=`: add the reverse-DNS names of listen addresses as aliases. Default yes.
    pub auto_aliases: bool,
    /// `disable_tcp=`. Default no.
    pub disable_tcp: bool,
    /// `enable_tls=` (or `disable_tls=` inverted). Default no.
    pub enable_tls: bool,
    /// `enable_sctp=` (or `disable_sctp=` inverted). Kamailio default: auto (on if supported);
    /// here `false` until SCTP exists.
    pub enable_sctp: bool,
    /// `tcp_children=`: TCP workers. Default: the value of `children`.
    pub tcp_children: Option<usize>,
    /// `tcp_connection_lifetime=` in seconds. Default 120.
    pub tcp_connection_lifetime: u32,
    /// `tcp_max_connections=`. Default 2048.
    pub tcp_max_connections: u32,
    /// `tls_max_connections=`. Default 2048.
    pub tls_max_connections: u32,
    /// `tcp_connect_timeout=` in seconds. Default 10.
    pub tcp_connect_timeout: u32,
    /// `tcp_send_timeout=` in seconds. Default 10.
    pub tcp_send_timeout: u32,
    /// `tcp_accept_aliases=`: honour `alias` Via parameters on TCP. Default no.
    pub tcp_accept_aliases: bool,
    /// `tcp_conn_wq_max=` in bytes: most bytes queued for writing on one connection. A write
    /// that would queue more closes the connection (Kamailio: "too slow") and counts the
    /// message as a send error. Default 32 KiB (32768).
    pub tcp_conn_wq_max: u32,
    /// `tcp_wq_max=` in bytes: most bytes queued for writing on all connections of the
    /// process, shared out evenly over the workers. A write that would pass a worker's share is
    /// refused and counted; the connection stays. Default 10 MiB (10485760).
    pub tcp_wq_max: u32,
    /// `max_while_loops=`: iterations after which a `while` is broken off. Default 100.
    pub max_while_loops: u32,
    /// `max_recursive_level=`: deepest `route()` nesting. Default 256.
    pub max_recursive_level: u32,
    /// `max_branches=`: most branches per transaction. Default 12.
    pub max_branches: u32,
    /// `server_header=`: full `Server:` header for local replies. Default
    /// `Server: kamailio (<version>)`; here `None` means the ferrosip equivalent.
    pub server_header: Option<String>,
    /// `server_signature=`: add the Server header to local replies. Default yes.
    pub server_signature: bool,
    /// `user_agent_header=`: full `User-Agent:` header for locally generated requests.
    pub user_agent_header: Option<String>,
    /// `sip_warning=`: add a Warning header with debug info to replies. Default no.
    pub sip_warning: bool,
    /// `dns=`: look up the IP of the received-from host (for Via `received`). Default no.
    pub dns: bool,
    /// `rev_dns=`: reverse-DNS the source IP. Default no.
    pub rev_dns: bool,
    /// `mhomed=`: pick the outgoing socket per destination (multi-homed host). Default no.
    pub mhomed: bool,
    /// `shm_mem_size=` / `shm=` in MiB: shared memory (ferrosip: shared table bound).
    /// Default 64; `-m` overrides.
    pub shm_mem: Option<u32>,
    /// Private memory per worker in MiB. Only `-M` sets it (no core parameter); `None` (or
    /// `-M 0`, as in Kamailio) means [`DEFAULT_PKG_MB`]. ferrosip spends it on what grows
    /// with peer behaviour inside a worker: the sum of its TCP connections' receive buffers
    /// (partial messages) is bounded by it.
    pub pkg_mem: Option<u32>,
    /// `maxbuffer=`: largest UDP receive buffer (SO_RCVBUF) to probe for, bytes. Default 262144.
    pub maxbuffer: u32,
    /// `advertised_address=`: address used in Via/Record-Route instead of the socket's.
    pub advertised_address: Option<String>,
    /// `advertised_port=`: port used in Via/Record-Route instead of the socket's.
    pub advertised_port: Option<u16>,
    /// `log_facility=`: syslog facility. Default `LOG_DAEMON`.
    pub log_facility: String,
    /// `log_name=`: syslog identity. Default the program name.
    pub log_name: Option<String>,
    /// `log_prefix=`: format string put in front of script log messages. Default none.
    pub log_prefix: Option<String>,
    /// `tos=`: IP TOS byte for outgoing packets. Default 0x10 (IPTOS_LOWDELAY).
    pub tos: u32,
    /// `use_dst_blocklist=` (5.6 name; `use_dst_blacklist` before): remember unreachable
    /// destinations. Default no.
    pub use_dst_blocklist: bool,
    /// `dst_blocklist_mem=` in KiB: bound of the destination blocklist. Default 250.
    pub dst_blocklist_mem: u32,
    /// `dst_blocklist_expire=` / `dst_blocklist_ttl=` in seconds. Default 60.
    pub dst_blocklist_expire: u32,
    /// Every other accepted core parameter, in file order (name as written).
    pub other: Vec<(String, ParamValue)>,
}

impl Default for CoreParams {
    fn default() -> Self {
        Self {
            listen: Vec::new(),
            port: None,
            children: None,
            aliases: Vec::new(),
            debug: 0,
            log_stderror: false,
            fork: true,
            auto_aliases: true,
            disable_tcp: false,
            enable_tls: false,
            enable_sctp: false,
            tcp_children: None,
            tcp_connection_lifetime: 120,
            tcp_max_connections: 2048,
            tls_max_connections: 2048,
            tcp_connect_timeout: 10,
            tcp_send_timeout: 10,
            tcp_accept_aliases: false,
            tcp_conn_wq_max: DEFAULT_TCP_CONN_WQ_MAX,
            tcp_wq_max: DEFAULT_TCP_WQ_MAX,
            max_while_loops: 100,
            max_recursive_level: 256,
            max_branches: 12,
            server_header: None,
            server_signature: true,
            user_agent_header: None,
            sip_warning: false,
            dns: false,
            rev_dns: false,
            mhomed: false,
            shm_mem: None,
            pkg_mem: None,
            maxbuffer: 262_144,
            advertised_address: None,
            advertised_port: None,
            log_facility: "LOG_DAEMON".into(),
            log_name: None,
            log_prefix: None,
            tos: 0x10,
            use_dst_blocklist: false,
            dst_blocklist_mem: 250,
            dst_blocklist_expire: 60,
            other: Vec::new(),
        }
    }
}

/// Parameters accepted but meaningless in ferrosip (Kamailio memory managers, real-time
/// scheduling, its process model).
const NO_EFFECT: &[&str] = &[
    "memdbg",
    "mem_dbg",
    "memlog",
    "mem_log",
    "mem_join",
    "mem_safety",
    "mem_summary",
    "mem_status_mode",
    "shm_force_alloc",
    "mlock_pages",
    "pv_buffer_size",
    "pv_buffer_slots",
    "pv_cache_limit",
    "pv_cache_action",
    "real_time",
    "rt_prio",
    "rt_policy",
    "rt_timer1_prio",
    "rt_fast_timer_prio",
    "rt_ftimer_prio",
    "rt_timer1_policy",
    "rt_ftimer_policy",
    "rt_timer2_prio",
    "rt_stimer_prio",
    "rt_timer2_policy",
    "rt_stimer_policy",
    "sql_buffer_size",
    "tcp_poll_method",
    "tcp_fd_cache",
    "fork_delay",
    "modinit_delay",
    "route_locks_size",
    "disable_core_dump",
    "open_files_limit",
    "tcp_async",
    "tcp_buf_write",
    "async_usleep",
    "async_nonblock",
    "verbose_startup",
    "mem_summary",
    "corelog",
    "core_log",
];

/// Parameters accepted into [`CoreParams::other`].
const OTHER: &[&str] = &[
    "log_color",
    "log_prefix_mode",
    "log_engine_type",
    "log_engine_data",
    "xavp_via_params",
    "xavp_via_fields",
    "dns_try_ipv6",
    "dns_try_naptr",
    "dns_srv_lb",
    "dns_srv_loadbalancing",
    "dns_udp_pref",
    "dns_udp_preference",
    "dns_tcp_pref",
    "dns_tcp_preference",
    "dns_tls_pref",
    "dns_tls_preference",
    "dns_sctp_pref",
    "dns_sctp_preference",
    "dns_retr_time",
    "dns_slow_query_ms",
    "dns_retr_no",
    "dns_servers_no",
    "dns_use_search_list",
    "dns_search_full_match",
    "dns_naptr_ignore_rfc",
    "dns_cache_init",
    "use_dns_cache",
    "use_dns_failover",
    "dns_cache_flags",
    "dns_cache_negative_ttl",
    "dns_cache_min_ttl",
    "dns_cache_max_ttl",
    "dns_cache_mem",
    "dns_cache_gc_interval",
    "dns_cache_del_nonexp",
    "dns_cache_delete_nonexpired",
    "dns_cache_rec_pref",
    "auto_bind_ipv6",
    "bind_ipv6_link_local",
    "dst_blacklist_init",
    "dst_blocklist_init",
    "dst_blocklist_gc_interval",
    "dst_blocklist_udp_imask",
    "dst_blocklist_tcp_imask",
    "dst_blocklist_tls_imask",
    "dst_blocklist_sctp_imask",
    "tls_threads_mode",
    "dst_blacklist_gc_interval",
    "dst_blacklist_udp_imask",
    "dst_blacklist_tcp_imask",
    "dst_blacklist_tls_imask",
    "dst_blacklist_sctp_imask",
    "ip_free_bind",
    "ipfreebind",
    "ip_nonlocal_bind",
    "statistics",
    "socket_workers",
    "async_workers",
    "async_workers_group",
    "check_via",
    "phone2tel",
    "reply_to_via",
    "user",
    "uid",
    "group",
    "gid",
    "chroot",
    "workdir",
    "wdir",
    "runtime_dir",
    "rundir",
    "run_dir",
    "tcp_accept_unique",
    "tcp_connection_match",
    "tcp_no_connect",
    "tcp_source_ipv4",
    "tcp_source_ipv6",
    "tcp_rd_buf_size",
    "tcp_wq_blk_size",
    "tcp_defer_accept",
    "tcp_delayed_ack",
    "tcp_syncnt",
    "tcp_linger2",
    "tcp_keepalive",
    "tcp_keepidle",
    "tcp_keepintvl",
    "tcp_keepcnt",
    "tcp_crlf_ping",
    "tcp_accept_no_cl",
    "tcp_accept_hep3",
    "tcp_accept_haproxy",
    "tcp_clone_rcvbuf",
    "tcp_reuse_port",
    "tcp_check_timer",
    "tcp_wait_data",
    "tcp_script_mode",
    "tcp_accept_iplimit",
    "tcp_msg_read_timeout",
    "tcp_msg_data_timeout",
    "tlslog",
    "tls_log",
    "tls_port_no",
    "tls_method",
    "tls_verify",
    "tls_require_certificate",
    "tls_certificate",
    "tls_private_key",
    "tls_ca_list",
    "tls_handshake_timeout",
    "tls_send_timeout",
    "sctp_children",
    "sctp_socket_rcvbuf",
    "sctp_socket_receive_buffer",
    "sctp_socket_sndbuf",
    "sctp_socket_send_buffer",
    "sctp_autoclose",
    "sctp_send_ttl",
    "sctp_send_retries",
    "sctp_assoc_tracking",
    "sctp_assoc_reuse",
    "sctp_max_assocs",
    "sctp_srto_initial",
    "sctp_srto_max",
    "sctp_srto_min",
    "sctp_asocmaxrxt",
    "sctp_init_max_attempts",
    "sctp_init_max_timeo",
    "sctp_hbinterval",
    "sctp_pathmaxrxt",
    "sctp_sack_delay",
    "sctp_sack_freq",
    "sctp_max_burst",
    "mcast_loopback",
    "mcast_ttl",
    "mcast",
    "pmtu_discovery",
    "exit_timeout",
    "ser_kill_timeout",
    "http_reply_hack",
    "http_reply_parse",
    "version_table",
    "server_id",
    "kemi.onsend_route_callback",
    "kemi.reply_route_callback",
    "kemi.event_route_callback",
    "kemi.received_route_callback",
    "kemi.received_route_mode",
    "kemi.pre_routing_callback",
    "onsend_route_callback",
    "reply_route_callback",
    "event_route_callback",
    "received_route_callback",
    "received_route_mode",
    "latency_cfg_log",
    "latency_log",
    "latency_limit_db",
    "latency_limit_action",
    "latency_limit_cfg",
    "uri_host_extra_chars",
    "msg_time",
    "onsend_route_reply",
    "description",
    "descr",
    "desc",
    "udp_mtu",
    "udp_mtu_try_proto",
    "udp4_raw",
    "udp4_raw_mtu",
    "udp4_raw_ttl",
    "local_rport",
    "ipv6_hex_style",
    "maxsndbuffer",
    "udp_receiver_mode",
    "wait_worker1_mode",
    "wait_worker1_time",
    "wait_worker1_usleep",
    "sip_parser_log",
    "sip_parser_log_oneline",
    "sip_parser_mode",
    "stun_refresh_interval",
    "stun_allow_stun",
    "stun_allow_fp",
];

/// Whether `name` is a core parameter (canonical, alias, no-effect or other).
pub(crate) fn is_known(name: &str) -> bool {
    TYPED.contains(&name) || NO_EFFECT.contains(&name) || OTHER.contains(&name)
}

const TYPED: &[&str] = &[
    "listen",
    "port",
    "children",
    "alias",
    "debug",
    "log_stderror",
    "fork",
    "auto_aliases",
    "disable_tcp",
    "enable_tls",
    "tls_enable",
    "disable_tls",
    "tls_disable",
    "enable_sctp",
    "disable_sctp",
    "tcp_children",
    "tcp_connection_lifetime",
    "tcp_max_connections",
    "tls_max_connections",
    "tcp_connect_timeout",
    "tcp_send_timeout",
    "tcp_accept_aliases",
    "tcp_conn_wq_max",
    "tcp_wq_max",
    "max_while_loops",
    "max_recursive_level",
    "max_branches",
    "server_header",
    "server_signature",
    "user_agent_header",
    "sip_warning",
    "dns",
    "rev_dns",
    "mhomed",
    "shm",
    "shm_mem",
    "shm_mem_size",
    "maxbuffer",
    "advertised_address",
    "advertised_port",
    "log_facility",
    "log_name",
    "log_prefix",
    "tos",
    "use_dst_blocklist",
    "use_dst_blacklist",
    "dst_blocklist_mem",
    "dst_blacklist_mem",
    "dst_blocklist_expire",
    "dst_blocklist_ttl",
    "dst_blacklist_expire",
    "dst_blacklist_ttl",
];

fn as_int(name: &str, v: &ParamValue) -> Result<i64, String> {
    match v {
        ParamValue::Int(i) => Ok(*i),
        ParamValue::Str(s) => match s.trim().to_ascii_lowercase().as_str() {
            "yes" | "true" | "on" | "enable" => Ok(1),
            "no" | "false" | "off" | "disable" => Ok(0),
            t => t
                .parse::<i64>()
                .map_err(|_| format!("{name} needs a number, not '{s}'")),
        },
    }
}

fn as_bool(name: &str, v: &ParamValue) -> Result<bool, String> {
    as_int(name, v).map(|i| i != 0)
}

fn as_u32(name: &str, v: &ParamValue) -> Result<u32, String> {
    let i = as_int(name, v)?;
    u32::try_from(i).map_err(|_| format!("{name} out of range: {i}"))
}

fn as_str(v: &ParamValue) -> String {
    match v {
        ParamValue::Int(i) => i.to_string(),
        ParamValue::Str(s) => s.clone(),
    }
}

fn as_port(name: &str, v: &ParamValue) -> Result<u16, String> {
    let i = as_int(name, v)?;
    u16::try_from(i).map_err(|_| format!("{name}: invalid port {i}"))
}

impl CoreParams {
    /// Private memory per worker in bytes: `-M` MiB, or [`DEFAULT_PKG_MB`] when unset or 0.
    pub fn pkg_mem_bytes(&self) -> u64 {
        let mb = match self.pkg_mem {
            Some(m) if m > 0 => m,
            _ => DEFAULT_PKG_MB,
        };
        u64::from(mb) * 1024 * 1024
    }

    /// Applies `name = value`. `Ok(Some(notice))` when the parameter has no effect here.
    pub(crate) fn apply(&mut self, name: &str, v: ParamValue) -> Result<Option<String>, String> {
        if NO_EFFECT.contains(&name) {
            return Ok(Some(format!("{name} has no effect in ferrosip")));
        }
        if OTHER.contains(&name) {
            self.other.push((name.to_string(), v));
            return Ok(None);
        }
        match name {
            "listen" => {
                // `listen=udp:1.2.3.4 tcp:1.2.3.4:5080 advertise ...`: several addresses
                for group in split_listen_list(&as_str(&v)) {
                    self.listen.push(ListenSpec::parse(&group)?);
                }
            }
            "port" => self.port = Some(as_port(name, &v)?),
            "children" => self.children = Some(as_u32(name, &v)? as usize),
            "alias" => {
                // `alias=a.example b.example:5060`: several names
                let s = as_str(&v);
                if s.split_whitespace().next().is_none() {
                    return Err("alias needs a host name".into());
                }
                self.aliases
                    .extend(s.split_whitespace().map(str::to_string));
            }
            "debug" => {
                let i = as_int(name, &v)?;
                self.debug = i32::try_from(i).map_err(|_| format!("debug out of range: {i}"))?;
            }
            "log_stderror" => self.log_stderror = as_bool(name, &v)?,
            "fork" => self.fork = as_bool(name, &v)?,
            "auto_aliases" => self.auto_aliases = as_bool(name, &v)?,
            "disable_tcp" => self.disable_tcp = as_bool(name, &v)?,
            "enable_tls" | "tls_enable" => self.enable_tls = as_bool(name, &v)?,
            "disable_tls" | "tls_disable" => self.enable_tls = !as_bool(name, &v)?,
            "enable_sctp" => self.enable_sctp = as_int(name, &v)? > 0,
            "disable_sctp" => self.enable_sctp = !as_bool(name, &v)?,
            "tcp_children" => self.tcp_children = Some(as_u32(name, &v)? as usize),
            "tcp_connection_lifetime" => self.tcp_connection_lifetime = as_u32(name, &v)?,
            "tcp_max_connections" => self.tcp_max_connections = as_u32(name, &v)?,
            "tls_max_connections" => self.tls_max_connections = as_u32(name, &v)?,
            "tcp_connect_timeout" => self.tcp_connect_timeout = as_u32(name, &v)?,
            "tcp_send_timeout" => self.tcp_send_timeout = as_u32(name, &v)?,
            "tcp_accept_aliases" => self.tcp_accept_aliases = as_bool(name, &v)?,
            "tcp_conn_wq_max" => self.tcp_conn_wq_max = as_u32(name, &v)?,
            "tcp_wq_max" => self.tcp_wq_max = as_u32(name, &v)?,
            "max_while_loops" => self.max_while_loops = as_u32(name, &v)?,
            "max_recursive_level" => self.max_recursive_level = as_u32(name, &v)?,
            "max_branches" => self.max_branches = as_u32(name, &v)?,
            "server_header" => self.server_header = Some(as_str(&v)),
            "server_signature" => self.server_signature = as_bool(name, &v)?,
            "user_agent_header" => self.user_agent_header = Some(as_str(&v)),
            "sip_warning" => self.sip_warning = as_bool(name, &v)?,
            "dns" => self.dns = as_bool(name, &v)?,
            "rev_dns" => self.rev_dns = as_bool(name, &v)?,
            "mhomed" => self.mhomed = as_bool(name, &v)?,
            "shm" | "shm_mem" | "shm_mem_size" => self.shm_mem = Some(as_u32(name, &v)?),
            "maxbuffer" => self.maxbuffer = as_u32(name, &v)?,
            "advertised_address" => self.advertised_address = Some(as_str(&v)),
            "advertised_port" => self.advertised_port = Some(as_port(name, &v)?),
            "log_facility" => self.log_facility = as_str(&v),
            "log_name" => self.log_name = Some(as_str(&v)),
            "log_prefix" => self.log_prefix = Some(as_str(&v)),
            "use_dst_blocklist" | "use_dst_blacklist" => {
                self.use_dst_blocklist = as_bool(name, &v)?
            }
            "dst_blocklist_mem" | "dst_blacklist_mem" => self.dst_blocklist_mem = as_u32(name, &v)?,
            "dst_blocklist_expire"
            | "dst_blocklist_ttl"
            | "dst_blacklist_expire"
            | "dst_blacklist_ttl" => self.dst_blocklist_expire = as_u32(name, &v)?,
            "tos" => {
                self.tos = match &v {
                    ParamValue::Str(s) if s.starts_with("IPTOS_") => match s.as_str() {
                        "IPTOS_LOWDELAY" => 0x10,
                        "IPTOS_THROUGHPUT" => 0x08,
                        "IPTOS_RELIABILITY" => 0x04,
                        "IPTOS_MINCOST" | "IPTOS_LOWCOST" => 0x02,
                        _ => return Err(format!("unknown tos value '{s}'")),
                    },
                    _ => as_u32(name, &v)?,
                }
            }
            _ => return Err(format!("unknown core parameter '{name}'")),
        }
        Ok(None)
    }
}
