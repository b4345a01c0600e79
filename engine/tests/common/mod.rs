//! Shared helpers for the integration tests: free ports, child processes stopped by PID, and
//! bounded waits. Every process a test starts is killed when its guard drops.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The ferrosip binary under test.
pub(crate) fn ferrosip_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ferrosip"))
}

/// The repository root.
pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A port free for both UDP and TCP on 127.0.0.1 right now.
pub(crate) fn free_port() -> u16 {
    for _ in 0..100 {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port found");
}

/// A fresh scratch directory for one test.
pub(crate) fn scratch(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "ferrosip-it-{}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        name
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A child process that is stopped (SIGTERM, then SIGKILL) by PID when dropped.
pub(crate) struct Proc {
    pub(crate) child: Child,
    pub(crate) log: PathBuf,
    pub(crate) name: String,
}

impl Proc {
    /// Starts `cmd` with stdout and stderr going to `log`.
    pub(crate) fn spawn(name: &str, mut cmd: Command, log: PathBuf) -> Self {
        let f = std::fs::File::create(&log).unwrap();
        let f2 = f.try_clone().unwrap();
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(f))
            .stderr(Stdio::from(f2));
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Self {
            child,
            log,
            name: name.to_string(),
        }
    }

    pub(crate) fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The log so far.
    pub(crate) fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log contains `needle` (or the process exits, or `limit` passes).
    pub(crate) fn wait_for_log(&mut self, needle: &str, limit: Duration) -> bool {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if self.output().contains(needle) {
                return true;
            }
            if let Ok(Some(_)) = self.child.try_wait() {
                return self.output().contains(needle);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Waits for the process to exit by itself within `limit`; kills it past that.
    pub(crate) fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }

    /// SIGTERM, then waits up to `limit` for a clean exit.
    pub(crate) fn terminate(&mut self, limit: Duration) -> Option<ExitStatus> {
        if let Ok(Some(st)) = self.child.try_wait() {
            return Some(st);
        }
        // SAFETY-free: plain kill(2) on the PID we started.
        unsafe_kill(self.pid(), 15);
        self.wait_exit(limit)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            unsafe_kill(self.pid(), 15);
            if self.wait_exit(Duration::from_secs(3)).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }
}

fn unsafe_kill(pid: i32, sig: i32) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

/// Whether a program is on PATH.
pub(crate) fn have(prog: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {prog} >/dev/null 2>&1"))
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Fails the test when `prog` is missing, unless FERROSIP_ALLOW_SKIP=1 (the README's test
/// command installs it; a silent skip would hide a broken CI).
pub(crate) fn require(prog: &str) -> bool {
    if have(prog) {
        return true;
    }
    if std::env::var("FERROSIP_ALLOW_SKIP").as_deref() == Ok("1") {
        eprintln!("skipping: {prog} is not installed");
        return false;
    }
    panic!("{prog} is not installed (run the README's test command, which installs it)");
}

/// Starts ferrosip on `cfg` with `args`, and waits until it listens.
pub(crate) fn start_ferrosip(dir: &Path, cfg: &Path, args: &[&str], env: &[(&str, &str)]) -> Proc {
    let mut cmd = Command::new(ferrosip_bin());
    cmd.arg("-f").arg(cfg).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut p = Proc::spawn("ferrosip", cmd, dir.join("ferrosip.log"));
    assert!(
        p.wait_for_log("listening on", Duration::from_secs(10)),
        "ferrosip did not start:\n{}",
        p.output()
    );
    // Give every worker time to enter its loop.
    std::thread::sleep(Duration::from_millis(200));
    p
}

/// A SIPp command for `scenario` (a built-in name, or a path ending in `.xml`) on
/// 127.0.0.1:`port` over `transport` (`u1`/`t1`), run in `dir`, with large socket buffers
/// and no keyboard.
fn sipp(dir: &Path, scenario: &str, port: u16, transport: &str) -> Command {
    let mut cmd = Command::new("sipp");
    let flag = if scenario.ends_with(".xml") {
        "-sf"
    } else {
        "-sn"
    };
    cmd.current_dir(dir)
        .args([flag, scenario, "-i", "127.0.0.1", "-p", &port.to_string()]);
    cmd.args([
        "-t",
        transport,
        "-bind_local",
        "-nostdin",
        "-buff_size",
        "4194304",
        "-trace_err",
    ]);
    cmd
}

/// Starts `sipp -sn uas` on `port` (proto "u1" or "t1"), bounded by `timeout`.
pub(crate) fn start_sipp_uas(dir: &Path, port: u16, transport: &str, timeout: Duration) -> Proc {
    start_sipp_uas_with(dir, "uas", port, transport, timeout, &[])
}

/// Starts a SIPp UAS running `scenario` (built-in name or `.xml` path) with `extra` flags.
pub(crate) fn start_sipp_uas_with(
    dir: &Path,
    scenario: &str,
    port: u16,
    transport: &str,
    timeout: Duration,
    extra: &[&str],
) -> Proc {
    let mut cmd = sipp(dir, scenario, port, transport);
    cmd.args(["-timeout", &format!("{}s", timeout.as_secs())]);
    cmd.args(extra);
    let mut p = Proc::spawn("sipp-uas", cmd, dir.join(format!("uas-{port}.log")));
    // SIPp prints nothing useful on start; wait for the port to be taken.
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        let taken = if transport.starts_with('t') {
            TcpListener::bind(("127.0.0.1", port)).is_err()
        } else {
            UdpSocket::bind(("127.0.0.1", port)).is_err()
        };
        if taken {
            break;
        }
        if let Ok(Some(_)) = p.child.try_wait() {
            panic!("sipp uas exited:\n{}", p.output());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    p
}

/// Result of a SIPp UAC run.
#[derive(Debug)]
pub(crate) struct UacResult {
    pub(crate) success: bool,
    pub(crate) successful_calls: u64,
    pub(crate) failed_calls: u64,
    pub(crate) output: String,
}

/// Runs `sipp -sn uac` for `calls` calls at `rate` per second against `target`, bounded in
/// time, and reads its final counters from the `-trace_stat` file.
pub(crate) fn run_sipp_uac(
    dir: &Path,
    port: u16,
    transport: &str,
    target: SocketAddr,
    rate: u32,
    calls: u32,
    extra: &[&str],
) -> UacResult {
    run_sipp_uac_with(dir, "uac", port, transport, target, rate, calls, extra)
}

/// [`run_sipp_uac`] with a scenario (built-in name or `.xml` path).
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_sipp_uac_with(
    dir: &Path,
    scenario: &str,
    port: u16,
    transport: &str,
    target: SocketAddr,
    rate: u32,
    calls: u32,
    extra: &[&str],
) -> UacResult {
    let limit = Duration::from_secs(u64::from(calls / rate.max(1)) + 40);
    let mut cmd = sipp(dir, scenario, port, transport);
    cmd.args(["-r", &rate.to_string(), "-m", &calls.to_string()])
        .args([
            "-timeout",
            &format!("{}s", limit.as_secs()),
            "-recv_timeout",
            "8000",
        ])
        .args(["-trace_stat", "-stf", "uac_stat.csv", "-fd", "1"])
        .args(extra)
        .arg(target.to_string());
    let mut p = Proc::spawn("sipp-uac", cmd, dir.join("uac.log"));
    let st = p.wait_exit(limit + Duration::from_secs(10));
    let stats = std::fs::read_to_string(dir.join("uac_stat.csv")).unwrap_or_default();
    let (ok, failed) = last_stat_counts(&stats);
    UacResult {
        success: st.map(|s| s.success()).unwrap_or(false),
        successful_calls: ok,
        failed_calls: failed,
        output: p.output(),
    }
}

/// Asserts that a SIPp run completed all `n` calls with none failed; the message names
/// `what` and carries SIPp's and the server's output.
#[allow(dead_code)]
pub(crate) fn assert_all_completed(r: &UacResult, n: u32, what: &str, server: &Proc) {
    assert_eq!(
        (r.successful_calls, r.failed_calls),
        (u64::from(n), 0),
        "{what}: {}\n{}",
        r.output,
        server.output()
    );
}

/// SuccessfulCall(C) and FailedCall(C) from the last row of a SIPp stat CSV.
fn last_stat_counts(csv: &str) -> (u64, u64) {
    let mut lines = csv.lines();
    let Some(header) = lines.next() else {
        return (0, 0);
    };
    let cols: Vec<&str> = header.split(';').collect();
    let Some(last) = csv.lines().rfind(|l| !l.trim().is_empty()) else {
        return (0, 0);
    };
    let vals: Vec<&str> = last.split(';').collect();
    let get = |name: &str| {
        cols.iter()
            .position(|c| *c == name)
            .and_then(|i| vals.get(i))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    (get("SuccessfulCall(C)"), get("FailedCall(C)"))
}

/// Parses the per-worker counters ferrosip prints when it stops:
/// `worker N: received=.. handled=..`. Returns `handled` per worker.
pub(crate) fn handled_per_worker(log: &str) -> Vec<u64> {
    let mut out = Vec::new();
    for line in log.lines() {
        let Some(pos) = line.find("worker ") else {
            continue;
        };
        let rest = &line[pos + 7..];
        let Some((idx, rest)) = rest.split_once(": ") else {
            continue;
        };
        let Ok(idx) = idx.parse::<usize>() else {
            continue;
        };
        let Some(h) = rest
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix("handled="))
        else {
            continue;
        };
        if out.len() <= idx {
            out.resize(idx + 1, 0);
        }
        out[idx] = h.parse().unwrap_or(0);
    }
    out
}

/// The sum over the workers' stop lines of counter `name` (`name=N`).
#[allow(dead_code)]
pub(crate) fn counter_sum(log: &str, name: &str) -> u64 {
    let key = format!("{name}=");
    log.lines()
        .filter(|l| l.contains("worker ") && l.contains("received="))
        .filter_map(|l| {
            l.split_whitespace()
                .find_map(|kv| kv.strip_prefix(key.as_str()))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .sum()
}

/// Starts `kamailio -DD -E -n 1 -m 64 -f cfg` with `-A` defines and waits until it holds the
/// UDP port `port`.
#[allow(dead_code)]
pub(crate) fn start_kamailio(dir: &Path, cfg: &Path, port: u16, defines: &[String]) -> Proc {
    let mut args: Vec<String> = ["-n", "1", "-m", "64", "-f"].map(String::from).to_vec();
    args.push(cfg.display().to_string());
    for d in defines {
        args.extend(["-A".to_owned(), d.clone()]);
    }
    start_kamailio_args(dir, &args, port)
}

/// Starts `kamailio -DD -E <args>` and waits until it holds the UDP port `port`.
#[allow(dead_code)]
pub(crate) fn start_kamailio_args(dir: &Path, args: &[String], port: u16) -> Proc {
    let mut cmd = Command::new("kamailio");
    cmd.args(["-DD", "-E"]).args(args);
    let mut kam = Proc::spawn("kamailio", cmd, dir.join("kamailio.log"));
    let end = Instant::now() + Duration::from_secs(10);
    while UdpSocket::bind(("127.0.0.1", port)).is_ok() {
        assert!(
            Instant::now() < end,
            "kamailio did not start:\n{}",
            kam.output()
        );
        if let Ok(Some(_)) = kam.child.try_wait() {
            panic!("kamailio exited:\n{}", kam.output());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Let its children finish their init.
    std::thread::sleep(Duration::from_millis(500));
    kam
}

/// The path of a SIPp scenario of `engine/tests/scen`.
#[allow(dead_code)]
pub(crate) fn scen(name: &str) -> String {
    repo_root()
        .join("engine/tests/scen")
        .join(name)
        .display()
        .to_string()
}

/// Calls every AOR of `dir/callees.csv` once (SIPp `uac_aor.xml` from `uac_port`, 100 calls/s)
/// through the proxy at `target`, which routes them by its location table to a record-routing
/// SIPp UAS (`uas_rr.xml`) on `uas`, the contact the users registered. Returns the UAC's
/// result.
#[allow(dead_code)]
pub(crate) fn call_registered(
    dir: &Path,
    uas: u16,
    uac_port: u16,
    target: SocketAddr,
    calls: u32,
) -> UacResult {
    let mut uas_p = start_sipp_uas_with(
        dir,
        &scen("uas_rr.xml"),
        uas,
        "u1",
        Duration::from_secs(60),
        &[],
    );
    let r = run_sipp_uac_with(
        dir,
        &scen("uac_aor.xml"),
        uac_port,
        "u1",
        target,
        100,
        calls,
        &["-inf", "callees.csv"],
    );
    uas_p.terminate(Duration::from_secs(5));
    r
}
