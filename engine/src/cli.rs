//! Kamailio's command line, where it applies to ferrosip (`kamailio -h`).

use clap::{ArgAction, Parser};
use std::path::PathBuf;

/// How datagrams reach the worker that owns their call (ARCHITECTURE.md §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum SteeringMode {
    /// The eBPF reuseport program if it loads, else the user-space hand-off.
    Auto,
    /// The eBPF reuseport program; refuse to start without it.
    Bpf,
    /// Never load BPF: the receiving worker hands each datagram to its owner over the mesh.
    Mesh,
}

/// ferrosip: a thread-per-core SIP proxy that runs Kamailio configurations.
#[derive(Parser, Debug)]
#[command(
    name = "ferrosip",
    disable_version_flag = true,
    disable_help_flag = true
)]
pub(crate) struct Cli {
    /// Configuration file (Kamailio's `kamailio.cfg` dialect).
    #[arg(
        short = 'f',
        value_name = "FILE",
        default_value = "/etc/ferrosip/ferrosip.cfg"
    )]
    pub(crate) file: PathBuf,
    /// Listen on `[proto:]addr[:port][/advaddr[:port]]` (repeatable); replaces `listen=`.
    #[arg(short = 'l', value_name = "ADDRESS", action = ArgAction::Append)]
    pub(crate) listen: Vec<String>,
    /// Number of workers (one per core; default: the cores available, or `children=`).
    #[arg(short = 'n', value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub(crate) workers: Option<u16>,
    /// TCP children (accepted for compatibility: streams run on the same workers).
    #[arg(short = 'N', value_name = "N")]
    pub(crate) tcp_children: Option<u16>,
    /// Shared memory in MB: bounds shared tables (location, dispatcher, blocklist).
    #[arg(short = 'm', value_name = "MB")]
    pub(crate) shm_mb: Option<u32>,
    /// Private memory per worker in MB (Kamailio's per-process pkg memory; default 8, and 0
    /// means the default, as in Kamailio): bounds the sum of each worker's TCP receive
    /// buffers (partial messages); input past it closes its connection.
    #[arg(short = 'M', value_name = "MB")]
    pub(crate) pkg_mb: Option<u32>,
    /// Check the configuration file and exit.
    #[arg(short = 'c')]
    pub(crate) check: bool,
    /// Print the configuration after preprocessing and exit.
    #[arg(long = "cfg-print")]
    pub(crate) cfg_print: bool,
    /// Add a preprocessor define `NAME[=VALUE]` (repeatable), like `#!define`.
    #[arg(short = 'A', value_name = "NAME[=VAL]", action = ArgAction::Append)]
    pub(crate) defines: Vec<String>,
    /// Log to standard error (ferrosip always does; accepted for compatibility).
    #[arg(short = 'E')]
    pub(crate) log_stderr: bool,
    /// Colored log output.
    #[arg(short = 'e')]
    pub(crate) color: bool,
    /// Raise the debug level by one (repeatable).
    #[arg(short = 'd', action = ArgAction::Count)]
    pub(crate) debug_inc: u8,
    /// Set the debug level (Kamailio levels: -5 alert .. -1 error, 0 warn, 1 notice, 2 info, 3 debug).
    #[arg(long = "debug", value_name = "N", allow_hyphen_values = true)]
    pub(crate) debug: Option<i32>,
    /// Do not fork (repeatable; ferrosip always runs in the foreground).
    #[arg(short = 'D', action = ArgAction::Count)]
    pub(crate) no_fork: u8,
    /// Runtime directory for the control sockets and FIFOs (Kamailio's `-Y`; overrides
    /// `runtime_dir=`; default `/run/kamailio`).
    #[arg(short = 'Y', value_name = "DIR")]
    pub(crate) runtime_dir: Option<PathBuf>,
    /// Write the main process ID to this file.
    #[arg(short = 'P', value_name = "FILE")]
    pub(crate) pid_file: Option<PathBuf>,
    /// Disable TCP.
    #[arg(short = 'T')]
    pub(crate) no_tcp: bool,
    /// Add an alias for `myself` (repeatable).
    #[arg(long = "alias", value_name = "NAME", action = ArgAction::Append)]
    pub(crate) alias: Vec<String>,
    /// How datagrams are steered to the worker that owns their call.
    #[arg(long = "steering", value_enum, default_value = "auto")]
    pub(crate) steering: SteeringMode,
    /// Print version and exit.
    #[arg(short = 'V', short_alias = 'v', long = "version")]
    pub(crate) version: bool,
    /// Print help and exit.
    #[arg(short = 'h', long = "help", action = ArgAction::Help)]
    pub(crate) help: Option<bool>,
}

impl Cli {
    /// `-A NAME[=VAL]` as (name, value) pairs.
    pub(crate) fn define_pairs(&self) -> Vec<(String, Option<String>)> {
        self.defines
            .iter()
            .map(|d| match d.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (d.clone(), None),
            })
            .collect()
    }

    /// The effective Kamailio debug level: `--debug`, else the config's `debug=` raised by `-d`s.
    pub(crate) fn debug_level(&self, cfg_debug: i32) -> i32 {
        self.debug.unwrap_or(cfg_debug) + i32::from(self.debug_inc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kamailio_flags_parse() {
        let cli = Cli::try_parse_from([
            "ferrosip",
            "-f",
            "k.cfg",
            "-l",
            "udp:127.0.0.1:5060",
            "-l",
            "tcp:[::1]:5070",
            "-n",
            "4",
            "-m",
            "256",
            "-M",
            "8",
            "-A",
            "WITH_DEBUG",
            "-A",
            "X=1",
            "-E",
            "-dd",
            "-DD",
            "-T",
            "--alias",
            "example.com",
            "-P",
            "/tmp/p",
            "-Y",
            "/tmp/run",
        ])
        .unwrap();
        assert_eq!(cli.listen.len(), 2);
        assert_eq!(cli.workers, Some(4));
        assert_eq!(
            cli.define_pairs(),
            vec![("WITH_DEBUG".into(), None), ("X".into(), Some("1".into()))]
        );
        assert_eq!(cli.debug_level(-1), 1);
        assert!(cli.no_tcp && cli.log_stderr);
        assert_eq!(cli.no_fork, 2);
        assert_eq!(
            cli.runtime_dir.as_deref(),
            Some(std::path::Path::new("/tmp/run"))
        );
    }

    #[test]
    fn debug_long_form_and_bad_flags() {
        let cli = Cli::try_parse_from(["ferrosip", "--debug=-1", "-c"]).unwrap();
        assert_eq!(cli.debug_level(3), -1);
        let err = Cli::try_parse_from(["ferrosip", "--bogus"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let err = Cli::try_parse_from(["ferrosip", "-n", "0"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn pkg_memory_flag() {
        // Kamailio takes `-M 0` as its default size; so does the config (CoreParams).
        let cli = Cli::try_parse_from(["ferrosip", "-M", "0"]).unwrap();
        assert_eq!(cli.pkg_mb, Some(0));
        for bad in ["x", "1.5", "-1"] {
            let err = Cli::try_parse_from(["ferrosip", "-M", bad]).unwrap_err();
            assert_eq!(err.exit_code(), 2, "-M {bad}");
        }
    }
}
